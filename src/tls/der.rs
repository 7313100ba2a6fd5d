//! Just enough DER to tell a CA certificate from a leaf, so that a CA given
//! where a leaf belongs (or the other way round) is refused with a message
//! that says so, rather than with a handshake that fails later.

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
    fn what_is_not_a_certificate_is_unknown() {
        let der = certificate(IsCa::NoCa);
        assert_eq!(is_ca(&der[..der.len() / 2]), None);
        assert_eq!(is_ca(b""), None);
        assert_eq!(is_ca(b"\x30\x84\xff\xff\xff\xff"), None);
    }
}
