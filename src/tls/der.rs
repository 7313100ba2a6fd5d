//! Just enough DER to tell a CA certificate from a leaf, so that a CA given
//! where a leaf belongs (or the other way round) is refused with a message
//! that says so, rather than with a handshake that fails later; and to read
//! what ACME renewal schedules by (validity, serial, authority key id).

/// Whether the X.509 certificate `der` says `CA:TRUE` in its basic
/// constraints: `Some(false)` for a version 3 certificate without them (a
/// leaf), `None` when there is no extension to read (a version 1
/// certificate, as old roots are) or the DER is not a certificate.
pub(crate) fn is_ca(der: &[u8]) -> Option<bool> {
    const SEQUENCE: u8 = 0x30;
    const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT, in TBSCertificate
    const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13]; // 2.5.29.19
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    let extensions = loop {
        let (tag, value, rest) = element(tbs)?;
        if tag == EXTENSIONS {
            break expect(value, SEQUENCE)?.0;
        }
        tbs = rest;
    };
    let mut extensions = extensions;
    while !extensions.is_empty() {
        let (extension, rest) = expect(extensions, SEQUENCE)?;
        extensions = rest;
        let (oid, mut fields) = expect(extension, 0x06)?;
        if oid != BASIC_CONSTRAINTS {
            continue;
        }
        if let Some((0x01, _, rest)) = element(fields) {
            fields = rest; // `critical`
        }
        let (value, _) = expect(fields, 0x04)?;
        let (constraints, _) = expect(value, SEQUENCE)?;
        // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }
        return Some(matches!(element(constraints), Some((0x01, [flag], _)) if *flag != 0));
    }
    Some(false)
}

#[cfg(any(feature = "acme", test))]
/// What renewing a certificate needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validity {
    /// `notBefore` and `notAfter`, in seconds since the Unix epoch.
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    /// The serial number's DER content octets.
    pub(crate) serial: Vec<u8>,
    /// The `keyIdentifier` of the authority key identifier extension.
    pub(crate) authority_key_id: Option<Vec<u8>>,
}

#[cfg(any(feature = "acme", test))]
/// The validity, serial and authority key id of the X.509 certificate
/// `der`; `None` when it is not one.
pub(crate) fn validity(der: &[u8]) -> Option<Validity> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    const EXTENSIONS: u8 = 0xa3;
    const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23]; // 2.5.29.35
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if let Some((VERSION, _, rest)) = element(tbs) {
        tbs = rest;
    }
    let (serial, rest) = expect(tbs, 0x02)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (times, mut rest) = expect(rest, SEQUENCE)?;
    let (before_tag, before, times) = element(times)?;
    let (after_tag, after, _) = element(times)?;
    let mut authority_key_id = None;
    while let Some((tag, value, after)) = element(rest) {
        rest = after;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut extensions, _) = expect(value, SEQUENCE)?;
        while let Some((extension, after)) = expect(extensions, SEQUENCE) {
            extensions = after;
            let (oid, mut fields) = expect(extension, 0x06)?;
            if oid != AUTHORITY_KEY_ID {
                continue;
            }
            if let Some((0x01, _, after)) = element(fields) {
                fields = after;
            }
            let (value, _) = expect(fields, 0x04)?;
            let (identifier, _) = expect(value, SEQUENCE)?;
            // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
            if let Some((0x80, key_id, _)) = element(identifier) {
                authority_key_id = Some(key_id.to_vec());
            }
        }
    }
    Some(Validity {
        not_before: time(before_tag, before)?,
        not_after: time(after_tag, after)?,
        serial: serial.to_vec(),
        authority_key_id,
    })
}

#[cfg(any(feature = "acme", test))]
/// A UTCTime (`0x17`, YYMMDDHHMMSSZ) or GeneralizedTime (`0x18`,
/// YYYYMMDDHHMMSSZ) as seconds since the Unix epoch.
fn time(tag: u8, value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: u64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |at: usize| rest[at..at + 2].parse::<u64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), years >= 1970.
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = (era * 146_097 + day_of_era).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The first element of `input` if its tag is `tag`: its value and what
/// follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (found, value, rest) if found == tag => Some((value, rest)),
        _ => None,
    }
}

/// The first element of `input`: its tag, its value and what follows it
/// (single-byte tags, definite lengths: all that DER has in a certificate).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0, |n, &b| (n << 8) | usize::from(b))
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn certificate(is_ca: IsCa) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = is_ca;
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    #[test]
    fn a_ca_and_a_leaf_are_told_apart() {
        assert_eq!(is_ca(&certificate(IsCa::Ca(BasicConstraints::Unconstrained))), Some(true));
        assert_eq!(is_ca(&certificate(IsCa::Ca(BasicConstraints::Constrained(0)))), Some(true));
        assert_eq!(is_ca(&certificate(IsCa::NoCa)), Some(false));
        assert_eq!(is_ca(&certificate(IsCa::ExplicitNoCa)), Some(false));
    }

    #[test]
    fn validity_serial_and_authority_key_id_are_read() {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 2, 29);
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x02, 0x03]));
        params.use_authority_key_identifier_extension = true;
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf = params.signed_by(&KeyPair::generate().unwrap(), &ca, &ca_key).unwrap();
        let validity = validity(leaf.der()).unwrap();
        assert_eq!(validity.not_before, 1_709_164_800); // 2024-02-29T00:00:00Z
        assert_eq!(validity.not_after, 2_556_144_000); // 2051-01-01T00:00:00Z (GeneralizedTime)
        assert_eq!(validity.serial, [0x01, 0x02, 0x03]);
        assert_eq!(validity.authority_key_id.map(|id| id.len()), Some(20));
        assert_eq!(crate::tls::der::validity(&leaf.der()[..40]), None);
    }

    #[test]
    fn what_is_not_a_certificate_is_unknown() {
        let der = certificate(IsCa::NoCa);
        assert_eq!(is_ca(&der[..der.len() / 2]), None);
        assert_eq!(is_ca(b""), None);
        assert_eq!(is_ca(b"\x30\x84\xff\xff\xff\xff"), None);
    }
}
