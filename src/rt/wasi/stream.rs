//! `wasi:io` streams as tokio's `AsyncRead + AsyncWrite`: the one shape of
//! every flow in a component, whether a `wasi:sockets` connection gave the
//! streams or the host handed them in.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use super::executor::{self, Wait};
use super::net::stream_failure;

/// A pair of `wasi:io` streams, one to read and one to write, as a
/// [`Flow`](crate::Flow) transport, with what is known of the connection:
/// the peer's name and the ALPN protocol negotiated (by a host that
/// terminated TLS, say).
///
/// Shutting it down flushes and drops the output stream: a host that
/// handed the streams in sees the end of the output, as a peer would see
/// a FIN.
pub struct Streams {
    // The waits hold pollables of the streams: they go first.
    read_wait: Wait,
    write_wait: Wait,
    flushing: bool,
    input: Option<InputStream>,
    output: Option<OutputStream>,
    peer: String,
    alpn: Option<Vec<u8>>,
}

impl Streams {
    /// The streams of a connection with `peer` (a name for logs).
    pub fn new(input: InputStream, output: OutputStream, peer: impl Into<String>) -> Streams {
        Streams {
            read_wait: Wait::default(),
            write_wait: Wait::default(),
            flushing: false,
            input: Some(input),
            output: Some(output),
            peer: peer.into(),
            alpn: None,
        }
    }

    /// One stream to read, none to write: a body a host hands in (a
    /// `wasi:http` incoming body). Writes fail as after a shutdown.
    pub fn reading(input: InputStream) -> Streams {
        Streams { input: Some(input), ..Streams::closed() }
    }

    /// One stream to write, none to read: a body handed out to a host (a
    /// `wasi:http` outgoing body). Reads see the end at once.
    pub fn writing(output: OutputStream) -> Streams {
        Streams { output: Some(output), ..Streams::closed() }
    }

    fn closed() -> Streams {
        Streams {
            read_wait: Wait::default(),
            write_wait: Wait::default(),
            flushing: false,
            input: None,
            output: None,
            peer: String::new(),
            alpn: None,
        }
    }

    /// The same, with the ALPN protocol negotiated under them (`b"h2"`,
    /// `b"http/1.1"`), when TLS was terminated outside the component.
    pub fn with_alpn(mut self, alpn: Option<Vec<u8>>) -> Streams {
        self.alpn = alpn;
        self
    }

    /// The peer's name.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The ALPN protocol negotiated outside the component, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Flushes and ends the output, keeping the input: the half-close
    /// [`AsyncWrite::poll_shutdown`] does.
    fn poll_close_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.output.is_none() {
            return Poll::Ready(Ok(()));
        }
        match self.poll_flush_output(cx) {
            Poll::Ready(Ok(())) | Poll::Ready(Err(_)) => {}
            Poll::Pending => return Poll::Pending,
        }
        self.write_wait = Wait::default();
        self.output = None;
        Poll::Ready(Ok(()))
    }

    fn poll_flush_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(output) = &self.output else {
            return Poll::Ready(Ok(()));
        };
        if !self.flushing {
            output.flush().map_err(write_error)?;
            self.flushing = true;
        }
        // The stream accepts writes again once the flush completed.
        loop {
            match output.check_write() {
                Ok(0) => match self.write_wait.poll(cx, || output.subscribe()) {
                    Poll::Ready(()) => continue,
                    Poll::Pending => return Poll::Pending,
                },
                Ok(_) => {
                    self.flushing = false;
                    return Poll::Ready(Ok(()));
                }
                Err(err) => {
                    self.flushing = false;
                    return Poll::Ready(Err(write_error(err)));
                }
            }
        }
    }
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("peer", &self.peer)
            .field("alpn", &self.alpn.as_deref().map(String::from_utf8_lossy))
            .finish_non_exhaustive()
    }
}

fn write_error(err: StreamError) -> io::Error {
    match err {
        StreamError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, "the peer closed the connection"),
        StreamError::LastOperationFailed(err) => stream_failure(&err),
    }
}

impl AsyncRead for Streams {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(executor::poll_budget(cx));
        let this = &mut *self;
        let Some(input) = &this.input else {
            return Poll::Ready(Ok(()));
        };
        loop {
            match input.read(buf.remaining() as u64) {
                Ok(bytes) if bytes.is_empty() => {
                    match this.read_wait.poll(cx, || input.subscribe()) {
                        Poll::Ready(()) => continue,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Ok(bytes) => {
                    executor::spend(bytes.len());
                    buf.put_slice(&bytes);
                    return Poll::Ready(Ok(()));
                }
                Err(StreamError::Closed) => return Poll::Ready(Ok(())),
                Err(StreamError::LastOperationFailed(err)) => return Poll::Ready(Err(stream_failure(&err))),
            }
        }
    }
}

impl AsyncWrite for Streams {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    /// One `write` call for as much of `bufs` as the stream permits: a
    /// response head and its body leave in one segment, never two that
    /// meet Nagle's algorithm and a delayed ACK (`wasi:sockets` has no
    /// `TCP_NODELAY`).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(executor::poll_budget(cx));
        let this = &mut *self;
        let Some(output) = &this.output else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the output was shut down")));
        };
        let permitted = loop {
            match output.check_write() {
                Ok(0) => match this.write_wait.poll(cx, || output.subscribe()) {
                    Poll::Ready(()) => continue,
                    Poll::Pending => return Poll::Pending,
                },
                Ok(permitted) => break usize::try_from(permitted).unwrap_or(usize::MAX),
                Err(err) => return Poll::Ready(Err(write_error(err))),
            }
        };
        let total = bufs.iter().map(|buf| buf.len()).sum::<usize>().min(permitted);
        match bufs.iter().find(|buf| !buf.is_empty()) {
            None => return Poll::Ready(Ok(0)),
            Some(first) if first.len() >= total => output.write(&first[..total]),
            Some(_) => {
                let mut joined = Vec::with_capacity(total);
                for buf in bufs {
                    let take = buf.len().min(total - joined.len());
                    joined.extend_from_slice(&buf[..take]);
                }
                output.write(&joined)
            }
        }
        .map_err(write_error)?;
        executor::spend(total);
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_output(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_output(cx)
    }
}
