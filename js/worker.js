// The edge-worker entry of paf (Cloudflare Workers, workerd: the `workerd`
// and `worker` export conditions). A worker may not fetch or compile wasm
// at run time, and has no `import.meta.url`: the client module is imported
// as a wasm module (a bundler such as wrangler's, or a module of workerd's
// config, supplies it) and instantiated synchronously at load; the server
// module likewise on the first serve(). Outbound connections are
// `connect()` from `cloudflare:sockets` (connectSocket, sockets.js), TLS
// is rustls in wasm, and the Mozilla roots (paf/roots) are trusted, or
// workerd's when asked (`secureTransport: "on"`).
//
// workerd forbids I/O objects across requests: a connection belongs to
// the fetch event that opened it, and its pending reads and writes never
// settle once that event has ended. The worker gives no way to tell which
// event is running, so clients here do not reuse connections
// (`reuseConnections: false`): each request opens its own, and a Client
// kept across events works. A Client made in each event may reuse within
// it (`reuseConnections: true`).
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
shared.setDefaultConnect(connectSocket, { secureTransport: true });

export { Body, memoryListener, pipe, serve, setRoots } from "./index.js";
export { connectSocket } from "./sockets.js";

/** A client (see index.js) whose connections serve one request each, unless `reuseConnections`. */
export class Client extends shared.Client {
  constructor(options = {}) {
    super({ reuseConnections: false, ...options });
  }
}

/** `fetch(input, init)` over paf, as the shared request() (see index.js), a connection per call. */
export function request(input, init = {}) {
  return shared.request(input, { ...init, reuseConnections: false });
}
