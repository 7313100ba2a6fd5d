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

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(url) = text.as_ref().into_url() {
        check(url);
    }
    if let Ok(uri) = Uri::try_from(data) {
        if let Ok(url) = (&uri).into_url() {
            check(url);
        }
        let _ = Origin::of(&uri, None);
    }
});
