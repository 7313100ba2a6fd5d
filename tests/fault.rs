//! Client and server through injected faults (`paf::fault`): thousands of
//! exchanges over in-memory pipes, HTTP/1.1 and HTTP/2, clear and TLS,
//! with the server's listener and the client's transport (a mimic
//! protocol) both misbehaving; and on every runtime's httpbin
//! (`common::runtime`: native, wasmtime, Node), the client's transport a
//! fault protocol over real TCP, so that each runtime's server meets the
//! delays, splits, truncations, resets and stalls on its own sockets
//! (there, the server cannot count POSTs: replays are checked in-process).
//!
//! What must hold: no panic; no hang (every exchange ends within a bound
//! well past the configured timeouts); every failure a typed
//! `paf::Error`; every success byte-for-byte right; no POST sent twice
//! (the client retries only idempotent requests); and with only delays
//! and splits, every exchange succeeds. Each run prints its counts.
//!
//! `PAF_FAULT_EXCHANGES` scales the counts (`scripts/fault-soak` raises it),
//! `PAF_FAULT_SEED` changes the seed.

mod common;

use common::runtime::{on_every_runtime, Runtime, Table};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use paf::client::ResponseExt;
use paf::engine::alpn::{self, Protocol};
use paf::fault::{self, FaultListener, Faults, Injector, SplitMix64};
use paf::mimic::{req, Ctx};
use paf::platform::{tls_over, HOST};
use paf::rt::native::{connect_tcp, Tokio};
use paf::{service_fn, Body, Client, Config, Error, Incoming, Request, Response, StatusCode, Switch};

/// Past this, an exchange hangs: the configured timeouts are far below.
const HANG: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
struct Scenario {
    h2: bool,
    tls: bool,
    faults: Faults,
    exchanges: usize,
    seed: u64,
}

#[derive(Debug, Default)]
struct Counts {
    exchanges: usize,
    ok: usize,
    failed: BTreeMap<String, usize>,
    wrong: usize,
    hung: usize,
    replayed: usize,
}

impl Counts {
    fn lost(&self) -> usize {
        self.exchanges - self.ok - self.failed.values().sum::<usize>()
    }
}

/// The bytes `/bytes/<n>` answers: a pattern that shifts with `n`, so that
/// a body cut and glued elsewhere does not match.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + n) % 251) as u8).collect()
}

/// What httpbin's `/bytes/<n>` answers: byte `i` is `i % 251`.
fn httpbin_pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Where the exchanges go.
enum Server {
    /// `paf::serve` in this process, on pipes, behind a fault listener;
    /// it answers `/bytes/<n>` with [`pattern`] and counts POSTs.
    InProcess,
    /// A runtime's httpbin over TCP (clear text; h2c by prior knowledge).
    Remote(std::net::SocketAddr),
}

fn timeouts(config: &mut Config) {
    config.header_timeout = Duration::from_millis(800);
    config.body_timeout = Duration::from_millis(800);
    config.idle_timeout = Duration::from_secs(2);
    config.drain_timeout = Duration::from_secs(2);
    // A stalled HTTP/2 connection is found by its PINGs: without them, a
    // stream whose connection stalls waits for as long as the reader does.
    config.h2.keep_alive_interval = Some(Duration::from_millis(500));
    config.h2.keep_alive_timeout = Duration::from_millis(500);
}

/// The kind of a failure: its variant, and for I/O its kind.
fn kind(err: &Error) -> String {
    match err {
        Error::Io(io) => format!("Io({:?})", io.kind()),
        Error::Timeout(timeout) => format!("Timeout({timeout:?})"),
        other => format!("{other:?}").split(['(', ' ', '{']).next().unwrap_or("?").to_owned(),
    }
}

async fn run(scenario: Scenario, server: Server) -> Counts {
    match server {
        Server::InProcess => in_process(scenario).await,
        Server::Remote(addr) => {
            assert!(!scenario.tls, "the runtimes' httpbin serves clear text");
            let injector = Injector::new(scenario.faults, !scenario.seed, Tokio);
            let (endpoint, _witness) = fault::register("fault-tcp", 10, injector, move |_: ()| async move {
                Ok(paf::Flow::new(connect_tcp(&[addr]).await?))
            });
            let ctx = Ctx::new().fold(&endpoint, req(&HOST), |_host: String| async { Ok(Some(())) });
            let client = fault_client(scenario, ctx, &[]);
            exchange_all(scenario, &client, &format!("http://{addr}"), httpbin_pattern).await
        }
    }
}

/// The client of every scenario: the faults' timeouts, `ctx` its
/// transports, trusting `ca_pem`.
fn fault_client(scenario: Scenario, ctx: Ctx, ca_pem: &[u8]) -> Client {
    let mut client_config = Config::default();
    timeouts(&mut client_config);
    let builder = Client::builder().context(ctx);
    let builder = if ca_pem.is_empty() { builder } else { builder.add_roots_pem(ca_pem).unwrap() };
    builder
        .alpn(if scenario.h2 { vec![Protocol::Http2] } else { vec![Protocol::Http1] })
        .http2_prior_knowledge(scenario.h2 && !scenario.tls)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(3))
        .config(client_config)
        .build()
}

async fn in_process(scenario: Scenario) -> Counts {
    let ca = common::Ca::new("paf fault CA");
    let server_seed = scenario.seed;
    let (listener, connector) = paf::rt::pipes(Tokio, 16 * 1024);
    let listener = FaultListener::new(listener, scenario.faults, server_seed);

    // The server: bytes on GET, an echo on POST; it notes every POST id.
    let posts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = posts.clone();
    let handler = service_fn(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_owned();
            if let Some(n) = path.strip_prefix("/bytes/") {
                return Response::new(Body::from(pattern(n.parse().unwrap())));
            }
            let id = req.headers().get("x-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            *seen.lock().unwrap().entry(id).or_default() += 1;
            Response::new(Body::from(req.into_body()))
        }
    });
    let mut config = Config::default();
    timeouts(&mut config);
    config.h2c = true;
    let switch = Switch::new();
    let server = if scenario.tls {
        let tls = paf::tls::ServerTls::from_pem(ca.leaf_pem.as_bytes(), ca.leaf_key_pem.as_bytes()).unwrap();
        let service = alpn::service(alpn::Tls::new(tls.config()), handler);
        tokio::spawn(paf::serve(listener, service, config, switch.clone()))
    } else {
        tokio::spawn(paf::serve(listener, handler, config, switch.clone()))
    };

    // The client: its transport is a mimic protocol of faults over pipes,
    // ahead of TCP (priority 10 < 100); under TLS for https.
    let injector = Injector::new(scenario.faults, !server_seed, Tokio);
    let connect = {
        let (injector, connector) = (injector.clone(), connector.clone());
        move |_host: String| {
            let flow = connector.connect().map(|flow| paf::Flow::new(injector.wrap(flow)));
            async move { flow }
        }
    };
    let ctx = if scenario.tls {
        tls_over(&HOST, connect)
    } else {
        let (endpoint, _witness) = fault::register("fault-pipe", 10, injector.clone(), move |_: ()| {
            let connector = connector.clone();
            async move { connector.connect() }
        });
        Ctx::new().fold(&endpoint, req(&HOST), |_host: String| async { Ok(Some(())) })
    };
    let client = fault_client(scenario, ctx, ca.pem.as_bytes());
    let origin = if scenario.tls { "https://localhost" } else { "http://localhost" };
    let mut counts = exchange_all(scenario, &client, origin, pattern).await;

    switch.stop();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within its drain timeout")
        .expect("no panic in serve")
        .unwrap();
    counts.replayed = posts.lock().unwrap().values().filter(|&&n| n > 1).count();
    counts
}

/// The scenario's exchanges against `origin`, 16 at a time: GETs of
/// `/bytes/<n>` (answered with `expected(n)`) and POSTs to `/echo`.
async fn exchange_all(scenario: Scenario, client: &Client, origin: &str, expected: fn(usize) -> Vec<u8>) -> Counts {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut rng = SplitMix64::new(scenario.seed.wrapping_mul(3));
    let work: Vec<(bool, usize)> = (0..scenario.exchanges)
        .map(|_| {
            let size = match rng.below(4) {
                0 => 0,
                1 => rng.below(100) as usize,
                2 => rng.below(8 * 1024) as usize,
                _ => rng.below(96 * 1024) as usize,
            };
            (rng.chance(0.4), size)
        })
        .collect();
    stream::iter(work.into_iter().enumerate())
        .for_each_concurrent(16, |(i, (post, size))| {
            let (client, counts) = (client.clone(), counts.clone());
            async move {
                let url = if post { format!("{origin}/echo") } else { format!("{origin}/bytes/{size}") };
                let expected = expected(size);
                let exchange = async {
                    let response = if post {
                        let request = Request::post(&url)
                            .header("x-id", i.to_string())
                            .body(Body::from(expected.clone()))
                            .unwrap();
                        client.request(request).await?
                    } else {
                        client.get(&url).await?
                    };
                    let status = response.status();
                    Ok::<_, Error>((status, response.bytes().await?))
                };
                let outcome = tokio::time::timeout(HANG, exchange).await;
                let mut counts = counts.lock().unwrap();
                counts.exchanges += 1;
                match outcome {
                    Err(_) => counts.hung += 1,
                    Ok(Ok((StatusCode::OK, body))) if body[..] == expected[..] => counts.ok += 1,
                    Ok(Ok((status, body))) => {
                        eprintln!("wrong answer to {url}: {status}, {} bytes for {size}", body.len());
                        counts.wrong += 1;
                    }
                    Ok(Err(err)) => *counts.failed.entry(kind(&err)).or_default() += 1,
                }
            }
        })
        .await;
    Arc::try_unwrap(counts).unwrap().into_inner().unwrap()
}

fn scale() -> usize {
    std::env::var("PAF_FAULT_EXCHANGES").ok().and_then(|n| n.parse().ok()).unwrap_or(1)
}

fn seed() -> u64 {
    std::env::var("PAF_FAULT_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x5eed)
}

async fn check(name: &str, scenario: Scenario) {
    let counts = run(scenario, Server::InProcess).await;
    println!(
        "fault {name} (seed {:#x}): exchanges {}, ok {}, failed {:?}, wrong {}, hung {}, replayed {}, lost: {}",
        scenario.seed,
        counts.exchanges,
        counts.ok,
        counts.failed,
        counts.wrong,
        counts.hung,
        counts.replayed,
        counts.lost()
    );
    holds(name, scenario, &counts);
}

/// What every scenario must show.
fn holds(name: &str, scenario: Scenario, counts: &Counts) {
    assert_eq!(counts.exchanges, scenario.exchanges);
    assert_eq!((counts.wrong, counts.hung, counts.replayed, counts.lost()), (0, 0, 0, 0), "{name}: {counts:?}");
    if !scenario.faults.loses_data() {
        assert_eq!(counts.ok, counts.exchanges, "{name}: delays and splits lose nothing: {counts:?}");
    } else {
        assert!(counts.ok > 0, "{name}: some exchanges get through: {counts:?}");
    }
}

/// The four clear-text scenarios against the runtime's httpbin, at the
/// runtime's reduced counts; afterwards the server still answers a clean
/// request at once.
async fn faults_on_the_wire(runtime: Runtime) {
    let server = runtime.httpbin(&["--h2c"]);
    let mut table = Table::new(
        format!("faults on the wire to {} (seed {:#x})", runtime.name(), seed()),
        &["scenario", "exchanges", "ok", "failed (typed)", "wrong", "hung", "lost"],
    );
    let mut results = Vec::new();
    for (name, h2, faults, n) in [
        ("HTTP/1.1, delays and splits", false, Faults::benign(), 300),
        ("HTTP/1.1, hostile", false, Faults::hostile(), 800),
        ("h2c, delays and splits", true, Faults::benign(), 300),
        ("h2c, hostile", true, Faults::hostile(), 800),
    ] {
        let scenario = Scenario { h2, tls: false, faults, exchanges: runtime.reduced(n * scale()), seed: seed() };
        let counts = run(scenario, Server::Remote(server.addr)).await;
        table.push(vec![
            name.to_owned(),
            counts.exchanges.to_string(),
            counts.ok.to_string(),
            format!("{:?}", counts.failed),
            counts.wrong.to_string(),
            counts.hung.to_string(),
            counts.lost().to_string(),
        ]);
        results.push((name, scenario, counts));
    }
    println!("{table}");
    for (name, scenario, counts) in &results {
        holds(&format!("{}, {name}", runtime.name()), *scenario, counts);
    }
    let client = Client::builder().request_timeout(Duration::from_secs(5)).build();
    let body = client.get(&format!("http://{}/bytes/1000", server.addr)).await.expect("the server lives on").bytes().await.unwrap();
    assert_eq!(body[..], httpbin_pattern(1000)[..], "{}: a clean request after the faults", runtime.name());
}

on_every_runtime!(faults_on_the_wire);

macro_rules! scenarios {
    ($($name:ident: h2 $h2:expr, tls $tls:expr, $faults:expr, $n:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let scenario = Scenario { h2: $h2, tls: $tls, faults: $faults, exchanges: $n * scale(), seed: seed() };
            check(stringify!($name), scenario).await;
        }
    )*};
}

scenarios! {
    h1_clear_benign: h2 false, tls false, Faults::benign(), 300;
    h1_clear_hostile: h2 false, tls false, Faults::hostile(), 800;
    h2_clear_benign: h2 true, tls false, Faults::benign(), 300;
    h2_clear_hostile: h2 true, tls false, Faults::hostile(), 800;
    h1_tls_benign: h2 false, tls true, Faults::benign(), 200;
    h1_tls_hostile: h2 false, tls true, Faults::hostile(), 500;
    h2_tls_benign: h2 true, tls true, Faults::benign(), 200;
    h2_tls_hostile: h2 true, tls true, Faults::hostile(), 500;
}
