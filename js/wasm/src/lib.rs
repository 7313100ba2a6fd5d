//! The wasm-bindgen exports of the paf npm package: what `js/index.js`
//! builds `request()`, `Client` and `serve()` on.
//!
//! Two modules are built from this crate: the client (feature `client`:
//! `Client`, `setRoots`) and the server (feature `server`: `serve`), so
//! that a page or worker that only fetches downloads no server, and one
//! that only serves no TLS. The tests build both. A third feature,
//! `httpbin`, is for tests only and never in the package: the server
//! module plus `serveHttpbin`, paf's httpbin handler (`src/bin/paf/httpbin.rs`,
//! included as the WASI components include it), so that the handler of
//! `paf serve` answers in Node too (`scripts/build-node-httpbin`).
//!
//! Thin by design: JS values in, paf's types out, and back. Headers cross
//! as one string (`"name\nvalue\n..."`, see [`header_text`]), bodies as
//! `Uint8Array`s, JS `ReadableStream`s ([`paf::rt::js::ReadableBody`]) or
//! [`BodyReader`]s; the standard `Request` and `Response` objects are made
//! on the JS side. Connections, TLS, HTTP/1.1 and HTTP/2 are paf's
//! (`paf::Client` on [`paf::platform::js::platform`], `paf::serve` on a
//! [`paf::rt::js::JsListener`]).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use http_body::Body as _;
use js_sys::{Object, Promise, Reflect, Uint8Array};
use paf::error::ConnectFailure;
#[cfg(feature = "client")]
use paf::mimic::Failure;
use paf::rt::js::ReadableBody;
#[cfg(feature = "client")]
use paf::tls::TlsError;
use paf::{Body, Error, Incoming};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod roots;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "httpbin")]
#[path = "../../../src/bin/paf/httpbin.rs"]
mod httpbin;

/// A body being received, read from JS chunk by chunk or whole (the glue
/// makes a `ReadableStream` of it, or reads it all at once).
#[wasm_bindgen]
pub struct BodyReader {
    state: Rc<RefCell<Reader>>,
}

struct Reader {
    reading: Reading,
    /// The read in progress, if any: `cancel` wakes it to settle (as the
    /// end of the body).
    waiting: Option<Waker>,
}

impl Reader {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        let polled = self.reading.poll_data(cx);
        self.waiting = polled.is_pending().then(|| cx.waker().clone());
        polled
    }
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
        let mut state = self.state.borrow_mut();
        state.reading = Reading::Over;
        if let Some(read) = state.waiting.take() {
            read.wake();
        }
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
    let reader = Reader { reading: rest, waiting: None };
    (BodyReader { state: Rc::new(RefCell::new(reader)) }.into(), arrived)
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

/// An option in milliseconds: absent, or a positive number.
fn millis(value: &JsValue, name: &str) -> Result<Option<std::time::Duration>, JsValue> {
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(ms) if ms > 0.0 && ms.is_finite() => Ok(Some(std::time::Duration::from_secs_f64(ms / 1000.0))),
        _ => Err(type_error(&format!("{name} must be a positive number of milliseconds"))),
    }
}

/// Headers as they cross to JS and back: one string, each name and each
/// value followed by a line feed (which no valid name or value holds),
/// where a character is a byte (Fetch's ByteString). Toward JS, a name of
/// [`COMMON_NAMES`] is two characters, U+0001 (which no name holds) then
/// U+0020 plus its index there: JS then takes the name from its copy of
/// the list instead of cutting a new string from the text, and a property
/// keyed by it costs V8 no lookup to intern the key (the largest part of
/// making a headers object, measured in `send()`). Both are ASCII, which
/// the decoder of the text takes its fast way.
fn header_text(headers: &HeaderMap) -> String {
    let size = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 2).sum();
    let mut text = String::with_capacity(size);
    for (name, value) in headers {
        match common_name(name.as_str()) {
            Some(index) => {
                text.push('\u{1}');
                text.push(char::from(0x20 + index));
            }
            None => text.push_str(name.as_str()),
        }
        text.push('\n');
        match value.to_str() {
            Ok(ascii) => text.push_str(ascii),
            Err(_) => text.extend(value.as_bytes().iter().map(|&byte| char::from(byte))),
        }
        text.push('\n');
    }
    text
}

/// Field names that cross to JS as one character (see [`header_text`]);
/// JS reads them from [`header_names`].
const COMMON_NAMES: [&str; 64] = [
    "accept", "accept-encoding", "accept-language", "accept-ranges",
    "access-control-allow-credentials", "access-control-allow-headers",
    "access-control-allow-methods", "access-control-allow-origin",
    "access-control-expose-headers", "access-control-max-age", "age", "alt-svc",
    "authorization", "cache-control", "connection", "content-disposition",
    "content-encoding", "content-language", "content-length", "content-location",
    "content-range", "content-security-policy", "content-type", "cookie", "date",
    "etag", "expect", "expires", "forwarded", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
    "keep-alive", "last-modified", "link", "location", "origin", "pragma", "range",
    "referer", "referrer-policy", "retry-after", "sec-fetch-dest", "sec-fetch-mode",
    "sec-fetch-site", "server", "set-cookie", "strict-transport-security", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "www-authenticate", "x-content-type-options", "x-forwarded-for",
    "x-forwarded-proto", "x-frame-options", "x-request-id",
];

/// Where a name may sit in [`COMMON_SLOTS`]: a multiplicative hash whose
/// constant was searched for so that no two of [`COMMON_NAMES`] share a
/// slot (checked as the table is built, at compile time).
const fn common_slot(name: &[u8]) -> usize {
    let mut hash = name.len() as u32;
    let mut at = 0;
    while at < name.len() {
        hash = hash.wrapping_mul(6409) ^ name[at] as u32;
        at += 1;
    }
    (hash.wrapping_mul(0x9E37_79B1) >> 24) as usize
}

/// One plus the index in [`COMMON_NAMES`] of the name in each slot; 0 for none.
const COMMON_SLOTS: [u8; 256] = {
    let mut slots = [0u8; 256];
    let mut index = 0;
    while index < COMMON_NAMES.len() {
        let slot = common_slot(COMMON_NAMES[index].as_bytes());
        assert!(slots[slot] == 0, "two common names share a slot: change common_slot");
        slots[slot] = index as u8 + 1;
        index += 1;
    }
    slots
};

// Each index is sent as one ASCII character from U+0020 up (see header_text).
const _: () = assert!(COMMON_NAMES.len() <= 0x7f - 0x20);

/// The index of `name` in [`COMMON_NAMES`], if there.
fn common_name(name: &str) -> Option<u8> {
    let index = COMMON_SLOTS[common_slot(name.as_bytes())].checked_sub(1)?;
    (COMMON_NAMES[usize::from(index)] == name).then_some(index)
}

/// [`COMMON_NAMES`], each followed by a line feed: index.js's copy.
#[wasm_bindgen(js_name = headerNames)]
pub fn header_names() -> String {
    COMMON_NAMES.iter().flat_map(|name| [name, "\n"]).collect()
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

#[cfg(feature = "client")]
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
        #[cfg(feature = "client")]
        _ if matches!(tls_error(err), Some(TlsError::PinMismatch { .. })) => "ERR_TLS_PIN_MISMATCH",
        Error::Connect { kind: ConnectFailure::Dns, .. } => "ENOTFOUND",
        Error::Connect { kind: ConnectFailure::Refused, .. } => "ECONNREFUSED",
        Error::Connect { kind: ConnectFailure::Tls, .. } | Error::Tls(_) => "ERR_TLS",
        Error::Connect { .. } => "ECONNECT",
        Error::Timeout(_) => "ETIMEDOUT",
        Error::Http2(_) => "ERR_HTTP2",
        Error::InvalidUrl { .. } => "ERR_INVALID_URL",
        Error::TooManyRedirects { .. } | Error::InsecureRedirect { .. } => "ERR_REDIRECT",
        // A stream pair's read or write that failed with one of these codes
        // (a bridge that refused, a peer that reset) keeps it.
        Error::Io(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
        Error::Io(err) if err.kind() == std::io::ErrorKind::ConnectionReset => "ECONNRESET",
        _ => "ERR_PAF",
    };
    let error = js_sys::Error::new(&message(err));
    set(&error, "code", &code.into());
    error.into()
}

/// The message of `err`, with the advice of a TLS failure said in JS
/// terms: paf's own names the command line's options and Rust's methods
/// (`--cacert`, `ClientTls::add_roots_pem`), which a JS user has not got.
/// (The server module has no TLS: node:tls or the platform does it.)
fn message(err: &Error) -> String {
    let message = err.to_string();
    #[cfg(feature = "client")]
    if let Some((tls, advice)) = tls_error(err).and_then(|tls| Some((tls, advice(tls)?))) {
        return message.replace(&tls.to_string(), advice);
    }
    message
}

#[cfg(feature = "client")]
/// The TLS failure in `err`, if it is one: a handshake (`Error::Tls`) or
/// a connection whose TLS attempt failed.
fn tls_error(err: &Error) -> Option<&TlsError> {
    match err {
        Error::Tls(tls) => Some(tls),
        Error::Connect { source, .. } => source.attempts().iter().find_map(|attempt| match &attempt.failure {
            Failure::Connect(failure) => failure.downcast_ref::<TlsError>(),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(feature = "client")]
/// What a [`TlsError`] that advises says in JS.
fn advice(tls: &TlsError) -> Option<&'static str> {
    Some(match tls {
        TlsError::UnknownAuthority => {
            "certificate signed by an unknown authority (trust the CA that signed it: \
             tls: { ca } in request()'s init or new Client()'s options, or setRoots())"
        }
        TlsError::NoRoots => {
            "no trusted root certificates to check the server's certificate against: give them \
             with setRoots() (paf/roots has Mozilla's; in Node, paf sets Node's on load), or \
             tls: { ca }"
        }
        TlsError::CaUsedAsServerCertificate => {
            "the server's certificate is a CA certificate (CA:TRUE), which cannot identify a \
             server: give the server a leaf certificate signed by that CA, and the client the CA \
             (tls: { ca }); the package's README shows how to make both with openssl"
        }
        _ => return None,
    })
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
