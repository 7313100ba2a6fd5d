// serve() in Node, against real clients: fetch (undici), Node's http2
// client, curl (HTTP/1.1, h2c, and TLS with ALPN through listenTls), and
// paf's own client over in-memory pipes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import http2 from "node:http2";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";

import { listenTcp, listenTls, memoryListener, request, serve } from "../node.js";
import { certificates, scratch } from "./peers.mjs";

const run = promisify(execFile);

/** Answers with what it was asked, streaming /count/N chunks. */
async function handler(request, info) {
  const url = new URL(request.url);
  if (url.pathname === "/fail") throw new Error("the handler failed on purpose");
  if (url.pathname === "/info") {
    const tls = info.tls && { ...info.tls, peerCertificates: info.tls.peerCertificates.length };
    return Response.json({ ...info, tls });
  }
  if (url.pathname.startsWith("/count/")) {
    let left = Number(url.pathname.slice("/count/".length));
    const body = new ReadableStream({
      pull(controller) {
        if (left-- === 0) controller.close();
        else controller.enqueue(new TextEncoder().encode(`line ${left}\n`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  }
  if (url.pathname === "/late") {
    // The first chunk waits for the client to have the head.
    const body = new ReadableStream({
      async pull(controller) {
        await headReceived.promise;
        controller.enqueue(new TextEncoder().encode("late\n"));
        controller.close();
      },
    });
    return new Response(body);
  }
  if (url.pathname === "/digest") {
    const bytes = new Uint8Array(await request.arrayBuffer());
    return Response.json({ length: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
  }
  const body = await request.text();
  return Response.json(
    { method: request.method, path: url.pathname + url.search, body, agent: request.headers.get("user-agent") },
    { status: 201, headers: { "x-served-by": "paf in node" } },
  );
}

// Resolved by the test of /late once it has the head.
const headReceived = {};
headReceived.promise = new Promise((resolve) => (headReceived.resolve = resolve));

const work = scratch("server");
const certs = certificates(work.dir);
after(() => work.cleanup());

describe("a paf server in Node", () => {
  let listener, server, port, failures;
  before(async () => {
    failures = [];
    listener = listenTcp(0);
    server = serve(listener, handler, { onError: (error) => failures.push(error) });
    port = await listener.ready;
  });
  after(async () => {
    listener.close();
    await server.closed;
  });

  test("answers fetch (undici) over HTTP/1.1, keep-alive", async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`http://127.0.0.1:${port}/echo?i=${i}`, { method: "POST", body: "from undici" });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("x-served-by"), "paf in node");
      assert.deepEqual(await response.json(), { method: "POST", path: `/echo?i=${i}`, body: "from undici", agent: "node" });
    }
  });

  test("streams a response body", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/count/1000`);
    const text = await response.text();
    assert.equal(text.split("\n").length, 1001);
    assert.ok(text.startsWith("line 999\n"));
  });

  test("a body that is all there goes with its length; a stream's head is not held back for its first chunk", { timeout: 10_000 }, async () => {
    const whole = await fetch(`http://127.0.0.1:${port}/echo`, { method: "POST", body: "sized" });
    const text = await whole.text();
    assert.equal(whole.headers.get("content-length"), String(Buffer.byteLength(text)));
    const late = await request(`http://127.0.0.1:${port}/late`);
    assert.equal(late.headers.get("content-length"), null);
    headReceived.resolve();
    assert.equal(await late.text(), "late\n");
  });

  test("paf's client over TCP: a 4 MiB upload, and 32 requests at once, each intact", async () => {
    const upload = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 7) % 251);
    const sha256 = createHash("sha256").update(upload).digest("hex");
    let sent = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (sent === upload.length) return controller.close();
        controller.enqueue(upload.slice(sent, (sent += 64 * 1024)));
      },
    });
    const url = `http://127.0.0.1:${port}/digest`;
    for (const body of [upload, stream]) {
      const response = await request(url, { method: "POST", body, alpn: ["http/1.1"] });
      assert.deepEqual(await response.json(), { length: upload.length, sha256 });
    }
    const answers = await Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        const body = `request ${i}`;
        const response = await request(url, { method: "POST", body, alpn: ["http/1.1"] });
        return [await response.json(), createHash("sha256").update(body).digest("hex")];
      }),
    );
    for (const [answer, expected] of answers) assert.equal(answer.sha256, expected);
  });

  test("a handler that throws costs its request a 500", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/fail`);
    assert.equal(response.status, 500);
    assert.match(String(failures.at(-1)), /failed on purpose/);
  });

  test("answers Node's http2 client (h2c by prior knowledge)", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/h2" });
      stream.end("from node http2");
      const [headers, body] = await new Promise((resolve, reject) => {
        let head;
        let text = "";
        stream.on("response", (h) => (head = h));
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => (text += chunk));
        stream.on("end", () => resolve([head, text]));
        stream.on("error", reject);
      });
      assert.equal(headers[":status"], 201);
      assert.equal(JSON.parse(body).body, "from node http2");
    } finally {
      session.close();
    }
  });

  test("answers curl over HTTP/1.1 and h2c", async () => {
    const h1 = await run("curl", ["-sS", "--http1.1", "-d", "from curl", `http://127.0.0.1:${port}/c`]);
    assert.equal(JSON.parse(h1.stdout).body, "from curl");
    const h2 = await run("curl", ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", `http://127.0.0.1:${port}/c2`]);
    const [json, version] = h2.stdout.split("\n");
    assert.equal(JSON.parse(json).path, "/c2");
    assert.equal(version, "2");
  });

  test("a handler gets the connection's facts: peer, local address, protocol", async () => {
    for (const [flag, protocol] of [["--http1.1", "HTTP/1.1"], ["--http2-prior-knowledge", "HTTP/2"]]) {
      const { stdout } = await run("curl", ["-sS", flag, `http://127.0.0.1:${port}/info`]);
      const info = JSON.parse(stdout);
      assert.match(info.peer, /^127\.0\.0\.1:\d+$/, stdout);
      assert.equal(info.local, `127.0.0.1:${port}`, stdout);
      assert.equal(info.protocol, protocol, stdout);
      assert.equal(info.tls, undefined, stdout);
    }
  });
});

describe("TLS by node:tls (listenTls), the protocol by ALPN", () => {
  let listener, server, port;
  before(async () => {
    listener = listenTls(0, certs);
    server = serve(listener, handler);
    port = await listener.ready;
  });
  after(async () => {
    listener.close();
    await server.closed;
  });

  test("curl over HTTP/2 and HTTP/1.1", async () => {
    for (const [flag, expected] of [["--http2", "2"], ["--http1.1", "1.1"]]) {
      const { stdout } = await run("curl", ["-sS", flag, "--cacert", certs.caFile, "-w", "\n%{http_version}", `https://127.0.0.1:${port}/tls`]);
      const [json, version] = stdout.split("\n");
      assert.equal(JSON.parse(json).path, "/tls");
      assert.equal(version, expected, flag);
    }
  });

  test("a handler gets what node:tls negotiated: version, cipher, ALPN, SNI", async () => {
    for (const [flag, alpn, protocol] of [["--http2", "h2", "HTTP/2"], ["--http1.1", "http/1.1", "HTTP/1.1"]]) {
      const resolve = `localhost:${port}:127.0.0.1`;
      const { stdout } = await run("curl", ["-sS", flag, "--cacert", certs.caFile, "--resolve", resolve, `https://localhost:${port}/info`]);
      const info = JSON.parse(stdout);
      assert.equal(info.protocol, protocol, stdout);
      assert.match(info.peer, /^127\.0\.0\.1:\d+$/, stdout);
      assert.match(info.tls.version, /^TLSv1\.[23]$/, stdout);
      assert.match(info.tls.cipher, /^TLS(13)?_/, stdout);
      assert.notEqual(info.tls.cipher, "other", stdout);
      assert.equal(info.tls.alpn, alpn, stdout);
      assert.equal(info.tls.serverName, "localhost", stdout);
      assert.equal(info.tls.peerCertificates, 0, stdout);
    }
  });

  test("paf's client, TLS in wasm against TLS in Node", async () => {
    const response = await request(`https://127.0.0.1:${port}/both`, { method: "POST", body: "x", tls: { ca: certs.ca } });
    assert.equal(response.protocol, "HTTP/2");
    assert.equal((await response.json()).agent, "paf/0.1.0");
  });
});

test("a server and a client in one process, over in-memory pipes", async () => {
  const { flows, connect, close } = memoryListener();
  const server = serve(flows, handler);
  for (const alpn of [["http/1.1"], ["h2"]]) {
    const response = await request("http://memory.test/pipe", { connect, alpn, method: "POST", body: "in memory" });
    assert.equal(response.protocol, alpn[0] === "h2" ? "HTTP/2" : "HTTP/1.1");
    assert.equal((await response.json()).body, "in memory");
  }
  close();
  await server.closed;
});

test("limits: a slow head, an idle connection and a stalled server are cut at the times given", { timeout: 20_000 }, async () => {
  const { connect } = await import("node:net");
  /** A raw connection to `port` that writes `text` and reports how long until the server closed it, and what it said. */
  const closedAfter = (port, text) =>
    new Promise((resolve, reject) => {
      const start = performance.now();
      let said = "";
      const socket = connect({ host: "127.0.0.1", port }, () => socket.write(text));
      socket.setEncoding("latin1");
      socket.on("data", (chunk) => (said += chunk));
      socket.on("error", reject);
      socket.on("close", () => resolve({ ms: performance.now() - start, said }));
    });
  const listener = listenTcp(0);
  const server = serve(listener, handler, { headerTimeout: 300, idleTimeout: 300 });
  const port = await listener.ready;
  try {
    const slow = await closedAfter(port, "GET / HTTP/1.1\r\nhost: x\r\n");
    assert.ok(slow.ms >= 250 && slow.ms < 5_000, `an unfinished head was cut after ${slow.ms} ms`);
    const idle = await closedAfter(port, "GET /echo HTTP/1.1\r\nhost: x\r\n\r\n");
    assert.match(idle.said, /^HTTP\/1\.1 201 /);
    assert.ok(idle.ms >= 250 && idle.ms < 5_000, `an idle connection was closed after ${idle.ms} ms`);
  } finally {
    listener.close();
    await server.closed;
  }
  // The defaults (10 s for a head) leave a slow client alone for longer.
  const patient = listenTcp(0);
  const patientServer = serve(patient, handler);
  const patientPort = await patient.ready;
  const racing = closedAfter(patientPort, "GET / HTTP/1.1\r\nhost: x\r\n");
  const first = await Promise.race([racing, new Promise((resolve) => setTimeout(() => resolve("still open"), 1_000))]);
  assert.equal(first, "still open");
  patient.close();
  await racing.catch(() => {});
  await patientServer.closed;

  for (const options of [{ headerTimeout: 0 }, { idleTimeout: -5 }, { bodyTimeout: "1" }, { maxConnections: 0 }, { maxConnections: 1.5 }]) {
    assert.throws(() => serve(memoryListener(), handler, options), { name: "TypeError" }, JSON.stringify(options));
  }
});
