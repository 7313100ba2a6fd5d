//! The send side both roles share: serializing a head into one buffer, and
//! framing body bytes (by length, chunked, until close) into the
//! [`WriteQueue`] without copying them.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, Method, StatusCode};

use super::WriteQueue;

/// Builds a head: a start line, fields, the empty line.
pub(super) struct HeadWriter {
    buf: BytesMut,
}

impl HeadWriter {
    /// A request head: `METHOD TARGET HTTP/1.1`.
    pub(super) fn request_line(
        mut buf: BytesMut,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
    ) -> Self {
        buf.reserve(64 + target.len() + headers.len() * 32);
        let mut head = HeadWriter { buf };
        head.put_all(&[method.as_str().as_bytes(), b" ", target.as_bytes(), b" HTTP/1.1\r\n"]);
        head
    }

    /// A response head: `HTTP/1.1 CODE REASON` (no `fmt`: it showed in
    /// profiles of small responses).
    pub(super) fn status_line(mut buf: BytesMut, status: StatusCode, headers: &HeaderMap) -> Self {
        buf.reserve(64 + headers.len() * 32);
        let mut head = HeadWriter { buf };
        if status == StatusCode::OK {
            head.put_all(&[b"HTTP/1.1 200 OK\r\n"]);
        } else {
            let reason = status.canonical_reason().unwrap_or("");
            head.put_all(&[b"HTTP/1.1 ", status.as_str().as_bytes(), b" ", reason.as_bytes(), b"\r\n"]);
        }
        head
    }

    /// Writes the fields of `headers`, except those `skip` names, with the
    /// lower-case names `HeaderMap` keeps.
    pub(super) fn fields(&mut self, headers: &HeaderMap, skip: impl Fn(&HeaderName) -> bool) {
        for (name, value) in headers {
            if !skip(name) {
                self.field(name.as_str(), value.as_bytes());
            }
        }
    }

    pub(super) fn field(&mut self, name: &str, value: &[u8]) {
        self.put_all(&[name.as_bytes(), b": ", value, b"\r\n"]);
    }

    pub(super) fn content_length(&mut self, length: u64) {
        let mut digits = [0u8; 20];
        self.put_all(&[b"content-length: ", decimal(length, &mut digits), b"\r\n"]);
    }

    /// The head, ending with its empty line, for [`WriteQueue::push_head`].
    pub(super) fn finish(mut self) -> BytesMut {
        self.put_all(&[b"\r\n"]);
        self.buf
    }

    /// Appends `parts` with one check of the buffer's room (a head is
    /// written in small pieces, and `put_slice` checks for each).
    fn put_all(&mut self, parts: &[&[u8]]) {
        let len = parts.iter().map(|part| part.len()).sum();
        self.buf.reserve(len);
        let mut at = self.buf.len();
        for part in parts {
            // SAFETY: `reserve` made room for `len` bytes past the end,
            // and `part` cannot overlap the buffer we own mutably.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), self.buf.as_mut_ptr().add(at), part.len()) };
            at += part.len();
        }
        // SAFETY: the `len` bytes up to `at` were written above.
        unsafe { self.buf.set_len(at) };
    }
}

/// `n` in decimal, written at the end of `digits`.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[start..]
}

/// Whether a field frames the message, which the machine decides itself.
pub(super) fn is_framing(name: &HeaderName) -> bool {
    name == CONTENT_LENGTH || name == TRANSFER_ENCODING
}

/// How the body being sent is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyEncoder {
    /// This many bytes remain to send.
    Length(u64),
    Chunked {
        trailers_sent: bool,
    },
    /// Until the connection closes (HTTP/1.0 without a length).
    UntilClose,
    /// The message has no body on the wire (HEAD, 204, 304): bytes given
    /// are dropped.
    Discard,
}

impl BodyEncoder {
    /// Whether the body is complete without any more bytes.
    pub(super) fn is_complete(&self) -> bool {
        matches!(self, BodyEncoder::Length(0) | BodyEncoder::Discard)
    }

    pub(super) fn data(&mut self, data: Bytes, out: &mut WriteQueue) -> Result<(), crate::Error> {
        match self {
            BodyEncoder::Length(remaining) => {
                let len = data.len() as u64;
                if len > *remaining {
                    return Err(crate::Error::InvalidMessage(format!(
                        "the body is longer than its Content-Length ({len} bytes given, {remaining} left)"
                    )));
                }
                *remaining -= len;
                out.push(data);
            }
            BodyEncoder::Chunked {
                trailers_sent: true,
            } => {
                return Err(crate::Error::InvalidMessage(
                    "body data after the trailers".into(),
                ));
            }
            // An empty chunk would end the body: skip it.
            BodyEncoder::Chunked { .. } if data.is_empty() => {}
            BodyEncoder::Chunked { .. } => {
                out.push(Bytes::from(format!("{:x}\r\n", data.len())));
                out.push(data);
                out.push(Bytes::from_static(b"\r\n"));
            }
            BodyEncoder::UntilClose => out.push(data),
            BodyEncoder::Discard => {}
        }
        Ok(())
    }

    /// Trailers go out with the last chunk; other framings cannot carry
    /// them and drop them.
    pub(super) fn trailers(
        &mut self,
        trailers: &HeaderMap,
        out: &mut WriteQueue,
    ) -> Result<(), crate::Error> {
        if let BodyEncoder::Chunked { trailers_sent } = self {
            if *trailers_sent {
                return Err(crate::Error::InvalidMessage("trailers sent twice".into()));
            }
            *trailers_sent = true;
            let mut section = HeadWriter {
                buf: BytesMut::from(&b"0\r\n"[..]),
            };
            section.fields(trailers, is_framing);
            out.push(section.finish().freeze());
        }
        Ok(())
    }

    pub(super) fn end(&mut self, out: &mut WriteQueue) -> Result<(), crate::Error> {
        match *self {
            BodyEncoder::Length(0) | BodyEncoder::UntilClose | BodyEncoder::Discard => {}
            BodyEncoder::Length(remaining) => {
                return Err(crate::Error::InvalidMessage(format!(
                    "the body ended {remaining} bytes short of its Content-Length"
                )));
            }
            BodyEncoder::Chunked { trailers_sent } => {
                if !trailers_sent {
                    out.push(Bytes::from_static(b"0\r\n\r\n"));
                }
            }
        }
        *self = BodyEncoder::Length(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn chunked_framing() {
        let mut out = WriteQueue::default();
        let mut encoder = BodyEncoder::Chunked {
            trailers_sent: false,
        };
        encoder
            .data(Bytes::from_static(b"hello world!"), &mut out)
            .unwrap();
        encoder.data(Bytes::new(), &mut out).unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", HeaderValue::from_static("1"));
        trailers.insert("content-length", HeaderValue::from_static("1"));
        encoder.trailers(&trailers, &mut out).unwrap();
        encoder.end(&mut out).unwrap();
        assert_eq!(
            out.take_all(),
            b"c\r\nhello world!\r\n0\r\nx-sum: 1\r\n\r\n"
        );
    }

    #[test]
    fn length_is_enforced() {
        let mut out = WriteQueue::default();
        let mut encoder = BodyEncoder::Length(3);
        assert!(encoder.data(Bytes::from_static(b"abcd"), &mut out).is_err());
        encoder.data(Bytes::from_static(b"ab"), &mut out).unwrap();
        assert!(encoder.end(&mut out).is_err());
        assert_eq!(out.take_all(), b"ab");
    }
}
