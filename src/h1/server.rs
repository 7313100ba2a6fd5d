//! The server side of an HTTP/1.1 connection, sans IO.
//!
//! # Contract with the driver
//!
//! * [`receive`](ServerConn::receive) only appends to a buffer; parsing is
//!   lazy, in [`poll_event`](ServerConn::poll_event). Call `poll_event`
//!   when the consumer of body data has room (events are pulled), and until
//!   it returns `None` after [`receive_eof`](ServerConn::receive_eof).
//! * Each request gives `Request`, then `Data`*, `Trailers`? and `End`
//!   (`End` also for bodiless requests). The next pipelined `Request` comes
//!   only once this request's `End` was emitted *and* its response is fully
//!   queued ([`send_end`](ServerConn::send_end), or the head of a response
//!   without body bytes); its bytes wait in the buffer meanwhile.
//! * A response without body bytes on the wire (HEAD, 1xx, 204, 304, an
//!   empty body, an upgrade) is complete when its head is queued; `send_data`
//!   (dropped) and `send_end` (no-op) are still accepted for it until the
//!   next `send_response`, even after the next `Request` was polled.
//! * [`wants_read`](ServerConn::wants_read) is false once closing, closed,
//!   upgraded or at EOF, and while `limits.max_buffer` bytes are buffered —
//!   except while a head is being read, where the head limits bound the
//!   buffer instead (so a head up to `max_head_bytes` can always arrive).
//! * [`wants_close`](ServerConn::wants_close): once the output is written,
//!   close the transport. It turns true only when nothing more will be
//!   queued: after the last response is complete, or after an error.
//! * A peer error gives one `Error` event; if no response to that request
//!   had started, the machine queues `<status> + connection: close` itself
//!   (not for [`ParseError::Incomplete`]: the peer is gone). Then nothing
//!   more: `send_*` return [`crate::Error::Closed`].
//! * A response completed while the request body is not all buffered closes
//!   the connection after it: where the next request starts is unknown.
//! * After a `101` (or a 2xx to CONNECT) to a request that asked for it, the
//!   connection is upgraded: `poll_event` gives at most the request's `End`,
//!   [`take_upgrade`](ServerConn::take_upgrade) gives the bytes buffered
//!   past the request once.

use bytes::{Bytes, BytesMut};
use http::header::TRANSFER_ENCODING;
use http::{HeaderMap, Method, StatusCode, Version};

use super::decode::BodyDecoder;
use super::encode::{is_framing, BodyEncoder, HeadWriter};
use super::fields::Present;
use super::input::{Decoded, Input, Upgrade};
use super::scan::{HeadKind, HeadScanner};
use super::{parse, BodyLength, BodySize, Limits, ParseError, RequestHead, WriteQueue};

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

/// The server side of one HTTP/1.1 connection. See the module docs.
#[derive(Debug)]
pub struct ServerConn {
    limits: Limits,
    input: Input,
    read: Read,
    write: Write,
    out: WriteQueue,
    request: Exchange,
    /// Whether the connection may carry another request after this one.
    keep_alive: bool,
    close: bool,
    upgrade: Upgrade,
    /// The framing of a response that completed with its head, kept to
    /// accept (and drop) the driver's `send_data`/`send_end` for it.
    completed_at_head: Option<BodyEncoder>,
}

#[derive(Debug)]
enum Read {
    /// Reading the next request head (only once the previous exchange is over).
    Head(HeadScanner),
    Body(BodyDecoder),
    /// The request's `End` was emitted; its response is not complete yet.
    Done,
    Closed,
}

#[derive(Debug)]
enum Write {
    /// No request is waiting for a response.
    Idle,
    /// A request waits for its final response head.
    Waiting,
    Body(BodyEncoder),
    Done,
    /// Nothing more may be sent.
    Closed,
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

fn invalid(message: &str) -> crate::Error {
    crate::Error::InvalidMessage(message.to_owned())
}

impl ServerConn {
    /// A new connection, waiting for its first request.
    pub fn new(limits: Limits) -> Self {
        ServerConn {
            limits,
            input: Input::default(),
            read: Read::Head(HeadScanner::new(HeadKind::Request)),
            write: Write::Idle,
            out: WriteQueue::default(),
            request: Exchange::default(),
            keep_alive: true,
            close: false,
            upgrade: Upgrade::None,
            completed_at_head: None,
        }
    }

    /// Feeds bytes read from the transport. Only buffers them: call
    /// [`poll_event`](Self::poll_event) to parse.
    pub fn receive(&mut self, data: &[u8]) {
        if !self.close || self.upgrade == Upgrade::Pending {
            self.input.receive(data);
        }
    }

    /// [`receive`](Self::receive) without a copy: `read` appends to the
    /// connection's own buffer (a driver reading from the transport
    /// straight into it, reserving room first if it likes) and its result
    /// is returned. What it appended counts as received.
    pub fn receive_into<T>(&mut self, read: impl FnOnce(&mut BytesMut) -> T) -> T {
        let accept = !self.close || self.upgrade == Upgrade::Pending;
        self.input.receive_into(accept, read)
    }

    /// The transport reached end of stream. When idle or in the middle of
    /// a head, the connection closes (no response); a complete request still
    /// gets its response; in the middle of a body, `poll_event` reports
    /// [`ParseError::Incomplete`].
    pub fn receive_eof(&mut self) {
        self.input.eof = true;
        if let Read::Head(scanner) = &mut self.read {
            // A complete (or invalid) head is still handled by poll_event.
            if let Ok(None) = scanner.clone().scan(&self.input.buf, &self.limits) {
                self.shut();
            }
        }
    }

    /// The next event, if the buffered bytes make one.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if self.upgrade != Upgrade::None {
            // The request body ends where the new protocol starts.
            if self.request.end_emitted {
                return None;
            }
            self.request.end_emitted = true;
            return Some(ServerEvent::End);
        }
        let result = match &mut self.read {
            Read::Head(scanner) => match self.input.head(scanner, &self.limits) {
                Ok(None) => {
                    if self.input.eof {
                        self.shut();
                    }
                    return None;
                }
                Ok(Some(head)) => self.start_request(head),
                Err(error) => Err(error),
            },
            Read::Body(decoder) => match self.input.body(decoder, &self.limits) {
                Ok(Decoded::Data(data)) => Ok(ServerEvent::Data(data)),
                Ok(Decoded::Trailers(fields)) => Ok(ServerEvent::Trailers(fields)),
                Ok(Decoded::End) => {
                    self.read = Read::Done;
                    self.request.end_emitted = true;
                    self.next_exchange_if_done();
                    Ok(ServerEvent::End)
                }
                Ok(Decoded::NeedMore) if !self.input.eof => return None,
                Ok(Decoded::NeedMore) if self.close => {
                    // The response is out; the rest of the body is moot.
                    self.read = Read::Closed;
                    return None;
                }
                Ok(Decoded::NeedMore) => Err(ParseError::Incomplete),
                Err(error) => Err(error),
            },
            Read::Done | Read::Closed => return None,
        };
        Some(result.unwrap_or_else(|error| self.fail(error)))
    }

    /// The body of the request just started, when all of it is in the
    /// buffer already (a `Content-Length` body that came with its head, as
    /// a small one does): taken at once, as its `Data` and `End` events
    /// would give it, so that the driver needs no channel to the handler.
    pub fn take_whole_body(&mut self) -> Option<Bytes> {
        let Read::Body(decoder) = &self.read else { return None };
        let body = self.input.take_whole(decoder, self.upgrade)?;
        self.read = Read::Done;
        self.request.end_emitted = true;
        self.next_exchange_if_done();
        Some(body)
    }

    /// Whether the driver should read more from the transport. See the
    /// module docs for when it turns false.
    pub fn wants_read(&self) -> bool {
        if self.close || self.input.eof || self.upgrade != Upgrade::None {
            return false;
        }
        match self.read {
            Read::Closed => false,
            Read::Head(_) => self.input.has_room_for_head(&self.limits),
            Read::Body(_) | Read::Done => self.input.has_room(&self.limits),
        }
    }

    /// Queues `100 Continue` if the current request expects it and no
    /// response has started. The driver calls it when the handler first
    /// reads the body.
    pub fn send_continue(&mut self) {
        if matches!(self.write, Write::Waiting)
            && self.request.expect_continue
            && !self.request.continue_sent
        {
            self.request.continue_sent = true;
            self.out
                .push(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
        }
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
        let request = self.request;
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

    /// Queues a chunk of the response body. More bytes than the response's
    /// `content-length` is an error, after which the connection closes.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), crate::Error> {
        match &mut self.write {
            Write::Body(encoder) => {
                let result = encoder.data(data, &mut self.out);
                if result.is_err() {
                    // The peer would wait for bytes that never come.
                    self.shut();
                }
                result
            }
            _ => match &mut self.completed_at_head {
                Some(encoder) => encoder.data(data, &mut self.out),
                None => self.not_sending(),
            },
        }
    }

    /// Queues the trailers (chunked responses; dropped otherwise). The body
    /// still ends with [`send_end`](Self::send_end).
    pub fn send_trailers(&mut self, trailers: &HeaderMap) -> Result<(), crate::Error> {
        match &mut self.write {
            Write::Body(encoder) => encoder.trailers(trailers, &mut self.out),
            _ if self.completed_at_head.is_some() => Ok(()),
            _ => self.not_sending(),
        }
    }

    /// Ends the response body. Ending it short of its `content-length` is
    /// an error, after which the connection closes.
    pub fn send_end(&mut self) -> Result<(), crate::Error> {
        match &mut self.write {
            Write::Body(encoder) => match encoder.end(&mut self.out) {
                Ok(()) => {
                    self.finish_response();
                    Ok(())
                }
                Err(error) => {
                    self.shut();
                    Err(error)
                }
            },
            _ if self.completed_at_head.take().is_some() => Ok(()),
            _ => self.not_sending(),
        }
    }

    fn not_sending(&self) -> Result<(), crate::Error> {
        match self.write {
            Write::Closed => Err(crate::Error::Closed),
            _ => Err(invalid("no response body is being sent")),
        }
    }

    /// The bytes to write.
    pub fn output(&mut self) -> &mut WriteQueue {
        &mut self.out
    }

    /// Whether the connection should close once the output is written.
    pub fn wants_close(&self) -> bool {
        self.close
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

    /// After a `101` response (or a 2xx to CONNECT) is sent: the bytes
    /// read past the request, to put in front of the upgraded flow. `Some`
    /// once.
    pub fn take_upgrade(&mut self) -> Option<Bytes> {
        self.upgrade.take(&mut self.input)
    }

    fn start_request(&mut self, head: Bytes) -> Result<ServerEvent, ParseError> {
        let raw = parse::request(&head, &self.limits)?;
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
        self.request = Exchange {
            version: raw.version,
            is_head: raw.method == Method::HEAD,
            is_connect,
            wants_upgrade: upgrade,
            expect_continue,
            continue_sent: false,
            end_emitted: false,
            keep_alive,
        };
        self.keep_alive = keep_alive;
        self.read = Read::Body(BodyDecoder::new(body));
        self.write = Write::Waiting;
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

    fn send_interim(&mut self, status: StatusCode, headers: &HeaderMap) {
        if self.request.version == Version::HTTP_10 {
            return;
        }
        if status == StatusCode::CONTINUE {
            if self.request.continue_sent {
                return;
            }
            self.request.continue_sent = true;
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

    /// A peer error: answer it if no response to this request has begun,
    /// then close.
    fn fail(&mut self, error: ParseError) -> ServerEvent {
        if matches!(self.write, Write::Idle | Write::Waiting) && error != ParseError::Incomplete {
            let status = error.status();
            let mut head = HeadWriter::status_line(self.out.head_buffer(), status, &HeaderMap::new());
            head.field("connection", b"close");
            head.content_length(0);
            self.out.push_head(head.finish());
        }
        self.shut();
        ServerEvent::Error(error)
    }

    fn shut(&mut self) {
        self.read = Read::Closed;
        self.write = Write::Closed;
        self.close = true;
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
