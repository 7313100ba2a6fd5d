//! A tower [`Service`] served as a paf [`Handler`] (the `tower` feature).
//!
//! Services written for the tower ecosystem — a `tower::service_fn`, a
//! stack of `tower::Layer`s, a framework's router that is a `Service` —
//! run on paf unchanged, over HTTP/1.1 and HTTP/2, on every platform paf
//! serves on:
//!
//! ```
//! use std::convert::Infallible;
//! use paf::{Body, Incoming, Request, Response};
//!
//! /// A tower service written by hand (`tower::service_fn` makes the same).
//! #[derive(Clone)]
//! struct Hello;
//!
//! impl tower_service::Service<Request<Incoming>> for Hello {
//!     type Response = Response<Body>;
//!     type Error = Infallible;
//!     type Future = std::future::Ready<Result<Response<Body>, Infallible>>;
//!
//!     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
//!         std::task::Poll::Ready(Ok(()))
//!     }
//!
//!     fn call(&mut self, request: Request<Incoming>) -> Self::Future {
//!         std::future::ready(Ok(Response::new(Body::from(format!("hello {}\n", request.uri().path())))))
//!     }
//! }
//!
//! let handler = paf::engine::tower::service(Hello);
//! // paf::serve(listener, handler, paf::Config::default(), paf::Switch::new())
//! # fn is_handler(_: impl paf::Handler) {}
//! # is_handler(handler);
//! ```
//!
//! Each request goes to a clone of the service, as tower asks of a
//! service shared between callers: the clone is made ready
//! ([`Service::poll_ready`]), then called. A service that fails instead of
//! answering costs its request a response paf writes: `503 Service
//! Unavailable` when it was not ready (load shedding, a rate limit, a
//! circuit breaker), `500 Internal Server Error` when the call failed; the
//! error is logged. Services whose `Error` is `Infallible` (axum's, most
//! `service_fn`s) never get there.
//!
//! The service must be `Clone` and, natively, `Send + Sync` (a paf handler
//! is shared between connection tasks): a boxed service is
//! `tower::util::BoxCloneSyncService`, not `BoxCloneService`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Empty};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{Connection, Handler};
use crate::flow::{MaybeSend, MaybeSync};
use crate::{BoxError, Incoming};

/// A tower [`Service`] as a [`Handler`]; make one with [`service`].
#[derive(Clone)]
pub struct TowerService<S>(pub S);

/// Serves the tower service `service` (see the [module documentation](self)).
pub fn service<S>(service: S) -> TowerService<S> {
    TowerService(service)
}

impl<S> fmt::Debug for TowerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TowerService")
    }
}

impl<S, B> Handler for TowerService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + MaybeSend + MaybeSync + 'static,
    S::Error: fmt::Display,
    S::Future: MaybeSend + 'static,
    B: http_body::Body + MaybeSend + 'static,
    B::Data: Buf + MaybeSend + 'static,
    B::Error: Into<BoxError>,
{
    type Body = Either<B, Empty<B::Data>>;
    type Data = B::Data;
    type Error = BoxError;
    type Future = TowerFuture<S>;

    fn call(&self, mut request: Request<Incoming>) -> TowerFuture<S> {
        // Layers may replace the body the connection travels with: it goes
        // where they carry values too.
        if let Some(connection) = Connection::of(&request).cloned() {
            request.extensions_mut().insert(connection);
        }
        let service = self.0.clone();
        TowerFuture { state: State::Ready { service, request: Some(request) } }
    }
}

pin_project! {
    /// The answer of a [`TowerService`] to one request.
    pub struct TowerFuture<S: Service<Request<Incoming>>> {
        #[pin]
        state: State<S, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        /// Waiting for the service to be ready.
        Ready { service: S, request: Option<Request<Incoming>> },
        /// The service was called.
        Call { #[pin] future: F },
    }
}

impl<S, B> Future for TowerFuture<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: fmt::Display,
    B: http_body::Body,
    B::Data: Buf,
{
    type Output = Response<Either<B, Empty<B::Data>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Ready { service, request } => {
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        tracing::error!(%error, "tower service not ready");
                        return Poll::Ready(failed(StatusCode::SERVICE_UNAVAILABLE));
                    }
                    let request = request.take().expect("polled after it was called");
                    let future = service.call(request);
                    state.set(State::Call { future });
                }
                StateProj::Call { future } => {
                    return Poll::Ready(match ready!(future.poll(cx)) {
                        Ok(response) => response.map(Either::Left),
                        Err(error) => {
                            tracing::error!(%error, "tower service failed");
                            failed(StatusCode::INTERNAL_SERVER_ERROR)
                        }
                    });
                }
            }
        }
    }
}

/// The response paf writes for a service that failed.
fn failed<B, D: Buf>(status: StatusCode) -> Response<Either<B, Empty<D>>> {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::Body;

    fn request() -> Request<Incoming> {
        Request::new(Incoming::empty())
    }

    #[tokio::test]
    async fn a_service_answers_and_a_failing_one_costs_its_request_a_500() {
        let hello = ::tower::service_fn(|_: Request<Incoming>| async { Ok::<_, Infallible>(Response::new(Body::from("hello"))) });
        let response = service(hello).call(request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(matches!(response.body(), Either::Left(_)));

        let failing = ::tower::service_fn(|_: Request<Incoming>| async { Err::<Response<Body>, _>("broken") });
        let response = service(failing).call(request()).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// A service that is never ready: a load shedder with no capacity.
    #[derive(Clone)]
    struct Shedding;

    impl Service<Request<Incoming>> for Shedding {
        type Response = Response<Body>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Response<Body>, &'static str>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            Poll::Ready(Err("overloaded"))
        }

        fn call(&mut self, _: Request<Incoming>) -> Self::Future {
            unreachable!("called without being ready")
        }
    }

    #[tokio::test]
    async fn a_service_that_is_not_ready_costs_its_request_a_503() {
        let response = service(Shedding).call(request()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
