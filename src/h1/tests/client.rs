//! Client fixtures: requests out, response bytes in, events out.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use proptest::prelude::*;

use super::server::{mutate, split, INTERESTING};
use crate::h1::{BodyLength, BodySize, ClientConn, ClientEvent, Limits, ParseError};

/// An event, reduced to what the fixtures compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Informational(u16),
    Response(u16, BodyLength),
    Data(String),
    Trailers(Vec<(String, String)>),
    End,
    Error(ParseError),
}

fn summarize(event: ClientEvent) -> Ev {
    match event {
        ClientEvent::Informational(head) => Ev::Informational(head.status.as_u16()),
        ClientEvent::Response(head) => Ev::Response(head.status.as_u16(), head.body),
        ClientEvent::Data(data) => Ev::Data(String::from_utf8_lossy(&data).into_owned()),
        ClientEvent::Trailers(fields) => Ev::Trailers(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
                .collect(),
        ),
        ClientEvent::End => Ev::End,
        ClientEvent::Error(error) => Ev::Error(error),
    }
}

fn data(s: &str) -> Ev {
    Ev::Data(s.into())
}

fn poll_all(conn: &mut ClientConn) -> Vec<Ev> {
    std::iter::from_fn(|| conn.poll_event())
        .map(summarize)
        .collect()
}

fn output(conn: &mut ClientConn) -> String {
    String::from_utf8_lossy(&conn.output().take_all()).into_owned()
}

fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

/// A connection with `GET http://example.com/` sent.
fn get() -> ClientConn {
    request(Method::GET, &[])
}

fn request(method: Method, fields: &[(&'static str, &'static str)]) -> ClientConn {
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &method,
        &Uri::from_static("http://example.com/"),
        &headers(fields),
        BodySize::Empty,
    )
    .unwrap();
    conn.output().take_all();
    conn
}

/// A request to send, and the head it must make: method, URI, fields, body size, head.
type HeadCase = (Method, &'static str, &'static [(&'static str, &'static str)], BodySize, &'static str);

#[test]
fn request_heads() {
    let cases: &[HeadCase] = &[
        (Method::GET, "http://example.com/a/b?c=d", &[("accept", "*/*")], BodySize::Empty, "GET /a/b?c=d HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n\r\n"),
        (Method::GET, "https://example.com:443", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n"),
        (Method::GET, "https://user:pw@example.com:8443/", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: example.com:8443\r\n\r\n"),
        (Method::GET, "http://[::1]:80/", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: [::1]\r\n\r\n"),
        (Method::GET, "http://[::1]/", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: [::1]\r\n\r\n"),
        (Method::GET, "http://[::1]:8080/", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: [::1]:8080\r\n\r\n"),
        (Method::GET, "http://example.com:/", &[], BodySize::Empty, "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n"),
        (Method::GET, "http://example.com:443/", &[("host", "other")], BodySize::Empty, "GET / HTTP/1.1\r\nhost: other\r\n\r\n"),
        (Method::OPTIONS, "*", &[("host", "example.com")], BodySize::Empty, "OPTIONS * HTTP/1.1\r\nhost: example.com\r\n\r\n"),
        (Method::CONNECT, "example.com:443", &[], BodySize::Empty, "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n"),
        // Framing.
        (Method::POST, "http://a/", &[], BodySize::Empty, "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n"),
        (Method::DELETE, "http://a/", &[], BodySize::Empty, "DELETE / HTTP/1.1\r\nhost: a\r\n\r\n"),
        (Method::PUT, "http://a/", &[], BodySize::Known(5), "PUT / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n"),
        (Method::POST, "http://a/", &[("transfer-encoding", "gzip")], BodySize::Unknown, "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n"),
        (Method::POST, "http://a/", &[("content-length", "3")], BodySize::Unknown, "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n"),
    ];
    for (method, uri, fields, body, expected) in cases {
        let mut conn = ClientConn::new(Limits::default());
        conn.send_request(method, &Uri::from_static(uri), &headers(fields), *body)
            .unwrap();
        assert_eq!(output(&mut conn), *expected, "{method} {uri}");
    }
}

#[test]
fn requests_that_cannot_be_sent() {
    let mut conn = ClientConn::new(Limits::default());
    let no_host = conn.send_request(
        &Method::GET,
        &Uri::from_static("/path"),
        &HeaderMap::new(),
        BodySize::Empty,
    );
    assert!(matches!(no_host, Err(crate::Error::InvalidMessage(_))));
    let connect = conn.send_request(
        &Method::CONNECT,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Empty,
    );
    assert!(matches!(connect, Err(crate::Error::InvalidMessage(_))));
    let bad_length = headers(&[("content-length", "x")]);
    assert!(conn
        .send_request(
            &Method::POST,
            &Uri::from_static("http://a/"),
            &bad_length,
            BodySize::Empty
        )
        .is_err());
    assert_eq!(output(&mut conn), "");
    // One exchange at a time.
    conn.send_request(
        &Method::GET,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    assert!(!conn.is_idle());
    assert!(conn
        .send_request(
            &Method::GET,
            &Uri::from_static("http://a/"),
            &HeaderMap::new(),
            BodySize::Empty
        )
        .is_err());
}

#[test]
fn an_empty_request_body_ends_with_its_head() {
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::POST,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    assert!(!conn.may_send_body());
    conn.send_data(Bytes::new()).unwrap();
    assert!(matches!(
        conn.send_data(Bytes::from_static(b"x")),
        Err(crate::Error::InvalidMessage(_))
    ));
    conn.receive(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(204, BodyLength::Empty), Ev::End]
    );
    assert!(conn.is_idle());
    // The driver's end for it is accepted, even once the exchange is over.
    conn.send_end().unwrap();
    assert!(conn.send_end().is_err(), "only once");
    assert_eq!(
        output(&mut conn),
        "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn request_bodies() {
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::POST,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Unknown,
    )
    .unwrap();
    assert!(conn.may_send_body());
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_trailers(&headers(&[("x-sum", "1")])).unwrap();
    conn.send_end().unwrap();
    assert!(!conn.may_send_body());
    assert!(conn.send_data(Bytes::from_static(b"late")).is_err());
    assert_eq!(
        output(&mut conn),
        "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 1\r\n\r\n"
    );
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Known(0)), Ev::End]
    );
    assert!(conn.is_idle());

    // The length is enforced.
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::PUT,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Known(3),
    )
    .unwrap();
    assert!(matches!(
        conn.send_data(Bytes::from_static(b"abcd")),
        Err(crate::Error::InvalidMessage(_))
    ));
    assert!(conn.wants_close());
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::PUT,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Known(3),
    )
    .unwrap();
    conn.send_data(Bytes::from_static(b"ab")).unwrap();
    assert!(matches!(
        conn.send_end(),
        Err(crate::Error::InvalidMessage(_))
    ));
    assert!(conn.wants_close());
}

#[test]
fn response_framing() {
    let respond = |method: Method, response: &[u8]| {
        let mut conn = request(method, &[]);
        conn.receive(response);
        conn.receive_eof();
        let events = poll_all(&mut conn);
        (events, conn.wants_close())
    };
    let no_body = |status| vec![Ev::Response(status, BodyLength::Empty), Ev::End];
    // No body: HEAD, 204, 304, whatever the fields say.
    assert_eq!(
        respond(
            Method::HEAD,
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
        ),
        (no_body(200), true)
    );
    assert_eq!(
        respond(
            Method::GET,
            b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n"
        )
        .0,
        no_body(204)
    );
    assert_eq!(
        respond(
            Method::GET,
            b"HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .0,
        no_body(304)
    );
    // Chunked, with the connection reusable.
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
    let mut conn = get();
    conn.receive(chunked);
    assert_eq!(
        poll_all(&mut conn),
        [
            Ev::Response(200, BodyLength::Chunked),
            data("abc"),
            Ev::Trailers(vec![("x-t".into(), "1".into())]),
            Ev::End
        ]
    );
    assert!(conn.is_idle() && !conn.wants_close());
    // Transfer-Encoding and Content-Length: the coding wins, then close.
    let mut conn = get();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Chunked), data("abc"), Ev::End]
    );
    assert!(conn.wants_close());
    // A final coding other than chunked: until close.
    assert_eq!(
        respond(
            Method::GET,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nabc"
        ),
        (
            vec![
                Ev::Response(200, BodyLength::UntilClose),
                data("abc"),
                Ev::End
            ],
            true
        )
    );
    // A length.
    let mut conn = get();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc");
    assert_eq!(
        poll_all(&mut conn),
        [
            Ev::Response(200, BodyLength::Known(3)),
            data("abc"),
            Ev::End
        ]
    );
    assert!(conn.is_idle());
    // Nothing: until close.
    assert_eq!(
        respond(Method::GET, b"HTTP/1.1 200 OK\r\n\r\nabc"),
        (
            vec![
                Ev::Response(200, BodyLength::UntilClose),
                data("abc"),
                Ev::End
            ],
            true
        )
    );
}

#[test]
fn rejects_bad_responses() {
    let reject = |response: &[u8], error: ParseError| {
        for whole in [true, false] {
            let mut conn = get();
            let mut events = Vec::new();
            if whole {
                conn.receive(response);
                events = poll_all(&mut conn);
            } else {
                for byte in response {
                    conn.receive(std::slice::from_ref(byte));
                    events.extend(poll_all(&mut conn));
                }
            }
            let context = String::from_utf8_lossy(response);
            assert_eq!(events.last(), Some(&Ev::Error(error.clone())), "{context}");
            assert!(conn.wants_close() && !conn.wants_read(), "{context}");
            assert_eq!(output(&mut conn), "", "{context}");
            assert_eq!(poll_all(&mut conn), []);
        }
    };
    reject(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        ParseError::BadContentLength,
    );
    reject(
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        ParseError::BadContentLength,
    );
    reject(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0x5\r\n\r\n",
        ParseError::BadContentLength,
    );
    reject(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, chunked\r\n\r\n",
        ParseError::InvalidTransferEncoding,
    );
    reject(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ParseError::BadChunk,
    );
    reject(
        b"HTTP/1.1 200 OK\r\nx: a\r\n b\r\n\r\n",
        ParseError::ObsFold,
    );
    reject(
        b"HTTP/1.1 200 OK\r\ncontent-length : 0\r\n\r\n",
        ParseError::WhitespaceBeforeColon,
    );
    reject(b"HTTP/2.0 200 OK\r\n\r\n", ParseError::BadVersion);
    reject(
        b"HTTP/1.1 200 OK\nx: a\n\n",
        ParseError::Malformed("a line ends in a bare LF, not CRLF"),
    );
    reject(
        b"HTTP/1.1 20 OK\r\n\r\n",
        ParseError::Malformed("invalid status line"),
    );
    reject(
        b"HTTP/1.1 099 Odd\r\n\r\n",
        ParseError::Malformed("invalid status code"),
    );
    reject(
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ParseError::Malformed("101 Switching Protocols without an upgrade request"),
    );
    let limits = Limits::default();
    let long = format!(
        "HTTP/1.1 200 OK\r\nx: {}",
        "a".repeat(limits.max_header_line)
    );
    reject(long.as_bytes(), ParseError::HeadersTooLarge);
}

#[test]
fn interim_responses_then_the_final_one() {
    let mut conn = get();
    conn.receive(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert_eq!(
        poll_all(&mut conn),
        [
            Ev::Informational(100),
            Ev::Informational(103),
            Ev::Response(200, BodyLength::Known(2)),
            data("ok"),
            Ev::End
        ]
    );
    assert!(conn.is_idle());
}

#[test]
fn expect_continue() {
    let send = || {
        let mut conn = ClientConn::new(Limits::default());
        let fields = headers(&[("expect", "100-continue")]);
        conn.send_request(
            &Method::PUT,
            &Uri::from_static("http://a/"),
            &fields,
            BodySize::Known(5),
        )
        .unwrap();
        assert_eq!(
            output(&mut conn),
            "PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n"
        );
        assert!(!conn.may_send_body());
        assert!(conn.send_data(Bytes::from_static(b"early")).is_err());
        conn
    };
    // 100 Continue: the body goes.
    let mut conn = send();
    conn.receive(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [Ev::Informational(100)]);
    assert!(conn.may_send_body());
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end().unwrap();
    assert_eq!(output(&mut conn), "hello");
    conn.receive(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(201, BodyLength::Known(0)), Ev::End]
    );
    assert!(conn.is_idle());

    // The wait runs out.
    let mut conn = send();
    conn.continue_anyway();
    assert!(conn.may_send_body());

    // A final response first: the body is never sent, and the connection
    // closes after the exchange.
    let mut conn = send();
    conn.receive(b"HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(417, BodyLength::Known(0)), Ev::End]
    );
    assert!(!conn.may_send_body());
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end().unwrap();
    assert_eq!(output(&mut conn), "");
    assert!(conn.wants_close());
    assert!(!conn.is_idle());
}

#[test]
fn a_response_while_the_body_is_still_being_sent() {
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::POST,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Unknown,
    )
    .unwrap();
    conn.send_data(Bytes::from_static(b"a")).unwrap();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Known(1)), data("a"), Ev::End]
    );
    assert!(
        !conn.is_idle() && !conn.wants_close(),
        "the body is not finished"
    );
    conn.send_data(Bytes::from_static(b"b")).unwrap();
    conn.send_end().unwrap();
    assert!(conn.is_idle());

    // A server that ends its answer and closes: stop sending.
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::POST,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Unknown,
    )
    .unwrap();
    conn.receive(
        b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(413, BodyLength::Known(0)), Ev::End]
    );
    assert!(conn.wants_close());
}

#[test]
fn keep_alive_and_close() {
    let exchange = |fields: &[(&'static str, &'static str)], response: &[u8]| {
        let mut conn = request(Method::GET, fields);
        conn.receive(response);
        assert_eq!(poll_all(&mut conn).last(), Some(&Ev::End));
        (conn.is_idle(), conn.wants_close())
    };
    assert_eq!(
        exchange(&[], b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
        (true, false)
    );
    assert_eq!(
        exchange(
            &[],
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        ),
        (false, true)
    );
    assert_eq!(
        exchange(
            &[("connection", "close")],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        ),
        (false, true)
    );
    assert_eq!(
        exchange(&[], b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"),
        (false, true)
    );
    assert_eq!(
        exchange(
            &[],
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
        ),
        (true, false)
    );
    assert_eq!(
        exchange(
            &[],
            b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
        (false, true)
    );

    // A second exchange on the same connection.
    let mut conn = get();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na");
    poll_all(&mut conn);
    conn.send_request(
        &Method::GET,
        &Uri::from_static("http://example.com/2"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    assert_eq!(
        output(&mut conn),
        "GET /2 HTTP/1.1\r\nhost: example.com\r\n\r\n"
    );
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Known(1)), data("b"), Ev::End]
    );
}

#[test]
fn upgrades_hand_over_the_bytes_past_the_response() {
    let mut conn = request(
        Method::GET,
        &[("upgrade", "websocket"), ("connection", "upgrade")],
    );
    conn.receive(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n\x81\x02hi");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(101, BodyLength::Empty), Ev::End]
    );
    assert!(!conn.wants_read() && !conn.wants_close());
    assert_eq!(conn.take_upgrade().as_deref(), Some(&b"\x81\x02hi"[..]));
    assert_eq!(conn.take_upgrade(), None);

    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::CONNECT,
        &Uri::from_static("example.com:443"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    conn.receive(b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Empty), Ev::End]
    );
    assert_eq!(conn.take_upgrade().as_deref(), Some(&b"\x16\x03"[..]));

    // A refused CONNECT is an ordinary response.
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(
        &Method::CONNECT,
        &Uri::from_static("example.com:443"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    conn.receive(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 1\r\n\r\nx");
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(407, BodyLength::Known(1)), data("x"), Ev::End]
    );
    assert_eq!(conn.take_upgrade(), None);
}

#[test]
fn end_of_stream() {
    // Idle: close.
    let mut conn = ClientConn::new(Limits::default());
    conn.receive_eof();
    assert!(conn.wants_close() && !conn.is_idle());
    // Before or in the middle of a head, or of a body with a length.
    for response in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab",
    ] {
        let mut conn = get();
        conn.receive(response);
        conn.receive_eof();
        assert_eq!(
            poll_all(&mut conn).last(),
            Some(&Ev::Error(ParseError::Incomplete))
        );
        assert!(conn.wants_close());
    }
    // After a complete exchange.
    let mut conn = get();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    poll_all(&mut conn);
    assert!(conn.is_idle());
    conn.receive_eof();
    assert!(conn.wants_close() && !conn.is_idle());
}

#[test]
fn bytes_with_no_request_outstanding_are_an_error() {
    let mut conn = ClientConn::new(Limits::default());
    conn.receive(b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n");
    assert!(!conn.is_idle());
    assert!(matches!(
        poll_all(&mut conn)[..],
        [Ev::Error(ParseError::Malformed(_))]
    ));
    assert!(conn.wants_close());
}

#[test]
fn back_pressure() {
    let mut conn = ClientConn::new(Limits {
        max_buffer: 8,
        ..Limits::default()
    });
    conn.send_request(
        &Method::GET,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    conn.receive(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n");
    assert!(conn.wants_read());
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Response(200, BodyLength::Known(20))]
    );
    conn.receive(b"0123456789");
    assert!(!conn.wants_read());
    assert_eq!(poll_all(&mut conn), [data("0123456789")]);
    assert!(conn.wants_read());
}

const RESPONSES: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
    HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n\
    5;a=b\r\nhello\r\n7\r\n, world\r\n0\r\nT: 1\r\n\r\n";

/// Feeds the chunks after a GET; merges adjacent `Data`.
fn run(chunks: &[&[u8]]) -> Vec<Ev> {
    run_with(&Limits::default(), chunks)
}

fn run_with(limits: &Limits, chunks: &[&[u8]]) -> Vec<Ev> {
    let mut conn = ClientConn::new(limits.clone());
    conn.send_request(
        &Method::GET,
        &Uri::from_static("http://a/"),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    let mut events: Vec<Ev> = Vec::new();
    for chunk in chunks {
        conn.receive(chunk);
        while let Some(event) = conn.poll_event() {
            match (summarize(event), events.last_mut()) {
                (Ev::Data(more), Some(Ev::Data(before))) => before.push_str(&more),
                (event, _) => events.push(event),
            }
        }
    }
    events
}

#[test]
fn bytes_fed_one_at_a_time_give_the_same_events() {
    let whole = run(&[RESPONSES]);
    assert_eq!(
        whole,
        [
            Ev::Informational(100),
            Ev::Response(200, BodyLength::Chunked),
            data("hello, world"),
            Ev::Trailers(vec![("t".into(), "1".into())]),
            Ev::End
        ]
    );
    let bytes: Vec<&[u8]> = RESPONSES.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
}

#[test]
fn the_response_head_is_complete() {
    let mut conn = get();
    conn.receive(b"HTTP/1.0 200 Fine\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 0\r\n\r\n");
    let Some(ClientEvent::Response(head)) = conn.poll_event() else {
        panic!()
    };
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.version, Version::HTTP_10);
    assert_eq!(
        head.headers.get_all("x-a").iter().collect::<Vec<_>>(),
        ["1", "2"]
    );
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events(mut cuts in proptest::collection::vec(0..RESPONSES.len(), 0..10)) {
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&RESPONSES[start..cut]);
            start = cut;
        }
        chunks.push(&RESPONSES[start..]);
        prop_assert_eq!(run(&chunks), run(&[RESPONSES]));
    }

    #[test]
    fn mutated_input_is_split_independent(
        edits in proptest::collection::vec((0..RESPONSES.len(), proptest::sample::select(INTERESTING.to_vec()), any::<bool>()), 1..5),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
    ) {
        let input = mutate(RESPONSES, &edits);
        let limits = Limits { max_request_line: 40, max_header_line: 30, max_head_bytes: 80, max_headers: 3, max_buffer: 64 };
        let chunks = split(&input, &cuts);
        prop_assert_eq!(run_with(&limits, &chunks), run_with(&limits, &[&input]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut conn = get();
        conn.receive(&input);
        while conn.poll_event().is_some() {}
        conn.receive_eof();
        while conn.poll_event().is_some() {}
    }
}

#[test]
fn header_names_seen_before_parse_the_same() {
    // More names than the connection remembers, some longer than it keeps,
    // in other cases from one response to the next.
    let names: Vec<String> = (0..40)
        .map(|i| match i % 4 {
            0 => format!("x-field-{i}"),
            1 => format!("X-Field-{i}"),
            2 => format!("x-a-header-name-longer-than-kept-{i}"),
            _ => ["Content-Type", "date", "ETag", "server", "Cache-Control"][i % 5].to_string(),
        })
        .collect();
    let mut conn = ClientConn::new(Limits::default());
    for round in 0..4 {
        let fields: Vec<(String, String)> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + round) % 3 != 0)
            .map(|(i, name)| {
                let name = if round % 2 == 1 { name.to_uppercase() } else { name.clone() };
                (name, format!("v{round}-{i}"))
            })
            .collect();
        let mut response = String::from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n");
        for (name, value) in &fields {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        let uri = Uri::from_static("http://example.com/");
        conn.send_request(&Method::GET, &uri, &HeaderMap::new(), BodySize::Empty).unwrap();
        conn.receive(response.as_bytes());
        let Some(ClientEvent::Response(head)) = conn.poll_event() else { panic!("no response in round {round}") };
        let got: Vec<(String, String)> = head
            .headers
            .iter()
            .filter(|(name, _)| *name != "content-length")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        let mut want: Vec<(String, String)> =
            fields.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.clone())).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want, "round {round}");
        assert_eq!(conn.poll_event().map(summarize), Some(Ev::End));
    }
}

/// The response head's event, then the whole body if it is buffered.
fn head_then_whole(conn: &mut ClientConn, bytes: &[u8]) -> (Ev, Option<Bytes>) {
    conn.receive(bytes);
    let head = summarize(conn.poll_event().expect("a response head"));
    (head, conn.take_whole_body())
}

#[test]
fn a_body_that_came_with_its_head_is_taken_whole_and_the_connection_is_free() {
    let mut conn = get();
    let (head, whole) = head_then_whole(&mut conn, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!((head, whole.as_deref()), (Ev::Response(200, BodyLength::Known(5)), Some(&b"hello"[..])));
    assert_eq!(poll_all(&mut conn), []);
    assert!(conn.is_idle(), "ready for the next request");
    conn.send_request(&Method::GET, &Uri::from_static("http://example.com/2"), &HeaderMap::new(), BodySize::Empty)
        .unwrap();
    assert!(output(&mut conn).starts_with("GET /2 HTTP/1.1\r\n"));
    let (head, whole) = head_then_whole(&mut conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((head, whole.as_deref()), (Ev::Response(404, BodyLength::Known(0)), Some(&b""[..])));
    assert!(conn.is_idle());
}

#[test]
fn a_body_not_all_in_or_not_sized_is_left_to_its_events() {
    let mut conn = get();
    let (_, whole) = head_then_whole(&mut conn, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    assert_eq!(whole, None);
    conn.receive(b"world");
    assert_eq!(poll_all(&mut conn), [data("helloworld"), Ev::End]);
    let mut conn = get();
    let (_, whole) = head_then_whole(&mut conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    assert_eq!(whole, None);
    assert_eq!(poll_all(&mut conn), [data("hi"), Ev::End]);
    let mut conn = get();
    let (_, whole) = head_then_whole(&mut conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
    assert_eq!(whole, None);
}
