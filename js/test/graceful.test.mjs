// Graceful stop of serve() in Node: 500 requests in flight (HTTP/1.1 by
// fetch, HTTP/2 by node:http2; some stream 4 MiB bodies, read slowly)
// and 50 more sent after close(). Each completes (status and length
// checked) or is refused in a way a client may retry (a refused
// connection, a GOAWAY or REFUSED_STREAM, a 503) and is then retried on a
// second server: none is lost.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import { listenTcp, serve } from "../node.js";

const IN_FLIGHT = 500;
const LATE = 50;
const LARGE = 50;
const LARGE_SIZE = 4 << 20;
const CHUNK = 64 * 1024;

/** /delay/MS and /bytes/N (streamed); counts the requests it got. */
function server() {
  const state = { started: 0 };
  const handler = async (request) => {
    state.started++;
    const url = new URL(request.url);
    if (url.pathname.startsWith("/delay/")) {
      await sleep(Number(url.pathname.slice("/delay/".length)));
      return new Response("done");
    }
    let left = Number(url.pathname.slice("/bytes/".length));
    const size = left;
    const body = new ReadableStream({
      async pull(controller) {
        if (left === 0) return controller.close();
        if (left < size) await sleep(20); // paced: still streaming when close() comes
        const n = Math.min(CHUNK, left);
        left -= n;
        controller.enqueue(new Uint8Array(n).fill(n % 251));
      },
    });
    return new Response(body, { headers: { "content-length": String(size) } });
  };
  const listener = listenTcp(0);
  const running = serve(listener, handler, { drainTimeout: 60_000 });
  return { state, listener, running, port: listener.ready };
}

/** What went wrong, with its cause. */
function describe(outcome) {
  const { error } = outcome;
  if (!error) return `${outcome.status}, ${outcome.length} bytes`;
  return `${error.message} ${error.code ?? ""}${error.reused ? " (a reused socket)" : ""}${error.cause ? ` (${error.cause.code ?? ""} ${error.cause.message})` : ""}`;
}

/** Whether an outcome says "not processed, send it again". */
function refused(outcome) {
  if (outcome.status === 503) return true;
  const error = outcome.error;
  if (!error) return false;
  // An idle keep-alive connection closed by the stopping server as the
  // request went out on it: Node's documented case for sending an
  // idempotent request again.
  if (error.reused && error.code === "ECONNRESET") return true;
  const code = error.cause?.code ?? error.code;
  return (
    code === "ECONNREFUSED" ||
    code === "ERR_HTTP2_GOAWAY_SESSION" ||
    /REFUSED_STREAM|GOAWAY/.test(String(error.message))
  );
}

/**
 * HTTP/1.1 by node:http, slowly for large bodies. (Not fetch: undici
 * fails a keep-alive response whose end it has not read yet when the
 * server's FIN comes after it, "other side closed", though every byte
 * came before the FIN: the server closes a keep-alive connection after
 * its last response when it stops.)
 */
function h1Client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  return {
    get(port, path, slow) {
      return new Promise((resolve) => {
        const request = http.get({ host: "127.0.0.1", port, path, agent }, (response) => {
          let length = 0;
          response.on("data", (chunk) => {
            length += chunk.length;
            if (slow) {
              response.pause();
              setTimeout(() => response.resume(), 2);
            }
          });
          response.on("end", () => resolve({ status: response.statusCode, length }));
          response.on("error", (error) => resolve({ error }));
          response.on("aborted", () => resolve({ error: new Error("response aborted mid-body") }));
        });
        request.on("error", (error) => resolve({ error: Object.assign(error, { reused: request.reusedSocket }) }));
      });
    },
    close: () => agent.destroy(),
  };
}

/** HTTP/2 by prior knowledge, one session per port. */
function h2Client() {
  const sessions = new Map();
  const session = (port) => {
    let s = sessions.get(port);
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(`http://127.0.0.1:${port}`);
      s.on("error", () => {});
      sessions.set(port, s);
    }
    return s;
  };
  return {
    get(port, path, slow) {
      return new Promise((resolve) => {
        let stream;
        try {
          stream = session(port).request({ ":path": path });
        } catch (error) {
          return resolve({ error });
        }
        let status;
        let length = 0;
        stream.on("response", (headers) => (status = headers[":status"]));
        stream.on("data", (chunk) => {
          length += chunk.length;
          if (slow) {
            stream.pause();
            setTimeout(() => stream.resume(), 2);
          }
        });
        stream.on("end", () => resolve({ status, length }));
        stream.on("error", (error) => resolve({ error }));
        stream.on("close", () => {
          if (stream.rstCode) resolve({ error: new Error(`stream closed with RST_STREAM ${stream.rstCode}${stream.rstCode === 7 ? " REFUSED_STREAM" : ""}`) });
        });
      });
    },
    close: () => {
      for (const s of sessions.values()) s.close();
    },
  };
}

async function storm(name, client) {
  const a = server();
  const b = server();
  const [aPort, bPort] = await Promise.all([a.port, b.port]);
  let stoppedAt;
  const since = () => (stoppedAt === undefined ? "before close()" : `${Date.now() - stoppedAt} ms after close()`);
  const counts = { inFlight: IN_FLIGHT, late: LATE, completed: 0, streamingAtStop: 0, refusedAndRetried: 0, lost: [] };
  const one = async (i) => {
    const large = i < IN_FLIGHT && i % (IN_FLIGHT / LARGE) === 0;
    const path = large ? `/bytes/${LARGE_SIZE}` : "/delay/1500";
    const expected = large ? LARGE_SIZE : 4;
    const ok = (o) => o.status === 200 && o.length === expected;
    const first = await client.get(aPort, path, large);
    if (ok(first)) {
      if (large && stoppedAt !== undefined) counts.streamingAtStop++;
      return counts.completed++;
    }
    if (!refused(first)) return counts.lost.push(`${path} #${i}: ${describe(first)}, ${since()}`);
    const again = await client.get(bPort, path, false);
    if (ok(again)) return counts.refusedAndRetried++;
    counts.lost.push(`retry ${path} #${i}: ${describe(again)}, ${since()}`);
  };
  const inFlight = Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => one(i)));
  for (let i = 0; a.state.started < IN_FLIGHT && i < 1000; i++) await sleep(10);
  const reached = a.state.started;
  stoppedAt = Date.now();
  a.running.close();
  const late = Promise.all(Array.from({ length: LATE }, (_, i) => one(IN_FLIGHT + i)));
  await Promise.all([inFlight, late]);
  await a.running.closed;
  client.close();
  b.listener.close();
  b.running.close();
  await b.running.closed;
  console.log(
    `graceful stop serve() in Node, ${name}: in flight ${counts.inFlight} (${reached} in the handler, +${counts.late} late), ` +
      `completed ${counts.completed} (${counts.streamingAtStop} of them 4 MiB bodies still streaming at close()), refused-and-retried ${counts.refusedAndRetried}, lost: ${counts.lost.length}`,
  );
  for (const lost of counts.lost.slice(0, 20)) console.log(`  lost: ${lost}`);
  assert.deepEqual(counts.lost, []);
  assert.ok(counts.streamingAtStop > 0, "some large bodies were streaming at close()");
  assert.equal(counts.completed + counts.refusedAndRetried, IN_FLIGHT + LATE);
}

test("close() with 500 HTTP/1.1 requests in flight loses none", { timeout: 120_000 }, async () => {
  await storm("HTTP/1.1", h1Client());
});

test("close() with 500 HTTP/2 requests in flight loses none", { timeout: 120_000 }, async () => {
  await storm("h2c", h2Client());
});
