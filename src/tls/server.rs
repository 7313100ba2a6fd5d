//! The server side: a certificate that can be replaced while serving.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::{pem, provider, AlpnList, TlsError, DEFAULT_ALPN};

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
#[derive(Clone)]
pub struct ServerTls {
    certificate: Arc<SwappableCertificate>,
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// From a PEM certificate chain (leaf first, then intermediates) and
    /// the PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerTls, TlsError> {
        let certificate = Arc::new(SwappableCertificate {
            current: RwLock::new(certified_key(cert_chain_pem, key_pem)?),
        });
        let alpn = DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect();
        let config = server_config(&certificate, alpn);
        Ok(ServerTls {
            certificate,
            config,
        })
    }

    /// The application protocols to accept, in the server's order of
    /// preference (the default is `h2`, then `http/1.1`). A client that
    /// offers ALPN but none of these is refused (RFC 7301); a client that
    /// offers none is served. An empty list ignores ALPN.
    ///
    /// The result still shares its certificate with `self`.
    pub fn alpn(self, protocols: Vec<Vec<u8>>) -> ServerTls {
        let config = server_config(&self.certificate, protocols);
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
            .finish()
    }
}

fn server_config(certificate: &Arc<SwappableCertificate>, alpn: Vec<Vec<u8>>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = alpn;
    Arc::new(config)
}

fn certified_key(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = pem::certificates(cert_chain_pem, "certificate chain")?;
    let key = pem::private_key(key_pem)?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|err| match err {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::Config("the private key does not belong to the certificate".to_string())
        }
        err => TlsError::Config(format!("unusable certificate or private key: {err}")),
    })?;
    Ok(Arc::new(certified))
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
