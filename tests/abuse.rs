//! Abuse: what a public server meets from peers that mean harm, each while
//! a well-behaved client keeps being answered.
//!
//! * HTTP/2 floods, written as raw frames over TCP by a small encoder in
//!   this file (frames, and HPACK's indexed and literal fields): rapid
//!   reset (CVE-2023-44487), CONTINUATION flood, SETTINGS, PING and empty
//!   DATA floods, WINDOW_UPDATE overflow, an HPACK table-size bomb. The
//!   server is `paf serve --h2c` in a child process, so that its memory
//!   (VmRSS, VmHWM in `/proc/PID/status`) is its own.
//! * 1 000 connections that send five bytes of a TLS ClientHello and stop,
//!   and 1 000 slowloris heads: cut by the header timeout.
//! * Clients that never read the large responses they asked for: memory
//!   per connection stays bounded.
//! * Handlers that panic or never answer: a 500, or the client gives up,
//!   and the connection and the server live on.
//!
//! Latency is asserted only relative to the same client's baseline
//! measured in the same test: during an attack its median stays under
//! `max(10 × baseline median, 50 ms)` and every answer comes within
//! [`LIVENESS`]. Throughput is never asserted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paf::rt::native::Tokio;
use paf::{service_fn, Body, Config, Flow, Incoming, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::serving::Server;
use common::{free_port, native_server, Ca};

/// The longest any single answer to the well-behaved client may take.
const LIVENESS: Duration = Duration::from_secs(3);
/// The floor of the latency bound, for noise on a busy machine.
const FLOOR: Duration = Duration::from_millis(50);

// ---- the well-behaved client ------------------------------------------------

/// How the well-behaved client reaches the server.
#[derive(Clone)]
enum Target {
    Clear(SocketAddr),
    Tls(SocketAddr, Arc<paf::tls::ClientConfig>),
}

/// One request on a fresh connection (so the accept loop is measured
/// too): `GET /` over HTTP/1.1 (over TLS, what ALPN chose), answered 200
/// within [`LIVENESS`].
async fn probe_once(target: &Target) -> Duration {
    let start = Instant::now();
    match target {
        Target::Clear(addr) => {
            let exchange = async {
                let mut stream = TcpStream::connect(addr).await?;
                stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).await?;
                Ok::<_, std::io::Error>(answer)
            };
            let answer = timeout(LIVENESS, exchange).await.expect("the well-behaved client is answered in time").unwrap();
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
        }
        Target::Tls(addr, config) => {
            let exchange = async {
                let tcp = Flow::new(TcpStream::connect(addr).await.map_err(paf::Error::from)?);
                let flow = paf::tls::client_of_flow(config.clone(), "localhost", tcp).await?;
                let protocol = paf::engine::alpn::Protocol::of_flow(&flow);
                let request = Request::get(format!("https://localhost:{}/", addr.port())).body(Body::empty()).unwrap();
                paf::engine::alpn::run(protocol, request, flow, &Config::default(), &Tokio).await
            };
            let response = timeout(LIVENESS, exchange).await.expect("the well-behaved client is answered in time").unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    start.elapsed()
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * p / 100]
}

/// The median of 30 probes, before any attack.
async fn baseline(target: &Target) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..30 {
        samples.push(probe_once(target).await);
    }
    percentile(&samples, 50)
}

/// The well-behaved client, asking again and again while an attack runs.
struct Prober {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Prober {
    fn start(target: &Target) -> Prober {
        let target = target.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) || samples.len() < 5 {
                samples.push(probe_once(&target).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples
        });
        Prober { stop, task }
    }

    /// Stops probing; asserts the latency bound and returns a summary.
    async fn check(self, attack: &str, baseline: Duration) -> String {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.task.await.expect("the well-behaved client was answered every time");
        let (p50, max) = (percentile(&samples, 50), percentile(&samples, 100));
        let bound = (baseline * 10).max(FLOOR);
        assert!(
            p50 <= bound,
            "{attack}: the well-behaved client's median latency {p50:?} exceeds {bound:?} (baseline {baseline:?})"
        );
        format!("client {} answers, p50 {p50:.1?} (baseline {baseline:.1?}, bound {bound:.0?}), max {max:.1?}", samples.len())
    }
}

// ---- the server's memory ------------------------------------------------------

/// A field of `/proc/PID/status` in KiB (VmRSS: now; VmHWM: the peak).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `paf serve --h2c` in a child process (its memory its own), its
/// address, and the well-behaved client's baseline against it.
async fn h2c_server() -> (common::Process, SocketAddr, Target, Duration) {
    let port = free_port();
    let server = native_server(port, &["--h2c"]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let target = Target::Clear(addr);
    let baseline = baseline(&target).await;
    (server, addr, target, baseline)
}

// ---- HTTP/2 frames, by hand -----------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

const CANCEL: u32 = 0x8;
const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const COMPRESSION_ERROR: u32 = 0x9;
const ENHANCE_YOUR_CALM: u32 = 0xb;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1); `first`
/// holds the bits above the prefix.
fn hpack_int(out: &mut Vec<u8>, n: u32, first: u8, value: u64) {
    let max = (1u64 << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 7, 0, s.len() as u64);
    out.extend_from_slice(s);
}

/// A literal field with a new name; `indexing` adds it to the dynamic
/// table (RFC 7541 §6.2.1), otherwise it is "without indexing".
fn hpack_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8], indexing: bool) {
    out.push(if indexing { 0x40 } else { 0x00 });
    hpack_string(out, name);
    hpack_string(out, value);
}

/// A request head: GET or POST `path` on `localhost`, as an HPACK block.
fn request_block(post: bool, path: &str) -> Vec<u8> {
    // :method GET (2) or POST (3), :scheme http (6) from the static table.
    let mut block = vec![if post { 0x83 } else { 0x82 }, 0x86];
    if path == "/" {
        block.push(0x84);
    } else {
        hpack_int(&mut block, 4, 0x00, 4); // :path, name from the static table
        hpack_string(&mut block, path.as_bytes());
    }
    hpack_int(&mut block, 4, 0x00, 1); // :authority
    hpack_string(&mut block, b"localhost");
    block
}

/// The preface and an empty SETTINGS: how every attacking connection
/// starts.
fn opening() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    out
}

/// What the server said to an attacking connection.
#[derive(Debug, Default)]
struct Seen {
    connections: usize,
    goaways: BTreeMap<u32, usize>,
    resets: BTreeMap<u32, usize>,
    settings_acks: usize,
    ping_acks: usize,
    responses: usize,
    /// Connections closed without a GOAWAY being read first.
    closed_bare: usize,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.connections += other.connections;
        for (code, n) in other.goaways {
            *self.goaways.entry(code).or_default() += n;
        }
        for (code, n) in other.resets {
            *self.resets.entry(code).or_default() += n;
        }
        self.settings_acks += other.settings_acks;
        self.ping_acks += other.ping_acks;
        self.responses += other.responses;
        self.closed_bare += other.closed_bare;
    }

    fn goaway(&self, code: u32) -> usize {
        self.goaways.get(&code).copied().unwrap_or(0)
    }

    fn reset(&self, code: u32) -> usize {
        self.resets.get(&code).copied().unwrap_or(0)
    }
}

/// How long an attacking connection is read after its last write, for
/// the server's last word.
const TAIL: Duration = Duration::from_millis(500);

/// Reads frames until a GOAWAY, the end of the connection, or `until`.
async fn read_frames(mut reader: tokio::net::tcp::OwnedReadHalf, until: tokio::time::Instant, done: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen { connections: 1, ..Seen::default() };
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match tokio::time::timeout_at(until, reader.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                seen.closed_bare += 1;
                break;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while buf.len() - at >= 9 {
            let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
            if buf.len() - at < 9 + len {
                break;
            }
            let (kind, flags) = (buf[at + 3], buf[at + 4]);
            let payload = &buf[at + 9..at + 9 + len];
            let code = |offset: usize| u32::from_be_bytes(payload[offset..offset + 4].try_into().unwrap());
            match kind {
                GOAWAY => {
                    *seen.goaways.entry(code(4)).or_default() += 1;
                    done.store(true, Ordering::Relaxed);
                    return seen;
                }
                RST_STREAM => *seen.resets.entry(code(0)).or_default() += 1,
                SETTINGS if flags & ACK != 0 => seen.settings_acks += 1,
                PING if flags & ACK != 0 => seen.ping_acks += 1,
                HEADERS => seen.responses += 1,
                _ => {}
            }
            at += 9 + len;
        }
        buf.drain(..at);
    }
    done.store(true, Ordering::Relaxed);
    seen
}

/// One attacking connection: writes the opening, then `batch(round)` again
/// and again until it gives `None`, the server ends the connection, or
/// `for_at_most` passes; reads what the server says meanwhile (unless
/// `read` is false: then only once the writing ends).
async fn attack_once(
    addr: SocketAddr,
    read: bool,
    for_at_most: Duration,
    batch: &mut (dyn FnMut(u32) -> Option<Vec<u8>> + Send),
) -> Seen {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let end = tokio::time::Instant::now() + for_at_most;
    let done = Arc::new(AtomicBool::new(false));
    let mut reader = Some(reader);
    let reading = match read {
        true => Some(tokio::spawn(read_frames(reader.take().unwrap(), end + TAIL, done.clone()))),
        false => None,
    };
    let mut bytes = opening();
    let mut round = 0;
    loop {
        let write = tokio::time::timeout_at(end, writer.write_all(&bytes)).await;
        if !matches!(write, Ok(Ok(()))) || done.load(Ordering::Relaxed) {
            break;
        }
        match batch(round) {
            Some(next) => bytes = next,
            None => break,
        }
        round += 1;
        tokio::task::yield_now().await;
    }
    let seen = match (reading, reader) {
        (Some(task), _) => task.await.unwrap(),
        (None, Some(reader)) => read_frames(reader, tokio::time::Instant::now() + TAIL, done).await,
        (None, None) => unreachable!(),
    };
    drop(writer);
    seen
}

/// Attacks for `duration`, connection after connection (each new one
/// starts the batches again at round 0).
async fn attack(
    addr: SocketAddr,
    read: bool,
    duration: Duration,
    mut batch: impl FnMut(u32) -> Option<Vec<u8>> + Send,
) -> Seen {
    let end = Instant::now() + duration;
    let mut seen = Seen::default();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if left < Duration::from_millis(50) {
            break;
        }
        seen.merge(attack_once(addr, read, left, &mut batch).await);
    }
    seen
}

// ---- HTTP/2 attacks -------------------------------------------------------------

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_millis(1000);

/// Rapid reset: HEADERS then RST_STREAM, a hundred streams per write.
fn rapid_reset() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    let block = request_block(false, "/");
    move |round| {
        let mut out = Vec::new();
        for i in 0..100 {
            let id = 1 + 2 * (round * 100 + i);
            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &block);
            frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        }
        (round < 10_000).then_some(out)
    }
}

/// Rapid reset at its slowest: one stream and its reset per write, so
/// that the server may accept each stream (and start its handler) before
/// the reset comes.
fn rapid_reset_one_by_one() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    let block = request_block(false, "/");
    move |round| {
        let id = 1 + 2 * round;
        let mut out = Vec::new();
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &block);
        frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        (round < 1 << 29).then_some(out)
    }
}

/// A header block that never ends: HEADERS without END_HEADERS, then
/// CONTINUATION frames of large literal fields, forever.
fn continuation_flood() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut out = Vec::new();
        if round == 0 {
            frame(&mut out, HEADERS, 0, 1, &request_block(false, "/"));
        }
        let mut fragment = Vec::new();
        for _ in 0..4 {
            hpack_literal(&mut fragment, b"x-flood", &[b'a'; 4000], false);
        }
        frame(&mut out, CONTINUATION, 0, 1, &fragment);
        Some(out)
    }
}

/// A hundred frames of one kind per write.
fn flood_of(kind: u8, payload: &'static [u8]) -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |_| {
        let mut out = Vec::new();
        for _ in 0..100 {
            frame(&mut out, kind, 0, 0, payload);
        }
        Some(out)
    }
}

/// One stream opened for a body, then empty DATA frames on it.
fn empty_data_flood() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut out = Vec::new();
        if round == 0 {
            frame(&mut out, HEADERS, END_HEADERS, 1, &request_block(true, "/echo"));
        }
        for _ in 0..1000 {
            frame(&mut out, DATA, 0, 1, &[]);
        }
        Some(out)
    }
}

/// The connection's send window pushed past 2^31 − 1.
fn connection_window_overflow() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut out = Vec::new();
        frame(&mut out, WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes());
        (round == 0).then_some(out)
    }
}

/// A stream's send window pushed past 2^31 − 1 (the stream is reset, the
/// connection lives: a GET on another stream is answered).
fn stream_window_overflow() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut out = Vec::new();
        match round {
            0 => {
                frame(&mut out, HEADERS, END_HEADERS, 1, &request_block(true, "/echo"));
                frame(&mut out, WINDOW_UPDATE, 0, 1, &0x7fff_ffffu32.to_be_bytes());
            }
            1 => frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 3, &request_block(false, "/")),
            _ => return None,
        }
        Some(out)
    }
}

/// A dynamic table size update far above the 4 096 bytes allowed.
fn table_size_bomb() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut block = Vec::new();
        hpack_int(&mut block, 5, 0x20, 1 << 30);
        block.extend(request_block(false, "/"));
        let mut out = Vec::new();
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 1, &block);
        (round == 0).then_some(out)
    }
}

/// The peer allows a 4 GiB encoder table, then sends streams full of
/// large distinct literals, each to be indexed.
fn large_literals() -> impl FnMut(u32) -> Option<Vec<u8>> + Send {
    move |round| {
        let mut out = Vec::new();
        if round == 0 {
            let mut table_size = vec![0x00, 0x01];
            table_size.extend_from_slice(&u32::MAX.to_be_bytes());
            frame(&mut out, SETTINGS, 0, 0, &table_size);
        }
        for i in 0..20 {
            let id = 1 + 2 * (round * 20 + i);
            let mut block = request_block(false, "/");
            for field in 0..15u32 {
                let name = format!("x-bomb-{id}-{field}");
                hpack_literal(&mut block, name.as_bytes(), &[b'b'; 1000], true);
            }
            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &block);
        }
        (round < 1000).then_some(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_floods_are_cut_and_the_server_stays_small_and_responsive() {
    let (server, addr, target, baseline) = h2c_server().await;
    let pid = server.0.id();
    let rss_before = status_kib(pid, "VmRSS");
    let mut report = vec![format!("paf serve --h2c: VmRSS {rss_before} KiB before the attacks")];

    type Batch = Box<dyn FnMut(u32) -> Option<Vec<u8>> + Send>;
    type Check = fn(&Seen) -> bool;
    let attacks: Vec<(&str, bool, Batch, Check)> = vec![
        ("rapid reset", true, Box::new(rapid_reset()), |s| s.goaway(ENHANCE_YOUR_CALM) > 0),
        // Whether the server calls it abuse depends on how many resets
        // arrive before it accepts their streams; it must stay small.
        ("rapid reset, one stream per write", true, Box::new(rapid_reset_one_by_one()), |_| true),
        ("CONTINUATION flood", true, Box::new(continuation_flood()), |s| {
            s.goaway(ENHANCE_YOUR_CALM) + s.goaway(PROTOCOL_ERROR) + s.closed_bare == s.connections && s.responses == 0
        }),
        ("SETTINGS flood", true, Box::new(flood_of(SETTINGS, &[0, 3, 0, 0, 0, 100])), |s| s.settings_acks > 100),
        ("SETTINGS flood, never read", false, Box::new(flood_of(SETTINGS, &[0, 3, 0, 0, 0, 100])), |_| true),
        ("PING flood", true, Box::new(flood_of(PING, &[7; 8])), |s| s.ping_acks > 100),
        ("PING flood, never read", false, Box::new(flood_of(PING, &[7; 8])), |_| true),
        ("empty DATA flood", true, Box::new(empty_data_flood()), |s| s.goaway(ENHANCE_YOUR_CALM) > 0),
        ("WINDOW_UPDATE overflow, connection", true, Box::new(connection_window_overflow()), |s| {
            s.goaway(FLOW_CONTROL_ERROR) == s.connections
        }),
        ("WINDOW_UPDATE overflow, stream", true, Box::new(stream_window_overflow()), |s| {
            s.reset(FLOW_CONTROL_ERROR) == s.connections && s.responses >= s.connections
        }),
        ("HPACK table size update 2^30", true, Box::new(table_size_bomb()), |s| {
            // h2 calls every HPACK decoding error a PROTOCOL_ERROR.
            s.goaway(COMPRESSION_ERROR) + s.goaway(PROTOCOL_ERROR) == s.connections
        }),
        ("HPACK large indexed literals", true, Box::new(large_literals()), |s| s.responses > 0),
    ];
    let mut failures = Vec::new();
    for (name, read, batch, check) in attacks {
        let prober = Prober::start(&target);
        let seen = attack(addr, read, FLOOD, batch).await;
        let client = prober.check(name, baseline).await;
        let (rss, peak) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
        report.push(format!("{name}: {seen:?}; {client}; server VmRSS {rss} KiB, VmHWM {peak} KiB"));
        if !check(&seen) {
            failures.push(format!("{name}: the server's answers were not as expected: {seen:?}"));
        }
        if peak >= rss_before + 64 * 1024 {
            failures.push(format!("{name}: the server grew to {peak} KiB (from {rss_before} KiB)"));
        }
    }
    probe_once(&target).await;
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(server);
}

// ---- stalled connections ----------------------------------------------------------

/// How many stalled connections each test opens.
const STALLED: usize = 1000;

fn short_header_timeout() -> Config {
    let mut config = Config::default();
    config.header_timeout = Duration::from_secs(1);
    config
}

async fn hello(req: Request<Incoming>) -> Response<Body> {
    Response::new(Body::from(format!("hello {}", req.uri().path())))
}

/// Opens [`STALLED`] connections, each sending `first` and then, until it
/// is closed, `trickle` every 300 ms (nothing if empty); checks the
/// well-behaved client meanwhile, and that the header timeout closes
/// every stalled connection. Its report line.
async fn stall(target: Target, addr: SocketAddr, first: &'static [u8], trickle: &'static [u8]) -> String {
    let baseline = baseline(&target).await;
    let started = Instant::now();
    let stalled: Vec<_> = (0..STALLED)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(first).await.unwrap();
                let mut buf = [0; 1024];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => return Instant::now(),
                            Ok(_) => {}
                        },
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {
                            if !trickle.is_empty() && stream.write_all(trickle).await.is_err() {
                                return Instant::now();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let prober = Prober::start(&target);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let client = prober.check("stalled connections", baseline).await;
    let mut last_closed = started;
    let deadline = Duration::from_secs(10);
    for task in stalled {
        let closed = timeout(deadline, task).await.expect("the header timeout closed every stalled connection").unwrap();
        last_closed = last_closed.max(closed);
    }
    format!("{STALLED} stalled, all closed {:.1?} after the first opened (header timeout 1 s); {client}", last_closed - started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_five_byte_client_hellos_are_cut_by_the_header_timeout() {
    let ca = Ca::new("paf abuse CA");
    let tls = paf::tls::ServerTls::from_pem(ca.leaf_pem.as_bytes(), ca.leaf_key_pem.as_bytes()).unwrap();
    let service = paf::engine::alpn::service(paf::engine::alpn::Tls::new(tls.config()), service_fn(hello));
    let server = Server::serving(short_header_timeout(), service).await;
    let client = paf::tls::ClientTls::new().only_roots_pem(ca.pem.as_bytes()).unwrap().build();
    let target = Target::Tls(server.addr(), client);
    // The first five bytes of a ClientHello: a handshake record header.
    let report = stall(target, server.addr(), &[0x16, 0x03, 0x01, 0x02, 0x00], b"").await;
    println!("TLS: {report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_heads_are_cut_by_the_header_timeout() {
    let server = Server::serving(short_header_timeout(), service_fn(hello)).await;
    let target = Target::Clear(server.addr());
    let report = stall(target, server.addr(), b"GET / HTTP/1.1\r\nHost: localhost\r\n", b"X-a: b\r\n").await;
    println!("HTTP/1.1: {report}");
    server.stop().await;
}

// ---- clients that never read -------------------------------------------------------

/// Large responses asked for and never read, over HTTP/1.1 (one per
/// connection) and HTTP/2 (many streams per connection, with windows
/// opened wide so that only the server's own limits hold it back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_cost_bounded_memory_per_connection() {
    const H1: usize = 50;
    const H2: usize = 10;
    const STREAMS: u32 = 100;
    let (server, addr, target, baseline) = h2c_server().await;
    let pid = server.0.id();
    let rss_before = status_kib(pid, "VmRSS");
    let prober = Prober::start(&target);

    let mut h1 = Vec::new();
    for _ in 0..H1 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /bytes/1073741824 HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        h1.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_h1 = status_kib(pid, "VmRSS");

    let mut h2 = Vec::new();
    for _ in 0..H2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut out = PREFACE.to_vec();
        let mut settings = vec![0x00, 0x04]; // SETTINGS_INITIAL_WINDOW_SIZE
        settings.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        frame(&mut out, SETTINGS, 0, 0, &settings);
        frame(&mut out, WINDOW_UPDATE, 0, 0, &(0x7fff_ffffu32 - 65_535).to_be_bytes());
        for i in 0..STREAMS {
            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, &request_block(false, "/bytes/1073741824"));
        }
        stream.write_all(&out).await.unwrap();
        h2.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_h2 = status_kib(pid, "VmRSS");
    let client = prober.check("clients that never read", baseline).await;

    let per_h1 = rss_h1.saturating_sub(rss_before) / H1 as u64;
    let per_h2 = rss_h2.saturating_sub(rss_h1) / H2 as u64;
    println!(
        "never read: VmRSS {rss_before} KiB before, {rss_h1} KiB with {H1} HTTP/1.1 connections ({per_h1} KiB each), \
         {rss_h2} KiB with {H2} HTTP/2 connections of {STREAMS} streams more ({per_h2} KiB each); {client}"
    );
    // HTTP/1.1: the body buffer (64 KiB) and the read buffer (16 KiB) and
    // little else; HTTP/2: at most the send buffer (64 KiB) per stream.
    assert!(per_h1 < 1024, "{per_h1} KiB per HTTP/1.1 connection");
    assert!(per_h2 < u64::from(STREAMS) * 64 + 2048, "{per_h2} KiB per HTTP/2 connection");
    drop((h1, h2));
    probe_once(&target).await;
}

// ---- handlers that panic or never answer ---------------------------------------------

/// Counts the handlers that were dropped before they answered.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `/panic` panics, `/never` never answers (and counts its drop), any
/// other path is answered.
fn unruly(dropped: Arc<AtomicUsize>) -> impl paf::Handler {
    service_fn(move |req: Request<Incoming>| {
        let dropped = dropped.clone();
        async move {
            match req.uri().path() {
                "/panic" => panic!("the handler broke"),
                "/never" => {
                    let _guard = Dropped(dropped);
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                "/slow" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Response::new(Body::from("slow"))
                }
                path => Response::new(Body::from(format!("hello {path}"))),
            }
        }
    })
}

/// The other side of dropping a handler whose client closed: a client
/// that only half-closes (shuts its writing side, as `nc -N` does) still
/// gets an answer that comes within the body timeout.
#[tokio::test]
async fn a_half_closed_client_still_gets_a_slow_answer() {
    let server = Server::serving(Config::default(), unruly(Arc::default())).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    timeout(LIVENESS, stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("slow"), "{answer}");
    server.stop().await;
}

/// Beyond one panic (tests/engine.rs, tests/h2.rs): many panics and
/// handlers that never answer, over both protocols at once. Each panic is
/// a 500; a handler that never answers holds only its own request, and is
/// dropped when its client gives up (closes the connection, or resets
/// the stream); the server answers the well-behaved client throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_and_never_answering_handlers_cost_only_their_requests() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut config = Config::default();
    config.h2c = true;
    // How long a handler may think once its HTTP/1.1 client closed.
    config.body_timeout = Duration::from_secs(1);
    let server = Server::serving(config, unruly(dropped.clone())).await;
    let target = Target::Clear(server.addr());
    let baseline = baseline(&target).await;
    let prober = Prober::start(&target);

    // HTTP/1.1: fifty panics, each a 500 on its own connection.
    for _ in 0..50 {
        let answer = common::serving::raw_exchange(server.addr(), b"GET /panic HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    }
    // HTTP/2: fifty panics and fifty handlers that never answer on one
    // connection, which then still answers.
    let tcp = Flow::new(TcpStream::connect(server.addr()).await.unwrap());
    let mut h2 = paf::engine::h2::handshake(tcp, &Config::default(), &Tokio).await.unwrap();
    let get = |path: &str| Request::get(format!("http://localhost{path}")).body(Body::empty()).unwrap();
    let mut panics = Vec::new();
    let mut nevers = Vec::new();
    for _ in 0..50 {
        let mut sender = h2.clone();
        let request = get("/panic");
        panics.push(tokio::spawn(async move { sender.send(request).await }));
        let mut sender = h2.clone();
        let request = get("/never");
        nevers.push(tokio::spawn(async move { sender.send(request).await }));
    }
    for panic in panics {
        let response = timeout(LIVENESS, panic).await.unwrap().unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(nevers.iter().all(|never| !never.is_finished()), "a handler that never answers is not answered for");
    let response = timeout(LIVENESS, h2.send(get("/after"))).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the connection lives on");
    // The client gives up: its streams are reset, their handlers dropped.
    for never in &nevers {
        never.abort();
    }
    // HTTP/1.1: ten handlers that never answer, whose clients give up
    // and close.
    for _ in 0..10 {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(b"GET /never HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buf = [0; 64];
        assert!(timeout(Duration::from_millis(200), stream.read(&mut buf)).await.is_err(), "no answer");
    }
    let client = prober.check("panicking and never-answering handlers", baseline).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped.load(Ordering::SeqCst) < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("handlers: 50 + 50 panics answered 500, {} of 60 never-answering handlers dropped once their clients gave up; {client}", dropped.load(Ordering::SeqCst));
    assert_eq!(dropped.load(Ordering::SeqCst), 60, "every handler whose client gave up was dropped");
    drop(h2);
    server.stop().await;
}
