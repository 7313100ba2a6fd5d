// The package's two wasm modules: the client (HTTP/1.1, HTTP/2 and TLS)
// within its size target, and each without the other's exports, so that
// a page that only fetches loads no server and one that only serves no
// TLS.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

const exportsOf = (bytes) => WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
const client = readFileSync(new URL("../dist/paf_bg.wasm", import.meta.url));
const server = readFileSync(new URL("../dist/server/paf_server_bg.wasm", import.meta.url));

test("the client module is at most 350 kB gzipped (libcurl.js ships 552 KB)", () => {
  const gzipped = gzipSync(client, { level: 9 }).length;
  assert.ok(gzipped <= 350_000, `dist/paf_bg.wasm is ${gzipped} bytes gzipped`);
});

test("the client module has no server, the server module no client", () => {
  const clientExports = exportsOf(client);
  const serverExports = exportsOf(server);
  assert.ok(clientExports.includes("client_request"), clientExports.join(" "));
  assert.ok(clientExports.includes("setRoots"), clientExports.join(" "));
  assert.ok(!clientExports.includes("serve"), clientExports.join(" "));
  assert.ok(serverExports.includes("serve"), serverExports.join(" "));
  assert.ok(!serverExports.some((name) => name.startsWith("client_") || name === "setRoots"), serverExports.join(" "));
  // No TLS in the server: the platform does it (listenTls, a worker's).
  assert.ok(!server.includes(Buffer.from("tls13 ")), "the server module holds rustls");
});
