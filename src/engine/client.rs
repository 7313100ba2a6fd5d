//! The low-level HTTP/1.1 client over one flow.
//!
//! [`handshake`] spawns the connection's driver on the runtime and returns
//! a [`SendRequest`]; each [`SendRequest::send`] waits for the connection to
//! be free, writes the request (streaming its body) and resolves with the
//! response head, whose [`Incoming`] body streams as the driver reads it.
//!
//! ```no_run
//! # #[cfg(not(target_family = "wasm"))]
//! # async fn run() -> Result<(), paf::Error> {
//! use paf::{Body, Request};
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
//! let mut sender = paf::engine::client::handshake(
//!     paf::Flow::new(tcp), &paf::Config::default(), &paf::rt::native::Tokio);
//! let request = Request::get("http://127.0.0.1:8080/").body(Body::empty()).unwrap();
//! let response = sender.send(request).await?;
//! println!("{} {:?}", response.status(), response.into_body().bytes().await?);
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::sync::{mpsc, oneshot};

use super::io::{body_size, poll_body_into, read_step, timeout, write_step, ReadSide};
use crate::rt::{within, Timer};
use super::upgrade;
use crate::body::BodySender;
use crate::error::Timeout;
use crate::h1::{BodyLength, ClientConn, ClientEvent, ParseError, ResponseHead};
use crate::rt::Runtime;
use crate::{Body, Config, Error, Flow, Incoming};

/// How long a request with `Expect: 100-continue` waits for the `100`
/// before sending its body anyway (RFC 9110 §10.1.1 leaves it open; curl
/// waits one second too).
const EXPECT_CONTINUE_WAIT: Duration = Duration::from_secs(1);

type ResponseTx = oneshot::Sender<Result<Response<Incoming>, Error>>;

struct Job {
    request: Request<Body>,
    response: ResponseTx,
}

/// Sends requests over one HTTP/1.1 connection, one at a time.
#[derive(Debug, Clone)]
pub struct SendRequest {
    // Unbounded, so that sending is no future of its own: each sender
    // waits for its response, so the queue holds at most one job per
    // caller waiting.
    jobs: mpsc::UnboundedSender<Job>,
    /// Why the connection ended, once it has: what a request that comes
    /// too late is answered.
    ended: Arc<OnceLock<Error>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("uri", self.request.uri()).finish()
    }
}

/// Starts an HTTP/1.1 connection over `flow`; its driver runs on `rt`
/// until every [`SendRequest`] is dropped, the server closes, or it fails.
pub fn handshake<R: Runtime>(flow: Flow, config: &Config, rt: &R) -> SendRequest {
    let (jobs_tx, jobs) = mpsc::unbounded_channel();
    let driver = Driver {
        flow: Some(flow),
        conn: ClientConn::new(config.h1.clone()),
        config: config.clone(),
        jobs,
        jobs_done: false,
        timer: Timer::new(rt.clone()),
        expect_timer: Timer::new(rt.clone()),
        read: ReadSide::default(),
        request_body: None,
        response: None,
        response_body: None,
        upgrade: None,
        sent_connect: false,
    };
    let rt2 = rt.clone();
    let ended = Arc::new(OnceLock::new());
    let ended_by = ended.clone();
    rt.spawn(Box::pin(async move {
        let mut driver = driver;
        let result = std::future::poll_fn(|cx| driver.poll_drive(cx)).await;
        if let Err(err) = &result {
            tracing::debug!(%err, "client connection ended");
            let _ = ended_by.set(err.told_again());
            driver.fail_pending(err);
        }
        if let Some(mut flow) = driver.flow.take() {
            let _ = within(&rt2, driver.config.body_timeout, flow.shutdown()).await;
        }
    }));
    SendRequest { jobs: jobs_tx, ended }
}

impl SendRequest {
    /// Sends `request` once the connection is free and resolves with the
    /// response head; the body streams from the returned [`Incoming`].
    /// The request's URI gives the target and, when absent, the `Host`.
    pub async fn send(&mut self, request: Request<Body>) -> Result<Response<Incoming>, Error> {
        let (response, answer) = oneshot::channel();
        self.jobs.send(Job { request, response }).map_err(|_| self.why_ended())?;
        answer.await.map_err(|_| self.why_ended())?
    }

    /// The connection's failure, or [`Error::Closed`] when it just closed.
    fn why_ended(&self) -> Error {
        self.ended.get().map_or(Error::Closed, Error::told_again)
    }

    /// Whether the connection has ended; a closed sender fails every send.
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }
}

struct Driver<R> {
    flow: Option<Flow>,
    conn: ClientConn,
    config: Config,
    jobs: mpsc::UnboundedReceiver<Job>,
    jobs_done: bool,
    timer: Timer<R>,
    expect_timer: Timer<R>,
    read: ReadSide,
    request_body: Option<Pin<Box<Body>>>,
    response: Option<ResponseTx>,
    response_body: Option<BodySender>,
    upgrade: Option<upgrade::Pending>,
    /// The request in flight is a CONNECT: a 2xx answer opens a tunnel.
    sent_connect: bool,
}

impl<R: Runtime> Driver<R> {
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.read.woken();
        loop {
            let mut moved = self.poll_job(cx)?;
            moved |= self.poll_request_body(cx)?;
            moved |= self.poll_write(cx)?;
            moved |= self.dispatch_events(cx)?;
            let output_empty = self.conn.output().is_empty();
            if output_empty {
                if let Some(prefix) = self.conn.take_upgrade() {
                    let flow = self.flow.take().expect("flow present while driving");
                    if let Some(pending) = self.upgrade.take() {
                        pending.fulfill(flow.with_prefix(prefix));
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            let busy = self.response.is_some() || self.response_body.is_some();
            let finished = self.conn.wants_close() || self.read.eof || self.jobs_done && self.conn.is_idle();
            if output_empty && !busy && self.request_body.is_none() && finished {
                return Poll::Ready(Ok(()));
            }
            moved |= self.poll_read(cx)?;
            if moved {
                self.timer.note_progress();
                continue;
            }
            if self.request_body.is_some() && !self.conn.may_send_body() {
                let wait = Some((Timeout::Header, EXPECT_CONTINUE_WAIT));
                if self.expect_timer.poll(wait, cx).is_some() {
                    self.conn.continue_anyway();
                    continue;
                }
            } else {
                self.expect_timer.poll(None, cx);
            }
            let phase = self.phase();
            return match self.timer.poll(phase, cx) {
                None => Poll::Pending,
                Some(Timeout::Idle) => Poll::Ready(Ok(())),
                Some(timeout) => Poll::Ready(Err(Error::Timeout(timeout))),
            };
        }
    }

    /// Starts the next request when the connection is free.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        if self.jobs_done || !self.conn.is_idle() || self.response.is_some() {
            return Ok(false);
        }
        if self.response_body.is_some() || self.request_body.is_some() {
            return Ok(false);
        }
        let job = match self.jobs.poll_recv(cx) {
            Poll::Pending => return Ok(false),
            Poll::Ready(None) => {
                self.jobs_done = true;
                return Ok(true);
            }
            Poll::Ready(Some(job)) => job,
        };
        let (parts, body) = job.request.into_parts();
        let size = body_size(&body);
        if let Err(err) = self.conn.send_request(&parts.method, &parts.uri, &parts.headers, size) {
            let _ = job.response.send(Err(err));
            return Ok(true);
        }
        if size == crate::h1::BodySize::Empty {
            self.conn.send_end()?;
        } else {
            self.request_body = Some(Box::pin(body));
        }
        self.response = Some(job.response);
        self.sent_connect = parts.method == http::Method::CONNECT;
        Ok(true)
    }

    fn poll_request_body(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        if !self.conn.may_send_body() {
            return Ok(false);
        }
        poll_body_into(Pin::new(&mut self.request_body), &mut self.conn, self.config.body_buffer, cx)
    }

    fn dispatch_events(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut moved = false;
        loop {
            if let Some(tx) = &self.response_body {
                if !tx.poll_room(cx) {
                    break;
                }
            }
            let Some(event) = self.conn.poll_event() else { break };
            moved = true;
            match event {
                ClientEvent::Informational(head) => {
                    tracing::trace!(status = %head.status, "interim response");
                }
                ClientEvent::Response(head) => self.deliver_response(head),
                ClientEvent::Data(data) => {
                    if let Some(tx) = &self.response_body {
                        tx.send_data(data);
                    }
                }
                ClientEvent::Trailers(trailers) => {
                    if let Some(tx) = &self.response_body {
                        tx.send_trailers(trailers);
                    }
                }
                ClientEvent::End => {
                    if let Some(tx) = self.response_body.take() {
                        tx.finish();
                    }
                }
                // The server closing mid-message (or before answering at
                // all: a stale keep-alive connection) is no malformed input.
                ClientEvent::Error(ParseError::Incomplete) => return Err(Error::IncompleteMessage),
                ClientEvent::Error(err) => return Err(Error::Parse(err)),
            }
        }
        Ok(moved)
    }

    fn deliver_response(&mut self, head: ResponseHead) {
        // A request body still streaming is moot once the answer is final
        // and the machine says it may not be sent.
        if !self.conn.may_send_body() {
            self.request_body = None;
        }
        let tunnel = self.sent_connect && head.status.is_success();
        let upgrading = head.status == http::StatusCode::SWITCHING_PROTOCOLS || tunnel;
        let whole = match head.body {
            BodyLength::Known(_) if !upgrading => self.conn.take_whole_body(),
            _ => None,
        };
        let body = match (whole, head.body) {
            (Some(bytes), _) => Incoming::whole(bytes),
            (None, BodyLength::Empty) => Incoming::empty(),
            (None, length) => {
                let known = match length {
                    BodyLength::Known(n) => Some(n),
                    _ => None,
                };
                let (tx, rx) = Incoming::channel(self.config.body_buffer, known);
                self.response_body = Some(tx);
                rx
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        if upgrading {
            let (pending, on_upgrade) = upgrade::pending();
            response.extensions_mut().insert(on_upgrade);
            self.upgrade = Some(pending);
        }
        if upgrading || !self.conn.keeps_alive() {
            // No request after this one: senders see the connection closed
            // now (a pool does not take it back), not once it has shut.
            self.jobs.close();
        }
        if let Some(tx) = self.response.take() {
            let _ = tx.send(Ok(response));
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let flow = self.flow.as_mut().expect("flow present while driving");
        write_step(flow, &mut self.conn, cx)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        if !self.read.may_read() || !self.conn.wants_read() {
            return Ok(false);
        }
        if let Some(tx) = &self.response_body {
            if !tx.poll_room(cx) {
                return Ok(false);
            }
        }
        let flow = self.flow.as_mut().expect("flow present while driving");
        read_step(flow, &mut self.conn, &mut self.read, self.config.read_buffer, false, cx)
    }

    /// The timeout the machine's phase calls for. The server taking its
    /// time to answer is the caller's to bound (the high-level client's
    /// request timeout), not a stall.
    fn phase(&self) -> Option<(Timeout, Duration)> {
        let body_room = self.response_body.as_ref().is_some_and(BodySender::has_room);
        self.conn.phase(body_room).map(|phase| timeout(phase, &self.config))
    }

    /// Gives the connection's failure to whoever waits on this exchange.
    fn fail_pending(&mut self, err: &Error) {
        let reason = || err.told_again();
        if let Some(tx) = self.response.take() {
            let _ = tx.send(Err(reason()));
        }
        if let Some(tx) = self.response_body.take() {
            tx.abort(reason());
        }
    }
}

