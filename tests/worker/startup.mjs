// Measures the bundled workers of scripts/test-worker in workerd (a
// benchmark, not a test; js/BENCHMARKS.md has the figures): the size of
// each worker's JS bundle and wasm modules, raw and gzipped (level 9), and
// how long workerd takes from its start to the first answered request with
// that worker (the modules compiled and instantiated, one fetch event),
// against a worker with no wasm at all: the difference is what the
// modules cost. Medians of RUNS starts.
//
//   node tests/worker/startup.mjs $PAF_WASI_CACHE/worker/{proxy,httpbin}
//
// (examples/worker is left out of the timing: each of its requests goes to
// an origin. Its module's size is in its build's output.)
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { createServer } from "node:net";

const RUNS = 7;
const workerd = new URL("./node_modules/.bin/workerd", import.meta.url).pathname;

function files(dir, root = dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path, root);
    return [relative(root, path)];
  });
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Milliseconds from workerd's start to the first answer on `dir`'s worker. */
async function startup(dir) {
  const port = await freePort();
  const wasm = files(dir).filter((f) => f.endsWith(".wasm"));
  const modules = [`(name = "worker.js", esModule = embed "worker.js")`, ...wasm.map((f) => `(name = "${f}", wasm = embed "${f}")`)];
  const config = join(dir, `startup-${port}.capnp`);
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = ( modules = [ ${modules.join(", ")} ], compatibilityDate = "2025-01-01" );
`,
  );
  const start = performance.now();
  const child = spawn(workerd, ["serve", config], { stdio: "ignore" });
  try {
    for (;;) {
      try {
        await fetch(`http://127.0.0.1:${port}/nowhere`).then((r) => r.arrayBuffer());
        return performance.now() - start;
      } catch {
        if (performance.now() - start > 30_000) throw new Error(`${dir}: workerd did not answer in 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  } finally {
    child.kill();
    rmSync(config);
  }
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;

const baseline = mkdtempSync(join(tmpdir(), "paf-startup-"));
writeFileSync(join(baseline, "worker.js"), "export default { fetch: () => new Response('hello') };\n");
const dirs = [baseline, ...process.argv.slice(2)];
console.log("| worker | module | raw | gzipped |\n|---|---|---|---|");
for (const dir of dirs.slice(1)) {
  for (const file of files(dir).filter((f) => f === "worker.js" || f.endsWith(".wasm"))) {
    const bytes = readFileSync(join(dir, file));
    console.log(`| ${dir.split("/").pop()} | ${file} | ${kb(bytes.length)} | ${kb(gzipSync(bytes, { level: 9 }).length)} |`);
  }
}
const times = new Map(dirs.map((dir) => [dir, []]));
for (let run = 0; run < RUNS; run++) {
  for (const dir of dirs) times.get(dir).push(await startup(dir));
}
console.log(`\n| worker | start to first answer, median of ${RUNS} | over the no-wasm worker |\n|---|---|---|`);
const base = median(times.get(baseline));
for (const dir of dirs) {
  const ms = median(times.get(dir));
  const name = dir === baseline ? "no wasm (baseline)" : dir.split("/").pop();
  console.log(`| ${name} | ${ms.toFixed(0)} ms | ${dir === baseline ? "" : `+${(ms - base).toFixed(0)} ms`} |`);
}
rmSync(baseline, { recursive: true });
