//! The server exports (feature `server`): `serve` and its `Server`. A
//! module of their own, which the npm package loads on the first `serve()`.
//! With the test-only feature `httpbin`, also `serveHttpbin`: paf's httpbin
//! handler, answered in Rust, for the cross-runtime tests.

use std::future::Future;

use http::header::HOST;
use http::{Request, Response};
use js_sys::{Function, Promise};
use paf::engine::alpn;
use paf::rt::js::{self as rt, Js, JsListener};
use paf::{service_fn, Body, Config, Connection, Error, Incoming, Switch};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::{body_of, body_to_js, field, header_map, header_text, js_error, millis, protocol_name, type_error};

#[wasm_bindgen(inline_js = r#"
export function incomingRequest(method, url, headers, protocol, body, bytes, peer, local, tls) {
  return { method, url, headers, protocol, body, bytes, peer, local, tls };
}
export function tlsInfo(version, cipher, alpn, serverName, peerCertificates) {
  return { version, cipher, alpn, serverName, peerCertificates };
}
"#)]
extern "C" {
    /// A request as a handler of [`serve`] gets it (one call to JS, not
    /// one per field).
    #[wasm_bindgen(js_name = incomingRequest)]
    fn incoming_request(
        method: &str,
        url: &str,
        headers: &str,
        protocol: &str,
        body: &JsValue,
        bytes: &JsValue,
        peer: &str,
        local: Option<String>,
        tls: &JsValue,
    ) -> JsValue;

    /// A TLS session as a handler of [`serve`] sees it.
    #[wasm_bindgen(js_name = tlsInfo)]
    fn tls_info(
        version: &str,
        cipher: &str,
        alpn: Option<String>,
        server_name: Option<String>,
        peer_certificates: js_sys::Array,
    ) -> JsValue;
}

/// A running server; see [`serve`].
#[wasm_bindgen]
pub struct Server {
    switch: Switch,
    closed: Promise,
}

#[wasm_bindgen]
impl Server {
    /// Stops accepting; the requests in flight finish (within 30 s),
    /// idle connections close.
    pub fn close(&self) {
        self.switch.stop();
    }

    /// Resolves once the server has stopped and drained.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> Promise {
        self.closed.clone()
    }
}

/// Serves the stream pairs of `flows` (an async iterable) with `handler`:
/// it is called with `{ method, url, headers, protocol, body, bytes }`
/// (`body` and `bytes` as in `Client.request`) and gives `{ status, headers, body }` (`body`
/// `null`, a `Uint8Array` or a `ReadableStream`), or a promise of it.
///
/// Each pair is served with HTTP/2 or HTTP/1.1 as its `alpn` property
/// says (`"h2"`, `"http/1.1"`: TLS done by the platform), and without one
/// by its first bytes: HTTP/2 for clients that start with its preface,
/// unless `options.h2c` is `false`. `options.onError(error, peer)` hears
/// of failed connections; `headerTimeout` (10 000), `idleTimeout`
/// (60 000), `bodyTimeout` (30 000), `drainTimeout` (30 000; all in ms)
/// and `maxConnections` (10 000) are the engine's limits. The server stops
/// when `flows` ends or on `close()`.
#[wasm_bindgen]
pub fn serve(flows: JsValue, handler: Function, options: &JsValue) -> Result<Server, JsValue> {
    serve_with(flows, move |request| answer(handler.clone(), request), options)
}

/// Serves the stream pairs of `flows` as [`serve`] does, every request
/// answered by paf's httpbin (`src/bin/paf/httpbin.rs`, the handler of
/// `paf serve`) in Rust, with no JS handler. Test builds only (feature
/// `httpbin`): the npm package has no such export.
#[cfg(feature = "httpbin")]
#[wasm_bindgen(js_name = serveHttpbin)]
pub fn serve_httpbin(flows: JsValue, options: &JsValue) -> Result<Server, JsValue> {
    serve_with(flows, |request| async move { crate::httpbin::answer(request, &Js::new()).await }, options)
}

/// Answers a worker's fetch event (a JS `Request`, and the event's `ctx`)
/// with paf's httpbin, through [`paf::platform::worker::fetch`]: the
/// httpbin worker of `scripts/test-worker`. Test builds only (feature
/// `httpbin`).
#[cfg(feature = "httpbin")]
#[wasm_bindgen(js_name = fetchHttpbin)]
pub fn fetch_httpbin(request: JsValue, ctx: JsValue) -> Promise {
    let httpbin = service_fn(|request| async move { crate::httpbin::answer(request, &Js::new()).await });
    paf::platform::worker::fetch(httpbin, request, ctx)
}

/// [`serve`] with `respond` answering each request.
fn serve_with<F, Fut>(flows: JsValue, respond: F, options: &JsValue) -> Result<Server, JsValue>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + 'static,
    Fut: Future<Output = Response<Body>> + 'static,
{
    let iterator = rt::iterator_of(&flows)?;
    let switch = Switch::new();
    let stop = switch.clone();
    let listener = JsListener::new(iterator, move || stop.stop(), Js::new());
    let mut config = Config::default();
    config.h2c = field(options, "h2c").as_bool() != Some(false);
    let times = [
        ("headerTimeout", &mut config.header_timeout),
        ("idleTimeout", &mut config.idle_timeout),
        ("bodyTimeout", &mut config.body_timeout),
        ("drainTimeout", &mut config.drain_timeout),
    ];
    for (name, limit) in times {
        if let Some(ms) = millis(&field(options, name), name)? {
            *limit = ms;
        }
    }
    let max_connections = field(options, "maxConnections");
    if !max_connections.is_undefined() {
        match max_connections.as_f64() {
            Some(max) if max >= 1.0 && max.fract() == 0.0 => config.max_connections = max as usize,
            _ => return Err(type_error("maxConnections must be a positive whole number")),
        }
    }
    let on_error = field(options, "onError").dyn_into::<Function>().ok();
    let handler = service_fn(respond).on_error(
        move |peer: &str, error: &Error| {
            if let Some(on_error) = &on_error {
                let _ = on_error.call2(&JsValue::UNDEFINED, &js_error(error), &peer.into());
            }
        },
    );
    let service = alpn::service(paf::platform::js::PairAlpn, handler);
    let running = switch.clone();
    let closed = future_to_promise(async move {
        paf::serve(listener, service, config, running).await.map_err(|err| js_error(&err))?;
        Ok(JsValue::UNDEFINED)
    });
    Ok(Server { switch, closed })
}

/// Calls the JS handler with `request`; a handler that fails, or answers
/// something that is not a response, costs the request a 500.
async fn answer(handler: Function, request: Request<Incoming>) -> Response<Body> {
    let raw = request_to_js(request);
    let answered = match handler.call1(&JsValue::UNDEFINED, &raw) {
        Ok(answer) => JsFuture::from(Promise::resolve(&answer)).await,
        Err(thrown) => Err(thrown),
    };
    match answered.and_then(|answer| response_of(&answer)) {
        Ok(response) => response,
        Err(_) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn request_to_js(request: Request<Incoming>) -> JsValue {
    let (parts, body) = request.into_parts();
    let connection = parts.extensions.get::<Connection>();
    let peer = connection.map_or_else(String::new, |conn| conn.peer().to_string());
    let local = connection.and_then(Connection::local).map(|address| address.to_string());
    let tls = connection.and_then(Connection::tls).map_or(JsValue::UNDEFINED, |session| {
        let certificates = session.peer_certificates.iter().map(|der| js_sys::Uint8Array::from(der.as_ref())).collect();
        tls_info(session.version, session.cipher_suite, session.alpn_str().map(str::to_owned), session.server_name.clone(), certificates)
    });
    let url = match (parts.uri.scheme(), parts.uri.authority()) {
        (Some(_), Some(_)) => parts.uri.to_string(),
        // HTTP/1.1 gives the path; the scheme is unknown there, TLS being
        // the platform's.
        _ => {
            let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            format!("http://{host}{target}")
        }
    };
    let (body, bytes) = body_to_js(body);
    let headers = header_text(&parts.headers);
    incoming_request(parts.method.as_str(), &url, &headers, protocol_name(parts.version), &body, &bytes, &peer, local, &tls)
}

/// The response a handler answered with, `{ status, headers, body }`.
fn response_of(raw: &JsValue) -> Result<Response<Body>, JsValue> {
    if !raw.is_object() {
        return Err(type_error("a handler must answer with a Response"));
    }
    let status = field(raw, "status").as_f64().unwrap_or(200.0) as u16;
    let headers = field(raw, "headers").as_string().unwrap_or_default();
    let headers = header_map(&headers)?;
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let mut response = Response::new(body_of(&field(raw, "body"), length)?);
    *response.status_mut() =
        http::StatusCode::from_u16(status).map_err(|_| type_error(&format!("invalid status {status}")))?;
    *response.headers_mut() = headers;
    Ok(response)
}
