//! `paf::serve` in the test's own runtime with a handler of the test's,
//! on loopback; real peers run against it ([`run`]: curl, nghttp, ...)
//! and a raw TCP client ([`raw_exchange`]) sees its exact bytes.

use std::net::SocketAddr;
use std::time::Duration;

use paf::rt::native::TcpListener;
use paf::{Config, Error, Switch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// How long a server may take to start or stop, and a peer to finish.
const LIMIT: Duration = Duration::from_secs(20);

/// `paf::serve` on loopback; stops when the guard drops.
pub struct Server {
    pub port: u16,
    switch: Switch,
    task: Option<tokio::task::JoinHandle<Result<(), Error>>>,
}

impl Server {
    /// Serves `service` with `config` on a free loopback port.
    pub async fn serving(config: Config, service: impl paf::Serve) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let switch = Switch::new();
        let task = tokio::spawn(paf::serve(listener, service, config, switch.clone()));
        timeout(LIMIT, switch.initialized()).await.unwrap();
        Server { port, switch, task: Some(task) }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An `https://localhost` URL (the test certificates' name).
    pub fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// curl's `--resolve` for [`Server::https`].
    pub fn resolve(&self) -> String {
        format!("localhost:{}:127.0.0.1", self.port)
    }

    /// Stops the server and waits (bounded) for `serve` to return `Ok`.
    pub async fn stop(mut self) {
        self.switch.stop();
        let task = self.task.take().unwrap();
        timeout(LIMIT, task).await.expect("serve returned").unwrap().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.switch.stop();
    }
}

/// Runs a command to its end within the limit, asserting it succeeded (it
/// fails, never skips, when the tool is missing: `scripts/setup` installs
/// it).
pub async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program).args(args).kill_on_drop(true).output();
    let output = timeout(LIMIT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in time"))
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A command's standard output, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `request` on a new connection to `addr` and reads until the
/// server closes it (failing if it does not within the limit): every byte
/// the server sent.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut answer)).await.expect("the server closed the connection").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
