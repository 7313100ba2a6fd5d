//! [`Connection`]: the facts of the connection a request came on, in every
//! request a server hands to its handler, on every platform.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;

use super::alpn::Protocol;
use super::{ErrorHook, Handler};
use crate::rt::{Endpoints, Peer};
use crate::tls::Session;
use crate::{Error, Incoming};

/// The connection a request came on: its peer, its local address, the
/// protocol, and the TLS session when there is one. Every request a paf
/// server hands to a handler carries it, found by [`Connection::of`]; it
/// is cheap to clone (one per connection, shared by its requests).
///
/// ```
/// use paf::{service_fn, Body, Connection, Incoming, Request, Response};
/// let handler = service_fn(|req: Request<Incoming>| async move {
///     let conn = Connection::of(&req).expect("a paf server puts it there");
///     let tls = conn.tls().map_or("clear text", |session| session.version);
///     Response::new(Body::from(format!("{} over {} ({tls})\n", conn.peer(), conn.protocol())))
/// });
/// # let _ = handler;
/// ```
#[derive(Clone)]
#[repr(transparent)]
pub struct Connection(
    /// Always [`Facts`]; type-erased because request bodies hold it as it
    /// is (`body` sits below `engine` and cannot name the type), so that
    /// [`Connection::of`] lends it from there without an `Arc` of its own.
    Arc<dyn Any + Send + Sync>,
);

#[derive(Debug)]
struct Facts {
    endpoints: Endpoints,
    protocol: Protocol,
    /// Boxed: most connections have none, and every connection keeps its
    /// facts for its life.
    tls: Option<Box<Session>>,
}

impl Connection {
    /// The facts of a connection between `endpoints`, speaking `protocol`,
    /// over `tls` when it has a session.
    pub fn new(endpoints: Endpoints, protocol: Protocol, tls: Option<Session>) -> Connection {
        Connection(Arc::new(Facts { endpoints, protocol, tls: tls.map(Box::new) }))
    }

    fn facts(&self) -> &Facts {
        self.0.downcast_ref().expect("a Connection holds Facts")
    }

    /// The `Connection` a body holds, type-erased.
    fn lent_by(erased: &Arc<dyn Any + Send + Sync>) -> Option<&Connection> {
        if !erased.is::<Facts>() {
            return None;
        }
        // SAFETY: `Connection` is `repr(transparent)` over this `Arc` type,
        // and its one rule, that the `Arc` holds `Facts`, was checked.
        Some(unsafe { &*(erased as *const Arc<dyn Any + Send + Sync>).cast::<Connection>() })
    }

    /// The connection `request` came on, if a paf server received it.
    ///
    /// paf keeps it with the request's body (an [`Incoming`]), which costs
    /// no allocation per request; for requests whose body a middleware has
    /// replaced, a service served through `engine::tower` also finds it in
    /// the request's extensions, where `http` middleware carries values.
    pub fn of<B: 'static>(request: &Request<B>) -> Option<&Connection> {
        let body: &dyn std::any::Any = request.body();
        match body.downcast_ref::<Incoming>() {
            Some(incoming) => Connection::lent_by(incoming.connection()?),
            None => request.extensions().get::<Connection>(),
        }
    }

    /// The other end: an address and a port, or a name (a Unix socket's
    /// peer, a flow a host or JS handed in without an address).
    pub fn peer(&self) -> &Peer {
        &self.facts().endpoints.peer
    }

    /// This end's address, where it has one.
    pub fn local(&self) -> Option<SocketAddr> {
        self.facts().endpoints.local
    }

    /// HTTP/1.1 or HTTP/2.
    pub fn protocol(&self) -> Protocol {
        self.facts().protocol
    }

    /// The TLS session (version, cipher suite, ALPN, the name the client
    /// asked for, its certificates) when paf terminated TLS on this
    /// connection; `None` on clear text, and where the platform terminated
    /// TLS (a host, `node:tls`).
    pub fn tls(&self) -> Option<&Session> {
        self.facts().tls.as_deref()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Connection").field(self.facts()).finish()
    }
}

/// A handler whose requests carry `connection`.
#[derive(Clone)]
pub(crate) struct WithConnection<H> {
    handler: H,
    connection: Connection,
}

impl<H> WithConnection<H> {
    pub(crate) fn new(handler: H, connection: Connection) -> Self {
        WithConnection { handler, connection }
    }
}

impl<H: Handler> Handler for WithConnection<H> {
    type Body = H::Body;
    type Data = H::Data;
    type Error = H::Error;
    type Future = H::Future;

    fn call(&self, mut request: Request<Incoming>) -> H::Future {
        request.body_mut().set_connection(self.connection.0.clone());
        self.handler.call(request)
    }

    fn on_error(&self, peer: &str, error: &Error) {
        self.handler.on_error(peer, error)
    }

    fn error_hook(&self) -> Option<&dyn ErrorHook> {
        self.handler.error_hook()
    }
}
