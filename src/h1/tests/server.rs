//! Server fixtures: bytes in, events and bytes out.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use proptest::prelude::*;

use crate::h1::{BodyLength, BodySize, Limits, ParseError, ServerConn, ServerEvent};

/// An event, reduced to what the fixtures compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Request(String, String),
    Data(String),
    Trailers(Vec<(String, String)>),
    End,
    Error(ParseError),
}

fn summarize(event: ServerEvent) -> Ev {
    match event {
        ServerEvent::Request(head) => Ev::Request(head.method.to_string(), head.uri.to_string()),
        ServerEvent::Data(data) => Ev::Data(String::from_utf8_lossy(&data).into_owned()),
        ServerEvent::Trailers(fields) => Ev::Trailers(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
                .collect(),
        ),
        ServerEvent::End => Ev::End,
        ServerEvent::Error(error) => Ev::Error(error),
    }
}

fn req(method: &str, uri: &str) -> Ev {
    Ev::Request(method.into(), uri.into())
}

fn data(s: &str) -> Ev {
    Ev::Data(s.into())
}

fn server() -> ServerConn {
    ServerConn::new(Limits::default())
}

/// Every event available now.
fn poll_all(conn: &mut ServerConn) -> Vec<Ev> {
    std::iter::from_fn(|| conn.poll_event())
        .map(summarize)
        .collect()
}

fn output(conn: &mut ServerConn) -> String {
    String::from_utf8_lossy(&conn.output().take_all()).into_owned()
}

fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

/// Answers the current request with `200` and body `ok`.
fn respond_ok(conn: &mut ServerConn) {
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Known(2))
        .unwrap();
    conn.send_data(Bytes::from_static(b"ok")).unwrap();
    conn.send_end().unwrap();
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Feeds `chunks` one after the other, answering each request with
/// [`respond_ok`] once its body ended; merges adjacent `Data`. Returns the
/// events, the output and `wants_close`.
fn run(chunks: &[&[u8]]) -> (Vec<Ev>, String, bool) {
    run_with(&Limits::default(), chunks)
}

fn run_with(limits: &Limits, chunks: &[&[u8]]) -> (Vec<Ev>, String, bool) {
    let mut conn = ServerConn::new(limits.clone());
    let mut events: Vec<Ev> = Vec::new();
    for chunk in chunks {
        conn.receive(chunk);
        while let Some(event) = conn.poll_event() {
            match (summarize(event), events.last_mut()) {
                (Ev::Data(more), Some(Ev::Data(before))) => before.push_str(&more),
                (event, _) => {
                    let end = event == Ev::End;
                    events.push(event);
                    if end {
                        respond_ok(&mut conn);
                    }
                }
            }
        }
    }
    let out = output(&mut conn);
    (events, out, conn.wants_close())
}

#[test]
fn a_simple_get_is_answered_and_the_connection_stays_open() {
    let mut conn = server();
    assert!(conn.is_idle());
    conn.receive(b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
    assert!(!conn.is_idle());
    let Some(ServerEvent::Request(head)) = conn.poll_event() else {
        panic!("no request")
    };
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri, "/index.html?x=1");
    assert_eq!(head.version, Version::HTTP_11);
    assert_eq!(head.headers["host"], "example.com");
    assert_eq!(head.headers["accept"], "*/*");
    assert_eq!(head.body, BodyLength::Empty);
    assert!(!head.expect_continue && !head.upgrade);
    assert_eq!(poll_all(&mut conn), [Ev::End]);
    respond_ok(&mut conn);
    assert_eq!(output(&mut conn), OK);
    assert!(!conn.wants_close());
    assert!(conn.is_idle());
    assert!(conn.wants_read());
}

#[test]
fn empty_lines_before_a_request_are_ignored() {
    let (events, out, close) = run(&[b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!(events, [req("GET", "/"), Ev::End]);
    assert_eq!(out, OK);
    assert!(!close);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut conn = server();
    conn.receive(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          GET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(poll_all(&mut conn), [req("GET", "/1"), Ev::End]);
    // Nothing more until /1 is answered: the pipelined bytes wait.
    assert_eq!(poll_all(&mut conn), []);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    assert_eq!(
        poll_all(&mut conn),
        [],
        "the response to /1 is not complete yet"
    );
    conn.send_data(Bytes::from_static(b"one")).unwrap();
    conn.send_end().unwrap();
    assert_eq!(
        poll_all(&mut conn),
        [req("POST", "/2"), data("hello"), Ev::End]
    );
    conn.send_response(StatusCode::CREATED, &HeaderMap::new(), BodySize::Empty)
        .unwrap();
    assert_eq!(poll_all(&mut conn), [req("GET", "/3"), Ev::End]);
    respond_ok(&mut conn);
    assert_eq!(
        output(&mut conn),
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n\
             HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n{OK}"
        )
    );
    assert!(conn.is_idle());
}

#[test]
fn the_next_request_waits_for_the_end_of_the_current_one() {
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/")));
    // The handler answers before reading the body (all of it is buffered:
    // the connection may stay open).
    respond_ok(&mut conn);
    assert!(!conn.wants_close());
    assert_eq!(
        poll_all(&mut conn),
        [data("abc"), Ev::End, req("GET", "/next"), Ev::End]
    );
}

#[test]
fn request_bodies_by_length_and_chunked_with_extensions_and_trailers() {
    let (events, _, close) = run(&[
        b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1;flag\r\nhello\r\n6 ; name=\"quoted;\"\r\n world\r\n0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
    ]);
    assert_eq!(
        events,
        [
            req("POST", "/a"),
            data("hello"),
            Ev::End,
            req("POST", "/b"),
            data("hello world"),
            Ev::Trailers(vec![
                ("x-checksum".into(), "abc".into()),
                ("x-other".into(), "1".into())
            ]),
            Ev::End,
            req("POST", "/c"),
            Ev::End,
        ]
    );
    assert!(!close);
}

#[test]
fn body_data_is_a_slice_of_the_receive_buffer() {
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234");
    assert!(matches!(conn.poll_event(), Some(ServerEvent::Request(_))));
    assert_eq!(poll_all(&mut conn), [data("01234")]);
    conn.receive(b"56789");
    assert_eq!(poll_all(&mut conn), [data("56789"), Ev::End]);
}

const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

/// Sends `request` followed by a pipelined request; the machine must
/// answer with exactly `status` and close, and never parse the follower.
fn assert_rejected(request: &[u8], error: ParseError, status: &str) {
    for whole in [true, false] {
        let input = [request, SMUGGLED].concat();
        let mut conn = server();
        let mut events = Vec::new();
        if whole {
            conn.receive(&input);
            events = poll_all(&mut conn);
        } else {
            for byte in &input {
                conn.receive(std::slice::from_ref(byte));
                events.extend(poll_all(&mut conn));
            }
        }
        let context = String::from_utf8_lossy(request);
        assert_eq!(events.last(), Some(&Ev::Error(error.clone())), "{context}");
        assert!(!events.contains(&req("GET", "/smuggled")), "{context}");
        assert_eq!(
            output(&mut conn),
            format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
            "{context}"
        );
        assert!(conn.wants_close(), "{context}");
        assert!(!conn.wants_read(), "{context}");
        assert_eq!(poll_all(&mut conn), [], "{context}");
        assert!(matches!(
            conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Empty),
            Err(crate::Error::Closed)
        ));
    }
}

const BAD_REQUEST: &str = "400 Bad Request";

#[test]
fn rejects_ambiguous_lengths() {
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
    ];
    for case in cases {
        assert_rejected(case, ParseError::LengthAndTransferEncoding, BAD_REQUEST);
    }
    let bad_lengths: &[&[u8]] = &[
        b"Content-Length: 5\r\nContent-Length: 6",
        b"Content-Length: 5, 6",
        b"Content-Length: 5,",
        b"Content-Length: +5",
        b"Content-Length: -5",
        b"Content-Length: 0x5",
        b"Content-Length: 5 5",
        b"Content-Length: ",
        b"Content-Length: 18446744073709551616",
        b"Content-Length: 99999999999999999999999",
    ];
    for field in bad_lengths {
        let request = [
            b"POST / HTTP/1.1\r\nHost: a\r\n".as_slice(),
            field,
            b"\r\n\r\nhello",
        ]
        .concat();
        assert_rejected(&request, ParseError::BadContentLength, BAD_REQUEST);
    }
}

#[test]
fn rejects_transfer_codings_other_than_a_final_chunked() {
    let te = |value: &str| {
        format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n0\r\n\r\n")
    };
    assert_rejected(
        te("gzip, chunked").as_bytes(),
        ParseError::BadTransferEncoding,
        "501 Not Implemented",
    );
    for value in [
        "chunked, gzip",
        "gzip",
        "chunked, chunked",
        "chunked,",
        "identity",
    ] {
        assert_rejected(
            te(value).as_bytes(),
            ParseError::InvalidTransferEncoding,
            BAD_REQUEST,
        );
    }
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ParseError::InvalidTransferEncoding,
        BAD_REQUEST,
    );
    assert_rejected(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ParseError::InvalidTransferEncoding,
        BAD_REQUEST,
    );
}

#[test]
fn rejects_bad_chunks_after_the_request_head() {
    let cases: &[(&[u8], ParseError)] = &[
        (b"zz\r\n", ParseError::BadChunk),
        (b"-1\r\n", ParseError::BadChunk),
        (b"0x5\r\n", ParseError::BadChunk),
        (b"\r\n", ParseError::BadChunk),
        (b"5 \r\nhello\r\n0\r\n\r\n", ParseError::BadChunk),
        (b"5\nhello\r\n0\r\n\r\n", ParseError::BadChunk),
        (b"5;a\nb\r\nhello\r\n0\r\n\r\n", ParseError::BadChunk),
        (b"5;\x00\r\nhello\r\n0\r\n\r\n", ParseError::BadChunk),
        (b"10000000000000000\r\n", ParseError::BadChunk),
        (
            b"00000000000000005\r\nhello\r\n0\r\n\r\n",
            ParseError::BadChunk,
        ),
        (b"5\r\nhelloXX0\r\n\r\n", ParseError::BadChunk),
        (b"5\r\nhello\n0\r\n\r\n", ParseError::BadChunk),
        (
            b"0\r\nX: 1\n\r\n",
            ParseError::Malformed("a line ends in a bare LF, not CRLF"),
        ),
        (b"0\r\n X: 1\r\n\r\n", ParseError::ObsFold),
        (b"0\r\nX : 1\r\n\r\n", ParseError::WhitespaceBeforeColon),
    ];
    for (chunks, error) in cases {
        let request = [
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(),
            chunks,
        ]
        .concat();
        assert_rejected(&request, error.clone(), BAD_REQUEST);
    }
    // A 16-digit size is fine (it is simply not all there).
    let mut conn = server();
    conn.receive(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000F\r\nabc",
    );
    assert_eq!(poll_all(&mut conn), [req("POST", "/"), data("abc")]);
}

#[test]
fn rejects_heads_httparse_would_accept() {
    assert_rejected(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        ParseError::ObsFold,
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        ParseError::ObsFold,
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n\tb\r\n\r\n",
        ParseError::ObsFold,
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        ParseError::WhitespaceBeforeColon,
        BAD_REQUEST,
    );
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\nhello",
        ParseError::WhitespaceBeforeColon,
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.1\nHost: a\n\n",
        ParseError::Malformed("a line ends in a bare LF, not CRLF"),
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        ParseError::Malformed("a bare CR inside a line"),
        BAD_REQUEST,
    );
}

#[test]
fn rejects_a_missing_or_repeated_host() {
    assert_rejected(b"GET / HTTP/1.1\r\n\r\n", ParseError::BadHost, BAD_REQUEST);
    assert_rejected(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ParseError::BadHost,
        BAD_REQUEST,
    );
    assert_rejected(
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        ParseError::BadHost,
        BAD_REQUEST,
    );
    // HTTP/1.0 needs no Host.
    let (events, out, close) = run(&[b"GET / HTTP/1.0\r\n\r\n"]);
    assert_eq!(events, [req("GET", "/"), Ev::End]);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    );
    assert!(close);
}

#[test]
fn rejects_bad_start_lines() {
    let malformed = |request: &[u8]| {
        let mut conn = server();
        conn.receive(request);
        let events = poll_all(&mut conn);
        assert!(
            matches!(events[..], [Ev::Error(ParseError::Malformed(_))]),
            "{:?}: {events:?}",
            String::from_utf8_lossy(request)
        );
        assert!(output(&mut conn).starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(conn.wants_close());
    };
    malformed(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET / HTTP/x\r\nHost: a\r\n\r\n");
    malformed(b"GET / http/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n");
    malformed(b"GET / HTTP/1.1\r\nHost: a\r\nBad\x01Name: x\r\n\r\n");
    malformed(b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n");
    // The target's form must fit the method.
    malformed(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n");
    malformed(b"CONNECT http://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_rejected(
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        ParseError::BadVersion,
        "505 HTTP Version Not Supported",
    );
    assert_rejected(
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        ParseError::BadVersion,
        "505 HTTP Version Not Supported",
    );
}

#[test]
fn accepts_every_request_target_form() {
    let (events, _, _) = run(&[
        b"GET http://example.com/path?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        events,
        [
            req("GET", "http://example.com/path?q"),
            Ev::End,
            req("OPTIONS", "*"),
            Ev::End
        ]
    );
    let mut conn = server();
    conn.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    let Some(ServerEvent::Request(head)) = conn.poll_event() else {
        panic!()
    };
    assert_eq!(
        head.uri.authority().map(|a| a.as_str()),
        Some("example.com:443")
    );
    assert!(head.upgrade);
}

#[test]
fn oversized_heads_are_refused_before_they_are_complete() {
    let limits = Limits {
        max_request_line: 64,
        max_header_line: 64,
        max_head_bytes: 256,
        max_headers: 4,
        ..Limits::default()
    };
    let check = |input: Vec<u8>, error: ParseError, status: &str| {
        let mut conn = ServerConn::new(limits.clone());
        conn.receive(&input);
        assert_eq!(poll_all(&mut conn), [Ev::Error(error)]);
        assert_eq!(
            output(&mut conn),
            format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        );
        assert!(conn.wants_close());
    };
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(64));
    check(
        long_target.clone().into_bytes(),
        ParseError::RequestLineTooLong,
        "414 URI Too Long",
    );
    check(
        long_target.as_bytes()[..70].to_vec(),
        ParseError::RequestLineTooLong,
        "414 URI Too Long",
    );
    let long_field = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(64));
    check(
        long_field.into_bytes(),
        ParseError::HeadersTooLarge,
        "431 Request Header Fields Too Large",
    );
    let many_fields = format!("GET / HTTP/1.1\r\nHost: a\r\n{}", "X: b\r\n".repeat(4));
    check(
        many_fields.into_bytes(),
        ParseError::HeadersTooLarge,
        "431 Request Header Fields Too Large",
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\n{}",
        "X: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n".repeat(4)
    );
    check(
        big_head.into_bytes(),
        ParseError::HeadersTooLarge,
        "431 Request Header Fields Too Large",
    );
    check(
        b"\r\n".repeat(129),
        ParseError::HeadersTooLarge,
        "431 Request Header Fields Too Large",
    );

    // Fed slowly, the buffer stops at the limit: wants_read stays true up
    // to the head limit and the error comes right after it.
    let mut conn = ServerConn::new(limits.clone());
    let mut fed = 0;
    while conn.wants_read() {
        conn.receive(b"X");
        fed += 1;
        if conn.poll_event().is_some() {
            break;
        }
    }
    assert_eq!(fed, 65);
    assert!(conn.wants_close());
}

#[test]
fn keep_alive_and_close_by_version_and_connection_field() {
    // HTTP/1.1 with Connection: close; the pipelined request is ignored.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [req("GET", "/"), Ev::End]);
    respond_ok(&mut conn);
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    );
    assert!(conn.wants_close());
    assert_eq!(poll_all(&mut conn), []);

    // The handler closes.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::OK,
        &headers(&[("connection", "close")]),
        BodySize::Empty,
    )
    .unwrap();
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    assert!(conn.wants_close());

    // HTTP/1.0 keep-alive: kept, and said so.
    let (events, out, close) = run(&[
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    ]);
    assert_eq!(
        events,
        [req("GET", "/1"), Ev::End, req("GET", "/2"), Ev::End]
    );
    let kept = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok";
    assert_eq!(out, format!("{kept}{kept}"));
    assert!(!close);

    // HTTP/1.0 keep-alive with an unknown length: delimited by closing.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    assert!(!conn.wants_close(), "not before the body is complete");
    conn.send_data(Bytes::from_static(b"streamed")).unwrap();
    conn.send_end().unwrap();
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nstreamed"
    );
    assert!(conn.wants_close());
}

#[test]
fn response_framing() {
    let respond = |request: &[u8],
                   status: u16,
                   fields: &[(&'static str, &'static str)],
                   body: BodySize,
                   chunks: &[&'static [u8]]| {
        let mut conn = server();
        conn.receive(request);
        poll_all(&mut conn);
        conn.send_response(
            StatusCode::from_u16(status).unwrap(),
            &headers(fields),
            body,
        )
        .unwrap();
        for chunk in chunks {
            conn.send_data(Bytes::from_static(chunk)).unwrap();
        }
        conn.send_end().unwrap();
        assert!(!conn.wants_close());
        output(&mut conn)
    };
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const HEAD: &[u8] = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        respond(
            GET,
            200,
            &[("x-a", "1"), ("x-a", "2")],
            BodySize::Known(3),
            &[b"a", b"bc"]
        ),
        "HTTP/1.1 200 OK\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 3\r\n\r\nabc"
    );
    assert_eq!(
        respond(
            GET,
            200,
            &[("transfer-encoding", "gzip")],
            BodySize::Unknown,
            &[b"abc", b"", b"defgh"]
        ),
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
    );
    assert_eq!(
        respond(
            GET,
            200,
            &[("content-length", "2")],
            BodySize::Unknown,
            &[b"ab"]
        ),
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nab"
    );
    assert_eq!(
        respond(GET, 599, &[], BodySize::Empty, &[]),
        "HTTP/1.1 599 \r\ncontent-length: 0\r\n\r\n"
    );
    // HEAD: the fields of the full response, no body.
    assert_eq!(
        respond(HEAD, 200, &[], BodySize::Known(5), &[b"hello"]),
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    );
    assert_eq!(
        respond(HEAD, 200, &[("content-length", "9")], BodySize::Empty, &[]),
        "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n"
    );
    assert_eq!(
        respond(HEAD, 200, &[], BodySize::Unknown, &[b"x"]),
        "HTTP/1.1 200 OK\r\n\r\n"
    );
    // 204 and 304: no body; 204 has no length fields at all.
    assert_eq!(
        respond(
            GET,
            204,
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
            BodySize::Known(5),
            &[b"hello"]
        ),
        "HTTP/1.1 204 No Content\r\n\r\n"
    );
    assert_eq!(
        respond(
            GET,
            304,
            &[("etag", "\"x\""), ("content-length", "5")],
            BodySize::Empty,
            &[]
        ),
        "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\ncontent-length: 5\r\n\r\n"
    );
    assert_eq!(
        respond(GET, 304, &[], BodySize::Unknown, &[b"x"]),
        "HTTP/1.1 304 Not Modified\r\n\r\n"
    );
}

#[test]
fn chunked_response_with_trailers() {
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::OK,
        &headers(&[("trailer", "x-sum")]),
        BodySize::Unknown,
    )
    .unwrap();
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_trailers(&headers(&[("x-sum", "42")])).unwrap();
    conn.send_end().unwrap();
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 200 OK\r\ntrailer: x-sum\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 42\r\n\r\n"
    );
}

#[test]
fn declared_content_length_is_enforced() {
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::OK,
        &headers(&[("content-length", "3")]),
        BodySize::Known(10),
    )
    .unwrap();
    assert!(matches!(
        conn.send_data(Bytes::from_static(b"toolong")),
        Err(crate::Error::InvalidMessage(_))
    ));
    assert!(conn.wants_close());

    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Known(3))
        .unwrap();
    conn.send_data(Bytes::from_static(b"ab")).unwrap();
    assert!(matches!(
        conn.send_end(),
        Err(crate::Error::InvalidMessage(_))
    ));
    assert!(conn.wants_close());
    assert_eq!(poll_all(&mut conn), []);

    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    let bad = headers(&[("content-length", "1"), ("content-length", "2")]);
    assert!(matches!(
        conn.send_response(StatusCode::OK, &bad, BodySize::Unknown),
        Err(crate::Error::InvalidMessage(_))
    ));
    // Nothing was sent: the handler may still answer.
    respond_ok(&mut conn);
    assert_eq!(output(&mut conn), OK);
}

#[test]
fn misuse_of_the_send_side_is_an_error() {
    let mut conn = server();
    assert!(matches!(
        conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Empty),
        Err(crate::Error::InvalidMessage(_))
    ));
    assert!(conn.send_data(Bytes::from_static(b"x")).is_err());
    assert!(conn.send_end().is_err());
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    assert!(matches!(
        conn.send_response(
            StatusCode::SWITCHING_PROTOCOLS,
            &HeaderMap::new(),
            BodySize::Empty
        ),
        Err(crate::Error::InvalidMessage(_))
    ));
    respond_ok(&mut conn);
    assert!(matches!(
        conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Empty),
        Err(crate::Error::InvalidMessage(_))
    ));
}

#[test]
fn a_bodiless_response_is_complete_at_its_head() {
    let mut conn = server();
    conn.receive(b"HEAD /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [req("HEAD", "/1"), Ev::End]);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Known(5))
        .unwrap();
    // The next request comes before the driver ended the HEAD response...
    assert_eq!(poll_all(&mut conn), [req("GET", "/2"), Ev::End]);
    // ...whose late data and end are still accepted, and dropped.
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end().unwrap();
    respond_ok(&mut conn);
    assert_eq!(
        output(&mut conn),
        format!("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{OK}")
    );
}

#[test]
fn interim_responses() {
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::from_u16(103).unwrap(),
        &headers(&[("link", "</a.css>; rel=preload")]),
        BodySize::Empty,
    )
    .unwrap();
    respond_ok(&mut conn);
    assert_eq!(
        output(&mut conn),
        format!("HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n{OK}")
    );

    // Not to HTTP/1.0 clients.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.0\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::from_u16(103).unwrap(),
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    assert_eq!(output(&mut conn), "");
}

#[test]
fn expect_continue() {
    const EXPECTING: &[u8] =
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let mut conn = server();
    conn.receive(EXPECTING);
    let Some(ServerEvent::Request(head)) = conn.poll_event() else {
        panic!()
    };
    assert!(head.expect_continue);
    assert_eq!(poll_all(&mut conn), []);
    conn.send_continue();
    conn.send_continue();
    assert_eq!(output(&mut conn), "HTTP/1.1 100 Continue\r\n\r\n");
    conn.receive(b"hello");
    assert_eq!(poll_all(&mut conn), [data("hello"), Ev::End]);
    respond_ok(&mut conn);
    assert_eq!(output(&mut conn), OK);
    assert!(!conn.wants_close());

    // A final answer without reading the body: the client may or may not
    // send it, so the connection closes.
    let mut conn = server();
    conn.receive(EXPECTING);
    poll_all(&mut conn);
    conn.send_response(StatusCode::UNAUTHORIZED, &HeaderMap::new(), BodySize::Empty)
        .unwrap();
    conn.send_continue();
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    assert!(conn.wants_close());
    assert!(!conn.wants_read());
    conn.receive(SMUGGLED);
    assert_eq!(poll_all(&mut conn), []);

    // Unless the body is all there already.
    let mut conn = server();
    conn.receive(&[EXPECTING, b"hello", SMUGGLED].concat());
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/")));
    respond_ok(&mut conn);
    assert!(!conn.wants_close());
    assert_eq!(
        poll_all(&mut conn),
        [data("hello"), Ev::End, req("GET", "/smuggled"), Ev::End]
    );

    // No 100 without the expectation, nor on HTTP/1.0.
    for request in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"[..],
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    ] {
        let mut conn = server();
        conn.receive(request);
        let Some(ServerEvent::Request(head)) = conn.poll_event() else {
            panic!()
        };
        assert!(!head.expect_continue);
        conn.send_continue();
        assert_eq!(output(&mut conn), "");
    }
}

#[test]
fn a_response_before_the_whole_request_body_closes_the_connection() {
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial");
    assert_eq!(poll_all(&mut conn), [req("POST", "/"), data("partial")]);
    conn.receive(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    respond_ok(&mut conn);
    assert!(conn.wants_close());
    assert!(!conn.wants_read());
    // What is buffered is still body, never a request.
    assert_eq!(
        poll_all(&mut conn),
        [data("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")]
    );

    // Chunked: the same when the terminating chunk is not buffered...
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    poll_all(&mut conn);
    respond_ok(&mut conn);
    assert!(conn.wants_close());
    // ...but not when it is.
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/")));
    respond_ok(&mut conn);
    assert!(!conn.wants_close());
    assert_eq!(
        poll_all(&mut conn),
        [
            data("hello"),
            Ev::Trailers(vec![("x".into(), "y".into())]),
            Ev::End,
            req("GET", "/2"),
            Ev::End
        ]
    );
}

#[test]
fn a_streamed_response_may_start_before_the_request_body_arrives() {
    // An echo: the head goes out first, the body follows as it comes.
    let mut conn = server();
    conn.receive(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [req("POST", "/echo")]);
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    conn.receive(b"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [data("abc"), Ev::End]);
    conn.send_data(Bytes::from_static(b"abc")).unwrap();
    conn.send_end().unwrap();
    assert!(!conn.wants_close());
    assert_eq!(poll_all(&mut conn), [req("GET", "/next"), Ev::End]);
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
}

#[test]
fn upgrade_hands_over_the_bytes_past_the_request() {
    let mut conn = server();
    conn.receive(b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello");
    let Some(ServerEvent::Request(head)) = conn.poll_event() else {
        panic!()
    };
    assert!(head.upgrade);
    let fields = headers(&[
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("content-length", "0"),
    ]);
    conn.send_response(StatusCode::SWITCHING_PROTOCOLS, &fields, BodySize::Empty)
        .unwrap();
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    );
    // The request's End still comes, then nothing.
    assert_eq!(poll_all(&mut conn), [Ev::End]);
    assert!(!conn.wants_read());
    assert!(!conn.wants_close());
    conn.send_end().unwrap();
    assert_eq!(conn.take_upgrade().as_deref(), Some(&b"\x81\x05hello"[..]));
    assert_eq!(conn.take_upgrade(), None);

    // CONNECT: a 2xx switches, without length fields.
    let mut conn = server();
    conn.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01");
    assert_eq!(
        poll_all(&mut conn),
        [req("CONNECT", "example.com:443"), Ev::End]
    );
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown)
        .unwrap();
    assert_eq!(output(&mut conn), "HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(conn.take_upgrade().as_deref(), Some(&b"\x16\x03\x01"[..]));

    // A refused upgrade is an ordinary exchange.
    let (events, out, close) = run(&[
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
        b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        events,
        [req("GET", "/"), Ev::End, req("GET", "/2"), Ev::End]
    );
    assert_eq!(out, format!("{OK}{OK}"));
    assert!(!close);

    let mut conn = server();
    conn.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    poll_all(&mut conn);
    conn.send_response(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        &HeaderMap::new(),
        BodySize::Empty,
    )
    .unwrap();
    assert_eq!(conn.take_upgrade(), None);
    assert!(conn.is_idle() || conn.wants_read());
}

#[test]
fn back_pressure() {
    let limits = Limits {
        max_buffer: 16,
        ..Limits::default()
    };
    let mut conn = ServerConn::new(limits.clone());
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n");
    assert_eq!(poll_all(&mut conn), [req("POST", "/")]);
    conn.receive(&[b'x'; 20]);
    assert!(!conn.wants_read(), "20 body bytes buffered, limit 16");
    assert_eq!(poll_all(&mut conn), [data(&"x".repeat(20))]);
    assert!(conn.wants_read());

    // Pipelined requests while a response is pending.
    let mut conn = ServerConn::new(limits);
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    poll_all(&mut conn);
    conn.receive(b"GET /2 HTTP/1.1\r\n");
    assert!(!conn.wants_read());
    respond_ok(&mut conn);
    assert!(conn.wants_read(), "reading a head: the head limits apply");
}

#[test]
fn end_of_stream() {
    // Idle: close.
    let mut conn = server();
    conn.receive_eof();
    assert!(conn.wants_close());
    assert_eq!(poll_all(&mut conn), []);

    // In the middle of a head: close without answering.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHo");
    assert!(conn.is_reading_head());
    conn.receive_eof();
    assert!(conn.wants_close());
    assert_eq!(poll_all(&mut conn), []);
    assert_eq!(output(&mut conn), "");

    // In the middle of a body: an error, no answer.
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    conn.receive_eof();
    assert_eq!(
        poll_all(&mut conn),
        [
            req("POST", "/"),
            data("abc"),
            Ev::Error(ParseError::Incomplete)
        ]
    );
    assert!(conn.wants_close());
    assert_eq!(output(&mut conn), "");

    // A complete request still gets its answer (half-close), then close.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.receive_eof();
    assert!(!conn.wants_close());
    assert!(!conn.wants_read());
    assert_eq!(poll_all(&mut conn), [req("GET", "/"), Ev::End]);
    respond_ok(&mut conn);
    assert_eq!(output(&mut conn), OK);
    assert!(conn.wants_close());

    // Pipelined requests before the EOF are all answered.
    let mut conn = server();
    conn.receive(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.receive_eof();
    assert_eq!(poll_all(&mut conn), [req("GET", "/1"), Ev::End]);
    respond_ok(&mut conn);
    assert!(!conn.wants_close());
    assert_eq!(poll_all(&mut conn), [req("GET", "/2"), Ev::End]);
    respond_ok(&mut conn);
    assert!(conn.wants_close());
}

#[test]
fn idle_and_reading_head() {
    let mut conn = server();
    assert!(conn.is_idle() && !conn.is_reading_head());
    conn.receive(b"GET / HTTP/1.1\r\n");
    assert!(!conn.is_idle() && conn.is_reading_head());
    conn.receive(b"Host: a\r\n\r\n");
    poll_all(&mut conn);
    assert!(!conn.is_idle() && !conn.is_reading_head());
    respond_ok(&mut conn);
    assert!(!conn.is_idle(), "output not written yet");
    conn.output().take_all();
    assert!(conn.is_idle());
}

#[test]
fn an_error_response_is_the_drivers_to_shape_but_always_closes() {
    let shaped = headers(&[
        ("content-type", "text/plain"),
        ("content-length", "999"),
        ("transfer-encoding", "chunked"),
        ("connection", "keep-alive"),
    ]);
    // Replacing the 400 the machine queued for a malformed head.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(poll_all(&mut conn), vec![Ev::Error(ParseError::BadHost)]);
    assert!(conn.answer_error(StatusCode::IM_A_TEAPOT, &shaped, Bytes::from_static(b"short and stout")));
    assert_eq!(
        output(&mut conn),
        "HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/plain\r\nconnection: close\r\n\
         content-length: 15\r\n\r\nshort and stout"
    );
    assert!(conn.wants_close() && poll_all(&mut conn).is_empty(), "the pipelined request is not read");
    assert!(!conn.answer_error(StatusCode::IM_A_TEAPOT, &shaped, Bytes::new()), "once");

    // Too late once some of the machine's response is written.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(poll_all(&mut conn), vec![Ev::Error(ParseError::BadHost)]);
    conn.output().advance(1);
    assert!(!conn.answer_error(StatusCode::IM_A_TEAPOT, &shaped, Bytes::new()));
    assert_eq!(output(&mut conn), "TTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");

    // A 408 for a head that stalled: no request, no response started.
    let mut conn = server();
    conn.receive(b"GET / HTTP/1.1\r\nHo");
    assert!(poll_all(&mut conn).is_empty());
    assert!(!conn.answer_error(StatusCode::NO_CONTENT, &HeaderMap::new(), Bytes::new()), "no body allowed");
    assert!(conn.answer_error(StatusCode::REQUEST_TIMEOUT, &HeaderMap::new(), Bytes::from_static(b"late")));
    assert_eq!(output(&mut conn), "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 4\r\n\r\nlate");
    assert!(conn.wants_close());

    // A HEAD whose body turned out malformed: the fields, no body.
    let mut conn = server();
    conn.receive(b"HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_eq!(poll_all(&mut conn), vec![req("HEAD", "/"), Ev::Error(ParseError::BadChunk)]);
    assert!(conn.answer_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), Bytes::from_static(b"bad")));
    assert_eq!(output(&mut conn), "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 3\r\n\r\n");

    // An incomplete message is not answered, so not replaced either.
    let mut conn = server();
    conn.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab");
    conn.receive_eof();
    let events = poll_all(&mut conn);
    assert_eq!(events.last(), Some(&Ev::Error(ParseError::Incomplete)), "{events:?}");
    assert!(!conn.answer_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), Bytes::new()));
    assert_eq!(output(&mut conn), "");
}

/// A mix of everything that must parse the same however it is split.
const MIXED: &[u8] = b"\r\nGET /1 HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n\
    POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nhello world!\
    POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
    3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n\
    HEAD /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
    GET /5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn bytes_fed_one_at_a_time_give_the_same_events() {
    let whole = run(&[MIXED]);
    assert_eq!(
        whole.0,
        [
            req("GET", "/1"),
            Ev::End,
            req("POST", "/2"),
            data("hello world!"),
            Ev::End,
            req("POST", "/3"),
            data("abc0123456789abcdef"),
            Ev::Trailers(vec![("x-t".into(), "1".into())]),
            Ev::End,
            req("HEAD", "/4"),
            Ev::End,
            req("GET", "/5"),
            Ev::End,
        ]
    );
    assert!(whole.2);
    let bytes: Vec<&[u8]> = MIXED.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events(mut cuts in proptest::collection::vec(0..MIXED.len(), 0..12)) {
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&MIXED[start..cut]);
            start = cut;
        }
        chunks.push(&MIXED[start..]);
        prop_assert_eq!(run(&chunks), run(&[MIXED]));
    }

    /// Whatever the bytes, valid or not, how they are split changes
    /// nothing: not the events, not the error, not the bytes sent back.
    #[test]
    fn mutated_input_is_split_independent(
        edits in proptest::collection::vec((0..MIXED.len(), proptest::sample::select(INTERESTING.to_vec()), any::<bool>()), 1..5),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
    ) {
        let input = mutate(MIXED, &edits);
        let limits = Limits { max_request_line: 40, max_header_line: 30, max_head_bytes: 100, max_headers: 3, max_buffer: 64 };
        let chunks = split(&input, &cuts);
        prop_assert_eq!(run_with(&limits, &chunks), run_with(&limits, &[&input]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut conn = server();
        conn.receive(&input);
        while let Some(event) = conn.poll_event() {
            if matches!(event, ServerEvent::End) {
                let _ = conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Unknown);
                let _ = conn.send_data(Bytes::from_static(b"ok"));
                let _ = conn.send_end();
            }
        }
        conn.receive_eof();
        while conn.poll_event().is_some() {}
    }
}

/// Bytes that matter to the parsers.
pub(super) const INTERESTING: &[u8] = b"\r\n \t:;,0189aAfFzZ\x00\x7f\x80";

/// Replaces (or inserts, when the flag is set) bytes of `input`.
pub(super) fn mutate(input: &[u8], edits: &[(usize, u8, bool)]) -> Vec<u8> {
    let mut out = input.to_vec();
    for &(at, byte, insert) in edits {
        let at = at.min(out.len() - 1);
        if insert {
            out.insert(at, byte);
        } else {
            out[at] = byte;
        }
    }
    out
}

/// Splits `input` at the given points.
pub(super) fn split<'a>(input: &'a [u8], cuts: &[proptest::sample::Index]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

#[test]
fn a_request_body_that_came_with_its_head_is_taken_whole_and_the_next_request_waits() {
    let mut conn = server();
    conn.receive(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/a")));
    assert_eq!(conn.take_whole_body().as_deref(), Some(&b"hello"[..]));
    assert_eq!(poll_all(&mut conn), [], "the next request waits for this response");
    respond_ok(&mut conn);
    assert_eq!(output(&mut conn), OK);
    assert_eq!(poll_all(&mut conn), [req("GET", "/b"), Ev::End]);
}

#[test]
fn a_request_body_not_all_in_or_not_sized_is_left_to_its_events() {
    let mut conn = server();
    conn.receive(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello");
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/a")));
    assert_eq!(conn.take_whole_body(), None);
    conn.receive(b"world");
    assert_eq!(poll_all(&mut conn), [data("helloworld"), Ev::End]);
    let mut conn = server();
    conn.receive(b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    assert_eq!(conn.poll_event().map(summarize), Some(req("POST", "/a")));
    assert_eq!(conn.take_whole_body(), None);
    assert_eq!(poll_all(&mut conn), [data("hi"), Ev::End]);
}
