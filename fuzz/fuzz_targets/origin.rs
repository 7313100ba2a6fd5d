//! `client::Origin` and URL handling (`IntoUrl`, `Origin::of`) never panic
//! on any text or URI, and round-trip: an origin written out and read back
//! is the same origin; a URL's URI written out and read back is the same
//! URL; an `http+unix://` URL with its socket path percent-encoded again
//! reads back as the same URL.
//!
//! Input: any bytes; as UTF-8 text (lossily) and as a URI.
#![no_main]

use http::Uri;
use libfuzzer_sys::fuzz_target;
use paf::client::{IntoUrl, Origin, Url};

/// Every byte but the unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn check(url: Url) {
    let Ok(origin) = Origin::of(&url.uri, url.unix.as_deref()) else { return };
    match &url.unix {
        None => {
            let text = origin.to_string();
            let again = text.as_str().into_url().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let again = Origin::of(&again.uri, None).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(origin, again, "{text:?}");
            let uri = url.uri.to_string();
            let url_again = uri.as_str().into_url().unwrap_or_else(|e| panic!("{uri:?}: {e}"));
            assert_eq!(url_again, url, "{uri:?}");
        }
        Some(socket) => {
            let Some(socket_text) = socket.to_str() else { return };
            let path = url.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let text = format!("http+unix://{}{path}", percent_encode(socket_text));
            let again = text.as_str().into_url().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(again, url, "{text:?}");
            assert_eq!(Origin::of(&again.uri, again.unix.as_deref()).ok(), Some(origin));
        }
    }
}

/// RFC 3986 §2.1 decoding: `%` and two hex digits, nothing else.
fn strict_percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The socket of an `http+unix://` or `unix://` text, as written.
fn socket_text(text: &str) -> Option<&str> {
    let lower = text.get(..12).map(str::to_ascii_lowercase);
    let rest = if lower.as_deref() == Some("http+unix://") {
        &text[12..]
    } else if text.get(..7).is_some_and(|head| head.eq_ignore_ascii_case("unix://")) {
        &text[7..]
    } else {
        return None;
    };
    Some(&rest[..rest.find(['/', '?']).unwrap_or(rest.len())])
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(url) = text.as_ref().into_url() {
        if let Some(socket) = socket_text(&text) {
            // A malformed escape is refused, not read some other way.
            let decoded = strict_percent_decode(socket);
            assert!(decoded.is_some(), "{text:?}: a malformed %-escape in the socket path was accepted");
            assert_eq!(url.unix.as_deref(), decoded.as_deref().map(std::path::Path::new), "{text:?}");
        }
        check(url);
    }
    if let Ok(uri) = Uri::try_from(data) {
        if let Ok(url) = (&uri).into_url() {
            check(url);
        }
        let _ = Origin::of(&uri, None);
    }
});
