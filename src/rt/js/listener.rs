//! A server's connections from a JS iterator of stream pairs.

use std::io;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::stream::{io_error, JsStream, StreamPair};
use super::Js;
use crate::rt::{Endpoints, Listener, Peer};
use crate::Flow;

#[wasm_bindgen]
extern "C" {
    /// An iterator, sync or async: `next()` gives `{ done, value }` or a
    /// promise of it.
    #[derive(Clone, Debug)]
    pub type FlowIterator;
    #[wasm_bindgen(method, catch)]
    fn next(this: &FlowIterator) -> Result<JsValue, JsValue>;
    /// Tells an iterator that no more values will be asked for (the
    /// iterator protocol's optional `return()`).
    #[wasm_bindgen(method, catch, js_name = "return")]
    fn stop(this: &FlowIterator) -> Result<JsValue, JsValue>;
}

/// Accepts the stream pairs a JS iterator gives (`listenTcp()` in Node, a
/// queue of in-page pipes, the pairs a worker receives): a [`Listener`]
/// for [`serve`](crate::serve).
///
/// When the iterator is done, the listener calls its `done` function (the
/// JS server stops its serve loop's switch there: the requests in flight
/// finish) and accepts nothing more. When the listener is dropped (the
/// serve loop stopped: `close()`), it calls the iterator's `return()`, if
/// it has one, so that the iterable stops taking connections no one will
/// serve (`listenTcp` stops listening: new clients are refused, not left
/// waiting).
/// A pair's `peer` and `local` properties, if any, are its two ends.
#[derive(Debug)]
pub struct JsListener {
    iterator: FlowIterator,
    done: Done,
    runtime: Js,
    accepted: u64,
}

impl JsListener {
    /// Takes the pairs of `iterator`, calling `done` after the last.
    pub fn new(iterator: FlowIterator, done: impl Fn() + 'static, runtime: Js) -> JsListener {
        JsListener { iterator, done: Done(Box::new(done)), runtime, accepted: 0 }
    }
}

impl Listener for JsListener {
    type Runtime = Js;

    fn runtime(&self) -> Js {
        self.runtime
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        let next = self.iterator.next().map_err(io_error)?;
        let next = JsFuture::from(Promise::resolve(&next)).await.map_err(io_error)?;
        let field = |name: &str| Reflect::get(&next, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if !next.is_object() || field("done").is_truthy() {
            (self.done.0)();
            // The serve loop sees that it is stopping before it asks again.
            std::future::pending::<()>().await;
        }
        let pair = field("value");
        if !pair.is_object() {
            let message = "the iterator of flows gave something else than a { readable, writable } pair";
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        let stream = JsStream::new(pair.unchecked_ref::<StreamPair>())?;
        self.accepted += 1;
        let peer = stream.peer().map_or_else(|| Peer::Name(format!("js#{}", self.accepted)), Peer::from_name);
        let endpoints = Endpoints::new(peer, stream.local().and_then(|local| Peer::from_name(local).ip()));
        Ok((Flow::new(stream), endpoints))
    }
}

impl Drop for JsListener {
    fn drop(&mut self) {
        // An iterator without `return` throws here: nothing to tell it.
        let _ = self.iterator.stop();
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

/// What a [`JsListener`] calls after its last pair.
struct Done(Box<dyn Fn()>);

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Done")
    }
}
