//! Protocols: how to connect to an endpoint, their registration and their
//! priorities, and the witnesses that recognise their transports.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use super::{downcast, AnyValue, Registration, Value, ValueInfo};
use crate::flow::{BoxFuture, MaybeSend, MaybeSync, Transport};
use crate::{BoxError, Flow};

/// In which order [`resolve`](super::resolve) tries protocols: **the lower
/// number first**, and every explicit priority before [`Priority::NONE`]
/// (as in mimic). `From<i32>` and `From<Option<i32>>` let
/// [`register`] take `10` or `None`.
///
/// ```
/// # use paf::mimic::Priority;
/// assert!(Priority::new(-5) < Priority::new(10));
/// assert!(Priority::new(i32::MAX) < Priority::NONE);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Priority(Option<i32>);

impl Priority {
    /// No priority: tried after every protocol that has one.
    pub const NONE: Priority = Priority(None);

    /// An explicit priority; lower numbers are tried first.
    pub const fn new(rank: i32) -> Priority {
        Priority(Some(rank))
    }

    /// The number, if the priority is explicit.
    pub const fn rank(self) -> Option<i32> {
        self.0
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0, other.0) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<i32> for Priority {
    fn from(rank: i32) -> Priority {
        Priority::new(rank)
    }
}

impl From<Option<i32>> for Priority {
    fn from(rank: Option<i32>) -> Priority {
        Priority(rank)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(rank) => write!(f, "priority {rank}"),
            None => f.write_str("no priority"),
        }
    }
}

/// A way to obtain a transport: connect to an endpoint.
///
/// Register it with [`register`]; closures can use [`protocol_fn`].
pub trait Protocol: MaybeSend + MaybeSync + 'static {
    /// What the protocol connects to (a socket address, a path, ...).
    type Endpoint: Clone + MaybeSend + MaybeSync + 'static;
    /// What it connects with; [`resolve`](super::resolve) puts it in a
    /// [`Flow`].
    type Transport: Transport;

    /// Connects to `endpoint`. The error text ends up in a
    /// [`ResolveError`](super::ResolveError) after the protocol's name, so
    /// it should stand alone ("connection refused to 127.0.0.1:1").
    fn connect<'a>(
        &'a self,
        endpoint: &'a Self::Endpoint,
    ) -> BoxFuture<'a, Result<Self::Transport, BoxError>>;
}

/// A [`Protocol`] made of a closure taking the endpoint by value. See
/// [`protocol_fn`].
pub struct ProtocolFn<E, F> {
    connect: F,
    _endpoint: PhantomData<fn(E)>,
}

/// A [`Protocol`] made of a closure `endpoint -> future of transport`.
///
/// ```
/// # use paf::mimic::{self, protocol_fn};
/// let (endpoint, witness) = mimic::register("pipe", None, protocol_fn(|capacity: usize| async move {
///     let (near, _far) = tokio::io::duplex(capacity);
///     Ok(near)
/// }));
/// ```
pub fn protocol_fn<E, T, F, Fut>(connect: F) -> ProtocolFn<E, F>
where
    E: Clone + MaybeSend + MaybeSync + 'static,
    T: Transport,
    F: Fn(E) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Result<T, BoxError>> + MaybeSend + 'static,
{
    ProtocolFn {
        connect,
        _endpoint: PhantomData,
    }
}

impl<E, T, F, Fut> Protocol for ProtocolFn<E, F>
where
    E: Clone + MaybeSend + MaybeSync + 'static,
    T: Transport,
    F: Fn(E) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Result<T, BoxError>> + MaybeSend + 'static,
{
    type Endpoint = E;
    type Transport = T;

    fn connect<'a>(&'a self, endpoint: &'a E) -> BoxFuture<'a, Result<T, BoxError>> {
        Box::pin((self.connect)(endpoint.clone()))
    }
}

/// A protocol with its types erased, as its endpoint value carries it.
pub(super) trait ErasedProtocol: MaybeSend + MaybeSync {
    fn connect_erased<'a>(
        &'a self,
        endpoint: &'a dyn AnyValue,
    ) -> BoxFuture<'a, Result<Flow, BoxError>>;
}

impl<P: Protocol> ErasedProtocol for P {
    fn connect_erased<'a>(
        &'a self,
        endpoint: &'a dyn AnyValue,
    ) -> BoxFuture<'a, Result<Flow, BoxError>> {
        let endpoint = downcast::<P::Endpoint>(endpoint);
        Box::pin(async move { Protocol::connect(self, endpoint).await.map(Flow::new) })
    }
}

/// Declares a protocol (mimic's `register ?priority ~name`).
///
/// Returns its *endpoint value*, and a [`Witness`] of its transport. The
/// protocol becomes a candidate of [`resolve`](super::resolve) for every
/// context that holds an endpoint under that value, or a fold deriving one;
/// candidates are tried by `priority` (see [`Priority`]: the lower number
/// first). `name` names the protocol and its endpoint value in errors.
///
/// Register once (in a `static LazyLock`, for example) and share the value:
/// each call makes a new, distinct endpoint value.
pub fn register<P: Protocol>(
    name: impl Into<Cow<'static, str>>,
    priority: impl Into<Priority>,
    protocol: P,
) -> (Value<P::Endpoint>, Witness<P::Transport>) {
    let name = name.into();
    let registration = Registration {
        priority: priority.into(),
        protocol: Box::new(protocol),
    };
    let endpoint = Value::from_info(ValueInfo::new(name.clone(), Some(registration)));
    (
        endpoint,
        Witness {
            name,
            _transport: PhantomData,
        },
    )
}

/// Recognises the transport of a registered protocol inside a [`Flow`]
/// (mimic's `repr`), for example to read what a TLS session negotiated.
///
/// It looks at the transport's *type*: two protocols with the same
/// transport type recognise each other's flows.
pub struct Witness<T> {
    name: Cow<'static, str>,
    _transport: PhantomData<fn() -> T>,
}

impl<T: Transport> Witness<T> {
    /// The transport inside `flow`, if it is this protocol's.
    pub fn repr<'f>(&self, flow: &'f Flow) -> Option<&'f T> {
        flow.downcast_ref::<T>()
    }

    /// Whether `flow` holds this protocol's transport.
    pub fn is(&self, flow: &Flow) -> bool {
        flow.is::<T>()
    }

    /// The name the protocol was registered with.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Clone for Witness<T> {
    fn clone(&self) -> Self {
        Witness {
            name: self.name.clone(),
            _transport: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Witness<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Witness").field(&self.name).finish()
    }
}
