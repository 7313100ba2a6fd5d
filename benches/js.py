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

Python's standard library only. Overrides: PAF_WASI_CACHE (where
scripts/build-workers bundles the workers), BENCH_OUTPUT (another file
than BENCHMARKS.md).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import benchlib
from benchlib import ROOT, log

OUTPUT = Path(os.environ.get("BENCH_OUTPUT", ROOT / "BENCHMARKS.md"))
CACHE = Path(os.environ.get("PAF_WASI_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paf-wasi")
WORKERS = [CACHE / "worker" / "proxy", CACHE / "worker" / "httpbin"]

BENCHMARKS = [
    ("paf's client in Node against undici", ["node", "bench.mjs"], ROOT / "js"),
    ("`serve()` in Node against `node:http` and `node:http2`", ["node", "bench-serve.mjs"], ROOT / "js"),
    ("A page in Chromium through `paf bridge` against curl, natively", ["node", "bench-bridge.mjs"], ROOT / "js"),
    ("The workers in workerd: module sizes and start-up",
     ["node", "startup.mjs", *map(str, WORKERS)], ROOT / "tests" / "worker"),
]

def run(title, argv, cwd):
    """What the benchmark printed, or why it did not run."""
    script = cwd / argv[1]
    if not script.exists():
        return f"(not run: {script.relative_to(ROOT)} is not in this tree)"
    if "startup.mjs" in argv[1] and not all(worker.exists() for worker in WORKERS):
        return "(not run: the bundled workers are missing; scripts/build-workers builds them)"
    log(f"js: {title}")
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    log(f"js: {title}: {time.monotonic() - started:.0f} s")
    if done.returncode != 0:
        return f"(failed with exit code {done.returncode})\n{done.stderr.strip()[-2000:]}"
    return done.stdout.strip()


def section(m, outputs):
    lines = ["<!-- js:begin -->", "## JavaScript runtimes: Node, the browser, workerd", ""]
    add = lines.append
    add(f"Written by `scripts/bench js` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, from one run; "
        f"machine: {m['nproc']} CPUs, {m['cpu']}; load average at the start: "
        f"{m['load'][0]:.2f} {m['load'][1]:.2f} {m['load'][2]:.2f}. Each script prints its own table "
        "(what it compares, its rounds and medians); [js/BENCHMARKS.md](js/BENCHMARKS.md) has the notes on them.")
    add("")
    for (title, argv, cwd), output in zip(BENCHMARKS, outputs):
        shown = " ".join(a.replace(str(CACHE), "$PAF_WASI_CACHE") for a in argv)
        add(f"### {title}")
        add("")
        add(f"`(cd {cwd.relative_to(ROOT)} && {shown})`")
        add("")
        add("```text")
        add(output)
        add("```")
        add("")
    add("<!-- js:end -->")
    return "\n".join(lines) + "\n"


def main():
    m = benchlib.machine()
    log(f"js: machine load {m['load'][0]:.2f}")
    outputs = [run(*benchmark) for benchmark in BENCHMARKS]
    benchlib.write_block(OUTPUT, "js", section(m, outputs))
    log(f"js: wrote its section of {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
