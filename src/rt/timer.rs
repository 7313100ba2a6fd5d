//! The connection timer every driver's timeouts run on, and [`within`],
//! a future with a deadline. Both take their sleeps and clock from a
//! [`Runtime`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Runtime;
use crate::error::Timeout;
use crate::flow::BoxFuture;

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
    /// The phase's timeout, whether bytes moved since it was armed, and
    /// when it runs out. (How long it lasts comes with each poll: the
    /// timer is in every connection's state, kept small.)
    armed: Option<(Timeout, bool, Nanos)>,
    /// The sleep under way, and when it wakes.
    sleep: Option<(Nanos, BoxFuture<'static, ()>)>,
}

/// A time on the runtime's clock ([`Runtime::now`]) in nanoseconds: half
/// the size of a `Duration`.
type Nanos = u64;

fn nanos(time: Duration) -> Nanos {
    Nanos::try_from(time.as_nanos()).unwrap_or(Nanos::MAX)
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new(rt: R) -> Self {
        Timer { rt, armed: None, sleep: None }
    }

    /// Bytes moved: a stall timer starts over.
    pub(crate) fn note_progress(&mut self) {
        if let Some((_, moved, _)) = &mut self.armed {
            *moved = true;
        }
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
            let deadline = nanos(now + duration);
            self.armed = Some((kind, false, deadline));
            let wakes_in_time = self.sleep.as_ref().is_some_and(|(wakes, _)| *wakes <= deadline);
            if !wakes_in_time || now.is_zero() {
                self.sleep_until(now, deadline);
            }
        }
        loop {
            let (_, moved_since_armed, deadline) = self.armed.expect("armed above");
            let (_, sleep) = self.sleep.as_mut().expect("a sleep while armed");
            if sleep.as_mut().poll(cx).is_pending() {
                return None;
            }
            self.sleep = None;
            let now = self.rt.now();
            if nanos(now) < deadline && !now.is_zero() {
                // A sleep kept from an earlier phase.
                self.sleep_until(now, deadline);
                continue;
            }
            if kind == Timeout::Body && moved_since_armed {
                let deadline = nanos(now + duration);
                self.armed = Some((kind, false, deadline));
                self.sleep_until(now, deadline);
                continue;
            }
            self.armed = None;
            return Some(kind);
        }
    }

    fn sleep_until(&mut self, now: Duration, deadline: Nanos) {
        self.sleep = Some((deadline, self.rt.sleep(Duration::from_nanos(deadline).saturating_sub(now))));
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
