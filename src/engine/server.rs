//! One HTTP/1.1 server connection: the [`h1::ServerConn`](crate::h1::ServerConn) machine driven over
//! a flow, with the handler and both bodies polled from the same task.
//!
//! The driver is a loop of small steps: take the machine's events (only
//! while the request body has room: back-pressure), poll the handler, pull
//! the response body (only while the write queue is short: back-pressure
//! the other way), write, read. When no step moves, the connection's single
//! timer decides whether the wait has lasted too long.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CONNECTION};
use http::request::Parts;
use http::{Request, StatusCode};

use super::io::{body_size, poll_body_into, read_step, receive_read_ahead, timeout, write_step, ReadSide};
use crate::rt::{within, Timer};
use super::{call_caught, date, head_for_hook, panic_message, shaped_response, upgrade, Caught, Handler};
use crate::body::BodySender;
use crate::error::Timeout;
use crate::h1::{BodyLength, BodySize, RequestHead, ServerConn, ServerEvent};
use crate::rt::Runtime;
use crate::{Config, Error, Flow, Incoming};

/// How long a stopping server waits for the first request of a connection
/// accepted before the stop (at most the header timeout): its client
/// connected to send one, and closing first would reset it unanswered —
/// a request lost, as no client may retry a request on a fresh connection
/// that failed. (Go's `Server.Shutdown` waits 5 s for such connections.)
pub const FIRST_REQUEST_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// At most this many bytes of answers wait in the write queue while
/// pipelined requests already read are answered.
const PIPELINE_BATCH: usize = 64 * 1024;

/// Serves HTTP/1.1 on one flow until the peer closes, an error or timeout
/// ends it, or `stopping` completes (then the request in progress is
/// finished and the connection closed; one that has not sent its first
/// request yet gets [`FIRST_REQUEST_GRACE`] to send it, answered with
/// `Connection: close`). The flow is shut down and dropped on every path,
/// except an upgrade, where it goes to the handler.
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
    serve_connection_after(flow, &[], handler, config, rt, stopping)
}

/// [`serve_connection`] on a flow whose first bytes, `received`, the
/// server has already read (to tell HTTP/2 by prior knowledge from
/// HTTP/1.1): they are the start of the machine's input.
pub(crate) fn serve_connection_after<'a, H, R, S>(
    flow: Flow,
    received: &[u8],
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
    let mut driver = Driver {
        flow: Some(flow),
        conn: ServerConn::new(config.h1.clone()),
        handler,
        config,
        timer: Timer::new(rt.clone()),
        rt,
        read: ReadSide::default(),
        stopping: Box::pin(stopping),
        stop_requested: false,
        first_request_grace: None,
        served: false,
        exchange: None,
        failed: None,
    };
    if !received.is_empty() {
        receive_read_ahead(&mut driver.conn, received, config.read_buffer);
    }
    async move {
        let mut answer = std::pin::pin!(Answer::<H> { response: None, body: None });
        let result = std::future::poll_fn(|cx| driver.poll_drive(answer.as_mut(), cx)).await;
        if let Some(mut flow) = driver.flow.take() {
            // A peer that stopped reading must not hold the task: bounded.
            let _ = within(&driver.rt, config.body_timeout, flow.shutdown()).await;
        }
        result
    }
}

type Response<H> = http::Response<<H as Handler>::Body>;

pin_project_lite::pin_project! {
    /// The handler's answer to the request being answered: the handler's
    /// future until it answers, then the response body until it is all
    /// queued. Pinned in place for the connection's life, so that neither
    /// costs an allocation per request.
    struct Answer<H: Handler> {
        #[pin]
        response: Option<Caught<H>>,
        #[pin]
        body: Option<H::Body>,
    }
}

impl<H: Handler> Answer<H> {
    fn is_pending(&self) -> bool {
        self.response.is_some() || self.body.is_some()
    }
}

/// The request being answered.
struct Exchange {
    request_body: Option<BodySender>,
    expect_continue: bool,
    upgrade: Option<upgrade::Pending>,
    /// A CONNECT: a 2xx answer opens a tunnel.
    connect: bool,
    /// A HEAD: the response body is never sent.
    head: bool,
    /// The request head, kept for the handler's error hook if it has one.
    request_head: Option<Parts>,
}

struct Driver<'c, H: Handler, R, S> {
    flow: Option<Flow>,
    conn: ServerConn,
    handler: H,
    config: &'c Config,
    rt: R,
    timer: Timer<R>,
    read: ReadSide,
    stopping: Pin<Box<S>>,
    stop_requested: bool,
    /// Once stopping, the wait for a first request that has not come.
    first_request_grace: Option<crate::flow::BoxFuture<'static, ()>>,
    /// Whether a request has come on this connection.
    served: bool,
    exchange: Option<Exchange>,
    failed: Option<Error>,
}

impl<H: Handler, R: Runtime, S: Future<Output = ()>> Driver<'_, H, R, S> {
    fn poll_drive(&mut self, mut answer: Pin<&mut Answer<H>>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.read.woken();
        // Once per wake-up is enough: the stop signal wakes this task.
        if !self.stop_requested && self.stopping.as_mut().poll(cx).is_ready() {
            self.stop_requested = true;
        }
        loop {
            let mut moved = self.dispatch_events(answer.as_mut(), cx);
            moved |= self.poll_response(answer.as_mut(), cx)?;
            moved |= self.poll_response_body(answer.as_mut(), cx)?;
            // Requests already read (pipelined) are answered before what
            // is queued is written: their answers then leave in one write.
            let answer_more_first = moved && self.conn.has_input() && self.conn.output().len() < PIPELINE_BATCH;
            if !answer_more_first {
                moved |= self.poll_write(cx)?;
            }

            let output_empty = self.conn.output().is_empty();
            if output_empty {
                if let Some(prefix) = self.conn.take_upgrade() {
                    return Poll::Ready(self.hand_over_upgrade(prefix));
                }
            }
            if output_empty && !answer.is_pending() {
                if let Some(err) = self.failed.take() {
                    return Poll::Ready(Err(err));
                }
                if self.conn.wants_close() || (self.read.eof && self.conn.is_idle()) {
                    return Poll::Ready(Ok(()));
                }
                if self.stop_requested && self.conn.is_idle() {
                    // A request that already arrived is answered (with
                    // `Connection: close`), not reset with the socket:
                    // one read that does not wait tells.
                    if self.poll_read(cx)? {
                        self.timer.note_progress();
                        continue;
                    }
                    if self.served || self.poll_first_request_grace(cx).is_ready() {
                        return Poll::Ready(Ok(()));
                    }
                    // The read above wakes us when the request comes.
                    return Poll::Pending;
                }
            }
            moved |= self.poll_read(cx)?;
            if moved {
                self.timer.note_progress();
                continue;
            }
            let phase = self.phase(&answer);
            return match self.timer.poll(phase, cx) {
                None => Poll::Pending,
                Some(Timeout::Idle) => Poll::Ready(Ok(())),
                Some(Timeout::Header) if self.answer_header_timeout() => continue,
                Some(timeout) => Poll::Ready(Err(Error::Timeout(timeout))),
            };
        }
    }

    /// Ready once a stopping connection has waited long enough for its
    /// first request.
    fn poll_first_request_grace(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let grace = FIRST_REQUEST_GRACE.min(self.config.header_timeout);
        let rt = &self.rt;
        self.first_request_grace.get_or_insert_with(|| rt.sleep(grace)).as_mut().poll(cx)
    }

    /// Takes the machine's events while the request body has room.
    fn dispatch_events(&mut self, mut answer: Pin<&mut Answer<H>>, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        loop {
            if let Some(tx) = self.exchange.as_ref().and_then(|ex| ex.request_body.as_ref()) {
                if !tx.poll_room(cx) {
                    break;
                }
            }
            let Some(event) = self.conn.poll_event() else { break };
            moved = true;
            match event {
                ServerEvent::Request(head) => {
                    self.served = true;
                    self.start_exchange(head, answer.as_mut());
                }
                ServerEvent::Data(data) => {
                    if let Some(tx) = self.request_body() {
                        tx.send_data(data);
                    }
                }
                ServerEvent::Trailers(trailers) => {
                    if let Some(tx) = self.request_body() {
                        tx.send_trailers(trailers);
                    }
                }
                ServerEvent::End => {
                    if let Some(tx) = self.exchange.as_mut().and_then(|ex| ex.request_body.take()) {
                        tx.finish();
                    }
                }
                ServerEvent::Error(err) => {
                    if let Some(tx) = self.exchange.as_mut().and_then(|ex| ex.request_body.take()) {
                        tx.abort(Error::Parse(err.clone()));
                    }
                    let error = Error::Parse(err);
                    // The request still waiting for its answer failed
                    // in its body; otherwise the next head was invalid.
                    let current = self.exchange.as_ref().filter(|_| answer.response.is_some());
                    let head = current.and_then(|ex| ex.request_head.as_ref());
                    shape_error(&self.handler, &self.rt, &mut self.conn, &error, head);
                    self.failed.get_or_insert(error);
                }
            }
        }
        if let Some(ex) = self.exchange.as_mut().filter(|ex| ex.expect_continue) {
            match &ex.request_body {
                Some(tx) if tx.poll_wanted(cx) => {
                    self.conn.send_continue();
                    ex.expect_continue = false;
                    moved = true;
                }
                Some(_) => {}
                None => ex.expect_continue = false,
            }
        }
        moved
    }

    fn request_body(&self) -> Option<&BodySender> {
        self.exchange.as_ref().and_then(|ex| ex.request_body.as_ref())
    }

    fn start_exchange(&mut self, head: RequestHead, answer: Pin<&mut Answer<H>>) {
        let (request_body, body) = match head.body {
            BodyLength::Empty => (None, Incoming::empty()),
            BodyLength::Known(n) => match self.conn.take_whole_body() {
                Some(whole) => (None, Incoming::whole(whole)),
                None => {
                    let (tx, rx) = Incoming::channel(self.config.body_buffer, Some(n));
                    (Some(tx), rx)
                }
            },
            BodyLength::Chunked | BodyLength::UntilClose => {
                let (tx, rx) = Incoming::channel(self.config.body_buffer, None);
                (Some(tx), rx)
            }
        };
        let connect = head.method == http::Method::CONNECT;
        let is_head = head.method == http::Method::HEAD;
        let mut request = Request::new(body);
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;
        let upgrade = head.upgrade.then(|| {
            let (pending, on_upgrade) = upgrade::pending();
            request.extensions_mut().insert(on_upgrade);
            pending
        });
        let request_head = head_for_hook(&self.handler, &request);
        let mut answer = answer.project();
        answer.response.set(Some(call_caught(&self.handler, request)));
        answer.body.set(None);
        self.exchange = Some(Exchange {
            request_body,
            expect_continue: head.expect_continue,
            upgrade,
            connect,
            head: is_head,
            request_head,
        });
    }

    /// Polls the handler; queues the response head when it answers.
    fn poll_response(&mut self, answer: Pin<&mut Answer<H>>, cx: &mut Context<'_>) -> Result<bool, Error> {
        let Some(ex) = self.exchange.as_mut() else { return Ok(false) };
        let mut answer = answer.project();
        let Some(future) = answer.response.as_mut().as_pin_mut() else { return Ok(false) };
        let Poll::Ready(response) = future.poll(cx) else { return Ok(false) };
        answer.response.set(None);
        let response = match response {
            Ok(response) => response,
            Err(panic) => {
                let error = Error::HandlerPanicked(panic_message(&*panic));
                let (status, mut headers, body) = match shaped_response(&self.handler, &error, ex.request_head.as_ref()) {
                    Some(response) => {
                        let (mut parts, body) = response.into_parts();
                        date::stamp(&self.rt, &mut parts.headers);
                        (parts.status, parts.headers, body)
                    }
                    None => (StatusCode::INTERNAL_SERVER_ERROR, http::HeaderMap::new(), bytes::Bytes::new()),
                };
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
                let size = if body.is_empty() { BodySize::Empty } else { BodySize::Known(body.len() as u64) };
                if self.conn.send_response(status, &headers, size).is_ok() {
                    if !body.is_empty() {
                        self.conn.send_data(body)?;
                    }
                    self.conn.send_end()?;
                }
                self.failed.get_or_insert(error);
                return Ok(true);
            }
        };
        let (mut parts, body): (http::response::Parts, _) = Response::<H>::into_parts(response);
        if self.stop_requested {
            parts.headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        self.conn.set_date(date::now(&self.rt));
        let upgrades = parts.status == StatusCode::SWITCHING_PROTOCOLS
            || ex.connect && parts.status.is_success();
        if !upgrades {
            ex.upgrade = None;
        }
        // A handler that answers 2xx while keeping the request body (an
        // echo, a proxy) will read it: the client waits for its `100`.
        let keeps_body = ex.request_body.as_ref().is_some_and(|tx| !tx.is_dropped());
        if ex.expect_continue && keeps_body && parts.status.is_success() {
            self.conn.send_continue();
            ex.expect_continue = false;
        }
        let size = body_size(&body);
        if let Err(err) = self.conn.send_response(parts.status, &parts.headers, size) {
            // The machine already answered (a malformed request) or the
            // response cannot be framed: either way this connection ends.
            self.failed.get_or_insert(err);
            return Ok(true);
        }
        self.conn.recycle_headers(parts.headers);
        // A HEAD response announces a body it never sends: do not pull it.
        if size == BodySize::Empty || ex.head {
            self.conn.send_end()?;
        } else {
            answer.body.set(Some(body));
        }
        Ok(true)
    }

    /// Moves response body frames into the write queue while it is short.
    fn poll_response_body(&mut self, mut answer: Pin<&mut Answer<H>>, cx: &mut Context<'_>) -> Result<bool, Error> {
        let Some(ex) = self.exchange.as_mut() else { return Ok(false) };
        let moved = poll_body_into(answer.as_mut().project().body, &mut self.conn, self.config.body_buffer, cx)?;
        if !answer.is_pending() && ex.request_body.is_none() {
            self.exchange = self.exchange.take().filter(|ex| ex.upgrade.is_some());
        }
        Ok(moved)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let flow = self.flow.as_mut().expect("flow present while driving");
        write_step(flow, &mut self.conn, cx)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        if !self.read.may_read() || !self.conn.wants_read() {
            return Ok(false);
        }
        if let Some(tx) = self.request_body() {
            if !tx.poll_room(cx) {
                return Ok(false);
            }
        }
        // A peer resetting an idle keep-alive connection is no error.
        let reset_is_end = self.conn.is_idle() && self.exchange.is_none();
        let flow = self.flow.as_mut().expect("flow present while driving");
        read_step(flow, &mut self.conn, &mut self.read, self.config.read_buffer, reset_is_end, cx)
    }

    /// The timeout the machine's phase calls for. A handler that is
    /// thinking is its own business; a peer that neither sends the body we
    /// wait for nor reads what we write is not. Nor is a peer that closed
    /// its side while the handler thinks: it may have half-closed and
    /// still wait for the answer, so the handler gets
    /// [`Config::body_timeout`] more, not forever (a client gone for good
    /// would otherwise hold the connection, and one of
    /// [`Config::max_connections`], as long as the handler never answers).
    fn phase(&self, answer: &Answer<H>) -> Option<(Timeout, std::time::Duration)> {
        let body_room = self.request_body().is_some_and(BodySender::has_room);
        let phase = self.conn.phase(body_room).map(|phase| timeout(phase, self.config));
        let thinking = self.exchange.is_some() && answer.response.is_some();
        match phase {
            None if self.read.eof && thinking => Some((Timeout::Body, self.config.body_timeout)),
            phase => phase,
        }
    }

    /// A head that stalls gets the error hook's `408`, if it gives one
    /// (paf's own answer is to close); true when one is queued.
    fn answer_header_timeout(&mut self) -> bool {
        if !self.conn.is_reading_head() {
            return false;
        }
        let error = Error::Timeout(Timeout::Header);
        if !shape_error(&self.handler, &self.rt, &mut self.conn, &error, None) {
            return false;
        }
        self.failed.get_or_insert(error);
        true
    }

    fn hand_over_upgrade(&mut self, prefix: bytes::Bytes) -> Result<(), Error> {
        let flow = self.flow.take().expect("flow present while driving");
        match self.exchange.take().and_then(|ex| ex.upgrade) {
            Some(pending) => pending.fulfill(flow.with_prefix(prefix)),
            None => drop(flow),
        }
        Ok(())
    }
}

/// Queues the error hook's response to `error` in place of the machine's
/// own, if the machine may still answer and the hook gives one; whether it
/// did.
fn shape_error<H: Handler, R: Runtime>(
    handler: &H,
    rt: &R,
    conn: &mut ServerConn,
    error: &Error,
    head: Option<&Parts>,
) -> bool {
    if !conn.may_answer_error() {
        return false;
    }
    let Some(response) = shaped_response(handler, error, head) else { return false };
    let (mut parts, body) = response.into_parts();
    date::stamp(rt, &mut parts.headers);
    conn.answer_error(parts.status, &parts.headers, body)
}
