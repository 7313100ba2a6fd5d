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
 * A connected socket as a stream pair: `readable` and `writable` (made by
 * `Duplex.toWeb` when first asked for), and `socket`, the same bytes as
 * events and calls, which paf's engine uses instead of the web streams
 * (a call per chunk, no promise). Either view may be used, not both.
 */
function pairOf(socket) {
  let web;
  let attached = false;
  const streams = () => {
    if (attached) throw new Error("paf: this pair's socket is in use by paf");
    return (web ??= Duplex.toWeb(socket));
  };
  return {
    get readable() {
      return streams().readable;
    },
    get writable() {
      return streams().writable;
    },
    get socket() {
      return web ? undefined : pushSocket(socket, () => (attached = true));
    },
    peer: `${socket.remoteAddress}:${socket.remotePort}`,
    alpn: socket.alpnProtocol || undefined,
  };
}

/** A Node socket as the `socket` of a pair (see paf's rt::js::socket). */
function pushSocket(socket, onAttach) {
  let listener;
  const data = (chunk) => listener(0, chunk);
  const end = () => listener(1);
  const error = (err) => listener(2, err);
  const drain = () => listener(3);
  return {
    attach(callback) {
      onAttach();
      listener = callback;
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

/**
 * Opens a TCP connection to `{ host, port }` and gives it as a stream
 * pair. The socket does not keep Node alive by itself (a pooled idle
 * connection must not); requests in flight do.
 */
export function connectTcp({ host, port }) {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, noDelay: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.unref();
      resolve(pairOf(socket));
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
  server.on(event, (socket) => {
    socket.setNoDelay(true);
    const pair = pairOf(socket);
    const next = waiting.shift();
    if (next) next({ done: false, value: pair });
    else queue.push(pair);
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
  };
}

/**
 * Listens on TCP `port` (0 for any; `host` 127.0.0.1 by default) and
 * gives the connections as an async iterable of stream pairs, for serve().
 */
export function listenTcp(port, host = "127.0.0.1") {
  return listening(netServer({ noDelay: true }), port, host, "connection");
}

/**
 * As listenTcp, with TLS done by node:tls (`{ cert, key }` in PEM),
 * offering HTTP/2 and HTTP/1.1 by ALPN: each pair says which in `alpn`.
 */
export function listenTls(port, { cert, key }, host = "127.0.0.1") {
  const server = tls.createServer({ cert, key, ALPNProtocols: ["h2", "http/1.1"] });
  return listening(server, port, host, "secureConnection");
}

setDefaultConnect(connectTcp);
