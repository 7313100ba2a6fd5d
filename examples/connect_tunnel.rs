//! A transport of one's own for paf's client: a tunnel through an HTTP
//! `CONNECT` proxy, registered with mimic and chosen by its priority.
//!
//! The example starts, on loopback, a target server (HTTP on one port,
//! HTTPS with HTTP/2 on another) and a `CONNECT` proxy, both paf servers.
//! Then it gives the client a context of its own
//! ([`ClientBuilder::context`](paf::client::ClientBuilder::context)):
//!
//! * the protocol `http-connect`, registered with [`mimic::register`] at
//!   priority 10 (before TLS, 50, and plain TCP, 100), whose endpoint —
//!   the `host:port` the proxy is asked for — is derived from the request's
//!   [`ORIGIN`] for `http` URLs: the tunnel is the transport;
//! * for `https` URLs, the TLS endpoint over that same tunnel
//!   ([`platform::tls_over`]): TLS, with its certificate check and ALPN
//!   (HTTP/2 here), end to end through the proxy, which sees only bytes.
//!
//! When the proxy is down, `http` falls back to plain TCP (the next
//! priority), while `https` fails: a context offers what it holds, and the
//! platform's `https` context holds no clear text.
//!
//! ```sh
//! cargo run --example connect_tunnel
//! ```

use std::net::SocketAddr;

use paf::client::{ConnectionInfo, Origin, ResponseExt, ORIGIN};
use paf::engine::{alpn, client, upgrade};
use paf::mimic::{self, req, Ctx, Value};
use paf::rt::native::{TcpListener, Tokio};
use paf::{platform, service_fn, tls, Body, Config, Flow, Incoming, Request, Response, StatusCode, Switch};
use tokio::net::TcpStream;

/// The proxy: answers `CONNECT host:port` by connecting there and then
/// copying bytes both ways.
async fn proxy(mut request: Request<Incoming>) -> Response<Body> {
    let target = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
    println!("proxy: {} {target}", request.method());
    let mut status = StatusCode::BAD_GATEWAY;
    if request.method() == "CONNECT" {
        if let Ok(mut upstream) = TcpStream::connect(&target).await {
            status = StatusCode::OK;
            let tunnel = upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut downstream = tunnel.await?;
                tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await?;
                Ok::<_, paf::Error>(())
            });
        }
    }
    Response::builder().status(status).body(Body::empty()).unwrap()
}

/// The client's side of the tunnel: a `CONNECT` to `proxy` with paf's own
/// low-level client, then the raw flow it upgrades to.
async fn through(proxy: SocketAddr, target: String) -> Result<Flow, paf::BoxError> {
    let tcp = TcpStream::connect(proxy).await.map_err(|err| format!("cannot reach the proxy at {proxy}: {err}"))?;
    let mut sender = client::handshake(Flow::new(tcp), &Config::default(), &Tokio);
    let mut response = sender.send(Request::connect(target.as_str()).body(Body::empty())?).await?;
    if !response.status().is_success() {
        return Err(format!("the proxy answered {} for {target}", response.status()).into());
    }
    Ok(upgrade::on(&mut response).await?)
}

/// The context that sends every connection through the proxy at `proxy`.
fn via_proxy(proxy: SocketAddr) -> Ctx {
    let (tunnel, _) = mimic::register("http-connect", 10, mimic::protocol_fn(move |target| through(proxy, target)));
    let tls_target = Value::<String>::new("tls-through-proxy");
    let open = move |target| async move { through(proxy, target).await.map_err(std::io::Error::other) };
    // The proxy is asked for the origin's host and port: for http the
    // tunnel is the transport, for https TLS runs over it.
    let target_if = |tls: bool| {
        move |o: Origin| async move { Ok::<_, paf::BoxError>((o.is_tls() == tls).then(|| format!("{}:{}", o.host(), o.port()))) }
    };
    platform::tls_over(&tls_target, open)
        .fold(&tls_target, req(&ORIGIN), target_if(true))
        .fold(&tunnel, req(&ORIGIN), target_if(false))
}

/// Starts a paf server for `service` on a port of loopback; its address,
/// and a function that stops it.
async fn start(service: impl paf::Serve) -> Result<(SocketAddr, impl AsyncFnOnce()), paf::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (address, switch) = (listener.local_addr()?, Switch::new());
    let server = tokio::spawn(paf::serve(listener, service, Config::default(), switch.clone()));
    Ok((address, async move || {
        switch.stop();
        let _ = server.await; // the listener is closed
    }))
}

async fn fetch(client: &paf::Client, url: &str) {
    match client.get(url).await {
        Ok(response) => {
            let info = response.extensions().get::<ConnectionInfo>().unwrap().clone();
            let tls = info.tls.map(|s| format!(", {}", s.version)).unwrap_or_default();
            let body = response.text().await.unwrap_or_else(|err| err.to_string());
            println!("client: {url}: {}{tls}: {body}", info.protocol);
        }
        Err(err) => println!("client: {url}: {err}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), paf::Error> {
    let hello = service_fn(|request: Request<Incoming>| async move {
        Response::new(Body::from(format!("hello from the target, {:?} {}", request.version(), request.uri().path())))
    });
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server_tls = tls::ServerTls::from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?;
    let (http, _) = start(hello.clone()).await?;
    let (https, _) = start(alpn::service(alpn::Tls::new(server_tls.config()), hello)).await?;
    let (proxy_address, stop_proxy) = start(service_fn(proxy)).await?;

    let builder = paf::Client::builder()
        .context(via_proxy(proxy_address))
        .pin_sha256(tls::certificate_sha256(cert.cert.der())) // trust the self-signed target
        .max_idle_per_origin(0); // a connection, and so a CONNECT, per HTTP/1.1 request
    let client = builder.clone().build();
    let (http, https) = (format!("http://localhost:{}/a", http.port()), format!("https://localhost:{}/b", https.port()));
    fetch(&client, &http).await;
    fetch(&client, &https).await;

    stop_proxy().await;
    println!("proxy: stopped");
    let client = builder.build(); // (the other one keeps its HTTP/2 connection in its tunnel)
    fetch(&client, &http).await;
    fetch(&client, &https).await;
    Ok(())
}
