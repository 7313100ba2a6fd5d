//! The server role of an HTTP/1.1 connection, sans IO: what a request head
//! means, the events it gives, sending responses.

use bytes::Bytes;
use http::header::{CONNECTION, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::conn::sealed::{self, Part};
use super::conn::{invalid, Conn, Phase, Read, Role, Write};
use super::decode::BodyDecoder;
use super::encode::{is_framing, BodyEncoder, HeadWriter};
use super::fields::Present;
use super::input::Upgrade;
use super::scan::{HeadKind, HeadScanner};
use super::{parse, BodyLength, BodySize, ParseError, RequestHead};

/// What the peer's bytes meant.
#[derive(Debug)]
pub enum ServerEvent {
    /// A request head. Its body (if any) follows as `Data` events, then
    /// `Trailers` (chunked only), then `End`.
    Request(RequestHead),
    /// A chunk of the request body.
    Data(Bytes),
    /// The trailer fields of a chunked request body.
    Trailers(HeaderMap),
    /// The request body is complete (also sent for bodiless requests).
    End,
    /// The peer's bytes are not valid HTTP/1.1. The machine has queued the
    /// status response (if no response had started) and will close.
    Error(ParseError),
}

/// The server side of one HTTP/1.1 connection.
///
/// # Contract with the driver
///
/// * [`receive`](ServerConn::receive) only appends to a buffer; parsing is
///   lazy, in [`poll_event`](ServerConn::poll_event). Call `poll_event`
///   when the consumer of body data has room (events are pulled), and until
///   it returns `None` after [`receive_eof`](ServerConn::receive_eof).
/// * Each request gives `Request`, then `Data`*, `Trailers`? and `End`
///   (`End` also for bodiless requests). The next pipelined `Request` comes
///   only once this request's `End` was emitted *and* its response is fully
///   queued ([`send_end`](ServerConn::send_end), or the head of a response
///   without body bytes); its bytes wait in the buffer meanwhile.
/// * A response without body bytes on the wire (HEAD, 1xx, 204, 304, an
///   empty body, an upgrade) is complete when its head is queued; `send_data`
///   (dropped) and `send_end` (no-op) are still accepted for it until the
///   next `send_response`, even after the next `Request` was polled.
/// * [`wants_read`](ServerConn::wants_read) is false once closing, closed,
///   upgraded or at EOF, and while `limits.max_buffer` bytes are buffered —
///   except while a head is being read, where the head limits bound the
///   buffer instead (so a head up to `max_head_bytes` can always arrive).
/// * [`wants_close`](ServerConn::wants_close): once the output is written,
///   close the transport. It turns true only when nothing more will be
///   queued: after the last response is complete, or after an error.
/// * A peer error gives one `Error` event; if no response to that request
///   had started, the machine queues `<status> + connection: close` itself
///   (not for [`ParseError::Incomplete`]: the peer is gone). Then nothing
///   more: `send_*` return [`crate::Error::Closed`].
/// * A response completed while the request body is not all buffered closes
///   the connection after it: where the next request starts is unknown.
/// * After a `101` (or a 2xx to CONNECT) to a request that asked for it, the
///   connection is upgraded: `poll_event` gives at most the request's `End`,
///   [`take_upgrade`](ServerConn::take_upgrade) gives the bytes buffered
///   past the request once.
/// * [`phase`](ServerConn::phase) is `Head` on a new connection and while a
///   head arrives, `Idle` between requests once one was read, `Body` while
///   output is queued or request body bytes there is room for are awaited,
///   and `None` while the response is the handler's to give.
pub type ServerConn = Conn<Server>;

/// The server role of a [`Conn`]: it reads requests and sends responses.
#[derive(Debug)]
pub struct Server {
    request: Exchange,
    /// A request head has been read (the driver's cue for the idle
    /// timeout rather than the header timeout between requests).
    served: bool,
    /// The request the machine answered with an error status was a HEAD.
    failed_head: bool,
    /// A response's header map, emptied, for the next request's fields
    /// (a map's two allocations saved per request, as hyper does).
    recycled_headers: HeaderMap,
    /// The `Date` field of responses whose handler set none.
    date: Option<HeaderValue>,
}

impl Role for Server {}

impl sealed::Role for Server {
    type Event = ServerEvent;
    const NOT_SENDING: &'static str = "no response body is being sent";
    const EOF_IN_HEAD_CLOSES: bool = true;

    fn new() -> Self {
        Server { request: Exchange::default(), served: false, failed_head: false, recycled_headers: HeaderMap::new(), date: None }
    }

    fn open(conn: &mut ServerConn) {
        conn.read = Read::Head(HeadScanner::new(HeadKind::Request));
    }

    fn body_event(part: Part) -> ServerEvent {
        match part {
            Part::Data(data) => ServerEvent::Data(data),
            Part::Trailers(fields) => ServerEvent::Trailers(fields),
            Part::End => ServerEvent::End,
        }
    }

    fn start(conn: &mut ServerConn, head: Bytes) -> Result<ServerEvent, ParseError> {
        let raw = parse::request(&head, &conn.limits, std::mem::take(&mut conn.role.recycled_headers))?;
        let present = Present::of(&raw.headers);
        if present.hosts > 1 || (present.hosts == 0 && raw.version == Version::HTTP_11) {
            return Err(ParseError::BadHost);
        }
        let body = request_body_length(&raw.headers, &present, raw.version)?;
        let http11 = raw.version == Version::HTTP_11;
        let is_connect = raw.method == Method::CONNECT;
        let keep_alive = !present.connection_has(&raw.headers, "close")
            && (http11 || present.connection_has(&raw.headers, "keep-alive"));
        let upgrade = is_connect
            || (http11 && present.upgrade && present.connection_has(&raw.headers, "upgrade"));
        // RFC 9110 §10.1.1: an HTTP/1.0 client cannot expect 100 Continue.
        let expect_continue = http11 && present.expects_continue(&raw.headers);
        conn.role.served = true;
        conn.role.request = Exchange {
            version: raw.version,
            is_head: raw.method == Method::HEAD,
            is_connect,
            wants_upgrade: upgrade,
            expect_continue,
            continue_sent: false,
            end_emitted: false,
            keep_alive,
        };
        conn.keep_alive = keep_alive;
        conn.read = Read::Body(BodyDecoder::new(body));
        conn.write = Write::Waiting;
        Ok(ServerEvent::Request(RequestHead {
            method: raw.method,
            uri: raw.uri,
            version: raw.version,
            headers: raw.headers,
            body,
            expect_continue,
            upgrade,
        }))
    }

    /// A peer error: answer it if no response to this request has begun,
    /// then close.
    fn fail(conn: &mut ServerConn, error: ParseError) -> ServerEvent {
        if matches!(conn.write, Write::Idle | Write::Waiting) && error != ParseError::Incomplete {
            let status = error.status();
            let mut head = HeadWriter::status_line(conn.out.head_buffer(), status, &HeaderMap::new());
            head.field("connection", b"close");
            head.content_length(0);
            conn.role.failed_head = matches!(conn.write, Write::Waiting) && conn.role.request.is_head;
            conn.out.push_withdrawable_head(head.finish());
        }
        conn.shut();
        ServerEvent::Error(error)
    }

    fn received(conn: &mut ServerConn) {
        conn.role.request.end_emitted = true;
        conn.next_exchange_if_done();
    }

    fn sent(conn: &mut ServerConn) {
        conn.finish_response();
    }

    fn waiting_phase(conn: &ServerConn) -> Option<Phase> {
        Some(if conn.is_idle() && conn.role.served { Phase::Idle } else { Phase::Head })
    }
}

/// What answering the current request depends on.
#[derive(Debug, Clone, Copy, Default)]
struct Exchange {
    version: Version,
    is_head: bool,
    is_connect: bool,
    wants_upgrade: bool,
    expect_continue: bool,
    continue_sent: bool,
    end_emitted: bool,
    /// The request allows the connection to stay open (version, `Connection`).
    keep_alive: bool,
}

impl ServerConn {
    /// Queues `100 Continue` if the current request expects it and no
    /// response has started. The driver calls it when the handler first
    /// reads the body.
    pub fn send_continue(&mut self) {
        if matches!(self.write, Write::Waiting)
            && self.role.request.expect_continue
            && !self.role.request.continue_sent
        {
            self.role.request.continue_sent = true;
            self.out
                .push(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
        }
    }

    /// Keeps `headers` (a response's, once sent) to parse the next
    /// request's fields into, unless it grew large.
    pub fn recycle_headers(&mut self, mut headers: HeaderMap) {
        const MAX_RECYCLED: usize = 64;
        if headers.capacity() <= MAX_RECYCLED {
            headers.clear();
            self.role.recycled_headers = headers;
        }
    }

    /// The `Date` field (RFC 9110 §6.6.1) that responses queued from now
    /// on carry when their fields have none: the machine has no clock, its
    /// driver sets this before each response. (Written straight into the
    /// head: cheaper than inserting it into each response's map.)
    pub fn set_date(&mut self, date: Option<HeaderValue>) {
        self.role.date = date;
    }

    /// Queues the response head of the current request.
    ///
    /// The status line is always `HTTP/1.1`; `headers` are written as given
    /// except `transfer-encoding` (the machine frames the body itself) and,
    /// where no body is allowed (1xx, 204, upgrades), `content-length`.
    /// Framing: a `content-length` in `headers` wins and is enforced;
    /// otherwise `Known(n)` adds `content-length: n`, `Empty` adds
    /// `content-length: 0`, `Unknown` is chunked (HTTP/1.1 requests) or
    /// delimited by closing (HTTP/1.0). A HEAD response gets the same
    /// fields and no body; 304 keeps the handler's fields and has no body.
    /// A 1xx other than 101 is an interim response (not sent to HTTP/1.0
    /// clients) and a final one must follow.
    pub fn send_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        body: BodySize,
    ) -> Result<(), crate::Error> {
        match self.write {
            Write::Waiting => {}
            Write::Closed => return Err(crate::Error::Closed),
            Write::Idle => return Err(invalid("no request is waiting for a response")),
            Write::Body(_) | Write::Done => {
                return Err(invalid("the response head was already sent"))
            }
        }
        let request = self.role.request;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            self.send_interim(status, headers);
            return Ok(());
        }
        let upgrade = request.wants_upgrade
            && (status == StatusCode::SWITCHING_PROTOCOLS
                || (request.is_connect && status.is_success()));
        if status == StatusCode::SWITCHING_PROTOCOLS && !upgrade {
            return Err(invalid(
                "101 Switching Protocols answers only a request that asked for an upgrade",
            ));
        }
        let present = Present::of(headers);
        let declared = present
            .content_length(headers)
            .map_err(|_| invalid("the response's content-length field is invalid"))?;
        let says_close = present.connection_has(headers, "close");
        let mut keep_alive = request.keep_alive && !says_close;
        let mut head = HeadWriter::status_line(self.out.head_buffer(), status, headers);

        let encoder = if upgrade || status == StatusCode::NO_CONTENT {
            head.fields(headers, is_framing);
            BodyEncoder::Discard
        } else if status == StatusCode::NOT_MODIFIED || request.is_head {
            // The fields the full response would have had; no body bytes.
            head.fields(headers, |name| name == TRANSFER_ENCODING);
            if declared.is_none() && status != StatusCode::NOT_MODIFIED {
                match body {
                    BodySize::Known(n) => head.content_length(n),
                    BodySize::Empty => head.content_length(0),
                    BodySize::Unknown => {}
                }
            }
            BodyEncoder::Discard
        } else {
            head.fields(headers, |name| name == TRANSFER_ENCODING);
            match (declared, body) {
                (Some(n), _) => BodyEncoder::Length(n),
                (None, BodySize::Known(n)) => {
                    head.content_length(n);
                    BodyEncoder::Length(n)
                }
                (None, BodySize::Empty) => {
                    head.content_length(0);
                    BodyEncoder::Length(0)
                }
                (None, BodySize::Unknown) if request.version == Version::HTTP_11 => {
                    head.field("transfer-encoding", b"chunked");
                    BodyEncoder::Chunked {
                        trailers_sent: false,
                    }
                }
                (None, BodySize::Unknown) => {
                    keep_alive = false;
                    BodyEncoder::UntilClose
                }
            }
        };
        // Known now to end before the request body: say the connection
        // closes. (A streamed response may still see the body arrive.)
        let expecting = request.expect_continue && !request.continue_sent;
        if (encoder.is_complete() || expecting) && !self.request_body_buffered() {
            keep_alive = false;
        }
        if let (false, Some(date)) = (present.date, &self.role.date) {
            head.field("date", date.as_bytes());
        }
        if !upgrade {
            if !keep_alive && !says_close {
                head.field("connection", b"close");
            } else if keep_alive
                && request.version == Version::HTTP_10
                && !present.connection_has(headers, "keep-alive")
            {
                head.field("connection", b"keep-alive");
            }
        }
        self.out.push_head(head.finish());
        self.keep_alive = keep_alive;
        self.completed_at_head = None;

        if upgrade {
            self.upgrade = Upgrade::Pending;
            self.upgrade_end_pending = !request.end_emitted;
            self.read = Read::Closed;
            self.write = Write::Done;
            self.completed_at_head = Some(BodyEncoder::Discard);
        } else if encoder.is_complete() {
            self.completed_at_head = Some(encoder);
            self.finish_response();
        } else {
            self.write = Write::Body(encoder);
        }
        Ok(())
    }

    /// Answers a request that will not be served, then closes: `status`,
    /// the `headers` except the framing fields (`content-length`,
    /// `transfer-encoding`, `connection`), `connection: close`,
    /// `content-length` and `body` (not sent to a HEAD request).
    ///
    /// Right after an [`Error`](ServerEvent::Error) event it replaces the
    /// status response the machine queued for it; otherwise it is
    /// accepted while no response has started (a driver that answers its
    /// header timeout with `408`). Returns false, queueing nothing, when it
    /// is too late: a response has started, the machine queued none for
    /// the error, or some of it was already written. A `status` that
    /// cannot carry a body (1xx, 204, 304) is refused too.
    pub fn answer_error(&mut self, status: StatusCode, headers: &HeaderMap, body: Bytes) -> bool {
        let no_body = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        if no_body || !self.may_answer_error() {
            return false;
        }
        let to_head = match self.write {
            Write::Idle => false,
            Write::Waiting => self.role.request.is_head,
            _ => {
                self.out.withdraw();
                self.role.failed_head
            }
        };
        let mut head = HeadWriter::status_line(self.out.head_buffer(), status, headers);
        head.fields(headers, |name| is_framing(name) || name == CONNECTION);
        head.field("connection", b"close");
        head.content_length(body.len() as u64);
        self.out.push_head(head.finish());
        if !to_head {
            self.out.push(body);
        }
        self.shut();
        true
    }

    /// Whether [`answer_error`](Self::answer_error) would be accepted now
    /// (with a status that can carry a body).
    pub fn may_answer_error(&self) -> bool {
        match self.write {
            Write::Idle | Write::Waiting => true,
            Write::Closed => self.out.is_withdrawable(),
            Write::Body(_) | Write::Done => false,
        }
    }

    /// Whether the connection is between requests with nothing buffered and
    /// nothing queued (the driver's cue for the idle timeout rather than
    /// the header timeout).
    pub fn is_idle(&self) -> bool {
        matches!(self.read, Read::Head(_))
            && matches!(self.write, Write::Idle)
            && self.input.buf.is_empty()
            && self.out.is_empty()
            && !self.close
    }

    /// Whether some bytes of the next request head have arrived, but not
    /// all of it (the driver's cue for the header timeout).
    pub fn is_reading_head(&self) -> bool {
        matches!(self.read, Read::Head(_)) && !self.input.buf.is_empty() && !self.close
    }


    fn send_interim(&mut self, status: StatusCode, headers: &HeaderMap) {
        if self.role.request.version == Version::HTTP_10 {
            return;
        }
        if status == StatusCode::CONTINUE {
            if self.role.request.continue_sent {
                return;
            }
            self.role.request.continue_sent = true;
        }
        let mut head = HeadWriter::status_line(self.out.head_buffer(), status, headers);
        head.fields(headers, is_framing);
        self.out.push_head(head.finish());
    }

    /// Whether the rest of the request body is in the buffer already.
    fn request_body_buffered(&self) -> bool {
        match &self.read {
            Read::Body(decoder) => decoder.completes_within(&self.input.buf, &self.limits),
            _ => true,
        }
    }

    fn finish_response(&mut self) {
        self.write = Write::Done;
        if !self.request_body_buffered() {
            // Where the next request would start is unknown.
            self.keep_alive = false;
        }
        if !self.keep_alive {
            self.close = true;
        }
        self.next_exchange_if_done();
    }

    /// Once both the request and its response are complete, starts reading
    /// the next request, or closes.
    fn next_exchange_if_done(&mut self) {
        if !(matches!(self.read, Read::Done) && matches!(self.write, Write::Done)) {
            return;
        }
        if self.keep_alive && !(self.input.eof && self.input.buf.is_empty()) {
            self.read = Read::Head(HeadScanner::new(HeadKind::Request));
            self.write = Write::Idle;
        } else {
            self.read = Read::Closed;
            self.close = true;
        }
    }

}

/// How a request's body is framed (RFC 9112 §6.3), refusing every ambiguity.
fn request_body_length(
    headers: &HeaderMap,
    present: &Present,
    version: Version,
) -> Result<BodyLength, ParseError> {
    if present.transfer_encoding && present.content_length {
        return Err(ParseError::LengthAndTransferEncoding);
    }
    if let Some(codings) = present.transfer_codings(headers)? {
        if version != Version::HTTP_11 || codings.chunked != 1 || !codings.chunked_last {
            return Err(ParseError::InvalidTransferEncoding);
        }
        if codings.others {
            return Err(ParseError::BadTransferEncoding);
        }
        return Ok(BodyLength::Chunked);
    }
    Ok(match present.content_length(headers)? {
        Some(n) => BodyLength::Known(n),
        None => BodyLength::Empty,
    })
}
