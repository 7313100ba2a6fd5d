// paf for JavaScript: fetch-shaped HTTP/1.1 and HTTP/2, client and server,
// over any { readable, writable } stream pair, TLS included, with paf's
// Rust engine in WebAssembly. The entry points (node.js, browser.js) load
// the module; this file turns standard Request and Response objects into
// what the wasm exports take (dist/paf.js) and back.
import * as wasm from "./dist/paf.js";

let defaultConnect;

/** Used by an entry point: the `connect` of `request()` when none is given. */
export function setDefaultConnect(connect) {
  defaultConnect = connect;
}

// Node does not wait for promises: while a request is in flight, this
// timer keeps the process alive (idle pooled connections and paf's timers
// do not).
let inFlight = 0;
let keepAlive;
function hold() {
  if (inFlight++ === 0) keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--inFlight === 0) clearInterval(keepAlive);
  };
}

/** Headers as the wasm side takes them: [name, value, name, value, ...]. */
function flatten(headers) {
  const flat = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

function pairs(flat) {
  const list = [];
  for (let i = 0; i + 1 < flat.length; i += 2) list.push([flat[i], flat[i + 1]]);
  return list;
}

/** A ReadableStream over a wasm BodyReader; `done` runs once at its end. */
function readableOf(reader, done = () => {}) {
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          const chunk = await reader.next();
          if (chunk === undefined) {
            controller.close();
            done();
          } else {
            controller.enqueue(chunk);
          }
        } catch (error) {
          controller.error(error);
          done();
        }
      },
      cancel() {
        reader.cancel();
        done();
      },
    },
    { highWaterMark: 0 },
  );
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * A client: connections pooled per origin, opened with `connect`.
 * `alpn`, `tls` (`{ ca, insecure }`), `timeout` (ms) and `maxRedirects`
 * are as in `request()`.
 */
export class Client {
  #raw;

  constructor({ connect = defaultConnect, alpn, tls = {}, timeout, maxRedirects } = {}) {
    if (typeof connect !== "function") {
      throw new TypeError("paf: no connect function: pass { connect } (a function of { host, port } giving { readable, writable })");
    }
    this.#raw = new wasm.Client(connect, { alpn, ca: tls.ca, insecure: tls.insecure, timeout, maxRedirects });
  }

  /** Sends `input` as `fetch` would and resolves with a standard `Response`. */
  async fetch(input, init = undefined) {
    const streaming = init?.body instanceof ReadableStream;
    const request = new Request(input, streaming && !init.duplex ? { ...init, duplex: "half" } : init);
    let body = null;
    if (request.body) body = streaming ? request.body : new Uint8Array(await request.arrayBuffer());
    const url = request.url.split("#")[0];
    const release = hold();
    let raw;
    try {
      raw = await abortable(this.#raw.request(request.method, url, flatten(request.headers), body), request.signal);
    } catch (error) {
      release();
      throw error;
    }
    let stream = null;
    if (raw.body && !NULL_BODY_STATUSES.has(raw.status)) stream = readableOf(raw.body, release);
    else {
      raw.body?.cancel();
      release();
    }
    const response = new Response(stream, { status: raw.status, statusText: raw.statusText, headers: pairs(raw.headers) });
    Object.defineProperty(response, "url", { value: url });
    // Not in fetch: which protocol carried the response.
    Object.defineProperty(response, "protocol", { value: raw.protocol });
    return response;
  }
}

function abortable(promise, signal) {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

// request() keeps one client per connect function and options, so that
// its connections are reused from one call to the next.
let clients = new WeakMap();

/**
 * Replaces the root certificates that clients made from now on trust
 * (request()'s clients are made anew): PEM, or an array of PEM strings.
 * The module has none compiled in; node.js gives it Node's on load, and
 * elsewhere `paf/roots` has the Mozilla roots. With none, https fails.
 */
export function setRoots(roots) {
  wasm.setRoots(roots);
  clients = new WeakMap();
}

/**
 * `fetch(input, init)` over paf, with `init.connect` (how to open a stream
 * pair to `{ host, port }`; `connectTcp` by default in Node), `init.alpn`
 * (`["h2", "http/1.1"]` by default; `["h2"]` also speaks HTTP/2 to `http:`
 * URLs, by prior knowledge) and `init.tls` (`{ ca, insecure }`).
 */
export function request(input, init = {}) {
  const { connect = defaultConnect, alpn, tls, timeout, maxRedirects, ...fetchInit } = init;
  if (typeof connect !== "function") {
    return Promise.reject(new TypeError("paf: no connect function: pass init.connect"));
  }
  const key = JSON.stringify([alpn, tls, timeout, maxRedirects]);
  let byOptions = clients.get(connect);
  if (!byOptions) clients.set(connect, (byOptions = new Map()));
  let client = byOptions.get(key);
  if (!client) byOptions.set(key, (client = new Client({ connect, alpn, tls, timeout, maxRedirects })));
  return client.fetch(input, fetchInit);
}

/**
 * Serves the stream pairs of `flows` (an async iterable, such as
 * `listenTcp(port)`) with `handler(request) => Response | Promise<Response>`.
 * HTTP/2 or HTTP/1.1 per connection: by the pair's `alpn` property when
 * the platform did TLS, else by the first bytes (`h2c: false` turns HTTP/2
 * off there). A handler that throws costs its request a 500 and is
 * reported to `onError(error)` (console.error by default).
 */
export function serve(flows, handler, { h2c, onError } = {}) {
  const report = onError ?? ((error) => console.error("paf: handler failed:", error));
  const answer = async (raw) => {
    try {
      const hasBody = raw.body && raw.method !== "GET" && raw.method !== "HEAD";
      const request = new Request(raw.url, {
        method: raw.method,
        headers: pairs(raw.headers),
        body: hasBody ? readableOf(raw.body) : null,
        duplex: "half",
      });
      if (!hasBody) raw.body?.cancel();
      const response = await handler(request);
      if (!(response instanceof Response)) throw new TypeError("the handler must give a Response");
      return { status: response.status, headers: flatten(response.headers), body: response.body };
    } catch (error) {
      report(error);
      return { status: 500, headers: [], body: null };
    }
  };
  const server = wasm.serve(flows, answer, { h2c, onError: onError && ((error, peer) => onError(error, peer)) });
  return {
    /** Stops accepting; requests in flight finish. */
    close: () => server.close(),
    /** Resolves once the server has stopped. */
    closed: server.closed,
  };
}

/**
 * Two stream pairs joined back to back, each way buffering 64 KiB as a
 * socket would: an in-memory connection (tests, a server in the page).
 */
export function pipe() {
  const buffered = () =>
    new TransformStream({}, { highWaterMark: 1 }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength });
  const there = buffered();
  const back = buffered();
  return [
    { readable: back.readable, writable: there.writable },
    { readable: there.readable, writable: back.writable },
  ];
}

/**
 * An async iterable of stream pairs and a `connect` function that opens
 * in-memory connections to whoever serves that iterable:
 * `const { flows, connect } = memoryListener(); serve(flows, handler);
 * await request("http://app/", { connect })`.
 */
export function memoryListener() {
  const queue = [];
  const waiting = [];
  let closed = false;
  const flows = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (queue.length) return Promise.resolve({ done: false, value: queue.shift() });
      if (closed) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
  const connect = () => {
    if (closed) throw Object.assign(new Error("connect ECONNREFUSED (the memory listener is closed)"), { code: "ECONNREFUSED" });
    const [near, far] = pipe();
    const next = waiting.shift();
    if (next) next({ done: false, value: far });
    else queue.push(far);
    return near;
  };
  const close = () => {
    closed = true;
    for (const next of waiting.splice(0)) next({ done: true, value: undefined });
  };
  return { flows, connect, close };
}
