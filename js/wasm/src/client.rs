//! The client exports (feature `client`): `Client`, and `setRoots` in
//! [`crate::roots`]. The npm package's main module.

use http::{Method, Request, Response};
use js_sys::{Array, Function};
use paf::engine::alpn::Protocol;
use paf::client::{ClientBuilder, ConnectionInfo, MaxRedirects};
use paf::mimic::Ctx;
use paf::platform::{js as platform, HOST, PORT};
use paf::rt::js::{self as rt, Connect};
use paf::{Config, Incoming};
use wasm_bindgen::prelude::*;

use crate::{body_of, body_to_js, field, header_map, header_text, js_error, millis, protocol_name, roots, type_error};

#[wasm_bindgen(inline_js = r#"
export function responseHead(status, statusText, headers, protocol, url, body, bytes, tls) {
  return { status, statusText, headers, protocol, url, body, bytes,
    tls: tls && { version: tls[0], cipher: tls[1], peerCertificates: tls.slice(2) } };
}
"#)]
extern "C" {
    /// The response head as `Client.request` resolves with it (one call
    /// to JS, not one per field).
    #[wasm_bindgen(js_name = responseHead)]
    fn response_head_js(
        status: u16,
        status_text: &str,
        headers: &str,
        protocol: &str,
        url: &JsValue,
        body: &JsValue,
        bytes: &JsValue,
        tls: &JsValue,
    ) -> JsValue;
}

/// A client: connections pooled per origin and opened with a JS
/// `connect({host, port})` function, TLS in wasm for `https`, HTTP/2 or
/// HTTP/1.1 by ALPN, redirects followed.
#[wasm_bindgen]
pub struct Client {
    inner: paf::Client,
}

#[wasm_bindgen]
impl Client {
    /// `options`: `alpn` (`["h2", "http/1.1"]` by default; `["h2"]` alone
    /// also speaks HTTP/2 to `http` origins, by prior knowledge), `ca` (PEM
    /// of more roots to trust), `insecure` (accept any certificate),
    /// `timeout` (ms until the response head, 30 000 by default; 0 for
    /// none), `maxRedirects` (10), `connectTimeout` (ms, 10 000),
    /// `idleTimeout` (ms an unused connection stays open, 90 000),
    /// `maxIdlePerOrigin` (8), `reuseConnections` (`true`; `false`: a
    /// connection per request), `keepAlive` (ms between HTTP/2 PINGs; none
    /// by default), `pins` (SHA-256s of accepted leaf certificates, 32
    /// bytes each, one after the other: they replace the other checks),
    /// `connectTls` (a function as `connect` whose pairs are TLS already:
    /// used for `https`, with HTTP/1.1 on them).
    #[wasm_bindgen(constructor)]
    pub fn new(connect: Function, options: &JsValue) -> Result<Client, JsValue> {
        let option = |name: &str| field(options, name);
        let mut tls = roots::client_tls()?;
        if let Some(ca) = option("ca").as_string() {
            tls = tls.add_roots_pem(ca.as_bytes()).map_err(|err| type_error(&format!("tls.ca: {err}")))?;
        }
        if let Some(pins) = option("pins").dyn_ref::<js_sys::Uint8Array>() {
            for pin in pins.to_vec().chunks_exact(32) {
                tls = tls.pin_sha256(pin.try_into().expect("chunks of 32"));
            }
        }
        if option("insecure").is_truthy() {
            tls = tls.dangerous_accept_any_certificate();
        }
        let connect = Connect::new(connect);
        let mut builder = match option("connectTls").dyn_into::<Function>() {
            // The platform does TLS (a worker's `secureTransport: "on"`):
            // `https` is HTTP/1.1 over what `connectTls` opens, no TLS here.
            Ok(secure) => {
                let secure = Connect::new(secure);
                ClientBuilder::new(platform::platform().map_context(move |origin, ctx| match origin.is_tls() {
                    true => platform::ctx(secure.clone()).add(&HOST, origin.host().to_string()).add(&PORT, origin.port()),
                    false => ctx.add(&platform::CONNECT, connect.clone()),
                }))
            }
            Err(_) => ClientBuilder::new(platform::platform()).context(Ctx::new().add(&platform::CONNECT, connect)),
        }
        .tls(tls);
        let alpn = option("alpn");
        if !alpn.is_undefined() {
            let protocols = protocols(&alpn)?;
            builder = builder.http2_prior_knowledge(protocols == [Protocol::Http2]).alpn(protocols);
        }
        if let Some(ms) = option("timeout").as_f64() {
            let limit = (ms > 0.0).then(|| std::time::Duration::from_secs_f64(ms / 1000.0));
            builder = builder.request_timeout(limit);
        }
        if let Some(max) = option("maxRedirects").as_f64() {
            builder = builder.max_redirects(max as usize);
        }
        if let Some(limit) = millis(&option("connectTimeout"), "connectTimeout")? {
            builder = builder.connect_timeout(limit);
        }
        if let Some(limit) = millis(&option("idleTimeout"), "idleTimeout")? {
            builder = builder.idle_timeout(limit);
        }
        if let Some(max) = option("maxIdlePerOrigin").as_f64() {
            builder = builder.max_idle_per_origin(max as usize);
        }
        if option("reuseConnections") == JsValue::FALSE {
            builder = builder.reuse_connections(false);
        }
        if let Some(interval) = millis(&option("keepAlive"), "keepAlive")? {
            let mut config = Config::default();
            config.h2.keep_alive_interval = Some(interval);
            builder = builder.config(config);
        }
        Ok(Client { inner: builder.build() })
    }

    /// Sends a request; once the response head is in, calls `resolve` with
    /// `{ status, statusText, headers, protocol, url, body, bytes }` (or
    /// `reject` with the error; callbacks rather than a promise made here:
    /// the caller makes one, for less work per request): `url`
    /// where the last redirect led (absent without one), `body` a
    /// [`BodyReader`] or `null`, `bytes` the body's bytes that are in
    /// already (all of them when `body` is `null`; absent for none).
    /// `body` is `null`, a `Uint8Array` (sent again on a redirect or a
    /// retry) or a `ReadableStream` (sent once). Unless `follow`, a
    /// redirect is a response like any other.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &str,
        body: JsValue,
        follow: bool,
        resolve: Function,
        reject: Function,
    ) -> Result<(), JsValue> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| type_error(&format!("invalid method {method:?}")))?;
        let mut request = Request::new(body_of(&body, None)?);
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|_| type_error(&format!("invalid URL {url:?}")))?;
        *request.headers_mut() = header_map(headers)?;
        if !follow {
            request.extensions_mut().insert(MaxRedirects(0));
        }
        let client = self.inner.clone();
        // Entered: the request is on its connection's way out before this
        // call returns, with no microtask between.
        rt::entered(|| {
            rt::spawn(Box::pin(async move {
                // What the callbacks return, or throw, is theirs.
                let _ = match client.request(request).await {
                    Ok(response) => resolve.call1(&JsValue::UNDEFINED, &response_head(response)),
                    Err(err) => reject.call1(&JsValue::UNDEFINED, &js_error(&err)),
                };
            }))
        });
        Ok(())
    }
}

fn response_head(response: Response<Incoming>) -> JsValue {
    let (parts, body) = response.into_parts();
    let info = parts.extensions.get::<ConnectionInfo>();
    let url = info.and_then(|info| info.redirected_to.as_ref());
    let url = url.map_or(JsValue::UNDEFINED, |url| url.to_string().into());
    // [version, cipher, ...certificates (DER)], for the response's `tls`.
    let tls = info.and_then(|info| info.tls.as_ref()).map_or(JsValue::UNDEFINED, |session| {
        let list = Array::of2(&session.version.into(), &session.cipher_suite.into());
        for certificate in &session.peer_certificates {
            list.push(&js_sys::Uint8Array::from(certificate.as_ref()));
        }
        list.into()
    });
    let (body, bytes) = body_to_js(body);
    let headers = header_text(&parts.headers);
    let reason = parts.status.canonical_reason().unwrap_or("");
    let protocol = protocol_name(parts.version);
    response_head_js(parts.status.as_u16(), reason, &headers, protocol, &url, &body, &bytes, &tls)
}

fn protocols(list: &JsValue) -> Result<Vec<Protocol>, JsValue> {
    let list: &Array = list.dyn_ref().ok_or_else(|| type_error("alpn must be an array"))?;
    list.iter()
        .map(|id| match id.as_string().as_deref() {
            Some("h2") => Ok(Protocol::Http2),
            Some("http/1.1") => Ok(Protocol::Http1),
            _ => Err(type_error("alpn takes \"h2\" and \"http/1.1\"")),
        })
        .collect()
}
