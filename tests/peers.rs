//! `paf get` and the low-level client against real servers: nginx and
//! Python's `http.server`, each started on a loopback port by the test.
//! Both must be installed (`scripts/setup` does it); a missing peer fails
//! the test, it is never skipped.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use paf::engine::client;
use paf::rt::native::Tokio;
use paf::{Body, Config, Flow, Request, StatusCode, Version};
use tokio::time::timeout;

mod common;
use common::{free_port, listening, mebibyte, python_http_server, scratch_dir, wait_until, write_site, Peer};

const LIMIT: Duration = Duration::from_secs(10);


fn nginx() -> Peer {
    let dir = scratch_dir("nginx");
    write_site(&dir);
    let port = free_port();
    let d = dir.display();
    let http = format!(
        "  access_log {d}/access.log;
  types {{ text/html html; application/octet-stream bin; }}
  keepalive_requests 100;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location = /conn {{
      add_header X-Connection $connection always;
      add_header X-Connection-Requests $connection_requests always;
      return 200 \"ok\\n\";
    }}
  }}"
    );
    let conf = common::nginx_conf(&dir, &http);
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let binary = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").stderr(Stdio::null()).status().is_ok())
        .expect("nginx is not installed: run scripts/setup (Debian package nginx-light)");
    let mut child = Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start nginx");
    wait_until(&mut child, "nginx", || listening(port));
    Peer { child, port, dir }
}

fn paf_get(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paf"))
        .arg("get")
        .args(args)
        .output()
        .expect("cannot run paf")
}

async fn connect(port: u16) -> client::SendRequest {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    client::handshake(Flow::new(tcp), &Config::default(), &Tokio)
}

fn request(method: &str, port: u16, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .body(Body::empty())
        .unwrap()
}

#[test]
fn paf_get_fetches_from_nginx_and_python() {
    for peer in [nginx(), python_http_server()] {
        let url = format!("http://127.0.0.1:{}/", peer.port);
        let out = paf_get(&[&url, "-v"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "<h1>hello from the peer</h1>\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("200 OK"), "{stderr}");
        assert!(stderr.to_ascii_lowercase().contains("< content-type: text/html"), "{stderr}");

        let file = peer.dir.join("download.bin");
        let url = format!("http://127.0.0.1:{}/big.bin", peer.port);
        let out = paf_get(&[&url, "-o", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::read(&file).unwrap() == mebibyte(), "the download differs");
    }
}

#[test]
fn paf_get_fails_in_one_clear_line() {
    let refused = format!("http://127.0.0.1:{}/", free_port());
    let cases: [(&str, &str); 4] = [
        (refused.as_str(), "refused"),
        ("http://nonexistent.invalid/", "nonexistent.invalid"),
        ("not a url", "invalid URL"),
        ("ftp://example.com/", "unsupported scheme"),
    ];
    for (url, expected) in cases {
        let out = paf_get(&[url]);
        assert!(!out.status.success(), "{url} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{url}: {stderr}");
        assert!(stderr.starts_with("paf: "), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: expected {expected:?} in {stderr}");
    }
}

#[tokio::test]
async fn the_client_reuses_its_connection_to_nginx() {
    let peer = nginx();
    let mut sender = connect(peer.port).await;
    let mut connections = Vec::new();
    for expected in 1..=3 {
        let response = timeout(LIMIT, sender.send(request("GET", peer.port, "/conn"))).await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
        assert_eq!(header("x-connection-requests"), expected.to_string());
        connections.push(header("x-connection"));
        assert_eq!(response.into_body().bytes().await.unwrap(), "ok\n");
    }
    assert!(connections.windows(2).all(|w| w[0] == w[1]), "nginx saw several connections: {connections:?}");
}

#[tokio::test]
async fn head_and_not_found_from_nginx() {
    let peer = nginx();
    let mut sender = connect(peer.port).await;
    let response = timeout(LIMIT, sender.send(request("HEAD", peer.port, "/big.bin"))).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "1048576");
    assert!(response.into_body().bytes().await.unwrap().is_empty());
    // The same connection goes on after a HEAD: no body was expected.
    let response = timeout(LIMIT, sender.send(request("GET", peer.port, "/missing"))).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    response.into_body().bytes().await.unwrap();
}

#[tokio::test]
async fn the_client_speaks_to_an_http_1_0_server() {
    let peer = python_http_server();
    let mut sender = connect(peer.port).await;
    let response = timeout(LIMIT, sender.send(request("GET", peer.port, "/big.bin"))).await.unwrap().unwrap();
    assert_eq!(response.version(), Version::HTTP_10);
    let body = timeout(LIMIT, response.into_body().bytes()).await.unwrap().unwrap();
    assert!(body == mebibyte(), "the body differs");
    // HTTP/1.0 without keep-alive: the server closed, the next send says so.
    let next = timeout(LIMIT, sender.send(request("GET", peer.port, "/"))).await.unwrap();
    assert!(next.is_err(), "a closed HTTP/1.0 connection was reused");
}
