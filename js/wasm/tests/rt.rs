//! The Rust side of `paf::rt::js`, in a real JS engine: run by
//! wasm-bindgen-test in Node, and in headless Chromium with
//! `WASM_BINDGEN_USE_BROWSER=1` (scripts/test-js does both).
//!
//! Stream pairs are made in JS (TransformStreams, and sinks and sources
//! whose behaviour a test controls), so what is tested is how the flow
//! meets real WHATWG streams: back-pressure, close, errors, release.
#![cfg(target_arch = "wasm32")]

use std::io::ErrorKind;
use std::time::Duration;

use futures_util::FutureExt;
use js_sys::{Array, Function, Object, Reflect};
use paf::engine::alpn::{self, Protocol};
use paf::client::{ClientBuilder, ConnectionInfo};
use paf::mimic::{self, Ctx};
use paf::rt::js::{self as rt, Connect, Js, JsListener, JsStream, StreamPair};
use paf::rt::Runtime;
use paf::tls::{ClientTls, ServerTls};
use paf::{service_fn, Body, Config, Incoming, Request, Response, Switch};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
// Two stream pairs joined back to back, as a socket's two ends, each way
// buffering 64 KiB as a socket would.
export function pipe() {
  const buffered = () => new TransformStream({}, { highWaterMark: 1 },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength });
  const there = buffered(), back = buffered();
  return [
    { readable: back.readable, writable: there.writable },
    { readable: there.readable, writable: back.writable },
  ];
}
// A writable that takes chunks only when the test says so; `given` counts
// the bytes handed to its writer (queued or taken).
export function heldSink() {
  const held = { given: 0, pending: [], closed: false };
  const inner = new WritableStream({
    write() { return new Promise((resolve) => held.pending.push(resolve)); },
    close() { held.closed = true; },
  }, { highWaterMark: 1 << 20 });
  held.writable = {
    getWriter() {
      const writer = inner.getWriter();
      return {
        write(chunk) { held.given += chunk.length; return writer.write(chunk); },
        close() { return writer.close(); },
        get ready() { return writer.ready; },
        get desiredSize() { return writer.desiredSize; },
      };
    },
  };
  held.release = () => { for (const resolve of held.pending.splice(0)) resolve(); };
  return held;
}
export function failingPair(code) {
  const error = Object.assign(new Error(`failed with ${code}`), { code });
  return {
    readable: new ReadableStream({ pull(controller) { controller.error(error); } }),
    writable: new WritableStream({ write() { throw error; } }),
  };
}
export function watchedPair() {
  const seen = { cancelled: false, closed: false };
  seen.pair = {
    readable: new ReadableStream({ cancel() { seen.cancelled = true; } }),
    writable: new WritableStream({ close() { seen.closed = true; } }),
    peer: "watched",
  };
  return seen;
}
// A source of the given chunks, of any kind of buffer.
export function pairReading(chunks) {
  return {
    readable: new ReadableStream({
      start(controller) { for (const chunk of chunks) controller.enqueue(chunk); controller.close(); },
    }),
    writable: new WritableStream(),
  };
}
// A server's side of in-memory connections: `flows` gives the far end of
// each pair that `connect` opens; `calls` records what connect was given.
export function pipeServer() {
  const queue = [], waiting = [], calls = [];
  const flows = {
    [Symbol.asyncIterator]() { return this; },
    next() {
      if (queue.length) return Promise.resolve({ done: false, value: queue.shift() });
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
  const connect = async (endpoint) => {
    calls.push(endpoint);
    const [near, far] = pipe();
    const next = waiting.shift();
    if (next) next({ done: false, value: far });
    else queue.push(far);
    return near;
  };
  return { flows, connect, calls };
}
// A pair with a `socket` (events in, calls out) that a test drives:
// `emit(kind, value)` calls the listener, `written` collects the writes,
// `room` is what write() answers, `log` names the other calls in order.
export function pushPair() {
  const seen = { written: [], room: true, log: [] };
  seen.emit = (kind, value) => seen.listener(kind, value);
  seen.pair = {
    get readable() { throw new Error("the streams must not be used when there is a socket"); },
    get writable() { throw new Error("the streams must not be used when there is a socket"); },
    socket: {
      attach(listener) { seen.listener = listener; },
      write(chunk) { seen.written.push(...chunk); return seen.room; },
      pause() { seen.log.push("pause"); },
      resume() { seen.log.push("resume"); },
      end() { seen.log.push("end"); },
      close() { seen.log.push("close"); },
    },
    peer: "pushed",
  };
  return seen;
}
export function refusingConnect() {
  return async ({ host, port }) => {
    throw Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: "ECONNREFUSED" });
  };
}
"#)]
extern "C" {
    fn pipe() -> Array;
    #[wasm_bindgen(js_name = heldSink)]
    fn held_sink() -> Object;
    #[wasm_bindgen(js_name = failingPair)]
    fn failing_pair(code: &str) -> StreamPair;
    #[wasm_bindgen(js_name = watchedPair)]
    fn watched_pair() -> Object;
    #[wasm_bindgen(js_name = pairReading)]
    fn pair_reading(chunks: Array) -> StreamPair;
    #[wasm_bindgen(js_name = pipeServer)]
    fn pipe_server_js() -> Object;
    #[wasm_bindgen(js_name = refusingConnect)]
    fn refusing_connect() -> Function;
    #[wasm_bindgen(js_name = pushPair)]
    fn push_pair() -> Object;
}

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap()
}

fn pair_at(pairs: &Array, i: u32) -> StreamPair {
    pairs.get(i).unchecked_into()
}

async fn sleep(ms: u64) {
    Js::new().sleep(Duration::from_millis(ms)).await
}

#[wasm_bindgen_test]
async fn a_pipe_of_js_streams_carries_bytes_both_ways_and_close_ends_the_peer() {
    let pairs = pipe();
    let mut a = JsStream::new(&pair_at(&pairs, 0)).unwrap();
    let mut b = JsStream::new(&pair_at(&pairs, 1)).unwrap();
    a.write_all(b"ping").await.unwrap();
    a.flush().await.unwrap();
    let mut ping = [0; 4];
    b.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"ping");

    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let ((), received) = futures_util::future::join(
        async {
            b.write_all(&big).await.unwrap();
            b.shutdown().await.unwrap();
        },
        async {
            let mut all = Vec::new();
            a.read_to_end(&mut all).await.unwrap();
            all
        },
    )
    .await;
    assert_eq!(received, big, "every byte, in order, then the end");
    let late = b.write_all(b"late").await.unwrap_err();
    assert_eq!(late.kind(), ErrorKind::BrokenPipe, "no write after a shutdown");
}

#[wasm_bindgen_test]
async fn a_stream_pair_that_is_locked_already_is_refused() {
    let pairs = pipe();
    let _first = JsStream::new(&pair_at(&pairs, 0)).unwrap();
    let err = JsStream::new(&pair_at(&pairs, 0)).unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
}

#[wasm_bindgen_test]
async fn writes_wait_once_64_kib_are_not_taken_by_the_writable() {
    let held = held_sink();
    let pair = Object::new();
    Reflect::set(&pair, &"readable".into(), &get(&pair_at(&pipe(), 0), "readable")).unwrap();
    Reflect::set(&pair, &"writable".into(), &get(&held, "writable")).unwrap();
    let mut flow = JsStream::new(pair.unchecked_ref()).unwrap();

    let data = vec![7u8; 256 * 1024];
    let mut writing = Box::pin(async move {
        for chunk in data.chunks(16 * 1024) {
            flow.write_all(chunk).await.unwrap();
        }
        flow.flush().await.unwrap();
        flow
    });
    sleep(20).await;
    assert!((&mut writing).now_or_never().is_none(), "the writable took nothing yet");
    let given = get(&held, "given").as_f64().unwrap() as usize;
    assert!((64 * 1024..=80 * 1024).contains(&given), "{given} bytes handed over");

    // Each time the writable takes what it holds, more comes.
    let release: Function = get(&held, "release").unchecked_into();
    let mut flow = loop {
        release.call0(&JsValue::UNDEFINED).unwrap();
        sleep(1).await;
        if let Some(flow) = (&mut writing).now_or_never() {
            break flow;
        }
    };
    assert_eq!(get(&held, "given").as_f64().unwrap() as usize, 256 * 1024);
    flow.shutdown().await.unwrap();
    assert!(get(&held, "closed").is_truthy(), "shutdown closes the writable");
}

#[wasm_bindgen_test]
async fn js_errors_become_io_errors_of_the_kind_their_code_says() {
    let mut flow = JsStream::new(&failing_pair("ECONNRESET")).unwrap();
    let err = flow.read(&mut [0; 8]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(err.to_string(), "failed with ECONNRESET");

    let mut flow = JsStream::new(&failing_pair("EPIPE")).unwrap();
    flow.write_all(b"x").await.unwrap();
    let err = flow.flush().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    let again = flow.write_all(b"y").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::BrokenPipe, "a failed writable stays failed");
}

#[wasm_bindgen_test]
async fn any_buffer_is_read_and_anything_else_is_an_error() {
    let chunks = Array::new();
    chunks.push(&js_sys::Uint8Array::from(&b"ab"[..]));
    chunks.push(&js_sys::Uint8Array::from(&b"cd"[..]).buffer());
    chunks.push(&js_sys::DataView::new(&js_sys::Uint8Array::from(&b"xefx"[..]).buffer(), 1, 2));
    chunks.push(&"text".into());
    let mut flow = JsStream::new(&pair_reading(chunks)).unwrap();
    let mut got = [0; 6];
    flow.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"abcdef");
    let err = flow.read(&mut [0; 8]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert_eq!(err.to_string(), "a stream gave text, not a Uint8Array");
}

#[wasm_bindgen_test]
async fn a_dropped_flow_closes_the_writable_then_cancels_the_readable() {
    let seen = watched_pair();
    let flow = JsStream::new(get(&seen, "pair").unchecked_ref()).unwrap();
    assert_eq!(flow.peer(), Some("watched"));
    drop(flow);
    sleep(5).await;
    assert!(get(&seen, "closed").is_truthy());
    assert!(get(&seen, "cancelled").is_truthy());
}

fn emit(seen: &Object, kind: u32, value: &JsValue) {
    let emit: Function = get(seen, "emit").unchecked_into();
    emit.call2(&JsValue::UNDEFINED, &kind.into(), value).unwrap();
}

fn log(seen: &Object) -> Vec<String> {
    get(seen, "log").unchecked_into::<Array>().iter().map(|v| v.as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
async fn a_pair_with_a_socket_is_read_and_written_through_it() {
    let seen = push_pair();
    let mut flow = JsStream::new(get(&seen, "pair").unchecked_ref()).unwrap();
    assert_eq!(flow.peer(), Some("pushed"));
    emit(&seen, 0, &js_sys::Uint8Array::from(&b"hello "[..]));
    emit(&seen, 0, &js_sys::Uint8Array::from(&b"world"[..]));
    let mut got = [0; 11];
    flow.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello world", "chunks in order");

    flow.write_all(b"ping").await.unwrap();
    flow.flush().await.unwrap();
    let written: Vec<u8> = get(&seen, "written").unchecked_into::<Array>().iter().map(|v| v.as_f64().unwrap() as u8).collect();
    assert_eq!(written, b"ping");

    emit(&seen, 1, &JsValue::UNDEFINED);
    assert_eq!(flow.read(&mut [0; 8]).await.unwrap(), 0, "the end event ends the flow");
    flow.shutdown().await.unwrap();
    let late = flow.write_all(b"late").await.unwrap_err();
    assert_eq!(late.kind(), ErrorKind::BrokenPipe);
    drop(flow);
    assert_eq!(log(&seen), ["end", "close"], "shutdown ends the socket, the drop closes it");
}

#[wasm_bindgen_test]
async fn a_socket_is_paused_above_64_kib_unread_and_writes_wait_for_its_drain() {
    let seen = push_pair();
    let mut flow = JsStream::new(get(&seen, "pair").unchecked_ref()).unwrap();
    for _ in 0..5 {
        emit(&seen, 0, &js_sys::Uint8Array::new_with_length(16 * 1024));
    }
    assert_eq!(log(&seen), ["pause"], "80 KiB unread");
    let mut sink = vec![0; 64 * 1024];
    flow.read_exact(&mut sink).await.unwrap();
    assert_eq!(log(&seen), ["pause", "resume"], "16 KiB unread");

    Reflect::set(&seen, &"room".into(), &false.into()).unwrap();
    flow.write_all(b"first").await.unwrap();
    let mut writing = Box::pin(async move {
        flow.write_all(b"second").await.unwrap();
        flow
    });
    sleep(5).await;
    assert!((&mut writing).now_or_never().is_none(), "no room: the next write waits");
    emit(&seen, 3, &JsValue::UNDEFINED);
    let mut flow = writing.await;
    let written = get(&seen, "written").unchecked_into::<Array>().length();
    assert_eq!(written, 11, "the drain let the second write go");

    let error = js_sys::Error::new("read ECONNRESET");
    Reflect::set(&error, &"code".into(), &"ECONNRESET".into()).unwrap();
    emit(&seen, 2, &error);
    let mut rest = Vec::new();
    let err = flow.read_to_end(&mut rest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(rest.len(), 16 * 1024, "what came before the error is read first");
    let err = flow.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "the error fails writes too");
}

/// A task that counts its polls and wakes itself until `stop` is set.
fn spinner(polls: &std::rc::Rc<std::cell::Cell<usize>>, stop: &std::rc::Rc<std::cell::Cell<bool>>) -> paf::flow::BoxFuture<'static, ()> {
    let (polls, stop) = (polls.clone(), stop.clone());
    Box::pin(std::future::poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        if stop.get() {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }))
}

#[wasm_bindgen_test]
async fn a_task_spawned_in_an_entry_runs_as_it_ends_and_elsewhere_in_a_microtask() {
    let ran = std::rc::Rc::new(std::cell::Cell::new(0));
    let task = |ran: &std::rc::Rc<std::cell::Cell<u32>>| {
        let ran = ran.clone();
        Box::pin(async move { ran.set(ran.get() + 1) })
    };
    rt::entered(|| {
        rt::spawn(task(&ran));
        rt::entered(|| rt::spawn(task(&ran)));
        assert_eq!(ran.get(), 0, "never inside the entry, nor as a nested one ends");
    });
    assert_eq!(ran.get(), 2, "both ran as the outermost entry ended");

    rt::spawn(task(&ran));
    assert_eq!(ran.get(), 2, "outside an entry, not at once");
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(ran.get(), 3, "but within a microtask");
}

#[wasm_bindgen_test]
async fn a_socket_event_runs_the_task_it_wakes_before_it_returns() {
    let seen = push_pair();
    let mut flow = JsStream::new(get(&seen, "pair").unchecked_ref()).unwrap();
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let into = got.clone();
    rt::spawn(Box::pin(async move {
        let mut buf = [0; 5];
        flow.read_exact(&mut buf).await.unwrap();
        into.borrow_mut().extend_from_slice(&buf);
        flow.write_all(b"pong").await.unwrap();
    }));
    sleep(1).await;
    assert!(got.borrow().is_empty(), "the task waits for data");
    emit(&seen, 0, &js_sys::Uint8Array::from(&b"ping!"[..]));
    assert_eq!(&got.borrow()[..], b"ping!", "read within the event's call");
    let written: Vec<u8> = get(&seen, "written").unchecked_into::<Array>().iter().map(|v| v.as_f64().unwrap() as u8).collect();
    assert_eq!(written, b"pong", "and answered within it");
}

#[wasm_bindgen_test]
async fn a_task_that_keeps_waking_itself_lets_the_event_loop_go_on() {
    let polls = std::rc::Rc::new(std::cell::Cell::new(0));
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    rt::entered(|| rt::spawn(spinner(&polls, &stop)));
    let first_turn = polls.get();
    assert!((1..=1000).contains(&first_turn), "a bounded number of polls in one turn: {first_turn}");
    sleep(5).await;
    assert!(polls.get() > first_turn, "it goes on in later turns, and a timer still fires");
    stop.set(true);
    sleep(1).await;
    let stopped = polls.get();
    sleep(5).await;
    assert_eq!(polls.get(), stopped, "done, it is polled no more");
}

#[wasm_bindgen_test]
async fn sleeps_follow_the_js_clock() {
    let rt = Js::new();
    let start = rt.now();
    rt.sleep(Duration::from_millis(30)).await;
    let slept = rt.now() - start;
    assert!(slept >= Duration::from_millis(25), "{slept:?}");
    // A dropped sleep is cleared: it never calls into its freed closure.
    drop(rt.sleep(Duration::from_millis(1)));
    sleep(10).await;
}

#[wasm_bindgen_test]
async fn sleeps_wake_in_deadline_order_whatever_order_they_began_in() {
    let rt = Js::new();
    let start = rt.now();
    let woke = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sleeper = |ms: u64| {
        let woke = woke.clone();
        let sleep = rt.sleep(Duration::from_millis(ms));
        async move {
            sleep.await;
            woke.borrow_mut().push(ms);
        }
    };
    let cancelled = rt.sleep(Duration::from_millis(5));
    // 50 ms apart: a timer held up that long under load fires two at
    // once, and join4 then polls them in its own order.
    futures_util::future::join4(sleeper(110), sleeper(10), sleeper(60), async {
        drop(cancelled);
    })
    .await;
    assert_eq!(*woke.borrow(), [10, 60, 110]);
    assert!(rt.now() - start >= Duration::from_millis(108));
}

fn hello() -> impl paf::Handler {
    service_fn(|request: Request<Incoming>| async move {
        let version = request.version();
        let body = request.into_body().bytes().await.unwrap();
        Response::new(Body::from(format!("hello {} over {version:?}", String::from_utf8_lossy(&body))))
    })
}

/// In-memory connections to a server of `service`: its `connect`
/// function, and the endpoints that function was called with.
struct PipeServer {
    connect: Function,
    calls: Array,
    switch: Switch,
}

impl PipeServer {
    fn new(service: impl paf::Serve) -> PipeServer {
        let js = pipe_server_js();
        let switch = Switch::new();
        let stop = switch.clone();
        let listener = JsListener::new(rt::iterator_of(&get(&js, "flows")).unwrap(), move || stop.stop(), Js::new());
        let mut config = Config::default();
        config.h2c = true;
        let running = switch.clone();
        wasm_bindgen_futures::spawn_local(async move {
            paf::serve(listener, service, config, running).await.unwrap();
        });
        PipeServer { connect: get(&js, "connect").unchecked_into(), calls: get(&js, "calls").unchecked_into(), switch }
    }
}

impl Drop for PipeServer {
    fn drop(&mut self) {
        self.switch.stop();
    }
}

#[wasm_bindgen_test]
async fn mimic_calls_the_js_connect_function_with_the_host_and_the_port() {
    let server = PipeServer::new(hello());
    let ctx = paf::platform::js::ctx(Connect::new(server.connect.clone()))
        .add(&paf::platform::HOST, "[::1]".to_string())
        .add(&paf::platform::PORT, 8080);
    let flow = mimic::resolve(&ctx).await.unwrap();
    assert!(paf::platform::js::STREAM_WITNESS.is(&flow));
    assert_eq!(server.calls.length(), 1);
    let call = server.calls.get(0);
    assert_eq!(get(&call, "host").as_string().as_deref(), Some("::1"), "no brackets for JS");
    assert_eq!(get(&call, "port").as_f64(), Some(8080.0));

    let request = Request::post("http://[::1]:8080/").body(Body::from("world")).unwrap();
    let response = alpn::run(Protocol::Http1, request, flow, &Config::default(), &Js::new()).await.unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap(), "hello world over HTTP/1.1");
}

#[wasm_bindgen_test]
async fn a_refused_connection_is_said_with_the_js_message() {
    let ctx = paf::platform::js::ctx(Connect::new(refusing_connect()))
        .add(&paf::platform::HOST, "127.0.0.1".to_string())
        .add(&paf::platform::PORT, 1);
    let err = mimic::resolve(&ctx).await.unwrap_err();
    assert_eq!(err.to_string(), "js: connect ECONNREFUSED 127.0.0.1:1");
    let missing = mimic::resolve(&paf::platform::js::ctx(Connect::new(refusing_connect()))).await.unwrap_err();
    assert!(missing.to_string().contains("missing host"), "{missing}");
}

fn client(server: &PipeServer, tls: ClientTls, prior_knowledge: bool) -> paf::Client {
    ClientBuilder::new(paf::platform::js::platform())
        .context(Ctx::new().add(&paf::platform::js::CONNECT, Connect::new(server.connect.clone())))
        .tls(tls)
        .http2_prior_knowledge(prior_knowledge)
        .build()
}

#[wasm_bindgen_test]
async fn the_client_reuses_one_connection_over_js_streams_in_both_protocols() {
    let server = PipeServer::new(hello());
    for (prior_knowledge, protocol) in [(false, "HTTP/1.1"), (true, "HTTP/2.0")] {
        let client = client(&server, ClientTls::new(), prior_knowledge);
        for _ in 0..3 {
            let response = client.post("http://example.test/", "world").await.unwrap();
            assert_eq!(response.into_body().bytes().await.unwrap(), format!("hello world over {protocol}"));
        }
    }
    assert_eq!(server.calls.length(), 2, "one connection per client");
}

#[wasm_bindgen_test]
async fn tls_in_wasm_checks_the_certificate_and_negotiates_h2_by_alpn() {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "paf js test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["example.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let server_tls = ServerTls::from_pem(leaf.pem().as_bytes(), leaf_key.serialize_pem().as_bytes()).unwrap();
    let server = PipeServer::new(alpn::service(alpn::Tls::new(server_tls.config()), hello()));

    let trusting = ClientTls::new().only_roots_pem(ca.pem().as_bytes()).unwrap();
    let response = client(&server, trusting, false).post("https://example.test/", "world").await.unwrap();
    let info = response.extensions().get::<ConnectionInfo>().unwrap().clone();
    assert_eq!(info.protocol, Protocol::Http2);
    assert_eq!(info.tls.as_ref().and_then(|s| s.alpn_str().map(str::to_owned)).as_deref(), Some("h2"));
    assert_eq!(response.into_body().bytes().await.unwrap(), "hello world over HTTP/2.0");

    let err = client(&server, ClientTls::new(), false).get("https://example.test/").await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "the Mozilla roots do not know this CA: {err}");
}

#[wasm_bindgen_test]
async fn a_dropped_sleep_gives_its_place_to_the_next_and_a_background_one_too() {
    let places = |rt: Js| async move {
        // Timeouts dropped long before they are due, as requests' are.
        for _ in 0..100 {
            drop(rt.sleep(Duration::from_secs(30)));
        }
        let start = rt.now();
        let (early, late) = (rt.sleep(Duration::from_millis(5)), rt.sleep(Duration::from_millis(15)));
        // A sleep that has fired keeps its place until dropped.
        early.await;
        let fired_once = rt.sleep(Duration::from_millis(1));
        fired_once.await;
        late.await;
        rt.now() - start
    };
    let slept = places(Js::new()).await;
    assert!(slept >= Duration::from_millis(14), "{slept:?}");
    // Background timers do not keep Node up: a foreground sleep does.
    let (slept, ()) = futures_util::future::join(places(Js::background()), sleep(40)).await;
    assert!(slept >= Duration::from_millis(14), "{slept:?}");
}
