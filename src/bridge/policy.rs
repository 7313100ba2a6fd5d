//! What a bridge lets through: the targets it may reach (an allow-list,
//! required), the pages that may use it (an `Origin` allow-list), how
//! many tunnels it holds per client and in all, and its timeouts. A
//! refusal is a [`Refusal`], whose message a page can show.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One `HOST:PORT` a bridge may connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// A host name (lowercase) or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Target {
    /// Reads `host:port`, `[v6]:port` or `v6-literal` in brackets.
    pub fn parse(text: &str) -> Result<Target, Refusal> {
        let invalid = || Refusal::Invalid(format!("{text:?} is not HOST:PORT"));
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || port == 0 || !host.chars().all(valid) || (host.contains(':') && host.parse::<IpAddr>().is_err()) {
            return Err(invalid());
        }
        Ok(Target { host: host.to_ascii_lowercase(), port })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the bridge did not relay, worded for the page that asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The target is not `HOST:PORT`, or a Wisp CONNECT was not valid.
    #[error("bridge: {0}")]
    Invalid(String),
    /// The target is not in the allow-list.
    #[error("bridge: {0} is not in the allow-list")]
    NotAllowed(Target),
    /// The target resolves to a loopback, private or link-local address
    /// that the allow-list does not name.
    #[error("bridge: {target} resolves to the non-public address {address}, which the allow-list does not name")]
    NotPublic {
        /// The target asked for.
        target: Target,
        /// The address it resolved to.
        address: IpAddr,
    },
    /// The page's origin is not in the `Origin` allow-list.
    #[error("bridge: pages from {0} may not use this bridge")]
    Origin(String),
    /// A connection limit is reached.
    #[error("bridge: {0}")]
    Limit(String),
    /// The target could not be reached.
    #[error("bridge: {target}: {message}")]
    Unreachable {
        /// The target asked for.
        target: Target,
        /// What failed.
        message: String,
    },
}

/// A bridge's rules. [`Policy::new`] takes the allow-list; the rest has
/// defaults.
#[derive(Debug, Clone)]
pub struct Policy {
    allow: Vec<Target>,
    origins: Vec<String>,
    /// Tunnels (WebSocket tunnels and Wisp streams) one client IP may have
    /// open at once. Default 16.
    pub max_per_client: usize,
    /// Tunnels open at once in all. Default 256.
    pub max_total: usize,
    /// A tunnel that relays no byte either way for this long is closed.
    /// Default 120 s.
    pub idle_timeout: Duration,
    /// How long connecting to a target may take. Default 10 s.
    pub connect_timeout: Duration,
    /// The largest WebSocket frame taken from a client. Default 1 MiB.
    pub max_frame: usize,
}

impl Policy {
    /// The rules of a bridge that may reach the `allow`ed targets and no
    /// other. Pages of any origin may use it until [`Policy::origins`]
    /// says which.
    pub fn new(allow: impl IntoIterator<Item = Target>) -> Policy {
        Policy {
            allow: allow.into_iter().collect(),
            origins: Vec::new(),
            max_per_client: 16,
            max_total: 256,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_frame: 1 << 20,
        }
    }

    /// Only pages of these origins (`https://app.example`, as browsers
    /// send `Origin`) may use the bridge; clients that send no `Origin`
    /// (not a page) still may.
    pub fn origins(mut self, origins: impl IntoIterator<Item = String>) -> Policy {
        self.origins = origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        self
    }

    /// The allow-list.
    pub fn allowed(&self) -> &[Target] {
        &self.allow
    }

    pub(crate) fn check_origin(&self, origin: Option<&str>) -> Result<(), Refusal> {
        match origin {
            Some(origin) if !self.origins.is_empty() && !self.origins.contains(&origin.to_ascii_lowercase()) => {
                Err(Refusal::Origin(origin.to_owned()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_target(&self, target: &Target) -> Result<(), Refusal> {
        if self.allow.contains(target) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed(target.clone()))
        }
    }

    /// The addresses of `target` it may connect to: the public ones, and
    /// the others the allow-list names (by address, or loopback by
    /// `localhost`). None left is a refusal naming the first.
    pub(crate) fn usable(&self, target: &Target, addresses: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        let first = addresses.first().map(SocketAddr::ip);
        let listed = |address: &SocketAddr| {
            self.allow.iter().any(|entry| {
                entry.port == address.port()
                    && (entry.host.parse::<IpAddr>().ok() == Some(address.ip())
                        || (entry.host == "localhost" && address.ip().is_loopback()))
            })
        };
        let usable: Vec<_> = addresses.into_iter().filter(|a| is_public(a.ip()) || listed(a)).collect();
        match (usable.is_empty(), first) {
            (true, Some(address)) => Err(Refusal::NotPublic { target: target.clone(), address }),
            (true, None) => Err(Refusal::Unreachable { target: target.clone(), message: "it has no address".into() }),
            (false, _) => Ok(usable),
        }
    }
}

/// Not loopback, private, link-local, shared (CGNAT), unspecified,
/// multicast or documentation space: an address of the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xFE00) == 0xFC00
                || (first & 0xFFC0) == 0xFE80)
        }
    }
}

/// What a bridge has done, counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tunnels open now.
    pub open: u64,
    /// Tunnels opened in all.
    pub opened: u64,
    /// Tunnels refused (policy, limits, unreachable targets).
    pub refused: u64,
    /// Bytes relayed from clients to targets.
    pub bytes_up: u64,
    /// Bytes relayed from targets to clients.
    pub bytes_down: u64,
}

/// The counters and the open tunnels per client, shared by a bridge's
/// connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    opened: AtomicU64,
    refused: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    open: Mutex<OpenTunnels>,
}

#[derive(Debug, Default)]
struct OpenTunnels {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open tunnel's place in the limits; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    counters: Arc<Counters>,
    client: Option<IpAddr>,
}

impl Counters {
    /// A slot for one more tunnel of `client`, within the limits.
    pub(crate) fn take_slot(self: &Arc<Self>, policy: &Policy, client: Option<IpAddr>) -> Result<Slot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= policy.max_total {
            return Err(Refusal::Limit(format!("{} tunnels are open, the most this bridge holds", open.total)));
        }
        if let Some(ip) = client {
            let count = open.per_client.entry(ip).or_default();
            if *count >= policy.max_per_client {
                return Err(Refusal::Limit(format!("{count} tunnels from {ip} are open, the most one client may have")));
            }
            *count += 1;
        }
        open.total += 1;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Slot { counters: self.clone(), client })
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> Stats {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner()).total as u64;
        Stats {
            open,
            opened: self.opened.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counters.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(ip) = self.client {
            if let Some(count) = open.per_client.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    open.per_client.remove(&ip);
                }
            }
        }
    }
}
