//! The server side: a certificate that can be replaced while serving.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::{der, pem, provider, AlpnList, TlsError, DEFAULT_ALPN};

/// A server TLS configuration: a certificate chain and its key, and the
/// application protocols (ALPN) to accept, `h2` then `http/1.1` by default.
///
/// The certificate can be replaced at run time with
/// [`ServerTls::set_certificate`] (a renewal): handshakes that start after
/// the call present the new one, connections already established keep
/// their session. Clones share the certificate, so a renewal task can hold
/// one clone while the server uses [`ServerTls::config`].
///
/// ```no_run
/// # fn run(cert: &[u8], key: &[u8], renewed_cert: &[u8], renewed_key: &[u8]) -> Result<(), paf::Error> {
/// use paf::tls::ServerTls;
/// let tls = ServerTls::from_pem(cert, key)?;
/// let config = tls.config(); // for server_of_flow
/// // ... later, from another task:
/// tls.set_certificate(renewed_cert, renewed_key)?;
/// # Ok(()) }
/// ```
///
/// # Client certificates (mutual TLS)
///
/// By default no client certificate is asked for. With
/// [`ServerTls::require_client_certs`] every client must present one that
/// chains to the given CA certificates, or the handshake fails; with
/// [`ServerTls::accept_client_certs`] a client may present one (then it
/// must chain to them) or none. The chain a client presented is in the
/// connection's [`Session::peer_certificates`](super::Session::peer_certificates),
/// leaf first.
///
/// ```no_run
/// # fn run(cert: &[u8], key: &[u8], clients_ca: &[u8]) -> Result<(), paf::Error> {
/// use paf::tls::ServerTls;
/// let tls = ServerTls::from_pem(cert, key)?.require_client_certs(clients_ca)?;
/// let service = paf::engine::alpn::Tls::new(tls.config());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    certificate: Arc<SwappableCertificate>,
    client_auth: ClientAuth,
    config: Arc<ServerConfig>,
}

/// Whether clients are asked for a certificate, and what it is checked
/// against.
#[derive(Clone)]
enum ClientAuth {
    None,
    /// Required (`true`) or optional, verified against these roots.
    Verified {
        required: bool,
        roots: usize,
        verifier: Arc<dyn ClientCertVerifier>,
    },
}

impl ServerTls {
    /// From a PEM certificate chain (leaf first, then intermediates) and
    /// the PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerTls, TlsError> {
        let certificate = Arc::new(SwappableCertificate {
            current: RwLock::new(certified_key(cert_chain_pem, key_pem)?),
        });
        let alpn = DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect();
        let config = server_config(&certificate, &ClientAuth::None, alpn);
        Ok(ServerTls {
            certificate,
            client_auth: ClientAuth::None,
            config,
        })
    }

    /// Requires every client to present a certificate that chains to one
    /// of the CA certificates in `roots_pem` (one or more `BEGIN
    /// CERTIFICATE` sections): a client without one, or with one from
    /// another CA, fails the handshake. Replaces an earlier
    /// [`ServerTls::accept_client_certs`].
    ///
    /// Fails when `roots_pem` holds no certificate, or a certificate that
    /// is not a CA's (a client's or a server's own certificate given by
    /// mistake: give the CA that signed the client certificates).
    ///
    /// The result still shares its certificate with `self`.
    pub fn require_client_certs(self, roots_pem: &[u8]) -> Result<ServerTls, TlsError> {
        self.client_certs(roots_pem, true)
    }

    /// Asks clients for a certificate without requiring one: a client may
    /// present none, but one it presents must chain to the CA certificates
    /// in `roots_pem`, or the handshake fails. The handler tells the two
    /// kinds of clients apart by the session's
    /// [`peer_certificates`](super::Session::peer_certificates). Fails as
    /// [`ServerTls::require_client_certs`] does.
    pub fn accept_client_certs(self, roots_pem: &[u8]) -> Result<ServerTls, TlsError> {
        self.client_certs(roots_pem, false)
    }

    fn client_certs(self, roots_pem: &[u8], required: bool) -> Result<ServerTls, TlsError> {
        const WHAT: &str = "client CA certificates";
        let mut roots = RootCertStore::empty();
        for certificate in pem::certificates(roots_pem, WHAT)? {
            if der::is_ca(&certificate) == Some(false) {
                return Err(TlsError::Pem {
                    what: WHAT,
                    why: "a certificate in it is not a CA certificate (no CA:TRUE): give the \
                          certificate of the CA that signed the client certificates, not a \
                          client's or a server's own"
                        .to_string(),
                });
            }
            roots.add(certificate).map_err(|err| TlsError::Pem {
                what: WHAT,
                why: format!("not a usable CA certificate: {err}"),
            })?;
        }
        let count = roots.len();
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
        let builder = if required {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        let verifier = builder
            .build()
            .map_err(|err| TlsError::Config(format!("cannot verify client certificates: {err}")))?;
        let client_auth = ClientAuth::Verified {
            required,
            roots: count,
            verifier,
        };
        let config = server_config(
            &self.certificate,
            &client_auth,
            self.config.alpn_protocols.clone(),
        );
        Ok(ServerTls {
            client_auth,
            config,
            ..self
        })
    }

    /// The application protocols to accept, in the server's order of
    /// preference (the default is `h2`, then `http/1.1`). A client that
    /// offers ALPN but none of these is refused (RFC 7301); a client that
    /// offers none is served. An empty list ignores ALPN.
    ///
    /// The result still shares its certificate with `self`.
    pub fn alpn(self, protocols: Vec<Vec<u8>>) -> ServerTls {
        let config = server_config(&self.certificate, &self.client_auth, protocols);
        ServerTls { config, ..self }
    }

    /// The rustls configuration, for [`server_of_flow`](super::server_of_flow).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// Replaces the certificate chain and key for the handshakes to come.
    /// Established connections are not touched. On error (bad PEM, a key
    /// that does not match the certificate) the current certificate stays.
    pub fn set_certificate(&self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        let key = certified_key(cert_chain_pem, key_pem)?;
        *self
            .certificate
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The certificate chain presented now, leaf first (DER).
    pub fn certificate_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.certificate.current().cert.clone()
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.certificate.current().cert.len())
            .field("alpn", &AlpnList(&self.config.alpn_protocols))
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::None => f.write_str("none"),
            ClientAuth::Verified {
                required, roots, ..
            } => {
                let how = if *required { "required" } else { "optional" };
                write!(f, "{how} ({roots} CA certificates)")
            }
        }
    }
}

fn server_config(
    certificate: &Arc<SwappableCertificate>,
    client_auth: &ClientAuth,
    alpn: Vec<Vec<u8>>,
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Verified { verifier, .. } => builder.with_client_cert_verifier(verifier.clone()),
    };
    let mut config = builder.with_cert_resolver(certificate.clone());
    config.alpn_protocols = alpn;
    Arc::new(config)
}

fn certified_key(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    pem::certified_key(pem::certificates(cert_chain_pem, "certificate chain")?, key_pem)
}

/// The certificate every new handshake gets, replaceable at any time.
#[derive(Debug)]
struct SwappableCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl SwappableCertificate {
    fn current(&self) -> Arc<CertifiedKey> {
        // A panic while holding the lock cannot leave a half-written Arc.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for SwappableCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
