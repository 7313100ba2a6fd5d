//! Faults on purpose: a flow that delays, splits, truncates, resets and
//! stalls, seeded and reproducible, to prove that paf fails cleanly.
//!
//! [`FaultFlow`] wraps any [`Flow`]. Every read and every write of it is a
//! point where, with the probabilities of its [`Faults`], it may
//!
//! * **delay** the operation (a sleep of up to [`Faults::max_delay`] on
//!   the flow's runtime);
//! * **split** it: a write takes one byte only, a read gives one byte only;
//! * **truncate** the direction: a read sees the end of the stream from
//!   then on; a write shuts the inner write half (the peer sees its end)
//!   and every later write is swallowed, as a middlebox cutting a stream;
//! * **reset** the connection: the inner flow is dropped and every
//!   operation fails with `ConnectionReset`;
//! * **stall** the direction: the operation never completes (nor does any
//!   later one of that direction), and nothing wakes the task: only the
//!   caller's timers end the wait.
//!
//! Which operation gets which fault is drawn from a small PRNG of its own
//! ([`SplitMix64`]) seeded per connection, once per operation (not per
//! poll), so a connection given the same seed and the same sequence of
//! operations meets the same faults.
//!
//! It is a transport like any other, in the three places paf takes one:
//!
//! * as a server's listener: [`FaultListener`] wraps any
//!   [`Listener`](crate::rt::Listener) (TCP, or in-memory pipes:
//!   [`rt::pipes`](crate::rt::pipes));
//! * as a mimic protocol: [`register`] declares one, with a priority,
//!   over a `connect` of the caller's; put its endpoint (or a fold
//!   deriving it) in a client's context and resolution picks it like TCP;
//! * under TLS or anything else that takes a connect: [`Injector::wrap`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::mimic::{self, Priority, Value, Witness};
use crate::rt::{AnyRuntime, Endpoints, Listener, Runtime};
use crate::Flow;

#[cfg(test)]
mod tests;

/// The probabilities of each fault, per read or write operation, each from
/// 0 (never, the default) to 1.
///
/// `Faults` is non-exhaustive: start from [`Faults::default`] (no fault),
/// [`Faults::benign`] or [`Faults::hostile`] and set fields.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// That the operation waits first, up to [`Faults::max_delay`].
    pub delay: f64,
    /// The longest delay. Default 2 ms.
    pub max_delay: Duration,
    /// That the operation moves a single byte.
    pub split: f64,
    /// That the direction ends here.
    pub truncate: f64,
    /// That the connection is reset here.
    pub reset: f64,
    /// That the direction stops here, forever.
    pub stall: f64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults { delay: 0.0, max_delay: Duration::from_millis(2), split: 0.0, truncate: 0.0, reset: 0.0, stall: 0.0 }
    }
}

impl Faults {
    /// Delays and splits only: a slow, fragmenting network that loses
    /// nothing. Every exchange over it must succeed.
    pub fn benign() -> Faults {
        Faults { delay: 0.05, split: 0.2, ..Faults::default() }
    }

    /// Everything: the benign faults, and a truncation, a reset or a
    /// stall now and then (about one operation in a few hundred).
    pub fn hostile() -> Faults {
        Faults { truncate: 0.002, reset: 0.002, stall: 0.001, ..Faults::benign() }
    }

    /// Whether a fault that loses data (truncate, reset, stall) may happen.
    pub fn loses_data(&self) -> bool {
        self.truncate > 0.0 || self.reset > 0.0 || self.stall > 0.0
    }
}

/// A small, fast PRNG (SplitMix64): reproducible from its seed, not for
/// cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 bits: the precision of an f64 in [0, 1).
        p > 0.0 && ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }
}

/// What happens to one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pass,
    Split,
    Truncate,
    Reset,
    Stall,
}

/// A direction's state.
#[derive(Default)]
struct Half {
    /// The fate of the operation in progress, drawn when it started.
    fate: Option<Fate>,
    /// Its delay, while it lasts.
    sleep: Option<BoxFuture<'static, ()>>,
    /// The direction was truncated or stalled for good.
    ended: Option<Fate>,
}

/// A flow with faults injected. See the [module documentation](self).
pub struct FaultFlow {
    /// `None` once reset.
    inner: Option<Flow>,
    faults: Faults,
    seed: u64,
    rng: SplitMix64,
    rt: AnyRuntime,
    read: Half,
    write: Half,
}

impl FaultFlow {
    /// `flow` with `faults`, drawn from `seed`, delays slept on `rt`.
    pub fn new<R: Runtime>(flow: Flow, faults: Faults, seed: u64, rt: R) -> FaultFlow {
        FaultFlow {
            inner: Some(flow),
            faults,
            seed,
            rng: SplitMix64::new(seed),
            rt: AnyRuntime::new(rt),
            read: Half::default(),
            write: Half::default(),
        }
    }

    /// The seed its faults are drawn from (to replay a connection).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The flow inside, until a reset dropped it.
    pub fn inner(&self) -> Option<&Flow> {
        self.inner.as_ref()
    }

    /// Whether a fault reset the connection.
    pub fn is_reset(&self) -> bool {
        self.inner.is_none()
    }

    /// Draws the fate (and the delay) of a new operation on `half`.
    fn draw(&mut self, write: bool) {
        let faults = self.faults;
        let rng = &mut self.rng;
        let delay = rng.chance(faults.delay).then(|| {
            let nanos = u64::try_from(faults.max_delay.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rng.below(nanos.saturating_add(1)))
        });
        let fate = if rng.chance(faults.reset) {
            Fate::Reset
        } else if rng.chance(faults.truncate) {
            Fate::Truncate
        } else if rng.chance(faults.stall) {
            Fate::Stall
        } else if rng.chance(faults.split) {
            Fate::Split
        } else {
            Fate::Pass
        };
        let sleep = delay.map(|delay| self.rt.sleep(delay));
        let half = if write { &mut self.write } else { &mut self.read };
        half.fate = Some(fate);
        half.sleep = sleep;
    }

    /// The fate of the operation in progress on one half, once its delay
    /// is over; `None` while it waits.
    fn poll_fate(&mut self, write: bool, cx: &mut Context<'_>) -> Poll<Fate> {
        let drawn = if write { self.write.fate.is_some() } else { self.read.fate.is_some() };
        if !drawn {
            self.draw(write);
        }
        let half = if write { &mut self.write } else { &mut self.read };
        if let Some(sleep) = half.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            half.sleep = None;
        }
        Poll::Ready(half.fate.expect("drawn just above"))
    }

    fn reset(&mut self) -> io::Error {
        if let Some(inner) = self.inner.take() {
            tracing::debug!(seed = self.seed, "fault: connection reset");
            drop(inner);
        }
        reset_error()
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset (an injected fault)")
}

impl std::fmt::Debug for FaultFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultFlow").field("seed", &self.seed).field("faults", &self.faults).finish_non_exhaustive()
    }
}

impl AsyncRead for FaultFlow {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.inner.is_none() {
            return Poll::Ready(Err(reset_error()));
        }
        match this.read.ended {
            Some(Fate::Stall) => return Poll::Pending,
            Some(_) => return Poll::Ready(Ok(())),
            None => {}
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let fate = ready!(this.poll_fate(false, cx));
        let inner = match fate {
            Fate::Reset => {
                this.read.fate = None;
                return Poll::Ready(Err(this.reset()));
            }
            Fate::Truncate | Fate::Stall => {
                this.read.fate = None;
                this.read.ended = Some(fate);
                tracing::debug!(seed = this.seed, ?fate, "fault: reads end");
                return if fate == Fate::Stall { Poll::Pending } else { Poll::Ready(Ok(())) };
            }
            Fate::Pass | Fate::Split => Pin::new(this.inner.as_mut().expect("checked above")),
        };
        let result = if fate == Fate::Split {
            let mut one = [0u8; 1];
            let mut small = ReadBuf::new(&mut one);
            let result = ready!(inner.poll_read(cx, &mut small));
            buf.put_slice(small.filled());
            result
        } else {
            ready!(inner.poll_read(cx, buf))
        };
        this.read.fate = None;
        Poll::Ready(result)
    }
}

impl AsyncWrite for FaultFlow {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.inner.is_none() {
            return Poll::Ready(Err(reset_error()));
        }
        match this.write.ended {
            Some(Fate::Stall) => return Poll::Pending,
            Some(_) => return Poll::Ready(Ok(buf.len())),
            None => {}
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let fate = ready!(this.poll_fate(true, cx));
        let inner = Pin::new(this.inner.as_mut().expect("checked above"));
        match fate {
            Fate::Reset => {
                this.write.fate = None;
                Poll::Ready(Err(this.reset()))
            }
            Fate::Truncate => {
                // The peer must see the end: shut the inner write half
                // (errors too are an end), then swallow what comes.
                let _ = ready!(inner.poll_shutdown(cx));
                tracing::debug!(seed = this.seed, "fault: writes truncated");
                this.write.fate = None;
                this.write.ended = Some(Fate::Truncate);
                Poll::Ready(Ok(buf.len()))
            }
            Fate::Stall => {
                tracing::debug!(seed = this.seed, "fault: writes stall");
                this.write.fate = None;
                this.write.ended = Some(Fate::Stall);
                Poll::Pending
            }
            Fate::Split => {
                let result = ready!(inner.poll_write(cx, &buf[..1]));
                this.write.fate = None;
                Poll::Ready(result)
            }
            Fate::Pass => {
                let result = ready!(inner.poll_write(cx, buf));
                this.write.fate = None;
                Poll::Ready(result)
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_half(|inner| inner.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_half(|inner| inner.poll_shutdown(cx))
    }
}

impl FaultFlow {
    /// A flush or a shutdown: failed once reset, never done once writes
    /// stall, done at once once they were truncated, else `op` on the
    /// inner flow.
    fn poll_write_half(&mut self, op: impl FnOnce(Pin<&mut Flow>) -> Poll<io::Result<()>>) -> Poll<io::Result<()>> {
        match (self.inner.as_mut(), self.write.ended) {
            (None, _) => Poll::Ready(Err(reset_error())),
            (Some(_), Some(Fate::Stall)) => Poll::Pending,
            (Some(_), Some(_)) => Poll::Ready(Ok(())),
            (Some(inner), None) => op(Pin::new(inner)),
        }
    }
}

/// Wraps flows in [`FaultFlow`]s, each with a seed of its own derived
/// from one seed and a count: the `n`th flow it wraps always gets the
/// same seed. Cheap to clone; clones share the count.
#[derive(Clone, Debug)]
pub struct Injector {
    faults: Faults,
    seed: u64,
    count: Arc<AtomicU64>,
    rt: AnyRuntime,
}

impl Injector {
    /// An injector of `faults`, seeded with `seed`, sleeping on `rt`.
    pub fn new<R: Runtime>(faults: Faults, seed: u64, rt: R) -> Injector {
        Injector { faults, seed, count: Arc::new(AtomicU64::new(0)), rt: AnyRuntime::new(rt) }
    }

    /// The faults it injects.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// How many flows it wrapped.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `flow` with faults.
    pub fn wrap(&self, flow: Flow) -> FaultFlow {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let seed = SplitMix64::new(self.seed ^ n.wrapping_mul(0xA076_1D64_78BD_642F)).next_u64();
        FaultFlow::new(flow, self.faults, seed, self.rt.clone())
    }
}

/// A [`Listener`] whose connections go through a [`FaultFlow`] each.
#[derive(Debug)]
pub struct FaultListener<L> {
    inner: L,
    injector: Injector,
}

impl<L: Listener> FaultListener<L> {
    /// `inner`'s connections with `faults`, drawn from `seed`.
    pub fn new(inner: L, faults: Faults, seed: u64) -> FaultListener<L> {
        let injector = Injector::new(faults, seed, inner.runtime());
        FaultListener { inner, injector }
    }

    /// The injector, to read how many connections it wrapped.
    pub fn injector(&self) -> &Injector {
        &self.injector
    }
}

impl<L: Listener> Listener for FaultListener<L> {
    type Runtime = L::Runtime;

    fn runtime(&self) -> L::Runtime {
        self.inner.runtime()
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        let (flow, endpoints) = self.inner.accept().await?;
        Ok((Flow::new(self.injector.wrap(flow)), endpoints))
    }
}

/// Declares a mimic protocol named `name` whose connections are those of
/// `connect` through a [`FaultFlow`] of `injector`: a user's transport,
/// chosen by `priority` as any other (TCP is 100 on the native platform:
/// a lower number comes first). Returns its endpoint value, what
/// `connect` takes, and the witness of its flows.
pub fn register<A, C, F>(
    name: &'static str,
    priority: impl Into<Priority>,
    injector: Injector,
    connect: C,
) -> (Value<A>, Witness<FaultFlow>)
where
    A: Clone + MaybeSend + MaybeSync + 'static,
    C: Fn(A) -> F + MaybeSend + MaybeSync + 'static,
    F: Future<Output = io::Result<Flow>> + MaybeSend + 'static,
{
    mimic::register(
        name,
        priority,
        mimic::protocol_fn(move |endpoint: A| {
            let connecting = connect(endpoint);
            let injector = injector.clone();
            async move { Ok(injector.wrap(connecting.await?)) }
        }),
    )
}
