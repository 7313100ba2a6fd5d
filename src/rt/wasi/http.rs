//! Requests handed to a component whole (the `paf:http/handler` interface):
//! [`call`] answers one with a [`Handler`], and [`Fields`] carry headers.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};

use super::Wasi;
use crate::alpn::{self, Protocol};
use crate::serve::{Handler, Serve};
use crate::{Body, Config, Error, Flow, Incoming};

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
