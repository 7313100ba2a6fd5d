//! What can go wrong with TLS, said so that a person knows what to do.

use std::fmt;
use std::io;

use rustls::{AlertDescription, CertificateError};

/// A TLS failure: a handshake that did not complete, or a certificate, key
/// or name that cannot be used.
///
/// The variants a caller may act on are separate (a certificate for another
/// host, an unknown authority, a pin mismatch, ...); anything rarer is
/// [`TlsError::Handshake`] with rustls's own error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate does not cover the host name we asked for.
    #[error("certificate not valid for host {host}: {}", describe_names(presented))]
    NotValidForHost {
        /// The name we connected to.
        host: String,
        /// The names the certificate covers (from its subjectAltName).
        presented: Vec<String>,
    },
    /// The certificate chain does not lead to a trusted root.
    ///
    /// This message and the others that advise name the command line's
    /// options and this crate's methods; a binding (the npm package) says
    /// the advice in its own terms.
    #[error(
        "certificate signed by an unknown authority (trust the CA that signed it: --cacert, \
         or ClientTls::add_roots_pem)"
    )]
    UnknownAuthority,
    /// No root is trusted, so no certificate chain can be checked: this
    /// build has no roots compiled in (the `bundled-roots` feature is off,
    /// as in the npm package) and none were added.
    #[error(
        "no trusted root certificates to check the server's certificate against: add them with \
         ClientTls::add_roots_pem"
    )]
    NoRoots,
    /// The certificate is outside its validity period (expired or not yet
    /// valid); rustls's message gives the dates.
    #[error("{0} (check the server's certificate and this machine's clock)")]
    Expired(CertificateError),
    /// The server's leaf certificate is not the one pinned with
    /// [`ClientTls::pin_sha256`](crate::tls::ClientTls::pin_sha256).
    #[error(
        "certificate does not match the pinned SHA-256: the server presented {}",
        Hex(presented)
    )]
    PinMismatch {
        /// The SHA-256 of the certificate the server presented.
        presented: [u8; 32],
    },
    /// The server presented a CA certificate as its own, as a self-signed
    /// certificate made with `openssl req -x509` does.
    #[error(
        "the server's certificate is a CA certificate (CA:TRUE), which cannot identify a server: \
         give the server a leaf certificate signed by that CA, and the client the CA (--cacert)"
    )]
    CaUsedAsServerCertificate,
    /// On the server side: the client's certificate does not chain to the
    /// CA certificates this server trusts for clients.
    #[error(
        "client certificate signed by an authority this server does not trust for clients \
         (trust the CA that signed it: --tls-client-ca, or ServerTls::require_client_certs)"
    )]
    UnknownClientAuthority,
    /// On the server side: the client presented a CA certificate as its
    /// own.
    #[error(
        "the client's certificate is a CA certificate (CA:TRUE), which cannot identify a client: \
         give the client a leaf certificate signed by that CA"
    )]
    CaUsedAsClientCertificate,
    /// On the server side: the server requires a client certificate
    /// ([`ServerTls::require_client_certs`](crate::tls::ServerTls::require_client_certs))
    /// and the client presented none.
    #[error(
        "the client presented no certificate, and this server requires one (the client gives \
         it with --cert and --key, or ClientBuilder::identity)"
    )]
    NoClientCertificate,
    /// The certificate was refused for another reason (bad encoding,
    /// revoked, wrong key usage, bad signature, ...).
    #[error("invalid certificate: {0}")]
    InvalidCertificate(CertificateError),
    /// The peer aborted the handshake with an alert; when it refused our
    /// certificate, the message says so.
    #[error("{}", describe_alert(*.0))]
    PeerAlert(AlertDescription),
    /// Client and server have no application protocol (ALPN) in common.
    #[error(
        "no application protocol in common: the peers' ALPN lists do not intersect \
         (offer \"http/1.1\" too, or drop ALPN)"
    )]
    NoApplicationProtocol,
    /// The peer answered with something that is not TLS.
    #[error("the peer does not speak TLS (is it a plain HTTP server? then use http://)")]
    NotTls,
    /// Any other handshake failure.
    #[error("handshake failed: {0}")]
    Handshake(rustls::Error),
    /// The peer closed the connection before the handshake completed.
    #[error("the peer closed the connection during the handshake")]
    Closed,
    /// The transport failed during the handshake.
    #[error("the connection failed during the handshake: {0}")]
    Io(io::Error),
    /// A host name that is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}: expected a DNS name or an IP address")]
    InvalidServerName(String),
    /// PEM input that holds no usable certificate or key.
    #[error("{what}: {why}")]
    Pem {
        /// What was being read ("certificate chain", "private key", ...).
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A configuration rustls refuses (a key it cannot use, a certificate
    /// that does not match its key, ...).
    #[error("{0}")]
    Config(String),
}

impl TlsError {
    /// Classifies a handshake error from the transport (tokio-rustls wraps
    /// rustls's error in an `io::Error`). `host` is the name we connected to
    /// (`None` on the server side).
    pub(crate) fn from_handshake(err: io::Error, host: Option<&str>) -> TlsError {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return TlsError::Closed;
        }
        let is_rustls = err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>());
        if !is_rustls {
            return TlsError::Io(err);
        }
        let inner = err.into_inner().expect("checked just above");
        let rustls = *inner
            .downcast::<rustls::Error>()
            .expect("checked just above");
        TlsError::from_rustls(rustls, host)
    }

    pub(crate) fn from_rustls(err: rustls::Error, host: Option<&str>) -> TlsError {
        use rustls::Error as E;
        use rustls::InvalidMessage;
        match err {
            E::InvalidCertificate(cert) => TlsError::from_certificate(cert, host),
            E::NoCertificatesPresented => TlsError::NoClientCertificate,
            E::AlertReceived(AlertDescription::NoApplicationProtocol)
            | E::NoApplicationProtocol => TlsError::NoApplicationProtocol,
            E::AlertReceived(alert) => TlsError::PeerAlert(alert),
            E::InvalidMessage(InvalidMessage::InvalidContentType)
            | E::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => TlsError::NotTls,
            other => TlsError::Handshake(other),
        }
    }

    fn from_certificate(err: CertificateError, host: Option<&str>) -> TlsError {
        match err {
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsError::NotValidForHost {
                host: host.map_or_else(|| expected.to_str().into_owned(), str::to_string),
                presented: presented
                    .iter()
                    .map(|name| plain_name(name).to_string())
                    .collect(),
            },
            CertificateError::NotValidForName => TlsError::NotValidForHost {
                host: host.unwrap_or("?").to_string(),
                presented: Vec::new(),
            },
            CertificateError::UnknownIssuer if host.is_none() => TlsError::UnknownClientAuthority,
            CertificateError::UnknownIssuer => TlsError::UnknownAuthority,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsError::Expired(err),
            CertificateError::Other(ref other) => {
                if let Some(mismatch) = other.0.downcast_ref::<PinMismatch>() {
                    TlsError::PinMismatch { presented: mismatch.presented }
                } else if other.0.is::<NoTrustedRoots>() {
                    TlsError::NoRoots
                } else if let Some(webpki::Error::CaUsedAsEndEntity) = other.0.downcast_ref() {
                    match host {
                        Some(_) => TlsError::CaUsedAsServerCertificate,
                        None => TlsError::CaUsedAsClientCertificate,
                    }
                } else {
                    TlsError::InvalidCertificate(err)
                }
            }
            other => TlsError::InvalidCertificate(other),
        }
    }
}

/// What the pinning verifier answers for a certificate that is not pinned;
/// travels inside rustls's `CertificateError::Other`.
#[derive(Debug)]
pub(crate) struct PinMismatch {
    pub(crate) presented: [u8; 32],
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate SHA-256 {} is not pinned",
            Hex(&self.presented)
        )
    }
}

impl std::error::Error for PinMismatch {}

/// What the verifier of a client without roots answers; travels inside
/// rustls's `CertificateError::Other`.
#[derive(Debug)]
pub(crate) struct NoTrustedRoots;

impl fmt::Display for NoTrustedRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no trusted root certificates")
    }
}

impl std::error::Error for NoTrustedRoots {}

/// Bytes as lowercase hex (fingerprints).
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// A subject name as a person writes it: webpki gives `DnsName("a.b")`
/// and `IpAddress(1.2.3.4)`; other kinds stay as they are.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|name| name.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|ip| ip.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn describe_names(presented: &[String]) -> String {
    match presented {
        [] => "the certificate names no host (connect with the name it was issued for)".to_string(),
        names => format!(
            "the certificate is for {} (connect with one of these names)",
            names.join(", ")
        ),
    }
}

fn describe_alert(alert: AlertDescription) -> String {
    use AlertDescription as A;
    match alert {
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateRevoked
        | A::CertificateExpired
        | A::CertificateUnknown
        | A::UnknownCA => format!("the peer refused our certificate ({alert:?} alert)"),
        A::HandshakeFailure | A::InsufficientSecurity | A::ProtocolVersion => format!(
            "the peer found no TLS version or cipher suite in common with us ({alert:?} alert)"
        ),
        A::CertificateRequired => format!(
            "the server requires a client certificate ({alert:?} alert): present one with --cert \
             and --key, or ClientBuilder::identity"
        ),
        A::UnrecognisedName => {
            format!("the peer has no certificate for the server name we sent ({alert:?} alert)")
        }
        _ => format!("the peer aborted the handshake ({alert:?} alert)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_names_read_as_people_write_them() {
        assert_eq!(plain_name("DnsName(\"example.com\")"), "example.com");
        assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(plain_name("IpAddress(::1)"), "::1");
        assert_eq!(plain_name("Unsupported(0x01)"), "Unsupported(0x01)");
    }
}
