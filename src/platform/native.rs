//! The native platform: tokio, and its transports registered with mimic
//! — TCP, Unix sockets, TLS over either — and the client's
//! [`Platform::native`].
//!
//! The values (the shared ones are in [`crate::platform`]):
//!
//! * [`TCP`]: the endpoint of plain TCP, the addresses to try in order.
//!   [`PLAIN_TCP`] derives it from [`ADDRESSES`](super::ADDRESSES), which [`DNS`] derives
//!   from [`HOST`] and [`PORT`](super::PORT) (an IP literal skips the lookup);
//!   [`ctx`] has both folds;
//! * [`TLS_OVER_TCP`]: the [`tls::TLS`](crate::tls::TLS) endpoint over TCP to
//!   [`ADDRESSES`](super::ADDRESSES); [`https_ctx`] has it and [`DNS`], and no plain TCP;
//! * [`UNIX`]: the endpoint of Unix sockets, a path.
//!
//! ```no_run
//! use paf::{mimic, tls};
//! use paf::platform::{native, HOST, PORT};
//! # async fn run() -> Result<(), paf::Error> {
//! let ctx = native::ctx().add(&HOST, "example.com".to_string()).add(&PORT, 80);
//! let flow = mimic::resolve(&ctx).await?;
//! let tcp = native::TCP_WITNESS.repr(&flow).expect("plain TCP is the only protocol here");
//! println!("connected to {}", tcp.peer_addr()?);
//!
//! let ctx = native::https_ctx().add(&HOST, "example.com".to_string()).add(&PORT, 443);
//! let flow = mimic::resolve(&ctx).await?;
//! let session = tls::session(&flow).expect("TLS is the only protocol here");
//! println!("{} with ALPN {:?}", session.version, session.alpn_str());
//! # Ok(())
//! # }
//! ```
//!
//! DNS is replaced as [`dns`](super::dns) says. No timeout is
//! applied here: the caller wraps [`mimic::resolve`] in one.

use std::path::{Path, PathBuf};

use http::Response;
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use super::{tls_over, to_origin, HOST};
use crate::client::{Client, ClientBuilder, Origin, Platform, ResponseExt};
use crate::flow::BoxFuture;
use crate::mimic::{self, Ctx, Priority, Protocol, Value, Witness};
use crate::rt::native::{connect_tcp, lookup, Tokio};
#[cfg(unix)]
use crate::rt::native::connect_unix;
use crate::rt::Global;
use crate::{BoxError, Error, Flow, Incoming};

tcp_transports!(TcpStream, lookup, connect_tcp);

/// The priority of Unix sockets: a socket path is the most specific thing a
/// context can hold (as with curl's `--unix-socket`), so it comes first.
#[cfg(unix)]
pub const UNIX_PRIORITY: Priority = Priority::new(40);

#[cfg(unix)]
static UNIX_PROTOCOL: Global<(Value<PathBuf>, Witness<UnixStream>)> =
    Global::new(|| mimic::register("unix", UNIX_PRIORITY, Unix));

/// The endpoint of Unix sockets: the socket's path.
#[cfg(unix)]
pub static UNIX: Global<Value<PathBuf>> = Global::new(|| UNIX_PROTOCOL.0.clone());

/// Recognises Unix socket flows: `UNIX_WITNESS.repr(&flow)` is the
/// [`UnixStream`].
#[cfg(unix)]
pub static UNIX_WITNESS: Global<Witness<UnixStream>> = Global::new(|| UNIX_PROTOCOL.1.clone());

/// `ctx` with the [`DNS`] fold under it (its own folds for [`ADDRESSES`](super::ADDRESSES), if
/// any, are tried first).
pub fn with_dns(ctx: &Ctx) -> Ctx {
    DNS.merge(ctx)
}

/// Unix sockets, as registered with mimic.
#[cfg(unix)]
struct Unix;

#[cfg(unix)]
impl Protocol for Unix {
    type Endpoint = PathBuf;
    type Transport = UnixStream;

    fn connect<'a>(&'a self, path: &'a PathBuf) -> BoxFuture<'a, Result<UnixStream, BoxError>> {
        Box::pin(async move { Ok(connect_unix(path).await?) })
    }
}

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
    /// * `http`: [`HOST`] and [`PORT`](super::PORT), the system's DNS ([`ADDRESSES`](super::ADDRESSES))
    ///   and plain TCP ([`ctx`]);
    /// * `https`: the same with TLS over TCP instead, and no plain TCP
    ///   ([`https_ctx`]);
    /// * a Unix socket: [`UNIX`] (under TLS for `https`, checking the
    ///   certificate against the origin's host).
    pub fn native() -> Platform {
        Platform::new(Tokio, native_context)
    }
}

fn native_context(origin: &Origin) -> Ctx {
    if let Some(path) = origin.unix_socket() {
        return unix_context(origin, path);
    }
    to_origin(if origin.is_tls() { https_ctx() } else { ctx() }, origin)
}

/// The path of a Unix socket TLS runs over: data, not an endpoint, so that
/// an `https` context offers no clear text.
#[cfg(unix)]
static SOCKET_PATH: Global<Value<PathBuf>> = Global::new(|| Value::new("unix-path"));

#[cfg(unix)]
static TLS_OVER_UNIX: Global<Ctx> = Global::new(|| {
    tls_over(&SOCKET_PATH, |path: PathBuf| async move { Ok(Flow::new(connect_unix(&path).await?)) })
});

/// The socket at `path`: [`UNIX`], or for `https` the [`tls::TLS`](crate::tls::TLS)
/// endpoint over it, checking the certificate against the origin's host.
#[cfg(unix)]
fn unix_context(origin: &Origin, path: &Path) -> Ctx {
    if !origin.is_tls() {
        return Ctx::new().add(&UNIX, path.to_path_buf());
    }
    TLS_OVER_UNIX.add(&SOCKET_PATH, path.to_path_buf()).add(&HOST, origin.host().to_string())
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

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::mimic::req;
    use crate::platform::{ADDRESSES, PORT};

    /// A port on 127.0.0.1 where nothing listens (just freed).
    async fn closed_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    fn host_and_port(host: &str, port: u16) -> Ctx {
        ctx().add(&HOST, host.to_string()).add(&PORT, port)
    }

    async fn resolve_err(ctx: &Ctx) -> String {
        let result = tokio::time::timeout(Duration::from_secs(30), mimic::resolve(ctx)).await;
        result
            .expect("resolution should not hang")
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn connects_to_a_tcp_endpoint_given_directly() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let flow = mimic::resolve(&Ctx::new().add(&TCP, vec![address]))
            .await
            .unwrap();
        let stream = TCP_WITNESS.repr(&flow).expect("a TCP flow");
        assert_eq!(stream.peer_addr().unwrap(), address);
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn connects_to_an_ip_literal_and_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut flow = mimic::resolve(&host_and_port("127.0.0.1", port))
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.write_all(b"hi").await.unwrap();
        let mut greeting = [0; 2];
        flow.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"hi");
        assert_eq!(
            lookup("[::1]", 8).await.unwrap(),
            ["[::1]:8".parse().unwrap()]
        );
    }

    #[tokio::test]
    async fn connects_to_localhost_through_dns() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        assert!(lookup("localhost", address.port())
            .await
            .unwrap()
            .contains(&address));
        // Even where localhost is ::1 first, 127.0.0.1 is tried next.
        let flow = mimic::resolve(&host_and_port("localhost", address.port()))
            .await
            .unwrap();
        assert_eq!(
            TCP_WITNESS.repr(&flow).unwrap().peer_addr().unwrap(),
            address
        );
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let port = closed_port().await;
        let err = resolve_err(&host_and_port("127.0.0.1", port)).await;
        assert_eq!(err, format!("tcp: connection refused to 127.0.0.1:{port}"));

        let err = resolve_err(&Ctx::new().add(&TCP, vec![])).await;
        assert_eq!(err, "tcp: no address to connect to");
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_a_dns_error() {
        let err = resolve_err(&host_and_port("nonexistent.invalid", 80)).await;
        assert!(
            err.starts_with("tcp: could not resolve host nonexistent.invalid: "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        let err = resolve_err(&host_and_port("", 80)).await;
        assert_eq!(err, "tcp: could not resolve host: the host name is empty");
    }

    #[tokio::test]
    async fn a_missing_port_or_host_is_said() {
        let err = resolve_err(&ctx().add(&HOST, "localhost".to_string())).await;
        assert_eq!(err, "tcp: cannot derive addresses: missing port");
        // DNS alone offers no protocol: nothing to connect with.
        let err = resolve_err(&with_dns(&Ctx::new()).add(&PORT, 1)).await;
        assert!(err.starts_with("no endpoint in the context"), "{err}");
    }

    #[tokio::test]
    async fn a_fold_of_ours_overrides_dns_and_falls_back_to_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let ctx = ctx().fold(&ADDRESSES, req(&HOST), move |host: String| async move {
            Ok((host == "service.test").then(|| vec![address]))
        });
        let flow = mimic::resolve(&ctx.add(&HOST, "service.test".to_string()))
            .await
            .unwrap();
        assert_eq!(
            TCP_WITNESS.repr(&flow).unwrap().peer_addr().unwrap(),
            address
        );

        let localhost = ctx
            .add(&HOST, "localhost".to_string())
            .add(&PORT, address.port());
        mimic::resolve(&localhost)
            .await
            .expect("the system resolver, after ours declined");
    }

    #[test]
    fn dns_merged_twice_is_there_once() {
        let once = format!("{:?}", ctx());
        assert_eq!(once, r#"{"addresses": 1 fold(s), "tcp": 1 fold(s)}"#);
        assert_eq!(format!("{:?}", with_dns(&with_dns(&ctx()))), once);
    }

    /// A fresh directory for sockets, removed when dropped.
    #[cfg(unix)]
    struct TempDir(std::path::PathBuf);

    #[cfg(unix)]
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("paf-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    #[cfg(unix)]
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn connects_to_a_unix_socket() {
        let dir = TempDir::new("unix-connect");
        let path = dir.path().join("paf.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let mut flow = mimic::resolve(&Ctx::new().add(&UNIX, path.clone()))
            .await
            .unwrap();
        assert!(UNIX_WITNESS.is(&flow));
        let (mut server, _) = listener.accept().await.unwrap();
        flow.write_all(b"ping").await.unwrap();
        let mut ping = [0; 4];
        server.read_exact(&mut ping).await.unwrap();
        assert_eq!(&ping, b"ping");

        let missing = dir.path().join("missing.sock");
        let err = resolve_err(&Ctx::new().add(&UNIX, missing.clone())).await;
        let expected = format!(
            "unix: could not connect to unix socket {}: ",
            missing.display()
        );
        assert!(err.starts_with(&expected), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_unix_socket_comes_before_tcp_and_tcp_is_the_fallback() {
        let dir = TempDir::new("unix-first");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let ctx = Ctx::new().add(&TCP, vec![address]);

        let path = dir.path().join("paf.sock");
        let _unix = tokio::net::UnixListener::bind(&path).unwrap();
        let flow = mimic::resolve(&ctx.add(&UNIX, path)).await.unwrap();
        assert!(UNIX_WITNESS.is(&flow));

        let flow = mimic::resolve(&ctx.add(&UNIX, dir.path().join("none")))
            .await
            .unwrap();
        assert!(TCP_WITNESS.is(&flow));
    }
}

/// The system's resolver and TCP connects, for a [`bridge`](crate::bridge).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeDial;

impl crate::bridge::Dial for NativeDial {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { lookup(&host, port).await })
    }

    fn connect(&self, address: std::net::SocketAddr) -> BoxFuture<'static, std::io::Result<Flow>> {
        Box::pin(async move { connect_tcp(&[address]).await.map(Flow::new) })
    }
}

/// A [`bridge`](crate::bridge) under `policy` that reaches its targets
/// with the system's resolver and TCP, on tokio. Serve it with
/// `config.h2.enable_connect_protocol` set for WebSockets over HTTP/2.
pub fn bridge(policy: crate::bridge::Policy) -> crate::bridge::Bridge<NativeDial, Tokio> {
    crate::bridge::handler(policy, NativeDial, Tokio)
}
