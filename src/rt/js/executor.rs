//! paf's tasks on the JS event loop.
//!
//! A task woken while JS is inside paf (a socket's event, a timer, a call
//! such as `Client.request`: see [`entered`]) runs before that call returns
//! to JS, in the same turn. A task woken anywhere else (a JS promise that
//! settled, say) runs in a microtask, as with `wasm-bindgen-futures`'
//! `spawn_local`. A small request crosses two tasks (its own and its
//! connection's), each woken twice: run in the same turn, those wakes cost
//! no trip out of wasm and back.
//!
//! A task is never polled inside another one's poll: tasks woken while one
//! runs wait for the outermost entry to finish. A drain makes at most
//! [`POLLS_PER_TURN`] polls and leaves the rest to a timer, not a
//! microtask, so that a task that keeps waking itself lets the event loop
//! go on (microtasks would starve it). That timer is not counted on to
//! come: in workerd, a timer of a fetch event that has ended never fires,
//! so a wake from the event loop drains in a microtask whether or not a
//! timer is on its way.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use wasm_bindgen::prelude::*;

use crate::flow::BoxFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &Closure<dyn FnMut()>);
}

/// Polls one drain makes before it leaves the rest to a timer.
const POLLS_PER_TURN: usize = 256;

struct Task {
    future: RefCell<Option<BoxFuture<'static, ()>>>,
    /// In the run queue already: waking it again changes nothing.
    queued: Cell<bool>,
}

#[derive(Default)]
struct Executor {
    ready: RefCell<VecDeque<Rc<Task>>>,
    /// How many entries from JS (or drains) are in progress: the
    /// outermost drains the queue as it leaves.
    depth: Cell<u32>,
    /// A microtask to drain the queue is on its way.
    scheduled: Cell<bool>,
    /// Its callback, and the timer's, made once (a timer's clearing
    /// `scheduled` early costs at most a drain more).
    drainer: RefCell<Option<Closure<dyn FnMut()>>>,
}

thread_local! {
    static EXECUTOR: Executor = Executor::default();
}

/// Runs `task` after the current call from JS into paf returns to JS (or
/// in a microtask, outside of one); never inside the caller.
pub fn spawn(task: BoxFuture<'static, ()>) {
    let task = Rc::new(Task { future: RefCell::new(Some(task)), queued: Cell::new(false) });
    wake(task);
}

/// Runs `f`, an entry from JS into paf, then, before returning, the tasks
/// that were woken meanwhile: they need no microtask of their own. Entries
/// nest (JS called from paf may call paf again); only the outermost one
/// drains. `f` must hold no borrow that a task takes.
pub fn entered<T>(f: impl FnOnce() -> T) -> T {
    EXECUTOR.with(|executor| executor.depth.set(executor.depth.get() + 1));
    let result = f();
    let outermost = EXECUTOR.with(|executor| {
        executor.depth.set(executor.depth.get() - 1);
        executor.depth.get() == 0
    });
    if outermost {
        drain();
    }
    result
}

fn wake(task: Rc<Task>) {
    EXECUTOR.with(|executor| {
        if !task.queued.replace(true) {
            executor.ready.borrow_mut().push_back(task);
        }
        // Even when queued already: it may wait for a timer that never comes.
        if executor.depth.get() == 0 {
            executor.schedule(false);
        }
    });
}

impl Executor {
    /// Drains the queue in a microtask, or after the event loop's next
    /// turn when `yielding`.
    fn schedule(&self, yielding: bool) {
        if !yielding && self.scheduled.replace(true) {
            return;
        }
        let mut drainer = self.drainer.borrow_mut();
        let callback = drainer.get_or_insert_with(|| {
            Closure::new(|| {
                EXECUTOR.with(|executor| executor.scheduled.set(false));
                drain();
            })
        });
        if yielding {
            super::start_timer(0.0, callback, false);
        } else {
            queue_microtask(callback);
        }
    }
}

/// Polls the woken tasks, up to [`POLLS_PER_TURN`]; what is left is
/// drained after the event loop's next turn.
fn drain() {
    EXECUTOR.with(|executor| executor.depth.set(executor.depth.get() + 1));
    for _ in 0..POLLS_PER_TURN {
        let Some(task) = EXECUTOR.with(|executor| executor.ready.borrow_mut().pop_front()) else { break };
        task.queued.set(false);
        let waker = waker(&task);
        let mut future = task.future.borrow_mut();
        if let Some(running) = future.as_mut() {
            if running.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
                *future = None;
            }
        }
    }
    EXECUTOR.with(|executor| {
        executor.depth.set(executor.depth.get() - 1);
        if executor.depth.get() == 0 && !executor.ready.borrow().is_empty() {
            executor.schedule(true);
        }
    });
}

// A waker is an `Rc<Task>`: wasm32-unknown-unknown has one thread (the
// `Waker` contract's Send and Sync ask for nothing it could break).
fn waker(task: &Rc<Task>) -> Waker {
    let raw = RawWaker::new(Rc::into_raw(task.clone()).cast(), &VTABLE);
    // SAFETY: the vtable's functions treat the pointer as the `Rc<Task>`
    // it came from, each keeping the reference counts balanced.
    unsafe { Waker::from_raw(raw) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// The task behind a waker's pointer, without taking its reference.
///
/// # Safety
/// `ptr` comes from `Rc::into_raw` of a `Task` that is still referenced.
unsafe fn borrowed(ptr: *const ()) -> ManuallyDrop<Rc<Task>> {
    ManuallyDrop::new(unsafe { Rc::from_raw(ptr.cast::<Task>()) })
}

unsafe fn clone_raw(ptr: *const ()) -> RawWaker {
    let task = unsafe { borrowed(ptr) };
    RawWaker::new(Rc::into_raw(Rc::clone(&task)).cast(), &VTABLE)
}

unsafe fn wake_raw(ptr: *const ()) {
    wake(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}

unsafe fn wake_by_ref_raw(ptr: *const ()) {
    let task = unsafe { borrowed(ptr) };
    wake(Rc::clone(&task));
}

unsafe fn drop_raw(ptr: *const ()) {
    drop(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}
