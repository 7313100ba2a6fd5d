//! Automatic HTTPS: certificates from an ACME CA (RFC 8555), Let's Encrypt
//! by default, obtained, stored, served and renewed in place.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use paf::acme::{Acme, AcmeConfig, DirStorage};
//! let mut config = AcmeConfig::new(["example.com"]);
//! config.terms_of_service_agreed = true;
//! let acme = Acme::new(config, paf::Client::new(), DirStorage::new("/var/lib/paf/acme"))?;
//! // Mount `paf::acme::challenge_handler(acme.challenges(), ...)` on port 80, then:
//! let issued = acme.certificate().await?;
//! let tls = paf::tls::ServerTls::from_pem(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())?;
//! // Serve with `tls.config()`, and renew in place while serving:
//! acme.keep_renewed(tls, issued).await;
//! # Ok(()) }
//! ```
//!
//! # What is taken from where
//!
//! The protocol is [`instant_acme`]'s (accounts, orders, authorizations,
//! JWS, nonces, External Account Binding, ARI): a well-kept crate that
//! Let's Encrypt's own tests run, and that takes its HTTP client through a
//! trait, so paf's [`Client`] (and with it the platform's transports and
//! TLS, the CA roots given to the client) carries every request; no hyper.
//! Its polling helpers sleep on tokio's timer, so paf polls with the
//! client's runtime instead. CSRs, keys and TLS-ALPN-01 certificates are
//! [`rcgen`]'s. paf adds the rest: challenges answered by its own server
//! ([`Challenges`], [`challenge_handler`], TLS-ALPN-01 on the HTTPS port
//! through [`ServerTls`]), the checks of what the CA issued
//! ([`Issued::check`]), [`Storage`], and renewal.
//!
//! # The contract
//!
//! * The account is made once (the terms of service agreed explicitly,
//!   [`AcmeConfig::terms_of_service_agreed`]; an e-mail contact if given;
//!   an External Account Binding if given) and its key stored under
//!   `account-<directory host and path>.json`, `0600`.
//! * [`Acme::certificate`] gives the stored certificate when it is for
//!   the configured names and not yet due for renewal, without a word to
//!   the CA; otherwise it orders a new one. Stored: `certificate.pem`,
//!   `key.pem` (`0600`), each written atomically.
//! * [`Acme::keep_renewed`] renews when a third of the lifetime is left
//!   (less a random part of a twentieth of it, so that many servers do
//!   not all come at once), or inside the window the CA's renewal
//!   information (ARI, RFC 9773) suggests when its directory offers it. A
//!   failure is reported and retried with backoff (from a minute, doubling,
//!   up to six hours); the old certificate serves until it is replaced.
//!   [`ServerTls::set_certificate`] swaps in the new one: connections in
//!   flight keep their session, new handshakes get the new certificate.
//! * Every failure is an [`AcmeError`] that reads as one line.
//!
//! # Platforms
//!
//! The module builds for every target paf has (instant-acme's `Send`
//! bounds are met through [`OneThread`](crate::flow::OneThread) on wasm)
//! and runs natively and in WASI components. On `wasm32-unknown-unknown`
//! instant-acme reads std's clock itself in two places, ARI and the
//! `Retry-After` of a polled order, and std's clock panics there: until
//! that changes upstream, obtain certificates from a native or WASI
//! process.

mod certificate;
mod challenge;
mod error;
mod http;
mod storage;

use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::Duration;

use futures_util::future::{select, Either};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey, Identifier,
    NewAccount, NewOrder, OrderStatus,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use tokio::sync::{Mutex, Notify};

pub use certificate::Issued;
pub use challenge::{challenge_handler, ChallengeHandler, Challenges, HTTP01_PREFIX};
pub use error::AcmeError;
pub use storage::{DirStorage, Storage};

use crate::rt::{AnyRuntime, Runtime};
use crate::tls::ServerTls;
use crate::Client;
use http::PafHttp;

/// Let's Encrypt's staging directory: untrusted certificates, generous
/// rate limits. The default.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's production directory: trusted certificates.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The storage names.
const CERTIFICATE: &str = "certificate.pem";
const KEY: &str = "key.pem";

/// How a name is proved to the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// HTTP-01: the CA fetches a token over clear-text HTTP on port 80.
    Http01,
    /// TLS-ALPN-01 (RFC 8737): the CA makes a TLS handshake with ALPN
    /// `acme-tls/1` on port 443; for a server that has only that port.
    TlsAlpn01,
}

impl ChallengeKind {
    fn acme_type(self) -> ChallengeType {
        match self {
            ChallengeKind::Http01 => ChallengeType::Http01,
            ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
        }
    }

    /// `http-01` or `tls-alpn-01`.
    pub fn name(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// What to ask of which CA.
#[derive(Clone)]
pub struct AcmeConfig {
    /// The DNS names of the certificate (the first is its subject).
    pub domains: Vec<String>,
    /// The directory URL: [`LETS_ENCRYPT_STAGING`] by default,
    /// [`LETS_ENCRYPT_PRODUCTION`] for trusted certificates, or any CA's.
    pub directory: String,
    /// An e-mail address the CA may write to (expiry notices).
    pub contact_email: Option<String>,
    /// Whether the CA's terms of service are agreed to: nothing is asked
    /// of a CA until they are.
    pub terms_of_service_agreed: bool,
    /// The External Account Binding some CAs require: the key id and the
    /// (decoded) HMAC key they gave.
    pub external_account: Option<(String, Vec<u8>)>,
    /// HTTP-01 (the default) or TLS-ALPN-01.
    pub challenge: ChallengeKind,
}

impl AcmeConfig {
    /// For `domains`, from Let's Encrypt's staging directory, by HTTP-01;
    /// the terms of service not yet agreed.
    pub fn new<S: Into<String>>(domains: impl IntoIterator<Item = S>) -> AcmeConfig {
        AcmeConfig {
            domains: domains.into_iter().map(Into::into).collect(),
            directory: LETS_ENCRYPT_STAGING.to_string(),
            contact_email: None,
            terms_of_service_agreed: false,
            external_account: None,
            challenge: ChallengeKind::Http01,
        }
    }
}

/// A step of obtaining or renewing a certificate, for progress displays.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Progress {
    /// The account: made now (`created`) or loaded from storage.
    Account {
        /// Whether the account was made now.
        created: bool,
    },
    /// An order for these names was placed.
    Order(Vec<String>),
    /// A challenge is being answered.
    Challenge {
        /// The name.
        name: String,
        /// The kind.
        kind: ChallengeKind,
    },
    /// Every name is validated; the CSR is sent.
    Finalize,
    /// The certificate is checked and stored.
    Saved(Issued),
    /// The stored certificate is used (no word to the CA).
    Reused(Issued),
    /// The next renewal attempt, in seconds from now.
    RenewalIn(u64),
    /// A renewal failed; the next attempt comes in so many seconds.
    RenewalFailed {
        /// Why it failed.
        error: String,
        /// Seconds to the next attempt.
        retry_in: u64,
    },
    /// The new certificate is served.
    Renewed(Issued),
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Account { created: true } => f.write_str("account created"),
            Progress::Account { created: false } => f.write_str("account loaded"),
            Progress::Order(names) => write!(f, "order placed for {}", names.join(", ")),
            Progress::Challenge { name, kind } => write!(f, "answering the {} challenge for {name}", kind.name()),
            Progress::Finalize => f.write_str("names validated, finalizing"),
            Progress::Saved(issued) => write!(f, "certificate saved (serial {}, {})", issued.serial_hex(), expiry(issued)),
            Progress::Reused(issued) => {
                write!(f, "stored certificate reused (serial {}, {})", issued.serial_hex(), expiry(issued))
            }
            Progress::RenewalIn(seconds) => write!(f, "next renewal in {}", human(*seconds)),
            Progress::RenewalFailed { error, retry_in } => {
                write!(f, "renewal failed, the current certificate stays; retry in {}: {error}", human(*retry_in))
            }
            Progress::Renewed(issued) => write!(f, "renewed: new certificate served (serial {})", issued.serial_hex()),
        }
    }
}

fn expiry(issued: &Issued) -> String {
    format!("expires at Unix time {}", issued.not_after())
}

fn human(seconds: u64) -> String {
    match seconds {
        0..120 => format!("{seconds}s"),
        120..7200 => format!("{}m", seconds / 60),
        7200..172_800 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Obtains and renews one certificate. Cheap to clone.
#[derive(Clone)]
pub struct Acme {
    inner: Arc<Inner>,
}

struct Inner {
    config: AcmeConfig,
    client: Client,
    runtime: AnyRuntime,
    storage: Arc<dyn Storage>,
    challenges: Challenges,
    progress: SyncMutex<ProgressFn>,
    /// Loaded on first use, kept for renewals.
    account: Mutex<Option<Account>>,
    renew_now: Notify,
}

impl Acme {
    /// For `config`, talking to the CA with `client` (give it the CA's
    /// root with [`ClientBuilder::add_roots_pem`](crate::client::ClientBuilder::add_roots_pem)
    /// for a test CA), keeping state in `storage`.
    pub fn new(config: AcmeConfig, client: Client, storage: impl Storage) -> Result<Acme, AcmeError> {
        if !config.terms_of_service_agreed {
            return Err(AcmeError::TermsNotAgreed);
        }
        if config.domains.is_empty() {
            return Err(AcmeError::Names("no domain name to ask a certificate for".into()));
        }
        for name in &config.domains {
            if name.starts_with("*.") {
                return Err(AcmeError::Names(format!(
                    "{name}: a wildcard name is proved by DNS-01 only, which paf does not answer"
                )));
            }
            if rustls::pki_types::DnsName::try_from(name.as_str()).is_err() {
                return Err(AcmeError::Names(format!("{name:?} is not a DNS name")));
            }
        }
        let runtime = client.runtime().clone();
        Ok(Acme {
            inner: Arc::new(Inner {
                config,
                client,
                runtime,
                storage: Arc::new(storage),
                challenges: Challenges::default(),
                progress: SyncMutex::new(Arc::new(|_: &Progress| {})),
                account: Mutex::new(None),
                renew_now: Notify::new(),
            }),
        })
    }

    /// Calls `report` at each step (the CLI prints them).
    pub fn on_progress(&self, report: impl Fn(&Progress) + Send + Sync + 'static) {
        *self.inner.progress.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(report);
    }

    /// The challenges being answered: mount [`challenge_handler`] with
    /// them on port 80 for HTTP-01; give them the HTTPS server's
    /// [`ServerTls`] ([`Challenges::answer_tls_alpn_with`]) for
    /// TLS-ALPN-01.
    pub fn challenges(&self) -> Challenges {
        self.inner.challenges.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &AcmeConfig {
        &self.inner.config
    }

    /// Makes [`Acme::keep_renewed`] renew at once (a forced renewal).
    pub fn renew_now(&self) {
        self.inner.renew_now.notify_one();
    }

    fn report(&self, progress: Progress) {
        let report = self.inner.progress.lock().unwrap_or_else(PoisonError::into_inner).clone();
        report(&progress);
    }

    fn now(&self) -> Result<u64, AcmeError> {
        self.inner.runtime.unix_time().map(|now| now.as_secs()).ok_or(AcmeError::NoClock)
    }

    fn acme_error(&self, err: instant_acme::Error) -> AcmeError {
        AcmeError::from_acme(err, &self.inner.config.directory)
    }

    /// The stored certificate, when it is for the configured names and
    /// valid now (checked as [`Issued::check`] does); `None` otherwise.
    pub fn stored(&self) -> Result<Option<Issued>, AcmeError> {
        let load = |name: &str| self.inner.storage.load(name).map_err(|err| AcmeError::Storage(format!("{name}: {err}")));
        let (Some(chain), Some(key)) = (load(CERTIFICATE)?, load(KEY)?) else {
            return Ok(None);
        };
        let (Ok(chain), Ok(key)) = (String::from_utf8(chain), String::from_utf8(key)) else {
            return Ok(None);
        };
        Ok(Issued::check(chain, key, &self.inner.config.domains, self.now()?).ok())
    }

    /// The stored certificate if it is not due for renewal yet, else a new
    /// one from the CA.
    pub async fn certificate(&self) -> Result<Issued, AcmeError> {
        if let Some(stored) = self.stored()? {
            if self.now()? < stored.renewal_due() {
                self.report(Progress::Reused(stored.clone()));
                return Ok(stored);
            }
        }
        self.obtain(None).await
    }

    /// Orders a certificate from the CA, answers its challenges, checks and
    /// stores what it issues. `replacing` is the certificate it renews (for
    /// ARI's `replaces`).
    pub async fn obtain(&self, replacing: Option<&Issued>) -> Result<Issued, AcmeError> {
        let account = self.account().await?;
        let config = &self.inner.config;
        let identifiers: Vec<Identifier> = config.domains.iter().map(|name| Identifier::Dns(name.clone())).collect();
        let replaces = replacing.and_then(Issued::ari_identifier);
        let mut new_order = NewOrder::new(&identifiers);
        if let (Some(replaces), true) = (replaces, self.offers_ari().await) {
            new_order = new_order.replaces(replaces);
        }
        let mut order = account.new_order(&new_order).await.map_err(|err| self.acme_error(err))?;
        self.report(Progress::Order(config.domains.clone()));

        let mut answered = Vec::new();
        let outcome = self.validate(&mut order, &mut answered).await;
        for (name, token) in answered {
            match config.challenge {
                ChallengeKind::Http01 => self.inner.challenges.remove_http01(&token),
                ChallengeKind::TlsAlpn01 => self.inner.challenges.remove_tls_alpn01(&name),
            }
        }
        outcome?;

        self.report(Progress::Finalize);
        let local = |err: rcgen::Error| AcmeError::Local(format!("cannot make the certificate request: {err}"));
        let mut params = CertificateParams::new(config.domains.clone()).map_err(local)?;
        params.distinguished_name = DistinguishedName::new();
        let key = KeyPair::generate().map_err(local)?;
        let csr = params.serialize_request(&key).map_err(local)?;
        order.finalize_csr(csr.der()).await.map_err(|err| self.acme_error(err))?;
        let mut backoff = Backoff::new("issue the certificate");
        let chain = loop {
            match order.certificate().await.map_err(|err| self.acme_error(err))? {
                Some(chain) => break chain,
                None => backoff.wait(&self.inner.runtime).await?,
            }
        };
        let issued = Issued::check(chain, key.serialize_pem(), &config.domains, self.now()?)?;
        self.store(KEY, issued.key_pem.as_bytes(), true)?;
        self.store(CERTIFICATE, issued.chain_pem.as_bytes(), false)?;
        self.report(Progress::Saved(issued.clone()));
        Ok(issued)
    }

    /// Answers the challenge of every pending authorization of `order`,
    /// noting each in `answered`, and waits for the order to be ready.
    async fn validate(
        &self,
        order: &mut instant_acme::Order,
        answered: &mut Vec<(String, String)>,
    ) -> Result<(), AcmeError> {
        let kind = self.inner.config.challenge;
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|err| self.acme_error(err))?;
            match authorization.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                status => {
                    let name = authorization.identifier().to_string();
                    return Err(AcmeError::Ca(format!("the authorization of {name} is {status:?}")));
                }
            }
            let name = authorization.identifier().to_string();
            let Some(mut challenge) = authorization.challenge(kind.acme_type()) else {
                return Err(AcmeError::Ca(format!("the CA offers no {} challenge for {name}", kind.name())));
            };
            let key_authorization = challenge.key_authorization();
            match kind {
                ChallengeKind::Http01 => self.inner.challenges.add_http01(&challenge.token, key_authorization.as_str()),
                ChallengeKind::TlsAlpn01 => {
                    self.inner.challenges.add_tls_alpn01(&name, key_authorization.digest().as_ref())?
                }
            }
            answered.push((name.clone(), challenge.token.clone()));
            self.report(Progress::Challenge { name, kind });
            challenge.set_ready().await.map_err(|err| self.acme_error(err))?;
        }
        let mut backoff = Backoff::new("validate the challenges");
        let status = loop {
            match order.refresh().await.map_err(|err| self.acme_error(err))?.status {
                OrderStatus::Pending => backoff.wait(&self.inner.runtime).await?,
                status => break status,
            }
        };
        if status != OrderStatus::Invalid {
            return Ok(());
        }
        // Which name failed, in the CA's words.
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let authorization = authorization.map_err(|err| self.acme_error(err))?;
            if authorization.status != AuthorizationStatus::Invalid {
                continue;
            }
            let detail = authorization
                .challenges
                .iter()
                .find_map(|challenge| challenge.error.as_ref())
                .map(error::problem_text)
                .unwrap_or_else(|| "the CA gave no detail".into());
            return Err(AcmeError::ChallengeFailed {
                name: authorization.identifier().to_string(),
                kind: kind.name(),
                detail,
            });
        }
        Err(AcmeError::Ca("the order is invalid".into()))
    }

    /// The account: loaded from storage, or made and stored.
    async fn account(&self) -> Result<Account, AcmeError> {
        let mut cached = self.inner.account.lock().await;
        if let Some(account) = &*cached {
            return Ok(account.clone());
        }
        let config = &self.inner.config;
        let name = account_name(&config.directory);
        let stored = self.inner.storage.load(&name).map_err(|err| AcmeError::Storage(format!("{name}: {err}")))?;
        let http = || Box::new(PafHttp::new(self.inner.client.clone()));
        let account = match stored {
            Some(json) => {
                let credentials: AccountCredentials = serde_json::from_slice(&json)
                    .map_err(|err| AcmeError::Storage(format!("{name} is not an ACME account: {err}")))?;
                let account = Account::builder_with_http(http())
                    .from_credentials(credentials)
                    .await
                    .map_err(|err| self.acme_error(err))?;
                self.report(Progress::Account { created: false });
                account
            }
            None => {
                let contact = config.contact_email.as_ref().map(|email| format!("mailto:{email}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new_account = NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: config.terms_of_service_agreed,
                    only_return_existing: false,
                };
                let binding = config.external_account.as_ref().map(|(id, key)| ExternalAccountKey::new(id.clone(), key));
                let (account, credentials) = Account::builder_with_http(http())
                    .create(&new_account, config.directory.clone(), binding.as_ref())
                    .await
                    .map_err(|err| self.acme_error(err))?;
                let json = serde_json::to_vec(&credentials)
                    .map_err(|err| AcmeError::Storage(format!("cannot encode the account: {err}")))?;
                self.store(&name, &json, true)?;
                self.report(Progress::Account { created: true });
                account
            }
        };
        *cached = Some(account.clone());
        Ok(account)
    }

    fn store(&self, name: &str, data: &[u8], secret: bool) -> Result<(), AcmeError> {
        self.inner.storage.store(name, data, secret).map_err(|err| AcmeError::Storage(format!("cannot write {name}: {err}")))
    }

    /// Whether the directory offers ARI (asks the CA when the account is
    /// not loaded yet).
    async fn offers_ari(&self) -> bool {
        let Ok(account) = self.account().await else { return false };
        // A certificate identifier no CA issued: `Unsupported` comes from
        // the directory alone, anything else means the endpoint exists.
        let probe = instant_acme::CertificateIdentifier::new(
            rustls::pki_types::Der::from_slice(&[0]),
            rustls::pki_types::Der::from_slice(&[0]),
        );
        !matches!(account.renewal_info(&probe).await, Err(instant_acme::Error::Unsupported(_)))
    }

    /// When to renew `issued` (seconds since the Unix epoch): inside the
    /// CA's ARI window when it offers one, else when a third of the
    /// lifetime is left, less a random part of a twentieth of it.
    async fn renewal_time(&self, issued: &Issued) -> u64 {
        if let Some(window) = self.ari_window(issued).await {
            return window;
        }
        let lifetime = issued.not_after().saturating_sub(issued.not_before());
        issued.renewal_due().saturating_sub(random_below(lifetime / 20 + 1))
    }

    /// A random time in the ARI window of `issued`, when the account is
    /// loaded already (no word to the CA only for this) and the CA has ARI.
    async fn ari_window(&self, issued: &Issued) -> Option<u64> {
        let account = self.inner.account.lock().await.clone()?;
        let identifier = issued.ari_identifier()?;
        let (info, _) = account.renewal_info(&identifier).await.ok()?;
        let start = u64::try_from(info.suggested_window.start.unix_timestamp()).ok()?;
        let end = u64::try_from(info.suggested_window.end.unix_timestamp()).ok()?;
        Some(start + random_below(end.saturating_sub(start) + 1))
    }

    /// Renews the certificate `tls` serves (`current`) for ever: see the
    /// [module documentation](self). Run it beside the server.
    pub async fn keep_renewed(&self, tls: ServerTls, mut current: Issued) {
        const FIRST_RETRY: u64 = 60;
        const LAST_RETRY: u64 = 6 * 3600;
        // Sleeps are at most a day: the clock is read again (a machine may
        // have slept), and the CA's window too when it offers ARI.
        const LONGEST_SLEEP: u64 = 24 * 3600;
        let mut retry = FIRST_RETRY;
        let mut next = self.renewal_time(&current).await;
        let mut announced = None;
        loop {
            let now = self.now().unwrap_or(next);
            if next > now {
                if announced != Some(next) {
                    self.report(Progress::RenewalIn(next - now));
                    announced = Some(next);
                }
                let sleep = self.inner.runtime.sleep(Duration::from_secs((next - now).min(LONGEST_SLEEP)));
                let forced = std::pin::pin!(self.inner.renew_now.notified());
                if let Either::Left(_) = select(sleep, forced).await {
                    if let Some(window) = self.ari_window(&current).await {
                        next = window;
                    }
                    continue;
                }
            }
            match self.obtain(Some(&current)).await {
                Ok(issued) => match tls.set_certificate(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes()) {
                    Ok(()) => {
                        self.report(Progress::Renewed(issued.clone()));
                        current = issued;
                        retry = FIRST_RETRY;
                        next = self.renewal_time(&current).await;
                    }
                    Err(err) => next = self.failed(&err.to_string(), &mut retry, LAST_RETRY),
                },
                Err(err) => next = self.failed(&err.to_string(), &mut retry, LAST_RETRY),
            }
        }
    }

    /// Reports a failed renewal; the time of the next attempt.
    fn failed(&self, error: &str, retry: &mut u64, last: u64) -> u64 {
        tracing::warn!(%error, retry_in = *retry, "ACME renewal failed");
        self.report(Progress::RenewalFailed { error: error.to_string(), retry_in: *retry });
        let next = self.now().unwrap_or(0) + *retry;
        *retry = (*retry * 2).min(last);
        next
    }
}

/// The waits between polls of the CA: 250 ms, doubling up to 5 s, for at
/// most 2 minutes in all.
struct Backoff {
    what: &'static str,
    delay: Duration,
    waited: Duration,
}

impl Backoff {
    fn new(what: &'static str) -> Backoff {
        Backoff { what, delay: Duration::from_millis(250), waited: Duration::ZERO }
    }

    async fn wait(&mut self, runtime: &AnyRuntime) -> Result<(), AcmeError> {
        if self.waited >= Duration::from_secs(120) {
            return Err(AcmeError::Timeout(self.what));
        }
        runtime.sleep(self.delay).await;
        self.waited += self.delay;
        self.delay = (self.delay * 2).min(Duration::from_secs(5));
        Ok(())
    }
}

/// The storage name of the account of `directory`: one per directory URL
/// (its host and path).
fn account_name(directory: &str) -> String {
    let place = directory.split_once("://").map_or(directory, |(_, rest)| rest);
    let place: String = place
        .trim_end_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    format!("account-{place}.json")
}

/// A uniformly random number below `bound` (0 for a bound of 0 or 1).
fn random_below(bound: u64) -> u64 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    if bound <= 1 || SystemRandom::new().fill(&mut bytes).is_err() {
        return 0;
    }
    u64::from_le_bytes(bytes) % bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_kept_per_ca() {
        assert_eq!(account_name(LETS_ENCRYPT_STAGING), "account-acme-staging-v02.api.letsencrypt.org_directory.json");
        assert_eq!(account_name("https://127.0.0.1:14000/dir"), "account-127.0.0.1_14000_dir.json");
        assert_ne!(account_name("https://ca.test/a"), account_name("https://ca.test/b"));
    }

    #[test]
    fn random_is_below_its_bound() {
        assert!((0..100).all(|_| random_below(7) < 7));
        assert_eq!(random_below(0), 0);
    }
}
