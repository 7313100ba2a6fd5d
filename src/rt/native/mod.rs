//! The native runtime: tokio tasks and timers, TCP and Unix listeners, and
//! (in `net`) the resolver and the TCP and Unix connects.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::flow::BoxFuture;
use crate::rt::Runtime;
use crate::rt::{Endpoints, Listener, Peer};
use crate::Flow;

mod net;
#[cfg(unix)]
pub use net::connect_unix;
pub use net::{connect_tcp, lookup};

/// The tokio runtime paf runs on natively (the ambient one: call from
/// inside a tokio runtime).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Duration {
        // tokio's clock, so that a paused test clock pauses it too.
        static ORIGIN: std::sync::LazyLock<tokio::time::Instant> =
            std::sync::LazyLock::new(tokio::time::Instant::now);
        tokio::time::Instant::now().duration_since(*ORIGIN)
    }

    fn unix_time(&self) -> Option<Duration> {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()
    }
}

/// A TCP listener for [`crate::serve`](fn@crate::serve).
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
}

impl TcpListener {
    /// Binds `addr` (`"127.0.0.1:8080"`, `"[::]:0"`, ...).
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: tokio::net::TcpListener::bind(addr).await? })
    }

    /// The address it listens on (to learn the port after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl From<tokio::net::TcpListener> for TcpListener {
    fn from(inner: tokio::net::TcpListener) -> Self {
        TcpListener { inner }
    }
}

impl Listener for TcpListener {
    type Runtime = Tokio;

    fn runtime(&self) -> Tokio {
        Tokio
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        let (stream, peer) = self.inner.accept().await?;
        // Small responses must not wait for Nagle's algorithm.
        stream.set_nodelay(true)?;
        let local = stream.local_addr().ok();
        Ok((Flow::new(stream), Endpoints::new(Peer::Ip(peer), local)))
    }
}

/// A Unix-socket listener for [`crate::serve`](fn@crate::serve).
#[derive(Debug)]
pub struct UnixListener {
    inner: tokio::net::UnixListener,
}

impl UnixListener {
    /// Binds the socket file at `path` (which must not exist yet).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener { inner: tokio::net::UnixListener::bind(path)? })
    }
}

impl Listener for UnixListener {
    type Runtime = Tokio;

    fn runtime(&self) -> Tokio {
        Tokio
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        let (stream, _) = self.inner.accept().await?;
        Ok((Flow::new(stream), Endpoints::new(Peer::Name("unix".to_string()), None)))
    }
}
