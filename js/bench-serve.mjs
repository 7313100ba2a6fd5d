// serve() in Node against Node's own servers, the same hello handler in
// each: paf's plain handler ({ plain: true }: no Request or Response made)
// and its fetch-shaped one, node:http answering as usual and through web
// Request and Response objects, and node:http2 (h2c). Each server runs in
// a process of its own, one at a time, in an order that turns with each
// round; wrk loads the HTTP/1.1 ones (-c16, -c64), h2load the h2c ones.
// Medians of the rounds, the ratios to node:http and the verdicts against
// issue 27's targets. Not a test: `npm run bench-serve` (node
// bench-serve.mjs [--seconds 3] [--rounds 3] [--write] [--plot FILE],
// --write putting the table into BENCHMARKS.md, --plot writing the first
// round's latency by quantile at wrk -c16 of each server, as JSON, for
// benches/js.py to draw).
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { cpus, loadavg } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);
const HELLO = "hello\n";
const TYPE = "text/plain";

/** The servers, each `() => Promise` of the port it listens on (one the system chose). */
const servers = {
  async "paf serve() plain"() {
    const { listenTcp, serve } = await import("./node.js");
    const listener = listenTcp(0);
    serve(listener, () => ({ status: 200, headers: { "content-type": TYPE }, body: HELLO }), { plain: true });
    return listener.ready;
  },
  async "paf serve() fetch-shaped"() {
    const { listenTcp, serve } = await import("./node.js");
    const listener = listenTcp(0);
    serve(listener, () => new Response(HELLO, { headers: { "content-type": TYPE } }));
    return listener.ready;
  },
  "node:http"() {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": TYPE });
      res.end(HELLO);
    });
    return listening(server);
  },
  "node:http, web Request/Response"() {
    const handler = () => new Response(HELLO, { headers: { "content-type": TYPE } });
    const server = http.createServer(async (req, res) => {
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers: req.headers,
        body: hasBody ? req : null,
        duplex: "half",
      });
      const response = await handler(request);
      res.writeHead(response.status, [...response.headers].flat());
      res.end(Buffer.from(await response.arrayBuffer()));
    });
    return listening(server);
  },
  "node:http2 (h2c)"() {
    const server = http2.createServer();
    server.on("stream", (stream) => {
      stream.respond({ ":status": 200, "content-type": TYPE });
      stream.end(HELLO);
    });
    return listening(server);
  },
};

/** The port `server` listens on, once it does. */
function listening(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

/** The loads, each with the servers it is run against. */
const H1 = ["paf serve() plain", "paf serve() fetch-shaped", "node:http", "node:http, web Request/Response"];
const H2 = ["paf serve() plain", "paf serve() fetch-shaped", "node:http2 (h2c)"];
const loads = [
  { name: "wrk -c16", servers: H1, measure: (url, seconds) => wrk(url, 16, seconds) },
  { name: "wrk -c64", servers: H1, measure: (url, seconds) => wrk(url, 64, seconds) },
  { name: "h2load -c16 -m10", servers: H2, measure: (url, seconds) => h2load(url, 16, 10, seconds) },
];

/** Prints the latency by quantile at the end of a wrk run. */
const QUANTILES_LUA = new URL("../benches/quantiles.lua", import.meta.url).pathname;

async function wrk(url, connections, seconds) {
  const { stdout } = await run("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "-s", QUANTILES_LUA, url]);
  const rate = Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]);
  if (/Non-2xx|Socket errors/.test(stdout)) throw new Error(`wrk saw errors against ${url}:\n${stdout}`);
  const quantiles = JSON.parse(stdout.match(/^latency quantiles: (.*)$/m)[1]);
  const at = new Map(quantiles);
  return { rate, p50: at.get(0.5), p99: at.get(0.99), quantiles };
}

async function h2load(url, clients, streams, seconds) {
  const { stdout } = await run("h2load", ["-t1", `-c${clients}`, `-m${streams}`, `-D${seconds}`, url]);
  const rate = Number(stdout.match(/finished in [\d.]+\w+, ([\d.]+) req\/s/)[1]);
  const [, failed, errored] = stdout.match(/(\d+) failed, (\d+) errored/);
  if (failed !== "0" || errored !== "0") throw new Error(`h2load saw failures against ${url}:\n${stdout}`);
  const mean = micros(stdout.match(/time for request:\s+\S+\s+\S+\s+(\S+)/)[1]);
  return { rate, p50: mean, p99: undefined };
}

/** `"1.23ms"` (as wrk and h2load print a time) in µs. */
function micros(text) {
  const [, value, unit] = text.match(/([\d.]+)(\w+)/);
  return Number(value) * { us: 1, ms: 1000, s: 1e6 }[unit];
}

/** Runs one server in a child process: resolves with its port and a function that stops it. */
function start(name) {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--serve", name], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${name} exited (${code}) before listening`)));
    child.stdout.once("data", (line) => {
      child.removeAllListeners("exit");
      const port = Number(String(line).match(/^listening (\d+)/)?.[1]);
      const stop = () => new Promise((done) => (child.once("exit", done), child.kill()));
      resolve({ port, stop });
    });
  });
}

const median = (values) => {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined;
};

async function bench({ seconds, rounds }) {
  const results = new Map(); // `${load}|${server}` -> [{ rate, p50, p99 }]
  const names = Object.keys(servers);
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const { port, stop } = await start(name);
      try {
        const url = `http://127.0.0.1:${port}/`;
        for (const load of loads) {
          if (!load.servers.includes(name)) continue;
          await load.measure(url, 1); // warm-up
          const result = await load.measure(url, seconds);
          const key = `${load.name}|${name}`;
          results.set(key, [...(results.get(key) ?? []), result]);
          console.error(`round ${round + 1}: ${load.name}, ${name}: ${Math.round(result.rate)} req/s`);
        }
      } finally {
        await stop();
      }
    }
  }
  return results;
}

/** The markdown section: table, verdicts, how it was taken. */
function report(results, { seconds, rounds }, load) {
  const of = (loadName, server) => {
    const list = results.get(`${loadName}|${server}`) ?? [];
    const rates = list.map((r) => r.rate);
    return { rate: median(rates), low: Math.min(...rates), high: Math.max(...rates), p50: median(list.map((r) => r.p50)), p99: median(list.map((r) => r.p99)) };
  };
  const n = (v) => (v === undefined ? "" : Math.round(v).toLocaleString("en-US").replace(/,/g, " "));
  const lines = [
    `Taken ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, Node ${process.version}, ${cpus().length} cores, ` +
      `load average at the start ${load.map((l) => l.toFixed(2)).join(", ")}${load[0] > 1.5 ? " (above 1.5: the figures are provisional)" : ""}; ` +
      `medians of ${rounds} rounds of ${seconds} s (\`node bench-serve.mjs --seconds ${seconds} --rounds ${rounds}\`).`,
    "",
    "| load | server | req/s | rounds' range | p50 µs | p99 µs | to the reference |",
    "|---|---|---|---|---|---|---|",
  ];
  const verdicts = [];
  for (const { name, servers: list } of loads) {
    const reference = name.startsWith("h2load") ? "node:http2 (h2c)" : "node:http";
    const base = of(name, reference).rate;
    for (const server of list) {
      const { rate, low, high, p50, p99 } = of(name, server);
      const ratio = server === reference ? "" : `${(rate / base).toFixed(2)}× ${reference}`;
      lines.push(`| ${name} | ${server} | ${n(rate)} | ${n(low)}-${n(high)} | ${n(p50)}${name.startsWith("h2load") ? " (mean)" : ""} | ${n(p99)} | ${ratio} |`);
    }
    if (!name.startsWith("h2load")) {
      const plain = of(name, "paf serve() plain").rate / base;
      const fetchShaped = of(name, "paf serve() fetch-shaped").rate / of(name, "node:http, web Request/Response").rate;
      verdicts.push(`- ${name}: plain ${plain.toFixed(2)}× node:http (target ≥ 1.0: ${plain >= 1 ? "met" : "**unmet**"}); ` +
        `fetch-shaped ${fetchShaped.toFixed(2)}× node:http through web objects (target ≥ 1.0: ${fetchShaped >= 1 ? "met" : "**unmet**"}).`);
    }
  }
  return [...lines, "", ...verdicts].join("\n");
}

const args = process.argv.slice(2);
if (args[0] === "--serve") {
  const port = await servers[args[1]]();
  process.stdout.write(`listening ${port}\n`);
} else {
  const option = (name, fallback) => {
    const at = args.indexOf(`--${name}`);
    return at < 0 ? fallback : Number(args[at + 1]);
  };
  const settings = { seconds: option("seconds", 3), rounds: option("rounds", 3) };
  const load = loadavg();
  const results = await bench(settings);
  const section = report(results, settings, load);
  console.log(section);
  const plot = args.indexOf("--plot");
  if (plot >= 0) {
    const plotted = Object.fromEntries(
      H1.map((server) => [server, results.get(`wrk -c16|${server}`)?.[0]?.quantiles]).filter(([, quantiles]) => quantiles),
    );
    writeFileSync(args[plot + 1], JSON.stringify(plotted));
  }
  if (args.includes("--write")) {
    const file = new URL("./BENCHMARKS.md", import.meta.url);
    const text = readFileSync(file, "utf8");
    const [begin, end] = ["<!-- bench-serve: begin -->", "<!-- bench-serve: end -->"];
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`BENCHMARKS.md has no ${begin} ... ${end} section`);
    writeFileSync(file, `${text.slice(0, from + begin.length)}\n${section}\n${text.slice(to)}`);
  }
}
