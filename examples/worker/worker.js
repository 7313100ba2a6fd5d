// The worker's entry: instantiates the Rust module (imported as a wasm
// module, as workers must) and hands each fetch event to its `fetch`, with
// paf's connect on the worker's TCP sockets.
import { connectSocket } from "paf/sockets";

import module from "./pkg/paf_worker_example_bg.wasm";
import { fetch, initSync } from "./pkg/paf_worker_example.js";

initSync({ module });

export default {
  fetch: (request, env, ctx) => fetch(request, env, ctx, connectSocket),
};
