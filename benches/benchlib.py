"""What benches/run.py and benches/runtimes.py share: running and logging
commands (each one remembered for the report's "Reproduce" list), the CPU
pinning of servers and load generators, stopping a server, medians, and a
description of the machine.

Python's standard library only.
"""

import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each server runs alone on one CPU, the load generator on the other.
SERVER_CPU = "0"
LOAD_CPU = "1"

# Every command run, in order, for the report.
commands_run = []


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
