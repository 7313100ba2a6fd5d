//! Certificates and keys from PEM text.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

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

fn pem_error(what: &'static str, err: pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        why: format!("invalid PEM: {err}"),
    }
}
