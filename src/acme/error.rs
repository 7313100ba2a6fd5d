//! What can go wrong in obtaining a certificate, each case with a message
//! that says what happened, in the CA's own words where it gave some.

use instant_acme::Problem;

/// An ACME failure. Every variant reads as one line: `paf serve --acme`
/// and `paf cert` print it as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// [`AcmeConfig::terms_of_service_agreed`](super::AcmeConfig::terms_of_service_agreed)
    /// was not set.
    #[error("the ACME CA's terms of service must be agreed to before an account is made")]
    TermsNotAgreed,
    /// No name to ask a certificate for, or a name that is not one.
    #[error("{0}")]
    Names(String),
    /// The directory (or any other URL of the CA) did not answer.
    #[error("cannot reach the ACME directory {url}: {source}")]
    Unreachable {
        /// The directory URL.
        url: String,
        /// What the client met.
        source: crate::Error,
    },
    /// The CA answered, but not as an ACME server does.
    #[error("the ACME directory {url} did not answer as an ACME server: {detail}")]
    NotAcme {
        /// The directory URL.
        url: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The CA refuses more requests for now (`rateLimited`).
    #[error("rate-limited by the ACME CA: {0}")]
    RateLimited(String),
    /// The CA will not issue for these names (`rejectedIdentifier`,
    /// `unsupportedIdentifier`, `malformed`, `caa`).
    #[error("the ACME CA refuses the names: {0}")]
    NamesRefused(String),
    /// The directory asks for an External Account Binding and none was
    /// given (or the one given was refused).
    #[error("the ACME CA requires an external account binding (key id and HMAC key from the CA): {0}")]
    ExternalAccountRequired(String),
    /// The CA could not validate a challenge: its problem detail.
    #[error("the {kind} challenge for {name} failed: {detail}")]
    ChallengeFailed {
        /// The name whose authorization failed.
        name: String,
        /// `http-01` or `tls-alpn-01`.
        kind: &'static str,
        /// The CA's problem detail.
        detail: String,
    },
    /// Any other problem document of the CA.
    #[error("the ACME CA refused: {0}")]
    Ca(String),
    /// The CA took longer than paf waits for a step.
    #[error("the ACME CA did not {0} in time")]
    Timeout(&'static str),
    /// The certificate the CA gave does not do: wrong names, not valid
    /// now, a broken chain, a key that does not match.
    #[error("the certificate from the ACME CA is not usable: {0}")]
    BadCertificate(String),
    /// The storage failed to read or write.
    #[error("ACME storage: {0}")]
    Storage(String),
    /// The platform has no wall clock (validity cannot be checked).
    #[error("no wall clock on this platform: certificate validity cannot be checked")]
    NoClock,
    /// A local failure: key generation, a CSR.
    #[error("{0}")]
    Local(String),
}

impl AcmeError {
    /// Classifies an error of instant-acme; `url` is the directory's.
    pub(super) fn from_acme(err: instant_acme::Error, url: &str) -> AcmeError {
        match err {
            instant_acme::Error::Api(problem) => AcmeError::from_problem(&problem),
            instant_acme::Error::Other(other) => match other.downcast::<crate::Error>() {
                Ok(source) => AcmeError::Unreachable { url: url.to_string(), source: *source },
                Err(other) => AcmeError::NotAcme { url: url.to_string(), detail: other.to_string() },
            },
            instant_acme::Error::Json(err) => AcmeError::NotAcme { url: url.to_string(), detail: err.to_string() },
            instant_acme::Error::Timeout(_) => AcmeError::Timeout("answer"),
            other => AcmeError::Ca(other.to_string()),
        }
    }

    /// Classifies a problem document by its type (RFC 8555 §6.7).
    pub(super) fn from_problem(problem: &Problem) -> AcmeError {
        let detail = problem_text(problem);
        let kind = problem.r#type.as_deref().unwrap_or("");
        match kind.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(kind) {
            "rateLimited" => AcmeError::RateLimited(detail),
            "rejectedIdentifier" | "unsupportedIdentifier" | "malformed" | "caa" => {
                AcmeError::NamesRefused(detail)
            }
            "externalAccountRequired" => AcmeError::ExternalAccountRequired(detail),
            _ => AcmeError::Ca(detail),
        }
    }
}

/// A problem as one line: its detail and its subproblems' (names first),
/// then its type.
pub(super) fn problem_text(problem: &Problem) -> String {
    let mut text = problem.detail.clone().unwrap_or_else(|| "no detail given".to_string());
    for subproblem in &problem.subproblems {
        text.push_str("; ");
        if let Some(identifier) = &subproblem.identifier {
            text.push_str(&format!("{}: ", identifier.authorized(false)));
        }
        text.push_str(subproblem.detail.as_deref().unwrap_or("no detail given"));
    }
    if let Some(kind) = &problem.r#type {
        text.push_str(&format!(" ({kind})"));
    }
    // One line, whatever the CA put in its text.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, detail: &str) -> Problem {
        serde_json::from_value(serde_json::json!({ "type": kind, "detail": detail, "status": 429 })).unwrap()
    }

    #[test]
    fn problems_are_told_apart_by_their_type() {
        let classified = |kind: &str| AcmeError::from_problem(&problem(kind, "why"));
        assert!(matches!(classified("urn:ietf:params:acme:error:rateLimited"), AcmeError::RateLimited(_)));
        for refused in ["rejectedIdentifier", "unsupportedIdentifier", "malformed", "caa"] {
            let kind = format!("urn:ietf:params:acme:error:{refused}");
            assert!(matches!(classified(&kind), AcmeError::NamesRefused(_)), "{refused}");
        }
        assert!(matches!(
            classified("urn:ietf:params:acme:error:externalAccountRequired"),
            AcmeError::ExternalAccountRequired(_)
        ));
        assert!(matches!(classified("urn:ietf:params:acme:error:serverInternal"), AcmeError::Ca(_)));
    }

    #[test]
    fn a_problem_reads_as_one_line_with_its_subproblems() {
        let mut limited = problem(
            "urn:ietf:params:acme:error:rateLimited",
            "too many certificates (5) already issued\nfor this exact set of domains",
        );
        limited.subproblems = serde_json::from_value(serde_json::json!([
            { "identifier": { "type": "dns", "value": "a.example" }, "detail": "retry after\n2026-01-01" }
        ]))
        .unwrap();
        assert_eq!(
            AcmeError::from_problem(&limited).to_string(),
            "rate-limited by the ACME CA: too many certificates (5) already issued for this exact set of \
             domains; a.example: retry after 2026-01-01 (urn:ietf:params:acme:error:rateLimited)"
        );
    }
}
