//! The receive side both roles share: the buffer of bytes read and not yet
//! turned into events, and the two things done with it — delimiting the
//! next head, decoding the current body.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;

use super::decode::{BodyDecoder, Step};
use super::scan::HeadScanner;
use super::{Limits, ParseError};

/// A piece of a body, as taken out of the buffer.
#[derive(Debug)]
pub(super) enum Decoded {
    NeedMore,
    Data(Bytes),
    Trailers(HeaderMap),
    End,
}

#[derive(Debug, Default)]
pub(super) struct Input {
    pub buf: BytesMut,
    /// The peer closed its side: nothing more will be appended.
    pub eof: bool,
}

impl Input {
    pub(super) fn receive(&mut self, data: &[u8]) {
        if !self.eof {
            self.buf.extend_from_slice(data);
        }
    }

    /// Lets `read` append to the buffer itself (a driver reading from the
    /// transport straight into it); what it appended is dropped when
    /// `accept` is false or after end of stream, as `receive` would.
    pub(super) fn receive_into<T>(&mut self, accept: bool, read: impl FnOnce(&mut BytesMut) -> T) -> T {
        let before = self.buf.len();
        let result = read(&mut self.buf);
        if self.eof || !accept {
            self.buf.truncate(before);
        }
        result
    }

    /// The next head, once it has fully arrived, split off the buffer
    /// (without the empty lines before it). The scanner must then be reset.
    pub(super) fn head(
        &mut self,
        scanner: &mut HeadScanner,
        limits: &Limits,
    ) -> Result<Option<Bytes>, ParseError> {
        Ok(scanner.scan(&self.buf, limits)?.map(|(start, end)| {
            let mut head = self.buf.split_to(end);
            head.advance(start);
            head.freeze()
        }))
    }

    /// The next piece of the body. Data is split off the buffer, not copied.
    pub(super) fn body(
        &mut self,
        decoder: &mut BodyDecoder,
        limits: &Limits,
    ) -> Result<Decoded, ParseError> {
        let (consumed, step) = decoder.step(&self.buf, self.eof, limits)?;
        self.buf.advance(consumed);
        Ok(match step {
            Step::NeedMore => Decoded::NeedMore,
            Step::Data(n) => Decoded::Data(self.buf.split_to(n).freeze()),
            Step::Trailers(fields) => Decoded::Trailers(fields),
            Step::End => Decoded::End,
        })
    }

    /// The rest of a `Content-Length` body, taken at once if all of it is
    /// buffered (what the body's `Data` and `End` events would give); none
    /// once the connection upgrades (what follows is the new protocol's).
    pub(super) fn take_whole(&mut self, decoder: &BodyDecoder, upgrade: Upgrade) -> Option<Bytes> {
        let &BodyDecoder::Length(length) = decoder else { return None };
        if upgrade != Upgrade::None {
            return None;
        }
        let length = usize::try_from(length).ok().filter(|&n| n <= self.buf.len())?;
        Some(self.buf.split_to(length).freeze())
    }

    /// Whether to read more while a body or the next message waits in the
    /// buffer (back-pressure).
    pub(super) fn has_room(&self, limits: &Limits) -> bool {
        self.buf.len() < limits.max_buffer
    }

    /// Whether to read more while a head is incomplete: the head limits
    /// bound the buffer then (past them the scanner rejects the head), so
    /// a head of any allowed size can arrive even if `max_buffer` is lower.
    pub(super) fn has_room_for_head(&self, limits: &Limits) -> bool {
        self.buf.len()
            <= limits
                .max_buffer
                .saturating_sub(1)
                .max(limits.max_head_bytes)
    }

    /// Everything buffered, e.g. the first bytes of an upgraded protocol.
    pub(super) fn take_all(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// What became of a connection's upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Upgrade {
    #[default]
    None,
    /// Switched: the buffered bytes belong to the new protocol.
    Pending,
    /// The buffered bytes were handed over.
    Taken,
}

impl Upgrade {
    pub(super) fn take(&mut self, input: &mut Input) -> Option<Bytes> {
        if *self == Upgrade::Pending {
            *self = Upgrade::Taken;
            Some(input.take_all())
        } else {
            None
        }
    }
}
