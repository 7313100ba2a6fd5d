//! The chunked decoder (RFC 9112 §7.1) fed a body at arbitrary split
//! points, against a reference decoder written here from the grammar with
//! paf's documented stricter rules (at most 16 hex digits in a size;
//! whitespace after the size only before an extension; no control byte but
//! HTAB in an extension; no bare CR or LF; trailer lines as header lines):
//! both find the same body, trailers and end, or both reject, or both wait
//! for more; and `completes_within` says "complete" exactly when the
//! reference does.
//!
//! Input: split seed (2 bytes), then the bytes of the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paf::h1::fuzzing::{BodyDecoder, Step};
use paf::h1::{BodyLength, Limits};
use paf_fuzz::{split, Reader};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The body, its trailer fields, and how many input bytes it took.
    Complete(Vec<u8>, Vec<(String, Vec<u8>)>, usize),
    /// The body so far; more bytes are needed.
    Incomplete(Vec<u8>),
    /// Invalid; `in_trailers` when the fault is in the trailer section
    /// (whose fields paf checks only once the section is complete).
    Invalid { body: Vec<u8>, in_trailers: bool },
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The reference: a plain reading of `chunked-body` over all of `input`.
fn reference(input: &[u8], limits: &Limits) -> Outcome {
    let mut body = Vec::new();
    let mut i = 0;
    let invalid = |body: Vec<u8>| Outcome::Invalid { body, in_trailers: false };
    loop {
        // chunk-size = 1*HEXDIG (paf: at most 16 digits)
        let digits = input[i..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits > 16 {
            return invalid(body);
        }
        if i + digits == input.len() {
            return Outcome::Incomplete(body);
        }
        if digits == 0 {
            return invalid(body);
        }
        let size = u64::from_str_radix(std::str::from_utf8(&input[i..i + digits]).unwrap(), 16).unwrap();
        i += digits;
        // [ BWS ";" chunk-ext ] CRLF: whitespace only before a ";", then no
        // control byte but HTAB up to the CR; the whitespace and extension
        // bytes (less the first ";") at most max_header_line.
        let line_end = input[i..].iter().position(|&b| b == b'\r' || b == b'\n' || (b.is_ascii_control() && b != b'\t'));
        let ext_limit = |len: usize| len > limits.max_header_line;
        let ws = input[i..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let ext_start = i + ws;
        match input.get(ext_start) {
            None => {
                return if ext_limit(ws) { invalid(body) } else { Outcome::Incomplete(body) };
            }
            Some(b';') => {}
            Some(b'\r') if ws == 0 => {}
            Some(_) => return invalid(body),
        }
        let Some(end) = line_end else {
            let len = input.len() - i - usize::from(input.get(ext_start) == Some(&b';'));
            return if ext_limit(len) { invalid(body) } else { Outcome::Incomplete(body) };
        };
        let end = i + end;
        let len = end - i - usize::from(input[ext_start] == b';');
        if ext_limit(len) || input[end] != b'\r' {
            return invalid(body);
        }
        match input.get(end + 1) {
            None => return Outcome::Incomplete(body),
            Some(b'\n') => {}
            Some(_) => return invalid(body),
        }
        i = end + 2;
        if size == 0 {
            return trailers(input, i, body, limits);
        }
        // chunk-data CRLF
        let available = (input.len() - i) as u64;
        if available < size {
            body.extend_from_slice(&input[i..]);
            return Outcome::Incomplete(body);
        }
        body.extend_from_slice(&input[i..i + size as usize]);
        i += size as usize;
        match input.get(i..i + 2) {
            Some(b"\r\n") => i += 2,
            Some(_) => return invalid(body),
            None if input.get(i).is_none_or(|&b| b == b'\r') => return Outcome::Incomplete(body),
            None => return invalid(body),
        }
    }
}

/// trailer-section CRLF, from `i`.
fn trailers(input: &[u8], mut i: usize, body: Vec<u8>, limits: &Limits) -> Outcome {
    let start = i;
    let mut fields = Vec::new();
    let in_trailers = |body: Vec<u8>| Outcome::Invalid { body, in_trailers: true };
    let framing = |body: Vec<u8>| Outcome::Invalid { body, in_trailers: false };
    let mut bad_field = false;
    let mut lines = 0;
    loop {
        let rest = &input[i..];
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if rest.len() > limits.max_header_line || input.len() - start > limits.max_head_bytes {
                return framing(body);
            }
            return Outcome::Incomplete(body);
        };
        if end > limits.max_header_line || rest[end] == b'\n' {
            return framing(body);
        }
        match rest.get(end + 1) {
            None => return Outcome::Incomplete(body),
            Some(b'\n') => {}
            Some(_) => return framing(body),
        }
        let line = &rest[..end];
        i += end + 2;
        if i - start > limits.max_head_bytes {
            return framing(body);
        }
        if line.is_empty() {
            return if bad_field { in_trailers(body) } else { Outcome::Complete(body, fields, i) };
        }
        lines += 1;
        if lines > limits.max_headers || line[0] == b' ' || line[0] == b'\t' {
            return framing(body);
        }
        let colon = line.iter().position(|&b| b == b':');
        if let Some(c) = colon {
            if c > 0 && (line[c - 1] == b' ' || line[c - 1] == b'\t') {
                return framing(body);
            }
        }
        match colon {
            Some(c) if c > 0 && line[..c].iter().all(|&b| is_tchar(b)) => {
                let value = &line[c + 1..];
                if !value.iter().all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80) {
                    bad_field = true;
                }
                let value = value.trim_ascii();
                fields.push((String::from_utf8_lossy(&line[..c]).to_ascii_lowercase(), value.to_vec()));
            }
            _ => bad_field = true,
        }
    }
}

/// paf's decoder over `pieces`, as `Input` drives it.
fn decode(pieces: &[&[u8]], limits: &Limits) -> Outcome {
    let mut decoder = BodyDecoder::new(BodyLength::Chunked);
    let (mut buf, mut body, mut fields, mut taken) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut pieces = pieces.iter();
    loop {
        match decoder.step(&buf, false, limits) {
            Err(_) => return Outcome::Invalid { body, in_trailers: false },
            Ok((consumed, step)) => {
                buf.drain(..consumed);
                taken += consumed;
                match step {
                    Step::Data(n) => {
                        assert!(n > 0, "an empty Data step");
                        body.extend(buf.drain(..n));
                        taken += n;
                    }
                    Step::Trailers(map) => {
                        for (name, value) in &map {
                            fields.push((name.to_string(), value.as_bytes().to_vec()));
                        }
                    }
                    Step::End => return Outcome::Complete(body, fields, taken),
                    Step::NeedMore => match pieces.next() {
                        Some(piece) => buf.extend_from_slice(piece),
                        None => return Outcome::Incomplete(body),
                    },
                }
            }
        }
    }
}

fn sorted(mut fields: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    fields.sort();
    fields
}

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let seed = input.u16();
    let wire = input.rest();
    let limits = Limits::default();
    let ours = decode(&split(wire, seed), &limits);
    let theirs = reference(wire, &limits);
    match (ours, theirs) {
        (Outcome::Complete(b1, f1, n1), Outcome::Complete(b2, f2, n2)) => {
            assert_eq!((b1, sorted(f1), n1), (b2, sorted(f2), n2));
            assert!(BodyDecoder::new(BodyLength::Chunked).completes_within(wire, &limits));
        }
        (Outcome::Invalid { body: b1, .. }, Outcome::Invalid { body: b2, .. }) => {
            assert!(b2.starts_with(&b1) || b1.starts_with(&b2), "body before the fault");
        }
        // paf checks trailer fields once their section is complete.
        (Outcome::Incomplete(b1), Outcome::Invalid { body: b2, in_trailers: true }) => assert_eq!(b1, b2),
        (Outcome::Incomplete(b1), Outcome::Incomplete(b2)) => {
            assert_eq!(b1, b2);
            assert!(!BodyDecoder::new(BodyLength::Chunked).completes_within(wire, &limits));
        }
        (ours, theirs) => panic!("paf: {ours:?}\nreference: {theirs:?}"),
    }
});
