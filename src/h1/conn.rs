//! The connection core both roles share: [`Conn`] holds the receive buffer,
//! the read and write states, the write queue and the keep-alive, close and
//! upgrade decisions, and does everything that is the same on either side —
//! buffering input, delimiting heads, decoding the peer's body, framing our
//! own body, and saying which timer phase the connection is in. What a head
//! means, which events come out and how our own message starts are the
//! role's ([`Server`](super::Server), [`Client`](super::Client)).

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::decode::BodyDecoder;
use super::encode::BodyEncoder;
use super::input::{Decoded, Input, Upgrade};
use super::scan::HeadScanner;
use super::{Limits, ParseError, WriteQueue};
use sealed::Part;

/// One side of an HTTP/1.1 connection: [`ServerConn`](super::ServerConn)
/// (`Conn<Server>`) or [`ClientConn`](super::ClientConn) (`Conn<Client>`).
/// The methods here are the same for both; each role adds its own. The
/// contract with the driver is on [`ServerConn`](super::ServerConn) and
/// [`ClientConn`](super::ClientConn).
#[derive(Debug)]
pub struct Conn<R> {
    pub(super) limits: Limits,
    pub(super) input: Input,
    pub(super) read: Read,
    pub(super) write: Write,
    pub(super) out: WriteQueue,
    /// Whether the connection may carry another exchange after this one.
    pub(super) keep_alive: bool,
    pub(super) close: bool,
    pub(super) upgrade: Upgrade,
    /// After an upgrade: the `End` of the peer's message is still to be given.
    pub(super) upgrade_end_pending: bool,
    /// The framing of our message when it was complete with its head (no
    /// body bytes on the wire), kept to accept (and drop) the driver's
    /// `send_data`/`send_end` for it.
    pub(super) completed_at_head: Option<BodyEncoder>,
    /// What only this side knows of the exchange in progress.
    pub(super) role: R,
}

/// Which side of a connection a [`Conn`] is: [`Server`](super::Server) or
/// [`Client`](super::Client). Sealed.
pub trait Role: sealed::Role {}

/// What the connection waits for, as far as timeouts go: the driver arms
/// the matching one (time is the driver's; the machine has no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between exchanges with nothing under way: the idle timeout (a server
    /// once it has read a request, a client with no request outstanding).
    Idle,
    /// A server waiting for a request head (the first one, or one whose
    /// bytes have started to arrive): the header timeout.
    Head,
    /// The peer is to read what is queued, or to send body bytes there is
    /// room for: a stall timeout.
    Body,
}

/// Where the peer's next bytes go.
#[derive(Debug)]
pub(super) enum Read {
    /// No message is expected from the peer (a client with no request
    /// outstanding).
    Idle,
    Head(HeadScanner),
    Body(BodyDecoder),
    /// The peer's message is complete; ours is not yet.
    Done,
    Closed,
}

/// What our side is sending.
#[derive(Debug)]
pub(super) enum Write {
    /// No message is under way.
    Idle,
    /// A request waits for its final response head (server).
    Waiting,
    Body(BodyEncoder),
    Done,
    /// Nothing more may be sent.
    Closed,
}

pub(super) mod sealed {
    use bytes::Bytes;
    use http::HeaderMap;

    use super::{Conn, Phase};
    use crate::h1::ParseError;

    /// A piece of the peer's body.
    #[derive(Debug)]
    pub enum Part {
        Data(Bytes),
        Trailers(HeaderMap),
        End,
    }

    /// What differs between the roles; the core calls it.
    pub trait Role: Sized + std::fmt::Debug {
        /// What the peer's bytes mean.
        type Event: std::fmt::Debug;
        /// What `send_data` & co. refuse with when nothing is being sent.
        const NOT_SENDING: &'static str;
        /// An end of stream before a head is complete closes quietly (a
        /// server between requests) rather than being an incomplete
        /// message (a client waiting for its response).
        const EOF_IN_HEAD_CLOSES: bool;

        fn new() -> Self;
        /// Sets up a new connection (which expects nothing from the peer).
        fn open(conn: &mut Conn<Self>);
        /// A piece of the peer's body as an event.
        fn body_event(part: Part) -> Self::Event;
        /// A head from the peer has arrived.
        fn start(conn: &mut Conn<Self>, head: Bytes) -> Result<Self::Event, ParseError>;
        /// The peer's bytes are invalid: what happens, and the event.
        fn fail(conn: &mut Conn<Self>, error: ParseError) -> Self::Event;
        /// The peer's message is complete (`read` is `Done`).
        fn received(conn: &mut Conn<Self>);
        /// Our message's body ended.
        fn sent(conn: &mut Conn<Self>);
        /// The phase while `read` is `Idle` or `Head` and nothing is queued.
        fn waiting_phase(conn: &Conn<Self>) -> Option<Phase>;
        /// Whether the driver's body is dropped (a body no longer wanted).
        fn drops_body(&self) -> bool {
            false
        }
        /// Whether body bytes may be queued now.
        fn may_queue(&self) -> Result<(), crate::Error> {
            Ok(())
        }
    }
}

pub(super) fn invalid(message: &str) -> crate::Error {
    crate::Error::InvalidMessage(message.to_owned())
}

impl<R: Role> Conn<R> {
    /// A new connection: a server waits for its first request, a client is
    /// ready for its first one.
    pub fn new(limits: Limits) -> Self {
        let mut conn = Conn {
            limits,
            input: Input::default(),
            read: Read::Idle,
            write: Write::Idle,
            out: WriteQueue::default(),
            keep_alive: true,
            close: false,
            upgrade: Upgrade::None,
            upgrade_end_pending: false,
            completed_at_head: None,
            role: R::new(),
        };
        R::open(&mut conn);
        conn
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

    /// The transport reached end of stream. A body delimited by closing
    /// ends; in the middle of a message `poll_event` reports
    /// [`ParseError::Incomplete`]. A server idle or in the middle of a head
    /// closes (no response; a complete request still gets its response); a
    /// client with no request outstanding closes.
    pub fn receive_eof(&mut self) {
        self.input.eof = true;
        let closes = match &self.read {
            Read::Idle => self.input.buf.is_empty(),
            // A complete (or invalid) head is still handled by poll_event.
            Read::Head(scanner) => {
                R::EOF_IN_HEAD_CLOSES
                    && matches!(scanner.clone().scan(&self.input.buf, &self.limits), Ok(None))
            }
            _ => false,
        };
        if closes {
            self.shut();
        }
    }

    /// Whether bytes were received that are not yet events (the start of
    /// a pipelined request, say).
    pub fn has_input(&self) -> bool {
        !self.input.buf.is_empty()
    }

    /// The next event, if the buffered bytes make one.
    pub fn poll_event(&mut self) -> Option<R::Event> {
        if self.upgrade != Upgrade::None {
            // The peer's body ends where the new protocol starts.
            let pending = std::mem::take(&mut self.upgrade_end_pending);
            return pending.then(|| R::body_event(Part::End));
        }
        let result = match &mut self.read {
            Read::Idle if !self.input.buf.is_empty() => Err(ParseError::Malformed(
                "bytes from the server with no request outstanding",
            )),
            Read::Idle => {
                if self.input.eof {
                    self.shut();
                }
                return None;
            }
            Read::Head(scanner) => match self.input.head(scanner, &self.limits) {
                Ok(None) if !self.input.eof => return None,
                Ok(None) if R::EOF_IN_HEAD_CLOSES => {
                    self.shut();
                    return None;
                }
                Ok(None) => Err(ParseError::Incomplete),
                Ok(Some(head)) => R::start(self, head),
                Err(error) => Err(error),
            },
            Read::Body(decoder) => match self.input.body(decoder, &self.limits) {
                Ok(Decoded::Data(data)) => Ok(R::body_event(Part::Data(data))),
                Ok(Decoded::Trailers(fields)) => Ok(R::body_event(Part::Trailers(fields))),
                Ok(Decoded::End) => {
                    self.read = Read::Done;
                    R::received(self);
                    Ok(R::body_event(Part::End))
                }
                Ok(Decoded::NeedMore) if !self.input.eof => return None,
                Ok(Decoded::NeedMore) if self.close => {
                    // Our message is out; the rest of the body is moot.
                    self.read = Read::Closed;
                    return None;
                }
                Ok(Decoded::NeedMore) => Err(ParseError::Incomplete),
                Err(error) => Err(error),
            },
            Read::Done | Read::Closed => return None,
        };
        Some(result.unwrap_or_else(|error| R::fail(self, error)))
    }

    /// The body of the message just started, when all of it is in the
    /// buffer already (a `Content-Length` body that came with its head, as
    /// a small one does): taken at once, as its `Data` and `End` events
    /// would give it, so that the driver needs no channel to the body's
    /// reader.
    pub fn take_whole_body(&mut self) -> Option<Bytes> {
        let Read::Body(decoder) = &self.read else { return None };
        let body = self.input.take_whole(decoder, self.upgrade)?;
        self.read = Read::Done;
        R::received(self);
        Some(body)
    }

    /// Whether the driver should read more from the transport: false once
    /// closing, closed, upgraded or at EOF, and while `limits.max_buffer`
    /// bytes are buffered — except while a head is being read, where the
    /// head limits bound the buffer instead (so a head up to
    /// `max_head_bytes` can always arrive).
    pub fn wants_read(&self) -> bool {
        if self.close || self.input.eof || self.upgrade != Upgrade::None {
            return false;
        }
        match self.read {
            Read::Closed => false,
            Read::Head(_) => self.input.has_room_for_head(&self.limits),
            Read::Idle | Read::Body(_) | Read::Done => self.input.has_room(&self.limits),
        }
    }

    /// Queues a chunk of our message's body. More bytes than its
    /// `content-length` is an error, after which the connection closes.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), crate::Error> {
        if self.role.drops_body() {
            return Ok(());
        }
        match &mut self.write {
            Write::Body(encoder) => {
                self.role.may_queue()?;
                let result = encoder.data(data, &mut self.out);
                if result.is_err() {
                    // The peer would wait for bytes that never come.
                    self.shut();
                }
                result
            }
            // A message without body bytes was complete with its head.
            _ => match &mut self.completed_at_head {
                Some(encoder) => encoder.data(data, &mut self.out),
                None => self.not_sending(),
            },
        }
    }

    /// Queues the trailers (chunked bodies; dropped otherwise). The body
    /// still ends with [`send_end`](Self::send_end).
    pub fn send_trailers(&mut self, trailers: &HeaderMap) -> Result<(), crate::Error> {
        if self.role.drops_body() {
            return Ok(());
        }
        match &mut self.write {
            Write::Body(encoder) => encoder.trailers(trailers, &mut self.out),
            _ if self.completed_at_head.is_some() => Ok(()),
            _ => self.not_sending(),
        }
    }

    /// Ends our message's body. Ending it short of its `content-length` is
    /// an error, after which the connection closes.
    pub fn send_end(&mut self) -> Result<(), crate::Error> {
        if self.role.drops_body() {
            return Ok(());
        }
        match &mut self.write {
            Write::Body(encoder) => match encoder.end(&mut self.out) {
                Ok(()) => {
                    R::sent(self);
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
            _ => Err(invalid(R::NOT_SENDING)),
        }
    }

    /// The bytes to write.
    pub fn output(&mut self) -> &mut WriteQueue {
        &mut self.out
    }

    /// Whether the connection should close once the output is written:
    /// nothing more will be queued, and it cannot be reused.
    pub fn wants_close(&self) -> bool {
        self.close
    }

    /// After a `101` (or a 2xx to CONNECT): the bytes read past the
    /// message, to put in front of the upgraded flow. `Some` once.
    pub fn take_upgrade(&mut self) -> Option<Bytes> {
        self.upgrade.take(&mut self.input)
    }

    /// Which timeout applies to what the connection waits for now; `None`
    /// when it waits for its own side (a handler or a caller thinking, a
    /// body being produced) or has nothing left to wait for.
    ///
    /// `body_room` is what only the driver knows: whether the reader of
    /// the peer's body (a handler's request body, a caller's response
    /// body) can take more now. Waiting for body bytes that there is no
    /// room for is not the peer's fault.
    pub fn phase(&self, body_room: bool) -> Option<Phase> {
        if !self.out.is_empty() {
            return Some(Phase::Body);
        }
        match self.read {
            Read::Body(_) => (body_room && self.wants_read()).then_some(Phase::Body),
            Read::Idle | Read::Head(_) => R::waiting_phase(self),
            Read::Done | Read::Closed => None,
        }
    }

    pub(super) fn shut(&mut self) {
        self.read = Read::Closed;
        self.write = Write::Closed;
        self.close = true;
    }
}
