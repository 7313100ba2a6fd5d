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

use paf::rt::native::{TcpListener, Tokio};
use paf::{service_fn, Body, Config, Incoming, Request, Response, StatusCode, Switch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::serving::Server;
use common::{free_port, native_server, Ca, Process};

/// The longest any single answer to the well-behaved client may take.
const LIVENESS: Duration = Duration::from_secs(3);
/// The floor of the latency bound, for noise on a busy machine.
const FLOOR: Duration = Duration::from_millis(50);
const MIB: u64 = 1024 * 1024;

// ---- the well-behaved client ------------------------------------------------

/// One request on a fresh connection (so the accept loop is measured
/// too): `GET /` over HTTP/1.1, answered 200 within [`LIVENESS`].
async fn probe_once(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = timeout(LIVENESS, exchange).await.expect("the well-behaved client is answered in time").unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    start.elapsed()
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * p / 100]
}

/// The median of 30 probes, before any attack.
async fn baseline(addr: SocketAddr) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..30 {
        samples.push(probe_once(addr).await);
    }
    percentile(&samples, 50)
}

/// The well-behaved client, asking again and again while an attack runs.
struct Prober {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Prober {
    fn start(addr: SocketAddr) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) || samples.len() < 5 {
                samples.push(probe_once(addr).await);
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
    let port = free_port();
    let server = native_server(port, &["--h2c"]);
    let pid = server.0.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let baseline = baseline(addr).await;
    let rss_before = status_kib(pid, "VmRSS");
    let mut report = vec![format!("paf serve --h2c: VmRSS {rss_before} KiB before the attacks")];

    type Check = fn(&Seen) -> bool;
    let attacks: Vec<(&str, bool, Box<dyn FnMut(u32) -> Option<Vec<u8>> + Send>, Check)> = vec![
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
        let prober = Prober::start(addr);
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
    probe_once(addr).await;
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(server);
}
