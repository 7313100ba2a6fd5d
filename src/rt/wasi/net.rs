//! `wasi:sockets`: TCP connections and listeners, and name lookups.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp::{ShutdownType, TcpSocket};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

use super::executor::ready;
use super::{Streams, Wasi};
use crate::rt::{Endpoints, Listener, Peer};
use crate::Flow;

/// A TCP connection over `wasi:sockets`.
pub struct TcpStream {
    streams: Streams,
    // After the streams: they are its children.
    socket: TcpSocket,
    peer: SocketAddr,
}

impl TcpStream {
    fn new(socket: TcpSocket, streams: (wasip2::io::streams::InputStream, wasip2::io::streams::OutputStream), peer: SocketAddr) -> TcpStream {
        TcpStream { streams: Streams::new(streams.0, streams.1, peer.to_string()), socket, peer }
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_address().map(from_wasi).map_err(|code| error(code, "cannot read the local address"))
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.streams).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.streams).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.streams).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.streams.is_write_vectored()
    }

    /// Done once written: a `wasi:sockets` stream hands what it is given
    /// to the socket as soon as it can (its `flush` does nothing), so a
    /// flush would only cost two calls to the host per response.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.streams).poll_shutdown(cx))?;
        // A FIN; a connection the peer already reset has nothing to end.
        let _ = self.socket.shutdown(ShutdownType::Send);
        Poll::Ready(Ok(()))
    }
}

/// Connects to the first of `addresses` that accepts.
///
/// The error names the addresses: "connection refused to 127.0.0.1:1".
pub async fn connect_tcp(addresses: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut failures = Vec::new();
    for &address in addresses {
        match connect_one(address).await {
            Ok(stream) => return Ok(stream),
            Err(ErrorCode::ConnectionRefused) => failures.push(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection refused to {address}"),
            )),
            Err(code) => failures.push(error(code, &format!("could not connect to {address}"))),
        }
    }
    match failures.len() {
        0 => Err(io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")),
        1 => Err(failures.remove(0)),
        _ => {
            let kind = failures[0].kind();
            let all: Vec<String> = failures.iter().map(io::Error::to_string).collect();
            Err(io::Error::new(kind, all.join("; ")))
        }
    }
}

async fn connect_one(address: SocketAddr) -> Result<TcpStream, ErrorCode> {
    let network = instance_network();
    let socket = create_tcp_socket(family(address))?;
    socket.start_connect(&network, to_wasi(address))?;
    loop {
        match socket.finish_connect() {
            Ok(streams) => return Ok(TcpStream::new(socket, streams, address)),
            Err(ErrorCode::WouldBlock) => ready(socket.subscribe()).await,
            Err(code) => return Err(code),
        }
    }
}

/// The socket addresses of `host` (a domain name or an IP literal, `[::1]`
/// as URLs write IPv6) and `port`, through `wasi:sockets/ip-name-lookup`.
/// An IP literal is not looked up: a component without the permission to
/// look names up can still reach addresses.
///
/// The error reads "could not resolve host example.invalid: ...".
pub async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let name = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(bracketed) => match bracketed.parse::<Ipv6Addr>() {
            Ok(ip) => return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
            Err(_) => host,
        },
        None => host,
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if name.is_empty() {
        let message = "could not resolve host: the host name is empty";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let failed = |code: ErrorCode| error(code, &format!("could not resolve host {host}"));
    let addresses = resolve_addresses(&instance_network(), name).map_err(failed)?;
    let mut found = Vec::new();
    loop {
        match addresses.resolve_next_address() {
            Ok(Some(ip)) => found.push(SocketAddr::new(from_wasi_ip(ip), port)),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => ready(addresses.subscribe()).await,
            Err(code) => return Err(failed(code)),
        }
    }
    if found.is_empty() {
        let message = format!("could not resolve host {host}: it has no address");
        return Err(io::Error::new(io::ErrorKind::NotFound, message));
    }
    Ok(found)
}

/// Connections the host may queue before they are accepted, as tokio's
/// native listener asks (wasmtime's default, 128, drops the SYNs of a
/// burst of a few hundred connections: those wait for TCP's retransmission,
/// a second and more).
const LISTEN_BACKLOG: u64 = 1024;

/// A TCP listener over `wasi:sockets`, for [`crate::serve`].
pub struct TcpListener {
    socket: TcpSocket,
    local: SocketAddr,
}

impl TcpListener {
    /// Binds `address` and listens (port 0: any free port, see
    /// [`TcpListener::local_addr`]).
    pub async fn bind(address: SocketAddr) -> io::Result<TcpListener> {
        let failed = |code| error(code, &format!("cannot listen on {address}"));
        let socket = create_tcp_socket(family(address)).map_err(failed)?;
        socket.start_bind(&instance_network(), to_wasi(address)).map_err(failed)?;
        finish(&socket, TcpSocket::finish_bind).await.map_err(failed)?;
        // A host that cannot change it keeps its own.
        let _ = socket.set_listen_backlog_size(LISTEN_BACKLOG);
        socket.start_listen().map_err(failed)?;
        finish(&socket, TcpSocket::finish_listen).await.map_err(failed)?;
        let local = socket.local_address().map(from_wasi).map_err(failed)?;
        Ok(TcpListener { socket, local })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        loop {
            match self.socket.accept() {
                Ok((socket, input, output)) => {
                    let peer = socket.remote_address().map(from_wasi).unwrap_or(self.local);
                    return Ok(TcpStream::new(socket, (input, output), peer));
                }
                Err(ErrorCode::WouldBlock) => ready(self.socket.subscribe()).await,
                Err(code) => return Err(error(code, "accept failed")),
            }
        }
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Listener for TcpListener {
    type Runtime = Wasi;

    fn runtime(&self) -> Wasi {
        Wasi
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        let stream = TcpListener::accept(self).await?;
        let endpoints = Endpoints::new(Peer::Ip(stream.peer_addr()), Some(self.local));
        Ok((Flow::new(stream), endpoints))
    }
}

/// The second half of a two-step socket operation (`finish-bind`,
/// `finish-listen`), retried while it would block.
async fn finish(socket: &TcpSocket, step: fn(&TcpSocket) -> Result<(), ErrorCode>) -> Result<(), ErrorCode> {
    loop {
        match step(socket) {
            Err(ErrorCode::WouldBlock) => ready(socket.subscribe()).await,
            done => return done,
        }
    }
}

/// `context: what the error code says`, with the matching error kind.
fn error(code: ErrorCode, context: &str) -> io::Error {
    let kind = match code {
        ErrorCode::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        ErrorCode::ConnectionReset => io::ErrorKind::ConnectionReset,
        ErrorCode::ConnectionAborted => io::ErrorKind::ConnectionAborted,
        ErrorCode::AccessDenied => io::ErrorKind::PermissionDenied,
        ErrorCode::AddressInUse => io::ErrorKind::AddrInUse,
        ErrorCode::AddressNotBindable => io::ErrorKind::AddrNotAvailable,
        ErrorCode::Timeout => io::ErrorKind::TimedOut,
        ErrorCode::InvalidArgument => io::ErrorKind::InvalidInput,
        ErrorCode::NameUnresolvable | ErrorCode::PermanentResolverFailure => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    let hint = match code {
        ErrorCode::AccessDenied => " (give the component network access: wasmtime run -S inherit-network)",
        _ => "",
    };
    // The message's first line ("Access denied."); the rest is POSIX lore.
    let what = code.message().lines().next().unwrap_or_default().trim_end_matches('.').to_lowercase();
    io::Error::new(kind, format!("{context}: {what}{hint}"))
}

/// A failure of a connection's streams, said as the socket error it is
/// (a reset is [`io::ErrorKind::ConnectionReset`], as natively).
/// `wasi:sockets`' `network-error-code`, which gives the code, is unstable
/// and not in WASI 0.2's bindings; hosts begin the error's debug text with
/// the code's name, which is read instead (wasmtime: "connection-reset
/// (error 15)" and a backtrace from a write, "ConnectionReset" from a
/// read). Any other failure keeps that first line as its message.
pub(super) fn stream_failure(err: &wasip2::io::error::Error) -> io::Error {
    const STREAM_CODES: [ErrorCode; 4] =
        [ErrorCode::ConnectionReset, ErrorCode::ConnectionAborted, ErrorCode::Timeout, ErrorCode::RemoteUnreachable];
    let squashed = |name: &str| name.replace('-', "").to_ascii_lowercase();
    let text = err.to_debug_string();
    let first = text.lines().next().unwrap_or_default();
    let name = squashed(first.split(' ').next().unwrap_or_default());
    match STREAM_CODES.into_iter().find(|code| squashed(code.name()) == name) {
        Some(code) => error(code, "the connection failed"),
        None => io::Error::other(first.to_owned()),
    }
}

fn family(address: SocketAddr) -> IpAddressFamily {
    match address {
        SocketAddr::V4(_) => IpAddressFamily::Ipv4,
        SocketAddr::V6(_) => IpAddressFamily::Ipv6,
    }
}

fn to_wasi(address: SocketAddr) -> IpSocketAddress {
    match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress { port: v4.port(), address: (a, b, c, d) })
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                flow_info: v6.flowinfo(),
                address: (a, b, c, d, e, f, g, h),
                scope_id: v6.scope_id(),
            })
        }
    }
}

fn from_wasi(address: IpSocketAddress) -> SocketAddr {
    match address {
        IpSocketAddress::Ipv4(v4) => SocketAddr::new(from_wasi_ip(IpAddress::Ipv4(v4.address)), v4.port),
        IpSocketAddress::Ipv6(v6) => SocketAddr::new(from_wasi_ip(IpAddress::Ipv6(v6.address)), v6.port),
    }
}

fn from_wasi_ip(ip: IpAddress) -> IpAddr {
    match ip {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}
