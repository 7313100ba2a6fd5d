//! [`ClientBuilder`]: a [`Client`]'s settings, each with its default, and
//! the client it builds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::pool::Pool;
use super::{Client, Inner, Platform};
use crate::engine::alpn::Protocol;
use crate::mimic::Ctx;
use crate::tls::ClientTls;
use crate::{Config, Error};

/// The configuration of a [`Client`]; every setting has a documented
/// default.
///
/// ```no_run
/// # fn run(ca_pem: &[u8]) -> Result<(), paf::Error> {
/// use std::time::Duration;
/// let client = paf::Client::builder()
///     .request_timeout(Duration::from_secs(5))
///     .max_redirects(3)
///     .add_roots_pem(ca_pem)?
///     .build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    platform: Platform,
    context: Ctx,
    tls: ClientTls,
    alpn: Vec<Protocol>,
    prior_knowledge: bool,
    config: Config,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    idle_timeout: Duration,
    max_idle_per_origin: usize,
    reuse_connections: bool,
    max_redirects: usize,
    https_downgrade: bool,
    headers: HeaderMap,
    unix_socket: Option<PathBuf>,
}

impl ClientBuilder {
    /// A builder for a client on `platform`, with the defaults.
    pub fn new(platform: Platform) -> ClientBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("paf/", env!("CARGO_PKG_VERSION"))),
        );
        ClientBuilder {
            platform,
            context: Ctx::new(),
            tls: ClientTls::new(),
            alpn: vec![Protocol::Http2, Protocol::Http1],
            prior_knowledge: false,
            config: Config::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_origin: 8,
            reuse_connections: true,
            max_redirects: 10,
            https_downgrade: false,
            headers,
            unix_socket: None,
        }
    }

    /// How long connecting may take: name resolution, transport, TLS
    /// handshake and HTTP/2 preface. Default 10 s.
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How long a request may take until the head of its final response
    /// has arrived: connecting, sending the request body and redirects
    /// included; `None` for no limit. Default 30 s (raise it for long
    /// uploads). The response body is not counted: one that stalls is
    /// bounded by the engine's [`Config::body_timeout`].
    pub fn request_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.request_timeout = limit.into();
        self
    }

    /// How long a connection may stay unused before it is closed: an
    /// HTTP/1.1 one idle in the pool, an HTTP/2 one with no stream in
    /// flight. Default 90 s.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// How many idle HTTP/1.1 connections are kept per origin; more are
    /// closed once their exchange is over. Default 8; 0 keeps none.
    pub fn max_idle_per_origin(mut self, max: usize) -> Self {
        self.max_idle_per_origin = max;
        self
    }

    /// Whether a connection serves more than the request that opened it
    /// (default): idle HTTP/1.1 connections pooled, one HTTP/2 connection
    /// shared by every request to its origin. `false`: each request opens
    /// its own connection, closed once its response is over, for a
    /// platform where a connection cannot outlive what opened it (in a
    /// Cloudflare worker, the fetch event: see `paf::platform::worker`).
    pub fn reuse_connections(mut self, reuse: bool) -> Self {
        self.reuse_connections = reuse;
        self
    }

    /// How many redirects a request follows before it fails with
    /// [`Error::TooManyRedirects`]; 0 follows none (a redirect is then a
    /// response like any other). Default 10.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Whether a redirect from `https` to `http` is followed. Default
    /// `false`: it fails with [`Error::InsecureRedirect`].
    pub fn https_downgrade(mut self, allow: bool) -> Self {
        self.https_downgrade = allow;
        self
    }

    /// Adds a header sent with every request that has none of that name.
    /// By default there is one: `User-Agent: paf/<version>`.
    pub fn default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the `User-Agent` sent with every request that has none.
    pub fn user_agent(mut self, value: HeaderValue) -> Self {
        self.headers.insert(header::USER_AGENT, value);
        self
    }

    /// Whom TLS trusts (roots, pins; [`ClientTls`]'s own ALPN list is
    /// replaced by [`ClientBuilder::alpn`]). Default: the Mozilla roots.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// Also trusts the CA certificates in `pem`.
    pub fn add_roots_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.tls = self.tls.add_roots_pem(pem)?;
        Ok(self)
    }

    /// The certificate this client presents to servers that ask for one
    /// (mutual TLS): the client's certificate chain, its own first, and
    /// the private key of that certificate, both PEM. See
    /// [`ClientTls::identity`], and call it after [`ClientBuilder::tls`],
    /// which replaces the whole TLS configuration.
    ///
    /// ```no_run
    /// # fn run(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<(), paf::Error> {
    /// let client = paf::Client::builder()
    ///     .add_roots_pem(ca_pem)?
    ///     .identity(cert_pem, key_pem)?
    ///     .build();
    /// # Ok(()) }
    /// ```
    pub fn identity(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        self.tls = self.tls.identity(cert_chain_pem, key_pem)?;
        Ok(self)
    }

    /// Accepts only a server whose leaf certificate has this SHA-256 (see
    /// [`ClientTls::pin_sha256`]: a pin replaces the usual checks).
    pub fn pin_sha256(mut self, sha256: [u8; 32]) -> Self {
        self.tls = self.tls.pin_sha256(sha256);
        self
    }

    /// The protocols offered with ALPN on TLS, best first. Default HTTP/2,
    /// then HTTP/1.1.
    pub fn alpn(mut self, protocols: Vec<Protocol>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Whether `http://` origins are spoken to in HTTP/2 from the first
    /// byte (h2c by prior knowledge, RFC 9113 §3.3), for servers known to
    /// speak it. Default `false`: HTTP/1.1.
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.prior_knowledge = on;
        self
    }

    /// Sends every request through the Unix socket at `path`, whatever
    /// the URL's host (which still gives `Host`), as curl's
    /// `--unix-socket`.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_socket = Some(path.into());
        self
    }

    /// A context put on top of the platform's for every connection: values
    /// (`ADDRESSES` to skip DNS), folds (a resolver of one's own) and
    /// protocols (a tunnel) of the user's. Merged on top of what was given
    /// before.
    pub fn context(mut self, ctx: Ctx) -> Self {
        self.context = self.context.merge(&ctx);
        self
    }

    /// The engine's limits and timeouts for the client's connections
    /// (parser limits, HTTP/2 settings, body stall timeout, buffers); its
    /// idle timeout is [`ClientBuilder::idle_timeout`]'s.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        let alpn = self.alpn.iter().map(|p| p.alpn_id().to_vec()).collect();
        let mut config = self.config;
        config.idle_timeout = self.idle_timeout;
        Client {
            inner: Arc::new(Inner {
                rt: self.platform.rt.clone(),
                tls: self.tls.alpn(alpn).build(),
                offers_h2: self.alpn.contains(&Protocol::Http2),
                platform: self.platform,
                context: self.context,
                prior_knowledge: self.prior_knowledge,
                config,
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
                max_redirects: self.max_redirects,
                https_downgrade: self.https_downgrade,
                headers: self.headers,
                unix_socket: self.unix_socket,
                pool: Arc::new(Pool::new(self.max_idle_per_origin, self.reuse_connections)),
            }),
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("alpn", &self.alpn)
            .field("prior_knowledge", &self.prior_knowledge)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_idle_per_origin", &self.max_idle_per_origin)
            .field("reuse_connections", &self.reuse_connections)
            .field("max_redirects", &self.max_redirects)
            .field("https_downgrade", &self.https_downgrade)
            .field("headers", &self.headers)
            .field("unix_socket", &self.unix_socket)
            .finish_non_exhaustive()
    }
}
