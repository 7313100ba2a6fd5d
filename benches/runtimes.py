#!/usr/bin/env python3
"""Measures paf's WASI runtimes against the native paf and writes their
section of BENCHMARKS.md.

Called by `scripts/bench runtimes` once everything is built: the native
`paf` (release), wasmtime, the release components and the release
`paf-host` (scripts/build-wasi). Four servers answer the same endpoint,
`GET /bytes/14`, of the same httpbin handler:

- native: `paf serve`;
- component: `paf.wasm serve` in `wasmtime run`;
- paf-host: `paf-host serve` with the library component and the httpbin
  handler component, instantiated afresh for every request;
- paf-host, composed: `paf-host serve` with `paf_served.wasm` (the library
  with the handler plugged in by `wac plug`), which shows what the
  per-request handler instance costs.

wrk loads each at 1, 16, 64 and 256 connections. Every comparison
alternates the servers over several rounds and keeps the median, because
the machine is shared; each server runs alone on CPU 0 and wrk on CPU 1
(taskset), as in benches/run.py.

The section, with benches/runtimes-notes.md (the profile, written by hand)
after its tables, goes between `<!-- runtimes:begin -->` and
`<!-- runtimes:end -->`: it replaces that block when BENCHMARKS.md has one,
else it goes before `## Reproduce` (or at the end). benches/run.py keeps
the block when it rewrites the rest.

Python's standard library only. Overrides: PAF_WASI_CACHE (where
scripts/build-wasi builds), PAF_COMPONENTS, PAF_WASMTIME, PAF_HOST_BIN,
BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS (e.g. "1,64"), BENCH_OUTPUT
(another file than BENCHMARKS.md, for trial runs).
"""

import http.client
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import LOAD_CPU, ROOT, SERVER_CPU, commands_run, h2load, load, log, median_of, run, stop, svg_plot, wrk

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
PAF = TARGET / "release" / "paf"
HOME = Path.home()
CACHE = Path(os.environ.get("PAF_WASI_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or HOME / ".cache") / "paf-wasi")
COMPONENTS = Path(os.environ.get("PAF_COMPONENTS") or CACHE / "components" / "wasm32-wasip2" / "release")
WASMTIME = Path(os.environ.get("PAF_WASMTIME") or HOME / ".cargo" / "bin" / "wasmtime")
PAF_HOST = Path(os.environ.get("PAF_HOST_BIN") or CACHE / "host" / "release" / "paf-host")
# paf-host's compiled components, kept between runs: it compiles each once.
HOST_CACHE = CACHE / "bench-paf-host"
OUTPUT = Path(os.environ.get("BENCH_OUTPUT") or ROOT / "BENCHMARKS.md")

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = tuple(int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,16,64,256").split(","))
# wasmtime compiles paf.wasm at start (on the server's one CPU) unless its
# cache holds it already.
START_TIMEOUT = float(os.environ.get("BENCH_START_TIMEOUT", "300"))
PATH = "/bytes/14"
BODY = bytes(i % 251 for i in range(14))

SERVERS = ("native", "component", "host", "served")
NAMES = {
    "native": "native",
    "component": "component",
    "host": "paf-host",
    "served": "paf-host, composed",
    "wasmtime-serve": "wasmtime serve",
    "host-proxy": "paf-host --proxy",
    "component-uncached": "component, compiled at start",
}
# The targets of issue 21: the server's req/s over native's, at every
# concurrency. The composed library has none: it is there for comparison.
TARGETS = {"component": 0.5, "host": 0.8}
# HTTP/2: h2load's connections and streams per connection.
H2_CONNECTIONS, H2_STREAMS = 64, 10
H2 = "h2c"
# The concurrency whose latencies are plotted (benches/latency-runtimes.svg).
PLOTTED_CONNECTIONS = 16
PLOT = ROOT / "benches" / "latency-runtimes.svg"

def server_argv(kind, port):
    """How to start `kind` on `port`; each speaks h2c (HTTP/2 by prior
    knowledge) besides HTTP/1.1 (paf-host's library always does)."""
    port = str(port)
    if kind == "native":
        return [str(PAF), "serve", "--h2c", "--quiet", "--port", port]
    if kind in ("component", "component-uncached"):
        cache = ["-C", "cache=n"] if kind == "component-uncached" else []
        return [str(WASMTIME), "run", *cache, "-S", "inherit-network", "-S", "allow-ip-name-lookup",
                str(COMPONENTS / "paf.wasm"), "serve", "--h2c", "--port", port]
    if kind == "host":
        return [str(PAF_HOST), "serve", "--component", str(COMPONENTS / "paf_library.wasm"),
                "--handler", str(COMPONENTS / "paf_httpbin.wasm"), "--port", port, "--cache", str(HOST_CACHE)]
    if kind == "served":
        return [str(PAF_HOST), "serve", "--component", str(COMPONENTS / "paf_served.wasm"),
                "--port", port, "--cache", str(HOST_CACHE)]
    # The wasi:http/proxy build of the handler (benches/wasi_http.py):
    # wasmtime serve speaks HTTP/1.1 only.
    if kind == "wasmtime-serve":
        return [str(WASMTIME), "serve", "-Scli", "--addr", f"127.0.0.1:{port}",
                str(COMPONENTS / "paf_httpbin_proxy.wasm")]
    if kind == "host-proxy":
        return [str(PAF_HOST), "serve", "--proxy", "--component", str(COMPONENTS / "paf_httpbin_proxy.wasm"),
                "--port", port, "--cache", str(HOST_CACHE)]
    raise ValueError(kind)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server pinned to the server CPU, started on a free port, waited
    for until it listens and answers; stopped by its pid."""

    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        argv = ["taskset", "-c", SERVER_CPU, *server_argv(kind, self.port)]
        commands_run.append(argv)
        # Its messages go to a file: a pipe nobody reads could fill and stall it.
        self.stderr = tempfile.TemporaryFile()
        launched = time.monotonic()
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)
        try:
            self.wait_until_listening()
            self.check_answer()
            # From the launch to the first answer.
            self.start_seconds = time.monotonic() - launched
        except BaseException:
            self.stop()
            raise

    def output(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()[-2000:]

    def wait_until_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{NAMES[self.kind]} exited ({self.process.returncode}) before listening: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{NAMES[self.kind]} did not listen on {self.port} within {START_TIMEOUT:.0f} s: {self.output()}")
            time.sleep(0.01)

    def check_answer(self):
        """All servers must answer the same: 200 and the same 14 bytes."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", PATH)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200 or body != BODY:
            raise RuntimeError(f"{NAMES[self.kind]} answered {response.status} with {body!r} to GET {PATH}")

    def cpu_seconds(self):
        """User + system time of the server and its descendants (their
        threads included; children already reaped through cutime/cstime)."""
        ticks = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(f) for f in fields[11:15])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self):
        stop(self.process)
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


def measure(kind, connections):
    with Server(kind) as server:
        load(["wrk", "-t1", f"-c{connections}", "-d1s", server.url])  # warm-up
        before = server.cpu_seconds()
        result = wrk(server.url, SECONDS, connections)
        result["cpu_us_per_request"] = (server.cpu_seconds() - before) * 1e6 / max(result["requests"], 1)
        if server.process.poll() is not None:
            exited = f"the server exited ({server.process.returncode}) during the run"
            result["errors"] = f"{result['errors']}; {exited}" if result["errors"] else exited
    return result


def measure_h2c(kind):
    with Server(kind) as server:
        before = server.cpu_seconds()
        result = h2load(server.url, SECONDS, H2_CONNECTIONS, H2_STREAMS)
        result["cpu_us_per_request"] = (server.cpu_seconds() - before) * 1e6 / max(result["requests"], 1)
        result["errors"] = f"{result['failed']} failed" if result["failed"] or not result["requests"] else None
    return result


def measure_all():
    runs = {}
    for kind, results in alternate(SERVERS, measure_h2c, "h2c").items():
        runs[(kind, H2)] = results
    for c in CONNECTIONS:
        for kind, results in alternate(SERVERS, lambda kind: measure(kind, c), f"-c{c}").items():
            runs[(kind, c)] = results
    return runs


def alternate(servers, measure_one, label):
    """ROUNDS rounds of `measure_one(kind)` for each of `servers`, their
    order reversed every other round: the results of each, logged."""
    runs = {kind: [] for kind in servers}
    for round_ in range(ROUNDS):
        for kind in servers if round_ % 2 == 0 else reversed(servers):
            result = measure_one(kind)
            runs[kind].append(result)
            log(f"{NAMES[kind]} {label} round {round_ + 1}: {result['rps']:,.0f} req/s, "
                f"p99 {result['p99_us']:,.0f} µs, {result['cpu_us_per_request']:.1f} µs CPU/request"
                + (f", ERRORS: {result['errors']}" if result["errors"] else ""))
    return runs


def preflight():
    require([PAF, WASMTIME, PAF_HOST] + [COMPONENTS / name for name in
                                         ("paf.wasm", "paf_library.wasm", "paf_httpbin.wasm", "paf_served.wasm")],
            "scripts/bench runtimes")


def require(needed, builder):
    """Exits, naming what is missing of `needed` and what builds it."""
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        sys.exit(f"bench: missing ({builder} builds them): " + ", ".join(missing))


def machine():
    return {
        **benchlib.machine(),
        "wasmtime": run([str(WASMTIME), "--version"]).strip(),
        "host_wasmtime": locked_version(ROOT / "host" / "Cargo.lock", "wasmtime"),
    }


def locked_version(lock, package):
    try:
        match = re.search(rf'name = "{package}"\nversion = "([^"]+)"', lock.read_text())
    except FileNotFoundError:
        return None
    return match.group(1) if match else None


# ---------------------------------------------------------------------------
# The report

def flagged(runs):
    """How many of a cell's rounds had errors, as a mark for the tables."""
    bad = sum(1 for r in runs if r["errors"])
    return f" ⚠ errors in {bad} of {len(runs)}" if bad else ""


def ratio_cell(runs, native, target=None):
    ratio = median_of(runs, "rps") / median_of(native, "rps")
    text = f"**{ratio:.2f}×**" if target else f"{ratio:.2f}×"
    if target:
        text += " — met" if ratio >= target else " — **not met**"
        if any(r["errors"] for r in runs + native):
            text += " (with errors)"
    return text


def rps_cell(runs):
    return f"{median_of(runs, 'rps'):,.0f}{flagged(runs)}"


def verdict_line(runs, kind):
    target = TARGETS[kind]
    ratios = {c: median_of(runs[(kind, c)], "rps") / median_of(runs[("native", c)], "rps") for c in CONNECTIONS}
    worst = min(ratios, key=ratios.get)
    met = all(r >= target for r in ratios.values())
    errors = any(r["errors"] for c in CONNECTIONS for k in (kind, "native") for r in runs[(k, c)])
    return (f"- **{NAMES[kind]} ≥ {target}× native at every concurrency: {'met' if met else 'not met'}** "
            f"(lowest {ratios[worst]:.2f}× at {worst} connection{'s' if worst != 1 else ''})"
            + (" — some rounds had errors, see below" if errors else ""))


def shown(argv):
    text = " ".join(shlex.quote(str(a)) for a in argv)
    text = text.replace(str(COMPONENTS), "$COMPONENTS").replace(str(TARGET), "target")
    text = text.replace(str(HOST_CACHE), "$HOST_CACHE").replace(str(HOME), "~")
    text = re.sub(r"--port \d+", "--port PORT", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def start_times():
    """Seconds from launching each server to its first answer, median of
    ROUNDS: native, the component with wasmtime's compilation cache (which
    the first start fills) and without it (`-C cache=n`: compiled at every
    start, on the server's one CPU)."""
    kinds = ("native", "component", "component-uncached")
    with Server("component"):
        pass  # fills the cache
    times = {kind: [] for kind in kinds}
    for _ in range(ROUNDS):
        for kind in kinds:
            with Server(kind) as server:
                times[kind].append(server.start_seconds)
    result = {kind: statistics.median(values) for kind, values in times.items()}
    log(f"start times: {result}")
    return result


def section(m, runs, starts, load_end, started):
    lines = []
    add = lines.append
    add("<!-- runtimes:begin -->")
    add("## Runtimes: the component and paf-host against native")
    add("")
    add(f"Written by `scripts/bench runtimes` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
        f"from one run. Each figure is the median of {ROUNDS} round{'s' if ROUNDS != 1 else ''}; every round starts each server afresh "
        "and the rounds alternate the order of the servers. "
        f"All four answer `GET {PATH}` (a 14-byte body with `Content-Length`) from the same httpbin handler:")
    add("")
    add("- **native**: `paf serve`, the native command (release), tokio;")
    add(f"- **component**: `paf.wasm serve`, the command component (release), in `wasmtime run` ({m['wasmtime']}), "
        "on paf's WASI executor and `wasi:sockets`;")
    host_wasmtime = f", wasmtime {m['host_wasmtime']} embedded" if m["host_wasmtime"] else ""
    add(f"- **paf-host**: `paf-host serve` (release{host_wasmtime}) with the library component `paf_library.wasm` "
        "(one instance per connection) and the handler component `paf_httpbin.wasm`, instantiated afresh for every request;")
    add("- **paf-host, composed**: the same host with `paf_served.wasm`, the library with the handler plugged in "
        "(`wac plug`): no instance per request, so what separates it from paf-host is the cost of the per-request handler instance.")
    add("")
    add(f"Machine: {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}. Load average at the start: "
        f"{m['load'][0]:.2f} {m['load'][1]:.2f} {m['load'][2]:.2f}; at the end: "
        f"{load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (the machine is shared). "
        f"Each server runs alone on CPU {SERVER_CPU} (`taskset -c {SERVER_CPU}`), wrk on CPU {LOAD_CPU}.")
    add("")
    add("### Start")
    add("")
    add("From launching the server to its first answer (median of the rounds):")
    add("")
    add("| server | start |")
    add("|---|---|")
    for kind, seconds in starts.items():
        add(f"| {NAMES[kind]} | {seconds * 1000:,.0f} ms |")
    add("")
    add("### Throughput against native")
    add("")
    add("| connections | native req/s | component req/s | component / native (target ≥ 0.5×) "
        "| paf-host req/s | paf-host / native (target ≥ 0.8×) | paf-host / component "
        "| composed req/s | composed / native |")
    add("|---|---|---|---|---|---|---|---|---|")
    for c in CONNECTIONS:
        native = runs[("native", c)]
        host_over_component = median_of(runs[("host", c)], "rps") / median_of(runs[("component", c)], "rps")
        add(f"| {c} | {rps_cell(native)} "
            f"| {rps_cell(runs[('component', c)])} | {ratio_cell(runs[('component', c)], native, TARGETS['component'])} "
            f"| {rps_cell(runs[('host', c)])} | {ratio_cell(runs[('host', c)], native, TARGETS['host'])} "
            f"| {host_over_component:.2f}× "
            f"| {rps_cell(runs[('served', c)])} | {ratio_cell(runs[('served', c)], native)} |")
    add("")
    add(verdict_line(runs, "component"))
    add(verdict_line(runs, "host"))
    add("")
    add(f"HTTP/2 by prior knowledge, `h2load -t1 -c{H2_CONNECTIONS} -m{H2_STREAMS}` for {SECONDS} s after a 1 s warm-up "
        "(not a target of the issue; the same servers, the same endpoint):")
    add("")
    add("| server | req/s | × native | p50 / p99 latency | server CPU per request |")
    add("|---|---|---|---|---|")
    native_h2 = runs[("native", H2)]
    for kind in SERVERS:
        r = runs[(kind, H2)]
        add(f"| {NAMES[kind]} | {rps_cell(r)} | {ratio_cell(r, native_h2)} "
            f"| {median_of(r, 'p50_us'):,.0f} / {median_of(r, 'p99_us'):,.0f} µs | {median_of(r, 'cpu_us_per_request'):.1f} µs |")
    add("")
    add("### Latency and CPU time")
    add("")
    plotted = PLOTTED_CONNECTIONS if PLOTTED_CONNECTIONS in CONNECTIONS else CONNECTIONS[0]
    if svg_plot({NAMES[kind]: runs[(kind, plotted)][0]["quantiles"] for kind in SERVERS}, PLOT,
                            f"Latency by quantile, GET {PATH}, {plotted} connection{'s' if plotted > 1 else ''} (wrk, first round)"):
        add(f"![Latency by quantile of each server, {plotted} connections (wrk, first round)](benches/{PLOT.name})")
        add("")
    add("The server's CPU time per request is its user + system time (from `/proc/PID/stat`, its threads and "
        "children included) over the measured wrk run, divided by the requests: the steadiest figure when the machine is shared.")
    add("")
    add("| connections | server | req/s | p50 / p99 latency | server CPU per request | CPU × native |")
    add("|---|---|---|---|---|---|")
    for c in CONNECTIONS:
        native_cpu = median_of(runs[("native", c)], "cpu_us_per_request")
        for kind in SERVERS:
            r = runs[(kind, c)]
            cpu = median_of(r, "cpu_us_per_request")
            cpu_ratio = f"{cpu / native_cpu:.2f}×" if native_cpu else ""
            add(f"| {c} | {NAMES[kind]} | {rps_cell(r)} | {median_of(r, 'p50_us'):,.0f} / {median_of(r, 'p99_us'):,.0f} µs "
                f"| {cpu:.1f} µs | {cpu_ratio} |")
    add("")
    errored = [(c, kind, i, r) for c in CONNECTIONS + (H2,) for kind in SERVERS
               for i, r in enumerate(runs[(kind, c)]) if r["errors"]]
    if errored:
        add("**Rounds with errors** (counted in the medians above, flagged ⚠):")
        add("")
        for c, kind, i, r in errored:
            add(f"- {NAMES[kind]}, {c} connections, round {i + 1}: {r['errors']}")
        add("")
    add("<details><summary>Every round</summary>")
    add("")
    add("| connections | server | round | req/s | p50 µs | p99 µs | CPU µs per request | errors |")
    add("|---|---|---|---|---|---|---|---|")
    for c in CONNECTIONS + (H2,):
        for kind in SERVERS:
            for i, r in enumerate(runs[(kind, c)]):
                add(f"| {c} | {NAMES[kind]} | {i + 1} | {r['rps']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} "
                    f"| {r['cpu_us_per_request']:.1f} | {r['errors'] or ''} |")
    add("")
    add("</details>")
    add("")
    notes = ROOT / "benches" / "runtimes-notes.md"
    if notes.exists():
        add(notes.read_text().rstrip())
        add("")
    add("Reproduce: `scripts/bench runtimes` (installs wasmtime and wac if missing, builds the release components "
        "and paf-host through `scripts/build-wasi release`, then runs `benches/runtimes.py`; `BENCH_ROUNDS`, `BENCH_SECONDS`). "
        "Each server was checked to answer 200 with the expected 14 bytes before it was loaded. The commands it ran, in order "
        "(each server on a free port it was given; the first wrk against a server is the 1 s warm-up):")
    add("")
    add("```sh")
    add(f"COMPONENTS={shlex.quote(str(COMPONENTS)).replace(str(HOME), '~')}")
    add(f"HOST_CACHE={shlex.quote(str(HOST_CACHE)).replace(str(HOME), '~')}   # paf-host's compiled components, kept between runs")
    seen = set()
    for argv in commands_run:
        text = shown(argv)
        if text not in seen:
            seen.add(text)
            add(text)
    add("```")
    add("<!-- runtimes:end -->")
    return "\n".join(lines) + "\n"


def main():
    preflight()
    started = time.time()
    benchlib.wait_for_quiet()
    m = machine()
    log(f"machine: {m['nproc']} CPUs, {m['cpu']}, load {m['load'][0]:.2f}; {m['wasmtime']}")
    starts = start_times()
    runs = measure_all()
    load_end = os.getloadavg()
    log(f"load at the end: {load_end[0]:.2f}")
    benchlib.write_block(OUTPUT, "runtimes", section(m, runs, starts, load_end, started))
    log(f"wrote the runtimes section of {OUTPUT}")


if __name__ == "__main__":
    main()
