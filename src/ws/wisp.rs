//! Wisp v1 packets, sans-IO: many TCP streams over one WebSocket, each
//! packet one binary message (the protocol of MercuryWorkshop's
//! wisp-protocol, spoken by libcurl.js and epoxy-tls).
//!
//! A packet is a type byte, a stream id (u32, little-endian) and a
//! payload: CONNECT (stream type, port u16 LE, host name), DATA (bytes),
//! CONTINUE (how many more DATA packets the sender may send, u32 LE) and
//! CLOSE (a reason byte). Stream 0 is the connection itself: the server's
//! first packet is a CONTINUE on it, the buffer every new stream starts
//! with.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The kind of stream a CONNECT asks for.
pub const STREAM_TCP: u8 = 0x01;
/// A UDP stream (not relayed by paf's bridge: CLOSE with
/// [`Reason::INVALID`]).
pub const STREAM_UDP: u8 = 0x02;

/// A CLOSE packet's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(pub u8);

impl Reason {
    /// 0x02: closed on purpose (the peer closed, the stream is done).
    pub const VOLUNTARY: Reason = Reason(0x02);
    /// 0x03: the connection to the destination failed.
    pub const NETWORK_ERROR: Reason = Reason(0x03);
    /// 0x41: the CONNECT was not valid.
    pub const INVALID: Reason = Reason(0x41);
    /// 0x42: the destination could not be reached (not resolved).
    pub const UNREACHABLE: Reason = Reason(0x42);
    /// 0x43: connecting took too long.
    pub const CONNECT_TIMEOUT: Reason = Reason(0x43);
    /// 0x44: the destination refused the connection.
    pub const REFUSED: Reason = Reason(0x44);
    /// 0x47: the stream was idle too long.
    pub const TIMEOUT: Reason = Reason(0x47);
    /// 0x48: the server's policy forbids the destination.
    pub const BLOCKED: Reason = Reason(0x48);
    /// 0x49: a connection limit was reached.
    pub const THROTTLED: Reason = Reason(0x49);
}

/// One packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Open stream `stream` to `host:port`.
    Connect {
        /// The new stream's id.
        stream: u32,
        /// [`STREAM_TCP`] or [`STREAM_UDP`].
        kind: u8,
        /// The destination port.
        port: u16,
        /// The destination host name or address.
        host: String,
    },
    /// Bytes of a stream.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        payload: Bytes,
    },
    /// The sender of DATA may send `buffer` more packets on `stream`.
    Continue {
        /// The stream (0: the connection's initial buffer).
        stream: u32,
        /// How many DATA packets fit in the receiver's buffer.
        buffer: u32,
    },
    /// Stream `stream` is closed.
    Close {
        /// The stream.
        stream: u32,
        /// Why.
        reason: Reason,
    },
}

/// A packet that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Wisp packet: {0}")]
pub struct InvalidPacket(pub &'static str);

impl Packet {
    /// Reads one packet (one binary WebSocket message).
    pub fn parse(mut bytes: Bytes) -> Result<Packet, InvalidPacket> {
        if bytes.len() < 5 {
            return Err(InvalidPacket("shorter than its 5-byte header"));
        }
        let kind = bytes.get_u8();
        let stream = bytes.get_u32_le();
        Ok(match kind {
            0x01 => {
                if bytes.len() < 3 {
                    return Err(InvalidPacket("a CONNECT without its stream type and port"));
                }
                let kind = bytes.get_u8();
                let port = bytes.get_u16_le();
                let host = String::from_utf8(bytes.to_vec()).map_err(|_| InvalidPacket("a host name that is not UTF-8"))?;
                Packet::Connect { stream, kind, port, host }
            }
            0x02 => Packet::Data { stream, payload: bytes },
            0x03 if bytes.len() == 4 => Packet::Continue { stream, buffer: bytes.get_u32_le() },
            0x04 if bytes.len() == 1 => Packet::Close { stream, reason: Reason(bytes.get_u8()) },
            0x03 | 0x04 => return Err(InvalidPacket("a CONTINUE or CLOSE of the wrong length")),
            _ => return Err(InvalidPacket("unknown packet type")),
        })
    }

    /// The packet's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Packet::Connect { stream, kind, port, host } => {
                out.put_u8(0x01);
                out.put_u32_le(*stream);
                out.put_u8(*kind);
                out.put_u16_le(*port);
                out.put_slice(host.as_bytes());
            }
            Packet::Data { stream, payload } => {
                out.reserve(5 + payload.len());
                out.put_u8(0x02);
                out.put_u32_le(*stream);
                out.put_slice(payload);
            }
            Packet::Continue { stream, buffer } => {
                out.put_u8(0x03);
                out.put_u32_le(*stream);
                out.put_u32_le(*buffer);
            }
            Packet::Close { stream, reason } => {
                out.put_u8(0x04);
                out.put_u32_le(*stream);
                out.put_u8(reason.0);
            }
        }
        out.freeze()
    }
}
