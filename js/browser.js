// The browser (and worker) entry of paf: fetches and compiles the wasm
// module next to this file, then offers the same API as in Node, without
// the TCP adapters: pass a `connect` that gives stream pairs (a
// WebSocketStream, a worker's connect(), pipe() to a server in the page).
import init from "./dist/paf.js";

await init({ module_or_path: new URL("./dist/paf_bg.wasm", import.meta.url) });

export { Body, Client, memoryListener, pipe, request, serve, setRoots } from "./index.js";
