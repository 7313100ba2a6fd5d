//! Sans-IO HTTP/1.1 (RFC 9112), server and client, on `httparse`.
//!
//! The machines here never see a socket or a clock: the driver feeds them
//! the bytes it read ([`Conn::receive`]), takes events out
//! ([`Conn::poll_event`]), hands them the messages to send, and writes
//! whatever they queue in their [`WriteQueue`]. They also say which timer
//! phase they are in ([`Conn::phase`]): the driver owns the clock and only
//! arms the timeout of that [`Phase`]. Every rule of RFC 9112 lives here and
//! is tested with byte fixtures; the driver in [`crate::engine`] only moves
//! bytes and arms timeouts. [`ServerConn`] and [`ClientConn`] document each
//! role's contract with the driver.
//!
//! Parsing is strict where leniency lets requests be smuggled: a message
//! with both `Content-Length` and `Transfer-Encoding`, differing or malformed
//! lengths, a transfer coding other than a final `chunked`, bad chunk sizes,
//! obs-fold, whitespace before a colon, a missing or repeated `Host`, a bare
//! CR or LF as a line end are all rejected. A server answers each rejection
//! with one status response and then closes; it never guesses where the
//! next message starts.
//!
//! Both roles are one connection core, [`Conn`], with a role type that
//! holds what differs ([`ServerConn`] is `Conn<Server>`, [`ClientConn`] is
//! `Conn<Client>`). By file:
//!
//! - `conn`: the core — receiving, delimiting heads, decoding the peer's
//!   body, framing our own, closing, upgrading, the timer phase.
//! - `server`, `client`: the roles — what a request or response head means,
//!   the events, sending a response or a request, when an exchange is over.
//! - `scan`: where a head ends (enforcing limits and line rules before
//!   anything is parsed, so a slow or oversized head never grows the buffer
//!   past the limits); `parse`: a head into `http` types; `fields`: the
//!   framing fields.
//! - `decode`, `encode`: body framing (by length, chunked, until close)
//!   without copying; `input`: the receive buffer; `queue`: the output.

mod client;
mod conn;
mod decode;
mod encode;
mod fields;
mod input;
mod parse;
mod queue;
mod scan;
mod server;
#[cfg(test)]
mod tests;

pub use client::{Client, ClientConn, ClientEvent};
pub use conn::{Conn, Phase, Role};
pub use queue::WriteQueue;
pub use server::{Server, ServerConn, ServerEvent};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// Limits on what a peer may send. Part of [`crate::Config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line (method, target, version). Longer gets 414.
    /// Default 8 KiB.
    pub max_request_line: usize,
    /// Most header fields in one head. More gets 431. Default 100.
    pub max_headers: usize,
    /// Largest head (start line and all fields). Larger gets 431.
    /// Default 64 KiB.
    pub max_head_bytes: usize,
    /// Largest single header field line. Larger gets 431. Default 8 KiB.
    pub max_header_line: usize,
    /// Most bytes buffered ahead of the message being processed (pipelined
    /// requests, body bytes not yet taken). Reading pauses beyond it.
    /// Default 64 KiB.
    pub max_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_headers: 100,
            max_head_bytes: 64 * 1024,
            max_header_line: 8 * 1024,
            max_buffer: 64 * 1024,
        }
    }
}

/// Why a message from the peer was rejected. On a server, each has the
/// status code that is sent back before the connection closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The start line or a header field is not valid HTTP.
    #[error("malformed message head: {0}")]
    Malformed(&'static str),
    /// The request line is longer than `Limits::max_request_line`.
    #[error("request line longer than the limit")]
    RequestLineTooLong,
    /// Too many header fields, a field too long, or a head too large.
    #[error("header fields too large or too many")]
    HeadersTooLarge,
    /// A header field is folded over several lines (obs-fold).
    #[error("obsolete line folding in a header field")]
    ObsFold,
    /// Whitespace between a field name and its colon.
    #[error("whitespace before the colon of a header field")]
    WhitespaceBeforeColon,
    /// An HTTP/1.1 request without `Host`, or with more than one.
    #[error("an HTTP/1.1 request needs exactly one Host header")]
    BadHost,
    /// `Content-Length` together with `Transfer-Encoding`.
    #[error("both Content-Length and Transfer-Encoding are present")]
    LengthAndTransferEncoding,
    /// A `Content-Length` that is malformed, or several that differ.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// A transfer coding other than `chunked` (not implemented: 501).
    #[error("unsupported Transfer-Encoding (only \"chunked\" is implemented)")]
    BadTransferEncoding,
    /// A `Transfer-Encoding` where `chunked` is not the final coding, is
    /// repeated, or an element is empty; or one in an HTTP/1.0 request.
    #[error("invalid Transfer-Encoding (\"chunked\" must be the final coding, once, on HTTP/1.1)")]
    InvalidTransferEncoding,
    /// A malformed chunk size line or one that overflows.
    #[error("invalid chunk size")]
    BadChunk,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    #[error("unsupported HTTP version")]
    BadVersion,
    /// The peer closed in the middle of a message.
    #[error("the peer closed in the middle of a message")]
    Incomplete,
}

impl ParseError {
    /// The status a server sends before closing.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            ParseError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ParseError::BadTransferEncoding => StatusCode::NOT_IMPLEMENTED,
            ParseError::BadVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// How the body of a received message is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Known(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes (responses only, RFC 9112 §6.3 rule 8).
    UntilClose,
}

/// What the sender knows of a body it is about to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySize {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Known(u64),
    /// Not known in advance: chunked on HTTP/1.1, close-delimited on 1.0.
    Unknown,
}

/// A received request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The target as sent: origin-form, absolute-form, authority-form or `*`.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, in order, names lower-cased.
    pub headers: HeaderMap,
    /// How the request body is framed.
    pub body: BodyLength,
    /// The request carries `Expect: 100-continue`.
    pub expect_continue: bool,
    /// The request asks for an upgrade (`Upgrade` + `Connection: upgrade`,
    /// or `CONNECT`).
    pub upgrade: bool,
}

/// A received response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// How the response body is framed (RFC 9112 §6.3).
    pub body: BodyLength,
}

/// A body chunk, as events carry it.
pub type Chunk = Bytes;
