//! The serve loop: accept connections, run each in its own task, stop on a
//! switch and drain what is in flight.
//!
//! One task per connection means a slow or malicious client never holds up
//! `accept` (OCaml paf's issue #60); a connection's error goes to
//! [`Serve::on_error`] and the loop goes on (its #28); every flow is
//! dropped, hence closed, when its task ends, on every path (its #72).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::future::{select, Either};
use tokio::sync::{watch, Semaphore};

use crate::engine::Serve;
use crate::rt::{within, Listener, Runtime};
use crate::{Config, Error};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct State {
    initialized: bool,
    stopped: bool,
}

/// The stop switch of a server, and its "initialized" signal.
///
/// Clone it, hand one clone to [`serve`], keep the other: await
/// [`Switch::initialized`] to know the server accepts, call
/// [`Switch::stop`] to stop accepting and drain the requests in flight.
#[derive(Debug, Clone)]
pub struct Switch {
    state: Arc<watch::Sender<State>>,
}

impl Default for Switch {
    fn default() -> Self {
        Switch::new()
    }
}

impl Switch {
    /// A switch that is on.
    pub fn new() -> Switch {
        Switch { state: Arc::new(watch::Sender::new(State::default())) }
    }

    /// Stops the server: no more connections are accepted; the requests in
    /// flight finish (within [`Config::drain_timeout`]) and idle keep-alive
    /// connections close.
    pub fn stop(&self) {
        self.state.send_modify(|s| s.stopped = true);
    }

    /// Whether [`Switch::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.state.borrow().stopped
    }

    /// Completes when the switch is stopped.
    pub async fn stopped(&self) {
        self.wait(|s| s.stopped).await
    }

    /// Completes once the server accepts connections.
    pub async fn initialized(&self) {
        self.wait(|s| s.initialized).await
    }

    async fn wait(&self, condition: impl Fn(&State) -> bool) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = rx.wait_for(|s| condition(s)).await;
    }
}

/// The switch's signals as every connection waits for them: a
/// [`Signal`] each, so that a connection holds a [`Wait`] of 32 bytes
/// rather than a wait on the switch's channel of its own (about 230 bytes
/// each, held by an idle connection for its whole life, once to stop and
/// once to be forced), and polling one is an atomic load.
struct Signals {
    stopped: Signal,
    forced: Signal,
}

/// A one-time signal many futures wait for.
#[derive(Clone, Default)]
struct Signal(Arc<SignalState>);

#[derive(Default)]
struct SignalState {
    fired: AtomicBool,
    wakers: Mutex<Wakers>,
}

/// The wakers of the waits registered, by key.
#[derive(Default)]
struct Wakers {
    /// `None` for a free key.
    by_key: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Signal {
    /// Wakes every wait; any wait polled from now on is ready.
    fn fire(&self) {
        self.0.fired.store(true, Ordering::Release);
        let wakers = self.0.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.by_key.iter().flatten() {
            waker.wake_by_ref();
        }
    }

    fn wait(&self) -> Wait {
        Wait { signal: self.0.clone(), registered: None }
    }
}

/// A future ready once its [`Signal`] fired.
struct Wait {
    signal: Arc<SignalState>,
    /// Once polled: where the signal keeps this wait's waker, and a copy
    /// of that waker (a poll with the same one needs no lock).
    registered: Option<(usize, Waker)>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if self.registered.as_ref().is_some_and(|(_, waker)| waker.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut wakers = this.signal.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        // Fired between the load above and the lock: the wakers were
        // already woken, this one would not be.
        if this.signal.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let key = match &this.registered {
            Some((key, _)) => *key,
            None => match wakers.free.pop() {
                Some(key) => key,
                None => {
                    wakers.by_key.push(None);
                    wakers.by_key.len() - 1
                }
            },
        };
        let waker = cx.waker().clone();
        wakers.by_key[key] = Some(waker.clone());
        this.registered = Some((key, waker));
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some((key, _)) = self.registered {
            let mut wakers = self.signal.wakers.lock().unwrap_or_else(PoisonError::into_inner);
            wakers.by_key[key] = None;
            wakers.free.push(key);
        }
    }
}

/// Serves one connection in a task of its own, holding its `permit`
/// until it ends (or the drain timeout forces it closed).
fn spawn_connection<S: Serve, R: Runtime>(
    service: &S,
    flow: crate::Flow,
    endpoints: crate::rt::Endpoints,
    config: &Arc<Config>,
    rt: &R,
    signals: &Signals,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let connection = service.serve_connection(flow, endpoints, config.clone(), rt.clone(), signals.stopped.wait());
    let forced = signals.forced.wait();
    rt.spawn(Box::pin(ConnectionTask { connection, forced, permit }));
}

pin_project_lite::pin_project! {
    /// A connection's task: its future until it ends or `forced` does,
    /// then the `permit` goes back. A named type rather than an `async`
    /// block, which would hold the connection's future twice (captured,
    /// and pinned), for the connection's whole life.
    struct ConnectionTask<C, F> {
        #[pin]
        connection: C,
        #[pin]
        forced: F,
        permit: tokio::sync::OwnedSemaphorePermit,
    }
}

impl<C: Future<Output = ()>, F: Future<Output = ()>> Future for ConnectionTask<C, F> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.project();
        if this.connection.poll(cx).is_ready() {
            return std::task::Poll::Ready(());
        }
        if this.forced.poll(cx).is_ready() {
            return std::task::Poll::Ready(());
        }
        std::task::Poll::Pending
    }
}

/// How long to wait after a failed `accept` (out of file descriptors, ...)
/// before the next one, so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `service` on every connection of `listener` until `switch` is
/// stopped; then drains the requests in flight and returns.
///
/// `service` is a [`Handler`](crate::Handler) for HTTP/1.1 (and h2c when [`Config::h2c`]
/// is on), or an [`alpn::service`](crate::engine::alpn::service) for TLS with HTTP/1.1 and HTTP/2 by
/// ALPN; see [`Serve`].
pub async fn serve<L: Listener, S: Serve>(
    mut listener: L,
    service: S,
    config: Config,
    switch: Switch,
) -> Result<(), Error> {
    let rt = listener.runtime();
    let config = Arc::new(config);
    let slots = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(slots));
    let signals = Signals { stopped: Signal::default(), forced: Signal::default() };
    // The stop reaches the connections whenever the switch is stopped,
    // even if this loop is no longer polled.
    rt.spawn(Box::pin({
        let (switch, stopped) = (switch.clone(), signals.stopped.clone());
        async move {
            switch.stopped().await;
            stopped.fire();
        }
    }));
    switch.state.send_modify(|s| s.initialized = true);
    loop {
        let permit = match select(
            std::pin::pin!(permits.clone().acquire_owned()),
            std::pin::pin!(switch.stopped()),
        )
        .await
        {
            Either::Left((permit, _)) => permit.expect("the semaphore is never closed"),
            Either::Right(_) => break,
        };
        let accepted = match select(std::pin::pin!(listener.accept()), std::pin::pin!(switch.stopped())).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => break,
        };
        let (flow, endpoints) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                service.on_error("listener", &Error::Io(err));
                rt.sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        spawn_connection(&service, flow, endpoints, &config, &rt, &signals, permit);
    }
    // Connections the platform already completed (a TCP backlog) would be
    // reset when the listener closes, their requests unanswered: take
    // those that are there now, and serve them as stopping connections
    // (a request already sent on one is answered, with `Connection:
    // close`).
    while let Ok(permit) = permits.clone().try_acquire_owned() {
        match futures_util::FutureExt::now_or_never(listener.accept()) {
            Some(Ok((flow, endpoints))) => spawn_connection(&service, flow, endpoints, &config, &rt, &signals, permit),
            _ => break,
        }
    }
    drop(listener);
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    if within(&rt, config.drain_timeout, permits.acquire_many(all)).await.is_none() {
        // Logged here, once, rather than by each connection: naming its
        // peer would take room in every connection for its whole life.
        let left = slots - permits.available_permits();
        tracing::debug!(connections = left, "closing the connections left at the drain timeout");
        signals.forced.fire();
        let _ = within(&rt, Duration::from_secs(1), permits.acquire_many(all)).await;
    }
    Ok(())
}
