//! Redirects: which responses are followed, and what the next request is
//! (the rules are in the [client's documentation](super)).

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Uri};

use super::origin::invalid_url;
use super::{Origin, Outgoing, Url};
use crate::Error;

/// Whether `status` is a redirect the client follows.
pub(super) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Fields that describe the body: gone with it.
const BODY_FIELDS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::TRANSFER_ENCODING,
];

/// Fields that speak for the user to one origin only.
const CREDENTIALS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::HOST,
];

/// Turns `request` (sent to `origin`) into the request that follows its
/// redirect `status` to `location`. `Ok(false)` when it cannot be
/// followed (a stream body on a 307 or 308): the response stands.
pub(super) fn follow(
    request: &mut Outgoing,
    origin: &Origin,
    status: StatusCode,
    location: &str,
    allow_downgrade: bool,
) -> Result<bool, Error> {
    let uri = join(&request.url.uri, location).ok_or_else(|| {
        invalid_url(location, "the redirect's Location is not a URL")
    })?;
    // A relative Location stays on the same socket.
    let same_authority = uri.authority() == request.url.uri.authority()
        && uri.scheme() == request.url.uri.scheme();
    let unix = request.url.unix.clone().filter(|_| same_authority);
    let next = Origin::of(&uri, unix.as_deref())?;
    if origin.is_tls() && !next.is_tls() && !allow_downgrade {
        return Err(Error::InsecureRedirect {
            from: request.url.uri.to_string(),
            to: uri.to_string(),
        });
    }
    let keeps_method = matches!(status.as_u16(), 307 | 308);
    if keeps_method {
        if !request.payload.is_replayable() {
            return Ok(false);
        }
    } else if request.method != Method::HEAD {
        request.method = Method::GET;
        request.payload = super::Payload::Bytes(Default::default());
        remove_all(&mut request.headers, &BODY_FIELDS);
    }
    if next != *origin {
        remove_all(&mut request.headers, &CREDENTIALS);
    }
    request.url = Url { uri, unix };
    Ok(true)
}

fn remove_all(headers: &mut HeaderMap, names: &[HeaderName]) {
    for name in names {
        headers.remove(name);
    }
}

/// `reference` resolved against `base` (RFC 3986 §5.2.2), without its
/// fragment; characters a URI cannot hold (spaces, UTF-8, ...) are
/// percent-encoded first, as browsers do with a sloppy `Location`.
pub(super) fn join(base: &Uri, reference: &str) -> Option<Uri> {
    let reference = percent_encode_invalid(reference.split('#').next().unwrap_or_default());
    let (scheme, rest) = match reference.split_once(':') {
        Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
        _ => (None, reference.as_str()),
    };
    let (authority, rest) = match rest.strip_prefix("//") {
        Some(rest) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            (Some(&rest[..end]), &rest[end..])
        }
        None => (None, rest),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let base_path = base.path();
    let (authority, path, query) = match (scheme, authority) {
        (Some(_), _) | (None, Some(_)) => (authority.unwrap_or_default(), remove_dot_segments(path), query),
        (None, None) => {
            let authority = base.authority()?.as_str();
            if path.is_empty() {
                (authority, base_path.to_string(), query.or(base.query()))
            } else if path.starts_with('/') {
                (authority, remove_dot_segments(path), query)
            } else {
                let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
                let merged = if directory.is_empty() { format!("/{path}") } else { format!("{directory}{path}") };
                (authority, remove_dot_segments(&merged), query)
            }
        }
    };
    let scheme = scheme.or(base.scheme_str())?;
    let path = if path.is_empty() { "/" } else { &path };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}{path}{query}").parse().ok()
}

fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    let pop = |output: &mut String| output.truncate(output.rfind('/').unwrap_or(0));
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or_else(|| input.strip_prefix("./")) {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

fn percent_encode_invalid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{IntoUrl, Payload};
    use crate::Body;

    fn outgoing(method: Method, url: &str, body: &'static str) -> (Outgoing, Origin) {
        let url = url.into_url().unwrap();
        let origin = Origin::of(&url.uri, url.unix.as_deref()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let payload = Payload::new(Body::from(body));
        (Outgoing { method, url, headers, payload, max_redirects: 10 }, origin)
    }

    #[test]
    fn methods_bodies_and_credentials_after_a_redirect() {
        let (mut request, origin) = outgoing(Method::POST, "http://a/x", "data");
        assert!(follow(&mut request, &origin, StatusCode::SEE_OTHER, "/y", false).unwrap());
        assert_eq!((request.method.clone(), request.url.uri.to_string()), (Method::GET, "http://a/y".into()));
        assert!(request.headers.get(header::CONTENT_TYPE).is_none());
        assert_eq!(request.headers[header::AUTHORIZATION], "Bearer t", "same origin");

        let (mut request, origin) = outgoing(Method::HEAD, "http://a/x", "");
        assert!(follow(&mut request, &origin, StatusCode::FOUND, "http://b/", false).unwrap());
        assert_eq!(request.method, Method::HEAD);
        assert!(request.headers.get(header::AUTHORIZATION).is_none(), "another origin");

        let (mut request, origin) = outgoing(Method::PUT, "https://a/x", "data");
        assert!(follow(&mut request, &origin, StatusCode::PERMANENT_REDIRECT, "https://a:8443/", false).unwrap());
        assert_eq!(request.method, Method::PUT);
        assert_eq!(request.headers[header::CONTENT_TYPE], "text/plain");
        assert!(request.headers.get(header::AUTHORIZATION).is_none(), "another port");

        let (mut request, origin) = outgoing(Method::GET, "https://a/x", "");
        let err = follow(&mut request, &origin, StatusCode::FOUND, "http://a/x", false).unwrap_err();
        assert!(matches!(err, Error::InsecureRedirect { .. }), "{err}");
        assert!(follow(&mut request, &origin, StatusCode::FOUND, "http://a/x", true).unwrap());
    }

    #[test]
    fn a_relative_location_stays_on_the_unix_socket() {
        let (mut request, origin) = outgoing(Method::GET, "http+unix://%2Ftmp%2Fs.sock/x", "");
        assert!(follow(&mut request, &origin, StatusCode::FOUND, "/y", false).unwrap());
        assert_eq!(request.url.unix.as_deref(), Some(std::path::Path::new("/tmp/s.sock")));
        assert!(follow(&mut request, &origin, StatusCode::FOUND, "http://example.com/", false).unwrap());
        assert_eq!(request.url.unix, None);
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let base: Uri = "http://a/b/c/d;p?q".parse().unwrap();
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("https://other:8443/x/../y?z", "https://other:8443/y?z"),
            ("/a b/é", "http://a/a%20b/%C3%A9"),
        ];
        for (reference, expected) in cases {
            assert_eq!(join(&base, reference).unwrap().to_string(), expected, "{reference:?}");
        }
    }
}
