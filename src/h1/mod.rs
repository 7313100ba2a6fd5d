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
/// For the fuzz targets in `fuzz/` only (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
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
pub use crate::error::ParseError;

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
