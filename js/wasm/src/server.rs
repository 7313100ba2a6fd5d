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

use crate::{body_of, body_to_js, field, header_map, header_text, js_error, millis, type_error};

#[wasm_bindgen(inline_js = r#"
export function tlsInfo(version, cipher, alpn, serverName, peerCertificates) {
  return { version, cipher, alpn, serverName, peerCertificates };
}
"#)]
extern "C" {
    /// A TLS session as a handler of [`serve`] sees it.
    #[wasm_bindgen(js_name = tlsInfo)]
    fn tls_info(
        version: &str,
        cipher: &str,
        alpn: Option<String>,
        server_name: Option<String>,
        peer_certificates: js_sys::Array,
    ) -> JsValue;

    /// index.js's side of [`serve`]: calls the user's handler with a
    /// request and gives its answer.
    pub type Answerer;

    /// The answer to a request, an [`Answer`] or a promise of one. `head`
    /// is its head in one string (one decoding in JS, not one per part):
    /// method, target, origin (`http://host`), peer and local address,
    /// each followed by a line feed, then the header fields as
    /// [`header_text`] joins them.
    #[wasm_bindgen(method, catch)]
    fn answer(
        this: &Answerer,
        head: &str,
        http2: bool,
        body: &JsValue,
        bytes: &JsValue,
        tls: &JsValue,
    ) -> Result<JsValue, JsValue>;

    /// Hears why a request was answered with a 500: its answer failed
    /// (threw, rejected) or was not a valid response.
    #[wasm_bindgen(method)]
    fn failed(this: &Answerer, error: &JsValue);

    /// A response as index.js hands it over: `headers` joined as
    /// [`header_map`] reads them, `body` `null`, a string (sent as UTF-8),
    /// a `Uint8Array` or a `ReadableStream`.
    pub type Answer;

    #[wasm_bindgen(method, getter)]
    fn status(this: &Answer) -> f64;

    #[wasm_bindgen(method, getter)]
    fn headers(this: &Answer) -> String;

    #[wasm_bindgen(method, getter)]
    fn body(this: &Answer) -> JsValue;
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

/// Serves the stream pairs of `flows` (an async iterable) with
/// `answerer.answer(head, http2, body, bytes, tls)` (see [`Answerer`];
/// `body` and `bytes` as in `Client.request`), which gives `{ status,
/// headers, body }` or a promise of it.
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
pub fn serve(flows: JsValue, answerer: Answerer, options: &JsValue) -> Result<Server, JsValue> {
    let answerer = std::rc::Rc::new(answerer);
    serve_with(flows, move |request| answer(answerer.clone(), request), options)
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

/// Asks JS for the answer to `request`; one that fails, or that is not a
/// response, costs the request a 500. An answer given at once is taken
/// at once: no promise, no microtask.
async fn answer(answerer: std::rc::Rc<Answerer>, request: Request<Incoming>) -> Response<Body> {
    let (head, http2, body, bytes, tls) = request_to_js(request);
    let answered = match answerer.answer(&head, http2, &body, &bytes, &tls) {
        Ok(answer) => match answer.dyn_into::<Promise>() {
            Ok(promise) => JsFuture::from(promise).await,
            Err(answer) => Ok(answer),
        },
        Err(thrown) => Err(thrown),
    };
    match answered.and_then(|answer| response_of(answer.unchecked_ref())) {
        Ok(response) => response,
        Err(error) => {
            answerer.failed(&error);
            let mut response = Response::new(Body::empty());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// What [`Answerer::answer`] takes of `request`: its head, whether it came
/// over HTTP/2, its body (`body`, `bytes`) and the connection's TLS.
fn request_to_js(request: Request<Incoming>) -> (String, bool, JsValue, JsValue, JsValue) {
    use std::fmt::Write as _;
    let connection = Connection::of(&request).cloned();
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = String::with_capacity(128);
    head.push_str(parts.method.as_str());
    head.push('\n');
    head.push_str(target);
    head.push('\n');
    match (parts.uri.scheme_str(), parts.uri.authority()) {
        (Some(scheme), Some(authority)) => {
            let _ = write!(head, "{scheme}://{authority}");
        }
        // HTTP/1.1 gives the path; the scheme is unknown there, TLS being
        // the platform's.
        _ => {
            let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let _ = write!(head, "http://{host}");
        }
    }
    head.push('\n');
    let tls = match connection {
        Some(connection) => known(&connection, |known| {
            head.push_str(&known.addresses);
            known.tls.clone()
        }),
        None => {
            head.push_str("\n\n");
            JsValue::UNDEFINED
        }
    };
    head.push_str(&header_text(&parts.headers));
    let (body, bytes) = body_to_js(body);
    (head, parts.version == http::Version::HTTP_2, body, bytes, tls)
}

/// What the requests of a connection say of it, made once for all of
/// them (formatting the addresses was ~5% of a small request): its peer
/// and local address as lines of the head, and its TLS as JS sees it.
struct Known {
    connection: Connection,
    addresses: String,
    tls: JsValue,
}

/// How many connections [`known`] remembers, the last ones it met.
const KNOWN_CONNECTIONS: usize = 256;

thread_local! {
    static KNOWN: std::cell::RefCell<std::collections::VecDeque<Known>> = Default::default();
}

/// `f` of what is known of `connection`, found or made.
fn known<R>(connection: &Connection, f: impl FnOnce(&Known) -> R) -> R {
    KNOWN.with_borrow_mut(|known| {
        // The same facts, at the same address: held here, they cannot
        // have been freed and their memory taken by another connection's.
        let found = known.iter().position(|each| std::ptr::eq(each.connection.peer(), connection.peer()));
        let at = match found {
            Some(at) => at,
            None => {
                known.truncate(KNOWN_CONNECTIONS - 1);
                known.push_front(know(connection));
                0
            }
        };
        f(&known[at])
    })
}

fn know(connection: &Connection) -> Known {
    let mut addresses = format!("{}\n", connection.peer());
    if let Some(local) = connection.local() {
        addresses.push_str(&local.to_string());
    }
    addresses.push('\n');
    let tls = connection.tls().map_or(JsValue::UNDEFINED, |session| {
        let certificates = session.peer_certificates.iter().map(|der| js_sys::Uint8Array::from(der.as_ref())).collect();
        tls_info(session.version, session.cipher_suite, session.alpn_str().map(str::to_owned), session.server_name.clone(), certificates)
    });
    Known { connection: connection.clone(), addresses, tls }
}

/// The response JS answered with.
fn response_of(answer: &Answer) -> Result<Response<Body>, JsValue> {
    let status = answer.status();
    let headers = header_map(&answer.headers())?;
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let body = answer.body();
    let body = match body.as_string() {
        Some(text) => Body::from(text),
        None => body_of(&body, length)?,
    };
    let mut response = Response::new(body);
    *response.status_mut() = (status.fract() == 0.0 && (0.0..=999.0).contains(&status))
        .then(|| http::StatusCode::from_u16(status as u16).ok())
        .flatten()
        .ok_or_else(|| type_error(&format!("invalid status {status}")))?;
    *response.headers_mut() = headers;
    Ok(response)
}
