//! What the integration tests share: peer processes killed when a test
//! ends (waiting until they listen; Python's file server over a small
//! site), paf's own httpbin servers on each runtime (the native `paf
//! serve`, `paf.wasm serve` in wasmtime, `paf-host` with the handler
//! component, the npm package's server in Node; the `wasi:http/proxy`
//! components under `wasmtime serve` and `paf-host serve --proxy`), scratch directories, free
//! loopback ports, a test CA, and `paf::serve` in the test's own runtime
//! with real peers against it (`serving`).
//! Each test crate uses its own part of it.
#![allow(dead_code)]

pub mod runtime;
pub mod serving;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A server process killed when the test ends, however it ends, and its
/// scratch directory removed.
pub struct Peer {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How long a peer may take to start listening (wasmtime may compile a
/// component first).
const START_LIMIT: Duration = Duration::from_secs(30);

/// Waits until `ready()` (the peer listens), failing the test if `child`
/// exits first or takes too long.
pub fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + START_LIMIT;
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts connections on the loopback `port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A process killed when the test ends, however it ends.
pub struct Process(pub Child);

impl Process {
    /// Starts `command`, its stdin closed, and waits until it listens on
    /// the loopback `port`.
    pub fn listening(command: Command, port: u16) -> Process {
        Process::start(command, port, Stdio::null())
    }

    /// As [`Process::listening`], with its stdin a pipe that stays open
    /// until [`Process::close_stdin`] (how a component is told to stop:
    /// `paf.wasm serve --stop-on-eof`).
    pub fn listening_with_stdin(command: Command, port: u16) -> Process {
        Process::start(command, port, Stdio::piped())
    }

    fn start(mut command: Command, port: u16, stdin: Stdio) -> Process {
        let child = command.stdin(stdin).spawn().unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
        let mut process = Process(child);
        wait_until(&mut process.0, &format!("{command:?}"), || listening(port));
        process
    }

    /// Closes the process's stdin (a pipe from [`Process::listening_with_stdin`]).
    pub fn close_stdin(&mut self) {
        drop(self.0.stdin.take().expect("a process started with its stdin piped"));
    }

    /// Sends the process SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM {}", self.0.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The native `paf serve` on `port`, with `extra` arguments and no access
/// log (the tests' thousands of requests would fill their output).
pub fn native_server(port: u16, extra: &[&str]) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paf"));
    command.args(["serve", "--quiet", "--port", &port.to_string()]).args(extra);
    Process::listening(command, port)
}

/// `paf.wasm serve` in wasmtime, on `wasi:sockets`, with `extra` arguments.
/// It stops gracefully when its stdin closes ([`Process::close_stdin`]).
pub fn command_component_server(port: u16, extra: &[&str]) -> Process {
    let mut command = wasmtime();
    command.args(["run", "-S", "inherit-network", "-S", "allow-ip-name-lookup"]);
    command.arg(component("paf.wasm")).args(["serve", "--stop-on-eof", "--port", &port.to_string()]).args(extra);
    Process::listening_with_stdin(command, port)
}

/// `paf-host serve` with the library and httpbin components, with `extra`
/// arguments.
pub fn host_server(port: u16, extra: &[&str]) -> Process {
    let mut command = paf_host();
    command.arg("serve").arg("--component").arg(component("paf_library.wasm"));
    command.arg("--handler").arg(component("paf_httpbin.wasm")).arg("--cache").arg(host_cache());
    command.args(["--port", &port.to_string()]).args(extra);
    Process::listening(command, port)
}

/// `wasmtime serve` with the `wasi:http/proxy` component `name` (in
/// `$PAF_COMPONENTS`) on the loopback `port`: HTTP/1.1 only, on hyper,
/// with `-Scli` (the WASI the component's clocks and `stderr` come from).
pub fn wasmtime_serve(name: &str, port: u16) -> Process {
    let mut command = wasmtime();
    command.args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")]).arg(component(name));
    Process::listening(command, port)
}

/// `paf-host serve --proxy` with the `wasi:http/proxy` component `name`
/// (in `$PAF_COMPONENTS`): paf's engine natively (HTTP/1.1, h2c, and with
/// `--tls-cert` TLS with h2 by ALPN), a fresh instance per request; with
/// `extra` arguments.
pub fn host_proxy_server(name: &str, port: u16, extra: &[&str]) -> Process {
    let mut command = paf_host();
    command.arg("serve").arg("--proxy").arg("--component").arg(component(name)).arg("--cache").arg(host_cache());
    command.args(["--port", &port.to_string()]).args(extra);
    Process::listening(command, port)
}

/// The httpbin handler in Node, on the npm package's `listenTcp`
/// (`tests/node/httpbin-server.mjs` with the module in
/// `$PAF_NODE_HTTPBIN`), with `extra` arguments.
pub fn node_server(port: u16, extra: &[&str]) -> Process {
    let module = std::env::var_os("PAF_NODE_HTTPBIN").expect("PAF_NODE_HTTPBIN: run scripts/build-node-httpbin");
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/httpbin-server.mjs");
    let mut command = Command::new("node");
    command.arg(program).arg(module).args(["--port", &port.to_string()]).args(extra);
    Process::listening(command, port)
}

/// An nginx configuration that keeps its pid, logs and temporary files in
/// `dir`, with `http` (the access log, servers, ...) in its `http` block.
pub fn nginx_conf(dir: &Path, http: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
{http}
}}
"
    )
}

/// nginx over TLS with HTTP/2 on a free loopback port, serving `dir/www`
/// with `dir/cert.pem` and `dir/key.pem` (see [`nginx_conf`]), and that
/// port.
pub fn nginx_https(dir: &Path) -> (Process, u16) {
    let port = free_port();
    let d = dir.display();
    let server = format!(
        "  access_log off;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    root {d}/www;
  }}"
    );
    std::fs::write(dir.join("nginx.conf"), nginx_conf(dir, &server)).unwrap();
    let mut nginx = Command::new("/usr/sbin/nginx");
    nginx.arg("-p").arg(dir).arg("-e").arg(dir.join("error.log")).arg("-c").arg(dir.join("nginx.conf"));
    (Process::listening(nginx, port), port)
}

/// The wasmtime CLI: `$PAF_WASMTIME`, or `wasmtime` on the `PATH`.
pub fn wasmtime() -> Command {
    Command::new(std::env::var_os("PAF_WASMTIME").unwrap_or_else(|| "wasmtime".into()))
}

/// `paf-host`: `$PAF_HOST`.
pub fn paf_host() -> Command {
    Command::new(std::env::var_os("PAF_HOST").expect("PAF_HOST: run scripts/test-wasi"))
}

/// The component `name` in `$PAF_COMPONENTS`.
pub fn component(name: &str) -> PathBuf {
    let dir = std::env::var_os("PAF_COMPONENTS").expect("PAF_COMPONENTS: run scripts/test-wasi");
    let path = Path::new(&dir).join(name);
    assert!(path.exists(), "{} is missing: run scripts/test-wasi", path.display());
    path
}

/// Where every test's paf-host keeps compiled components: each is
/// compiled once for all the tests.
pub fn host_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("paf-host-cache")
}

/// A deterministic mebibyte, so a checksum mismatch shows.
pub fn mebibyte() -> Vec<u8> {
    (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect()
}

/// The `index.html` of [`write_site`].
pub const INDEX: &str = "<h1>hello from the peer</h1>\n";

/// Fills `dir/www` with `index.html` ([`INDEX`]) and `big.bin` ([`mebibyte`]).
pub fn write_site(dir: &Path) {
    std::fs::write(dir.join("www/index.html"), INDEX).unwrap();
    std::fs::write(dir.join("www/big.bin"), mebibyte()).unwrap();
}

/// `python3 -m http.server` serving [`write_site`]'s site.
pub fn python_http_server() -> Peer {
    let dir = scratch_dir("python");
    write_site(&dir);
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
        .arg(dir.join("www"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is not installed: run scripts/setup");
    wait_until(&mut child, "python3 -m http.server", || listening(port));
    Peer { child, port, dir }
}

/// A fresh directory with an empty `www/` in it. Tests run on parallel
/// threads of one process: each gets its own.
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("paf-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    dir
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A test CA and a certificate it signed for `localhost` and `127.0.0.1`.
pub struct Ca {
    pub pem: String,
    pub leaf_pem: String,
    pub leaf_der: Vec<u8>,
    pub leaf_key_pem: String,
    /// The CA's own certificate and key, to sign more.
    issuer: (rcgen::Certificate, rcgen::KeyPair),
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names).unwrap().signed_by(&leaf_key, &ca, &ca_key).unwrap();
        Ca {
            pem: ca.pem(),
            leaf_pem: leaf.pem(),
            leaf_der: leaf.der().to_vec(),
            leaf_key_pem: leaf_key.serialize_pem(),
            issuer: (ca, ca_key),
        }
    }

    /// A client certificate (mutual TLS) with the common name `name`,
    /// signed by this CA: its PEM and its key's.
    pub fn client_certificate(&self, name: &str) -> (String, String) {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer.0, &self.issuer.1).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`; their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&paths.0, &self.pem).unwrap();
        std::fs::write(&paths.1, &self.leaf_pem).unwrap();
        std::fs::write(&paths.2, &self.leaf_key_pem).unwrap();
        paths
    }
}
