#!/usr/bin/env python3
"""Runs the benchmarks of paf's JavaScript runtimes and writes their
section of BENCHMARKS.md, so that every runtime's figures are in one file.

Called by `scripts/bench js` once the npm package is built (js/dist) and
its dependencies installed. Each benchmark is a script of its own, which
prints its table; this runs them one after the other and puts what each
printed, with its command, between `<!-- js:begin -->` and `<!-- js:end -->`:

- `js/bench.mjs`: paf's client in Node against undici's, on one nginx;
- `js/bench-serve.mjs`: `serve()` in Node against Node's own `http` and
  `http2` servers, the same handler;
- `js/bench-bridge.mjs`: a page in headless Chromium fetching through
  `paf bridge` against the same request made natively by curl;
- `tests/worker/startup.mjs`: the workers' module sizes and start-up time
  in workerd (the bundles of `scripts/build-workers`; left out, with a
  line saying so, when they are not there).

The first two also write their latencies by quantile (`--plot FILE`),
drawn into benches/latency-node-client.svg and
benches/latency-node-serve.svg.

Python's standard library only. Overrides: PAF_WASI_CACHE (where
scripts/build-workers bundles the workers), BENCH_OUTPUT (another file
than BENCHMARKS.md).
"""

import json
import os
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import benchlib
from benchlib import ROOT, log, svg_plot

OUTPUT = Path(os.environ.get("BENCH_OUTPUT", ROOT / "BENCHMARKS.md"))
CACHE = Path(os.environ.get("PAF_WASI_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paf-wasi")
WORKERS = [CACHE / "worker" / "proxy", CACHE / "worker" / "httpbin"]
# Where a benchmark given `--plot FILE` writes its latencies by quantile.
QUANTILES = Path(tempfile.gettempdir()) / f"paf-bench-js-{os.getpid()}.json"

# Each benchmark: its title, command, directory, and the plot of its
# latencies (file in benches/, title), if it draws one.
BENCHMARKS = [
    ("paf's client in Node against undici", ["node", "bench.mjs"], ROOT / "js",
     ("latency-node-client.svg", "Latency by quantile, each client in Node, one request at a time (first round)")),
    ("`serve()` in Node against `node:http` and `node:http2`", ["node", "bench-serve.mjs"], ROOT / "js",
     ("latency-node-serve.svg", "Latency by quantile, serve() in Node and node:http, wrk -c16 (first round)")),
    ("A page in Chromium through `paf bridge` against curl, natively", ["node", "bench-bridge.mjs"], ROOT / "js", None),
    ("The workers in workerd: module sizes and start-up",
     ["node", "startup.mjs", *map(str, WORKERS)], ROOT / "tests" / "worker", None),
]

def run(title, argv, cwd, plot):
    """What the benchmark printed, or why it did not run, and whether it
    drew its plot."""
    script = cwd / argv[1]
    if not script.exists():
        return f"(not run: {script.relative_to(ROOT)} is not in this tree)", False
    if "startup.mjs" in argv[1] and not all(worker.exists() for worker in WORKERS):
        return "(not run: the bundled workers are missing; scripts/build-workers builds them)", False
    log(f"js: {title}")
    started = time.monotonic()
    QUANTILES.unlink(missing_ok=True)
    done = subprocess.run([*argv, *(["--plot", str(QUANTILES)] if plot else [])], cwd=cwd, capture_output=True, text=True)
    plotted = False
    if plot and QUANTILES.exists():
        plotted = svg_plot(json.loads(QUANTILES.read_text()), ROOT / "benches" / plot[0], plot[1])
        QUANTILES.unlink()
    log(f"js: {title}: {time.monotonic() - started:.0f} s")
    if done.returncode != 0:
        return f"(failed with exit code {done.returncode})\n{done.stderr.strip()[-2000:]}", False
    return done.stdout.strip(), plotted


def section(m, outputs):
    lines = ["<!-- js:begin -->", "## JavaScript runtimes: Node, the browser, workerd", ""]
    add = lines.append
    add(f"Written by `scripts/bench js` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, from one run; "
        f"machine: {m['nproc']} CPUs, {m['cpu']}; load average at the start: "
        f"{m['load'][0]:.2f} {m['load'][1]:.2f} {m['load'][2]:.2f}. Each script prints its own table "
        "(what it compares, its rounds and medians); [js/BENCHMARKS.md](js/BENCHMARKS.md) has the notes on them.")
    add("")
    for (title, argv, cwd, plot), (output, plotted) in zip(BENCHMARKS, outputs):
        shown = " ".join(a.replace(str(CACHE), "$PAF_WASI_CACHE") for a in argv)
        add(f"### {title}")
        add("")
        add(f"`(cd {cwd.relative_to(ROOT)} && {shown})`")
        add("")
        add("```text")
        add(output)
        add("```")
        add("")
        if plotted:
            add(f"![{plot[1]}](benches/{plot[0]})")
            add("")
    add("<!-- js:end -->")
    return "\n".join(lines) + "\n"


def main():
    benchlib.wait_for_quiet()
    m = benchlib.machine()
    log(f"js: machine load {m['load'][0]:.2f}")
    outputs = [run(*benchmark) for benchmark in BENCHMARKS]
    benchlib.write_block(OUTPUT, "js", section(m, outputs))
    log(f"js: wrote its section of {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
