//! Automatic HTTPS in the CLI: `paf serve --acme DOMAIN` (provision, serve
//! HTTPS with h2 and http/1.1, answer HTTP-01 and redirect the rest on the
//! clear-text port, renew in place; SIGHUP renews at once) and `paf cert
//! DOMAIN... --out DIR` (obtain once, exit). The ACME work is
//! [`paf::acme`]'s; here are the options, the listeners and the messages.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;

use futures_util::future::try_join;
use http::header::{self, HeaderValue};
use paf::acme::{challenge_handler, Acme, AcmeConfig, ChallengeKind, DirStorage, LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING};
use paf::engine::alpn;
use paf::rt::native::TcpListener;
use paf::tls::ServerTls;
use paf::{Body, Config, Handler, Incoming, Request, Response, StatusCode, Switch};
use tokio::signal::unix::{signal, SignalKind};

/// The options every ACME command shares.
#[derive(Debug, clap::Args)]
pub struct AcmeOptions {
    /// An e-mail address the CA may write to (expiry notices).
    #[arg(long, value_name = "EMAIL")]
    acme_email: Option<String>,
    /// Use Let's Encrypt's production directory (trusted certificates,
    /// strict rate limits) instead of its staging one, the default.
    #[arg(long, conflicts_with = "acme_directory")]
    acme_production: bool,
    /// Use this ACME directory instead of Let's Encrypt's.
    #[arg(long, value_name = "URL")]
    acme_directory: Option<String>,
    /// Trust the CA certificates in this PEM file for the directory's
    /// HTTPS (a private or test CA, such as Pebble's).
    #[arg(long, value_name = "PEM")]
    acme_ca: Option<PathBuf>,
    /// How names are proved: http-01 (the clear-text port, 80) or
    /// tls-alpn-01 (the HTTPS port itself, 443).
    #[arg(long, value_name = "TYPE", value_enum, default_value_t = Challenge::Http01)]
    acme_challenge: Challenge,
    /// The key id of an External Account Binding, for CAs that ask for one.
    #[arg(long, value_name = "KID", requires = "acme_eab_hmac")]
    acme_eab_kid: Option<String>,
    /// The HMAC key of the External Account Binding (base64url, as CAs give it).
    #[arg(long, value_name = "KEY", requires = "acme_eab_kid")]
    acme_eab_hmac: Option<String>,
    /// The clear-text HTTP port: ACME HTTP-01 challenges there, and with
    /// `paf serve` redirects of every other request to https.
    #[arg(long, value_name = "PORT", default_value_t = 80)]
    http_port: u16,
}

/// `--acme-challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Challenge {
    #[value(name = "http-01")]
    Http01,
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
}

/// The ACME arguments of `paf serve`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Automatic HTTPS (ACME)")]
pub struct ServeAcme {
    /// Obtain a certificate for DOMAIN from an ACME CA, serve HTTPS with it
    /// on --port and renew it in place (repeat for more names). Giving it
    /// agrees to the CA's terms of service.
    #[arg(long = "acme", value_name = "DOMAIN", requires = "acme_dir")]
    pub domains: Vec<String>,
    /// Where the account key and the certificate are kept (keys 0600),
    /// and re-used at the next start.
    #[arg(long, value_name = "DIR")]
    acme_dir: Option<PathBuf>,
    #[command(flatten)]
    options: AcmeOptions,
}

/// Arguments of `paf cert`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The certificate is in DIR/certificate.pem, its key in DIR/key.pem (0600), the \
                        account key beside them; a certificate stored there that is for these names \
                        and not yet due for renewal is re-used. Giving the command agrees to the CA's \
                        terms of service.")]
pub struct CertArgs {
    /// The names of the certificate.
    #[arg(value_name = "DOMAIN", required = true)]
    domains: Vec<String>,
    /// Where the certificate, its key and the account key go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The address to answer challenges on.
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    host: String,
    /// The HTTPS port, for --acme-challenge tls-alpn-01.
    #[arg(long, default_value_t = 443)]
    port: u16,
    #[command(flatten)]
    options: AcmeOptions,
}

impl AcmeOptions {
    fn acme(&self, domains: &[String], dir: &std::path::Path) -> Result<Acme, String> {
        let directory = match (&self.acme_directory, self.acme_production) {
            (Some(url), _) => url.clone(),
            (None, true) => LETS_ENCRYPT_PRODUCTION.to_string(),
            (None, false) => LETS_ENCRYPT_STAGING.to_string(),
        };
        let mut client = paf::Client::builder();
        if let Some(path) = &self.acme_ca {
            let pem = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
            client = client.add_roots_pem(&pem).map_err(|err| format!("{} (--acme-ca): {err}", path.display()))?;
        }
        let mut config = AcmeConfig::new(domains.iter().cloned());
        config.directory = directory;
        config.contact_email = self.acme_email.clone();
        config.terms_of_service_agreed = true;
        config.challenge = match self.acme_challenge {
            Challenge::Http01 => ChallengeKind::Http01,
            Challenge::TlsAlpn01 => ChallengeKind::TlsAlpn01,
        };
        if let (Some(kid), Some(hmac)) = (&self.acme_eab_kid, &self.acme_eab_hmac) {
            let key = base64url_decode(hmac).ok_or("--acme-eab-hmac is not base64url")?;
            config.external_account = Some((kid.clone(), key));
        }
        let acme = Acme::new(config, client.build(), DirStorage::new(dir)).map_err(|err| err.to_string())?;
        acme.on_progress(|progress| eprintln!("paf: acme: {progress}"));
        Ok(acme)
    }
}

/// `paf cert`: obtains the certificate, answering the challenges on the
/// ports of --acme-challenge, then exits.
pub async fn cert(args: CertArgs) -> Result<ExitCode, String> {
    let acme = args.options.acme(&args.domains, &args.out)?;
    eprintln!("paf: acme: directory {}", acme.config().directory);
    let switch = Switch::new();
    let answering: Pin<Box<dyn Future<Output = Result<(), paf::Error>>>> = match args.options.acme_challenge {
        Challenge::Http01 => {
            let listener = bind(&args.host, args.options.http_port).await?;
            let handler = challenge_handler(acme.challenges(), paf::service_fn(|_| async { not_found() }));
            Box::pin(paf::serve(listener, handler, Config::default(), switch.clone()))
        }
        Challenge::TlsAlpn01 => {
            let listener = bind(&args.host, args.port).await?;
            let tls = ServerTls::acme_challenges_only();
            acme.challenges().answer_tls_alpn_with(&tls);
            let handler = paf::service_fn(|_| async { not_found() });
            Box::pin(paf::serve(listener, alpn::service(alpn::Tls::new(tls.config()), handler), Config::default(), switch.clone()))
        }
    };
    tokio::select! {
        obtained = acme.certificate() => obtained.map_err(|err| err.to_string())?,
        served = answering => return Err(format!("the challenge server stopped: {}", served.err().map_or("no error".into(), |e| e.to_string()))),
    };
    switch.stop();
    eprintln!(
        "paf: certificate for {} in {}, key in {}",
        args.domains.join(", "),
        args.out.join("certificate.pem").display(),
        args.out.join("key.pem").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `paf serve --acme`: HTTPS on `host:port` with the certificate (stored,
/// or obtained first), HTTP-01 and redirects on --http-port, renewals.
pub async fn serve(
    acme_args: &ServeAcme,
    host: &str,
    port: u16,
    handler: impl Handler,
    config: Config,
    switch: Switch,
    forced: Pin<Box<dyn Future<Output = ()>>>,
) -> Result<ExitCode, String> {
    let dir = acme_args.acme_dir.as_deref().ok_or("--acme needs --acme-dir")?;
    let acme = acme_args.options.acme(&acme_args.domains, dir)?;
    let stored = acme.stored().map_err(|err| err.to_string())?;
    let tls = match &stored {
        Some(issued) => ServerTls::from_pem(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())
            .map_err(|err| format!("the stored certificate: {err}"))?
            .answer_acme_tls_alpn(),
        None => ServerTls::acme_challenges_only(),
    };
    acme.challenges().answer_tls_alpn_with(&tls);

    let https = bind(host, port).await?;
    let http = bind(host, acme_args.options.http_port).await?;
    eprintln!("paf: listening on https://{}", https.local_addr().map_err(|e| e.to_string())?);
    eprintln!(
        "paf: listening on http://{} (ACME HTTP-01; other requests redirect to https)",
        http.local_addr().map_err(|e| e.to_string())?
    );
    let redirect = paf::service_fn(move |req: Request<Incoming>| async move { to_https(&req, port) });
    let servers = try_join(
        paf::serve(https, alpn::service(alpn::Tls::new(tls.config()), handler), config.clone(), switch.clone()),
        paf::serve(http, challenge_handler(acme.challenges(), redirect), config, switch.clone()),
    );
    let renewals = async {
        let current = match stored {
            Some(issued) => {
                eprintln!("paf: acme: stored certificate reused (serial {})", issued.serial_hex());
                issued
            }
            None => {
                eprintln!("paf: acme: directory {}", acme.config().directory);
                let issued = acme.obtain(None).await.map_err(|err| err.to_string())?;
                tls.set_certificate(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())
                    .map_err(|err| format!("the new certificate: {err}"))?;
                eprintln!("paf: acme: serving the new certificate");
                issued
            }
        };
        acme.keep_renewed(tls.clone(), current).await;
        Err::<(), String>("renewals stopped".into())
    };
    let mut hangup = signal(SignalKind::hangup()).map_err(|err| format!("cannot handle signals: {err}"))?;
    let renew_on_hangup = async {
        while hangup.recv().await.is_some() {
            eprintln!("paf: acme: SIGHUP: renewing now");
            acme.renew_now();
        }
    };
    tokio::select! {
        served = servers => served.map(|_| ExitCode::SUCCESS).map_err(|err| format!("the server failed: {err}")),
        Err(failed) = renewals => Err(failed),
        _ = renew_on_hangup => Err("signals stopped".into()),
        _ = forced => Err("stopped again before the requests in flight finished".into()),
    }
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, String> {
    TcpListener::bind((host, port)).await.map_err(|err| format!("cannot listen on {host}:{port}: {err}"))
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Body::from("not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// A permanent redirect of `req` to the same host and path over https on
/// `port`; 400 without a Host.
fn to_https(req: &Request<Incoming>, port: u16) -> Response<Body> {
    let host = req
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok()?.parse::<http::uri::Authority>().ok().map(|a| a.host().to_string()));
    let Some(host) = host else {
        let mut response = Response::new(Body::from("a Host header is needed to redirect to https\n"));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
    let authority = if port == 443 { host } else { format!("{host}:{port}") };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{authority}{path}");
    let mut response = Response::new(Body::from(format!("moved to {location}\n")));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => {
            let mut response = Response::new(Body::from("the Host header cannot make a URL\n"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// Decodes base64url (padding optional); `None` on any other character.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_keys_decode() {
        assert_eq!(base64url_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64url_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert_eq!(base64url_decode("a b"), None);
    }
}
