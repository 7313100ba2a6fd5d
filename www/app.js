// The demo page: fetch a real origin through a bridge (paf's TLS and
// HTTP/2 in the page), and the wire view, a paf server and client in the
// page over in-memory pipes, showing what they exchange.
//
// The query string fills the form and can start a fetch at load, which
// is how the browser tests drive it: ?url=&via=websocket|wisp|fixed&
// bridge=&ca=URL-of-a-PEM&upload=N&stream=0 (WebSocket, not
// WebSocketStream)&tap=0 (no connect and TLS timings)&auto=1. The page's state is in
// document.body.dataset: wire ("done"/"failed") and fetch.
import { connectWebSocket, connectWisp, memoryListener, request, serve, setRoots } from "../js/browser.js";
import { bytesOf, h2Frames, handshakeDone, newLog, tapped } from "./tap.js";
import { describeCertificate } from "./x509.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// ---- Fetch through the bridge ----

const defaultBridge = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
$("url").value = params.get("url") ?? $("url").value;
$("via").value = params.get("via") ?? "websocket";
$("bridge").value = params.get("bridge") ?? defaultBridge;

let rootsLoaded;
/** The Mozilla roots, and the extra CA the tests pass (?ca=). */
async function trust() {
  rootsLoaded ??= import("../js/dist/roots.js").then(({ default: roots }) => setRoots(roots));
  await rootsLoaded;
  const ca = params.get("ca");
  return ca ? { ca: await (await fetch(ca)).text() } : {};
}

function connectFor(via, bridge) {
  if (via === "wisp") return connectWisp(bridge);
  // A bridge with one target of its own (websockify): the URL as it is.
  const options = { stream: params.get("stream") !== "0" };
  if (via === "fixed") return connectWebSocket(() => bridge, options);
  return connectWebSocket(bridge, options);
}

/** Bytes i % 251 for i < n: what /bytes/N gives, and the upload. */
function pattern(n) {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = i % 251;
  return bytes;
}

async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fact(name, value) {
  const div = document.createElement("div");
  div.innerHTML = "<dt></dt><dd></dd>";
  div.firstChild.textContent = name;
  div.lastChild.textContent = value;
  div.dataset.fact = name;
  return div;
}

function timingBars(steps, total) {
  return steps.map(([name, ms]) => {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.dataset.timing = name;
    if (ms !== undefined) bar.dataset.ms = ms.toFixed(2);
    bar.innerHTML = '<span></span><span class="track"><span class="fill"></span></span><span class="ms"></span>';
    bar.children[0].textContent = name;
    bar.querySelector(".fill").style.width = `${ms === undefined ? 0 : Math.max(1, (100 * ms) / total)}%`;
    bar.children[2].textContent = ms === undefined ? "—" : `${ms.toFixed(1)} ms`;
    return bar;
  });
}

/** The certificate chain as rustls received (and checked) it, the server's own first. */
function chainOf(tls) {
  if (!tls) return [document.createTextNode("No TLS: nothing to check.")];
  return tls.peerCertificates.map((der, i) => {
    const certificate = describeCertificate(der);
    const item = document.createElement("div");
    item.className = "certificate";
    item.dataset.certificate = i;
    item.innerHTML = "<strong></strong><span></span><span></span>";
    item.children[0].textContent = certificate.subject;
    item.children[1].textContent = `issued by ${certificate.issuer}`;
    item.children[2].textContent = `valid ${certificate.notBefore} to ${certificate.notAfter}`;
    return item;
  });
}

async function fetchThroughBridge() {
  const url = $("url").value;
  const via = $("via").value;
  const upload = Number(params.get("upload") ?? 0);
  $("go").disabled = true;
  $("status").className = "status";
  $("status").textContent = `Fetching ${url} …`;
  $("result").classList.add("hidden");
  document.body.dataset.fetch = "running";
  const log = newLog();
  try {
    // ?tap=0: no copy of every chunk for the timings (the benchmark's way).
    const direct = connectFor(via, $("bridge").value);
    const connect = params.get("tap") === "0" ? direct : tapped(direct, log);
    const init = { connect, tls: await trust() };
    const sent = upload ? pattern(upload) : null;
    if (sent) Object.assign(init, { method: "POST", body: sent });
    const start = performance.now();
    const response = await request(url, init);
    const head = performance.now();
    const body = new Uint8Array(await response.arrayBuffer());
    const end = performance.now();

    // What rustls negotiated; when the handshake finished, from the tap.
    const tls = response.tls;
    const handshakeAt = handshakeDone(log);
    const facts = [
      ["Status", `${response.status} ${response.statusText}`.trim()],
      ["Protocol", response.protocol],
      ["TLS", tls ? tls.version : "none (clear text)"],
      ["Cipher", tls ? tls.cipher : "—"],
      ["Via", via === "wisp" ? "Wisp" : "WebSocket"],
      ["Body", `${body.length} bytes`],
      ["SHA-256", await sha256(body)],
    ];
    if (sent) facts.push(["Uploaded SHA-256", await sha256(sent)]);
    $("facts").replaceChildren(...facts.map(([name, value]) => fact(name, value)));
    const steps = [
      ["connect", log.connected && log.connected - start],
      ["TLS", handshakeAt && handshakeAt - start],
      ["first byte", head - start],
      ["total", end - start],
    ];
    $("timings").replaceChildren(...timingBars(steps, end - start));
    $("chain").replaceChildren(...chainOf(tls));
    const rows = [...response.headers].map(([name, value]) => {
      const row = document.createElement("tr");
      row.innerHTML = "<td></td><td></td>";
      row.children[0].textContent = name;
      row.children[1].textContent = value;
      return row;
    });
    $("headers").replaceChildren(...rows);
    const shown = new TextDecoder().decode(body.subarray(0, 32 * 1024));
    $("body").textContent = body.length > 32 * 1024 ? `${shown}\n… (${body.length - 32 * 1024} more bytes)` : shown;
    $("result").classList.remove("hidden");
    $("status").className = "status ok";
    $("status").textContent = `${response.protocol} ${response.status} from ${url} in ${(end - start).toFixed(0)} ms`;
    document.body.dataset.fetch = "done";
  } catch (error) {
    $("status").className = "status failed";
    $("status").textContent = `Failed: ${error.message}${error.code ? ` (${error.code})` : ""}`;
    document.body.dataset.fetch = "failed";
  } finally {
    $("go").disabled = false;
  }
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  fetchThroughBridge();
});

// ---- Wire view: a server and a client in the page ----

const { flows, connect: connectInPage } = memoryListener();
serve(flows, async (req) => {
  const asked = req.method === "POST" ? await req.text() : "";
  return new Response(`${$("answer").value}\nYou sent ${req.method} ${new URL(req.url).pathname} "${asked}".\n`, {
    headers: { "content-type": "text/plain", "x-served-by": "paf in the page" },
  });
});

function describeWire(bytes, alpn) {
  if (alpn[0] !== "h2") return new TextDecoder().decode(bytes);
  const frames = h2Frames(bytes);
  return frames.map((f) => (f.type === "preface"
    ? "connection preface (24 bytes)"
    : `${f.type.padEnd(13)} stream ${f.stream}  ${f.length} bytes  flags 0x${f.flags.toString(16).padStart(2, "0")}`)).join("\n");
}

async function exchange(alpn) {
  const log = newLog();
  const response = await request("http://page.test/hello", { connect: tapped(connectInPage, log), alpn, method: "POST", body: "hi" });
  const text = await response.text();
  $("wire-out").textContent = describeWire(bytesOf(log, "out"), alpn);
  $("wire-in").textContent = describeWire(bytesOf(log, "in"), alpn);
  return `${response.protocol} ${response.status} (${response.headers.get("x-served-by")})\n${text}`;
}

async function show(alpn) {
  try {
    $("log").textContent = await exchange(alpn);
  } catch (error) {
    $("log").textContent = `failed: ${error.message}`;
  }
}

try {
  const results = [await exchange(["http/1.1"]), await exchange(["h2"])];
  $("log").textContent = results.join("\n");
  document.body.dataset.state = "done";
} catch (error) {
  $("log").textContent = `failed: ${error.stack ?? error}`;
  document.body.dataset.state = "failed";
}
for (const [id, alpn] of [["h1", ["http/1.1"]], ["h2", ["h2"]]]) {
  const button = $(id);
  button.disabled = false;
  button.addEventListener("click", () => show(alpn));
}
if (params.get("auto")) fetchThroughBridge();
