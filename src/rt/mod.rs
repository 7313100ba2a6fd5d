//! Runtimes: the only code that touches a platform.
//!
//! The engine and the serve loop need three things from a platform: a way to
//! spawn a task, a way to sleep (every timeout is a sleep), and a listener.
//! [`Runtime`] is the first two; [`Listener`] is the third.
//! `rt::native` implements them on tokio; the wasm runtimes live next to it.

use std::future::Future;
use std::io;
use std::time::Duration;

use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::Flow;

mod global;
mod timer;

pub use global::Global;
pub(crate) use timer::{within, Timer};

#[cfg(not(target_family = "wasm"))]
pub mod native;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod wasi;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod js;


/// Spawn and sleep, as the platform provides them.
pub trait Runtime: Clone + MaybeSend + MaybeSync + 'static {
    /// Runs `task` in the background, concurrently with the caller.
    fn spawn(&self, task: BoxFuture<'static, ()>);
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// A monotonic clock: the time elapsed since an origin the runtime
    /// fixes (only differences mean something), for measurements such as
    /// the client's [`Timings`](crate::client::Timings). The core reads no
    /// clock of its own: one would panic on `wasm32-unknown-unknown`. The
    /// default is a clock that never moves, so that every measured
    /// duration is zero.
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    /// The wall clock, as the time since the Unix epoch, for the `Date`
    /// header servers send. `None` (the default) when the platform has no
    /// clock: responses then go without `Date`, as RFC 9110 allows.
    fn unix_time(&self) -> Option<Duration> {
        None
    }
}

/// A runtime of any type, for what holds one without being generic over it
/// (the high-level client, an HTTP/2 client's body tasks).
#[derive(Clone)]
pub struct AnyRuntime(std::sync::Arc<dyn DynRuntime>);

impl AnyRuntime {
    /// Erases the type of `rt`.
    pub fn new<R: Runtime>(rt: R) -> AnyRuntime {
        AnyRuntime(std::sync::Arc::new(rt))
    }
}

impl std::fmt::Debug for AnyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyRuntime")
    }
}

/// [`Runtime`] without `Clone`, so that it can be a trait object.
trait DynRuntime: MaybeSend + MaybeSync {
    fn spawn_dyn(&self, task: BoxFuture<'static, ()>);
    fn sleep_dyn(&self, duration: Duration) -> BoxFuture<'static, ()>;
    fn now_dyn(&self) -> Duration;
    fn unix_time_dyn(&self) -> Option<Duration>;
}

impl<R: Runtime> DynRuntime for R {
    fn spawn_dyn(&self, task: BoxFuture<'static, ()>) {
        self.spawn(task)
    }
    fn sleep_dyn(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleep(duration)
    }
    fn now_dyn(&self) -> Duration {
        self.now()
    }
    fn unix_time_dyn(&self) -> Option<Duration> {
        self.unix_time()
    }
}

impl Runtime for AnyRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.0.spawn_dyn(task)
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.sleep_dyn(duration)
    }
    fn now(&self) -> Duration {
        self.0.now_dyn()
    }
    fn unix_time(&self) -> Option<Duration> {
        self.0.unix_time_dyn()
    }
}

/// A source of accepted connections: a TCP or Unix listener, a WASI
/// socket, flows handed in by a host or by JS.
pub trait Listener: MaybeSend + 'static {
    /// The runtime the accepted connections run on.
    type Runtime: Runtime;
    /// The runtime the accepted connections run on.
    fn runtime(&self) -> Self::Runtime;
    /// The next connection, with a name for its peer (for logs).
    fn accept(&mut self) -> impl Future<Output = io::Result<(Flow, String)>> + MaybeSend + '_;
}
