//! Close codes and close frames (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes, BytesMut};

/// A close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (a server shutting down, an idle
    /// connection closed).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data this endpoint does not take (text, for a
    /// bridge of bytes).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: what a close frame without a code reads as; never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1007: a text message or close reason that is not UTF-8.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: refused by policy (a target not allowed, an origin not
    /// allowed).
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message too big to take.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: the server failed.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1013: try again later (a connection limit was reached).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: the server, a gateway, could not reach the upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// Whether a peer may put this code in a close frame: the codes RFC
    /// 6455 and its registry define for sending, and 3000–4999 (libraries
    /// and applications).
    pub fn may_be_sent(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The payload of a close frame: a code and a reason of at most 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection closes.
    pub code: CloseCode,
    /// What a person can read about it (UTF-8, may be empty).
    pub reason: String,
}

impl CloseFrame {
    /// A close with `code` and `reason`, the reason cut at a character
    /// boundary to fit a control frame.
    pub fn new(code: CloseCode, reason: &str) -> CloseFrame {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame { code, reason: reason[..end].to_owned() }
    }

    /// Reads a received close payload: empty (no code, read as 1005), or a
    /// code a peer may send and a UTF-8 reason. A bad one is answered
    /// with the close it calls for: 1002 for a bad length or code, 1007
    /// for a reason that is not UTF-8.
    pub fn parse(payload: &[u8]) -> Result<CloseFrame, CloseFrame> {
        match payload {
            [] => Ok(CloseFrame { code: CloseCode::NO_STATUS, reason: String::new() }),
            [_] => Err(CloseFrame::new(CloseCode::PROTOCOL_ERROR, "a close payload of one byte")),
            [high, low, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*high, *low]));
                if !code.may_be_sent() {
                    let reason = format!("close code {} may not be sent", code.0);
                    return Err(CloseFrame::new(CloseCode::PROTOCOL_ERROR, &reason));
                }
                let reason = std::str::from_utf8(reason)
                    .map_err(|_| CloseFrame::new(CloseCode::INVALID_PAYLOAD, "a close reason that is not UTF-8"))?;
                Ok(CloseFrame { code, reason: reason.to_owned() })
            }
        }
    }

    /// The payload to send: the code, then the reason. A close read as
    /// 1005 is sent with no payload.
    pub fn payload(&self) -> Bytes {
        if self.code == CloseCode::NO_STATUS {
            return Bytes::new();
        }
        let mut out = BytesMut::with_capacity(2 + self.reason.len());
        out.put_u16(self.code.0);
        out.put_slice(self.reason.as_bytes());
        out.freeze()
    }
}

impl std::fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.0)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}
