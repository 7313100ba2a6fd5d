// The browser demo (www/) in headless Chromium, driven over WebDriver:
// the page loads the package's browser entry, serves and fetches over
// HTTP/1.1 and HTTP/2 in the page, and shows what it got.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { freePort, scratch } from "./peers.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMEDRIVER = process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

/** The repository's www/ and js/ over HTTP, as a static site. */
function staticSite() {
  return createServer((req, res) => {
    const path = normalize(join(repo, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    const allowed = [join(repo, "www"), join(repo, "js")].some((dir) => path.startsWith(dir));
    if (!allowed || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
    res.end(readFileSync(path));
  });
}

async function webdriver(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

let site, driver, driverUrl, profile;
before(async () => {
  site = staticSite();
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  const port = await freePort();
  driver = spawn(CHROMEDRIVER, [`--port=${port}`], { stdio: "ignore" });
  driverUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await webdriver(driverUrl, "GET", "/status");
      break;
    } catch (error) {
      if (i === 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  profile = scratch("chromium");
});
after(async () => {
  driver?.kill();
  await new Promise((resolve) => site.close(resolve));
  profile?.cleanup();
});

test("the demo serves and fetches over HTTP/1.1 and HTTP/2 in headless Chromium", async () => {
  const args = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", `--user-data-dir=${profile.dir}`,
  ];
  const session = await webdriver(driverUrl, "POST", "/session", {
    capabilities: { alwaysMatch: { "goog:chromeOptions": { binary: CHROMIUM, args } } },
  });
  const id = session.sessionId;
  try {
    await webdriver(driverUrl, "POST", `/session/${id}/url`, { url: `http://127.0.0.1:${site.address().port}/www/index.html` });
    const script = (body) => webdriver(driverUrl, "POST", `/session/${id}/execute/sync`, { script: body, args: [] });
    let state;
    for (let i = 0; i < 200 && !state; i++) {
      state = await script("return document.body.dataset.state");
      if (!state) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const log = await script("return document.getElementById('log').textContent");
    assert.equal(state, "done", log);
    assert.match(log, /^HTTP\/1\.1 200 \(paf in the page\)\nHello from a server in this page\.\nYou sent POST \/hello "hi"\./);
    assert.match(log, /\nHTTP\/2 200 \(paf in the page\)\n/);
  } finally {
    await webdriver(driverUrl, "DELETE", `/session/${id}`);
  }
});
