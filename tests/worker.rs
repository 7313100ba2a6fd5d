//! paf in Cloudflare's workerd (from npm, pinned in tests/worker), on
//! loopback, its network service allowed `local` addresses:
//!
//! * the cross-runtime table: the same requests (httpbin endpoints, a
//!   4 MiB body, a chunked stream, an echoed upload) against every runtime
//!   paf serves on, [`RUNTIMES`], each answer compared with the native
//!   `paf serve`'s (status, the headers that matter, the body byte for
//!   byte); workerd's row is the Rust handler (`paf::platform::worker`) in
//!   a worker;
//! * examples/worker (a Rust handler that proxies with paf's client) on its
//!   own config.capnp, to native `paf serve` over TLS + HTTP/2;
//! * a JS worker using the packed npm package as a user would (its
//!   `workerd` export condition, bundled by esbuild as wrangler does):
//!   requests to native `paf serve` over HTTP/1.1 and over TLS + HTTP/2,
//!   to nginx over TLS + HTTP/2, 100 sequential and 20 concurrent fetch
//!   events each, with `request()` and through one `Client` kept across
//!   events, connect failures as error codes, certificate pins.
//!
//! `scripts/test-worker` builds what these need and runs them (they are
//! ignored otherwise): `PAF_WORKER_TOOLS` (workerd's and esbuild's bin
//! directory), `PAF_WORKER_PROXY`, `PAF_WORKER_HTTPBIN` and
//! `PAF_WORKER_EXAMPLE` (the bundled workers, each a directory with `worker.js` and its `.wasm`
//! modules), and what tests/common needs for the other runtimes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::runtime::{Table, WasiHttpHost};
use common::{free_port, scratch_dir, Ca, Process};

/// A workerd serving one bundled worker on a loopback port, killed when
/// dropped.
struct Workerd {
    _process: Process,
    _config: Option<TempConfig>,
    port: u16,
}

/// The config file of one workerd, removed when dropped (it lives in the
/// worker's directory: workerd embeds files relative to it).
struct TempConfig(PathBuf);

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Workerd {
    /// The worker in `$var` (its `worker.js` and every `.wasm` under its
    /// directory, as modules named by their paths), with text bindings;
    /// workerd's own TLS (`secureTransport: "on"`) trusts the CA `trusted`.
    fn start(var: &str, bindings: &[(&str, &str)], trusted: Option<&str>) -> Workerd {
        let dir = PathBuf::from(std::env::var_os(var).unwrap_or_else(|| panic!("{var}: run scripts/test-worker")));
        let port = free_port();
        let mut modules = vec![r#"(name = "worker.js", esModule = embed "worker.js")"#.to_string()];
        for wasm in wasm_files(&dir, &dir) {
            modules.push(format!(r#"(name = "{wasm}", wasm = embed "{wasm}")"#));
        }
        let mut texts = Vec::new();
        for (name, text) in bindings {
            let file = format!("binding-{port}-{name}.txt");
            std::fs::write(dir.join(&file), text).unwrap();
            texts.push(format!(r#"(name = "{name}", text = embed "{file}")"#));
        }
        let mut tls = String::new();
        if let Some(pem) = trusted {
            let file = format!("trusted-{port}.pem");
            std::fs::write(dir.join(&file), pem).unwrap();
            tls = format!(r#", tlsOptions = (trustedCertificates = [ embed "{file}" ])"#);
        }
        let config = format!(
            r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "local"]{tls})),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ {} ],
  bindings = [ {} ],
  compatibilityDate = "2025-01-01",
);
"#,
            modules.join(", "),
            texts.join(", ")
        );
        let path = dir.join(format!("config-{port}.capnp"));
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(tool("workerd"));
        command.arg("serve").arg(&path);
        Workerd { _process: Process::listening(command, port), _config: Some(TempConfig(path)), port }
    }

    /// examples/worker as built in `$PAF_WORKER_EXAMPLE`, on its own
    /// config.capnp (its socket moved to a free port), with `ORIGIN` and
    /// `ORIGIN_CA` in its environment.
    fn example(origin: &str, ca: &str) -> Workerd {
        let dir = PathBuf::from(std::env::var_os("PAF_WORKER_EXAMPLE").expect("PAF_WORKER_EXAMPLE: run scripts/test-worker"));
        let port = free_port();
        let mut command = Command::new(tool("workerd"));
        command.current_dir(&dir).args(["serve", "config.capnp", "--socket-addr", &format!("http=127.0.0.1:{port}")]);
        command.env("ORIGIN", origin).env("ORIGIN_CA", ca);
        Workerd { _process: Process::listening(command, port), _config: None, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The `.wasm` files under `dir`, as paths relative to `root`.
fn wasm_files(root: &Path, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(wasm_files(root, &path));
        } else if path.extension().is_some_and(|ext| ext == "wasm") {
            found.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
    found
}

/// A program of `$PAF_WORKER_TOOLS`.
fn tool(name: &str) -> PathBuf {
    Path::new(&std::env::var_os("PAF_WORKER_TOOLS").expect("PAF_WORKER_TOOLS: run scripts/test-worker")).join(name)
}

/// One answer as curl got it: the status, the response headers (lower-case
/// names, repeated ones joined) and the body.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// `curl` with `args` (ending with the URL), over HTTP/1.1.
fn curl(args: &[&str]) -> Answer {
    let dir = scratch_dir("worker-curl");
    let (head, body) = (dir.join("head"), dir.join("body"));
    let output = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "60", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .output()
        .expect("curl is not installed: run scripts/setup");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let heads = std::fs::read_to_string(&head).unwrap();
    // The last head: a `100 Continue` may come before it.
    let head = heads.split("\r\n\r\n").filter(|head| !head.trim().is_empty()).last().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok()).unwrap();
    let mut headers = BTreeMap::<String, String>::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let joined = headers.entry(name.trim().to_ascii_lowercase()).or_default();
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(value.trim());
        }
    }
    let body = std::fs::read(&body).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Answer { status, headers, body }
}

/// A server of the table: something to keep alive while it serves, and
/// its base URL.
type Started = (Box<dyn std::any::Any>, String);

/// How a runtime of the table starts.
type Start = fn() -> Started;

/// The runtimes of the cross-runtime table, each with how to start its
/// httpbin and give its base URL. The native one comes first: the others
/// are compared with it.
const RUNTIMES: &[(&str, Start)] = &[
    ("native `paf serve`", || on_port(common::native_server)),
    ("`paf.wasm serve` in wasmtime (wasi:sockets)", || on_port(common::command_component_server)),
    ("`paf-host` (paf:http components)", || on_port(common::host_server)),
    ("`serve()` in Node", || on_port(common::node_server)),
    ("`wasmtime serve` (wasi:http component)", || wasi_http(WasiHttpHost::WasmtimeServe)),
    ("`paf-host serve --proxy` (wasi:http component)", || wasi_http(WasiHttpHost::PafHost)),
    ("workerd (Rust handler, paf::platform::worker)", || {
        let workerd = Workerd::start("PAF_WORKER_HTTPBIN", &[], None);
        let base = workerd.url("");
        (Box::new(workerd), base)
    }),
];

/// httpbin as a `wasi:http/proxy` component, in `host`.
fn wasi_http(host: WasiHttpHost) -> Started {
    let server = host.httpbin();
    let base = format!("http://{}", server.addr);
    (Box::new(server), base)
}

/// A server of tests/common started on a free loopback port.
fn on_port(start: fn(u16, &[&str]) -> Process) -> Started {
    let port = free_port();
    (Box::new(start(port, &[])), format!("http://127.0.0.1:{port}"))
}

/// The requests of the table: a name and curl's arguments before the URL,
/// and the path. (`/ip` is left out: each runtime has its own peer, and a
/// worker none. So is HEAD: workerd sends a body-less response without
/// its length.)
fn table_requests() -> Vec<(&'static str, Vec<String>, &'static str)> {
    let upload = scratch_dir("worker-upload").join("upload.bin");
    std::fs::write(&upload, (0..4 << 20).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect::<Vec<u8>>()).unwrap();
    let upload = format!("@{}", upload.display());
    let get = Vec::new;
    vec![
        ("GET /", get(), "/"),
        ("GET /bytes/10", get(), "/bytes/10"),
        ("GET /bytes/4194304 (4 MiB)", get(), "/bytes/4194304"),
        ("GET /stream/200 (chunked)", get(), "/stream/200"),
        ("GET /headers", get(), "/headers"),
        ("GET /status/418", get(), "/status/418"),
        ("PUT /bytes/1 (405)", vec!["-X".into(), "PUT".into()], "/bytes/1"),
        ("GET /nowhere (404)", get(), "/nowhere"),
        ("GET /bytes/x (400)", get(), "/bytes/x"),
        ("POST /echo (4 MiB up and back)", vec!["-H".into(), "content-type: application/x-paf".into(), "--data-binary".into(), upload], "/echo"),
    ]
}

/// What must be alike: the status, the headers that say what the body is
/// and how it is framed (a length, or chunks), and the body.
fn comparable(answer: &Answer) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let kept = ["content-type", "content-length", "transfer-encoding", "allow"];
    let headers = answer.headers.iter().filter(|(name, _)| kept.contains(&name.as_str()));
    (answer.status, headers.map(|(n, v)| (n.clone(), v.clone())).collect(), answer.body.clone())
}

/// How two answers differ, in a few words.
fn difference(native: &Answer, other: &Answer) -> Option<String> {
    let (a, b) = (comparable(native), comparable(other));
    if a == b {
        return None;
    }
    if a.0 != b.0 {
        return Some(format!("status {} (native {})", b.0, a.0));
    }
    if a.1 != b.1 {
        return Some(format!("headers {:?} (native {:?})", b.1, a.1));
    }
    Some(format!("body of {} bytes differs (native {} bytes)", b.2.len(), a.2.len()))
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn cross_runtime_table() {
    let requests = table_requests();
    let mut columns = vec!["request"];
    columns.extend(RUNTIMES.iter().map(|(name, _)| *name));
    let mut answers: Vec<Vec<Answer>> = Vec::new();
    for (_, start) in RUNTIMES {
        let (_server, base) = start();
        answers.push(requests.iter().map(|(_, args, path)| {
            // One Host for all: /headers answers with it, and the ports differ.
            let mut all: Vec<&str> = vec!["-H", "host: paf.test"];
            all.extend(args.iter().map(String::as_str));
            let url = format!("{base}{path}");
            all.push(&url);
            let mut answer = curl(&all);
            if *path == "/headers" {
                // Fields in any order: a worker's Request has them sorted
                // by name (fetch's Headers), the others as they came.
                // So the body is compared as a set of lines, each without
                // the comma that all but the last field have.
                let lines = answer.body.split(|&byte| byte == b'\n');
                let mut lines: Vec<&[u8]> = lines.map(|line| line.strip_suffix(b",").unwrap_or(line)).collect();
                lines.sort();
                answer.body = lines.join(&b'\n');
            }
            answer
        }).collect());
    }
    let mut table = Table::new("The same requests on every runtime, compared with native `paf serve`", &columns);
    let mut differences = Vec::new();
    for (i, (name, _, _)) in requests.iter().enumerate() {
        let native = &answers[0][i];
        let mut row = vec![format!("{name} → {}", native.status)];
        for (r, (runtime, _)) in RUNTIMES.iter().enumerate().skip(1) {
            match difference(native, &answers[r][i]) {
                None => row.push("same".into()),
                Some(how) => {
                    row.push(format!("DIFFERS: {how}"));
                    differences.push(format!("{runtime}, {name}: {how}"));
                }
            }
        }
        row.insert(1, "(reference)".into());
        table.push(row);
    }
    println!("{table}");
    assert!(differences.is_empty(), "answers differ from native `paf serve`:\n{}", differences.join("\n"));
}

/// Native `paf serve` over HTTP/1.1 and over TLS (HTTP/2 by ALPN), nginx
/// over TLS + HTTP/2, and a worker proxying to them with the CA bound.
struct Upstreams {
    _plain: Process,
    _tls: Process,
    _nginx: Process,
    plain: u16,
    tls: u16,
    nginx: u16,
    ca: String,
    /// The SHA-256 of the upstreams' certificate, in hex (`tls.pins`).
    pin: String,
    worker: Workerd,
}

impl Upstreams {
    fn start() -> Upstreams {
        let dir = scratch_dir("worker-upstreams");
        let ca = Ca::new("paf worker test CA");
        let (_, cert, key) = ca.write(&dir);
        let (plain, tls) = (free_port(), free_port());
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let plain_server = common::native_server(plain, &[]);
        let tls_server = common::native_server(tls, &["--tls-cert", cert, "--tls-key", key]);
        std::fs::write(dir.join("www/big.bin"), common::mebibyte()).unwrap();
        let (nginx_server, nginx) = common::nginx_https(&dir);
        let worker = Workerd::start("PAF_WORKER_PROXY", &[("CA", &ca.pem)], Some(&ca.pem));
        let pin = paf::tls::certificate_sha256(&ca.leaf_der).iter().map(|byte| format!("{byte:02x}")).collect();
        Upstreams { _plain: plain_server, _tls: tls_server, _nginx: nginx_server, plain, tls, nginx, ca: ca.pem.clone(), pin, worker }
    }

    /// The worker's URL that proxies to `upstream` (`path` on the worker).
    fn via(&self, path: &str, upstream: &str) -> String {
        self.worker.url(&format!("{path}?url={upstream}"))
    }
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn worker_client_reaches_paf_serve_and_nginx() {
    let up = Upstreams::start();
    let big = common::mebibyte();
    let cases = [
        (format!("http://127.0.0.1:{}/bytes/4194304", up.plain), "HTTP/1.1"),
        (format!("https://localhost:{}/bytes/4194304", up.tls), "HTTP/2"),
        (format!("https://localhost:{}/big.bin", up.nginx), "HTTP/2"),
    ];
    for (upstream, protocol) in cases {
        let answer = curl(&[&up.via("/", &upstream)]);
        assert_eq!(answer.status, 200, "{upstream}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.headers.get("x-upstream-protocol").map(String::as_str), Some(protocol), "{upstream}");
        if upstream.ends_with("big.bin") {
            assert!(answer.body == big, "{upstream}: the body differs from nginx's file");
        } else {
            let expected: Vec<u8> = (0..4 << 20).map(|i: usize| (i % 251) as u8).collect();
            assert!(answer.body == expected, "{upstream}: the body differs from /bytes' pattern");
        }
    }
}

/// curl's status and body size for each of `count` requests to `url`, made
/// `parallel` at a time (1: one after the other, on one connection).
fn statuses(url: &str, count: usize, parallel: usize) -> Vec<String> {
    let mut command = Command::new("curl");
    command.args(["-sS", "--http1.1", "--max-time", "120", "-w", "%{http_code} %{size_download}\n"]);
    if parallel > 1 {
        command.args(["--parallel", "--parallel-immediate", "--parallel-max", &parallel.to_string()]);
    }
    for _ in 0..count {
        command.args(["-o", "/dev/null", url]);
    }
    let output = command.output().expect("curl is not installed: run scripts/setup");
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

/// 100 fetch events one after the other, then 20 at once, each through
/// the worker's `path` to native `paf serve` over HTTP/1.1 and over TLS +
/// HTTP/2: every one answered.
fn every_event_answered(path: &str) {
    let up = Upstreams::start();
    for upstream in [format!("http://127.0.0.1:{}/bytes/1000", up.plain), format!("https://localhost:{}/bytes/1000", up.tls)] {
        let url = up.via(path, &upstream);
        for (count, parallel) in [(100, 1), (20, 20)] {
            let got = statuses(&url, count, parallel);
            let ok = got.iter().filter(|line| *line == "200 1000").count();
            assert_eq!(ok, count, "{count} fetch events ({parallel} at a time) to {upstream} through {path}: {got:?}");
        }
    }
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn fetch_events_each_with_their_own_connections() {
    every_event_answered("/");
}

/// A Client kept across events (what hung over HTTP/2: a connection of an
/// event that has ended has reads and writes that never settle, and a
/// timer of its that never fires).
#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn a_client_kept_across_events_serves_every_event() {
    every_event_answered("/pooled");
}

/// `secureTransport: "on"`: workerd does TLS (trusting the test CA, in
/// its config), paf speaks HTTP/1.1 on the socket and no TLS of its own
/// (the upstream takes TLS alone: clear text, or TLS twice, would fail).
#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn workerds_own_tls() {
    let up = Upstreams::start();
    for path in ["/", "/pooled"] {
        let url = format!("{}&secure=on", up.via(path, &format!("https://localhost:{}/bytes/4194304", up.tls)));
        let answer = curl(&[&url]);
        assert_eq!(answer.status, 200, "{path}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.headers.get("x-upstream-protocol").map(String::as_str), Some("HTTP/1.1"), "{path}");
        let expected: Vec<u8> = (0..4 << 20).map(|i: usize| (i % 251) as u8).collect();
        assert!(answer.body == expected, "{path}: the body differs from /bytes' pattern");
    }
}

/// A Client that reuses connections across events, against the advice:
/// a connection of an ended event may never answer, but then the
/// request's timeout (500 ms) ends it, a timer of this event: never a
/// hang, which workerd would cancel with a 500.
#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn a_connection_of_an_ended_event_fails_rather_than_hangs() {
    let up = Upstreams::start();
    let url = up.via("/reused", &format!("https://localhost:{}/bytes/10", up.tls));
    for _ in 0..6 {
        let answer = curl(&[&url]);
        let body = String::from_utf8_lossy(&answer.body);
        let timed_out = answer.status == 502 && body.contains(r#""code":"ETIMEDOUT""#);
        assert!(answer.status == 200 || timed_out, "{} {body}", answer.status);
    }
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn pinned_certificates() {
    let up = Upstreams::start();
    let upstream = format!("https://localhost:{}/bytes/10", up.tls);
    let answer = curl(&[&format!("{}&pin={}", up.via("/", &upstream), up.pin)]);
    assert_eq!(answer.status, 200, "the right pin: {}", String::from_utf8_lossy(&answer.body));
    let wrong = "ab".repeat(32);
    let answer = curl(&[&format!("{}&pin={wrong}", up.via("/", &upstream))]);
    let body = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, 502, "a wrong pin: {body}");
    assert!(body.contains(r#""code":"ERR_TLS_PIN_MISMATCH""#), "a wrong pin: {body}");
    assert!(body.contains(&up.pin), "the message names the SHA-256 presented: {body}");
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn connect_failures_have_error_codes() {
    let up = Upstreams::start();
    let refused = format!("http://127.0.0.1:{}/", free_port());
    for (upstream, code) in [(refused.as_str(), "ECONNREFUSED"), ("http://no-such-host.invalid/", "ENOTFOUND")] {
        let answer = curl(&[&up.via("/", upstream)]);
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(answer.status, 502, "{upstream}: {body}");
        assert!(body.contains(&format!("\"code\":\"{code}\"")), "{upstream}: {body}");
    }
}

#[test]
#[ignore = "needs workerd, the bundled workers and the wasm builds: scripts/test-worker"]
fn the_example_proxies_to_an_origin_over_tls_and_http2() {
    let up = Upstreams::start();
    let example = Workerd::example(&format!("https://localhost:{}", up.tls), &up.ca);
    let answer = curl(&[&example.url("/bytes/100000")]);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.headers.get("x-paf-upstream").map(String::as_str), Some("HTTP/2"));
    assert!(answer.body == (0..100_000).map(|i: usize| (i % 251) as u8).collect::<Vec<u8>>(), "the body differs from /bytes' pattern");
    // A body streamed up through the worker to the origin and back.
    let echoed = curl(&["-H", "content-type: text/x-paf", "--data-binary", "hello through the edge", &example.url("/echo")]);
    assert_eq!((echoed.status, echoed.body.as_slice()), (200, &b"hello through the edge"[..]));
    assert_eq!(echoed.headers.get("content-type").map(String::as_str), Some("text/x-paf"));
    // An origin that refuses: a 502 that says so.
    let refused = Workerd::example(&format!("https://127.0.0.1:{}", free_port()), &up.ca);
    let answer = curl(&[&refused.url("/")]);
    assert_eq!(answer.status, 502);
    assert!(String::from_utf8_lossy(&answer.body).contains("ECONNREFUSED"), "{}", String::from_utf8_lossy(&answer.body));
}
