//! Connection reuse, per [`Origin`]: a bounded list of idle HTTP/1.1
//! connections, and at most one HTTP/2 connection that every request to
//! the origin shares.
//!
//! An HTTP/1.1 connection comes back to the pool only once its response
//! body has been read to the end (see `Incoming::on_end`): a connection whose
//! body is still being read is busy, and a request queued behind it could
//! wait for as long as the reader takes. A closed connection (the server
//! closed it, or the engine's idle timeout did) is dropped when it is
//! next looked at; nothing here reads a clock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use super::Origin;
use crate::engine::alpn::{Protocol, SendRequest};
use crate::engine::client::SendRequest as Http1;
use crate::engine::h2::SendRequest as Http2;
use crate::tls::Session;

/// A connection, and what TLS negotiated for it.
#[derive(Clone)]
pub(super) struct Conn<S = SendRequest> {
    pub(super) sender: S,
    pub(super) tls: Option<Session>,
}

pub(super) struct Pool {
    origins: Mutex<HashMap<Origin, Slot, BuildHasherDefault<OriginHash>>>,
    max_idle: usize,
    reuse: bool,
}

#[derive(Default)]
struct Slot {
    /// Most recently used last: taken first, as the likeliest to be alive.
    idle: Vec<Conn<Http1>>,
    http2: Option<Conn<Http2>>,
    /// What the last connection to the origin spoke.
    protocol: Option<Protocol>,
    /// Held while connecting when the connection may turn out to be
    /// HTTP/2, so that concurrent requests share it instead of each
    /// opening their own.
    connecting: Arc<tokio::sync::Mutex<()>>,
}

/// The hasher of the pool's map: an [`Origin`] hashes as the keyed hash
/// it carries, taken as it is.
#[derive(Default)]
struct OriginHash(u64);

impl Hasher for OriginHash {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is reached (`Origin`'s `Hash`); this keeps any
        // other key working, if slowly.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// How many origins the pool remembers before it forgets those it holds
/// nothing for (a client that visits many hosts).
const FORGET_ABOVE: usize = 64;

impl Slot {
    fn is_unused(&self) -> bool {
        let connecting = Arc::strong_count(&self.connecting) > 1;
        let http2 = self.http2.as_ref().is_some_and(|http2| !http2.sender.is_closed());
        !connecting && !http2 && self.idle.iter().all(|idle| idle.sender.is_closed())
    }
}

impl Pool {
    pub(super) fn new(max_idle: usize, reuse: bool) -> Pool {
        Pool {
            origins: Mutex::default(),
            max_idle,
            reuse,
        }
    }

    /// Runs `f` on the slot of `origin`, under the pool's lock.
    fn with_slot<T>(&self, origin: &Origin, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut origins = self.origins.lock().expect("pool lock");
        f(slot(&mut origins, origin))
    }

    /// A live connection to `origin`, if there is one free: the HTTP/2
    /// connection (shared), or the most recently used idle HTTP/1.1 one
    /// (taken out until its exchange is over).
    pub(super) fn checkout(&self, origin: &Origin) -> Option<Conn> {
        if !self.reuse {
            return None;
        }
        self.with_slot(origin, |slot| {
            if let Some(http2) = &slot.http2 {
                if !http2.sender.is_closed() {
                    let Conn { sender, tls } = http2.clone();
                    return Some(Conn { sender: SendRequest::Http2(sender), tls });
                }
                slot.http2 = None;
            }
            while let Some(Conn { sender, tls }) = slot.idle.pop() {
                if !sender.is_closed() {
                    return Some(Conn { sender: SendRequest::Http1(sender), tls });
                }
            }
            None
        })
    }

    /// The lock to hold while connecting to `origin` when the new
    /// connection may be HTTP/2 (`may_be_http2`), unless the last one
    /// was HTTP/1.1 there.
    pub(super) fn connect_lock(
        &self,
        origin: &Origin,
        may_be_http2: bool,
    ) -> Option<Arc<tokio::sync::Mutex<()>>> {
        if !may_be_http2 || !self.reuse {
            return None;
        }
        self.with_slot(origin, |slot| {
            (slot.protocol != Some(Protocol::Http1)).then(|| slot.connecting.clone())
        })
    }

    /// A new connection to `origin`: an HTTP/2 one is shared from now on.
    pub(super) fn opened(&self, origin: &Origin, conn: &Conn) {
        if !self.reuse {
            return;
        }
        self.with_slot(origin, |slot| {
            slot.protocol = Some(conn.sender.protocol());
            if let SendRequest::Http2(http2) = &conn.sender {
                slot.http2 = Some(Conn { sender: http2.clone(), tls: conn.tls.clone() });
            }
        })
    }

    /// An HTTP/1.1 connection whose exchange is over, for the next
    /// request; closed if the pool of `origin` is full.
    pub(super) fn checkin(&self, origin: &Origin, http1: Conn<Http1>) {
        if !self.reuse || http1.sender.is_closed() {
            return;
        }
        self.with_slot(origin, |slot| {
            slot.idle.retain(|idle| !idle.sender.is_closed());
            if slot.idle.len() < self.max_idle {
                slot.idle.push(http1);
            }
        })
    }

    /// Forgets the idle HTTP/1.1 connections to `origin`: one was found
    /// stale, the others are as old.
    pub(super) fn clear_idle(&self, origin: &Origin) {
        self.with_slot(origin, |slot| slot.idle.clear())
    }
}

/// The slot of `origin`, made if missing (the unused ones forgotten first
/// when there are many). Not generic, unlike `with_slot`, so that its map
/// code is there once for all the callers, not once per closure.
fn slot<'a>(
    origins: &'a mut HashMap<Origin, Slot, BuildHasherDefault<OriginHash>>,
    origin: &Origin,
) -> &'a mut Slot {
    if !origins.contains_key(origin) {
        if origins.len() >= FORGET_ABOVE {
            origins.retain(|_, slot| !slot.is_unused());
        }
        origins.insert(origin.clone(), Slot::default());
    }
    origins.get_mut(origin).expect("the slot was made above")
}
