//! [`ParseError`]: why HTTP/1.1 input from a peer was rejected, with the
//! status a server answers it with.

use http::StatusCode;

/// Why a message from the peer was rejected. On a server, each has the
/// status code that is sent back before the connection closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The start line or a header field is not valid HTTP.
    #[error("malformed message head: {0}")]
    Malformed(&'static str),
    /// The request line is longer than [`Limits::max_request_line`](crate::h1::Limits::max_request_line).
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
