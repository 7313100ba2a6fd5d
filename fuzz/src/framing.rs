//! A reference reading of RFC 9112 §6 (message body length of a request),
//! written from the RFC and not from paf, for the `framing` target.
//!
//! [`head`] reads a request head the plain way (CRLF lines, a request line
//! of three parts, `name ":" OWS value OWS` fields); [`decide`] says how
//! the body of such a request is framed, or that it must be rejected, and
//! where the RFC lets a server choose between the two.

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (no body at all is a length of 0).
    Length(u64),
    Chunked,
}

/// What RFC 9112 §6 allows a server to do with a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Read the body so.
    Must(Framing),
    /// Reject the request (400, or 501 for a coding it does not know).
    MustReject,
    /// Either read the body so, or reject the request: the RFC leaves it to
    /// the server ("MAY reject").
    Either(Framing),
}

/// A request head as the reference reads it.
#[derive(Debug)]
pub struct Head {
    pub http10: bool,
    /// Names lower-cased, values without the whitespace around them.
    pub fields: Vec<(String, Vec<u8>)>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// field-vchar / obs-text / SP / HTAB (RFC 9110 §5.5).
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The head at the start of `input` (after the empty lines a client may
/// send first, RFC 9112 §2.2), up to its empty line; `None` if it is not
/// complete or not well-formed (RFC 9112 §2-§5: CRLF lines, no folding, no
/// whitespace before a colon, a token as field name, a version of 1.0 or
/// 1.1).
pub fn head(input: &[u8]) -> Option<Head> {
    let mut rest = input;
    while let Some(tail) = rest.strip_prefix(b"\r\n") {
        rest = tail;
    }
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let mut lines = rest[..end].split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    // Every line but the last ended in CRLF (the split took the LF; a CR
    // must have come before it), and no CR or LF is left inside.
    let text = &rest[..end];
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' && (i == 0 || text[i - 1] != b'\r') {
            return None;
        }
        if b == b'\r' && text.get(i + 1) != Some(&b'\n') {
            return None;
        }
    }
    let request_line = lines.next()?;
    let parts: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else { return None };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    // Visible ASCII, and (as httparse and `http` take them) raw bytes of
    // 0x80 and above: not a framing matter.
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b) || b >= 0x80) {
        return None;
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return None,
    };
    let mut fields = Vec::new();
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return None;
        }
        if !value.iter().all(|&b| is_field_byte(b)) {
            return None;
        }
        fields.push((
            String::from_utf8(name.to_ascii_lowercase()).ok()?,
            trim_ows(value).to_vec(),
        ));
    }
    Some(Head { http10, fields })
}

/// The elements of a list field over all its lines (RFC 9110 §5.6.1),
/// empty ones included (the caller decides about them).
fn elements<'a>(head: &'a Head, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.fields
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(trim_ows)
}

/// RFC 9112 §6.1 and §6.3 for a request.
pub fn decide(head: &Head) -> Allowed {
    let has = |name: &str| head.fields.iter().any(|(n, _)| n == name);
    if has("transfer-encoding") {
        // §6.1: Transfer-Encoding in an HTTP/1.0 message: "MUST treat the
        // message as if the framing is faulty".
        if head.http10 {
            return Allowed::MustReject;
        }
        let codings: Vec<&[u8]> = elements(head, "transfer-encoding").collect();
        let has_empty = codings.iter().any(|c| c.is_empty());
        let codings: Vec<&[u8]> = codings.into_iter().filter(|c| !c.is_empty()).collect();
        let is_chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        // §6.3 rule 4: chunked not final (or no coding at all): 400.
        if !codings.last().is_some_and(|c| is_chunked(c)) {
            return Allowed::MustReject;
        }
        // §7: chunked MUST NOT be applied more than once.
        if codings.iter().filter(|c| is_chunked(c)).count() > 1 {
            return Allowed::MustReject;
        }
        // §6.1: with Content-Length too, a server MAY reject or use
        // Transfer-Encoding alone. Another coding before chunked: a server
        // SHOULD answer 501 to a coding it does not know (RFC 9110 §6.1 of
        // 9112). Empty list elements are to be ignored (RFC 9110 §5.6.1),
        // but a server may also refuse a malformed field.
        if has("content-length") || codings.len() > 1 || has_empty {
            return Allowed::Either(Framing::Chunked);
        }
        return Allowed::Must(Framing::Chunked);
    }
    if has("content-length") {
        // §6.3 rule 5 and RFC 9110 §8.6: 1*DIGIT; the same value repeated
        // in a list MAY be taken as one; anything else is invalid: 400.
        let values: Vec<&[u8]> = elements(head, "content-length").collect();
        let mut numbers = Vec::new();
        for value in &values {
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Allowed::MustReject;
            }
            let digits = value.iter().skip_while(|&&b| b == b'0').count();
            if digits > 20 {
                return Allowed::MustReject; // beyond any length a server holds
            }
            let n: u128 = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(u128::MAX);
            numbers.push(n);
        }
        if numbers.windows(2).any(|w| w[0] != w[1]) {
            return Allowed::MustReject;
        }
        let Ok(n) = u64::try_from(numbers[0]) else { return Allowed::MustReject };
        return if numbers.len() == 1 {
            Allowed::Must(Framing::Length(n))
        } else {
            Allowed::Either(Framing::Length(n))
        };
    }
    // §6.3 rule 7: a request with neither has no body.
    Allowed::Must(Framing::Length(0))
}
