//! The flow of an HTTP/2 stream after a `2xx` answer to `CONNECT` (RFC
//! 9113 §8.5) or to an extended CONNECT (RFC 8441): the stream's DATA
//! frames in both directions, as a byte stream.
//!
//! Reads give the window back to the peer as the bytes are taken, writes
//! wait for the peer's window, and shutting the flow down ends the stream
//! (END_STREAM). The stream's future lasts as long as the flow:
//! [`Tunnel::new`] returns a receiver that completes when the flow is
//! dropped. A flow shut down first hands back its receiving half there,
//! so that the stream stays open until the peer ends its side too (what
//! was sent last, a WebSocket close say, is then delivered rather than
//! cut by a reset); a flow dropped without shutdown resets the stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// The most a single write asks of the peer's window.
const MAX_WRITE: usize = 64 * 1024;

/// One HTTP/2 stream as a flow.
pub(crate) struct Tunnel {
    send: ::h2::SendStream<Bytes>,
    /// Taken only when the flow is dropped.
    recv: Option<::h2::RecvStream>,
    /// Received bytes not yet read.
    unread: Bytes,
    ended: bool,
    /// Where the receiving half goes back when the flow is dropped.
    give_back: Option<oneshot::Sender<::h2::RecvStream>>,
}

impl Tunnel {
    /// The flow over a stream, and what completes when it is dropped:
    /// with the receiving half if the flow was shut down first.
    pub(crate) fn new(
        send: ::h2::SendStream<Bytes>,
        recv: ::h2::RecvStream,
    ) -> (Tunnel, oneshot::Receiver<::h2::RecvStream>) {
        let (give_back, dropped) = oneshot::channel();
        let tunnel = Tunnel { send, recv: Some(recv), unread: Bytes::new(), ended: false, give_back: Some(give_back) };
        (tunnel, dropped)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let (true, Some(recv), Some(give_back)) = (self.ended, self.recv.take(), self.give_back.take()) {
            let _ = give_back.send(recv);
        }
    }
}

fn io_error(err: ::h2::Error) -> io::Error {
    io::Error::other(crate::Error::from(err))
}

impl AsyncRead for Tunnel {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let recv = this.recv.as_mut().expect("taken only on drop");
        while this.unread.is_empty() {
            match ready!(recv.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
                Some(Ok(data)) => this.unread = data,
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..n]);
        this.unread.advance(n);
        // The peer may send as much again: its window follows the reader.
        let _ = recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        this.send.reserve_capacity(buf.len().min(MAX_WRITE));
        let granted = match ready!(this.send.poll_capacity(cx)) {
            None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
            Some(Ok(granted)) => granted.min(buf.len()),
        };
        this.send.send_data(Bytes::copy_from_slice(&buf[..granted]), false).map_err(io_error)?;
        Poll::Ready(Ok(granted))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.ended {
            self.ended = true;
            self.send.send_data(Bytes::new(), true).map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}
