// The browser entry of paf: the same API as in Node, without the TCP
// adapters: pass a `connect` that gives stream pairs (connectWebSocket or
// connectWisp to a bridge, pipe() to a server in the page).
//
// No top-level await, so that bundlers take it as it is: the client wasm
// module (next to this file) starts loading on import, request() waits
// for it, and `await ready()` is needed only before `new Client()`. The
// server module loads on the first serve().
import init from "./dist/paf.js";
import * as paf from "./index.js";

let loading;
let loaded = false;

/** Resolves once the client module is compiled and instantiated. */
export function ready() {
  loading ??= init({ module_or_path: new URL("./dist/paf_bg.wasm", import.meta.url) }).then(() => {
    loaded = true;
  });
  return loading;
}
// Started now, reported by the first call that needs it.
ready().catch(() => {});

paf.setServerLoader(async () => {
  const server = await import("./dist/server/paf_server.js");
  await server.default({ module_or_path: new URL("./dist/server/paf_server_bg.wasm", import.meta.url) });
  return server;
});

/** `fetch` over paf (see index.js), once the module is in. */
export function request(input, init) {
  return ready().then(() => paf.request(input, init));
}

/** The roots `https` trusts; applied once the module is in (before any request made after this call). */
export function setRoots(roots) {
  return ready().then(() => paf.setRoots(roots));
}

/** A client with its own pool; `await ready()` first. */
export class Client extends paf.Client {
  constructor(options) {
    if (!loaded) throw new Error("paf: the wasm module is still loading: `await ready()` before `new Client()`");
    super(options);
  }
}

export { Body, memoryListener, pipe, serve } from "./index.js";
export { connectWebSocket, connectWisp } from "./bridge.js";
