//! `paf::Client` and `paf get` against real servers, each started by the
//! test on loopback: nginx (http, https with HTTP/2, redirects, a Unix
//! socket), Node's http2 module (h2c and TLS), Python's `http.server`;
//! and against a protocol of the test's own, registered with mimic.
//!
//! Connection reuse is read from nginx's access log (`$connection`,
//! `$connection_requests`) or from what Node says of its sessions, never
//! assumed. The peers must be installed (`scripts/setup`): a missing peer
//! fails the test, it is never skipped. Every wait is bounded.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, AUTHORIZATION, COOKIE};
use paf::engine::alpn::Protocol;
use paf::client::{ClientBuilder, ConnectionInfo, MaxRedirects, Origin, Platform, ResponseExt, Timings, ORIGIN};
use paf::platform::native::SaveExt;
use paf::error::{ConnectFailure, Timeout};
use paf::mimic::{self, req, Ctx};
use paf::platform::{ADDRESSES, HOST};
use paf::rt::native::Tokio;
use paf::{service_fn, Body, Client, Config, Error, Flow, Incoming, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{free_port, listening, mebibyte, python_http_server, scratch_dir, wait_until, write_site, Ca, Peer, INDEX};

/// The bound of every wait on a peer.
const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future).await.expect("a peer took longer than the test allows")
}




/// nginx on a clear-text port, a TLS port with HTTP/2 and a Unix socket,
/// logging `$connection $connection_requests $request_method $uri` per
/// request.
struct Nginx {
    peer: Peer,
    tls_port: u16,
    /// HTTP/2 on clear text, by prior knowledge.
    h2c_port: u16,
    ca: Ca,
}

impl Nginx {
    fn start() -> Nginx {
        Nginx::with("")
    }

    /// With `extra` directives in the server block.
    fn with(extra: &str) -> Nginx {
        let dir = scratch_dir("client-nginx");
        write_site(&dir);
        let ca = Ca::new("paf client test CA");
        let (_, cert, key) = ca.write(&dir);
        let (port, tls_port, h2c_port) = (free_port(), free_port(), free_port());
        let d = dir.display();
        let (cert, key) = (cert.display(), key.display());
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format conn '$connection $connection_requests $request_method $uri';
  access_log {d}/access.log conn;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  types {{ text/html html; application/octet-stream bin; }}
  keepalive_requests 100;
  absolute_redirect off;
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl http2;
    listen 127.0.0.1:{h2c_port} http2;
    listen unix:{d}/nginx.sock;
    listen unix:{d}/tls.sock ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {d}/www;
    {extra}
    location = /conn {{
      add_header X-Connection $connection always;
      add_header X-Connection-Requests $connection_requests always;
      return 200 \"ok\\n\";
    }}
    location = /moved {{ return 301 /index.html; }}
    location = /found {{ return 302 /method; }}
    location = /see-other {{ return 303 /method; }}
    location = /temporary {{ return 307 /echo; }}
    location = /permanent {{ return 308 /echo; }}
    location = /loop {{ return 302 /loop; }}
    location = /method {{ add_header X-Method $request_method always; return 200 \"$request_method\\n\"; }}
    location = /headers {{
      add_header X-Authorization \"$http_authorization\" always;
      add_header X-Cookie \"$http_cookie\" always;
      return 200 \"ok\\n\";
    }}
    location = /same-origin {{ return 302 /headers; }}
    location = /other-origin {{ return 302 http://localhost:{port}/headers; }}
    location = /to-clear-text {{ return 302 http://127.0.0.1:{port}/index.html; }}
    location = /echo {{
      client_body_in_single_buffer on;
      client_body_buffer_size 64k;
      proxy_pass http://127.0.0.1:{port}/sink;
      add_header X-Method $request_method always;
      add_header X-Body $request_body always;
    }}
    location = /sink {{ return 200 \"sunk\\n\"; }}
  }}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot start nginx: run scripts/setup (Debian package nginx-light)");
        wait_until(&mut child, "nginx", || listening(port) && listening(tls_port) && listening(h2c_port));
        Nginx { peer: Peer { child, port, dir }, tls_port, h2c_port, ca }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.peer.port)
    }

    fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.tls_port)
    }

    fn socket(&self) -> PathBuf {
        self.peer.dir.join("nginx.sock")
    }

    /// A client that trusts the test CA.
    fn client(&self) -> paf::client::ClientBuilder {
        Client::builder().add_roots_pem(self.ca.pem.as_bytes()).unwrap()
    }

    /// `(connection, request number on it)` of each logged request for
    /// `uri`, once `count` of them are in the log.
    fn logged(&self, uri: &str, count: usize) -> Vec<(u64, u64)> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let log = std::fs::read_to_string(self.peer.dir.join("access.log")).unwrap_or_default();
            let lines: Vec<(u64, u64)> = log
                .lines()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split(' ').collect();
                    (fields.get(3) == Some(&uri)).then(|| (fields[0].parse().unwrap(), fields[1].parse().unwrap()))
                })
                .collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(Instant::now() < deadline, "nginx logged {} requests for {uri}, not {count}:\n{log}", lines.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Node's http2 module: h2c (`createServer`), or TLS with ALPN h2 and
/// HTTP/1.1 (`createSecureServer`). It answers `METHOD URL BODY` and says
/// which session (connection) carried the request in `x-session`.
fn node_http2(tls: Option<&Ca>) -> Peer {
    const SCRIPT: &str = r#"
const http2 = require('http2');
const fs = require('fs');
const [port, cert, key] = process.argv.slice(1);
let sessions = 0;
const ids = new WeakMap();
const handler = (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const session = req.stream ? ids.get(req.stream.session) : 0;
    res.setHeader('x-session', String(session));
    res.setHeader('x-http-version', req.httpVersion);
    res.end(`${req.method} ${req.url} ${Buffer.concat(chunks)}\n`);
  });
};
const server = cert
  ? http2.createSecureServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), allowHTTP1: true }, handler)
  : http2.createServer(handler);
server.on('session', (session) => ids.set(session, ++sessions));
server.listen(Number(port), '127.0.0.1');
"#;
    let dir = scratch_dir("client-node");
    let port = free_port();
    let mut command = Command::new("node");
    command.arg("-e").arg(SCRIPT).arg(port.to_string());
    if let Some(ca) = tls {
        let (_, cert, key) = ca.write(&dir);
        command.arg(cert).arg(key);
    }
    let mut child = command
        .stdout(Stdio::null())
        .spawn()
        .expect("node is not installed: run scripts/setup (Debian package nodejs)");
    wait_until(&mut child, "node", || listening(port));
    Peer { child, port, dir }
}

fn header(response: &Response<Incoming>, name: &str) -> String {
    response.headers().get(name).map_or(String::new(), |v| v.to_str().unwrap().to_string())
}

fn info(response: &Response<Incoming>) -> ConnectionInfo {
    response.extensions().get::<ConnectionInfo>().expect("the client says how").clone()
}

#[tokio::test]
async fn the_three_line_client_over_http_https_and_a_unix_socket() {
    let nginx = Nginx::start();
    let client = nginx.client().build();
    for url in [nginx.url("/index.html"), nginx.https("/index.html"), format!("https://127.0.0.1:{}/", nginx.tls_port)] {
        let response = bounded(client.get(&url)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let tls = url.starts_with("https");
        let info = info(&response);
        assert_eq!(info.protocol, if tls { Protocol::Http2 } else { Protocol::Http1 }, "{url}");
        assert_eq!(info.tls.as_ref().map(|s| s.alpn_str() == Some("h2")), tls.then_some(true));
        assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
    }

    // The socket named in the URL, or given to the builder.
    let socket = nginx.socket().display().to_string().replace('/', "%2F");
    let response = bounded(client.get(format!("http+unix://{socket}/index.html"))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
    let through_socket = Client::builder().unix_socket(nginx.socket()).build();
    let response = bounded(through_socket.get("http://nowhere.invalid/big.bin")).await.unwrap();
    assert!(bounded(response.bytes()).await.unwrap() == mebibyte(), "the body differs");
    // h2c, by prior knowledge.
    let h2c = Client::builder().http2_prior_knowledge(true).build();
    let response = bounded(h2c.get(format!("http://127.0.0.1:{}/index.html", nginx.h2c_port))).await.unwrap();
    assert_eq!((info(&response).protocol, response.version()), (Protocol::Http2, http::Version::HTTP_2));
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);

    // TLS over a socket, the certificate checked against the URL's host.
    let tls_socket = nginx.client().unix_socket(nginx.peer.dir.join("tls.sock")).build();
    let response = bounded(tls_socket.get("https://localhost/index.html")).await.unwrap();
    assert_eq!(info(&response).protocol, Protocol::Http2);
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
}

#[tokio::test]
async fn a_large_body_streams_and_saves_to_a_file_over_h2_and_h1() {
    let nginx = Nginx::start();
    let client = nginx.client().build();
    for url in [nginx.https("/big.bin"), nginx.url("/big.bin")] {
        let response = bounded(client.get(&url)).await.unwrap();
        assert_eq!(http_body::Body::size_hint(response.body()).exact(), Some(1024 * 1024));
        let file = nginx.peer.dir.join("download.bin");
        assert_eq!(bounded(response.save(&file)).await.unwrap(), 1024 * 1024);
        assert!(std::fs::read(&file).unwrap() == mebibyte(), "{url}: the download differs");
    }
}

#[tokio::test]
async fn http1_connections_are_reused_as_nginx_sees_it() {
    let nginx = Nginx::start();
    let client = nginx.client().build();
    for _ in 0..3 {
        let response = bounded(client.get(nginx.url("/conn"))).await.unwrap();
        assert_eq!(bounded(response.text()).await.unwrap(), "ok\n");
    }
    let logged = nginx.logged("/conn", 3);
    let connection = logged[0].0;
    assert_eq!(logged, [(connection, 1), (connection, 2), (connection, 3)]);

    // An unread body keeps its connection busy: the next request takes a
    // new one, and both are reused afterwards.
    let unread = bounded(client.get(nginx.url("/big.bin"))).await.unwrap();
    let response = bounded(client.get(nginx.url("/conn"))).await.unwrap();
    assert!(!info(&response).reused, "a busy connection was handed out");
    assert_eq!(bounded(response.text()).await.unwrap(), "ok\n");
    assert!(bounded(unread.bytes()).await.unwrap() == mebibyte());
    let logged = nginx.logged("/conn", 4);
    assert_ne!(logged[3].0, connection);

    // A small body that came whole with its head frees its connection at
    // once, read or not: the next request reuses it.
    let unread = bounded(client.get(nginx.url("/conn"))).await.unwrap();
    let response = bounded(client.get(nginx.url("/conn"))).await.unwrap();
    assert!(info(&response).reused, "a connection owing nothing was not reused");
    assert_eq!(bounded(response.text()).await.unwrap(), "ok\n");
    assert_eq!(bounded(unread.text()).await.unwrap(), "ok\n", "the early body is still there to read");
    let logged = nginx.logged("/conn", 6);
    assert_eq!(logged[4].0, logged[5].0, "{logged:?}");
}

#[tokio::test]
async fn the_pool_is_bounded_and_idle_connections_expire() {
    let nginx = Nginx::start();
    let none_kept = nginx.client().max_idle_per_origin(0).build();
    for _ in 0..2 {
        let response = bounded(none_kept.get(nginx.url("/conn"))).await.unwrap();
        bounded(response.bytes()).await.unwrap();
    }
    let logged = nginx.logged("/conn", 2);
    assert_eq!(logged.iter().map(|l| l.1).collect::<Vec<_>>(), [1, 1], "{logged:?}");
    assert_ne!(logged[0].0, logged[1].0);

    let short = nginx.client().idle_timeout(Duration::from_millis(200)).build();
    for pause in [Duration::ZERO, Duration::from_millis(600)] {
        tokio::time::sleep(pause).await;
        let response = bounded(short.get(nginx.url("/conn"))).await.unwrap();
        bounded(response.bytes()).await.unwrap();
    }
    let logged = nginx.logged("/conn", 4);
    assert_eq!(logged[3].1, 1, "the idle connection outlived its timeout: {logged:?}");
}

#[tokio::test]
async fn one_http2_connection_carries_concurrent_requests() {
    let nginx = Nginx::start();
    let client = nginx.client().build();
    let requests = (0..8).map(|_| async {
        let response = bounded(client.get(nginx.https("/conn"))).await.unwrap();
        assert_eq!(info(&response).protocol, Protocol::Http2);
        bounded(response.text()).await.unwrap()
    });
    for text in futures_util::future::join_all(requests).await {
        assert_eq!(text, "ok\n");
    }
    let logged = nginx.logged("/conn", 8);
    assert!(logged.iter().all(|l| l.0 == logged[0].0), "several connections: {logged:?}");
}

#[tokio::test]
async fn without_reuse_each_request_has_its_own_connection() {
    let nginx = Nginx::start();
    let client = nginx.client().reuse_connections(false).build();
    for url in [nginx.url("/conn"), nginx.https("/conn")] {
        let requests = (0..3).map(|_| async {
            let response = bounded(client.get(url.as_str())).await.unwrap();
            assert!(!info(&response).reused);
            bounded(response.text()).await.unwrap()
        });
        for text in futures_util::future::join_all(requests).await {
            assert_eq!(text, "ok\n");
        }
        let response = bounded(client.get(url.as_str())).await.unwrap();
        assert!(!info(&response).reused, "{url}: one after the others");
        bounded(response.text()).await.unwrap();
    }
    let logged = nginx.logged("/conn", 8);
    let mut connections: Vec<_> = logged.iter().map(|l| l.0).collect();
    connections.sort();
    connections.dedup();
    assert_eq!(connections.len(), 8, "a connection per request, HTTP/1.1 and HTTP/2 alike: {logged:?}");
}

#[tokio::test]
async fn alpn_preference_and_pins() {
    let nginx = Nginx::start();
    let http1 = nginx.client().alpn(vec![Protocol::Http1]).build();
    let response = bounded(http1.get(nginx.https("/index.html"))).await.unwrap();
    assert_eq!(info(&response).protocol, Protocol::Http1);
    assert_eq!(info(&response).tls.unwrap().alpn_str(), Some("http/1.1"));

    // A pin trusts that certificate, without the CA.
    let sha256 = paf::tls::certificate_sha256(&nginx.ca.leaf_der);
    let pinned = Client::builder().pin_sha256(sha256).build();
    let response = bounded(pinned.get(nginx.https("/index.html"))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
    let wrong = Client::builder().pin_sha256([0; 32]).build();
    let err = bounded(wrong.get(nginx.https("/index.html"))).await.unwrap_err();
    assert!(matches!(err, Error::Connect { kind: ConnectFailure::Tls, .. }), "{err}");
    assert!(err.to_string().contains("pinned"), "{err}");
}

#[tokio::test]
async fn redirects_as_nginx_sends_them() {
    let nginx = Nginx::start();
    let client = nginx.client().build();

    let response = bounded(client.get(nginx.url("/moved"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(info(&response).redirects, 1);
    let redirected_to = info(&response).redirected_to.map(|uri| uri.to_string());
    assert_eq!(redirected_to, Some(nginx.url("/index.html")));
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);

    // Per request, MaxRedirects in place of the client's limit: 0 gives the
    // redirect itself, 1 follows one where the client would follow none.
    let mut manual = paf::Request::get(nginx.url("/moved")).body(paf::Body::empty()).unwrap();
    manual.extensions_mut().insert(MaxRedirects(0));
    let response = bounded(client.request(manual)).await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&response, "location"), "/index.html");
    let none_by_default = nginx.client().max_redirects(0).build();
    let mut one = paf::Request::get(nginx.url("/moved")).body(paf::Body::empty()).unwrap();
    one.extensions_mut().insert(MaxRedirects(1));
    let response = bounded(none_by_default.request(one)).await.unwrap();
    assert_eq!((response.status(), info(&response).redirects), (StatusCode::OK, 1));

    // 301, 302, 303: the next request is a GET without the body.
    for path in ["/moved", "/found", "/see-other"] {
        let response = bounded(client.post(nginx.url(path), "data")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        if path != "/moved" {
            assert_eq!(header(&response, "x-method"), "GET", "{path}");
        }
    }
    // 307, 308: the same method with the same body, over h1 and h2.
    for url in [nginx.url("/temporary"), nginx.url("/permanent"), nginx.https("/temporary")] {
        let response = bounded(client.post(&url, "the body")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&response, "x-method"), "POST", "{url}");
        assert_eq!(header(&response, "x-body"), "the body", "{url}");
    }
    // A body that is a stream cannot be sent twice: the 307 stands.
    let stream = Body::stream(futures_util::stream::iter([Ok::<_, std::io::Error>("streamed")]));
    let request = Request::post(nginx.url("/temporary")).body(stream).unwrap();
    let response = bounded(client.request(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);

    // Credentials go to the same origin only.
    let with_credentials = |path: &str| {
        let mut request = Request::get(nginx.url(path)).body(Body::empty()).unwrap();
        request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        request.headers_mut().insert(COOKIE, HeaderValue::from_static("session=1"));
        request
    };
    let response = bounded(client.request(with_credentials("/same-origin"))).await.unwrap();
    assert_eq!(header(&response, "x-authorization"), "Bearer secret");
    assert_eq!(header(&response, "x-cookie"), "session=1");
    let response = bounded(client.request(with_credentials("/other-origin"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-authorization"), "", "Authorization crossed origins");
    assert_eq!(header(&response, "x-cookie"), "", "Cookie crossed origins");

    // Redirects followed on one connection, as nginx saw them.
    let logged = nginx.logged("/index.html", 1);
    let moved = nginx.logged("/moved", 1);
    assert_eq!(logged[0].0, moved[0].0, "the redirect took a new connection");

    // Not followed when asked not to.
    let no_follow = nginx.client().max_redirects(0).build();
    let response = bounded(no_follow.get(nginx.url("/moved"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&response, "location"), "/index.html");
}

#[tokio::test]
async fn an_https_to_http_redirect_is_refused_unless_allowed() {
    let nginx = Nginx::start();
    let err = bounded(nginx.client().build().get(nginx.https("/to-clear-text"))).await.unwrap_err();
    assert!(matches!(err, Error::InsecureRedirect { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("leaves https for clear text"), "{message}");
    let allowed = nginx.client().https_downgrade(true).build();
    let response = bounded(allowed.get(nginx.https("/to-clear-text"))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
}

#[tokio::test]
async fn node_http2_over_tls_and_by_prior_knowledge() {
    let ca = Ca::new("paf client test CA");
    let node = node_http2(Some(&ca));
    let client = Client::builder().add_roots_pem(ca.pem.as_bytes()).unwrap().build();
    let url = format!("https://localhost:{}/hello", node.port);
    let requests = (0..4).map(|i| {
        let (client, url) = (&client, &url);
        async move {
            let response = bounded(client.post(url.as_str(), format!("n{i}"))).await.unwrap();
            assert_eq!(header(&response, "x-http-version"), "2.0");
            let session = header(&response, "x-session");
            (session, bounded(response.text()).await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for (i, (session, text)) in answers.iter().enumerate() {
        assert_eq!(session, "1", "node saw several sessions: {answers:?}");
        assert_eq!(text, &format!("POST /hello n{i}\n"));
    }
    // The same server in HTTP/1.1 when only that is offered; a body
    // streamed both ways.
    let http1 = Client::builder().add_roots_pem(ca.pem.as_bytes()).unwrap().alpn(vec![Protocol::Http1]).build();
    for client in [&client, &http1] {
        let chunks = futures_util::stream::iter(["a", "b", "c"].map(Ok::<_, std::io::Error>));
        let request = Request::put(&url).body(Body::stream(chunks)).unwrap();
        let response = bounded(client.request(request)).await.unwrap();
        assert_eq!(bounded(response.text()).await.unwrap(), "PUT /hello abc\n");
    }
    let response = bounded(http1.get(&url)).await.unwrap();
    assert_eq!(header(&response, "x-http-version"), "1.1");

    let h2c = node_http2(None);
    let client = Client::builder().http2_prior_knowledge(true).build();
    let url = format!("http://127.0.0.1:{}/h2c", h2c.port);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let response = bounded(client.get(&url)).await.unwrap();
        assert_eq!(info(&response).protocol, Protocol::Http2);
        // (The probe that waited for the port to open was a session too.)
        sessions.push(header(&response, "x-session"));
        assert_eq!(bounded(response.text()).await.unwrap(), "GET /h2c \n");
    }
    assert_eq!(sessions[0], sessions[1], "node saw two sessions");
}

#[tokio::test]
async fn python_http_server_closes_after_each_response() {
    let python = python_http_server();
    let client = Client::new();
    for _ in 0..2 {
        let response = bounded(client.get(format!("http://127.0.0.1:{}/big.bin", python.port))).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_10);
        assert!(!info(&response).reused, "an HTTP/1.0 connection was kept");
        assert!(bounded(response.bytes()).await.unwrap() == mebibyte());
    }
}

/// A protocol of the test's: an in-memory pipe to a paf server in this
/// process, for the origins `accepts` takes, at `priority`.
fn in_memory(priority: i32, accepts: impl Fn(&Origin) -> bool + Send + Sync + 'static) -> Ctx {
    let (endpoint, _witness) = mimic::register(
        "memory",
        priority,
        mimic::protocol_fn(|origin: Origin| async move {
            let (client, server) = Flow::pipe(64 * 1024);
            let handler = service_fn(move |request: Request<Incoming>| {
                let host = origin.host().to_string();
                async move { Response::new(Body::from(format!("memory {host} {}\n", request.uri().path()))) }
            });
            tokio::spawn(async move {
                let config = Config::default();
                paf::engine::server::serve_connection(server, handler, &config, Tokio, std::future::pending()).await
            });
            Ok(client)
        }),
    );
    let accepts = std::sync::Arc::new(accepts);
    Ctx::new().fold(&endpoint, req(&ORIGIN), move |origin: Origin| {
        let accepted = accepts(&origin);
        async move { Ok(accepted.then_some(origin)) }
    })
}

#[tokio::test]
async fn a_protocol_of_the_users_is_chosen_by_its_priority() {
    let nginx = Nginx::start();
    let port = nginx.peer.port;
    // Before TCP (100): it wins where it applies, TCP does the rest.
    let client = Client::builder().context(in_memory(10, move |o| o.host() == "paf.test" || o.port() == port)).build();
    let response = bounded(client.get("http://paf.test/hello")).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), "memory paf.test /hello\n");
    let response = bounded(client.get(nginx.url("/index.html"))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), "memory 127.0.0.1 /index.html\n");
    let response = bounded(client.get(format!("http://localhost:{}/index.html", nginx.peer.port))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), "memory localhost /index.html\n");

    // After TCP: TCP wins where it connects.
    let client = Client::builder().context(in_memory(200, |_| true)).build();
    let response = bounded(client.get(nginx.url("/index.html"))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
}

#[tokio::test]
async fn dns_is_a_fold_the_user_can_override() {
    let nginx = Nginx::start();
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], nginx.peer.port));
    let ctx = Ctx::new().fold(&ADDRESSES, req(&HOST), move |host: String| async move {
        Ok((host == "nginx.test").then(|| vec![address]))
    });
    let client = Client::builder().context(ctx).build();
    let response = bounded(client.get(format!("http://nginx.test:{}/index.html", nginx.peer.port))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
    // Other names fall back to the system's resolver.
    let response = bounded(client.get(format!("http://localhost:{}/index.html", nginx.peer.port))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let err = bounded(client.get("http://nonexistent.invalid/")).await.unwrap_err();
    assert!(matches!(err, Error::Connect { kind: ConnectFailure::Dns, .. }), "{err}");

    // Or replaced: no system resolver at all.
    let platform = Platform::native().map_context(move |_, ctx| {
        ctx.remove_folds(&ADDRESSES).fold(&ADDRESSES, req(&HOST), move |host: String| async move {
            Ok((host == "nginx.test").then(|| vec![address]))
        })
    });
    let client = ClientBuilder::new(platform).build();
    let response = bounded(client.get(format!("http://nginx.test:{}/index.html", nginx.peer.port))).await.unwrap();
    assert_eq!(bounded(response.text()).await.unwrap(), INDEX);
    let err = bounded(client.get(format!("http://localhost:{}/", nginx.peer.port))).await.unwrap_err();
    assert!(err.to_string().contains("declined"), "{err}");
}

#[tokio::test]
async fn timings_are_measured() {
    let nginx = Nginx::start();
    let client = nginx.client().build();
    let response = bounded(client.get(nginx.https("/index.html"))).await.unwrap();
    let timings = *response.extensions().get::<Timings>().unwrap();
    let (dns, connect, tls) = (timings.dns.unwrap(), timings.connect.unwrap(), timings.tls.unwrap());
    assert!(dns <= connect && connect <= tls && tls <= timings.first_byte, "{timings:?}");
    assert!(!timings.first_byte.is_zero(), "{timings:?}");
    bounded(response.bytes()).await.unwrap();
    let response = bounded(client.get(nginx.https("/index.html"))).await.unwrap();
    let timings = *response.extensions().get::<Timings>().unwrap();
    assert!(info(&response).reused);
    assert!(info(&response).tls.is_some(), "a reused connection is still TLS");
    assert_eq!((timings.dns, timings.connect, timings.tls), (None, None, None), "a reused connection");

    let response = bounded(client.get(nginx.url("/moved"))).await.unwrap();
    let timings = *response.extensions().get::<Timings>().unwrap();
    assert!(!timings.redirects.is_zero(), "{timings:?}");
}

#[tokio::test]
async fn each_failure_is_a_distinct_readable_error() {
    let nginx = Nginx::start();
    let client = Client::new();

    let err = bounded(client.get("http://nonexistent.invalid/")).await.unwrap_err();
    assert!(matches!(err, Error::Connect { kind: ConnectFailure::Dns, .. }), "{err:?}");
    let dns = err.to_string();
    assert!(dns.contains("could not resolve host nonexistent.invalid"), "{dns}");

    let port = free_port();
    let err = bounded(client.get(format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
    assert!(matches!(err, Error::Connect { kind: ConnectFailure::Refused, .. }), "{err:?}");
    let refused = err.to_string();
    assert_eq!(refused, format!("cannot connect to http://127.0.0.1:{port}: tcp: connection refused to 127.0.0.1:{port}"));

    let err = bounded(client.get(nginx.https("/"))).await.unwrap_err();
    assert!(matches!(err, Error::Connect { kind: ConnectFailure::Tls, .. }), "{err:?}");
    let tls = err.to_string();
    assert!(tls.contains("unknown authority"), "{tls}");

    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let impatient = Client::builder().request_timeout(Duration::from_millis(300)).build();
    let err = bounded(impatient.get(&url)).await.unwrap_err();
    hold.abort();
    assert!(matches!(err, Error::Timeout(Timeout::Request)), "{err:?}");
    let timeout = err.to_string();

    let err = bounded(client.get(nginx.url("/loop"))).await.unwrap_err();
    assert!(matches!(err, Error::TooManyRedirects { max: 10, .. }), "{err:?}");
    let redirects = err.to_string();
    assert!(redirects.ends_with(&format!("the last one to {} (a redirect loop?)", nginx.url("/loop"))), "{redirects}");

    let messages = [dns, refused, tls, timeout, redirects];
    for message in &messages {
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    let distinct: std::collections::HashSet<_> = messages.iter().collect();
    assert_eq!(distinct.len(), messages.len());
}

/// A server that answers the first request of its first connection with
/// keep-alive, then closes that connection when the next request arrives
/// on it, without answering: what a server that times out an idle
/// connection does at the moment the client reuses it.
async fn closes_on_reuse() -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for connection in 0.. {
            let Ok((mut socket, _)) = listener.accept().await else { break };
            let mut answered = 0;
            loop {
                let mut buf = vec![0; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                seen.push(format!("{connection} {}", head.lines().next().unwrap_or_default()));
                if connection == 0 && answered == 1 {
                    break;
                }
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n").await;
                answered += 1;
                if seen.len() >= 3 {
                    return seen;
                }
            }
        }
        seen
    });
    (url, server)
}

#[tokio::test]
async fn an_idempotent_request_is_sent_again_when_its_pooled_connection_was_stale() {
    let (url, server) = closes_on_reuse().await;
    let client = Client::new();
    for _ in 0..2 {
        let response = bounded(client.get(&url)).await.unwrap();
        assert_eq!(bounded(response.text()).await.unwrap(), "ok\n");
    }
    let seen = bounded(server).await.unwrap();
    assert_eq!(seen, ["0 GET / HTTP/1.1", "0 GET / HTTP/1.1", "1 GET / HTTP/1.1"]);

    // A POST is not: the server may have acted on it.
    let (url, server) = closes_on_reuse().await;
    let response = bounded(client.post(&url, "once")).await.unwrap();
    bounded(response.bytes()).await.unwrap();
    let err = bounded(client.post(&url, "once")).await.unwrap_err();
    assert!(matches!(err, Error::Parse(_) | Error::IncompleteMessage | Error::Closed | Error::Io(_)), "{err:?}");
    server.abort();
}

fn paf_get(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paf")).arg("get").args(args).output().expect("cannot run paf")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn paf_get_follows_posts_and_shows_what_happened() {
    let nginx = Nginx::start();
    let ca = nginx.peer.dir.join("ca.pem");
    let ca = ca.to_str().unwrap();

    let out = paf_get(&[&nginx.url("/moved")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("301 Moved Permanently"), "{}", stderr(&out));
    let out = paf_get(&["-L", &nginx.url("/moved")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), INDEX, "{}", stderr(&out));

    let out = paf_get(&["-L", "-v", "-d", "a=1", &nginx.url("/temporary")]);
    let err = stderr(&out);
    assert!(err.contains("< x-method: POST") && err.contains("< x-body: a=1"), "{err}");
    let out = paf_get(&["-v", "-X", "PUT", "-H", "Authorization: Bearer t", &nginx.url("/headers")]);
    let err = stderr(&out);
    assert!(err.contains("> authorization: Bearer t") && err.contains("< x-authorization: Bearer t"), "{err}");

    let out = paf_get(&["-v", "--cacert", ca, &nginx.https("/index.html")]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("* HTTP/2") && err.contains("ALPN h2") && err.contains("TLSv1."), "{err}");
    for step in ["dns", "connect", "tls", "first byte", "total"] {
        assert!(err.contains(&format!("* {step:<10} ")), "no {step} in {err}");
    }
    let out = paf_get(&["--timing", &nginx.url("/index.html")]);
    let err = stderr(&out);
    assert!(err.contains("* first byte") && !err.contains("* tls"), "{err}");

    let file = nginx.peer.dir.join("big.download");
    let out = paf_get(&["--cacert", ca, "-o", file.to_str().unwrap(), &nginx.https("/big.bin")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&file).unwrap() == mebibyte(), "the download differs");

    let socket = nginx.socket();
    let out = paf_get(&["--unix-socket", socket.to_str().unwrap(), "http://localhost/index.html"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), INDEX, "{}", stderr(&out));
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_nginx_and_paf_get_too() {
    let clients = Ca::new("paf mTLS clients CA");
    let dir = scratch_dir("client-mtls");
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let clients_ca = write("clients-ca.pem", &clients.pem);
    let (alice, alice_key) = clients.client_certificate("alice");
    let nginx = Nginx::with(&format!(
        "ssl_client_certificate {clients_ca}; ssl_verify_client on;
    location = /whoami {{ return 200 \"$ssl_client_verify $ssl_client_s_dn\"; }}"
    ));

    for (offered, spoken) in [(vec![Protocol::Http2, Protocol::Http1], Protocol::Http2), (vec![Protocol::Http1], Protocol::Http1)] {
        let client = nginx.client().alpn(offered).identity(alice.as_bytes(), alice_key.as_bytes()).unwrap().build();
        let response = bounded(client.get(nginx.https("/whoami"))).await.unwrap();
        assert_eq!(info(&response).protocol, spoken);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(bounded(response.text()).await.unwrap(), "SUCCESS CN=alice");
    }

    // nginx answers a client without a certificate with a 400.
    let response = bounded(nginx.client().build().get(nginx.https("/whoami"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let (cert, key) = (write("alice.pem", &alice), write("alice.key", &alice_key));
    let ca = nginx.peer.dir.join("ca.pem").display().to_string();
    let out = paf_get(&["--cacert", &ca, "--cert", &cert, "--key", &key, &nginx.https("/whoami")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SUCCESS CN=alice", "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paf_get_fails_in_one_line_each_its_own_way() {
    let nginx = Nginx::start();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/", silent.local_addr().unwrap());
    let cases = [
        (vec![nginx.https("/")], "unknown authority"),
        (vec!["-L".into(), nginx.url("/loop")], "too many redirects"),
        (vec!["-m".into(), "0.3".into(), silent_url], "timed out"),
        (vec!["http://nonexistent.invalid/".into()], "could not resolve host"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = paf_get(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("paf: ") && err.contains(expected), "{args:?}: {err}");
    }
    drop(silent);
}
