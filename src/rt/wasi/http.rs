//! Requests in a component: [`fetch`] sends one over the transports of
//! this module (and whatever a context adds: a host's resolver), [`call`]
//! answers one with a [`Handler`] in memory.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};

use super::{ctx, https_ctx, Wasi, HOST, PORT};
use crate::alpn::{self, Protocol};
use crate::mimic::{self, Ctx};
use crate::serve::{Handler, Serve};
use crate::{Body, Config, Error, Flow, Incoming};

/// Sends `request` (its URI absolute, `http` or `https`) over a flow that
/// mimic resolves from [`ctx`] or [`https_ctx`] with `context` on top (a
/// [`tls::CONFIG`](crate::tls::CONFIG), another protocol), and answers
/// with the response head; the body streams from the [`Incoming`]. The
/// protocol is what TLS negotiated by ALPN, or on clear text HTTP/1.1, or
/// HTTP/2 when `prior_knowledge` says so. Redirects are not followed.
pub async fn fetch(request: Request<Body>, context: &Ctx, prior_knowledge: bool) -> Result<Response<Incoming>, Error> {
    let uri = request.uri();
    let invalid = |reason: &str| Error::InvalidUrl { url: uri.to_string(), reason: reason.to_string() };
    let (is_tls, default_port) = match uri.scheme_str() {
        Some("http") => (false, 80),
        Some("https") => (true, 443),
        Some(_) => return Err(invalid("use http:// or https://")),
        None => return Err(invalid("no scheme (write http://host/path)")),
    };
    let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(|| invalid("no host"))?;
    let port = uri.port_u16().unwrap_or(default_port);
    let transports = if is_tls { https_ctx() } else { ctx() };
    let resolved = transports.merge(context).add(&HOST, host.to_string()).add(&PORT, port);
    let flow = mimic::resolve(&resolved).await?;
    let protocol = match (is_tls, prior_knowledge) {
        (false, true) => Protocol::Http2,
        _ => Protocol::of_flow(&flow),
    };
    alpn::run(protocol, request, flow, &Config::default(), &Wasi).await
}

/// Answers `request` with `handler`, through an in-memory HTTP/1.1
/// connection: the handler gets a real [`Incoming`], as from a socket.
/// For a component that receives requests whole (the `paf:http/handler`
/// interface) and wants to answer them with a paf [`Handler`]. A request
/// without `Host` gets `localhost`.
pub async fn call<H: Handler>(handler: H, mut request: Request<Body>) -> Result<Response<Incoming>, Error> {
    const PIPE_CAPACITY: usize = 64 * 1024;
    let (client, server) = Flow::pipe(PIPE_CAPACITY);
    let config = Arc::new(Config::default());
    let connection = handler.serve_connection(server, "in-memory".to_string(), config.clone(), Wasi, std::future::pending());
    super::spawn(connection);
    if !request.headers().contains_key(header::HOST) {
        request.headers_mut().insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    alpn::run(Protocol::Http1, request, client, &config, &Wasi).await
}

/// Header fields as the `paf:http` WIT package carries them: names (lower
/// case) and values, in order, a name repeated for each of its values.
pub type Fields = Vec<(String, Vec<u8>)>;

/// `headers` as [`Fields`].
pub fn to_fields(headers: &HeaderMap) -> Fields {
    headers.iter().map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec())).collect()
}

/// [`Fields`] as headers; an invalid name or value is an
/// [`Error::InvalidMessage`] that names it.
pub fn from_fields(fields: Fields) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let invalid = || Error::InvalidMessage(format!("invalid header field {name:?}"));
        let value = HeaderValue::from_bytes(&value).map_err(|_| invalid())?;
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        headers.append(name, value);
    }
    Ok(headers)
}
