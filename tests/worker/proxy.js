// The JS worker of tests/worker.rs, as a user writes one: paf's client
// (the npm package, imported by its name) inside a fetch handler.
// `GET /?url=U` answers with what `request(U)` got: its status, body and
// content type, and the protocol in `x-upstream-protocol`; `/pooled?url=U`
// the same through one Client kept across fetch events; `/reused?url=U`
// through one kept across events that reuses connections (what a worker
// must not do: it fails, with a 500 ms timeout, rather than hang). `&pin=P` pins the
// upstream's certificate (tls.pins), `&alpn=h2,http/1.1` sets ALPN,
// `&secure=on` has workerd do TLS (secureTransport). The upstream's CA is
// the text binding CA. A failure is a 502 whose JSON body has the error's
// code and message.
import { Client, request } from "paf";

let pooled;
let reused;

export default {
  async fetch(incoming, env) {
    const { pathname, searchParams } = new URL(incoming.url);
    const target = searchParams.get("url");
    const pins = searchParams.has("pin") ? searchParams.getAll("pin") : undefined;
    const secureTransport = searchParams.get("secure") ?? undefined;
    const tls = secureTransport === "on" ? undefined : { ca: env.CA, pins };
    const init = { tls, secureTransport, alpn: searchParams.has("alpn") ? searchParams.get("alpn").split(",") : undefined };
    try {
      let response;
      if (pathname === "/pooled") {
        pooled ??= new Client(init);
        response = await pooled.fetch(target);
      } else if (pathname === "/reused") {
        reused ??= new Client({ ...init, reuseConnections: true, timeout: 500 });
        response = await reused.fetch(target);
      } else {
        response = await request(target, init);
      }
      const headers = { "x-upstream-protocol": response.protocol };
      const type = response.headers.get("content-type");
      if (type) headers["content-type"] = type;
      return new Response(response.body, { status: response.status, headers });
    } catch (error) {
      const body = JSON.stringify({ code: error.code ?? null, message: String(error.message ?? error) });
      return new Response(body, { status: 502, headers: { "content-type": "application/json" } });
    }
  },
};
