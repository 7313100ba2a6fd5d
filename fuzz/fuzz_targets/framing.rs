//! Differential framing: for each request head, paf's decision (a length,
//! chunked, or a rejection) agrees with the reference reading of RFC 9112
//! §6 in `paf_fuzz::framing`; no head is both accepted by paf and framed
//! differently from that reading (or accepted while the reference finds its
//! field section malformed). An accepted head is then followed by a body
//! as framed and a second request: that request must be the next event.
//!
//! Input: a mode byte; in mode "built", a head is assembled from
//! dictionaries of framing field names and values (and raw values), else
//! the rest of the input is the head as it is.
#![no_main]

use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use paf::h1::fuzzing::buffered;
use paf::h1::{BodyLength, BodySize, Limits, ParseError, ServerConn, ServerEvent};
use paf_fuzz::framing::{self, Allowed, Framing};
use paf_fuzz::Reader;

const NAMES: &[&str] = &[
    "Content-Length", "content-length", "CONTENT-LENGTH", "Transfer-Encoding",
    "transfer-encoding", "TRANSFER-encoding", "Content-Length ", "Transfer-Encoding ",
    "Transfer-Encoding\t", " Transfer-Encoding", "Transfer_Encoding", "Content-Length:",
    "X-Other", "Connection", "Content-Lengthx", "TE",
];

const VALUES: &[&str] = &[
    "0", "5", "05", "5, 5", "5,5", "5, 05", "5,,5", "5,", ",5", "+5", "-5", " 5 ", "5 5", "0x5",
    "18446744073709551615", "18446744073709551616", "000000000000000000000000005", "chunked",
    "Chunked", "CHUNKED", " chunked", "chunked ", "chunked\t", "gzip, chunked", "chunked, gzip",
    "chunked, chunked", "chunked,", ",chunked", "gzip", "identity", "chunked;q=1", "chunked ;",
    "\"chunked\"", "chunked\x0b", "chunkedx", "xchunked", "", "chunked\r\n", "\r\n chunked",
    "close", "keep-alive", "chunked,,", "gzip,chunked", "5\t",
];

fn built(input: &mut Reader<'_>) -> Vec<u8> {
    let control = input.byte();
    let method = ["GET", "POST", "PUT", "OPTIONS"][usize::from(control & 3)];
    let version = if control & 4 != 0 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut head = format!("{method} /x {version}\r\nHost: a\r\n").into_bytes();
    for _ in 0..(control >> 3) % 6 {
        let name = NAMES[usize::from(input.byte()) % NAMES.len()];
        let choice = input.byte();
        head.extend_from_slice(name.as_bytes());
        head.push(b':');
        if choice & 0x80 != 0 {
            let len = usize::from(choice & 0x0f);
            head.extend_from_slice(input.take(len));
        } else {
            if choice & 0x40 != 0 {
                head.push(b' ');
            }
            head.extend_from_slice(VALUES[usize::from(choice) % VALUES.len()].as_bytes());
        }
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn is_framing_error(error: &ParseError) -> bool {
    matches!(
        error,
        ParseError::LengthAndTransferEncoding
            | ParseError::BadContentLength
            | ParseError::BadTransferEncoding
            | ParseError::InvalidTransferEncoding
    )
}

fn answer(conn: &mut ServerConn) {
    conn.send_response(StatusCode::OK, &HeaderMap::new(), BodySize::Empty).expect("a response");
}

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let mode = input.byte();
    let head = if mode & 1 == 0 { built(&mut input) } else { input.rest().to_vec() };
    let mut conn = ServerConn::new(Limits::default());
    conn.receive(&head);
    let reference = framing::head(&head);
    let allowed = reference.as_ref().map(framing::decide);
    match conn.poll_event() {
        Some(ServerEvent::Request(request)) => {
            let Some(allowed) = allowed else {
                panic!("paf accepted a head whose fields the reference finds malformed: {request:?}")
            };
            let framing = match request.body {
                BodyLength::Empty => Framing::Length(0),
                BodyLength::Known(n) => Framing::Length(n),
                BodyLength::Chunked => Framing::Chunked,
                BodyLength::UntilClose => panic!("a request delimited by closing"),
            };
            match allowed {
                Allowed::Must(f) | Allowed::Either(f) if f == framing => {}
                _ => panic!("paf frames the body as {framing:?}; RFC 9112 §6: {allowed:?}"),
            }
            if buffered(&conn) != 0 || request.upgrade {
                return; // more than one head in the input, or not HTTP next
            }
            // The body as framed, then another request: it must be next.
            let body: Vec<u8> = match framing {
                Framing::Length(n) if n <= 4096 => vec![b'x'; n as usize],
                Framing::Length(_) => return,
                Framing::Chunked => b"3\r\nabc\r\n0\r\n\r\n".to_vec(),
            };
            conn.receive(&body);
            conn.receive(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut seen = 0u64;
            loop {
                match conn.poll_event() {
                    Some(ServerEvent::Data(data)) => seen += data.len() as u64,
                    Some(ServerEvent::End) => break,
                    other => panic!("while reading the body: {other:?}"),
                }
            }
            let expected = match framing {
                Framing::Length(n) => n,
                Framing::Chunked => 3,
            };
            assert_eq!(seen, expected, "body bytes");
            answer(&mut conn);
            if conn.wants_close() {
                return; // Connection: close, or HTTP/1.0
            }
            match conn.poll_event() {
                Some(ServerEvent::Request(next)) => assert_eq!(next.uri, "/next"),
                other => panic!("the request after the body: {other:?}"),
            }
        }
        Some(ServerEvent::Error(error)) if is_framing_error(&error) => match allowed {
            None | Some(Allowed::MustReject | Allowed::Either(_)) => {}
            Some(Allowed::Must(framing)) => {
                panic!("paf rejects ({error:?}) a head RFC 9112 §6 frames as {framing:?}")
            }
        },
        // Rejected for something other than framing, or incomplete.
        _ => {}
    }
});
