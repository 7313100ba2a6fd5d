// The certificates README.md says how to make: its commands, run as they
// are written, give a server (listenTls) that paf's client trusts; the
// usual `openssl req -x509` certificate (CA:TRUE) is refused, with advice
// in JS terms, unless pinned (tls.pins).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";

import { Client, listenTls, request, serve } from "../node.js";
import { scratch } from "./peers.mjs";

const work = scratch("certificates");
after(() => work.cleanup());

/** The `sh` blocks of README.md's section on certificates, in order. */
function readmeCommands() {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("\n## Certificates for a test server\n");
  assert.ok(start >= 0, "README.md has its section on certificates");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((block) => block[1]);
}

/** Runs `commands` with bash in a fresh directory; gives its PEM files. */
function make(name, commands) {
  const dir = join(work.dir, name);
  mkdirSync(dir);
  execFileSync("bash", ["-euo", "pipefail", "-c", commands], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const read = (file) => readFileSync(join(dir, file), "utf8");
  return { read };
}

/** Serves "hello" with `cert` and `key` through listenTls while `check(port)` runs. */
async function withServer({ cert, key }, check) {
  const listener = listenTls(0, { cert, key });
  const server = serve(listener, () => new Response("hello\n"));
  try {
    const port = await listener.ready;
    await check(port);
  } finally {
    listener.close();
    await server.closed;
  }
}

/** paf's client, trusting `ca`, gets the answer over HTTP/2 and HTTP/1.1. */
async function answers(url, ca) {
  for (const alpn of [["h2", "http/1.1"], ["http/1.1"]]) {
    const response = await request(url, { tls: { ca }, alpn });
    assert.equal(response.status, 200, url);
    assert.equal(await response.text(), "hello\n");
  }
}

test("README: a CA and a leaf it signs, or one self-signed leaf, are accepted", async () => {
  const [withCa, selfSigned, ...rest] = readmeCommands();
  assert.ok(withCa && selfSigned && rest.length === 0, "two sh blocks");

  const signed = make("with-ca", withCa);
  const pem = { cert: signed.read("cert.pem"), key: signed.read("key.pem") };
  await withServer(pem, async (port) => {
    await answers(`https://127.0.0.1:${port}/`, signed.read("ca.pem"));
    await answers(`https://localhost:${port}/`, signed.read("ca.pem"));
  });

  const leaf = make("self-signed", selfSigned);
  const own = { cert: leaf.read("cert.pem"), key: leaf.read("key.pem") };
  await withServer(own, async (port) => {
    await answers(`https://127.0.0.1:${port}/`, own.cert);
    await answers(`https://localhost:${port}/`, own.cert);
  });
});

test("the usual openssl req -x509 certificate (CA:TRUE) is refused, saying what to do in JS terms", async () => {
  const usual = make("usual",
    "openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost -keyout key.pem -out cert.pem");
  const pem = { cert: usual.read("cert.pem"), key: usual.read("key.pem") };
  await withServer(pem, async (port) => {
    await assert.rejects(request(`https://localhost:${port}/`, { tls: { ca: pem.cert } }), (error) => {
      assert.equal(error.code, "ERR_TLS");
      assert.match(error.message, /is a CA certificate \(CA:TRUE\)/);
      assert.match(error.message, /tls: \{ ca \}/);
      assert.doesNotMatch(error.message, /--cacert|ClientTls|add_roots_pem/);
      return true;
    });
  });
});

test("tls.pins: the pinned certificate is accepted without a CA, another fails with ERR_TLS_PIN_MISMATCH", async () => {
  const usual = make("pinned",
    "openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost -keyout key.pem -out cert.pem");
  const pem = { cert: usual.read("cert.pem"), key: usual.read("key.pem") };
  // Node's form (upper case, colons), and openssl's digits in lower case.
  const fingerprint = new X509Certificate(pem.cert).fingerprint256;
  const other = "00".repeat(32);
  await withServer(pem, async (port) => {
    for (const pin of [fingerprint, fingerprint.replaceAll(":", "").toLowerCase()]) {
      for (const alpn of [["h2", "http/1.1"], ["http/1.1"]]) {
        const response = await request(`https://localhost:${port}/`, { tls: { pins: [other, pin] }, alpn });
        assert.equal(await response.text(), "hello\n", pin);
      }
    }
    await assert.rejects(request(`https://localhost:${port}/`, { tls: { pins: [other] } }), (error) => {
      assert.equal(error.code, "ERR_TLS_PIN_MISMATCH");
      assert.ok(error.message.includes(fingerprint.replaceAll(":", "").toLowerCase()), error.message);
      return true;
    });
  });
  assert.throws(() => new Client({ tls: { pins: ["sha256//abc"] } }), { name: "TypeError", message: /tls\.pins\[0\] is not a SHA-256 fingerprint/ });
  assert.throws(() => new Client({ tls: { pins: "00" } }), { name: "TypeError", message: /tls\.pins must be an array/ });
});
