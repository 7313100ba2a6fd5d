//! What the server and client drivers share: moving queued bytes to the
//! flow, reading from it, and the timer that every timeout runs on.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Timeout;
use crate::flow::BoxFuture;
use crate::h1::{Conn, Phase, Role, WriteQueue};
use crate::rt::Runtime;
use crate::{Config, Flow};

/// How many buffers go into one vectored write.
const MAX_IOVECS: usize = 64;

/// Writes as much of `queue` as the flow takes now, then flushes once it is
/// empty. Ready(true) when bytes moved.
fn poll_write_queue(
    flow: &mut Flow,
    queue: &mut WriteQueue,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    let mut moved = false;
    while !queue.is_empty() {
        let written = if flow.is_write_vectored() {
            let mut slices = [io::IoSlice::new(&[]); MAX_IOVECS];
            let n = queue.io_slices(&mut slices);
            Pin::new(&mut *flow).poll_write_vectored(cx, &slices[..n])
        } else {
            Pin::new(&mut *flow).poll_write(cx, queue.front())
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

/// Below this many free bytes in the input buffer, more are reserved
/// before a read.
const MIN_SPARE: usize = 1024;

/// One timer per connection, re-armed whenever the connection moves to a
/// phase with another timeout. A *stall* timeout (bodies) restarts while
/// bytes keep moving; the others run out whatever happens.
///
/// A connection changes phase several times per exchange (idle, sending,
/// waiting, idle again), so the runtime's sleep outlives its phase: one
/// that wakes no later than the new phase's deadline is kept (waking
/// early, it sleeps on for the rest), rather than a sleep made and
/// dropped at each change. That takes the runtime's clock; on a runtime
/// without one ([`Runtime::now`] stays at zero), each phase has a sleep
/// of its own.
pub(crate) struct Timer<R> {
    rt: R,
    /// The phase's timeout: which, how long, and when it runs out.
    armed: Option<(Timeout, Duration, Duration)>,
    /// The sleep under way, and when it wakes.
    sleep: Option<(Duration, BoxFuture<'static, ()>)>,
    moved_since_armed: bool,
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new(rt: R) -> Self {
        Timer { rt, armed: None, sleep: None, moved_since_armed: false }
    }

    /// Bytes moved: a stall timer starts over.
    pub(crate) fn note_progress(&mut self) {
        self.moved_since_armed = true;
    }

    /// Polls the timer of `phase` (arming it if the phase changed); `None`
    /// disarms. Returns the timeout that expired.
    pub(crate) fn poll(
        &mut self,
        phase: Option<(Timeout, Duration)>,
        cx: &mut Context<'_>,
    ) -> Option<Timeout> {
        let Some((kind, duration)) = phase else {
            self.armed = None;
            return None;
        };
        if self.armed.map(|(armed, ..)| armed) != Some(kind) {
            let now = self.rt.now();
            self.armed = Some((kind, duration, now + duration));
            self.moved_since_armed = false;
            let wakes_in_time = self.sleep.as_ref().is_some_and(|(wakes, _)| *wakes <= now + duration);
            if !wakes_in_time || now.is_zero() {
                self.sleep_until(now, now + duration);
            }
        }
        loop {
            let (kind, duration, deadline) = self.armed.expect("armed above");
            let (_, sleep) = self.sleep.as_mut().expect("a sleep while armed");
            if sleep.as_mut().poll(cx).is_pending() {
                return None;
            }
            self.sleep = None;
            let now = self.rt.now();
            if now < deadline && !now.is_zero() {
                // A sleep kept from an earlier phase.
                self.sleep_until(now, deadline);
                continue;
            }
            if kind == Timeout::Body && self.moved_since_armed {
                self.armed = Some((kind, duration, now + duration));
                self.moved_since_armed = false;
                self.sleep_until(now, now + duration);
                continue;
            }
            self.armed = None;
            return Some(kind);
        }
    }

    fn sleep_until(&mut self, now: Duration, deadline: Duration) {
        self.sleep = Some((deadline, self.rt.sleep(deadline.saturating_sub(now))));
    }
}

/// Runs `future` for at most `duration`; `None` if the time ran out.
pub(crate) fn within<R: Runtime, F: Future>(rt: &R, duration: Duration, future: F) -> Within<F> {
    Within { future, sleep: rt.sleep(duration) }
}

pin_project_lite::pin_project! {
    /// The future of [`within`]: a named type rather than an `async fn`,
    /// which would hold `future` twice (the argument, and the pinned
    /// copy it polls), and a request's future is kilobytes.
    pub(crate) struct Within<F> {
        #[pin]
        future: F,
        sleep: BoxFuture<'static, ()>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        this.sleep.as_mut().poll(cx).map(|()| None)
    }
}

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

/// Reads from `flow` into `conn` once, `chunk` bytes at most. Ok(true)
/// when bytes came or the stream ended (then `eof` is set and `conn`
/// told). With `reset_is_end`, a failed read counts as the end (a peer
/// resetting a connection nothing is exchanged on).
pub(crate) fn read_step(
    flow: &mut Flow,
    conn: &mut Conn<impl Role>,
    eof: &mut bool,
    chunk: usize,
    reset_is_end: bool,
    cx: &mut Context<'_>,
) -> Result<bool, crate::Error> {
    match conn.receive_into(|buf| poll_read_into(flow, buf, chunk, cx)) {
        Poll::Pending => Ok(false),
        Poll::Ready(Ok(0)) => {
            *eof = true;
            conn.receive_eof();
            Ok(true)
        }
        Poll::Ready(Ok(_)) => Ok(true),
        Poll::Ready(Err(_)) if reset_is_end => {
            *eof = true;
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
    body: &mut Option<Pin<Box<B>>>,
    conn: &mut Conn<impl Role>,
    high_water: usize,
    cx: &mut Context<'_>,
) -> Result<bool, crate::Error>
where
    B: http_body::Body + ?Sized,
    B::Error: Into<crate::BoxError>,
{
    use bytes::Buf;
    let mut moved = false;
    while let Some(stream) = body.as_mut() {
        if conn.output().len() >= high_water {
            break;
        }
        match stream.as_mut().poll_frame(cx) {
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
                *body = None;
                conn.send_end()?;
            }
            Poll::Ready(Some(Err(err))) => return Err(crate::Error::body(err)),
        }
    }
    Ok(moved)
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use std::future::poll_fn;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use super::Timer;
    use crate::error::Timeout;
    use crate::flow::BoxFuture;
    use crate::rt::native::Tokio;
    use crate::rt::Runtime;

    const SECOND: Duration = Duration::from_secs(1);

    /// A timer on tokio's clock, read once an instant past its origin (a
    /// clock at zero is taken for no clock).
    async fn timer() -> Timer<Tokio> {
        let _ = Tokio.now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        Timer::new(Tokio)
    }

    /// Polls `timer` in `phase` until it expires; how long that took.
    async fn expiry<R: Runtime>(timer: &mut Timer<R>, phase: (Timeout, Duration)) -> (Timeout, Duration) {
        let start = Tokio.now();
        let kind = poll_fn(|cx| match timer.poll(Some(phase), cx) {
            Some(kind) => Poll::Ready(kind),
            None => Poll::Pending,
        })
        .await;
        (kind, Tokio.now() - start)
    }

    /// Arms `phase` and leaves it at once (the connection moved on).
    fn pass_through<R: Runtime>(timer: &mut Timer<R>, phase: (Timeout, Duration)) {
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(timer.poll(Some(phase), &mut cx), None);
        assert_eq!(timer.poll(None, &mut cx), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_kept_from_a_shorter_phase_does_not_end_a_longer_one() {
        let mut timer = timer().await;
        pass_through(&mut timer, (Timeout::Body, SECOND));
        let (kind, took) = expiry(&mut timer, (Timeout::Idle, 3 * SECOND)).await;
        assert_eq!(kind, Timeout::Idle);
        assert!(took >= 3 * SECOND && took < 3 * SECOND + Duration::from_millis(10), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_phase_shorter_than_the_sleep_under_way_gets_its_own() {
        let mut timer = timer().await;
        pass_through(&mut timer, (Timeout::Idle, 90 * SECOND));
        let (kind, took) = expiry(&mut timer, (Timeout::Body, SECOND)).await;
        assert_eq!(kind, Timeout::Body);
        assert!(took >= SECOND && took < SECOND + Duration::from_millis(10), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_timer_starts_over_while_bytes_move() {
        let mut timer = timer().await;
        let phase = (Timeout::Body, SECOND);
        pass_through(&mut timer, (Timeout::Idle, 90 * SECOND));
        let start = Tokio.now();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(timer.poll(Some(phase), &mut cx), None);
        tokio::time::sleep(Duration::from_millis(900)).await;
        timer.note_progress();
        let (kind, _) = expiry(&mut timer, phase).await;
        assert_eq!(kind, Timeout::Body);
        let took = Tokio.now() - start;
        assert!(took >= 2 * SECOND && took < 2 * SECOND + Duration::from_millis(10), "{took:?}");
    }

    /// Tokio's sleeps without its clock: `now` stays at zero.
    #[derive(Clone)]
    struct NoClock;

    impl Runtime for NoClock {
        fn spawn(&self, task: BoxFuture<'static, ()>) {
            Tokio.spawn(task)
        }
        fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
            Tokio.sleep(duration)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_clock_each_phase_sleeps_its_own_time() {
        let mut timer = Timer::new(NoClock);
        pass_through(&mut timer, (Timeout::Body, SECOND));
        let (kind, took) = expiry(&mut timer, (Timeout::Idle, 3 * SECOND)).await;
        assert_eq!(kind, Timeout::Idle);
        assert!(took >= 3 * SECOND && took < 3 * SECOND + Duration::from_millis(10), "{took:?}");
        let (kind, took) = expiry(&mut timer, (Timeout::Header, SECOND)).await;
        assert_eq!((kind, took >= SECOND), (Timeout::Header, true));
    }
}
