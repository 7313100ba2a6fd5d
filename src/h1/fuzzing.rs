//! What the fuzz targets in `fuzz/` need of the machine's insides, and
//! nothing else: only built with the `fuzzing` feature, hidden from the
//! docs, not part of paf's API. Each item is a thin view of an internal
//! one, with the same behaviour.

use http::HeaderMap;

use super::conn::Conn;
use super::decode;
use super::scan::{self, HeadKind};
use super::{BodyLength, Limits, ParseError, Role};

/// How many received bytes a connection holds, not yet turned into events
/// (what `Limits::max_buffer` and the head limits bound).
pub fn buffered<R: Role>(conn: &Conn<R>) -> usize {
    conn.input.buf.len()
}

/// What follows the framing bytes one [`BodyDecoder::step`] consumed.
#[derive(Debug)]
pub enum Step {
    /// More bytes are needed.
    NeedMore,
    /// This many body bytes.
    Data(usize),
    /// The trailer fields (the body ends next).
    Trailers(HeaderMap),
    /// The body is complete.
    End,
}

/// The body decoder of both roles.
#[derive(Debug, Clone)]
pub struct BodyDecoder(decode::BodyDecoder);

impl BodyDecoder {
    /// A decoder for a body framed so.
    pub fn new(length: BodyLength) -> Self {
        BodyDecoder(decode::BodyDecoder::new(length))
    }

    /// Decodes from `input` (the bytes not consumed so far, which may have
    /// grown since the last call): how many framing bytes at its start were
    /// consumed, and what follows them.
    pub fn step(&mut self, input: &[u8], eof: bool, limits: &Limits) -> Result<(usize, Step), ParseError> {
        let (consumed, step) = self.0.step(input, eof, limits)?;
        Ok((
            consumed,
            match step {
                decode::Step::NeedMore => Step::NeedMore,
                decode::Step::Data(n) => Step::Data(n),
                decode::Step::Trailers(fields) => Step::Trailers(fields),
                decode::Step::End => Step::End,
            },
        ))
    }

    /// Whether `input` holds the rest of the body. Consumes nothing.
    pub fn completes_within(&self, input: &[u8], limits: &Limits) -> bool {
        self.0.completes_within(input, limits)
    }
}

/// The head scanner: where a request head, a response head or a trailer
/// section ends, with the limits and line rules checked on the way.
#[derive(Debug, Clone)]
pub struct HeadScanner(scan::HeadScanner);

impl HeadScanner {
    /// A scanner for a request head (`request`) or a response head.
    pub fn new(request: bool) -> Self {
        HeadScanner(scan::HeadScanner::new(if request { HeadKind::Request } else { HeadKind::Response }))
    }

    /// A scanner for a trailer section.
    pub fn trailers() -> Self {
        HeadScanner(scan::HeadScanner::new(HeadKind::Trailers))
    }

    /// Scans `input`, which begins where the previous call's began and may
    /// have grown since: the head's range once its empty line has arrived.
    pub fn scan(&mut self, input: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, ParseError> {
        self.0.scan(input, limits)
    }
}
