//! A *flow* is any byte stream: a TCP or Unix socket, a TLS session, a WASI
//! socket, a pair of JS streams, an in-memory pipe.
//!
//! [`Flow`] boxes anything that implements tokio's `AsyncRead + AsyncWrite`
//! (the io traits compile on every target; the tokio *runtime* is native
//! only). [`Flow::new`] injects a transport; [`Flow::downcast_ref`] gives it
//! back (the *repr* of mimic), for example to read the ALPN protocol that a
//! TLS flow negotiated.

use std::any::Any;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `Send` on native targets, nothing on wasm, where everything runs on one
/// thread and JS or WASI handles are not `Send`.
#[cfg(not(target_family = "wasm"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_family = "wasm"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` on native targets, nothing on wasm.
#[cfg(target_family = "wasm")]
pub trait MaybeSend {}
#[cfg(target_family = "wasm")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets, nothing on wasm.
#[cfg(not(target_family = "wasm"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_family = "wasm"))]
impl<T: Sync + ?Sized> MaybeSync for T {}
/// `Sync` on native targets, nothing on wasm.
#[cfg(target_family = "wasm")]
pub trait MaybeSync {}
#[cfg(target_family = "wasm")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future that is `Send` exactly when the target has threads.
#[cfg(not(target_family = "wasm"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
/// A boxed future that is `Send` exactly when the target has threads.
#[cfg(target_family = "wasm")]
pub type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// A value taken across a `Send + Sync` bound that a library puts on what
/// it is given (instant-acme's HTTP client trait object and its futures,
/// for one), where paf's own types are [`MaybeSend`]. Natively it is the
/// value itself, `Send` and `Sync` exactly when the value is. On wasm it
/// is both: paf runs on one thread there (that is why [`MaybeSend`] is
/// empty), so nothing can take the value to another.
pub struct OneThread<T>(pub T);

// SAFETY: on wasm paf has one thread (no shared-memory threads are
// started: the targets paf builds for have no `atomics`), so a value is
// never sent to, nor shared with, another thread.
#[cfg(target_family = "wasm")]
unsafe impl<T> Send for OneThread<T> {}
// SAFETY: as for `Send`.
#[cfg(target_family = "wasm")]
unsafe impl<T> Sync for OneThread<T> {}

impl<F: std::future::Future + Unpin> std::future::Future for OneThread<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// What a transport must implement to become a [`Flow`].
pub trait Transport: AsyncRead + AsyncWrite + Unpin + MaybeSend + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + MaybeSend + 'static> Transport for T {}

trait Erased: Transport {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Transport> Erased for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A byte stream of any kind. See the [module documentation](self).
pub struct Flow {
    io: Box<dyn Erased>,
}

impl Flow {
    /// Injects a transport.
    pub fn new<T: Transport>(io: T) -> Flow {
        Flow { io: Box::new(io) }
    }

    /// An in-memory, connected pair of flows, each buffering up to
    /// `capacity` bytes in each direction (tests, in-page pipes).
    pub fn pipe(capacity: usize) -> (Flow, Flow) {
        let (a, b) = tokio::io::duplex(capacity);
        (Flow::new(a), Flow::new(b))
    }

    /// Whether the transport inside is a `T`.
    pub fn is<T: Transport>(&self) -> bool {
        (*self.io).as_any().is::<T>()
    }

    /// The transport inside, if it is a `T`.
    pub fn downcast_ref<T: Transport>(&self) -> Option<&T> {
        (*self.io).as_any().downcast_ref::<T>()
    }

    /// The transport inside, mutably, if it is a `T`.
    pub fn downcast_mut<T: Transport>(&mut self) -> Option<&mut T> {
        (*self.io).as_any_mut().downcast_mut::<T>()
    }

    /// Takes the transport back out; gives the flow back unchanged when it
    /// is not a `T`.
    pub fn downcast<T: Transport>(self) -> Result<T, Flow> {
        if self.is::<T>() {
            let any = self.io.into_any();
            Ok(*any.downcast::<T>().expect("type checked just above"))
        } else {
            Err(self)
        }
    }

    /// Puts `prefix` in front of what the flow will read next: the bytes a
    /// protocol engine had already read past its own end (an upgrade).
    pub fn with_prefix(self, prefix: Bytes) -> Flow {
        if prefix.is_empty() {
            return self;
        }
        Flow::new(Rewind { prefix, flow: self })
    }

    /// Flushes and shuts down the write half (a TCP FIN, a TLS close_notify).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        tokio::io::AsyncWriteExt::shutdown(self).await
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").finish_non_exhaustive()
    }
}

impl AsyncRead for Flow {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Flow {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

/// A flow with bytes already read from it put back in front.
struct Rewind {
    prefix: Bytes,
    flow: Flow,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.flow).poll_read(cx, buf)
    }
}

write_through!(Rewind, flow);

/// Implements `AsyncWrite` for `$wrapper` by handing each call to its
/// `$flow` field: for wrappers of a [`Flow`] that change only what is read.
macro_rules! write_through {
    ($wrapper:ty, $flow:ident) => {
        impl ::tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::tokio::io::AsyncWrite::poll_write(::std::pin::Pin::new(&mut self.$flow), cx, buf)
            }
            fn poll_write_vectored(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::tokio::io::AsyncWrite::poll_write_vectored(::std::pin::Pin::new(&mut self.$flow), cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                ::tokio::io::AsyncWrite::is_write_vectored(&self.$flow)
            }
            fn poll_flush(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::tokio::io::AsyncWrite::poll_flush(::std::pin::Pin::new(&mut self.$flow), cx)
            }
            fn poll_shutdown(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::tokio::io::AsyncWrite::poll_shutdown(::std::pin::Pin::new(&mut self.$flow), cx)
            }
        }
    };
}
pub(crate) use write_through;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    #[tokio::test]
    async fn pipe_carries_bytes_both_ways_and_shutdown_ends_the_peer() {
        let (mut a, mut b) = Flow::pipe(64);
        a.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        b.write_all(b"pong").await.unwrap();
        b.shutdown().await.unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"pong");
    }

    #[test]
    fn downcast_gives_the_transport_back_or_the_flow_unchanged() {
        let (a, _b) = tokio::io::duplex(8);
        let flow = Flow::new(a);
        assert!(flow.is::<DuplexStream>());
        assert!(flow.downcast_ref::<DuplexStream>().is_some());
        let flow = match flow.downcast::<Flow>() {
            Ok(_) => panic!("a duplex stream is not a Flow"),
            Err(flow) => flow,
        };
        assert!(flow.downcast::<DuplexStream>().is_ok());
    }

    #[tokio::test]
    async fn prefix_is_read_before_the_flow() {
        let (a, mut b) = Flow::pipe(64);
        let mut a = a.with_prefix(Bytes::from_static(b"head-"));
        b.write_all(b"tail").await.unwrap();
        b.shutdown().await.unwrap();
        let mut all = String::new();
        a.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "head-tail");
    }
}
