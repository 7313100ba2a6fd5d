// The edge-worker entry of paf (Cloudflare Workers, workerd: the `workerd`
// and `worker` export conditions). A worker may not fetch or compile wasm
// at run time, and has no `import.meta.url`: the client module is imported
// as a wasm module (a bundler such as wrangler's, or a module of workerd's
// config, supplies it) and instantiated synchronously at load; the server
// module likewise on the first serve(). Outbound connections are
// `connect()` from `cloudflare:sockets` (connectSocket, sockets.js), TLS
// is rustls in wasm, and the Mozilla roots (paf/roots) are trusted.
//
// workerd forbids I/O objects across requests: a connection belongs to
// the fetch event that opened it. So request() here makes a client per
// call (cheap: the roots are parsed once per isolate) that keeps no idle
// connection, and a Client keeps its connections reusable within one event
// only: make one per event (a pooled connection of an earlier event is
// found stale, and an idempotent request goes again on a new one).
import clientModule from "./dist/paf_bg.wasm";
import { initSync } from "./dist/paf.js";
import roots from "./dist/roots.js";
import * as shared from "./index.js";
import { connectSocket } from "./sockets.js";

initSync({ module: clientModule });
shared.setRoots(roots);
shared.setServerLoader(async () => {
  const [glue, serverModule] = await Promise.all([import("./dist/server/paf_server.js"), import("./dist/server/paf_server_bg.wasm")]);
  glue.initSync({ module: serverModule.default });
  return glue;
});
shared.setDefaultConnect(connectSocket);

export { Body, Client, memoryListener, pipe, serve, setRoots } from "./index.js";
export { connectSocket } from "./sockets.js";

/**
 * `fetch(input, init)` over paf, as the shared request() (see index.js),
 * on a client of its own that keeps no connection after the response:
 * in a worker a connection cannot outlive the fetch event that opened it.
 */
export function request(input, init = {}) {
  const connect = init.connect ?? connectSocket;
  return shared.request(input, { ...init, maxIdlePerOrigin: 0, connect: (endpoint) => connect(endpoint) });
}
