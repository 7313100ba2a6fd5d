//! `paf::platform::worker` in a real JS engine: a handler answers a JS
//! `Request`, as a worker's fetch event gives it, with a JS `Response`:
//! the request body streamed in, the response body streamed out, and work
//! handed to the event's `ctx.waitUntil` going on after the response.
//! (tests/worker.rs runs the httpbin handler through it in workerd; here
//! the event's `ctx` is an object whose `waitUntil` keeps the promises.)
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::BodyExt;
use js_sys::{Function, Promise};
use paf::platform::worker::{self, WaitUntil};
use paf::{service_fn, Body, Incoming, Request, Response};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function streamingRequest() {
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    start(controller) {
      for (const chunk of ["streamed ", "up ", "in three"]) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  const headers = { "content-type": "text/plain", "x-edge": "yes" };
  return new Request("http://edge.test/upload?x=1", { method: "POST", body, duplex: "half", headers });
}
export function eventContext() {
  const kept = [];
  return { kept, waitUntil(promise) { kept.push(promise); } };
}
export async function describe(response) {
  const chunks = [];
  const reader = response.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(new TextDecoder().decode(read.value));
  return `${response.status} ${response.headers.get("x-seen")} ${JSON.stringify(chunks)}`;
}
export function waitedFor(ctx) { return ctx.kept.length === 1 ? ctx.kept[0] : Promise.reject(new Error(`${ctx.kept.length} promises given to waitUntil`)); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = streamingRequest)]
    fn streaming_request() -> JsValue;
    #[wasm_bindgen(js_name = eventContext)]
    fn event_context() -> JsValue;
    fn describe(response: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = waitedFor)]
    fn waited_for(ctx: &JsValue) -> Promise;
}

#[wasm_bindgen_test]
async fn a_handler_answers_a_fetch_event_and_finishes_its_work_after() {
    // The work after the response waits for `release`, which the test
    // calls once it has read the whole response.
    let mut release = None;
    let released = Promise::new(&mut |resolve: Function, _| release = Some(resolve));
    let released = Rc::new(Cell::new(Some(JsFuture::from(released))));
    let finished = Rc::new(Cell::new(false));
    let handler = {
        let (released, finished) = (released.clone(), finished.clone());
        service_fn(move |request: Request<Incoming>| {
            let (released, finished) = (released.clone(), finished.clone());
            async move {
                let seen = format!("{}-{}-{}", request.method(), request.uri(), request.headers()["x-edge"].to_str().unwrap());
                let wait = WaitUntil::of(&request).expect("a WaitUntil in the request's extensions").clone();
                let (_, body) = request.into_parts();
                let uploaded = body.collect().await.unwrap().to_bytes();
                let released = released.take().unwrap();
                wait.wait_until(async move {
                    released.await.unwrap();
                    finished.set(true);
                });
                let chunks = [Bytes::from_static(b"got: "), uploaded];
                let mut response = Response::new(Body::stream(stream::iter(chunks.map(Ok::<_, Infallible>))));
                response.headers_mut().insert("x-seen", seen.parse().unwrap());
                response
            }
        })
    };
    let ctx = event_context();
    let response = JsFuture::from(worker::fetch(handler, streaming_request(), ctx.clone())).await.unwrap();
    let described = JsFuture::from(describe(&response)).await.unwrap().as_string().unwrap();
    assert_eq!(described, r#"200 POST-http://edge.test/upload?x=1-yes ["got: ","streamed up in three"]"#);
    assert!(!finished.get(), "the work after the response ran before it was released");
    release.unwrap().call0(&JsValue::UNDEFINED).unwrap();
    JsFuture::from(waited_for(&ctx)).await.unwrap();
    assert!(finished.get(), "waitUntil's promise settled before the work finished");
}
