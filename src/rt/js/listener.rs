//! A server's connections from a JS iterator of stream pairs.

use std::io;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::stream::{io_error, JsStream, StreamPair};
use super::Js;
use crate::alpn::{Info, Protocol};
use crate::serve::{Listener, Switch};
use crate::Flow;

#[wasm_bindgen]
extern "C" {
    /// An iterator, sync or async: `next()` gives `{ done, value }` or a
    /// promise of it.
    #[derive(Clone, Debug)]
    pub type FlowIterator;
    #[wasm_bindgen(method, catch)]
    fn next(this: &FlowIterator) -> Result<JsValue, JsValue>;
}

/// Accepts the stream pairs a JS iterator gives (`listenTcp()` in Node, a
/// queue of in-page pipes, the pairs a worker receives): a [`Listener`]
/// for [`serve`](crate::serve).
///
/// When the iterator is done, the listener flips the server's switch: the
/// server stops as on [`Switch::stop`] (the requests in flight finish).
/// A pair's `peer` property, if any, names it in logs.
#[derive(Debug)]
pub struct JsListener {
    iterator: FlowIterator,
    switch: Switch,
    runtime: Js,
    accepted: u64,
}

impl JsListener {
    /// Takes the pairs of `iterator`, stopping `switch` after the last.
    pub fn new(iterator: FlowIterator, switch: Switch, runtime: Js) -> JsListener {
        JsListener { iterator, switch, runtime, accepted: 0 }
    }
}

impl Listener for JsListener {
    type Runtime = Js;

    fn runtime(&self) -> Js {
        self.runtime
    }

    async fn accept(&mut self) -> io::Result<(Flow, String)> {
        let next = self.iterator.next().map_err(io_error)?;
        let next = JsFuture::from(Promise::resolve(&next)).await.map_err(io_error)?;
        let field = |name: &str| Reflect::get(&next, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if !next.is_object() || field("done").is_truthy() {
            self.switch.stop();
            // The serve loop sees the switch before it asks again.
            std::future::pending::<()>().await;
        }
        let pair = field("value");
        if !pair.is_object() {
            let message = "the iterator of flows gave something else than a { readable, writable } pair";
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        let stream = JsStream::new(pair.unchecked_ref::<StreamPair>())?;
        self.accepted += 1;
        let peer = stream.peer().map_or_else(|| format!("js#{}", self.accepted), str::to_owned);
        Ok((Flow::new(stream), peer))
    }
}

/// How a server takes the pairs of a [`JsListener`] ([`alpn::service`]
/// with it): HTTP/2 or HTTP/1.1 as the pair's `alpn` property says (TLS
/// done by the platform: `node:tls`, `Deno.listenTls`), and without it
/// by the first bytes (HTTP/2 by prior knowledge when [`Config::h2c`] is
/// on).
///
/// [`alpn::service`]: crate::alpn::service
/// [`Config::h2c`]: crate::Config::h2c
#[derive(Debug, Clone, Copy, Default)]
pub struct PairAlpn;

impl Info for PairAlpn {
    fn protocol(&self, flow: &Flow) -> Option<Protocol> {
        let alpn = flow.downcast_ref::<JsStream>()?.alpn()?;
        Some(Protocol::from_alpn(Some(alpn.as_bytes())))
    }
}

/// The iterator of `flows`: its `Symbol.asyncIterator`, its
/// `Symbol.iterator`, or `flows` itself if it has a `next` method.
pub fn iterator_of(flows: &JsValue) -> Result<FlowIterator, JsValue> {
    for symbol in [js_sys::Symbol::async_iterator(), js_sys::Symbol::iterator()] {
        let method = Reflect::get(flows, &symbol)?;
        if let Some(method) = method.dyn_ref::<js_sys::Function>() {
            return Ok(method.call0(flows)?.unchecked_into());
        }
    }
    if Reflect::get(flows, &"next".into())?.is_function() {
        return Ok(flows.clone().unchecked_into());
    }
    Err(js_sys::TypeError::new("flows must be an (async) iterable of { readable, writable } pairs").into())
}
