//! mimic: a typed resolver context that picks a transport at run time.
//!
//! This is a port of OCaml's [mimic](https://github.com/dinosaure/mimic).
//! Code that speaks a protocol (HTTP, ...) only needs a [`Flow`](crate::Flow); *which*
//! transport gives that flow (plain TCP, TLS over TCP, a Unix socket, an
//! in-memory pipe, a pair of JS streams) is decided by a [`Ctx`], a small
//! heterogeneous map filled by whoever knows the target, and by
//! [`resolve`].
//!
//! * A [`Value<T>`] is a typed key made with a name: `Value::<u16>::new("port")`.
//!   Every `Value::new` is a distinct key, even with a name used before.
//! * A [`Ctx`] maps values to what they hold. It is persistent: [`Ctx::add`]
//!   gives a new context and leaves the old one as it was, and cloning is one
//!   reference count.
//! * [`Ctx::fold`] registers a *derivation*: how to compute a value from
//!   others when it is not in the context, for example a socket address from
//!   a host name and a port (a DNS lookup). Arguments are [`req`]uired,
//!   [`opt`]ional or given a [`dft`] (default).
//! * [`register`] declares a [`Protocol`] (how to connect to an endpoint of
//!   some type) and gives back the *endpoint value* of that protocol, and a
//!   [`Witness`] to recognise its transport inside a flow later (the *repr*
//!   of mimic).
//! * [`resolve`] finds every protocol whose endpoint is in the context or can
//!   be derived, tries them by [`Priority`] and returns the first flow that
//!   connects, or a [`ResolveError`] that says, per protocol, what was missing
//!   or what the connection answered.
//!
//! # Rules
//!
//! These follow mimic (see the comments on each item for details):
//!
//! * **A value added later replaces an earlier one** for the same key (HTTP
//!   redirects rely on it: add the new host and port on top of the old
//!   context).
//! * **A value in the context beats its folds**: folds only run for values
//!   that are absent.
//! * **Folds for one value are tried from the most recently added to the
//!   oldest.** A fold answering `Ok(None)` *declines*; one answering `Err`
//!   *fails* (its error is kept for the report); either way the next fold is
//!   tried. So a fold added on top of another one overrides it, and falls
//!   back to it by declining.
//! * **[`Ctx::merge`]** puts the second context on top of the first: its
//!   values win and its folds are tried first. A fold present in both (the
//!   same registration, shared by two contexts made from a common one) is
//!   kept once.
//! * **Priorities: the lower number is tried first**, and any explicit
//!   priority comes before [`Priority::NONE`] (mimic: "mimic will choose the
//!   lower-priority solution"). Protocols of equal priority are tried in the
//!   order their endpoint values entered the context.
//! * **A failing connection falls back** to the next protocol.
//! * A value is derived at most once per [`resolve`], even if several
//!   protocols need it (one DNS lookup for TLS and plain TCP).
//! * A **dependency cycle** between folds is detected and reported: it fails
//!   the fold that runs into it, even through an [`opt`] or a [`dft`] (a
//!   cycle is a bug, not an absence), and the next fold is tried. So is a
//!   chain of derivations deeper than [`MAX_DEPTH`]. Resolution always ends.
//!
//! # Example
//!
//! An in-memory protocol whose endpoint is derived from a host and a port:
//!
//! ```
//! use paf::mimic::{self, dft, req, Ctx, Value};
//! use paf::Flow;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), paf::Error> {
//! let host = Value::<String>::new("host");
//! let port = Value::<u16>::new("port");
//!
//! // A protocol that "connects" to a service in this very process: each
//! // connection is an in-memory pipe whose other end answers "hello".
//! let (memory, memory_flow) = mimic::register(
//!     "memory",
//!     10,
//!     mimic::protocol_fn(|_service: String| async move {
//!         let (client, mut server) = Flow::pipe(64);
//!         tokio::spawn(async move { server.write_all(b"hello").await });
//!         Ok(client)
//!     }),
//! );
//!
//! // How to derive the endpoint when it is not given: from the host and the
//! // port (80 when there is none). Only "localhost" is known here; any other
//! // host declines, so another protocol could take it.
//! let ctx = Ctx::new().fold(&memory, (req(&host), dft(&port, 80)), |(host, port)| async move {
//!     Ok((host == "localhost").then(|| format!("{host}:{port}")))
//! });
//!
//! let ctx = ctx.add(&host, "localhost".to_string());
//! let mut flow = mimic::resolve(&ctx).await?;
//! assert!(memory_flow.is(&flow)); // the repr: which transport won
//! let mut greeting = String::new();
//! flow.read_to_string(&mut greeting).await?;
//! assert_eq!(greeting, "hello");
//!
//! // Nothing can be derived without a host: the error says so.
//! let err = mimic::resolve(&ctx.remove(&host)).await.unwrap_err();
//! assert_eq!(err.to_string(), "memory: missing host");
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::flow::{MaybeSend, MaybeSync};
use crate::BoxError;

mod args;
mod error;
mod protocol;
mod resolve;
#[cfg(test)]
mod tests;

pub use args::{dft, opt, req, Arg, Args, Dft, Opt, Req};
pub use error::{Attempt, Failure, FoldFailure, ResolveError, Unavailable, Underlying};
pub use protocol::{protocol_fn, register, Priority, Protocol, ProtocolFn, Witness};
pub use resolve::{resolve, MAX_DEPTH};

use args::{ErasedFold, Fold};
use protocol::ErasedProtocol;

/// A value of any type stored in a context (type-erased).
///
/// Beware: `Arc<dyn AnyValue>` is itself an `AnyValue`; always call
/// [`AnyValue::as_any`] on the `dyn AnyValue` inside, or use [`downcast`].
trait AnyValue: Any + MaybeSend + MaybeSync {
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any + MaybeSend + MaybeSync> AnyValue for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The `T` inside a value stored under a `Value<T>`.
fn downcast<T: 'static>(value: &dyn AnyValue) -> &T {
    value
        .as_any()
        .downcast_ref::<T>()
        .expect("a context only stores a T under a Value<T>")
}

/// What every [`Value`] is made of: its identity, its name and, for the
/// endpoint value of a registered protocol, the protocol.
struct ValueInfo {
    id: u64,
    name: Cow<'static, str>,
    protocol: Option<Registration>,
}

/// A protocol attached to its endpoint value by [`register`].
struct Registration {
    priority: Priority,
    protocol: Box<dyn ErasedProtocol>,
}

impl ValueInfo {
    fn new(name: Cow<'static, str>, protocol: Option<Registration>) -> Arc<ValueInfo> {
        // Identity is per creation, not per name: two values named "port"
        // are two keys.
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Arc::new(ValueInfo { id, name, protocol })
    }
}

/// A typed key of a [`Ctx`], made with a name.
///
/// Cloning is cheap and keeps the identity: a clone is the same key. Two
/// calls to [`Value::new`] make two different keys, whatever their names.
/// `T` must be `Clone + MaybeSend + MaybeSync + 'static` to be stored.
pub struct Value<T> {
    info: Arc<ValueInfo>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Value<T> {
    /// A new key; `name` is what errors and `Debug` show.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Value<T> {
        Value::from_info(ValueInfo::new(name.into(), None))
    }

    fn from_info(info: Arc<ValueInfo>) -> Value<T> {
        Value {
            info,
            _type: PhantomData,
        }
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.info.name
    }
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value::from_info(self.info.clone())
    }
}

impl<T> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.info.name).finish()
    }
}

impl<T> PartialEq for Value<T> {
    fn eq(&self, other: &Self) -> bool {
        self.info.id == other.info.id
    }
}

impl<T> Eq for Value<T> {}

impl<T> Hash for Value<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.info.id.hash(state);
    }
}

/// A resolver context: what is known about the target, and how to derive
/// what is not. See the [module documentation](self) for the rules.
///
/// Persistent: every change returns a new context and leaves `self` as it
/// was. Cloning is one reference count; a change copies a short vector of
/// reference-counted entries.
#[derive(Clone, Default)]
pub struct Ctx {
    // In the order keys first entered the context: that order breaks ties
    // between protocols of equal priority. Contexts hold a handful of keys,
    // so a vector scanned linearly beats a map.
    entries: Arc<Vec<Entry>>,
}

/// What a context holds for one key.
#[derive(Clone)]
struct Entry {
    key: Arc<ValueInfo>,
    value: Option<Arc<dyn AnyValue>>,
    /// Oldest first; tried newest first.
    folds: Vec<Arc<dyn ErasedFold>>,
}

impl Entry {
    fn new(key: Arc<ValueInfo>) -> Entry {
        Entry {
            key,
            value: None,
            folds: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.value.is_none() && self.folds.is_empty()
    }
}

impl Ctx {
    /// The empty context.
    pub fn new() -> Ctx {
        Ctx::default()
    }

    /// Whether the context holds no value and no fold.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// This context with `key` bound to `value`, replacing any value `key`
    /// had (its folds stay, unused while the value is there).
    pub fn add<T>(&self, key: &Value<T>, value: T) -> Ctx
    where
        T: Clone + MaybeSend + MaybeSync + 'static,
    {
        let value: Arc<dyn AnyValue> = Arc::new(value);
        self.update(&key.info, |entry| entry.value = Some(value))
    }

    /// The value bound to `key`, if any. Folds are not run: a value that is
    /// only derivable is not here (see [`resolve`]).
    pub fn get<T: 'static>(&self, key: &Value<T>) -> Option<&T> {
        let entry = self.entry(key.info.id)?;
        entry.value.as_deref().map(downcast::<T>)
    }

    /// Whether a value is bound to `key`.
    pub fn contains<T>(&self, key: &Value<T>) -> bool {
        self.entry(key.info.id)
            .is_some_and(|entry| entry.value.is_some())
    }

    /// This context without the value of `key`. Its folds stay, so it can
    /// still be derived; see [`Ctx::remove_folds`].
    pub fn remove<T>(&self, key: &Value<T>) -> Ctx {
        if !self.contains(key) {
            return self.clone();
        }
        self.update(&key.info, |entry| entry.value = None)
    }

    /// This context without the folds that derive `key` (to replace them:
    /// `ctx.remove_folds(&key).fold(&key, ...)`).
    pub fn remove_folds<T>(&self, key: &Value<T>) -> Ctx {
        if self
            .entry(key.info.id)
            .is_none_or(|entry| entry.folds.is_empty())
        {
            return self.clone();
        }
        self.update(&key.info, |entry| entry.folds.clear())
    }

    /// This context with one more way to derive `key` when it is absent: get
    /// `args` (each [`req`], [`opt`] or [`dft`], alone or in a tuple of up to
    /// eight), deriving them through their own folds if needed, then await
    /// `k` on them.
    ///
    /// `k` answers `Ok(Some(value))`, `Ok(None)` to decline (the next fold is
    /// tried, as when a required argument is missing) or `Err` to fail (the
    /// next fold is tried too, and the error is kept for the report).
    ///
    /// ```
    /// # use paf::mimic::{opt, req, Ctx, Value};
    /// let host = Value::<String>::new("host");
    /// let port = Value::<u16>::new("port");
    /// let authority = Value::<String>::new("authority");
    /// let ctx = Ctx::new().fold(&authority, (req(&host), opt(&port)), |(host, port)| async move {
    ///     Ok(Some(match port {
    ///         Some(port) => format!("{host}:{port}"),
    ///         None => host,
    ///     }))
    /// });
    /// ```
    pub fn fold<T, A, K, Fut>(&self, key: &Value<T>, args: A, k: K) -> Ctx
    where
        T: Clone + MaybeSend + MaybeSync + 'static,
        A: Args,
        K: Fn(A::Output) -> Fut + MaybeSend + MaybeSync + 'static,
        Fut: Future<Output = Result<Option<T>, BoxError>> + MaybeSend + 'static,
    {
        let fold: Arc<dyn ErasedFold> = Arc::new(Fold::new(args, k));
        self.update(&key.info, |entry| entry.folds.push(fold))
    }

    /// `other` on top of `self`: where both bind a value, `other`'s wins;
    /// `other`'s folds are tried before `self`'s, and a fold found in both
    /// is kept once (at `other`'s place).
    pub fn merge(&self, other: &Ctx) -> Ctx {
        if other.is_empty() || Arc::ptr_eq(&self.entries, &other.entries) {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let mut merged = self.clone();
        let entries = Arc::make_mut(&mut merged.entries);
        for theirs in other.entries.iter() {
            match entries.iter_mut().find(|ours| ours.key.id == theirs.key.id) {
                None => entries.push(theirs.clone()),
                Some(ours) => {
                    if theirs.value.is_some() {
                        ours.value = theirs.value.clone();
                    }
                    ours.folds
                        .retain(|fold| !theirs.folds.iter().any(|t| Arc::ptr_eq(t, fold)));
                    ours.folds.extend(theirs.folds.iter().cloned());
                }
            }
        }
        merged
    }

    fn entry(&self, id: u64) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key.id == id)
    }

    /// A copy of this context with the entry of `key` (created if needed)
    /// changed by `change`; an entry left empty is dropped.
    fn update(&self, key: &Arc<ValueInfo>, change: impl FnOnce(&mut Entry)) -> Ctx {
        let mut entries: Vec<Entry> = self.entries.as_ref().clone();
        let index = match entries.iter().position(|entry| entry.key.id == key.id) {
            Some(index) => index,
            None => {
                entries.push(Entry::new(key.clone()));
                entries.len() - 1
            }
        };
        change(&mut entries[index]);
        if entries[index].is_empty() {
            entries.remove(index);
        }
        Ctx {
            entries: Arc::new(entries),
        }
    }

    /// The names of the keys the context holds something for.
    fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|entry| entry.key.name.to_string())
            .collect()
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for entry in self.entries.iter() {
            let what = match (entry.value.is_some(), entry.folds.len()) {
                (true, 0) => "value".to_string(),
                (true, n) => format!("value, {n} fold(s)"),
                (false, n) => format!("{n} fold(s)"),
            };
            map.entry(&entry.key.name, &format_args!("{what}"));
        }
        map.finish()
    }
}
