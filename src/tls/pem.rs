//! Certificates and keys from PEM text.

use rustls::pki_types::pem::{self, PemObject};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::CertificateError;

use super::{provider, TlsError};

/// Every `CERTIFICATE` section of `pem`, in order; at least one.
pub(crate) fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(what, err))?;
    if certificates.is_empty() {
        return Err(TlsError::Pem {
            what,
            why: "no \"BEGIN CERTIFICATE\" section found".to_string(),
        });
    }
    Ok(certificates)
}

/// The first private key of `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::Pem {
            what: "private key",
            why: "no \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" \
                  section found"
                .to_string(),
        },
        err => pem_error("private key", err),
    })
}

/// A certificate chain with the private key of its leaf from `key_pem`,
/// loaded by ring's provider for signing handshakes.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = private_key(key_pem)?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|err| match err {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::Config("the private key does not belong to the certificate".to_string())
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(ref other))
            if matches!(other.0.downcast_ref(), Some(webpki::Error::UnsupportedCertVersion)) =>
        {
            TlsError::Config(
                "the certificate is an X.509 version 1 certificate, which rustls refuses: issue a \
                 version 3 one (openssl x509 -req makes one when given extensions, e.g. -extfile \
                 with a subjectAltName line)"
                    .to_string(),
            )
        }
        err => TlsError::Config(format!("unusable certificate or private key: {err}")),
    })?;
    Ok(Arc::new(certified))
}

fn pem_error(what: &'static str, err: pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        why: format!("invalid PEM: {err}"),
    }
}
