//! Rust handlers in an edge worker (Cloudflare Workers, workerd; paf's
//! `worker` feature): a paf [`Handler`] answers the worker's `fetch` events. A worker has nothing
//! to accept: requests arrive as JS `Request` objects and leave as JS
//! `Response` objects, so this is the whole server side there. A Rust
//! user exports one function from their wasm-bindgen crate:
//!
//! ```ignore
//! #[wasm_bindgen]
//! pub fn fetch(request: JsValue, _env: JsValue, ctx: JsValue) -> js_sys::Promise {
//!     paf::platform::worker::fetch(paf::service_fn(my_handler), request, ctx)
//! }
//! ```
//!
//! and their worker's JS calls it: `export default { fetch }` after
//! `initSync({ module })`. Bodies stream both ways: the request body is the
//! `Request`'s stream, read as the handler reads it (with back-pressure),
//! and the response body is a `ReadableStream` pulled from the handler's
//! body as the runtime sends it (a `FixedLengthStream` when its length is
//! known, so the client gets `Content-Length`). A handler that has work to
//! finish after its response hands it to [`WaitUntil`], found in the
//! request's extensions: the event's `ctx.waitUntil`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::body::{BodySender, Incoming};
use crate::engine::Handler;
use crate::rt::js::{spawn, ReadableBody};
use crate::BoxError;

#[wasm_bindgen(inline_js = r#"
export function requestParts(request) {
  const fields = [];
  for (const [name, value] of request.headers) fields.push(name, value);
  return [request.method, request.url, fields, request.body];
}
export function responseOf(status, fields, pull, cancel, length) {
  const headers = new Headers();
  for (let i = 0; i < fields.length; i += 2) headers.append(fields[i], fields[i + 1]);
  let body = null;
  if (pull) {
    body = new ReadableStream({
      async pull(controller) {
        const chunk = await pull();
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: () => cancel(),
    }, { highWaterMark: 0 });
    if (length !== undefined && typeof FixedLengthStream === "function") {
      const fixed = new FixedLengthStream(length);
      body.pipeTo(fixed.writable).catch(() => {});
      body = fixed.readable;
    }
  }
  return new Response(body, { status, headers });
}
"#)]
extern "C" {
    /// `[method, url, [name, value, ...], body]` of a JS `Request`.
    #[wasm_bindgen(js_name = requestParts)]
    fn request_parts(request: &JsValue) -> Array;
    /// A JS `Response`; its body pulled with `pull()` (a promise of a
    /// `Uint8Array`, or of `undefined` at the end) unless `pull` is null.
    #[wasm_bindgen(js_name = responseOf)]
    fn response_of(status: u16, fields: Array, pull: &JsValue, cancel: &JsValue, length: Option<f64>) -> JsValue;
}

/// How many bytes of a request body may wait for the handler to read them
/// before the worker stops reading the `Request`'s stream.
const REQUEST_BODY_BUFFER: usize = 64 * 1024;

/// The fetch event's `ctx.waitUntil`, in each request's extensions: work
/// given to it may go on after the response is sent.
#[derive(Clone, Debug)]
pub struct WaitUntil {
    ctx: JsValue,
}

impl WaitUntil {
    /// The `WaitUntil` of a request answered by [`fetch`].
    pub fn of<B>(request: &Request<B>) -> Option<&WaitUntil> {
        request.extensions().get()
    }

    /// Lets `work` run to its end, even after the response: the runtime
    /// keeps the event alive until it is over.
    pub fn wait_until(&self, work: impl Future<Output = ()> + 'static) {
        let promise = future_to_promise(async move {
            work.await;
            Ok(JsValue::UNDEFINED)
        });
        let wait = Reflect::get(&self.ctx, &"waitUntil".into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
        if let Some(wait) = wait {
            // ctx.waitUntil only throws for a non-promise, which this is not.
            let _ = wait.call1(&self.ctx, &promise);
        }
    }
}

/// Answers a worker's fetch event: `request` (a JS `Request`) through
/// `handler`, resolving with a JS `Response`. `ctx` is the event's
/// context (its `waitUntil` becomes the request's [`WaitUntil`]). The
/// promise rejects only for a request paf cannot represent (a method or
/// header that is not HTTP), with a `TypeError`.
pub fn fetch<H: Handler>(handler: H, request: JsValue, ctx: JsValue) -> Promise {
    future_to_promise(async move {
        let request = request_of(&request, ctx)?;
        let head_only = request.method() == Method::HEAD;
        let response = handler.call(request).await;
        Ok(js_response(response, head_only))
    })
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(&format!("paf: {message}")).into()
}

/// A JS `Request` as paf's, its body streamed from the JS one.
fn request_of(request: &JsValue, ctx: JsValue) -> Result<Request<Incoming>, JsValue> {
    let parts = request_parts(request);
    let method = parts.get(0).as_string().unwrap_or_default();
    let url = parts.get(1).as_string().unwrap_or_default();
    let mut headers = HeaderMap::new();
    let fields = Array::from(&parts.get(2));
    for pair in 0..fields.length() / 2 {
        let name = fields.get(2 * pair).as_string().unwrap_or_default();
        let value = fields.get(2 * pair + 1).as_string().unwrap_or_default();
        // A JS header value is a ByteString: each character one byte.
        let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
        let value_bytes = bytes.and_then(|bytes| HeaderValue::from_bytes(&bytes).ok());
        let field = HeaderName::from_bytes(name.as_bytes()).ok().zip(value_bytes);
        let (name, value) = field.ok_or_else(|| type_error(&format!("invalid header {name}: {value:?}")))?;
        headers.append(name, value);
    }
    let length = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    let body = parts.get(3);
    let body = if body.is_null() || body.is_undefined() {
        Incoming::empty()
    } else {
        let source = ReadableBody::new(&body, length).map_err(|err| type_error(&err.to_string()))?;
        let (sender, incoming) = Incoming::channel(REQUEST_BODY_BUFFER, length);
        spawn(Box::pin(pump(source, sender)));
        incoming
    };
    let mut built = Request::builder().method(method.as_str()).uri(url.as_str());
    *built.headers_mut().expect("a fresh builder") = headers;
    let mut request = built.body(body).map_err(|err| type_error(&err.to_string()))?;
    request.extensions_mut().insert(WaitUntil { ctx });
    Ok(request)
}

/// Moves a JS request body into the handler's [`Incoming`] as the handler
/// makes room; stops (cancelling the JS stream) if the handler drops it.
async fn pump(mut source: ReadableBody, sender: BodySender) {
    loop {
        std::future::poll_fn(|cx| if sender.poll_room(cx) { Poll::Ready(()) } else { Poll::Pending }).await;
        if sender.is_dropped() {
            return;
        }
        match std::future::poll_fn(|cx| Pin::new(&mut source).poll_frame(cx)).await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    sender.send_data(data);
                }
            }
            Some(Err(err)) => return sender.abort(err),
            None => return sender.finish(),
        }
    }
}

/// paf's response as a JS `Response`, its body pulled from paf's (none
/// for a HEAD request, or a status that has none).
fn js_response<B>(response: Response<B>, head_only: bool) -> JsValue
where
    B: http_body::Body + 'static,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    let fields = Array::new();
    for (name, value) in &parts.headers {
        fields.push(&name.as_str().into());
        fields.push(&String::from_utf8_lossy(value.as_bytes()).as_ref().into());
    }
    let no_body = matches!(parts.status, StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT | StatusCode::NOT_MODIFIED);
    if head_only || no_body || body.is_end_stream() {
        return response_of(parts.status.as_u16(), fields, &JsValue::NULL, &JsValue::NULL, None);
    }
    let length = body.size_hint().exact().map(|n| n as f64);
    let body = Rc::new(RefCell::new(Some(Box::pin(body))));
    let pulled = body.clone();
    let pull = Closure::<dyn FnMut() -> Promise>::new(move || {
        let body = pulled.clone();
        future_to_promise(std::future::poll_fn(move |cx| {
            let mut slot = body.borrow_mut();
            let Some(stream) = slot.as_mut() else { return Poll::Ready(Ok(JsValue::UNDEFINED)) };
            loop {
                match ready!(stream.as_mut().poll_frame(cx)) {
                    None => {
                        *slot = None;
                        return Poll::Ready(Ok(JsValue::UNDEFINED));
                    }
                    Some(Err(err)) => {
                        *slot = None;
                        let err: BoxError = err.into();
                        return Poll::Ready(Err(js_sys::Error::new(&err.to_string()).into()));
                    }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(mut data) if data.has_remaining() => {
                            let bytes: Bytes = data.copy_to_bytes(data.remaining());
                            return Poll::Ready(Ok(Uint8Array::from(&bytes[..]).into()));
                        }
                        // Empty data and trailers: a worker's Response has no trailers.
                        _ => continue,
                    },
                }
            }
        }))
    });
    let cancel = Closure::<dyn FnMut()>::new(move || drop(body.borrow_mut().take()));
    response_of(parts.status.as_u16(), fields, &pull.into_js_value(), &cancel.into_js_value(), length)
}
