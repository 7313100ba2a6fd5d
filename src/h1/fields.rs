//! What the header fields that frame a message mean: `Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Expect` (RFC 9110 §5.6.1, RFC 9112).
//! Shared by both roles, which differ only in how they answer a bad value.

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName};

use super::ParseError;

/// Which of the fields read here a head has, found in one pass over it.
/// Most are absent from most messages, and looking up an absent field in
/// a `HeaderMap` still costs a hash: the per-field readers below are only
/// called through this for the fields that are there.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Present {
    /// How many `Host` fields.
    pub hosts: usize,
    pub content_length: bool,
    pub transfer_encoding: bool,
    pub connection: bool,
    pub upgrade: bool,
    pub expect: bool,
    pub date: bool,
}

impl Present {
    pub(super) fn of(headers: &HeaderMap) -> Present {
        let mut present = Present::default();
        for name in headers.keys() {
            if name == HOST {
                present.hosts = headers.get_all(HOST).iter().count();
            } else if name == CONTENT_LENGTH {
                present.content_length = true;
            } else if name == TRANSFER_ENCODING {
                present.transfer_encoding = true;
            } else if name == CONNECTION {
                present.connection = true;
            } else if name == UPGRADE {
                present.upgrade = true;
            } else if name == EXPECT {
                present.expect = true;
            } else if name == DATE {
                present.date = true;
            }
        }
        present
    }

    /// [`connection_has`], for a head with these fields.
    pub(super) fn connection_has(&self, headers: &HeaderMap, token: &str) -> bool {
        self.connection && connection_has(headers, token)
    }

    /// [`content_length`], for a head with these fields.
    pub(super) fn content_length(&self, headers: &HeaderMap) -> Result<Option<u64>, ParseError> {
        if self.content_length {
            content_length(headers)
        } else {
            Ok(None)
        }
    }

    /// [`transfer_codings`], for a head with these fields.
    pub(super) fn transfer_codings(&self, headers: &HeaderMap) -> Result<Option<Codings>, ParseError> {
        if self.transfer_encoding {
            transfer_codings(headers)
        } else {
            Ok(None)
        }
    }

    /// [`expects_continue`], for a head with these fields.
    pub(super) fn expects_continue(&self, headers: &HeaderMap) -> bool {
        self.expect && expects_continue(headers)
    }
}

/// The elements of a comma-separated list field, over all its lines, each
/// without the whitespace around it. Empty elements are kept so callers can
/// refuse them.
fn list_elements<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(trim_whitespace)
}

fn trim_whitespace(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Whether `Connection` lists `token` (case-insensitive).
pub(super) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    list_elements(headers, &CONNECTION)
        .any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether the message carries `Expect: 100-continue`.
pub(super) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get_all(EXPECT)
        .iter()
        .any(|value| trim_whitespace(value.as_bytes()).eq_ignore_ascii_case(b"100-continue"))
}

/// The `Content-Length`, if there is one. Several fields or a list are
/// accepted only when every element is the same digits ("5, 5"); a sign,
/// hex, inner whitespace, an empty element or a value beyond `u64` are
/// rejected (RFC 9110 §8.6).
pub(super) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ParseError> {
    let mut value: Option<&[u8]> = None;
    for element in list_elements(headers, &CONTENT_LENGTH) {
        match value {
            Some(seen) if seen != element => return Err(ParseError::BadContentLength),
            _ => value = Some(element),
        }
    }
    match value {
        None => Ok(None),
        Some(digits) => parse_decimal(digits)
            .map(Some)
            .ok_or(ParseError::BadContentLength),
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// What a `Transfer-Encoding` field list says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Codings {
    /// How many times `chunked` appears.
    pub chunked: usize,
    /// Whether the last coding is `chunked`.
    pub chunked_last: bool,
    /// Whether a coding other than `chunked` appears.
    pub others: bool,
}

/// The transfer codings, if the message has `Transfer-Encoding` at all.
/// An empty element (or an empty field) is rejected: a sender that wrote
/// one is either broken or probing for a parser that reads it differently.
pub(super) fn transfer_codings(headers: &HeaderMap) -> Result<Option<Codings>, ParseError> {
    if !headers.contains_key(TRANSFER_ENCODING) {
        return Ok(None);
    }
    let mut codings = Codings {
        chunked: 0,
        chunked_last: false,
        others: false,
    };
    for element in list_elements(headers, &TRANSFER_ENCODING) {
        if element.is_empty() {
            return Err(ParseError::InvalidTransferEncoding);
        }
        codings.chunked_last = element.eq_ignore_ascii_case(b"chunked");
        if codings.chunked_last {
            codings.chunked += 1;
        } else {
            codings.others = true;
        }
    }
    Ok(Some(codings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn content_length_values() {
        let cl = |values: &[&'static str]| content_length(&headers("content-length", values));
        assert_eq!(cl(&[]), Ok(None));
        assert_eq!(cl(&["5"]), Ok(Some(5)));
        assert_eq!(cl(&["5, 5"]), Ok(Some(5)));
        assert_eq!(cl(&["5", "5"]), Ok(Some(5)));
        assert_eq!(cl(&["18446744073709551615"]), Ok(Some(u64::MAX)));
        for bad in [
            "+5",
            "-5",
            "0x5",
            "5 5",
            "",
            "5,",
            "5,,5",
            "18446744073709551616",
            "5a",
        ] {
            assert_eq!(cl(&[bad]), Err(ParseError::BadContentLength), "{bad:?}");
        }
        assert_eq!(cl(&["5", "6"]), Err(ParseError::BadContentLength));
        assert_eq!(cl(&["5, 05"]), Err(ParseError::BadContentLength));
    }

    #[test]
    fn transfer_coding_lists() {
        let te = |values: &[&'static str]| transfer_codings(&headers("transfer-encoding", values));
        assert_eq!(te(&[]), Ok(None));
        assert_eq!(
            te(&["Chunked"]),
            Ok(Some(Codings {
                chunked: 1,
                chunked_last: true,
                others: false
            }))
        );
        assert_eq!(
            te(&["gzip", "chunked"]),
            Ok(Some(Codings {
                chunked: 1,
                chunked_last: true,
                others: true
            }))
        );
        assert_eq!(
            te(&["chunked, gzip"]),
            Ok(Some(Codings {
                chunked: 1,
                chunked_last: false,
                others: true
            }))
        );
        assert_eq!(
            te(&["chunked,chunked"]),
            Ok(Some(Codings {
                chunked: 2,
                chunked_last: true,
                others: false
            }))
        );
        assert_eq!(te(&["chunked, "]), Err(ParseError::InvalidTransferEncoding));
        assert_eq!(te(&[""]), Err(ParseError::InvalidTransferEncoding));
    }

    #[test]
    fn connection_tokens() {
        let map = headers("connection", &["keep-alive, Upgrade", "x"]);
        assert!(connection_has(&map, "upgrade"));
        assert!(connection_has(&map, "keep-alive"));
        assert!(!connection_has(&map, "close"));
    }
}
