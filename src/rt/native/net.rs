//! Raw native transports: the system resolver ([`lookup`]), TCP and Unix
//! connects whose errors name what was tried. `platform::native`
//! registers them with mimic.

use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

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
}
