//! The error hook (`ErrorHook`, `ServiceFn::error_response`) against
//! real peers: curl over HTTP/1.1 and h2c and a raw TCP client see the
//! hook's status, fields and body for each error paf answers itself
//! (400, 414, 431, 501, 505, a stalled head's 408, a handler's panic),
//! the connection still closes after a malformed request, a server
//! without a hook (or whose hook declines) answers byte for byte as
//! before, and a hook that panics falls back to paf's own answer.

use std::time::Duration;

use paf::http::request::Parts;
use paf::{service_fn, Body, Bytes, Config, Error, Incoming, Request, Response, StatusCode};

mod common;
use common::serving::{raw_exchange, run, stdout, Server};

async fn app(req: Request<Incoming>) -> Response<Body> {
    match req.uri().path() {
        "/panic" => panic!("the handler broke"),
        path => Response::new(Body::from(format!("{} {path}", req.method()))),
    }
}

/// The hook under test: the status paf would use, fields of its own,
/// framing fields that paf must override, and a body naming the error.
fn shaped(err: &Error, head: Option<&Parts>) -> Option<Response<Bytes>> {
    let status = err.status()?;
    let path = head.map_or("-", |head| head.uri.path());
    let body = format!("{{\"status\":{},\"path\":\"{path}\"}}", status.as_u16());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-hook", "shaped")
        .header("content-length", "999")
        .header("transfer-encoding", "chunked")
        .header("connection", "keep-alive")
        .body(Bytes::from(body))
        .ok()
}

fn config() -> Config {
    let mut config = Config::default();
    config.h2c = true;
    config.header_timeout = Duration::from_millis(300);
    config
}

async fn hooked() -> Server {
    Server::serving(config(), service_fn(app).error_response(shaped)).await
}

async fn plain() -> Server {
    Server::serving(config(), service_fn(app)).await
}

/// curl's whole answer, head (`-i`) and body.
async fn curl(args: &[&str]) -> String {
    let mut all = vec!["-sS", "-i", "--max-time", "10"];
    all.extend_from_slice(args);
    stdout(&run("curl", &all).await).replace("\r\n", "\n")
}

/// Asserts that `answer` is the hook's for `status`, with its body framed
/// by paf and the connection closing.
fn assert_shaped(answer: &str, status: u16, path: &str) {
    let body = format!("{{\"status\":{status},\"path\":\"{path}\"}}");
    let lower = answer.to_lowercase();
    assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
    assert!(lower.contains("\nx-hook: shaped\n"), "{answer}");
    assert!(lower.contains("\ncontent-type: application/json\n"), "{answer}");
    assert!(lower.contains(&format!("\ncontent-length: {}\n", body.len())), "{answer}");
    assert!(lower.contains("\nconnection: close\n"), "{answer}");
    assert!(lower.contains("\ndate: "), "{answer}");
    for overridden in ["content-length: 999", "transfer-encoding", "keep-alive"] {
        assert!(!lower.contains(overridden), "{overridden} is paf's to set: {answer}");
    }
    assert!(answer.ends_with(&format!("\n\n{body}")), "{answer}");
}

#[tokio::test]
async fn curl_gets_the_hooks_answer_to_each_error_over_http1() {
    let server = hooked().await;
    let url = server.url("/x");
    // Content-Length and Transfer-Encoding together: a smuggling attempt.
    let smuggling = curl(&["-H", "Transfer-Encoding: chunked", "-H", "Content-Length: 3", "--data-binary", "abc", &url]).await;
    assert_shaped(&smuggling.replace("\r\n", "\n"), 400, "-");
    let long = server.url(&format!("/{}", "a".repeat(9 * 1024)));
    assert_shaped(&curl(&[&long]).await, 414, "-");
    let big_field = format!("x-big: {}", "b".repeat(9 * 1024));
    assert_shaped(&curl(&["-H", &big_field, &url]).await, 431, "-");
    let gzip = curl(&["-H", "Transfer-Encoding: gzip, chunked", "--data-binary", "abc", &url]).await;
    assert_shaped(&gzip, 501, "-");
    assert_shaped(&curl(&[&server.url("/panic")]).await, 500, "/panic");
    let after = curl(&[&url]).await;
    assert!(after.starts_with("HTTP/1.1 200 ") && after.ends_with("GET /x"), "the server goes on: {after}");
    server.stop().await;
}

#[tokio::test]
async fn curl_gets_the_hooks_answer_to_a_panic_over_h2c() {
    let server = hooked().await;
    let answer = curl(&["--http2-prior-knowledge", &server.url("/panic")]).await;
    let lower = answer.to_lowercase();
    let body = "{\"status\":500,\"path\":\"/panic\"}";
    assert!(answer.starts_with("HTTP/2 500"), "{answer}");
    assert!(lower.contains("\nx-hook: shaped\n") && lower.contains("\ncontent-type: application/json\n"), "{answer}");
    assert!(lower.contains(&format!("\ncontent-length: {}\n", body.len())), "{answer}");
    assert!(!lower.contains("connection") && !lower.contains("transfer-encoding"), "{answer}");
    assert!(answer.ends_with(&format!("\n\n{body}")), "{answer}");
    // (That the connection lives on after a stream's panic is h2.rs's
    // test: curl 7.88 cannot send two requests over h2c, see there.)
    server.stop().await;
}

/// A request head that paf refuses, then a valid request pipelined
/// behind it.
const SMUGGLED: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
    0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

#[tokio::test]
async fn the_connection_still_closes_after_a_malformed_request() {
    let server = hooked().await;
    // raw_exchange reads until the server closes.
    let answer = raw_exchange(server.addr(), SMUGGLED).await.replace("\r\n", "\n");
    assert_shaped(&answer, 400, "-");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "the pipelined request is not answered: {answer}");
    assert!(!answer.contains("smuggled"), "{answer}");

    let answer = raw_exchange(server.addr(), b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").await;
    assert_shaped(&answer.replace("\r\n", "\n"), 505, "-");

    // A head that stalls: the hook's 408 (paf's own is to close quietly).
    let answer = raw_exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n").await;
    assert_shaped(&answer.replace("\r\n", "\n"), 408, "-");
    server.stop().await;
}

#[tokio::test]
async fn the_hook_sees_the_head_of_the_request_it_answers() {
    let server = hooked().await;
    // A malformed body: the request's head was read.
    let answer = raw_exchange(server.addr(), b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await;
    assert_shaped(&answer.replace("\r\n", "\n"), 400, "/up");
    // A valid request answered, then an invalid head: not the first's.
    let answer = raw_exchange(server.addr(), b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\n\r\n").await;
    let (first, second) = answer.split_once("GET /first").expect("the first request is answered");
    assert!(first.starts_with("HTTP/1.1 200 "), "{answer}");
    assert_shaped(&second.replace("\r\n", "\n"), 400, "-");
    server.stop().await;
}

/// What each error case gets from a server, as raw bytes.
async fn answers(server: &Server) -> Vec<String> {
    let cases: [&[u8]; 5] = [
        SMUGGLED,
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
    ];
    let mut all = Vec::new();
    for case in cases {
        all.push(raw_exchange(server.addr(), case).await);
    }
    all
}

/// paf's own answers to [`answers`]' cases.
fn defaults() -> Vec<String> {
    let status = |line: &str| format!("HTTP/1.1 {line}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    vec![
        status("400 Bad Request"),
        status("505 HTTP Version Not Supported"),
        status("501 Not Implemented"),
        status("500 Internal Server Error"),
        String::new(),
    ]
}

#[tokio::test]
async fn without_a_hook_or_when_it_declines_the_answers_are_paf_s_own() {
    let server = plain().await;
    assert_eq!(answers(&server).await, defaults());
    server.stop().await;
    let declining = service_fn(app).error_response(|_: &Error, _: Option<&Parts>| None);
    let server = Server::serving(config(), declining).await;
    assert_eq!(answers(&server).await, defaults());
    server.stop().await;
}

#[tokio::test]
async fn a_hook_that_panics_or_answers_what_cannot_be_sent_falls_back_to_paf_s_own() {
    let broken = service_fn(app).error_response(|err: &Error, _: Option<&Parts>| match err {
        Error::HandlerPanicked(_) => Response::builder().status(StatusCode::NO_CONTENT).body(Bytes::new()).ok(),
        _ => panic!("the hook broke"),
    });
    let server = Server::serving(config(), broken).await;
    assert_eq!(answers(&server).await, defaults());
    let answer = raw_exchange(server.addr(), b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(answer.ends_with("GET /x"), "the server goes on: {answer}");
    let over_h2 = stdout(&run("curl", &["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", &server.url("/panic")]).await);
    assert_eq!(over_h2, "500");
    server.stop().await;
}
