//! Client and server through injected faults (`paf::fault`): thousands of
//! exchanges over in-memory pipes, HTTP/1.1 and HTTP/2, clear and TLS,
//! with the server's listener and the client's transport (a mimic
//! protocol) both misbehaving.
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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use paf::client::ResponseExt;
use paf::engine::alpn::{self, Protocol};
use paf::fault::{self, FaultListener, Faults, Injector, SplitMix64};
use paf::mimic::{req, Ctx};
use paf::platform::{tls_over, HOST};
use paf::rt::native::Tokio;
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

async fn run(scenario: Scenario) -> Counts {
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
    let mut client_config = Config::default();
    timeouts(&mut client_config);
    let client = Client::builder()
        .context(ctx)
        .add_roots_pem(ca.pem.as_bytes())
        .unwrap()
        .alpn(if scenario.h2 { vec![Protocol::Http2] } else { vec![Protocol::Http1] })
        .http2_prior_knowledge(scenario.h2 && !scenario.tls)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(3))
        .config(client_config)
        .build();
    let scheme = if scenario.tls { "https" } else { "http" };

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
                let url = if post {
                    format!("{scheme}://localhost/echo")
                } else {
                    format!("{scheme}://localhost/bytes/{size}")
                };
                let expected = pattern(size);
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

    switch.stop();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within its drain timeout")
        .expect("no panic in serve")
        .unwrap();
    let mut counts = Arc::try_unwrap(counts).unwrap().into_inner().unwrap();
    counts.replayed = posts.lock().unwrap().values().filter(|&&n| n > 1).count();
    counts
}

fn scale() -> usize {
    std::env::var("PAF_FAULT_EXCHANGES").ok().and_then(|n| n.parse().ok()).unwrap_or(1)
}

fn seed() -> u64 {
    std::env::var("PAF_FAULT_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x5eed)
}

async fn check(name: &str, scenario: Scenario) {
    let counts = run(scenario).await;
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
    assert_eq!(counts.exchanges, scenario.exchanges);
    assert_eq!((counts.wrong, counts.hung, counts.replayed, counts.lost()), (0, 0, 0, 0), "{name}: {counts:?}");
    if !scenario.faults.loses_data() {
        assert_eq!(counts.ok, counts.exchanges, "{name}: delays and splits lose nothing: {counts:?}");
    } else {
        assert!(counts.ok > 0, "{name}: some exchanges get through: {counts:?}");
    }
}

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
