// The demo: a server and a client in the page over in-memory pipes. On
// load it runs both protocols once (what the headless Chromium test reads
// from the page's state), then the buttons do it again.
import { memoryListener, request, serve } from "../js/browser.js";

const log = document.getElementById("log");
const answer = document.getElementById("answer");
const { flows, connect } = memoryListener();

serve(flows, async (req) => {
  const asked = req.method === "POST" ? await req.text() : "";
  return new Response(`${answer.value}\nYou sent ${req.method} ${new URL(req.url).pathname} "${asked}".\n`, {
    headers: { "content-type": "text/plain", "x-served-by": "paf in the page" },
  });
});

async function fetchOver(alpn) {
  const response = await request("http://page.test/hello", { connect, alpn, method: "POST", body: "hi" });
  const text = await response.text();
  return `${response.protocol} ${response.status} (${response.headers.get("x-served-by")})\n${text}`;
}

async function show(alpn) {
  try {
    log.textContent = await fetchOver(alpn);
  } catch (error) {
    log.textContent = `failed: ${error.message}`;
  }
}

try {
  const results = [await fetchOver(["http/1.1"]), await fetchOver(["h2"])];
  log.textContent = results.join("\n");
  document.body.dataset.state = "done";
} catch (error) {
  log.textContent = `failed: ${error.stack ?? error}`;
  document.body.dataset.state = "failed";
}
for (const [id, alpn] of [["h1", ["http/1.1"]], ["h2", ["h2"]]]) {
  const button = document.getElementById(id);
  button.disabled = false;
  button.addEventListener("click", () => show(alpn));
}
