//! httpbin: the test server of `paf serve`, one small function per
//! endpoint, on any runtime. The native `paf serve`, the WASI command
//! component (`components/cli`) and the handler component
//! (`components/httpbin`) include this file, so they answer alike.
//!
//! [`answer`] is the whole of httpbin: the endpoints, `/` (a hello and
//! the list of endpoints; GET and HEAD only) and a 404 for any other path.
//! [`endpoint`] answers the endpoints alone and gives any other request
//! back, for a caller that serves something else there (`paf serve
//! --root`: files). Bodies are streamed both ways, never read whole into
//! memory: `/echo` hands the request body straight back as the response
//! body, `/bytes/{n}` is produced chunk by chunk with a known length (so
//! the engine sends `Content-Length`), `/stream/{n}` has no length (so the
//! engine sends it chunked). Bad input is a 4xx with a one-line
//! explanation, never a panic.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use http::header::{self, HeaderValue};
use http_body::{Frame, SizeHint};
use paf::rt::{Peer, Runtime};
use paf::{Body, Connection, Incoming, Method, Request, Response, StatusCode};

/// The response body of every endpoint.
pub type Reply = Body;

/// Largest `/bytes/{n}`.
const MAX_BYTES: u64 = 1 << 30;
/// Most lines of `/stream/{n}`.
const MAX_LINES: u64 = 100_000;
/// Longest `/delay/{ms}`.
const MAX_DELAY_MS: u64 = 60_000;
/// The size of the chunks files and `/bytes/{n}` are sent in.
pub const CHUNK: usize = 64 * 1024;
/// `/bytes/{n}` sends byte `i` as `i % PATTERN_PERIOD`.
const PATTERN_PERIOD: usize = 251;
/// One period of that pattern.
const PERIOD: [u8; PATTERN_PERIOD] = {
    let mut period = [0; PATTERN_PERIOD];
    let mut i = 0;
    while i < PATTERN_PERIOD {
        period[i] = i as u8;
        i += 1;
    }
    period
};

/// `/` and the endpoints, as `/` and `--help` list them.
pub const ENDPOINTS: &str = "\
Endpoints:
  /               this list
  /echo           the request body and Content-Type, streamed back (any method)
  /bytes/N        N bytes, byte i being i % 251, with Content-Length (N <= 1 GiB)
  /stream/N       N JSON lines, sent chunked (N <= 100000)
  /delay/MS       answers after MS milliseconds (MS <= 60000, any method)
  /status/CODE    answers with that status, 200 to 599 (any method)
  /headers        the request headers as a JSON object
  /ip             the peer's address (or name) as JSON (\"origin\")";

/// Answers any request: an endpoint, `/`, or a 404 naming the path. `rt`
/// sleeps for `/delay`.
pub async fn answer(req: Request<Incoming>, rt: &impl Runtime) -> Response<Reply> {
    let req = match endpoint(req, rt).await {
        Ok(response) => return response,
        Err(req) => req,
    };
    match req.uri().path() {
        "/" => only_get(is_read_only(&req), || {
            text(StatusCode::OK, format!("Hello from paf serve.\n\n{ENDPOINTS}"))
        }),
        path => text(StatusCode::NOT_FOUND, format!("no endpoint at {path} (see /)")),
    }
}

/// Answers `req` when its path names an endpoint (`/` is none); gives it
/// back otherwise. `rt` sleeps for `/delay`.
pub async fn endpoint(req: Request<Incoming>, rt: &impl Runtime) -> Result<Response<Reply>, Request<Incoming>> {
    let path = req.uri().path();
    let (name, param) = match path.strip_prefix('/').unwrap_or(path).split_once('/') {
        Some((name, param)) => (name, Some(param)),
        None => (path.strip_prefix('/').unwrap_or(path), None),
    };
    let read_only = is_read_only(&req);
    Ok(match (name, param) {
        ("echo", None) => echo(req).await,
        ("bytes", Some(n)) => only_get(read_only, || bytes(n)),
        ("stream", Some(n)) => only_get(read_only, || stream_lines(n)),
        ("delay", Some(ms)) => delay(ms, rt).await,
        ("status", Some(code)) => status(code),
        ("headers", None) => only_get(read_only, || headers(&req)),
        ("ip", None) => only_get(read_only, || ip(&req)),
        _ => return Err(req),
    })
}

/// Whether `req` only asks to read (GET or HEAD).
pub fn is_read_only(req: &Request<Incoming>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
}

fn only_get(read_only: bool, endpoint: impl FnOnce() -> Response<Reply>) -> Response<Reply> {
    if read_only {
        endpoint()
    } else {
        method_not_allowed()
    }
}

pub fn method_not_allowed() -> Response<Reply> {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "only GET and HEAD are allowed here",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// `/echo`: the request body, streamed back as it arrives, with its
/// content type.
async fn echo(req: Request<Incoming>) -> Response<Reply> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // The engine answers `Expect: 100-continue` itself: a 2xx that keeps
    // the request body tells the client to send it.
    let body = Body::new(req.into_body());
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// `/bytes/{n}`: `n` bytes of a fixed pattern, with `Content-Length`.
fn bytes(n: &str) -> Response<Reply> {
    let n = match parse_number(n, "/bytes/N: N", MAX_BYTES) {
        Ok(n) => n,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    // As much of the pattern as one chunk takes, copied period by period
    // (a handler component is instantiated per request: nothing is kept).
    let whole_periods = PATTERN_PERIOD * (CHUNK / PATTERN_PERIOD);
    let length = usize::try_from(n).map_or(whole_periods, |n| n.min(whole_periods));
    let mut pattern = Vec::with_capacity(length.next_multiple_of(PATTERN_PERIOD));
    while pattern.len() < length {
        pattern.extend_from_slice(&PERIOD);
    }
    pattern.truncate(length);
    let period = Bytes::from(pattern);
    // Every chunk is a whole number of periods long, so each starts the
    // pattern afresh.
    let chunks = stream::unfold(n, move |left| {
        let period = period.clone();
        async move {
            let size = left.min(period.len() as u64);
            (size > 0).then(|| (Ok(period.slice(..size as usize)), left - size))
        }
    });
    let mut response = Response::new(Body::new(KnownLength::new(chunks.boxed(), n)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// `/stream/{n}`: `n` lines of JSON, of no announced length (chunked).
fn stream_lines(n: &str) -> Response<Reply> {
    let n = match parse_number(n, "/stream/N: N", MAX_LINES) {
        Ok(n) => n,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let lines = stream::iter(0..n).map(move |id| {
        Ok::<_, Infallible>(format!(
            "{{\"id\": {id}, \"of\": {n}, \"message\": \"line {} of {n}\"}}\n",
            id + 1
        ))
    });
    let mut response = Response::new(Body::new(Body::stream(lines)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// `/delay/{ms}`: answers after `ms` milliseconds.
async fn delay(ms: &str, rt: &impl Runtime) -> Response<Reply> {
    let ms = match parse_number(ms, "/delay/MS: MS", MAX_DELAY_MS) {
        Ok(ms) => ms,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    rt.sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, format!("answered after {ms} ms"))
}

/// `/status/{code}`: answers with that status.
fn status(code: &str) -> Response<Reply> {
    let status = match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
        Some(code) => StatusCode::from_u16(code).expect("200..=599 are valid status codes"),
        None => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("/status/CODE: CODE must be a number from 200 to 599, got {code:?}"),
            )
        }
    };
    if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        let mut response = Response::new(Body::new(Body::empty()));
        *response.status_mut() = status;
        return response;
    }
    text(status, status.to_string())
}

/// `/headers`: the request headers as a JSON object (repeated fields joined
/// with ", ").
fn headers(req: &Request<Incoming>) -> Response<Reply> {
    let fields: Vec<String> = req
        .headers()
        .keys()
        .map(|name| {
            let values: Vec<String> = req
                .headers()
                .get_all(name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect();
            format!(
                "  {}: {}",
                json_string(name.as_str()),
                json_string(&values.join(", "))
            )
        })
        .collect();
    json(format!("{{\n{}\n}}\n", fields.join(",\n")))
}

/// `/ip`: where the request came from, as httpbin says it: the peer's IP
/// address, or its name where it has none (a Unix socket's peer).
fn ip(req: &Request<Incoming>) -> Response<Reply> {
    let origin = match Connection::of(req).map(Connection::peer) {
        Some(Peer::Ip(address)) => address.ip().to_string(),
        Some(Peer::Name(name)) => name.clone(),
        None => "unknown".to_string(),
    };
    json(format!("{{\n  \"origin\": {}\n}}\n", json_string(&origin)))
}

/// A JSON response.
fn json(json: String) -> Response<Reply> {
    let mut response = Response::new(Body::new(Body::from(json)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

// ---------------------------------------------------------------------------
// Helpers

/// A one-line `text/plain` response.
pub fn text(status: StatusCode, message: impl Into<String>) -> Response<Reply> {
    let mut message = message.into();
    message.push('\n');
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Parses an endpoint's number parameter, at most `max`, or explains why not.
fn parse_number(text: &str, what: &str, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(format!("{what} must be at most {max}")),
        Err(_) => Err(format!(
            "{what} must be a non-negative integer, got {text:?}"
        )),
    }
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A streamed body whose length is known in advance, so the engine sends
/// `Content-Length` (`Body::stream` cannot say so). A stream longer than
/// announced is cut; a shorter one (a file that shrank) is an error, which
/// makes the engine close the connection rather than send a short body.
pub struct KnownLength {
    chunks: BoxStream<'static, io::Result<Bytes>>,
    remaining: u64,
}

impl KnownLength {
    pub fn new(chunks: BoxStream<'static, io::Result<Bytes>>, length: u64) -> Self {
        KnownLength {
            chunks,
            remaining: length,
        }
    }
}

impl http_body::Body for KnownLength {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.chunks.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(mut chunk))) => {
                chunk.truncate(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the body ended {} bytes short of its length",
                    self.remaining
                ),
            )))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
