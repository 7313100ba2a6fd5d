// The Node entry of paf: loads the client wasm module from disk (and the
// server module on the first serve()), adds the TCP
// (and TLS-terminating) adapters on node:net / node:tls, and makes
// connectTcp the connect of request() by default.
import { readFileSync } from "node:fs";
import { connect as netConnect, createServer as netServer } from "node:net";
import { Duplex } from "node:stream";
import * as tls from "node:tls";

import { initSync } from "./dist/paf.js";
import * as server from "./dist/server/paf_server.js";
import { setDefaultConnect, setRoots, setServerLoader } from "./index.js";

initSync({ module: readFileSync(new URL("./dist/paf_bg.wasm", import.meta.url)) });
setServerLoader(() => {
  server.initSync({ module: readFileSync(new URL("./dist/server/paf_server_bg.wasm", import.meta.url)) });
  return server;
});
// Node's roots (with NODE_EXTRA_CA_CERTS where Node has getCACertificates).
setRoots(tls.getCACertificates?.("default") ?? tls.rootCertificates);

export { Body, Client, memoryListener, pipe, request, serve, setRoots } from "./index.js";

/**
 * A connected socket as a stream pair: `readable` and `writable` (made
 * when first asked for), and `socket`, the same bytes as events and calls,
 * which paf's engine uses instead of the web streams (a call per chunk, no
 * promise). Either view may be used, not both. `reads` is given for a
 * socket opened with `onread` (see {@link connectTcp}).
 */
function pairOf(socket, reads = undefined) {
  let web;
  let attached = false;
  const streams = () => {
    if (attached) throw new Error("paf: this pair's socket is in use by paf");
    web ??= reads ? streamsOf(pushSocket(socket, reads, () => {})) : Duplex.toWeb(socket);
    return web;
  };
  return {
    get readable() {
      return streams().readable;
    },
    get writable() {
      return streams().writable;
    },
    get socket() {
      return web ? undefined : pushSocket(socket, reads, () => (attached = true));
    },
    peer: `${socket.remoteAddress}:${socket.remotePort}`,
    local: `${socket.localAddress}:${socket.localPort}`,
    alpn: socket.alpnProtocol || undefined,
    tls: socket.encrypted ? tlsOf(socket) : undefined,
  };
}

/** What node:tls negotiated on a server's socket, as a pair's `tls`. */
function tlsOf(socket) {
  const certificates = [];
  for (let cert = socket.getPeerCertificate(true); cert?.raw; cert = cert.issuerCertificate) {
    certificates.push(new Uint8Array(cert.raw));
    if (cert.issuerCertificate === cert) break; // a self-signed root ends the chain
  }
  return {
    version: socket.getProtocol(),
    cipher: socket.getCipher()?.standardName,
    servername: socket.servername || undefined,
    certificates,
  };
}

/**
 * A Node socket as the `socket` of a pair (see paf's rt::js::socket): its
 * data from `data` events, or from `reads` when it was opened with
 * `onread`.
 */
function pushSocket(socket, reads, onAttach) {
  let listener;
  const data = (chunk) => listener(0, chunk);
  const end = () => listener(1);
  const error = (err) => listener(2, err);
  const drain = () => listener(3);
  return {
    attach(callback) {
      onAttach();
      listener = callback;
      reads?.deliver(data);
      socket.on("data", data).on("end", end).on("close", end).on("error", error).on("drain", drain);
      if (socket.destroyed) end();
    },
    write(chunk) {
      coalesce(socket);
      return socket.write(chunk);
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    end: () => socket.end(),
    close() {
      reads?.deliver(() => {});
      socket.off("data", data).off("end", end).off("close", end).off("error", error).off("drain", drain);
      // A late error must not be thrown for want of a listener.
      socket.on("error", () => {});
      socket.destroySoon();
    },
  };
}

// Writes made while Node handles one batch of events go out together, at
// its end (setImmediate): a server that went idle between two requests is
// woken once for the batch, not once per write, and under load that wake-up
// is much of a small request's cost.
let corked = [];
function coalesce(socket) {
  if (socket.writableCorked) return;
  socket.cork();
  if (corked.push(socket) === 1) setImmediate(uncorkAll);
}
function uncorkAll() {
  const sockets = corked;
  corked = [];
  for (const socket of sockets) socket.uncork();
}

// The sockets of connectTcp read into one buffer (Node's `onread`), each
// read handed on before the next: paf copies it into wasm at once, as it
// would a chunk of its own. A read into a fresh Buffer (the `data` event)
// costs an ArrayBuffer of its own, ~1 µs a read with the GC's share.
const READ_BUFFER_SIZE = 64 * 1024;
let readBuffer;

/**
 * Where the reads of a socket opened with `onread` go: `deliver(to)` sends
 * them on to `to`; until then they are kept (copied).
 */
function sharedReads() {
  let kept = [];
  let to = (chunk) => kept.push(chunk.slice());
  return {
    onread: { buffer: (readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE)), callback: (length, buffer) => void to(buffer.subarray(0, length)) },
    deliver(next) {
      to = next;
      for (const chunk of kept.splice(0)) next(chunk);
    },
  };
}

/**
 * A push socket as a stream pair: each chunk read is copied (the socket's
 * may be reused), reading pauses while 64 KiB wait unread, and a write
 * the socket cannot take at once waits for its drain.
 */
function streamsOf(push) {
  let waiting; // a write's { resolve, reject } until the drain
  let failure;
  let over = false;
  const readable = new ReadableStream(
    {
      start(controller) {
        push.attach((kind, value) => {
          if (kind === 0) {
            controller.enqueue(value.slice());
            if (controller.desiredSize <= 0) push.pause();
          } else if (kind === 3) {
            waiting?.resolve();
            waiting = undefined;
          } else if (!over) {
            over = true;
            failure = kind === 2 ? value : new Error("paf: the connection is closed");
            if (kind === 2) controller.error(value);
            else controller.close();
            waiting?.reject(failure);
            waiting = undefined;
          }
        });
      },
      pull: () => push.resume(),
      cancel: () => push.close(),
    },
    new ByteLengthQueuingStrategy({ highWaterMark: READ_BUFFER_SIZE }),
  );
  const writable = new WritableStream({
    write(chunk) {
      if (failure) throw failure;
      if (push.write(chunk)) return undefined;
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    close: () => push.end(),
    abort: () => push.close(),
  });
  return { readable, writable };
}

/**
 * Opens a TCP connection to `{ host, port }` and gives it as a stream
 * pair. The socket does not keep Node alive by itself (a pooled idle
 * connection must not); requests in flight do.
 */
export function connectTcp({ host, port }) {
  return new Promise((resolve, reject) => {
    const reads = sharedReads();
    const socket = netConnect({ host, port, noDelay: true, onread: reads.onread });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.unref();
      resolve(pairOf(socket, reads));
    });
  });
}

/** The accepted sockets of `server` as an async iterable of pairs. */
function listening(server, port, host, event) {
  const queue = [];
  const waiting = [];
  let ended = false;
  const end = () => {
    ended = true;
    for (const next of waiting.splice(0)) next({ done: true, value: undefined });
  };
  const sockets = new WeakMap();
  server.on(event, (socket) => {
    socket.setNoDelay(true);
    const pair = pairOf(socket);
    const next = waiting.shift();
    if (next) return next({ done: false, value: pair });
    queue.push(pair);
    sockets.set(pair, socket);
  });
  server.on("close", end);
  const ready = new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (queue.length) return Promise.resolve({ done: false, value: queue.shift() });
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => waiting.push(resolve));
    },
    /** Resolves with the port once listening (useful with port 0). */
    ready,
    /** Stops listening: the iterable ends, and a server on it stops. */
    close() {
      server.close();
      end();
    },
    /**
     * The server on it stopped (serve() calls this as it stops): stop
     * listening, so that new connections are refused rather than left
     * unanswered, and close those it will never take, as the kernel
     * resets a closed socket's backlog.
     */
    return() {
      server.close();
      end();
      for (const pair of queue.splice(0)) sockets.get(pair)?.destroy();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}

/**
 * Listens on TCP `port` (0 for any; `host` 127.0.0.1 by default) and
 * gives the connections as an async iterable of stream pairs, for serve().
 * A client's half-close ends only its side: paf answers what it asked
 * and then closes (Node would otherwise end the socket at the client's
 * FIN, and the rest of an answer being written fails).
 */
export function listenTcp(port, host = "127.0.0.1") {
  return listening(netServer({ noDelay: true, allowHalfOpen: true }), port, host, "connection");
}

/**
 * As listenTcp, with TLS done by node:tls (`{ cert, key }` in PEM),
 * offering HTTP/2 and HTTP/1.1 by ALPN: each pair says which in `alpn`.
 */
export function listenTls(port, { cert, key }, host = "127.0.0.1") {
  const server = tls.createServer({ cert, key, ALPNProtocols: ["h2", "http/1.1"], allowHalfOpen: true });
  return listening(server, port, host, "secureConnection");
}

setDefaultConnect(connectTcp);
