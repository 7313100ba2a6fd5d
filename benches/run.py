#!/usr/bin/env python3
"""Measures paf against hyper on this machine and writes BENCHMARKS.md.

Called by scripts/bench once the binaries are built (release): `paf` (the
load generator `paf bench`) and `peer` (benches/peers: the same hello-world
server, client loop and idle-connection holder on paf and on hyper).

Every comparison alternates the two stacks over several rounds and keeps
the median, because the machine is shared: a round that another process
disturbed moves one number, not the verdict. The server always runs alone
on CPU 0 and the load generator on CPU 1 (taskset), so both servers get
exactly one core and the load generator never competes with them.

Python's standard library only: the plot is hand-written SVG.
"""

import json
import os
import re
import resource
import shlex
import subprocess
import time
from pathlib import Path

import benchlib
from benchlib import LOAD_CPU, ROOT, SERVER_CPU, commands_run, h2load, load, log, median_of, run, stop, svg_plot, wrk

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
PAF = TARGET / "release" / "paf"
PEER = TARGET / "release" / "peer"

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CLIENT_REQUESTS = int(os.environ.get("BENCH_CLIENT_REQUESTS", "50000"))
IDLE_CONNECTIONS = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "10000"))
USER_SPACE_REQUESTS = int(os.environ.get("BENCH_USER_SPACE_REQUESTS", "2000"))
PIPELINE_DEPTH = 16
STACKS = ("paf", "hyper")

class Server:
    """`peer serve STACK` pinned to the server CPU (under `wrapper`, a
    profiler, when given); stopped by its pid."""

    def __init__(self, stack, wrapper=()):
        self.stack = stack
        argv = ["taskset", "-c", SERVER_CPU, *wrapper, str(PEER), "serve", stack, "127.0.0.1:0"]
        commands_run.append(argv)
        self.process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"peer serve {stack} did not start: {line.strip() or self.process.stderr.read().strip()}")
        self.url = match.group(1) + "/"
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        stop(self.process)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


def paf_bench(url, *flags):
    out = load([str(PAF), "bench", url, "-c", "64", *flags, "--duration", f"{SECONDS // 2}s", "--json"])
    return json.loads(out)


def h1_server():
    """wrk -c64 against each server; server CPU time per request too."""
    runs = {stack: [] for stack in STACKS}
    plots = {}
    for round_ in range(ROUNDS):
        for stack in STACKS if round_ % 2 == 0 else reversed(STACKS):
            with Server(stack) as server:
                load(["wrk", "-t1", "-c64", "-d1s", server.url])  # warm-up
                before = server.cpu_seconds()
                result = wrk(server.url, SECONDS)
                result["cpu_us_per_request"] = (server.cpu_seconds() - before) * 1e6 / result["requests"]
                runs[stack].append(result)
                log(f"h1 {stack} round {round_ + 1}: {result['rps']:.0f} req/s, p99 {result['p99_us']:.0f} µs")
                if round_ == 0:
                    plots[stack] = paf_bench(server.url)
    return runs, plots


def pipelined():
    """wrk with DEPTH requests sent at once on each of 256 connections
    (benches/pipeline.lua: TechEmpower's plaintext shape)."""
    runs = {stack: [] for stack in STACKS}
    for round_ in range(ROUNDS):
        for stack in STACKS if round_ % 2 == 0 else reversed(STACKS):
            with Server(stack) as server:
                result = wrk(server.url, SECONDS, connections=256, pipeline_depth=PIPELINE_DEPTH)
                runs[stack].append(result)
                log(f"pipelined {stack} round {round_ + 1}: {result['rps']:.0f} req/s, p99 {result['p99_us']:.0f} µs")
    return runs


def user_space():
    """Instructions (callgrind's Ir) and heap allocations (calls of Rust's
    allocator) per request, for each server, over HTTP/1.1 and h2c: from
    two runs of N and 3N requests (h2load, 8 connections), so that what
    starting and connecting cost cancels out. Exact and repeatable, whatever
    else the machine runs."""
    results = {}
    for mode, flags in (("h1", ["--h1"]), ("h2c", ["-m", "10"])):
        for stack in STACKS:
            counts = [callgrind_costs(stack, flags, n) for n in (USER_SPACE_REQUESTS, 3 * USER_SPACE_REQUESTS)]
            done = 2 * USER_SPACE_REQUESTS
            results[(mode, stack)] = {
                "instructions": (counts[1][0] - counts[0][0]) / done,
                "allocations": (counts[1][1] - counts[0][1]) / done,
            }
            log(f"user space {mode} {stack}: {results[(mode, stack)]}")
    return results


def callgrind_costs(stack, h2load_flags, requests):
    """(instructions, allocations) of `peer serve STACK` up to the end of
    `requests` requests."""
    out = Path(f"/tmp/paf-bench-callgrind-{os.getpid()}-{stack}")
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    with Server(stack, ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}"]) as server:
        done = load(["h2load", *h2load_flags, "-t1", "-c8", f"-n{requests}", server.url])
        if f"{requests} succeeded" not in done:
            raise RuntimeError(f"h2load against {stack} under callgrind: {done}")
        run(["callgrind_control", "--dump", str(server.process.pid)])
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {stack}")
    costs = parse_callgrind(dumps[-1])
    for dump in out.parent.glob(out.name + "*"):
        dump.unlink()
    return costs


def parse_callgrind(path):
    """The total Ir of a callgrind dump, and how many calls reached Rust's
    allocator (`__rust_alloc`, `__rust_alloc_zeroed`, `__rust_realloc`)."""
    names, callee, allocations, total = {}, None, 0, None
    allocator = re.compile(r"(__rustc::)?__rust_(alloc|alloc_zeroed|realloc)")
    with open(path, errors="replace") as lines:
        for line in lines:
            if line.startswith(("fn=", "cfn=")):
                match = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if match:
                    if match.group(2):
                        names[match.group(1)] = match.group(2)
                    if line.startswith("cfn="):
                        callee = names.get(match.group(1))
            elif line.startswith("calls=") and callee and allocator.fullmatch(callee):
                allocations += int(line[6:].split()[0])
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
    if total is None:
        raise RuntimeError(f"{path}: no totals")
    return total, allocations


def h2c_server():
    """h2load -c64 -m10 against each server."""
    runs = {stack: [] for stack in STACKS}
    plots = {}
    for round_ in range(ROUNDS):
        for stack in STACKS if round_ % 2 == 0 else reversed(STACKS):
            with Server(stack) as server:
                result = h2load(server.url, SECONDS)
                runs[stack].append(result)
                log(f"h2c {stack} round {round_ + 1}: {result['rps']:.0f} req/s, p99 {result['p99_us']:.0f} µs")
                if round_ == 0:
                    plots[stack] = paf_bench(server.url, "--h2", "--streams", "10")
    return runs, plots


def client():
    """Sequential keep-alive GETs from each client against one hyper server."""
    runs = {stack: [] for stack in STACKS}
    with Server("hyper") as server:
        for round_ in range(ROUNDS):
            for stack in STACKS if round_ % 2 == 0 else reversed(STACKS):
                result = json.loads(load([str(PEER), "client", stack, server.url, "-n", str(CLIENT_REQUESTS)]))
                result["rps"] = result["requests_per_s"]
                runs[stack].append(result)
                log(f"client {stack} round {round_ + 1}: {result['rps']:.0f} req/s")
    return runs


def idle_rss(*flags):
    """The server's resident memory before and after IDLE_CONNECTIONS idle
    keep-alive connections (HTTP/1.1, or h2c with `--h2c`), opened by one
    process."""
    results = {}
    for stack in STACKS:
        with Server(stack) as server:
            out = run([str(PEER), "hold", f"127.0.0.1:{server.port}", "-c", str(IDLE_CONNECTIONS),
                       "--pid", str(server.process.pid), *flags])
            results[stack] = json.loads(out)
            log(f"rss {' '.join(flags) or 'h1'} {stack}: {results[stack]}")
    return results


def machine():
    return {**benchlib.machine(), "rustc": run(["rustc", "--version"]).strip()}


# ---------------------------------------------------------------------------
# The report

def verdict(ok):
    return "met" if ok else "**not met**"


def add_cost_rows(add, costs, mode, instructions_target=None, allocations_target=None):
    """The report's rows of instructions and allocations per request over
    `mode`, with their verdicts where there is a target."""
    for key, label, digits, target in (
        ("instructions", "instructions per request (callgrind)", 0, instructions_target),
        ("allocations", "heap allocations per request", 1, allocations_target),
    ):
        # Judged as shown: what connecting costs does not cancel exactly
        # between the two runs (2.0008 allocations against 2.0005).
        a, b = (round(costs[(mode, stack)][key], digits) for stack in STACKS)
        form = f",.{digits}f"
        judged = (f"**{a / b:.2f}×** | ≤ {target:.2f}× | {verdict(a / b <= target)}" if target is not None
                  else f"{a / b:.2f}× | (lower is better) |")
        add(f"| {mode} server, {label} | {a:{form}} | {b:{form}} | {judged} |")


def report(m, h1, h1_plots, piped, h2c, h2c_plots, clients, rss, rss_h2c, costs, plotted):
    lines = []
    add = lines.append
    add("# Benchmarks: paf against hyper")
    add("")
    add(f"Written by `scripts/bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, from one run. "
        f"Each figure is the median of {ROUNDS} rounds that alternate the two stacks.")
    add("")
    add("## Machine")
    add("")
    add(f"- CPUs (`nproc`): {m['nproc']}; CPU model: {m['cpu']}; kernel: {m['kernel']}; memory: {m['memory']}")
    add(f"- load average when the run started: {m['load'][0]:.2f} {m['load'][1]:.2f} {m['load'][2]:.2f}"
        " (the machine is shared: other processes may have run during the rounds)")
    add(f"- {m['rustc']}; both stacks built with `--release` (`debug = 1`), tokio's multi-thread runtime")
    add(f"- pinning: each server runs alone on CPU {SERVER_CPU} (`taskset -c {SERVER_CPU}`, so its runtime has one worker); "
        f"the load generator (wrk, h2load, the client loops) runs on CPU {LOAD_CPU}")
    add("")
    add("## Results")
    add("")
    add("| benchmark | paf | hyper | ratio paf/hyper | target | verdict |")
    add("|---|---|---|---|---|---|")
    paf_rps, hyper_rps = median_of(h1["paf"], "rps"), median_of(h1["hyper"], "rps")
    paf_p99, hyper_p99 = median_of(h1["paf"], "p99_us"), median_of(h1["hyper"], "p99_us")
    ratio = paf_rps / hyper_rps
    add(f"| h1 server, wrk -c64, req/s | {paf_rps:,.0f} | {hyper_rps:,.0f} | **{ratio:.2f}×** | ≥ 1.10× | {verdict(ratio >= 1.1)} |")
    add(f"| h1 server, p50 / p99 latency | {median_of(h1['paf'], 'p50_us'):,.0f} / {paf_p99:,.0f} µs | "
        f"{median_of(h1['hyper'], 'p50_us'):,.0f} / {hyper_p99:,.0f} µs | p99 {paf_p99 / hyper_p99:.2f}× | p99 no higher | {verdict(paf_p99 <= hyper_p99)} |")
    paf_cpu, hyper_cpu = median_of(h1["paf"], "cpu_us_per_request"), median_of(h1["hyper"], "cpu_us_per_request")
    add(f"| h1 server, CPU time per request | {paf_cpu:.1f} µs | {hyper_cpu:.1f} µs | {paf_cpu / hyper_cpu:.2f}× | (lower is better) | |")
    add_cost_rows(add, costs, "h1", instructions_target=0.6, allocations_target=1.0)
    a, b = median_of(piped["paf"], "rps"), median_of(piped["hyper"], "rps")
    add(f"| h1 server, pipelined (depth {PIPELINE_DEPTH}, wrk -c256), req/s | {a:,.0f} | {b:,.0f} | **{a / b:.2f}×** | ≥ 1.30× | {verdict(a / b >= 1.3)} |")
    add(f"| h1 server, pipelined, p50 / p99 latency | {median_of(piped['paf'], 'p50_us'):,.0f} / {median_of(piped['paf'], 'p99_us'):,.0f} µs | "
        f"{median_of(piped['hyper'], 'p50_us'):,.0f} / {median_of(piped['hyper'], 'p99_us'):,.0f} µs | | | |")
    a, b = median_of(h2c["paf"], "rps"), median_of(h2c["hyper"], "rps")
    add(f"| h2c server, h2load -c64 -m10, req/s | {a:,.0f} | {b:,.0f} | **{a / b:.2f}×** | ≥ 1.00× | {verdict(a / b >= 1.0)} |")
    a50, b50 = median_of(h2c["paf"], "p50_us"), median_of(h2c["hyper"], "p50_us")
    add(f"| h2c server, p50 / p99 latency | {a50:,.0f} / {median_of(h2c['paf'], 'p99_us'):,.0f} µs | "
        f"{b50:,.0f} / {median_of(h2c['hyper'], 'p99_us'):,.0f} µs | p50 {a50 / b50:.2f}× | p50 no higher | {verdict(a50 <= b50)} |")
    a_mean, b_mean = median_of(h2c["paf"], "mean_us"), median_of(h2c["hyper"], "mean_us")
    add(f"| h2c server, mean latency | {a_mean:,.0f} µs | {b_mean:,.0f} µs | {a_mean / b_mean:.2f}× | (lower is better) | |")
    add_cost_rows(add, costs, "h2c")
    a, b = median_of(clients["paf"], "rps"), median_of(clients["hyper"], "rps")
    add(f"| client, sequential keep-alive GETs, req/s | {a:,.0f} | {b:,.0f} | **{a / b:.2f}×** | ≥ 1.00× | {verdict(a / b >= 1.0)} |")
    add(f"| client, p50 / p99 latency | {median_of(clients['paf'], 'p50_us'):,.0f} / {median_of(clients['paf'], 'p99_us'):,.0f} µs | "
        f"{median_of(clients['hyper'], 'p50_us'):,.0f} / {median_of(clients['hyper'], 'p99_us'):,.0f} µs | | | |")
    a, b = rss["paf"]["rss_kib_after"], rss["hyper"]["rss_kib_after"]
    add(f"| RSS with {IDLE_CONNECTIONS:,} idle keep-alive connections | {a / 1024:,.1f} MiB | {b / 1024:,.1f} MiB | **{a / b:.2f}×** | ≤ 1.00× | {verdict(a <= b)} |")
    add(f"| RSS per idle connection (after − before) | {rss['paf']['per_connection_bytes'] / 1024:,.1f} KiB | "
        f"{rss['hyper']['per_connection_bytes'] / 1024:,.1f} KiB | | | |")
    a, b = rss_h2c["paf"]["per_connection_bytes"], rss_h2c["hyper"]["per_connection_bytes"]
    add(f"| RSS per idle h2c connection (after − before, {IDLE_CONNECTIONS:,} connections) | {a / 1024:,.1f} KiB | {b / 1024:,.1f} KiB | "
        f"**{a / b:.2f}×** | ≤ 1.00× | {verdict(a <= b)} |")
    add("")
    for name, what in plotted:
        add(f"![Latency by quantile, {what}](benches/{name})")
        add("")
    if plotted:
        add(f"The plots: `paf bench -c 64 --duration {SECONDS // 2}s` (HTTP/1.1) and `paf bench -c 64 --h2 --streams 10` "
            "against each server, wrk's pipelined runs and each client's latencies (first round of each); the x axis "
            f"stretches the tail. wrk times a pipelined batch of {PIPELINE_DEPTH} as one request: the pipelined "
            "latencies (the plot, and p50 and p99 above) are per batch.")
        add("")
    add("## Every round")
    add("")
    add("| benchmark | stack | req/s | p50 µs | p99 µs |")
    add("|---|---|---|---|---|")
    for name, runs in [("h1 server (wrk)", h1), ("h1 server, pipelined (wrk)", piped), ("h2c server (h2load)", h2c), ("client loop", clients)]:
        for stack in STACKS:
            for r in runs.get(stack, []):
                add(f"| {name} | {stack} | {r['rps']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} |")
    for name, plots in [("h1 server (paf bench, plot)", h1_plots), ("h2c server (paf bench, plot)", h2c_plots)]:
        for stack, data in plots.items():
            lat = data["latency_us"]
            add(f"| {name} | {stack} | {data['requests_per_s']:,.0f} | {lat['p50']:,} | {lat['p99']:,} |")
    add("")
    add("## What is measured, exactly")
    add("")
    add("- **h1 server**: `benches/peers` serves the same 14-byte `Hello, world!` body with `content-type: text/plain` "
        "on paf (`paf::serve` + `service_fn`) and on hyper (`hyper_util::server::conn::auto::Builder`). "
        f"Load: `wrk -t1 -c64 -d{SECONDS}s --latency` after a 1 s warm-up. Both send a `date` field. "
        "Both servers also speak h2c by prior knowledge (hyper's auto server always does; paf with `Config::h2c`), so both sniff the first bytes. "
        "The CPU time per request is the server's user + system time (from `/proc/PID/stat`) over the wrk run, divided by the requests: "
        "it is the steadiest figure when the machine is shared.")
    add(f"- **pipelined**: the same servers, `wrk -t1 -c256 -s benches/pipeline.lua URL -- {PIPELINE_DEPTH}`: each connection sends "
        f"{PIPELINE_DEPTH} requests at once and wrk counts every answer (TechEmpower's plaintext test).")
    add(f"- **instructions and allocations**: each server under `valgrind --tool=callgrind` answering {USER_SPACE_REQUESTS:,} and "
        f"{3 * USER_SPACE_REQUESTS:,} requests (`h2load --h1 -c8 -n N`, and `h2load -c8 -m10 -n N` for h2c); the difference of the two "
        "runs' instructions (Ir) and calls of Rust's allocator, over the difference of requests, so that start-up and connecting cancel. "
        "User space only: the kernel's part of a request (its reads and writes) is not in it.")
    add(f"- **h2c server**: the same servers, HTTP/2 by prior knowledge; `h2load -t1 -c64 -m10 -D{SECONDS} --warm-up-time=1`, "
        "percentiles from its per-request log.")
    add(f"- **client**: {CLIENT_REQUESTS:,} sequential GETs on one keep-alive connection, each body read to its end, "
        "against the hyper server: paf's `engine::client::handshake` + `send` against hyper's `client::conn::http1::handshake` + `send_request`.")
    add(f"- **RSS**: the server's `VmRSS` (from `/proc/PID/status`) after one process (`peer hold`) opened {IDLE_CONNECTIONS:,} "
        "connections and had one request answered on each, then left them idle (`ulimit -n` raised first); "
        "for h2c the same with HTTP/2 connections by prior knowledge (`peer hold --h2c`, hyper's h2 client).")
    add("")
    notes = ROOT / "benches" / "NOTES.md"
    if notes.exists():
        add(notes.read_text().rstrip())
        add("")
    add("## Reproduce")
    add("")
    add("```sh")
    add("scripts/bench            # installs wrk and h2load (Debian), builds, runs all of the above and the runtimes section, rewrites BENCHMARKS.md")
    add("BENCH_ROUNDS=5 BENCH_SECONDS=20 scripts/bench   # longer")
    add("scripts/bench hyper      # only the above; scripts/bench runtimes: only the runtimes section")
    add("```")
    add("")
    add("The commands it ran, in order (ports were picked by the servers):")
    add("")
    add("```sh")
    seen = set()
    for argv in commands_run:
        text = " ".join(shlex.quote(str(a)).replace(str(TARGET), "target") for a in argv)
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        text = re.sub(r"--pid \d+", "--pid SERVER_PID", text)
        text = re.sub(r"paf-bench-h2load-\d+", "paf-bench-h2load", text)
        if text not in seen:
            seen.add(text)
            add(text)
    add("```")
    return "\n".join(lines) + "\n"


def main():
    # Both ends of every idle connection live on this machine; the children
    # (servers and the holder) inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(IDLE_CONNECTIONS + 4096, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    benchlib.wait_for_quiet()
    m = machine()
    log(f"machine: {m['nproc']} CPUs, {m['cpu']}, load {m['load'][0]:.2f}")
    costs = user_space()
    h1, h1_plots = h1_server()
    piped = pipelined()
    h2c, h2c_plots = h2c_server()
    clients = client()
    rss = idle_rss()
    rss_h2c = idle_rss("--h2c")
    plotted = []
    for name, plots, title in [
        ("latency.svg", {stack: data["latency_us"]["quantiles"] for stack, data in h1_plots.items()},
         "Latency by quantile, hello world over HTTP/1.1, 64 connections (paf bench)"),
        ("latency-h2c.svg", {stack: data["latency_us"]["quantiles"] for stack, data in h2c_plots.items()},
         "Latency by quantile, hello world over h2c, 64 connections × 10 streams (paf bench)"),
        ("latency-pipelined.svg", {stack: runs[0]["quantiles"] for stack, runs in piped.items() if runs},
         f"Latency by quantile, HTTP/1.1 pipelined {PIPELINE_DEPTH} deep on 256 connections (wrk, per batch)"),
        ("latency-client.svg", {stack: runs[0]["quantiles"] for stack, runs in clients.items() if runs},
         "Latency by quantile, each client's sequential keep-alive GETs to one hyper server"),
    ]:
        if svg_plot(plots, ROOT / "benches" / name, title):
            plotted.append((name, title[len("Latency by quantile, "):]))
    text = report(m, h1, h1_plots, piped, h2c, h2c_plots, clients, rss, rss_h2c, costs, plotted)
    # The sections of benches/runtimes.py and benches/js.py (`scripts/bench
    # runtimes`, `scripts/bench js`) are kept.
    old = (ROOT / "BENCHMARKS.md").read_text() if (ROOT / "BENCHMARKS.md").exists() else ""
    for name in ("runtimes", "js"):
        block = benchlib.block_pattern(name).search(old)
        if block:
            text = text.replace("\n## Reproduce\n", "\n" + block.group(0) + "\n## Reproduce\n", 1)
    (ROOT / "BENCHMARKS.md").write_text(text)
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
