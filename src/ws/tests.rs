//! Byte fixtures: the examples of RFC 6455 §1.3 and §5.7, and the frames
//! a receiver must refuse, with the close code each calls for.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use super::handshake::{accept_key, base64, check, Opening};
use super::wisp::{InvalidPacket, Packet, Reason, STREAM_TCP};
use super::*;

const MASKED_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

fn decode_one(role: Role, bytes: &[u8]) -> Result<Option<Frame>, CloseFrame> {
    let mut decoder = Decoder::new(role, 1 << 20);
    decoder.receive(bytes);
    decoder.next_frame()
}

fn refusal(role: Role, bytes: &[u8]) -> CloseFrame {
    decode_one(role, bytes).expect_err("the frame must be refused")
}

#[test]
fn the_rfc_examples_decode() {
    let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let frame = decode_one(Role::Client, &unmasked).unwrap().unwrap();
    assert_eq!((frame.fin, frame.opcode, &frame.payload[..]), (true, Opcode::Text, &b"Hello"[..]));
    let frame = decode_one(Role::Server, &MASKED_HELLO).unwrap().unwrap();
    assert_eq!(&frame.payload[..], b"Hello");

    let mut decoder = Decoder::new(Role::Client, 1 << 20);
    decoder.receive(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    let first = decoder.next_frame().unwrap().unwrap();
    let last = decoder.next_frame().unwrap().unwrap();
    assert_eq!((first.fin, first.opcode, &first.payload[..]), (false, Opcode::Text, &b"Hel"[..]));
    assert_eq!((last.fin, last.opcode, &last.payload[..]), (true, Opcode::Continuation, &b"lo"[..]));
    assert_eq!(decoder.next_frame().unwrap(), None);
}

#[test]
fn frames_arrive_in_any_pieces() {
    let mut long = BytesMut::new();
    encode(Opcode::Binary, &[7u8; 70_000], Some([1, 2, 3, 4]), &mut long);
    assert_eq!(&long[..2], &[0x82, 0xFF], "a 64-bit length, masked");
    let mut decoder = Decoder::new(Role::Server, 1 << 20);
    for piece in long.chunks(1000) {
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.receive(piece);
    }
    let frame = decoder.next_frame().unwrap().unwrap();
    assert_eq!(frame.payload.len(), 70_000);
    assert!(frame.payload.iter().all(|&b| b == 7));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn encoding_matches_the_rfc_bytes() {
    let mut out = BytesMut::new();
    encode(Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]), &mut out);
    assert_eq!(&out[..], &MASKED_HELLO);
    let mut out = BytesMut::new();
    encode(Opcode::Binary, &[0u8; 256], None, &mut out);
    assert_eq!(&out[..4], &[0x82, 0x7E, 0x01, 0x00]);
    let mut out = BytesMut::new();
    encode(Opcode::Binary, &vec![0u8; 65536], None, &mut out);
    assert_eq!(&out[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
}

#[test]
fn bad_frames_get_the_close_they_call_for() {
    let unmasked_from_client = [0x82, 0x01, 0x00];
    assert_eq!(refusal(Role::Server, &unmasked_from_client).code, CloseCode::PROTOCOL_ERROR);
    assert_eq!(refusal(Role::Client, &MASKED_HELLO).code, CloseCode::PROTOCOL_ERROR);
    let reserved_bit = [0xC2, 0x80, 0, 0, 0, 0];
    assert_eq!(refusal(Role::Server, &reserved_bit).code, CloseCode::PROTOCOL_ERROR);
    let unknown_opcode = [0x83, 0x80, 0, 0, 0, 0];
    assert_eq!(refusal(Role::Server, &unknown_opcode).code, CloseCode::PROTOCOL_ERROR);
    let fragmented_ping = [0x09, 0x80, 0, 0, 0, 0];
    assert_eq!(refusal(Role::Server, &fragmented_ping).code, CloseCode::PROTOCOL_ERROR);
    let long_ping = [0x89, 0xFE, 0x00, 0x7E];
    assert_eq!(refusal(Role::Server, &long_ping).code, CloseCode::PROTOCOL_ERROR);
    let lone_continuation = [0x80, 0x80, 0, 0, 0, 0];
    assert_eq!(refusal(Role::Server, &lone_continuation).code, CloseCode::PROTOCOL_ERROR);
    let top_bit_length = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(refusal(Role::Server, &top_bit_length).code, CloseCode::PROTOCOL_ERROR);

    let mut decoder = Decoder::new(Role::Server, 1 << 20);
    decoder.receive(&[0x02, 0x80, 0, 0, 0, 0, 0x82, 0x80, 0, 0, 0, 0]);
    decoder.next_frame().unwrap().unwrap();
    let interleaved = decoder.next_frame().expect_err("a new message inside a fragmented one");
    assert_eq!(interleaved.code, CloseCode::PROTOCOL_ERROR);
}

#[test]
fn an_oversized_frame_is_refused_from_its_header() {
    let mut decoder = Decoder::new(Role::Server, 1024);
    decoder.receive(&[0x82, 0xFE, 0x04, 0x01, 1, 2, 3, 4]);
    let close = decoder.next_frame().expect_err("1025 bytes are over the limit");
    assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
    assert!(close.reason.contains("1025"), "{close}");
}

#[test]
fn close_payloads_are_checked() {
    let masked_close = |payload: &[u8]| {
        let mut out = BytesMut::new();
        encode(Opcode::Close, payload, Some([9, 8, 7, 6]), &mut out);
        decode_one(Role::Server, &out)
    };
    let fine = masked_close(&[0x03, 0xE8, b'b', b'y', b'e']).unwrap().unwrap();
    assert_eq!(CloseFrame::parse(&fine.payload).unwrap(), CloseFrame::new(CloseCode::NORMAL, "bye"));
    assert!(masked_close(&[]).unwrap().is_some(), "a close with no code is fine");
    assert_eq!(masked_close(&[0x03]).unwrap_err().code, CloseCode::PROTOCOL_ERROR);
    assert_eq!(masked_close(&[0x03, 0xED]).unwrap_err().code, CloseCode::PROTOCOL_ERROR, "1005 is never sent");
    assert_eq!(masked_close(&[0x03, 0xE8, 0xC3, 0x28]).unwrap_err().code, CloseCode::INVALID_PAYLOAD);
    assert!(masked_close(&[0x0F, 0xA0]).unwrap().is_some(), "4000 is an application's code");
}

#[test]
fn close_reasons_are_cut_to_fit_at_a_character() {
    let long = "é".repeat(100);
    let close = CloseFrame::new(CloseCode::POLICY_VIOLATION, &long);
    assert_eq!(close.reason.len(), 122);
    assert_eq!(close.payload().len(), 124);
    assert_eq!(CloseFrame::parse(&close.payload()).unwrap(), close);
}

#[test]
fn the_handshake_follows_rfc_6455_and_rfc_8441() {
    assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");

    let mut headers = HeaderMap::new();
    headers.insert("upgrade", "WebSocket".parse().unwrap());
    headers.insert("connection", "keep-alive, Upgrade".parse().unwrap());
    headers.insert("sec-websocket-version", "13".parse().unwrap());
    headers.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
    let opening = check(&Method::GET, Version::HTTP_11, &headers, None).unwrap();
    assert_eq!(opening, Opening::Upgrade { accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into() });
    assert_eq!(check(&Method::POST, Version::HTTP_11, &headers, None).unwrap_err().status, StatusCode::METHOD_NOT_ALLOWED);

    let mut bad_key = headers.clone();
    bad_key.insert("sec-websocket-key", "c2hvcnQ=".parse().unwrap());
    assert_eq!(check(&Method::GET, Version::HTTP_11, &bad_key, None).unwrap_err().status, StatusCode::BAD_REQUEST);
    let mut no_upgrade = headers.clone();
    no_upgrade.remove("connection");
    assert_eq!(check(&Method::GET, Version::HTTP_11, &no_upgrade, None).unwrap_err().status, StatusCode::UPGRADE_REQUIRED);

    let mut h2 = HeaderMap::new();
    h2.insert("sec-websocket-version", "13".parse().unwrap());
    assert_eq!(check(&Method::CONNECT, Version::HTTP_2, &h2, Some("websocket")).unwrap(), Opening::ExtendedConnect);
    assert!(check(&Method::CONNECT, Version::HTTP_2, &h2, None).is_err(), "a plain CONNECT is no WebSocket");
    assert!(check(&Method::CONNECT, Version::HTTP_2, &HeaderMap::new(), Some("websocket")).is_err());
}

#[test]
fn wisp_packets_round_trip_and_bad_ones_are_refused() {
    let connect = [0x01, 0x2A, 0, 0, 0, 0x01, 0xBB, 0x01, b'a', b'.', b'b'];
    let packet = Packet::parse(Bytes::copy_from_slice(&connect)).unwrap();
    assert_eq!(packet, Packet::Connect { stream: 42, kind: STREAM_TCP, port: 443, host: "a.b".into() });
    assert_eq!(&packet.encode()[..], &connect);
    let packets = [
        Packet::Data { stream: 7, payload: Bytes::from_static(b"bytes") },
        Packet::Continue { stream: 0, buffer: 128 },
        Packet::Close { stream: 7, reason: Reason::BLOCKED },
    ];
    for packet in packets {
        assert_eq!(Packet::parse(packet.encode()).unwrap(), packet);
    }
    assert_eq!(&Packet::Continue { stream: 0, buffer: 128 }.encode()[..], &[0x03, 0, 0, 0, 0, 0x80, 0, 0, 0]);
    let bad: [&[u8]; 4] = [&[0x02, 0, 0], &[0x01, 1, 0, 0, 0, 1], &[0x04, 1, 0, 0, 0], &[0x09, 1, 0, 0, 0]];
    for bytes in bad {
        assert!(matches!(Packet::parse(Bytes::copy_from_slice(bytes)), Err(InvalidPacket(_))), "{bytes:?}");
    }
}
