//! What the server and client drivers share: moving queued bytes to the
//! flow, reading from it, and the timeout of each phase the h1 machine says.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Timeout;
use crate::h1::{Conn, Phase, Role, WriteQueue};
use crate::{Config, Flow};

/// How many buffers go into one vectored write.
const MAX_IOVECS: usize = 64;
/// Most writes carry a head and a body: their slices are set up in a small
/// array (setting up all `MAX_IOVECS` cost more than the rest of the write).
const FEW_IOVECS: usize = 4;

/// Writes as much of `queue` as the flow takes now, then flushes once it is
/// empty. Ready(true) when bytes moved.
fn poll_write_queue(
    flow: &mut Flow,
    queue: &mut WriteQueue,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    let mut moved = false;
    while !queue.is_empty() {
        let written = if !flow.is_write_vectored() {
            Pin::new(&mut *flow).poll_write(cx, queue.front())
        } else if queue.buffers() <= FEW_IOVECS {
            poll_write_slices::<FEW_IOVECS>(flow, queue, cx)
        } else {
            poll_write_slices::<MAX_IOVECS>(flow, queue, cx)
        };
        match written {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                queue.advance(n);
                moved = true;
            }
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return if moved { Poll::Ready(Ok(true)) } else { Poll::Pending },
        }
    }
    match Pin::new(&mut *flow).poll_flush(cx) {
        Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(moved)),
        Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
    }
}

/// One vectored write of up to `N` of `queue`'s buffers.
fn poll_write_slices<const N: usize>(
    flow: &mut Flow,
    queue: &WriteQueue,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut slices = [io::IoSlice::new(&[]); N];
    let n = queue.io_slices(&mut slices);
    Pin::new(flow).poll_write_vectored(cx, &slices[..n])
}

/// Reads once, appending to `buf` (the machine's own input buffer, so
/// that bytes are not copied from a separate read buffer); when less than
/// `MIN_SPARE` bytes are free, `chunk` more are reserved first. Reserved
/// memory is not touched until read into, so an idle connection costs
/// only what it has received. Ready(Ok(0)) is end of stream.
fn poll_read_into(
    flow: &mut Flow,
    buf: &mut BytesMut,
    chunk: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < MIN_SPARE {
        buf.reserve(chunk.max(MIN_SPARE));
    }
    let spare = buf.spare_capacity_mut();
    let start = spare.as_ptr();
    let mut read_buf = ReadBuf::uninit(spare);
    match Pin::new(flow).poll_read(cx, &mut read_buf) {
        Poll::Ready(Ok(())) => {
            let n = read_buf.filled().len();
            // A reader could have swapped in another buffer.
            assert_eq!(read_buf.filled().as_ptr(), start.cast(), "the flow read into another buffer");
            // SAFETY: the first `n` spare bytes were initialized by the read
            // (`ReadBuf::filled`), in this very buffer (checked above).
            unsafe { buf.set_len(buf.len() + n) };
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
        Poll::Pending => Poll::Pending,
    }
}

/// Hands `conn` bytes read from the flow before it existed, in a buffer
/// with the room [`read_step`] would reserve for reading `chunk` more.
pub(crate) fn receive_read_ahead(conn: &mut Conn<impl Role>, bytes: &[u8], chunk: usize) {
    conn.receive_into(|buf| {
        buf.reserve(bytes.len() + chunk.max(MIN_SPARE));
        buf.extend_from_slice(bytes);
    });
}

/// Below this many free bytes in the input buffer, more are reserved
/// before a read.
const MIN_SPARE: usize = 1024;

/// The timeout of a phase the machine is in, from the configuration.
pub(crate) fn timeout(phase: Phase, config: &Config) -> (Timeout, Duration) {
    match phase {
        Phase::Idle => (Timeout::Idle, config.idle_timeout),
        Phase::Head => (Timeout::Header, config.header_timeout),
        Phase::Body => (Timeout::Body, config.body_timeout),
    }
}

/// Writes what `conn` has queued to `flow`. Ok(true) when bytes moved.
pub(crate) fn write_step(
    flow: &mut Flow,
    conn: &mut Conn<impl Role>,
    cx: &mut Context<'_>,
) -> Result<bool, crate::Error> {
    match poll_write_queue(flow, conn.output(), cx) {
        Poll::Ready(moved) => Ok(moved?),
        Poll::Pending => Ok(false),
    }
}

/// What a driver knows of its flow's read side.
#[derive(Debug, Default)]
pub(crate) struct ReadSide {
    /// The flow reached its end.
    pub eof: bool,
    /// The flow had nothing to read since the task was last woken: it wakes
    /// the task when it has, so reading again before then would find nothing.
    waiting: bool,
}

impl ReadSide {
    /// The task was woken (a new poll): the flow may have bytes again.
    pub(crate) fn woken(&mut self) {
        self.waiting = false;
    }

    /// Whether reading now could bring bytes or the end.
    pub(crate) fn may_read(&self) -> bool {
        !self.eof && !self.waiting
    }
}

/// Reads from `flow` into `conn` once, `chunk` bytes at most. Ok(true)
/// when bytes came or the stream ended (then `read.eof` is set and `conn`
/// told). With `reset_is_end`, a failed read counts as the end (a peer
/// resetting a connection nothing is exchanged on).
pub(crate) fn read_step(
    flow: &mut Flow,
    conn: &mut Conn<impl Role>,
    read: &mut ReadSide,
    chunk: usize,
    reset_is_end: bool,
    cx: &mut Context<'_>,
) -> Result<bool, crate::Error> {
    match conn.receive_into(|buf| poll_read_into(flow, buf, chunk, cx)) {
        Poll::Pending => {
            read.waiting = true;
            Ok(false)
        }
        Poll::Ready(Ok(0)) => {
            read.eof = true;
            conn.receive_eof();
            Ok(true)
        }
        Poll::Ready(Ok(_)) => Ok(true),
        Poll::Ready(Err(_)) if reset_is_end => {
            read.eof = true;
            conn.receive_eof();
            Ok(true)
        }
        Poll::Ready(Err(err)) => Err(err.into()),
    }
}

/// Moves frames of `body` into the connection while its write queue holds
/// less than `high_water` bytes (back-pressure towards the body); ends the
/// message and clears `body` when it is done. Ok(true) when frames moved.
pub(crate) fn poll_body_into<B>(
    mut body: Pin<&mut Option<B>>,
    conn: &mut Conn<impl Role>,
    high_water: usize,
    cx: &mut Context<'_>,
) -> Result<bool, crate::Error>
where
    B: http_body::Body,
    B::Error: Into<crate::BoxError>,
{
    use bytes::Buf;
    let mut moved = false;
    while let Some(stream) = body.as_mut().as_pin_mut() {
        if conn.output().len() >= high_water {
            break;
        }
        match stream.poll_frame(cx) {
            Poll::Pending => break,
            Poll::Ready(Some(Ok(frame))) => {
                moved = true;
                match frame.into_data() {
                    Ok(mut data) => conn.send_data(data.copy_to_bytes(data.remaining()))?,
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            conn.send_trailers(&trailers)?;
                        }
                    }
                }
            }
            Poll::Ready(None) => {
                moved = true;
                body.set(None);
                conn.send_end()?;
            }
            Poll::Ready(Some(Err(err))) => return Err(crate::Error::body(err)),
        }
    }
    Ok(moved)
}

/// What a body to send says of its own length.
pub(crate) fn body_size<B: http_body::Body>(body: &B) -> crate::h1::BodySize {
    if body.is_end_stream() {
        crate::h1::BodySize::Empty
    } else if let Some(n) = body.size_hint().exact() {
        crate::h1::BodySize::Known(n)
    } else {
        crate::h1::BodySize::Unknown
    }
}
