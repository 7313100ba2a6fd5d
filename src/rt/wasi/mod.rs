//! The WASI 0.2 runtime (`wasm32-wasip2`): an executor on `wasi:io/poll`,
//! timers from `wasi:clocks`, TCP over `wasi:sockets` with
//! `wasi:sockets/ip-name-lookup` as the DNS fold, a listener, and the
//! same mimic registration as [`rt::native`](crate::rt): [`HOST`],
//! [`PORT`], [`ADDRESSES`] derived by [`DNS`], the [`TCP`] endpoint
//! derived by [`PLAIN_TCP`], TLS over TCP by [`TLS_OVER_TCP`], and
//! [`ctx`] and [`https_ctx`] to start from.
//!
//! Also: [`platform`], the [`Client`](crate::Client)'s platform here;
//! [`serve_handed_in`], a handler on a connection a host handed in (with
//! the ALPN result the host gave, [`HandedIn`]); [`call`], a handler
//! answering a request given whole (the `paf:http/handler` interface).
//!
//! ```no_run
//! use paf::rt::wasi::{self, HOST, PORT};
//! wasi::block_on(async {
//!     let ctx = wasi::https_ctx().add(&HOST, "example.com".to_string()).add(&PORT, 443);
//!     let flow = paf::mimic::resolve(&ctx).await?;
//!     # drop(flow);
//!     Ok::<_, paf::Error>(())
//! })
//! # .unwrap();
//! ```
//!
//! # Why an executor of our own
//!
//! What was measured with Rust 1.95 decided it:
//!
//! * tokio's `wasm32-wasip2` networking builds only with
//!   `--cfg tokio_unstable`, and its `accept` fails at run time with
//!   `EINVAL` (mio sets non-blocking mode in a way WASI's libc rejects);
//! * `wstd` 0.6 has a working reactor, `spawn`, a listener and `connect`,
//!   but its streams speak its own `async fn` I/O traits, not tokio's
//!   poll-based `AsyncRead`/`AsyncWrite` that every [`Flow`] is: each flow
//!   would be an adapter keeping a boxed future per pending read and
//!   write;
//! * the `wasip2` crate gives the raw bindings, and a poll-based flow over
//!   `wasi:io` streams needs only "wake me when this pollable is ready".
//!
//! So the executor ([`block_on`], [`spawn`], [`sleep`]) is a couple of
//! hundred lines on `wasi:io/poll`, and one flow type, [`Streams`], serves the
//! connections of `wasi:sockets` ([`TcpStream`] holds one) and the ones a
//! host hands to a component through `paf:http` (see `wit/README.md`):
//! the engine cannot tell them apart. Everything runs on the component's
//! one thread; [`Runtime`] needs nothing `Send` there.
//!
//! The executor keeps its tasks between two [`block_on`] calls, so a
//! library component can return from an export and let the connection
//! tasks it spawned go on in the next call (a response body read piece by
//! piece).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::alpn::{self, Info, Protocol};
use crate::client::{Origin, Platform};
use crate::flow::BoxFuture;
use crate::mimic::{self, dft, opt, req, Ctx, Priority, Value, Witness};
use crate::rt::Runtime;
use crate::serve::{Handler, Serve};
use crate::tls::{self, Endpoint, Global};
use crate::{BoxError, Config, Flow};

mod executor;
mod http;
mod net;
mod stream;

pub use executor::{block_on, now, sleep, spawn, Sleep};
pub use http::{call, from_fields, to_fields, Fields};
pub use net::{connect_tcp, lookup, TcpListener, TcpStream};
pub use stream::Streams;

/// The runtime of a WASI 0.2 component: [`spawn`] and [`sleep`] of this
/// module's executor. Futures run inside [`block_on`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasi;

impl Runtime for Wasi {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(sleep(duration))
    }

    fn now(&self) -> Duration {
        now()
    }

    /// `wasi:clocks/wall-clock`, for the `Date` header.
    fn unix_time(&self) -> Option<Duration> {
        let time = wasip2::clocks::wall_clock::now();
        Some(Duration::new(time.seconds, time.nanoseconds))
    }
}

/// The priority of plain TCP, as natively: after the protocols with a
/// lower number (TLS, a host's resolver).
pub const TCP_PRIORITY: Priority = Priority::new(100);

/// The host to connect to: a domain name, or an IP literal.
pub static HOST: Global<Value<String>> = Global::new(|| Value::new("host"));

/// The port to connect to.
pub static PORT: Global<Value<u16>> = Global::new(|| Value::new("port"));

/// The socket addresses [`HOST`] and [`PORT`] resolve to, in the order to
/// try them. Derived by [`DNS`].
pub static ADDRESSES: Global<Value<Vec<SocketAddr>>> = Global::new(|| Value::new("addresses"));

static TCP_PROTOCOL: Global<(Value<Vec<SocketAddr>>, Witness<TcpStream>)> =
    Global::new(|| mimic::register("tcp", TCP_PRIORITY, Tcp));

/// The endpoint of TCP over `wasi:sockets`: addresses tried in order.
pub static TCP: Global<Value<Vec<SocketAddr>>> = Global::new(|| TCP_PROTOCOL.0.clone());

/// Recognises TCP flows: `TCP_WITNESS.repr(&flow)` is the [`TcpStream`].
pub static TCP_WITNESS: Global<Witness<TcpStream>> = Global::new(|| TCP_PROTOCOL.1.clone());

/// A context holding one fold: [`ADDRESSES`] from [`HOST`] and [`PORT`]
/// through `wasi:sockets/ip-name-lookup` (see [`lookup`]).
pub static DNS: Global<Ctx> = Global::new(|| {
    Ctx::new().fold(&ADDRESSES, (req(&HOST), req(&PORT)), |(host, port): (String, u16)| async move {
        Ok(Some(lookup(&host, port).await?))
    })
});

/// A context holding one fold: the [`TCP`] endpoint from [`ADDRESSES`].
pub static PLAIN_TCP: Global<Ctx> =
    Global::new(|| Ctx::new().fold(&TCP, req(&ADDRESSES), |addresses| async move { Ok(Some(addresses)) }));

/// A context holding one fold: the [`tls::TLS`] endpoint over TCP to
/// [`ADDRESSES`], with [`tls::CONFIG`] (the Mozilla roots when absent) and
/// the name to check, [`tls::SERVER_NAME`] or else [`HOST`]. rustls runs
/// inside the component.
pub static TLS_OVER_TCP: Global<Ctx> = Global::new(|| {
    Ctx::new().fold(
        &tls::TLS,
        (req(&ADDRESSES), dft(&tls::CONFIG, tls::default_client_config()), opt(&tls::SERVER_NAME), opt(&HOST)),
        |(addresses, config, server_name, host)| async move {
            let Some(server_name) = server_name.or(host) else {
                return Err("no server name to check the certificate against: add host (or tls-server-name)".into());
            };
            let open = move || {
                let addresses = addresses.clone();
                async move { Ok(Flow::new(connect_tcp(&addresses).await?)) }
            };
            Ok(Some(Endpoint::new(config, server_name, open)))
        },
    )
});

/// A context for plain TCP to a host and a port: [`DNS`] and [`PLAIN_TCP`].
pub fn ctx() -> Ctx {
    DNS.merge(&PLAIN_TCP)
}

/// A context for TLS to a host and a port: [`DNS`] and [`TLS_OVER_TCP`],
/// and no plain TCP, so a failed handshake never falls back to clear text.
pub fn https_ctx() -> Ctx {
    DNS.merge(&TLS_OVER_TCP)
}

/// The [`Client`](crate::Client)'s platform in a component: this runtime,
/// and per origin [`ctx`] (`http`) or [`https_ctx`] (`https`) with its host
/// and port; there are no Unix sockets here. Put a context of your own on
/// top with [`ClientBuilder::context`](crate::client::ClientBuilder::context):
/// a host's resolver, for instance.
pub fn platform() -> Platform {
    Platform::new(Wasi, |origin: &Origin| {
        if origin.unix_socket().is_some() {
            return Ctx::new();
        }
        let transports = if origin.is_tls() { https_ctx() } else { ctx() };
        transports.add(&HOST, origin.host().to_string()).add(&PORT, origin.port())
    })
}

/// TCP over `wasi:sockets`, as registered with mimic.
struct Tcp;

impl mimic::Protocol for Tcp {
    type Endpoint = Vec<SocketAddr>;
    type Transport = TcpStream;

    fn connect<'a>(&'a self, addresses: &'a Vec<SocketAddr>) -> BoxFuture<'a, Result<TcpStream, BoxError>> {
        Box::pin(async move { Ok(connect_tcp(addresses).await?) })
    }
}

/// How a component serves the [`Streams`] its host handed in: the protocol
/// is the ALPN result the host gave (`h2` is HTTP/2, anything else
/// HTTP/1.1); without one the first bytes decide, as on clear text
/// (HTTP/2 by prior knowledge when [`Config::h2c`] is on).
#[derive(Debug, Clone, Copy, Default)]
pub struct HandedIn;

impl Info for HandedIn {
    fn protocol(&self, flow: &Flow) -> Option<Protocol> {
        let alpn = flow.downcast_ref::<Streams>()?.alpn()?;
        Some(Protocol::from_alpn(Some(alpn)))
    }
}

/// Serves `handler` on one connection the host handed in, to its end.
pub fn serve_handed_in<H: Handler>(
    streams: Streams,
    handler: H,
    config: Arc<Config>,
) -> impl Future<Output = ()> {
    let peer = streams.peer().to_string();
    let service = alpn::service(HandedIn, handler);
    async move {
        let flow = Flow::new(streams);
        service.serve_connection(flow, peer, config, Wasi, std::future::pending()).await
    }
}
