//! The native platform of the client: tokio, and the transports of
//! [`rt::native`]: DNS, TCP, TLS over TCP, Unix sockets. The one place of
//! the client that knows its target.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use http::Response;

use super::{Client, ClientBuilder, Origin, Platform, ResponseExt, PROBE};
use crate::mimic::{dft, opt, req, Ctx};
use crate::rt::native::{connect_tcp, lookup, Tokio, ADDRESSES, HOST, PLAIN_TCP, PORT};
use crate::tls::{self, Endpoint};
use crate::{Error, Flow, Incoming};

impl Client {
    /// A client with the defaults, on the native platform
    /// ([`Platform::native`]). Call it inside a tokio runtime.
    pub fn new() -> Client {
        Client::builder().build()
    }

    /// A builder on the native platform.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new(Platform::native())
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Platform {
    /// tokio, and per origin:
    ///
    /// * `http`: [`HOST`] and [`PORT`], the system's DNS
    ///   ([`ADDRESSES`]) and plain TCP;
    /// * `https`: the same with TLS over TCP instead, and no plain TCP;
    /// * a Unix socket: [`UNIX`](crate::rt::native::UNIX) (under TLS for
    ///   `https`).
    ///
    /// The DNS fold and TLS over TCP mark the [`Probe`](super::Probe) of
    /// the connection; they are [`rt::native`]'s, with a probe.
    ///
    /// [`rt::native`]: crate::rt::native
    pub fn native() -> Platform {
        Platform::new(Tokio, native_context)
    }
}

fn native_context(origin: &Origin) -> Ctx {
    if let Some(path) = origin.unix_socket() {
        return unix_context(origin, path);
    }
    let transport: &Ctx = if origin.is_tls() { &TLS_OVER_TCP } else { &PLAIN_TCP };
    DNS.merge(transport)
        .add(&HOST, origin.host().to_string())
        .add(&PORT, origin.port())
}

/// [`ADDRESSES`] from [`HOST`] and [`PORT`] through the system resolver,
/// marking the probe.
static DNS: LazyLock<Ctx> = LazyLock::new(|| {
    Ctx::new().fold(
        &ADDRESSES,
        (req(&HOST), req(&PORT), opt(&PROBE)),
        |(host, port, probe): (String, u16, Option<super::Probe>)| async move {
            let addresses = lookup(&host, port).await?;
            if let Some(probe) = probe {
                probe.resolved();
            }
            Ok(Some(addresses))
        },
    )
});

/// The [`tls::TLS`] endpoint over TCP to [`ADDRESSES`], marking the probe
/// when TCP is connected.
static TLS_OVER_TCP: LazyLock<Ctx> = LazyLock::new(|| {
    Ctx::new().fold(
        &tls::TLS,
        (
            req(&ADDRESSES),
            dft(&tls::CONFIG, tls::default_client_config()),
            opt(&tls::SERVER_NAME),
            req(&HOST),
            opt(&PROBE),
        ),
        |(addresses, config, server_name, host, probe)| async move {
            let endpoint = Endpoint::new(config, server_name.unwrap_or(host), move || {
                let (addresses, probe) = (addresses.clone(), probe.clone());
                async move {
                    let tcp = connect_tcp(&addresses).await?;
                    if let Some(probe) = probe {
                        probe.connected();
                    }
                    Ok(Flow::new(tcp))
                }
            });
            Ok(Some(endpoint))
        },
    )
});

/// The socket at `path`: [`UNIX`](crate::rt::native::UNIX), or for `https`
/// the [`tls::TLS`] endpoint over it, checking the certificate against the
/// origin's host.
#[cfg(unix)]
fn unix_context(origin: &Origin, path: &Path) -> Ctx {
    use crate::rt::native::{connect_unix, UNIX};
    if !origin.is_tls() {
        return Ctx::new().add(&UNIX, path.to_path_buf());
    }
    let (host, path) = (origin.host().to_string(), path.to_path_buf());
    Ctx::new().fold(
        &tls::TLS,
        (dft(&tls::CONFIG, tls::default_client_config()), opt(&tls::SERVER_NAME)),
        move |(config, server_name)| {
            let server_name = server_name.unwrap_or_else(|| host.clone());
            let path: PathBuf = path.clone();
            async move {
                let open = move || {
                    let path = path.clone();
                    async move { Ok(Flow::new(connect_unix(&path).await?)) }
                };
                Ok(Some(Endpoint::new(config, server_name, open)))
            }
        },
    )
}

/// No Unix sockets here: the context holds nothing, resolving says so.
#[cfg(not(unix))]
fn unix_context(_: &Origin, _: &Path) -> Ctx {
    Ctx::new()
}

/// Writing a response's body to a file (native only).
#[allow(async_fn_in_trait)] // called where it is awaited; no Send bound to promise
pub trait SaveExt {
    /// Creates (or truncates) the file at `path` and writes the body to
    /// it as it arrives; gives the number of bytes written.
    async fn save(self, path: impl AsRef<Path>) -> Result<u64, Error>;
}

impl SaveExt for Response<Incoming> {
    async fn save(self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let path = path.as_ref();
        let mut file = tokio::fs::File::create(path).await.map_err(|err| {
            Error::Io(std::io::Error::new(err.kind(), format!("cannot create {}: {err}", path.display())))
        })?;
        self.copy_to(&mut file).await
    }
}
