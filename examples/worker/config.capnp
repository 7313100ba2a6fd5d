# The example in workerd itself, without wrangler (see README.md): the
# bundle (dist/worker.js) and the Rust module as modules, ORIGIN and
# ORIGIN_CA from the environment, and a network that reaches the public
# internet and this machine ("local": an origin on loopback).
#
#   ORIGIN=https://example.com npx workerd serve config.capnp
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "dist/worker.js"),
    (name = "pkg/paf_worker_example_bg.wasm", wasm = embed "pkg/paf_worker_example_bg.wasm"),
  ],
  bindings = [
    (name = "ORIGIN", fromEnvironment = "ORIGIN"),
    (name = "ORIGIN_CA", fromEnvironment = "ORIGIN_CA"),
  ],
  compatibilityDate = "2025-01-01",
);
