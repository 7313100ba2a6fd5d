// Flows for pages, which have no sockets: `connect` functions for paf's
// `request()` and `Client` that reach TCP targets through a bridge, so
// that TLS and HTTP/2 run in the page and the bridge relays ciphertext.
//
// - connectWebSocket(bridge): one WebSocket per connection, binary
//   messages both ways; `bridge` is paf's bridge URL (the target goes in
//   `?target=HOST:PORT`) or a function of { host, port } giving the URL of
//   any other bridge (websockify serves one target per port). It uses
//   WebSocketStream where the browser has it (back-pressure both ways),
//   else WebSocket (writes wait while `bufferedAmount` is high).
// - connectWisp(url): Wisp v1, every connection a stream of one shared
//   WebSocket (paf's bridge at a path ending in "/", or any Wisp server).
//
// A refusal (a target not allowed, a limit) closes the WebSocket or the
// Wisp stream with a reason: the connection fails with an Error whose
// message has that reason and whose `code` is ECONNREFUSED (which the
// request's error keeps), so the page can show why.

/** Bytes the WebSocket may buffer before a write waits. */
const HIGH_WATER = 1 << 20;
/** Close codes of a refusal: policy (1008), a limit (1013), unreachable (1014). */
const REFUSALS = new Set([1008, 1013, 1014]);

function targetOf({ host, port }) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function urlFor(bridge, endpoint) {
  if (typeof bridge === "function") return String(bridge(endpoint));
  const url = new URL(bridge);
  url.searchParams.set("target", targetOf(endpoint));
  return url.href;
}

function closeError(code, reason, what) {
  const refused = REFUSALS.has(code);
  const message = reason || `${what} closed (WebSocket close code ${code})`;
  return Object.assign(new Error(message), { code: refused ? "ECONNREFUSED" : "ECONNRESET", closeCode: code });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A `connect` through a WebSocket bridge. Options: `protocols` (the
 * subprotocols offered: ["binary"] by default, which paf's bridge and
 * websockify both take), `stream` (false: never WebSocketStream).
 */
export function connectWebSocket(bridge, { protocols = ["binary"], stream = true } = {}) {
  return (endpoint) => {
    const url = urlFor(bridge, endpoint);
    const peer = `${targetOf(endpoint)} via ${url}`;
    return stream && typeof globalThis.WebSocketStream === "function"
      ? overWebSocketStream(url, protocols, peer)
      : overWebSocket(url, protocols, peer);
  };
}

async function overWebSocketStream(url, protocols, peer) {
  const socket = new WebSocketStream(url, { protocols });
  let opened;
  try {
    opened = await socket.opened;
  } catch {
    const { closeCode = 1006, reason = "" } = await closeOf(socket);
    throw closeError(closeCode, reason || `cannot open ${url}`, "the bridge");
  }
  // A close with a reason errors the readable with it: the close is the only
  // place a refusal's reason shows.
  let failed = null;
  const closing = closeOf(socket).then(({ closeCode = 1006, reason = "" }) => {
    if (closeCode !== 1000 && closeCode !== 1005) failed = closeError(closeCode, reason, "the bridge");
  });
  const bytes = new TransformStream({
    transform(message, controller) {
      if (typeof message === "string") controller.error(new Error("the bridge sent text: it relays bytes"));
      else controller.enqueue(message instanceof Uint8Array ? message : new Uint8Array(message));
    },
    async flush(controller) {
      await closing;
      if (failed) controller.error(failed);
    },
  });
  return { readable: opened.readable.pipeThrough(bytes), writable: opened.writable, peer };
}

/**
 * How a WebSocketStream closed: `closed` resolves with the code and reason
 * of a clean close and rejects with a WebSocketError carrying them when the
 * close was not clean (a page's write crossing the server's close is enough).
 */
function closeOf(socket) {
  return socket.closed.then(
    (info) => info,
    (error) => ({ closeCode: error?.closeCode, reason: error?.reason ?? "" }),
  );
}

function overWebSocket(url, protocols, peer) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    socket.binaryType = "arraybuffer";
    let opened = false;
    let readable;
    const readableDone = new Promise((done) => {
      readable = new ReadableStream({
        start(controller) {
          socket.onmessage = ({ data }) => {
            if (typeof data === "string") controller.error(new Error("the bridge sent text: it relays bytes"));
            else controller.enqueue(new Uint8Array(data));
          };
          socket.onclose = ({ code, reason }) => {
            if (!opened) reject(closeError(code, reason || `cannot open ${url}`, "the bridge"));
            else if (code === 1000 || code === 1005) controller.close();
            else controller.error(closeError(code, reason, "the bridge"));
            done();
          };
        },
        cancel() {
          socket.close(1000);
        },
      });
    });
    const writable = new WritableStream({
      async write(chunk) {
        socket.send(chunk);
        while (socket.bufferedAmount > HIGH_WATER && socket.readyState === WebSocket.OPEN) await sleep(5);
        if (socket.readyState !== WebSocket.OPEN) {
          throw Object.assign(new Error(`the connection to ${peer} is closed`), { code: "EPIPE" });
        }
      },
      close() {
        socket.close(1000);
        return readableDone;
      },
      abort() {
        socket.close(1000);
      },
    });
    socket.onopen = () => {
      opened = true;
      resolve({ readable, writable, peer });
    };
  });
}

// Wisp v1: a packet is a type, a stream id (u32 LE) and a payload.
const CONNECT = 1, DATA = 2, CONTINUE = 3, CLOSE = 4;
const WISP_REASONS = {
  0x02: "closed by the server",
  0x03: "network error",
  0x41: "invalid connection request",
  0x42: "the destination could not be reached",
  0x43: "connecting timed out",
  0x44: "the destination refused the connection",
  0x47: "the connection timed out",
  0x48: "the server's policy blocks this destination",
  0x49: "the server is throttling connections",
};

function packet(type, stream, payload) {
  const bytes = new Uint8Array(5 + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(1, stream, true);
  bytes.set(payload, 5);
  return bytes;
}

/** One WebSocket to a Wisp server, and its streams. */
class WispConnection {
  #socket;
  #streams = new Map();
  #nextId = 1;
  #buffer = null; // the server's initial CONTINUE
  #ready;
  #failure = null;

  constructor(url) {
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.onmessage = ({ data }) => this.#receive(new Uint8Array(data), resolve);
      this.#socket.onclose = ({ code, reason }) => {
        this.#failure = closeError(code, reason || `the Wisp server at ${url} closed`, "the Wisp server");
        reject(this.#failure);
        for (const stream of this.#streams.values()) stream.fail(this.#failure);
        this.#streams.clear();
      };
    });
    this.#ready.catch(() => {});
  }

  get closed() {
    return this.#failure !== null;
  }

  #receive(bytes, ready) {
    if (bytes.length < 5) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const type = view.getUint8(0);
    const id = view.getUint32(1, true);
    if (type === CONTINUE && id === 0) {
      this.#buffer = view.getUint32(5, true);
      ready();
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) return;
    if (type === DATA) stream.data(bytes.slice(5));
    else if (type === CONTINUE) stream.allow(view.getUint32(5, true));
    else if (type === CLOSE) {
      this.#streams.delete(id);
      stream.closed(view.getUint8(5));
    }
  }

  async open({ host, port }) {
    await this.#ready;
    const id = this.#nextId++;
    const name = new TextEncoder().encode(host);
    const head = new Uint8Array(3 + name.length);
    head[0] = 0x01; // TCP
    new DataView(head.buffer).setUint16(1, port, true);
    head.set(name, 3);
    const stream = new WispStream(this.#socket, id, this.#buffer, targetOf({ host, port }));
    this.#streams.set(id, stream);
    this.#socket.send(packet(CONNECT, id, head));
    return stream.pair();
  }
}

/** One Wisp stream as a stream pair, sending within the server's CONTINUE. */
class WispStream {
  #socket; #id; #credit; #target;
  #controller = null;
  #waiting = null;
  #ended = false;

  constructor(socket, id, credit, target) {
    this.#socket = socket;
    this.#id = id;
    this.#credit = credit;
    this.#target = target;
  }

  data(bytes) {
    this.#controller?.enqueue(bytes);
  }

  allow(credit) {
    this.#credit = credit;
    this.#waiting?.();
  }

  closed(reason) {
    this.#ended = true;
    if (reason === 0x02) this.#controller?.close();
    else {
      const why = WISP_REASONS[reason] ?? `closed with reason ${reason}`;
      const refused = reason === 0x48 || reason === 0x49 || reason === 0x44;
      const error = Object.assign(new Error(`Wisp: ${this.#target}: ${why}`), { code: refused ? "ECONNREFUSED" : "ECONNRESET", wispReason: reason });
      this.fail(error);
    }
    this.#waiting?.();
  }

  fail(error) {
    this.#ended = true;
    try {
      this.#controller?.error(error);
    } catch {}
    this.#waiting?.();
  }

  pair() {
    const readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#close(),
    });
    const writable = new WritableStream({
      write: async (chunk) => {
        while (this.#credit === 0 && !this.#ended) await new Promise((resolve) => (this.#waiting = resolve));
        if (this.#ended) throw Object.assign(new Error(`Wisp: ${this.#target}: the stream is closed`), { code: "EPIPE" });
        this.#credit--;
        this.#socket.send(packet(DATA, this.#id, chunk));
      },
      close: () => this.#close(),
      abort: () => this.#close(),
    });
    return { readable, writable, peer: `${this.#target} via Wisp` };
  }

  #close() {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(packet(CLOSE, this.#id, [0x02]));
  }
}

/**
 * A `connect` through a Wisp server: every connection is a stream of one
 * WebSocket, opened on the first connect (and again after it closes).
 */
export function connectWisp(url) {
  let connection = null;
  return (endpoint) => {
    if (!connection || connection.closed) connection = new WispConnection(url);
    return connection.open(endpoint);
  };
}
