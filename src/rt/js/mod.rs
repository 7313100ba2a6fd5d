//! The JS runtime, for browsers, edge workers, Node, Deno (the target
//! `wasm32-unknown-unknown`, glued with wasm-bindgen): everything the
//! platform gives comes from JS.
//!
//! * [`Js`]: tasks run on paf's own queue ([`spawn`]: a task woken while
//!   JS is inside paf runs before paf returns, see [`entered`]), timers
//!   are `setTimeout`, the clock is `performance.now()`, the wall clock
//!   (a server's `Date` header) `Date.now()`. (Randomness is
//!   ring's: `crypto.getRandomValues`; rustls reads certificate dates
//!   from `Date.now()`.) Nothing here, or
//!   anywhere in the core, reaches `Instant::now`, which panics on this
//!   target.
//! * [`JsStream`]: a flow made of a *stream pair*, any
//!   `{ readable: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array> }`:
//!   what Cloudflare's `connect()`, Deno, `Duplex.toWeb(socket)` in Node and
//!   WebSocketStream give. Back-pressure both ways, `close()` for a
//!   shutdown, JS errors as [`std::io::Error`]s. A pair that also has a
//!   `socket` (events in, calls out, as Node's sockets: paf's Node
//!   adapters give one) is used through it, without a promise per chunk.
//! * [`Connect`]: a JS `connect({host, port})` function giving stream
//!   pairs (`platform::js` registers it with mimic).
//! * [`JsListener`]: a server's connections from a JS (async) iterator of
//!   stream pairs.
//! * [`ReadableBody`]: a JS `ReadableStream` as a body to send.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use wasm_bindgen::prelude::*;

use crate::flow::BoxFuture;
use crate::rt::Runtime;

mod connect;
mod executor;
mod listener;
mod socket;
mod stream;

pub use connect::Connect;
pub use executor::{entered, spawn};
pub use listener::{iterator_of, FlowIterator, JsListener};
pub use stream::{JsStream, PairTls, ReadableBody, StreamPair};

#[wasm_bindgen(inline_js = r#"
export function startTimer(ms, callback, background) {
  const timer = setTimeout(callback, ms);
  // Node: a background timer does not keep the process alive.
  if (background && typeof timer === "object" && typeof timer.unref === "function") timer.unref();
  return timer;
}
export function stopTimer(timer) { clearTimeout(timer); }
export function contextBound() { return globalThis.navigator?.userAgent === "Cloudflare-Workers"; }
export function monotonicMillis() { return performance.now(); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = startTimer)]
    fn start_timer(ms: f64, callback: &Closure<dyn FnMut()>, background: bool) -> JsValue;
    #[wasm_bindgen(js_name = stopTimer)]
    fn stop_timer(timer: &JsValue);
    #[wasm_bindgen(js_name = monotonicMillis)]
    fn monotonic_millis() -> f64;
    /// Whether timers and promises belong to the event that made them, as
    /// in workerd (Cloudflare Workers), where one made by a fetch event
    /// that has ended never fires or settles.
    #[wasm_bindgen(js_name = contextBound)]
    pub(crate) fn context_bound() -> bool;
}

/// The JS event loop as a [`Runtime`].
///
/// `Js::default()` keeps timers as JS does: a pending one keeps Node
/// alive. [`Js::background`] makes timers that do not (Node's `unref`):
/// for a client, whose idle pooled connections must not keep a script
/// from ending; what holds the process while a request is in flight is
/// then the caller's business.
#[derive(Debug, Clone, Copy, Default)]
pub struct Js {
    background: bool,
}

impl Js {
    /// Timers that keep the event loop alive (the default).
    pub fn new() -> Js {
        Js::default()
    }

    /// Timers that do not keep Node's event loop alive (`unref`).
    pub fn background() -> Js {
        Js { background: true }
    }
}

/// The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days);
/// a longer one would fire at once.
const MAX_TIMER_MILLIS: f64 = 2_147_483_647.0;

impl Runtime for Js {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(Sleep::new(duration, self.background))
    }

    /// `performance.now()`: the time since the page, worker or process
    /// started.
    fn now(&self) -> Duration {
        Duration::from_secs_f64(monotonic_millis() / 1000.0)
    }

    /// `Date.now()`, for the `Date` header.
    fn unix_time(&self) -> Option<Duration> {
        Duration::try_from_secs_f64(js_sys::Date::now() / 1000.0).ok()
    }
}

/// The sleeps of one kind (foreground or background), with one JS timer
/// armed for the earliest deadline. A sleep is a slot in a slab: starting
/// and dropping one is a push and a pop, and costs no call to JS unless
/// it is the new earliest. Most sleeps are timeouts dropped long before
/// they are due (a request's, say); one that fires makes the timer scan
/// the slab for the next deadline.
///
/// Where timers belong to the event that made them ([`context_bound`]:
/// workerd), one timer for all would be that of an event that may end
/// before the deadline, and never fire: each sleep has its own JS timer
/// there, made where it starts (each firing scans the slab as well).
struct Timers {
    background: bool,
    /// A JS timer per sleep ([`context_bound`]).
    per_sleep: bool,
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// How many slots are [`Slot::Waiting`].
    waiting: usize,
    /// The JS timer and the deadline it fires for: at or before every
    /// waiting deadline.
    armed: Option<(u64, JsValue)>,
    /// The callback of the JS timers, made once.
    fire: Option<Closure<dyn FnMut()>>,
}

enum Slot {
    Free,
    /// Until its deadline, in µs of the JS clock; the waker of the task
    /// that last polled it; its own JS timer, if sleeps have one.
    Waiting(u64, Option<Waker>, Option<JsValue>),
    Fired,
}

thread_local! {
    static FOREGROUND: RefCell<Timers> = RefCell::new(Timers::new(false));
    static BACKGROUND: RefCell<Timers> = RefCell::new(Timers::new(true));
}

fn with_timers<T>(background: bool, f: impl FnOnce(&mut Timers) -> T) -> T {
    let timers = if background { &BACKGROUND } else { &FOREGROUND };
    timers.with(|timers| f(&mut timers.borrow_mut()))
}

fn now_micros() -> u64 {
    (monotonic_millis() * 1000.0) as u64
}

/// The delay of a JS timer for `deadline`: never early (a timer rounds to
/// whole milliseconds), never longer than `setTimeout` takes.
fn millis_until(deadline: u64) -> f64 {
    (deadline.saturating_sub(now_micros()) as f64 / 1000.0).ceil().min(MAX_TIMER_MILLIS)
}

impl Timers {
    fn new(background: bool) -> Timers {
        let per_sleep = context_bound();
        Timers { background, per_sleep, slots: Vec::new(), free: Vec::new(), waiting: 0, armed: None, fire: None }
    }

    fn add(&mut self, deadline: u64) -> usize {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::Free);
            self.slots.len() - 1
        });
        let own = self.per_sleep.then(|| self.start(deadline));
        self.slots[index] = Slot::Waiting(deadline, None, own);
        self.waiting += 1;
        if !self.per_sleep && self.armed.as_ref().is_none_or(|(armed, _)| deadline < *armed) {
            self.arm(deadline);
        }
        index
    }

    fn poll(&mut self, index: usize, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.slots[index] {
            Slot::Waiting(_, waker, _) => {
                if !waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }

    fn remove(&mut self, index: usize) {
        if let Slot::Waiting(_, _, own) = std::mem::replace(&mut self.slots[index], Slot::Free) {
            self.waiting -= 1;
            if let Some(timer) = own {
                stop_timer(&timer);
            }
        }
        self.free.push(index);
        // Nothing waits: an armed foreground timer must not keep Node up.
        // (A background one may fire for nothing, which is cheaper than
        // clearing it each time the last sleep goes, between requests.)
        if self.waiting == 0 && !self.background {
            self.disarm();
        }
    }

    /// Fires the sleeps that are due and arms the JS timer for the next.
    fn fire_due(&mut self) -> Vec<Waker> {
        self.armed = None;
        let now = now_micros();
        let mut due = Vec::new();
        let mut next: Option<u64> = None;
        for slot in &mut self.slots {
            match slot {
                Slot::Waiting(deadline, waker, _) if *deadline <= now => {
                    due.extend(waker.take());
                    *slot = Slot::Fired;
                    self.waiting -= 1;
                }
                Slot::Waiting(deadline, _, _) => next = Some(next.map_or(*deadline, |next| next.min(*deadline))),
                _ => {}
            }
        }
        if let Some(deadline) = next.filter(|_| !self.per_sleep) {
            self.arm(deadline);
        }
        due
    }

    /// Arms the JS timer for `deadline`, in place of the one armed.
    fn arm(&mut self, deadline: u64) {
        self.disarm();
        self.armed = Some((deadline, self.start(deadline)));
    }

    /// A JS timer that fires the sleeps due at `deadline`.
    fn start(&mut self, deadline: u64) -> JsValue {
        let background = self.background;
        let fire = self.fire.get_or_insert_with(|| {
            Closure::new(move || {
                // Woken once the timers are free again: a woken task may
                // start a sleep.
                entered(|| {
                    for waker in with_timers(background, Timers::fire_due) {
                        waker.wake();
                    }
                })
            })
        });
        start_timer(millis_until(deadline), fire, background)
    }

    fn disarm(&mut self) {
        if let Some((_, timer)) = self.armed.take() {
            stop_timer(&timer);
        }
    }
}

/// A sleep: its slot in the [`Timers`] of its kind; dropped, it leaves them.
struct Sleep {
    index: usize,
    background: bool,
}

impl Sleep {
    fn new(duration: Duration, background: bool) -> Sleep {
        let deadline = now_micros().saturating_add(duration.as_micros().try_into().unwrap_or(u64::MAX));
        let index = with_timers(background, |timers| timers.add(deadline));
        Sleep { index, background }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        with_timers(self.background, |timers| timers.poll(self.index, cx))
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        with_timers(self.background, |timers| timers.remove(self.index));
    }
}
