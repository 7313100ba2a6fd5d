//! `paf bench` against a `paf serve` started here, a port nobody listens
//! on, and a server answering 500: the JSON report is coherent, and every
//! failed request is counted and makes the exit status non-zero. Then
//! HTTPS (h2 by ALPN, or HTTP/1.1), and a reduced soak: a mix of h1, h2c
//! and h2 connections posting bodies to `/echo`, after which the server's
//! file descriptors and memory are back where they were (`scripts/soak`
//! is the full one); and the same soak, clear text (h1 and h2c), against
//! every runtime's httpbin (`common::runtime`: native, wasmtime, Node).
//!
//! Small request counts and no assertion on time: speed is measured by
//! `scripts/bench`, never here. Every process is killed when its guard
//! drops, and every wait is bounded.

mod common;

use common::runtime::{on_every_runtime, Runtime, Table};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const PAF: &str = env!("CARGO_BIN_EXE_paf");
/// How long a `paf` process may take to start, or to finish a bench.
const PROCESS_LIMIT: Duration = Duration::from_secs(60);

/// A running `paf serve --port 0`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// `paf serve --port 0` with `extra` arguments.
    fn start_with(extra: &[&str]) -> Server {
        let mut child = Command::new(PAF)
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {PAF}: {err}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
            if let Some(line) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining, so that the server never blocks on stderr.
            lines.for_each(drop);
        });
        let line = rx.recv_timeout(PROCESS_LIMIT).expect("paf serve printed its address");
        let base = line
            .strip_prefix("paf: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line of paf serve: {line:?}"))
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `paf bench ARGS` to its end (killed past the limit).
fn bench(args: &[&str]) -> Outcome {
    let mut child = Command::new(PAF)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {PAF}: {err}"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + PROCESS_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for paf bench") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("paf bench {args:?} did not finish within {PROCESS_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Outcome { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn json_report(outcome: &Outcome) -> Json {
    Json::parse(outcome.stdout.trim())
        .unwrap_or_else(|why| panic!("not one JSON object ({why}): {:?}\nstderr: {}", outcome.stdout, outcome.stderr))
}

#[test]
fn a_healthy_server_gets_every_request_answered() {
    let server = Server::start();
    let url = format!("{}/", server.base);
    let outcome = bench(&[&url, "-c", "4", "-n", "200", "--json"]);
    let report = json_report(&outcome);
    assert!(outcome.status.success(), "exit status {:?}, stderr {}", outcome.status, outcome.stderr);
    assert_eq!(report["requests"].number(), 200.0);
    assert_eq!(report["succeeded"].number(), 200.0);
    assert_eq!(report["failed"].number(), 0.0);
    assert_eq!(report["connections"].number(), 4.0);
    assert_eq!(report["protocol"].string(), "HTTP/1.1");
    assert_eq!(report["statuses"]["200"].number(), 200.0);
    assert!(report["errors"].object().is_empty());
    assert!(report["requests_per_s"].number() > 0.0);
    assert!(report["body_bytes"].number() > 0.0);

    let latency = &report["latency_us"];
    assert_eq!(latency["count"].number(), 200.0);
    let ladder: Vec<f64> = ["min", "p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|name| latency[name].number())
        .collect();
    assert!(ladder.windows(2).all(|w| w[0] <= w[1]), "percentiles out of order: {ladder:?}");
    assert!(ladder[0] >= 1.0);
    let mean = latency["mean"].number();
    assert!(ladder[0] <= mean && mean <= ladder[5], "mean {mean} outside {ladder:?}");
    let quantiles: Vec<(f64, f64)> = latency["quantiles"]
        .array()
        .iter()
        .map(|pair| (pair.array()[0].number(), pair.array()[1].number()))
        .collect();
    assert!(quantiles.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{quantiles:?}");

    let histogram = report["histogram"].array();
    let counted: f64 = histogram.iter().map(|row| row["count"].number()).sum();
    assert_eq!(counted, 200.0, "every answer is in one histogram row");
    let bounds: Vec<f64> = histogram.iter().map(|row| row["le_us"].number()).collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]));
    assert!(*bounds.last().unwrap() >= ladder[5], "the last row holds the slowest answer");
}

#[test]
fn the_text_report_shows_throughput_percentiles_and_a_histogram() {
    let server = Server::start();
    let url = format!("{}/", server.base);
    let outcome = bench(&[&url, "-c", "2", "-n", "50", "-X", "POST", "-d", "ping"]);
    // /  answers only GET and HEAD: every POST is a 405, counted as failed.
    assert!(!outcome.status.success());
    for needle in ["50 requests to", "requests/s", "failed         50", "405  50  (failed)", "p99.9", "Histogram:"] {
        assert!(outcome.stdout.contains(needle), "{needle:?} missing from:\n{}", outcome.stdout);
    }
}

#[test]
fn a_closed_port_fails_every_request() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let outcome = bench(&[&url, "-c", "3", "-n", "30", "--json"]);
    let report = json_report(&outcome);
    assert_eq!(outcome.status.code(), Some(1), "stderr: {}", outcome.stderr);
    assert_eq!(report["requests"].number(), 30.0);
    assert_eq!(report["failed"].number(), 30.0);
    assert_eq!(report["succeeded"].number(), 0.0);
    assert_eq!(report["errors"]["connect refused"].number(), 30.0);
    assert_eq!(report["latency_us"]["count"].number(), 0.0);

    let h2 = json_report(&bench(&[&url, "--h2", "--streams", "3", "-c", "2", "-n", "12", "--json"]));
    assert_eq!(h2["protocol"].string(), "HTTP/2 (h2c)");
    assert_eq!(h2["streams"].number(), 3.0);
    assert_eq!(h2["errors"]["connect refused"].number(), 12.0);

    let text = bench(&[&url, "-c", "1", "-n", "5"]);
    assert_eq!(text.status.code(), Some(1));
    assert!(text.stdout.contains("connect refused    5"), "{}", text.stdout);
}

#[test]
fn a_server_answering_500_fails_every_request() {
    let server = Server::start();
    let url = format!("{}/status/500", server.base);
    let outcome = bench(&[&url, "-c", "2", "-n", "40", "--json"]);
    let report = json_report(&outcome);
    assert_eq!(outcome.status.code(), Some(1), "stderr: {}", outcome.stderr);
    assert_eq!(report["requests"].number(), 40.0);
    assert_eq!(report["failed"].number(), 40.0);
    assert_eq!(report["statuses"]["500"].number(), 40.0);
    assert!(report["errors"].object().is_empty());
    // Answered, so timed: a 500 is a failure, not a lost request.
    assert_eq!(report["latency_us"]["count"].number(), 40.0);
}

#[test]
fn a_bad_url_is_one_readable_line() {
    let outcome = bench(&["ftp://example.com/", "-n", "1"]);
    assert_eq!(outcome.status.code(), Some(1));
    assert_eq!(outcome.stderr.trim().lines().count(), 1, "{}", outcome.stderr);
    assert!(outcome.stderr.starts_with("paf: invalid URL"), "{}", outcome.stderr);
    assert!(outcome.stdout.is_empty());
}

/// A test CA and a certificate it signed for 127.0.0.1, in a scratch
/// directory: the paths of `ca.pem`, `cert.pem`, `key.pem`.
fn certificates(name: &str) -> [String; 3] {
    let dir = common::scratch_dir(name);
    let (ca, cert, key) = common::Ca::new("paf bench test CA").write(&dir);
    [ca, cert, key].map(|path| path.to_str().expect("a UTF-8 temp dir").to_string())
}

#[test]
fn https_is_h2_by_alpn_or_http1_and_its_certificate_is_checked() {
    let [ca, cert, key] = certificates("bench-https");
    let server = Server::start_with(&["--tls-cert", &cert, "--tls-key", &key, "--quiet"]);
    let url = format!("{}/bytes/100", server.base);
    assert!(url.starts_with("https://"), "{url}");

    for (flags, protocol, label) in [(&[][..], "HTTP/2 over TLS", "h2"), (&["--http1.1"][..], "HTTP/1.1 over TLS", "h1")] {
        let mut args = vec![url.as_str(), "-c", "2", "-n", "20", "--cacert", &ca, "--json"];
        args.extend(flags);
        let outcome = bench(&args);
        let report = json_report(&outcome);
        assert!(outcome.status.success(), "{flags:?}: {}\n{}", outcome.stdout, outcome.stderr);
        assert_eq!(report["protocol"].string(), protocol);
        assert_eq!(report["failed"].number(), 0.0);
        assert_eq!(report["body_bytes"].number(), 2000.0);
        let per = &report["protocols"][label];
        assert_eq!((per["connections"].number(), per["requests"].number(), per["failed"].number()), (2.0, 20.0, 0.0));
        assert_eq!(per["latency_us"]["count"].number(), 20.0);
    }

    // Without --cacert the test CA is unknown: every request fails, counted.
    let outcome = bench(&[&url, "-c", "2", "-n", "6", "--json"]);
    let report = json_report(&outcome);
    assert_eq!(outcome.status.code(), Some(1), "{}", outcome.stderr);
    assert_eq!(report["errors"]["TLS handshake failed"].number(), 6.0);
    // --insecure takes it, and says so.
    let outcome = bench(&[&url, "-c", "1", "-n", "3", "--insecure", "--json"]);
    assert!(outcome.status.success(), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("WARNING: --insecure"), "{}", outcome.stderr);
}

/// The open file descriptors and the resident memory (KiB) of a process.
fn resources(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    (fds, rss)
}

/// [`resources`] once the server has closed its connections: the fd
/// count back to `fds` (or 10 s passed), then the time `paf serve` takes
/// to give the allocator's free memory back once idle (at most 4 s:
/// src/bin/paf/memory.rs).
fn settled(pid: u32, fds: usize) -> (usize, u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while resources(pid).0 > fds && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(4500));
    resources(pid)
}

/// How far the server's RSS may end above its level before the run, in
/// per cent; see the test for why it is not 5.
const RSS_SLACK_PERCENT: u64 = 15;
/// The requests of the warm-up before "before" is measured: the run's
/// shape, half its length.
const WARM_UP_REQUESTS: &str = "2000";

/// The reduced soak (`scripts/soak` runs 1 000 connections × 100
/// requests with bodies up to 1 MiB): 200 connections dealt over h1
/// (TLS), h2c and h2, 20 requests each, POST bodies of 0 to 64 KiB to
/// `/echo`. No request fails, every body comes back whole (as many bytes
/// received as sent), and afterwards the server holds exactly the file
/// descriptors it held before (the seed's leak, OCaml paf #72) and about
/// the memory.
///
/// "Before" is measured after a warm-up of the same shape, half as long,
/// and each reading once `paf serve`, idle, has given its allocator's
/// free memory back (src/bin/paf/memory.rs). What stays after the trim is
/// the heap's fragmentation, which moves by a few per cent from run to
/// run, so RSS is held within RSS_SLACK_PERCENT: a leak of 1 KiB per
/// request would add 4 MiB, over 20 % of the ~17 MiB the debug build
/// holds here. The file descriptors are held exactly.
#[test]
fn a_mixed_soak_fails_nothing_and_leaks_no_fd_or_memory() {
    let [ca, cert, key] = certificates("bench-soak");
    let server = Server::start_with(&[
        "--tls-cert", &cert, "--tls-key", &key, "--accept-clear", "--h2c", "--quiet",
    ]);
    let pid = server.child.id();
    let url = format!("{}/echo", server.base);
    let soak = |requests: &str| {
        bench(&[
            &url, "-c", "200", "-n", requests, "--mix", "h1,h2c,h2", "--body-sizes", "0,1k,16k,64k", "--cacert", &ca,
            "--json",
        ])
    };
    let cold = resources(pid);
    let warm_up = soak(WARM_UP_REQUESTS);
    assert!(warm_up.status.success(), "warm-up: {}\n{}", warm_up.stdout, warm_up.stderr);
    let before = settled(pid, cold.0);

    let outcome = soak("4000");
    let report = json_report(&outcome);
    let after = settled(pid, before.0);
    eprintln!(
        "soak: 200 connections, {} requests, {} failed; fds {} (cold {}) -> {}; RSS {} KiB (cold {}) -> {} KiB",
        report["requests"].number(),
        report["failed"].number(),
        before.0,
        cold.0,
        after.0,
        before.1,
        cold.1,
        after.1
    );
    assert!(outcome.status.success(), "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!((report["requests"].number(), report["failed"].number()), (4000.0, 0.0));
    assert_eq!(report["protocol"].string(), "HTTP/1.1 over TLS + HTTP/2 (h2c) + HTTP/2 over TLS");
    assert_eq!(report["body_bytes"].number(), report["sent_bytes"].number(), "/echo gives every body back whole");
    assert!(report["sent_bytes"].number() > 0.0);
    let mut requests = 0.0;
    for label in ["h1", "h2c", "h2"] {
        let per = &report["protocols"][label];
        assert!(per["connections"].number() >= 66.0, "{label}: {per:?}");
        assert_eq!(per["failed"].number(), 0.0, "{label}: {per:?}");
        assert_eq!(per["latency_us"]["count"].number(), per["requests"].number());
        requests += per["requests"].number();
    }
    assert_eq!(requests, 4000.0);

    assert_eq!(after.0, cold.0, "the server's file descriptors: {cold:?} at start, {after:?} after the soak");
    assert!(
        after.1 * 100 <= before.1 * (100 + RSS_SLACK_PERCENT),
        "the server's RSS grew from {} KiB to {} KiB (more than {RSS_SLACK_PERCENT} %)",
        before.1,
        after.1
    );
}

/// The reduced soak's clear-text half on a runtime's httpbin, at its
/// reduced counts: 200 connections dealt over h1 and h2c, 20 requests
/// each, bodies of 0 to 64 KiB to `/echo`; no request fails, every body
/// comes back whole, the process's fds come back exactly (to what they
/// were before the run, and no more than cold) and its RSS within
/// [`RSS_SLACK_PERCENT`] of its level after the warm-up.
///
/// The warm-up is half the run natively (as above), four runs in wasm:
/// a component's linear memory only grows, and Node's RSS holds its V8
/// heap and the module's linear memory, which grow in steps as load
/// peaks. Measured on Node (50 connections, 1 000 requests a round):
/// 85.8, 91.4, 92.0, 93.2, 106.1, 107.7 MiB... then 110.5 MiB at round
/// 12 and 111.2 at rounds 14 to 16: a plateau, where a leak of 1 KiB per
/// request would add 1 MiB a round without end.
async fn soak_on(runtime: Runtime) {
    let server = runtime.httpbin(&["--h2c"]);
    let pid = server.pid();
    let url = format!("http://{}/echo", server.addr);
    let connections = runtime.reduced(200).to_string();
    let requests = runtime.reduced(4000);
    let soak = |requests: usize| {
        let requests = requests.to_string();
        bench(&[&url, "-c", &connections, "-n", &requests, "--mix", "h1,h2c", "--body-sizes", "0,1k,16k,64k", "--json"])
    };
    let cold = resources(pid);
    let warm_up_requests = if runtime == Runtime::Native { requests / 2 } else { requests * 4 };
    let warm_up = tokio::task::block_in_place(|| soak(warm_up_requests));
    assert!(warm_up.status.success(), "warm-up: {}\n{}", warm_up.stdout, warm_up.stderr);
    let before = settled(pid, cold.0);
    let outcome = tokio::task::block_in_place(|| soak(requests));
    let report = json_report(&outcome);
    let after = settled(pid, before.0);

    let mut table = Table::new(
        format!("soak, {}: {connections} connections over h1 and h2c, bodies of 0 to 64 KiB to /echo", runtime.name()),
        &["requests", "failed", "bodies whole", "fds cold / before / after", "RSS KiB cold / before / after"],
    );
    let whole = report["body_bytes"].number() == report["sent_bytes"].number();
    table.push(vec![
        report["requests"].number().to_string(),
        report["failed"].number().to_string(),
        whole.to_string(),
        format!("{} / {} / {}", cold.0, before.0, after.0),
        format!("{} / {} / {}", cold.1, before.1, after.1),
    ]);
    println!("{table}");
    assert!(outcome.status.success(), "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!((report["requests"].number(), report["failed"].number()), (requests as f64, 0.0));
    assert!(whole && report["sent_bytes"].number() > 0.0, "/echo gives every body back whole");
    assert!(after.0 == before.0 && after.0 <= cold.0, "{}: fds (and RSS) {cold:?} cold, {before:?} before the soak, {after:?} after", runtime.name());
    assert!(
        after.1 * 100 <= before.1 * (100 + RSS_SLACK_PERCENT),
        "{}: RSS grew from {} KiB to {} KiB (more than {RSS_SLACK_PERCENT} %)",
        runtime.name(),
        before.1,
        after.1
    );
}

on_every_runtime!(soak_on);

// ---------------------------------------------------------------------------
// Just enough JSON to read the report.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

static MISSING: Json = Json::Null;

impl std::ops::Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        match self {
            Json::Object(map) => map.get(key).unwrap_or_else(|| panic!("no {key:?} in {self:?}")),
            _ => &MISSING,
        }
    }
}

impl Json {
    fn number(&self) -> f64 {
        match self {
            Json::Number(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn string(&self) -> &str {
        match self {
            Json::String(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn object(&self) -> &BTreeMap<String, Json> {
        match self {
            Json::Object(map) => map,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn parse(text: &str) -> Result<Json, String> {
        let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
        let value = parser.value()?;
        parser.skip_space();
        if parser.at != parser.bytes.len() {
            return Err(format!("trailing bytes at {}", parser.at));
        }
        Ok(value)
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), String> {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", byte as char, self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut map = BTreeMap::new();
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(map));
                }
                loop {
                    self.skip_space();
                    let Json::String(key) = self.value()? else { return Err("a key must be a string".into()) };
                    self.eat(b':')?;
                    map.insert(key, self.value()?);
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(map));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.at)),
                    }
                }
            }
            Some(b'"') => {
                self.at += 1;
                let mut out = String::new();
                loop {
                    match self.bytes.get(self.at) {
                        None => return Err("unterminated string".into()),
                        Some(b'"') => {
                            self.at += 1;
                            return Ok(Json::String(out));
                        }
                        Some(b'\\') => {
                            let escaped = self.bytes.get(self.at + 1).ok_or("unterminated escape")?;
                            self.at += 2;
                            match escaped {
                                b'u' => {
                                    let hex = std::str::from_utf8(&self.bytes[self.at..self.at + 4]).map_err(|e| e.to_string())?;
                                    let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                                    out.push(char::from_u32(code).ok_or("bad \\u escape")?);
                                    self.at += 4;
                                }
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                other => out.push(*other as char),
                            }
                        }
                        Some(_) => {
                            let rest = std::str::from_utf8(&self.bytes[self.at..]).map_err(|e| e.to_string())?;
                            let c = rest.chars().next().expect("not at the end");
                            out.push(c);
                            self.at += c.len_utf8();
                        }
                    }
                }
            }
            Some(b't') if self.bytes[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.bytes[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.bytes[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.at;
                while self.bytes.get(self.at).is_some_and(|b| b"+-.eE0123456789".contains(b)) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?;
                text.parse().map(Json::Number).map_err(|_| format!("bad value at {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }
}
