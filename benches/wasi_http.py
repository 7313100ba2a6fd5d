#!/usr/bin/env python3
"""Measures `paf-host serve --proxy` against `wasmtime serve` on the same
`wasi:http/proxy` component (paf_httpbin_proxy.wasm, `GET /bytes/14`):
requests per second at 1, 16 and 64 connections (wrk, HTTP/1.1: `wasmtime
serve` has no HTTP/2), and paf-host's h2c besides (h2load), each server
alone on CPU 0 and the load on CPU 1, the servers alternated over rounds
and the median kept (benches/runtimes.py's Server and measures).

Called by `scripts/bench wasi-http` once everything is built. Prints a
Markdown table with the load average at the start and the end; the
figures go to benches/runtimes-notes.md by hand (the machine the run was
on, and how busy it was, belong with them).

Overrides as benches/runtimes.py's (BENCH_ROUNDS, BENCH_SECONDS,
BENCH_CONNECTIONS, PAF_WASI_CACHE, PAF_COMPONENTS, PAF_WASMTIME,
PAF_HOST_BIN).
"""

import os

from benchlib import log, machine, median_of
from runtimes import COMPONENTS, PAF_HOST, ROUNDS, SECONDS, WASMTIME, alternate, measure, measure_h2c, require

SERVERS = ("wasmtime-serve", "host-proxy")
CONNECTIONS = tuple(int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,16,64").split(","))


def main():
    require([WASMTIME, PAF_HOST, COMPONENTS / "paf_httpbin_proxy.wasm"], "scripts/bench wasi-http")
    m = machine()
    log(f"machine: {m['nproc']} CPUs, {m['cpu']}, load {m['load'][0]:.2f}")
    runs = {c: alternate(SERVERS, lambda kind: measure(kind, c), f"-c{c}") for c in CONNECTIONS}
    h2c = [measure_h2c("host-proxy") for _ in range(ROUNDS)]
    load_end = os.getloadavg()
    print(f"\n`paf-host serve --proxy` against `wasmtime serve`, `paf_httpbin_proxy.wasm`, `GET /bytes/14`, "
          f"{ROUNDS} rounds of {SECONDS} s, medians; {m['nproc']} CPUs ({m['cpu']}), "
          f"load average {m['load'][0]:.2f} at the start, {load_end[0]:.2f} at the end:\n")
    print("| load | wasmtime serve, req/s | paf-host --proxy, req/s | ratio |")
    print("|---|---|---|---|")
    for c in CONNECTIONS:
        theirs, ours = (median_of(runs[c][kind], "rps") for kind in SERVERS)
        errors = [r["errors"] for kind in SERVERS for r in runs[c][kind] if r["errors"]]
        note = f" (errors: {'; '.join(errors)})" if errors else ""
        print(f"| wrk, {c} connection{'s' if c > 1 else ''} | {theirs:,.0f} | {ours:,.0f} | {ours / theirs:.2f}×{note} |")
    print(f"| h2load, h2c, 64 connections × 10 streams | — (HTTP/1.1 only) | {median_of(h2c, 'rps'):,.0f} | — |")


if __name__ == "__main__":
    main()
