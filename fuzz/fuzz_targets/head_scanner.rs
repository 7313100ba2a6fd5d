//! The head scanner and parser against `httparse`: for a request head (the
//! server) or a response head (the client), both accept or both reject, and
//! for what both accept, the head ends at the same byte and has the same
//! version, method, target or status, and fields. Where paf rejects what
//! `httparse` accepts, it must be for one of its documented stricter rules
//! (see SECURITY.md): bare CR or LF, obs-fold, whitespace before a colon,
//! the limits, `Host`, the framing fields, the target's form, an invalid
//! status code, a 101 not asked for.
//!
//! Input: role byte, then the bytes from the peer.
#![no_main]

use http::{HeaderMap, Method, Uri};
use libfuzzer_sys::fuzz_target;
use paf::h1::fuzzing::buffered;
use paf::h1::{BodySize, ClientConn, ClientEvent, Limits, ParseError, ServerConn, ServerEvent};

/// The rules by which paf is stricter than `httparse`.
fn documented_stricter(error: &ParseError) -> bool {
    match error {
        ParseError::Malformed(why) => [
            "a line ends in a bare LF, not CRLF",
            "a bare CR inside a line",
            "invalid request target",
            "request target in the wrong form for its method",
            "invalid status code",
            "101 Switching Protocols without an upgrade request",
        ]
        .contains(why),
        ParseError::RequestLineTooLong
        | ParseError::HeadersTooLarge
        | ParseError::ObsFold
        | ParseError::WhitespaceBeforeColon
        | ParseError::BadHost
        | ParseError::LengthAndTransferEncoding
        | ParseError::BadContentLength
        | ParseError::BadTransferEncoding
        | ParseError::InvalidTransferEncoding => true,
        _ => false,
    }
}

fn fields_of(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<_> = map.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    fields.sort();
    fields
}

fn fields_of_httparse(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<_> =
        headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
    fields.sort();
    fields
}

fn server(wire: &[u8], limits: &Limits) {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut theirs = httparse::Request::new(&mut slots);
    let parsed = theirs.parse(wire);
    let mut conn = ServerConn::new(limits.clone());
    conn.receive(wire);
    let event = conn.poll_event();
    match (event, parsed) {
        (Some(ServerEvent::Request(head)), Ok(httparse::Status::Complete(end))) => {
            assert_eq!(wire.len() - buffered(&conn), end, "where the head ends");
            assert_eq!(head.method.as_str(), theirs.method.unwrap());
            assert_eq!(head.version == http::Version::HTTP_10, theirs.version == Some(0));
            let path = theirs.path.unwrap();
            if path.starts_with('/') && !path.contains('#') {
                assert_eq!(head.uri.path_and_query().map(|pq| pq.as_str()), Some(path));
            }
            assert_eq!(fields_of(&head.headers), fields_of_httparse(theirs.headers));
        }
        (Some(ServerEvent::Request(head)), other) => {
            panic!("paf read a request head that httparse finds {other:?}: {head:?}")
        }
        (Some(ServerEvent::Error(error)), Ok(httparse::Status::Complete(_))) => {
            assert!(documented_stricter(&error), "paf rejects with {error:?} a head httparse accepts")
        }
        (None, Ok(httparse::Status::Complete(_))) => {
            panic!("paf waits for more of a head httparse finds complete")
        }
        _ => {}
    }
}

fn client(wire: &[u8], limits: &Limits, head_request: bool) {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut theirs = httparse::Response::new(&mut slots);
    let parsed = theirs.parse(wire);
    let mut conn = ClientConn::new(limits.clone());
    let method = if head_request { Method::HEAD } else { Method::GET };
    conn.send_request(&method, &Uri::from_static("http://a/"), &HeaderMap::new(), BodySize::Empty)
        .expect("a request");
    conn.receive(wire);
    let event = conn.poll_event();
    match (event, parsed) {
        (
            Some(ClientEvent::Response(head) | ClientEvent::Informational(head)),
            Ok(httparse::Status::Complete(end)),
        ) => {
            assert_eq!(wire.len() - buffered(&conn), end, "where the head ends");
            assert_eq!(Some(head.status.as_u16()), theirs.code);
            assert_eq!(head.version == http::Version::HTTP_10, theirs.version == Some(0));
            assert_eq!(fields_of(&head.headers), fields_of_httparse(theirs.headers));
        }
        (Some(ClientEvent::Response(head) | ClientEvent::Informational(head)), other) => {
            panic!("paf read a response head that httparse finds {other:?}: {head:?}")
        }
        (Some(ClientEvent::Error(error)), Ok(httparse::Status::Complete(_))) => {
            assert!(documented_stricter(&error), "paf rejects with {error:?} a head httparse accepts")
        }
        (None, Ok(httparse::Status::Complete(_))) => {
            panic!("paf waits for more of a head httparse finds complete")
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&role, wire)) = data.split_first() else { return };
    let limits = Limits::default();
    if role & 1 == 0 {
        server(wire, &limits);
    } else {
        client(wire, &limits, role & 2 != 0);
    }
});
