//! The one error type of paf. Its variants are what a caller can act on;
//! its messages say what happened and, where it helps, what to do.

use std::io;

use crate::h1::ParseError;
use crate::mimic::ResolveError;
use crate::BoxError;

/// Everything that can go wrong in paf.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (reset, refused, broken pipe, ...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer sent bytes that are not valid HTTP/1.1.
    #[error("malformed HTTP/1.1 message from the peer: {0}")]
    Parse(#[from] ParseError),
    /// No transport could be built from the context: what each protocol
    /// lacked or answered is listed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A TLS handshake failed, or a certificate, key or server name cannot
    /// be used; the message says which and what to do.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A timeout from [`Config`](crate::Config) expired.
    #[error("timed out: {0}")]
    Timeout(Timeout),
    /// The peer closed the connection before the message was complete.
    #[error("the connection closed before the message was complete")]
    IncompleteMessage,
    /// The connection was closed, or the request was dropped, before an
    /// answer came.
    #[error("the connection is closed")]
    Closed,
    /// A body (ours or the handler's) failed while being streamed.
    #[error("body error: {0}")]
    Body(BoxError),
    /// A request or response that paf cannot send as it is, for example a
    /// body longer than its own `Content-Length`.
    #[error("cannot send this message: {0}")]
    InvalidMessage(String),
    /// The handler panicked; its request was answered with a `500`.
    #[error("the handler panicked: {0}")]
    HandlerPanicked(String),
    /// A URL that paf cannot use.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Which timeout expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Timeout {
    /// The request head did not arrive in time (slowloris).
    #[error("the request head was not received within the header timeout")]
    Header,
    /// A body stalled for longer than the body timeout.
    #[error("no body bytes moved within the body timeout")]
    Body,
    /// A keep-alive connection stayed idle for longer than the idle timeout.
    #[error("the connection was idle for longer than the idle timeout")]
    Idle,
    /// Connecting took longer than the connect timeout.
    #[error("connecting took longer than the connect timeout")]
    Connect,
    /// The whole request took longer than the request timeout.
    #[error("the response did not come within the request timeout")]
    Request,
}

impl Error {
    /// Wraps any body error, keeping a paf error as it is.
    pub(crate) fn body(err: impl Into<BoxError>) -> Error {
        let err = err.into();
        match err.downcast::<Error>() {
            Ok(err) => *err,
            Err(err) => Error::Body(err),
        }
    }
}
