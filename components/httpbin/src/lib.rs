//! A `paf:http/handler` component (the `service` world) that answers as
//! `paf serve` does ([`httpbin::answer`], the very code the native command
//! runs): the handler written once, served by the library component
//! (composed with `wac plug`) or by `paf-host --handler`.
//!
//! Besides them, two misbehaviours a host must survive, answering 500 for
//! that request: `/trap` traps and `/spin` never returns (`misbehaviour`).
//! `components/httpbin-proxy` is the same handler for `wasi:http/proxy`.

#[path = "../../../src/bin/paf/httpbin.rs"]
mod httpbin;
mod misbehaviour;

use bytes::Bytes;
use bindings::exports::paf::http::handler::{Guest, Request, Response};
use http_body_util::BodyExt;
use paf::platform::wasi::{call, from_fields, to_fields};
use paf::rt::wasi::{self, Wasi};
use paf::{Body, StatusCode};

mod bindings {
    wit_bindgen::generate!({
        world: "service",
        path: "../../wit",
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
        },
    });
}

struct Httpbin;

impl Guest for Httpbin {
    fn handle(request: Request) -> Response {
        // An origin form over HTTP/1.1, an absolute URI over HTTP/2.
        let uri = request.uri.parse::<paf::Uri>().ok();
        misbehaviour::on(uri.as_ref().map(paf::Uri::path));
        wasi::block_on(async {
            match answer(request).await {
                Ok(response) => response,
                Err(err) => Response {
                    status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
                    headers: vec![("content-type".into(), b"text/plain; charset=utf-8".to_vec())],
                    body: format!("{err}\n").into_bytes(),
                },
            }
        })
    }
}

async fn answer(request: Request) -> Result<Response, paf::Error> {
    let headers = from_fields(request.headers)?;
    // A body that came chunked goes on as one of no announced length, as
    // the handler would get it from a socket.
    let mut http_request = paf::Request::new(Body::framed_as(&headers, request.body));
    *http_request.method_mut() = request.method.parse().map_err(|_| invalid("method", &request.method))?;
    *http_request.uri_mut() = request.uri.parse().map_err(|_| invalid("URI", &request.uri))?;
    *http_request.headers_mut() = headers;
    let handler = paf::service_fn(|req| async move { httpbin::answer(req, &Wasi).await });
    let response = call(handler, http_request, &request.peer).await?;
    let (parts, body) = response.into_parts();
    let body: Bytes = body.collect().await?.to_bytes();
    Ok(Response { status: parts.status.as_u16(), headers: to_fields(&parts.headers), body: body.to_vec() })
}

fn invalid(what: &str, value: &str) -> paf::Error {
    paf::Error::InvalidMessage(format!("invalid {what} {value:?}"))
}

bindings::export!(Httpbin with_types_in bindings);
