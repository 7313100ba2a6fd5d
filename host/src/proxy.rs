//! `paf-host serve --proxy`: any `wasi:http/proxy` component (one that
//! exports `wasi:http/incoming-handler@0.2.x`, as `wasmtime serve`, Spin
//! or Fastly Compute run), served over paf's own engine, natively in this
//! host: HTTP/1.1, h2c, and TLS with HTTP/2 or HTTP/1.1 by ALPN.
//!
//! Each request goes to a fresh instance of the component, through
//! `wasmtime-wasi-http`'s host types, as `wasmtime serve` does on hyper:
//! paf's request body becomes the instance's `incoming-body`, and the
//! instance's `outgoing-body` streams back as paf's response body. Every
//! instance comes from a pool of `--handler-instances` slots, has its
//! linear memory capped (`--max-memory`) and an epoch deadline
//! (`--handler-timeout`) over its whole request, body included: a trap or
//! the deadline before the response head is a 500 for that request; after
//! it, the body ends with an error (a reset on HTTP/2, a closed connection
//! on HTTP/1.1). The instances get no network, files or environment, and
//! `wasi:http/outgoing-handler` refuses to send.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use paf::engine::alpn;
use paf::rt::native::TcpListener;
use paf::{Body, Config, Incoming, StatusCode, Switch};
use tokio::sync::Semaphore;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// What serving a proxy component needs: its pre-instance on an engine
/// whose instances come from a pool, and the caps of each instance.
pub struct Proxy {
    pub pre: ProxyPre<ProxyInstance>,
    /// One permit per slot of the pool: a request beyond them waits.
    pub slots: Arc<Semaphore>,
    pub max_memory: usize,
    /// Epoch ticks an instance may run, over its whole request.
    pub deadline_ticks: u64,
}

/// The data of one instance's store.
pub struct ProxyInstance {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutgoingRequests,
    table: ResourceTable,
    limits: StoreLimits,
}

/// `wasi:http` as its defaults have it, but for outgoing requests, which
/// are refused: a component served here gets no network.
struct NoOutgoingRequests;

type OutgoingResponse = wasmtime_wasi_http::Result<(
    paf::http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for NoOutgoingRequests {
    fn send_request(
        &mut self,
        _request: paf::http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _sent: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = OutgoingResponse> + Send> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for ProxyInstance {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for ProxyInstance {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The linker of the `wasi:http/proxy` world: `wasi:http`, and all of
/// WASI besides (as `wasmtime serve -Scli`): a component built with a
/// language's standard library imports `wasi:cli` and `wasi:filesystem`
/// even when it uses neither. Its `WasiCtx` grants nothing: no files, no
/// network, no environment.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<ProxyInstance>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(linker)
}

/// Serves `proxy` on `listener` (TLS with `tls`) until the process ends.
pub async fn serve(
    proxy: Proxy,
    listener: TcpListener,
    tls: Option<Arc<paf::tls::ServerConfig>>,
    max_connections: usize,
) -> wasmtime::Result<()> {
    let proxy = Arc::new(proxy);
    let handler = paf::service_fn(move |request| answer(proxy.clone(), request));
    let mut config = Config::default();
    config.h2c = true;
    config.max_connections = max_connections;
    let served = match tls {
        Some(tls) => paf::serve(listener, alpn::service(alpn::Tls::new(tls), handler), config, Switch::new()).await,
        None => paf::serve(listener, handler, config, Switch::new()).await,
    };
    served.context("the server failed")
}

/// One request, in a fresh instance of the component.
async fn answer(proxy: Arc<Proxy>, request: paf::Request<Incoming>) -> paf::Response<Body> {
    let method_and_target = format!("{} {}", request.method(), request.uri());
    match instance_answer(proxy, request).await {
        Ok(response) => response,
        Err(err) => {
            eprintln!("paf-host: the component failed on {method_and_target}: {err:#}");
            error_text(StatusCode::INTERNAL_SERVER_ERROR, &format!("the component failed: {}", crate::one_line(&err)))
        }
    }
}

async fn instance_answer(proxy: Arc<Proxy>, request: paf::Request<Incoming>) -> wasmtime::Result<paf::Response<Body>> {
    let slot = proxy.slots.clone().acquire_owned().await?;
    let engine = proxy.pre.engine();
    let limits = StoreLimitsBuilder::new().memory_size(proxy.max_memory).build();
    let instance = ProxyInstance {
        wasi: WasiCtxBuilder::new().inherit_stderr().build(),
        http: WasiHttpCtx::new(),
        hooks: NoOutgoingRequests,
        table: ResourceTable::new(),
        limits,
    };
    let mut store = Store::new(engine, instance);
    store.limiter(|instance| &mut instance.limits);
    store.set_epoch_deadline(proxy.deadline_ticks);
    store.epoch_deadline_trap();

    let scheme = match paf::Connection::of(&request).and_then(paf::Connection::tls) {
        Some(_) => Scheme::Https,
        None => Scheme::Http,
    };
    let request = request.map(|body| body.map_err(|err| wasmtime_wasi_http::Error::InternalError(Some(err.to_string()))));
    let incoming = store.data_mut().http().new_incoming_request(scheme, request)?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let response_out = store.data_mut().http().new_response_outparam(sender)?;

    // The instance runs in a task of its own: it goes on streaming the
    // body after it has set the response head.
    let pre = proxy.pre.clone();
    let task = tokio::spawn(async move {
        let instance = pre.instantiate_async(&mut store).await?;
        let handled = instance.wasi_http_incoming_handler().call_handle(&mut store, incoming, response_out).await;
        drop(store);
        drop(slot);
        handled
    });
    let head: hyper::Response<HyperOutgoingBody> = match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Ok(error_text(StatusCode::INTERNAL_SERVER_ERROR, &format!("the component answered an error: {code:?}"))),
        Err(_) => {
            // The instance ended without a response: its result says why.
            return Err(match task.await {
                Ok(Ok(())) => wasmtime::format_err!("it never set a response"),
                Ok(Err(err)) => err,
                Err(err) => wasmtime::format_err!("its task failed: {err}"),
            });
        }
    };
    Ok(head.map(Body::new))
}

/// A plain-text answer of paf-host's own.
fn error_text(status: StatusCode, message: &str) -> paf::Response<Body> {
    let mut response = paf::Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(paf::http::header::CONTENT_TYPE, paf::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
