//! The native transports, registered with [`mimic`]: TCP and Unix sockets,
//! and the DNS fold that turns a host name and a port into addresses.
//!
//! The values, as in mimic's own TCP example:
//!
//! * [`HOST`] (a domain name or an IP literal, `[::1]` brackets allowed) and
//!   [`PORT`]: what a URL gives;
//! * [`ADDRESSES`]: the socket addresses they resolve to. [`DNS`] derives
//!   them from the host and the port (an IP literal skips the lookup). Just
//!   data: no protocol connects to addresses by itself;
//! * [`TCP`]: the endpoint of plain TCP, the addresses to try in order.
//!   [`PLAIN_TCP`] derives it from [`ADDRESSES`]; [`ctx`] has both folds;
//! * [`UNIX`]: the endpoint of Unix sockets, a path.
//!
//! Keeping addresses apart from the TCP endpoint lets a client use DNS
//! without offering plain TCP (for `https`, where a TLS protocol derives
//! its own endpoint from [`ADDRESSES`]: a failed handshake must not fall
//! back to cleartext).
//!
//! ```no_run
//! use paf::mimic;
//! use paf::rt::native::{self, HOST, PORT, TCP_WITNESS};
//! # async fn run() -> Result<(), paf::Error> {
//! let ctx = native::ctx().add(&HOST, "example.com".to_string()).add(&PORT, 80);
//! let flow = mimic::resolve(&ctx).await?;
//! let tcp = TCP_WITNESS.repr(&flow).expect("plain TCP is the only protocol here");
//! println!("connected to {}", tcp.peer_addr()?);
//! # Ok(())
//! # }
//! ```
//!
//! # Replacing DNS
//!
//! * Give the addresses (or the TCP endpoint) yourself: a value in the
//!   context beats every fold, so no lookup happens:
//!   `ctx.add(&ADDRESSES, vec![addr])`.
//! * Add your own fold for [`ADDRESSES`] on top of [`DNS`]: newer folds are
//!   tried first, and when yours declines (`Ok(None)`) the system resolver
//!   is tried.
//! * Or replace it: `ctx.remove_folds(&ADDRESSES).fold(&ADDRESSES, ...)`,
//!   or build a context without [`DNS`].
//!
//! No timeout is applied here: the caller wraps [`mimic::resolve`] in one.

use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr};
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::LazyLock;

use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::flow::BoxFuture;
use crate::mimic::{self, req, Ctx, Priority, Protocol, Value, Witness};
use crate::BoxError;

/// The priority of plain TCP: after the protocols with a lower number. A
/// TLS protocol over TCP should take a lower number (between
/// [`UNIX_PRIORITY`] and this one) to be tried first.
pub const TCP_PRIORITY: Priority = Priority::new(100);

/// The priority of Unix sockets: a socket path is the most specific thing a
/// context can hold (as with curl's `--unix-socket`), so it comes first.
#[cfg(unix)]
pub const UNIX_PRIORITY: Priority = Priority::new(40);

/// The host to connect to: a domain name, or an IP literal (`127.0.0.1`,
/// `::1` or `[::1]`).
pub static HOST: LazyLock<Value<String>> = LazyLock::new(|| Value::new("host"));

/// The port to connect to.
pub static PORT: LazyLock<Value<u16>> = LazyLock::new(|| Value::new("port"));

/// The socket addresses [`HOST`] and [`PORT`] resolve to, in the order to
/// try them. Derived by [`DNS`].
pub static ADDRESSES: LazyLock<Value<Vec<SocketAddr>>> = LazyLock::new(|| Value::new("addresses"));

static TCP_PROTOCOL: LazyLock<(Value<Vec<SocketAddr>>, Witness<TcpStream>)> =
    LazyLock::new(|| mimic::register("tcp", TCP_PRIORITY, Tcp));

/// The endpoint of plain TCP: addresses tried in order until one accepts
/// (a name often resolves to `::1` and `127.0.0.1`, and a server listens
/// on one of them). The flow is a [`TcpStream`] with `TCP_NODELAY` set.
pub static TCP: LazyLock<Value<Vec<SocketAddr>>> = LazyLock::new(|| TCP_PROTOCOL.0.clone());

/// Recognises plain TCP flows: `TCP_WITNESS.repr(&flow)` is the
/// [`TcpStream`].
pub static TCP_WITNESS: LazyLock<Witness<TcpStream>> = LazyLock::new(|| TCP_PROTOCOL.1.clone());

#[cfg(unix)]
static UNIX_PROTOCOL: LazyLock<(Value<PathBuf>, Witness<UnixStream>)> =
    LazyLock::new(|| mimic::register("unix", UNIX_PRIORITY, Unix));

/// The endpoint of Unix sockets: the socket's path.
#[cfg(unix)]
pub static UNIX: LazyLock<Value<PathBuf>> = LazyLock::new(|| UNIX_PROTOCOL.0.clone());

/// Recognises Unix socket flows: `UNIX_WITNESS.repr(&flow)` is the
/// [`UnixStream`].
#[cfg(unix)]
pub static UNIX_WITNESS: LazyLock<Witness<UnixStream>> = LazyLock::new(|| UNIX_PROTOCOL.1.clone());

/// A context holding one fold: [`ADDRESSES`] from [`HOST`] and [`PORT`],
/// through the system resolver (see [`lookup`]). Merge it under yours, or
/// use [`with_dns`].
pub static DNS: LazyLock<Ctx> = LazyLock::new(|| {
    Ctx::new().fold(
        &ADDRESSES,
        (req(&HOST), req(&PORT)),
        |(host, port): (String, u16)| async move { Ok(Some(lookup(&host, port).await?)) },
    )
});

/// A context holding one fold: the [`TCP`] endpoint from [`ADDRESSES`]
/// (plain TCP wherever addresses are known).
pub static PLAIN_TCP: LazyLock<Ctx> = LazyLock::new(|| {
    Ctx::new().fold(&TCP, req(&ADDRESSES), |addresses| async move {
        Ok(Some(addresses))
    })
});

/// A context for plain TCP to a host and a port: [`DNS`] and
/// [`PLAIN_TCP`]. Add [`HOST`] and [`PORT`] (or [`ADDRESSES`], or [`TCP`])
/// and resolve.
pub fn ctx() -> Ctx {
    DNS.merge(&PLAIN_TCP)
}

/// `ctx` with the [`DNS`] fold under it (its own folds for [`ADDRESSES`], if
/// any, are tried first).
pub fn with_dns(ctx: &Ctx) -> Ctx {
    DNS.merge(ctx)
}

/// The socket addresses of `host` (a domain name or an IP literal, with or
/// without brackets) and `port`. An IP literal is not looked up.
///
/// The error reads "could not resolve host example.invalid: ...".
pub async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = ip_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() {
        let message = "could not resolve host: the host name is empty";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("could not resolve host {host}: {err}")))?
        .collect();
    if addresses.is_empty() {
        let message = format!("could not resolve host {host}: it has no address");
        return Err(io::Error::new(io::ErrorKind::NotFound, message));
    }
    Ok(addresses)
}

/// `host` as an IP address, if it is one (`[::1]` as URLs write IPv6).
fn ip_literal(host: &str) -> Option<IpAddr> {
    match host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
    {
        Some(bracketed) => bracketed.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse().ok(),
    }
}

/// Connects to the first of `addresses` that accepts, with `TCP_NODELAY`
/// set (HTTP writes whole messages; Nagle would only delay them). For a
/// protocol over TCP, TLS for example.
///
/// The error names the addresses: "connection refused to 127.0.0.1:1".
pub async fn connect_tcp(addresses: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut failures = Vec::new();
    for &address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                if let Err(err) = stream.set_nodelay(true) {
                    // Only slower, still correct: keep the connection.
                    tracing::debug!(%address, %err, "could not set TCP_NODELAY");
                }
                return Ok(stream);
            }
            Err(err) => failures.push((address, err)),
        }
    }
    Err(connect_error(failures))
}

/// Connects to the Unix socket at `path`.
///
/// The error names the path: "connection refused to unix socket /run/x".
#[cfg(unix)]
pub async fn connect_unix(path: &std::path::Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
        .await
        .map_err(|err| connect_error(vec![(format!("unix socket {}", path.display()), err)]))
}

/// One error for the failed tries to connect to each target, in order.
fn connect_error(failures: Vec<(impl Display, io::Error)>) -> io::Error {
    let Some(kind) = failures.first().map(|(_, err)| err.kind()) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
    };
    let described: Vec<String> = failures
        .iter()
        .map(|(target, err)| match err.kind() {
            io::ErrorKind::ConnectionRefused => format!("connection refused to {target}"),
            _ => format!("could not connect to {target}: {err}"),
        })
        .collect();
    io::Error::new(kind, described.join("; "))
}

/// Plain TCP, as registered with mimic.
struct Tcp;

impl Protocol for Tcp {
    type Endpoint = Vec<SocketAddr>;
    type Transport = TcpStream;

    fn connect<'a>(
        &'a self,
        addresses: &'a Vec<SocketAddr>,
    ) -> BoxFuture<'a, Result<TcpStream, BoxError>> {
        Box::pin(async move { Ok(connect_tcp(addresses).await?) })
    }
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

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

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

    #[test]
    fn ip_literals_skip_dns_and_lose_their_brackets() {
        assert_eq!(ip_literal("127.0.0.1"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(
            ip_literal("[::1]"),
            Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            ip_literal("::1"),
            Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST))
        );
        assert_eq!(ip_literal("[127.0.0.1]"), None, "brackets are for IPv6");
        assert_eq!(ip_literal("localhost"), None);
        assert_eq!(ip_literal("example.com"), None);
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
