//! Every request-smuggling door, on the wire: a real `serve` on loopback
//! gets each bad request followed by a smuggled one, answers the bad one
//! with one status response and closes, never answering the smuggled one.

use std::time::Duration;

use paf::rt::native::TcpListener;
use paf::{service_fn, Body, Config, Incoming, Request, Response, Switch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

async fn start() -> (std::net::SocketAddr, Switch) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let switch = Switch::new();
    let handler = service_fn(|req: Request<Incoming>| async move {
        let path = req.uri().path().to_string();
        let body = req.into_body().bytes().await.unwrap_or_default();
        Response::new(Body::from(format!("answered {path} with {} body bytes", body.len())))
    });
    tokio::spawn(paf::serve(listener, handler, Config::default(), switch.clone()));
    switch.initialized().await;
    (addr, switch)
}

async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    // The server must close: read_to_end ends only then.
    timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server did not close after rejecting")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn every_smuggling_case_gets_one_status_and_a_close() {
    let (addr, switch) = start().await;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let many_fields: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many_fields = format!("GET / HTTP/1.1\r\nHost: a\r\n{many_fields}\r\n");
    let long_field = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(9000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), "400"),
        ("differing CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde".into(), "400"),
        ("signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd".into(), "400"),
        ("hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd".into(), "400"),
        ("overflowing CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n".into(), "400"),
        // RFC 9112 §6.3: chunked not final is a 400; §6.1: an unknown coding before it is a 501.
        ("TE not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".into(), "400"),
        ("unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(), "501"),
        ("TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), "400"),
        ("chunked not final", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(), "400"),
        ("chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), "400"),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".into(), "400"),
        ("overflowing chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n".into(), "400"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n".into(), "400"),
        ("space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nabcde".into(), "400"),
        ("no Host", "GET / HTTP/1.1\r\n\r\n".into(), "400"),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(), "400"),
        ("long request line", long_target, "414"),
        ("too many fields", many_fields, "431"),
        ("long field", long_field, "431"),
        ("HTTP/2.0 on the h1 parser", "GET / HTTP/2.0\r\nHost: a\r\n\r\n".into(), "505"),
    ];
    for (name, bad, status) in cases {
        let answer = exchange(addr, format!("{bad}{SMUGGLED}").as_bytes()).await;
        let expected = format!("HTTP/1.1 {status} ");
        assert!(answer.starts_with(&expected), "{name}: expected {expected:?}, got {answer:?}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{name}: more than one response: {answer:?}");
        assert!(!answer.contains("/smuggled"), "{name}: the smuggled request was answered");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{name}: {answer:?}");
    }
    // And the server is still fine.
    let answer = exchange(addr, b"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(answer.ends_with("answered /ok with 0 body bytes"), "{answer}");
    switch.stop();
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (addr, switch) = start().await;
    let pipelined = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
                     GET /two HTTP/1.1\r\nHost: a\r\n\r\n\
                     POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nhi\r\n0\r\nX-T: y\r\n\r\n\
                     GET /four HTTP/1.0\r\n\r\n";
    let answer = exchange(addr, pipelined.as_bytes()).await;
    let order: Vec<usize> = ["/one with 3", "/two with 0", "/three with 2", "/four with 0"]
        .iter()
        .map(|needle| answer.find(needle).unwrap_or_else(|| panic!("{needle} missing in {answer}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {answer}");
    switch.stop();
}
