//! The TLS layer against real peers: `openssl s_server` and `s_client`
//! (Debian's `openssl`, installed by `scripts/setup`; a missing one fails
//! the test, it is never skipped), our own server and client, and mimic
//! resolution over native TCP. Every test makes its own CA and leaf
//! certificates with rcgen.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paf::error::ConnectFailure;
use paf::mimic::{self, Ctx};
use paf::platform::native::{self, TCP_WITNESS};
use paf::platform::{HOST, PORT};
use paf::engine::alpn;
use paf::tls::{self, ClientTls, Endpoint, ServerTls, TlsError};
use paf::{Error, Flow};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;

mod common;
use common::free_port;

/// The bound of every wait on a peer.
const LIMIT: Duration = Duration::from_secs(10);

/// A test CA and what it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its key, as PEM and DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a CA is found by its name, then its signature checked.
        let name = format!("paf test CA {}", unique());
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `localhost` and `127.0.0.1`; `label` tells leaves apart.
    fn leaf(&self, label: &str) -> Leaf {
        self.leaf_with(label, |_| ())
    }

    /// A leaf as [`Ca::leaf`], with `change` applied to its parameters.
    fn leaf_with(&self, label: &str, change: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, label);
        change(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl Leaf {
    fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
}

/// A client trusting only `ca`.
fn trusting(ca: &Ca) -> ClientTls {
    ClientTls::new()
        .only_roots_pem(ca.pem().as_bytes())
        .unwrap()
}

/// A number not given before in this process.
fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "paf-tls-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl() -> Command {
    assert!(
        std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|out| out.status.success()),
        "openssl is not installed: run scripts/setup (Debian's openssl package)"
    );
    let mut command = Command::new("openssl");
    command.kill_on_drop(true).stdin(Stdio::null());
    command
}


/// `openssl s_server -rev` (each line sent back reversed), killed when
/// dropped.
struct SServer {
    _child: Child,
    port: u16,
    _dir: Scratch,
}

impl SServer {
    async fn start(leaf: &Leaf, alpn: &str) -> SServer {
        let dir = Scratch::new(&format!("s_server-{}", alpn.replace('/', "_")));
        let cert = dir.write("cert.pem", &leaf.cert_pem);
        let key = dir.write("key.pem", &leaf.key_pem);
        let log = dir.0.join("s_server.log");
        let port = free_port();
        let child = openssl()
            .args(["s_server", "-rev", "-alpn", alpn])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let server = SServer {
            _child: child,
            port,
            _dir: dir,
        };
        // It prints ACCEPT once it listens.
        let ready = async {
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("ACCEPT")
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        timeout(LIMIT, ready)
            .await
            .expect("openssl s_server did not listen");
        server
    }

    async fn connect(&self) -> Flow {
        let tcp = timeout(LIMIT, TcpStream::connect(("127.0.0.1", self.port)))
            .await
            .unwrap()
            .unwrap();
        Flow::new(tcp)
    }
}

/// A client handshake with `config`, bounded in time.
async fn handshake(config: &ClientTls, name: &str, flow: Flow) -> Result<Flow, Error> {
    timeout(LIMIT, tls::client_of_flow(config.build(), name, flow))
        .await
        .expect("the handshake should not hang")
}

/// Writes `line` and reads one line back.
async fn exchange(flow: &mut Flow, line: &str) -> String {
    let run = async {
        flow.write_all(line.as_bytes()).await.unwrap();
        flow.flush().await.unwrap();
        let mut reader = BufReader::new(&mut *flow);
        let mut answer = String::new();
        reader.read_line(&mut answer).await.unwrap();
        answer
    };
    timeout(LIMIT, run).await.expect("the peer should answer")
}

#[tokio::test]
async fn the_client_negotiates_h2_with_openssl_and_reads_its_echo() {
    let ca = Ca::new();
    let leaf = ca.leaf("server");
    let server = SServer::start(&leaf, "h2").await;

    let mut flow = handshake(&trusting(&ca), "localhost", server.connect().await)
        .await
        .unwrap();
    let session = tls::session(&flow).expect("a TLS flow");
    assert_eq!(session.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(session.alpn_str(), Some("h2"));
    assert_eq!(session.version, "TLSv1.3");
    assert!(session.cipher_suite.starts_with("TLS13_"), "{session:?}");
    assert_eq!(session.peer_certificates[0].as_ref(), &leaf.der[..]);
    assert!(tls::TLS_WITNESS.repr(&flow).unwrap().is_client());

    assert_eq!(exchange(&mut flow, "hello paf\n").await, "fap olleh\n");
}

#[tokio::test]
async fn an_ip_literal_is_checked_against_the_certificates_addresses() {
    let ca = Ca::new();
    let server = SServer::start(&ca.leaf("server"), "http/1.1").await;
    let flow = handshake(&trusting(&ca), "127.0.0.1", server.connect().await)
        .await
        .unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("http/1.1"));
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_with_the_names_the_certificate_has() {
    let ca = Ca::new();
    let server = SServer::start(&ca.leaf("server"), "h2").await;
    let err = handshake(&trusting(&ca), "wrong.example", server.connect().await)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Tls(TlsError::NotValidForHost { host, .. }) if host == "wrong.example"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "TLS: certificate not valid for host wrong.example: the certificate is for localhost, \
         127.0.0.1 (connect with one of these names)"
    );
}

#[tokio::test]
async fn without_roots_every_chain_is_refused_and_says_why() {
    let ca = Ca::new();
    let server = SServer::start(&ca.leaf("server"), "h2").await;
    // What a build without the bundled-roots feature starts from.
    let none = ClientTls::new().no_roots();
    let err = handshake(&none, "localhost", server.connect().await)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::NoRoots)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("TLS: no trusted root certificates to check the server's certificate"),
        "{err}"
    );
    // Roots added afterwards, pins and --insecure all still work.
    let added = none.clone().add_roots_pem(ca.pem().as_bytes()).unwrap();
    handshake(&added, "localhost", server.connect().await)
        .await
        .unwrap();
    let insecure = none.dangerous_accept_any_certificate();
    handshake(&insecure, "localhost", server.connect().await)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_as_an_unknown_authority() {
    let ca = Ca::new();
    let server = SServer::start(&ca.leaf("server"), "h2").await;
    // The Mozilla roots do not know the test CA.
    let err = handshake(&ClientTls::new(), "localhost", server.connect().await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::UnknownAuthority)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "TLS: certificate signed by an unknown authority (trust the CA that signed it: \
         --cacert, or ClientTls::add_roots_pem)"
    );
    // Another CA is no better, and adding the right one to the defaults works.
    let other = Ca::new();
    let err = handshake(&trusting(&other), "localhost", server.connect().await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::UnknownAuthority)),
        "{err:?}"
    );
    let with_ca = ClientTls::new().add_roots_pem(ca.pem().as_bytes()).unwrap();
    handshake(&with_ca, "localhost", server.connect().await)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_pin_accepts_its_certificate_only() {
    let ca = Ca::new();
    let leaf = ca.leaf("server");
    let server = SServer::start(&leaf, "h2").await;

    // The CA is not trusted, nor is the name checked: the pin is the trust.
    let pin = tls::certificate_sha256(&leaf.der);
    let pinned = ClientTls::new().pin_sha256([0; 32]).pin_sha256(pin);
    let mut flow = handshake(&pinned, "not-the-name.example", server.connect().await)
        .await
        .unwrap();
    assert_eq!(exchange(&mut flow, "pinned\n").await, "dennip\n");
    // s_server serves one connection at a time.
    drop(flow);

    let other = tls::certificate_sha256(b"another certificate");
    let err = handshake(
        &ClientTls::new().pin_sha256(other),
        "localhost",
        server.connect().await,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::PinMismatch { presented }) if presented == pin),
        "{err:?}"
    );
    let hex: String = pin.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        err.to_string(),
        format!("TLS: certificate does not match the pinned SHA-256: the server presented {hex}")
    );
}

#[tokio::test]
async fn accepting_any_certificate_takes_an_unknown_ca_and_a_wrong_name() {
    let ca = Ca::new();
    let server = SServer::start(&ca.leaf("server"), "h2").await;
    let insecure = ClientTls::new().dangerous_accept_any_certificate();
    let flow = handshake(&insecure, "wrong.example", server.connect().await)
        .await
        .unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("h2"));
}

/// Accepts TLS connections on a loopback port and echoes every line; the
/// session each handshake negotiated is sent on `sessions`.
async fn echo_server(
    config: Arc<tls::ServerConfig>,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<Result<tls::Session, Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sessions, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (config, sessions) = (config.clone(), sessions.clone());
            // The handshake runs in the connection's task, never in the loop.
            tokio::spawn(async move {
                let flow = timeout(LIMIT, tls::server_of_flow(config, Flow::new(tcp))).await;
                let mut flow = match flow {
                    Ok(Ok(flow)) => flow,
                    Ok(Err(err)) => return drop(sessions.send(Err(err))),
                    Err(_) => return,
                };
                let _ = sessions.send(Ok(tls::session(&flow).unwrap()));
                let (read, mut write) = tokio::io::split(&mut flow);
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if write
                        .write_all(format!("{line}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                let _ = flow.shutdown().await;
            });
        }
    });
    (port, received)
}

async fn next_session(
    sessions: &mut tokio::sync::mpsc::UnboundedReceiver<Result<tls::Session, Error>>,
) -> Result<tls::Session, Error> {
    timeout(LIMIT, sessions.recv())
        .await
        .expect("the server should report its handshake")
        .expect("the server is running")
}

async fn tcp_to(port: u16) -> Flow {
    Flow::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap())
}

#[tokio::test]
async fn the_server_gives_openssl_s_client_h2() {
    let ca = Ca::new();
    let (port, mut sessions) = echo_server(ca.leaf("server").server_tls().config()).await;
    let dir = Scratch::new("s_client");
    let ca_file = dir.write("ca.pem", &ca.pem());
    let output = openssl()
        .args([
            "s_client",
            "-alpn",
            "h2,http/1.1",
            "-servername",
            "localhost",
        ])
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .arg("-CAfile")
        .arg(&ca_file)
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .output();
    let output = timeout(LIMIT, output).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ALPN protocol: h2"), "{stdout}");
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");

    let session = next_session(&mut sessions).await.unwrap();
    assert_eq!(session.alpn_str(), Some("h2"));
    assert_eq!(session.server_name.as_deref(), Some("localhost"));
    assert!(
        session.peer_certificates.is_empty(),
        "no client certificate"
    );
}

#[tokio::test]
async fn the_server_and_the_client_agree_on_alpn_over_tcp_and_over_a_pipe() {
    let ca = Ca::new();
    let server_tls = ca.leaf("server").server_tls();
    let (port, mut sessions) = echo_server(server_tls.config()).await;

    let mut flow = handshake(&trusting(&ca), "localhost", tcp_to(port).await)
        .await
        .unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("h2"));
    assert_eq!(
        next_session(&mut sessions).await.unwrap().alpn_str(),
        Some("h2")
    );
    assert_eq!(exchange(&mut flow, "over tcp\n").await, "over tcp\n");

    // The client's list decides what it may get.
    let http1 = trusting(&ca).alpn(vec![b"http/1.1".to_vec()]);
    let flow = handshake(&http1, "localhost", tcp_to(port).await)
        .await
        .unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("http/1.1"));
    next_session(&mut sessions).await.unwrap();

    // No ALPN from the client: served, nothing negotiated.
    let none = trusting(&ca).alpn(Vec::new());
    let flow = handshake(&none, "localhost", tcp_to(port).await)
        .await
        .unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn, None);
    next_session(&mut sessions).await.unwrap();

    // Nothing in common: both sides say so.
    let h3 = trusting(&ca).alpn(vec![b"h3".to_vec()]);
    let err = handshake(&h3, "localhost", tcp_to(port).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::NoApplicationProtocol)),
        "{err:?}"
    );
    let err = next_session(&mut sessions).await.unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::NoApplicationProtocol)),
        "{err:?}"
    );

    // Any flow will do: an in-memory pipe, and a server offering h2 only.
    let (near, far) = Flow::pipe(4096);
    let h2_only = server_tls.clone().alpn(vec![b"h2".to_vec()]);
    let server = tokio::spawn(tls::server_of_flow(h2_only.config(), far));
    let client = handshake(&trusting(&ca), "localhost", near).await.unwrap();
    let server = timeout(LIMIT, server).await.unwrap().unwrap().unwrap();
    assert_eq!(tls::session(&client).unwrap().alpn_str(), Some("h2"));
    assert!(!tls::TLS_WITNESS.repr(&server).unwrap().is_client());
    assert!(
        tls::session(&tcp_to(port).await).is_none(),
        "plain TCP is not TLS"
    );
}

#[tokio::test]
async fn a_client_refusing_our_certificate_is_reported_by_the_server() {
    let ca = Ca::new();
    let (port, mut sessions) = echo_server(ca.leaf("server").server_tls().config()).await;
    let err = handshake(&ClientTls::new(), "localhost", tcp_to(port).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::UnknownAuthority)),
        "{err:?}"
    );
    let err = next_session(&mut sessions).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "TLS: the peer refused our certificate (UnknownCA alert)"
    );

    // A client speaking plain HTTP to the TLS port.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let err = next_session(&mut sessions).await.unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::NotTls)), "{err:?}");
}

#[tokio::test]
async fn a_swapped_certificate_serves_new_connections_and_keeps_the_old_ones() {
    let ca = Ca::new();
    let (first, second) = (ca.leaf("first"), ca.leaf("second"));
    let server_tls = first.server_tls();
    let renewal = server_tls.clone();
    let (port, mut sessions) = echo_server(server_tls.config()).await;

    let mut a = handshake(&trusting(&ca), "localhost", tcp_to(port).await)
        .await
        .unwrap();
    next_session(&mut sessions).await.unwrap();
    assert_eq!(
        tls::session(&a).unwrap().peer_certificates[0].as_ref(),
        &first.der[..]
    );

    renewal
        .set_certificate(second.cert_pem.as_bytes(), second.key_pem.as_bytes())
        .unwrap();
    assert_eq!(server_tls.certificate_chain()[0].as_ref(), &second.der[..]);

    // A new client (a new config: no session to resume) sees the new one.
    let b = handshake(&trusting(&ca), "localhost", tcp_to(port).await)
        .await
        .unwrap();
    next_session(&mut sessions).await.unwrap();
    assert_eq!(
        tls::session(&b).unwrap().peer_certificates[0].as_ref(),
        &second.der[..]
    );

    // A is still up, on its first certificate.
    assert_eq!(exchange(&mut a, "still here\n").await, "still here\n");
    assert_eq!(
        tls::session(&a).unwrap().peer_certificates[0].as_ref(),
        &first.der[..]
    );

    // A renewal that cannot be used leaves the current certificate.
    let err = renewal
        .set_certificate(first.cert_pem.as_bytes(), second.key_pem.as_bytes())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the private key does not belong to the certificate"
    );
    let err = renewal
        .set_certificate(b"not pem", second.key_pem.as_bytes())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate chain: no \"BEGIN CERTIFICATE\" section found"
    );
    assert_eq!(server_tls.certificate_chain()[0].as_ref(), &second.der[..]);
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_its_dates() {
    let ca = Ca::new();
    let expired = ca.leaf_with("expired", |params| {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let (port, _sessions) = echo_server(expired.server_tls().config()).await;
    let err = handshake(&trusting(&ca), "localhost", tcp_to(port).await)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::Expired(_))), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("TLS: certificate expired: "), "{text}");
    assert!(
        text.ends_with("(check the server's certificate and this machine's clock)"),
        "{text}"
    );
}

#[test]
fn pem_errors_say_what_was_wrong() {
    let err = ServerTls::from_pem(b"", b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate chain: no \"BEGIN CERTIFICATE\" section found"
    );
    let leaf = Ca::new().leaf("server");
    let err = ServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.cert_pem.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("private key: no \"BEGIN PRIVATE KEY\""),
        "{err}"
    );
    let err = ClientTls::new().only_roots_pem(b"nothing").unwrap_err();
    assert_eq!(
        err.to_string(),
        "CA certificates: no \"BEGIN CERTIFICATE\" section found"
    );
}

fn https(host: &str, port: u16) -> Ctx {
    native::https_ctx()
        .add(&HOST, host.to_string())
        .add(&PORT, port)
}

async fn resolve(ctx: &Ctx) -> Result<Flow, mimic::ResolveError> {
    timeout(LIMIT, mimic::resolve(ctx))
        .await
        .expect("resolution should not hang")
}

#[tokio::test]
async fn https_resolves_to_tls_and_http_to_plain_tcp() {
    let ca = Ca::new();
    let (port, mut sessions) = echo_server(ca.leaf("server").server_tls().config()).await;
    let config = trusting(&ca).build();

    let mut flow = resolve(&https("localhost", port).add(&tls::CONFIG, config.clone()))
        .await
        .unwrap();
    assert!(tls::TLS_WITNESS.is(&flow));
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("h2"));
    assert_eq!(
        next_session(&mut sessions)
            .await
            .unwrap()
            .server_name
            .as_deref(),
        Some("localhost")
    );
    assert_eq!(exchange(&mut flow, "resolved\n").await, "resolved\n");

    let flow = resolve(
        &native::ctx()
            .add(&HOST, "localhost".to_string())
            .add(&PORT, port),
    )
    .await
    .unwrap();
    assert!(TCP_WITNESS.is(&flow));
    assert!(tls::session(&flow).is_none());

    // The name to check can differ from the host connected to.
    let by_address = https("127.0.0.1", port)
        .add(&tls::CONFIG, config.clone())
        .add(&tls::SERVER_NAME, "localhost".to_string());
    resolve(&by_address).await.unwrap();
    assert_eq!(
        next_session(&mut sessions)
            .await
            .unwrap()
            .server_name
            .as_deref(),
        Some("localhost")
    );

    // An IP literal is checked against the certificate, never sent as SNI.
    resolve(&https("127.0.0.1", port).add(&tls::CONFIG, config.clone()))
        .await
        .unwrap();
    assert_eq!(next_session(&mut sessions).await.unwrap().server_name, None);

    // Without a config, the Mozilla roots: the test CA is unknown there.
    let err = resolve(&https("localhost", port)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls: certificate signed by an unknown authority (trust the CA that signed it: \
         --cacert, or ClientTls::add_roots_pem)"
    );
}

#[tokio::test]
async fn a_failed_tls_connection_never_falls_back_to_clear_text() {
    // A plain HTTP server where TLS is expected.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut request = [0; 512];
            let _ = tcp.read(&mut request).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let err = resolve(&https("localhost", port)).await.unwrap_err();
    assert_eq!(err.attempts().len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "tls: the peer does not speak TLS (is it a plain HTTP server? then use http://)"
    );
    assert_eq!(ConnectFailure::of(&err), ConnectFailure::Tls);
}

#[tokio::test]
async fn a_flow_that_cannot_be_opened_under_tls_is_not_a_tls_failure() {
    // Refused: said as the TCP connection's failure, not TLS's.
    let refused = free_port();
    let err = resolve(&https("127.0.0.1", refused)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("connection refused to 127.0.0.1:{refused}")
    );
    assert_eq!(ConnectFailure::of(&err), ConnectFailure::Refused);

    // A name not found by a transport that looks names up itself (as a JS
    // connect function does): DNS, whether TLS runs over it or not.
    let not_found = || async {
        let message = "getaddrinfo ENOTFOUND nonexistent.invalid";
        Err::<Flow, _>(std::io::Error::new(std::io::ErrorKind::NotFound, message).into())
    };
    let endpoint = Endpoint::new(ClientTls::new().build(), "nonexistent.invalid", not_found);
    let err = resolve(&Ctx::new().add(&tls::TLS, endpoint)).await.unwrap_err();
    assert_eq!(err.to_string(), "getaddrinfo ENOTFOUND nonexistent.invalid");
    assert_eq!(ConnectFailure::of(&err), ConnectFailure::Dns);

    // A DNS lookup that fails natively (a fold): DNS too.
    let err = resolve(&https("nonexistent.invalid", 443)).await.unwrap_err();
    assert_eq!(ConnectFailure::of(&err), ConnectFailure::Dns, "{err}");
}

#[tokio::test]
async fn the_tls_endpoint_can_be_given_over_any_flow() {
    let ca = Ca::new();
    let server_tls = ca.leaf("server").server_tls();
    let config = trusting(&ca).build();
    let endpoint = Endpoint::new(config, "localhost", move || {
        let server_config = server_tls.config();
        async move {
            let (near, far) = Flow::pipe(4096);
            tokio::spawn(tls::server_of_flow(server_config, far));
            Ok(near)
        }
    });
    let flow = resolve(&Ctx::new().add(&tls::TLS, endpoint)).await.unwrap();
    assert_eq!(tls::session(&flow).unwrap().alpn_str(), Some("h2"));
}

// Client certificates (mutual TLS): curl, openssl s_client, paf's client
// and `paf get` present one to paf's server, library and `paf serve`.

/// What the mTLS server's handshakes gave: the session, or the server's
/// error as text.
type Handshakes = tokio::sync::mpsc::UnboundedReceiver<Result<tls::Session, String>>;

/// TLS as [`alpn::Tls`] does it, each handshake's outcome sent on a
/// channel: the client certificates the server saw are read from there.
#[derive(Clone)]
struct Recorded {
    tls: alpn::Tls,
    handshakes: tokio::sync::mpsc::UnboundedSender<Result<tls::Session, String>>,
}

impl alpn::Info for Recorded {
    fn inject(&self, flow: Flow) -> impl std::future::Future<Output = Result<Flow, Error>> + Send {
        let (tls, handshakes) = (self.tls.clone(), self.handshakes.clone());
        async move {
            let flow = tls.inject(flow).await;
            let outcome = match &flow {
                Ok(flow) => Ok(tls::session(flow).expect("a TLS flow")),
                Err(err) => Err(err.to_string()),
            };
            let _ = handshakes.send(outcome);
            flow
        }
    }

    fn protocol(&self, flow: &Flow) -> Option<alpn::Protocol> {
        self.tls.protocol(flow)
    }
}

/// paf's HTTP server on a loopback port with `server`'s TLS, answering
/// every request `hello over HTTP/x`; stopped when the switch is dropped.
async fn https_server(server: &ServerTls) -> (u16, Handshakes, paf::Switch) {
    let listener = paf::rt::native::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, handshakes) = tokio::sync::mpsc::unbounded_channel();
    let info = Recorded {
        tls: alpn::Tls::new(server.config()),
        handshakes: sender,
    };
    let handler = paf::service_fn(|req: paf::Request<paf::Incoming>| async move {
        paf::Response::new(paf::Body::from(format!("hello over {:?}", req.version())))
    });
    let switch = paf::Switch::new();
    let service = alpn::service(info, handler);
    tokio::spawn(paf::serve(listener, service, paf::Config::default(), switch.clone()));
    (port, handshakes, switch)
}

async fn next_handshake(handshakes: &mut Handshakes) -> Result<tls::Session, String> {
    timeout(LIMIT, handshakes.recv())
        .await
        .expect("the server should report its handshake")
        .expect("the server is running")
}

/// The first certificate the client presented, as the server saw it.
fn presented(session: &tls::Session) -> Option<&[u8]> {
    session.peer_certificates.first().map(|der| der.as_ref())
}

/// A CA with a server certificate and two client certificates, and a
/// client certificate from another CA (`stranger`), all written to files.
struct Mtls {
    ca: Ca,
    server: Leaf,
    alice: Leaf,
    bob: Leaf,
    dir: Scratch,
}

impl Mtls {
    fn new() -> Mtls {
        let ca = Ca::new();
        let (server, alice, bob) = (ca.leaf("server"), ca.leaf("alice"), ca.leaf("bob"));
        let stranger = Ca::new().leaf("stranger");
        let dir = Scratch::new("mtls");
        dir.write("ca.pem", &ca.pem());
        for (name, leaf) in [("server", &server), ("alice", &alice), ("bob", &bob), ("stranger", &stranger)] {
            dir.write(&format!("{name}.pem"), &leaf.cert_pem);
            dir.write(&format!("{name}.key"), &leaf.key_pem);
        }
        Mtls { ca, server, alice, bob, dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.0.join(name).display().to_string()
    }

    fn required(&self) -> ServerTls {
        self.server.server_tls().require_client_certs(self.ca.pem().as_bytes()).unwrap()
    }

    /// curl to `port` trusting the CA, with `--cert NAME.pem --key
    /// NAME.key` for `Some(NAME)`, and `protocol` (`--http2`,
    /// `--http1.1`): the status (0 when there was no answer), the HTTP
    /// version and the body.
    async fn curl(&self, port: u16, client: Option<&str>, protocol: &str) -> (u16, String, String) {
        let mut command = Command::new("curl");
        command.kill_on_drop(true).stdin(Stdio::null());
        command.args(["-sS", "--max-time", "10", protocol, "--cacert", &self.path("ca.pem")]);
        if let Some(name) = client {
            command.args(["--cert", &self.path(&format!("{name}.pem"))]);
            command.args(["--key", &self.path(&format!("{name}.key"))]);
        }
        command.args(["-w", "\n%{http_code} %{http_version}"]);
        command.arg(format!("https://localhost:{port}/"));
        let output = timeout(LIMIT, command.output()).await.unwrap().expect("curl is installed (scripts/setup)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, last) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let (status, version) = last.split_once(' ').unwrap_or((last, ""));
        (status.parse().unwrap_or(0), version.to_string(), body.to_string())
    }
}

#[tokio::test]
async fn a_server_requiring_client_certificates_serves_curl_with_one_over_h2_and_http1() {
    let mtls = Mtls::new();
    let (port, mut handshakes, _switch) = https_server(&mtls.required()).await;

    for (protocol, version, alpn, client) in [("--http2", "2", "h2", "alice"), ("--http1.1", "1.1", "http/1.1", "bob")] {
        let (status, got, body) = mtls.curl(port, Some(client), protocol).await;
        assert_eq!((status, got.as_str()), (200, version), "{body}");
        let session = next_handshake(&mut handshakes).await.unwrap();
        assert_eq!(session.alpn_str(), Some(alpn));
        let expected = if client == "alice" { &mtls.alice } else { &mtls.bob };
        assert_eq!(presented(&session), Some(&expected.der[..]), "the server saw {client}'s certificate");
    }

    let (status, _, _) = mtls.curl(port, None, "--http2").await;
    assert_eq!(status, 0, "no answer without a certificate");
    let err = next_handshake(&mut handshakes).await.unwrap_err();
    assert!(err.contains("the client presented no certificate, and this server requires one"), "{err}");

    let (status, _, _) = mtls.curl(port, Some("stranger"), "--http2").await;
    assert_eq!(status, 0, "no answer with a certificate of another CA");
    let err = next_handshake(&mut handshakes).await.unwrap_err();
    assert!(err.contains("client certificate signed by an authority this server does not trust"), "{err}");
}

#[tokio::test]
async fn optional_client_certificates_let_clients_without_one_in() {
    let mtls = Mtls::new();
    let server = mtls.server.server_tls().accept_client_certs(mtls.ca.pem().as_bytes()).unwrap();
    let (port, mut handshakes, _switch) = https_server(&server).await;

    let (status, _, body) = mtls.curl(port, Some("alice"), "--http2").await;
    assert_eq!((status, body.as_str()), (200, "hello over HTTP/2.0"));
    let session = next_handshake(&mut handshakes).await.unwrap();
    assert_eq!(presented(&session), Some(&mtls.alice.der[..]));

    let (status, _, body) = mtls.curl(port, None, "--http1.1").await;
    assert_eq!((status, body.as_str()), (200, "hello over HTTP/1.1"));
    let session = next_handshake(&mut handshakes).await.unwrap();
    assert_eq!(presented(&session), None, "no certificate, served all the same");

    // One that is presented must still be signed by the CA.
    let (status, _, _) = mtls.curl(port, Some("stranger"), "--http2").await;
    assert_eq!(status, 0);
    let err = next_handshake(&mut handshakes).await.unwrap_err();
    assert!(err.contains("does not trust for clients"), "{err}");
}

#[tokio::test]
async fn openssl_s_client_presents_a_certificate_and_gets_an_answer() {
    let mtls = Mtls::new();
    let (port, mut handshakes, _switch) = https_server(&mtls.required()).await;
    let mut child = openssl()
        .args(["s_client", "-quiet", "-ign_eof", "-alpn", "http/1.1", "-servername", "localhost"])
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .args(["-CAfile", &mtls.path("ca.pem")])
        .args(["-cert", &mtls.path("alice.pem"), "-key", &mtls.path("alice.key")])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let output = timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.ends_with("hello over HTTP/1.1"), "{stdout}");
    drop(stdin);
    let session = next_handshake(&mut handshakes).await.unwrap();
    assert_eq!(presented(&session), Some(&mtls.alice.der[..]));
}

#[tokio::test]
async fn the_paf_client_presents_its_identity_to_a_server_requiring_one() {
    let mtls = Mtls::new();
    let (port, mut handshakes, _switch) = https_server(&mtls.required()).await;
    let url = format!("https://localhost:{port}/");
    let builder = || paf::Client::builder().add_roots_pem(mtls.ca.pem().as_bytes()).unwrap();

    let client = builder()
        .identity(mtls.alice.cert_pem.as_bytes(), mtls.alice.key_pem.as_bytes())
        .unwrap()
        .build();
    for _ in 0..2 {
        let response = timeout(LIMIT, client.get(&url)).await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), paf::Version::HTTP_2);
    }
    let session = next_handshake(&mut handshakes).await.unwrap();
    assert_eq!(presented(&session), Some(&mtls.alice.der[..]));

    // Over a bare TLS flow too, HTTP/1.1 only.
    let config = trusting(&mtls.ca)
        .identity(mtls.bob.cert_pem.as_bytes(), mtls.bob.key_pem.as_bytes())
        .unwrap()
        .alpn(vec![b"http/1.1".to_vec()])
        .build();
    let mut flow = tls::client_of_flow(config, "localhost", tcp_to(port).await).await.unwrap();
    flow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    timeout(LIMIT, flow.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let session = next_handshake(&mut handshakes).await.unwrap();
    assert_eq!(presented(&session), Some(&mtls.bob.der[..]));

    // Without one, the request fails and says what is missing: over
    // HTTP/1.1 as a TLS error (TLS 1.3 tells the client after its
    // handshake, on its first read; the request that comes after the
    // connection failed gets that failure), over HTTP/2 in h2's I/O error.
    let err = timeout(LIMIT, builder().build().get(&url)).await.unwrap().unwrap_err();
    let err = err.to_string();
    assert!(err.contains("the server requires a client certificate"), "{err}");
    for _ in 0..3 {
        let http1 = builder().alpn(vec![paf::engine::alpn::Protocol::Http1]).build();
        let err = timeout(LIMIT, http1.get(&url)).await.unwrap().unwrap_err();
        assert!(matches!(err, paf::Error::Tls(paf::tls::TlsError::PeerAlert(_))), "{err:?}");
        assert!(err.to_string().contains("the server requires a client certificate"), "{err}");
    }
}

/// A TLS 1.3 server refuses a missing client certificate after the
/// client's handshake, sends its alert and closes: a write that then
/// finds the connection closed fails with that alert, not a broken pipe.
#[tokio::test]
async fn a_write_after_the_server_refused_the_client_fails_with_its_alert() {
    let mtls = Mtls::new();
    let (port, _handshakes, _switch) = https_server(&mtls.required()).await;
    let config = trusting(&mtls.ca).alpn(vec![b"http/1.1".to_vec()]).build();
    let mut flow = tls::client_of_flow(config, "localhost", tcp_to(port).await).await.unwrap();
    let mut failure = None;
    for _ in 0..50 {
        // Writes succeed until the server's close reaches this side.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let write = async { flow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?; flow.flush().await };
        if let Err(err) = timeout(LIMIT, write).await.unwrap() {
            failure = Some(err);
            break;
        }
    }
    let err = failure.expect("a write fails once the server has closed");
    assert!(err.to_string().contains("the server requires a client certificate"), "{err}");
    let err = Error::from(err);
    assert!(matches!(err, Error::Tls(TlsError::PeerAlert(_))), "{err:?}");
}

/// `paf` with `args`, its stdout and stderr, bounded.
async fn paf_cli(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paf"));
    command.kill_on_drop(true).stdin(Stdio::null()).args(args);
    timeout(LIMIT, command.output()).await.unwrap().unwrap()
}

#[tokio::test]
async fn paf_serve_and_paf_get_speak_mutual_tls() {
    let mtls = Mtls::new();
    let port = free_port();
    let p = |name: &str| mtls.path(name);
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let server = common::native_server(port, &["--tls-cert", &cert, "--tls-key", &key, "--tls-client-ca", &ca]);
    let url = format!("https://localhost:{port}/");

    let (alice, alice_key) = (p("alice.pem"), p("alice.key"));
    let got = paf_cli(&["get", "--cacert", &ca, "--cert", &alice, "--key", &alice_key, &url]).await;
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert!(String::from_utf8_lossy(&got.stdout).starts_with("Hello from paf serve."));

    for protocol in ["--http2", "--http1.1"] {
        let (status, _, body) = mtls.curl(port, Some("bob"), protocol).await;
        assert_eq!(status, 200, "{body}");
        let (status, _, _) = mtls.curl(port, None, protocol).await;
        assert_eq!(status, 0, "no answer without a certificate");
    }

    let refused = paf_cli(&["get", "--cacert", &ca, &url]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("the server requires a client certificate"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    drop(server);

    // Optional: served without a certificate.
    let port = free_port();
    let _server = common::native_server(
        port,
        &["--tls-cert", &cert, "--tls-key", &key, "--tls-client-ca", &ca, "--tls-client-auth", "optional"],
    );
    let url = format!("https://localhost:{port}/");
    let got = paf_cli(&["get", "--cacert", &ca, &url]).await;
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    let (status, _, _) = mtls.curl(port, Some("alice"), "--http2").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_mtls_files_are_one_readable_line() {
    let mtls = Mtls::new();
    let p = |name: &str| mtls.path(name);
    let (cert, key) = (p("server.pem"), p("server.key"));
    let serve = |client_ca: String| {
        let (cert, key) = (cert.clone(), key.clone());
        async move {
            let port = free_port().to_string();
            paf_cli(&["serve", "--port", &port, "--tls-cert", &cert, "--tls-key", &key, "--tls-client-ca", &client_ca]).await
        }
    };
    let cases = [
        (serve(p("alice.key")).await, "client CA certificates: no \"BEGIN CERTIFICATE\" section found"),
        (serve(p("alice.pem")).await, "a certificate in it is not a CA certificate (no CA:TRUE)"),
        (serve(p("missing.pem")).await, "cannot read"),
        (
            paf_cli(&["get", "--cert", &p("ca.pem"), "--key", &p("alice.key"), "https://localhost:1/"]).await,
            "it is a CA certificate (CA:TRUE), which cannot identify a client",
        ),
        (
            paf_cli(&["get", "--cert", &p("alice.pem"), "--key", &p("bob.key"), "https://localhost:1/"]).await,
            "the private key does not belong to the certificate",
        ),
    ];
    for (output, expected) in cases {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("paf: ") && stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn mtls_configuration_errors_say_what_to_do() {
    let mtls = Mtls::new();
    let server = || mtls.server.server_tls();
    let err = server().require_client_certs(mtls.alice.key_pem.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "client CA certificates: no \"BEGIN CERTIFICATE\" section found");
    let err = server().accept_client_certs(mtls.alice.cert_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("give the certificate of the CA that signed the client certificates"), "{err}");

    let err = ClientTls::new().identity(mtls.ca.pem().as_bytes(), mtls.alice.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("client certificate chain: it is a CA certificate (CA:TRUE)"), "{err}");
    let reversed = format!("{}{}", mtls.ca.pem(), mtls.alice.cert_pem);
    let err = ClientTls::new().identity(reversed.as_bytes(), mtls.alice.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("put the client's own certificate first"), "{err}");
    let err = ClientTls::new().identity(b"", mtls.alice.key_pem.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "client certificate chain: no \"BEGIN CERTIFICATE\" section found");
    let err = ClientTls::new().identity(mtls.alice.cert_pem.as_bytes(), b"").unwrap_err();
    assert!(err.to_string().starts_with("private key: no"), "{err}");

    // A renewal keeps the client-certificate requirement.
    let tls = mtls.required();
    tls.set_certificate(mtls.bob.cert_pem.as_bytes(), mtls.bob.key_pem.as_bytes()).unwrap();
    assert!(format!("{tls:?}").contains("client_auth: required (1 CA certificates)"), "{tls:?}");
}
