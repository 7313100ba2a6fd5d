//! paf inside wasmtime, against real peers: curl against the command
//! component (`paf.wasm serve`, wasi:sockets) and against `paf-host` with
//! the library and httpbin components (host-handed flows, TLS terminated by
//! the host, traps and deadlines answered 500); the component's client
//! (`paf.wasm get`, `paf-host get`) against the native `paf serve` and
//! nginx, with TLS by rustls inside the component.
//!
//! They need wasmtime, the release components and paf-host: run them with
//! `scripts/test-wasi`, which builds those, sets `PAF_WASMTIME`,
//! `PAF_COMPONENTS` and `PAF_HOST`, and runs the ignored tests here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

mod common;
use common::{
    command_component_server, component, free_port, host_cache, host_proxy_server, host_server, native_server, paf_host, wasmtime,
    wasmtime_serve, Process,
};

/// The bound of every run of a command, and of every read.
const LIMIT: Duration = Duration::from_secs(30);

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("paf-wasi-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA, and a certificate it signed for `localhost` and
/// `127.0.0.1`, written as `ca.pem`, `cert.pem` and `key.pem` in `dir`.
fn certificates(dir: &Scratch) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "paf wasi test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    dir.write("ca.pem", ca.pem());
    dir.write("cert.pem", cert.pem());
    dir.write("key.pem", key.serialize_pem());
}

/// Runs `command` to its end, bounded, and gives what it printed.
fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    receiver.recv_timeout(LIMIT).unwrap_or_else(|_| panic!("{command:?} took over {LIMIT:?}")).unwrap()
}

/// curl's body and, after it, the HTTP version and the status.
fn curl(args: &[&str]) -> (Vec<u8>, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "-w", "\n%{http_version} %{http_code}"]).args(args);
    let output = run(&mut command);
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let mut body = output.stdout;
    let at = body.iter().rposition(|&b| b == b'\n').unwrap();
    let tail = String::from_utf8(body.split_off(at + 1)).unwrap();
    body.pop();
    (body, tail)
}

/// The bytes of `/bytes/{n}`: byte `i` is `i % 251`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
#[ignore = "needs wasmtime and the components: scripts/test-wasi"]
fn the_command_component_answers_curl_over_http1_and_h2c() {
    let port = free_port();
    let _server = command_component_server(port, &["--h2c"]);
    let base = format!("http://127.0.0.1:{port}");

    let (body, tail) = curl(&[&format!("{base}/bytes/100000")]);
    assert_eq!(tail, "1.1 200");
    assert_eq!(body, pattern(100_000));

    let (body, tail) = curl(&["--http2-prior-knowledge", "-H", "x-test: wasi", &format!("{base}/headers")]);
    assert_eq!(tail, "2 200");
    assert!(String::from_utf8(body).unwrap().contains(r#""x-test": "wasi""#));

    let upload: Vec<u8> = pattern(300_000);
    let scratch = Scratch::new("upload");
    let file = scratch.write("upload.bin", &upload);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (body, _) = curl(&[version, "--data-binary", &format!("@{}", file.display()), &format!("{base}/echo")]);
        assert_eq!(body.len(), upload.len(), "{version}");
        assert!(body == upload, "{version}: the echo differs");
    }

    let (body, tail) = curl(&[&format!("{base}/stream/3")]);
    assert_eq!((String::from_utf8(body).unwrap().lines().count(), tail.as_str()), (3, "1.1 200"));
    let (body, _) = curl(&[&format!("{base}/")]);
    assert!(String::from_utf8(body).unwrap().contains("/bytes/N"));
    let (_, tail) = curl(&[&format!("{base}/delay/50")]);
    assert_eq!(tail, "1.1 200");
    let (_, tail) = curl(&[&format!("{base}/nowhere")]);
    assert_eq!(tail, "1.1 404");
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn paf_host_serves_the_handler_component_and_survives_traps_and_spins() {
    let port = free_port();
    let _host = host_server(port, &["--handler-timeout", "1000"]);
    let base = format!("http://127.0.0.1:{port}");

    let (body, tail) = curl(&[&format!("{base}/bytes/70000")]);
    assert_eq!((tail.as_str(), body == pattern(70_000)), ("1.1 200", true));
    let (body, tail) = curl(&["--http2-prior-knowledge", &format!("{base}/headers")]);
    assert_eq!(tail, "2 200");
    assert!(String::from_utf8(body).unwrap().contains(r#""user-agent": "curl/"#));
    let (body, _) = curl(&["--data-binary", "hello from curl", &format!("{base}/echo")]);
    assert_eq!(body, b"hello from curl");

    let (body, tail) = curl(&[&format!("{base}/trap")]);
    assert_eq!(tail, "1.1 500");
    assert!(String::from_utf8_lossy(&body).starts_with("the handler failed"), "{}", String::from_utf8_lossy(&body));
    let started = Instant::now();
    let (_, tail) = curl(&["--http2-prior-knowledge", &format!("{base}/spin")]);
    assert_eq!(tail, "2 500");
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline is 1 s");

    // Still up, on the same connection and on new ones.
    let (_, tail) = curl(&[&format!("{base}/status/201")]);
    assert_eq!(tail, "1.1 201");
    let trap_then_ok = curl(&[&format!("{base}/trap"), "--next", "-w", "\n%{http_version} %{http_code}", &format!("{base}/status/202")]);
    assert!(trap_then_ok.1.ends_with("1.1 202"), "{trap_then_ok:?}");

    let cached = std::fs::read_dir(host_cache()).unwrap().filter(|entry| {
        entry.as_ref().unwrap().path().extension().is_some_and(|extension| extension == "cwasm")
    });
    assert!(cached.count() >= 2, "the cache holds both components");
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn paf_host_terminates_tls_and_hands_the_alpn_result_to_the_component() {
    let scratch = Scratch::new("host-tls");
    certificates(&scratch);
    let port = free_port();
    let (cert, key) = (scratch.0.join("cert.pem"), scratch.0.join("key.pem"));
    let extra = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let _host = host_server(port, &extra);
    let url = format!("https://localhost:{port}/bytes/20000");
    let ca = scratch.0.join("ca.pem");
    for (version, expected) in [("--http2", "2 200"), ("--http1.1", "1.1 200")] {
        let (body, tail) = curl(&["--cacert", ca.to_str().unwrap(), version, &url]);
        assert_eq!(tail, expected);
        assert!(body == pattern(20_000), "{version}");
    }
}

/// `paf.wasm get` in wasmtime, with `dir` readable as `/data`.
fn component_get(args: &[&str], dir: Option<&Path>) -> Output {
    let mut command = wasmtime();
    command.args(["run", "-S", "inherit-network", "-S", "allow-ip-name-lookup"]);
    if let Some(dir) = dir {
        command.arg("--dir").arg(format!("{}::/data", dir.display()));
    }
    command.arg(component("paf.wasm")).arg("get").args(args);
    let output = run(&mut command);
    assert!(output.status.success(), "paf.wasm get {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
#[ignore = "needs wasmtime and the components: scripts/test-wasi"]
fn the_component_client_fetches_from_the_native_server_over_wasi_sockets() {
    let port = free_port();
    let _server = native_server(port, &["--h2c"]);
    for host in ["127.0.0.1", "localhost"] {
        let output = component_get(&[&format!("http://{host}:{port}/bytes/200000")], None);
        assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "HTTP/1.1 200 OK");
        assert!(output.stdout == pattern(200_000), "{host}: the body differs");
    }
    let output = component_get(&["--http2-prior-knowledge", &format!("http://127.0.0.1:{port}/stream/5")], None);
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "HTTP/2.0 200 OK");
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 5);
}

/// A server that resets the connection: the component's client says so in
/// one line, as the native one does, not in the host's debug text.
#[test]
#[ignore = "needs wasmtime and the components: scripts/test-wasi"]
fn a_reset_reaches_the_component_client_as_a_reset() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resetter = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = std::io::Read::read(&mut conn, &mut [0; 64]);
        socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let mut command = wasmtime();
    command.args(["run", "-S", "inherit-network"]).arg(component("paf.wasm"));
    command.args(["get", &format!("http://127.0.0.1:{port}/")]);
    let output = run(&mut command);
    resetter.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the connection failed: the tcp connection was reset"), "{stderr}");
}

#[test]
#[ignore = "needs wasmtime, nginx and the components: scripts/test-wasi"]
fn the_component_client_speaks_tls_with_rustls_to_nginx() {
    let scratch = Scratch::new("nginx");
    certificates(&scratch);
    std::fs::create_dir_all(scratch.0.join("www")).unwrap();
    scratch.write("www/hello.txt", "hello from nginx\n");
    let (_nginx, port) = common::nginx_https(&scratch.0);

    let url = format!("https://localhost:{port}/hello.txt");
    let output = component_get(&["-v", "--cacert", "/data/ca.pem", &url], Some(&scratch.0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("HTTP/2.0 200 OK"), "{stderr}");
    assert!(stderr.contains("< server: nginx"), "{stderr}");
    assert_eq!(output.stdout, b"hello from nginx\n");

    let output = component_get(&["--http1.1", "--cacert", "/data/ca.pem", &url], Some(&scratch.0));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("HTTP/1.1 200 OK"));

    // Without our CA, the Mozilla roots refuse the certificate.
    let mut command = wasmtime();
    command.args(["run", "-S", "inherit-network", "-S", "allow-ip-name-lookup"]).arg(component("paf.wasm"));
    let output = run(command.args(["get", &url]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn the_library_client_fetches_through_the_host_resolver() {
    let port = free_port();
    let _server = native_server(port, &["--h2c"]);
    let mut command = paf_host();
    command.arg("get").arg("--component").arg(component("paf_library.wasm")).arg("--cache").arg(host_cache());
    let output = run(command.arg(format!("http://localhost:{port}/bytes/90000")));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "HTTP/1.1 200");
    assert!(output.stdout == pattern(90_000));
}

/// `paf-host serve` with `paf_served.wasm`: the library with the httpbin
/// handler composed in (no `--handler`), on `port`, with `extra` arguments.
fn composed_host(port: u16, extra: &[&str]) -> Process {
    let mut command = paf_host();
    command.arg("serve").arg("--component").arg(component("paf_served.wasm")).arg("--cache").arg(host_cache());
    command.args(["--port", &port.to_string()]).args(extra);
    Process::listening(command, port)
}

#[test]
#[ignore = "needs paf-host and the components composed with wac: scripts/test-wasi"]
fn a_library_composed_with_its_handler_serves_without_a_host_handler() {
    let port = free_port();
    let _host = composed_host(port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let (body, tail) = curl(&["--http2-prior-knowledge", &format!("{base}/bytes/3000")]);
    assert_eq!((tail.as_str(), body == pattern(3000)), ("2 200", true));

    // A trap inside the composition ends its connection's instance, and
    // that connection: no response. The host goes on.
    let mut trap = Command::new("curl");
    let output = run(trap.args(["-sS", "--max-time", "20", &format!("{base}/trap")]));
    assert!(!output.status.success(), "a trapped instance answers nothing");
    let (_, tail) = curl(&[&format!("{base}/status/203")]);
    assert_eq!(tail, "1.1 203");
}

/// The CPU time (user + system) a process uses over the next `window`.
fn cpu_used_over(pid: u32, window: Duration) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(window);
    cpu_time(pid) - before
}

/// The CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 on every architecture it runs on.
    Duration::from_millis(ticks * 10)
}

#[test]
#[ignore = "needs wasmtime and the components: scripts/test-wasi"]
fn an_idle_component_server_uses_no_cpu() {
    use std::io::{Read, Write};
    let port = free_port();
    let server = command_component_server(port, &["--h2c"]);
    // Keep-alive connections left open after requests that armed and
    // dropped timers (the delay, the connection's own timeouts).
    let mut idle = Vec::new();
    for path in ["/delay/30", "/bytes/10", "/delay/1", "/status/204"].iter().cycle().take(16) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert!(head.starts_with(b"HTTP/1.1 2"), "{path}: {}", String::from_utf8_lossy(&head));
        idle.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let used = cpu_used_over(server.0.id(), Duration::from_secs(2));
    assert!(used < Duration::from_millis(200), "wasmtime used {used:?} of CPU in 2 s while idle");
    drop(idle);
    // And once they are gone.
    std::thread::sleep(Duration::from_millis(300));
    let used = cpu_used_over(server.0.id(), Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "wasmtime used {used:?} of CPU in 1 s after the connections closed");
    let (_, tail) = curl(&[&format!("http://127.0.0.1:{port}/status/201")]);
    assert_eq!(tail, "1.1 201");
}

#[test]
#[ignore = "needs paf-host and the components composed with wac: scripts/test-wasi"]
fn paf_host_kills_a_connection_instance_that_computes_past_its_busy_timeout() {
    let port = free_port();
    let _host = composed_host(port, &["--busy-timeout", "1000"]);
    let base = format!("http://127.0.0.1:{port}");

    // The handler is composed into the library: /spin spins in the
    // connection's own instance, where only the busy timeout can stop it.
    let started = Instant::now();
    let spin_url = format!("{base}/spin");
    let spinning = std::thread::spawn(move || run(Command::new("curl").args(["-sS", "--max-time", "20", &spin_url])));
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let (_, tail) = curl(&[&format!("{base}/status/200")]);
    assert_eq!(tail, "1.1 200");
    assert!(asked.elapsed() < Duration::from_secs(2), "a spinning instance held up another connection: {:?}", asked.elapsed());

    let spun = spinning.join().unwrap();
    let took = started.elapsed();
    assert!(!spun.status.success(), "a killed instance answers nothing");
    assert!(took >= Duration::from_secs(1), "killed before its busy timeout: {took:?}");
    assert!(took < Duration::from_secs(10), "not killed by its busy timeout: {took:?}");
    let (_, tail) = curl(&[&format!("{base}/status/202")]);
    assert_eq!(tail, "1.1 202");
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn paf_host_bounds_its_connections_and_cuts_stalled_tls_handshakes() {
    use std::io::Read;
    let scratch = Scratch::new("host-bounds");
    certificates(&scratch);
    let port = free_port();
    let (cert, key) = (scratch.0.join("cert.pem"), scratch.0.join("key.pem"));
    let extra = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--max-connections", "2"];
    let _host = host_server(port, &extra);

    // Two connections that never start their handshake take both slots.
    let started = Instant::now();
    let stalled: Vec<std::net::TcpStream> =
        (0..2).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A third waits for a slot: it is answered once the handshake timeout
    // (10 s) has cut the stalled ones.
    let ca = scratch.0.join("ca.pem");
    let (_, tail) = curl(&["--cacert", ca.to_str().unwrap(), "--max-time", "25", &format!("https://localhost:{port}/status/200")]);
    let waited = started.elapsed();
    assert_eq!(tail, "2 200");
    assert!(waited >= Duration::from_secs(9), "answered after {waited:?}: the connection bound did not hold");
    assert!(waited < Duration::from_secs(20), "answered after {waited:?}: stalled handshakes were not cut");
    for mut stream in stalled {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        assert!(stream.read_to_end(&mut rest).is_ok(), "a stalled handshake is closed, not left open");
    }
}

/// One answer as curl saw it: the version, the status, the fields that
/// matter to a client (the type and the framing), and the body. The port
/// of the server, in the fields and in a text body (`/headers` names the
/// host), reads `PORT`, so answers of servers on other ports compare; the
/// lines of a JSON body are sorted.
#[derive(Debug, PartialEq)]
struct Answer {
    version: String,
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The fields of an answer that [`Answer`] keeps.
const FIELDS_THAT_MATTER: [&str; 3] = ["content-type", "content-length", "transfer-encoding"];

/// `curl -i` with `args` against the server on `port`, as an [`Answer`]
/// (interim `100 Continue` answers skipped).
fn fetch(port: u16, args: &[&str]) -> Answer {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "-i"]).args(args);
    let output = run(&mut command);
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let mut rest = &output.stdout[..];
    loop {
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("curl {args:?}: no head"));
        let head = String::from_utf8_lossy(&rest[..end]).replace(&format!(":{port}"), ":PORT");
        rest = &rest[end + 4..];
        let mut lines = head.lines();
        let mut status_line = lines.next().unwrap().split_whitespace();
        let version = status_line.next().unwrap().to_string();
        let status: u16 = status_line.next().unwrap().parse().unwrap();
        if (100..200).contains(&status) {
            continue;
        }
        let mut fields: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .filter(|(name, _)| FIELDS_THAT_MATTER.contains(&name.as_str()))
            .collect();
        fields.sort();
        let content_type = fields.iter().find(|(name, _)| name == "content-type").map_or("", |(_, value)| value.as_str());
        let body = if content_type.contains("json") && !content_type.contains("ndjson") {
            // One field per line (`/headers`), in an order wasmtime's
            // field map does not keep (it swaps the last field into the
            // place of `host`, which it takes out).
            let text = String::from_utf8_lossy(rest).replace(&format!(":{port}"), ":PORT");
            let mut lines: Vec<&str> = text.lines().map(|line| line.trim_end_matches(',')).collect();
            lines.sort_unstable();
            lines.join("\n").into_bytes()
        } else if content_type.starts_with("text/") {
            String::from_utf8_lossy(rest).replace(&format!(":{port}"), ":PORT").into_bytes()
        } else {
            rest.to_vec()
        };
        return Answer { version, status, fields, body };
    }
}

/// The requests every `wasi:http` host is held to (curl arguments after
/// the version flag, `{base}` the server's URL): the httpbin endpoints,
/// 4 MiB with a length, a chunked stream (and an empty one), uploads with
/// a length and chunked, HEAD, a 404; with `version` `--http1.1`, a body
/// the answer does not wait for.
fn httpbin_requests(upload: &Path, version: &str) -> Vec<Vec<String>> {
    let upload = format!("@{}", upload.display());
    let mut requests: Vec<Vec<&str>> = vec![
        vec!["{base}/"],
        vec!["{base}/bytes/4194304"],
        vec!["{base}/stream/20"],
        vec!["{base}/stream/0"],
        vec!["-H", "x-test: wasi-http", "{base}/headers"],
        vec!["{base}/status/418"],
        vec!["-X", "POST", "{base}/status/201"],
        vec!["{base}/delay/20"],
        vec!["{base}/nowhere"],
        vec!["-H", "content-type: application/x-test", "--data-binary", &upload, "{base}/echo"],
        vec!["-H", "transfer-encoding: chunked", "--data-binary", &upload, "{base}/echo"],
        vec!["-I", "{base}/bytes/1000"],
        vec!["-X", "POST", "{base}/bytes/10"],
    ];
    // Answered (405) before its body is read. Over HTTP/1.1 only: over
    // HTTP/2 the native server's reset of such a stream makes curl fail
    // now and then ("Stream error in the HTTP/2 framing layer").
    if version == "--http1.1" {
        requests.push(vec!["--data-binary", "hi", "{base}/"]);
    }
    requests.into_iter().map(|args| args.into_iter().map(String::from).collect()).collect()
}

/// Sends [`httpbin_requests`] with `version` and `curl_extra` (curl
/// flags) to the server at `base` and to the native `paf serve` at
/// `native_base`, the answers compared whole, HTTP version included.
fn answers_as_native(what: &str, (base, port): (&str, u16), (native_base, native_port): (&str, u16), version: &str, curl_extra: &[&str]) {
    let scratch = Scratch::new("wasi-http-upload");
    let upload = scratch.write("upload.bin", pattern(300_000));
    for request in httpbin_requests(&upload, version) {
        let ask = |base: &str, port: u16| {
            let args: Vec<String> = request.iter().map(|arg| arg.replace("{base}", base)).collect();
            let mut all: Vec<&str> = vec![version];
            all.extend(curl_extra);
            all.extend(args.iter().map(String::as_str));
            fetch(port, &all)
        };
        let (native, answer) = (ask(native_base, native_port), ask(base, port));
        assert!(
            answer == native,
            "{what}, {version} {request:?}:\n  native: {:?}\n  {what}: {:?}",
            (&native.version, native.status, &native.fields, String::from_utf8_lossy(&native.body[..native.body.len().min(300)])),
            (&answer.version, answer.status, &answer.fields, String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])),
        );
    }
}

#[test]
#[ignore = "needs wasmtime and the components: scripts/test-wasi"]
fn wasmtime_serve_runs_the_httpbin_proxy_component_as_native_paf_serve_answers() {
    let native_port = free_port();
    let _native = native_server(native_port, &[]);
    let port = free_port();
    let _served = wasmtime_serve("paf_httpbin_proxy.wasm", port);
    let native = format!("http://127.0.0.1:{native_port}");
    let served = format!("http://127.0.0.1:{port}");
    answers_as_native("wasmtime serve", (&served, port), (&native, native_port), "--http1.1", &[]);

    // What wasi:http does not carry: the peer's address.
    let (body, tail) = curl(&[&format!("http://127.0.0.1:{port}/ip")]);
    assert_eq!(tail, "1.1 200");
    assert!(String::from_utf8(body).unwrap().contains(r#""origin": "wasi-http-client""#));
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn paf_host_serves_the_httpbin_proxy_component_as_native_paf_serve_answers() {
    let native_port = free_port();
    let _native = native_server(native_port, &["--h2c"]);
    let port = free_port();
    let _host = host_proxy_server("paf_httpbin_proxy.wasm", port, &["--handler-timeout", "1000"]);
    let base = format!("http://127.0.0.1:{port}");
    let native = format!("http://127.0.0.1:{native_port}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        answers_as_native("paf-host --proxy", (&base, port), (&native, native_port), version, &[]);
    }

    // Per-instance caps: a trap and a spin past --handler-timeout are a
    // 500 for their request alone.
    let (body, tail) = curl(&[&format!("{base}/trap")]);
    assert_eq!(tail, "1.1 500");
    assert!(String::from_utf8_lossy(&body).starts_with("the component failed"), "{}", String::from_utf8_lossy(&body));
    let started = Instant::now();
    let (_, tail) = curl(&["--http2-prior-knowledge", &format!("{base}/spin")]);
    assert_eq!(tail, "2 500");
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline is 1 s");
    let (_, tail) = curl(&[&format!("{base}/status/202")]);
    assert_eq!(tail, "1.1 202");
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn paf_host_serves_the_httpbin_proxy_component_over_tls_with_h2_by_alpn() {
    let scratch = Scratch::new("host-proxy-tls");
    certificates(&scratch);
    let native_port = free_port();
    let (cert, key, ca) = (scratch.0.join("cert.pem"), scratch.0.join("key.pem"), scratch.0.join("ca.pem"));
    let tls = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let _native = native_server(native_port, &tls);
    let port = free_port();
    let _host = host_proxy_server("paf_httpbin_proxy.wasm", port, &tls);
    let cacert = ["--cacert", ca.to_str().unwrap()];
    let (base, native) = (format!("https://localhost:{port}"), format!("https://localhost:{native_port}"));
    for version in ["--http2", "--http1.1"] {
        answers_as_native("paf-host --proxy over TLS", (&base, port), (&native, native_port), version, &cacert);
    }
}

#[test]
#[ignore = "needs paf-host, nghttp and the components: scripts/test-wasi"]
fn paf_host_serves_a_component_with_no_paf_code_over_h1_h2c_and_tls() {
    let scratch = Scratch::new("host-wstd");
    certificates(&scratch);
    let upload = scratch.write("upload.bin", pattern(200_000));
    let clear_port = free_port();
    let _clear = host_proxy_server("hello_wstd.wasm", clear_port, &[]);
    let tls_port = free_port();
    let (cert, key, ca) = (scratch.0.join("cert.pem"), scratch.0.join("key.pem"), scratch.0.join("ca.pem"));
    let _tls = host_proxy_server("hello_wstd.wasm", tls_port, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let clear = format!("http://127.0.0.1:{clear_port}");
    let secure = format!("https://localhost:{tls_port}");
    let cacert = ca.to_str().unwrap();
    for (args, expected_version) in [
        (vec!["--http1.1", clear.as_str()], "1.1"),
        (vec!["--http2-prior-knowledge", clear.as_str()], "2"),
        (vec!["--http2", "--cacert", cacert, secure.as_str()], "2"),
        (vec!["--http1.1", "--cacert", cacert, secure.as_str()], "1.1"),
    ] {
        let (flags, base) = (&args[..args.len() - 1], args[args.len() - 1]);
        let hi = format!("{base}/hi");
        let (body, tail) = curl(&[flags, &[hi.as_str()]].concat());
        assert_eq!(tail, format!("{expected_version} 200"), "{args:?}");
        assert_eq!(String::from_utf8(body).unwrap(), "hello from wstd: GET /hi\n", "{args:?}");
        let (file, echo) = (format!("@{}", upload.display()), format!("{base}/echo"));
        let (body, tail) = curl(&[flags, &["--data-binary", file.as_str(), echo.as_str()]].concat());
        assert_eq!(tail, format!("{expected_version} 200"), "{args:?}");
        assert!(body == pattern(200_000), "{args:?}: the echo differs");
    }

    // nghttp2's client: h2c by prior knowledge, then h2 over TLS by ALPN
    // (nghttp does not check certificates), an upload each.
    for url in [format!("{clear}/echo"), format!("{secure}/echo")] {
        let mut nghttp = Command::new("nghttp");
        let output = run(nghttp.args(["-s", "-d"]).arg(&upload).arg(&url));
        assert!(output.status.success(), "nghttp {url}: {}", String::from_utf8_lossy(&output.stderr));
        // -s prints statistics after the body: the body comes first.
        assert!(output.stdout.starts_with(&pattern(200_000)), "nghttp {url}: the echo differs");
        let stats = String::from_utf8_lossy(&output.stdout[200_000..]).to_string();
        assert!(stats.contains("/echo"), "nghttp {url}: {stats}");
    }
}

#[test]
#[ignore = "needs paf-host and the components: scripts/test-wasi"]
fn the_library_world_streams_bodies_through_the_handler_exchange() {
    // paf-host with the library and the httpbin handler component answers
    // as native paf serve does, over HTTP/1.1 and h2c.
    let native_port = free_port();
    let _native = native_server(native_port, &["--h2c"]);
    let native = format!("http://127.0.0.1:{native_port}");
    let port = free_port();
    // 16 MiB per instance: 32 MiB echoed through the library and the
    // handler fits only if neither holds the body whole.
    let _host = host_server(port, &["--max-memory", "16"]);
    let base = format!("http://127.0.0.1:{port}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        answers_as_native("paf-host --handler", (&base, port), (&native, native_port), version, &[]);
    }
    let scratch = Scratch::new("library-stream");
    let upload: Vec<u8> = (0..32 << 20).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let file = scratch.write("upload.bin", &upload);
    let chunked: &[&str] = &["-H", "transfer-encoding: chunked"];
    for (version, framing) in [("--http1.1", &[][..]), ("--http1.1", chunked), ("--http2-prior-knowledge", &[][..])] {
        {
            let mut args = vec![version, "--data-binary"];
            let at_file = format!("@{}", file.display());
            let echo = format!("{base}/echo");
            args.extend([at_file.as_str()]);
            args.extend(framing);
            args.push(&echo);
            let (body, tail) = curl(&args);
            assert_eq!(tail.split(' ').nth(1), Some("200"), "{args:?}");
            assert!(body.len() == upload.len() && body == upload, "{args:?}: the 32 MiB echo differs ({} bytes back)", body.len());
        }
    }
}
