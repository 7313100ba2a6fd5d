// request() and Client in Node against real servers: the native
// `paf serve` (HTTP/1.1, h2c, TLS with ALPN), nginx (HTTP/1.1, and TLS
// with HTTP/2) and Node's own http2 server.
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import { createServer as httpServer } from "node:http";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";

import { Duplex } from "node:stream";
import { connect as tlsConnect, rootCertificates } from "node:tls";

import { Client, connectTcp, request, setRoots } from "../node.js";
import mozillaRoots from "../dist/roots.js";
import { certificates, nginx, pafServe, scratch } from "./peers.mjs";

/** A connectTcp that counts the connections it opens. */
function counting() {
  const counted = async (endpoint) => {
    counted.opened.push(endpoint);
    return connectTcp(endpoint);
  };
  counted.opened = [];
  return counted;
}

const work = scratch("client");
const certs = certificates(work.dir);
after(() => work.cleanup());

describe("against paf serve", () => {
  let plain, tls;
  before(async () => {
    plain = await pafServe("--h2c");
    tls = await pafServe("--tls-cert", certs.certFile, "--tls-key", certs.keyFile);
  });
  after(async () => {
    await plain?.stop();
    await tls?.stop();
  });

  test("HTTP/1.1: status, headers and body, one connection for many requests", async () => {
    const connect = counting();
    for (let i = 0; i < 5; i++) {
      const response = await request(`http://127.0.0.1:${plain.port}/bytes/1000`, { connect });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-length"), "1000");
      assert.equal(response.protocol, "HTTP/1.1");
      const body = new Uint8Array(await response.arrayBuffer());
      assert.equal(body.length, 1000);
      assert.equal(body[300], 300 % 251);
    }
    assert.equal(connect.opened.length, 1, "the connection is reused");
    assert.deepEqual(connect.opened[0], { host: "127.0.0.1", port: plain.port });
  });

  test("HTTP/1.1: a request body streamed up and back", async () => {
    const chunks = ["one ", "two ", "three"];
    const body = new ReadableStream({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const response = await request(`http://127.0.0.1:${plain.port}/echo`, {
      method: "POST",
      body,
      headers: { "content-type": "text/plain" },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "one two three");
  });

  test("HTTP/1.1: a large body streams in chunks", async () => {
    const response = await request(`http://127.0.0.1:${plain.port}/bytes/4194304`);
    let total = 0;
    let chunks = 0;
    for await (const chunk of response.body) {
      total += chunk.length;
      chunks++;
    }
    assert.equal(total, 4 * 1024 * 1024);
    assert.ok(chunks > 1, `${chunks} chunk(s)`);
  });

  test("connectTcp's pair as web streams: the client over them, 4 MiB down and 1 MiB up", async () => {
    const connect = async (endpoint) => {
      const { readable, writable } = await connectTcp(endpoint);
      return { readable, writable };
    };
    const client = new Client({ connect, alpn: ["http/1.1"] });
    const down = new Uint8Array(await (await client.fetch(`http://127.0.0.1:${plain.port}/bytes/4194304`)).arrayBuffer());
    assert.equal(down.length, 4 * 1024 * 1024);
    assert.ok(down.every((byte, i) => byte === i % 251), "every byte as sent");
    const up = Uint8Array.from({ length: 1 << 20 }, (_, i) => i % 253);
    const echoed = await client.fetch(`http://127.0.0.1:${plain.port}/echo`, { method: "POST", body: up });
    assert.deepEqual(new Uint8Array(await echoed.arrayBuffer()), up);
  });

  test("connectTcp: what the peer says before either view is taken is kept for it", async () => {
    const greeter = createServer((socket) => {
      socket.write("hello\n");
      socket.pipe(socket);
    });
    greeter.listen(0, "127.0.0.1");
    await once(greeter, "listening");
    const endpoint = { host: "127.0.0.1", port: greeter.address().port };
    const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
    try {
      const web = await connectTcp(endpoint);
      await settle();
      const reader = web.readable.getReader();
      const writer = web.writable.getWriter();
      const read = async () => new TextDecoder().decode((await reader.read()).value);
      assert.equal(await read(), "hello\n");
      await writer.write(new TextEncoder().encode("ping"));
      assert.equal(await read(), "ping");
      await writer.close();
      assert.equal((await reader.read()).done, true, "the stream ends with the connection");

      const { socket } = await connectTcp(endpoint);
      await settle();
      const events = [];
      socket.attach((kind, value) => events.push([kind, kind === 0 ? new TextDecoder().decode(value) : undefined]));
      assert.deepEqual(events, [[0, "hello\n"]]);
      socket.close();
    } finally {
      greeter.close();
    }
  });

  test("h2c by prior knowledge with alpn: ['h2']", async () => {
    const response = await request(`http://127.0.0.1:${plain.port}/echo`, { method: "PUT", body: "over h2c", alpn: ["h2"] });
    assert.equal(response.protocol, "HTTP/2");
    assert.equal(await response.text(), "over h2c");
  });

  test("TLS in wasm: HTTP/2 by ALPN, HTTP/1.1 when asked, the CA given", async () => {
    const url = `https://127.0.0.1:${tls.port}/echo`;
    const h2 = await request(url, { method: "POST", body: "secret", tls: { ca: certs.ca } });
    assert.equal(h2.protocol, "HTTP/2");
    assert.equal(await h2.text(), "secret");
    const h1 = await request(url, { method: "POST", body: "secret", tls: { ca: certs.ca }, alpn: ["http/1.1"] });
    assert.equal(h1.protocol, "HTTP/1.1");
    assert.equal(await h1.text(), "secret");
  });

  test("secureTransport: \"on\": https over a pair the connect function made TLS (node:tls here), HTTP/1.1 on it", async () => {
    const asked = [];
    const connect = (endpoint) => {
      asked.push(endpoint.secureTransport);
      if (endpoint.secureTransport !== "on") return connectTcp(endpoint);
      const socket = tlsConnect({ host: endpoint.host, port: endpoint.port, ca: certs.ca, servername: "localhost" });
      return once(socket, "secureConnect").then(() => Duplex.toWeb(socket));
    };
    const client = new Client({ connect, secureTransport: "on" });
    const response = await client.fetch(`https://localhost:${tls.port}/echo`, { method: "POST", body: "secret" });
    assert.equal(response.protocol, "HTTP/1.1");
    assert.equal(response.tls, undefined, "no TLS of paf's");
    assert.equal(await response.text(), "secret");
    const clear = await client.fetch(`http://127.0.0.1:${plain.port}/bytes/3`);
    assert.equal((await clear.arrayBuffer()).byteLength, 3);
    assert.deepEqual(asked, ["on", undefined]);

    assert.throws(() => new Client({ secureTransport: "on" }), { name: "TypeError", message: /needs a connect function that does TLS/ });
    assert.throws(() => new Client({ connect, secureTransport: "on", tls: { ca: certs.ca } }), { name: "TypeError", message: /tls\.ca cannot apply/ });
    assert.throws(() => new Client({ connect, secureTransport: "starttls" }), { name: "TypeError", message: /must be "on" or "off"/ });
  });

  test("TLS in wasm: an unknown CA is refused, unless insecure", async () => {
    const url = `https://127.0.0.1:${tls.port}/`;
    await assert.rejects(request(url), (error) => {
      assert.equal(error.code, "ERR_TLS");
      assert.match(error.message, /unknown authority \(trust the CA that signed it: tls: \{ ca \}/);
      assert.doesNotMatch(error.message, /--cacert|ClientTls|add_roots_pem/);
      return true;
    });
    const response = await request(url, { tls: { insecure: true } });
    assert.equal(response.status, 200);
    await response.body.cancel();
  });

  test("TLS in wasm: the roots of setRoots; with none, https fails", async () => {
    const url = `https://127.0.0.1:${tls.port}/`;
    try {
      setRoots([]);
      await assert.rejects(request(url), (error) => {
        assert.equal(error.code, "ERR_TLS");
        assert.match(error.message, /no trusted root certificates/);
        assert.match(error.message, /setRoots\(\)/);
        assert.doesNotMatch(error.message, /--cacert|ClientTls|add_roots_pem/);
        return true;
      });
      // tls.ca still adds to them.
      const added = await request(url, { tls: { ca: certs.ca } });
      assert.equal(added.status, 200);
      await added.body.cancel();
      setRoots(certs.ca);
      const trusted = await request(url);
      assert.equal(trusted.status, 200);
      await trusted.body.cancel();
      // paf/roots: Mozilla's, which do not know the test CA.
      assert.ok(mozillaRoots.length > 100);
      setRoots(mozillaRoots);
      await assert.rejects(request(url), /unknown authority/);
      assert.throws(() => new Client({ tls: { ca: "not PEM" } }), { name: "TypeError", message: /^tls\.ca: / });
      setRoots("not PEM");
      assert.throws(() => new Client(), /setRoots/);
    } finally {
      setRoots(rootCertificates);
    }
  });

  test("errors: refused, a dead host's timeout, invalid URLs", async () => {
    const closed = await (await import("./peers.mjs")).freePort();
    await assert.rejects(request(`http://127.0.0.1:${closed}/`), { code: "ECONNREFUSED" });
    await assert.rejects(request("ftp://127.0.0.1/"), { code: "ERR_INVALID_URL" });
    const client = new Client({ timeout: 200, connect: () => new Promise(() => {}) });
    await assert.rejects(client.fetch("http://never.test/"), { code: "ETIMEDOUT" });
  });

  test("errors: a name not found, a refusal and a TLS failure have their codes, over http and https", async () => {
    const closed = await (await import("./peers.mjs")).freePort();
    const fails = (url, code, message, init) =>
      assert.rejects(request(url, init), (error) => {
        assert.equal(error.code, code, `${url}: ${error.message}`);
        assert.match(error.message, message, url);
        // Under TLS, the connection failed, not TLS: the message says so.
        if (code !== "ERR_TLS") assert.doesNotMatch(error.message, /\btls\b/i, url);
        return true;
      });
    for (const scheme of ["http", "https"]) {
      await fails(`${scheme}://nonexistent.invalid/`, "ENOTFOUND", /ENOTFOUND nonexistent\.invalid/);
      await fails(`${scheme}://127.0.0.1:${closed}/`, "ECONNREFUSED", /ECONNREFUSED/);
    }
    // A certificate the client does not trust, over HTTP/2 and HTTP/1.1.
    for (const alpn of [["h2", "http/1.1"], ["http/1.1"]]) {
      await fails(`https://127.0.0.1:${tls.port}/`, "ERR_TLS", /unknown authority/, { alpn });
    }
    // Plain HTTP where TLS is expected.
    await fails(`https://127.0.0.1:${plain.port}/`, "ERR_TLS", /does not speak TLS/);
  });

  test("options: connectTimeout, idleTimeout, maxIdlePerOrigin, reuseConnections; bad values refused", async () => {
    const stalled = new Client({ connectTimeout: 100, timeout: 10_000, connect: () => new Promise(() => {}) });
    const start = performance.now();
    await assert.rejects(stalled.fetch("http://never.test/"), { code: "ETIMEDOUT" });
    assert.ok(performance.now() - start < 5_000, "the connect timeout, not the request's, ended it");

    const url = `http://127.0.0.1:${plain.port}/bytes/10`;
    const sequence = async (options, pause) => {
      const connect = counting();
      const client = new Client({ connect, ...options });
      for (let i = 0; i < 3; i++) {
        await (await client.fetch(url)).arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
      return connect.opened.length;
    };
    assert.equal(await sequence({}, 300), 1, "pooled by default");
    assert.equal(await sequence({ idleTimeout: 50 }, 300), 3, "closed when idle past idleTimeout");
    assert.equal(await sequence({ maxIdlePerOrigin: 0 }, 0), 3, "none kept");
    assert.equal(await sequence({ reuseConnections: false }, 0), 3, "a connection per request");

    for (const keepAlive of [-1, 0, "10", Infinity]) {
      assert.throws(() => new Client({ keepAlive }), { name: "TypeError", message: /keepAlive must be a positive number/ });
    }
  });

  test("keepAlive: an HTTP/2 connection PINGs its server while idle, and only when asked", async () => {
    /** The HTTP/2 PING frames (not acks) a client wrote in `ms` after one request. */
    const pingsWritten = async (options, ms) => {
      const written = [];
      const connect = async (endpoint) => {
        const { socket, peer } = await connectTcp(endpoint);
        const write = socket.write.bind(socket);
        socket.write = (chunk) => {
          written.push(Uint8Array.from(chunk));
          return write(chunk);
        };
        return { socket, readable: null, writable: null, peer };
      };
      const client = new Client({ connect, alpn: ["h2"], ...options });
      const response = await client.fetch(`http://127.0.0.1:${plain.port}/bytes/10`);
      assert.equal(response.protocol, "HTTP/2");
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, ms));
      const bytes = Buffer.concat(written);
      assert.equal(bytes.subarray(0, 24).toString("latin1"), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      let pings = 0;
      for (let at = 24; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) {
        const [type, flags] = [bytes[at + 3], bytes[at + 4]];
        if (type === 6 && (flags & 1) === 0) pings++;
      }
      return pings;
    };
    assert.ok((await pingsWritten({ keepAlive: 100 }, 500)) >= 2, "PINGs every 100 ms");
    assert.equal(await pingsWritten({}, 500), 0, "none without keepAlive");
  });

  test("send(): the response without Response objects, its body whole, as text, JSON, or as it comes", async () => {
    const client = new Client();
    const base = `http://127.0.0.1:${plain.port}`;
    const bytes = await client.send(`${base}/bytes/1000`);
    assert.equal(bytes.status, 200);
    assert.equal(bytes.protocol, "HTTP/1.1");
    assert.equal(bytes.headers["content-length"], "1000");
    const body = await bytes.body.bytes();
    assert.equal(body.length, 1000);
    assert.equal(body[300], 300 % 251);
    assert.ok(bytes.body.bodyUsed);
    await assert.rejects(bytes.body.text(), /read already/);

    const echoed = await client.send(`${base}/headers`, { headers: { "x-test": "yes" } });
    assert.equal((await echoed.body.json())["x-test"], "yes");

    const large = await client.send(`${base}/bytes/4194304`);
    let total = 0;
    for await (const chunk of large.body) total += chunk.length;
    assert.equal(total, 4 * 1024 * 1024);

    const cancelled = await client.send(`${base}/bytes/4194304`);
    cancelled.body.cancel();
    const after = await client.send(`${base}/bytes/10`);
    assert.equal((await after.body.arrayBuffer()).byteLength, 10, "the client goes on after a cancelled body");
  });

  test("fetch without a body: methods normalized as fetch does, forbidden ones refused", async () => {
    const client = new Client();
    const url = `http://127.0.0.1:${plain.port}/bytes/100`;
    const head = await client.fetch(url, { method: "head" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "100");
    assert.equal((await head.arrayBuffer()).byteLength, 0, "a HEAD response has no body");
    await assert.rejects(client.fetch(url, { method: "CONNECT" }), TypeError);
    await assert.rejects(client.fetch(url, { headers: { "bad header": "x" } }), TypeError);
    await assert.rejects(client.fetch("http://user:secret@127.0.0.1/"), TypeError, "credentials in a URL, as fetch");
    const gone = await client.fetch(`http://127.0.0.1:${plain.port}/status/204`);
    assert.equal(gone.status, 204);
    assert.equal(gone.body, null);
  });

  test("an aborted request rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = request(`http://127.0.0.1:${plain.port}/delay/300`, { signal: controller.signal });
    controller.abort(new Error("no longer wanted"));
    await assert.rejects(pending, /no longer wanted/);
  });

  test("an abort after the head errors the body being read, in fetch and in send()", async () => {
    const url = `http://127.0.0.1:${plain.port}/stream/100000`;
    const fetching = new AbortController();
    const response = await request(url, { signal: fetching.signal });
    const reader = response.body.getReader();
    assert.equal((await reader.read()).done, false);
    fetching.abort(new Error("enough"));
    await assert.rejects(
      (async () => {
        for (;;) if ((await reader.read()).done) break;
      })(),
      /enough/,
    );

    const sending = new AbortController();
    const sent = await new Client().send(url, { signal: sending.signal });
    const whole = sent.body.bytes();
    sending.abort(new Error("enough too"));
    await assert.rejects(whole, /enough too/);
  });
});

test("cancelling a body settles the read in progress", { timeout: 10_000 }, async () => {
  // Sends the head and 5 of the 100 bytes it announces, then stalls.
  const sockets = new Set();
  const stalling = createServer((socket) => {
    sockets.add(socket);
    socket.once("data", () => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello"));
  });
  stalling.listen(0, "127.0.0.1");
  await once(stalling, "listening");
  try {
    const sent = await new Client().send(`http://127.0.0.1:${stalling.address().port}/`);
    const chunks = [];
    const reading = (async () => {
      for await (const chunk of sent.body) chunks.push(chunk);
    })();
    // The read of the other 95 bytes is waiting on the server.
    await new Promise((resolve) => setTimeout(resolve, 50));
    sent.body.cancel();
    await reading;
    assert.equal(Buffer.concat(chunks).toString(), "hello");
  } finally {
    for (const socket of sockets) socket.destroy();
    stalling.close();
  }
});

describe("against nginx", () => {
  let peer, dir;
  before(async () => {
    dir = scratch("nginx");
    peer = await nginx(dir.dir, certs);
  });
  after(async () => {
    await peer?.stop();
    dir?.cleanup();
  });

  test("HTTP/1.1, one keep-alive connection", async () => {
    const connect = counting();
    const seen = new Set();
    for (let i = 1; i <= 3; i++) {
      const response = await request(`http://127.0.0.1:${peer.port}/conn`, { connect });
      assert.equal(await response.text(), "HTTP/1.1\n");
      assert.equal(response.headers.get("x-connection-requests"), String(i));
      seen.add(response.headers.get("x-connection"));
    }
    assert.equal(seen.size, 1);
    assert.equal(connect.opened.length, 1);
    const file = await request(`http://127.0.0.1:${peer.port}/hello`, { connect });
    assert.equal(await file.text(), "hello from nginx\n");
  });

  test("a redirect is followed: the response says where it came from", async () => {
    const moved = await request(`http://127.0.0.1:${peer.port}/moved`);
    assert.equal(moved.status, 200);
    assert.equal(moved.url, `http://127.0.0.1:${peer.port}/hello`);
    assert.equal(await moved.text(), "hello from nginx\n");
    const sent = await new Client().send(`http://127.0.0.1:${peer.port}/moved`);
    assert.equal(sent.url, `http://127.0.0.1:${peer.port}/hello`);
    await sent.body.cancel();
  });

  test("redirect modes: follow, manual (the 3xx as it is), error (a TypeError), anything else refused", async () => {
    const url = `http://127.0.0.1:${peer.port}/moved`;
    const followed = await request(url, { redirect: "follow" });
    assert.equal(followed.status, 200);
    assert.equal(followed.redirected, true);
    await followed.text();
    const manual = await request(url, { redirect: "manual" });
    assert.equal(manual.status, 301);
    assert.match(manual.headers.get("location"), /\/hello$/);
    assert.equal(manual.url, url);
    assert.equal(manual.redirected, false);
    await manual.text();
    const sent = await new Client().send(url, { redirect: "manual" });
    assert.equal(sent.status, 301);
    await sent.body.cancel();
    // Through a Request too (the slow path of init), and with a body.
    const viaRequest = await request(new Request(url, { redirect: "manual", method: "POST", body: "x" }));
    assert.equal(viaRequest.status, 301);
    await viaRequest.text();
    await assert.rejects(request(url, { redirect: "error" }), { name: "TypeError", message: /redirect mode is "error"/ });
    await assert.rejects(request(url, { redirect: "sometimes" }), TypeError);
    // A response that is no redirect passes in any mode.
    const plain = await request(`http://127.0.0.1:${peer.port}/hello`, { redirect: "error" });
    assert.equal(await plain.text(), "hello from nginx\n");
  });

  test("repeated fields: joined in a Headers, set-cookie an array in send()", async () => {
    const url = `http://127.0.0.1:${peer.port}/cookies`;
    const response = await request(url);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    await response.text();
    const sent = await new Client().send(url);
    assert.deepEqual(sent.headers["set-cookie"], ["a=1", "b=2"]);
    assert.equal(await sent.body.text(), "two cookies\n");
  });

  test("TLS with HTTP/2 by ALPN, streams on one connection", async () => {
    const connect = counting();
    const url = `https://127.0.0.1:${peer.tlsPort}/conn`;
    const responses = await Promise.all([1, 2, 3].map(() => request(url, { connect, tls: { ca: certs.ca } })));
    for (const response of responses) {
      assert.equal(response.protocol, "HTTP/2");
      assert.equal(await response.text(), "HTTP/2.0\n");
    }
    assert.equal(connect.opened.length, 1, "HTTP/2 multiplexes");
  });
});

describe("against Node's http2 server", () => {
  let server, port;
  const sessions = new Set();
  before(async () => {
    server = http2.createSecureServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        res.setHeader("x-seen-method", req.method);
        res.end(`node http2 got ${JSON.stringify(body)} for ${req.url}`);
      });
    });
    server.on("session", (session) => sessions.add(session));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = server.address().port;
  });
  after(async () => {
    // paf's pooled connection would keep close() waiting.
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  test("HTTP/2 over TLS in wasm, with a body and headers", async () => {
    const response = await request(`https://127.0.0.1:${port}/path?q=1`, {
      method: "PATCH",
      body: "payload",
      tls: { ca: certs.ca },
    });
    assert.equal(response.protocol, "HTTP/2");
    assert.equal(response.headers.get("x-seen-method"), "PATCH");
    assert.equal(await response.text(), 'node http2 got "payload" for /path?q=1');
  });
});

test("field names, the common ones wasm sends by number and others, reach send() and fetch() as sent", async () => {
  const { headerNames } = await import("../dist/paf.js");
  // Those that would change the framing or that Node sets itself are left out.
  const framing = new Set(["connection", "content-length", "date", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);
  const common = headerNames().split("\n").filter((name) => name && !framing.has(name));
  assert.ok(common.length > 50, "the list of common names");
  const sent = Object.fromEntries(common.map((name) => [name, `value of ${name}`]));
  Object.assign(sent, { "x-not-common": "plain", "set-cookie": ["a=1", "b=2"] });
  const server = httpServer((_, res) => {
    for (const [name, value] of Object.entries(sent)) res.setHeader(name, value);
    res.end("fields");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const url = `http://127.0.0.1:${server.address().port}/`;
    const client = new Client();
    const response = await client.send(url);
    for (const [name, value] of Object.entries(sent)) assert.deepEqual(response.headers[name], value, name);
    assert.equal(await response.body.text(), "fields");
    const fetched = await client.fetch(url);
    for (const [name, value] of Object.entries(sent)) {
      if (name !== "set-cookie") assert.equal(fetched.headers.get(name), value, name);
    }
    assert.deepEqual(fetched.headers.getSetCookie(), ["a=1", "b=2"]);
    await fetched.text();
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
