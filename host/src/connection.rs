//! A native connection as the two `wasi:io` streams of a `paf:http` flow,
//! and the watch that kills a connection's instance when it computes
//! without moving a byte.
//!
//! The streams read and write the native stream (TCP, or TLS over it) in
//! the component's own calls, as wasmtime's `wasi:sockets` streams do: a
//! `read` takes what the socket has, a `write` goes to the socket at once
//! and only what the socket does not take waits, for the stream's
//! pollable. No task or channel sits between the component and the socket.
//!
//! Every byte moved, either way, counts as progress; so does each answer
//! of the handler (see [`Progress`]).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wasmtime::format_err;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// The most a read takes from the socket at once.
const READ_CHUNK: usize = 16 * 1024;
/// What a write may hand over before it must wait for the socket.
const WRITE_BUDGET: usize = 64 * 1024;
/// How long the end of the output may take (what is still unsent, then
/// TLS's close_notify and the FIN) before the connection is dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// A count of what moved on a connection: bytes either way, and the
/// handler's answers. It only grows.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `stream` as a flow's input and output streams, moving bytes as
/// `progress`.
pub fn streams<S>(stream: S, progress: Progress) -> (DynInputStream, DynOutputStream)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Connection {
        stream,
        received: BytesMut::new(),
        read_end: None,
        unsent: Bytes::new(),
        write_failed: None,
        progress,
    }));
    (Box::new(Input(shared.clone())), Box::new(Output(shared)))
}

struct Connection<S> {
    stream: S,
    /// Read from the socket, not yet taken by the component.
    received: BytesMut,
    /// How reading ended (end of stream, or an error), once it did.
    read_end: Option<ReadEnd>,
    /// Written by the component, not yet taken by the socket.
    unsent: Bytes,
    write_failed: Option<io::Error>,
    progress: Progress,
}

enum ReadEnd {
    Closed,
    Failed(io::Error),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Ready when bytes were received or reading ended.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.received.is_empty() || self.read_end.is_some() {
            return Poll::Ready(());
        }
        self.received.reserve(READ_CHUNK);
        let read = pin!(self.stream.read_buf(&mut self.received)).poll(cx);
        match read {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) => self.read_end = Some(ReadEnd::Closed),
            Poll::Ready(Ok(_)) => self.progress.note(),
            Poll::Ready(Err(err)) => self.read_end = Some(ReadEnd::Failed(err)),
        }
        Poll::Ready(())
    }

    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if size == 0 {
            return Ok(Bytes::new());
        }
        if self.poll_receive(&mut Context::from_waker(Waker::noop())).is_pending() {
            return Ok(Bytes::new());
        }
        if !self.received.is_empty() {
            let n = size.min(self.received.len());
            return Ok(self.received.split_to(n).freeze());
        }
        match self.read_end.replace(ReadEnd::Closed) {
            Some(ReadEnd::Failed(err)) => Err(StreamError::LastOperationFailed(err.into())),
            _ => Err(StreamError::Closed),
        }
    }

    /// Hands what is unsent to the socket; ready when all of it went, or
    /// writing failed.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.unsent.is_empty() && self.write_failed.is_none() {
            let written = pin!(self.stream.write_buf(&mut self.unsent)).poll(cx);
            match written {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => self.write_failed = Some(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(_)) => self.progress.note(),
                Poll::Ready(Err(err)) => self.write_failed = Some(err),
            }
        }
        Poll::Ready(())
    }

    fn write_error(&mut self) -> StreamResult<()> {
        match self.write_failed.take() {
            None => Ok(()),
            Some(err) => {
                // Reported once; the stream stays closed.
                self.write_failed = Some(io::ErrorKind::BrokenPipe.into());
                match err.kind() {
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Err(StreamError::Closed),
                    _ => Err(StreamError::LastOperationFailed(err.into())),
                }
            }
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let sent = self.poll_send(&mut Context::from_waker(Waker::noop()));
        self.write_error()?;
        Ok(if sent.is_ready() { WRITE_BUDGET } else { 0 })
    }

    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_error()?;
        if !self.unsent.is_empty() || bytes.len() > WRITE_BUDGET {
            return Err(StreamError::Trap(format_err!("write of {} bytes not permitted by check-write", bytes.len())));
        }
        self.unsent = bytes;
        let _ = self.poll_send(&mut Context::from_waker(Waker::noop()));
        self.write_error()
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(self.poll_send(cx));
        if self.write_failed.is_some() {
            return Poll::Ready(());
        }
        pin!(self.stream.shutdown()).poll(cx).map(|_| ())
    }
}

/// The input stream of a flow.
struct Input<S>(Arc<Mutex<Connection<S>>>);

/// The output stream of a flow. When the component drops it (ends its
/// output), wasmtime cancels it: what is unsent goes, then the end of the
/// stream (TLS's close_notify, a FIN), within [`CLOSE_LIMIT`].
struct Output<S>(Arc<Mutex<Connection<S>>>);

fn lock<S>(shared: &Mutex<Connection<S>>) -> MutexGuard<'_, Connection<S>> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Pollable for Input<S> {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| lock(&self.0).poll_receive(cx)).await
    }
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> InputStream for Input<S> {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        lock(&self.0).read(size)
    }
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Pollable for Output<S> {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| lock(&self.0).poll_send(cx)).await
    }
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> OutputStream for Output<S> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.0).write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writes go to the socket as they come; what waits is sent as the
        // socket takes it.
        lock(&self.0).write_error()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        lock(&self.0).check_write()
    }

    async fn cancel(&mut self) {
        let close = std::future::poll_fn(|cx| lock(&self.0).poll_close(cx));
        let _ = tokio::time::timeout(CLOSE_LIMIT, close).await;
    }
}

/// Decides, at each epoch tick an instance computes through, whether it
/// has computed for longer than its limit without [`Progress`]: a stretch
/// of ticks with no progress, each within two ticks of the last (an
/// instance that waited in between, for its peer or a timer, starts a new
/// stretch).
pub struct BusyWatch {
    progress: Progress,
    limit: Duration,
    tick: Duration,
    seen: u64,
    last_tick: Instant,
    stretch_start: Instant,
}

impl BusyWatch {
    pub fn new(progress: Progress, limit: Duration, tick: Duration) -> BusyWatch {
        let now = Instant::now();
        BusyWatch { seen: progress.get(), progress, limit, tick, last_tick: now, stretch_start: now }
    }

    /// At a tick: Err when the limit is passed.
    pub fn tick(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let moved = self.progress.get();
        if moved != self.seen || now.duration_since(self.last_tick) > 2 * self.tick {
            self.stretch_start = now;
        }
        self.seen = moved;
        self.last_tick = now;
        let busy = now.duration_since(self.stretch_start);
        if busy > self.limit {
            return Err(format!(
                "the connection's instance computed for {} ms without moving a byte (limit {} ms: --busy-timeout)",
                busy.as_millis(),
                self.limit.as_millis()
            ));
        }
        Ok(())
    }
}
