//! What paf's fuzz targets share: reading a fuzz input, splitting bytes at
//! the points it chooses, drivers that run the HTTP/1.1 machines over them
//! the way `engine` does (reading only while `wants_read`, answering each
//! request) and check as they go that every step makes progress and that
//! the buffered bytes stay within the limits, and a reference reading of
//! RFC 9112 §6 for the framing target.
//!
//! The targets themselves are in `fuzz_targets/`; `SECURITY.md` says what
//! each one asserts.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use paf::h1::fuzzing::buffered;
use paf::h1::{
    BodySize, ClientConn, ClientEvent, Conn, Limits, ParseError, Role, ServerConn, ServerEvent,
};

pub mod framing;

/// A fuzz input read from the front: control bytes, then what is left.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// The next byte, 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

/// The input of the h1 machine targets: a split seed (2 bytes), a limits
    /// selector, a plan of up to 7 bytes (its length first), then the wire
    /// bytes, split where the seed says.
    pub fn h1_run(mut self) -> (Vec<&'a [u8]>, Limits, &'a [u8]) {
        let seed = self.u16();
        let limits = limits(self.byte());
        let plan_len = usize::from(self.byte() % 8);
        let plan = self.take(plan_len);
        (split(self.rest(), seed), limits, plan)
    }

        pub fn rest(self) -> &'a [u8] {
        self.data
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A small deterministic generator (xorshift), for split points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `wire` cut into pieces: seed 0 gives it whole, 1 byte by byte, others
/// random lengths (mostly short, some long).
pub fn split(wire: &[u8], seed: u16) -> Vec<&[u8]> {
    match seed {
        0 => return if wire.is_empty() { vec![] } else { vec![wire] },
        1 => return wire.chunks(1).collect(),
        _ => {}
    }
    let mut rng = Rng::new(u64::from(seed));
    let mut pieces = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let r = rng.next_u64();
        let len = match r % 8 {
            0 => 1 + (r >> 8) as usize % 512,
            1..=3 => 1,
            _ => 1 + (r >> 8) as usize % 16,
        };
        let (piece, tail) = rest.split_at(len.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// The limits a fuzz input picks: the defaults, or small ones so that
/// every limit is reached by short inputs.
pub fn limits(selector: u8) -> Limits {
    let mut limits = Limits::default();
    if selector & 1 == 1 {
        let small = |bits: u8, base: usize| base << (bits & 3);
        limits.max_request_line = small(selector >> 1, 16);
        limits.max_header_line = small(selector >> 3, 16);
        limits.max_head_bytes = small(selector >> 5, 64);
        limits.max_headers = 1 + usize::from(selector >> 4 & 7);
        limits.max_buffer = small(selector >> 2, 32);
    }
    limits
}

/// The most bytes a connection may hold after reading one piece of at
/// most `piece` bytes while `wants_read` said yes.
fn buffer_bound(limits: &Limits, piece: usize) -> usize {
    limits.max_buffer.max(limits.max_head_bytes + 1) + piece
}

/// An event, reduced to what the split-invariance target compares (adjacent
/// `Data` are merged by [`push_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Head(String),
    Data(Vec<u8>),
    Trailers(String),
    End,
    Error(ParseError),
}

fn push_event(events: &mut Vec<Ev>, event: Ev) {
    if let (Ev::Data(more), Some(Ev::Data(before))) = (&event, events.last_mut()) {
        before.extend_from_slice(more);
        return;
    }
    events.push(event);
}

/// What a run of a machine gave.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub events: Vec<Ev>,
    /// The bytes the machine queued to write.
    pub output: Vec<u8>,
    pub closes: bool,
    pub upgraded: bool,
}

/// How the server driver answers: one byte of plan per request, cycled.
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    pub bytes: &'a [u8],
    /// Whether answers may start before the request body ended (the
    /// outcome then depends on how much of the body had arrived, so the
    /// split-invariance target answers only at `End`).
    pub early: bool,
}

impl Plan<'_> {
    fn at(&self, i: usize) -> u8 {
        if self.bytes.is_empty() {
            0
        } else {
            self.bytes[i % self.bytes.len()]
        }
    }
}

/// Answers the current request as plan byte `b` says. Errors from the
/// machine (a 101 to a request that asked for no upgrade, ...) are fine:
/// the machine refuses what the driver may not do.
fn answer(conn: &mut ServerConn, b: u8) {
    let mut headers = HeaderMap::new();
    if b & 0x40 != 0 {
        headers.insert("connection", HeaderValue::from_static("close"));
    }
    let body = Bytes::from_static(b"hello, fuzz");
    let _ = match b & 7 {
        0 => conn
            .send_response(StatusCode::OK, &headers, BodySize::Known(11))
            .and_then(|()| conn.send_data(body))
            .and_then(|()| conn.send_end()),
        1 => conn
            .send_response(StatusCode::OK, &headers, BodySize::Unknown)
            .and_then(|()| conn.send_data(body))
            .and_then(|()| {
                let mut trailers = HeaderMap::new();
                trailers.insert("x-sum", HeaderValue::from_static("1"));
                conn.send_trailers(&trailers)
            })
            .and_then(|()| conn.send_end()),
        2 => conn
            .send_response(StatusCode::NO_CONTENT, &headers, BodySize::Empty)
            .and_then(|()| conn.send_end()),
        3 => conn
            .send_response(StatusCode::NOT_MODIFIED, &headers, BodySize::Known(11))
            .and_then(|()| conn.send_data(body))
            .and_then(|()| conn.send_end()),
        4 => {
            // 101 when asked (refused otherwise), else a 200.
            conn.send_response(StatusCode::SWITCHING_PROTOCOLS, &headers, BodySize::Empty)
                .or_else(|_| conn.send_response(StatusCode::OK, &headers, BodySize::Empty))
        }
        5 => {
            conn.send_continue();
            conn.send_response(StatusCode::CONTINUE, &headers, BodySize::Empty)
                .and_then(|()| conn.send_response(StatusCode::CREATED, &headers, BodySize::Empty))
        }
        6 => {
            conn.answer_error(StatusCode::BAD_REQUEST, &headers, body);
            Ok(())
        }
        _ => conn
            .send_response(StatusCode::OK, &headers, BodySize::Known(3))
            .and_then(|()| conn.send_data(body))
            .and_then(|()| conn.send_end()),
    };
}

fn head_summary(head: &impl std::fmt::Debug) -> String {
    format!("{head:?}")
}

/// The bytes a driver has still to give a machine, as the engine gives
/// them: a piece only while the machine `wants_read`, then the end.
struct Feed<'a> {
    pieces: &'a [&'a [u8]],
    next: usize,
    eof: bool,
    last_piece: usize,
}

impl Feed<'_> {
    /// Takes what `conn` queued to write, then gives it the next piece or
    /// the end if it reads; `None` when the connection is upgraded or
    /// closing, else whether anything moved.
    fn step<R: Role>(&mut self, conn: &mut Conn<R>, run: &mut Run, limits: &Limits) -> Option<bool> {
        run.output.extend_from_slice(&conn.output().take_all());
        if conn.take_upgrade().is_some() {
            run.upgraded = true;
            return None;
        }
        if conn.wants_close() {
            return None;
        }
        if self.next < self.pieces.len() {
            if !conn.wants_read() {
                return Some(false);
            }
            conn.receive(self.pieces[self.next]);
            self.last_piece = self.pieces[self.next].len();
            self.next += 1;
            assert!(buffered(conn) <= buffer_bound(limits, self.last_piece), "buffer past the limits");
            Some(true)
        } else if !self.eof {
            conn.receive_eof();
            self.eof = true;
            Some(true)
        } else {
            Some(false)
        }
    }
}

/// Runs a server over `pieces` as the engine does: reads a piece only while
/// `wants_read`, polls every event, answers each request, then EOF.
/// Panics if a step makes no progress past a bound, if more events come
/// than the bytes can make, or if the buffer outgrows the limits.
pub fn run_server(pieces: &[&[u8]], limits: &Limits, plan: Plan<'_>) -> Run {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let mut conn = ServerConn::new(limits.clone());
    let mut run = Run { events: Vec::new(), output: Vec::new(), closes: false, upgraded: false };
    let mut requests = 0usize;
    let mut answered = true;
    let mut event_count = 0usize;
    let mut feed = Feed { pieces, next: 0, eof: false, last_piece: 0 };
    let steps = pieces.len() + 2 * total + 16;
    for step in 0.. {
        assert!(step <= steps, "no progress: more than {steps} steps");
        let mut progressed = false;
        let _ = conn.phase(step % 2 == 0);
        let _ = conn.is_idle();
        let _ = conn.is_reading_head();
        while let Some(event) = conn.poll_event() {
            progressed = true;
            event_count += 1;
            assert!(event_count <= 2 * total + 8, "more events than the bytes can make");
            assert!(buffered(&conn) <= buffer_bound(limits, feed.last_piece));
            let ev = match event {
                ServerEvent::Request(head) => {
                    let b = plan.at(requests);
                    requests += 1;
                    answered = false;
                    let ev = Ev::Head(head_summary(&head));
                    if plan.early && b & 0x80 != 0 {
                        answered = true;
                        answer(&mut conn, b);
                    } else if plan.early && b & 0x20 != 0 {
                        conn.send_continue();
                    }
                    ev
                }
                ServerEvent::Data(data) => Ev::Data(data.to_vec()),
                ServerEvent::Trailers(fields) => Ev::Trailers(format!("{fields:?}")),
                ServerEvent::End => {
                    if !answered {
                        answered = true;
                        answer(&mut conn, plan.at(requests.saturating_sub(1)));
                    }
                    Ev::End
                }
                ServerEvent::Error(error) => {
                    if plan.early && plan.at(requests) & 0x10 != 0 {
                        conn.answer_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), Bytes::new());
                    }
                    Ev::Error(error)
                }
            };
            push_event(&mut run.events, ev);
        }
        match feed.step(&mut conn, &mut run, limits) {
            Some(moved) => progressed |= moved,
            None => break,
        }
        if !progressed {
            // Stuck with bytes left to read: only if the machine is done.
            assert!(
                feed.next == pieces.len() || conn.wants_close(),
                "the server neither reads nor gives an event ({} of {} pieces read)",
                feed.next,
                pieces.len()
            );
            break;
        }
    }
    run.closes = conn.wants_close();
    run
}

/// The requests a client driver sends, one per plan byte.
fn request(b: u8) -> (Method, Uri, HeaderMap, BodySize, Option<Bytes>) {
    let mut headers = HeaderMap::new();
    let uri = Uri::from_static("http://example.com/fuzz");
    let (method, body) = match b & 7 {
        0 => (Method::GET, None),
        1 => (Method::HEAD, None),
        2 => (Method::POST, Some(Bytes::from_static(b"body"))),
        3 => (Method::PUT, None),
        4 => (Method::CONNECT, None),
        5 => {
            headers.insert("upgrade", HeaderValue::from_static("websocket"));
            headers.insert("connection", HeaderValue::from_static("upgrade"));
            (Method::GET, None)
        }
        6 => {
            headers.insert("expect", HeaderValue::from_static("100-continue"));
            (Method::POST, Some(Bytes::from_static(b"body")))
        }
        _ => (Method::DELETE, None),
    };
    if b & 0x40 != 0 {
        headers.insert("connection", HeaderValue::from_static("close"));
    }
    let size = match (&body, b & 8 != 0) {
        (Some(body), false) => BodySize::Known(body.len() as u64),
        (Some(_), true) => BodySize::Unknown,
        (None, _) => BodySize::Empty,
    };
    let uri = if method == Method::CONNECT { Uri::from_static("example.com:443") } else { uri };
    (method, uri, headers, size, body)
}

/// Runs a client over `pieces` (the server's bytes): sends a request, reads
/// its response, sends the next once idle (at most as many as plan bytes),
/// with the same checks as [`run_server`].
pub fn run_client(pieces: &[&[u8]], limits: &Limits, plan: &[u8]) -> Run {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let plan = if plan.is_empty() { &[0][..] } else { plan };
    let mut conn = ClientConn::new(limits.clone());
    let mut run = Run { events: Vec::new(), output: Vec::new(), closes: false, upgraded: false };
    let mut sent = 0usize;
    let mut body: Option<Bytes> = None;
    let mut event_count = 0usize;
    let mut feed = Feed { pieces, next: 0, eof: false, last_piece: 0 };
    let steps = pieces.len() + 2 * total + 4 * plan.len() + 16;
    for step in 0.. {
        assert!(step <= steps, "no progress: more than {steps} steps");
        let mut progressed = false;
        let _ = conn.phase(step % 2 == 0);
        let _ = conn.keeps_alive();
        if conn.is_idle() && sent < plan.len() {
            let (method, uri, headers, size, b) = request(plan[sent]);
            sent += 1;
            conn.send_request(&method, &uri, &headers, size).expect("an idle client sends");
            body = b;
            progressed = true;
        }
        if conn.may_send_body() {
            if let Some(b) = body.take() {
                let _ = conn.send_data(b).and_then(|()| conn.send_end());
                progressed = true;
            }
        }
        while let Some(event) = conn.poll_event() {
            progressed = true;
            event_count += 1;
            assert!(event_count <= 2 * total + 8, "more events than the bytes can make");
            assert!(buffered(&conn) <= buffer_bound(limits, feed.last_piece));
            let ev = match event {
                ClientEvent::Informational(head) => Ev::Head(head_summary(&head)),
                ClientEvent::Response(head) => Ev::Head(head_summary(&head)),
                ClientEvent::Data(data) => Ev::Data(data.to_vec()),
                ClientEvent::Trailers(fields) => Ev::Trailers(format!("{fields:?}")),
                ClientEvent::End => Ev::End,
                ClientEvent::Error(error) => Ev::Error(error),
            };
            push_event(&mut run.events, ev);
        }
        match feed.step(&mut conn, &mut run, limits) {
            Some(moved) => progressed |= moved,
            None => break,
        }
        if !progressed && body.is_some() {
            // The driver's wait for 100 Continue ran out.
            conn.continue_anyway();
            if !conn.may_send_body() {
                body = None;
            }
            continue;
        }
        if !progressed {
            assert!(
                feed.next == pieces.len() || conn.wants_close(),
                "the client neither reads nor gives an event ({} of {} pieces read)",
                feed.next,
                pieces.len()
            );
            break;
        }
    }
    run.closes = conn.wants_close();
    run
}
