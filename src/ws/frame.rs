//! RFC 6455 frames, sans-IO: a [`Decoder`] that takes bytes and gives
//! whole frames (unmasked) or the close a bad frame calls for, and
//! [`encode`] for the frames we send.
//!
//! The decoder enforces what RFC 6455 §5 asks of a receiver that
//! negotiated no extension: the reserved bits are zero, the opcode is
//! known, control frames are final and at most 125 bytes, continuations
//! continue a message, a client's frames are masked and a server's are
//! not; a frame longer than the limit is refused with 1009 before its
//! payload is buffered; a close frame's code is one a peer may send and
//! its reason UTF-8.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::close::{CloseCode, CloseFrame};

/// Which end of the connection this is. A server receives masked frames
/// and sends unmasked ones; a client the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that accepted the handshake.
    Server,
    /// The end that asked for it.
    Client,
}

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of a text or binary message.
    Continuation,
    /// The first fragment of a UTF-8 text message.
    Text,
    /// The first fragment of a binary message.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, answered by a pong with the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame, its payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The last fragment of its message.
    pub fin: bool,
    /// What the frame is.
    pub opcode: Opcode,
    /// Its payload, unmasked.
    pub payload: Bytes,
}

/// Turns received bytes into frames. See the module documentation for
/// what it refuses.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_payload: usize,
    buffered: BytesMut,
    /// The opcode of the message whose fragments are arriving.
    in_message: Option<Opcode>,
}

impl Decoder {
    /// A decoder for `role` that refuses frames of more than
    /// `max_payload` bytes.
    pub fn new(role: Role, max_payload: usize) -> Decoder {
        Decoder { role, max_payload, buffered: BytesMut::new(), in_message: None }
    }

    /// Bytes read from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.buffered.extend_from_slice(bytes);
    }

    /// How many bytes were received and are not yet part of a frame.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// The next whole frame, `None` until one is complete, or the close
    /// the connection must end with. After an error the decoder is not to
    /// be used again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CloseFrame> {
        let Some(header) = self.header()? else { return Ok(None) };
        if self.buffered.len() < header.length + header.payload_length {
            return Ok(None);
        }
        self.buffered.advance(header.length);
        let mut payload = self.buffered.split_to(header.payload_length);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key);
        }
        let frame = Frame { fin: header.fin, opcode: header.opcode, payload: payload.freeze() };
        match frame.opcode {
            Opcode::Close => {
                CloseFrame::parse(&frame.payload)?;
            }
            Opcode::Ping | Opcode::Pong => {}
            Opcode::Continuation => {
                if frame.fin {
                    self.in_message = None;
                }
            }
            Opcode::Text | Opcode::Binary => {
                if !frame.fin {
                    self.in_message = Some(frame.opcode);
                }
            }
        }
        Ok(Some(frame))
    }

    /// The next frame's header once all of it is buffered, checked.
    fn header(&self) -> Result<Option<Header>, CloseFrame> {
        let bytes = &self.buffered[..];
        if bytes.len() < 2 {
            return Ok(None);
        }
        let protocol_error = |reason: &str| CloseFrame::new(CloseCode::PROTOCOL_ERROR, reason);
        let fin = bytes[0] & 0x80 != 0;
        if bytes[0] & 0x70 != 0 {
            return Err(protocol_error("reserved bits set without an extension"));
        }
        let opcode = Opcode::from_bits(bytes[0] & 0x0F).ok_or_else(|| protocol_error("unknown opcode"))?;
        let masked = bytes[1] & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(protocol_error("a client frame must be masked")),
            (Role::Client, true) => return Err(protocol_error("a server frame must not be masked")),
            _ => {}
        }
        let (payload_length, mut length) = match bytes[1] & 0x7F {
            126 if bytes.len() < 4 => return Ok(None),
            126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() < 10 => return Ok(None),
            127 => {
                let length = u64::from_be_bytes(bytes[2..10].try_into().expect("eight bytes"));
                if length >> 63 != 0 {
                    return Err(protocol_error("the payload length's top bit is set"));
                }
                (length, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(protocol_error("a control frame must not be fragmented"));
            }
            if payload_length > 125 {
                return Err(protocol_error("a control frame carries at most 125 bytes"));
            }
        } else {
            match (opcode, self.in_message) {
                (Opcode::Continuation, None) => return Err(protocol_error("a continuation with no message to continue")),
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return Err(protocol_error("a new message before the last one ended"))
                }
                _ => {}
            }
        }
        if payload_length > self.max_payload as u64 {
            let reason = format!("frame of {payload_length} bytes, more than {}", self.max_payload);
            return Err(CloseFrame::new(CloseCode::MESSAGE_TOO_BIG, &reason));
        }
        let mask = if masked {
            if bytes.len() < length + 4 {
                return Ok(None);
            }
            let key = bytes[length..length + 4].try_into().expect("four bytes");
            length += 4;
            Some(key)
        } else {
            None
        };
        Ok(Some(Header { fin, opcode, mask, length, payload_length: payload_length as usize }))
    }
}

struct Header {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    /// The header's own length, mask key included.
    length: usize,
    payload_length: usize,
}

/// XORs `bytes` with the masking key (RFC 6455 §5.3); the same operation
/// masks and unmasks.
pub fn apply_mask(bytes: &mut [u8], key: [u8; 4]) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Appends one final frame to `out`. A client passes the masking key of
/// the frame (fresh and random for each, RFC 6455 §5.3); a server `None`.
pub fn encode(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>, out: &mut BytesMut) {
    out.reserve(14 + payload.len());
    out.put_u8(0x80 | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        length @ 0..=125 => out.put_u8(mask_bit | length as u8),
        length @ 126..=0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(length as u16);
        }
        length => {
            out.put_u8(mask_bit | 127);
            out.put_u64(length as u64);
        }
    }
    let start = out.len();
    if let Some(key) = mask {
        out.put_slice(&key);
    }
    out.put_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start + 4..], key);
    }
}
