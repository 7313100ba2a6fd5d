//! [`Serve`]: what the serve loop runs on each accepted connection, and
//! the plain one every [`Handler`] is (HTTP/1.1, and h2c when
//! [`Config::h2c`] is on).

use std::future::Future;
use std::sync::Arc;

use super::alpn;
use super::Handler;
use crate::flow::{MaybeSend, MaybeSync};
use crate::rt::{Endpoints, Runtime};
use crate::{Config, Error, Flow};

/// What [`serve`](fn@crate::serve) runs on each accepted connection.
///
/// A [`Handler`] is one: HTTP/1.1 on the raw connection, and HTTP/2 too
/// for clients that start with its preface when [`Config::h2c`] is on.
/// [`alpn::service`] makes the other kind: a TLS handshake (or any other
/// injection) in the connection's task, then HTTP/1.1 or HTTP/2 as ALPN
/// decided. The same handler serves both protocols either way.
pub trait Serve: Clone + MaybeSend + MaybeSync + 'static {
    /// Serves one accepted connection to its end (the peer is done, or
    /// `stopping` completed and what was in flight finished), reporting its
    /// failures as [`Serve::on_error`] does.
    fn serve_connection<R: Runtime, S: Future<Output = ()> + MaybeSend + 'static>(
        &self,
        flow: Flow,
        endpoints: Endpoints,
        config: Arc<Config>,
        rt: R,
        stopping: S,
    ) -> impl Future<Output = ()> + MaybeSend + 'static;

    /// Reports a failure: of a connection, or of the listener itself.
    fn on_error(&self, peer: &str, error: &Error);
}

impl<H: Handler> Serve for H {
    fn serve_connection<R: Runtime, S: Future<Output = ()> + MaybeSend + 'static>(
        &self,
        flow: Flow,
        endpoints: Endpoints,
        config: Arc<Config>,
        rt: R,
        stopping: S,
    ) -> impl Future<Output = ()> + MaybeSend + 'static {
        alpn::serve_connection(alpn::Plain, self.clone(), flow, endpoints, config, rt, stopping)
    }

    fn on_error(&self, peer: &str, error: &Error) {
        Handler::on_error(self, peer, error)
    }
}

