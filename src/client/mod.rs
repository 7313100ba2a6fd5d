//! The high-level client: a URL in, a response out, over the best
//! transport the context can build.
//!
//! ```no_run
//! # async fn run() -> Result<(), paf::Error> {
//! use paf::client::ResponseExt;
//! let response = paf::Client::new().get("https://example.com/").await?;
//! println!("{} {}", response.status(), response.text().await?);
//! # Ok(()) }
//! ```
//!
//! # From a URL to a connection
//!
//! The URL gives an [`Origin`]: a scheme (`http`, `https`), a host (a
//! domain name or an IP literal, `[::1]` included), a port (80 and 443 by
//! default) and, for `http+unix://%2Frun%2Fapp.sock/path` or
//! [`ClientBuilder::unix_socket`], a Unix socket. The [`Platform`] turns
//! the origin into a mimic [`Ctx`]: natively ([`Platform::native`]), DNS
//! and TCP for `http`, DNS and TLS over TCP for `https` (never a clear
//! text fallback), the socket for a Unix origin. The context given to
//! [`ClientBuilder::context`] goes on top, then the client adds the
//! origin ([`ORIGIN`]), the TLS configuration ([`tls::CONFIG`], unless
//! the context has one) and a [`Probe`] ([`PROBE`]), and
//! [`mimic::resolve`] builds the flow.
//!
//! So the user extends the client the mimic way, without a change here:
//! a value (`ADDRESSES` to skip DNS, as curl's `--resolve`), a fold (a DNS
//! of one's own, tried before the system's and falling back to it by
//! declining), a protocol (a SOCKS or WebSocket tunnel, a test pipe)
//! whose endpoint is derived from [`ORIGIN`] and whose priority puts it
//! before TCP (100) and TLS (50).
//!
//! On a TLS flow, the protocol is what ALPN chose (`h2`, then `http/1.1`
//! by default, [`ClientBuilder::alpn`]); on clear text, HTTP/1.1, or
//! HTTP/2 by prior knowledge ([`ClientBuilder::http2_prior_knowledge`]).
//! The response says which in its [`ConnectionInfo`] extension, and how
//! long each step took in its [`Timings`] extension.
//!
//! # Connection reuse
//!
//! Per origin, HTTP/1.1 connections go back to a pool once their response
//! body has been read to its end (at most
//! [`ClientBuilder::max_idle_per_origin`] of them; the engine closes them
//! after [`ClientBuilder::idle_timeout`]), and one HTTP/2 connection
//! carries every request at once. A request that fails on a pooled
//! connection the server had closed in the meantime (nothing of the
//! response came) is sent again, once, on a new connection when it may
//! be: its body is in memory, and its method is idempotent or HTTP/2 says
//! the server did not process it.
//!
//! # Redirects
//!
//! At most 10 by default ([`ClientBuilder::max_redirects`]; per request,
//! a [`MaxRedirects`] extension):
//!
//! * `301`, `302`, `303`: the next request is a `GET` without the body (a
//!   `HEAD` stays a `HEAD`), as browsers and curl do for a `POST`;
//! * `307`, `308`: the same method with the same body. A body that was a
//!   stream cannot be sent twice: the redirect is then not followed, the
//!   response is given as it is;
//! * to another origin (scheme, host or port), `Authorization`,
//!   `Proxy-Authorization`, `Cookie` and `Host` are dropped;
//! * from `https` to `http` fails with [`Error::InsecureRedirect`] unless
//!   allowed ([`ClientBuilder::https_downgrade`]): what TLS protected
//!   would go out in clear text, and nobody would know;
//! * a `Location` is resolved against the URL it answers (RFC 3986 §5),
//!   a relative one stays on the same Unix socket.
//!
//! # Timeouts, errors
//!
//! The timeouts and their defaults are on [`ClientBuilder`].
//! Failures are distinct [`Error`]s: [`Error::Connect`] with a
//! [`ConnectFailure`] (DNS, refused, TLS, ...), [`Error::Timeout`]
//! ([`Timeout::Connect`], [`Timeout::Request`]),
//! [`Error::TooManyRedirects`], [`Error::InsecureRedirect`],
//! [`Error::InvalidUrl`].
//!
//! # Platforms
//!
//! Nothing here depends on the target: the runtime and the transports
//! come from the [`Platform`]. [`Client::new`], [`Client::builder`] and
//! [`Platform::native`] are the native shortcuts; elsewhere, start from
//! [`ClientBuilder::new`] with a platform of that target.
//!
//! [`Timeout::Connect`]: crate::error::Timeout::Connect
//! [`Timeout::Request`]: crate::error::Timeout::Request
//! [`ConnectFailure`]: crate::error::ConnectFailure

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::{Method, Request, Response};

use crate::engine::alpn::{self, Protocol, SendRequest};
use crate::rt::within;
use crate::error::{ConnectFailure, Http2Error, Reason, Timeout};
use crate::flow::{MaybeSend, MaybeSync};
use crate::mimic::{self, Ctx, ResolveError};
use crate::rt::{AnyRuntime, Runtime};
use crate::tls::{self, ClientConfig};
use crate::{Body, Config, Error, Incoming};

mod body;
mod builder;
mod origin;
mod pool;
mod redirect;
mod timings;

pub use body::ResponseExt;
pub use builder::ClientBuilder;
pub use origin::{IntoUrl, Origin, Scheme, Url, ORIGIN};
pub use timings::{ConnectionInfo, Probe, Timings, PROBE};

use body::{drain, Payload};
use pool::{Conn, Pool};

/// How much of a redirect's body is read to keep its connection.
const REDIRECT_DRAIN: usize = 64 * 1024;

/// An HTTP client: pooled connections, redirects, timeouts. See the
/// [module documentation](self).
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    rt: AnyRuntime,
    platform: Platform,
    context: Ctx,
    tls: Arc<ClientConfig>,
    offers_h2: bool,
    prior_knowledge: bool,
    config: Config,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    max_redirects: usize,
    https_downgrade: bool,
    headers: HeaderMap,
    unix_socket: Option<PathBuf>,
    pool: Arc<Pool>,
}

/// A request extension: send this request through the Unix socket at this
/// path (what an `http+unix://` URL says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket(pub PathBuf);

/// A request extension: how many redirects this request follows, in place
/// of the client's [`ClientBuilder::max_redirects`]; 0 follows none (what
/// `fetch`'s `redirect: "manual"` asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxRedirects(pub usize);

/// A request on its way: what is needed to send it again (a retry, a
/// redirect).
struct Outgoing {
    method: Method,
    url: Url,
    headers: HeaderMap,
    payload: Payload,
    max_redirects: usize,
}

impl Outgoing {
    fn request(&mut self) -> Result<Request<Body>, Error> {
        let body = self.payload.take().ok_or_else(|| {
            Error::InvalidMessage("the request body, a stream, cannot be sent twice".into())
        })?;
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.url.uri.clone();
        *request.headers_mut() = self.headers.clone();
        Ok(request)
    }
}

impl Client {
    /// Sends `request` and resolves with the response head, following
    /// redirects; the body streams from the response.
    ///
    /// The URI must be absolute. A [`UnixSocket`] extension sends it
    /// through that socket, a [`MaxRedirects`] one bounds its redirects.
    /// The client's default headers are added where the request has none
    /// of that name.
    pub async fn request(&self, request: Request<Body>) -> Result<Response<Incoming>, Error> {
        let (parts, body) = request.into_parts();
        let unix = parts.extensions.get::<UnixSocket>().map(|socket| socket.0.clone());
        let max_redirects = parts.extensions.get::<MaxRedirects>().map_or(self.inner.max_redirects, |max| max.0);
        let mut headers = parts.headers;
        for name in self.inner.headers.keys() {
            if !headers.contains_key(name) {
                for value in self.inner.headers.get_all(name) {
                    headers.append(name, value.clone());
                }
            }
        }
        let outgoing = Outgoing {
            method: parts.method,
            url: Url {
                uri: parts.uri,
                unix: unix.or_else(|| self.inner.unix_socket.clone()),
            },
            headers,
            payload: Payload::new(body),
            max_redirects,
        };
        match self.inner.request_timeout {
            None => self.follow_redirects(outgoing).await,
            Some(limit) => within(&self.inner.rt, limit, self.follow_redirects(outgoing))
                .await
                .unwrap_or(Err(Error::Timeout(Timeout::Request))),
        }
    }

    /// A `GET` of `url`.
    pub async fn get(&self, url: impl IntoUrl) -> Result<Response<Incoming>, Error> {
        self.send(Method::GET, url, Body::empty()).await
    }

    /// A `POST` of `body` to `url`.
    pub async fn post(
        &self,
        url: impl IntoUrl,
        body: impl Into<Body>,
    ) -> Result<Response<Incoming>, Error> {
        self.send(Method::POST, url, body.into()).await
    }

    /// A request of `method` to `url` with `body` and no header of its own.
    pub async fn send(
        &self,
        method: Method,
        url: impl IntoUrl,
        body: Body,
    ) -> Result<Response<Incoming>, Error> {
        let url = url.into_url()?;
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = url.uri;
        if let Some(path) = url.unix {
            request.extensions_mut().insert(UnixSocket(path));
        }
        self.request(request).await
    }

    async fn follow_redirects(&self, mut outgoing: Outgoing) -> Result<Response<Incoming>, Error> {
        let rt = &self.inner.rt;
        let start = rt.now();
        let mut redirects = 0;
        loop {
            let origin = Origin::of(&outgoing.url.uri, outgoing.url.unix.as_deref())?;
            let hop = if redirects == 0 { start } else { rt.now() };
            let mut response = self.exchange(&origin, &mut outgoing, hop).await?;
            let status = response.status();
            let location = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok());
            let follows = outgoing.max_redirects > 0 && redirect::is_redirect(status);
            if let Some(location) = location.filter(|_| follows) {
                if redirects == outgoing.max_redirects {
                    let url = redirect::join(&outgoing.url.uri, location)
                        .map_or_else(|| location.to_string(), |uri| uri.to_string());
                    return Err(Error::TooManyRedirects { max: redirects, url });
                }
                let location = location.to_string();
                if redirect::follow(&mut outgoing, &origin, status, &location, self.inner.https_downgrade)? {
                    tracing::debug!(%status, %location, "following a redirect");
                    drain(response.into_body(), REDIRECT_DRAIN).await;
                    redirects += 1;
                    continue;
                }
            }
            let extensions = response.extensions_mut();
            if let Some(timings) = extensions.get_mut::<Timings>().filter(|_| redirects > 0) {
                timings.redirects = hop.saturating_sub(start);
            }
            if let Some(info) = extensions.get_mut::<ConnectionInfo>() {
                info.redirects = redirects;
                info.redirected_to = (redirects > 0).then(|| outgoing.url.uri.clone());
            }
            return Ok(response);
        }
    }

    /// One request and its response head, on a pooled connection or a new
    /// one; again on a new one if a pooled one turns out stale. `start`
    /// is when it began (on the runtime's clock), for its [`Timings`].
    async fn exchange(
        &self,
        origin: &Origin,
        outgoing: &mut Outgoing,
        start: Duration,
    ) -> Result<Response<Incoming>, Error> {
        let mut pooled = true;
        loop {
            let (mut conn, opened) = self.connection(origin, start, pooled).await?;
            let reused = opened.is_none();
            let request = outgoing.request()?;
            match conn.sender.send(request).await {
                Ok(response) => return Ok(self.deliver(origin, conn, response, start, opened)),
                Err(err) if reused && is_stale(&err) && may_resend(outgoing, &err) => {
                    tracing::debug!(%origin, %err, "a pooled connection was stale; sending again");
                    self.inner.pool.clear_idle(origin);
                    pooled = false;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A connection to `origin`: from the pool when `pooled` and one is
    /// free, else a new one with the timings of opening it.
    async fn connection(
        &self,
        origin: &Origin,
        start: Duration,
        pooled: bool,
    ) -> Result<(Conn, Option<Timings>), Error> {
        let inner = &self.inner;
        if pooled {
            if let Some(conn) = inner.pool.checkout(origin) {
                return Ok((conn, None));
            }
        }
        let may_be_http2 = if origin.is_tls() { inner.offers_h2 } else { inner.prior_knowledge };
        let lock = inner.pool.connect_lock(origin, may_be_http2);
        let _connecting = match &lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        if lock.is_some() && pooled {
            // Someone else may have connected while we waited.
            if let Some(conn) = inner.pool.checkout(origin) {
                return Ok((conn, None));
            }
        }
        // Boxed: opening is the rare path, and its future is large; kept
        // inline, every request's future would carry (and move) it.
        let probe = Probe::started_at(&inner.rt, start);
        let open = Box::pin(within(&inner.rt, inner.connect_timeout, self.open(origin, &probe)));
        let (conn, timings) = open
            .await
            .unwrap_or(Err(Error::Timeout(Timeout::Connect)))?;
        inner.pool.opened(origin, &conn);
        Ok((conn, Some(timings)))
    }

    /// Builds the context of `origin`, resolves it and starts HTTP on the
    /// flow.
    async fn open(&self, origin: &Origin, probe: &Probe) -> Result<(Conn, Timings), Error> {
        let inner = &self.inner;
        let mut ctx = inner
            .platform
            .context(origin)
            .merge(&inner.context)
            .add(&ORIGIN, origin.clone())
            .add(&PROBE, probe.clone());
        if origin.is_tls() && !ctx.contains(&tls::CONFIG) {
            ctx = ctx.add(&tls::CONFIG, inner.tls.clone());
        }
        let flow = mimic::resolve(&ctx).await.map_err(|err| connect_error(origin, err))?;
        let session = tls::session(&flow);
        let timings = probe.opened(session.is_some());
        let protocol = match &session {
            Some(session) => Protocol::from_alpn(session.alpn.as_deref()),
            None if inner.prior_knowledge && !origin.is_tls() => Protocol::Http2,
            None => Protocol::Http1,
        };
        tracing::debug!(%origin, %protocol, tls = ?session.as_ref().map(|s| s.version), "connected");
        let sender = alpn::handshake(protocol, flow, &inner.config, &inner.rt).await?;
        Ok((Conn { sender, tls: session }, timings))
    }

    /// The response with its extensions; an HTTP/1.1 connection goes back
    /// to the pool once the body has been read.
    fn deliver(
        &self,
        origin: &Origin,
        conn: Conn,
        response: Response<Incoming>,
        start: Duration,
        opened: Option<Timings>,
    ) -> Response<Incoming> {
        let first_byte = self.inner.rt.now().saturating_sub(start);
        let (mut parts, mut body) = response.into_parts();
        parts.extensions.insert(ConnectionInfo {
            protocol: conn.sender.protocol(),
            tls: conn.tls.clone(),
            reused: opened.is_none(),
            redirects: 0,
            redirected_to: None,
        });
        parts.extensions.insert(Timings { first_byte, ..opened.unwrap_or_default() });
        if let Conn { sender: SendRequest::Http1(sender), tls } = conn {
            let http1 = Conn { sender, tls };
            // Closed already when the exchange is the connection's last
            // (the engine's h1 machine says so: `Connection: close`, an
            // upgrade, a body that ends at the close, ...).
            if !http1.sender.is_closed() {
                let pool = self.inner.pool.clone();
                if body.is_received() {
                    pool.checkin(origin, http1);
                } else {
                    let origin = origin.clone();
                    body = body.on_end(move |complete| {
                        if complete {
                            pool.checkin(&origin, http1);
                        }
                    });
                }
            }
        }
        Response::from_parts(parts, body)
    }

    /// The clock of the client's runtime (see [`Runtime::now`]): to time
    /// what follows a response, reading its body for example.
    pub fn now(&self) -> Duration {
        self.inner.rt.now()
    }

    /// The client's runtime: to sleep and read the clocks of its platform
    /// alongside it (ACME's polls and renewals do).
    pub fn runtime(&self) -> &AnyRuntime {
        &self.inner.rt
    }
}

/// Whether `err` is what a connection the server had closed while it sat
/// in the pool gives: closed before anything of the response came.
fn is_stale(err: &Error) -> bool {
    use std::io::ErrorKind;
    match err {
        Error::Closed | Error::IncompleteMessage => true,
        Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
        ),
        Error::Http2(Http2Error::GoAway { reason, .. }) => *reason == Reason::NO_ERROR,
        Error::Http2(Http2Error::StreamReset { reason, .. }) => *reason == Reason::REFUSED_STREAM,
        _ => false,
    }
}

/// Whether the request may go again after `err` on a stale connection:
/// its body must be in memory, and either its method is idempotent or
/// HTTP/2 says the server did not process it (a refused stream, a stream
/// past a graceful GOAWAY: RFC 9113 §8.7).
fn may_resend(outgoing: &Outgoing, err: &Error) -> bool {
    let unprocessed = matches!(err, Error::Http2(_));
    outgoing.payload.is_replayable() && (unprocessed || is_idempotent(&outgoing.method))
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// A resolution failure as [`Error::Connect`], with the likeliest cause.
fn connect_error(origin: &Origin, err: ResolveError) -> Error {
    Error::Connect {
        origin: origin.to_string(),
        kind: ConnectFailure::of(&err),
        source: err,
    }
}

/// What a target gives the client: a runtime, and for each [`Origin`] the
/// context that connects to it (see the [module documentation](self)).
#[derive(Clone)]
pub struct Platform {
    rt: AnyRuntime,
    context: Arc<dyn ContextFn>,
}

/// How a platform makes the context of an origin.
trait ContextFn: Fn(&Origin) -> Ctx + MaybeSend + MaybeSync {}
impl<F: Fn(&Origin) -> Ctx + MaybeSend + MaybeSync> ContextFn for F {}

impl Platform {
    /// A platform of `rt` whose connections to an origin come from the
    /// context `context` gives for it. For `https` origins, that context
    /// should offer no clear-text transport, so that a failed handshake
    /// is not followed by clear text.
    pub fn new<R: Runtime>(
        rt: R,
        context: impl Fn(&Origin) -> Ctx + MaybeSend + MaybeSync + 'static,
    ) -> Platform {
        Platform {
            rt: AnyRuntime::new(rt),
            context: Arc::new(context),
        }
    }

    /// The context that connects to `origin`.
    pub fn context(&self, origin: &Origin) -> Ctx {
        (self.context)(origin)
    }

    /// This platform with its contexts changed by `change`: to replace
    /// what [`ClientBuilder::context`] can only add to, the system's DNS
    /// for example.
    ///
    /// ```no_run
    /// use paf::client::{ClientBuilder, Platform};
    /// use paf::mimic::req;
    /// use paf::platform::{ADDRESSES, PORT};
    /// // Every name resolves to this machine: no lookup at all.
    /// let platform = Platform::native().map_context(|_origin, ctx| {
    ///     ctx.remove_folds(&ADDRESSES).fold(&ADDRESSES, req(&PORT), |port: u16| async move {
    ///         Ok(Some(vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))]))
    ///     })
    /// });
    /// let client = ClientBuilder::new(platform).build();
    /// ```
    pub fn map_context(
        self,
        change: impl Fn(&Origin, Ctx) -> Ctx + MaybeSend + MaybeSync + 'static,
    ) -> Platform {
        let context = self.context;
        Platform {
            rt: self.rt,
            context: Arc::new(move |origin: &Origin| change(origin, context(origin))),
        }
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}
