//! The runtimes paf serves on, for the suites that run the same tests on
//! each (issue 25, item 6): the native `paf serve`, `paf.wasm serve` in
//! wasmtime (`wasi:sockets`), and the npm package's server in Node
//! ([`super::node_server`]), each serving the httpbin handler in a process
//! of its own, so that its memory is its own ([`rss_kib`]). Besides them,
//! the hosts of the `wasi:http/proxy` build of httpbin ([`WasiHttpHost`]:
//! `wasmtime serve`, `paf-host serve --proxy`), which take no `paf serve`
//! arguments and so run no suite of [`on_every_runtime!`].
//!
//! A suite is one `async fn(Runtime)`; [`on_every_runtime!`] makes a test of
//! it per runtime, the wasm and Node ones `#[ignore]`d with the reasons of
//! `tests/conformance.rs` (so `scripts/test-wasi` runs them), and each test
//! prints one [`Table`] of its results.

use std::fmt;
use std::net::SocketAddr;

use super::{command_component_server, free_port, host_proxy_server, native_server, node_server, wasmtime_serve, Process};

/// Where a suite runs its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `paf serve`, on tokio.
    Native,
    /// `paf.wasm serve` in wasmtime, on `rt::wasi`.
    Component,
    /// The httpbin build of the npm package's server, in Node, on `rt::js`.
    Node,
}

impl Runtime {
    /// The server, as a table's title says it.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native `paf serve`",
            Runtime::Component => "`paf.wasm serve` in wasmtime",
            Runtime::Node => "`serve()` in Node (httpbin build)",
        }
    }

    /// How many times fewer connections and requests a suite makes on
    /// this runtime than natively ([`Runtime::reduced`]); never a bound
    /// on correctness, memory or liveness. Both wasm runtimes serve on
    /// one thread (no `wasi-threads`; Node's event loop) and cross the
    /// wasm boundary for each read and write: the component costs 4-5×
    /// native's CPU per request (BENCHMARKS.md, `scripts/bench runtimes`),
    /// and Node more (its baseline latency in tests/abuse.rs is 1.5-2× the
    /// component's, and its streams add a JS promise per chunk). The
    /// factors, 2 and 4, keep each runtime's suite about as long as the
    /// native one on the 2-core test machine; what is time-bound (an
    /// HTTP/2 flood lasts 1 s) is the same everywhere.
    pub fn slowdown(self) -> usize {
        match self {
            Runtime::Native => 1,
            Runtime::Component => 2,
            Runtime::Node => 4,
        }
    }

    /// `count` divided by [`Runtime::slowdown`], at least one.
    pub fn reduced(self, count: usize) -> usize {
        (count / self.slowdown()).max(1)
    }

    /// This runtime's httpbin on a free loopback port, with `extra`
    /// arguments (those all three take: `--h2c`).
    pub fn httpbin(self, extra: &[&str]) -> Httpbin {
        let port = free_port();
        let process = match self {
            Runtime::Native => native_server(port, extra),
            Runtime::Component => command_component_server(port, extra),
            Runtime::Node => node_server(port, extra),
        };
        Httpbin { runtime: self, process, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// The native `paf serve` with arguments of its own (TLS: the others
    /// have no TLS listener), or `None` on the other runtimes.
    pub fn native_only(self, extra: &[&str]) -> Option<Httpbin> {
        (self == Runtime::Native).then(|| Runtime::Native.httpbin(extra))
    }
}

/// A host of `paf_httpbin_proxy.wasm`, httpbin as a `wasi:http/proxy`
/// component: a fresh instance of it per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasiHttpHost {
    /// `wasmtime serve`: hyper's HTTP/1.1 (no h2c, no TLS).
    WasmtimeServe,
    /// `paf-host serve --proxy`: paf's engine natively, HTTP/1.1 and h2c.
    PafHost,
}

impl WasiHttpHost {
    /// The server, as a table's title says it.
    pub fn name(self) -> &'static str {
        match self {
            WasiHttpHost::WasmtimeServe => "`wasmtime serve` (wasi:http)",
            WasiHttpHost::PafHost => "`paf-host serve --proxy` (wasi:http)",
        }
    }

    /// This host's httpbin on a free loopback port.
    pub fn httpbin(self) -> WasiHttpbin {
        let port = free_port();
        let process = match self {
            WasiHttpHost::WasmtimeServe => wasmtime_serve("paf_httpbin_proxy.wasm", port),
            WasiHttpHost::PafHost => host_proxy_server("paf_httpbin_proxy.wasm", port, &[]),
        };
        WasiHttpbin { process, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }
}

/// A [`WasiHttpHost`]'s httpbin process, killed when dropped (stopped
/// abruptly: neither host drains on a signal the tests send).
pub struct WasiHttpbin {
    process: Process,
    pub addr: SocketAddr,
}

impl WasiHttpbin {
    /// The host's process: `wasmtime` or `paf-host`.
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// The process's resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

/// A runtime's httpbin server process, killed when dropped.
pub struct Httpbin {
    runtime: Runtime,
    process: Process,
    pub addr: SocketAddr,
}

impl Httpbin {
    /// Tells the server to stop gracefully, as its runtime is told:
    /// SIGTERM for `paf serve` and Node, the end of its stdin for the
    /// component (WASI has no signals).
    pub fn stop(&mut self) {
        match self.runtime {
            Runtime::Native | Runtime::Node => self.process.terminate(),
            Runtime::Component => self.process.close_stdin(),
        }
    }

    /// Waits for the process to exit (at most `limit`), and says how it did.
    pub fn exit_status(mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.process.0.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "{} did not exit within {limit:?}", self.runtime.name());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The server's process: `paf`, `wasmtime`, `node`.
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// The process's resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// The process's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM")
    }
}

/// A process's resident memory now (VmRSS), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// A field of `/proc/PID/status` in KiB (VmRSS: now; VmHWM: the peak).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The results of a suite on one runtime: a title, column names, and rows
/// of text, printed aligned.
pub struct Table {
    title: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[&'static str]) -> Table {
        Table { title: title.into(), columns: columns.to_vec(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.columns.len(), "a row of {} cells in a table of {} columns", row.len(), self.columns.len());
        self.rows.push(row);
    }
}

impl fmt::Display for Table {
    /// A Markdown table, so a run's output pastes into a report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|row| row[i].chars().count());
            cells.chain([self.columns[i].len()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| {
            write!(f, "|")?;
            for (cell, width) in cells.zip(&widths) {
                write!(f, " {cell:<width$} |")?;
            }
            writeln!(f)
        };
        writeln!(f, "\n{}\n", self.title)?;
        line(f, &mut self.columns.iter().copied())?;
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &mut rules.iter().map(String::as_str))?;
        for row in &self.rows {
            line(f, &mut row.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

/// A test of `$suite` (an `async fn(Runtime)`) on every runtime, in a
/// module per runtime (`native::$suite`, `component::$suite`,
/// `node::$suite`); the wasm and Node ones are ignored with the reasons
/// `scripts/test-wasi` runs.
#[allow(unused_macros)]
macro_rules! on_every_runtime {
    ($($suite:ident),* $(,)?) => {
        on_every_runtime!(@on native, Native, []; $($suite),*);
        on_every_runtime!(@on component, Component, [ignore = "needs wasmtime and the components: scripts/test-wasi"]; $($suite),*);
        on_every_runtime!(@on node, Node, [ignore = "needs Node and the httpbin build of js/wasm: scripts/test-wasi"]; $($suite),*);
    };
    (@on $module:ident, $runtime:ident, $attributes:tt; $($suite:ident),*) => {
        mod $module {
            $(crate::common::runtime::on_every_runtime!(@test $suite, $runtime, $attributes);)*
        }
    };
    (@test $suite:ident, $runtime:ident, [$($attribute:meta)?]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])?
        async fn $suite() {
            super::$suite(crate::common::runtime::Runtime::$runtime).await;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_runtime;
