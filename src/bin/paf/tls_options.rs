//! The TLS options of the client commands (`paf get`, `paf bench`): which
//! roots to trust, a client certificate, `--insecure`, `--http1.1`; one
//! definition, flattened into each command's arguments.

use std::path::PathBuf;

use paf::tls::ClientTls;

#[derive(Debug, clap::Args)]
pub struct TlsOptions {
    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Present this client certificate (PEM, the client's own first, then
    /// intermediates) to servers that ask for one.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Accept any TLS certificate (no authentication at all).
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Offer only HTTP/1.1 over TLS (ALPN http/1.1).
    #[arg(long = "http1.1")]
    pub http1: bool,
}

impl TlsOptions {
    /// The client TLS these options ask for (ALPN left at its default:
    /// `h2`, then `http/1.1`). Warns on stderr about `--insecure`.
    pub fn client_tls(&self) -> Result<ClientTls, String> {
        let read = |path: &PathBuf| std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()));
        let mut tls = ClientTls::new();
        if let Some(path) = &self.cacert {
            tls = tls.only_roots_pem(&read(path)?).map_err(|err| format!("{}: {err}", path.display()))?;
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls
                .identity(&read(cert)?, &read(key)?)
                .map_err(|err| format!("cannot use {} and {}: {err}", cert.display(), key.display()))?;
        }
        if self.insecure {
            eprintln!(
                "paf: WARNING: --insecure: the server's certificate is NOT verified; \
                 anyone between here and the server can read and change this exchange"
            );
            tls = tls.dangerous_accept_any_certificate();
        }
        Ok(tls)
    }
}
