//! The opening handshake, server side: HTTP/1.1 Upgrade (RFC 6455 §4.2)
//! and HTTP/2 extended CONNECT (RFC 8441 §4), checked from a request head.

use http::header::{HeaderMap, CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{Method, StatusCode, Version};

/// The GUID RFC 6455 §1.3 appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// How a request asked for a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// An HTTP/1.1 Upgrade: answer `101` with this `Sec-WebSocket-Accept`.
    Upgrade {
        /// The value of the answer's `Sec-WebSocket-Accept`.
        accept: String,
    },
    /// An HTTP/2 extended CONNECT (`:protocol websocket`): answer `200`.
    ExtendedConnect,
}

/// Why a request is not a WebSocket opening, and the status to answer it
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotWebSocket {
    /// 400, 405 or 426.
    pub status: StatusCode,
    /// What was wrong, for the body of the answer.
    pub reason: &'static str,
}

fn refuse(status: StatusCode, reason: &'static str) -> NotWebSocket {
    NotWebSocket { status, reason }
}

/// Checks a request head. `protocol` is the `:protocol` pseudo-header of
/// an HTTP/2 CONNECT, if it had one.
pub fn check(method: &Method, version: Version, headers: &HeaderMap, protocol: Option<&str>) -> Result<Opening, NotWebSocket> {
    if version_13(headers).is_none() {
        return Err(refuse(StatusCode::UPGRADE_REQUIRED, "a WebSocket opening with Sec-WebSocket-Version: 13 is required"));
    }
    if version == Version::HTTP_2 {
        if method != Method::CONNECT || !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
            return Err(refuse(StatusCode::BAD_REQUEST, "over HTTP/2, a WebSocket opens by CONNECT with :protocol websocket"));
        }
        return Ok(Opening::ExtendedConnect);
    }
    if method != Method::GET {
        return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "a WebSocket opening is a GET"));
    }
    let upgrade = headers.get(UPGRADE).and_then(|v| v.to_str().ok());
    if !upgrade.is_some_and(|u| has_token(u, "websocket")) || !connection_upgrades(headers) {
        return Err(refuse(StatusCode::UPGRADE_REQUIRED, "Upgrade: websocket and Connection: upgrade are required"));
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).map(str::trim);
    match key {
        Some(key) if is_nonce(key) => Ok(Opening::Upgrade { accept: accept_key(key) }),
        _ => Err(refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key must be 16 bytes in base64")),
    }
}

fn version_13(headers: &HeaderMap) -> Option<()> {
    (headers.get(SEC_WEBSOCKET_VERSION)?.as_bytes().trim_ascii() == b"13").then_some(())
}

fn connection_upgrades(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| has_token(v, "upgrade"))
}

fn has_token(list: &str, token: &str) -> bool {
    list.split(',').any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// 16 bytes in base64: 22 characters of the alphabet and `==`.
fn is_nonce(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: the base64
/// of the SHA-1 of the key and the GUID.
pub fn accept_key(key: &str) -> String {
    let mut input = String::with_capacity(key.len() + ACCEPT_GUID.len());
    input.push_str(key);
    input.push_str(ACCEPT_GUID);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, input.as_bytes());
    base64(digest.as_ref())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * i) & 0x3F) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
