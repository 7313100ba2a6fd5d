//! Which timer phase each role says it is in, from byte fixtures.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::h1::{BodySize, ClientConn, Limits, Phase, ServerConn};

fn server() -> ServerConn {
    ServerConn::new(Limits::default())
}

fn client() -> ClientConn {
    ClientConn::new(Limits::default())
}

/// Polls every event available now; how many there were.
fn drain_server(conn: &mut ServerConn) -> usize {
    std::iter::from_fn(|| conn.poll_event()).count()
}

fn drain_client(conn: &mut ClientConn) -> usize {
    std::iter::from_fn(|| conn.poll_event()).count()
}

/// The driver wrote everything queued.
fn flush(out: &mut crate::h1::WriteQueue) {
    out.take_all();
}

/// A server that received `request` and queued a `200` with body `ok`.
fn answered(request: &[u8]) -> ServerConn {
    let mut conn = server();
    conn.receive(request);
    drain_server(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Known(2))
        .unwrap();
    conn.send_data(Bytes::from_static(b"ok")).unwrap();
    conn.send_end().unwrap();
    conn
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";

#[test]
fn a_fresh_server_connection_waits_for_a_head() {
    let conn = server();
    assert_eq!(conn.phase(true), Some(Phase::Head));
    assert_eq!(conn.phase(false), Some(Phase::Head));
}

#[test]
fn part_of_a_head_is_still_the_head_phase() {
    let mut conn = server();
    conn.receive(b"GET / HTT");
    assert_eq!(drain_server(&mut conn), 0);
    assert_eq!(conn.phase(true), Some(Phase::Head));
}

#[test]
fn a_handler_thinking_is_no_phase() {
    let mut conn = server();
    conn.receive(GET);
    assert_eq!(drain_server(&mut conn), 2);
    assert_eq!(conn.phase(true), None);
}

#[test]
fn queued_output_is_the_body_phase() {
    let conn = answered(GET);
    assert_eq!(conn.phase(false), Some(Phase::Body));
}

#[test]
fn after_a_keep_alive_exchange_the_server_is_idle() {
    let mut conn = answered(GET);
    flush(conn.output());
    assert!(!conn.wants_close());
    assert_eq!(conn.phase(true), Some(Phase::Idle));
    // The next request's first bytes: its head is awaited.
    conn.receive(b"GET /next");
    assert_eq!(drain_server(&mut conn), 0);
    assert_eq!(conn.phase(true), Some(Phase::Head));
}

#[test]
fn after_the_last_exchange_there_is_nothing_to_wait_for() {
    let mut conn = answered(b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    assert_eq!(conn.phase(true), Some(Phase::Body));
    flush(conn.output());
    assert!(conn.wants_close());
    assert_eq!(conn.phase(true), None);
}

#[test]
fn mid_request_body_is_the_body_phase_while_there_is_room() {
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabcd");
    assert_eq!(drain_server(&mut conn), 2);
    assert_eq!(conn.phase(true), Some(Phase::Body));
    // The handler is not reading: its business, not the peer's.
    assert_eq!(conn.phase(false), None);
    // Still so while the response streams and the body keeps coming.
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    flush(conn.output());
    assert_eq!(conn.phase(true), Some(Phase::Body));
    conn.receive(b"efghij");
    assert_eq!(drain_server(&mut conn), 2);
    // Request complete, the response body is the handler's to produce.
    assert_eq!(conn.phase(true), None);
}

#[test]
fn a_full_buffer_is_no_body_phase() {
    let limits = Limits { max_buffer: 8, ..Limits::default() };
    let mut conn = ServerConn::new(limits);
    conn.receive(b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
    assert_eq!(drain_server(&mut conn), 1);
    conn.receive(b"10\r\n0123456789");
    assert!(!conn.wants_read());
    assert_eq!(conn.phase(true), None);
}

#[test]
fn a_fresh_client_connection_is_idle() {
    assert_eq!(client().phase(true), Some(Phase::Idle));
}

#[test]
fn a_client_waits_for_its_response_without_a_timeout() {
    let mut conn = client();
    let uri = Uri::from_static("http://a/");
    conn.send_request(&Method::GET, &uri, &HeaderMap::new(), BodySize::Empty)
        .unwrap();
    conn.send_end().unwrap();
    assert_eq!(conn.phase(true), Some(Phase::Body));
    flush(conn.output());
    // The server taking its time is the caller's to bound.
    assert_eq!(conn.phase(true), None);
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabcd");
    assert_eq!(drain_client(&mut conn), 2);
    assert_eq!(conn.phase(true), Some(Phase::Body));
    assert_eq!(conn.phase(false), None);
    conn.receive(b"efghij");
    assert_eq!(drain_client(&mut conn), 2);
    assert_eq!(conn.phase(true), Some(Phase::Idle));
}

#[test]
fn a_client_producing_its_body_is_no_phase() {
    let mut conn = client();
    let uri = Uri::from_static("http://a/");
    conn.send_request(&Method::POST, &uri, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    flush(conn.output());
    assert_eq!(conn.phase(true), None);
    conn.send_data(Bytes::from_static(b"abc")).unwrap();
    assert_eq!(conn.phase(true), Some(Phase::Body));
}
