//! The push side of a stream pair: a `socket` object whose data comes in
//! events and whose writes are plain calls, as Node's sockets work. Web
//! streams cost a promise (and, in Node, a stream adapter) per chunk each
//! way; this costs one call.
//!
//! The `socket` object of a pair (see [`JsStream`](super::JsStream)):
//!
//! ```text
//! attach(listener)  // listener(kind, value): 0 data (a Uint8Array), 1 end,
//!                   //                        2 error (the error), 3 drain;
//!                   //    data is copied before the listener returns, so
//!                   //    the socket may read into the same memory again
//! write(chunk)      // -> false when the caller should wait for a drain;
//!                   //    the chunk is the socket's to keep, and may share
//!                   //    its ArrayBuffer with other chunks (do not transfer it)
//! pause(), resume() // stop and restart the data events
//! end()             // no more writes: what was written goes out, then FIN
//! close()           // forget the listener, end, then release the socket
//! ```

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::Uint8Array;
use tokio::io::ReadBuf;
use wasm_bindgen::prelude::*;

use super::stream::{describe, io_error};

#[wasm_bindgen]
extern "C" {
    /// The `socket` of a pair; see the module's documentation.
    #[derive(Clone, Debug)]
    pub(super) type PushSocket;
    #[wasm_bindgen(method, catch)]
    fn attach(this: &PushSocket, listener: &Closure<dyn FnMut(u32, JsValue)>) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    fn pause(this: &PushSocket);
    #[wasm_bindgen(method)]
    fn resume(this: &PushSocket);
    #[wasm_bindgen(method)]
    fn end(this: &PushSocket);
    #[wasm_bindgen(method)]
    fn close(this: &PushSocket);
}

// A write is copied out of wasm's memory into a slab shared by the small
// ones, as Node's Buffer pool does, not each into a Uint8Array of its own:
// V8 gives a typed array over 64 bytes its own off-heap store, which costs
// ~0.4-1 µs to make and more for the GC to track, and a request's head is
// such a write.
#[wasm_bindgen(inline_js = r#"
let slab = new Uint8Array(0);
let used = 0;
export function writeCopy(socket, bytes) {
  const length = bytes.length;
  let chunk;
  if (length > 4096) chunk = bytes.slice();
  else {
    if (used + length > slab.length) {
      slab = new Uint8Array(16384);
      used = 0;
    }
    chunk = slab.subarray(used, used + length);
    chunk.set(bytes);
    used += length;
  }
  return socket.write(chunk);
}
"#)]
extern "C" {
    /// `socket.write` of a copy of `bytes` (a view of wasm's memory).
    #[wasm_bindgen(catch, js_name = writeCopy)]
    fn write_copy(socket: &PushSocket, bytes: &[u8]) -> Result<bool, JsValue>;
}

const DATA: u32 = 0;
const END: u32 = 1;
const ERROR: u32 = 2;
const DRAIN: u32 = 3;

/// Received bytes not yet read above which the socket is paused.
const MAX_UNREAD: usize = 64 * 1024;

/// The room for received bytes that an idle socket keeps: what a burst
/// took beyond it is given back once read, so that many idle connections
/// hold little.
const KEPT_ROOM: usize = 16 * 1024;

#[derive(Default)]
struct Shared {
    /// Received bytes, `received[read..]` not yet read: copied out of each
    /// data event at once (Node's sockets read into one buffer that paf's
    /// connections share, see `js/node.js`).
    received: Vec<u8>,
    read: usize,
    paused: bool,
    ended: bool,
    /// The first failure, given to every later call.
    failed: Option<(io::ErrorKind, String)>,
    /// The last write was refused room: wait for a drain.
    full: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Shared {
    fn unread(&self) -> usize {
        self.received.len() - self.read
    }

    fn receive(&mut self, bytes: &Uint8Array) {
        if self.read > 0 {
            self.received.drain(..self.read);
            self.read = 0;
        }
        let length = bytes.length() as usize;
        let start = self.received.len();
        self.received.reserve(length);
        bytes.copy_to_uninit(&mut self.received.spare_capacity_mut()[..length]);
        // SAFETY: `copy_to_uninit` initialised the `length` bytes past the
        // end (it panics unless it fills exactly the slice it is given).
        unsafe { self.received.set_len(start + length) };
    }

    /// Up to `buf`'s room of the unread bytes into it.
    fn read_into(&mut self, buf: &mut ReadBuf<'_>) {
        let n = self.unread().min(buf.remaining());
        buf.put_slice(&self.received[self.read..self.read + n]);
        self.read += n;
        if self.read == self.received.len() {
            self.read = 0;
            if self.received.capacity() > KEPT_ROOM {
                self.received = Vec::new();
            } else {
                self.received.clear();
            }
        }
    }

    fn failure(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|(kind, message)| io::Error::new(*kind, message.clone()))
    }

    fn wake_all(&mut self) {
        for waker in [self.reader.take(), self.writer.take()].into_iter().flatten() {
            waker.wake();
        }
    }
}

/// A pair's `socket`, attached: the chunks it received and the state of
/// its writes.
pub(super) struct SocketIo {
    socket: PushSocket,
    shared: Rc<RefCell<Shared>>,
    _listener: Closure<dyn FnMut(u32, JsValue)>,
    shut_down: bool,
}

/// An event of the socket (see the module's documentation) into `state`,
/// waking whoever waits for it.
fn on_event(state: &RefCell<Shared>, socket: &PushSocket, kind: u32, value: JsValue) {
    let mut shared = state.borrow_mut();
    match kind {
        DATA => {
            match value.dyn_into::<Uint8Array>() {
                Ok(bytes) => shared.receive(&bytes),
                Err(value) => {
                    if shared.failed.is_none() {
                        let message = format!("a socket's data event gave {}, not a Uint8Array", describe(&value));
                        shared.failed = Some((io::ErrorKind::InvalidData, message));
                    }
                    shared.wake_all();
                    return;
                }
            }
            if shared.unread() > MAX_UNREAD && !shared.paused {
                shared.paused = true;
                socket.pause();
            }
            if let Some(waker) = shared.reader.take() {
                waker.wake();
            }
        }
        END => {
            shared.ended = true;
            shared.wake_all();
        }
        ERROR => {
            if shared.failed.is_none() {
                let error = io_error(value);
                shared.failed = Some((error.kind(), error.to_string()));
            }
            shared.wake_all();
        }
        DRAIN => {
            shared.full = false;
            if let Some(waker) = shared.writer.take() {
                waker.wake();
            }
        }
        _ => {}
    }
}

impl SocketIo {
    pub(super) fn attach(socket: PushSocket) -> io::Result<SocketIo> {
        let shared = Rc::new(RefCell::new(Shared::default()));
        let state = shared.clone();
        let pausable = socket.clone();
        // Each event is an entry: the task it wakes runs before JS goes on.
        let listener = Closure::<dyn FnMut(u32, JsValue)>::new(move |kind: u32, value: JsValue| {
            super::entered(|| on_event(&state, &pausable, kind, value))
        });
        socket.attach(&listener).map_err(io_error)?;
        Ok(SocketIo { socket, shared, _listener: listener, shut_down: false })
    }

    /// What was received into `buf`; nothing added to it at the end.
    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut shared = self.shared.borrow_mut();
        if shared.unread() > 0 {
            shared.read_into(buf);
            if shared.paused && shared.unread() <= MAX_UNREAD / 2 {
                shared.paused = false;
                self.socket.resume();
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = shared.failure() {
            return Poll::Ready(Err(error));
        }
        if shared.ended {
            return Poll::Ready(Ok(()));
        }
        shared.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ready when the socket takes more: its last write was not refused.
    pub(super) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = self.shared.borrow_mut();
        if let Some(error) = shared.failure() {
            return Poll::Ready(Err(error));
        }
        if self.shut_down {
            let message = "write after shutdown: the socket was ended";
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, message)));
        }
        if shared.full {
            shared.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let taken = write_copy(&self.socket, bytes).map_err(io_error)?;
        self.shared.borrow_mut().full = !taken;
        Ok(())
    }

    /// Ready once the socket has room again: what was written is its own.
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut_down {
            return Poll::Ready(self.shared.borrow().failure().map_or(Ok(()), Err));
        }
        self.poll_room(cx)
    }

    pub(super) fn poll_shutdown(&mut self) -> Poll<io::Result<()>> {
        if !self.shut_down {
            self.shut_down = true;
            self.socket.end();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        self.socket.close();
    }
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.shared.borrow();
        f.debug_struct("SocketIo")
            .field("unread", &shared.unread())
            .field("ended", &shared.ended)
            .field("shut_down", &self.shut_down)
            .finish()
    }
}
