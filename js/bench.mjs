// Keep-alive GET throughput of paf's client in Node against undici's, on
// the same server (nginx, answering a small body), in one run, API against
// like API: paf's fetch() against undici's fetch() (both make standard
// Response objects), and paf's send() against undici's request() (neither
// does) twice: on a Pool of the origin given a path (undici's fastest
// way), and given the URL with an Agent for any origin (what send() does:
// a URL in, a pool per origin). Rounds alternate between the clients and the medians are
// reported, with the sizes of the two .wasm modules, raw and gzipped. Not part of the tests:
// `npm run bench`.
//
//   node bench.mjs [--seconds 3] [--rounds 3] [--concurrency 1,16] [--plot FILE]
//
// --plot writes each client's latency by quantile at the first concurrency
// (first round), as JSON, for benches/js.py to draw.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

import { Agent, Pool, fetch as undiciFetch, request as undiciRequest } from "undici";

import { Client } from "./node.js";
import { certificates, nginx, scratch } from "./test/peers.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "1,16" },
    plot: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const levels = values.concurrency.split(",").map(Number);

/** Requests per second completed in `seconds` by `concurrency` loops of
 * `get()`, and the latency of each in µs. */
async function throughput(get, concurrency) {
  const end = performance.now() + seconds * 1000;
  const latencies = [];
  const loop = async () => {
    for (let sent = performance.now(); sent < end; sent = performance.now()) {
      await get();
      latencies.push((performance.now() - sent) * 1000);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { rate: latencies.length / seconds, latencies };
}

/** `[[quantile, µs], ...]` of `latencies`, at the quantiles `paf bench` reports. */
function quantiles(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1].map((q) => [q, at(q)]);
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

const work = scratch("bench");
const server = await nginx(work.dir, certificates(work.dir));
const url = `http://127.0.0.1:${server.port}/hello`;

const results = [];
const plotted = {};
try {
  for (const concurrency of levels) {
    const paf = new Client({ alpn: ["http/1.1"] });
    const pool = new Pool(`http://127.0.0.1:${server.port}`, { connections: concurrency, pipelining: 1 });
    const agent = new Agent({ connections: concurrency, pipelining: 1 });
    const clients = {
      "paf fetch": async () => {
        const response = await paf.fetch(url);
        await response.arrayBuffer();
      },
      "undici fetch": async () => {
        const response = await undiciFetch(url, { dispatcher: agent });
        await response.arrayBuffer();
      },
      "paf send": async () => {
        const { body } = await paf.send(url);
        await body.arrayBuffer();
      },
      "undici request": async () => {
        const { body } = await pool.request({ path: "/hello", method: "GET" });
        await body.arrayBuffer();
      },
      "undici request(url)": async () => {
        const { body } = await undiciRequest(url, { dispatcher: agent });
        await body.arrayBuffer();
      },
    };
    for (const get of Object.values(clients)) await throughput(get, concurrency); // warm up
    const rates = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const [name, get] of Object.entries(clients)) {
        const { rate, latencies } = await throughput(get, concurrency);
        rates[name].push(rate);
        if (round === 0 && concurrency === levels[0]) plotted[name] = quantiles(latencies);
      }
    }
    await pool.close();
    await agent.close();
    const rate = Object.fromEntries(Object.entries(rates).map(([name, list]) => [name, median(list)]));
    const row = {
      concurrency,
      rate,
      fetchRatio: rate["paf fetch"] / rate["undici fetch"],
      requestRatio: rate["paf send"] / rate["undici request"],
      requestUrlRatio: rate["paf send"] / rate["undici request(url)"],
    };
    results.push(row);
    const said = Object.entries(rate).map(([name, r]) => `${name} ${r.toFixed(0)}`).join(", ");
    console.log(`concurrency ${concurrency} (req/s): ${said}`);
    console.log(`  paf fetch / undici fetch ${row.fetchRatio.toFixed(2)}, paf send / undici request ${row.requestRatio.toFixed(2)}, paf send / undici request(url) ${row.requestUrlRatio.toFixed(2)}`);
  }
} finally {
  await server.stop();
  work.cleanup();
}

// The client module is what a page that fetches downloads; the server
// module loads on the first serve(). The target is on the client's size,
// in kB of 1000 bytes: at most 350 kB gzipped.
const sizes = {};
for (const [name, file] of [["client", "./dist/paf_bg.wasm"], ["server", "./dist/server/paf_server_bg.wasm"]]) {
  const wasm = readFileSync(new URL(file, import.meta.url));
  const size = (sizes[name] = { raw: wasm.length, gzipped: gzipSync(wasm, { level: 9 }).length });
  console.log(`${file.slice(2)}: ${size.raw} bytes, ${size.gzipped} gzipped (${(size.gzipped / 1000).toFixed(1)} kB)`);
}
console.log(`client module / 350 kB target: ${(sizes.client.gzipped / 350_000).toFixed(3)}`);
console.log(JSON.stringify({ node: process.version, seconds, rounds, results, wasm: sizes }));
if (values.plot) writeFileSync(values.plot, JSON.stringify(plotted));
