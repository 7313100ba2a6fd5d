//! [`Connect`]: a JS function that opens stream pairs, as a transport.

use std::fmt;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::stream::{io_error, JsStream, StreamPair};

/// A JS function opening stream pairs: given `{ host, port }`, it returns
/// a `{ readable, writable }` pair, or a promise of one.
#[derive(Clone)]
pub struct Connect(Function);

impl Connect {
    /// Wraps `connect(endpoint) -> StreamPair | Promise<StreamPair>`.
    pub fn new(connect: Function) -> Connect {
        Connect(connect)
    }

    /// Calls the function with `{ host, port }` and wraps what it gives.
    /// The error is the JS one ("connect ECONNREFUSED 127.0.0.1:1").
    pub async fn open(&self, host: &str, port: u16) -> std::io::Result<JsStream> {
        let endpoint = Object::new();
        // JS socket APIs take IPv6 literals without the brackets of URLs.
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&endpoint, &"host".into(), &host.into());
        let _ = Reflect::set(&endpoint, &"port".into(), &port.into());
        let pair = self.0.call1(&JsValue::UNDEFINED, &endpoint).map_err(io_error)?;
        let pair = JsFuture::from(Promise::resolve(&pair)).await.map_err(io_error)?;
        if !pair.is_object() {
            let message = "connect() must give a { readable, writable } stream pair";
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        JsStream::new(pair.unchecked_ref::<StreamPair>())
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Connect").field(&self.0.name()).finish()
    }
}
