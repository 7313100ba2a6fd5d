//! What each platform contributes to paf: how a client reaches a host, and
//! how a server gets its connections. One file per platform —
//! `native` (tokio), `wasi` (a WASI 0.2 component), `js` (wasm in a JS
//! engine) — over the raw transports of its runtime in [`crate::rt`].
//!
//! The transport vocabulary every platform shares is declared here, once,
//! as in OCaml mimic's TCP example:
//!
//! * [`HOST`] (a domain name or an IP literal, `[::1]` brackets allowed)
//!   and [`PORT`]: what a URL gives;
//! * [`ADDRESSES`]: the socket addresses they resolve to, derived by a
//!   platform's DNS fold ([`dns`]). Just data: no protocol connects to
//!   addresses by itself, so that an `https` context can use DNS without
//!   offering plain TCP (a failed handshake must not fall back to clear
//!   text);
//! * [`plain`]: a plain transport's endpoint wherever its address is known;
//! * [`tls_over`]: the [`tls::TLS`] endpoint over any platform's connect.
//!
//! A platform supplies only its `lookup` and its `connect`; both folds
//! mark the client's [`Probe`] (DNS done, transport connected) when the
//! context holds one. Adding a platform is one file here and one runtime
//! in `rt`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::client::{Origin, Probe, PROBE};
use crate::flow::{MaybeSend, MaybeSync};
use crate::mimic::{dft, opt, req, Ctx, Value};
use crate::rt::Global;
use crate::tls::{self, Endpoint};
use crate::Flow;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[macro_use]
mod tcp;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod js;
#[cfg(all(target_arch = "wasm32", target_os = "unknown", feature = "worker"))]
pub mod worker;
#[cfg(not(target_family = "wasm"))]
pub mod native;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod wasi;

/// The host to connect to: a domain name, or an IP literal (`127.0.0.1`,
/// `::1` or `[::1]`).
pub static HOST: Global<Value<String>> = Global::new(|| Value::new("host"));

/// The port to connect to.
pub static PORT: Global<Value<u16>> = Global::new(|| Value::new("port"));

/// The socket addresses [`HOST`] and [`PORT`] resolve to, in the order to
/// try them. Derived by a platform's DNS fold.
pub static ADDRESSES: Global<Value<Vec<SocketAddr>>> = Global::new(|| Value::new("addresses"));

/// A context holding one fold: [`ADDRESSES`] from [`HOST`] and [`PORT`]
/// through `lookup` (a platform's resolver).
///
/// To replace it: give the addresses yourself (a value in the context
/// beats every fold), add a fold of your own for [`ADDRESSES`] on top
/// (newer folds are tried first; when yours declines with `Ok(None)`, this
/// one is tried), or drop it with `ctx.remove_folds(&ADDRESSES)`.
pub fn dns<L, F>(lookup: L) -> Ctx
where
    L: Fn(String, u16) -> F + MaybeSend + MaybeSync + 'static,
    F: Future<Output = io::Result<Vec<SocketAddr>>> + MaybeSend + 'static,
{
    Ctx::new().fold(
        &ADDRESSES,
        (req(&HOST), req(&PORT), opt(&PROBE)),
        move |(host, port, probe): (String, u16, Option<Probe>)| {
            let addresses = lookup(host, port);
            async move {
                let addresses = addresses.await?;
                if let Some(probe) = probe {
                    probe.resolved();
                }
                Ok(Some(addresses))
            }
        },
    )
}

/// A context holding one fold: `endpoint` (a plain transport's) wherever
/// `address` is known.
pub fn plain<A>(endpoint: &Value<A>, address: &Value<A>) -> Ctx
where
    A: Clone + MaybeSend + MaybeSync + 'static,
{
    Ctx::new().fold(endpoint, req(address), |address| async move { Ok(Some(address)) })
}

/// A context holding one fold: the [`tls::TLS`] endpoint over the flows
/// `connect` opens to `address`, with [`tls::CONFIG`] (the Mozilla roots,
/// [`tls::default_client_config`], when absent) and the name to check,
/// [`tls::SERVER_NAME`] or else [`HOST`].
///
/// TLS over a platform's own connect (rustls in wasm as natively), for
/// platforms that give only plain streams.
pub fn tls_over<A, C, F>(address: &Value<A>, connect: C) -> Ctx
where
    A: Clone + MaybeSend + MaybeSync + 'static,
    C: Fn(A) -> F + Clone + MaybeSend + MaybeSync + 'static,
    F: Future<Output = io::Result<Flow>> + MaybeSend + 'static,
{
    Ctx::new().fold(
        &tls::TLS,
        (
            req(address),
            dft(&tls::CONFIG, tls::default_client_config()),
            opt(&tls::SERVER_NAME),
            opt(&HOST),
            opt(&PROBE),
        ),
        move |(address, config, server_name, host, probe)| {
            let connect = connect.clone();
            async move {
                let Some(server_name) = server_name.or(host) else {
                    let message = "no server name to check the certificate against: add host \
                                   (or tls-server-name) to the context";
                    return Err(message.into());
                };
                let endpoint = Endpoint::new(config, server_name, move || {
                    let (open, probe) = (connect(address.clone()), probe.clone());
                    async move {
                        let flow = open.await?;
                        if let Some(probe) = probe {
                            probe.connected();
                        }
                        Ok(flow)
                    }
                });
                Ok(Some(endpoint))
            }
        },
    )
}

/// `transport` with the origin's [`HOST`] and [`PORT`]: what a
/// platform's client context is, per origin.
pub(crate) fn to_origin(transport: Ctx, origin: &Origin) -> Ctx {
    transport.add(&HOST, origin.host().to_string()).add(&PORT, origin.port())
}
