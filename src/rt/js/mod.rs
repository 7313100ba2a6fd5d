//! The JS runtime, for browsers, edge workers, Node, Deno (the target
//! `wasm32-unknown-unknown`, glued with wasm-bindgen): everything the
//! platform gives comes from JS.
//!
//! * [`Js`]: tasks are `spawn_local`, timers are `setTimeout`, the clock is
//!   `performance.now()`. (Randomness is ring's: `crypto.getRandomValues`;
//!   rustls reads certificate dates from `Date.now()`.) Nothing here, or
//!   anywhere in the core, reaches `Instant::now`, which panics on this
//!   target.
//! * [`JsStream`]: a flow made of a *stream pair*, any
//!   `{ readable: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array> }`:
//!   what Cloudflare's `connect()`, Deno, `Duplex.toWeb(socket)` in Node and
//!   WebSocketStream give. Back-pressure both ways, `close()` for a
//!   shutdown, JS errors as [`std::io::Error`]s.
//! * [`STREAM`]: the same registered with mimic; its endpoint carries a
//!   JS `connect({host, port})` function ([`CONNECT`]) that mimic calls.
//!   [`ctx`] and [`https_ctx`] derive it (and TLS in wasm over it) from
//!   [`HOST`] and [`PORT`].
//! * [`JsListener`]: a server's connections from a JS (async) iterator of
//!   stream pairs; [`PairAlpn`] serves each with the protocol its `alpn`
//!   property names (TLS done by the platform), or by its first bytes.
//! * [`ReadableBody`]: a JS `ReadableStream` as a body to send.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use wasm_bindgen::prelude::*;

use crate::flow::BoxFuture;
use crate::rt::Runtime;

mod connect;
mod listener;
mod stream;

pub use connect::*;
pub use listener::{iterator_of, FlowIterator, JsListener, PairAlpn};
pub use stream::{JsStream, ReadableBody, StreamPair};

#[wasm_bindgen(inline_js = r#"
export function startTimer(ms, callback, background) {
  const timer = setTimeout(callback, ms);
  // Node: a background timer does not keep the process alive.
  if (background && typeof timer === "object" && typeof timer.unref === "function") timer.unref();
  return timer;
}
export function stopTimer(timer) { clearTimeout(timer); }
export function monotonicMillis() { return performance.now(); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = startTimer)]
    fn start_timer(ms: f64, callback: &Closure<dyn FnMut()>, background: bool) -> JsValue;
    #[wasm_bindgen(js_name = stopTimer)]
    fn stop_timer(timer: &JsValue);
    #[wasm_bindgen(js_name = monotonicMillis)]
    fn monotonic_millis() -> f64;
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
        wasm_bindgen_futures::spawn_local(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(Sleep::new(duration, self.background))
    }

    /// `performance.now()`: the time since the page, worker or process
    /// started.
    fn now(&self) -> Duration {
        Duration::from_secs_f64(monotonic_millis() / 1000.0)
    }
}

/// A `setTimeout`, cleared when dropped (a timeout that did not fire must
/// not keep Node alive, nor call into a freed closure).
struct Sleep {
    state: Rc<RefCell<SleepState>>,
    timer: JsValue,
    _callback: Closure<dyn FnMut()>,
}

#[derive(Default)]
struct SleepState {
    fired: bool,
    waker: Option<Waker>,
}

impl Sleep {
    fn new(duration: Duration, background: bool) -> Sleep {
        let state = Rc::new(RefCell::new(SleepState::default()));
        let fired = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            let mut state = fired.borrow_mut();
            state.fired = true;
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        });
        // Longer than a JS timer can wait: a timeout that long wakes early.
        let millis = (duration.as_secs_f64() * 1000.0).min(MAX_TIMER_MILLIS);
        let timer = start_timer(millis, &callback, background);
        Sleep { state, timer, _callback: callback }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.fired {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        stop_timer(&self.timer);
    }
}
