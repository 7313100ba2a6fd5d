//! `paf serve` against the real curl: the real binary on a free port, real
//! curl invocations, assertions on what curl received and on its `-v` log.
//!
//! Every wait is bounded (curl's `--max-time`, deadlines on the server's
//! start and exit), and every server is killed when its guard drops. These
//! tests need curl: without it they fail (the project's test script
//! installs it), they never skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const PAF: &str = env!("CARGO_BIN_EXE_paf");
const MIB: usize = 1024 * 1024;
/// How long the server may take to start or to exit.
const PROCESS_LIMIT: Duration = Duration::from_secs(20);
/// curl's own limit on one invocation, in seconds.
const CURL_MAX_TIME: &str = "30";

// ---------------------------------------------------------------------------
// The server

/// A running `paf serve`, killed when dropped.
struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or `http://localhost` on a Unix socket).
    base: String,
    /// Every stderr line after the "listening" one.
    stderr: Arc<Mutex<Vec<String>>>,
    /// Every stdout line (the access log).
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--port", "0"];
        args.extend_from_slice(extra);
        Server::spawn(&args)
    }

    fn spawn(args: &[&str]) -> Server {
        let mut child = Command::new(PAF)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {PAF}: {err}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = Server {
            child: Some(child),
            base: String::new(),
            stderr: Arc::default(),
            stdout: Arc::default(),
        };
        let lines = server.stdout.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let (tx, rx) = mpsc::channel();
        let rest = server.stderr.clone();
        thread::spawn(move || {
            let mut first = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match first.take() {
                    Some(tx) => {
                        let _ = tx.send(line);
                    }
                    None => rest.lock().unwrap().push(line),
                }
            }
        });
        let line = match rx.recv_timeout(PROCESS_LIMIT) {
            Ok(line) => line,
            Err(_) => panic!("paf {args:?} printed no line on stderr within {PROCESS_LIMIT:?}"),
        };
        let address = line
            .strip_prefix("paf: listening on ")
            .unwrap_or_else(|| panic!("unexpected first stderr line of paf {args:?}: {line:?}"));
        server.base = match address.strip_prefix("unix:") {
            Some(_) => "http://localhost".to_string(),
            None => address.to_string(),
        };
        assert!(
            !server.base.ends_with(":0"),
            "the listening line must show the real port, got {line:?}"
        );
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Sends `signal` (TERM, INT) to the server.
    fn signal(&self, signal: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.pid())])
            .status()
            .expect("cannot run sh");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the server to exit on its own.
    fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        wait_bounded(&mut child, "paf serve")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits at most [`PROCESS_LIMIT`] for `child`; kills it and fails after.
fn wait_bounded(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + PROCESS_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {PROCESS_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// curl

/// The curl binary, after checking it is there.
fn curl_bin() -> &'static str {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| match Command::new("curl").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`curl --version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!(
            "curl is not installed ({err}): these tests drive the real curl; \
             install it (`apt-get install curl`, as scripts/setup does)"
        ),
    });
    "curl"
}

/// What one curl invocation got.
struct Reply {
    /// What curl wrote to stdout: the response bodies.
    body: Vec<u8>,
    /// curl's `-v` log (stderr).
    log: String,
    /// curl's exit code.
    code: Option<i32>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The last final status in the log.
    fn status(&self) -> u16 {
        self.log
            .lines()
            .filter_map(|line| line.strip_prefix("< HTTP/"))
            .filter_map(|rest| rest.split_whitespace().nth(1)?.parse::<u16>().ok())
            .rfind(|code| *code >= 200)
            .unwrap_or_else(|| panic!("no final status in curl's log:\n{}", self.log))
    }

    /// The last response header `name` in the log.
    fn header(&self, name: &str) -> Option<String> {
        self.log
            .lines()
            .filter_map(|line| line.strip_prefix("< "))
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
            .next_back()
    }

    fn ok(self) -> Reply {
        assert_eq!(self.code, Some(0), "curl failed:\n{}", self.log);
        self
    }
}

/// Runs curl with `-sS -v` and a time limit.
fn curl(args: &[&str]) -> Reply {
    let out = Command::new(curl_bin())
        .args(["-sS", "-v", "--max-time", CURL_MAX_TIME])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run curl");
    Reply {
        body: out.stdout,
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

// ---------------------------------------------------------------------------
// Files

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "paf-serve-curl-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
        TempDir(dir)
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, data).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` deterministic pseudo-random bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// What `/bytes/{n}` sends: byte `i` is `i % 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {:?}",
            got.len(),
            want.len(),
            first.unwrap_or(got.len().min(want.len()))
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

// ---------------------------------------------------------------------------
// Tests: basics

#[test]
fn get_the_root_and_head_has_headers_but_no_body() {
    let server = Server::start(&[]);
    let reply = curl(&[&server.url("/")]).ok();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.text().contains("/echo"),
        "the hello text lists the endpoints: {}",
        reply.text()
    );
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));

    // HEAD, then GET on the same connection: a body sent after the HEAD
    // response would be read as the second response and garble it.
    let reply = curl(&[
        "--head",
        &server.url("/bytes/1000"),
        "--next",
        "-sS",
        "-v",
        "--max-time",
        CURL_MAX_TIME,
        &server.url("/status/418"),
    ])
    .ok();
    let head = reply.log.split("< HTTP/1.1 418").next().unwrap();
    assert!(
        head.contains("< HTTP/1.1 200"),
        "HEAD status:\n{}",
        reply.log
    );
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("< content-length: 1000")),
        "HEAD keeps the GET's Content-Length:\n{}",
        reply.log
    );
    assert_eq!(
        reply.status(),
        418,
        "the request after HEAD:\n{}",
        reply.log
    );
    let text = reply.text();
    // --head prints the HEAD response's headers to stdout, then the body
    // of the GET follows: nothing of the 1000 pattern bytes in between.
    assert!(text.ends_with("418 I'm a teapot\n"), "{text:?}");
    assert!(!text.contains('\u{1}'), "a HEAD body leaked: {text:?}");
}

#[test]
fn status_delay_and_headers() {
    let server = Server::start(&[]);
    let reply = curl(&[&server.url("/status/418")]).ok();
    assert_eq!(reply.status(), 418);
    let reply = curl(&["-X", "DELETE", &server.url("/status/503")]).ok();
    assert_eq!(reply.status(), 503);
    let reply = curl(&[&server.url("/status/204")]).ok();
    assert_eq!(reply.status(), 204);
    assert!(reply.body.is_empty());

    let start = Instant::now();
    let reply = curl(&[&server.url("/delay/100")]).ok();
    assert_eq!(reply.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "answered too early"
    );
    assert_eq!(reply.text(), "answered after 100 ms\n");

    let reply = curl(&[
        "-H",
        "X-Paf-Test: hello \"world\"",
        "-A",
        "curl-test",
        &server.url("/headers"),
    ])
    .ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let text = reply.text();
    assert!(
        text.contains(r#""x-paf-test": "hello \"world\"""#),
        "{text}"
    );
    assert!(text.contains(r#""user-agent": "curl-test""#), "{text}");
    assert!(text.contains(r#""host": "127.0.0.1:"#), "{text}");
}

#[test]
fn bad_input_is_a_4xx_with_one_line() {
    let server = Server::start(&[]);
    for (path, status) in [
        ("/bytes/abc", 400),
        ("/bytes/-1", 400),
        ("/bytes/2000000000", 400),
        ("/stream/many", 400),
        ("/delay/99999999", 400),
        ("/status/abc", 400),
        ("/status/99", 400),
        ("/status/600", 400),
        ("/nowhere", 404),
    ] {
        let reply = curl(&[&server.url(path)]).ok();
        assert_eq!(reply.status(), status, "{path}:\n{}", reply.log);
        let text = reply.text();
        assert!(
            text.ends_with('\n') && text.lines().count() == 1,
            "{path}: one line of explanation, got {text:?}"
        );
    }
    let reply = curl(&[&server.url("/bytes/abc")]).ok();
    assert!(
        reply.text().contains("\"abc\""),
        "the message names the bad input: {}",
        reply.text()
    );
    let reply = curl(&["-X", "POST", &server.url("/bytes/10")]).ok();
    assert_eq!(reply.status(), 405);
    assert_eq!(reply.header("allow").as_deref(), Some("GET, HEAD"));
}

// ---------------------------------------------------------------------------
// Tests: bodies

#[test]
fn echo_with_content_length() {
    let server = Server::start(&[]);
    let reply = curl(&[
        "--data-binary",
        "hello paf",
        "-H",
        "Content-Type: text/x-paf",
        &server.url("/echo"),
    ])
    .ok();
    assert!(reply.log.contains("> Content-Length: 9"), "{}", reply.log);
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text(), "hello paf");
    assert_eq!(reply.header("content-type").as_deref(), Some("text/x-paf"));
    assert_eq!(
        reply.header("content-length").as_deref(),
        Some("9"),
        "{}",
        reply.log
    );

    // Any method.
    let reply = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "put body",
        &server.url("/echo"),
    ])
    .ok();
    assert_eq!(reply.text(), "put body");
}

#[test]
fn echo_chunked() {
    let server = Server::start(&[]);
    let dir = TempDir::new();
    let data = noise(200_000, 7);
    let file = dir.write("upload.bin", &data);
    let upload = format!("@{}", path_str(&file));
    let reply = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/x-paf-chunks",
        "--data-binary",
        &upload,
        &server.url("/echo"),
    ])
    .ok();
    assert!(
        reply.log.contains("> Transfer-Encoding: chunked"),
        "{}",
        reply.log
    );
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/x-paf-chunks")
    );
    assert_eq!(
        reply.header("transfer-encoding").as_deref(),
        Some("chunked"),
        "a body of unknown length goes back chunked:\n{}",
        reply.log
    );
    assert_same_bytes(&reply.body, &data, "chunked echo");
}

#[test]
fn echo_with_100_continue() {
    let server = Server::start(&[]);
    let dir = TempDir::new();
    let data = noise(3 << 20, 11);
    let file = dir.write("big.bin", &data);
    let upload = format!("@{}", path_str(&file));
    let reply = curl(&[
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "10",
        "--data-binary",
        &upload,
        &server.url("/echo"),
    ])
    .ok();
    assert!(
        reply.log.contains("> Expect: 100-continue"),
        "{}",
        reply.log
    );
    assert!(
        reply.log.contains("< HTTP/1.1 100 Continue"),
        "no 100 Continue:\n{}",
        reply.log
    );
    assert_eq!(reply.status(), 200);
    assert_same_bytes(&reply.body, &data, "echo after 100-continue");
}

#[test]
fn one_mebibyte_up_and_down() {
    let server = Server::start(&[]);
    let dir = TempDir::new();
    let data = noise(1 << 20, 3);
    let file = dir.write("mib.bin", &data);
    let upload = format!("@{}", path_str(&file));
    let reply = curl(&["--data-binary", &upload, &server.url("/echo")]).ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("content-length").as_deref(),
        Some("1048576"),
        "{}",
        reply.log
    );
    assert_same_bytes(&reply.body, &data, "1 MiB echoed");

    let reply = curl(&[&server.url("/bytes/1048576")]).ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("content-length").as_deref(),
        Some("1048576"),
        "{}",
        reply.log
    );
    assert_same_bytes(&reply.body, &pattern(1 << 20), "1 MiB of /bytes");

    let reply = curl(&[&server.url("/bytes/0")]).ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("content-length").as_deref(), Some("0"));
    assert!(reply.body.is_empty());
}

#[test]
fn stream_is_chunked_with_n_lines() {
    let server = Server::start(&[]);
    let reply = curl(&[&server.url("/stream/5")]).ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("transfer-encoding").as_deref(),
        Some("chunked"),
        "{}",
        reply.log
    );
    assert!(reply.header("content-length").is_none());
    let text = reply.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("{{\"id\": {i},")), "{line}");
        assert!(line.ends_with('}'), "{line}");
    }
    let reply = curl(&[&server.url("/stream/0")]).ok();
    assert_eq!(reply.status(), 200);
    assert!(reply.body.is_empty());
}

#[test]
fn three_urls_share_one_connection() {
    let server = Server::start(&[]);
    let reply = curl(&[
        &server.url("/status/200"),
        &server.url("/bytes/10"),
        &server.url("/stream/2"),
    ])
    .ok();
    // curl 7.88 says "Re-using existing connection", newer ones "Reusing".
    let reused = reply.log.matches("Re-using existing connection").count()
        + reply.log.matches("Reusing existing").count();
    assert_eq!(
        reused, 2,
        "the 2nd and 3rd requests reuse the connection:\n{}",
        reply.log
    );
    // curl prints "Connected to" on reuse too, "Trying" only to connect.
    assert_eq!(reply.log.matches("Trying ").count(), 1, "{}", reply.log);
    assert!(
        !reply.log.contains("(#1)"),
        "a second connection:\n{}",
        reply.log
    );
    let mut want = b"200 OK\n".to_vec();
    want.extend(pattern(10));
    assert!(reply.body.starts_with(&want), "{:?}", reply.text());
    assert_eq!(
        reply.text().matches("{\"id\"").count(),
        2,
        "{:?}",
        reply.text()
    );
}

// ---------------------------------------------------------------------------
// Tests: static files

/// A 1x1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

fn site() -> TempDir {
    let dir = TempDir::new();
    dir.write("index.html", b"<!doctype html><title>paf</title>home\n");
    dir.write("style.css", b"body { color: red }\n");
    dir.write("image.png", PNG);
    dir.write("data.json", b"{\"paf\": true}\n");
    dir.write("docs/index.html", b"<p>docs</p>\n");
    dir.write("big.bin", &noise(3 << 20, 5));
    dir
}

#[test]
fn static_files_with_their_content_types() {
    let dir = site();
    let server = Server::start(&["--root", path_str(dir.path())]);
    for (path, content_type, body) in [
        (
            "/index.html",
            "text/html",
            &b"<!doctype html><title>paf</title>home\n"[..],
        ),
        ("/", "text/html", b"<!doctype html><title>paf</title>home\n"),
        ("/style.css", "text/css", b"body { color: red }\n"),
        ("/image.png", "image/png", PNG),
        ("/data.json", "application/json", b"{\"paf\": true}\n"),
        ("/docs/", "text/html", b"<p>docs</p>\n"),
        ("/d%6fcs/index.html", "text/html", b"<p>docs</p>\n"),
    ] {
        let reply = curl(&[&server.url(path)]).ok();
        assert_eq!(reply.status(), 200, "{path}:\n{}", reply.log);
        let got = reply.header("content-type").unwrap_or_default();
        assert!(
            got.starts_with(content_type),
            "{path}: content-type {got:?}, want {content_type}"
        );
        assert_eq!(reply.body, body, "{path}");
        assert_eq!(
            reply.header("content-length"),
            Some(body.len().to_string()),
            "{path}"
        );
    }

    // A directory without its slash is redirected to it.
    let reply = curl(&[&server.url("/docs")]).ok();
    assert_eq!(reply.status(), 301);
    assert_eq!(reply.header("location").as_deref(), Some("/docs/"));

    // Endpoints come first.
    let reply = curl(&[&server.url("/status/418")]).ok();
    assert_eq!(reply.status(), 418);

    for path in ["/missing.html", "/docs/missing", "/index.html/x"] {
        let reply = curl(&[&server.url(path)]).ok();
        assert_eq!(reply.status(), 404, "{path}");
    }
    let reply = curl(&["-X", "POST", "-d", "x", &server.url("/index.html")]).ok();
    assert_eq!(reply.status(), 405);
}

#[test]
fn static_files_stream_large_files_and_answer_head() {
    let dir = site();
    let want = std::fs::read(dir.path().join("big.bin")).unwrap();
    let server = Server::start(&["--root", path_str(dir.path())]);
    let reply = curl(&[&server.url("/big.bin")]).ok();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(reply.header("content-length"), Some(want.len().to_string()));
    assert_same_bytes(&reply.body, &want, "a 3 MiB file");

    // HEAD has the length, then a GET on the same connection is intact.
    let reply = curl(&[
        "--head",
        &server.url("/big.bin"),
        "--next",
        "-sS",
        "-v",
        "--max-time",
        CURL_MAX_TIME,
        &server.url("/data.json"),
    ])
    .ok();
    let head = reply
        .log
        .split("Re-using existing connection")
        .next()
        .unwrap();
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("< content-length: {}", want.len()))),
        "{}",
        reply.log
    );
    assert!(
        reply.text().ends_with("{\"paf\": true}\n"),
        "{:?}",
        reply.text()
    );
    assert!(
        reply.log.contains("Re-using existing connection"),
        "{}",
        reply.log
    );
}

#[test]
fn no_path_traversal() {
    let outer = TempDir::new();
    let secret = outer.write("secret.txt", b"TOP SECRET\n");
    let root = outer.path().join("site");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), "inside\n").unwrap();
    std::os::unix::fs::symlink(&secret, root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    let server = Server::start(&["--root", path_str(&root)]);
    for path in [
        "/../secret.txt",
        "/../../../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2fsecret.txt",
        "/docs/..%2F..%2Fsecret.txt",
        "/.%2e/secret.txt",
        "/link.txt",
        "/etc/passwd",
        "/%00",
        "/%zz",
    ] {
        let reply = curl(&["--path-as-is", &server.url(path)]).ok();
        let status = reply.status();
        assert!(
            status == 400 || status == 404,
            "{path} answered {status}:\n{}",
            reply.log
        );
        let text = reply.text();
        assert!(
            !text.contains("TOP SECRET") && !text.contains("root:"),
            "{path} leaked: {text}"
        );
    }
    let reply = curl(&["--path-as-is", &server.url("/./index.html")]).ok();
    assert_eq!(reply.text(), "inside\n");
}

// ---------------------------------------------------------------------------
// Tests: the process

#[test]
fn sigterm_drains_the_request_in_flight_then_exits_0() {
    let mut server = Server::start(&[]);
    let mut slow = Command::new(curl_bin())
        .args([
            "-sS",
            "-v",
            "--max-time",
            CURL_MAX_TIME,
            &server.url("/delay/1500"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run curl");
    // Wait (bounded) until curl has sent the request, then a little more
    // for the server to read it.
    let (tx, rx) = mpsc::channel();
    let stderr = slow.stderr.take().unwrap();
    let log_reader = thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("> GET /delay/1500") {
                let _ = tx.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("curl did not send its request");
    thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.signal("TERM");

    // New connections are refused once stopping (bounded by curl).
    thread::sleep(Duration::from_millis(200));
    let refused = curl(&["--connect-timeout", "5", &server.url("/")]);
    assert_ne!(
        refused.code,
        Some(0),
        "a new request was served after SIGTERM:\n{}",
        refused.log
    );

    let status = wait_bounded(&mut slow, "the slow curl");
    let log = log_reader.join().unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut slow.stdout.take().unwrap(), &mut body).unwrap();
    assert!(status.success(), "the request in flight failed:\n{log}");
    assert!(log.contains("< HTTP/1.1 200"), "{log}");
    assert_eq!(body, "answered after 1500 ms\n");

    let exit = server.wait_exit();
    assert_eq!(
        exit.code(),
        Some(0),
        "paf serve exit status after SIGTERM: {exit:?}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[test]
fn serve_logs_one_access_line_per_request_in_either_format() {
    let mut server = Server::start(&["--h2c"]);
    curl(&["--http1.1", &server.url("/bytes/100")]).ok();
    curl(&["--http2-prior-knowledge", &server.url("/status/404?x=1")]).ok();
    curl(&["-I", &server.url("/")]).ok();
    server.signal("TERM");
    server.wait_exit();
    let lines = server.stdout.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let common = is_common_line(&lines[0], "127.0.0.1 - - [", "] \"GET /bytes/100 HTTP/1.1\" 200 100 ");
    assert!(common, "{}", lines[0]);
    assert!(is_common_line(&lines[1], "127.0.0.1 - - [", "] \"GET /status/404?x=1 HTTP/2\" 404 14 "), "{}", lines[1]);
    assert!(is_common_line(&lines[2], "127.0.0.1 - - [", "] \"HEAD / HTTP/1.1\" 200 0 "), "{}", lines[2]);

    let mut server = Server::start(&["--log-format", "json"]);
    curl(&[&server.url("/status/201")]).ok();
    server.signal("TERM");
    server.wait_exit();
    let lines = server.stdout.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    for field in ["\"method\":\"GET\"", "\"path\":\"/status/201\"", "\"protocol\":\"HTTP/1.1\"", "\"status\":201", "\"bytes\":12"] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(line.starts_with("{\"time\":") && line.contains("\"peer\":\"127.0.0.1:") && line.contains("\"duration_ms\":"), "{line}");

    let mut server = Server::start(&["--quiet"]);
    curl(&[&server.url("/")]).ok();
    server.signal("TERM");
    server.wait_exit();
    assert!(server.stdout.lock().unwrap().is_empty(), "--quiet logs nothing");
}

/// `line` is `start`, a date, `middle`, then a duration in seconds.
fn is_common_line(line: &str, start: &str, middle: &str) -> bool {
    let Some(rest) = line.strip_prefix(start) else { return false };
    let Some((date, rest)) = rest.split_once(middle) else { return false };
    date.len() == "06/Dec/2026:07:50:00 +0000".len() && rest.parse::<f64>().is_ok_and(|secs| secs >= 0.0)
}

#[test]
fn sigint_stops_an_idle_server_and_unix_sockets_work() {
    let dir = TempDir::new();
    let socket = dir.path().join("paf.sock");
    let mut server = Server::spawn(&["serve", "--unix", path_str(&socket)]);
    let reply = curl(&["--unix-socket", path_str(&socket), &server.url("/headers")]).ok();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.text().contains("\"host\": \"localhost\""),
        "{}",
        reply.text()
    );
    // A Unix socket's peer has no address: handlers see it by name.
    let reply = curl(&["--unix-socket", path_str(&socket), &server.url("/ip")]).ok();
    assert_eq!(reply.text(), "{\n  \"origin\": \"unix\"\n}\n");
    server.signal("INT");
    let exit = server.wait_exit();
    assert_eq!(
        exit.code(),
        Some(0),
        "paf serve exit status after SIGINT: {exit:?}"
    );
    assert!(!socket.exists(), "the socket file is removed on exit");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut child = Command::new(PAF)
        .args(["serve", "--port", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start paf");
    let status = wait_bounded(&mut child, "paf serve on a taken port");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert_eq!(
        stderr,
        format!("paf: cannot listen on 127.0.0.1:{port}: address already in use\n")
    );
}

// ---------------------------------------------------------------------------
// HTTP/2: over TLS by ALPN, and on clear text by prior knowledge

/// A CA, and a certificate for 127.0.0.1 it signed, as PEM files in `dir`:
/// (ca, cert, key).
fn tls_files(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subject names: openssl takes a leaf whose issuer equals its
    // own subject for self-signed.
    ca_params.distinguished_name.push(DnType::CommonName, "paf serve test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (
        dir.write("ca.pem", ca.pem().as_bytes()),
        dir.write("cert.pem", leaf.pem().as_bytes()),
        dir.write("key.pem", key.serialize_pem().as_bytes()),
    )
}

#[test]
fn https_speaks_h2_or_http_1_1_as_alpn_decides() {
    let dir = TempDir::new();
    let (ca, cert, key) = tls_files(&dir);
    let server = Server::start(&["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let reply = curl(&["--cacert", path_str(&ca), flag, "-w", "%{http_version}", &server.url("/status/418")]);
        assert_eq!(reply.code, Some(0), "{}", reply.log);
        assert_eq!(reply.status(), 418, "{}", reply.log);
        assert!(reply.text().ends_with(version), "{flag}: {}", reply.text());
    }
    let up = noise(MIB, 7);
    let file = dir.write("up.bin", &up);
    let reply = curl(&["--cacert", path_str(&ca), "--http2", "--data-binary", &format!("@{}", path_str(&file)), &server.url("/echo")]);
    assert_same_bytes(&reply.body, &up, "1 MiB echoed over h2 and TLS");
    // Without our CA, curl refuses the certificate: no insecure default.
    let reply = curl(&[&server.url("/")]);
    assert_ne!(reply.code, Some(0), "curl trusted a certificate of an unknown CA");
}

#[test]
fn h2c_by_prior_knowledge_and_http_1_1_on_one_port() {
    let server = Server::start(&["--h2c"]);
    let reply = curl(&["--http2-prior-knowledge", "-w", "%{http_version}", &server.url("/bytes/1048576")]);
    assert_eq!(reply.code, Some(0), "{}", reply.log);
    assert_eq!(reply.body.len(), MIB + 1, "1 MiB then the version");
    assert!(reply.body.ends_with(b"2"));
    assert_same_bytes(&reply.body[..MIB], &pattern(MIB), "1 MiB over h2c");
    let reply = curl(&["--http1.1", "-w", "%{http_version}", &server.url("/")]);
    assert!(reply.text().ends_with("1.1"), "{}", reply.text());
}

#[test]
fn unreadable_tls_files_are_a_one_line_error() {
    let dir = TempDir::new();
    let (_, cert, _) = tls_files(&dir);
    let out = Command::new(PAF)
        .args(["serve", "--port", "0", "--tls-cert", path_str(&cert), "--tls-key", "/nonexistent/key.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "paf: cannot read /nonexistent/key.pem: no such file or directory\n"
    );
    let out = Command::new(PAF)
        .args(["serve", "--port", "0", "--tls-cert", path_str(&cert), "--tls-key", path_str(&cert)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("paf: cannot use "), "{stderr}");
}
