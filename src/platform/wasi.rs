//! The WASI 0.2 platform (a component in wasmtime or another host):
//! TCP over `wasi:sockets` registered with mimic, with the DNS of
//! `wasi:sockets/ip-name-lookup` and TLS (rustls, in the component) over
//! it; the client's [`platform`]; and the server side of the `paf:http`
//! WIT package (see `wit/README.md`): [`serve_handed_in`] serves a
//! connection a host handed in, [`call`] answers a request through an
//! in-memory connection, [`exchange`] is a handler's side of a
//! `paf:http/handler` exchange (bodies streamed both ways); and [`proxy`],
//! a paf handler as a `wasi:http/proxy` component.
//!
//! ```no_run
//! use paf::platform::{wasi, HOST, PORT};
//! paf::rt::wasi::block_on(async {
//!     let ctx = wasi::https_ctx().add(&HOST, "example.com".to_string()).add(&PORT, 443);
//!     let flow = paf::mimic::resolve(&ctx).await?;
//!     # drop(flow);
//!     Ok::<_, paf::Error>(())
//! })
//! # .unwrap();
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::to_origin;
use crate::client::{Origin, Platform};
use crate::engine::alpn::{self, Info, Protocol};
use crate::mimic::Ctx;
use crate::rt::wasi::{connect_tcp, lookup, spawn, Streams, TcpStream, Wasi};
use crate::rt::Endpoints;
use crate::{Body, Config, Error, Flow, Handler, Incoming, Serve};

pub mod exchange;
pub mod proxy;

tcp_transports!(TcpStream, lookup, connect_tcp);

/// The [`Client`](crate::Client)'s platform in a component: the [`Wasi`]
/// runtime, and per origin [`ctx`] (`http`) or [`https_ctx`] (`https`)
/// with its host and port; there are no Unix sockets here. Put a context
/// of your own on top with
/// [`ClientBuilder::context`](crate::client::ClientBuilder::context): a
/// host's resolver, for instance.
pub fn platform() -> Platform {
    Platform::new(Wasi, |origin: &Origin| {
        if origin.unix_socket().is_some() {
            return Ctx::new();
        }
        to_origin(if origin.is_tls() { https_ctx() } else { ctx() }, origin)
    })
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
    let endpoints = Endpoints::named(streams.peer());
    let service = alpn::service(HandedIn, handler);
    async move {
        let flow = Flow::new(streams);
        service.serve_connection(flow, endpoints, config, Wasi, std::future::pending()).await
    }
}

/// Answers `request` with `handler`, through an in-memory HTTP/1.1
/// connection: the handler gets a real [`Incoming`], as from a socket.
/// For a component that receives requests whole (the `paf:http/handler`
/// interface) and wants to answer them with a paf [`Handler`], whose
/// requests carry a [`Connection`](crate::Connection) from `peer` (see
/// [`Peer::from_name`](crate::rt::Peer::from_name)). A request without
/// `Host` gets `localhost`.
pub async fn call<H: Handler>(handler: H, mut request: Request<Body>, peer: &str) -> Result<Response<Incoming>, Error> {
    const PIPE_CAPACITY: usize = 64 * 1024;
    let (client, server) = Flow::pipe(PIPE_CAPACITY);
    let config = Arc::new(Config::default());
    let connection = handler.serve_connection(server, Endpoints::named(peer), config.clone(), Wasi, std::future::pending());
    spawn(connection);
    if !request.headers().contains_key(header::HOST) {
        request.headers_mut().insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let client = Flow::new(ClientEnd { flow: client, server_gone: false });
    alpn::run(Protocol::Http1, request, client, &config, &Wasi).await
}

/// The client's end of [`call`]'s in-memory connection. The server may
/// answer and close before the request body has streamed in (a 405 to a
/// POST whose body the host has not handed over yet); like a socket whose
/// peer stopped reading, this end then takes the writes and drops them, so
/// that the client goes on to read the answer already sent instead of
/// failing on a broken pipe.
struct ClientEnd {
    flow: Flow,
    server_gone: bool,
}

impl ClientEnd {
    /// `written` unless the server is gone, which is then remembered.
    fn unless_gone<T>(&mut self, written: Poll<io::Result<T>>, dropped: T) -> Poll<io::Result<T>> {
        match written {
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.server_gone = true;
                Poll::Ready(Ok(dropped))
            }
            other => other,
        }
    }
}

impl AsyncRead for ClientEnd {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.flow).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientEnd {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.server_gone {
            return Poll::Ready(Ok(buf.len()));
        }
        let written = Pin::new(&mut self.flow).poll_write(cx, buf);
        self.unless_gone(written, buf.len())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.server_gone {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut self.flow).poll_flush(cx);
        self.unless_gone(flushed, ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.server_gone {
            return Poll::Ready(Ok(()));
        }
        let shut = Pin::new(&mut self.flow).poll_shutdown(cx);
        self.unless_gone(shut, ())
    }
}

/// Header fields as the `paf:http` WIT package carries them: names (lower
/// case) and values, in order, a name repeated for each of its values.
pub type Fields = Vec<(String, Vec<u8>)>;

/// `headers` as [`Fields`].
pub fn to_fields(headers: &HeaderMap) -> Fields {
    headers.iter().map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec())).collect()
}

/// [`Fields`] as headers; an invalid name or value is an
/// [`Error::InvalidMessage`] that names it.
pub fn from_fields(fields: Fields) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let invalid = || Error::InvalidMessage(format!("invalid header field {name:?}"));
        let value = HeaderValue::from_bytes(&value).map_err(|_| invalid())?;
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        headers.append(name, value);
    }
    Ok(headers)
}
