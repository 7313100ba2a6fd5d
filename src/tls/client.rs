//! The client side: which servers to trust, and what to offer them.

use std::fmt;
use std::sync::{Arc, LazyLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::tls::{Hex, NoTrustedRoots, PinMismatch};
use super::{client_provider, der, pem, TlsError, DEFAULT_ALPN};

/// A client TLS configuration under construction: whom to trust and which
/// application protocols (ALPN) to offer. [`ClientTls::build`] gives the
/// rustls [`ClientConfig`] that [`client_of_flow`](super::client_of_flow)
/// and the mimic context take.
///
/// By default it trusts the Mozilla roots (webpki-roots, with the
/// `bundled-roots` feature, on by default), checks the server's name and
/// validity dates, and offers ALPN `h2` then `http/1.1`. Without
/// `bundled-roots` it trusts no root until some are added
/// ([`ClientTls::add_roots_pem`]): every certificate is refused, with
/// [`TlsError::NoRoots`]. There is no insecure default: trusting less is
/// explicit. Cipher suites: AES-GCM, and ChaCha20-Poly1305 with the
/// `full-client-crypto` feature (on by default), which also checks
/// Ed25519 signatures besides RSA and ECDSA ones.
///
/// ```
/// # fn run(ca_pem: &[u8]) -> Result<(), paf::Error> {
/// use paf::tls::ClientTls;
/// let config = ClientTls::new()
///     .add_roots_pem(ca_pem)?             // also trust a private CA
///     .alpn(vec![b"http/1.1".to_vec()])   // HTTP/1.1 only
///     .build();
/// # Ok(()) }
/// ```
///
/// To a server that asks for a client certificate (mutual TLS) it presents
/// the one given with [`ClientTls::identity`], or none.
#[derive(Clone)]
pub struct ClientTls {
    roots: RootCertStore,
    pins: Vec<[u8; 32]>,
    accept_any_certificate: bool,
    alpn: Vec<Vec<u8>>,
    identity: Option<Arc<CertifiedKey>>,
}

impl ClientTls {
    /// Trusts the Mozilla roots (none without the `bundled-roots`
    /// feature), offers `h2` then `http/1.1`.
    pub fn new() -> ClientTls {
        ClientTls {
            roots: bundled_roots(),
            pins: Vec::new(),
            accept_any_certificate: false,
            alpn: DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect(),
            identity: None,
        }
    }

    /// The certificate to present to servers that ask for one (mutual
    /// TLS): `cert_chain_pem` is the client's certificate first, then the
    /// intermediates if any, and `key_pem` the private key of the first
    /// (PKCS#8, PKCS#1 or SEC1). Servers that ask for no certificate get
    /// none.
    ///
    /// Fails on PEM without a certificate or a key, on a key that does not
    /// belong to the certificate, and when the first certificate is a CA's
    /// (the CA given instead of the client's own certificate, or a chain
    /// in the wrong order).
    ///
    /// ```
    /// # fn run(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<(), paf::Error> {
    /// use paf::tls::ClientTls;
    /// let config = ClientTls::new()
    ///     .only_roots_pem(ca_pem)?
    ///     .identity(cert_pem, key_pem)?
    ///     .build();
    /// # Ok(()) }
    /// ```
    pub fn identity(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<ClientTls, TlsError> {
        const WHAT: &str = "client certificate chain";
        let chain = pem::certificates(cert_chain_pem, WHAT)?;
        if der::is_ca(&chain[0]) == Some(true) {
            let why = if chain.len() > 1 {
                "its first certificate is a CA certificate (CA:TRUE): put the client's own \
                 certificate first, then the intermediates"
            } else {
                "it is a CA certificate (CA:TRUE), which cannot identify a client: give the \
                 client's own certificate, signed by that CA"
            };
            return Err(TlsError::Pem {
                what: WHAT,
                why: why.to_string(),
            });
        }
        self.identity = Some(pem::certified_key(chain, key_pem)?);
        Ok(self)
    }

    /// Also trusts the CA certificates in `pem` (one or more `BEGIN
    /// CERTIFICATE` sections), for example a private CA.
    pub fn add_roots_pem(mut self, pem: &[u8]) -> Result<ClientTls, TlsError> {
        for certificate in pem::certificates(pem, "CA certificates")? {
            self.roots.add(certificate).map_err(|err| TlsError::Pem {
                what: "CA certificates",
                why: format!("not a usable CA certificate: {err}"),
            })?;
        }
        Ok(self)
    }

    /// Trusts only the CA certificates in `pem`, not the Mozilla roots (what
    /// curl's `--cacert` does).
    ///
    /// Fails on PEM without a certificate: to trust no root, use
    /// [`ClientTls::no_roots`].
    pub fn only_roots_pem(mut self, pem: &[u8]) -> Result<ClientTls, TlsError> {
        self.roots = RootCertStore::empty();
        self.add_roots_pem(pem)
    }

    /// Trusts no root at all (until some are added): every certificate
    /// chain is refused, with [`TlsError::NoRoots`], unless pinned.
    pub fn no_roots(mut self) -> ClientTls {
        self.roots = RootCertStore::empty();
        self
    }

    /// Accepts a server only if the SHA-256 of its leaf certificate (of the
    /// certificate's DER bytes, what `openssl x509 -noout -fingerprint
    /// -sha256` prints) is `sha256`; call it again to accept several.
    ///
    /// A pin *replaces* the usual checks: the chain, the roots, the host
    /// name and the validity dates are not looked at, since the exact
    /// certificate is known (a self-signed one, typically). The handshake
    /// is still verified, so the server must hold that certificate's
    /// private key. With pins, the roots are unused.
    pub fn pin_sha256(mut self, sha256: [u8; 32]) -> ClientTls {
        self.pins.push(sha256);
        self
    }

    /// The application protocols to offer, most preferred first (the
    /// default is `h2`, then `http/1.1`). An empty list sends no ALPN.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> ClientTls {
        self.alpn = protocols;
        self
    }

    /// Accepts *any* certificate: expired, self-signed, for another host,
    /// from anyone. The connection is encrypted but not authenticated, so
    /// whoever sits on the path can read and change it. For tests and
    /// curl's `--insecure`; say so loudly to the user. Overrides pins and
    /// roots.
    pub fn dangerous_accept_any_certificate(mut self) -> ClientTls {
        self.accept_any_certificate = true;
        self
    }

    /// The rustls configuration. Each call makes a new one, with its own
    /// session-resumption cache: share the `Arc` to resume sessions.
    pub fn build(&self) -> Arc<ClientConfig> {
        let provider = client_provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3");
        let check = if self.accept_any_certificate {
            Check::Any
        } else if !self.pins.is_empty() {
            Check::Pinned(self.pins.clone())
        } else if self.roots.is_empty() {
            Check::NoRoots
        } else {
            Check::Chain(Arc::new(self.roots.clone()))
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { check, provider }));
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.clone()))),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Arc::new(config)
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::new()
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pins: Vec<String> = self.pins.iter().map(|pin| Hex(pin).to_string()).collect();
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("pins", &pins)
            .field("accept_any_certificate", &self.accept_any_certificate)
            .field("alpn", &super::AlpnList(&self.alpn))
            .field("identity", &self.identity.as_ref().map(|key| key.cert.len()))
            .finish()
    }
}

#[cfg(feature = "bundled-roots")]
fn bundled_roots() -> RootCertStore {
    RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
}

#[cfg(not(feature = "bundled-roots"))]
fn bundled_roots() -> RootCertStore {
    RootCertStore::empty()
}

/// The default client configuration (`ClientTls::new().build()`), built
/// once and shared, so sessions resume across connections.
pub fn default_client_config() -> Arc<ClientConfig> {
    static DEFAULT: LazyLock<Arc<ClientConfig>> = LazyLock::new(|| ClientTls::new().build());
    DEFAULT.clone()
}

/// The SHA-256 of a certificate's DER bytes, as [`ClientTls::pin_sha256`]
/// compares it.
pub fn certificate_sha256(certificate: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// How the server's certificate is checked. The handshake signatures are
/// checked in every case, so the server must hold the certificate's key.
#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum Check {
    /// The chain leads to one of these roots, and the leaf is valid now and
    /// for the server name: what rustls's `WebPkiServerVerifier` does
    /// without revocation lists (paf has none to give it), by the same
    /// functions, without the code that reads revocation lists.
    Chain(Arc<RootCertStore>),
    /// The leaf's SHA-256 is one of these (pins); nothing else is looked at.
    Pinned(Vec<[u8; 32]>),
    /// No check (`--insecure`).
    Any,
    /// No root to check a chain against: every certificate is refused.
    NoRoots,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            Check::Chain(roots) => {
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    roots,
                    intermediates,
                    now,
                    self.provider.signature_verification_algorithms.all,
                )?;
                verify_server_name(&cert, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            Check::Pinned(pins) => {
                let presented = certificate_sha256(end_entity);
                // Not secret: a certificate and its hash are public.
                if pins.contains(&presented) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    let mismatch = rustls::OtherError(Arc::new(PinMismatch { presented }));
                    Err(CertificateError::Other(mismatch).into())
                }
            }
            Check::Any => Ok(ServerCertVerified::assertion()),
            Check::NoRoots => {
                let none = rustls::OtherError(Arc::new(NoTrustedRoots));
                Err(CertificateError::Other(none).into())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
