//! Body decoding: by length, chunked (RFC 9112 §7.1), or until close.
//!
//! A decoder never copies: [`BodyDecoder::step`] looks at the buffered bytes
//! and says how many framing bytes to drop and how many body bytes follow,
//! and [`Input`](super::input::Input) splits those off its buffer. Because a
//! step only reads, the same code can also tell, without consuming
//! anything, whether the rest of a body is already buffered
//! ([`BodyDecoder::completes_within`]).

use http::HeaderMap;

use super::scan::{HeadKind, HeadScanner};
use super::{parse, BodyLength, Limits, ParseError};

/// What follows the framing bytes a step consumed.
#[derive(Debug)]
pub(super) enum Step {
    /// More bytes are needed.
    NeedMore,
    /// This many body bytes.
    Data(usize),
    /// The trailer fields (the body ends next).
    Trailers(HeaderMap),
    /// The body is complete.
    End,
}

#[derive(Debug, Clone)]
pub(super) enum BodyDecoder {
    /// This many bytes remain.
    Length(u64),
    Chunked(Chunked),
    /// Everything until the peer closes.
    UntilClose,
}

impl BodyDecoder {
    pub(super) fn new(length: BodyLength) -> Self {
        match length {
            BodyLength::Empty => BodyDecoder::Length(0),
            BodyLength::Known(n) => BodyDecoder::Length(n),
            BodyLength::Chunked => BodyDecoder::Chunked(Chunked::default()),
            BodyLength::UntilClose => BodyDecoder::UntilClose,
        }
    }

    /// Decodes from `input`: returns how many framing bytes at its start
    /// were consumed, and what follows them. `eof` says the peer has closed
    /// (which only ends an until-close body; elsewhere the caller turns
    /// `NeedMore` at EOF into an error).
    pub(super) fn step(
        &mut self,
        input: &[u8],
        eof: bool,
        limits: &Limits,
    ) -> Result<(usize, Step), ParseError> {
        match self {
            BodyDecoder::Length(0) => Ok((0, Step::End)),
            BodyDecoder::Length(remaining) => {
                let n = (*remaining).min(input.len() as u64);
                *remaining -= n;
                Ok((
                    0,
                    if n == 0 {
                        Step::NeedMore
                    } else {
                        Step::Data(n as usize)
                    },
                ))
            }
            BodyDecoder::Chunked(chunked) => chunked.step(input, limits),
            BodyDecoder::UntilClose if !input.is_empty() => Ok((0, Step::Data(input.len()))),
            BodyDecoder::UntilClose if eof => Ok((0, Step::End)),
            BodyDecoder::UntilClose => Ok((0, Step::NeedMore)),
        }
    }

    /// Whether `input` holds the rest of the body. Consumes nothing.
    pub(super) fn completes_within(&self, input: &[u8], limits: &Limits) -> bool {
        let mut decoder = self.clone();
        let mut offset = 0;
        loop {
            match decoder.step(&input[offset..], false, limits) {
                Ok((consumed, step)) => {
                    offset += consumed;
                    match step {
                        Step::Data(n) => offset += n,
                        Step::Trailers(_) => {}
                        Step::End => return true,
                        Step::NeedMore => return false,
                    }
                }
                Err(_) => return false,
            }
        }
    }
}

/// The chunked decoder: `size [; ext] CRLF data CRLF` ... `0 CRLF trailers CRLF`.
#[derive(Debug, Clone)]
pub(super) struct Chunked {
    state: ChunkState,
    /// Bytes of extensions (and whitespace) on the current size line.
    extension_len: usize,
}

#[derive(Debug, Clone)]
enum ChunkState {
    Size {
        size: u64,
        digits: u8,
    },
    /// Whitespace after the size: only an extension may follow (BWS ";").
    SizeSpace {
        size: u64,
    },
    Extension {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    Trailers(HeadScanner),
    Done,
}

/// 16 hex digits fill a `u64`, so a size never overflows.
const MAX_SIZE_DIGITS: u8 = 16;

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: ChunkState::Size { size: 0, digits: 0 },
            extension_len: 0,
        }
    }
}

impl Chunked {
    fn step(&mut self, input: &[u8], limits: &Limits) -> Result<(usize, Step), ParseError> {
        let mut i = 0;
        loop {
            match &mut self.state {
                ChunkState::Data { remaining } => {
                    let n = (*remaining).min((input.len() - i) as u64);
                    if n == 0 {
                        return Ok((i, Step::NeedMore));
                    }
                    *remaining -= n;
                    if *remaining == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    return Ok((i, Step::Data(n as usize)));
                }
                ChunkState::Trailers(scanner) => {
                    let Some((_, end)) = scanner.scan(&input[i..], limits)? else {
                        return Ok((i, Step::NeedMore));
                    };
                    let fields = parse::trailers(&input[i..i + end], limits)?;
                    self.state = ChunkState::Done;
                    let step = if fields.is_empty() {
                        Step::End
                    } else {
                        Step::Trailers(fields)
                    };
                    return Ok((i + end, step));
                }
                ChunkState::Done => return Ok((i, Step::End)),
                _ => {}
            }
            let Some(&byte) = input.get(i) else {
                return Ok((i, Step::NeedMore));
            };
            i += 1;
            self.state = self.next_state(byte, limits)?;
        }
    }

    /// The state after one framing byte.
    fn next_state(&mut self, byte: u8, limits: &Limits) -> Result<ChunkState, ParseError> {
        let bad = Err(ParseError::BadChunk);
        Ok(match self.state {
            ChunkState::Size { size, digits } => match byte {
                _ if byte.is_ascii_hexdigit() => {
                    if digits == MAX_SIZE_DIGITS {
                        return bad;
                    }
                    let value = (byte as char).to_digit(16).unwrap_or_default();
                    ChunkState::Size {
                        size: size << 4 | u64::from(value),
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return bad,
                b'\r' => ChunkState::SizeLf { size },
                b';' => ChunkState::Extension { size },
                b' ' | b'\t' => self.extension_byte(ChunkState::SizeSpace { size }, limits)?,
                _ => return bad,
            },
            ChunkState::SizeSpace { size } => match byte {
                b' ' | b'\t' => self.extension_byte(ChunkState::SizeSpace { size }, limits)?,
                b';' => ChunkState::Extension { size },
                _ => return bad,
            },
            ChunkState::Extension { size } => match byte {
                b'\r' => ChunkState::SizeLf { size },
                // Extensions are ignored, but a bare LF or a control byte in
                // one is how a smuggler hides a line end from a proxy.
                b'\t' => self.extension_byte(ChunkState::Extension { size }, limits)?,
                _ if byte.is_ascii_control() => return bad,
                _ => self.extension_byte(ChunkState::Extension { size }, limits)?,
            },
            ChunkState::SizeLf { size } => match byte {
                b'\n' => {
                    self.extension_len = 0;
                    if size == 0 {
                        ChunkState::Trailers(HeadScanner::new(HeadKind::Trailers))
                    } else {
                        ChunkState::Data { remaining: size }
                    }
                }
                _ => return bad,
            },
            ChunkState::DataCr => match byte {
                b'\r' => ChunkState::DataLf,
                _ => return bad,
            },
            ChunkState::DataLf => match byte {
                b'\n' => ChunkState::Size { size: 0, digits: 0 },
                _ => return bad,
            },
            ChunkState::Data { .. } | ChunkState::Trailers(_) | ChunkState::Done => {
                unreachable!("handled by step")
            }
        })
    }

    /// Counts a byte of extension; a size line may be at most as long as a
    /// header field line.
    fn extension_byte(
        &mut self,
        next: ChunkState,
        limits: &Limits,
    ) -> Result<ChunkState, ParseError> {
        self.extension_len += 1;
        if self.extension_len > limits.max_header_line {
            Err(ParseError::BadChunk)
        } else {
            Ok(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` whole; returns the body, the trailers and whether it ended.
    fn decode(length: BodyLength, input: &[u8]) -> Result<(Vec<u8>, HeaderMap, bool), ParseError> {
        let limits = Limits::default();
        let mut decoder = BodyDecoder::new(length);
        let (mut body, mut trailers, mut offset) = (Vec::new(), HeaderMap::new(), 0);
        loop {
            let (consumed, step) = decoder.step(&input[offset..], false, &limits)?;
            offset += consumed;
            match step {
                Step::Data(n) => {
                    body.extend_from_slice(&input[offset..offset + n]);
                    offset += n;
                }
                Step::Trailers(t) => trailers = t,
                Step::End => return Ok((body, trailers, true)),
                Step::NeedMore => return Ok((body, trailers, false)),
            }
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4;name=value;x\r\nWiki\r\n5 ; a=\"b\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
        let (body, trailers, ended) = decode(BodyLength::Chunked, input).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(trailers["expires"], "never");
        assert!(ended);
        assert!(BodyDecoder::new(BodyLength::Chunked).completes_within(input, &Limits::default()));
        assert!(!BodyDecoder::new(BodyLength::Chunked)
            .completes_within(&input[..input.len() - 1], &Limits::default()));
    }

    #[test]
    fn chunk_size_limits() {
        let max = b"FFFFFFFFFFFFFFFF\r\n";
        assert_eq!(decode(BodyLength::Chunked, max).map(|r| r.2), Ok(false));
        let leading_zeros = b"00000000000000001\r\n";
        assert_eq!(
            decode(BodyLength::Chunked, leading_zeros),
            Err(ParseError::BadChunk)
        );
    }

    #[test]
    fn rejects_malformed_chunks() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b"-1\r\n",
            b"+1\r\n",
            b"0x1\r\n",
            b"1 \r\na\r\n0\r\n\r\n",
            b"1\na\r\n0\r\n\r\n",
            b"1;a\nb\r\na\r\n0\r\n\r\n",
            b"1\r\nab\r\n",
            b"1\r\na\n0\r\n\r\n",
            b"0\r\nX: 1\n\r\n",
        ] {
            assert!(
                decode(BodyLength::Chunked, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn length_and_until_close() {
        assert_eq!(
            decode(BodyLength::Known(3), b"abcdef").unwrap(),
            (b"abc".to_vec(), HeaderMap::new(), true)
        );
        assert_eq!(
            decode(BodyLength::Empty, b"abc").unwrap(),
            (Vec::new(), HeaderMap::new(), true)
        );
        assert_eq!(
            decode(BodyLength::UntilClose, b"abc").unwrap(),
            (b"abc".to_vec(), HeaderMap::new(), false)
        );
    }
}
