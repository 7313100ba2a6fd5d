//! An issued certificate: its PEM chain and key, what renewal schedules by,
//! and the checks it passes before it is used (the names asked for, valid
//! now, a chain that holds together, the key that belongs to it).

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::AcmeError;
use crate::tls::{der, pem};

/// A certificate chain and its key, checked.
#[derive(Clone)]
pub struct Issued {
    /// The chain, leaf first, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PEM (PKCS#8).
    pub key_pem: String,
    validity: der::Validity,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("not_before", &self.validity.not_before)
            .field("not_after", &self.validity.not_after)
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Checks `chain_pem` and `key_pem` for `names` at `now` (seconds since
    /// the Unix epoch): each name is in the leaf, the leaf and its
    /// intermediates are valid now and each is signed by the next, and the
    /// key is the leaf's.
    pub fn check(chain_pem: String, key_pem: String, names: &[String], now: u64) -> Result<Issued, AcmeError> {
        let bad = |why: String| AcmeError::BadCertificate(why);
        let chain = pem::certificates(chain_pem.as_bytes(), "certificate chain").map_err(|err| bad(err.to_string()))?;
        pem::certified_key(chain.clone(), key_pem.as_bytes()).map_err(|err| bad(err.to_string()))?;
        let leaf = &chain[0];
        let validity = der::validity(leaf).ok_or_else(|| bad("the leaf is not an X.509 certificate".into()))?;
        if now < validity.not_before || now >= validity.not_after {
            return Err(bad(format!(
                "not valid now (valid from {} to {}, Unix time; now {now})",
                validity.not_before, validity.not_after
            )));
        }
        let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(|err| bad(format!("the leaf: {err}")))?;
        for name in names {
            let server_name = ServerName::try_from(name.as_str()).map_err(|_| bad(format!("{name} is not a DNS name")))?;
            end_entity
                .verify_is_valid_for_subject_name(&server_name)
                .map_err(|_| bad(format!("it is not for {name}")))?;
        }
        verify_chain(&end_entity, &chain, now).map_err(bad)?;
        Ok(Issued { chain_pem, key_pem, validity })
    }

    /// `notBefore`, in seconds since the Unix epoch.
    pub fn not_before(&self) -> u64 {
        self.validity.not_before
    }

    /// `notAfter`, in seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        self.validity.not_after
    }

    /// The leaf's serial number, in hex (as `openssl x509 -serial` shows it).
    pub fn serial_hex(&self) -> String {
        let serial = match self.validity.serial.as_slice() {
            [0, rest @ ..] if !rest.is_empty() => rest,
            all => all,
        };
        serial.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// When a third of the lifetime is left (seconds since the Unix epoch).
    pub fn renewal_due(&self) -> u64 {
        let lifetime = self.validity.not_after.saturating_sub(self.validity.not_before);
        self.validity.not_after - lifetime / 3
    }

    /// The ARI identity of the certificate (RFC 9773 §4.1), when it has an
    /// authority key identifier.
    pub(super) fn ari_identifier(&self) -> Option<instant_acme::CertificateIdentifier<'static>> {
        let key_id = self.validity.authority_key_id.as_deref()?;
        Some(instant_acme::CertificateIdentifier::new(
            rustls::pki_types::Der::from_slice(key_id),
            rustls::pki_types::Der::from_slice(&self.validity.serial),
        ))
    }
}

/// Each certificate of `chain` signed by the next, all valid at `now`. The
/// chain's last certificate stands as the anchor (the CA's root is not in
/// it, and which roots a client trusts is the client's business).
fn verify_chain(end_entity: &webpki::EndEntityCert<'_>, chain: &[CertificateDer<'static>], now: u64) -> Result<(), String> {
    let Some((last, intermediates)) = chain[1..].split_last() else {
        return Ok(()); // A lone leaf: nothing to chain.
    };
    let anchor = webpki::anchor_from_trusted_cert(last).map_err(|err| format!("the chain's last certificate: {err}"))?;
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms.all;
    end_entity
        .verify_for_usage(
            algorithms,
            &[anchor],
            intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|err| format!("the chain does not hold together: {err}"))
}
