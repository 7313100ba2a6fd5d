//! Abuse: what a public server meets from peers that mean harm, each while
//! a well-behaved client keeps being answered, on every runtime paf serves
//! on (issue 25, items 4 and 6): the native `paf serve`, `paf.wasm serve`
//! in wasmtime and the npm package's server in Node, each serving the
//! httpbin handler with `--h2c` in a process of its own, so that its
//! memory (VmRSS, VmHWM in `/proc/PID/status`: `paf`'s, `wasmtime`'s,
//! `node`'s) is its own. Each attack is one function of the runtime
//! ([`Subject`]); [`every_attack`] runs them all in turn and prints one
//! table per runtime. The wasm and Node runs are ignored like
//! `tests/conformance.rs`'s: `scripts/test-wasi` runs them.
//!
//! * HTTP/2 floods, written as raw frames over TCP by a small encoder in
//!   this file (frames, and HPACK's indexed and literal fields): rapid
//!   reset (CVE-2023-44487), CONTINUATION flood, SETTINGS, PING and empty
//!   DATA floods, WINDOW_UPDATE overflow, an HPACK table-size bomb. Each
//!   lasts [`FLOOD`] on every runtime.
//! * 1 000 slowloris heads and (natively: the others have no TLS
//!   listener) 1 000 connections that send five bytes of a TLS
//!   ClientHello and stop: cut by the header timeout.
//! * Clients that never read the large responses they asked for: memory
//!   per connection stays bounded.
//! * Handlers that never answer (httpbin's `/delay/60000`) whose clients
//!   give up, over both protocols: the connection and the server live on;
//!   a half-closed client still gets its (slow) answer. Natively, on an
//!   in-process server, handlers that panic (a 500) and handlers that
//!   never answer, counted as they are dropped: httpbin has no endpoint
//!   that panics, and a panic aborts a wasm instance.
//!
//! Counts are divided by [`Runtime::slowdown`] on the slower runtimes;
//! the bounds are not. Latency is asserted only relative to the same
//! client's baseline measured in the same run: during an attack its
//! median stays under `max(10 × baseline median, 100 ms)` and every answer
//! comes within [`LIVENESS`]. Throughput is never asserted.

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
use common::runtime::{on_every_runtime, Httpbin, Runtime, Table};
use common::serving::Server;
use common::{scratch_dir, Ca};

/// The longest any single answer to the well-behaved client may take.
const LIVENESS: Duration = Duration::from_secs(3);
/// The floor of the latency bound, for noise on a busy machine (50 ms
/// failed once at 54 ms, load average 9, with 1 000 stalled TLS handshakes
/// closed at once by the header timeout; a starved server takes seconds).
const FLOOR: Duration = Duration::from_millis(100);
/// How much a server may grow during the HTTP/2 floods, which come first
/// (VmHWM over the VmRSS it started with): 64 MiB, and in Node 96 MiB.
/// Node's process grows with V8's heap, which its collector sizes:
/// measured over three rounds of the floods, 60 → 105 → 116 → 125 MB,
/// the floods that allocate most (rapid reset, CONTINUATION, HPACK) adding
/// or freeing up to 10 MB each round and the others nothing (natively the
/// floods cost under 6 MB, in wasmtime under 4 MB).
fn growth_kib(runtime: Runtime) -> u64 {
    match runtime {
        Runtime::Native | Runtime::Component => 64 * 1024,
        Runtime::Node => 96 * 1024,
    }
}

on_every_runtime!(every_attack);

/// Every attack against `runtime`, in turn, on one server (and natively
/// a TLS one and an in-process one); prints the table, then fails if any
/// attack did.
async fn every_attack(runtime: Runtime) {
    let subject = Subject::start(runtime).await;
    let mut rows = http2_floods(&subject).await;
    rows.push(slowloris(&subject).await);
    rows.push(clients_that_never_read(&subject).await);
    rows.push(abandoned_handlers(&subject).await);
    rows.push(a_half_closed_client(&subject).await);
    rows.push(five_byte_client_hellos(runtime).await);
    rows.push(panicking_and_never_answering_handlers(runtime).await);
    if let Err(why) = probe_once(&subject.target).await {
        rows.push(Row::failed("after every attack", why));
    }
    let (start, peak) = (subject.rss_start, subject.server.peak_kib());

    let title = format!(
        "abuse, {}: counts ÷{}; VmRSS {start} KiB at the start, VmHWM {peak} KiB at the end; client latency bound max(10 × baseline, {FLOOR:?})",
        runtime.name(),
        runtime.slowdown()
    );
    let mut table = Table::new(title, &["attack", "what the server did", "client p50: baseline → during (max, answers)", "RSS KiB before → after", "pass"]);
    let mut failures = Vec::new();
    for row in rows {
        if let Verdict::Failed(why) = &row.verdict {
            failures.push(format!("{}: {why}", row.attack));
        }
        table.push(row.cells());
    }
    println!("{table}");
    assert!(failures.is_empty(), "on {}:\n{}", runtime.name(), failures.join("\n"));
}

// ---- the table's rows -------------------------------------------------------------

/// How one attack went.
enum Verdict {
    Passed,
    Failed(String),
    /// The attack needs what this runtime does not have: why.
    NotApplicable(&'static str),
}

/// One attack: a row of its runtime's table.
struct Row {
    attack: String,
    did: String,
    latency: String,
    rss: String,
    verdict: Verdict,
}

impl Row {
    /// An attack that was run: it passed unless something in `failures`.
    fn new(attack: &str, did: String, latency: &Latency, rss: String, mut failures: Vec<String>) -> Row {
        failures.extend(latency.failure.clone());
        let verdict = match failures.is_empty() {
            true => Verdict::Passed,
            false => Verdict::Failed(failures.join("; ")),
        };
        Row { attack: attack.into(), did, latency: latency.to_string(), rss, verdict }
    }

    fn not_applicable(attack: &str, why: &'static str) -> Row {
        let none = || "—".to_string();
        Row { attack: attack.into(), did: none(), latency: none(), rss: none(), verdict: Verdict::NotApplicable(why) }
    }

    fn failed(attack: &str, why: String) -> Row {
        let none = || "—".to_string();
        Row { attack: attack.into(), did: none(), latency: none(), rss: none(), verdict: Verdict::Failed(why) }
    }

    fn cells(self) -> Vec<String> {
        let verdict = match self.verdict {
            Verdict::Passed => "pass".to_string(),
            Verdict::Failed(why) => format!("FAIL: {why}"),
            Verdict::NotApplicable(why) => format!("n/a ({why})"),
        };
        vec![self.attack, self.did, self.latency, self.rss, verdict]
    }
}

/// "before → after" of a server's VmRSS.
fn rss_cell(before: u64, after: u64) -> String {
    format!("{before} → {after}")
}

// ---- the server under attack ----------------------------------------------------

/// A runtime's httpbin (`--h2c`), the well-behaved client's way to it,
/// and that client's baseline.
struct Subject {
    runtime: Runtime,
    server: Httpbin,
    addr: SocketAddr,
    target: Target,
    baseline: Duration,
    rss_start: u64,
}

impl Subject {
    async fn start(runtime: Runtime) -> Subject {
        let server = runtime.httpbin(&["--h2c"]);
        let addr = server.addr;
        let target = Target::Clear(addr);
        let baseline = baseline(&target).await;
        let rss_start = server.rss_kib();
        Subject { runtime, server, addr, target, baseline, rss_start }
    }
}

// ---- the well-behaved client ------------------------------------------------

/// How the well-behaved client reaches the server.
#[derive(Clone)]
enum Target {
    Clear(SocketAddr),
    Tls(SocketAddr, Arc<paf::tls::ClientConfig>),
}

/// One request on a fresh connection (so the accept loop is measured
/// too): `GET /` over HTTP/1.1 (over TLS, what ALPN chose), answered 200
/// within [`LIVENESS`]; or why not.
async fn probe_once(target: &Target) -> Result<Duration, String> {
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
            let answer = timeout(LIVENESS, exchange).await.map_err(|_| format!("not answered within {LIVENESS:?}"))?;
            let answer = answer.map_err(|err| format!("the exchange failed: {err}"))?;
            if !answer.starts_with(b"HTTP/1.1 200") {
                return Err(format!("answered {:?}", String::from_utf8_lossy(&answer[..answer.len().min(200)])));
            }
        }
        Target::Tls(addr, config) => {
            let exchange = async {
                let tcp = Flow::new(TcpStream::connect(addr).await.map_err(paf::Error::from)?);
                let flow = paf::tls::client_of_flow(config.clone(), "localhost", tcp).await?;
                let protocol = paf::engine::alpn::Protocol::of_flow(&flow);
                let request = Request::get(format!("https://localhost:{}/", addr.port())).body(Body::empty()).unwrap();
                paf::engine::alpn::run(protocol, request, flow, &Config::default(), &Tokio).await
            };
            let response = timeout(LIVENESS, exchange).await.map_err(|_| format!("not answered within {LIVENESS:?}"))?;
            let response = response.map_err(|err| format!("the exchange failed: {err}"))?;
            if response.status() != StatusCode::OK {
                return Err(format!("answered {}", response.status()));
            }
        }
    }
    Ok(start.elapsed())
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
        samples.push(probe_once(target).await.unwrap_or_else(|why| panic!("the baseline: {why}")));
    }
    percentile(&samples, 50)
}

/// The well-behaved client, asking again and again while an attack runs.
struct Prober {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<Duration>, Vec<String>)>,
    baseline: Duration,
}

/// What the well-behaved client saw during an attack.
struct Latency {
    baseline: Duration,
    p50: Duration,
    max: Duration,
    answers: usize,
    /// Unanswered probes, or a median over the bound.
    failure: Option<String>,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1?} → {:.1?} ({:.1?}, {})", self.baseline, self.p50, self.max, self.answers)
    }
}

impl Prober {
    fn start(target: &Target, baseline: Duration) -> Prober {
        let target = target.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut samples, mut failures) = (Vec::new(), Vec::new());
            while !flag.load(Ordering::Relaxed) || samples.len() + failures.len() < 5 {
                match probe_once(&target).await {
                    Ok(took) => samples.push(took),
                    Err(why) => failures.push(why),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (samples, failures)
        });
        Prober { stop, task, baseline }
    }

    /// Stops probing; what the client saw, failed if any probe was not
    /// answered or the median exceeds the bound.
    async fn stop(self) -> Latency {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, failures) = self.task.await.expect("the prober does not panic");
        let baseline = self.baseline;
        let bound = (baseline * 10).max(FLOOR);
        let (p50, max) = match samples.is_empty() {
            true => (Duration::MAX, Duration::MAX),
            false => (percentile(&samples, 50), percentile(&samples, 100)),
        };
        let failure = if !failures.is_empty() {
            Some(format!("{} of the well-behaved client's requests failed, first: {}", failures.len(), failures[0]))
        } else if p50 > bound {
            Some(format!("the well-behaved client's median latency {p50:?} exceeds {bound:?} (baseline {baseline:?})"))
        } else {
            None
        };
        Latency { baseline, p50, max, answers: samples.len(), failure }
    }
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

    /// What the server did, for a table: the counts that are not zero.
    fn summary(&self) -> String {
        let name = |code: &u32| match *code {
            PROTOCOL_ERROR => "PROTOCOL_ERROR".to_string(),
            FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR".to_string(),
            CANCEL => "CANCEL".to_string(),
            COMPRESSION_ERROR => "COMPRESSION_ERROR".to_string(),
            ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM".to_string(),
            code => format!("error {code:#x}"),
        };
        let mut parts = vec![format!("{} connections", self.connections)];
        parts.extend(self.goaways.iter().map(|(code, n)| format!("GOAWAY {} ×{n}", name(code))));
        parts.extend(self.resets.iter().map(|(code, n)| format!("RST_STREAM {} ×{n}", name(code))));
        let counts = [
            (self.settings_acks, "SETTINGS acks"),
            (self.ping_acks, "PING acks"),
            (self.responses, "responses"),
            (self.closed_bare, "closed without GOAWAY"),
        ];
        parts.extend(counts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")));
        parts.join(", ")
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

/// Every HTTP/2 flood in turn, each for [`FLOOD`], with what the server
/// must have said to it.
async fn http2_floods(subject: &Subject) -> Vec<Row> {
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
    let mut rows = Vec::new();
    for (name, read, batch, check) in attacks {
        let before = subject.server.rss_kib();
        let prober = Prober::start(&subject.target, subject.baseline);
        let seen = attack(subject.addr, read, FLOOD, batch).await;
        let latency = prober.stop().await;
        let (after, peak) = (subject.server.rss_kib(), subject.server.peak_kib());
        let mut failures = Vec::new();
        if !check(&seen) {
            failures.push(format!("the server's answers were not as expected: {seen:?}"));
        }
        if peak >= subject.rss_start + growth_kib(subject.runtime) {
            failures.push(format!("the server grew to {peak} KiB (from {} KiB)", subject.rss_start));
        }
        rows.push(Row::new(name, seen.summary(), &latency, rss_cell(before, after), failures));
    }
    rows
}

// ---- stalled connections ----------------------------------------------------------

/// How many stalled connections each attack opens, natively.
const STALLED: usize = 1000;
/// The servers' header timeout (`Config::header_timeout`'s default: none
/// of the three `serve` commands changes it).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `count` connections to `addr`, each sending `first` and then,
/// until it is closed, `trickle` every 300 ms (nothing if empty); checks
/// the well-behaved client meanwhile, and that the header timeout closes
/// every stalled connection, neither before it nor long after.
async fn stall(
    attack: &str,
    server: &Httpbin,
    target: &Target,
    count: usize,
    first: &'static [u8],
    trickle: &'static [u8],
) -> Row {
    let addr = server.addr;
    let baseline = baseline(target).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let stalled: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                stream.write_all(first).await?;
                let mut buf = [0; 1024];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => return Ok(Instant::now()),
                            Ok(_) => {}
                        },
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {
                            if !trickle.is_empty() && stream.write_all(trickle).await.is_err() {
                                return Ok(Instant::now());
                            }
                        }
                    }
                }
            })
        })
        .collect::<Vec<tokio::task::JoinHandle<std::io::Result<Instant>>>>();
    let prober = Prober::start(target, baseline);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let latency = prober.stop().await;
    let mut during = server.rss_kib();
    let deadline = tokio::time::Instant::from_std(started + HEADER_TIMEOUT * 2);
    let (mut first_closed, mut last_closed, mut open, mut refused) = (None::<Instant>, started, 0, 0);
    for task in stalled {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(closed))) => {
                first_closed = Some(first_closed.map_or(closed, |first| first.min(closed)));
                last_closed = last_closed.max(closed);
            }
            Ok(Ok(Err(_))) => refused += 1,
            Ok(Err(panicked)) => panic!("{panicked}"),
            Err(_) => open += 1,
        }
        during = during.max(server.rss_kib());
    }
    let after = server.rss_kib();
    let first_closed = first_closed.map_or(Duration::ZERO, |first| first - started);
    let mut failures = Vec::new();
    if open > 0 {
        failures.push(format!("{open} of {count} stalled connections still open {:?} after the first opened", HEADER_TIMEOUT * 2));
    }
    if refused > 0 {
        failures.push(format!("{refused} of {count} connections refused or reset before they stalled"));
    }
    if first_closed < HEADER_TIMEOUT - Duration::from_millis(500) {
        failures.push(format!("a stalled connection was closed after {first_closed:?}, before the header timeout"));
    }
    let did = format!(
        "{count} stalled, closed {first_closed:.1?} to {:.1?} after the first opened (header timeout {HEADER_TIMEOUT:?})",
        last_closed - started
    );
    Row::new(attack, did, &latency, format!("{before} → {during} → {after}"), failures)
}

/// 1 000 slowloris heads (÷ the runtime's slowdown), trickling a field
/// every 300 ms.
async fn slowloris(subject: &Subject) -> Row {
    let count = subject.runtime.reduced(STALLED);
    let first = b"GET / HTTP/1.1\r\nHost: localhost\r\n";
    stall("slowloris heads", &subject.server, &subject.target, count, first, b"X-a: b\r\n").await
}

/// 1 000 connections that send the first five bytes of a TLS ClientHello
/// (a handshake record header) and stop (OCaml paf #60): natively, on
/// `paf serve --tls-cert`.
async fn five_byte_client_hellos(runtime: Runtime) -> Row {
    const ATTACK: &str = "five-byte TLS ClientHellos";
    let ca = Ca::new("paf abuse CA");
    let dir = scratch_dir("abuse-tls");
    let (_, cert, key) = ca.write(&dir);
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let Some(server) = runtime.native_only(&["--tls-cert", cert, "--tls-key", key]) else {
        return Row::not_applicable(ATTACK, "no TLS listener: TLS in wasmtime and Node is the host's, not this server's");
    };
    let client = paf::tls::ClientTls::new().only_roots_pem(ca.pem.as_bytes()).unwrap().build();
    let target = Target::Tls(server.addr, client);
    let row = stall(ATTACK, &server, &target, runtime.reduced(STALLED), &[0x16, 0x03, 0x01, 0x02, 0x00], b"").await;
    let _ = std::fs::remove_dir_all(dir);
    row
}

// ---- clients that never read -------------------------------------------------------

/// Large responses asked for and never read, over HTTP/1.1 (one per
/// connection) and HTTP/2 (many streams per connection, with windows
/// opened wide so that only the server's own limits hold it back).
async fn clients_that_never_read(subject: &Subject) -> Row {
    let h1_count = subject.runtime.reduced(50);
    let h2_count = subject.runtime.reduced(10);
    const STREAMS: u32 = 100;
    let (addr, server) = (subject.addr, &subject.server);
    let before = server.rss_kib();
    let prober = Prober::start(&subject.target, subject.baseline);

    let mut h1 = Vec::new();
    for _ in 0..h1_count {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /bytes/1073741824 HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        h1.push(stream);
    }
    let with_h1 = settled_rss(server).await;

    let mut h2 = Vec::new();
    for _ in 0..h2_count {
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
    let with_h2 = settled_rss(server).await;
    let latency = prober.stop().await;
    drop((h1, h2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();

    let per_h1 = with_h1.saturating_sub(before) / h1_count as u64;
    let per_h2 = with_h2.saturating_sub(with_h1) / h2_count as u64;
    let did = format!(
        "{h1_count} HTTP/1.1 connections: {per_h1} KiB each; {h2_count} HTTP/2 connections of {STREAMS} streams: {per_h2} KiB each"
    );
    // HTTP/1.1: the body buffer (64 KiB) and the read buffer (16 KiB) and
    // little else; HTTP/2: at most the send buffer (64 KiB) per stream.
    // Node's RSS moves with V8's heap, which its collector sizes: over
    // only 12 connections that noise came to 1 085 KiB each in one run
    // (22 KiB in another), so Node is allowed 4 MiB each there; a body
    // buffered without back-pressure would be the gigabyte asked for.
    let per_h1_bound = match subject.runtime {
        Runtime::Node => 4 * 1024,
        Runtime::Native | Runtime::Component => 1024,
    };
    let mut failures = Vec::new();
    if per_h1 >= per_h1_bound {
        failures.push(format!("{per_h1} KiB per HTTP/1.1 connection"));
    }
    if per_h2 >= u64::from(STREAMS) * 64 + 2048 {
        failures.push(format!("{per_h2} KiB per HTTP/2 connection"));
    }
    Row::new("clients that never read", did, &latency, format!("{before} → {with_h1} → {with_h2} → {after}"), failures)
}

/// The server's VmRSS once it has stopped growing (by 64 KiB in 250 ms),
/// or after 8 s: the slower runtimes take longer to fill their buffers.
async fn settled_rss(server: &Httpbin) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut rss = server.rss_kib();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = server.rss_kib();
        if now < rss + 64 || Instant::now() > deadline {
            return now.max(rss);
        }
        rss = now;
    }
}

// ---- handlers that never answer ----------------------------------------------

/// Handlers that do not answer for a minute (`/delay/60000`) whose
/// clients give up: fifty HTTP/2 streams on one connection, which answers
/// another request meanwhile, then reset; ten HTTP/1.1 connections,
/// closed. The server answers throughout and does not grow.
async fn abandoned_handlers(subject: &Subject) -> Row {
    let streams = subject.runtime.reduced(50);
    let connections = subject.runtime.reduced(10);
    let before = subject.server.rss_kib();
    let prober = Prober::start(&subject.target, subject.baseline);
    let mut failures = Vec::new();

    let tcp = Flow::new(TcpStream::connect(subject.addr).await.unwrap());
    let mut h2 = paf::engine::h2::handshake(tcp, &Config::default(), &Tokio).await.unwrap();
    let get = |path: &str| Request::get(format!("http://localhost{path}")).body(Body::empty()).unwrap();
    let mut waiting = Vec::new();
    for _ in 0..streams {
        let (mut sender, request) = (h2.clone(), get("/delay/60000"));
        waiting.push(tokio::spawn(async move { sender.send(request).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answered = waiting.iter().filter(|stream| stream.is_finished()).count();
    if answered > 0 {
        failures.push(format!("{answered} of {streams} delayed streams answered (or failed) early"));
    }
    match timeout(LIVENESS, h2.send(get("/"))).await {
        Ok(Ok(response)) if response.status() == StatusCode::OK => {}
        other => failures.push(format!("the connection did not answer beside the delayed streams: {other:?}")),
    }
    // The client gives up: its streams are reset.
    for stream in &waiting {
        stream.abort();
    }
    for _ in 0..connections {
        let mut stream = TcpStream::connect(subject.addr).await.unwrap();
        stream.write_all(b"GET /delay/60000 HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buf = [0; 64];
        if timeout(Duration::from_millis(200), stream.read(&mut buf)).await.is_ok() {
            failures.push("a delayed HTTP/1.1 request was answered (or closed) early".into());
        }
    }
    match timeout(LIVENESS, h2.send(get("/"))).await {
        Ok(Ok(response)) if response.status() == StatusCode::OK => {}
        other => failures.push(format!("the connection did not answer after its streams were reset: {other:?}")),
    }
    let latency = prober.stop().await;
    drop(h2);
    let after = subject.server.rss_kib();
    let did = format!("{streams} HTTP/2 streams held, the connection answering beside them, then reset; {connections} HTTP/1.1 connections closed");
    Row::new("handlers that never answer (/delay/60000), abandoned", did, &latency, rss_cell(before, after), failures)
}

/// The other side of dropping a handler whose client closed: a client
/// that only half-closes (shuts its writing side, as `nc -N` does) still
/// gets an answer that comes within the body timeout.
async fn a_half_closed_client(subject: &Subject) -> Row {
    let before = subject.server.rss_kib();
    let prober = Prober::start(&subject.target, subject.baseline);
    let mut stream = TcpStream::connect(subject.addr).await.unwrap();
    stream.write_all(b"GET /delay/300 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let read = timeout(LIVENESS, stream.read_to_end(&mut answer)).await;
    let latency = prober.stop().await;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or("nothing").to_string();
    let mut failures = Vec::new();
    if !matches!(read, Ok(Ok(_))) || !answer.starts_with("HTTP/1.1 200") {
        failures.push(format!("answered {answer:?} ({read:?})"));
    }
    let after = subject.server.rss_kib();
    Row::new("a half-closed client, slow answer (/delay/300)", format!("answered {status}"), &latency, rss_cell(before, after), failures)
}

// ---- handlers that panic or never answer, in process -----------------------------

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
                path => Response::new(Body::from(format!("hello {path}"))),
            }
        }
    })
}

/// Beyond one panic (tests/engine.rs, tests/h2.rs): many panics and
/// handlers that never answer, over both protocols at once, on an
/// in-process server (natively only: httpbin has no endpoint that panics
/// or never answers, and a panic aborts a wasm instance). Each panic is a
/// 500; a handler that never answers holds only its own request, and is
/// dropped when its client gives up (closes the connection, or resets
/// the stream); the server answers the well-behaved client throughout.
async fn panicking_and_never_answering_handlers(runtime: Runtime) -> Row {
    const ATTACK: &str = "handlers that panic or never answer (in process)";
    if runtime != Runtime::Native {
        return Row::not_applicable(
            ATTACK,
            "httpbin has no endpoint that panics or never answers, and a panic aborts a wasm instance; see the /delay row",
        );
    }
    // The panics are on purpose: not a backtrace each in the output.
    let report = Arc::new(std::panic::take_hook());
    let others = report.clone();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"the handler broke") {
            others(info);
        }
    }));
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut config = Config::default();
    config.h2c = true;
    // How long a handler may think once its HTTP/1.1 client closed.
    config.body_timeout = Duration::from_secs(1);
    let server = Server::serving(config, unruly(dropped.clone())).await;
    let target = Target::Clear(server.addr());
    let baseline = baseline(&target).await;
    let prober = Prober::start(&target, baseline);
    let mut failures = Vec::new();

    // HTTP/1.1: fifty panics, each a 500 on its own connection.
    for _ in 0..50 {
        let answer = common::serving::raw_exchange(server.addr(), b"GET /panic HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        if !answer.starts_with("HTTP/1.1 500") {
            failures.push(format!("a panic answered {answer:?}"));
        }
    }
    // HTTP/2: fifty panics and fifty handlers that never answer on one
    // connection, which then still answers.
    let tcp = Flow::new(TcpStream::connect(server.addr()).await.unwrap());
    let mut h2 = paf::engine::h2::handshake(tcp, &Config::default(), &Tokio).await.unwrap();
    let get = |path: &str| Request::get(format!("http://localhost{path}")).body(Body::empty()).unwrap();
    let mut panics = Vec::new();
    let mut nevers = Vec::new();
    for _ in 0..50 {
        let (mut sender, request) = (h2.clone(), get("/panic"));
        panics.push(tokio::spawn(async move { sender.send(request).await }));
        let (mut sender, request) = (h2.clone(), get("/never"));
        nevers.push(tokio::spawn(async move { sender.send(request).await }));
    }
    for panic in panics {
        match timeout(LIVENESS, panic).await {
            Ok(Ok(Ok(response))) if response.status() == StatusCode::INTERNAL_SERVER_ERROR => {}
            other => failures.push(format!("a panic over HTTP/2: {other:?}")),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if !nevers.iter().all(|never| !never.is_finished()) {
        failures.push("a handler that never answers was answered for".into());
    }
    match timeout(LIVENESS, h2.send(get("/after"))).await {
        Ok(Ok(response)) if response.status() == StatusCode::OK => {}
        other => failures.push(format!("the connection did not live on: {other:?}")),
    }
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
        if timeout(Duration::from_millis(200), stream.read(&mut buf)).await.is_ok() {
            failures.push("a handler that never answers: the connection was answered or closed".into());
        }
    }
    let latency = prober.stop().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped.load(Ordering::SeqCst) < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = dropped.load(Ordering::SeqCst);
    if dropped != 60 {
        failures.push(format!("{dropped} of 60 handlers whose clients gave up were dropped"));
    }
    drop(h2);
    server.stop().await;
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| report(info)));
    let did = format!("50 + 50 panics answered 500; {dropped} of 60 never-answering handlers dropped once their clients gave up");
    Row::new(ATTACK, did, &latency, "— (the test's own process)".into(), failures)
}
