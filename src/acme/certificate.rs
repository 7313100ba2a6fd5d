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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    /// A chain (leaf for `names`, valid from `from` to `to`, then its
    /// issuer) and the leaf's key.
    fn chain(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> (String, String) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        leaf.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        leaf.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
        (format!("{}{}", leaf.pem(), ca.pem()), key.serialize_pem())
    }

    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn a_good_chain_passes_and_is_renewed_at_two_thirds_of_its_life() {
        let (chain, key) = chain(&["a.test", "b.test"], (2025, 10, 1), (2026, 4, 1));
        let names = ["a.test".to_string(), "b.test".to_string()];
        let issued = Issued::check(chain, key, &names, NOW).unwrap();
        let lifetime = issued.not_after() - issued.not_before();
        assert_eq!(issued.renewal_due(), issued.not_after() - lifetime / 3);
    }

    #[test]
    fn wrong_names_wrong_times_a_foreign_key_and_a_broken_chain_are_refused() {
        let names = ["a.test".to_string()];
        let (other, key) = chain(&["other.test"], (2025, 10, 1), (2026, 4, 1));
        let refused = Issued::check(other, key, &names, NOW).unwrap_err().to_string();
        assert!(refused.contains("it is not for a.test"), "{refused}");

        let (expired, key) = chain(&["a.test"], (2025, 1, 1), (2025, 4, 1));
        assert!(Issued::check(expired, key, &names, NOW).unwrap_err().to_string().contains("not valid now"));

        let (good, _) = chain(&["a.test"], (2025, 10, 1), (2026, 4, 1));
        let (_, foreign) = chain(&["a.test"], (2025, 10, 1), (2026, 4, 1));
        assert!(Issued::check(good, foreign, &names, NOW).is_err());

        // The leaf with another CA's certificate after it.
        let (leaf_and_ca, leaf_key) = chain(&["a.test"], (2025, 10, 1), (2026, 4, 1));
        let (other_chain, _) = chain(&["x.test"], (2025, 10, 1), (2026, 4, 1));
        let leaf = &leaf_and_ca[..leaf_and_ca.find("-----END CERTIFICATE-----").unwrap() + 26];
        let other_ca = &other_chain[other_chain.find("-----END CERTIFICATE-----").unwrap() + 26..];
        let broken = Issued::check(format!("{leaf}{other_ca}"), leaf_key, &names, NOW).unwrap_err().to_string();
        assert!(broken.contains("does not hold together"), "{broken}");
    }
}
