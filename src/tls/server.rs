//! The server side: a certificate that can be replaced while serving, and
//! the certificates of ACME TLS-ALPN-01 challenges (RFC 8737) answered on
//! the same port.

use std::collections::HashMap;
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
/// # ACME TLS-ALPN-01
///
/// With [`ServerTls::answer_acme_tls_alpn`], the server also accepts the
/// ALPN id `acme-tls/1`: a handshake that offers only that id (as an ACME
/// CA's validation does) gets the challenge certificate set for its SNI
/// name with [`ServerTls::set_acme_challenge`], or fails when there is
/// none; every other handshake is as before. `paf::acme` drives this, so
/// that a server with only its HTTPS port can be issued a certificate.
#[derive(Clone)]
pub struct ServerTls {
    certificate: Arc<SwappableCertificate>,
    client_auth: ClientAuth,
    acme_tls_alpn: bool,
    config: Arc<ServerConfig>,
}

/// The ALPN id of ACME's TLS-ALPN-01 validation (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

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
            current: RwLock::new(Some(certified_key(cert_chain_pem, key_pem)?)),
            acme_challenges: RwLock::default(),
        });
        Ok(ServerTls::with(certificate, false))
    }

    /// A server that has no certificate yet, only ACME: it answers the
    /// TLS-ALPN-01 challenges set with [`ServerTls::set_acme_challenge`]
    /// and fails every other handshake until [`ServerTls::set_certificate`]
    /// gives it one. For a server whose first certificate is being issued
    /// through its own HTTPS port.
    pub fn acme_challenges_only() -> ServerTls {
        let certificate = Arc::new(SwappableCertificate {
            current: RwLock::new(None),
            acme_challenges: RwLock::default(),
        });
        ServerTls::with(certificate, true)
    }

    fn with(certificate: Arc<SwappableCertificate>, acme_tls_alpn: bool) -> ServerTls {
        let alpn = DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect();
        let config = server_config(&certificate, &ClientAuth::None, alpn, acme_tls_alpn);
        ServerTls {
            certificate,
            client_auth: ClientAuth::None,
            acme_tls_alpn,
            config,
        }
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
            self.protocols(),
            self.acme_tls_alpn,
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
        let config = server_config(&self.certificate, &self.client_auth, protocols, self.acme_tls_alpn);
        ServerTls { config, ..self }
    }

    /// Also accepts ACME's `acme-tls/1` (see [the type's
    /// documentation](ServerTls#acme-tls-alpn-01)), after the application
    /// protocols. The result still shares its certificate with `self`.
    pub fn answer_acme_tls_alpn(self) -> ServerTls {
        let config = server_config(&self.certificate, &self.client_auth, self.protocols(), true);
        ServerTls { config, acme_tls_alpn: true, ..self }
    }

    /// The certificate (PEM, with its PEM key) that an `acme-tls/1`
    /// handshake for `server_name` gets, until
    /// [`ServerTls::remove_acme_challenge`]. Has an effect only with
    /// [`ServerTls::answer_acme_tls_alpn`].
    pub fn set_acme_challenge(&self, server_name: &str, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        // Not `certified_key`: its check that the key matches parses the
        // certificate with webpki, which refuses the critical
        // acmeIdentifier extension a challenge certificate must have.
        let chain = pem::certificates(cert_pem, "ACME challenge certificate")?;
        let signing_key = provider()
            .key_provider
            .load_private_key(pem::private_key(key_pem)?)
            .map_err(|err| TlsError::Config(format!("unusable ACME challenge key: {err}")))?;
        let key = Arc::new(CertifiedKey::new(chain, signing_key));
        self.certificate
            .acme_challenges
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(server_name.to_ascii_lowercase(), key);
        Ok(())
    }

    /// Stops answering the `acme-tls/1` challenge of `server_name`.
    pub fn remove_acme_challenge(&self, server_name: &str) {
        self.certificate
            .acme_challenges
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&server_name.to_ascii_lowercase());
    }

    /// The application protocols, without `acme-tls/1`.
    fn protocols(&self) -> Vec<Vec<u8>> {
        let mut protocols = self.config.alpn_protocols.clone();
        protocols.retain(|protocol| protocol != ACME_TLS_ALPN);
        protocols
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
            .unwrap_or_else(PoisonError::into_inner) = Some(key);
        Ok(())
    }

    /// The certificate chain presented now, leaf first (DER); empty for
    /// [`ServerTls::acme_challenges_only`] before its first certificate.
    pub fn certificate_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.certificate.current().map(|key| key.cert.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.certificate_chain().len())
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
    mut alpn: Vec<Vec<u8>>,
    acme_tls_alpn: bool,
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Verified { verifier, .. } => builder.with_client_cert_verifier(verifier.clone()),
    };
    let mut config = builder.with_cert_resolver(certificate.clone());
    if acme_tls_alpn {
        alpn.push(ACME_TLS_ALPN.to_vec());
    }
    config.alpn_protocols = alpn;
    Arc::new(config)
}

fn certified_key(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    pem::certified_key(pem::certificates(cert_chain_pem, "certificate chain")?, key_pem)
}

/// The certificate every new handshake gets (none yet for a server that
/// waits for its first one), replaceable at any time, and the TLS-ALPN-01
/// challenge certificates by server name.
#[derive(Debug)]
struct SwappableCertificate {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    acme_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl SwappableCertificate {
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        // A panic while holding the lock cannot leave a half-written Arc.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for SwappableCertificate {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737 §3: the validation offers `acme-tls/1` and nothing else.
        let mut offered = client_hello.alpn().into_iter().flatten();
        let acme_only = offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none();
        if !acme_only {
            return self.current();
        }
        let name = client_hello.server_name()?.to_ascii_lowercase();
        self.acme_challenges
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned()
    }
}
