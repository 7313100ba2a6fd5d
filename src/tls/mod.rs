//! TLS over any [`Flow`], client and server, with rustls and its `ring`
//! provider (which builds natively and for both wasm targets).
//!
//! * [`client_of_flow`] and [`server_of_flow`] run a handshake over a flow
//!   and give back a flow whose transport is a [`TlsStream`]; [`session`]
//!   reads what was negotiated from it (ALPN, version, cipher suite, the
//!   peer's certificates) — mimic's *repr*.
//! * [`ClientTls`] builds a client configuration: Mozilla roots by default,
//!   extra or replacement roots from PEM, certificate pinning, the ALPN
//!   list (`h2`, then `http/1.1` by default). Nothing insecure unless asked
//!   for by a method whose name says `dangerous`.
//! * [`ServerTls`] builds a server configuration from PEM whose certificate
//!   can be replaced while serving ([`ServerTls::set_certificate`]), and
//!   that may require or accept client certificates (mutual TLS,
//!   [`ServerTls::require_client_certs`]); a client presents one with
//!   [`ClientTls::identity`].
//! * [`TLS`] is the mimic endpoint value of TLS, tried before plain TCP
//!   ([`TLS_PRIORITY`]). Its [`Endpoint`] carries the configuration, the
//!   server name and how to open the underlying flow, so this module knows
//!   no platform: `rt::native` derives it from a TCP address
//!   (`platform::native::https_ctx`).
//!
//! The server name is checked against the certificate and sent as SNI,
//! except for an IP literal, which is checked against the certificate's IP
//! addresses and never sent (RFC 6066).
//!
//! Errors say what to do: a [`TlsError`] names the host a certificate is
//! not valid for, an unknown authority, a pin mismatch, an expired
//! certificate, a peer that does not speak TLS.
//!
//! ```no_run
//! # async fn run(flow: paf::Flow) -> Result<(), paf::Error> {
//! use paf::tls::{self, ClientTls};
//! let config = ClientTls::new().build();
//! let flow = tls::client_of_flow(config, "example.com", flow).await?;
//! let session = tls::session(&flow).expect("a TLS flow");
//! println!("{} {:?}", session.version, session.alpn_str());
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{ready, Context, Poll};

use rustls::crypto::{
    CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, IpAddr, PrivateKeyDer, ServerName};
use rustls::sign::SigningKey;
use rustls::{CipherSuite, CommonState, ProtocolVersion, SignatureScheme};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use crate::flow::Transport;
use crate::{Error, Flow};

mod client;
pub(crate) mod der;
pub(crate) mod pem;
mod protocol;
mod server;

pub use client::{certificate_sha256, default_client_config, ClientTls};
pub use crate::error::TlsError;
pub use protocol::{
    Endpoint, Open, OpenFlow, CONFIG, SERVER_NAME, TLS, TLS_PRIORITY, TLS_WITNESS,
};
pub use rustls::{self, ClientConfig, ServerConfig};
pub use server::{ServerTls, ACME_TLS_ALPN};

/// The ALPN list offered and accepted by default: HTTP/2 first.
pub const DEFAULT_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Runs a client handshake over `flow` with `server_name` (a DNS name, or
/// an IP literal, `[::1]` brackets allowed) and gives back the TLS flow.
/// See [`connect`] for the failures.
pub async fn client_of_flow(
    config: Arc<ClientConfig>,
    server_name: &str,
    flow: Flow,
) -> Result<Flow, Error> {
    Ok(Flow::new(connect(config, server_name, flow).await?))
}

/// Runs a server handshake over `flow` and gives back the TLS flow.
/// See [`accept`] for the failures.
pub async fn server_of_flow(config: Arc<ServerConfig>, flow: Flow) -> Result<Flow, Error> {
    Ok(Flow::new(accept(config, flow).await?))
}

/// [`client_of_flow`], giving the [`TlsStream`] itself.
///
/// Fails with [`TlsError::NotValidForHost`], [`TlsError::UnknownAuthority`],
/// [`TlsError::Expired`], [`TlsError::PinMismatch`], ... when the server's
/// certificate is refused, [`TlsError::NotTls`] when the peer answers
/// something else than TLS, [`TlsError::Closed`] or [`TlsError::Io`] when
/// the flow fails. No timeout is applied: wrap the call in one.
pub async fn connect(
    config: Arc<ClientConfig>,
    server_name: &str,
    flow: Flow,
) -> Result<TlsStream, TlsError> {
    let name = parse_server_name(server_name)?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, flow)
        .await
        .map_err(|err| TlsError::from_handshake(err, Some(server_name)))?;
    tracing::debug!(server_name, session = ?session_of(stream.get_ref().1), "tls: connected");
    Ok(TlsStream {
        inner: Box::new(stream),
        failed_write: None,
        shut_down: false,
    })
}

/// [`server_of_flow`], giving the [`TlsStream`] itself.
///
/// Fails with [`TlsError::PeerAlert`] when the client refuses our
/// certificate, [`TlsError::NoApplicationProtocol`] when it offers no
/// protocol we accept, [`TlsError::NotTls`] when it does not speak TLS
/// (plain HTTP on the TLS port), [`TlsError::Closed`] or [`TlsError::Io`]
/// when the flow fails. No timeout is applied: wrap the call in one.
pub async fn accept(config: Arc<ServerConfig>, flow: Flow) -> Result<TlsStream, TlsError> {
    let stream = tokio_rustls::TlsAcceptor::from(config)
        .accept(flow)
        .await
        .map_err(|err| TlsError::from_handshake(err, None))?;
    tracing::debug!(session = ?session_of(stream.get_ref().1), "tls: accepted");
    Ok(TlsStream {
        inner: Box::new(stream),
        failed_write: None,
        shut_down: false,
    })
}

/// What the TLS session of `flow` negotiated, if `flow` is a TLS flow
/// (made by [`client_of_flow`], [`server_of_flow`] or the [`TLS`]
/// protocol).
pub fn session(flow: &Flow) -> Option<Session> {
    flow.downcast_ref::<TlsStream>().map(TlsStream::session)
}

/// A TLS session over a [`Flow`], client or server side: the transport of
/// the flows this module makes. Reads and writes are the plaintext;
/// shutting down sends `close_notify`.
pub struct TlsStream {
    inner: Box<dyn Side>,
    /// A write that failed on a closed connection, kept while a read
    /// looks for the reason ([`TlsStream::poll_why_write_failed`]).
    failed_write: Option<io::Error>,
    /// `poll_shutdown` was called: a write failing after it is ours.
    shut_down: bool,
}

/// One side of a TLS session, as [`TlsStream`] drives it. A trait object
/// rather than tokio-rustls's enum of both sides: a build that never
/// accepts (the npm package's client module) then carries no server-side
/// code.
trait Side: Transport + AsyncBufRead {
    fn session(&self) -> Session;
    fn is_client(&self) -> bool;
    fn flow(&self) -> &Flow;
}

impl Side for tokio_rustls::client::TlsStream<Flow> {
    fn session(&self) -> Session {
        session_of(self.get_ref().1)
    }

    fn is_client(&self) -> bool {
        true
    }

    fn flow(&self) -> &Flow {
        self.get_ref().0
    }
}

impl Side for tokio_rustls::server::TlsStream<Flow> {
    fn session(&self) -> Session {
        let (_, connection) = self.get_ref();
        Session {
            server_name: connection.server_name().map(str::to_string),
            ..session_of(connection)
        }
    }

    fn is_client(&self) -> bool {
        false
    }

    fn flow(&self) -> &Flow {
        self.get_ref().0
    }
}

impl TlsStream {
    /// What the handshake negotiated.
    pub fn session(&self) -> Session {
        self.inner.session()
    }

    /// Whether this is the client side.
    pub fn is_client(&self) -> bool {
        self.inner.is_client()
    }

    /// The flow underneath (a TCP connection, ...).
    pub fn get_ref(&self) -> &Flow {
        self.inner.flow()
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("client", &self.is_client())
            .field("session", &self.session())
            .finish()
    }
}

/// What a TLS handshake negotiated. See [`session`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The application protocol both sides agreed on with ALPN (`b"h2"`,
    /// `b"http/1.1"`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The protocol version: `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: &'static str,
    /// The cipher suite, by its IANA name (`"TLS13_AES_256_GCM_SHA384"`),
    /// or `"other"` for one that ring's provider does not have.
    pub cipher_suite: &'static str,
    /// The certificates the peer presented, its own first (DER). Empty for
    /// a client that presented none.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// On the server side, the name the client asked for with SNI.
    pub server_name: Option<String>,
}

impl Session {
    /// A session a platform's own TLS negotiated (`node:tls`, a host's),
    /// described by its names: `version` as `"TLSv1.3"` or `"TLSv1.2"`, and
    /// `cipher_suite` by its IANA name (OpenSSL's standard name for TLS
    /// 1.3 suites, `TLS_AES_128_GCM_SHA256`, is read as rustls's
    /// `TLS13_AES_128_GCM_SHA256`). Other names read as `"unknown"` and
    /// `"other"`, as for a rustls session.
    pub fn negotiated_elsewhere(
        version: &str,
        cipher_suite: &str,
        alpn: Option<Vec<u8>>,
        server_name: Option<String>,
        peer_certificates: Vec<CertificateDer<'static>>,
    ) -> Session {
        let version = ["TLSv1.3", "TLSv1.2"].into_iter().find(|known| *known == version).unwrap_or("unknown");
        let tls13_name = cipher_suite.strip_prefix("TLS_").map(|rest| format!("TLS13_{rest}"));
        let cipher_suite = SUITES
            .into_iter()
            .map(|(_, name)| name)
            .find(|name| *name == cipher_suite || Some(*name) == tls13_name.as_deref())
            .unwrap_or("other");
        Session { alpn, version, cipher_suite, peer_certificates, server_name }
    }

    /// The negotiated ALPN protocol as text, if any and if it is UTF-8.
    pub fn alpn_str(&self) -> Option<&str> {
        self.alpn
            .as_deref()
            .and_then(|alpn| std::str::from_utf8(alpn).ok())
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("alpn", &self.alpn.as_deref().map(String::from_utf8_lossy))
            .field("version", &self.version)
            .field("cipher_suite", &self.cipher_suite)
            .field("peer_certificates", &self.peer_certificates.len())
            .field("server_name", &self.server_name)
            .finish()
    }
}

fn session_of(state: &CommonState) -> Session {
    let version = match state.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        Some(_) | None => "unknown",
    };
    let cipher_suite = state
        .negotiated_cipher_suite()
        .map_or("unknown", |suite| suite_name(suite.suite()));
    Session {
        alpn: state.alpn_protocol().map(<[u8]>::to_vec),
        version,
        cipher_suite,
        peer_certificates: state
            .peer_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
        server_name: None,
    }
}

/// The cipher suites ring's provider has, with their IANA names (rustls's
/// `CipherSuite::as_str` and `Debug` know them all, ~350 names that would
/// weigh on the wasm builds).
const SUITES: [(CipherSuite, &str); 9] = [
    (CipherSuite::TLS13_AES_128_GCM_SHA256, "TLS13_AES_128_GCM_SHA256"),
    (CipherSuite::TLS13_AES_256_GCM_SHA384, "TLS13_AES_256_GCM_SHA384"),
    (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, "TLS13_CHACHA20_POLY1305_SHA256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
];

/// The IANA name of `suite`; `"other"` for a suite of another provider.
fn suite_name(suite: CipherSuite) -> &'static str {
    SUITES.into_iter().find(|(known, _)| *known == suite).map_or("other", |(_, name)| name)
}

/// `host` as rustls wants it: an IP literal (brackets removed) or a DNS
/// name.
fn parse_server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    // Read by rustls's own address parser, not a second one from std.
    let unbracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Some(Ok(ServerName::IpAddress(ip @ IpAddr::V6(_)))) = unbracketed.map(ServerName::try_from) {
        return Ok(ServerName::IpAddress(ip));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::InvalidServerName(host.to_string()))
}

/// The crypto provider of servers: ring's.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// The crypto provider of clients: ring's cipher suites, key exchanges
/// and signature checks, without private-key loading: the key of a client
/// certificate is loaded by [`ClientTls::identity`] with [`provider`]'s
/// loader, outside the configuration. Made field by field (not from ring's
/// `default_provider()`, whose key loader would stay referenced), so that
/// a build with clients only and no client certificate (the npm package)
/// leaves the signing code of ring and rustls out.
fn client_provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> = LazyLock::new(|| {
        Arc::new(CryptoProvider {
            cipher_suites: CLIENT_CIPHER_SUITES.to_vec(),
            kx_groups: rustls::crypto::ring::ALL_KX_GROUPS.to_vec(),
            signature_verification_algorithms: SIGNATURE_CHECKS,
            secure_random: &RingRandom,
            key_provider: &NoPrivateKeys,
        })
    });
    PROVIDER.clone()
}

/// The cipher suites a client offers: ring's (AES-GCM, and ChaCha20-Poly1305
/// with the `full-client-crypto` feature). Without it (the npm package,
/// where wasm has no AES instructions and AES runs in software) AES-128
/// comes first, as browsers order it: servers follow the client's order
/// in TLS 1.3, and 10 rounds decrypt faster than AES-256's 14.
#[cfg(feature = "full-client-crypto")]
static CLIENT_CIPHER_SUITES: &[rustls::SupportedCipherSuite] = rustls::crypto::ring::ALL_CIPHER_SUITES;
#[cfg(not(feature = "full-client-crypto"))]
static CLIENT_CIPHER_SUITES: &[rustls::SupportedCipherSuite] = {
    use rustls::crypto::ring::cipher_suite as suite;
    &[
        suite::TLS13_AES_128_GCM_SHA256,
        suite::TLS13_AES_256_GCM_SHA384,
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ]
};

/// The certificate and handshake signatures a client checks: those of
/// ring's provider (ECDSA P-256 and P-384, RSA PSS and PKCS#1, and Ed25519
/// with the `full-client-crypto` feature).
static SIGNATURE_CHECKS: WebPkiSupportedAlgorithms = {
    use webpki::ring as alg;
    WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            #[cfg(feature = "full-client-crypto")]
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        mapping: &[
            // In TLS 1.2 the scheme does not fix the curve; in TLS 1.3 it does.
            (
                SignatureScheme::ECDSA_NISTP384_SHA384,
                &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
            ),
            (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            ),
            #[cfg(feature = "full-client-crypto")]
            (SignatureScheme::ED25519, &[alg::ED25519]),
            (
                SignatureScheme::RSA_PSS_SHA512,
                &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA384,
                &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA256,
                &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA512,
                &[alg::RSA_PKCS1_2048_8192_SHA512],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA384,
                &[alg::RSA_PKCS1_2048_8192_SHA384],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA256,
                &[alg::RSA_PKCS1_2048_8192_SHA256],
            ),
        ],
    }
};

/// ring's randomness (the platform's: getrandom, `crypto.getRandomValues`
/// in JS, wasi:random).
#[derive(Debug)]
struct RingRandom;

impl SecureRandom for RingRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf)
            .map_err(|_| GetRandomFailed)
    }
}

/// The key provider of [`client_provider`]: it loads no key.
#[derive(Debug)]
struct NoPrivateKeys;

impl KeyProvider for NoPrivateKeys {
    fn load_private_key(
        &self,
        _key: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "paf's client configurations load no private key (ClientTls::identity loads it)"
                .to_string(),
        ))
    }
}

/// An ALPN list shown as text in `Debug`.
struct AlpnList<'a>(&'a [Vec<u8>]);

impl fmt::Debug for AlpnList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|p| String::from_utf8_lossy(p)))
            .finish()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_read(cx, buf)
            .map_err(explained)
    }
}

impl TlsStream {
    /// The reason the server gave for closing, in place of a client's
    /// write failing on the closed connection (a broken pipe, a reset):
    /// a TLS 1.3 server refuses a client's certificate (or its lack of
    /// one) after the client's handshake has completed, sends its alert
    /// and closes, and the client's next write can fail before any read
    /// has taken the alert. Waits for the next of the flow's records or
    /// its end (a closed connection's end comes).
    fn poll_why_write_failed(&mut self, cx: &mut Context<'_>, err: io::Error) -> Poll<io::Error> {
        let closed = matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        );
        if !closed || self.shut_down {
            return Poll::Ready(err);
        }
        // Plaintext the server sent before it closed stays for the reads.
        match Pin::new(&mut self.inner).poll_fill_buf(cx) {
            Poll::Pending => {
                self.failed_write = Some(err);
                Poll::Pending
            }
            Poll::Ready(Err(reason)) if reason.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
                Poll::Ready(explained(reason))
            }
            Poll::Ready(_) => Poll::Ready(err),
        }
    }

    /// Writes (or flushes) by `write`, a failure explained.
    fn poll_write_with(&mut self, cx: &mut Context<'_>, write: Write<'_>) -> Poll<io::Result<usize>> {
        if let Some(err) = self.failed_write.take() {
            return self.poll_why_write_failed(cx, err).map(Err);
        }
        let inner = Pin::new(&mut self.inner);
        let written = match write {
            Write::Bytes(buf) => inner.poll_write(cx, buf),
            Write::Slices(bufs) => inner.poll_write_vectored(cx, bufs),
            Write::Flush => inner.poll_flush(cx).map_ok(|()| 0),
        };
        match ready!(written) {
            Err(err) => self.poll_why_write_failed(cx, err).map(Err),
            Ok(n) => Poll::Ready(Ok(n)),
        }
    }
}

/// What [`TlsStream::poll_write_with`] does.
enum Write<'a> {
    Bytes(&'a [u8]),
    Slices(&'a [io::IoSlice<'a>]),
    Flush,

}

/// An error of the session after the handshake, said as a [`TlsError`]
/// when rustls gave it: in TLS 1.3 a server refuses a client's certificate
/// (or its lack of one) only after the client's handshake has completed,
/// so the client learns it from its first read.
fn explained(err: io::Error) -> io::Error {
    if !err.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return err;
    }
    let kind = err.kind();
    let inner = err.into_inner().expect("checked just above");
    let rustls = *inner.downcast::<rustls::Error>().expect("checked just above");
    io::Error::new(kind, TlsError::from_rustls(rustls, None))
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, Write::Bytes(buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, Write::Slices(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_with(cx, Write::Flush).map_ok(drop)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut_down = true;
        self.failed_write = None;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_dns_names_or_ip_literals() {
        assert!(matches!(
            parse_server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            parse_server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            parse_server_name("::1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            parse_server_name("[::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        // Brackets hold an IPv6 address, nothing else.
        assert!(parse_server_name("[example.com]").is_err());
        assert!(parse_server_name("[127.0.0.1]").is_err());
        let err = parse_server_name("not a name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid server name \"not a name\": expected a DNS name or an IP address"
        );
    }

    #[test]
    fn tls_streams_and_configs_are_send_and_sync_natively() {
        #[cfg(not(target_family = "wasm"))]
        {
            fn send<T: Send>() {}
            fn send_sync<T: Send + Sync>() {}
            send::<TlsStream>();
            send_sync::<ServerTls>();
            send_sync::<ClientTls>();
            send_sync::<Endpoint>();
            send_sync::<TlsError>();
        }
    }
}
