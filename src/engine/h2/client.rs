//! The low-level HTTP/2 client over one flow.
//!
//! [`handshake`] sends the preface and SETTINGS, spawns the connection's
//! driver on the runtime and returns a [`SendRequest`]. Unlike its
//! HTTP/1.1 twin, a `SendRequest` multiplexes: clones send concurrently,
//! each request on its own stream, up to the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` (further ones wait for a free slot).
//! A connection with no stream in flight for [`Config::idle_timeout`] is
//! closed (a pooled one is then replaced by a new one when next needed).
//!
//! ```no_run
//! # #[cfg(not(target_family = "wasm"))]
//! # async fn run() -> Result<(), paf::Error> {
//! use paf::{Body, Request};
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
//! let mut sender = paf::engine::h2::handshake(
//!     paf::Flow::new(tcp), &paf::Config::default(), &paf::rt::native::Tokio).await?;
//! let request = Request::get("http://127.0.0.1:8080/").body(Body::empty()).unwrap();
//! let response = sender.send(request).await?;
//! println!("{} {:?}", response.status(), response.into_body().bytes().await?);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri, Version};

use super::{configure, content_length, send_body, set_content_length, strip_connection_headers, KeepAlive};
use futures_util::task::AtomicWaker;

use crate::rt::{within, Timer};
use crate::error::Timeout;
use crate::rt::{AnyRuntime, Runtime};
use crate::{Body, Config, Error, Flow, Incoming};

/// Sends requests over one HTTP/2 connection, many at once. Cheap to
/// clone; every clone sends on the same connection.
#[derive(Clone)]
pub struct SendRequest {
    inner: ::h2::client::SendRequest<Bytes>,
    rt: AnyRuntime,
    body_timeout: Duration,
    shared: Arc<Shared>,
}

/// What a connection's driver and its senders share: the streams in
/// flight, for its idle timeout (one [`Busy`] per stream, held until its
/// request and response bodies are over; the last one to go wakes the
/// driver to start the idle timer), and whether and why it ended.
#[derive(Default)]
struct Shared {
    open: AtomicUsize,
    driver: AtomicWaker,
    closed: AtomicBool,
    /// Why the connection ended, set before its streams learn that it did.
    ended: OnceLock<Error>,
}

struct Busy(Arc<Shared>);

impl Busy {
    fn new(shared: &Arc<Shared>) -> Busy {
        shared.open.fetch_add(1, Ordering::AcqRel);
        Busy(shared.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.driver.wake();
        }
    }
}

impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// What a [`SendRequest`] needs of the runtime, without its type.
/// Starts an HTTP/2 connection over `flow` (by ALPN or prior knowledge):
/// sends the preface and SETTINGS, then drives the connection on `rt`
/// until every [`SendRequest`] and every stream is done, it has had no
/// stream for [`Config::idle_timeout`], or it fails. The preface must be
/// written within [`Config::body_timeout`].
pub async fn handshake<R: Runtime>(flow: Flow, config: &Config, rt: &R) -> Result<SendRequest, Error> {
    let mut builder = ::h2::client::Builder::new();
    configure!(builder, config);
    builder.enable_push(false);
    let handshake = builder.handshake::<_, Bytes>(flow);
    let (inner, mut connection) = match within(rt, config.body_timeout, handshake).await {
        None => return Err(Error::Timeout(Timeout::Body)),
        Some(result) => result.map_err(Error::from)?,
    };
    let shared = Arc::new(Shared::default());
    let (driven, idle_timeout) = (shared.clone(), config.idle_timeout);
    let mut timer = Timer::new(rt.clone());
    let mut keep_alive = KeepAlive::new(connection.ping_pong(), &config.h2, rt);
    rt.spawn(Box::pin(async move {
        let ended = std::future::poll_fn(|cx| {
            if let Poll::Ready(ended) = Pin::new(&mut connection).poll(cx) {
                return Poll::Ready(ended);
            }
            if keep_alive.as_mut().is_some_and(|keep_alive| keep_alive.poll_dead(cx).is_ready()) {
                tracing::debug!("HTTP/2 client connection dead: a PING went unanswered");
                let _ = driven.ended.set(Error::Timeout(Timeout::KeepAlive));
                // Dropping the connection fails its streams.
                return Poll::Ready(Ok(()));
            }
            driven.driver.register(cx.waker());
            let idle = driven.open.load(Ordering::Acquire) == 0;
            match timer.poll(idle.then_some((Timeout::Idle, idle_timeout)), cx) {
                // Dropping the connection closes it.
                Some(_) => Poll::Ready(Ok(())),
                None => Poll::Pending,
            }
        })
        .await;
        if let Err(err) = ended {
            let err = Error::from(err);
            tracing::debug!(%err, "HTTP/2 client connection ended");
            let _ = driven.ended.set(err);
        }
        driven.closed.store(true, Ordering::Release);
        // Dropping `connection` now tells its streams that it ended.
    }));
    let rt = AnyRuntime::new(rt.clone());
    Ok(SendRequest { inner, rt, body_timeout: config.body_timeout, shared })
}

impl SendRequest {
    /// Sends `request` on a new stream and resolves with the response
    /// head; the body streams from the returned [`Incoming`], the request
    /// body goes out in the background as the server's window allows.
    ///
    /// The URI should be absolute; when it has no authority, the `Host`
    /// field gives it (`:authority` replaces `Host` in HTTP/2), and when it
    /// has no scheme, `http` is assumed. Fields specific to an HTTP/1.1
    /// connection (`Connection`, `Transfer-Encoding`, ...) are dropped.
    pub async fn send(&mut self, request: Request<Body>) -> Result<Response<Incoming>, Error> {
        let busy = Arc::new(Busy::new(&self.shared));
        let (mut parts, body) = request.into_parts();
        parts.uri = absolute_uri(parts.uri, parts.headers.remove(HOST))?;
        parts.version = Version::HTTP_2;
        strip_connection_headers(&mut parts.headers);
        set_content_length(&mut parts.headers, &body);
        let mut sender = self.inner.clone().ready().await.map_err(|err| self.failure(err))?;
        let empty = http_body::Body::is_end_stream(&body);
        let (response, mut stream) =
            sender.send_request(Request::from_parts(parts, ()), empty).map_err(Error::from)?;
        // The body's own failure explains the reset that follows it better.
        let body_failure = Arc::new(Mutex::new(None));
        if !empty {
            let (rt, stall, failure) = (self.rt.clone(), self.body_timeout, body_failure.clone());
            let busy = busy.clone();
            self.rt.spawn(Box::pin(async move {
                let _busy = busy;
                if let Err(err) = send_body(&mut stream, body, &rt, stall).await {
                    tracing::debug!(%err, "request body not sent");
                    *failure.lock().expect("body failure lock") = Some(err);
                    stream.send_reset(::h2::Reason::CANCEL);
                }
            }));
        }
        let response = match response.await {
            Ok(response) => response,
            Err(err) => {
                let failure = body_failure.lock().expect("body failure lock").take();
                return Err(failure.unwrap_or_else(|| self.failure(err)));
            }
        };
        let (parts, stream) = response.into_parts();
        let body = if stream.is_end_stream() {
            Incoming::empty()
        } else {
            let stall = super::BodyStall::new(self.rt.clone(), self.body_timeout);
            Incoming::h2(stream, content_length(&parts.headers), stall).on_end(move |_| drop(busy))
        };
        Ok(Response::from_parts(parts, body))
    }

    /// A stream's failure `err` as a paf error. When it is only that the
    /// connection ended (h2 tells its streams a broken pipe when the
    /// connection fails in a write, or is dropped), the connection's own
    /// failure says why: a PING left unanswered, the TLS alert of a server
    /// that refused the client's certificate, ...
    fn failure(&self, err: ::h2::Error) -> Error {
        match self.shared.ended.get() {
            Some(ended) if err.is_io() => ended.told_again(),
            _ => Error::from(err),
        }
    }

    /// Whether the connection has ended; a closed sender fails every send.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// The request target with scheme and authority, as HTTP/2 wants them.
fn absolute_uri(uri: Uri, host: Option<http::HeaderValue>) -> Result<Uri, Error> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(uri);
    }
    let mut parts = uri.into_parts();
    if parts.authority.is_none() {
        let host = host.ok_or_else(|| {
            Error::InvalidMessage("an HTTP/2 request needs an absolute URI or a Host field".into())
        })?;
        let authority = Authority::try_from(host.as_bytes())
            .map_err(|e| Error::InvalidMessage(format!("invalid Host field: {e}")))?;
        parts.authority = Some(authority);
    }
    parts.scheme.get_or_insert(Scheme::HTTP);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).map_err(|e| Error::InvalidMessage(format!("invalid request URI: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_field_becomes_the_authority() {
        let uri = absolute_uri(Uri::from_static("/x?y"), Some("example.com:8080".parse().unwrap()));
        assert_eq!(uri.unwrap(), "http://example.com:8080/x?y");
        let uri = absolute_uri(Uri::from_static("https://a/b"), Some("other".parse().unwrap()));
        assert_eq!(uri.unwrap(), "https://a/b", "the URI's own authority wins");
        assert!(matches!(absolute_uri(Uri::from_static("/x"), None), Err(Error::InvalidMessage(_))));
    }
}
