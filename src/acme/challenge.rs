//! Answering the CA's challenges: HTTP-01 from a [`Challenges`] table that
//! any serve loop consults ([`challenge_handler`], or
//! [`Challenges::respond`] in a handler of one's own), TLS-ALPN-01
//! (RFC 8737) from the [`ServerTls`] of the HTTPS port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use rcgen::{CertificateParams, CustomExtension, KeyPair};

use super::AcmeError;
use crate::flow::BoxFuture;
use crate::tls::ServerTls;
use crate::{Body, Handler, Incoming};

/// The path under which HTTP-01 tokens are asked for (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The challenges being answered now. Cheap to clone: clones share them.
#[derive(Clone, Default)]
pub struct Challenges {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// HTTP-01: token to key authorization.
    http01: Mutex<HashMap<String, String>>,
    /// The HTTPS server that answers TLS-ALPN-01.
    tls: Mutex<Option<ServerTls>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tokens = self.inner.http01.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Challenges").field("http01_tokens", &tokens).finish()
    }
}

impl Challenges {
    /// The answer to `request` when it asks for an HTTP-01 token: the key
    /// authorization (`200`), or `404` for a token not pending. `None` for
    /// any other request (another path, a method other than GET and HEAD).
    pub fn respond<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        let token = request.uri().path().strip_prefix(HTTP01_PREFIX)?;
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return None;
        }
        let answer = self.inner.http01.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned();
        let mut response = match answer {
            Some(key_authorization) => Response::new(Body::from(key_authorization)),
            None => {
                let mut response = Response::new(Body::from("no such ACME challenge token\n"));
                *response.status_mut() = StatusCode::NOT_FOUND;
                response
            }
        };
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        Some(response)
    }

    /// Answers TLS-ALPN-01 challenges with `tls` (which gets `acme-tls/1`
    /// accepted only when built with
    /// [`ServerTls::answer_acme_tls_alpn`] or
    /// [`ServerTls::acme_challenges_only`]).
    pub fn answer_tls_alpn_with(&self, tls: &ServerTls) {
        *self.inner.tls.lock().unwrap_or_else(PoisonError::into_inner) = Some(tls.clone());
    }

    pub(super) fn add_http01(&self, token: &str, key_authorization: &str) {
        self.inner
            .http01
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_string(), key_authorization.to_string());
    }

    pub(super) fn remove_http01(&self, token: &str) {
        self.inner.http01.lock().unwrap_or_else(PoisonError::into_inner).remove(token);
    }

    /// Sets the TLS-ALPN-01 certificate of `name`: self-signed, for `name`
    /// only, with the `acmeIdentifier` extension holding the SHA-256 of the
    /// key authorization (RFC 8737 §3).
    pub(super) fn add_tls_alpn01(&self, name: &str, key_authorization_sha256: &[u8]) -> Result<(), AcmeError> {
        let tls = self.inner.tls.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let tls = tls.ok_or_else(|| {
            AcmeError::Local("tls-alpn-01 needs the HTTPS server's ServerTls (Challenges::answer_tls_alpn_with)".into())
        })?;
        let local = |err: rcgen::Error| AcmeError::Local(format!("cannot make the tls-alpn-01 certificate of {name}: {err}"));
        let mut params = CertificateParams::new(vec![name.to_string()]).map_err(local)?;
        params.custom_extensions = vec![CustomExtension::new_acme_identifier(key_authorization_sha256)];
        let key = KeyPair::generate().map_err(local)?;
        let certificate = params.self_signed(&key).map_err(local)?;
        tls.set_acme_challenge(name, certificate.pem().as_bytes(), key.serialize_pem().as_bytes())
            .map_err(|err| AcmeError::Local(format!("cannot use the tls-alpn-01 certificate of {name}: {err}")))
    }

    pub(super) fn remove_tls_alpn01(&self, name: &str) {
        if let Some(tls) = &*self.inner.tls.lock().unwrap_or_else(PoisonError::into_inner) {
            tls.remove_acme_challenge(name);
        }
    }
}

/// A handler that answers HTTP-01 challenges from `challenges` and passes
/// every other request to `other`: mount it on port 80 (the seed's
/// `LE.request_handler`).
pub fn challenge_handler<H: Handler>(challenges: Challenges, other: H) -> ChallengeHandler<H> {
    ChallengeHandler { challenges, other }
}

/// See [`challenge_handler`].
#[derive(Clone)]
pub struct ChallengeHandler<H> {
    challenges: Challenges,
    other: H,
}

impl<H: Handler> Handler for ChallengeHandler<H> {
    type Body = Body;
    type Data = bytes::Bytes;
    type Error = crate::Error;
    type Future = BoxFuture<'static, Response<Body>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(response) = self.challenges.respond(&request) {
            return Box::pin(std::future::ready(response));
        }
        let answer = self.other.call(request);
        Box::pin(async move { answer.await.map(Body::new) })
    }

    fn on_error(&self, peer: &str, error: &crate::Error) {
        self.other.on_error(peer, error)
    }
}
