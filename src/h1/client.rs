//! The client role of an HTTP/1.1 connection, sans IO: sending requests,
//! what a response head means, the events it gives.

use bytes::Bytes;
use http::header::{HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::conn::sealed::{self, Part};
use super::conn::{invalid, Conn, Phase, Read, Role, Write};
use super::decode::BodyDecoder;
use super::encode::{BodyEncoder, HeadWriter};
use super::fields::Present;
use super::input::Upgrade;
use super::parse::{self, RawResponse};
use super::scan::{HeadKind, HeadScanner};
use super::{BodyLength, BodySize, ParseError, ResponseHead};

/// What the peer's bytes meant.
#[derive(Debug)]
pub enum ClientEvent {
    /// An interim response (1xx other than 101), e.g. `100 Continue`.
    Informational(ResponseHead),
    /// The final response head. Its body follows as `Data`, `Trailers`, `End`.
    Response(ResponseHead),
    /// A chunk of the response body.
    Data(Bytes),
    /// The trailer fields of a chunked response body.
    Trailers(HeaderMap),
    /// The response body is complete (also sent for bodiless responses).
    End,
    /// The peer's bytes are not valid HTTP/1.1; the connection must close.
    Error(ParseError),
}

/// The client side of one HTTP/1.1 connection.
///
/// # Contract with the driver
///
/// * One exchange at a time (no pipelining): [`send_request`](ClientConn::send_request)
///   is accepted only when [`is_idle`](ClientConn::is_idle).
/// * Events per exchange: `Informational`* (1xx other than 101), then
///   `Response`, `Data`*, `Trailers`?, `End` (`End` also for bodiless and
///   upgrade responses). A response may arrive while the request body is
///   still being sent.
/// * The request body goes out only while [`may_send_body`](ClientConn::may_send_body):
///   with `Expect: 100-continue` that waits for a `100` or
///   [`continue_anyway`](ClientConn::continue_anyway). If a final response
///   comes first, the body is abandoned: `send_data`/`send_end` are then
///   accepted and dropped, and the connection closes after the exchange.
/// * Response framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204,
///   304; an upgrade for 101 (to a request that asked for one) and for a
///   2xx to CONNECT; chunked when it is the final transfer coding; until
///   close when another coding is final or nothing gives a length; else
///   `Content-Length`. A coding before `chunked` is not undone: the data is
///   passed on as it came.
/// * [`wants_close`](ClientConn::wants_close) turns true once the exchange
///   is over (or failed) and the connection must not be reused: the
///   response said `Connection: close` or is HTTP/1.0 without keep-alive,
///   its body was delimited by closing, `Content-Length` came with
///   `Transfer-Encoding`, the request said `Connection: close`, or the
///   request body was not sent. If the server ends its response and closes
///   while the body is still being sent, it is true at the response's `End`.
/// * A peer error gives one `Error` event, then nothing: close.
/// * Bytes from the server with no request outstanding are an error (a
///   pooled connection that got e.g. a `408` must not be reused).
/// * [`phase`](ClientConn::phase) is `Idle` with no request outstanding,
///   `Body` while output is queued or response body bytes there is room for
///   are awaited, and `None` otherwise: the server taking its time to answer
///   is the caller's to bound.
pub type ClientConn = Conn<Client>;

/// The client role of a [`Conn`]: it sends requests and reads responses.
#[derive(Debug)]
pub struct Client {
    request: Exchange,
    names: parse::NameCache,
}

impl Role for Client {}

impl sealed::Role for Client {
    type Event = ClientEvent;
    const NOT_SENDING: &'static str = "no request body is being sent";
    const EOF_IN_HEAD_CLOSES: bool = false;

    fn new() -> Self {
        Client { request: Exchange::default(), names: parse::NameCache::default() }
    }

    fn open(_: &mut ClientConn) {}

    fn body_event(part: Part) -> ClientEvent {
        match part {
            Part::Data(data) => ClientEvent::Data(data),
            Part::Trailers(fields) => ClientEvent::Trailers(fields),
            Part::End => ClientEvent::End,
        }
    }

    fn start(conn: &mut ClientConn, head: Bytes) -> Result<ClientEvent, ParseError> {
        let raw = parse::response(&head, &conn.limits, &mut conn.role.names)?;
        let status = raw.status;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            if status == StatusCode::CONTINUE {
                conn.role.request.awaiting_continue = false;
            }
            conn.read = Read::Head(HeadScanner::new(HeadKind::Response));
            return Ok(ClientEvent::Informational(response_head(
                raw,
                BodyLength::Empty,
            )));
        }
        let upgrade = conn.role.request.wants_upgrade
            && (status == StatusCode::SWITCHING_PROTOCOLS
                || (conn.role.request.is_connect && status.is_success()));
        if status == StatusCode::SWITCHING_PROTOCOLS && !upgrade {
            return Err(ParseError::Malformed(
                "101 Switching Protocols without an upgrade request",
            ));
        }
        if conn.role.request.awaiting_continue {
            // RFC 9110 §10.1.1: a final status instead of 100 Continue; the
            // server will not read a body it did not ask for.
            conn.role.request.awaiting_continue = false;
            conn.role.request.body_abandoned = true;
            conn.keep_alive = false;
        }
        if upgrade {
            conn.upgrade = Upgrade::Pending;
            conn.read = Read::Closed;
            conn.upgrade_end_pending = true;
            return Ok(ClientEvent::Response(response_head(raw, BodyLength::Empty)));
        }
        let present = Present::of(&raw.headers);
        let (body, framing_closes) = conn.response_body_length(&raw, &present)?;
        let closes = present.connection_has(&raw.headers, "close");
        let stays_open = if raw.version == Version::HTTP_11 {
            !closes
        } else {
            present.connection_has(&raw.headers, "keep-alive") && !closes
        };
        conn.keep_alive &= stays_open && !framing_closes;
        conn.read = Read::Body(BodyDecoder::new(body));
        Ok(ClientEvent::Response(response_head(raw, body)))
    }

    fn fail(conn: &mut ClientConn, error: ParseError) -> ClientEvent {
        conn.shut();
        ClientEvent::Error(error)
    }

    fn received(conn: &mut ClientConn) {
        conn.finish_exchange_if_done();
    }

    fn sent(conn: &mut ClientConn) {
        conn.write = Write::Done;
        conn.finish_exchange_if_done();
    }

    /// The server taking its time to answer is the caller's to bound (a
    /// request timeout), not a stall: only an idle connection has a timeout.
    fn waiting_phase(conn: &ClientConn) -> Option<Phase> {
        matches!(conn.read, Read::Idle).then_some(Phase::Idle)
    }

    /// A final response came before `100 Continue`: the body is not sent.
    fn drops_body(&self) -> bool {
        self.request.body_abandoned
    }

    fn may_queue(&self) -> Result<(), crate::Error> {
        if self.request.awaiting_continue {
            return Err(invalid(
                "the request body must wait for 100 Continue (see may_send_body)",
            ));
        }
        Ok(())
    }
}

/// What reading the current response depends on.
#[derive(Debug, Clone, Copy, Default)]
struct Exchange {
    is_head: bool,
    is_connect: bool,
    wants_upgrade: bool,
    awaiting_continue: bool,
    /// A final response came before `100 Continue`: the body is not sent.
    body_abandoned: bool,
}

impl ClientConn {
    /// Queues a request head.
    ///
    /// The target is origin-form (path and query, `/` if empty), `*` when
    /// the path is `*`, authority-form for CONNECT. `Host` is added from
    /// `uri` when absent (without the scheme's default port).
    /// `transfer-encoding` in `headers` is dropped: the machine frames the
    /// body. A `content-length` in `headers` wins and is enforced;
    /// otherwise `Known(n)` adds `content-length: n`, `Unknown` is chunked,
    /// `Empty` adds `content-length: 0` for POST, PUT and PATCH only.
    pub fn send_request(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: BodySize,
    ) -> Result<(), crate::Error> {
        if self.close {
            return Err(crate::Error::Closed);
        }
        if !self.is_idle() {
            return Err(invalid(
                "a request is already in progress on this connection",
            ));
        }
        let is_connect = method == Method::CONNECT;
        let target = request_target(method, uri)?;
        let present = Present::of(headers);
        let declared = present
            .content_length(headers)
            .map_err(|_| invalid("the request's content-length field is invalid"))?;
        let mut head = HeadWriter::request_line(self.out.head_buffer(), method, &target, headers);
        if present.hosts == 0 {
            head.field(HOST.as_str(), host_value(uri)?.as_bytes());
        }
        head.fields(headers, |name| name == TRANSFER_ENCODING);
        let encoder = match (declared, body) {
            (Some(n), _) => BodyEncoder::Length(n),
            (None, BodySize::Known(n)) => {
                head.content_length(n);
                BodyEncoder::Length(n)
            }
            (None, BodySize::Unknown) => {
                head.field("transfer-encoding", b"chunked");
                BodyEncoder::Chunked {
                    trailers_sent: false,
                }
            }
            (None, BodySize::Empty) => {
                if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
                    head.content_length(0);
                }
                BodyEncoder::Length(0)
            }
        };
        self.out.push_head(head.finish());

        let has_body = !encoder.is_complete();
        self.role.request = Exchange {
            is_head: method == Method::HEAD,
            is_connect,
            wants_upgrade: is_connect
                || (present.upgrade && present.connection_has(headers, "upgrade")),
            awaiting_continue: has_body && present.expects_continue(headers),
            body_abandoned: false,
        };
        self.keep_alive = !present.connection_has(headers, "close");
        self.completed_at_head = (!has_body).then_some(encoder);
        self.write = if has_body {
            Write::Body(encoder)
        } else {
            Write::Done
        };
        self.read = Read::Head(HeadScanner::new(HeadKind::Response));
        Ok(())
    }

    /// Whether the request body may be sent now (false while waiting for
    /// `100 Continue`, and after a final response that makes it moot).
    pub fn may_send_body(&self) -> bool {
        matches!(self.write, Write::Body(_))
            && !self.role.request.awaiting_continue
            && !self.role.request.body_abandoned
    }

    /// The driver's `100 Continue` wait ran out: send the body anyway.
    pub fn continue_anyway(&mut self) {
        self.role.request.awaiting_continue = false;
    }

    /// Whether the connection stays open once the exchange in progress is
    /// over, as far as what was sent and received says so far: no
    /// `Connection: close` either way, a keep-alive HTTP/1.0 response,
    /// framing that does not end at the close, no upgrade.
    pub fn keeps_alive(&self) -> bool {
        self.keep_alive && !self.close && self.upgrade == Upgrade::None
    }

    /// Whether a new request may be sent (the previous exchange is over and
    /// the connection stays open).
    pub fn is_idle(&self) -> bool {
        matches!(self.read, Read::Idle)
            && matches!(self.write, Write::Idle)
            && !self.close
            && self.input.buf.is_empty()
    }


    /// How a final response's body is framed (RFC 9112 §6.3), and whether
    /// that framing means the connection closes after it.
    fn response_body_length(
        &self,
        raw: &RawResponse,
        present: &Present,
    ) -> Result<(BodyLength, bool), ParseError> {
        let status = raw.status;
        if self.role.request.is_head
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok((BodyLength::Empty, false));
        }
        if let Some(codings) = present.transfer_codings(&raw.headers)? {
            if !codings.chunked_last {
                return Ok((BodyLength::UntilClose, true));
            }
            if codings.chunked > 1 {
                return Err(ParseError::InvalidTransferEncoding);
            }
            // With Content-Length too, or on HTTP/1.0, the framing is
            // suspect: use it for this response, then close (RFC 9112 §6.1).
            let suspect = present.content_length || raw.version == Version::HTTP_10;
            return Ok((BodyLength::Chunked, suspect));
        }
        Ok(match present.content_length(&raw.headers)? {
            Some(n) => (BodyLength::Known(n), false),
            None => (BodyLength::UntilClose, true),
        })
    }

    /// Once the response and the request body are both done, the
    /// connection is ready for the next exchange or closes. A response that
    /// closes the connection ends the exchange even if the body is still
    /// being sent.
    fn finish_exchange_if_done(&mut self) {
        if !matches!(self.read, Read::Done) {
            return;
        }
        let body_done = matches!(self.write, Write::Done) || self.role.request.body_abandoned;
        if self.keep_alive && !self.input.eof {
            if body_done {
                self.read = Read::Idle;
                self.write = Write::Idle;
            }
        } else {
            self.shut();
        }
    }
}

fn response_head(raw: RawResponse, body: BodyLength) -> ResponseHead {
    ResponseHead {
        status: raw.status,
        version: raw.version,
        headers: raw.headers,
        body,
    }
}

fn request_target<'a>(
    method: &Method,
    uri: &'a Uri,
) -> Result<std::borrow::Cow<'a, str>, crate::Error> {
    if method == Method::CONNECT {
        return match uri.authority() {
            Some(authority) if uri.port().is_some() => Ok(authority.as_str().into()),
            _ => Err(invalid("a CONNECT request needs a host:port target")),
        };
    }
    Ok(match uri.path_and_query().map(|pq| pq.as_str()) {
        None | Some("") => "/".into(),
        Some(target) if target.starts_with('/') || target == "*" => target.into(),
        Some(target) => format!("/{target}").into(),
    })
}

/// `Host` from the URI's authority, without user info, and without the
/// port when it is the scheme's default.
fn host_value(uri: &Uri) -> Result<&str, crate::Error> {
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("the request has no Host field and its URI no authority"))?;
    let default_port = match uri.scheme_str() {
        Some("http" | "ws") => Some(80),
        Some("https" | "wss") => Some(443),
        _ => None,
    };
    // The authority's own text, less any user info (and the port, when it
    // is the default): no formatting on the path of every request.
    let text = authority.as_str();
    let host_port = text.rsplit_once('@').map_or(text, |(_, host_port)| host_port);
    // The port is what follows the last colon when only digits do (in
    // "[::1]" they do not); the `Uri` parser checked the rest.
    Ok(match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            match port.parse::<u16>().ok() {
                Some(port) if Some(port) != default_port => host_port,
                _ => host,
            }
        }
        _ => host_port,
    })
}
