//! One protocol per connection: HTTP/1.1 or HTTP/2, chosen by what the
//! transport negotiated (ALPN), or on clear text by the first bytes.
//!
//! **Server.** [`service`]`(info, handler)` is what [`serve`](fn@crate::serve)
//! runs for a listener whose connections need more than HTTP/1.1 on the
//! raw socket. The [`Info`] says how to *inject* an accepted transport
//! (the TLS handshake), how to read the ALPN result from the flow, and how
//! to name the peer. Then:
//!
//! * ALPN `h2` → HTTP/2;
//! * ALPN `http/1.1`, `http/1.0`, another or none → HTTP/1.1;
//! * no negotiation at all (clear text) → HTTP/1.1, or HTTP/2 when the
//!   client starts with the HTTP/2 preface and [`Config::h2c`] is on
//!   (prior knowledge).
//!
//! The injection runs in the connection's own task, never in the accept
//! loop, and it and the preface must complete within
//! [`Config::header_timeout`]: a client that sends five bytes of a TLS
//! record and stops delays nobody else, and not forever (OCaml paf's
//! issue #60).
//!
//! **Client.** [`handshake`] starts a connection with the [`Protocol`] the
//! flow negotiated ([`Protocol::of_flow`]), or [`Protocol::Http2`] by
//! prior knowledge; [`run`] sends one request that way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use tokio::io::AsyncReadExt;

use crate::rt::within;
use crate::engine::connection::WithConnection;
use crate::engine::{client as h1_client, server as h1_server, Connection, Handler};
use crate::error::Timeout;
use crate::flow::{MaybeSend, MaybeSync};
use crate::rt::{Endpoints, Runtime};
use crate::engine::Serve;
use crate::tls;
use crate::{Body, Config, Error, Flow, Incoming};

/// The protocols paf speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.1 (and 1.0).
    Http1,
    /// HTTP/2.
    Http2,
}

impl Protocol {
    /// The protocol an ALPN result stands for: `h2` is HTTP/2; anything
    /// else (`http/1.1`, `http/1.0`, an unknown id, or nothing negotiated)
    /// is HTTP/1.1.
    pub fn from_alpn(alpn: Option<&[u8]>) -> Protocol {
        match alpn {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        }
    }

    /// The protocol a flow negotiated: by ALPN for a TLS flow, HTTP/1.1
    /// for anything else (on clear text, HTTP/2 is by prior knowledge
    /// only: ask for [`Protocol::Http2`]).
    pub fn of_flow(flow: &Flow) -> Protocol {
        Protocol::from_alpn(tls::session(flow).and_then(|session| session.alpn).as_deref())
    }

    /// The ALPN id of the protocol.
    pub fn alpn_id(self) -> &'static [u8] {
        match self {
            Protocol::Http1 => b"http/1.1",
            Protocol::Http2 => b"h2",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        })
    }
}

/// How a server turns an accepted transport into an HTTP connection.
pub trait Info: Clone + MaybeSend + MaybeSync + 'static {
    /// Turns the accepted transport into the flow HTTP runs over: a TLS
    /// handshake, or nothing (the default). Runs in the connection's own
    /// task, bounded by [`Config::header_timeout`].
    fn inject(&self, flow: Flow) -> impl Future<Output = Result<Flow, Error>> + MaybeSend {
        std::future::ready(Ok(flow))
    }

    /// What the injected flow negotiated: the protocol its ALPN result
    /// names (see [`Protocol::from_alpn`]), or `None` on clear text, where
    /// nothing was negotiated and the first bytes decide.
    fn protocol(&self, flow: &Flow) -> Option<Protocol>;

    /// The TLS session of the injected flow, for the requests'
    /// [`Connection`]: paf's own ([`tls::session`]) by default; a platform
    /// that terminated TLS itself says what it negotiated.
    fn session(&self, flow: &Flow) -> Option<tls::Session> {
        tls::session(flow)
    }

    /// The peer's name in logs and in [`Handler::on_error`]; by default the
    /// name the listener gave (`accepted_as`).
    fn peer(&self, flow: &Flow, accepted_as: &str) -> String {
        let _ = flow;
        accepted_as.to_owned()
    }
}

/// Clear text: the transport is the flow, nothing is negotiated.
/// HTTP/1.1, or HTTP/2 by prior knowledge when [`Config::h2c`] is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Info for Plain {
    fn protocol(&self, _flow: &Flow) -> Option<Protocol> {
        None
    }
}

/// TLS: the accepted transport goes through a server handshake
/// ([`tls::server_of_flow`]) in the connection's own task, and the
/// protocol is the one ALPN chose (offer `h2` and `http/1.1`, as
/// [`ServerTls`](tls::ServerTls) does by default). The peer is named with
/// the server name it asked for (SNI), if any.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<tls::ServerConfig>,
}

impl Tls {
    /// Accepts TLS with `config`, for example
    /// [`ServerTls::config`](tls::ServerTls::config), whose certificate can
    /// be replaced while serving.
    pub fn new(config: Arc<tls::ServerConfig>) -> Tls {
        Tls { config }
    }
}

impl Info for Tls {
    fn inject(&self, flow: Flow) -> impl Future<Output = Result<Flow, Error>> + MaybeSend {
        let config = self.config.clone();
        async move {
            let flow = tls::server_of_flow(config, flow).await?;
            // An ACME TLS-ALPN-01 validation ends with its handshake
            // (RFC 8737 §3): nothing is served over a challenge certificate.
            match tls::session(&flow).and_then(|session| session.alpn) {
                Some(alpn) if alpn == tls::ACME_TLS_ALPN => Err(Error::Closed),
                _ => Ok(flow),
            }
        }
    }

    fn protocol(&self, flow: &Flow) -> Option<Protocol> {
        Some(Protocol::of_flow(flow))
    }

    fn peer(&self, flow: &Flow, accepted_as: &str) -> String {
        match tls::session(flow).and_then(|session| session.server_name) {
            Some(name) => format!("{accepted_as} ({name})"),
            None => accepted_as.to_owned(),
        }
    }
}

/// A [`Handler`] behind a protocol dispatch; made by [`service`], run by
/// [`serve`](fn@crate::serve).
#[derive(Debug, Clone)]
pub struct Service<I, H> {
    info: I,
    handler: H,
}

/// Serves `handler` over HTTP/1.1 and HTTP/2 on connections prepared as
/// `info` says (see the [module documentation](self)).
///
/// ```no_run
/// # #[cfg(not(target_family = "wasm"))]
/// # async fn run(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), paf::Error> {
/// use paf::{Body, Incoming, Request, Response};
/// let handler = paf::service_fn(|req: Request<Incoming>| async move {
///     Response::new(Body::from(format!("{:?}\n", req.version())))
/// });
/// let listener = paf::rt::native::TcpListener::bind("127.0.0.1:8443").await?;
/// let tls = paf::tls::ServerTls::from_pem(cert_pem, key_pem)?;
/// let service = paf::engine::alpn::service(paf::engine::alpn::Tls::new(tls.config()), handler);
/// paf::serve(listener, service, paf::Config::default(), paf::Switch::new()).await
/// # }
/// ```
pub fn service<I: Info, H: Handler>(info: I, handler: H) -> Service<I, H> {
    Service { info, handler }
}

impl<I: Info, H: Handler> Serve for Service<I, H> {
    fn serve_connection<R: Runtime, S: Future<Output = ()> + MaybeSend + 'static>(
        &self,
        flow: Flow,
        endpoints: Endpoints,
        config: Arc<Config>,
        rt: R,
        stopping: S,
    ) -> impl Future<Output = ()> + MaybeSend + 'static {
        serve_connection(self.info.clone(), self.handler.clone(), flow, endpoints, config, rt, stopping)
    }

    fn on_error(&self, peer: &str, error: &Error) {
        self.handler.on_error(peer, error)
    }
}

/// Serves one accepted transport to its end: injects it, picks the
/// protocol, runs it until the peer is done or `stopping` completes (then
/// the requests in flight finish). Each request carries the
/// [`Connection`]; failures go to [`Handler::on_error`] with the peer's
/// name.
pub(crate) fn serve_connection<I, H, R, S>(
    info: I,
    handler: H,
    flow: Flow,
    endpoints: Endpoints,
    config: Arc<Config>,
    rt: R,
    stopping: S,
) -> impl Future<Output = ()>
where
    I: Info,
    H: Handler,
    R: Runtime,
    S: Future<Output = ()>,
{
    // The steps before a protocol runs (injection, sniffing) in a box of
    // their own, freed once they are done, and the rest an `async` block,
    // not an `async fn` (which would keep its arguments twice, as
    // arguments and as the locals they move into): the connection holds
    // this future for its whole life, and only what it needs is in it.
    // (`stopping` goes through that box too: what the block captures, it
    // keeps to its end.)
    let prepared = Box::pin(prepare(info, flow, endpoints, stopping, config.header_timeout, config.h2c, rt.clone()));
    async move {
        let Prepared { protocol, flow, peer, connection, read_ahead, stopping } = match prepared.await {
            Ok(prepared) => prepared,
            Err((peer, err)) => return handler.on_error(&peer, &err),
        };
        let with_connection = WithConnection::new(handler.clone(), connection);
        let config = &*config;
        // Each protocol's future in a box of its own: the connection then
        // holds the one it speaks, not room for the larger of the two.
        let served = match (protocol, read_ahead) {
            (Protocol::Http1, read_ahead) => {
                serve_http1(flow, read_ahead, with_connection, config, rt, stopping).await
            }
            (Protocol::Http2, ReadAhead { len: 0, .. }) => {
                Box::pin(crate::engine::h2::serve_connection(flow, with_connection, config, rt, stopping)).await
            }
            (Protocol::Http2, _) => {
                let serving = crate::engine::h2::serve_connection_after_preface(flow, with_connection, config, rt, stopping);
                Box::pin(serving).await
            }
        };
        if let Err(err) = served {
            handler.on_error(&peer, &err);
        }
    }
}

/// HTTP/1.1 on `flow`, after the bytes read ahead of it; a function of its
/// own, so that the connection's future does not keep those bytes once
/// they are handed on.
fn serve_http1<'a, H, R, S>(
    flow: Flow,
    read_ahead: ReadAhead,
    handler: H,
    config: &'a Config,
    rt: R,
    stopping: S,
) -> Pin<Box<impl Future<Output = Result<(), Error>> + 'a>>
where
    H: Handler,
    R: Runtime,
    S: Future<Output = ()> + 'a,
{
    let received = &read_ahead.bytes[..usize::from(read_ahead.len)];
    Box::pin(h1_server::serve_connection_after(flow, received, handler, config, rt, stopping))
}

/// An accepted transport ready for its protocol.
struct Prepared<S> {
    protocol: Protocol,
    flow: Flow,
    /// The peer's name in logs and errors.
    peer: String,
    connection: Connection,
    /// What was read to pick the protocol.
    read_ahead: ReadAhead,
    stopping: S,
}

/// The first bytes of a clear-text connection, read to pick its protocol
/// ([`sniff_preface`]): the protocol's driver must see them first.
struct ReadAhead {
    bytes: [u8; 24],
    len: u8,
}

impl ReadAhead {
    const NONE: ReadAhead = ReadAhead { bytes: [0; 24], len: 0 };
}

/// Injects the accepted transport and picks its protocol (by ALPN, or
/// by the first bytes when `h2c`), each within `header_timeout`; a
/// failure comes with the peer's name. `stopping` only passes through.
async fn prepare<I: Info, R: Runtime, S>(
    info: I,
    flow: Flow,
    endpoints: Endpoints,
    stopping: S,
    header_timeout: std::time::Duration,
    h2c: bool,
    rt: R,
) -> Result<Prepared<S>, (String, Error)> {
    let accepted_as = endpoints.peer.to_string();
    let flow = match within(&rt, header_timeout, info.inject(flow)).await {
        Some(Ok(flow)) => flow,
        Some(Err(err)) => return Err((accepted_as, err)),
        None => return Err((accepted_as, Error::Timeout(Timeout::Header))),
    };
    let peer = info.peer(&flow, &accepted_as);
    let (protocol, flow, read_ahead) = match info.protocol(&flow) {
        Some(protocol) => (protocol, flow, ReadAhead::NONE),
        None if h2c => match within(&rt, header_timeout, sniff_preface(flow)).await {
            Some(Ok(sniffed)) => sniffed,
            Some(Err(err)) => return Err((peer, Error::Io(err))),
            None => return Err((peer, Error::Timeout(Timeout::Header))),
        },
        None => (Protocol::Http1, flow, ReadAhead::NONE),
    };
    tracing::trace!(%peer, %protocol, "connection");
    let connection = Connection::new(endpoints, protocol, info.session(&flow));
    Ok(Prepared { protocol, flow, peer, connection, read_ahead, stopping })
}

/// Reads the first bytes of a clear-text connection until they either
/// leave the HTTP/2 preface (HTTP/1.1) or complete it (HTTP/2); gives the
/// flow back with those bytes, which the protocol's driver takes as the
/// start of its input (kept here rather than put back in front of the
/// flow, which would box the flow again for the connection's life).
/// Never reads past the preface.
async fn sniff_preface(mut flow: Flow) -> std::io::Result<(Protocol, Flow, ReadAhead)> {
    let preface = crate::engine::h2::PREFACE;
    let mut buf = [0u8; 24];
    assert_eq!(buf.len(), preface.len());
    let mut filled = 0;
    let protocol = loop {
        let n = flow.read(&mut buf[filled..]).await?;
        filled += n;
        if n == 0 || buf[..filled] != preface[..filled] {
            break Protocol::Http1;
        }
        if filled == preface.len() {
            break Protocol::Http2;
        }
    };
    Ok((protocol, flow, ReadAhead { bytes: buf, len: filled as u8 }))
}

/// A client connection, speaking the protocol chosen for it.
#[derive(Debug, Clone)]
pub enum SendRequest {
    /// One request at a time.
    Http1(h1_client::SendRequest),
    /// Many requests at once, one stream each.
    Http2(crate::engine::h2::SendRequest),
}

impl SendRequest {
    /// Sends `request` and resolves with the response head; the body
    /// streams from the returned [`Incoming`].
    pub async fn send(&mut self, request: Request<Body>) -> Result<Response<Incoming>, Error> {
        match self {
            SendRequest::Http1(sender) => sender.send(request).await,
            SendRequest::Http2(sender) => sender.send(request).await,
        }
    }

    /// Whether the connection has ended; a closed sender fails every send.
    pub fn is_closed(&self) -> bool {
        match self {
            SendRequest::Http1(sender) => sender.is_closed(),
            SendRequest::Http2(sender) => sender.is_closed(),
        }
    }

    /// The protocol this connection speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            SendRequest::Http1(_) => Protocol::Http1,
            SendRequest::Http2(_) => Protocol::Http2,
        }
    }
}

/// Starts a client connection over `flow` speaking `protocol`: the one
/// the flow negotiated ([`Protocol::of_flow`]), or HTTP/2 by prior
/// knowledge on clear text.
pub async fn handshake<R: Runtime>(
    protocol: Protocol,
    flow: Flow,
    config: &Config,
    rt: &R,
) -> Result<SendRequest, Error> {
    Ok(match protocol {
        Protocol::Http1 => SendRequest::Http1(h1_client::handshake(flow, config, rt)),
        Protocol::Http2 => SendRequest::Http2(crate::engine::h2::handshake(flow, config, rt).await?),
    })
}

/// Sends one request over `flow` speaking `protocol` (see [`handshake`]);
/// the connection ends once the response body has been read or dropped.
pub async fn run<R: Runtime>(
    protocol: Protocol,
    request: Request<Body>,
    flow: Flow,
    config: &Config,
    rt: &R,
) -> Result<Response<Incoming>, Error> {
    handshake(protocol, flow, config, rt).await?.send(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn alpn_ids_name_protocols() {
        assert_eq!(Protocol::from_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(Protocol::from_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(Some(b"http/1.0")), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(None), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(Some(Protocol::Http2.alpn_id())), Protocol::Http2);
    }

    async fn sniff(input: &'static [u8]) -> (Protocol, Vec<u8>) {
        let (mut client, server) = Flow::pipe(1024);
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let (protocol, mut flow, read_ahead) = sniff_preface(server).await.unwrap();
        let mut replay = read_ahead.bytes[..usize::from(read_ahead.len)].to_vec();
        flow.read_to_end(&mut replay).await.unwrap();
        (protocol, replay)
    }

    #[tokio::test]
    async fn the_preface_selects_http2_and_is_replayed() {
        let mut input = crate::engine::h2::PREFACE.to_vec();
        input.extend_from_slice(b"\0\0\0\x04");
        let leaked: &'static [u8] = Box::leak(input.into_boxed_slice());
        assert_eq!(sniff(leaked).await, (Protocol::Http2, leaked.to_vec()));
    }

    #[tokio::test]
    async fn anything_else_is_http1_and_is_replayed() {
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(sniff(get).await, (Protocol::Http1, get.to_vec()));
        assert_eq!(sniff(b"PRI * HTTP/1.1\r\n").await.0, Protocol::Http1);
        assert_eq!(sniff(b"PRI").await, (Protocol::Http1, b"PRI".to_vec()), "end of stream");
        assert_eq!(sniff(b"").await, (Protocol::Http1, Vec::new()));
    }
}
