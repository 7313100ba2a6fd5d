//! One HTTP/2 server connection.
//!
//! Every stream is answered by its own future, and all of them are polled
//! by the connection's task next to the connection itself, rather than
//! spawned: the streams of a connection then live exactly as long as it
//! (a forced drain or an error that drops the connection drops its
//! handlers too, as for HTTP/1.1), handlers need not be `'static` tasks of
//! their own, and a connection costs one task on every runtime. Streams
//! still run concurrently: a handler that waits does not hold the others,
//! and only the futures that were woken are polled (but the one that came
//! when none was open, polled with the connection: see `Streams`). Connections run in
//! parallel on a multi-threaded runtime, one task each.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::header::{HeaderValue, HOST};
use http::{Method, Request, StatusCode};
use tokio::io::{AsyncRead, ReadBuf};

use super::tunnel::Tunnel;
use super::{configure, content_length, send_body, set_content_length, strip_connection_headers, KeepAlive};
use crate::rt::{within, Timer, Within};
use crate::engine::{call_caught, date, upgrade, head_for_hook, panic_message, shaped_response, Handler};
use crate::error::Timeout;
use crate::rt::Runtime;
use crate::{Body, Config, Error, Flow, Incoming};

/// Serves HTTP/2 on one flow until the peer closes, an error or the idle
/// timeout ends it, or `stopping` completes: then a GOAWAY tells the peer
/// to open no more streams, the streams in flight are answered, and the
/// connection closes.
///
/// The peer's preface and SETTINGS must come within
/// [`Config::header_timeout`]; a connection with no stream open for
/// [`Config::idle_timeout`] is closed with a GOAWAY. The stream's request
/// has an absolute URI (scheme and `:authority`) and, when the peer sent
/// no `Host` field, one made from `:authority`, so that handlers written
/// for HTTP/1.1 find the host where they look for it. Errors of single
/// streams (a reset, a failed body) end those streams only, and are logged
/// at debug level.
pub fn serve_connection<'a, H, R, S>(
    flow: Flow,
    handler: H,
    config: &'a Config,
    rt: R,
    stopping: S,
) -> impl Future<Output = Result<(), Error>> + 'a
where
    H: Handler,
    R: Runtime,
    S: Future<Output = ()> + 'a,
{
    serve(H2Flow { flow, preface_to_give_back: 0 }, handler, config, rt, stopping)
}

/// [`serve_connection`] on a flow whose client preface the server has
/// already read, to tell HTTP/2 by prior knowledge from HTTP/1.1.
pub(crate) fn serve_connection_after_preface<'a, H, R, S>(
    flow: Flow,
    handler: H,
    config: &'a Config,
    rt: R,
    stopping: S,
) -> impl Future<Output = Result<(), Error>> + 'a
where
    H: Handler,
    R: Runtime,
    S: Future<Output = ()> + 'a,
{
    serve(H2Flow { flow, preface_to_give_back: super::PREFACE.len() as u8 }, handler, config, rt, stopping)
}

fn serve<'a, H, R, S>(
    flow: H2Flow,
    handler: H,
    config: &'a Config,
    rt: R,
    stopping: S,
) -> impl Future<Output = Result<(), Error>> + 'a
where
    H: Handler,
    R: Runtime,
    S: Future<Output = ()> + 'a,
{
    let answer_rt = rt.clone();
    Serving::new(flow, config, rt, stopping, move |request, respond, config| {
        Box::pin(answer(handler.clone(), request, respond, config, answer_rt.clone()))
    })
}

/// The flow h2 reads and writes: the connection's, with the client's
/// preface given back first when the server read it to pick the protocol.
/// What is given back is a count into [`PREFACE`](super::PREFACE), so an
/// h2c connection keeps no buffer nor box for it.
struct H2Flow {
    flow: Flow,
    preface_to_give_back: u8,
}

impl AsyncRead for H2Flow {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.preface_to_give_back > 0 {
            let preface = super::PREFACE;
            let start = preface.len() - usize::from(self.preface_to_give_back);
            let n = (preface.len() - start).min(buf.remaining());
            buf.put_slice(&preface[start..start + n]);
            self.preface_to_give_back -= n as u8;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.flow).poll_read(cx, buf)
    }
}

crate::flow::write_through!(H2Flow, flow);

pin_project_lite::pin_project! {
    /// The future of [`serve_connection`]: a named type rather than an
    /// `async fn`, which would keep its arguments twice (as arguments,
    /// and as the locals they move into), the `stopping` future a third
    /// time once pinned, and room for the handshake next to the
    /// connection it gives. Each idle connection holds this, so its size
    /// is its memory: about the h2 connection's own, and `stopping`.
    struct Serving<'a, S, R, F, Fut> {
        #[pin]
        stopping: S,
        config: &'a Config,
        rt: R,
        // Makes the future of one stream (given the configuration, which
        // it would otherwise keep a second reference to).
        answer: F,
        state: State<R, Fut>,
    }
}

// One phase after the other in the same room: boxing the large ones would
// only add allocations.
#[allow(clippy::large_enum_variant)]
enum State<R, Fut> {
    Start(H2Flow),
    Handshake(Within<::h2::server::Handshake<H2Flow, Bytes>>),
    Live(Live<R, Fut>),
    Done,
}

/// A connection past its handshake.
struct Live<R, Fut> {
    conn: ::h2::server::Connection<H2Flow, Bytes>,
    streams: Streams<Fut>,
    timer: Timer<R>,
    /// Boxed: most connections have none.
    keep_alive: Option<Box<KeepAlive<R>>>,
    idle_closed: bool,
    stop_requested: bool,
}

impl<'a, S, R, F, Fut> Serving<'a, S, R, F, Fut>
where
    F: FnMut(Request<::h2::RecvStream>, ::h2::server::SendResponse<Bytes>, &'a Config) -> Pin<Box<Fut>>,
{
    fn new(flow: H2Flow, config: &'a Config, rt: R, stopping: S, answer: F) -> Self {
        Serving { stopping, config, rt, answer, state: State::Start(flow) }
    }
}

impl<'a, S, R, F, Fut> Future for Serving<'a, S, R, F, Fut>
where
    S: Future<Output = ()>,
    R: Runtime,
    F: FnMut(Request<::h2::RecvStream>, ::h2::server::SendResponse<Bytes>, &'a Config) -> Pin<Box<Fut>>,
    Fut: Future<Output = ()>,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut this = self.project();
        let config = *this.config;
        loop {
            match this.state {
                State::Start(_) => {
                    let State::Start(flow) = std::mem::replace(this.state, State::Done) else { unreachable!() };
                    let mut builder = ::h2::server::Builder::new();
                    configure!(builder, config);
                    if config.h2.enable_connect_protocol {
                        builder.enable_connect_protocol();
                    }
                    *this.state =
                        State::Handshake(within(&*this.rt, config.header_timeout, builder.handshake::<_, Bytes>(flow)));
                }
                State::Handshake(handshake) => {
                    let conn = match std::task::ready!(Pin::new(handshake).poll(cx)) {
                        None => Err(Error::Timeout(Timeout::Header)),
                        Some(conn) => conn.map_err(Error::from),
                    };
                    let mut conn = match conn {
                        Ok(conn) => conn,
                        Err(err) => {
                            *this.state = State::Done;
                            return Poll::Ready(Err(err));
                        }
                    };
                    // The PINGs are taken only when asked for: taking them
                    // allocates, for the connection's life.
                    let keep_alive = match config.h2.keep_alive_interval {
                        Some(_) => KeepAlive::new(conn.ping_pong(), &config.h2, &*this.rt).map(Box::new),
                        None => None,
                    };
                    *this.state = State::Live(Live {
                        conn,
                        streams: Streams { first: None, first_polled: false, more: None },
                        timer: Timer::new(this.rt.clone()),
                        keep_alive,
                        idle_closed: false,
                        stop_requested: false,
                    });
                }
                State::Live(live) => {
                    let done = live.poll(this.stopping.as_mut(), this.answer, config, cx);
                    if done.is_ready() {
                        // The connection and its streams end now, as an
                        // `async fn`'s locals would.
                        *this.state = State::Done;
                    }
                    return done;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The streams of a connection being answered, each its own boxed future
/// (an idle connection keeps no room for one). The first runs in a slot of
/// the connection's, polled with it; while it runs, the others go to a
/// `FuturesUnordered`, made the first time more than one stream is open
/// at once and where only the futures that were woken are polled. A
/// connection whose streams come one at a time (every idle one too) then
/// has no `FuturesUnordered`, nor a node of it per stream.
struct Streams<Fut> {
    first: Option<Pin<Box<Fut>>>,
    /// Whether `first` was polled in this turn of the connection: it
    /// registered the connection's waker, so polling it again before the
    /// connection is woken is needless.
    first_polled: bool,
    /// Boxed: a word rather than three in every connection, for what
    /// only a connection with streams that overlap has.
    more: Option<Box<FuturesUnordered<Pin<Box<Fut>>>>>,
}

impl<Fut: Future<Output = ()>> Streams<Fut> {
    fn push(&mut self, stream: Pin<Box<Fut>>) {
        if self.first.is_none() {
            self.first = Some(stream);
            self.first_polled = false;
        } else {
            self.more.get_or_insert_with(Box::default).push(stream);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.as_ref().is_none_or(|more| more.is_empty())
    }

    /// Polls the streams that may move; whether any was answered.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        let mut answered = false;
        if let Some(first) = self.first.as_mut().filter(|_| !self.first_polled) {
            self.first_polled = true;
            if first.as_mut().poll(cx).is_ready() {
                self.first = None;
                answered = true;
            }
        }
        if let Some(more) = self.more.as_mut() {
            while let Poll::Ready(Some(())) = more.poll_next_unpin(cx) {
                answered = true;
            }
        }
        answered
    }
}

impl<R: Runtime, Fut: Future<Output = ()>> Live<R, Fut> {
    fn poll<'a, S: Future<Output = ()>>(
        &mut self,
        mut stopping: Pin<&mut S>,
        answer: &mut impl FnMut(Request<::h2::RecvStream>, ::h2::server::SendResponse<Bytes>, &'a Config) -> Pin<Box<Fut>>,
        config: &'a Config,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let Live { conn, streams, timer, keep_alive, idle_closed, stop_requested } = self;
        streams.first_polled = false;
        loop {
            if !*stop_requested && stopping.as_mut().poll(cx).is_ready() {
                *stop_requested = true;
                conn.graceful_shutdown();
            }
            // Every stream the peer has opened is accepted before any is
            // answered, and the connection is driven again once some were:
            // their answers then leave together, in one write, not one each.
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((request, respond)))) => {
                    streams.push(answer(request, respond, config));
                    continue;
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(Error::from(err))),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {}
            }
            if streams.poll(cx) {
                continue;
            }
            if keep_alive.as_mut().is_some_and(|keep_alive| keep_alive.poll_dead(cx).is_ready()) {
                return Poll::Ready(Err(Error::Timeout(Timeout::KeepAlive)));
            }
            let phase = if !streams.is_empty() {
                None
            } else if *idle_closed {
                // The GOAWAY of an idle connection must get out; a peer that
                // reads nothing does not keep it.
                Some((Timeout::Body, config.body_timeout))
            } else {
                Some((Timeout::Idle, config.idle_timeout))
            };
            return match timer.poll(phase, cx) {
                None => Poll::Pending,
                Some(Timeout::Idle) => {
                    *idle_closed = true;
                    conn.abrupt_shutdown(::h2::Reason::NO_ERROR);
                    continue;
                }
                Some(_) => Poll::Ready(Ok(())),
            };
        }
    }
}

/// Answers one stream: calls the handler, then sends the response head
/// and streams its body.
///
/// When the peer resets the stream before the answer, a handler whose
/// request has a body learns it from that body (an [`Error::Http2`] when
/// it reads), so that it can clean up; the handler of a request without a
/// body has nothing to learn it from and is dropped on the spot.
async fn answer<H: Handler, R: Runtime>(
    handler: H,
    request: Request<::h2::RecvStream>,
    mut respond: ::h2::server::SendResponse<Bytes>,
    config: &Config,
    rt: R,
) {
    let head_only = request.method() == Method::HEAD;
    let cancel_on_reset = request.body().is_end_stream();
    let (request, tunnel) = incoming_request(request, super::BodyStall::new(rt.clone(), config.body_timeout));
    let request_head = head_for_hook(&handler, &request);
    let mut call = std::pin::pin!(call_caught(&handler, request));
    let response = std::future::poll_fn(|cx| {
        if cancel_on_reset {
            if let Poll::Ready(reset) = respond.poll_reset(cx) {
                return Poll::Ready(Err(reset));
            }
        }
        call.as_mut().poll(cx).map(Ok)
    })
    .await;
    let response = match response {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            // The panic costs this stream a 500, not the connection's others.
            let err = Error::HandlerPanicked(panic_message(&*panic));
            tracing::error!(%err, "handler panicked");
            if let Some(response) = shaped_response(&handler, &err, request_head.as_ref()) {
                let (parts, body) = response.into_parts();
                return send_response(respond, parts, Body::from(body), head_only, config, rt).await;
            }
            let mut head = http::Response::new(());
            *head.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            date::stamp(&rt, head.headers_mut());
            let _ = respond.send_response(head, true);
            return;
        }
        Err(reset) => {
            tracing::debug!(?reset, "stream reset before its response");
            return;
        }
    };
    let (parts, body) = response.into_parts();
    match tunnel {
        Some((recv, upgrade)) if parts.status.is_success() => open_tunnel(respond, parts, recv, upgrade, config, &rt).await,
        _ => send_response(respond, parts, body, head_only, config, rt).await,
    }
}

/// Answers a `CONNECT` with its `2xx` head, leaving the stream open, and
/// hands the stream to the handler as a flow; the stream's future lasts
/// as long as that flow (the connection counts it as open meanwhile, so
/// its idle timeout does not end a tunnel in use), then, if the flow was
/// shut down, until the peer ends its side, for at most
/// [`Config::body_timeout`].
async fn open_tunnel<R: Runtime>(
    mut respond: ::h2::server::SendResponse<Bytes>,
    mut parts: http::response::Parts,
    recv: ::h2::RecvStream,
    upgrade: upgrade::Pending,
    config: &Config,
    rt: &R,
) {
    date::stamp(rt, &mut parts.headers);
    strip_connection_headers(&mut parts.headers);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let send = match respond.send_response(http::Response::from_parts(parts, ()), false) {
        Ok(send) => send,
        Err(err) => return tracing::debug!(err = %Error::from(err), "cannot answer the CONNECT"),
    };
    let (tunnel, dropped) = Tunnel::new(send, recv);
    upgrade.fulfill(Flow::new(tunnel));
    if let Ok(mut recv) = dropped.await {
        let peer_ends = async {
            while let Some(Ok(data)) = recv.data().await {
                let _ = recv.flow_control().release_capacity(data.len());
            }
        };
        let _ = within(rt, config.body_timeout, peer_ends).await;
    }
}

/// Sends a response's head, then streams its body.
async fn send_response<B, R>(
    mut respond: ::h2::server::SendResponse<Bytes>,
    mut parts: http::response::Parts,
    body: B,
    head_only: bool,
    config: &Config,
    rt: R,
) where
    B: http_body::Body,
    B::Error: Into<crate::BoxError>,
    R: Runtime,
{
    date::stamp(&rt, &mut parts.headers);
    strip_connection_headers(&mut parts.headers);
    set_content_length(&mut parts.headers, &body);
    let no_body = head_only
        || matches!(parts.status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        || http_body::Body::is_end_stream(&body);
    let head = http::Response::from_parts(parts, ());
    let mut stream = match respond.send_response(head, no_body) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(err = %Error::from(err), "cannot send the response head");
            respond.send_reset(::h2::Reason::INTERNAL_ERROR);
            return;
        }
    };
    if no_body {
        return;
    }
    if let Err(err) = send_body(&mut stream, body, &rt, config.body_timeout).await {
        tracing::debug!(%err, "response body not sent");
        stream.send_reset(::h2::Reason::INTERNAL_ERROR);
    }
}

/// The request as a handler sees it, whatever the protocol. A `CONNECT`
/// has an empty body and an [`OnUpgrade`](upgrade::OnUpgrade) instead: its
/// stream is kept for the tunnel a `2xx` answer opens.
fn incoming_request(
    request: Request<::h2::RecvStream>,
    stall: impl crate::body::StallGuard,
) -> (Request<Incoming>, Option<(::h2::RecvStream, upgrade::Pending)>) {
    let (mut parts, stream) = request.into_parts();
    if parts.method == Method::CONNECT {
        let (pending, on_upgrade) = upgrade::pending();
        parts.extensions.insert(on_upgrade);
        return (Request::from_parts(parts, Incoming::empty()), Some((stream, pending)));
    }
    if !parts.headers.contains_key(HOST) {
        let authority = parts.uri.authority().map(|a| HeaderValue::from_str(a.as_str()));
        if let Some(Ok(host)) = authority {
            parts.headers.insert(HOST, host);
        }
    }
    let body = if stream.is_end_stream() {
        Incoming::empty()
    } else {
        Incoming::h2(stream, content_length(&parts.headers), stall)
    };
    (Request::from_parts(parts, body), None)
}
