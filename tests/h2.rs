//! HTTP/2: the paf client against the paf server over in-memory pipes and
//! loopback TCP (streaming, flow control, trailers, concurrency, resets,
//! GOAWAY, one handler for both protocols), and `paf::serve` with h2c and
//! with TLS + ALPN against real curl, nghttp, h2load and `openssl
//! s_client` (a missing tool fails the test: `scripts/setup` installs
//! them). The TLS tests make their own CA with rcgen.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use paf::engine::{client as h1_client, server as h1_server};
use paf::error::{Http2Error, Reason};
use paf::rt::native::Tokio;
use paf::{service_fn, Body, Config, Connection, Error, Flow, Incoming, Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Barrier, Notify};
use tokio::time::timeout;

mod common;
use common::serving::{run, stdout, Server};
use common::Ca;

const LIMIT: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;
const CHUNK: usize = 16 * 1024;

/// Deterministic bytes that are not a repeated pattern.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// FNV-1a, enough to tell a mangled body from the right one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// A body of `data` in `CHUNK`-sized pieces, counting what was pulled.
fn counted_body(data: Vec<u8>, pulled: Arc<AtomicUsize>) -> Body {
    let chunks: Vec<Bytes> = data.chunks(CHUNK).map(Bytes::copy_from_slice).collect();
    Body::stream(futures_util::stream::iter(chunks).map(move |chunk| {
        pulled.fetch_add(chunk.len(), Ordering::SeqCst);
        Ok::<_, std::io::Error>(chunk)
    }))
}

/// What the test handler shares with the test.
#[derive(Clone)]
struct Probe {
    gate: Arc<Notify>,
    barrier: Arc<Barrier>,
    pulled: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    reports: mpsc::UnboundedSender<Result<Bytes, Error>>,
}

fn probe() -> (Probe, mpsc::UnboundedReceiver<Result<Bytes, Error>>) {
    let (reports, rx) = mpsc::unbounded_channel();
    let probe = Probe {
        gate: Arc::new(Notify::new()),
        barrier: Arc::new(Barrier::new(100)),
        pulled: Arc::new(AtomicUsize::new(0)),
        running: Arc::new(AtomicUsize::new(0)),
        most: Arc::new(AtomicUsize::new(0)),
        reports,
    };
    (probe, rx)
}

/// One handler for every test, and for both protocols.
async fn handle(probe: Probe, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    match path.as_str() {
        "/echo" => Response::new(Body::from(req.into_body())),
        "/panic" => panic!("the handler broke"),
        "/connection" => Response::new(Body::from(connection_facts(&req))),
        "/sum" => match req.into_body().bytes().await {
            Ok(body) => Response::new(Body::from(format!("{} {:x}", body.len(), checksum(&body)))),
            Err(err) => status(StatusCode::BAD_REQUEST, err.to_string()),
        },
        "/big" => {
            let len = query.parse().unwrap_or(MIB);
            Response::new(counted_body(noise(len, 7), probe.pulled.clone()))
        }
        "/gate" => {
            probe.gate.notified().await;
            let body = req.into_body().bytes().await;
            match body {
                Ok(body) => Response::new(Body::from(format!("{} {:x}", body.len(), checksum(&body)))),
                Err(err) => status(StatusCode::BAD_REQUEST, err.to_string()),
            }
        }
        "/barrier" => {
            probe.barrier.wait().await;
            Response::new(Body::from("all here"))
        }
        "/concurrent" => {
            // Counts the handlers running at once, keeping the highest.
            let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(500)).await;
            probe.running.fetch_sub(1, Ordering::SeqCst);
            Response::new(Body::from("done"))
        }
        "/report" => {
            let _ = probe.reports.send(req.into_body().bytes().await);
            Response::new(Body::empty())
        }
        "/fail" => {
            // Some data, a pause (the head and data go out), then a failure.
            let steps = futures_util::stream::unfold(0, |step| async move {
                match step {
                    0 => Some((Ok(Bytes::from(vec![b'x'; 1000])), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Err(std::io::Error::other("disk on fire")), 2))
                    }
                    _ => None,
                }
            });
            Response::new(Body::stream(steps))
        }
        "/stall" => {
            // Some data, then nothing ever again.
            let steps = futures_util::stream::iter([Ok::<_, Error>(Bytes::from(vec![b'x'; 1000]))])
                .chain(futures_util::stream::pending());
            Response::new(Body::stream(steps))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Response::new(Body::from("slow done"))
        }
        "/host" => {
            let host = req.headers().get(http::header::HOST).cloned();
            Response::new(Body::from(format!("{host:?}")))
        }
        "/version" => Response::new(Body::from(format!("{:?}", req.version()))),
        "/headers" => Response::builder()
            .status(StatusCode::CREATED)
            .header("content-type", "text/x-test")
            .header("x-answer", "42")
            .header("connection", "keep-alive")
            .body(Body::from("made"))
            .unwrap(),
        _ => Response::new(Body::from(format!("{} {path}", req.method()))),
    }
}

fn status(code: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    response
}

/// The [`Connection`] a request came on, one fact per line.
fn connection_facts(req: &Request<Incoming>) -> String {
    let Some(conn) = Connection::of(req) else { return "no connection facts".to_string() };
    let mut facts = vec![
        format!("peer {}", conn.peer().ip().map_or("none".to_string(), |address| address.ip().to_string())),
        format!("local {}", conn.local().map_or("none".to_string(), |address| address.to_string())),
        format!("protocol {}", conn.protocol()),
    ];
    if let Some(tls) = conn.tls() {
        facts.push(format!("tls {} {}", tls.version, tls.alpn_str().unwrap_or("no-alpn")));
        facts.push(format!("cipher {}", tls.cipher_suite));
        facts.push(format!("sni {}", tls.server_name.as_deref().unwrap_or("none")));
    }
    facts.join("\n")
}

fn handler(probe: Probe) -> impl paf::Handler {
    service_fn(move |req| handle(probe.clone(), req))
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://test.example{path}")).body(Body::empty()).unwrap()
}

fn post(path: &str, body: Body) -> Request<Body> {
    Request::post(format!("http://test.example{path}")).body(body).unwrap()
}

/// An h2 server on one end of a pipe, stopped when `stop` fires; the
/// client on the other end.
async fn h2_pair_with(
    probe: Probe,
    server_config: Config,
    client_config: Config,
) -> (paf::engine::h2::SendRequest, tokio::task::JoinHandle<Result<(), Error>>, tokio::sync::oneshot::Sender<()>) {
    let (server_end, client_end) = Flow::pipe(64 * 1024);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopping = async move {
            let _ = stopped.await;
        };
        paf::engine::h2::serve_connection(server_end, handler(probe), &server_config, Tokio, stopping).await
    });
    let sender = timeout(LIMIT, paf::engine::h2::handshake(client_end, &client_config, &Tokio)).await.unwrap().unwrap();
    (sender, server, stop)
}

async fn h2_pair(probe: Probe) -> paf::engine::h2::SendRequest {
    let (sender, server, stop) = h2_pair_with(probe, Config::default(), Config::default()).await;
    // Keep the server running for the test's lifetime.
    std::mem::forget(stop);
    drop(server);
    sender
}

async fn body_of(response: Response<Incoming>) -> Bytes {
    timeout(LIMIT, response.into_body().bytes()).await.expect("body in time").expect("body intact")
}

#[tokio::test]
async fn a_mebibyte_streams_both_ways_intact() {
    let (probe, _) = probe();
    let mut sender = h2_pair(probe).await;
    let up = noise(MIB, 1);
    let response = timeout(LIMIT, sender.send(post("/echo", counted_body(up.clone(), Default::default()))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let echoed = body_of(response).await;
    assert_eq!(echoed.len(), MIB);
    assert_eq!(checksum(&echoed), checksum(&up), "echoed body differs");

    let response = timeout(LIMIT, sender.send(get("/big?1048576"))).await.unwrap().unwrap();
    let down = body_of(response).await;
    assert_eq!(checksum(&down), checksum(&noise(MIB, 7)));

    let response = timeout(LIMIT, sender.send(post("/sum", Body::from(up.clone())))).await.unwrap().unwrap();
    assert_eq!(response.headers()["content-length"], body_of_len(&format!("{MIB} {:x}", checksum(&up))));
    assert_eq!(body_of(response).await, format!("{MIB} {:x}", checksum(&up)));
}

/// A config whose bodies may stall for 300 ms.
fn short_body_timeout() -> Config {
    let mut config = Config::default();
    config.body_timeout = Duration::from_millis(300);
    config
}

#[tokio::test]
async fn a_request_body_that_stalls_fails_with_a_body_timeout() {
    let (probe, mut reports) = probe();
    let (mut sender, _server, _stop) = h2_pair_with(probe, short_body_timeout(), Config::default()).await;
    let stalling = futures_util::stream::iter([Ok::<_, Error>(Bytes::from(vec![b'x'; 1000]))])
        .chain(futures_util::stream::pending());
    let _response = tokio::spawn(async move { sender.send(post("/report", Body::stream(stalling))).await });
    let report = timeout(LIMIT, reports.recv()).await.expect("the handler's read ends").unwrap();
    assert!(matches!(report, Err(Error::Timeout(paf::error::Timeout::Body))), "{report:?}");
}

#[tokio::test]
async fn a_response_body_that_stalls_fails_with_a_body_timeout() {
    let (probe, _) = probe();
    let (mut sender, _server, _stop) = h2_pair_with(probe, Config::default(), short_body_timeout()).await;
    let response = timeout(LIMIT, sender.send(get("/stall"))).await.unwrap().unwrap();
    let started = std::time::Instant::now();
    let read = timeout(LIMIT, response.into_body().bytes()).await.expect("the read ends");
    assert!(matches!(read, Err(Error::Timeout(paf::error::Timeout::Body))), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout: {:?}", started.elapsed());
}

fn body_of_len(text: &str) -> String {
    text.len().to_string()
}

fn small_windows() -> Config {
    let mut config = Config::default();
    config.h2.initial_stream_window = 64 * 1024;
    config.h2.initial_connection_window = 64 * 1024;
    config
}

#[tokio::test]
async fn a_slow_reader_stalls_the_sender_instead_of_buffering() {
    let (probe, _) = probe();
    let (gate, pulled) = (probe.gate.clone(), Arc::new(AtomicUsize::new(0)));
    let (sender, _server, _stop) = h2_pair_with(probe, small_windows(), Config::default()).await;
    let data = noise(4 * MIB, 2);
    let expected = format!("{} {:x}", data.len(), checksum(&data));
    let body = counted_body(data, pulled.clone());
    let mut in_flight = {
        let mut sender = sender.clone();
        tokio::spawn(async move { sender.send(post("/gate", body)).await })
    };
    // The handler reads nothing yet: the client may send one window.
    assert!(timeout(Duration::from_millis(500), &mut in_flight).await.is_err(), "no answer before the read");
    let sent = pulled.load(Ordering::SeqCst);
    assert!(sent <= 64 * 1024 + 2 * CHUNK, "{sent} bytes pulled with a 64 KiB window");
    assert!(sent >= 32 * 1024, "the window was used: {sent}");
    gate.notify_one();
    let response = timeout(LIMIT, in_flight).await.unwrap().unwrap().unwrap();
    assert_eq!(body_of(response).await, expected);
}

#[tokio::test]
async fn a_slow_client_stalls_the_response_body() {
    let (probe, _) = probe();
    let pulled = probe.pulled.clone();
    let (mut sender, _server, _stop) = h2_pair_with(probe, Config::default(), small_windows()).await;
    let response = timeout(LIMIT, sender.send(get("/big?4194304"))).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = pulled.load(Ordering::SeqCst);
    // One window in the client, one send buffer in the server, one chunk.
    assert!(sent <= 64 * 1024 + 64 * 1024 + 2 * CHUNK, "{sent} bytes pulled by the server");
    let body = body_of(response).await;
    assert_eq!(checksum(&body), checksum(&noise(4 * MIB, 7)));
}

#[tokio::test]
async fn trailers_cross_both_ways() {
    let (probe, _) = probe();
    let mut sender = h2_pair(probe).await;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames = vec![
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"data"))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    let body = Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(frames)));
    let response = timeout(LIMIT, sender.send(post("/echo", body))).await.unwrap().unwrap();
    let collected = timeout(LIMIT, response.into_body().collect()).await.unwrap().unwrap();
    let trailers = collected.trailers().cloned().expect("trailers came back");
    assert_eq!(trailers["x-checksum"], "abc");
    assert_eq!(collected.to_bytes(), "data");
}

#[tokio::test]
async fn a_hundred_streams_run_at_once_on_one_connection() {
    let (probe, _) = probe();
    let sender = h2_pair(probe).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let mut sender = sender.clone();
            tokio::spawn(async move {
                let response = sender.send(get("/barrier")).await?;
                response.into_body().bytes().await
            })
        })
        .collect();
    // Every handler waits at a barrier of 100: only concurrency passes it.
    for task in tasks {
        let body = timeout(LIMIT, task).await.expect("all 100 in time").unwrap().unwrap();
        assert_eq!(body, "all here");
    }
}

#[tokio::test]
async fn a_client_reset_reaches_the_handler_as_a_clear_error() {
    let (probe, mut reports) = probe();
    let mut sender = h2_pair(probe).await;
    let frames = vec![Ok(Bytes::from_static(b"partial")), Err(std::io::Error::other("upload source failed"))];
    let body = Body::stream(futures_util::stream::iter(frames));
    let sent = timeout(LIMIT, sender.send(post("/report", body))).await.unwrap();
    assert!(matches!(&sent, Err(Error::Body(e)) if e.to_string() == "upload source failed"), "{sent:?}");
    let report = timeout(LIMIT, reports.recv()).await.unwrap().unwrap();
    let err = report.expect_err("the handler saw the reset");
    assert!(
        matches!(err, Error::Http2(Http2Error::StreamReset { reason: Reason::CANCEL, by_peer: true })),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "stream reset by the peer: CANCEL");
}

#[tokio::test]
async fn a_failing_response_body_resets_the_stream_for_the_client() {
    let (probe, _) = probe();
    let mut sender = h2_pair(probe).await;
    let response = timeout(LIMIT, sender.send(get("/fail"))).await.unwrap().unwrap();
    let err = timeout(LIMIT, response.into_body().bytes()).await.unwrap().expect_err("reset");
    assert!(
        matches!(err, Error::Http2(Http2Error::StreamReset { reason: Reason::INTERNAL_ERROR, by_peer: true })),
        "{err:?}"
    );
    // The connection is unharmed.
    let response = timeout(LIMIT, sender.send(get("/after"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /after");
}

#[tokio::test]
async fn stop_sends_goaway_and_streams_in_flight_complete() {
    let (probe, _) = probe();
    let (sender, server, stop) = h2_pair_with(probe, Config::default(), Config::default()).await;
    let slow = {
        let mut sender = sender.clone();
        tokio::spawn(async move { sender.send(get("/slow")).await?.into_body().bytes().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let body = timeout(LIMIT, slow).await.unwrap().unwrap().unwrap();
    assert_eq!(body, "slow done", "the stream in flight completed");
    let served = timeout(LIMIT, server).await.expect("the server closed after the drain").unwrap();
    assert!(served.is_ok(), "{served:?}");
    let mut sender = sender;
    let after = timeout(LIMIT, sender.send(get("/late"))).await.unwrap();
    assert!(after.is_err(), "no new stream after GOAWAY: {after:?}");
    timeout(LIMIT, async {
        while !sender.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the client saw the connection close");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let (probe, _) = probe();
    let mut config = Config::default();
    config.idle_timeout = Duration::from_millis(200);
    let (mut sender, server, _stop) = h2_pair_with(probe, config, Config::default()).await;
    let response = timeout(LIMIT, sender.send(get("/one"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /one");
    let served = timeout(LIMIT, server).await.expect("closed when idle").unwrap();
    assert!(served.is_ok(), "{served:?}");
}

#[tokio::test]
async fn a_client_connection_closes_once_idle_but_not_while_a_stream_is_open() {
    let (probe, _) = probe();
    let mut client_config = Config::default();
    client_config.idle_timeout = Duration::from_millis(200);
    let (mut sender, server, _stop) = h2_pair_with(probe, Config::default(), client_config).await;
    // A response whose body is not read yet keeps the connection busy.
    let response = timeout(LIMIT, sender.send(get("/one"))).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!sender.is_closed(), "closed with a stream open");
    assert_eq!(body_of(response).await, "GET /one");
    // Then nothing for 200 ms: the client closes, and the server sees it go.
    let served = timeout(LIMIT, server).await.expect("the server saw the client close").unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(sender.is_closed());
}

/// Two pipes joined by a relay that, once `cut` is set, drops every byte
/// either way: a peer gone without closing. Returns the client's end and
/// the server's.
fn cuttable_link(cut: Arc<std::sync::atomic::AtomicBool>) -> (Flow, Flow) {
    use tokio::io::AsyncReadExt;
    let (client_end, near) = Flow::pipe(64 * 1024);
    let (far, server_end) = Flow::pipe(64 * 1024);
    let (near_read, near_write) = tokio::io::split(near);
    let (far_read, far_write) = tokio::io::split(far);
    for (mut from, mut to) in [(near_read, far_write), (far_read, near_write)] {
        let cut = cut.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                if !cut.load(Ordering::Acquire) && to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
    (client_end, server_end)
}

fn keep_alive() -> Config {
    let mut config = Config::default();
    config.h2.keep_alive_interval = Some(Duration::from_millis(100));
    config.h2.keep_alive_timeout = Duration::from_millis(300);
    config
}

#[tokio::test]
async fn a_client_pinging_keeps_a_live_connection_and_finds_a_dead_one() {
    let (probe, _) = probe();
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (client_end, server_end) = cuttable_link(cut.clone());
    tokio::spawn(async move {
        let server_config = Config::default();
        paf::engine::h2::serve_connection(server_end, handler(probe), &server_config, Tokio, std::future::pending()).await
    });
    let mut sender = timeout(LIMIT, paf::engine::h2::handshake(client_end, &keep_alive(), &Tokio)).await.unwrap().unwrap();
    // Pings answered, many times over the timeout: the connection lives.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!sender.is_closed(), "a connection whose peer answers was closed");
    let response = timeout(LIMIT, sender.send(get("/one"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /one");
    // The peer goes silent with a request in flight: it fails as a
    // keep-alive timeout, not after the request's own.
    cut.store(true, Ordering::Release);
    let started = std::time::Instant::now();
    let result = timeout(LIMIT, sender.send(get("/two"))).await.expect("failed in time");
    assert!(matches!(result, Err(Error::Timeout(paf::error::Timeout::KeepAlive))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(sender.is_closed());
}

#[tokio::test]
async fn a_server_pinging_drops_a_client_that_went_silent() {
    let (probe, _) = probe();
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (client_end, server_end) = cuttable_link(cut.clone());
    let served = tokio::spawn(async move {
        paf::engine::h2::serve_connection(server_end, handler(probe), &keep_alive(), Tokio, std::future::pending()).await
    });
    let mut sender = timeout(LIMIT, paf::engine::h2::handshake(client_end, &Config::default(), &Tokio)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let response = timeout(LIMIT, sender.send(get("/one"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /one");
    assert!(!served.is_finished(), "a client that answers pings was dropped");
    cut.store(true, Ordering::Release);
    let result = timeout(LIMIT, served).await.expect("the server gave up in time").unwrap();
    assert!(matches!(result, Err(Error::Timeout(paf::error::Timeout::KeepAlive))), "{result:?}");
}

#[tokio::test]
async fn a_stalled_preface_is_cut_by_the_header_timeout() {
    let (probe, _) = probe();
    let (server_end, mut client_end) = Flow::pipe(1024);
    let mut config = Config::default();
    config.header_timeout = Duration::from_millis(200);
    let served = tokio::spawn(async move {
        paf::engine::h2::serve_connection(server_end, handler(probe), &config, Tokio, std::future::pending()).await
    });
    client_end.write_all(&paf::engine::h2::PREFACE[..10]).await.unwrap();
    let result = timeout(LIMIT, served).await.unwrap().unwrap();
    assert!(matches!(result, Err(Error::Timeout(paf::error::Timeout::Header))), "{result:?}");
}

/// What a response says, protocol aside.
async fn summary(response: Response<Incoming>) -> String {
    let headers: Vec<String> = ["content-type", "content-length", "x-answer"]
        .iter()
        .map(|name| format!("{name}={:?}", response.headers().get(*name)))
        .collect();
    let status = response.status();
    format!("{status} {headers:?} {:?}", body_of(response).await)
}

#[tokio::test]
async fn one_handler_answers_alike_over_http1_and_http2() {
    let (probe, _) = probe();
    let (server_end, client_end) = Flow::pipe(64 * 1024);
    let h1_handler = handler(probe.clone());
    tokio::spawn(async move {
        let config = Config::default();
        h1_server::serve_connection(server_end, h1_handler, &config, Tokio, std::future::pending()).await
    });
    let mut h1 = h1_client::handshake(client_end, &Config::default(), &Tokio);
    let mut h2 = h2_pair(probe).await;
    let requests = || {
        vec![
            get("/"),
            get("/headers"),
            get("/host"),
            post("/sum", Body::from(noise(100_000, 3))),
            post("/echo", Body::from("ping")),
            Request::delete("http://test.example/thing").body(Body::empty()).unwrap(),
        ]
    };
    for (one, two) in requests().into_iter().zip(requests()) {
        let what = format!("{} {}", one.method(), one.uri());
        let over_h1 = summary(timeout(LIMIT, h1.send(one)).await.unwrap().unwrap()).await;
        let over_h2 = summary(timeout(LIMIT, h2.send(two)).await.unwrap().unwrap()).await;
        assert_eq!(over_h1, over_h2, "{what}");
    }
    let response = timeout(LIMIT, h2.send(get("/headers"))).await.unwrap().unwrap();
    assert!(response.headers().get("connection").is_none(), "HTTP/2 has no Connection field");
    let response = timeout(LIMIT, h2.send(get("/host"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "Some(\"test.example\")", ":authority is the host");
}

impl Server {
    async fn start(config: Config) -> Server {
        let (probe, _) = probe();
        Server::start_with(config, probe).await
    }

    async fn start_with(config: Config, probe: Probe) -> Server {
        Server::serving(config, handler(probe)).await
    }

    /// HTTPS with ALPN (h2, http/1.1) and a certificate from `ca`.
    async fn start_tls(config: Config, probe: Probe, ca: &Ca) -> Server {
        let tls = ca.server_tls();
        Server::serving(config, paf::engine::alpn::service(paf::engine::alpn::Tls::new(tls.config()), handler(probe))).await
    }
}

fn h2c() -> Config {
    let mut config = Config::default();
    config.h2c = true;
    config
}

async fn tcp(port: u16) -> Flow {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    Flow::new(stream)
}

#[tokio::test]
async fn serve_speaks_h2c_and_http1_on_one_port() {
    let server = Server::start(h2c()).await;
    let mut h2 = paf::engine::alpn::handshake(paf::engine::alpn::Protocol::Http2, tcp(server.port).await, &Config::default(), &Tokio)
        .await
        .unwrap();
    let mut h1 = paf::engine::alpn::handshake(paf::engine::alpn::Protocol::Http1, tcp(server.port).await, &Config::default(), &Tokio)
        .await
        .unwrap();
    assert_eq!(h2.protocol(), paf::engine::alpn::Protocol::Http2);
    let over_h2 = timeout(LIMIT, h2.send(get("/version"))).await.unwrap().unwrap();
    assert_eq!(body_of(over_h2).await, "HTTP/2.0");
    let over_h1 = timeout(LIMIT, h1.send(get("/version"))).await.unwrap().unwrap();
    assert_eq!(body_of(over_h1).await, "HTTP/1.1");
    let up = noise(MIB, 5);
    let response = timeout(LIMIT, h2.send(post("/echo", Body::from(up.clone())))).await.unwrap().unwrap();
    assert_eq!(checksum(&body_of(response).await), checksum(&up));
    let config = Config::default();
    let one_shot = paf::engine::alpn::run(paf::engine::alpn::Protocol::Http2, get("/x"), tcp(server.port).await, &config, &Tokio);
    let response = timeout(LIMIT, one_shot).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /x");
    server.stop().await;
}

#[tokio::test]
async fn after_the_first_bytes_pick_the_protocol_the_idle_timeout_closes_either() {
    let mut config = h2c();
    config.idle_timeout = Duration::from_millis(200);
    let server = Server::start(config).await;
    for protocol in [paf::engine::alpn::Protocol::Http2, paf::engine::alpn::Protocol::Http1] {
        let mut sender = paf::engine::alpn::handshake(protocol, tcp(server.port).await, &Config::default(), &Tokio)
            .await
            .unwrap();
        let response = timeout(LIMIT, sender.send(get("/one"))).await.unwrap().unwrap();
        assert_eq!(body_of(response).await, "GET /one", "{protocol}");
        timeout(LIMIT, async {
            while !sender.is_closed() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the server closed the idle {protocol} connection"));
    }
    server.stop().await;
}

#[tokio::test]
async fn without_h2c_the_preface_is_not_http1_either() {
    let server = Server::start(Config::default()).await;
    let sender = paf::engine::h2::handshake(tcp(server.port).await, &Config::default(), &Tokio).await.unwrap();
    let mut sender = sender;
    let result = timeout(LIMIT, sender.send(get("/"))).await.unwrap();
    assert!(result.is_err(), "HTTP/2 is off on clear text by default: {result:?}");
}

#[tokio::test]
async fn a_stalled_preface_delays_nobody_else() {
    let mut config = h2c();
    config.header_timeout = Duration::from_millis(500);
    let server = Server::start(config).await;
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stalled.write_all(&paf::engine::h2::PREFACE[..5]).await.unwrap();
    for _ in 0..20 {
        let mut sender = paf::engine::h2::handshake(tcp(server.port).await, &Config::default(), &Tokio).await.unwrap();
        let response = timeout(Duration::from_secs(2), sender.send(get("/ok"))).await.unwrap().unwrap();
        assert_eq!(body_of(response).await, "GET /ok");
    }
    // The header timeout closes the stalled one.
    let mut rest = Vec::new();
    let read = timeout(LIMIT, tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut rest)).await;
    assert!(read.is_ok(), "the stalled connection was closed");
}

// ---- real peers: curl, nghttp, h2load -------------------------------------

struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, data: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("paf-h2-{}-{unique}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn curl_prior_knowledge_gets_and_posts_a_mebibyte() {
    let server = Server::start(h2c()).await;
    let out = run("curl", &["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", &server.url("/version")]).await;
    assert_eq!(stdout(&out), "HTTP/2.0\n2");

    let up = noise(MIB, 11);
    let file = TempFile::new("up", &up);
    let body = format!("@{}", file.path());
    let out = run("curl", &["-sS", "--http2-prior-knowledge", "--data-binary", &body, &server.url("/sum")]).await;
    assert_eq!(stdout(&out), format!("{MIB} {:x}", checksum(&up)));

    let down = TempFile::new("down", b"");
    let out = run("curl", &["-sS", "--http2-prior-knowledge", "-o", down.path(), "-w", "%{http_version}", &server.url("/big?1048576")]).await;
    assert_eq!(stdout(&out), "2");
    let got = std::fs::read(&down.0).unwrap();
    assert_eq!(checksum(&got), checksum(&noise(MIB, 7)), "downloaded mebibyte differs");
    server.stop().await;
}

// curl 7.88 (Debian 12) cannot multiplex over h2c by prior knowledge: the
// transfers it queues behind the first fail with "Error in the HTTP2
// framing layer" before a frame is sent (curl's issue #10634, fixed in
// 8.0). h2load checks the hundred streams on one h2c connection instead;
// curl does over TLS.
#[tokio::test]
async fn h2load_runs_a_hundred_streams_at_once_on_one_connection() {
    let (probe, _) = probe();
    let most = probe.most.clone();
    let server = Server::start_with(h2c(), probe).await;
    let out = run("h2load", &["-n", "100", "-c", "1", "-m", "100", &server.url("/concurrent")]).await;
    let text = stdout(&out);
    assert!(text.contains("100 succeeded, 0 failed, 0 errored"), "{text}");
    let most = most.load(Ordering::SeqCst);
    assert_eq!(most, 100, "all 100 streams of the one connection ran at once");
    server.stop().await;
}

#[tokio::test]
async fn nghttp_fetches_over_h2c() {
    let server = Server::start(h2c()).await;
    let out = run("nghttp", &["-n", "-s", &server.url("/big?200000")]).await;
    let text = stdout(&out);
    assert!(text.contains("200000"), "nghttp received the body: {text}");
    let out = run("nghttp", &["-v", &server.url("/version")]).await;
    let text = stdout(&out);
    assert!(text.contains("HTTP/2.0"), "{text}");
    assert!(text.contains(":status: 200"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn h2load_gets_every_answer() {
    let server = Server::start(h2c()).await;
    let out = run("h2load", &["-n", "2000", "-c", "4", "-m", "20", &server.url("/load")]).await;
    let text = stdout(&out);
    assert!(text.contains("2000 succeeded, 0 failed, 0 errored"), "{text}");
    assert!(text.contains("status codes: 2000 2xx"), "{text}");
    server.stop().await;
}

// ---- TLS with ALPN ----------------------------------------------------------

impl Ca {
    fn server_tls(&self) -> paf::tls::ServerTls {
        paf::tls::ServerTls::from_pem(self.leaf_pem.as_bytes(), self.leaf_key_pem.as_bytes()).unwrap()
    }

    /// A paf client trusting only this CA, offering `alpn`.
    fn client(&self, alpn: &[&[u8]]) -> Arc<paf::tls::ClientConfig> {
        paf::tls::ClientTls::new()
            .only_roots_pem(self.pem.as_bytes())
            .unwrap()
            .alpn(alpn.iter().map(|id| id.to_vec()).collect())
            .build()
    }
}

/// curl over TLS to `server`, trusting `ca`, with `extra` arguments.
async fn curl_tls(server: &Server, ca_file: &TempFile, extra: &[&str]) -> String {
    let resolve = server.resolve();
    let mut args = vec!["-sS", "--cacert", ca_file.path(), "--resolve", resolve.as_str()];
    args.extend_from_slice(extra);
    stdout(&run("curl", &args).await)
}

#[tokio::test]
async fn curl_over_tls_gets_h2_or_http1_as_alpn_decides() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let server = Server::start_tls(Config::default(), probe, &ca).await;
    let ca_file = TempFile::new("ca.pem", ca.pem.as_bytes());
    let url = server.https("/version");
    let h2 = curl_tls(&server, &ca_file, &["--http2", "-w", "\n%{http_version}", &url]).await;
    assert_eq!(h2, "HTTP/2.0\n2");
    let h1 = curl_tls(&server, &ca_file, &["--http1.1", "-w", "\n%{http_version}", &url]).await;
    assert_eq!(h1, "HTTP/1.1\n1.1");

    let up = noise(MIB, 21);
    let file = TempFile::new("tls-up", &up);
    let body = format!("@{}", file.path());
    let sum = curl_tls(&server, &ca_file, &["--http2", "--data-binary", &body, &server.https("/sum")]).await;
    assert_eq!(sum, format!("{MIB} {:x}", checksum(&up)));
    let down = TempFile::new("tls-down", b"");
    let big = server.https("/big?1048576");
    curl_tls(&server, &ca_file, &["--http2", "-o", down.path(), &big]).await;
    assert_eq!(checksum(&std::fs::read(&down.0).unwrap()), checksum(&noise(MIB, 7)));
    server.stop().await;
}

#[tokio::test]
async fn every_request_carries_its_connection_facts() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let server = Server::start_tls(Config::default(), probe, &ca).await;
    let ca_file = TempFile::new("ca.pem", ca.pem.as_bytes());
    let local = format!("local 127.0.0.1:{}", server.port);
    for (flag, protocol, alpn) in [("--http2", "HTTP/2", "h2"), ("--http1.1", "HTTP/1.1", "http/1.1")] {
        let facts = curl_tls(&server, &ca_file, &[flag, &server.https("/connection")]).await;
        let lines: Vec<&str> = facts.lines().collect();
        assert_eq!(lines[..3], ["peer 127.0.0.1", local.as_str(), &format!("protocol {protocol}")], "{facts}");
        assert!(lines[3].starts_with("tls TLSv1.") && lines[3].ends_with(alpn), "{facts}");
        assert!(lines[4].starts_with("cipher TLS"), "{facts}");
        assert_eq!(lines[5], "sni localhost", "{facts}");
    }
    server.stop().await;

    let server = Server::start(h2c()).await;
    let facts = stdout(&run("curl", &["-sS", "--http2-prior-knowledge", &server.url("/connection")]).await);
    assert_eq!(facts, format!("peer 127.0.0.1\nlocal 127.0.0.1:{}\nprotocol HTTP/2", server.port));
    let facts = stdout(&run("curl", &["-sS", &server.url("/connection")]).await);
    assert_eq!(facts, format!("peer 127.0.0.1\nlocal 127.0.0.1:{}\nprotocol HTTP/1.1", server.port));
    server.stop().await;
}

#[tokio::test]
async fn curl_over_tls_runs_a_hundred_streams_on_one_connection() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let most = probe.most.clone();
    let server = Server::start_tls(Config::default(), probe, &ca).await;
    let ca_file = TempFile::new("ca.pem", ca.pem.as_bytes());
    let url = server.https("/concurrent");
    let mut args = vec!["--http2", "--parallel", "--parallel-max", "100", "-w", "%{num_connects} %{http_version}\n"];
    for _ in 0..100 {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let out = curl_tls(&server, &ca_file, &args).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 100, "{out}");
    assert!(lines.iter().all(|line| line.ends_with(" 2")), "all over HTTP/2: {out}");
    let connects: u32 = lines.iter().map(|line| line.split(' ').next().unwrap().parse::<u32>().unwrap()).sum();
    assert_eq!(connects, 1, "all 100 streams shared one connection");
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 50, "curl's streams ran at once: at most {most} did");
    server.stop().await;
}

#[tokio::test]
async fn nghttp_h2load_and_openssl_see_h2_selected_by_alpn() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let server = Server::start_tls(Config::default(), probe, &ca).await;
    let url = format!("https://127.0.0.1:{}/version", server.port);
    let out = stdout(&run("nghttp", &["-v", &url]).await);
    assert!(out.contains("The negotiated protocol: h2"), "{out}");
    assert!(out.contains("HTTP/2.0"), "{out}");
    let load = format!("https://127.0.0.1:{}/load", server.port);
    let out = stdout(&run("h2load", &["-n", "1000", "-c", "4", "-m", "10", &load]).await);
    assert!(out.contains("Application protocol: h2"), "{out}");
    assert!(out.contains("1000 succeeded, 0 failed, 0 errored"), "{out}");

    let connect = format!("127.0.0.1:{}", server.port);
    let mut s_client = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-alpn", "h2,http/1.1", "-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl is installed (scripts/setup)");
    // The output holds the server's binary SETTINGS frame too.
    let mut raw = Vec::new();
    let mut out = s_client.stdout.take().unwrap();
    timeout(LIMIT, tokio::io::AsyncReadExt::read_to_end(&mut out, &mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("ALPN protocol: h2"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn the_paf_client_speaks_what_alpn_chose() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let server = Server::start_tls(Config::default(), probe, &ca).await;
    let cases: [(&[&[u8]], paf::engine::alpn::Protocol, &str); 3] = [
        (&[b"h2", b"http/1.1"], paf::engine::alpn::Protocol::Http2, "HTTP/2.0"),
        (&[b"http/1.1"], paf::engine::alpn::Protocol::Http1, "HTTP/1.1"),
        (&[], paf::engine::alpn::Protocol::Http1, "HTTP/1.1"),
    ];
    for (offer, protocol, version) in cases {
        let flow = paf::tls::client_of_flow(ca.client(offer), "localhost", tcp(server.port).await).await.unwrap();
        assert_eq!(paf::engine::alpn::Protocol::of_flow(&flow), protocol, "offering {offer:?}");
        let request = Request::get(server.https("/version")).body(Body::empty()).unwrap();
        let config = Config::default();
        let response = timeout(LIMIT, paf::engine::alpn::run(protocol, request, flow, &config, &Tokio)).await.unwrap().unwrap();
        assert_eq!(body_of(response).await, version, "offering {offer:?}");
    }
    server.stop().await;
}

/// OCaml paf's issue #60: the TLS handshake runs in the connection's task,
/// so five bytes of a record and silence hold up nobody, and the header
/// timeout closes that connection.
#[tokio::test]
async fn a_partial_tls_record_delays_nobody_else() {
    let (ca, (probe, _)) = (Ca::new("paf h2 test CA"), probe());
    let mut config = Config::default();
    config.header_timeout = Duration::from_secs(8);
    let server = Server::start_tls(config, probe, &ca).await;
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let (config, port) = (ca.client(&[b"h2", b"http/1.1"]), server.port);
            tokio::spawn(async move {
                let flow = paf::tls::client_of_flow(config, "localhost", tcp(port).await).await?;
                let protocol = paf::engine::alpn::Protocol::of_flow(&flow);
                let request = get(&format!("/client/{i}"));
                let response = paf::engine::alpn::run(protocol, request, flow, &Config::default(), &Tokio).await?;
                response.into_body().bytes().await
            })
        })
        .collect();
    // Well within the header timeout that would end the stalled one.
    let served = timeout(Duration::from_secs(6), futures_util::future::join_all(clients)).await;
    for (i, body) in served.expect("served while one stalls").into_iter().enumerate() {
        assert_eq!(body.unwrap().unwrap(), format!("GET /client/{i}"));
    }
    let mut rest = Vec::new();
    let closed = timeout(LIMIT, tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut rest)).await;
    assert!(closed.is_ok(), "the header timeout closed the stalled handshake");
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_costs_its_stream_a_500_and_nothing_more() {
    let (probe, _) = probe();
    let mut h2 = h2_pair(probe).await;
    let response = timeout(LIMIT, h2.send(get("/panic"))).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = timeout(LIMIT, h2.send(get("/after"))).await.unwrap().unwrap();
    assert_eq!(body_of(response).await, "GET /after", "the connection lives on");
}

#[tokio::test]
async fn a_handler_s_own_date_is_sent_alone_over_http1() {
    const SET: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    let (server_end, client_end) = Flow::pipe(64 * 1024);
    let dated = service_fn(|req: Request<Incoming>| async move {
        let mut response = Response::new(Body::from("dated"));
        if req.uri().path() == "/own" {
            response.headers_mut().insert("date", paf::http::HeaderValue::from_static(SET));
        }
        response
    });
    tokio::spawn(async move {
        h1_server::serve_connection(server_end, dated, &Config::default(), Tokio, std::future::pending()).await
    });
    let mut h1 = h1_client::handshake(client_end, &Config::default(), &Tokio);
    let own = timeout(LIMIT, h1.send(get("/own"))).await.unwrap().unwrap();
    let dates: Vec<_> = own.headers().get_all("date").iter().collect();
    assert_eq!(dates, [SET], "the handler's date, once");
    let stamped = timeout(LIMIT, h1.send(get("/"))).await.unwrap().unwrap();
    assert_ne!(stamped.headers()["date"], SET, "the clock's date when the handler sets none");
}

#[tokio::test]
async fn responses_carry_a_date_over_both_protocols() {
    let (probe, _) = probe();
    let (server_end, client_end) = Flow::pipe(64 * 1024);
    let h1_handler = handler(probe.clone());
    tokio::spawn(async move {
        let config = Config::default();
        h1_server::serve_connection(server_end, h1_handler, &config, Tokio, std::future::pending()).await
    });
    let mut h1 = h1_client::handshake(client_end, &Config::default(), &Tokio);
    let mut h2 = h2_pair(probe).await;
    let from_h1 = timeout(LIMIT, h1.send(get("/"))).await.unwrap().unwrap();
    let from_h2 = timeout(LIMIT, h2.send(get("/"))).await.unwrap().unwrap();
    for response in [from_h1, from_h2] {
        let date = response.headers()["date"].to_str().unwrap().to_string();
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
        assert_eq!(date.len(), 29, "{date}");
        assert!(date.ends_with(" GMT") && date.as_bytes()[3] == b',', "{date}");
    }
}
