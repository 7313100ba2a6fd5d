//! The handler type both protocols serve.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::future::{CatchUnwind, FutureExt};

use bytes::Buf;
use http::{Request, Response};

use crate::flow::{MaybeSend, MaybeSync};
use crate::{BoxError, Error, Incoming};

/// What a server runs for each request: in effect an
/// `async fn(Request<Incoming>) -> Response<B>`.
///
/// Make one from a closure with [`service_fn`]. A handler answers every
/// request with a response (errors are responses too); failures of the
/// connection itself go to [`Handler::on_error`].
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
}

/// A [`Handler`] made from a closure; see [`service_fn`].
#[derive(Clone)]
pub struct ServiceFn<F, E = fn(&str, &Error)> {
    call: F,
    on_error: Option<E>,
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
    ServiceFn { call, on_error: None }
}

impl<F> ServiceFn<F> {
    /// Replaces the connection error callback (see [`Handler::on_error`]).
    pub fn on_error<E>(self, on_error: E) -> ServiceFn<F, E>
    where
        E: Fn(&str, &Error) + Clone + MaybeSend + MaybeSync + 'static,
    {
        ServiceFn { call: self.call, on_error: Some(on_error) }
    }
}

impl<F, Fut, B, E> Handler for ServiceFn<F, E>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Response<B>> + MaybeSend + 'static,
    B: http_body::Body + MaybeSend + 'static,
    B::Data: MaybeSend + 'static,
    B::Error: Into<BoxError>,
    E: Fn(&str, &Error) + Clone + MaybeSend + MaybeSync + 'static,
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
