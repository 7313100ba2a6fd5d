//! Turns a complete head, as [`scan`](super::scan) delimited it, into
//! `http` types with `httparse`. Header values are zero-copy slices of the
//! head's bytes.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use super::{Limits, ParseError};

/// A parsed request head, before its framing is interpreted.
pub(super) struct RawRequest {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

/// A parsed response head, before its framing is interpreted.
pub(super) struct RawResponse {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
}

/// Runs `f` with room for `max` parsed fields, each slot `empty` at first,
/// on the stack when it fits.
fn with_field_slots<S: Copy, T>(max: usize, empty: S, f: impl FnOnce(&mut [S]) -> T) -> T {
    const ON_STACK: usize = 100;
    if max <= ON_STACK {
        f(&mut [empty; ON_STACK][..max])
    } else {
        f(&mut vec![empty; max])
    }
}

/// Parses a request head; its fields go into `headers`, an empty map
/// whose memory is used again.
pub(super) fn request(head: &Bytes, limits: &Limits, headers: HeaderMap) -> Result<RawRequest, ParseError> {
    // Slots left uninitialized (httparse writes those it fills): a
    // request's 100 empty fields cost more to write than its head to parse.
    with_field_slots(limits.max_headers, MaybeUninit::uninit(), |fields| request_with(head, fields, headers))
}

fn request_with<'b>(
    head: &'b Bytes,
    fields: &mut [MaybeUninit<httparse::Header<'b>>],
    headers: HeaderMap,
) -> Result<RawRequest, ParseError> {
    let mut parsed = httparse::Request::new(&mut []);
    match parsed.parse_with_uninit_headers(head, fields) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ParseError::Malformed("incomplete request head"))
        }
        Err(err) => return Err(from_httparse(err, version_token(head, true))),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(ParseError::Malformed("incomplete request line"));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| ParseError::Malformed("invalid method"))?;
    let uri = request_target(&method, head.slice_ref(target.as_bytes()))?;
    Ok(RawRequest {
        method,
        uri,
        version: version(minor),
        headers: header_map(head, parsed.headers, HeaderName::from_bytes, headers)?,
    })
}

/// The header names a client connection has parsed, so that the names a
/// server sends again in each response are not parsed again
/// (`HeaderName::from_bytes` lower-cases a name and looks it up in the
/// table of standard ones each time). Names of up to [`NAME_LEN`] bytes,
/// at most [`CACHED_NAMES`] of them, the oldest replaced first; kept
/// inline, so that a connection's memory does not grow with its peer's
/// names.
#[derive(Debug, Default)]
pub(super) struct NameCache {
    names: Vec<([u8; NAME_LEN], u8, HeaderName)>,
    oldest: usize,
}

const NAME_LEN: usize = 24;
const CACHED_NAMES: usize = 16;

impl NameCache {
    fn name(&mut self, raw: &[u8]) -> Result<HeaderName, http::header::InvalidHeaderName> {
        let seen = self
            .names
            .iter()
            .find(|(bytes, len, _)| usize::from(*len) == raw.len() && bytes[..raw.len()] == *raw);
        if let Some((_, _, name)) = seen {
            return Ok(name.clone());
        }
        let name = HeaderName::from_bytes(raw)?;
        if raw.len() <= NAME_LEN {
            let mut bytes = [0; NAME_LEN];
            bytes[..raw.len()].copy_from_slice(raw);
            let entry = (bytes, raw.len() as u8, name.clone());
            if self.names.len() < CACHED_NAMES {
                self.names.push(entry);
            } else {
                self.names[self.oldest] = entry;
                self.oldest = (self.oldest + 1) % CACHED_NAMES;
            }
        }
        Ok(name)
    }
}

pub(super) fn response(
    head: &Bytes,
    limits: &Limits,
    names: &mut NameCache,
) -> Result<RawResponse, ParseError> {
    with_field_slots(limits.max_headers, httparse::EMPTY_HEADER, |fields| response_with(head, fields, names))
}

fn response_with<'b>(
    head: &'b Bytes,
    fields: &mut [httparse::Header<'b>],
    names: &mut NameCache,
) -> Result<RawResponse, ParseError> {
    let mut parsed = httparse::Response::new(fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ParseError::Malformed("incomplete response head"))
        }
        Err(err) => return Err(from_httparse(err, version_token(head, false))),
    }
    let (Some(code), Some(minor)) = (parsed.code, parsed.version) else {
        return Err(ParseError::Malformed("incomplete status line"));
    };
    let status =
        StatusCode::from_u16(code).map_err(|_| ParseError::Malformed("invalid status code"))?;
    Ok(RawResponse {
        status,
        version: version(minor),
        headers: header_map(head, parsed.headers, |raw| names.name(raw), HeaderMap::with_capacity(parsed.headers.len()))?,
    })
}

/// The fields of a trailer section (its final empty line included).
pub(super) fn trailers(section: &[u8], limits: &Limits) -> Result<HeaderMap, ParseError> {
    let section = Bytes::copy_from_slice(section);
    with_field_slots(limits.max_headers, httparse::EMPTY_HEADER, |fields| {
        match httparse::parse_headers(&section, fields) {
            Ok(httparse::Status::Complete((_, fields))) => {
                header_map(&section, fields, HeaderName::from_bytes, HeaderMap::with_capacity(fields.len()))
            }
            Ok(httparse::Status::Partial) => {
                Err(ParseError::Malformed("incomplete trailer section"))
            }
            Err(err) => Err(from_httparse(err, None)),
        }
    })
}

fn version(minor: u8) -> Version {
    if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

/// Checks the target's form against the method (RFC 9112 §3.2): origin-form
/// for most, authority-form (`host:port`) only and always for CONNECT, `*`
/// only for OPTIONS, absolute-form for any but CONNECT.
fn request_target(method: &Method, target: Bytes) -> Result<Uri, ParseError> {
    let first = target.first().copied();
    let uri = Uri::from_maybe_shared(target)
        .map_err(|_| ParseError::Malformed("invalid request target"))?;
    let valid = if method == Method::CONNECT {
        uri.scheme().is_none() && uri.port().is_some() && uri.path().is_empty()
    } else if first == Some(b'/') {
        true
    } else if uri.path() == "*" && uri.authority().is_none() {
        method == Method::OPTIONS
    } else {
        uri.scheme().is_some() && uri.authority().is_some()
    };
    if valid {
        Ok(uri)
    } else {
        Err(ParseError::Malformed(
            "request target in the wrong form for its method",
        ))
    }
}

/// `fields` appended to `map` (an empty one; its room, if too small, grows).
fn header_map(
    head: &Bytes,
    fields: &[httparse::Header<'_>],
    mut name_of: impl FnMut(&[u8]) -> Result<HeaderName, http::header::InvalidHeaderName>,
    mut map: HeaderMap,
) -> Result<HeaderMap, ParseError> {
    for field in fields {
        let name = name_of(field.name.as_bytes())
            .map_err(|_| ParseError::Malformed("invalid header field name"))?;
        // SAFETY: `httparse` let through only the bytes `HeaderValue`
        // accepts (HTAB, SP, visible ASCII, obs-text), as hyper relies on
        // too; checking them again would be a second pass over each value.
        // Debug builds (the fuzzers') check anyway, and panic if not.
        let value = unsafe { HeaderValue::from_maybe_shared_unchecked(head.slice_ref(field.value)) };
        map.append(name, value);
    }
    Ok(map)
}

/// The version token of a start line: the third of exactly three on a
/// request line, the first on a status line.
fn version_token(head: &[u8], request: bool) -> Option<&[u8]> {
    let line = head.split(|&b| b == b'\r').next()?;
    let mut tokens = line.split(|&b| b == b' ');
    if request {
        match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
            (Some(_), Some(_), Some(version), None) => Some(version),
            _ => None,
        }
    } else {
        tokens.next()
    }
}

fn from_httparse(err: httparse::Error, version: Option<&[u8]>) -> ParseError {
    match err {
        // Well-formed but another version (e.g. HTTP/2.0 or HTTP/1.2): 505.
        httparse::Error::Version => match version {
            Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                ParseError::BadVersion
            }
            _ => ParseError::Malformed("invalid HTTP version"),
        },
        httparse::Error::Token => ParseError::Malformed("invalid method or request target"),
        httparse::Error::HeaderName => ParseError::Malformed("invalid header field name"),
        httparse::Error::HeaderValue => ParseError::Malformed("invalid header field value"),
        httparse::Error::NewLine => ParseError::Malformed("invalid line ending"),
        httparse::Error::Status => ParseError::Malformed("invalid status line"),
        httparse::Error::TooManyHeaders => ParseError::HeadersTooLarge,
    }
}
