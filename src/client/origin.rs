//! What a URL says about where to connect: its [`Origin`], and the URL
//! forms the client takes ([`Url`], `http+unix://`).

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use http::Uri;

use crate::mimic::Value;
use crate::rt::Global;
use crate::Error;

/// The scheme of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`: clear text.
    Http,
    /// `https://`: TLS.
    Https,
}

impl Scheme {
    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where requests go: a scheme, a host and a port, and for a Unix socket
/// its path. Connections are pooled per origin, and redirects compare
/// origins to decide which credentials may follow.
///
/// The client puts the origin of each connection it opens in the context
/// under [`ORIGIN`], so that a protocol or fold of the user's can decide
/// from it (see the [module documentation](super)).
#[derive(Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: Scheme,
    /// Shared: an origin is cloned per request (the pool's check-in).
    host: Arc<str>,
    port: u16,
    unix: Option<PathBuf>,
    /// The hash of the fields above, keyed at random once per process and
    /// computed once: an origin is looked up in the pool twice per request.
    hash: u64,
}

impl Hash for Origin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("unix", &self.unix)
            .finish()
    }
}

/// The origin of the connection being opened: in every context the client
/// resolves, for folds that derive a transport from it.
pub static ORIGIN: Global<Value<Origin>> = Global::new(|| Value::new("origin"));

impl Origin {
    /// The origin of an absolute `uri`, through the Unix socket at `unix`
    /// if given. The host is lower-cased; an IPv6 literal keeps its
    /// brackets (`[::1]`).
    pub fn of(uri: &Uri, unix: Option<&Path>) -> Result<Origin, Error> {
        let invalid = |reason: &str| invalid_url(&uri.to_string(), reason);
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(other) => {
                return Err(invalid(&format!(
                    "unsupported scheme {other:?} (use http://, https:// or http+unix://)"
                )))
            }
            None => return Err(invalid("no scheme (write http://host/path)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?.as_str();
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not sent: put them in an Authorization header",
            ));
        }
        // Host and port split here, once (`Authority::host` and `port`
        // each scan the text again); a colon inside brackets is IPv6's.
        let (host, port_text) = match authority.rfind(':') {
            Some(colon) if !authority[colon..].contains(']') => (&authority[..colon], &authority[colon + 1..]),
            _ => (authority, ""),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = match port_text {
            // "host:" means the default port (RFC 3986 §3.2.3).
            "" => scheme.default_port(),
            digits => match digits.parse::<u16>() {
                Ok(port) if port != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(invalid(&format!("invalid port {digits:?}"))),
            },
        };
        let host: Arc<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        let unix = unix.map(Path::to_path_buf);
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let hash = KEYS.get_or_init(RandomState::new).hash_one((scheme, &host, port, &unix));
        Ok(Origin { scheme, host, port, unix, hash })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether the scheme is `https`.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// The host: a domain name or an IP literal (`127.0.0.1`, `[::1]`),
    /// lower-cased.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Unix socket to connect to instead of the host and port.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix.as_deref()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unix {
            Some(path) => write!(f, "{}+unix://{}", self.scheme.as_str(), path.display()),
            None => write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port),
        }
    }
}

/// A URL as the client takes it: an absolute URI and, for `http+unix://`,
/// the Unix socket it names. See [`IntoUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The URI requests carry (for `http+unix://`, `http://localhost/...`).
    pub uri: Uri,
    /// The socket of an `http+unix://` URL.
    pub unix: Option<PathBuf>,
}

/// What the client's shortcuts ([`Client::get`](super::Client::get), ...)
/// take as a URL: `&str`, `String`, [`Uri`], [`Url`].
///
/// Text may be `http+unix://` with the socket's path percent-encoded as
/// the host (`http+unix://%2Frun%2Fapp.sock/status`, as in Python's
/// requests-unixsocket); requests then carry `Host: localhost`.
pub trait IntoUrl {
    /// The URL, or [`Error::InvalidUrl`].
    fn into_url(self) -> Result<Url, Error>;
}

impl IntoUrl for Url {
    fn into_url(self) -> Result<Url, Error> {
        Ok(self)
    }
}

impl IntoUrl for Uri {
    fn into_url(self) -> Result<Url, Error> {
        Ok(Url { uri: self, unix: None })
    }
}

impl IntoUrl for &Uri {
    fn into_url(self) -> Result<Url, Error> {
        self.clone().into_url()
    }
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<Url, Error> {
        let unix_rest = ["http+unix://", "unix://"].iter().find_map(|prefix| {
            self.get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .map(|_| &self[prefix.len()..])
        });
        if let Some(rest) = unix_rest {
            let (socket, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            if socket.is_empty() {
                return Err(invalid_url(self, "no socket path (write http+unix://%2Frun%2Fapp.sock/path)"));
            }
            let socket = percent_decode(socket).ok_or_else(|| invalid_url(self, "the socket path is not valid percent-encoded UTF-8"))?;
            let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
            let uri = format!("http://localhost{path}")
                .parse()
                .map_err(|err: http::uri::InvalidUri| invalid_url(self, &err.to_string()))?;
            return Ok(Url { uri, unix: Some(PathBuf::from(socket)) });
        }
        if !self.contains("://") {
            return Err(invalid_url(self, "no scheme (write http://host/path)"));
        }
        let uri: Uri = self
            .parse()
            .map_err(|err: http::uri::InvalidUri| invalid_url(self, &err.to_string()))?;
        uri.into_url()
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<Url, Error> {
        self.as_str().into_url()
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<Url, Error> {
        self.as_str().into_url()
    }
}

pub(crate) fn invalid_url(url: &str, reason: &str) -> Error {
    Error::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// `%XX` escapes decoded; `None` if one is malformed or the result is not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            // Two hex digits: `from_str_radix` alone also takes a sign ("%+1").
            let hex = tail.get(..2).filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Result<Origin, String> {
        let url = url.into_url().map_err(|e| e.to_string())?;
        Origin::of(&url.uri, url.unix.as_deref()).map_err(|e| e.to_string())
    }

    #[test]
    fn schemes_hosts_and_default_ports() {
        let o = origin("http://Example.COM/x").unwrap();
        assert_eq!((o.scheme(), o.host(), o.port()), (Scheme::Http, "example.com", 80));
        let o = origin("https://example.com/").unwrap();
        assert_eq!((o.is_tls(), o.port()), (true, 443));
        let o = origin("HTTPS://[::1]:8443/x").unwrap();
        assert_eq!((o.host(), o.port()), ("[::1]", 8443));
        assert_eq!(o.to_string(), "https://[::1]:8443");
        let o = origin("http://127.0.0.1:8080").unwrap();
        assert_eq!((o.host(), o.port()), ("127.0.0.1", 8080));
        let o = origin("http://[::1]/").unwrap();
        assert_eq!((o.host(), o.port()), ("[::1]", 80));
        let o = origin("https://example.com:/").unwrap();
        assert_eq!((o.host(), o.port()), ("example.com", 443));
        assert_eq!(origin("http://EXAMPLE.com:80/"), origin("http://example.com/"));
    }

    #[test]
    fn unusable_urls_say_why() {
        let cases = [
            ("ftp://example.com/", "unsupported scheme \"ftp\""),
            ("example.com/x", "no scheme"),
            ("/x", "no scheme"),
            ("http://user:secret@example.com/", "credentials in the URL"),
            ("http://example.com:99999/", "invalid port \"99999\""),
            ("http://example.com:0/", "invalid port \"0\""),
            ("http+unix:///x", "no socket path"),
            ("not a url", "invalid URL"),
        ];
        for (url, expected) in cases {
            let err = origin(url).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
        }
    }

    #[test]
    fn unix_socket_urls() {
        let url = "http+unix://%2Ftmp%2Fapp.sock/status?x=1".into_url().unwrap();
        assert_eq!(url.unix.as_deref(), Some(Path::new("/tmp/app.sock")));
        assert_eq!(url.uri, "http://localhost/status?x=1");
        let o = Origin::of(&url.uri, url.unix.as_deref()).unwrap();
        assert_eq!(o.to_string(), "http+unix:///tmp/app.sock");
        let url = "unix://%2Frun%2Fa.sock".into_url().unwrap();
        assert_eq!(url.uri, "http://localhost/");
        assert_eq!(url.unix.as_deref(), Some(Path::new("/run/a.sock")));
        assert!("http+unix://%2/x".into_url().is_err());
        // Found by fuzz/fuzz_targets/origin.rs: a sign is not a hex digit.
        assert!("http+unix://%+2Ftmp/x".into_url().is_err());
        assert!("unix://%-1".into_url().is_err());
    }
}
