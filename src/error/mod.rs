//! The one error type of paf. Its variants are what a caller can act on;
//! its messages say what happened and, where it helps, what to do.

use std::io;

use crate::mimic::{Failure, FoldFailure, ResolveError, Unavailable};
use crate::BoxError;

mod parse;
pub(crate) mod tls;

pub use parse::ParseError;
pub use tls::TlsError;

/// Everything that can go wrong in paf.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (reset, refused, broken pipe, ...).
    #[error("I/O error: {0}")]
    Io(io::Error),
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
    Tls(#[from] TlsError),
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
    /// An HTTP/2 stream or connection ended abnormally: reset by either
    /// side (RST_STREAM), closed by GOAWAY, or a protocol violation.
    #[error(transparent)]
    Http2(#[from] Http2Error),
    /// A URL that paf cannot use.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client could not connect to a server. `kind` says why in a
    /// word; the message has what each transport tried answered.
    #[error("cannot connect to {origin}: {source}")]
    Connect {
        /// Where it tried to connect (`https://example.com:443`).
        origin: String,
        /// Why, for a program to act on.
        kind: ConnectFailure,
        /// What each transport answered.
        source: ResolveError,
    },
    /// A chain of redirects longer than the client follows (a loop,
    /// usually).
    #[error("too many redirects: gave up after {max}, the last one to {url} (a redirect loop?)")]
    TooManyRedirects {
        /// How many redirects the client follows.
        max: usize,
        /// Where the last redirect pointed.
        url: String,
    },
    /// A redirect from `https` to `http`, which the client does not follow
    /// unless told to: what TLS protected would go out in clear text.
    #[error("refused to follow the redirect from {from} to {to}: it leaves https for clear text")]
    InsecureRedirect {
        /// The URL that answered with the redirect.
        from: String,
        /// Where it pointed.
        to: String,
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
    /// An HTTP/2 PING went unanswered for the keep-alive timeout: the
    /// peer is gone ([`Settings::keep_alive_interval`](crate::engine::h2::Settings::keep_alive_interval)).
    #[error("the peer did not answer a PING within the keep-alive timeout")]
    KeepAlive,
}

/// Why a connection could not be made, in a word (see
/// [`Error::Connect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The host name could not be resolved to an address: a lookup that
    /// failed (deriving the addresses), or a transport that looks names up
    /// itself and answered "not found" (a JS `connect`'s `ENOTFOUND`).
    Dns,
    /// Nothing accepts connections at the address (or the socket path).
    Refused,
    /// The TLS handshake failed: a certificate refused, no common
    /// protocol, a peer that does not speak TLS.
    Tls,
    /// Anything else (an unreachable network, a transport of the user's).
    Other,
}

impl ConnectFailure {
    /// The likeliest reason of a failed resolution, over all the
    /// protocols it tried: a TLS failure first (the server was reached),
    /// then a refusal, then a name not found.
    ///
    /// A protocol's connect error is classified by what it is, looked for
    /// along its [`source`](std::error::Error::source) chain: a
    /// [`TlsError`] is [`Tls`](Self::Tls); an I/O error
    /// `ConnectionRefused` is [`Refused`](Self::Refused) and `NotFound`
    /// (how paf's platforms say a name was not found) is
    /// [`Dns`](Self::Dns). So a failure to open the flow under TLS
    /// ([`mimic::Underlying`](crate::mimic::Underlying)) keeps its own
    /// kind rather than counting as TLS's.
    pub fn of(err: &ResolveError) -> ConnectFailure {
        err.attempts()
            .iter()
            .map(|attempt| ConnectFailure::of_failure(&attempt.failure))
            .min_by_key(|kind| match kind {
                ConnectFailure::Tls => 0,
                ConnectFailure::Refused => 1,
                ConnectFailure::Dns => 2,
                ConnectFailure::Other => 3,
            })
            .unwrap_or(ConnectFailure::Other)
    }

    fn of_failure(failure: &Failure) -> ConnectFailure {
        match failure {
            Failure::Connect(err) => ConnectFailure::of_connect(&**err),
            // A derivation that failed (rather than lacked something) is a
            // lookup: DNS, or whatever the context resolves names with.
            Failure::Unavailable(why) if derivation_failed(why) => ConnectFailure::Dns,
            _ => ConnectFailure::Other,
        }
    }

    fn of_connect(err: &(dyn std::error::Error + 'static)) -> ConnectFailure {
        let mut next = Some(err);
        while let Some(err) = next {
            if err.is::<TlsError>() {
                return ConnectFailure::Tls;
            }
            match err.downcast_ref::<io::Error>().map(io::Error::kind) {
                Some(io::ErrorKind::ConnectionRefused) => return ConnectFailure::Refused,
                Some(io::ErrorKind::NotFound) => return ConnectFailure::Dns,
                _ => next = err.source(),
            }
        }
        ConnectFailure::Other
    }
}

fn derivation_failed(why: &Unavailable) -> bool {
    match why {
        Unavailable::Folds { failures, .. } => failures.iter().any(|failure| match failure {
            FoldFailure::Failed { .. } => true,
            FoldFailure::Lacked { why, .. } => derivation_failed(why),
            _ => false,
        }),
        _ => false,
    }
}

/// How an HTTP/2 stream or connection ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Http2Error {
    /// A stream was reset (RST_STREAM): by the peer, or by this side
    /// (a handler's body failed, a late frame, a malformed message).
    #[error("stream reset by {}: {reason}", by(*by_peer))]
    StreamReset {
        /// The error code of the RST_STREAM frame.
        reason: Reason,
        /// Whether the peer sent it.
        by_peer: bool,
    },
    /// The connection was closed with GOAWAY before the stream completed.
    #[error("connection closed by {} (GOAWAY): {reason}", by(*by_peer))]
    GoAway {
        /// The error code of the GOAWAY frame.
        reason: Reason,
        /// Whether the peer sent it.
        by_peer: bool,
    },
    /// Anything else the HTTP/2 layer reports (a frame that breaks the
    /// protocol, a message that cannot be sent as HTTP/2, ...).
    #[error("HTTP/2 error: {0}")]
    Protocol(String),
}

fn by(by_peer: bool) -> &'static str {
    if by_peer {
        "the peer"
    } else {
        "this side"
    }
}

/// An HTTP/2 error code (RFC 9113 §7), as carried by RST_STREAM and
/// GOAWAY; it displays as its name (`CANCEL`, `PROTOCOL_ERROR`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(u32);

impl Reason {
    /// Graceful shutdown, or a stream that is no longer needed.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// An unexpected internal error (a handler's body failed).
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// The peer broke flow control.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// SETTINGS were not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// A frame arrived on a half-closed stream.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// A frame had an invalid size.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// The stream was refused before any processing: safe to retry.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: Reason = Reason(0x8);
    /// The header compression context broke.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// A CONNECT tunnel's connection failed.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// The peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// The transport's security is too weak for HTTP/2.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// The peer wants HTTP/1.1 for this request.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// The error code on the wire.
    pub fn code(self) -> u32 {
        self.0
    }

    fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl From<u32> for Reason {
    fn from(code: u32) -> Reason {
        Reason(code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error code {:#x}", self.0),
        }
    }
}

impl std::fmt::Debug for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The status of the response a server answers this error with, when
    /// it answers one: a malformed request's (400, 414, 431, 501, 505: see
    /// [`ParseError::status`]), `500` for a handler that panicked, `408`
    /// for a request head that did not arrive within the header timeout
    /// (paf closes such a connection without a response unless an
    /// [`ErrorHook`](crate::ErrorHook) gives one). `None` for the errors
    /// no response can answer: a transport failure, a peer gone in the
    /// middle of a message, an HTTP/2 reset, a client's errors.
    ///
    /// ```
    /// use paf::{Error, StatusCode};
    /// let err = Error::HandlerPanicked("oops".into());
    /// assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    /// ```
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Error::Parse(ParseError::Incomplete) => None,
            Error::Parse(err) => Some(err.status()),
            Error::HandlerPanicked(_) => Some(http::StatusCode::INTERNAL_SERVER_ERROR),
            Error::Timeout(Timeout::Header) => Some(http::StatusCode::REQUEST_TIMEOUT),
            _ => None,
        }
    }

    /// A connection's failure again, for each of those it reaches: the
    /// same kind and message; a failure that cannot be told again is
    /// [`Error::IncompleteMessage`].
    pub(crate) fn told_again(&self) -> Error {
        match self {
            Error::Timeout(t) => Error::Timeout(*t),
            Error::Parse(p) => Error::Parse(p.clone()),
            Error::Io(io) => Error::Io(io::Error::new(io.kind(), io.to_string())),
            // An alert is what a session fails with after its handshake; any
            // other TLS failure is told again by its message (a copy of every
            // kind would weigh on the npm package's client module).
            Error::Tls(TlsError::PeerAlert(alert)) => Error::Tls(TlsError::PeerAlert(*alert)),
            Error::Tls(tls) => Error::Io(io::Error::other(tls.to_string())),
            _ => Error::IncompleteMessage,
        }
    }

    /// Wraps any body error, keeping a paf error as it is.
    pub(crate) fn body(err: impl Into<BoxError>) -> Error {
        let err = err.into();
        match err.downcast::<Error>() {
            Ok(err) => *err,
            Err(err) => Error::Body(err),
        }
    }
}

/// An h2 error as a paf error: resets and GOAWAYs keep their reason and
/// who sent them.
impl From<h2::Error> for Error {
    fn from(err: h2::Error) -> Error {
        if err.is_io() {
            return match err.into_io() {
                Some(io) => Error::from(io),
                None => Error::Closed,
            };
        }
        let by_peer = err.is_remote();
        match err.reason() {
            Some(reason) if err.is_go_away() => {
                Http2Error::GoAway { reason: Reason::from(u32::from(reason)), by_peer }.into()
            }
            Some(reason) => Http2Error::StreamReset { reason: Reason::from(u32::from(reason)), by_peer }.into(),
            None => Http2Error::Protocol(err.to_string()).into(),
        }
    }
}

/// A transport failure; a TLS session's failure after its handshake (a
/// server that refused the client's certificate, in TLS 1.3) comes out of
/// its reads as an I/O error carrying the [`TlsError`], and is that
/// [`Error::Tls`].
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        if !err.get_ref().is_some_and(|inner| inner.is::<TlsError>()) {
            return Error::Io(err);
        }
        let inner = err.into_inner().expect("checked just above");
        Error::Tls(*inner.downcast::<TlsError>().expect("checked just above"))
    }
}
