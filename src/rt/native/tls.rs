//! TLS over native TCP, for mimic: the fold that derives the
//! [`tls::TLS`] endpoint from [`ADDRESSES`], and [`https_ctx`].
//!
//! ```no_run
//! use paf::{mimic, tls};
//! use paf::rt::native::{self, HOST, PORT};
//! # async fn run() -> Result<(), paf::Error> {
//! let ctx = native::https_ctx().add(&HOST, "example.com".to_string()).add(&PORT, 443);
//! let flow = mimic::resolve(&ctx).await?;
//! let session = tls::session(&flow).expect("TLS is the only protocol here");
//! println!("{} with ALPN {:?}", session.version, session.alpn_str());
//! # Ok(())
//! # }
//! ```

use std::sync::LazyLock;

use crate::mimic::{dft, opt, req, Ctx};
use crate::tls::{self, Endpoint};
use crate::Flow;

use super::{connect_tcp, ADDRESSES, DNS, HOST};

/// A context holding one fold: the [`tls::TLS`] endpoint from
/// [`ADDRESSES`] (connected to with [`connect_tcp`]), [`tls::CONFIG`]
/// ([`tls::default_client_config`] when absent: the Mozilla roots) and the
/// name to check, [`tls::SERVER_NAME`] or else [`HOST`].
pub static TLS_OVER_TCP: LazyLock<Ctx> = LazyLock::new(|| {
    Ctx::new().fold(
        &tls::TLS,
        (
            req(&ADDRESSES),
            dft(&tls::CONFIG, tls::default_client_config()),
            opt(&tls::SERVER_NAME),
            opt(&HOST),
        ),
        |(addresses, config, server_name, host)| async move {
            let Some(server_name) = server_name.or(host) else {
                let message = "no server name to check the certificate against: add host \
                               (or tls-server-name) to the context";
                return Err(message.into());
            };
            let endpoint = Endpoint::new(config, server_name, move || {
                let addresses = addresses.clone();
                async move { Ok(Flow::new(connect_tcp(&addresses).await?)) }
            });
            Ok(Some(endpoint))
        },
    )
});

/// A context for TLS to a host and a port: [`DNS`] and [`TLS_OVER_TCP`],
/// and no plain TCP, so a failed handshake never falls back to clear text.
/// Add [`HOST`] and [`PORT`](super::PORT) (and [`tls::CONFIG`] to trust
/// other roots) and resolve. [`ctx`](super::ctx) is its clear-text
/// counterpart.
pub fn https_ctx() -> Ctx {
    DNS.merge(&TLS_OVER_TCP)
}
