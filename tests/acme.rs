//! Automatic HTTPS against Pebble, Let's Encrypt's test CA (Debian's
//! `pebble`, installed by scripts/setup): each test starts its own Pebble
//! on loopback with its own HTTPS certificate, and pebble-challtestsrv as
//! its DNS server (every name is 127.0.0.1). Pebble validates challenges
//! for real (no `PEBBLE_VA_ALWAYS_VALID`), on the ports of the `paf` under
//! test. Every wait is bounded; every process is killed when its test ends.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, scratch_dir, Ca, Process};

const PAF: &str = env!("CARGO_BIN_EXE_paf");
/// How long issuing, renewing or starting may take.
const LIMIT: Duration = Duration::from_secs(60);

/// A Pebble and its DNS server, killed when dropped.
struct Pebble {
    _dns: Process,
    pebble: Option<Process>,
    dir: PathBuf,
    /// The directory URL.
    url: String,
    /// The CA of Pebble's own HTTPS (for `--acme-ca`).
    https_ca: PathBuf,
    /// The root that issued certificates chain to (for curl).
    root: PathBuf,
    /// The ports Pebble validates HTTP-01 and TLS-ALPN-01 on.
    http_port: u16,
    tls_port: u16,
}

impl Pebble {
    fn start(name: &str) -> Pebble {
        Pebble::start_with(name, r#""externalAccountBindingRequired": false"#)
    }

    /// With `settings` (JSON members) in Pebble's configuration.
    fn start_with(name: &str, settings: &str) -> Pebble {
        let dir = scratch_dir(name);
        let (https_ca, cert, key) = Ca::new("Pebble's HTTPS").write(&dir);
        let [listen, management, dns, dns_management, http_port, tls_port] = [(); 6].map(|()| free_port());
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{listen}", "managementListenAddress": "127.0.0.1:{management}",
                "certificate": "{}", "privateKey": "{}", "httpPort": {http_port}, "tlsPort": {tls_port},
                "ocspResponderURL": "", {settings}}}}}"#,
            cert.display(),
            key.display()
        );
        std::fs::write(dir.join("pebble.json"), config).unwrap();
        let mut challtestsrv = Command::new("pebble-challtestsrv");
        challtestsrv
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}"), "-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(log(&dir, "challtestsrv.log"))
            .stderr(log(&dir, "challtestsrv.log"));
        let dns_server = Process::listening(challtestsrv, dns_management);
        let mut pebble = Command::new("pebble");
        pebble
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log(&dir, "pebble.log"))
            .stderr(log(&dir, "pebble.log"));
        let pebble = Process::listening(pebble, listen);
        let root = dir.join("root.pem");
        let fetched = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
            .arg(&https_ca)
            .arg(format!("https://127.0.0.1:{management}/roots/0"))
            .arg("-o")
            .arg(&root)
            .status()
            .expect("curl is not installed: run scripts/setup");
        assert!(fetched.success(), "cannot fetch Pebble's root");
        Pebble {
            _dns: dns_server,
            pebble: Some(pebble),
            url: format!("https://127.0.0.1:{listen}/dir"),
            dir,
            https_ca,
            root,
            http_port,
            tls_port,
        }
    }

    /// The `paf` arguments that use this CA.
    fn args(&self) -> Vec<String> {
        vec![
            "--acme-directory".into(),
            self.url.clone(),
            "--acme-ca".into(),
            self.https_ca.display().to_string(),
            "--acme-email".into(),
            "ops@paf.test".into(),
        ]
    }

    /// Stops Pebble (its DNS server stays).
    fn stop(&mut self) {
        self.pebble.take();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.pebble.take();
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("Pebble's logs are in {}", self.dir.display());
        }
    }
}

fn log(dir: &Path, name: &str) -> Stdio {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap();
    Stdio::from(file)
}

/// `paf FIRST ARGS`, its stderr piped.
fn paf(first: &[&str], args: &[String]) -> Child {
    Command::new(PAF)
        .args(first)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {PAF}: {err}"))
}

/// A running `paf serve --acme`, its stderr collected, killed when dropped.
struct Served {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(args: &[String]) -> Served {
        let mut child = paf(&["serve", "--quiet"], args);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Served { child, stderr }
    }

    /// The first stderr line after the first `skip` that contains
    /// `needle`; fails the test after [`LIMIT`] or if `paf` exits.
    fn wait_for(&mut self, needle: &str, skip: usize) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(line) = self.stderr.lock().unwrap().iter().skip(skip).find(|line| line.contains(needle)) {
                return line.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                panic!("paf exited with {status} before {needle:?}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "no {needle:?} from paf in {LIMIT:?}:\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn lines(&self) -> usize {
        self.stderr.lock().unwrap().len()
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `paf serve --acme NAME` on Pebble's challenge ports.
fn serve_args(pebble: &Pebble, name: &str, dir: &Path, challenge: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--acme".into(),
        name.into(),
        "--acme-dir".into(),
        dir.display().to_string(),
        "--port".into(),
        pebble.tls_port.to_string(),
        "--http-port".into(),
        pebble.http_port.to_string(),
        "--acme-challenge".into(),
        challenge.into(),
    ];
    args.extend(pebble.args());
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

/// What curl got from `https://NAME:PORT/PATH` trusting Pebble's root: the
/// status, the HTTP version, and the serial of the certificate.
struct Fetched {
    status: String,
    http_version: String,
    serial: String,
    body_size: u64,
}

fn curl(pebble: &Pebble, name: &str, port: u16, path: &str, extra: &[&str]) -> Fetched {
    let output = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "60", "-o", "/dev/null", "--cacert"])
        .arg(&pebble.root)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(extra)
        .args(["-w", "status=%{http_code} version=%{http_version} size=%{size_download}\n%{certs}"])
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .expect("curl is not installed: run scripts/setup");
    fetched(&output)
}

fn fetched(output: &Output) -> Fetched {
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "curl failed: {}{text}", String::from_utf8_lossy(&output.stderr));
    let first = text.lines().next().unwrap_or_default();
    let field = |key: &str| first.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap_or_default().to_string();
    // The leaf comes first in %{certs}.
    let serial = text.lines().find_map(|line| line.strip_prefix("Serial Number:")).unwrap_or_default();
    Fetched {
        status: field("status="),
        http_version: field("version="),
        serial: normal_serial(serial),
        body_size: field("size=").parse().unwrap_or(0),
    }
}

/// A serial as hex digits, lowercase, without leading zeros or colons.
fn normal_serial(serial: &str) -> String {
    serial.trim().replace(':', "").to_ascii_lowercase().trim_start_matches('0').to_string()
}

/// The serial in a `paf: acme: ... (serial X...)` line.
fn serial_in(line: &str) -> String {
    let after = line.split("serial ").nth(1).unwrap_or_else(|| panic!("no serial in {line:?}"));
    normal_serial(after.split([',', ')']).next().unwrap())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn http01_issuance_serves_h2_and_a_second_start_reuses_the_stored_certificate() {
    let mut pebble = Pebble::start("acme-http01");
    let dir = pebble.dir.join("state");
    let name = "www.paf.test";
    let args = serve_args(&pebble, name, &dir, "http-01", &[]);
    let mut served = Served::start(&args);
    let saved = served.wait_for("certificate saved", 0);
    served.wait_for("serving the new certificate", 0);
    let first = curl(&pebble, name, pebble.tls_port, "/", &[]);
    assert_eq!((first.status.as_str(), first.http_version.as_str()), ("200", "2"));
    assert_eq!(first.serial, serial_in(&saved));
    // The clear-text port redirects what is not a challenge.
    let redirect = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"])
        .arg(format!("http://127.0.0.1:{}/get?x=1", pebble.http_port))
        .args(["-H", &format!("Host: {name}")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&redirect.stdout), format!("308 https://{name}:{}/get?x=1", pebble.tls_port));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("key.pem")), 0o600);
        let account = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("account-")
        });
        assert_eq!(mode(&account.expect("the account is stored")), 0o600);
    }
    drop(served);

    // Without the CA: the stored certificate serves at once.
    pebble.stop();
    let mut again = Served::start(&args);
    let reused = again.wait_for("stored certificate reused", 0);
    again.wait_for("next renewal in", 0);
    assert!(!again.log().contains("account"), "the CA was contacted:\n{}", again.log());
    let second = curl(&pebble, name, pebble.tls_port, "/", &[]);
    assert_eq!((second.status.as_str(), second.http_version.as_str()), ("200", "2"));
    assert_eq!(second.serial, first.serial);
    assert_eq!(serial_in(&reused), first.serial);
    println!("http-01: issued serial {}, served over h2, re-used at the second start without the CA", first.serial);
}

#[test]
fn tls_alpn01_issuance_on_the_https_port_alone_serves_h2() {
    let pebble = Pebble::start("acme-tls-alpn01");
    let dir = pebble.dir.join("state");
    let names = ["alpn.paf.test", "alpn2.paf.test"];
    // Pebble's HTTP-01 port is not paf's: only TLS-ALPN-01 can succeed.
    let mut args = serve_args(&pebble, names[0], &dir, "tls-alpn-01", &["--acme", names[1]]);
    let elsewhere = free_port().to_string();
    let at = args.iter().position(|arg| arg == "--http-port").unwrap();
    args[at + 1] = elsewhere;
    let mut served = Served::start(&args);
    let saved = served.wait_for("certificate saved", 0);
    served.wait_for("serving the new certificate", 0);
    assert!(served.log().contains("answering the tls-alpn-01 challenge for alpn2.paf.test"), "{}", served.log());
    for name in names {
        let got = curl(&pebble, name, pebble.tls_port, "/", &[]);
        assert_eq!((got.status.as_str(), got.http_version.as_str()), ("200", "2"), "{name}");
        assert_eq!(got.serial, serial_in(&saved));
    }
    // A client offering acme-tls/1 with no challenge pending gets no certificate.
    let probe = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", pebble.tls_port), "-servername", names[0]])
        .args(["-alpn", "acme-tls/1"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl is not installed: run scripts/setup");
    assert!(!probe.status.success(), "an acme-tls/1 handshake without a challenge succeeded");
    println!("tls-alpn-01: issued serial {} for {} names on the HTTPS port alone", serial_in(&saved), names.len());
}

#[test]
fn a_forced_renewal_under_a_50_mib_download_loses_nothing() {
    const SIZE: usize = 50 * 1024 * 1024;
    let pebble = Pebble::start("acme-renewal");
    let dir = pebble.dir.join("state");
    let site = pebble.dir.join("www");
    std::fs::create_dir_all(&site).unwrap();
    let content: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.join("big.bin"), &content).unwrap();
    let name = "renew.paf.test";
    let root = site.display().to_string();
    let args = serve_args(&pebble, name, &dir, "http-01", &["--root", &root]);
    let mut served = Served::start(&args);
    let old = serial_in(&served.wait_for("certificate saved", 0));
    served.wait_for("serving the new certificate", 0);

    // The download, slowed so that the renewal happens in its middle.
    let downloaded = pebble.dir.join("big.download");
    let download = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "120", "--limit-rate", "8M", "--cacert"])
        .arg(&pebble.root)
        .args(["--resolve", &format!("{name}:{}:127.0.0.1", pebble.tls_port)])
        .args(["-w", "status=%{http_code} version=%{http_version} size=%{size_download}\n%{certs}", "-o"])
        .arg(&downloaded)
        .arg(format!("https://{name}:{}/big.bin", pebble.tls_port))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    while std::fs::metadata(&downloaded).map_or(0, |m| m.len()) < 4 * 1024 * 1024 {
        assert!(Instant::now() < deadline, "the download does not progress");
        thread::sleep(Duration::from_millis(20));
    }

    // New connections before, during and after the renewal: none may fail.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probes = Arc::new(Mutex::new(Vec::new()));
    let prober = {
        let (stop, serials) = (stop.clone(), probes.clone());
        let (root, port) = (pebble.root.clone(), pebble.tls_port);
        thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let output = Command::new("curl")
                    .args(["-sS", "--http2", "--max-time", "20", "-o", "/dev/null", "--cacert"])
                    .arg(&root)
                    .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
                    .args(["-w", "status=%{http_code} version=%{http_version} size=%{size_download}\n%{certs}"])
                    .arg(format!("https://{name}:{port}/status/200"))
                    .output()
                    .unwrap();
                serials.lock().unwrap().push(output.status.success().then(|| fetched(&output)));
            }
        })
    };
    while probes.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "the probes do not progress");
        thread::sleep(Duration::from_millis(10));
    }
    let mark = served.lines();
    served.signal("HUP");
    let renewed = serial_in(&served.wait_for("renewed: new certificate served", mark));
    assert_ne!(renewed, old);
    let during = download.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    prober.join().unwrap();
    let probes = std::mem::take(&mut *probes.lock().unwrap());

    let download = fetched(&during);
    assert_eq!((download.status.as_str(), download.body_size), ("200", SIZE as u64));
    assert_eq!(download.serial, old, "the download's connection changed certificate");
    assert!(std::fs::read(&downloaded).unwrap() == content, "the downloaded bytes differ");
    let next = curl(&pebble, name, pebble.tls_port, "/status/200", &[]);
    assert_eq!(next.status, "200");
    assert_eq!(next.serial, renewed, "a new connection after the renewal has the old certificate");

    let failed = probes.iter().filter(|probe| probe.as_ref().is_none_or(|p| p.status != "200")).count();
    let with_old = probes.iter().flatten().filter(|p| p.serial == old).count();
    let with_new = probes.iter().flatten().filter(|p| p.serial == renewed).count();
    println!(
        "renewal under load: the {SIZE}-byte download completed on the old certificate ({old}); \
         {} new connections before, during and after the renewal: {with_old} with the old certificate, {with_new} with the new ({renewed}), {failed} failed",
        probes.len()
    );
    assert_eq!(failed, 0, "requests were lost during the renewal");
    assert!(with_old >= 5 && with_new >= 1, "the probes did not see both certificates");
}

/// Runs `paf cert ARGS`; its exit status and stderr.
fn paf_cert(args: &[String]) -> (bool, String) {
    let mut child = paf(&["cert"], args);
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("paf cert {args:?} did not finish in {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn cert_args(pebble: &Pebble, out: &Path, names: &[&str], http_port: u16) -> Vec<String> {
    let mut args: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    args.extend(["--out".into(), out.display().to_string(), "--host".into(), "127.0.0.1".into()]);
    args.extend(["--http-port".into(), http_port.to_string()]);
    args.extend(pebble.args());
    args
}

/// The last line of `stderr`, checked to be the one error line.
fn error_line(stderr: &str) -> &str {
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("paf: ") && !last.starts_with("paf: acme:"), "not an error line: {stderr}");
    last
}

#[test]
fn failures_are_one_clear_line_and_a_serving_server_keeps_serving() {
    let mut pebble = Pebble::start("acme-failures");
    let out = pebble.dir.join("cert");

    // `paf cert` succeeds once, then each failure is one line.
    let (ok, stderr) = paf_cert(&cert_args(&pebble, &out, &["cert.paf.test"], pebble.http_port));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("paf: acme: certificate saved"), "{stderr}");
    let issued = std::fs::read_to_string(out.join("certificate.pem")).unwrap();
    assert!(issued.matches("BEGIN CERTIFICATE").count() >= 2, "the chain has its intermediate");

    let mut unreachable = cert_args(&pebble, &pebble.dir.join("none"), &["x.paf.test"], pebble.http_port);
    let closed = format!("https://127.0.0.1:{}/dir", free_port());
    let at = unreachable.iter().position(|arg| *arg == pebble.url).unwrap();
    unreachable[at] = closed.clone();
    let (ok, stderr) = paf_cert(&unreachable);
    let line = error_line(&stderr);
    assert!(!ok);
    assert!(line.starts_with(&format!("paf: cannot reach the ACME directory {closed}: ")), "{line}");
    assert!(line.contains("connection refused"), "{line}");

    // Pebble validates on its HTTP-01 port, where nothing listens.
    let (ok, stderr) = paf_cert(&cert_args(&pebble, &out, &["unreachable.paf.test"], free_port()));
    let challenge = error_line(&stderr).to_string();
    assert!(!ok);
    assert!(challenge.starts_with("paf: the http-01 challenge for unreachable.paf.test failed: "), "{challenge}");
    assert!(challenge.contains("connection refused") && challenge.contains("acme:error:connection"), "{challenge}");

    let (ok, stderr) = paf_cert(&cert_args(&pebble, &out, &["under_score.paf.test"], pebble.http_port));
    let refused = error_line(&stderr).to_string();
    assert!(!ok);
    assert!(refused.starts_with("paf: the ACME CA refuses the names: "), "{refused}");
    assert!(refused.contains("illegal character") && refused.contains("acme:error:malformed"), "{refused}");

    // A server already serving: its renewal fails, it keeps serving.
    let name = "kept.paf.test";
    let mut served = Served::start(&serve_args(&pebble, name, &pebble.dir.join("state"), "http-01", &[]));
    let serial = serial_in(&served.wait_for("certificate saved", 0));
    served.wait_for("serving the new certificate", 0);
    pebble.stop();
    let mark = served.lines();
    served.signal("HUP");
    let failure = served.wait_for("renewal failed", mark);
    assert!(failure.contains("the current certificate stays; retry in 60s: cannot reach the ACME directory"), "{failure}");
    let still = curl(&pebble, name, pebble.tls_port, "/status/200", &[]);
    assert_eq!((still.status.as_str(), still.serial.as_str()), ("200", serial.as_str()));
    println!("failures, one line each:\n  {line}\n  {challenge}\n  {refused}\n  {failure}\nand the server kept serving ({serial})");
}

#[tokio::test]
async fn a_tls_alpn01_certificate_goes_only_to_acme_tls_and_nothing_is_served_after_it() {
    use paf::engine::alpn;
    use paf::tls::ServerTls;

    let tls = ServerTls::acme_challenges_only();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["pending.paf.test".to_string()]).unwrap();
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&[7; 32])];
    let challenge = params.self_signed(&key).unwrap();
    tls.set_acme_challenge("pending.paf.test", challenge.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();

    let listener = paf::rt::native::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = paf::service_fn(|_| async { paf::Response::new(paf::Body::from("served")) });
    let switch = paf::Switch::new();
    tokio::spawn(paf::serve(listener, alpn::service(alpn::Tls::new(tls.config()), handler), paf::Config::default(), switch.clone()));

    // openssl shows what it got without judging the certificate (paf's
    // client, as any, refuses its critical acmeIdentifier extension).
    let s_client = |alpn: &'static str, name: &'static str| async move {
        let mut child = tokio::process::Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-servername", name, "-alpn", alpn])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl is not installed: run scripts/setup");
        let mut stdin = child.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, b"GET / HTTP/1.1\r\nHost: pending.paf.test\r\n\r\n").await.unwrap();
        // Let the server answer, if it would, before the end of input.
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(stdin);
        let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // The validation's handshake gets the challenge certificate, and the
    // connection ends with it: the request on it goes unanswered.
    let validation = s_client("acme-tls/1", "pending.paf.test").await;
    assert!(validation.contains("ALPN protocol: acme-tls/1"), "{validation}");
    let certificate: String = challenge.pem().split_whitespace().collect();
    let shown: String = validation.split_whitespace().collect();
    assert!(shown.contains(&certificate), "not the challenge certificate: {validation}");
    assert!(!validation.contains("HTTP/1.1 200") && !validation.contains("served"), "served: {validation}");
    // No challenge for that name, or an application protocol while there is
    // no certificate yet: no certificate at all.
    for (alpn, name) in [("acme-tls/1", "other.paf.test"), ("h2", "pending.paf.test"), ("acme-tls/1,h2", "pending.paf.test")] {
        let refused = s_client(alpn, name).await;
        assert!(!refused.contains("BEGIN CERTIFICATE"), "{alpn} {name}: {refused}");
    }
    tls.remove_acme_challenge("pending.paf.test");
    assert!(!s_client("acme-tls/1", "pending.paf.test").await.contains("BEGIN CERTIFICATE"));
    switch.stop();
}

#[test]
fn an_external_account_binding_is_asked_for_and_given() {
    const KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let pebble = Pebble::start_with(
        "acme-eab",
        &format!(r#""externalAccountBindingRequired": true, "externalAccountMACKeys": {{"kid-1": "{KEY}"}}"#),
    );
    let names = ["eab.paf.test"];

    let (ok, stderr) = paf_cert(&cert_args(&pebble, &pebble.dir.join("without"), &names, pebble.http_port));
    let without = error_line(&stderr).to_string();
    assert!(!ok);
    assert!(without.starts_with("paf: the ACME CA requires an external account binding"), "{without}");

    let mut wrong = cert_args(&pebble, &pebble.dir.join("wrong"), &names, pebble.http_port);
    wrong.extend(["--acme-eab-kid".into(), "kid-1".into(), "--acme-eab-hmac".into(), "d3Jvbmcga2V5".into()]);
    let (ok, stderr) = paf_cert(&wrong);
    let refused = error_line(&stderr).to_string();
    assert!(!ok, "a wrong HMAC key was accepted");

    let out = pebble.dir.join("with");
    let mut with = cert_args(&pebble, &out, &names, pebble.http_port);
    with.extend(["--acme-eab-kid".into(), "kid-1".into(), "--acme-eab-hmac".into(), KEY.into()]);
    let (ok, stderr) = paf_cert(&with);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("paf: acme: account created") && out.join("certificate.pem").exists(), "{stderr}");
    println!("external account binding: without it: {without}\n  a wrong key: {refused}\n  the right one: issued");
}
