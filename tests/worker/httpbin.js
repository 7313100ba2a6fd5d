// The Rust-handler worker of tests/worker.rs: paf's httpbin (the handler of
// `paf serve`) answering fetch events through paf::platform::worker, from
// the httpbin build of js/wasm (scripts/build-node-httpbin), which the test
// links here as module/. What a Rust user's worker entry looks like.
import module from "./module/paf_httpbin_bg.wasm";
import { fetchHttpbin, initSync } from "./module/paf_httpbin.js";

initSync({ module });

export default {
  fetch: (request, env, ctx) => fetchHttpbin(request, ctx),
};
