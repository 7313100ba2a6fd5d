//! The wasm-bindgen exports of the paf npm package: what `js/index.js`
//! builds `request()`, `Client` and `serve()` on.
//!
//! Thin by design: JS values in, paf's types out, and back. Headers cross
//! as flat arrays `[name, value, name, value, ...]`, bodies as
//! `Uint8Array`s, JS `ReadableStream`s ([`paf::rt::js::ReadableBody`]) or
//! [`BodyReader`]s; the standard `Request` and `Response` objects are made
//! on the JS side. Connections, TLS, HTTP/1.1 and HTTP/2 are paf's
//! (`paf::Client` on [`paf::rt::js::platform`], `paf::serve` on a
//! [`paf::rt::js::JsListener`]).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Method, Request, Response};
use http_body::Body as _;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use paf::alpn::{self, Protocol};
use paf::client::ClientBuilder;
use paf::error::ConnectFailure;
use paf::mimic::Ctx;
use paf::rt::js::{self as rt, Connect, Js, JsListener, ReadableBody};
use paf::{service_fn, Body, Config, Error, Incoming, Switch};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

mod roots;

/// A client: connections pooled per origin and opened with a JS
/// `connect({host, port})` function, TLS in wasm for `https`, HTTP/2 or
/// HTTP/1.1 by ALPN, redirects followed.
#[wasm_bindgen]
pub struct Client {
    inner: paf::Client,
}

#[wasm_bindgen]
impl Client {
    /// `options`: `alpn` (`["h2", "http/1.1"]` by default; `["h2"]` alone
    /// also speaks HTTP/2 to `http` origins, by prior knowledge), `ca` (PEM
    /// of more roots to trust), `insecure` (accept any certificate),
    /// `timeout` (ms until the response head, 30 000 by default; 0 for
    /// none), `maxRedirects` (10).
    #[wasm_bindgen(constructor)]
    pub fn new(connect: Function, options: &JsValue) -> Result<Client, JsValue> {
        let option = |name: &str| field(options, name);
        let mut tls = roots::client_tls()?;
        if let Some(ca) = option("ca").as_string() {
            tls = tls.add_roots_pem(ca.as_bytes()).map_err(|err| type_error(&err.to_string()))?;
        }
        if option("insecure").is_truthy() {
            tls = tls.dangerous_accept_any_certificate();
        }
        let mut builder = ClientBuilder::new(rt::platform())
            .context(Ctx::new().add(&rt::CONNECT, Connect::new(connect)))
            .tls(tls);
        let alpn = option("alpn");
        if !alpn.is_undefined() {
            let protocols = protocols(&alpn)?;
            builder = builder.http2_prior_knowledge(protocols == [Protocol::Http2]).alpn(protocols);
        }
        if let Some(ms) = option("timeout").as_f64() {
            let limit = (ms > 0.0).then(|| std::time::Duration::from_secs_f64(ms / 1000.0));
            builder = builder.request_timeout(limit);
        }
        if let Some(max) = option("maxRedirects").as_f64() {
            builder = builder.max_redirects(max as usize);
        }
        Ok(Client { inner: builder.build() })
    }

    /// Sends a request; resolves with `{ status, statusText, headers,
    /// protocol, body }` once the response head is in, `body` a
    /// [`BodyReader`] (`undefined` when the response has none).
    /// `body` is `null`, a `Uint8Array` (sent again on a redirect or a
    /// retry) or a `ReadableStream` (sent once).
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: Array,
        body: JsValue,
    ) -> Result<Promise, JsValue> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| type_error(&format!("invalid method {method:?}")))?;
        let mut request = Request::new(body_of(&body, None)?);
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|_| type_error(&format!("invalid URL {url:?}")))?;
        *request.headers_mut() = header_map(&headers)?;
        let client = self.inner.clone();
        Ok(future_to_promise(async move {
            let response = client.request(request).await.map_err(|err| js_error(&err))?;
            Ok(response_head(response).into())
        }))
    }
}

/// A body being received, read chunk by chunk from JS (the glue makes a
/// `ReadableStream` of it).
#[wasm_bindgen]
pub struct BodyReader {
    body: Rc<RefCell<Option<Incoming>>>,
}

#[wasm_bindgen]
impl BodyReader {
    /// The next chunk, a `Uint8Array`, or `undefined` at the end.
    pub fn next(&self) -> Promise {
        let body = self.body.clone();
        future_to_promise(std::future::poll_fn(move |cx| {
            let mut slot = body.borrow_mut();
            let Some(incoming) = slot.as_mut() else {
                return Poll::Ready(Ok(JsValue::UNDEFINED));
            };
            loop {
                match ready!(Pin::new(&mut *incoming).poll_frame(cx)) {
                    None => {
                        *slot = None;
                        return Poll::Ready(Ok(JsValue::UNDEFINED));
                    }
                    Some(Err(err)) => {
                        *slot = None;
                        return Poll::Ready(Err(js_error(&err)));
                    }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => {
                            return Poll::Ready(Ok(Uint8Array::from(&data[..]).into()))
                        }
                        // Empty data, or trailers: nothing for a stream.
                        _ => continue,
                    },
                }
            }
        }))
    }

    /// Stops reading: the rest of the body is discarded (an HTTP/2
    /// stream is reset, an HTTP/1.1 connection closed or drained).
    pub fn cancel(&self) {
        self.body.borrow_mut().take();
    }
}

fn body_reader(body: Incoming) -> JsValue {
    if body.is_end_stream() {
        return JsValue::NULL;
    }
    BodyReader { body: Rc::new(RefCell::new(Some(body))) }.into()
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
/// it is called with `{ method, url, headers, protocol, body }` (`body` a
/// [`BodyReader`] or `null`) and gives `{ status, headers, body }` (`body`
/// `null`, a `Uint8Array` or a `ReadableStream`), or a promise of it.
///
/// Each pair is served with HTTP/2 or HTTP/1.1 as its `alpn` property
/// says (`"h2"`, `"http/1.1"`: TLS done by the platform), and without one
/// by its first bytes: HTTP/2 for clients that start with its preface,
/// unless `options.h2c` is `false`. `options.onError(error, peer)` hears
/// of failed connections. The server stops when `flows` ends or on
/// `close()`.
#[wasm_bindgen]
pub fn serve(flows: JsValue, handler: Function, options: &JsValue) -> Result<Server, JsValue> {
    let iterator = rt::iterator_of(&flows)?;
    let switch = Switch::new();
    let listener = JsListener::new(iterator, switch.clone(), Js::new());
    let mut config = Config::default();
    config.h2c = field(options, "h2c").as_bool() != Some(false);
    let on_error = field(options, "onError").dyn_into::<Function>().ok();
    let handler = service_fn(move |request| answer(handler.clone(), request)).on_error(
        move |peer: &str, error: &Error| {
            if let Some(on_error) = &on_error {
                let _ = on_error.call2(&JsValue::UNDEFINED, &js_error(error), &peer.into());
            }
        },
    );
    let service = alpn::service(rt::PairAlpn, handler);
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

fn request_to_js(request: Request<Incoming>) -> Object {
    let (parts, body) = request.into_parts();
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
    let raw = Object::new();
    set(&raw, "method", &parts.method.as_str().into());
    set(&raw, "url", &url.into());
    set(&raw, "headers", &header_array(&parts.headers));
    set(&raw, "protocol", &protocol_name(parts.version).into());
    set(&raw, "body", &body_reader(body));
    raw
}

/// The response a handler answered with, `{ status, headers, body }`.
fn response_of(raw: &JsValue) -> Result<Response<Body>, JsValue> {
    if !raw.is_object() {
        return Err(type_error("a handler must answer with a Response"));
    }
    let status = field(raw, "status").as_f64().unwrap_or(200.0) as u16;
    let headers = header_map(field(raw, "headers").unchecked_ref())?;
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let mut response = Response::new(body_of(&field(raw, "body"), length)?);
    *response.status_mut() =
        http::StatusCode::from_u16(status).map_err(|_| type_error(&format!("invalid status {status}")))?;
    *response.headers_mut() = headers;
    Ok(response)
}

fn response_head(response: Response<Incoming>) -> Object {
    let (parts, body) = response.into_parts();
    let raw = Object::new();
    set(&raw, "status", &parts.status.as_u16().into());
    set(&raw, "statusText", &parts.status.canonical_reason().unwrap_or("").into());
    set(&raw, "headers", &header_array(&parts.headers));
    set(&raw, "protocol", &protocol_name(parts.version).into());
    set(&raw, "body", &body_reader(body));
    raw
}

/// A body to send: `null`, a `Uint8Array` or a `ReadableStream`.
fn body_of(body: &JsValue, length: Option<u64>) -> Result<Body, JsValue> {
    if body.is_null() || body.is_undefined() {
        Ok(Body::empty())
    } else if let Some(bytes) = body.dyn_ref::<Uint8Array>() {
        Ok(Body::from(Bytes::from(bytes.to_vec())))
    } else {
        let stream = ReadableBody::new(body, length).map_err(|err| type_error(&err.to_string()))?;
        Ok(Body::new(stream))
    }
}

/// Headers as JS has them (`[name, value, ...]`), where a byte is a
/// character (Fetch's ByteString).
fn header_array(headers: &HeaderMap) -> JsValue {
    let array = Array::new();
    for (name, value) in headers {
        array.push(&name.as_str().into());
        let value: String = value.as_bytes().iter().map(|&byte| char::from(byte)).collect();
        array.push(&value.into());
    }
    array.into()
}

fn header_map(flat: &Array) -> Result<HeaderMap, JsValue> {
    let mut headers = HeaderMap::new();
    let mut i = 0;
    while i + 1 < flat.length() {
        let (name, value) = (flat.get(i).as_string(), flat.get(i + 1).as_string());
        i += 2;
        let (Some(name), Some(value)) = (name, value) else {
            return Err(type_error("headers must be strings"));
        };
        let latin1: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .ok()
            .zip(latin1.and_then(|bytes| HeaderValue::from_bytes(&bytes).ok()));
        let Some((name, value)) = parsed else {
            return Err(type_error(&format!("invalid header {name}: {value:?}")));
        };
        headers.append(name, value);
    }
    Ok(headers)
}

fn protocols(list: &JsValue) -> Result<Vec<Protocol>, JsValue> {
    let list: &Array = list.dyn_ref().ok_or_else(|| type_error("alpn must be an array"))?;
    list.iter()
        .map(|id| match id.as_string().as_deref() {
            Some("h2") => Ok(Protocol::Http2),
            Some("http/1.1") => Ok(Protocol::Http1),
            _ => Err(type_error("alpn takes \"h2\" and \"http/1.1\"")),
        })
        .collect()
}

fn protocol_name(version: http::Version) -> &'static str {
    if version == http::Version::HTTP_2 {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    }
}

/// A paf error as a JS `Error` whose `code` says what kind it is, as
/// Node's errors do.
fn js_error(err: &Error) -> JsValue {
    let code = match err {
        Error::Connect { kind: ConnectFailure::Dns, .. } => "ENOTFOUND",
        Error::Connect { kind: ConnectFailure::Refused, .. } => "ECONNREFUSED",
        Error::Connect { kind: ConnectFailure::Tls, .. } | Error::Tls(_) => "ERR_TLS",
        Error::Connect { .. } => "ECONNECT",
        Error::Timeout(_) => "ETIMEDOUT",
        Error::Http2(_) => "ERR_HTTP2",
        Error::InvalidUrl { .. } => "ERR_INVALID_URL",
        Error::TooManyRedirects { .. } | Error::InsecureRedirect { .. } => "ERR_REDIRECT",
        _ => "ERR_PAF",
    };
    let error = js_sys::Error::new(&err.to_string());
    set(&error, "code", &code.into());
    error.into()
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

fn field(object: &JsValue, name: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, name: &str, value: &JsValue) {
    // A plain object of ours: setting cannot fail.
    let _ = Reflect::set(object, &name.into(), value);
}
