//! A Cloudflare worker in Rust on paf: every fetch event is answered by a
//! paf handler ([`paf::platform::worker::fetch`]) that sends the request on
//! to the origin in the `ORIGIN` variable with paf's client, over TLS
//! (rustls in wasm, HTTP/2 by ALPN) on the worker's TCP sockets
//! (`connectSocket` of `paf/sockets`, handed in by `worker.js`), and
//! answers with the origin's response, its body streamed through. The
//! response says which protocol reached the origin in `x-paf-upstream`.
//! `ORIGIN_CA`, if set, is PEM of a CA to trust besides the Mozilla roots.
//!
//! A client per fetch event: a worker's connections belong to the event
//! that opened them.

use http::header::{HeaderValue, HOST};
use http::{Request, Response, StatusCode, Version};
use js_sys::{Function, Promise, Reflect};
use paf::client::ClientBuilder;
use paf::mimic::Ctx;
use paf::platform::{js as platform, worker};
use paf::rt::js::Connect;
use paf::tls::ClientTls;
use paf::{service_fn, Body, Client, Incoming};
use wasm_bindgen::prelude::*;

/// The worker's fetch handler: `worker.js` calls it with the event's
/// request, env and ctx, and the `connect` function to reach the origin.
#[wasm_bindgen]
pub fn fetch(request: JsValue, env: JsValue, ctx: JsValue, connect: Function) -> Promise {
    let var = |name: &str| Reflect::get(&env, &name.into()).ok().and_then(|value| value.as_string());
    let origin = var("ORIGIN").unwrap_or_else(|| "https://example.com".into());
    let client = match client(connect, var("ORIGIN_CA")) {
        Ok(client) => client,
        Err(message) => return Promise::reject(&js_sys::Error::new(&message).into()),
    };
    let proxy = service_fn(move |request| forward(client.clone(), origin.clone(), request));
    worker::fetch(proxy, request, ctx)
}

fn client(connect: Function, ca: Option<String>) -> Result<Client, String> {
    let mut tls = ClientTls::new();
    if let Some(pem) = ca {
        tls = tls.add_roots_pem(pem.as_bytes()).map_err(|err| format!("ORIGIN_CA: {err}"))?;
    }
    let connect = Ctx::new().add(&platform::CONNECT, Connect::new(connect));
    Ok(ClientBuilder::new(platform::platform()).context(connect).tls(tls).build())
}

/// `request` sent on to `origin` (same method, path, headers and body);
/// the origin's response, or a 502 saying why it could not be reached.
async fn forward(client: Client, origin: String, request: Request<Incoming>) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{origin}{target}").parse() {
        Ok(uri) => uri,
        Err(err) => return failure(format!("ORIGIN {origin:?}: {err}")),
    };
    parts.headers.remove(HOST);
    match client.request(Request::from_parts(parts, Body::new(body))).await {
        Ok(response) => {
            let protocol = if response.version() == Version::HTTP_2 { "HTTP/2" } else { "HTTP/1.1" };
            let (mut parts, body) = response.into_parts();
            parts.headers.insert("x-paf-upstream", HeaderValue::from_static(protocol));
            Response::from_parts(parts, Body::new(body))
        }
        Err(err) => failure(err.to_string()),
    }
}

fn failure(message: String) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
