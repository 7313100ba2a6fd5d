//! TLS as a mimic protocol: its endpoint, its values and its witness.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use rustls::ClientConfig;

use super::{connect, TlsStream};
use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::mimic::{self, Priority, Protocol, Underlying, Value, Witness};
use crate::rt::Global;
use crate::{BoxError, Flow};

/// The priority of TLS: before plain TCP (100), after Unix sockets (40).
/// Which of TLS and plain TCP a context offers is the scheme's choice (an
/// `https` context holds no plain TCP endpoint), so the order only matters
/// for a context that offers both.
pub const TLS_PRIORITY: Priority = Priority::new(50);

/// How to open the flow TLS runs over (a TCP connection, usually): called
/// once per connection attempt.
pub type OpenFlow = Arc<dyn Open>;

/// A function opening a flow, `Send + Sync` where the target has threads
/// (see [`OpenFlow`]). Implemented by every such closure.
pub trait Open: Fn() -> BoxFuture<'static, Result<Flow, BoxError>> + MaybeSend + MaybeSync {}

impl<F> Open for F where
    F: Fn() -> BoxFuture<'static, Result<Flow, BoxError>> + MaybeSend + MaybeSync
{
}

/// The endpoint of TLS: everything needed to connect, so that this layer
/// knows no platform. A platform's fold derives it (see
/// `platform::native::TLS_OVER_TCP`), or a caller builds it with
/// [`Endpoint::new`] over any flow.
#[derive(Clone)]
pub struct Endpoint {
    /// Whom to trust and what to offer.
    pub config: Arc<ClientConfig>,
    /// The name to verify the certificate against and to send as SNI (a
    /// DNS name, or an IP literal: then no SNI is sent).
    pub server_name: String,
    /// Opens the underlying flow.
    pub open: OpenFlow,
}

impl Endpoint {
    /// An endpoint whose flows come from `open`.
    pub fn new<F, Fut>(
        config: Arc<ClientConfig>,
        server_name: impl Into<String>,
        open: F,
    ) -> Endpoint
    where
        F: Fn() -> Fut + MaybeSend + MaybeSync + 'static,
        Fut: Future<Output = Result<Flow, BoxError>> + MaybeSend + 'static,
    {
        Endpoint {
            config,
            server_name: server_name.into(),
            open: Arc::new(move || Box::pin(open())),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("server_name", &self.server_name)
            .field("alpn", &super::AlpnList(&self.config.alpn_protocols))
            .finish_non_exhaustive()
    }
}

static TLS_PROTOCOL: Global<(Value<Endpoint>, Witness<TlsStream>)> =
    Global::new(|| mimic::register("tls", TLS_PRIORITY, Tls));

/// The endpoint value of TLS, registered with mimic under the name `tls`
/// at [`TLS_PRIORITY`]. The flow it gives is a [`TlsStream`] (see
/// [`session`](super::session)).
pub static TLS: Global<Value<Endpoint>> = Global::new(|| TLS_PROTOCOL.0.clone());

/// Recognises TLS flows: `TLS_WITNESS.repr(&flow)` is the [`TlsStream`].
pub static TLS_WITNESS: Global<Witness<TlsStream>> = Global::new(|| TLS_PROTOCOL.1.clone());

/// The client configuration a platform's fold puts in the [`TLS`]
/// endpoint; [`default_client_config`](super::default_client_config) when
/// absent.
pub static CONFIG: Global<Value<Arc<ClientConfig>>> = Global::new(|| Value::new("tls-config"));

/// The name to verify the server's certificate against, when it is not the
/// host connected to (a platform's fold falls back to its host value).
pub static SERVER_NAME: Global<Value<String>> = Global::new(|| Value::new("tls-server-name"));

/// TLS, as registered with mimic.
struct Tls;

impl Protocol for Tls {
    type Endpoint = Endpoint;
    type Transport = TlsStream;

    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Result<TlsStream, BoxError>> {
        Box::pin(async move {
            // A failure to open the flow is not TLS's: it is said as it is
            // ("connection refused to ..."), and classified by what it is.
            let flow = (endpoint.open)().await.map_err(Underlying)?;
            Ok(connect(endpoint.config.clone(), &endpoint.server_name, flow).await?)
        })
    }
}
