//! A single-threaded executor on `wasi:io/poll`: the ready tasks run until
//! none is left, then one `poll` call blocks on the pollables that pending
//! futures wait for (a socket's readiness, a stream's) and on one clock
//! pollable for the earliest timer, and wakes the futures whose waits
//! ended.
//!
//! Its contract, which keeps an idle server at no CPU and a busy one from
//! spinning:
//! * a pollable is in the list of one `poll` call at most until it fires:
//!   then it is dropped and its future woken, once. A future that is woken
//!   and does not look (a timer left behind by a `select`) costs nothing
//!   more; a ready pollable left in the list would make every later `poll`
//!   return at once.
//! * timers are the executor's own, kept by deadline: one
//!   `monotonic-clock` pollable for the earliest, however many sleeps are
//!   pending (each connection has a timeout), rather than a host resource
//!   per sleep;
//! * after a `poll` that reported many pollables, and every 32 tasks, it
//!   yields to the host once (see [`refill_host_budget`]), so that the
//!   woken tasks find their streams ready when they are;
//! * a task reads and writes at most [`BYTES_PER_POLL`] per poll
//!   ([`poll_budget`], [`spend`]; tokio's cooperative budgeting counts
//!   operations): then it yields, and runs again after a look at the
//!   pollables that does not block. A peer that keeps its connection's input full (a flood of
//!   HTTP/2 SETTINGS or PING frames) would otherwise keep its task
//!   reading, and every other connection waiting, for as long as it
//!   floods.
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
    /// The pollables pending futures wait for, by registration number;
    /// only those that have not fired.
    waiting: RefCell<BTreeMap<u64, Registration>>,
    /// Registrations whose pollable fired, until their [`Wait`] sees it.
    fired: RefCell<BTreeSet<u64>>,
    /// Pending sleeps: by deadline (monotonic nanoseconds), then
    /// registration number.
    timers: RefCell<BTreeMap<(u64, u64), Waker>>,
    /// The clock pollable of the earliest timer, kept while that timer is
    /// the earliest (a host timer made once, not at every poll).
    clock: RefCell<Option<(u64, Pollable)>>,
    next_task: Cell<u64>,
    next_registration: Cell<u64>,
    /// What the task being polled may still read and write, in bytes.
    budget: Cell<usize>,
    /// The wakers of the tasks that spent their budget: woken after the
    /// next look at the pollables.
    yielded: RefCell<Vec<Waker>>,
}

struct Registration {
    pollable: Pollable,
    waker: Waker,
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
        let mut polled = 0;
        while let Some(id) = EXECUTOR.with(|executor| executor.woken.borrow_mut().pop_first()) {
            EXECUTOR.with(|executor| executor.budget.set(BYTES_PER_POLL));
            polled += 1;
            if polled % TASKS_PER_BUDGET == 0 {
                refill_host_budget();
            }
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
        let yielded = EXECUTOR.with(|executor| executor.yielded.take());
        EXECUTOR.with(|executor| executor.wait(yielded.is_empty()));
        yielded.into_iter().for_each(Waker::wake);
    }
}

/// What a task may read and write in one poll before it yields, in bytes;
/// each read or write counts at least [`MIN_COST`] (so at most 128 small
/// ones, tokio's budget). Natively other threads serve the other
/// connections; here one thread does, so what a task may do in one turn
/// is what every other connection may wait: 128 reads (then 32) of a
/// SETTINGS flood, 8 KiB each, held a well-behaved client's median at
/// 57 ms (then up to 46 ms) on a loaded machine.
const BYTES_PER_POLL: usize = 64 * 1024;

/// What a read or write costs of [`BYTES_PER_POLL`] at least.
const MIN_COST: usize = 512;

/// Ready while the task being polled has budget left; once it is spent,
/// pending: the task is woken again after the executor has looked at the
/// other tasks' pollables. A flow calls this before each read and write,
/// and [`spend`] after, so that a connection whose peer never stops
/// sending cannot keep the others waiting.
pub(crate) fn poll_budget(cx: &Context<'_>) -> Poll<()> {
    EXECUTOR.with(|executor| match executor.budget.get() {
        0 => {
            executor.yielded.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
        _ => Poll::Ready(()),
    })
}

/// Counts `bytes` read or written against the polled task's budget.
pub(crate) fn spend(bytes: usize) {
    EXECUTOR.with(|executor| executor.budget.set(executor.budget.get().saturating_sub(bytes.max(MIN_COST))));
}

impl Executor {
    fn next_registration(&self) -> u64 {
        let id = self.next_registration.get() + 1;
        self.next_registration.set(id);
        id
    }

    /// Blocks until a pollable fires or the earliest timer is due (unless
    /// `block` is false: then only looks), and wakes the futures waiting
    /// for those.
    fn wait(&self, block: bool) {
        let earliest = self.timers.borrow().first_key_value().map(|(&(deadline, _), _)| deadline);
        let mut clock = self.clock.borrow_mut();
        match (earliest, &*clock) {
            (None, _) => *clock = None,
            (Some(deadline), Some((subscribed, _))) if *subscribed == deadline => {}
            (Some(deadline), _) => *clock = Some((deadline, monotonic_clock::subscribe_instant(deadline))),
        }
        let fired: Vec<u64> = {
            let waiting = self.waiting.borrow();
            assert!(
                !waiting.is_empty() || clock.is_some() || !block,
                "rt::wasi::block_on: deadlock, no task is ready and none waits for anything"
            );
            let ids: Vec<u64> = waiting.keys().copied().collect();
            let pollables: Vec<&Pollable> = waiting.values().map(|entry| &entry.pollable).collect();
            let clock = clock.as_ref().map(|(_, pollable)| pollable);
            let mut fired = Vec::new();
            if pollables.len() > POLL_CHUNK {
                // Each chunk's ready pollables fit in a fresh budget: a
                // non-blocking look (a zero-duration clock ends it).
                for (chunk, chunk_ids) in pollables.chunks(POLL_CHUNK).zip(ids.chunks(POLL_CHUNK)) {
                    refill_host_budget();
                    let now = monotonic_clock::subscribe_duration(0);
                    let list: Vec<&Pollable> = chunk.iter().copied().chain([&now]).collect();
                    fired.extend(poll(&list).into_iter().filter_map(|index| chunk_ids.get(index as usize).copied()));
                }
            }
            if fired.is_empty() {
                let now = (!block).then(|| monotonic_clock::subscribe_duration(0));
                let list: Vec<&Pollable> = pollables.iter().copied().chain(clock).chain(now.as_ref()).collect();
                fired.extend(poll(&list).into_iter().filter_map(|index| ids.get(index as usize).copied()));
            }
            fired
        };
        // Each fired pollable took one unit of the budget in `poll`.
        let spent = fired.len();
        for id in fired {
            let entry = self.waiting.borrow_mut().remove(&id).expect("polled registrations are waiting");
            self.fired.borrow_mut().insert(id);
            drop(entry.pollable);
            entry.waker.wake();
        }
        if clock.is_some() {
            drop(clock);
            self.wake_due_timers();
        }
        if spent > POLL_CHUNK / 2 {
            refill_host_budget();
        }
    }

    fn wake_due_timers(&self) {
        let now = monotonic_clock::now();
        loop {
            let mut timers = self.timers.borrow_mut();
            let Some(entry) = timers.first_entry() else { return };
            if entry.key().0 > now {
                return;
            }
            let waker = entry.remove();
            drop(timers);
            waker.wake();
        }
    }
}

/// The most pollables one `poll` call is given when many wait, so that
/// those ready fit in the host's budget (see [`refill_host_budget`]): a
/// budget spent on the first 128 ready in the host's order left the others
/// unreported, and with a few hundred busy connections some waited seconds.
const POLL_CHUNK: usize = 64;

/// Tasks polled between two yields to the host (see [`refill_host_budget`]):
/// a task takes about three units of the budget per request.
const TASKS_PER_BUDGET: u32 = 32;

/// Yields to the host's scheduler once, so that the tasks about to run can
/// use their streams.
///
/// wasmtime's streams are tokio resources, and tokio grants a task 128
/// ready operations per turn of its scheduler (cooperative budgeting); a
/// component is one task. `poll` spends one for each ready pollable, so
/// with a hundred connections ready to write it could spend them all,
/// and then every `check-write` the woken tasks make answers 0 (not
/// writable) until the component yields: they would wait again at once,
/// the same pollables would be ready again, and no byte would move (a
/// livelock seen at 128 connections). A zero-duration clock pollable
/// yields once when blocked on (wasmtime's way to keep a busy guest from
/// starving its reactor); elsewhere it is ready at once.
fn refill_host_budget() {
    monotonic_clock::subscribe_duration(0).block();
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
        EXECUTOR.with(|executor| match self.registration {
            Some(id) => {
                if executor.fired.borrow_mut().remove(&id) {
                    self.registration = None;
                    return Poll::Ready(());
                }
                let mut waiting = executor.waiting.borrow_mut();
                let entry = waiting.get_mut(&id).expect("a wait's registration lives as long as the wait");
                entry.waker.clone_from(cx.waker());
                Poll::Pending
            }
            None => {
                // Not `pollable.ready()` first: the caller just found its
                // stream not ready, and `poll` will look.
                let pollable = subscribe();
                let id = executor.next_registration();
                executor.waiting.borrow_mut().insert(id, Registration { pollable, waker: cx.waker().clone() });
                self.registration = Some(id);
                Poll::Pending
            }
        })
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(id) = self.registration.take() {
            // Not while the executor is being torn down (thread exit).
            let _ = EXECUTOR.try_with(|executor| {
                if !executor.fired.borrow_mut().remove(&id) {
                    executor.waiting.borrow_mut().remove(&id);
                }
            });
        }
    }
}

/// Completes when `pollable` is ready.
pub(crate) async fn ready(pollable: Pollable) {
    let mut pollable = Some(pollable);
    let mut wait = Wait::default();
    std::future::poll_fn(|cx| wait.poll(cx, || pollable.take().expect("subscribed once"))).await
}

/// Completes after `duration`, on the executor's timers (the
/// `wasi:clocks` monotonic clock).
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep { deadline: monotonic_clock::now().saturating_add(nanos), key: None }
}

/// The future of [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    deadline: u64,
    /// Its place among the executor's timers, while it waits.
    key: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        EXECUTOR.with(|executor| {
            let mut timers = executor.timers.borrow_mut();
            if monotonic_clock::now() >= self.deadline {
                if let Some(key) = self.key.take() {
                    timers.remove(&key);
                }
                return Poll::Ready(());
            }
            let deadline = self.deadline;
            let key = *self.key.get_or_insert_with(|| (deadline, executor.next_registration()));
            match timers.get_mut(&key) {
                Some(waker) => waker.clone_from(cx.waker()),
                // New, or woken early (the clock's pollable fires at its
                // instant; this clock read was earlier): wait again.
                None => {
                    timers.insert(key, cx.waker().clone());
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let _ = EXECUTOR.try_with(|executor| executor.timers.borrow_mut().remove(&key));
        }
    }
}

/// The monotonic clock, since the first time it was read.
pub fn now() -> Duration {
    thread_local! {
        static ORIGIN: u64 = monotonic_clock::now();
    }
    let origin = ORIGIN.with(|origin| *origin);
    Duration::from_nanos(monotonic_clock::now().saturating_sub(origin))
}
