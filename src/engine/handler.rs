//! The handler type both protocols serve.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::future::{CatchUnwind, FutureExt};

use bytes::{Buf, Bytes};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Request, Response, StatusCode};

use crate::flow::{MaybeSend, MaybeSync};
use crate::{BoxError, Error, Incoming};

/// What a server runs for each request: in effect an
/// `async fn(Request<Incoming>) -> Response<B>`.
///
/// Make one from a closure with [`service_fn`]. A handler answers every
/// request with a response (errors are responses too); failures of the
/// connection itself go to [`Handler::on_error`], and the responses paf
/// gives on its own (a malformed request, a panic) can be shaped by
/// [`Handler::error_hook`].
pub trait Handler: Clone + MaybeSend + MaybeSync + 'static {
    /// The response body.
    type Body: http_body::Body<Data = Self::Data, Error = Self::Error> + MaybeSend + 'static;
    /// The chunks of the response body.
    type Data: Buf + MaybeSend + 'static;
    /// The error of the response body.
    type Error: Into<BoxError>;
    /// The future of a response.
    type Future: Future<Output = Response<Self::Body>> + MaybeSend + 'static;

    /// Answers one request.
    fn call(&self, request: Request<Incoming>) -> Self::Future;

    /// Called when a connection fails (a malformed request, a timeout, a
    /// transport error). The serve loop goes on regardless. Logs at debug
    /// level by default.
    fn on_error(&self, peer: &str, error: &Error) {
        tracing::debug!(%peer, %error, "connection error");
    }

    /// The hook that shapes the responses paf gives on its own (see
    /// [`ErrorHook`]); `None`, the default, keeps paf's. With a hook, paf
    /// keeps a copy of each request head while its handler runs, so that
    /// the hook sees it after a panic.
    fn error_hook(&self) -> Option<&dyn ErrorHook> {
        None
    }
}

/// Shapes the responses paf answers errors with on its own, before the
/// handler could answer or instead of it: a malformed request (400, 414,
/// 431, 501, 505), a request head that did not come within
/// [`Config::header_timeout`](crate::Config::header_timeout) (408), a
/// handler that panicked (500, over HTTP/1.1 and HTTP/2).
///
/// paf's answers are a bare status: `connection: close` and an empty body
/// on HTTP/1.1, and no answer at all to a header timeout. A hook gives
/// the status, the header fields and the body instead, or `None` for
/// paf's own. [`Error::status`] is the status paf would use.
///
/// The framing stays paf's: what the connection does next does not
/// change. After an HTTP/1.1 error the connection closes whatever the
/// hook says; paf writes `connection: close` and the `content-length` of
/// the body, and drops the `content-length`, `transfer-encoding` and
/// `connection` fields the hook set (HTTP/2 drops every connection-specific
/// field, as for any response). A hook's `date` field is kept; without one
/// paf adds it. A hook that panics, or answers with a status that cannot
/// carry a body (1xx, 204, 304), gets paf's own response sent instead.
///
/// [`ServiceFn::error_response`] sets one from a closure; a [`Handler`]
/// of your own returns one from [`Handler::error_hook`]. Any
/// `Fn(&Error, Option<&Parts>) -> Option<Response<Bytes>>` is one.
///
/// ```
/// use paf::{service_fn, Body, Bytes, Error, Incoming, Request, Response};
///
/// let handler = service_fn(|_req: Request<Incoming>| async { Response::new(Body::from("hello")) })
///     .error_response(|err: &Error, head: Option<&paf::http::request::Parts>| {
///         let status = err.status()?;
///         let path = head.map_or("?", |head| head.uri.path());
///         let body = format!("{{\"status\":{},\"path\":\"{path}\"}}", status.as_u16());
///         Response::builder()
///             .status(status)
///             .header("content-type", "application/json")
///             .body(Bytes::from(body))
///             .ok()
///     });
/// # let _ = handler;
/// ```
pub trait ErrorHook {
    /// The response to `error`, or `None` for paf's own. `head` is the
    /// request's head when one was read (a handler that panicked, a
    /// malformed body); `None` when the head itself was not valid or did
    /// not come. It has the method, target, version and header fields of
    /// the request, not its extensions.
    fn error_response(&self, error: &Error, head: Option<&Parts>) -> Option<Response<Bytes>>;
}

impl<T> ErrorHook for T
where
    T: Fn(&Error, Option<&Parts>) -> Option<Response<Bytes>>,
{
    fn error_response(&self, error: &Error, head: Option<&Parts>) -> Option<Response<Bytes>> {
        self(error, head)
    }
}

/// The type of [`ServiceFn`] without an error hook.
type NoHook = fn(&Error, Option<&Parts>) -> Option<Response<Bytes>>;

/// A [`Handler`] made from a closure; see [`service_fn`].
#[derive(Clone)]
pub struct ServiceFn<F, E = fn(&str, &Error), X = NoHook> {
    call: F,
    on_error: Option<E>,
    error_response: Option<X>,
}

/// Makes a [`Handler`] from an `async` closure.
///
/// ```
/// use paf::{service_fn, Body, Incoming, Request, Response};
/// let handler = service_fn(|req: Request<Incoming>| async move {
///     Response::new(Body::from(format!("you asked for {}", req.uri().path())))
/// });
/// # let _ = handler;
/// ```
pub fn service_fn<F>(call: F) -> ServiceFn<F> {
    ServiceFn { call, on_error: None, error_response: None }
}

impl<F, E, X> ServiceFn<F, E, X> {
    /// Replaces the connection error callback (see [`Handler::on_error`]).
    pub fn on_error<E2>(self, on_error: E2) -> ServiceFn<F, E2, X>
    where
        E2: Fn(&str, &Error) + Clone + MaybeSend + MaybeSync + 'static,
    {
        ServiceFn { call: self.call, on_error: Some(on_error), error_response: self.error_response }
    }

    /// Sets the hook that shapes the responses paf gives on its own to
    /// errors (see [`ErrorHook`], which has an example); the hook returns
    /// `None` to keep paf's.
    pub fn error_response<X2>(self, hook: X2) -> ServiceFn<F, E, X2>
    where
        X2: Fn(&Error, Option<&Parts>) -> Option<Response<Bytes>> + Clone + MaybeSend + MaybeSync + 'static,
    {
        ServiceFn { call: self.call, on_error: self.on_error, error_response: Some(hook) }
    }
}

impl<F, Fut, B, E, X> Handler for ServiceFn<F, E, X>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Response<B>> + MaybeSend + 'static,
    B: http_body::Body + MaybeSend + 'static,
    B::Data: MaybeSend + 'static,
    B::Error: Into<BoxError>,
    E: Fn(&str, &Error) + Clone + MaybeSend + MaybeSync + 'static,
    X: ErrorHook + Clone + MaybeSend + MaybeSync + 'static,
{
    type Body = B;
    type Data = B::Data;
    type Error = B::Error;
    type Future = Fut;

    fn call(&self, request: Request<Incoming>) -> Fut {
        (self.call)(request)
    }

    fn on_error(&self, peer: &str, error: &Error) {
        match &self.on_error {
            Some(on_error) => on_error(peer, error),
            None => tracing::debug!(%peer, %error, "connection error"),
        }
    }

    fn error_hook(&self) -> Option<&dyn ErrorHook> {
        self.error_response.as_ref().map(|hook| hook as &dyn ErrorHook)
    }
}

/// A handler's answer with its panic caught: a panicking handler costs its
/// own request a `500`, never the connection task or the server.
pub(crate) type Caught<H> = CatchUnwind<AssertUnwindSafe<<H as Handler>::Future>>;

/// Calls `handler`, catching a panic of the future it returns.
pub(crate) fn call_caught<H: Handler>(handler: &H, request: Request<Incoming>) -> Caught<H> {
    AssertUnwindSafe(handler.call(request)).catch_unwind()
}

/// The message of a caught panic, for the error handler.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A copy of `request`'s head for the error hook, when the handler has
/// one (a handler without pays nothing).
pub(crate) fn head_for_hook<H: Handler, T>(handler: &H, request: &Request<T>) -> Option<Parts> {
    handler.error_hook()?;
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = request.method().clone();
    head.uri = request.uri().clone();
    head.version = request.version();
    head.headers = request.headers().clone();
    Some(head)
}

/// The hook's response to `error`, if the handler has a hook and it gives
/// one that paf can send: without the framing fields paf sets itself. A
/// hook that panics, or gives a status that cannot carry a body, gives
/// `None` (paf's own response, then).
pub(crate) fn shaped_response<H: Handler>(handler: &H, error: &Error, head: Option<&Parts>) -> Option<Response<Bytes>> {
    let hook = handler.error_hook()?;
    let response = match std::panic::catch_unwind(AssertUnwindSafe(|| hook.error_response(error, head))) {
        Ok(response) => response?,
        Err(panic) => {
            let panic = panic_message(&*panic);
            tracing::error!(%error, %panic, "the error hook panicked: paf's own response is sent");
            return None;
        }
    };
    let status = response.status();
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        tracing::error!(%error, %status, "the error hook answered with a status that cannot carry a body: paf's own response is sent");
        return None;
    }
    let (mut parts, body) = response.into_parts();
    for name in [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION] {
        parts.headers.remove(name);
    }
    Some(Response::from_parts(parts, body))
}
