// The edge-worker entry of paf (Cloudflare Workers, workerd: the `workerd`
// and `worker` export conditions). A worker may not fetch or compile wasm
// at run time, and has no `import.meta.url`: the client module is imported
// as a wasm module (a bundler such as wrangler's, or a module of workerd's
// config, supplies it) and instantiated synchronously at load; the server
// module likewise on the first serve(). Outbound connections are
// `connect()` from `cloudflare:sockets` (connectSocket), TLS is rustls in
// wasm, and the Mozilla roots (paf/roots) are trusted.
//
// workerd forbids I/O objects across requests: a connection belongs to
// the fetch event that opened it. So request() here makes a client per
// call (cheap: the roots are parsed once per isolate) that keeps no idle
// connection, and a Client keeps its connections reusable within one event
// only: make one per event (a pooled connection of an earlier event is
// found stale, and an idempotent request goes again on a new one).
import { connect as socketConnect } from "cloudflare:sockets";

import clientModule from "./dist/paf_bg.wasm";
import { initSync } from "./dist/paf.js";
import roots from "./dist/roots.js";
import * as shared from "./index.js";

initSync({ module: clientModule });
shared.setRoots(roots);
shared.setServerLoader(async () => {
  const [glue, serverModule] = await Promise.all([import("./dist/server/paf_server.js"), import("./dist/server/paf_server_bg.wasm")]);
  glue.initSync({ module: serverModule.default });
  return glue;
});
shared.setDefaultConnect(connectSocket);

export { Body, Client, memoryListener, pipe, serve, setRoots } from "./index.js";

/**
 * `fetch(input, init)` over paf, as the shared request() (see index.js),
 * on a client of its own that keeps no connection after the response:
 * in a worker a connection cannot outlive the fetch event that opened it.
 */
export function request(input, init = {}) {
  const connect = init.connect ?? connectSocket;
  return shared.request(input, { ...init, maxIdlePerOrigin: 0, connect: (endpoint) => connect(endpoint) });
}

// What workerd's connect() rejects with for any address it could not
// reach: a refused port and a name that did not resolve read alike.
const UNREACHABLE = /cannot connect to the specified address/;
// An IP literal, which has no name to look up: a failure there is a refusal.
const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;
// What workerd throws at I/O on a socket opened by another fetch event.
const OTHER_REQUEST = /Cannot perform I\/O on behalf of a different request/;

/**
 * Opens a TCP connection with `connect()` from `cloudflare:sockets` to
 * `{ host, port }` (`secureTransport` and `allowHalfOpen` as that takes
 * them), resolving once it is open. Failures carry a `code` as Node's do:
 * ECONNREFUSED where nothing listens at an IP address, ENOTFOUND where a
 * name could not be reached (workerd says the same for a name that does
 * not resolve and for a port that refuses), and ECONNRESET for I/O on a
 * socket of another fetch event, which the client takes for a stale
 * connection.
 */
export async function connectSocket({ host, port, secureTransport = "off", allowHalfOpen = false }) {
  const address = `${host}:${port}`;
  let socket;
  try {
    socket = socketConnect({ hostname: host, port }, { secureTransport, allowHalfOpen });
    await socket.opened;
  } catch (error) {
    const message = String(error?.message ?? error);
    if (!UNREACHABLE.test(message)) throw error;
    const code = IP_LITERAL.test(host) ? "ECONNREFUSED" : "ENOTFOUND";
    const why = code === "ECONNREFUSED" ? "refused" : "the name did not resolve, or the port refused";
    throw Object.assign(new Error(`connect ${code} ${address} (${why}; workerd: ${message})`), { code, cause: error });
  }
  return { readable: staleAware(socket.readable, "getReader"), writable: staleAware(socket.writable, "getWriter"), peer: address };
}

/**
 * `stream` with its reader's or writer's failures from another fetch
 * event marked ECONNRESET.
 */
function staleAware(stream, lock) {
  return {
    [lock]() {
      const locked = stream[lock]();
      return new Proxy(locked, {
        get(target, name) {
          const value = Reflect.get(target, name, target);
          if (typeof value !== "function") return value;
          return (...args) => {
            try {
              const result = value.apply(target, args);
              return result instanceof Promise ? result.catch(marked) : result;
            } catch (error) {
              throw marked(error);
            }
          };
        },
      });
    },
  };
}

function marked(error) {
  if (OTHER_REQUEST.test(String(error?.message))) {
    throw Object.assign(new Error(`connection of another fetch event: ${error.message}`), { code: "ECONNRESET", cause: error });
  }
  throw error;
}
