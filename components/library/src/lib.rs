//! The `paf:http` library component (the `library` world of `wit/`): the
//! paf engine's server and client, exported; a request handler and a
//! resolver, imported. Thin: it translates between WIT and paf, and the
//! engine, TLS and mimic do the rest on [`paf::rt::wasi`].
//!
//! * `server.handle-connection(flow)`: HTTP/1.1 or HTTP/2 (by the ALPN the
//!   host gave, or the h2c preface) on a connection the host accepted;
//!   each request goes to the imported `handler` through an `exchange`,
//!   its bodies streamed both ways (see the WIT `handler`).
//! * `client.send(request)`: over the imported `resolver` first (mimic
//!   priority 90, TLS over it at 45) and the component's own
//!   `wasi:sockets` after (TCP at 100, TLS at 50), so a host that cannot
//!   or will not connect leaves the component its own path.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use exports::paf::http::client::{self, GuestBody};
use exports::paf::http::server;
use http::header::CONTENT_LENGTH;
use http::Method;
use http_body::Body as _;
use http_body_util::BodyExt;
use paf::flow::BoxFuture;
use paf::mimic::{self, req, Ctx, Priority, Value, Witness};
use paf::platform::wasi::{from_fields, serve_handed_in, to_fields};
use paf::platform::{HOST, PORT};
use paf::rt::wasi::{self, Streams};
use paf::rt::Global;
use paf::tls::{self, Endpoint, TlsStream};
use paf::client::ClientBuilder;
use paf::{Body, BoxError, Client, Config, Connection, Incoming, StatusCode};
use bindings::paf::http::{handler, resolver, types};

mod bindings {
    wit_bindgen::generate!({
        world: "library",
        path: "../../wit",
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
        },
    });
}
use bindings::exports;

struct Library;

impl server::Guest for Library {
    fn handle_connection(connection: types::Flow) {
        let streams = into_streams(connection);
        let mut config = Config::default();
        config.h2c = true;
        wasi::block_on(serve_handed_in(streams, paf::service_fn(call_handler), Arc::new(config)));
    }
}

fn into_streams(flow: types::Flow) -> Streams {
    Streams::new(flow.input, flow.output, flow.peer).with_alpn(flow.alpn.map(String::into_bytes))
}

/// One request, through the imported handler: its body written into the
/// handler's exchange as the handler asks for it, the response body read
/// out of it as the engine sends it.
async fn call_handler(request: paf::Request<Incoming>) -> paf::Response<Body> {
    let peer = Connection::of(&request).map_or_else(String::new, |conn| conn.peer().to_string());
    let (parts, body) = request.into_parts();
    let body_length = if body.is_end_stream() { Some(0) } else { body.size_hint().exact() };
    let exchange = handler::Exchange::new(&handler::Request {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: to_fields(&parts.headers),
        body_length,
        peer,
    });
    let mut feeding = Feeding { exchange, body, ended: body_length == Some(0) };
    let answer = loop {
        match feeding.exchange.response() {
            Some(answer) => break answer,
            None => {
                if let Err(err) = feeding.feed().await {
                    return plain(StatusCode::BAD_REQUEST, format!("cannot read the request body: {err}"));
                }
            }
        }
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = match from_fields(answer.headers) {
        Ok(headers) => headers,
        Err(err) => return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("the handler answered {err}")),
    };
    let body = if parts.method == Method::HEAD {
        // No body follows an answer to HEAD: its fields say what a GET's
        // would be (a content-length, or none), and the engine keeps them.
        if headers.contains_key(CONTENT_LENGTH) {
            Body::from(Bytes::new())
        } else {
            Body::stream(futures_util::stream::empty::<Result<Bytes, Infallible>>())
        }
    } else {
        Body::new(HandlerBody { pieces: Box::pin(response_pieces(feeding)), remaining: answer.body_length })
    };
    let mut response = paf::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The most of the response body one `read` asks the handler for.
const READ_MAX: u32 = 64 * 1024;

/// An exchange with the handler, and the request body it is fed from.
struct Feeding {
    exchange: handler::Exchange,
    body: Incoming,
    ended: bool,
}

impl Feeding {
    /// Writes the next piece of the request body into the exchange: the
    /// handler asked for it. An error when there is none left.
    async fn feed(&mut self) -> Result<(), BoxError> {
        if self.ended {
            return Err("the handler waits for more of the request body than came".into());
        }
        match self.body.frame().await {
            None => {
                self.ended = true;
                self.exchange.write(&[], true);
            }
            Some(Err(err)) => return Err(err.into()),
            // Trailers do not cross the interface.
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    self.exchange.write(&data, false);
                }
            }
        }
        Ok(())
    }
}

/// The response body, read from the exchange; the request body is fed to
/// the handler whenever it waits for it.
fn response_pieces(feeding: Feeding) -> impl futures_util::Stream<Item = Result<Bytes, BoxError>> {
    futures_util::stream::try_unfold(feeding, |mut feeding| async move {
        loop {
            match feeding.exchange.read(READ_MAX)? {
                None => return Ok(None),
                Some(piece) if piece.is_empty() => feeding.feed().await?,
                Some(piece) => return Ok(Some((Bytes::from(piece), feeding))),
            }
        }
    })
}

/// A response body streamed from the handler, of the length it announced.
struct HandlerBody {
    pieces: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, BoxError>>>>,
    remaining: Option<u64>,
}

impl http_body::Body for HandlerBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let piece = std::task::ready!(self.pieces.as_mut().poll_next(cx));
        if let Some(Ok(piece)) = &piece {
            self.remaining = self.remaining.map(|remaining| remaining.saturating_sub(piece.len() as u64));
        }
        std::task::Poll::Ready(piece.map(|piece| piece.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.remaining.map_or_else(http_body::SizeHint::default, http_body::SizeHint::with_exact)
    }
}

fn plain(status: StatusCode, message: String) -> paf::Response<Body> {
    let mut response = paf::Response::new(Body::from(message + "\n"));
    *response.status_mut() = status;
    response
}

impl client::Guest for Library {
    type Body = ResponseBody;

    fn send(request: client::Request) -> Result<client::Response, String> {
        wasi::block_on(async {
            let mut http_request = paf::Request::new(Body::from(request.body));
            *http_request.method_mut() = request.method.parse().map_err(|_| format!("invalid method {:?}", request.method))?;
            *http_request.uri_mut() = request.uri.parse().map_err(|err| format!("invalid URL {}: {err}", request.uri))?;
            *http_request.headers_mut() = from_fields(request.headers).map_err(|err| err.to_string())?;
            let response = CLIENT.request(http_request).await.map_err(|err| err.to_string())?;
            let (parts, body) = response.into_parts();
            Ok(client::Response {
                status: parts.status.as_u16(),
                version: format!("{:?}", parts.version),
                headers: to_fields(&parts.headers),
                body: client::Body::new(ResponseBody { body: RefCell::new(body), pending: RefCell::default() }),
            })
        })
    }
}

/// The client of every `send`: its connections are pooled between calls.
static CLIENT: Global<Client> = Global::new(|| {
    ClientBuilder::new(paf::platform::wasi::platform()).context(HOST_RESOLVER.clone()).max_redirects(0).build()
});

/// A response body, read by the caller piece by piece: each read runs the
/// executor until data comes (the connection's task goes on meanwhile).
struct ResponseBody {
    body: RefCell<Incoming>,
    /// What a read got beyond the `max` it asked for.
    pending: RefCell<VecDeque<Bytes>>,
}

impl GuestBody for ResponseBody {
    fn read(&self, max: u32) -> Result<Option<Vec<u8>>, String> {
        let max = (max as usize).max(1);
        if self.pending.borrow().is_empty() {
            let mut body = self.body.borrow_mut();
            loop {
                match wasi::block_on(body.frame()) {
                    None => return Ok(None),
                    Some(Err(err)) => return Err(err.to_string()),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                self.pending.borrow_mut().push_back(data);
                                break;
                            }
                        }
                    }
                }
            }
        }
        let mut pending = self.pending.borrow_mut();
        let mut chunk = pending.pop_front().expect("filled just above");
        if chunk.len() > max {
            pending.push_front(chunk.split_off(max));
        }
        Ok(Some(chunk.to_vec()))
    }
}

/// The priority of the host's resolver: before `wasi:sockets` TCP (100).
const RESOLVER_PRIORITY: Priority = Priority::new(90);
/// TLS over the host's resolver: before TLS over `wasi:sockets` (50).
const RESOLVER_TLS_PRIORITY: Priority = Priority::new(45);

/// A protocol registered with mimic: its endpoint value and its witness.
type Registered<Endpoint, Transport> = (Value<Endpoint>, Witness<Transport>);

/// The imported resolver as a mimic protocol: its endpoint is a host and
/// a port, its flows are [`Streams`].
static RESOLVER: Global<Registered<(String, u16), Streams>> = Global::new(|| {
    mimic::register(
        "host-resolver",
        RESOLVER_PRIORITY,
        mimic::protocol_fn(|(host, port): (String, u16)| async move { connect(&host, port) }),
    )
});

static RESOLVER_TLS: Global<Registered<Endpoint, TlsStream>> =
    Global::new(|| mimic::register("tls-over-host-resolver", RESOLVER_TLS_PRIORITY, TlsOverResolver));

/// The folds that offer the resolver to mimic: for clear text, and under
/// TLS (the context's [`tls::CONFIG`], the Mozilla roots by default).
static HOST_RESOLVER: Global<Ctx> = Global::new(|| {
    Ctx::new()
        .fold(&RESOLVER.0, (req(&HOST), req(&PORT)), |endpoint| async move { Ok(Some(endpoint)) })
        .fold(
            &RESOLVER_TLS.0,
            (req(&HOST), req(&PORT), mimic::dft(&tls::CONFIG, tls::default_client_config())),
            |(host, port, config)| async move {
                let name = host.clone();
                let open = move || {
                    let host = host.clone();
                    async move { Ok(paf::Flow::new(connect(&host, port)?)) }
                };
                Ok(Some(Endpoint::new(config, name, open)))
            },
        )
});

fn connect(host: &str, port: u16) -> Result<Streams, BoxError> {
    let endpoint = resolver::Endpoint { host: host.to_string(), port };
    let flow = resolver::connect(&endpoint).map_err(|why| format!("the host's resolver: {why}"))?;
    Ok(into_streams(flow))
}

/// TLS (rustls, in the component) over a flow of the host's resolver.
struct TlsOverResolver;

impl mimic::Protocol for TlsOverResolver {
    type Endpoint = Endpoint;
    type Transport = TlsStream;

    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Result<TlsStream, BoxError>> {
        Box::pin(async move {
            let flow = (endpoint.open)().await?;
            Ok(tls::connect(endpoint.config.clone(), &endpoint.server_name, flow).await?)
        })
    }
}

bindings::export!(Library with_types_in bindings);
