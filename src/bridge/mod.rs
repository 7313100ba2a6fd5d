//! A WebSocket → TCP bridge for browsers, which have no sockets: a page
//! opens a WebSocket (RFC 6455 by HTTP/1.1 Upgrade, or RFC 8441's
//! extended CONNECT over HTTP/2) and the bridge relays its binary
//! messages to a TCP target and back. TLS stays inside the page, so the
//! bridge relays ciphertext.
//!
//! Two ways to name the target:
//!
//! * one target per WebSocket, in the path or the query:
//!   `wss://bridge.example/example.com:443` or `/?target=example.com:443`;
//! * Wisp v1 (a path ending in `/`, e.g. `wss://bridge.example/wisp/`):
//!   many TCP streams over one WebSocket, each opened by a CONNECT packet,
//!   the protocol of libcurl.js and epoxy-tls.
//!
//! It is never an open proxy: every target must be in the [`Policy`]'s
//! allow-list, and a target that resolves to a loopback, private or
//! link-local address is refused unless the allow-list names that address.
//! Tunnels are limited per client IP and in all, closed when idle, and
//! their bytes counted ([`Bridge::stats`]). A refusal closes the WebSocket
//! with 1008 (policy), 1013 (a limit) or 1014 (an unreachable target) and
//! a reason a page can show; in Wisp, a CLOSE packet with the matching
//! reason.
//!
//! A [`Bridge`] is a [`Handler`](crate::Handler): serve it on its own
//! (`paf bridge`) or call [`Bridge::answer`] from a handler of your own
//! for the paths you give it. Over HTTP/2 it needs
//! [`Settings::enable_connect_protocol`](crate::engine::h2::Settings::enable_connect_protocol).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderValue, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL};
use http::{Request, Response, StatusCode};

use crate::engine::{upgrade, Connection};
use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::rt::Runtime;
use crate::ws::handshake::{self, Opening};
use crate::ws::CloseFrame;
use crate::{Body, Flow, Incoming};

mod policy;
mod relay;

pub use policy::{is_public, Policy, Refusal, Stats, Target};

/// How a bridge reaches targets: name resolution and TCP connects, from
/// the platform (`paf::platform::native::bridge` uses the system's).
pub trait Dial: Clone + MaybeSend + MaybeSync + 'static {
    /// The addresses of `host` (a name or an IP literal) at `port`.
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
    /// A TCP connection to `address`.
    fn connect(&self, address: SocketAddr) -> BoxFuture<'static, io::Result<Flow>>;
}

/// The bridge: a [`Handler`](crate::Handler) that turns WebSocket
/// openings into tunnels under a [`Policy`].
#[derive(Clone)]
pub struct Bridge<D, R> {
    shared: Arc<relay::Shared<D, R>>,
}

/// A bridge under `policy` that reaches targets through `dial` and runs
/// its tunnels on `rt`.
pub fn handler<D: Dial, R: Runtime>(policy: Policy, dial: D, rt: R) -> Bridge<D, R> {
    Bridge { shared: Arc::new(relay::Shared::new(policy, dial, rt)) }
}

/// What a WebSocket asked to reach.
enum Destination {
    One(Result<Target, Refusal>),
    Wisp,
}

impl<D: Dial, R: Runtime> Bridge<D, R> {
    /// What the bridge has relayed and refused so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.stats()
    }

    /// Answers one request: a WebSocket opening gets its `101` (or `200`
    /// over HTTP/2) and a tunnel; anything else a `4xx` saying what a
    /// bridge expects.
    pub fn answer(&self, mut request: Request<Incoming>) -> impl Future<Output = Response<Body>> + MaybeSend + 'static {
        let protocol = request.extensions().get::<::h2::ext::Protocol>().map(|p| p.as_str().to_owned());
        let opening = handshake::check(request.method(), request.version(), request.headers(), protocol.as_deref());
        let shared = self.shared.clone();
        let origin = request.headers().get(ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned);
        let client = Connection::of(&request).and_then(|c| c.peer().ip()).map(|a| a.ip());
        let subprotocol = offered_binary(&request);
        let destination = destination(request.uri());
        let version = request.version();
        let on_upgrade = upgrade::on(&mut request);
        async move {
            let opening = match opening {
                Ok(opening) => opening,
                Err(refused) => {
                    let mut response = Response::new(Body::from(format!("{}\n", refused.reason)));
                    *response.status_mut() = refused.status;
                    response.headers_mut().insert("sec-websocket-version", HeaderValue::from_static("13"));
                    return response;
                }
            };
            let refusal = shared.policy.check_origin(origin.as_deref()).err();
            let rt = shared.rt.clone();
            rt.spawn(Box::pin(async move {
                let ws = match on_upgrade.await {
                    Ok(ws) => ws,
                    Err(err) => return tracing::debug!(%err, "the WebSocket opening did not complete"),
                };
                tracing::info!(?client, ?version, "WebSocket opened");
                match (refusal, destination) {
                    (Some(refusal), _) | (None, Destination::One(Err(refusal))) => {
                        shared.counters.refused();
                        tracing::info!(?client, %refusal, "refused");
                        relay::close(ws, CloseFrame::new(relay::close_code(&refusal), &refusal.to_string()), &shared.rt).await;
                    }
                    (None, Destination::One(Ok(target))) => shared.tunnel(ws, target, client).await,
                    (None, Destination::Wisp) => shared.wisp(ws, client).await,
                }
            }));
            let mut response = Response::new(Body::empty());
            match opening {
                Opening::Upgrade { accept } => {
                    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    let headers = response.headers_mut();
                    headers.insert("connection", HeaderValue::from_static("upgrade"));
                    headers.insert("upgrade", HeaderValue::from_static("websocket"));
                    headers.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).expect("base64 is a valid value"));
                }
                Opening::ExtendedConnect => *response.status_mut() = StatusCode::OK,
            }
            if subprotocol {
                response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("binary"));
            }
            response
        }
    }
}

/// The client offered the `binary` subprotocol (websockify's clients do):
/// the bridge speaks it, so it says so.
fn offered_binary<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "binary")
}

/// `?target=HOST:PORT`, else the path's last segment, else (a path that
/// ends in `/`) Wisp.
fn destination(uri: &http::Uri) -> Destination {
    let from_query = uri.query().and_then(|query| {
        query.split('&').find_map(|pair| pair.strip_prefix("target=")).map(percent_decode)
    });
    if let Some(target) = from_query {
        return Destination::One(Target::parse(&target));
    }
    let path = uri.path();
    if path.ends_with('/') {
        return Destination::Wisp;
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    Destination::One(Target::parse(&percent_decode(last)))
}

/// `%XX` escapes decoded (a page's `encodeURIComponent("[::1]:443")`);
/// anything not valid is left as it was, for the target check to refuse.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<D: Dial, R: Runtime> crate::Handler for Bridge<D, R> {
    type Body = Body;
    type Data = bytes::Bytes;
    type Error = crate::Error;
    type Future = BoxFuture<'static, Response<Body>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        Box::pin(self.answer(request))
    }
}

#[cfg(test)]
mod tests;
