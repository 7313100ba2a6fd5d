//! Protocol upgrades: after a `101 Switching Protocols` (or a 2xx answer to
//! `CONNECT`), the raw flow is handed to whoever asked for it, for
//! WebSocket, tunnels and proxies.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::{Error, Flow};

/// Resolves to the upgraded flow once the connection has switched
/// protocols. Take it from a request (server) or a response (client) with
/// [`on`].
///
/// It is `Clone` because `http::Extensions` asks for it; clones share one
/// flow, which goes to the first that awaits it.
#[derive(Debug, Clone)]
pub struct OnUpgrade {
    rx: Option<Arc<Mutex<oneshot::Receiver<Flow>>>>,
}

// `http::Extensions` wants `Send + Sync`, which a flow of JS or WASI handles
// is not; the wasm targets paf builds for run on one thread, where no value
// can cross to another.
#[cfg(target_family = "wasm")]
unsafe impl Send for OnUpgrade {}
#[cfg(target_family = "wasm")]
unsafe impl Sync for OnUpgrade {}

/// The connection's end of an [`OnUpgrade`].
#[derive(Debug)]
pub(crate) struct Pending {
    tx: oneshot::Sender<Flow>,
}

pub(crate) fn pending() -> (Pending, OnUpgrade) {
    let (tx, rx) = oneshot::channel();
    (Pending { tx }, OnUpgrade { rx: Some(Arc::new(Mutex::new(rx))) })
}

impl Pending {
    pub(crate) fn fulfill(self, flow: Flow) {
        // The receiver may be gone: nobody wanted the flow, it is dropped.
        let _ = self.tx.send(flow);
    }
}

/// Takes the upgrade handle out of a request or response. Await it after
/// sending (server) or receiving (client) the `101`.
///
/// ```no_run
/// # async fn handler(mut req: paf::Request<paf::Incoming>) {
/// let upgrade = paf::engine::upgrade::on(&mut req);
/// // ... answer 101 Switching Protocols, then in a spawned task:
/// let flow: paf::Flow = upgrade.await.unwrap();
/// # }
/// ```
pub fn on<T: HasExtensions>(message: &mut T) -> OnUpgrade {
    message
        .extensions_mut()
        .remove::<OnUpgrade>()
        .unwrap_or(OnUpgrade { rx: None })
}

impl Future for OnUpgrade {
    type Output = Result<Flow, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.rx.as_mut() {
            None => Poll::Ready(Err(Error::InvalidMessage(
                "this message did not ask for an upgrade".into(),
            ))),
            Some(rx) => {
                let mut rx = rx.lock().expect("upgrade lock poisoned");
                Pin::new(&mut *rx).poll(cx).map_err(|_| Error::Closed)
            }
        }
    }
}

/// Requests and responses, which carry their upgrade in their extensions.
pub trait HasExtensions {
    /// The message's extensions.
    fn extensions_mut(&mut self) -> &mut http::Extensions;
}
impl<B> HasExtensions for http::Request<B> {
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Request::extensions_mut(self)
    }
}
impl<B> HasExtensions for http::Response<B> {
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Response::extensions_mut(self)
    }
}
