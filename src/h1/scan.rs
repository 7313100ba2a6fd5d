//! Finds the end of a message head (or of a trailer section) in buffered
//! bytes, enforcing the size limits and the line rules `httparse` is lenient
//! about, before anything is parsed.
//!
//! The scanner is incremental: it remembers how far it got, so feeding a
//! head one byte at a time costs linear time, and it rejects a head as soon
//! as the bytes so far break a rule — an oversized head is refused before it
//! is complete, so the buffer never grows without bound while waiting.

use super::{Limits, ParseError};

/// Which kind of head is scanned: it decides whether there is a start line
/// and which error an overlong start line gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadKind {
    Request,
    Response,
    /// The field lines after a chunked body's last chunk (no start line).
    Trailers,
}

#[derive(Debug, Clone)]
pub(super) struct HeadScanner {
    kind: HeadKind,
    /// Bytes already scanned.
    pos: usize,
    /// Where the current, unfinished line starts.
    line_start: usize,
    /// Where the head starts: past the empty lines a peer may send first
    /// (RFC 9112 §2.2).
    head_start: usize,
    seen_start_line: bool,
    field_lines: usize,
}

impl HeadScanner {
    pub(super) fn new(kind: HeadKind) -> Self {
        HeadScanner {
            kind,
            pos: 0,
            line_start: 0,
            head_start: 0,
            seen_start_line: kind == HeadKind::Trailers,
            field_lines: 0,
        }
    }

    /// Scans `input`, which must begin where the previous call's began and
    /// may have grown since. Returns the head's range in `input` once the
    /// empty line that ends it has arrived; its end is also where the body
    /// starts.
    ///
    /// The outcome does not depend on how `input` grew: a rule is checked
    /// as soon as the bytes that break it are there, in byte order.
    pub(super) fn scan(
        &mut self,
        input: &[u8],
        limits: &Limits,
    ) -> Result<Option<(usize, usize)>, ParseError> {
        // Bytes past the size limit cannot be part of an acceptable head.
        let scanned = &input[..input.len().min(limits.max_head_bytes)];
        loop {
            let Some(offset) = find_either(&scanned[self.pos..], b'\r', b'\n') else {
                self.pos = scanned.len();
                break;
            };
            let at = self.pos + offset;
            self.check_line_len(at - self.line_start, limits)?;
            if scanned[at] == b'\n' {
                return Err(ParseError::Malformed("a line ends in a bare LF, not CRLF"));
            }
            match scanned.get(at + 1) {
                None => {
                    // Wait for the byte after the CR.
                    self.pos = at;
                    break;
                }
                Some(b'\n') => {}
                Some(_) => return Err(ParseError::Malformed("a bare CR inside a line")),
            }
            let line = &scanned[self.line_start..at];
            self.pos = at + 2;
            self.line_start = self.pos;
            if line.is_empty() {
                if !self.seen_start_line {
                    self.head_start = self.pos;
                    continue;
                }
                return Ok(Some((self.head_start, self.pos)));
            }
            self.check_line(line, limits)?;
        }
        self.check_line_len(self.pos - self.line_start, limits)?;
        if input.len() > limits.max_head_bytes {
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(None)
    }

    /// Checks a complete line (its length was checked when its end was found).
    fn check_line(&mut self, line: &[u8], limits: &Limits) -> Result<(), ParseError> {
        if !self.seen_start_line {
            self.seen_start_line = true;
            return Ok(());
        }
        self.field_lines += 1;
        if self.field_lines > limits.max_headers {
            return Err(ParseError::HeadersTooLarge);
        }
        if matches!(line[0], b' ' | b'\t') {
            // A continuation of the previous field, or whitespace between
            // the start line and the first field: both must be rejected
            // (RFC 9112 §5.2, §2.2).
            return Err(ParseError::ObsFold);
        }
        if let Some(colon) = find_either(line, b':', b':') {
            if colon > 0 && matches!(line[colon - 1], b' ' | b'\t') {
                return Err(ParseError::WhitespaceBeforeColon);
            }
        }
        Ok(())
    }

    /// The length of the current line so far, without its line end.
    fn check_line_len(&self, len: usize, limits: &Limits) -> Result<(), ParseError> {
        if !self.seen_start_line {
            self.check_start_line_len(len, limits)
        } else if len > limits.max_header_line {
            Err(ParseError::HeadersTooLarge)
        } else {
            Ok(())
        }
    }

    fn check_start_line_len(&self, len: usize, limits: &Limits) -> Result<(), ParseError> {
        if len <= limits.max_request_line {
            Ok(())
        } else if self.kind == HeadKind::Request {
            Err(ParseError::RequestLineTooLong)
        } else {
            Err(ParseError::HeadersTooLarge)
        }
    }
}

/// The index of the first `a` or `b` in `bytes`. Eight bytes at a time
/// (a head is scanned once per byte otherwise, which showed in profiles):
/// `x - 0x01..01 & !x & 0x80..80` has its lowest set bit in the first zero
/// byte of `x`, and the bytes equal to `a` are the zero bytes of `x ^ a..a`.
fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let (splat_a, splat_b) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let found = zero_bytes(word ^ splat_a) | zero_bytes(word ^ splat_b);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&c| c == a || c == b).map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_either_agrees_with_a_plain_search() {
        // Bytes around CR and LF, and those that carry borrows (0x00, 0x80).
        let alphabet = [b'\r', b'\n', b':', 0x00, 0x01, 0x0c, 0x0e, 0x80, 0x8d, 0xff, b'a'];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 60)) as usize + i * 7) % alphabet.len()])
                .collect();
            for (a, b) in [(b'\r', b'\n'), (b':', b':')] {
                let plain = bytes.iter().position(|&c| c == a || c == b);
                assert_eq!(find_either(&bytes, a, b), plain, "{bytes:?}");
            }
        }
    }

    fn scan_all(kind: HeadKind, input: &[u8]) -> Result<Option<(usize, usize)>, ParseError> {
        HeadScanner::new(kind).scan(input, &Limits::default())
    }

    fn scan_bytewise(kind: HeadKind, input: &[u8]) -> Result<Option<(usize, usize)>, ParseError> {
        let mut scanner = HeadScanner::new(kind);
        for end in 1..=input.len() {
            if let Some(range) = scanner.scan(&input[..end], &Limits::default())? {
                return Ok(Some(range));
            }
        }
        Ok(None)
    }

    #[test]
    fn finds_the_end_of_a_head_after_leading_empty_lines() {
        let input = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        let expected = Some((4, input.len() - 4));
        assert_eq!(scan_all(HeadKind::Request, input), Ok(expected));
        assert_eq!(scan_bytewise(HeadKind::Request, input), Ok(expected));
    }

    #[test]
    fn an_empty_trailer_section_is_one_crlf() {
        assert_eq!(scan_all(HeadKind::Trailers, b"\r\nrest"), Ok(Some((0, 2))));
        assert_eq!(
            scan_all(HeadKind::Trailers, b"a: b\r\n\r\n"),
            Ok(Some((0, 8)))
        );
    }

    #[test]
    fn rejects_bare_line_endings_and_folding() {
        for input in [
            &b"GET / HTTP/1.1\nHost: a\n\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        ] {
            assert!(matches!(
                scan_all(HeadKind::Request, input),
                Err(ParseError::Malformed(_))
            ));
            assert!(matches!(
                scan_bytewise(HeadKind::Request, input),
                Err(ParseError::Malformed(_))
            ));
        }
        let folded = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n";
        assert_eq!(
            scan_bytewise(HeadKind::Request, folded),
            Err(ParseError::ObsFold)
        );
        let spaced = b"GET / HTTP/1.1\r\nHost : a\r\n\r\n";
        assert_eq!(
            scan_bytewise(HeadKind::Request, spaced),
            Err(ParseError::WhitespaceBeforeColon)
        );
    }

    #[test]
    fn limits_apply_before_the_head_is_complete() {
        let limits = Limits {
            max_request_line: 10,
            max_header_line: 10,
            max_head_bytes: 40,
            ..Limits::default()
        };
        let check = |kind, input: &[u8]| HeadScanner::new(kind).scan(input, &limits);
        assert_eq!(
            check(HeadKind::Request, b"GET /01234567"),
            Err(ParseError::RequestLineTooLong)
        );
        assert_eq!(
            check(HeadKind::Response, b"HTTP/1.1 200 OK"),
            Err(ParseError::HeadersTooLarge)
        );
        assert_eq!(
            check(HeadKind::Request, b"GET / H\r\nA: 0123456789"),
            Err(ParseError::HeadersTooLarge)
        );
        assert_eq!(
            check(
                HeadKind::Request,
                &[b"GET / H\r\n".as_slice(), &b"A: 1\r\n".repeat(6)].concat()
            ),
            Err(ParseError::HeadersTooLarge)
        );
        assert_eq!(
            check(HeadKind::Request, &b"\r\n".repeat(21)),
            Err(ParseError::HeadersTooLarge)
        );
    }
}
