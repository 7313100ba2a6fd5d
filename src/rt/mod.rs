//! Runtimes: the only code that touches a platform.
//!
//! The engine and the serve loop need three things from a platform: a way to
//! spawn a task, a way to sleep (every timeout is a sleep), and a listener.
//! [`Runtime`] is the first two; [`Listener`] is the third.
//! `rt::native` implements them on tokio; the wasm runtimes live next to it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::Flow;

mod calendar;
mod file;
mod global;
mod pipe;
mod timer;

pub use calendar::UtcTime;
pub use file::{create_private_dir, write_atomically};
pub use global::Global;
pub use pipe::{pipes, PipeConnector, PipeListener};
pub(crate) use timer::{within, Timer, Within};

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
    /// The next connection, with its two ends.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Flow, Endpoints)>> + MaybeSend + '_;
}

/// Who is at the other end of a connection: an IP address and a port, or
/// a name where there is none (the peer of a Unix socket, a flow a host or
/// JS handed in without an address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    /// An IP peer.
    Ip(SocketAddr),
    /// A peer known by a name only.
    Name(String),
}

impl Peer {
    /// The peer a name stands for: an IP peer when the name is an address
    /// and a port (`127.0.0.1:80`, `[::1]:80`, or `::1:80` as Node writes
    /// it), else the name itself.
    pub fn from_name(name: &str) -> Peer {
        if let Ok(address) = name.parse() {
            return Peer::Ip(address);
        }
        let address = name.rsplit_once(':').and_then(|(ip, port)| Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?)));
        address.map_or_else(|| Peer::Name(name.to_owned()), Peer::Ip)
    }

    /// The peer's address, for an IP peer.
    pub fn ip(&self) -> Option<SocketAddr> {
        match self {
            Peer::Ip(address) => Some(*address),
            Peer::Name(_) => None,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(address) => address.fmt(f),
            Peer::Name(name) => f.write_str(name),
        }
    }
}

/// The two ends of an accepted connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The other end.
    pub peer: Peer,
    /// This end's address, where it has one.
    pub local: Option<SocketAddr>,
}

impl Endpoints {
    /// A connection from `peer` to `local`.
    pub fn new(peer: Peer, local: Option<SocketAddr>) -> Endpoints {
        Endpoints { peer, local }
    }

    /// A connection known only by the peer's name (see [`Peer::from_name`]).
    pub fn named(name: &str) -> Endpoints {
        Endpoints { peer: Peer::from_name(name), local: None }
    }
}

#[cfg(test)]
mod tests {
    use super::Peer;

    #[test]
    fn a_peer_name_that_is_an_address_is_an_ip_peer() {
        assert_eq!(Peer::from_name("127.0.0.1:80"), Peer::Ip(([127, 0, 0, 1], 80).into()));
        assert_eq!(Peer::from_name("[::1]:8080").to_string(), "[::1]:8080");
        assert_eq!(Peer::from_name("::ffff:10.0.0.1:443").ip().map(|a| a.port()), Some(443));
        assert_eq!(Peer::from_name("::1:8080").to_string(), "[::1]:8080");
        assert_eq!(Peer::from_name("unix"), Peer::Name("unix".into()));
        assert_eq!(Peer::from_name("js#3"), Peer::Name("js#3".into()));
        assert_eq!(Peer::from_name("host:99999"), Peer::Name("host:99999".into()));
    }
}
