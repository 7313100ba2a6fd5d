// The www/ page in headless Chromium (Debian's, driven by playwright-core)
// fetching real servers through bridges, with TLS and HTTP/2 inside the
// page: through `paf bridge` (WebSocket, WebSocketStream and Wisp) to
// nginx over TLS + h2 and to the native `paf serve`; through websockify
// and wisp-python (PyPI, installed by scripts/install-bridge-peers) to
// nginx; a target outside the allow-list refused with the reason shown;
// 4 MiB down and 1 MiB up over TLS + h2, checked by SHA-256 in the page
// against the digest computed here. Screenshots go to js/test/artifacts/.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { certificates, freePort, nginx, pafServe, scratch } from "./peers.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const artifacts = join(repo, "js", "test", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".pem": "text/plain" };
const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

/** www/ and js/ of the repository, and the test CA at /ca.pem. */
function staticSite(caFile) {
  return createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const path = pathname === "/ca.pem" ? caFile : normalize(join(repo, pathname));
    const allowed = path === caFile || [join(repo, "www"), join(repo, "js")].some((dir) => path.startsWith(dir));
    if (!allowed || !existsSync(path)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
    res.end(readFileSync(path));
  });
}

/** Runs `command` until the test ends, once it accepts connections on `port`. */
async function running(name, command, args, port, env = process.env) {
  // Its own process group: wisp-python serves from a child process of its own.
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], detached: true, env });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`);
    try {
      execFileSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: "ignore" });
      break;
    } catch {
      if (i === 200) throw new Error(`${name} did not listen on ${port}: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { stop: () => process.kill(-child.pid), stderr: () => stderr };
}

/** The native paf, as peers.mjs finds it. */
const PAF = process.env.PAF_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "debug", "paf");
const VENV_BIN = execFileSync(join(repo, "scripts", "install-bridge-peers"), { encoding: "utf8" }).trim();

let dir, certs, site, nginxServer, pafTls, pafPlain, outside, bridge, websockify, wisp, context;
let sitePort, bridgePort, websockifyPort, wispPort;

before(async () => {
  dir = scratch("bridge");
  certs = certificates(dir.dir);
  nginxServer = await nginx(dir.dir, certs);
  pafTls = await pafServe("--tls-cert", certs.certFile, "--tls-key", certs.keyFile, "--quiet");
  pafPlain = await pafServe("--quiet");
  outside = await pafServe("--quiet");
  site = staticSite(certs.caFile);
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  sitePort = site.address().port;

  bridgePort = await freePort();
  const allow = [nginxServer.tlsPort, pafTls.port, pafPlain.port].map((port) => `127.0.0.1:${port}`).join(",");
  bridge = await running("paf bridge", PAF, ["bridge", "--listen", `127.0.0.1:${bridgePort}`, "--allow", allow, "--origin", `http://127.0.0.1:${sitePort}`], bridgePort);
  websockifyPort = await freePort();
  websockify = await running("websockify", join(VENV_BIN, "websockify"), [`127.0.0.1:${websockifyPort}`, `127.0.0.1:${nginxServer.tlsPort}`], websockifyPort);
  wispPort = await freePort();
  wisp = await running("wisp-python", join(VENV_BIN, "python"), ["-m", "wisp.server", "--host", "127.0.0.1", "--port", String(wispPort), "--allow-loopback", "--threads", "1", "--log-level", "warning"], wispPort);

  mkdirSync(artifacts, { recursive: true });
  context = await chromium.launchPersistentContext(join(dir.dir, "profile"), { executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await context?.close();
  for (const peer of [bridge, websockify, wisp]) peer?.stop();
  for (const server of [nginxServer, pafTls, pafPlain, outside]) await server?.stop();
  await new Promise((resolve) => site?.close(resolve));
  dir?.cleanup();
});

/**
 * Opens the page with `query`, waits for its fetch, returns what it shows.
 * The page comes from the static site, or from `origin` (with its own
 * browser context, `on`).
 */
async function pageFetch(name, query, viewport = { width: 1100, height: 900 }, { origin = `http://127.0.0.1:${sitePort}`, on = context } = {}) {
  const page = await on.newPage();
  await page.setViewportSize(viewport);
  try {
    const search = new URLSearchParams({ ca: "/ca.pem", auto: "1", ...query });
    await page.goto(`${origin}/www/index.html?${search}`);
    await page.waitForFunction(() => ["done", "failed"].includes(document.body.dataset.fetch), null, { timeout: 60_000 });
    const shown = await page.evaluate(() => ({
      state: document.body.dataset.fetch,
      status: document.getElementById("status").textContent,
      facts: Object.fromEntries([...document.querySelectorAll("[data-fact]")].map((f) => [f.dataset.fact, f.querySelector("dd").textContent])),
      timings: [...document.querySelectorAll("[data-timing]")].map((t) => t.dataset.timing),
      body: document.getElementById("body").textContent,
      chain: [...document.querySelectorAll("[data-certificate]")].map((c) => [...c.children].map((line) => line.textContent)),
    }));
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    return shown;
  } finally {
    await page.close();
  }
}

function assertFetched(shown, protocol, tls) {
  assert.equal(shown.state, "done", shown.status);
  assert.equal(shown.facts.Protocol, protocol);
  assert.match(shown.facts.TLS, tls);
  assert.deepEqual(shown.timings, ["connect", "TLS", "first byte", "total"]);
}

const NGINX_TLS = /^TLSv1\.[23]$/;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const pafBridge = () => `ws://127.0.0.1:${bridgePort}/`;

test("paf bridge: the page fetches from nginx over TLS + h2 (WebSocketStream, and WebSocket)", async () => {
  const url = `https://127.0.0.1:${nginxServer.tlsPort}/hello`;
  const shown = await pageFetch("paf-bridge-nginx", { url, bridge: pafBridge() });
  // Debian's nginx (1.22) offers TLS 1.2 unless told otherwise.
  assertFetched(shown, "HTTP/2", NGINX_TLS);
  assert.match(shown.facts.Status, /^200\b/);
  assert.match(shown.facts.Cipher, /^TLS(13)?_(ECDHE_(RSA|ECDSA)_WITH_)?AES_(128|256)_GCM_SHA(256|384)$/);
  assert.equal(shown.body, "hello from nginx\n");
  assert.equal(shown.chain.length, 1, "nginx sends its own certificate only");
  const [subject, issuer, validity] = shown.chain[0];
  assert.equal(subject, "CN=localhost");
  assert.equal(issuer, "issued by CN=paf js test CA");
  assert.match(validity, /^valid \d{4}-\d\d-\d\d \d\d:\d\d UTC to \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  const classic = await pageFetch("paf-bridge-nginx-websocket", { url, bridge: pafBridge(), stream: "0" });
  assertFetched(classic, "HTTP/2", NGINX_TLS);
  assert.equal(classic.body, "hello from nginx\n");
});

test("paf bridge: the page fetches from the native paf serve, and over Wisp, at phone width", async () => {
  const shown = await pageFetch("paf-bridge-paf-serve", { url: `http://127.0.0.1:${pafPlain.port}/headers`, bridge: pafBridge() });
  assert.equal(shown.state, "done", shown.status);
  assert.equal(shown.facts.Protocol, "HTTP/1.1");
  assert.equal(shown.facts.TLS, "none (clear text)");
  assert.equal(JSON.parse(shown.body).host, `127.0.0.1:${pafPlain.port}`);
  const wisp = await pageFetch("paf-bridge-wisp-phone", { url: `https://127.0.0.1:${nginxServer.tlsPort}/hello`, via: "wisp", bridge: `${pafBridge()}wisp/` }, { width: 390, height: 844 });
  assertFetched(wisp, "HTTP/2", NGINX_TLS);
  assert.equal(wisp.body, "hello from nginx\n");
});

test("bridges no one here wrote: websockify and wisp-python in front of nginx", async () => {
  const url = `https://127.0.0.1:${nginxServer.tlsPort}/hello`;
  const viaWebsockify = await pageFetch("websockify-nginx", { url, via: "fixed", bridge: `ws://127.0.0.1:${websockifyPort}/` });
  assertFetched(viaWebsockify, "HTTP/2", NGINX_TLS);
  assert.equal(viaWebsockify.body, "hello from nginx\n");
  const viaWisp = await pageFetch("wisp-python-nginx", { url, via: "wisp", bridge: `ws://127.0.0.1:${wispPort}/` });
  assertFetched(viaWisp, "HTTP/2", NGINX_TLS);
  assert.equal(viaWisp.body, "hello from nginx\n");
});

test("the bridge refuses a target outside its allow-list, and the page shows why", async () => {
  const refused = `127.0.0.1:${outside.port}`;
  const shown = await pageFetch("refused", { url: `http://${refused}/get`, bridge: pafBridge() });
  assert.equal(shown.state, "failed");
  assert.match(shown.status, new RegExp(`^Failed: (I/O error: )?bridge: ${refused} is not in the allow-list \\(ECONNREFUSED\\)$`));
  const overWisp = await pageFetch("refused-wisp", { url: `http://${refused}/get`, via: "wisp", bridge: `${pafBridge()}wisp/` });
  assert.equal(overWisp.state, "failed");
  assert.match(overWisp.status, new RegExp(`Wisp: ${refused}: the server's policy blocks this destination \\(ECONNREFUSED\\)`));
});

test("4 MiB down and 1 MiB up over TLS + h2 through the bridge, byte for byte", async () => {
  const down = await pageFetch("download-4mib", { url: `https://127.0.0.1:${pafTls.port}/bytes/4194304`, bridge: pafBridge() });
  assertFetched(down, "HTTP/2", /^TLSv1\.3$/);
  assert.equal(down.facts.Body, "4194304 bytes");
  assert.equal(down.facts["SHA-256"], sha256(pattern(4 << 20)));
  const up = await pageFetch("upload-1mib", { url: `https://127.0.0.1:${pafTls.port}/echo`, upload: String(1 << 20), bridge: pafBridge() });
  assertFetched(up, "HTTP/2", /^TLSv1\.3$/);
  assert.equal(up.facts.Body, "1048576 bytes");
  assert.equal(up.facts["Uploaded SHA-256"], sha256(pattern(1 << 20)));
  assert.equal(up.facts["SHA-256"], up.facts["Uploaded SHA-256"], "the echo is what was sent");
});

test("WebSockets over HTTP/2 (RFC 8441): the page and its bridge on one https origin, paf bridge --tls-cert --root", async () => {
  // The site the bridge serves: www/, the package's browser files, the test CA.
  const root = join(dir.dir, "site");
  cpSync(join(repo, "www"), join(root, "www"), { recursive: true });
  for (const file of ["browser.js", "index.js", "url.js", "bridge.js", "dist"]) cpSync(join(repo, "js", file), join(root, "js", file), { recursive: true });
  writeFileSync(join(root, "ca.pem"), certs.ca);
  const port = await freePort();
  const allow = `127.0.0.1:${nginxServer.tlsPort}`;
  const args = ["bridge", "--listen", `127.0.0.1:${port}`, "--allow", allow, "--tls-cert", certs.certFile, "--tls-key", certs.keyFile, "--root", root];
  const secure = await running("paf bridge (TLS)", PAF, args, port, { ...process.env, PAF_LOG: "paf::bridge=info", NO_COLOR: "1" });
  // A context of its own that takes the test CA's certificate for the page.
  const trusting = await chromium.launchPersistentContext(join(dir.dir, "profile-h2"), {
    executablePath: CHROMIUM, headless: true, args: FLAGS, ignoreHTTPSErrors: true,
  });
  try {
    const url = `https://127.0.0.1:${nginxServer.tlsPort}/hello`;
    const options = { origin: `https://127.0.0.1:${port}`, on: trusting };
    const shown = await pageFetch("rfc8441-same-origin", { url, bridge: `wss://127.0.0.1:${port}/` }, undefined, options);
    assertFetched(shown, "HTTP/2", NGINX_TLS);
    assert.equal(shown.body, "hello from nginx\n");
    // Chromium opened the WebSocket on the page's HTTP/2 connection.
    const log = secure.stderr().replace(/\x1b\[[0-9;]*m/g, "");
    assert.match(log, /WebSocket opened client=Some\(127\.0\.0\.1\) version=HTTP\/2\.0/);
  } finally {
    await trusting.close();
    secure.stop();
  }
});
