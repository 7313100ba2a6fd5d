//! `paf bench` against a `paf serve` started here, a port nobody listens
//! on, and a server answering 500: the JSON report is coherent, and every
//! failed request is counted and makes the exit status non-zero.
//!
//! Small request counts and no assertion on time: speed is measured by
//! `scripts/bench`, never here. Every process is killed when its guard
//! drops, and every wait is bounded.

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
        let mut child = Command::new(PAF)
            .args(["serve", "--port", "0"])
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
