// The package under bundlers, as an app that installed it would use it:
// a small page that imports "paf" is built with Vite (its dev server and
// its build), esbuild (--bundle --format=esm) and webpack 5, each with
// at most the one line js/README.md documents, then run in headless
// Chromium, where it fetches from the native `paf serve` through `paf
// bridge` and shows what it got.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { freePort, pafServe, scratch } from "./peers.mjs";

const js = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PAF = process.env.PAF_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(js, "..", "target"), "debug", "paf");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

const MAIN = `import { connectWebSocket, request } from "paf";
const params = new URLSearchParams(location.search);
request(params.get("url"), { connect: connectWebSocket(params.get("bridge")) })
  .then(async (response) => \`\${response.protocol} \${response.status} \${(await response.json()).host}\`)
  .catch((error) => \`failed: \${error.message}\`)
  .then((result) => (document.body.dataset.result = result));
`;
const HTML = `<!doctype html><html><head><meta charset="utf-8"><title>bundled paf</title></head>
<body><script type="module" src="./main.js"></script></body></html>
`;

let dir, app, upstream, bridge, bridgePort, context;

/** The app: main.js, index.html, and paf in node_modules as npm would install it (its "files"). */
function makeApp(root) {
  mkdirSync(join(root, "node_modules", "paf"), { recursive: true });
  writeFileSync(join(root, "main.js"), MAIN);
  writeFileSync(join(root, "index.html"), HTML);
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const manifest = JSON.parse(readFileSync(join(js, "package.json"), "utf8"));
  for (const file of ["package.json", ...manifest.files]) {
    cpSync(join(js, file), join(root, "node_modules", "paf", file), { recursive: true });
  }
}

/** Serves `root` as static files. */
async function staticSite(root) {
  const site = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    const file = path.endsWith("/") ? join(path, "index.html") : path;
    if (!file.startsWith(root) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${site.address().port}/`, close: () => new Promise((resolve) => site.close(resolve)) };
}

before(async () => {
  dir = scratch("bundlers");
  app = join(dir.dir, "app");
  makeApp(app);
  upstream = await pafServe("--quiet");
  bridgePort = await freePort();
  bridge = spawn(PAF, ["bridge", "--listen", `127.0.0.1:${bridgePort}`, "--allow", `127.0.0.1:${upstream.port}`], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      execFileSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${bridgePort}`], { stdio: "ignore" });
      break;
    } catch {
      if (i === 200) throw new Error("paf bridge did not listen");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  context = await chromium.launchPersistentContext(join(dir.dir, "profile"), { executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await context?.close();
  bridge?.kill();
  await upstream?.stop();
  dir?.cleanup();
});

/** Opens the built page at `base` and returns what it shows. */
async function run(base) {
  const page = await context.newPage();
  try {
    const query = new URLSearchParams({ url: `http://127.0.0.1:${upstream.port}/headers`, bridge: `ws://127.0.0.1:${bridgePort}/` });
    await page.goto(`${base}?${query}`);
    await page.waitForFunction(() => document.body?.dataset.result, null, { timeout: 60_000 });
    return await page.evaluate(() => document.body.dataset.result);
  } finally {
    await page.close();
  }
}

/** Serves the built page in `root` and checks what it fetched. */
async function assertServedPageFetches(root) {
  const site = await staticSite(root);
  try {
    assert.equal(await run(site.url), `HTTP/1.1 200 127.0.0.1:${upstream.port}`);
  } finally {
    await site.close();
  }
}

test("Vite build, unconfigured", async () => {
  const { build } = await import("vite");
  const outDir = join(dir.dir, "vite-build");
  await build({ root: app, logLevel: "error", configFile: false, build: { outDir, emptyOutDir: true } });
  await assertServedPageFetches(outDir);
});

test("Vite dev server, with optimizeDeps.exclude: ['paf']", async () => {
  const { createServer: viteServer } = await import("vite");
  const port = await freePort();
  const server = await viteServer({
    root: app,
    logLevel: "error",
    configFile: false,
    server: { host: "127.0.0.1", port, strictPort: true },
    optimizeDeps: { exclude: ["paf"] },
  });
  await server.listen();
  try {
    assert.equal(await run(`http://127.0.0.1:${port}/`), `HTTP/1.1 200 127.0.0.1:${upstream.port}`);
  } finally {
    await server.close();
  }
});

test("esbuild --bundle --format=esm, the .wasm files copied next to the bundle", async () => {
  const esbuild = await import("esbuild");
  const out = join(dir.dir, "esbuild");
  await esbuild.build({ entryPoints: [join(app, "main.js")], bundle: true, format: "esm", outdir: out, logLevel: "error", absWorkingDir: app });
  writeFileSync(join(out, "index.html"), HTML);
  // The one documented step: node_modules/paf/dist/ copied to the bundle's dist/.
  cpSync(join(app, "node_modules", "paf", "dist"), join(out, "dist"), { recursive: true });
  await assertServedPageFetches(out);
});

test("webpack 5, unconfigured but for the entry and output", async () => {
  const { default: webpack } = await import("webpack");
  const out = join(dir.dir, "webpack");
  const stats = await new Promise((resolve, reject) =>
    webpack({ mode: "production", context: app, entry: "./main.js", output: { path: out, filename: "main.js" } }, (error, stats) =>
      error ? reject(error) : resolve(stats)),
  );
  assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
  writeFileSync(join(out, "index.html"), HTML.replace('type="module" ', ""));
  await assertServedPageFetches(out);
});
