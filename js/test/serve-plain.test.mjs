// serve() with a plain handler ({ plain: true }: no Request or Response
// objects), against real clients: curl (HTTP/1.1 and h2c), paf's own
// client over TCP (HTTP/1.1 and HTTP/2), and a raw socket sending what no
// client should.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";

import { Client, listenTcp, serve } from "../node.js";

const run = promisify(execFile);
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** 8 MiB in 64 KiB chunks, made as they are read. */
function bigStream() {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === 128) return controller.close();
      controller.enqueue(new Uint8Array(64 * 1024).fill(sent++ % 251));
    },
  });
}
const BIG_SHA256 = sha256(Buffer.concat(Array.from({ length: 128 }, (_, i) => Buffer.alloc(64 * 1024, i % 251))));

async function handler(request) {
  switch (request.path.split("?")[0]) {
    case "/hello":
      return { headers: [["x-one", "1"], ["x-two", "a"], ["x-two", "b"]], body: "hello\n" };
    case "/request": {
      const { method, path, url, protocol, peer, local, headers } = request;
      const body = await request.body.text();
      return {
        status: 201,
        headers: { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] },
        body: JSON.stringify({ method, path, url, protocol, peer, local, agent: headers["user-agent"], body }),
      };
    }
    case "/bytes":
      return { body: new Uint8Array([1, 2, 3]) };
    case "/cookie":
      return { body: request.headers.cookie ?? "" };
    case "/echo":
      return { headers: { "content-type": "application/octet-stream" }, body: request.body.stream() };
    case "/digest": {
      const bytes = await request.body.bytes();
      return { body: JSON.stringify({ length: bytes.length, sha256: sha256(bytes) }) };
    }
    case "/big":
      return { body: bigStream() };
    case "/ignore":
      return { status: 204 };
    case "/throw":
      throw new Error("thrown on purpose");
    case "/reject":
      return Promise.reject(new Error("rejected on purpose"));
    case "/status":
      return { status: 99 };
    case "/not-an-answer":
      return "hello";
    case "/bad-body":
      return { body: { not: "a body" } };
    case "/bad-header":
      return { headers: { "x-bad": "line\r\nbreak" }, body: "" };
  }
  return { status: 404, body: "not found\n" };
}

describe("serve() with a plain handler", () => {
  let listener, server, base, failures;
  const client = new Client();
  const h2 = new Client({ alpn: ["h2"] });
  before(async () => {
    failures = [];
    listener = listenTcp(0);
    server = serve(listener, (request) => (request.path === "/hello" ? handler(request) : Promise.resolve().then(() => handler(request))), {
      plain: true,
      onError: (error) => failures.push(error),
    });
    base = `http://127.0.0.1:${await listener.ready}`;
  });
  after(async () => {
    listener.close();
    await server.closed;
  });

  test("answers curl over HTTP/1.1 and h2c: status, repeated headers, a string body with its length", async () => {
    for (const flag of ["--http1.1", "--http2-prior-knowledge"]) {
      const { stdout } = await run("curl", ["-sS", "-i", flag, `${base}/hello`]);
      const [head, body] = stdout.split("\r\n\r\n");
      assert.equal(body, "hello\n");
      assert.match(head, /^HTTP\/(1\.1|2) 200/);
      assert.match(head, /\r\nx-one: 1\r\n/);
      assert.match(head, /\r\nx-two: a\r\nx-two: b\r\n/);
      assert.match(head, /\r\ncontent-length: 6(\r\n|$)/);
    }
  });

  test("a handler gets method, path, url, protocol, peer, local address, headers and body", async () => {
    for (const [each, protocol] of [[client, "HTTP/1.1"], [h2, "HTTP/2"]]) {
      const response = await each.send(`${base}/request?x=1`, { method: "PUT", body: "sent", headers: { "user-agent": "paf test" } });
      assert.equal(response.status, 201);
      assert.deepEqual(response.headers["set-cookie"], ["a=1", "b=2"]);
      const got = await response.body.json();
      assert.equal(got.method, "PUT");
      assert.equal(got.path, "/request?x=1");
      assert.equal(got.url, `${base}/request?x=1`);
      assert.equal(got.protocol, protocol);
      assert.match(got.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(got.local, base.slice("http://".length));
      assert.equal(got.agent, "paf test");
      assert.equal(got.body, "sent");
    }
  });

  test("cookie fields reach the handler joined by \"; \", the way each protocol sent them", async () => {
    for (const flag of ["--http1.1", "--http2-prior-knowledge"]) {
      const { stdout } = await run("curl", ["-sS", flag, "-H", "cookie: a=1", "-H", "cookie: b=2; c=3", `${base}/cookie`]);
      assert.equal(stdout, "a=1; b=2; c=3", flag);
    }
  });

  test("a Uint8Array body, and 32 requests at once on each protocol, each answered", async () => {
    const bytes = await client.send(`${base}/bytes`);
    assert.deepEqual(await bytes.body.bytes(), new Uint8Array([1, 2, 3]));
    for (const each of [client, h2]) {
      const answers = await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          const response = await each.send(`${base}/digest`, { method: "POST", body: `request ${i}` });
          return [(await response.body.json()).sha256, sha256(`request ${i}`)];
        }),
      );
      for (const [got, expected] of answers) assert.equal(got, expected);
    }
  });

  test("large bodies stream both ways: 8 MiB up, echoed back as it comes, and 8 MiB down", async () => {
    for (const each of [client, h2]) {
      const echoed = await each.send(`${base}/echo`, { method: "POST", body: bigStream(), duplex: "half" });
      assert.equal(sha256(await echoed.body.bytes()), BIG_SHA256);
      const down = await each.send(`${base}/big`);
      assert.equal(sha256(await down.body.bytes()), BIG_SHA256);
    }
    const { stdout } = await run("curl", ["-sS", "--http2-prior-knowledge", `${base}/big`], { encoding: "buffer", maxBuffer: 16 << 20 });
    assert.equal(sha256(stdout), BIG_SHA256);
  });

  test("a body the handler leaves unread, or throws before reading, does not hold up the connection", { timeout: 20_000 }, async () => {
    for (const each of [client, h2]) {
      for (const path of ["/ignore", "/ignore", "/ignore", "/throw", "/throw"]) {
        const response = await each.send(`${base}${path}`, { method: "POST", body: new Uint8Array(256 * 1024) });
        assert.equal(response.status, path === "/throw" ? 500 : 204);
        await response.body.bytes();
      }
      const after = await each.send(`${base}/hello`);
      assert.equal(await after.body.text(), "hello\n");
    }
  });

  test("a handler that throws, rejects or answers what is not a response costs its request a 500, told to onError", async () => {
    const cases = [
      ["/throw", /thrown on purpose/],
      ["/reject", /rejected on purpose/],
      ["/status", /status must be a whole number from 200 to 599, not 99/],
      ["/not-an-answer", /must answer with \{ status, headers, body \}/],
      ["/bad-body", /TypeError/],
      ["/bad-header", /invalid header x-bad/],
    ];
    for (const [path, reason] of cases) {
      for (const each of [client, h2]) {
        failures.length = 0;
        const response = await each.send(`${base}${path}`);
        assert.equal(response.status, 500, path);
        await response.body.bytes();
        assert.equal(failures.length, 1, path);
        assert.match(String(failures[0]), reason);
      }
    }
  });

  test("bad input gets its status code and a closed connection, not a hang", async () => {
    const exchange = (bytes) =>
      new Promise((resolve, reject) => {
        const socket = connect(Number(new URL(base).port), "127.0.0.1");
        let answer = "";
        socket.setTimeout(5000, () => reject(new Error(`no answer to ${JSON.stringify(bytes)}`)));
        socket.on("data", (chunk) => (answer += chunk));
        socket.on("end", () => (socket.destroy(), resolve(answer)));
        socket.on("error", reject);
        socket.end(bytes);
      });
    assert.match(await exchange("NOT HTTP\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await exchange(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(256 * 1024)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.match(await exchange("POST /digest HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n"), /^HTTP\/1\.1 400 /);
    // A body cut short: the handler's read fails, and the request is not lost in a hang.
    const cut = await exchange("POST /digest HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc");
    assert.ok(cut === "" || /^HTTP\/1\.1 (400|500) /.test(cut), cut);
  });
});
