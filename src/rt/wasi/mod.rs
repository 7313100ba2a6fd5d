//! The WASI 0.2 runtime (`wasm32-wasip2`): an executor on `wasi:io/poll`
//! ([`block_on`], [`spawn`], [`sleep`]), timers from `wasi:clocks`, TCP
//! over `wasi:sockets` ([`connect_tcp`], [`TcpListener`]) with
//! `wasi:sockets/ip-name-lookup` ([`lookup`]), [`end_of_stdin`] (WASI's
//! stand-in for a stop signal), and [`Streams`], the one
//! flow type for both `wasi:sockets` connections and the ones a host hands
//! to a component: the engine cannot tell them apart. Everything runs on
//! the component's one thread; [`Runtime`] needs nothing `Send` there.
//!
//! The executor keeps its tasks between two [`block_on`] calls, so a
//! library component can return from an export and let the connection
//! tasks it spawned go on in the next call (a response body read piece by
//! piece). Why paf has an executor of its own here is in
//! `docs/ARCHITECTURE.md`.

use std::time::Duration;

use crate::flow::BoxFuture;
use crate::rt::Runtime;

mod executor;
mod net;
mod stream;

pub use executor::{block_on, now, sleep, spawn, Sleep};
pub use net::{connect_tcp, lookup, TcpListener, TcpStream};
pub use stream::Streams;

/// Completes when the component's standard input ends: read to its end
/// and discarded. WASI has no signals; a supervisor that wants a server
/// to stop gracefully closes the pipe instead (`paf.wasm serve
/// --stop-on-eof`).
pub async fn end_of_stdin() {
    let stdin = wasip2::cli::stdin::get_stdin();
    loop {
        match stdin.read(64 * 1024) {
            Ok(bytes) if bytes.is_empty() => executor::ready(stdin.subscribe()).await,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The runtime of a WASI 0.2 component: [`spawn`] and [`sleep`] of this
/// module's executor. Futures run inside [`block_on`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasi;

impl Runtime for Wasi {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(sleep(duration))
    }

    fn now(&self) -> Duration {
        now()
    }

    /// `wasi:clocks/wall-clock`, for the `Date` header.
    fn unix_time(&self) -> Option<Duration> {
        let time = wasip2::clocks::wall_clock::now();
        Some(Duration::new(time.seconds, time.nanoseconds))
    }
}
