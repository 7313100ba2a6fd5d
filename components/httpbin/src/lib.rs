//! A `paf:http/handler` component (the `service` world) that answers as
//! `paf serve` does ([`httpbin::answer`], the very code the native command
//! runs): the handler written once, served by the library component
//! (composed with `wac plug`) or by `paf-host --handler`. Bodies stream
//! both ways through the WIT `exchange` resource, which
//! [`paf::platform::wasi::exchange::Exchange`] implements.
//!
//! Besides them, two misbehaviours a host must survive, answering 500 for
//! that request: `/trap` traps and `/spin` never returns (`misbehaviour`).
//! `components/httpbin-proxy` is the same handler for `wasi:http/proxy`.

#[path = "../../../src/bin/paf/httpbin.rs"]
mod httpbin;
mod misbehaviour;

use std::cell::RefCell;

use bindings::exports::paf::http::handler::{Guest, GuestExchange, Request, Response};
use paf::platform::wasi::exchange::Exchange;
use paf::platform::wasi::{from_fields, to_fields};
use paf::rt::wasi::Wasi;
use paf::StatusCode;

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
    type Exchange = HttpbinExchange;
}

/// One request: paf's exchange, and the plain-text answer that replaces
/// its response when the request could not be given to the handler or the
/// handler failed before its head.
struct HttpbinExchange {
    exchange: Option<Exchange>,
    error: RefCell<ErrorAnswer>,
}

enum ErrorAnswer {
    None,
    /// Its head was given; its body is still to read.
    Unsent(String),
    Sent,
}

impl GuestExchange for HttpbinExchange {
    fn new(request: Request) -> HttpbinExchange {
        // An origin form over HTTP/1.1, an absolute URI over HTTP/2.
        let uri = request.uri.parse::<paf::Uri>().ok();
        misbehaviour::on(uri.as_ref().map(paf::Uri::path));
        match to_paf_request(&request) {
            Ok(http_request) => {
                let handler = paf::service_fn(|req| async move { httpbin::answer(req, &Wasi).await });
                let exchange = Exchange::new(handler, http_request, request.body_length, request.peer);
                HttpbinExchange { exchange: Some(exchange), error: RefCell::new(ErrorAnswer::None) }
            }
            Err(err) => HttpbinExchange { exchange: None, error: RefCell::new(ErrorAnswer::Unsent(format!("{err}\n"))) },
        }
    }

    fn write(&self, piece: Vec<u8>, end: bool) {
        if let Some(exchange) = &self.exchange {
            exchange.write(piece.into(), end);
        }
    }

    fn response(&self) -> Option<Response> {
        if let ErrorAnswer::Unsent(message) = &*self.error.borrow() {
            return Some(error_head(StatusCode::BAD_REQUEST, message));
        }
        let exchange = self.exchange.as_ref()?;
        Some(match exchange.response()? {
            Ok(head) => Response {
                status: head.parts.status.as_u16(),
                headers: to_fields(&head.parts.headers),
                body_length: head.body_length,
            },
            Err(err) => {
                let message = format!("{err}\n");
                let head = error_head(StatusCode::INTERNAL_SERVER_ERROR, &message);
                *self.error.borrow_mut() = ErrorAnswer::Unsent(message);
                head
            }
        })
    }

    fn read(&self, max: u32) -> Result<Option<Vec<u8>>, String> {
        let mut error = self.error.borrow_mut();
        match std::mem::replace(&mut *error, ErrorAnswer::Sent) {
            ErrorAnswer::Unsent(message) => return Ok(Some(message.into_bytes())),
            ErrorAnswer::Sent => return Ok(None),
            ErrorAnswer::None => *error = ErrorAnswer::None,
        }
        let exchange = self.exchange.as_ref().ok_or("no request")?;
        match exchange.read(max as usize) {
            Ok(piece) => Ok(piece.map(|piece| piece.to_vec())),
            Err(err) => Err(err.to_string()),
        }
    }
}

fn to_paf_request(request: &Request) -> Result<paf::Request<()>, paf::Error> {
    let invalid = |what: &str, value: &str| paf::Error::InvalidMessage(format!("invalid {what} {value:?}"));
    let mut http_request = paf::Request::new(());
    *http_request.method_mut() = request.method.parse().map_err(|_| invalid("method", &request.method))?;
    *http_request.uri_mut() = request.uri.parse().map_err(|_| invalid("URI", &request.uri))?;
    *http_request.headers_mut() = from_fields(request.headers.clone())?;
    Ok(http_request)
}

/// The head of a plain-text answer of `message`, which `read` gives.
fn error_head(status: StatusCode, message: &str) -> Response {
    Response {
        status: status.as_u16(),
        headers: vec![("content-type".into(), b"text/plain; charset=utf-8".to_vec())],
        body_length: Some(message.len() as u64),
    }
}

bindings::export!(Httpbin with_types_in bindings);
