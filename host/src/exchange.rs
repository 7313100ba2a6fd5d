//! The library's `paf:http/handler` import, answered by a handler
//! component (`paf-host serve --handler`): each `exchange` the library
//! makes is a fresh instance of the handler, in a store of its own from
//! the handlers' pool, and the exchange's calls go to that instance's own
//! `exchange`, bodies piece by piece both ways.
//!
//! The instance's epoch deadline covers the whole exchange. A trap (or
//! the deadline) before the response head answers 500 with what happened;
//! after it, the body read fails, which ends the response with an error.

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{Resource, ResourceAny};
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use crate::library::paf::http::handler;
use crate::service::exports::paf::http::handler as service;
use crate::{one_line, store, Instance};

/// One request in a handler instance.
pub struct HandlerExchange {
    // Declared first, dropped first: the instance, then its pool slot.
    answering: Result<Answering, Failure>,
    _slot: Option<OwnedSemaphorePermit>,
}

struct Answering {
    store: Store<Instance>,
    handler: crate::service::Service,
    exchange: ResourceAny,
}

/// A 500 that replaces the handler's answer: its body, once the head was given.
struct Failure {
    message: String,
    head_given: bool,
    body_given: bool,
}

impl Failure {
    fn new(message: String) -> Failure {
        Failure { message: format!("{message}\n"), head_given: false, body_given: false }
    }
}

impl handler::Host for Instance {}

impl handler::HostExchange for Instance {
    async fn new(&mut self, request: handler::Request) -> wasmtime::Result<Resource<HandlerExchange>> {
        let exchange = match self.shared.clone() {
            None => HandlerExchange { answering: Err(Failure::new("this host has no handler".into())), _slot: None },
            Some(shared) => match &shared.handler {
                None => HandlerExchange {
                    answering: Err(Failure::new("no handler: give paf-host --handler, or compose one into the component".into())),
                    _slot: None,
                },
                Some(handlers) => {
                    let slot = handlers.slots.clone().acquire_owned().await?;
                    let wasi = WasiCtxBuilder::new().inherit_stderr().build();
                    let mut store = store(&handlers.engine, wasi, shared.max_memory, None);
                    store.set_epoch_deadline(shared.handler_deadline);
                    store.epoch_deadline_trap();
                    let request = service::Request {
                        method: request.method,
                        uri: request.uri,
                        headers: request.headers,
                        body_length: request.body_length,
                        peer: request.peer,
                    };
                    let started = async {
                        let handler = handlers.pre.instantiate_async(&mut store).await?;
                        let exchange = handler.paf_http_handler().exchange().call_constructor(&mut store, &request).await?;
                        Ok::<_, wasmtime::Error>((handler, exchange))
                    };
                    let answering = match started.await {
                        Ok((handler, exchange)) => Ok(Answering { store, handler, exchange }),
                        Err(err) => Err(failed(&request.method, &request.uri, &err)),
                    };
                    HandlerExchange { answering, _slot: Some(slot) }
                }
            },
        };
        self.progress.note();
        Ok(self.table.push(exchange)?)
    }

    async fn write(&mut self, exchange: Resource<HandlerExchange>, piece: Vec<u8>, end: bool) -> wasmtime::Result<()> {
        let entry = self.table.get_mut(&exchange)?;
        if let Ok(answering) = &mut entry.answering {
            let Answering { store, handler, exchange } = answering;
            if let Err(err) = handler.paf_http_handler().exchange().call_write(&mut *store, *exchange, &piece, end).await {
                entry.answering = Err(failed("", "while reading the request body", &err));
            }
        }
        self.progress.note();
        Ok(())
    }

    async fn response(&mut self, exchange: Resource<HandlerExchange>) -> wasmtime::Result<Option<handler::Response>> {
        let entry = self.table.get_mut(&exchange)?;
        if let Ok(answering) = &mut entry.answering {
            let Answering { store, handler, exchange } = answering;
            match handler.paf_http_handler().exchange().call_response(&mut *store, *exchange).await {
                Ok(None) => return Ok(None),
                Ok(Some(head)) => {
                    self.progress.note();
                    return Ok(Some(handler::Response { status: head.status, headers: head.headers, body_length: head.body_length }));
                }
                Err(err) => entry.answering = Err(failed("", "before its response", &err)),
            }
        }
        self.progress.note();
        let Err(failure) = &mut entry.answering else { unreachable!("answered above") };
        failure.head_given = true;
        Ok(Some(handler::Response {
            status: 500,
            headers: vec![("content-type".into(), b"text/plain; charset=utf-8".to_vec())],
            body_length: Some(failure.message.len() as u64),
        }))
    }

    async fn read(&mut self, exchange: Resource<HandlerExchange>, max: u32) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let entry = self.table.get_mut(&exchange)?;
        self.progress.note();
        match &mut entry.answering {
            Ok(Answering { store, handler, exchange }) => {
                match handler.paf_http_handler().exchange().call_read(&mut *store, *exchange, max).await {
                    Ok(piece) => Ok(piece),
                    Err(err) => {
                        let failure = failed("", "while sending its response body", &err);
                        let message = failure.message.trim_end().to_string();
                        entry.answering = Err(Failure { head_given: true, body_given: true, ..failure });
                        Ok(Err(message))
                    }
                }
            }
            Err(failure) if failure.head_given && !failure.body_given => {
                failure.body_given = true;
                Ok(Ok(Some(failure.message.clone().into_bytes())))
            }
            Err(failure) if failure.body_given => Ok(Ok(None)),
            Err(failure) => Ok(Err(failure.message.trim_end().to_string())),
        }
    }

    async fn drop(&mut self, exchange: Resource<HandlerExchange>) -> wasmtime::Result<()> {
        let entry = self.table.delete(exchange)?;
        if let Ok(Answering { mut store, exchange, .. }) = entry.answering {
            // The instance may have trapped since: its store goes regardless.
            let _ = exchange.resource_drop_async(&mut store).await;
        }
        Ok(())
    }
}

/// What a handler's failure costs its request, logged.
fn failed(method: &str, what: &str, err: &wasmtime::Error) -> Failure {
    eprintln!("paf-host: the handler failed on {method} {what}: {err:#}");
    Failure::new(format!("the handler failed: {}", one_line(err)))
}
