//! A server with TLS and HTTP/2 by ALPN whose log line per request shows
//! what a handler knows of its connection ([`paf::Connection`]): the peer,
//! the local address, the protocol, and the TLS version, cipher suite,
//! ALPN protocol and SNI name.
//!
//! The example makes its own CA and server certificate (rcgen), serves on
//! a free loopback port, asks twice with paf's client trusting that CA
//! (HTTP/2, then HTTP/1.1 by ALPN), and exits.
//!
//! ```sh
//! cargo run --example tls_connection
//! ```

use paf::client::ResponseExt;
use paf::engine::alpn::{self, Protocol};
use paf::rt::native::TcpListener;
use paf::tls::ServerTls;
use paf::{service_fn, Body, Client, Config, Connection, Incoming, Request, Response, Switch};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ca_pem, cert_pem, key_pem) = certificates()?;
    let handler = service_fn(|req: Request<Incoming>| async move {
        let conn = Connection::of(&req).expect("paf's servers give every request its connection");
        let tls = conn.tls().expect("this server speaks only TLS");
        println!(
            "server: {} {} from {} to {} over {}, {} {}, ALPN {}, SNI {}",
            req.method(),
            req.uri().path(),
            conn.peer(),
            conn.local().map_or("?".to_string(), |local| local.to_string()),
            conn.protocol(),
            tls.version,
            tls.cipher_suite,
            tls.alpn_str().unwrap_or("none"),
            tls.server_name.as_deref().unwrap_or("none"),
        );
        Response::new(Body::from(format!("hello over {}\n", conn.protocol())))
    });

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let tls = ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
    let switch = Switch::new();
    let service = alpn::service(alpn::Tls::new(tls.config()), handler);
    let server = tokio::spawn(paf::serve(listener, service, Config::default(), switch.clone()));
    switch.initialized().await;

    for protocols in [vec![Protocol::Http2, Protocol::Http1], vec![Protocol::Http1]] {
        let client = Client::builder().add_roots_pem(ca_pem.as_bytes())?.alpn(protocols).build();
        // The certificate names localhost; the client connects to 127.0.0.1 through it.
        let response = client.get(format!("https://localhost:{port}/facts")).await?;
        println!("client: {} {}", response.status(), response.text().await?.trim_end());
    }

    switch.stop();
    server.await??;
    Ok(())
}

/// A CA, and a certificate for `localhost` it signed, with the key (PEM).
fn certificates() -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "paf example CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &ca, &ca_key)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}
