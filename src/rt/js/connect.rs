//! Stream pairs from a JS `connect` function, registered with mimic, and
//! TLS (rustls, in wasm) over them.

use std::fmt;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::stream::{io_error, JsStream, StreamPair};
use super::Js;
use crate::client::{Origin, Platform};
use crate::flow::BoxFuture;
use crate::mimic::{self, dft, opt, req, Ctx, Priority, Protocol, Value, Witness};
use crate::tls::{self, Endpoint, Global};
use crate::{BoxError, Flow};

/// The priority of [`STREAM`]: that of plain TCP natively (TLS, at 50, is
/// tried first where a context offers both).
pub const STREAM_PRIORITY: Priority = Priority::new(100);

/// The host to connect to: a domain name or an IP literal.
pub static HOST: Global<Value<String>> = Global::new(|| Value::new("host"));

/// The port to connect to.
pub static PORT: Global<Value<u16>> = Global::new(|| Value::new("port"));

/// The JS function that opens connections: given `{ host, port }`, it
/// returns a stream pair, or a promise of one.
pub static CONNECT: Global<Value<Connect>> = Global::new(|| Value::new("js-connect"));

static STREAM_PROTOCOL: Global<(Value<Remote>, Witness<JsStream>)> =
    Global::new(|| mimic::register("js", STREAM_PRIORITY, Stream));

/// The endpoint value of stream pairs opened by a JS function, registered
/// with mimic as `js`. The flow is a [`JsStream`].
pub static STREAM: Global<Value<Remote>> = Global::new(|| STREAM_PROTOCOL.0.clone());

/// Recognises the flows of [`STREAM`].
pub static STREAM_WITNESS: Global<Witness<JsStream>> = Global::new(|| STREAM_PROTOCOL.1.clone());

/// A JS function opening stream pairs; see [`CONNECT`].
#[derive(Clone)]
pub struct Connect(Function);

impl Connect {
    /// Wraps `connect(endpoint) -> StreamPair | Promise<StreamPair>`.
    pub fn new(connect: Function) -> Connect {
        Connect(connect)
    }

    /// Calls the function with `{ host, port }` and wraps what it gives.
    /// The error is the JS one ("connect ECONNREFUSED 127.0.0.1:1").
    pub async fn open(&self, host: &str, port: u16) -> std::io::Result<JsStream> {
        let endpoint = Object::new();
        // JS socket APIs take IPv6 literals without the brackets of URLs.
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&endpoint, &"host".into(), &host.into());
        let _ = Reflect::set(&endpoint, &"port".into(), &port.into());
        let pair = self.0.call1(&JsValue::UNDEFINED, &endpoint).map_err(io_error)?;
        let pair = JsFuture::from(Promise::resolve(&pair)).await.map_err(io_error)?;
        if !pair.is_object() {
            let message = "connect() must give a { readable, writable } stream pair";
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        JsStream::new(pair.unchecked_ref::<StreamPair>())
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Connect").field(&self.0.name()).finish()
    }
}

/// The endpoint of [`STREAM`]: which function to call, and with what.
#[derive(Clone, Debug)]
pub struct Remote {
    /// The JS function.
    pub connect: Connect,
    /// The host it is given.
    pub host: String,
    /// The port it is given.
    pub port: u16,
}

/// Stream pairs, as registered with mimic.
struct Stream;

impl Protocol for Stream {
    type Endpoint = Remote;
    type Transport = JsStream;

    fn connect<'a>(&'a self, remote: &'a Remote) -> BoxFuture<'a, Result<JsStream, BoxError>> {
        Box::pin(async move { Ok(remote.connect.open(&remote.host, remote.port).await?) })
    }
}

/// A context holding one fold: [`STREAM`] from [`CONNECT`], [`HOST`]
/// and [`PORT`].
pub static PLAIN_STREAM: Global<Ctx> = Global::new(|| {
    Ctx::new().fold(
        &STREAM,
        (req(&CONNECT), req(&HOST), req(&PORT)),
        |(connect, host, port)| async move { Ok(Some(Remote { connect, host, port })) },
    )
});

/// A context holding one fold: the [`tls::TLS`] endpoint over a stream
/// pair from [`CONNECT`], [`HOST`] and [`PORT`], with [`tls::CONFIG`]
/// ([`tls::default_client_config`] when absent) and the name to check,
/// [`tls::SERVER_NAME`] or else [`HOST`]. TLS runs in wasm, for platforms
/// that give only plain TCP.
pub static TLS_OVER_STREAM: Global<Ctx> = Global::new(|| {
    Ctx::new().fold(
        &tls::TLS,
        (
            req(&CONNECT),
            req(&HOST),
            req(&PORT),
            dft(&tls::CONFIG, tls::default_client_config()),
            opt(&tls::SERVER_NAME),
        ),
        |(connect, host, port, config, server_name)| async move {
            let server_name = server_name.unwrap_or_else(|| host.clone());
            let endpoint = Endpoint::new(config, server_name, move || {
                let (connect, host) = (connect.clone(), host.clone());
                async move { Ok(Flow::new(connect.open(&host, port).await?)) }
            });
            Ok(Some(endpoint))
        },
    )
});

/// A context for stream pairs from `connect`: [`PLAIN_STREAM`] and
/// [`CONNECT`]. Add [`HOST`] and [`PORT`] and resolve.
pub fn ctx(connect: Connect) -> Ctx {
    PLAIN_STREAM.add(&CONNECT, connect)
}

/// A context for TLS over stream pairs from `connect`:
/// [`TLS_OVER_STREAM`] and [`CONNECT`], and no clear text, so a failed
/// handshake never falls back to it. Add [`HOST`] and [`PORT`] (and
/// [`tls::CONFIG`] to trust other roots) and resolve.
pub fn https_ctx(connect: Connect) -> Ctx {
    TLS_OVER_STREAM.add(&CONNECT, connect)
}

/// The [`Client`](crate::Client)'s platform in JS: [`Js::background`]
/// timers, and per origin [`PLAIN_STREAM`] (`http`) or
/// [`TLS_OVER_STREAM`] (`https`, no clear text) with the origin's
/// [`HOST`] and [`PORT`]. The client's own context must hold
/// [`CONNECT`]:
///
/// ```ignore
/// let client = ClientBuilder::new(rt::js::platform())
///     .context(Ctx::new().add(&rt::js::CONNECT, Connect::new(connect)))
///     .build();
/// ```
pub fn platform() -> Platform {
    Platform::new(Js::background(), origin_context)
}

fn origin_context(origin: &Origin) -> Ctx {
    let transport: &Ctx = if origin.is_tls() { &TLS_OVER_STREAM } else { &PLAIN_STREAM };
    transport
        .add(&HOST, origin.host().to_string())
        .add(&PORT, origin.port())
}
