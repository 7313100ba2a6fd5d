// The browser (and worker) entry of paf: fetches and compiles the client
// wasm module next to this file (the server module on the first serve()),
// then offers the same API as in Node, without the TCP adapters: pass a
// `connect` that gives stream pairs (a WebSocketStream, a worker's
// connect(), pipe() to a server in the page).
import init from "./dist/paf.js";
import { setServerLoader } from "./index.js";

await init({ module_or_path: new URL("./dist/paf_bg.wasm", import.meta.url) });
setServerLoader(async () => {
  const server = await import("./dist/server/paf_server.js");
  await server.default({ module_or_path: new URL("./dist/server/paf_server_bg.wasm", import.meta.url) });
  return server;
});

export { Body, Client, memoryListener, pipe, request, serve, setRoots } from "./index.js";
