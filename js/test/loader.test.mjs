// serve() loads the server module on its first call: at once when the
// loader gives it (Node), else once a promise of it settles (a browser
// fetching it); a load that fails rejects `closed`, and the next serve()
// tries again.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { memoryListener, request, serve } from "../node.js";
import { setServerLoader } from "../index.js";
import * as server from "../dist/server/paf_server.js";

const hello = () => new Response("hello");

test("a server module that fails to load rejects closed; the next serve() loads it", async () => {
  setServerLoader(() => Promise.reject(new Error("the server module is offline")));
  const failed = serve(memoryListener().flows, hello);
  await assert.rejects(failed.closed, /offline/);

  let loads = 0;
  setServerLoader(async () => {
    loads++;
    server.initSync({ module: readFileSync(new URL("../dist/server/paf_server_bg.wasm", import.meta.url)) });
    return server;
  });
  const { flows, connect, close } = memoryListener();
  const running = serve(flows, hello);
  const response = await request("http://app.test/", { connect });
  assert.equal(await response.text(), "hello");
  // Loaded once: a second server starts at once, with no load.
  const second = memoryListener();
  const again = serve(second.flows, hello);
  assert.equal(await (await request("http://app.test/", { connect: second.connect })).text(), "hello");
  assert.equal(loads, 1);
  close();
  second.close();
  await running.closed;
  await again.closed;
});
