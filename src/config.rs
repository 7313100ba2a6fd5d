//! Limits and timeouts, in one place, with documented defaults.

use std::time::Duration;

use crate::h1::Limits;

/// Limits and timeouts of servers and connections.
///
/// Every field has a safe default; set only what you need to change:
/// `let mut config = Config::default(); config.header_timeout = Duration::from_secs(5);`
/// (the struct is `non_exhaustive`: it gains fields without breaking you).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Limits on the HTTP/1.1 parser (request line, header sizes, buffers).
    pub h1: Limits,
    /// The HTTP/2 settings paf announces (streams, windows, frame and
    /// header sizes); see [`Settings`] for the defaults.
    pub h2: Settings,
    /// Whether a server on clear text also speaks HTTP/2 to clients that
    /// start with its preface (h2c by prior knowledge, RFC 9113 §3.3).
    /// Over TLS the protocol is chosen by ALPN whatever this says.
    /// Default `false`: clear text is HTTP/1.1 only.
    pub h2c: bool,
    /// How long a peer has to send a complete request or response head once
    /// its first byte arrived. Default 10 s. Defeats slowloris. It also
    /// bounds, each on its own, a server's TLS handshake, the wait for the
    /// first bytes that tell HTTP/2 from HTTP/1.1 (h2c), and the HTTP/2
    /// preface and SETTINGS.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle between two
    /// requests before it is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// How long a body may stall (no byte read or written) before the
    /// connection is closed. Default 30 s. It also bounds how long an
    /// HTTP/1.1 handler may think once its client closed its side of the
    /// connection: a client that half-closes and waits still gets an
    /// answer that comes within this time, and one that is gone no longer
    /// holds the connection for as long as the handler never answers.
    pub body_timeout: Duration,
    /// How long the server waits for in-flight requests to finish after the
    /// stop switch is flipped, before closing their connections.
    /// Default 30 s.
    pub drain_timeout: Duration,
    /// How many connections a server handles at once; further connections
    /// wait in the kernel's backlog. Default 10 000.
    pub max_connections: usize,
    /// The read buffer size of a connection. Default 16 KiB.
    pub read_buffer: usize,
    /// How many body bytes the engine queues for a slow reader or writer
    /// before it stops reading from (or pulling from) the other side.
    /// Default 64 KiB.
    pub body_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            h1: Limits::default(),
            h2: Settings::default(),
            h2c: false,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            read_buffer: 16 * 1024,
            body_buffer: 64 * 1024,
        }
    }
}

/// The HTTP/2 settings paf announces (RFC 9113 §6.5.2), the same for
/// servers and clients. Part of [`Config`] as `config.h2`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// How many streams the peer may have open at once. Default 200
    /// (RFC 9113 asks for no fewer than 100).
    pub max_concurrent_streams: u32,
    /// How many bytes of one stream's body the peer may send before it is
    /// read (the stream's flow-control window): what a slow reader costs
    /// at most per stream. Default 256 KiB.
    pub initial_stream_window: u32,
    /// The same for all streams of a connection together. Default 1 MiB.
    pub initial_connection_window: u32,
    /// The largest frame payload accepted. Default 16 KiB, the protocol's
    /// minimum; at most 16 MiB − 1.
    pub max_frame_size: u32,
    /// The largest header list accepted, as RFC 9113 counts it (names,
    /// values and 32 bytes per field). Default 64 KiB, as HTTP/1.1's
    /// [`Limits::max_head_bytes`](crate::h1::Limits::max_head_bytes).
    pub max_header_list_size: u32,
    /// How often a connection PINGs its peer, to find one that went away
    /// without closing (a host that crashed, a NAT or proxy that forgot
    /// the connection): `None`, the default, sends none, as hyper and Go
    /// do. When set, pings go out while the connection is open, with or
    /// without streams.
    pub keep_alive_interval: Option<Duration>,
    /// How long a PING waits for its answer before the connection is
    /// closed as dead, failing its streams with [`Timeout::KeepAlive`](crate::error::Timeout::KeepAlive).
    /// Default 20 s.
    pub keep_alive_timeout: Duration,
    /// Servers accept extended CONNECT (RFC 8441: WebSocket and other
    /// protocols over an HTTP/2 stream), announcing
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`; the handler sees a `CONNECT`
    /// with the `:protocol` as an [`h2::ext::Protocol`] extension. Default
    /// `false`; [`bridge`](crate::bridge) needs it.
    pub enable_connect_protocol: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrent_streams: 200,
            initial_stream_window: 256 * 1024,
            initial_connection_window: 1024 * 1024,
            max_frame_size: 16 * 1024,
            max_header_list_size: 64 * 1024,
            keep_alive_interval: None,
            keep_alive_timeout: Duration::from_secs(20),
            enable_connect_protocol: false,
        }
    }
}
