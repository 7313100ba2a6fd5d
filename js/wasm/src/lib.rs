//! The wasm-bindgen exports of the paf npm package: what `js/index.js`
//! builds `request()`, `Client` and `serve()` on.
//!
//! Thin by design: JS values in, paf's types out, and back. Headers cross
//! as one string (`"name\nvalue\n..."`, see [`header_text`]), bodies as
//! `Uint8Array`s, JS `ReadableStream`s ([`paf::rt::js::ReadableBody`]) or
//! [`BodyReader`]s; the standard `Request` and `Response` objects are made
//! on the JS side. Connections, TLS, HTTP/1.1 and HTTP/2 are paf's
//! (`paf::Client` on [`paf::rt::js::platform`], `paf::serve` on a
//! [`paf::rt::js::JsListener`]).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Method, Request, Response};
use http_body::Body as _;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use paf::alpn::{self, Protocol};
use paf::client::{ClientBuilder, ConnectionInfo};
use paf::error::ConnectFailure;
use paf::mimic::Ctx;
use paf::rt::js::{self as rt, Connect, Js, JsListener, ReadableBody};
use paf::{service_fn, Body, Config, Error, Incoming, Switch};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

mod roots;

#[wasm_bindgen(inline_js = r#"
export function responseHead(status, statusText, headers, protocol, url, body, bytes) {
  return { status, statusText, headers, protocol, url, body, bytes };
}
export function incomingRequest(method, url, headers, protocol, body, bytes) {
  return { method, url, headers, protocol, body, bytes };
}
"#)]
extern "C" {
    /// The response head as `Client.request` resolves with it (one call
    /// to JS, not one per field).
    #[wasm_bindgen(js_name = responseHead)]
    fn response_head_js(
        status: u16,
        status_text: &str,
        headers: &str,
        protocol: &str,
        url: &JsValue,
        body: &JsValue,
        bytes: &JsValue,
    ) -> JsValue;
    /// A request as a handler of [`serve`] gets it.
    #[wasm_bindgen(js_name = incomingRequest)]
    fn incoming_request(
        method: &str,
        url: &str,
        headers: &str,
        protocol: &str,
        body: &JsValue,
        bytes: &JsValue,
    ) -> JsValue;
}

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
    /// protocol, url, body, bytes }` once the response head is in: `url`
    /// where the last redirect led (absent without one), `body` a
    /// [`BodyReader`] or `null`, `bytes` the body's bytes that are in
    /// already (all of them when `body` is `null`; absent for none).
    /// `body` is `null`, a `Uint8Array` (sent again on a redirect or a
    /// retry) or a `ReadableStream` (sent once).
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &str,
        body: JsValue,
    ) -> Result<Promise, JsValue> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| type_error(&format!("invalid method {method:?}")))?;
        let mut request = Request::new(body_of(&body, None)?);
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|_| type_error(&format!("invalid URL {url:?}")))?;
        *request.headers_mut() = header_map(headers)?;
        let client = self.inner.clone();
        Ok(future_to_promise(async move {
            let response = client.request(request).await.map_err(|err| js_error(&err))?;
            Ok(response_head(response))
        }))
    }
}

/// A body being received, read from JS chunk by chunk or whole (the glue
/// makes a `ReadableStream` of it, or reads it all at once).
#[wasm_bindgen]
pub struct BodyReader {
    state: Rc<RefCell<Reading>>,
}

enum Reading {
    Body(Incoming),
    /// Failed before the reader asked: the failure is its next answer.
    Failed(Error),
    Over,
}

impl Reading {
    /// The next chunk of data; `None` at the end. A failure, or the end,
    /// leaves the body over.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        let polled = match self {
            Reading::Body(body) => ready!(poll_data(body, cx)),
            Reading::Failed(_) | Reading::Over => Ok(None),
        };
        match std::mem::replace(self, Reading::Over) {
            Reading::Failed(err) => return Poll::Ready(Err(err)),
            body @ Reading::Body(_) if matches!(polled, Ok(Some(_))) => *self = body,
            _ => {}
        }
        Poll::Ready(polled)
    }
}

#[wasm_bindgen]
impl BodyReader {
    /// The next chunk, a `Uint8Array`, or `undefined` at the end.
    pub fn next(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(std::future::poll_fn(move |cx| {
            Poll::Ready(match ready!(state.borrow_mut().poll_data(cx)) {
                Ok(Some(data)) => Ok(Uint8Array::from(&data[..]).into()),
                Ok(None) => Ok(JsValue::UNDEFINED),
                Err(err) => Err(js_error(&err)),
            })
        }))
    }

    /// The rest of the body, whole, as one `Uint8Array` (one promise for
    /// all of it).
    #[wasm_bindgen(js_name = readAll)]
    pub fn read_all(&self) -> Promise {
        let state = self.state.clone();
        let mut collected = Vec::new();
        future_to_promise(std::future::poll_fn(move |cx| loop {
            match ready!(state.borrow_mut().poll_data(cx)) {
                Ok(Some(data)) => collected.extend_from_slice(&data),
                Ok(None) => return Poll::Ready(Ok(Uint8Array::from(&collected[..]).into())),
                Err(err) => return Poll::Ready(Err(js_error(&err))),
            }
        }))
    }

    /// Stops reading: the rest of the body is discarded (an HTTP/2
    /// stream is reset, an HTTP/1.1 connection closed or drained).
    pub fn cancel(&self) {
        *self.state.borrow_mut() = Reading::Over;
    }
}

/// The next chunk of data of `body` (empty data and trailers skipped);
/// `None` at its end.
fn poll_data(body: &mut Incoming, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
    loop {
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => return Poll::Ready(Ok(None)),
            Some(Err(err)) => return Poll::Ready(Err(err)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => return Poll::Ready(Ok(Some(data))),
                _ => continue,
            },
        }
    }
}

/// A body as JS gets it, `(reader, bytes)`: `(null, undefined)` for none;
/// `(null, bytes)` when it is all in already (the common small body: no
/// promise to read it); else a [`BodyReader`], with the bytes that are in
/// already if any.
fn body_to_js(body: Incoming) -> (JsValue, JsValue) {
    if body.is_end_stream() {
        return (JsValue::NULL, JsValue::UNDEFINED);
    }
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut reading = Reading::Body(body);
    let mut arrived = Vec::new();
    let rest = loop {
        match reading.poll_data(&mut cx) {
            Poll::Ready(Ok(Some(data))) => arrived.extend_from_slice(&data),
            Poll::Ready(Ok(None)) => return (JsValue::NULL, Uint8Array::from(&arrived[..]).into()),
            Poll::Ready(Err(err)) => break Reading::Failed(err),
            Poll::Pending => break reading,
        }
    };
    let arrived = if arrived.is_empty() { JsValue::UNDEFINED } else { Uint8Array::from(&arrived[..]).into() };
    (BodyReader { state: Rc::new(RefCell::new(rest)) }.into(), arrived)
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
/// (`body` and `bytes` as in [`Client::request`]) and gives `{ status, headers, body }` (`body`
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

fn request_to_js(request: Request<Incoming>) -> JsValue {
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
    let (body, bytes) = body_to_js(body);
    let headers = header_text(&parts.headers);
    incoming_request(parts.method.as_str(), &url, &headers, protocol_name(parts.version), &body, &bytes)
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

fn response_head(response: Response<Incoming>) -> JsValue {
    let (parts, body) = response.into_parts();
    let url = parts.extensions.get::<ConnectionInfo>().and_then(|info| info.redirected_to.as_ref());
    let url = url.map_or(JsValue::UNDEFINED, |url| url.to_string().into());
    let (body, bytes) = body_to_js(body);
    let headers = header_text(&parts.headers);
    let reason = parts.status.canonical_reason().unwrap_or("");
    let protocol = protocol_name(parts.version);
    response_head_js(parts.status.as_u16(), reason, &headers, protocol, &url, &body, &bytes)
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

/// Headers as they cross to JS and back: one string, each name and each
/// value followed by a line feed (which no valid name or value holds),
/// where a character is a byte (Fetch's ByteString).
fn header_text(headers: &HeaderMap) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        text.push_str(name.as_str());
        text.push('\n');
        match value.to_str() {
            Ok(ascii) => text.push_str(ascii),
            Err(_) => text.extend(value.as_bytes().iter().map(|&byte| char::from(byte))),
        }
        text.push('\n');
    }
    text
}

fn header_map(text: &str) -> Result<HeaderMap, JsValue> {
    let mut headers = HeaderMap::new();
    let mut fields = text.split('\n');
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        let parsed = HeaderName::from_bytes(name.as_bytes()).ok().zip(header_value(value));
        let Some((name, value)) = parsed else {
            return Err(type_error(&format!("invalid header {name}: {value:?}")));
        };
        headers.append(name, value);
    }
    Ok(headers)
}

/// A JS string whose characters are bytes as a field value.
fn header_value(value: &str) -> Option<HeaderValue> {
    if value.is_ascii() {
        return HeaderValue::from_str(value).ok();
    }
    let latin1: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
    HeaderValue::from_bytes(&latin1?).ok()
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
