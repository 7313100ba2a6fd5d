//! Graceful stop with work in flight: 500 requests (HTTP/1.1 and HTTP/2,
//! some streaming large bodies) are running when the server is told to
//! stop — `Switch::stop` in the library; on every runtime's httpbin
//! (`common::runtime`), SIGTERM for `paf serve` and Node, the end of its
//! stdin for `paf.wasm serve --stop-on-eof` in wasmtime, with the counts
//! reduced where the runtime is slower — and more arrive after it. Every request either completes (status and body
//! checked) or is refused in a way a client can retry (a 503, a GOAWAY or
//! a refused stream, a refused connection), and is then retried against a
//! second server. None is lost: none cut mid-body, none dropped without
//! an answer. Each run prints its counts.

mod common;

use common::runtime::{on_every_runtime, Runtime, Table};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::BodyExt;
use paf::error::{Http2Error, Reason};
use paf::rt::native::TcpListener;
use paf::{service_fn, Body, Client, Config, Error, Incoming, Request, Response, StatusCode, Switch};
use tokio::time::{sleep, timeout};

const IN_FLIGHT: usize = 500;
const LATE: usize = 50;
/// Of the requests in flight, how many stream a large body.
const LARGE: usize = 50;

/// How many requests a storm sends: `in_flight` before the stop (every
/// `large_every`-th a large body), `late` after it.
#[derive(Debug, Clone, Copy)]
struct Load {
    in_flight: usize,
    late: usize,
    large_every: usize,
}

impl Load {
    fn full() -> Load {
        Load { in_flight: IN_FLIGHT, late: LATE, large_every: IN_FLIGHT / LARGE }
    }

    /// The full load divided by the runtime's slowdown, as many large bodies.
    fn on(runtime: Runtime) -> Load {
        let in_flight = runtime.reduced(IN_FLIGHT);
        Load { in_flight, late: runtime.reduced(LATE), large_every: (in_flight / LARGE).max(1) }
    }
}
const LARGE_SIZE: usize = 4 << 20;
/// Past this, a request hangs.
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Counts {
    in_flight: usize,
    late: usize,
    completed: usize,
    /// Large bodies that were still streaming when the stop came.
    streaming_at_stop: usize,
    refused_and_retried: usize,
    lost: Vec<String>,
}

/// Whether a failure tells the client that the request was not processed
/// and may be sent again, to this server's replacement.
fn refused(outcome: &Result<(StatusCode, Bytes), Error>) -> bool {
    match outcome {
        Ok((status, _)) => *status == StatusCode::SERVICE_UNAVAILABLE,
        Err(Error::Connect { .. }) => true,
        Err(Error::Http2(Http2Error::GoAway { by_peer: true, .. })) => true,
        Err(Error::Http2(Http2Error::StreamReset { reason: Reason::REFUSED_STREAM, .. })) => true,
        Err(_) => false,
    }
}

/// A response read to its end, slowly for large bodies (the reader paces
/// the stream: it is still in flight when the stop comes).
async fn fetch(client: &Client, url: &str, slow: bool) -> Result<(StatusCode, Bytes), Error> {
    let response = client.get(url).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            all.extend_from_slice(&data);
            if slow {
                sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok((status, Bytes::from(all)))
}

/// Sends `load.in_flight` requests to `a`, calls `stop` once `ready` says
/// they are in flight, sends `load.late` more, and retries what `a`
/// refused on `b`.
async fn storm<S, F>(load: Load, client: &Client, a: &str, b: &str, expected_large: Bytes, ready: impl std::future::Future<Output = ()>, stop: S) -> Counts
where
    S: FnOnce() -> F,
    F: std::future::Future<Output = ()>,
{
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts = Arc::new(std::sync::Mutex::new(Counts { in_flight: load.in_flight, late: load.late, ..Counts::default() }));
    let one = |i: usize| {
        let (client, counts, expected_large, stopped) = (client.clone(), counts.clone(), expected_large.clone(), stopped.clone());
        let large = i % load.large_every == 0 && i < load.in_flight;
        let path = if large { format!("/bytes/{LARGE_SIZE}") } else { "/delay/1500".to_owned() };
        let (a, b) = (format!("{a}{path}"), format!("{b}{path}"));
        async move {
            let check = |outcome: &Result<(StatusCode, Bytes), Error>| match outcome {
                Ok((StatusCode::OK, body)) => !large || *body == expected_large,
                _ => false,
            };
            let first = timeout(LIMIT, fetch(&client, &a, large)).await.expect("a request hung");
            let after_stop = stopped.load(Ordering::SeqCst);
            let mut counts_now = None;
            if check(&first) {
                counts_now = Some(true);
            } else if refused(&first) {
                let again = timeout(LIMIT, fetch(&client, &b, false)).await.expect("a retry hung");
                if check(&again) {
                    counts_now = Some(false);
                } else {
                    counts.lock().unwrap().lost.push(format!("{b}: retry {:?}", again.map(|(s, body)| (s, body.len()))));
                    return;
                }
            }
            let mut counts = counts.lock().unwrap();
            match counts_now {
                Some(true) => {
                    counts.completed += 1;
                    counts.streaming_at_stop += usize::from(large && after_stop);
                }
                Some(false) => counts.refused_and_retried += 1,
                None => counts.lost.push(format!("{a}: {:?}", first.map(|(s, body)| (s, body.len())))),
            }
        }
    };
    let in_flight = stream::iter((0..load.in_flight).map(&one)).for_each_concurrent(None, |f| f);
    let then = async {
        ready.await;
        stopped.store(true, Ordering::SeqCst);
        stop().await;
        stream::iter((load.in_flight..load.in_flight + load.late).map(&one)).for_each_concurrent(None, |f| f).await;
    };
    tokio::join!(in_flight, then);
    Arc::try_unwrap(counts).unwrap().into_inner().unwrap()
}

fn report(name: &str, counts: &Counts) {
    println!(
        "graceful stop {name}: in flight {} (+{} late), completed {} ({} of them 4 MiB bodies still streaming at the stop), refused-and-retried {}, lost: {}",
        counts.in_flight,
        counts.late,
        counts.completed,
        counts.streaming_at_stop,
        counts.refused_and_retried,
        counts.lost.len()
    );
    check(name, counts);
}

fn check(name: &str, counts: &Counts) {
    for lost in counts.lost.iter().take(10) {
        println!("  lost: {lost}");
    }
    assert!(counts.lost.is_empty(), "{name}: {counts:?}");
    assert!(counts.streaming_at_stop > 0, "{name}: some large bodies were streaming at the stop");
    assert_eq!(counts.completed + counts.refused_and_retried, counts.in_flight + counts.late);
}

/// The pattern `/bytes/N` answers in this file's handler.
fn pattern(n: usize) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
}

/// `/delay/MS` and `/bytes/N` (streamed in 64 KiB chunks), as `paf
/// serve`'s httpbin has them; counts the requests that reached it.
fn handler(started: Arc<AtomicUsize>) -> impl paf::Handler {
    service_fn(move |req: Request<Incoming>| {
        started.fetch_add(1, Ordering::SeqCst);
        async move {
            let path = req.uri().path().to_owned();
            if let Some(ms) = path.strip_prefix("/delay/") {
                sleep(Duration::from_millis(ms.parse().unwrap())).await;
                return Response::new(Body::from("done"));
            }
            let n: usize = path.strip_prefix("/bytes/").unwrap().parse().unwrap();
            let whole = pattern(n);
            // Paced: still streaming when the stop comes.
            let chunks = stream::iter((0..n).step_by(64 * 1024)).then(move |at| {
                let chunk = whole.slice(at..(at + 64 * 1024).min(n));
                async move {
                    sleep(Duration::from_millis(20)).await;
                    Ok::<_, Error>(chunk)
                }
            });
            let mut response = Response::new(Body::stream(chunks));
            response.headers_mut().insert(http::header::CONTENT_LENGTH, n.into());
            response
        }
    })
}

async fn library(h2: bool) {
    let mut config = Config::default();
    config.h2c = true;
    config.h2.max_concurrent_streams = 1000;
    let started = Arc::new(AtomicUsize::new(0));
    let serve = |listener, switch: &Switch| tokio::spawn(paf::serve(listener, handler(started.clone()), config.clone(), switch.clone()));
    let (a, b) = (TcpListener::bind("127.0.0.1:0").await.unwrap(), TcpListener::bind("127.0.0.1:0").await.unwrap());
    let (a_url, b_url) = (format!("http://{}", a.local_addr().unwrap()), format!("http://{}", b.local_addr().unwrap()));
    let (a_switch, b_switch) = (Switch::new(), Switch::new());
    let a_task = serve(a, &a_switch);
    let b_task = serve(b, &b_switch);
    let client = Client::builder().http2_prior_knowledge(h2).max_idle_per_origin(IN_FLIGHT).request_timeout(LIMIT).build();
    let ready = async {
        while started.load(Ordering::SeqCst) < IN_FLIGHT {
            sleep(Duration::from_millis(10)).await;
        }
    };
    let stop = || async {
        a_switch.stop();
    };
    let counts = storm(Load::full(), &client, &a_url, &b_url, pattern(LARGE_SIZE), ready, stop).await;
    report(if h2 { "library h2c" } else { "library http/1.1" }, &counts);
    timeout(LIMIT, a_task).await.expect("serve returned after the drain").unwrap().unwrap();
    b_switch.stop();
    timeout(LIMIT, b_task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_stop_loses_no_request_http1() {
    library(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_stop_loses_no_request_h2() {
    library(true).await;
}

/// A storm over HTTP/1.1 and then one over h2c against the runtime's
/// httpbin, each stopped as that runtime is stopped; a second httpbin of
/// the same runtime takes the retries. The server exits 0 after its drain.
async fn stop_with_work_in_flight(runtime: Runtime) {
    let load = Load::on(runtime);
    let mut table = Table::new(
        format!("graceful stop, {}: {} requests in flight, {} late", runtime.name(), load.in_flight, load.late),
        &["protocol", "completed", "4 MiB bodies streaming at the stop", "refused and retried", "lost", "exit"],
    );
    let mut failures = Vec::new();
    for h2 in [false, true] {
        let mut a = runtime.httpbin(&["--h2c"]);
        let b = runtime.httpbin(&["--h2c"]);
        let (a_url, b_url) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
        let client = Client::builder().http2_prior_knowledge(h2).max_idle_per_origin(load.in_flight).request_timeout(LIMIT).build();
        let ready = sleep(Duration::from_millis(1000));
        let counts = {
            let a = &mut a;
            let stop = move || async move {
                a.stop();
                sleep(Duration::from_millis(100)).await;
            };
            storm(load, &client, &a_url, &b_url, pattern(LARGE_SIZE), ready, stop).await
        };
        let exited = tokio::task::spawn_blocking(move || a.exit_status(LIMIT)).await.unwrap();
        let protocol = if h2 { "h2c" } else { "HTTP/1.1" };
        table.push(vec![
            protocol.to_owned(),
            counts.completed.to_string(),
            counts.streaming_at_stop.to_string(),
            counts.refused_and_retried.to_string(),
            counts.lost.len().to_string(),
            exited.to_string(),
        ]);
        failures.push((protocol, counts, exited));
        drop(b);
    }
    println!("{table}");
    for (protocol, counts, exited) in failures {
        check(&format!("{}, {protocol}", runtime.name()), &counts);
        assert!(exited.success(), "{} exits 0 after the drain: {exited}", runtime.name());
    }
}

on_every_runtime!(stop_with_work_in_flight);
