// What a bridge costs a page (a benchmark, not a test): one request for
// N bytes (16 MiB by default) to the native `paf serve`, made by the www/
// page in headless Chromium through `paf bridge` (WebSocketStream,
// WebSocket, Wisp; TLS + h2, and clear HTTP/1.1), and the same requests
// made natively by curl; medians of ROUNDS (5) of each, in turn. Then the
// modules a page downloads, gzipped (level 9).
//   node bench-bridge.mjs [bytes]       (PAF_BIN: the paf binary to use)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { loadavg } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { chromium } from "playwright-core";

import { certificates, freePort, pafServe, scratch } from "./test/peers.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = join(here, "..");
const bytes = Number(process.argv[2] ?? 16 << 20);
const rounds = Number(process.env.ROUNDS ?? 5);
const PAF = process.env.PAF_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "release", "paf");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
process.env.PAF_BIN = PAF; // the upstream paf serve too

const dir = scratch("bench-bridge");
const certs = certificates(dir.dir);
const upstream = await pafServe("--tls-cert", certs.certFile, "--tls-key", certs.keyFile, "--quiet");
const plain = await pafServe("--quiet");
const bridgePort = await freePort();
const allow = `127.0.0.1:${upstream.port},127.0.0.1:${plain.port}`;
const bridge = spawn(PAF, ["bridge", "--listen", `127.0.0.1:${bridgePort}`, "--allow", allow], { stdio: "ignore" });
const site = createServer((req, res) => {
  const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const path = pathname === "/ca.pem" ? certs.caFile : normalize(join(repo, pathname));
  try {
    const body = readFileSync(path);
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
const context = await chromium.launchPersistentContext(join(dir.dir, "profile"), {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});

const url = `https://127.0.0.1:${upstream.port}/bytes/${bytes}`;
const plainUrl = `http://127.0.0.1:${plain.port}/bytes/${bytes}`;
async function inPage(variant) {
  const page = await context.newPage();
  const query = new URLSearchParams({ url, bridge: `ws://127.0.0.1:${bridgePort}/`, ca: "/ca.pem", auto: "1", tap: "0", ...variant });
  await page.goto(`http://127.0.0.1:${site.address().port}/www/index.html?${query}`);
  await page.waitForFunction(() => ["done", "failed"].includes(document.body.dataset.fetch), null, { timeout: 120_000 });
  const shown = await page.evaluate(() => ({
    state: document.body.dataset.fetch,
    status: document.getElementById("status").textContent,
    ms: Object.fromEntries([...document.querySelectorAll("[data-timing]")].map((t) => [t.dataset.timing, Number(t.dataset.ms)])),
  }));
  await page.close();
  if (shown.state !== "done") throw new Error(shown.status);
  return { firstByte: shown.ms["first byte"], total: shown.ms.total };
}
function native(target = url) {
  const out = execFileSync("curl", ["-s", "--http2", "--cacert", certs.caFile, "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total}", target], { encoding: "utf8" });
  const [firstByte, total] = out.split(" ").map((s) => Number(s) * 1000);
  return { firstByte, total };
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const variants = {
  "page, paf bridge, WebSocketStream, TLS + h2 in wasm": () => inPage({}),
  "page, paf bridge, WebSocket, TLS + h2 in wasm": () => inPage({ stream: "0" }),
  "page, paf bridge, Wisp, TLS + h2 in wasm": () => inPage({ via: "wisp", bridge: `ws://127.0.0.1:${bridgePort}/wisp/` }),
  "page, paf bridge, WebSocketStream, clear HTTP/1.1": () => inPage({ url: plainUrl }),
  "curl, native, TLS + h2": async () => native(),
  "curl, native, clear HTTP/1.1": async () => native(plainUrl),
};
const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let i = 0; i < rounds; i++) {
  for (const [name, run] of Object.entries(variants)) results[name].push(await run());
}
const row = (name, list) => {
  const firstByte = median(list.map((r) => r.firstByte));
  const total = median(list.map((r) => r.total));
  const mib = bytes / (1 << 20);
  return { name, firstByte, total, throughput: mib / (total / 1000) };
};
console.log(`${bytes} bytes, median of ${rounds}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const r of Object.entries(results).map(([name, list]) => row(name, list))) {
  console.log(`${r.name.padEnd(54)} first byte ${r.firstByte.toFixed(1).padStart(7)} ms  total ${r.total.toFixed(1).padStart(8)} ms  ${r.throughput.toFixed(1).padStart(6)} MiB/s`);
}

console.log("\nwhat a page downloads (gzip -9):");
let sum = 0;
for (const file of ["browser.js", "index.js", "url.js", "bridge.js", "dist/paf.js", "dist/paf_bg.wasm", "dist/roots.js"]) {
  const raw = readFileSync(join(here, file));
  const gz = gzipSync(raw, { level: 9 }).length;
  sum += gz;
  console.log(`  ${file.padEnd(20)} ${String(raw.length).padStart(9)} bytes  ${String(gz).padStart(8)} gzipped`);
}
console.log(`  ${"total".padEnd(20)} ${"".padStart(9)}        ${String(sum).padStart(8)} gzipped (dist/roots.js only for https to public origins)`);

await context.close();
bridge.kill();
await upstream.stop();
await plain.stop();
site.close();
dir.cleanup();
