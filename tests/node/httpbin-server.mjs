// paf's httpbin in Node: the handler of `paf serve` (src/bin/paf/httpbin.rs,
// answered in Rust: js/wasm's test-only `serveHttpbin`) on the npm
// package's own TCP listener (`listenTcp`), for tests/conformance.rs. Says
// "paf: listening on http://127.0.0.1:PORT" on stderr, as `paf serve`
// does, and serves until killed; SIGTERM stops it gracefully (stop
// accepting, finish the requests in flight, exit 0), as `paf serve`. Options as `paf serve`'s: --port (0 for
// any), --host, --h2c (HTTP/2 by prior knowledge too; off by default).
//
//   node tests/node/httpbin-server.mjs MODULE_DIR [--port N] [--host ADDR] [--h2c]
//
// MODULE_DIR is what scripts/build-node-httpbin prints (PAF_NODE_HTTPBIN);
// the package's dist/ must be built (the script does it if missing).
// (Here rather than in js/test/: `node --test test/` runs every module
// there, and this one serves until killed.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { listenTcp } from "../../js/node.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" }, h2c: { type: "boolean", default: false } },
});
if (positionals.length !== 1) {
  console.error("usage: node tests/node/httpbin-server.mjs MODULE_DIR [--port N] [--host ADDR] [--h2c]");
  process.exit(2);
}
const [dir] = positionals;
const httpbin = await import(pathToFileURL(join(dir, "paf_httpbin.js")).href);
httpbin.initSync({ module: readFileSync(join(dir, "paf_httpbin_bg.wasm")) });

const flows = listenTcp(Number(values.port), values.host);
const port = await flows.ready;
const server = httpbin.serveHttpbin(flows, { h2c: values.h2c });
process.once("SIGTERM", async () => {
  flows.close();
  server.close();
  await server.closed;
  process.exit(0);
});
console.error(`paf: listening on http://${values.host}:${port}`);
