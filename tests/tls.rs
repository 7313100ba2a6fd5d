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
