"""What benches/run.py, benches/runtimes.py and benches/js.py share:
running and logging commands (each one remembered for the report's
"Reproduce" list), the CPU pinning of servers and load generators, stopping
a server, wrk and h2load, medians, the latency plots, and a description of
the machine.

Python's standard library only.
"""

import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each server runs alone on one CPU, the load generator on the other.
SERVER_CPU = "0"
LOAD_CPU = "1"

# Every command run, in order, for the report.
commands_run = []

# Measuring starts once the 1-minute load average is below QUIET_LOAD, or
# after QUIET_WAIT seconds (the report gives the load it started at).
QUIET_LOAD = float(os.environ.get("BENCH_QUIET_LOAD", "1.0"))
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "600"))


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(argv):
    commands_run.append(argv)
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def load(argv):
    """Runs a load generator, pinned to its CPU."""
    return run(["taskset", "-c", LOAD_CPU, *argv])


def stop(process):
    """SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(url, seconds, connections=64, pipeline_depth=None):
    """wrk on one thread: req/s, requests, p50 and p99 latency in µs,
    the latency by quantile (`quantiles.lua`; with `pipeline_depth`,
    `pipeline.lua`, which sends that many requests at once on each
    connection) and the errors wrk reported, if any."""
    if pipeline_depth:
        script = [str(ROOT / "benches" / "pipeline.lua"), url, "--", str(pipeline_depth)]
    else:
        script = [str(ROOT / "benches" / "quantiles.lua"), url]
    out = load(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", *script])
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = [m.group(0).strip() for m in re.finditer(r"Non-2xx or 3xx responses: \d+|Socket errors: [^\n]*", out)]
    if requests == 0:
        errors.append("no response")
    quantiles = json.loads(re.search(r"^latency quantiles: (.*)$", out, re.M).group(1))
    at = dict(quantiles)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "p50_us": at[0.5],
        "p99_us": at[0.99],
        "quantiles": quantiles,
        "errors": "; ".join(errors) or None,
    }


def h2load(url, seconds, connections=64, streams=10):
    """HTTP/2 by prior knowledge (h2c): req/s, requests done and failed,
    and latency percentiles from h2load's per-request log."""
    log_file = Path(f"/tmp/paf-bench-h2load-{os.getpid()}.log")
    out = load(["h2load", "-t1", f"-c{connections}", f"-m{streams}", f"-D{seconds}", "--warm-up-time=1",
                f"--log-file={log_file}", url])
    rate = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    durations = sorted(int(line.split("\t")[2]) for line in log_file.read_text().splitlines() if line.strip())
    log_file.unlink()
    return {
        "rps": rate,
        "requests": int(done.group(3)),
        "failed": int(done.group(5)) + int(done.group(6)),
        "p50_us": quantile(durations, 0.50),
        "p99_us": quantile(durations, 0.99),
        "mean_us": sum(durations) / len(durations) if durations else 0,
    }


def quantile(ordered, q):
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def wait_for_quiet():
    """Waits for the machine to calm down before measuring: the builds
    scripts/bench runs first, or the part of a run before, would otherwise
    load the first rounds (and the load average the report gives)."""
    deadline = time.monotonic() + QUIET_WAIT
    while (load := os.getloadavg()[0]) >= QUIET_LOAD and time.monotonic() < deadline:
        log(f"load average {load:.2f}: waiting for it to fall below {QUIET_LOAD}")
        time.sleep(15)


def machine():
    """CPUs, CPU model, kernel, memory and load average."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "memory": memory,
            "load": os.getloadavg()}


def block_pattern(name):
    """The section a script owns in BENCHMARKS.md: from `<!-- NAME:begin -->`
    to `<!-- NAME:end -->`."""
    return re.compile(rf"^<!-- {name}:begin -->$.*?^<!-- {name}:end -->$\n?", re.M | re.S)


def write_block(path, name, block):
    """Puts `block` (the section NAME, markers included) into `path`: in
    place of the old one, else before `## Reproduce`, else at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = block_pattern(name)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif re.search(r"^## Reproduce$", text, re.M):
        text = re.sub(r"^## Reproduce$", lambda _: block + "\n## Reproduce", text, count=1, flags=re.M)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


PLOT_COLORS = ("#d9480f", "#1864ab", "#2b8a3e", "#862e9c", "#e67700")


def svg_plot(series, path, title):
    """Writes an SVG of latency by quantile (the x axis stretches the tail,
    to 99.99 %): one line per entry of `series`, a label to its
    `[[quantile, µs], ...]`. False, writing nothing, when there is none."""
    series = {label: [(q, us) for q, us in points if q < 1.0] for label, points in series.items() if points}
    if not series:
        return False
    width, height, left, bottom, top = 760, 360, 70, 50, 30
    right = 60 + 7 * max(len(label) for label in series)
    top_us = max(us for points in series.values() for _, us in points) * 1.1 or 1
    x_of = lambda q: left + (width - left - right) * math.log10(1 / (1 - q)) / 4  # 0 .. 99.99%
    y_of = lambda us: height - bottom - (height - bottom - top) * us / top_us
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>']
    for q, label in [(0, "0%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%")]:
        x = x_of(q)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{label}</text>')
    for i in range(6):
        us = top_us * i / 5
        y = y_of(us)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        shown = f"{us:.0f} µs" if top_us < 2000 else f"{us / 1000:.1f} ms"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{shown}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">quantile</text>')
    for n, (label, points) in enumerate(series.items()):
        color = PLOT_COLORS[n % len(PLOT_COLORS)]
        path_d = " ".join(f"{'M' if i == 0 else 'L'}{x_of(q):.1f},{y_of(us):.1f}" for i, (q, us) in enumerate(points))
        parts.append(f'<path d="{path_d}" fill="none" stroke="{color}" stroke-width="2"/>')
        y = top + 20 + 20 * n
        parts.append(f'<line x1="{width - right + 12}" y1="{y}" x2="{width - right + 36}" y2="{y}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 42}" y="{y + 4}">{label}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
    return True
