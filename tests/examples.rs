//! Every program of `examples/` run as a user runs it (`cargo run
//! --example NAME`), its output checked: so that none can rot.
//!
//! The examples are built by cargo from here, once per test process
//! (nothing to do when they are fresh), into the target directory and
//! profile this test was built in, with the `tower` feature that
//! `serve_tower` needs; then each binary runs with a time limit.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long an example may run: each ends by itself in well under a second.
const LIMIT: Duration = Duration::from_secs(60);

/// The binary of the example `name`, built.
fn example(name: &str) -> PathBuf {
    static EXAMPLES: OnceLock<PathBuf> = OnceLock::new();
    EXAMPLES
        .get_or_init(|| {
            // This test is <target>/<profile>/deps/examples-<hash>.
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
            let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
                "debug" => "dev".to_string(),
                other => other.to_string(),
            };
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--examples", "--features", "tower", "--profile", &profile])
                .arg("--manifest-path")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
            // What cargo tells a test about its package is no setting of
            // the build; build scripts that read it (ring's) would run again.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                let about_the_test = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_PRIMARY_", "CARGO_TARGET_TMPDIR"];
                if about_the_test.iter().any(|prefix| name.starts_with(prefix)) {
                    cargo.env_remove(&*name);
                }
            }
            let status = cargo.status().expect("cargo runs");
            assert!(status.success(), "cargo build --examples failed");
            profile_dir.join("examples")
        })
        .join(name)
}

/// Runs the example `name` to its end; what it printed, each port number
/// (`:12345`) written `:PORT`.
fn run(name: &str) -> String {
    let mut child = Command::new(example(name))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run the example {name}: {err}"));
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the example {name} did not end within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed ({}):\n{stdout}\n{stderr}", output.status);
    without_ports(&stdout)
}

fn without_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ':' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push_str("PORT");
        }
    }
    out
}

#[test]
fn mimic_ping_pong_prefers_the_unix_socket_and_falls_back_to_tcp() {
    assert_eq!(
        run("mimic_ping_pong"),
        "server: ping 1 from unix\n\
         client: pong 1 over the unix socket\n\
         server: ping 2 from unix\n\
         client: pong 2 over the unix socket\n\
         server: the unix socket is gone\n\
         server: ping 3 from 127.0.0.1:PORT\n\
         client: pong 3 over tcp\n"
    );
}

#[test]
fn connect_tunnel_fetches_http_and_https_through_the_proxy() {
    let output = run("connect_tunnel");
    let (through_proxy, proxy_down) = output.split_once("proxy: stopped\n").expect(&output);
    assert_eq!(
        through_proxy,
        "proxy: CONNECT localhost:PORT\n\
         client: http://localhost:PORT/a: HTTP/1.1: hello from the target, HTTP/1.1 /a\n\
         proxy: CONNECT localhost:PORT\n\
         client: https://localhost:PORT/b: HTTP/2, TLSv1.3: hello from the target, HTTP/2.0 /b\n"
    );
    // Without the proxy, http goes straight to the target (plain TCP, the
    // next priority); https has no clear text to fall back to.
    let (http, https) = proxy_down.split_once("\nclient: https").expect(&output);
    assert_eq!(http, "client: http://localhost:PORT/a: HTTP/1.1: hello from the target, HTTP/1.1 /a");
    assert!(https.starts_with("://localhost:PORT/b: cannot connect to https://localhost:PORT: "), "{output}");
    assert!(https.contains("http-connect (priority 10): its fold over (origin) declined"), "{output}");
    assert!(https.contains("tls (priority 50): cannot reach the proxy at 127.0.0.1:PORT: "), "{output}");
}

#[test]
fn serve_tower_answers_over_http1_and_h2c() {
    assert_eq!(
        run("serve_tower"),
        "200 OK (x-served-by: tower): hello from tower: GET /hello over HTTP/1.1 from 127.0.0.1:PORT\n\
         200 OK (x-served-by: tower): hello from tower: GET /hello over HTTP/2.0 from 127.0.0.1:PORT\n\
         stopped\n"
    );
}

#[test]
fn tls_connection_logs_what_each_request_knows_of_its_connection() {
    let output = run("tls_connection");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 4, "{output}");
    for (server, client, protocol, alpn) in [(lines[0], lines[1], "HTTP/2", "h2"), (lines[2], lines[3], "HTTP/1.1", "http/1.1")] {
        let (head, tls) = server.split_once(", TLSv1.3 ").expect(&output);
        assert_eq!(head, format!("server: GET /facts from 127.0.0.1:PORT to 127.0.0.1:PORT over {protocol}"), "{output}");
        let (cipher, names) = tls.split_once(", ").expect(&output);
        assert!(cipher.starts_with("TLS13_"), "{output}");
        assert_eq!(names, format!("ALPN {alpn}, SNI localhost"), "{output}");
        assert_eq!(client, format!("client: 200 OK hello over {protocol}"), "{output}");
    }
}
