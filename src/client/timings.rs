//! How long each step of an exchange took, and what the connection was:
//! the [`Timings`] and [`ConnectionInfo`] extensions of a response, and
//! the [`Probe`] a platform's folds mark their steps with.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::rt::AnyRuntime;
use crate::engine::alpn::Protocol;
use crate::mimic::Value;
use crate::rt::Global;
use crate::rt::Runtime;
use crate::tls::Session;

/// When each step of the exchange that gave a response ended, counted from
/// the start of that exchange (as curl's `time_namelookup`,
/// `time_connect`, `time_appconnect`, `time_starttransfer`). In the
/// response's extensions.
///
/// Times come from the runtime's clock ([`Runtime::now`]); on a runtime
/// without one they are all zero. A step that did not happen (no lookup
/// for a Unix socket, no TLS on clear text, nothing at all on a reused
/// connection) is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// The host name was resolved to addresses.
    pub dns: Option<Duration>,
    /// The transport (TCP, a Unix socket, ...) was connected.
    pub connect: Option<Duration>,
    /// The TLS handshake was complete.
    pub tls: Option<Duration>,
    /// The response head had arrived.
    pub first_byte: Duration,
    /// How long the redirects before this exchange took (zero without).
    pub redirects: Duration,
}

/// What carried a response. In the response's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// HTTP/1.1 or HTTP/2.
    pub protocol: Protocol,
    /// What TLS negotiated, on a TLS connection.
    pub tls: Option<Session>,
    /// Whether the connection had served earlier requests (from the pool).
    pub reused: bool,
    /// How many redirects were followed to get this response.
    pub redirects: usize,
    /// Where the last redirect led: the URL this response is for (`None`
    /// when no redirect was followed: the request's own URL).
    pub redirected_to: Option<http::Uri>,
}

/// Marks the steps of one connection attempt with the runtime's clock.
///
/// The client puts one in the context under [`PROBE`] each time it
/// connects; a platform's folds mark the steps only they see (the end of
/// the DNS lookup, the transport connected under TLS) with
/// [`Probe::resolved`] and [`Probe::connected`]. A fold of the user's may
/// do the same; a step nobody marks is reported as not having happened,
/// or at the end of the resolution.
#[derive(Clone)]
pub struct Probe {
    rt: AnyRuntime,
    start: Duration,
    marks: Arc<Mutex<Marks>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    dns: Option<Duration>,
    connect: Option<Duration>,
}

/// The probe of the connection being opened (see [`Probe`]).
pub static PROBE: Global<Value<Probe>> = Global::new(|| Value::new("probe"));

impl Probe {
    /// The probe of a connection being opened for an exchange that
    /// started at `start` (on `rt`'s clock).
    pub(super) fn started_at(rt: &AnyRuntime, start: Duration) -> Probe {
        Probe {
            rt: rt.clone(),
            start,
            marks: Arc::default(),
        }
    }

    /// The time since the exchange started.
    pub fn elapsed(&self) -> Duration {
        self.rt.now().saturating_sub(self.start)
    }

    /// The host name has been resolved, now.
    pub fn resolved(&self) {
        let now = self.elapsed();
        self.marks.lock().expect("probe lock").dns = Some(now);
    }

    /// The transport has been connected, now.
    pub fn connected(&self) {
        let now = self.elapsed();
        self.marks.lock().expect("probe lock").connect = Some(now);
    }

    /// The timings of a connection that has just been opened, with `tls`
    /// whether a handshake ran in it: the transport is connected by now at
    /// the latest.
    pub(super) fn opened(&self, tls: bool) -> Timings {
        let now = self.elapsed();
        let marks = *self.marks.lock().expect("probe lock");
        Timings {
            dns: marks.dns,
            // On clear text the resolution ends with the transport; under
            // TLS only a mark from the platform tells.
            connect: if tls { marks.connect } else { Some(marks.connect.unwrap_or(now)) },
            tls: tls.then_some(now),
            ..Timings::default()
        }
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("marks", &*self.marks.lock().expect("probe lock"))
            .finish_non_exhaustive()
    }
}
