// paf for JavaScript: fetch-shaped HTTP/1.1 and HTTP/2, client and server,
// over any { readable, writable } stream pair, TLS included, with paf's
// Rust engine in WebAssembly. The entry points (node.js, browser.js) load
// the client module and tell how to load the server module (on the first
// serve()); this file turns standard Request and Response objects into
// what their exports take (dist/paf.js, dist/server/paf_server.js) and
// back.
import * as wasm from "./dist/paf.js";
import { plainUrl } from "./url.js";

let defaultConnect;
let defaultConnectsTls = false;
let loadServer;
let serverModule;

/**
 * Used by an entry point: how to load the server module, a function giving
 * its exports, or a promise of them.
 */
export function setServerLoader(load) {
  loadServer = load;
}

/**
 * Used by an entry point: the `connect` of `request()` when none is given,
 * and whether it does TLS when given `secureTransport: "on"`.
 */
export function setDefaultConnect(connect, { secureTransport = false } = {}) {
  defaultConnect = connect;
  defaultConnectsTls = secureTransport;
}

// Node does not wait for promises: while a request is in flight, this
// timer keeps the process alive (idle pooled connections and paf's timers
// do not). One timer, made once, referenced only while requests are in
// flight; elsewhere (no `unref`) nothing is needed.
let inFlight = 0;
let keepAlive;
function hold() {
  if (inFlight++ === 0) {
    keepAlive ??= setInterval(() => {}, 2 ** 31 - 1);
    keepAlive.ref?.();
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--inFlight === 0) keepAlive.unref?.();
  };
}

/**
 * Headers as they cross to wasm and back: one string, names and values
 * each followed by a line feed (which no valid name or value holds).
 */
function joined(headers) {
  let text = "";
  for (const [name, value] of headers) text += `${name}\n${value}\n`;
  return text;
}

/**
 * The field names that wasm sends by number, as U+0001 then U+0020 plus
 * the index here (see header_text in wasm/src/lib.rs): taken from this
 * list, a name is a string V8 has interned already, so an object keyed by
 * it costs no lookup per key. Read once the module is in.
 */
let commonNames;

/** Calls `visit(name, value)` for each field of joined headers. */
function eachHeader(text, visit) {
  commonNames ??= wasm.headerNames().split("\n");
  let at = 0;
  while (at < text.length) {
    const common = text.charCodeAt(at) === 1;
    const end = common ? at + 2 : text.indexOf("\n", at);
    const value = text.indexOf("\n", end + 1);
    visit(common ? commonNames[text.charCodeAt(at + 1) - 0x20] : text.slice(at, end), text.slice(end + 1, value));
    at = value + 1;
  }
}

/** Whether joined headers have a Location. */
function hasLocation(text) {
  let found = false;
  eachHeader(text, (name) => (found ||= name === "location"));
  return found;
}

/** `[[name, value], ...]` of joined headers. */
function pairs(text) {
  const list = [];
  eachHeader(text, (name, value) => list.push([name, value]));
  return list;
}

/**
 * The wasm BodyReader of a request whose `signal` may abort it: once
 * aborted, the body is cancelled and every read, pending or later, rejects
 * with the signal's reason, as `fetch` does.
 */
function abortableReader(reader, signal) {
  let abort;
  const aborted = new Promise((_, reject) => {
    abort = () => {
      reader.cancel();
      reject(signal.reason);
    };
  });
  aborted.catch(() => {});
  if (signal.aborted) abort();
  else signal.addEventListener("abort", abort, { once: true });
  const read = (method) => Promise.race([reader[method](), aborted]);
  return {
    next: () => read("next"),
    readAll: () => read("readAll"),
    cancel() {
      signal.removeEventListener("abort", abort);
      reader.cancel();
    },
  };
}

/**
 * A ReadableStream of a body: the bytes already in (`bytes`), then what
 * the wasm BodyReader gives, if any. `done` runs once at its end.
 */
function readableOf(reader, bytes, done = () => {}) {
  if (!reader) {
    done();
    return new ReadableStream({
      start(controller) {
        if (bytes?.length) controller.enqueue(bytes);
        controller.close();
      },
    });
  }
  let first = bytes;
  return new ReadableStream(
    {
      async pull(controller) {
        if (first) {
          controller.enqueue(first);
          first = undefined;
          return;
        }
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
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/**
 * The body of a response from `Client.send()`: read once, whole
 * (`bytes()`, `arrayBuffer()`, `text()`, `json()`) or as it comes
 * (`for await`, `stream()`); `cancel()` discards it.
 */
export class Body {
  #reader;
  #bytes;
  #done;
  #used = false;

  /** @internal */
  constructor(reader, bytes, done) {
    this.#reader = reader;
    this.#bytes = bytes;
    this.#done = done;
    if (!reader) done();
  }

  /** Whether the body has been read (or cancelled). */
  get bodyUsed() {
    return this.#used;
  }

  #take() {
    if (this.#used) throw new TypeError("paf: the body has been read already");
    this.#used = true;
  }

  /** The whole body as a Uint8Array. */
  bytes() {
    // Promises made here rather than `async` layers: a small body is in
    // already, and each layer cost a promise and a microtask.
    if (this.#used) return Promise.reject(new TypeError("paf: the body has been read already"));
    this.#used = true;
    const first = this.#bytes ?? EMPTY;
    if (!this.#reader) return Promise.resolve(first);
    return this.#reader.readAll().then(
      (rest) => {
        this.#done();
        if (!first.length) return rest;
        const whole = new Uint8Array(first.length + rest.length);
        whole.set(first);
        whole.set(rest, first.length);
        return whole;
      },
      (error) => {
        this.#done();
        throw error;
      },
    );
  }

  arrayBuffer() {
    return this.bytes().then((bytes) =>
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
  }

  /** The body as UTF-8 text. */
  text() {
    return this.bytes().then((bytes) => decoder.decode(bytes));
  }

  json() {
    return this.text().then(JSON.parse);
  }

  /** The body as a ReadableStream. */
  stream() {
    this.#take();
    return readableOf(this.#reader, this.#bytes, this.#done);
  }

  async *[Symbol.asyncIterator]() {
    this.#take();
    try {
      if (this.#bytes?.length) yield this.#bytes;
      if (!this.#reader) return;
      for (let chunk; (chunk = await this.#reader.next()) !== undefined; ) yield chunk;
    } finally {
      this.#reader?.cancel();
      this.#done();
    }
  }

  /** Discards the rest of the body (an HTTP/2 stream is reset). */
  cancel() {
    this.#used = true;
    this.#reader?.cancel();
    this.#done();
  }
}

/**
 * Headers as a plain object: names in lower case, repeated ones joined by
 * ", ", cookie by "; " (HTTP/2 sends each cookie as a field of its own,
 * RFC 9113 §8.2.3), set-cookie an array.
 */
function headerObject(text) {
  const headers = {};
  eachHeader(text, (name, value) => {
    const had = headers[name];
    if (had === undefined) headers[name] = name === "set-cookie" ? [value] : value;
    else if (name === "set-cookie") had.push(value);
    else headers[name] = `${had}${name === "cookie" ? "; " : ", "}${value}`;
  });
  return headers;
}

const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const REDIRECT_MODES = new Set(["follow", "manual", "error"]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);

/**
 * What `fetch(input, init)` would send, `{ method, url, headers, body,
 * signal }`: at once without making a Request when there is no need for
 * one (no body), else a promise of it.
 */
function outgoing(input, init) {
  const simple =
    (typeof input === "string" || input instanceof URL) &&
    (init === undefined || (init.body === undefined || init.body === null) && init.window === undefined);
  if (simple) {
    let url = plainUrl(input);
    if (url === undefined) {
      const parsed = new URL(input, globalThis.location?.href);
      if (!parsed.username && !parsed.password) {
        parsed.hash = "";
        url = parsed.href;
      }
    }
    if (url !== undefined) {
      let method = init?.method ?? "GET";
      if (NORMALIZED_METHODS.has(method.toUpperCase())) method = method.toUpperCase();
      if (FORBIDDEN_METHODS.has(method)) throw new TypeError(`paf: the method ${method} is forbidden`);
      const headers = init?.headers === undefined ? "" : joined(new Headers(init.headers));
      const redirect = init?.redirect ?? "follow";
      if (!REDIRECT_MODES.has(redirect)) throw new TypeError(`paf: redirect must be "follow", "manual" or "error", not ${JSON.stringify(redirect)}`);
      return { method, url, headers, body: null, signal: init?.signal, redirect };
    }
  }
  return fromRequest(input, init);
}

async function fromRequest(input, init) {
  const streaming = init?.body instanceof ReadableStream;
  const request = new Request(input, streaming && !init.duplex ? { ...init, duplex: "half" } : init);
  let body = null;
  if (request.body) body = streaming ? request.body : new Uint8Array(await request.arrayBuffer());
  const { method, url, headers, signal, redirect } = request;
  return { method, url: url.split("#")[0], headers: joined(headers), body, signal, redirect };
}

/** What `request()` takes for its client, besides `connect` (see ClientOptions in index.d.ts). */
const CLIENT_OPTIONS = ["alpn", "tls", "timeout", "maxRedirects", "connectTimeout", "idleTimeout", "maxIdlePerOrigin", "reuseConnections", "keepAlive", "secureTransport"];

/**
 * The `connect` for `https` when the platform does TLS (`secureTransport:
 * "on"`), or undefined when paf does.
 */
function platformTls(secureTransport, connect, tls) {
  if (secureTransport === undefined || secureTransport === "off") return undefined;
  if (secureTransport !== "on") throw new TypeError(`paf: secureTransport must be "on" or "off", not ${JSON.stringify(secureTransport)}`);
  if (connect === defaultConnect && !defaultConnectsTls) {
    throw new TypeError('paf: secureTransport: "on" needs a connect function that does TLS when given it (connectSocket, in a worker)');
  }
  const unused = ["ca", "insecure", "pins"].filter((name) => tls[name] !== undefined);
  if (unused.length) throw new TypeError(`paf: with secureTransport: "on" the platform checks certificates: tls.${unused[0]} cannot apply`);
  return (endpoint) => connect({ ...endpoint, secureTransport: "on" });
}

/**
 * `tls.pins` (SHA-256 fingerprints of certificates, in hex, colons
 * allowed: what Node's `fingerprint256` and `openssl x509 -fingerprint
 * -sha256` print) as the 32 bytes each that wasm takes.
 */
function pinBytes(pins) {
  if (pins === undefined) return undefined;
  if (!Array.isArray(pins)) throw new TypeError("paf: tls.pins must be an array of SHA-256 fingerprints");
  const bytes = new Uint8Array(32 * pins.length);
  pins.forEach((pin, i) => {
    const hex = typeof pin === "string" ? pin.replaceAll(":", "") : "";
    if (!/^[0-9a-f]{64}$/i.test(hex)) {
      throw new TypeError(`paf: tls.pins[${i}] is not a SHA-256 fingerprint (64 hex digits, colons allowed): ${JSON.stringify(pin)}`);
    }
    for (let at = 0; at < 32; at++) bytes[32 * i + at] = parseInt(hex.slice(2 * at, 2 * at + 2), 16);
  });
  return bytes;
}

/**
 * A client: connections pooled per origin, opened with `connect`, with
 * the options of index.d.ts's ClientOptions: `alpn`, `tls` (`{ ca,
 * insecure, pins }`), `timeout`, `maxRedirects`, `connectTimeout`,
 * `idleTimeout`, `maxIdlePerOrigin`, `reuseConnections`, `keepAlive`
 * (times in ms), `secureTransport`.
 */
export class Client {
  #raw;

  constructor({ connect = defaultConnect, tls = {}, secureTransport, ...options } = {}) {
    if (typeof connect !== "function") {
      throw new TypeError("paf: no connect function: pass { connect } (a function of { host, port } giving { readable, writable })");
    }
    const connectTls = platformTls(secureTransport, connect, tls);
    this.#raw = new wasm.Client(connect, { ...options, ca: tls.ca, insecure: tls.insecure, pins: pinBytes(tls.pins), connectTls });
  }

  /**
   * Sends what `fetch(input, init)` would and resolves with `make(raw,
   * url, release)`: the response head from wasm, its URL, and `release`
   * to call once the body is over. Promise callbacks rather than `async`
   * layers: each layer cost a promise and a microtask per request.
   */
  #exchange(input, init, make) {
    let out;
    try {
      out = outgoing(input, init);
    } catch (error) {
      return Promise.reject(error);
    }
    if (out instanceof Promise) return out.then((ready) => this.#send(ready, make));
    return this.#send(out, make);
  }

  #send({ method, url, headers, body, signal, redirect }, make) {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const release = hold();
    const follow = redirect === "follow";
    const finish = (raw) => {
      if (redirect === "error" && REDIRECT_STATUSES.has(raw.status) && hasLocation(raw.headers)) {
        raw.body?.cancel();
        release();
        throw new TypeError(`paf: ${url} redirects (${raw.status}) and the request's redirect mode is "error"`);
      }
      if (NULL_BODY_STATUSES.has(raw.status)) {
        raw.body?.cancel();
        raw.body = null;
        raw.bytes = undefined;
      }
      if (raw.body && signal) raw.body = abortableReader(raw.body, signal);
      try {
        return make(raw, raw.url ?? url, release);
      } catch (error) {
        raw.body?.cancel();
        release();
        throw error;
      }
    };
    if (signal) {
      const head = new Promise((resolve, reject) => this.#raw.request(method, url, headers, body, follow, resolve, reject));
      const failed = (error) => {
        release();
        throw error;
      };
      return abortable(head, signal).then(finish, failed);
    }
    // Without a signal, the head is finished in wasm's callback: one
    // promise and one microtask less per request than a `.then`.
    return new Promise((resolve, reject) => {
      const answered = (raw) => {
        try {
          resolve(finish(raw));
        } catch (error) {
          reject(error);
        }
      };
      const refused = (error) => {
        release();
        reject(error);
      };
      try {
        this.#raw.request(method, url, headers, body, follow, answered, refused);
      } catch (error) {
        refused(error);
      }
    });
  }

  /** Sends `input` as `fetch` would and resolves with a standard `Response`. */
  fetch(input, init = undefined) {
    return this.#exchange(input, init, fetchResponse);
  }

  /**
   * Sends `input` (with `init` as `fetch` takes it) and resolves with the
   * response without making standard `Response` and `Headers` objects:
   * `{ status, statusText, headers, protocol, url, body }`, `headers` a
   * plain object (lower-case names), `body` a {@link Body}. The faster
   * way when a `Response` is not needed.
   */
  send(input, init = undefined) {
    return this.#exchange(input, init, sentResponse);
  }
}

/** A standard `Response` of a head from wasm. */
function fetchResponse(raw, url, release) {
  let body = null;
  if (raw.body) body = readableOf(raw.body, raw.bytes, release);
  else {
    body = raw.bytes ?? null;
    release();
  }
  const response = new Response(body, { status: raw.status, statusText: raw.statusText, headers: pairs(raw.headers) });
  Object.defineProperties(response, {
    url: { value: url },
    redirected: { value: raw.url !== undefined },
    // Not in fetch: which protocol carried the response, and its TLS.
    protocol: { value: raw.protocol },
    tls: { value: raw.tls },
  });
  return response;
}

/** What `send()` resolves with, from a head from wasm. */
function sentResponse(raw, url, release) {
  return {
    status: raw.status,
    statusText: raw.statusText,
    headers: headerObject(raw.headers),
    protocol: raw.protocol,
    url,
    body: new Body(raw.body, raw.bytes, release),
  };
}

/** `promise`, or the signal's reason once it aborts (it has not yet). */
function abortable(promise, signal) {
  if (!signal) return promise;
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
 * URLs, by prior knowledge), `init.tls` (`{ ca, insecure }`) and the other
 * options of a Client. One client per connect function and options serves
 * every call, so connections are reused.
 */
export function request(input, init = {}) {
  const { connect = defaultConnect, ...fetchInit } = init;
  if (typeof connect !== "function") {
    return Promise.reject(new TypeError("paf: no connect function: pass init.connect"));
  }
  const options = {};
  for (const name of CLIENT_OPTIONS) {
    options[name] = fetchInit[name];
    delete fetchInit[name];
  }
  const key = JSON.stringify(options);
  let byOptions = clients.get(connect);
  if (!byOptions) clients.set(connect, (byOptions = new Map()));
  let client = byOptions.get(key);
  if (!client) byOptions.set(key, (client = new Client({ connect, ...options })));
  return client.fetch(input, fetchInit);
}

/**
 * A request as a plain handler of `serve()` gets it (see ServerRequest in
 * index.d.ts): `headers` (a plain object, as `send()` gives) and `url`
 * are made when first read, `body` is a {@link Body}.
 */
class ServerRequest {
  #origin;
  #fields;
  #headers;
  #reader;
  #bytes;
  #body;

  /** @internal */
  constructor(method, path, origin, fields, protocol, peer, local, tls, reader, bytes) {
    this.method = method;
    this.path = path;
    this.protocol = protocol;
    this.peer = peer;
    this.local = local;
    this.tls = tls;
    this.#origin = origin;
    this.#fields = fields;
    this.#reader = reader;
    this.#bytes = bytes;
  }

  /** The whole URL: `http://host/path?query`. */
  get url() {
    return this.#origin + this.path;
  }

  get headers() {
    return (this.#headers ??= headerObject(this.#fields));
  }

  get body() {
    return (this.#body ??= new Body(this.#reader, this.#bytes, () => {}));
  }
}

/**
 * A request's head as wasm sends it (see Answerer in wasm/src/server.rs):
 * method, target, origin, peer and local address on a line each, then
 * the fields, joined.
 */
function headOf(head) {
  const target = head.indexOf("\n");
  const origin = head.indexOf("\n", target + 1);
  const peer = head.indexOf("\n", origin + 1);
  const local = head.indexOf("\n", peer + 1);
  const fields = head.indexOf("\n", local + 1);
  return [
    head.slice(0, target),
    head.slice(target + 1, origin),
    head.slice(origin + 1, peer),
    head.slice(peer + 1, local),
    head.slice(local + 1, fields) || undefined,
    head.slice(fields + 1),
  ];
}

/** `{ status, headers, body }` of a plain handler's answer, headers joined. */
function plainAnswer(answer) {
  if (answer === null || typeof answer !== "object") {
    throw new TypeError("paf: a plain handler must answer with { status, headers, body }");
  }
  const { status = 200, headers, body = null } = answer;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new TypeError(`paf: status must be a whole number from 200 to 599, not ${status}`);
  }
  let fields = "";
  if (Array.isArray(headers)) fields = joined(headers);
  else if (headers != null) {
    for (const name in headers) {
      const value = headers[name];
      if (Array.isArray(value)) for (const each of value) fields += `${name}\n${each}\n`;
      else fields += `${name}\n${value}\n`;
    }
  }
  return { status, headers: fields, body };
}

/**
 * `{ status, headers, body }` of a fetch-shaped handler's Response, or a
 * promise of it: see {@link gathered}.
 */
function responseAnswer(response) {
  if (!(response instanceof Response)) throw new TypeError("paf: the handler must give a Response");
  const answer = { status: response.status, headers: joined(response.headers), body: response.body };
  return answer.body ? gathered(answer) : answer;
}

/** What a body may be gathered up to before it is sent as a stream. */
const GATHERED_BYTES = 64 * 1024;
// After the I/O of this turn of the event loop (Node), or soon (elsewhere).
const afterTurn = globalThis.setImmediate ?? ((callback) => setTimeout(callback, 0));
const cancelAfterTurn = globalThis.clearImmediate ?? clearTimeout;

function concat(chunks, size) {
  const whole = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return whole;
}

/**
 * `answer` with its body stream read here while it gives what it has at
 * once (a body made of a string or bytes, as most are, is all there):
 * whole, it goes to wasm as one Uint8Array, sent with its length, rather
 * than read chunk by chunk from wasm with a promise each. A body that is
 * not over by the end of this turn of the event loop, or past
 * GATHERED_BYTES, goes as a stream of what was read and the rest: its
 * head is not held back.
 */
function gathered(answer) {
  const reader = answer.body.getReader();
  const chunks = [];
  let size = 0;
  let pending;
  let streaming = false;
  return new Promise((resolve, reject) => {
    const stream = () => {
      streaming = true;
      cancelAfterTurn(late);
      answer.body = new ReadableStream(
        {
          async pull(controller) {
            if (chunks.length) return controller.enqueue(chunks.shift());
            const read = pending ?? reader.read();
            pending = undefined;
            const { done, value } = await read;
            if (done) controller.close();
            else controller.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        },
        { highWaterMark: 0 },
      );
      resolve(answer);
    };
    const late = afterTurn(stream);
    const next = () => {
      const read = (pending = reader.read());
      read.then(({ done, value }) => {
        if (streaming) return;
        pending = undefined;
        if (done) {
          cancelAfterTurn(late);
          answer.body = chunks.length === 1 ? chunks[0] : concat(chunks, size);
          return resolve(answer);
        }
        if (!(value instanceof Uint8Array)) {
          cancelAfterTurn(late);
          reader.cancel();
          return reject(new TypeError("paf: a body stream must give Uint8Arrays"));
        }
        chunks.push(value);
        size += value.byteLength;
        if (size > GATHERED_BYTES) stream();
        else next();
      }, (error) => {
        if (streaming) return;
        cancelAfterTurn(late);
        reject(error);
      });
    };
    next();
  });
}

const protocolName = (http2) => (http2 ? "HTTP/2" : "HTTP/1.1");

/**
 * Serves the stream pairs of `flows` (an async iterable, such as
 * `listenTcp(port)`) with `handler(request, info) => Response | Promise<Response>`,
 * where `info` is the connection the request came on: `{ peer, local,
 * protocol, tls }` (see ConnectionInfo in index.d.ts). With `plain: true`,
 * no standard objects: `handler(request)` gets a {@link ServerRequest}
 * and answers `{ status, headers, body }` (see index.d.ts), the faster way.
 * HTTP/2 or HTTP/1.1 per connection: by the pair's `alpn` property when
 * the platform did TLS, else by the first bytes (`h2c: false` turns HTTP/2
 * off there). A handler that throws, or answers what is not a response,
 * costs its request a 500 and is reported to `onError(error)`
 * (console.error by default). The engine's limits: `headerTimeout`,
 * `idleTimeout`, `bodyTimeout`, `drainTimeout` (ms) and `maxConnections`
 * (see ServeOptions in index.d.ts).
 */
export function serve(flows, handler, { onError, plain = false, ...limits } = {}) {
  const report = onError ?? ((error) => console.error("paf: handler failed:", error));
  // Called by wasm once per request: an answer given at once (a handler
  // that is not async) goes back at once, with no promise.
  const answerer = {
    answer: plain ? plainRequest : fetchRequest,
    failed(error) {
      try {
        report(error);
      } catch {
        // onError's own failure has nowhere to go.
      }
    },
  };
  function plainRequest(head, http2, reader, bytes, tls) {
    const [method, path, origin, peer, local, fields] = headOf(head);
    const answer = handler(new ServerRequest(method, path, origin, fields, protocolName(http2), peer, local, tls, reader, bytes));
    return typeof answer?.then === "function" ? Promise.resolve(answer).then(plainAnswer) : plainAnswer(answer);
  }
  function fetchRequest(head, http2, reader, bytes, tls) {
    const [method, path, origin, peer, local, fields] = headOf(head);
    const hasBody = (reader || bytes) && method !== "GET" && method !== "HEAD";
    let body = null;
    if (hasBody) body = reader ? readableOf(reader, bytes) : bytes;
    else reader?.cancel();
    const request = new Request(origin + path, { method, headers: pairs(fields), body, duplex: "half" });
    const answer = handler(request, { peer, local, protocol: protocolName(http2), tls });
    return typeof answer?.then === "function" ? Promise.resolve(answer).then(responseAnswer) : responseAnswer(answer);
  }
  const options = { ...limits, onError: onError && ((error, peer) => onError(error, peer)) };
  // close() stops the listener at once (a listener that is its own
  // iterator, as listenTcp's and memoryListener's are, stops on return()):
  // a client that connects after close() is refused and can go elsewhere,
  // rather than accepted by a listener no one takes connections from.
  const stopListening = () => {
    if (typeof flows?.return === "function") flows.return();
  };
  serverModule ??= loadServer();
  if (!(serverModule instanceof Promise)) return running(serverModule.serve(flows, answerer, options), stopListening);
  // The module is on its way (a browser fetches it): serve once it is in.
  const loading = serverModule;
  let server;
  let stopped = false;
  const closed = loading.then(
    (module) => {
      serverModule = module;
      if (stopped) return undefined;
      server = module.serve(flows, answerer, options);
      return server.closed;
    },
    (error) => {
      // The next serve() tries again.
      if (serverModule === loading) serverModule = undefined;
      throw error;
    },
  );
  return running({ close: () => ((stopped = true), server?.close()), closed }, stopListening);
}

function running(server, stopListening) {
  return {
    /** Stops accepting (the listener stops listening); requests in flight finish. */
    close: () => {
      server.close();
      stopListening();
    },
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
    /** The server on it stopped: refuse new connections. */
    return() {
      close();
      return Promise.resolve({ done: true, value: undefined });
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
