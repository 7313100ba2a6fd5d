//! A single-threaded executor on `wasi:io/poll`: the ready tasks run until
//! none is left, then one `poll` call blocks on every pollable a pending
//! future registered (a socket's readiness, a stream's, a timer) and wakes
//! the futures whose pollables fired.
//!
//! Wakers hold a task's number only, so they are `Send + Sync` as
//! [`Waker`] requires even though the tasks are not `Send`: a wasm
//! program without the atomics feature has one thread, and a wake can only
//! come from it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{poll, Pollable};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The task number of the future given to [`block_on`].
const MAIN: u64 = 0;

#[derive(Default)]
struct Executor {
    /// Spawned tasks that are not being polled right now.
    tasks: RefCell<BTreeMap<u64, Task>>,
    /// Tasks woken since they were last polled, [`MAIN`] included.
    woken: RefCell<BTreeSet<u64>>,
    /// The pollables pending futures wait for, by registration number.
    waiting: RefCell<BTreeMap<u64, Registration>>,
    next_task: Cell<u64>,
    next_registration: Cell<u64>,
}

struct Registration {
    pollable: Pollable,
    waker: Waker,
    fired: bool,
}

thread_local! {
    static EXECUTOR: Executor = Executor::default();
}

struct TaskWaker(u64);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        EXECUTOR.with(|executor| executor.woken.borrow_mut().insert(self.0));
    }
}

fn waker(task: u64) -> Waker {
    Waker::from(Arc::new(TaskWaker(task)))
}

/// Runs `task` concurrently with the others, on this thread.
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    EXECUTOR.with(|executor| {
        let id = executor.next_task.get() + 1;
        executor.next_task.set(id);
        executor.tasks.borrow_mut().insert(id, Box::pin(task));
        executor.woken.borrow_mut().insert(id);
    });
}

/// Runs `future` to completion, and the spawned tasks meanwhile; tasks
/// still pending when it completes stay, and run again in the next
/// `block_on` (a library component's connections outlive one export call).
///
/// # Panics
///
/// When `future` can never complete: nothing is ready and nothing is
/// awaited (a deadlock), or when called from inside a task.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let main_waker = waker(MAIN);
    EXECUTOR.with(|executor| executor.woken.borrow_mut().insert(MAIN));
    loop {
        while let Some(id) = EXECUTOR.with(|executor| executor.woken.borrow_mut().pop_first()) {
            if id == MAIN {
                if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&main_waker)) {
                    return output;
                }
                continue;
            }
            // Out of the map while it runs, so that it can spawn.
            let Some(mut task) = EXECUTOR.with(|executor| executor.tasks.borrow_mut().remove(&id)) else {
                continue; // finished, and woken after
            };
            if task.as_mut().poll(&mut Context::from_waker(&waker(id))).is_pending() {
                EXECUTOR.with(|executor| executor.tasks.borrow_mut().insert(id, task));
            }
        }
        EXECUTOR.with(Executor::wait_for_pollables);
    }
}

impl Executor {
    /// Blocks until at least one registered pollable is ready; wakes the
    /// futures waiting for those.
    fn wait_for_pollables(&self) {
        let mut waiting = self.waiting.borrow_mut();
        let ids: Vec<u64> = waiting.keys().copied().collect();
        assert!(
            !ids.is_empty(),
            "rt::wasi::block_on: deadlock, no task is ready and none waits for anything"
        );
        let ready = {
            let pollables: Vec<&Pollable> = waiting.values().map(|entry| &entry.pollable).collect();
            poll(&pollables)
        };
        for index in ready {
            let entry = waiting
                .get_mut(&ids[index as usize])
                .expect("poll answers indices into the list it was given");
            entry.fired = true;
            entry.waker.wake_by_ref();
        }
    }
}

/// A wait for one pollable at a time; what a future that is pending on
/// WASI keeps. Dropping it drops the pollable it registered, so declare it
/// before the resource the pollable came from (a pollable must go before
/// its parent stream or socket).
#[derive(Debug, Default)]
pub(crate) struct Wait {
    registration: Option<u64>,
}

impl Wait {
    /// Ready once the pollable `subscribe` makes is ready; `subscribe` is
    /// only called when no wait is registered yet.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, subscribe: impl FnOnce() -> Pollable) -> Poll<()> {
        EXECUTOR.with(|executor| {
            let mut waiting = executor.waiting.borrow_mut();
            match self.registration {
                Some(id) => {
                    let entry = waiting.get_mut(&id).expect("a wait's registration lives as long as the wait");
                    if entry.fired {
                        waiting.remove(&id);
                        self.registration = None;
                        Poll::Ready(())
                    } else {
                        entry.waker.clone_from(cx.waker());
                        Poll::Pending
                    }
                }
                None => {
                    let pollable = subscribe();
                    if pollable.ready() {
                        return Poll::Ready(());
                    }
                    let id = executor.next_registration.get() + 1;
                    executor.next_registration.set(id);
                    waiting.insert(id, Registration { pollable, waker: cx.waker().clone(), fired: false });
                    self.registration = Some(id);
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(id) = self.registration.take() {
            // Not while the executor is being torn down (thread exit).
            let _ = EXECUTOR.try_with(|executor| executor.waiting.borrow_mut().remove(&id));
        }
    }
}

/// Completes when `pollable` is ready.
pub(crate) async fn ready(pollable: Pollable) {
    let mut pollable = Some(pollable);
    let mut wait = Wait::default();
    std::future::poll_fn(|cx| wait.poll(cx, || pollable.take().expect("subscribed once"))).await
}

/// Completes after `duration` (a `wasi:clocks/monotonic-clock` timer).
pub async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    ready(monotonic_clock::subscribe_duration(nanos)).await
}

/// The monotonic clock, since the first time it was read.
pub fn now() -> Duration {
    thread_local! {
        static ORIGIN: u64 = monotonic_clock::now();
    }
    let origin = ORIGIN.with(|origin| *origin);
    Duration::from_nanos(monotonic_clock::now().saturating_sub(origin))
}
