//! The JS platform (wasm in a browser, a worker, Node, Deno): stream pairs
//! from a JS `connect` function registered with mimic, TLS (rustls, in
//! wasm) over them, the client's [`platform`], and [`PairAlpn`], how a
//! server takes the pairs of a [`JsListener`](crate::rt::js::JsListener).
//!
//! The JS `connect` takes the place of DNS and TCP: [`REMOTE`] (what to
//! call, with which host and port) is derived from [`CONNECT`],
//! [`HOST`] and [`PORT`], and [`STREAM`] or TLS from it.

use super::{plain, tls_over, to_origin, HOST, PORT};
use crate::client::{Origin, Platform};
use crate::engine::alpn::{Info, Protocol};
use crate::flow::BoxFuture;
use crate::mimic::{self, req, Ctx, Priority, Value, Witness};
use crate::rt::js::{Connect, Js, JsStream};
use crate::rt::Global;
use crate::tls::rustls::pki_types::CertificateDer;
use crate::tls::Session;
use crate::{BoxError, Flow};

/// The priority of [`STREAM`]: that of plain TCP natively (TLS, at 50, is
/// tried first where a context offers both).
pub const STREAM_PRIORITY: Priority = Priority::new(100);

/// The JS function that opens connections: given `{ host, port }`, it
/// returns a stream pair, or a promise of one.
pub static CONNECT: Global<Value<Connect>> = Global::new(|| Value::new("js-connect"));

/// Where a stream pair is opened: [`CONNECT`] with [`HOST`] and [`PORT`].
/// Just data, as `ADDRESSES` natively: no protocol connects to it by
/// itself, so that TLS can use it without offering clear text.
pub static REMOTE: Global<Value<Remote>> = Global::new(|| Value::new("js-remote"));

static STREAM_PROTOCOL: Global<(Value<Remote>, Witness<JsStream>)> =
    Global::new(|| mimic::register("js", STREAM_PRIORITY, Stream));

/// The endpoint value of stream pairs opened by a JS function, registered
/// with mimic as `js`. The flow is a [`JsStream`].
pub static STREAM: Global<Value<Remote>> = Global::new(|| STREAM_PROTOCOL.0.clone());

/// Recognises the flows of [`STREAM`].
pub static STREAM_WITNESS: Global<Witness<JsStream>> = Global::new(|| STREAM_PROTOCOL.1.clone());

/// Which function to call, and with what.
#[derive(Clone, Debug)]
pub struct Remote {
    /// The JS function.
    pub connect: Connect,
    /// The host it is given.
    pub host: String,
    /// The port it is given.
    pub port: u16,
}

impl Remote {
    async fn open(&self) -> std::io::Result<JsStream> {
        self.connect.open(&self.host, self.port).await
    }
}

/// Stream pairs, as registered with mimic.
struct Stream;

impl mimic::Protocol for Stream {
    type Endpoint = Remote;
    type Transport = JsStream;

    fn connect<'a>(&'a self, remote: &'a Remote) -> BoxFuture<'a, Result<JsStream, BoxError>> {
        Box::pin(async move { Ok(remote.open().await?) })
    }
}

/// A context holding one fold: [`REMOTE`] from [`CONNECT`], [`HOST`] and
/// [`PORT`] (the JS platform's lookup).
pub static LOOKUP: Global<Ctx> = Global::new(|| {
    Ctx::new().fold(
        &REMOTE,
        (req(&CONNECT), req(&HOST), req(&PORT)),
        |(connect, host, port)| async move { Ok(Some(Remote { connect, host, port })) },
    )
});

/// A context holding [`LOOKUP`] and one fold: [`STREAM`] from [`REMOTE`].
pub static PLAIN_STREAM: Global<Ctx> = Global::new(|| LOOKUP.merge(&plain(&STREAM, &REMOTE)));

/// A context holding [`LOOKUP`] and one fold: the
/// [`tls::TLS`](crate::tls::TLS) endpoint over a stream pair to
/// [`REMOTE`] (see [`tls_over`]). TLS runs in wasm, for platforms that
/// give only plain TCP.
pub static TLS_OVER_STREAM: Global<Ctx> = Global::new(|| {
    LOOKUP.merge(&tls_over(&REMOTE, |remote: Remote| async move { Ok(Flow::new(remote.open().await?)) }))
});

/// A context for stream pairs from `connect`: [`PLAIN_STREAM`] and
/// [`CONNECT`]. Add [`HOST`] and [`PORT`] and resolve.
pub fn ctx(connect: Connect) -> Ctx {
    PLAIN_STREAM.add(&CONNECT, connect)
}

/// A context for TLS over stream pairs from `connect`:
/// [`TLS_OVER_STREAM`] and [`CONNECT`], and no clear text, so a failed
/// handshake never falls back to it. Add [`HOST`] and [`PORT`] (and
/// [`tls::CONFIG`](crate::tls::CONFIG) to trust other roots) and resolve.
pub fn https_ctx(connect: Connect) -> Ctx {
    TLS_OVER_STREAM.add(&CONNECT, connect)
}

/// The [`Client`](crate::Client)'s platform in JS:
/// [`Js::background`] timers, and per origin [`PLAIN_STREAM`] (`http`) or
/// [`TLS_OVER_STREAM`] (`https`, no clear text) with the origin's
/// [`HOST`] and [`PORT`]. The client's own context must hold
/// [`CONNECT`]:
///
/// ```ignore
/// let client = ClientBuilder::new(platform::js::platform())
///     .context(Ctx::new().add(&platform::js::CONNECT, Connect::new(connect)))
///     .build();
/// ```
pub fn platform() -> Platform {
    Platform::new(Js::background(), |origin: &Origin| {
        let transport: &Ctx = if origin.is_tls() { &TLS_OVER_STREAM } else { &PLAIN_STREAM };
        to_origin(transport.clone(), origin)
    })
}

/// How a server takes the pairs of a [`JsListener`](crate::rt::js::JsListener) ([`alpn::service`]
/// with it): HTTP/2 or HTTP/1.1 as the pair's `alpn` property says (TLS
/// done by the platform: `node:tls`, `Deno.listenTls`), and without it
/// by the first bytes (HTTP/2 by prior knowledge when [`Config::h2c`] is
/// on).
///
/// [`alpn::service`]: crate::engine::alpn::service
/// [`Config::h2c`]: crate::Config::h2c
#[derive(Debug, Clone, Copy, Default)]
pub struct PairAlpn;

impl Info for PairAlpn {
    fn protocol(&self, flow: &Flow) -> Option<Protocol> {
        let alpn = flow.downcast_ref::<JsStream>()?.alpn()?;
        Some(Protocol::from_alpn(Some(alpn.as_bytes())))
    }

    /// What the platform's TLS negotiated, from the pair's `tls` property.
    fn session(&self, flow: &Flow) -> Option<Session> {
        let stream = flow.downcast_ref::<JsStream>()?;
        let tls = stream.tls()?;
        let certificates = tls.certificates.iter().map(|der| CertificateDer::from(der.clone())).collect();
        let alpn = stream.alpn().map(|alpn| alpn.as_bytes().to_vec());
        Some(Session::negotiated_elsewhere(&tls.version, &tls.cipher, alpn, tls.server_name.clone(), certificates))
    }
}
