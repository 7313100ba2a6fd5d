//! A paf [`Handler`] as a `wasi:http/proxy` component: [`handle`] answers
//! one `wasi:http/incoming-handler.handle` call, so that a handler written
//! for paf runs in any host of the standard world (`wasmtime serve`, Spin,
//! Fastly Compute, wasmCloud, `paf-host`).
//!
//! Bodies stream both ways: the request body is read from the host's
//! `incoming-body` stream as the handler reads it, and the response body
//! is written to the `outgoing-body` stream frame by frame as the handler
//! produces it, trailers included. The handler gets its request through
//! [`call`](super::call), so it sees a real [`Incoming`](crate::Incoming)
//! whose length is the `content-length` the host gave (or none).
//!
//! What `wasi:http` 0.2 does not carry: the peer's address (the handler's
//! [`Connection`](crate::Connection) names its peer [`PEER`]), and the
//! fields the standard forbids a component to set (`connection`,
//! `transfer-encoding`, `host`, …: the host frames the message itself), which
//! are left out of the response. The `host` field of the request is made
//! from the request's authority, first, as HTTP/1.1 clients send it.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method as WasiMethod, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};

use super::call;
use crate::rt::wasi::{block_on, Streams};
use crate::{Body, Error, Handler, Request, Response};

/// The peer the handler's [`Connection`](crate::Connection) names:
/// `wasi:http` 0.2 does not say who sent a request.
pub const PEER: &str = "wasi-http-client";

/// How much of the request body one read takes from the host's stream.
const READ_CHUNK: usize = 64 * 1024;

/// Answers `request` with `handler`, into `response_out`, to the end of
/// the response body: the whole of a `wasi:http/incoming-handler.handle`.
/// A request the handler cannot be given, or a handler that fails before
/// its head, is a 500 or the `error-code` that says why; a failure after
/// the head ends the body with an error, which the host turns into a
/// reset (HTTP/2) or a closed connection (HTTP/1.1).
///
/// ```ignore
/// struct Component;
/// impl wasip2::exports::http::incoming_handler::Guest for Component {
///     fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
///         paf::platform::wasi::http::handle(paf::service_fn(my_handler), request, response_out);
///     }
/// }
/// wasip2::http::proxy::export!(Component);
/// ```
pub fn handle<H: Handler>(handler: H, request: IncomingRequest, response_out: ResponseOutparam) {
    block_on(async move {
        let mut request = match to_paf_request(request) {
            Ok(request) => request,
            Err(err) => {
                ResponseOutparam::set(response_out, Err(ErrorCode::HttpRequestDenied));
                tracing::debug!("wasi:http request refused: {err}");
                return;
            }
        };
        request.body_mut().find_out_if_empty().await;
        let request = request.map(Body::new);
        let response = match call(handler, request, PEER).await {
            Ok(response) => response,
            Err(err) => {
                ResponseOutparam::set(response_out, Err(ErrorCode::InternalError(Some(err.to_string()))));
                return;
            }
        };
        if let Err(err) = send(response, response_out).await {
            tracing::debug!("wasi:http response body: {err}");
        }
    })
}

/// The host's request as paf's: method, origin-form target, fields (with
/// `host` from the authority), and a body streamed from the host.
fn to_paf_request(incoming: IncomingRequest) -> Result<Request<HostBody>, Error> {
    let invalid = |what: &str| Error::InvalidMessage(format!("the host gave an invalid {what}"));
    let method = match incoming.method() {
        WasiMethod::Get => http::Method::GET,
        WasiMethod::Head => http::Method::HEAD,
        WasiMethod::Post => http::Method::POST,
        WasiMethod::Put => http::Method::PUT,
        WasiMethod::Delete => http::Method::DELETE,
        WasiMethod::Connect => http::Method::CONNECT,
        WasiMethod::Options => http::Method::OPTIONS,
        WasiMethod::Trace => http::Method::TRACE,
        WasiMethod::Patch => http::Method::PATCH,
        WasiMethod::Other(name) => name.parse().map_err(|_| invalid("method"))?,
    };
    let target = incoming.path_with_query().unwrap_or_else(|| "/".to_string());
    let mut headers = HeaderMap::new();
    // First, where an HTTP/1.1 client puts it.
    if let Some(authority) = incoming.authority() {
        headers.insert(header::HOST, HeaderValue::from_str(&authority).map_err(|_| invalid("authority"))?);
    }
    for (name, value) in incoming.headers().entries() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("field name"))?;
        if name != header::HOST {
            headers.append(name, HeaderValue::from_bytes(&value).map_err(|_| invalid("field value"))?);
        }
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse().ok());
    let body = incoming.consume().map_err(|()| invalid("request: its body was taken"))?;
    let stream = body.stream().map_err(|()| invalid("request: its body has no stream"))?;
    let body = HostBody { reader: Streams::reading(stream), _body: body, remaining: length, first: None };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = target.parse().map_err(|_| invalid("request target"))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A request body as the host streams it in.
struct HostBody {
    // The stream goes before the body it is a child of.
    reader: Streams,
    _body: IncomingBody,
    /// What `content-length` announced and has not come yet.
    remaining: Option<u64>,
    /// The first piece, read ahead by [`HostBody::find_out_if_empty`].
    first: Option<Result<Frame<Bytes>, std::io::Error>>,
}

impl HostBody {
    /// A request without `content-length` came with no body or with a
    /// chunked one (the host keeps `transfer-encoding` to itself): reads
    /// its first piece to know which, so that a body-less GET reaches the
    /// handler as one, as it would from a socket.
    async fn find_out_if_empty(&mut self) {
        if self.remaining.is_some() {
            return;
        }
        match self.frame().await {
            None => self.remaining = Some(0),
            first => self.first = first,
        }
    }
}

impl http_body::Body for HostBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        let mut chunk = BytesMut::zeroed(READ_CHUNK);
        let mut buf = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.reader).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n == 0 {
            return Poll::Ready(None);
        }
        chunk.truncate(n);
        self.remaining = self.remaining.map(|remaining| remaining.saturating_sub(n as u64));
        Poll::Ready(Some(Ok(Frame::data(chunk.freeze()))))
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map_or_else(SizeHint::default, SizeHint::with_exact)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Sends the head of `response` through `response_out`, then its body
/// frame by frame and its trailers.
async fn send(response: Response<crate::Incoming>, response_out: ResponseOutparam) -> Result<(), Error> {
    let (parts, mut body) = response.into_parts();
    let outgoing = OutgoingResponse::new(to_wasi_fields(&parts.headers));
    // Any status paf's engine produced is one wasi:http takes (100-999).
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let Ok(outgoing_body) = outgoing.body() else {
        ResponseOutparam::set(response_out, Err(ErrorCode::InternalError(Some("no response body".into()))));
        return Ok(());
    };
    ResponseOutparam::set(response_out, Ok(outgoing));
    let Ok(stream) = outgoing_body.write() else {
        return Err(Error::InvalidMessage("the host gave no response body stream".into()));
    };
    let mut writer = Streams::writing(stream);
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(data) => writer.write_all(&data).await?,
            Err(frame) => trailers = frame.into_trailers().ok().map(|trailers| to_wasi_fields(&trailers)),
        }
    }
    writer.shutdown().await?;
    drop(writer);
    OutgoingBody::finish(outgoing_body, trailers).map_err(|err| Error::InvalidMessage(format!("the host refused the end of the body: {err:?}")))
}

/// `headers` as `wasi:http` fields, without those a component may not
/// set (the host frames the message and manages the connection).
fn to_wasi_fields(headers: &HeaderMap) -> Fields {
    let fields = Fields::new();
    for (name, value) in headers {
        // Forbidden or invalid: the host refuses it, the rest goes on.
        let _ = fields.append(name.as_str(), value.as_bytes());
    }
    fields
}
