//! paf's httpbin as a `wasi:http/proxy` component: it exports
//! `wasi:http/incoming-handler` and answers as `paf serve` does
//! ([`httpbin::answer`], the very code the native command runs), through
//! [`paf::platform::wasi::proxy::handle`], bodies streamed both ways. It
//! runs in `wasmtime serve`, Spin, and `paf-host serve --proxy`.
//!
//! Besides the endpoints, `/trap` and `/spin` misbehave (as in the
//! `paf:http/handler` build, `components/httpbin`), for a host's caps to
//! catch.

#[path = "../../../src/bin/paf/httpbin.rs"]
mod httpbin;
#[path = "../../httpbin/src/misbehaviour.rs"]
mod misbehaviour;

use paf::rt::wasi::Wasi;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Httpbin;

impl wasip2::exports::http::incoming_handler::Guest for Httpbin {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        misbehaviour::on(request.path_with_query().as_deref().map(|target| target.split('?').next().unwrap_or(target)));
        let handler = paf::service_fn(|req| async move { httpbin::answer(req, &Wasi).await });
        paf::platform::wasi::proxy::handle(handler, request, response_out);
    }
}

wasip2::http::proxy::export!(Httpbin);
