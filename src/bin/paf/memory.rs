//! Gives the memory of a load peak back to the system once `paf serve` is
//! idle.
//!
//! glibc's malloc keeps what a burst of connections freed in its arenas,
//! for reuse: after a thousand connections the server's RSS stays several
//! times its idle size although nothing leaked (`scripts/soak`: 46 MiB
//! after the run, 8.5 MiB once trimmed, 5.6 MiB cold). [`trim_when_idle`]
//! calls `malloc_trim(0)`, which hands the free pages of every arena back,
//! once a check finds that no request started since the previous one; a
//! busy server is never trimmed, an idle one once per quiet spell. Other C
//! libraries (musl) and systems give memory back on their own terms: there
//! it does nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the server checks whether it went quiet.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Counts the requests the server started.
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<AtomicU64>);

impl Activity {
    /// One more request.
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn requests(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Trims the allocator whenever a check finds no request since the last
/// one, and requests since the last trim. Runs on the current tokio
/// runtime until the process ends.
pub fn trim_when_idle(activity: Activity) {
    tokio::spawn(async move {
        let mut seen = activity.requests();
        let mut trimmed_at = seen;
        let mut checks = tokio::time::interval(CHECK_EVERY);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            checks.tick().await;
            let now = activity.requests();
            if now == seen && now != trimmed_at {
                trim();
                trimmed_at = now;
            }
            seen = now;
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    unsafe extern "C" {
        /// glibc: releases the free memory of every arena; returns 1 if any was.
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes the arenas' locks itself and only touches
    // memory that is free; any thread may call it at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
