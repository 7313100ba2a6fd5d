//! The client machine sending requests (GET, HEAD, POST with a body,
//! CONNECT, an upgrade, `Expect: 100-continue`, ...) and fed arbitrary
//! bytes as the server's, at arbitrary split points: no panic, progress
//! within a bound, the buffered bytes within the configured limits.
//!
//! Input: split seed (2 bytes), limits selector, plan length, plan bytes
//! (one request each), then the bytes from the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paf_fuzz::{run_client, Reader};

fuzz_target!(|data: &[u8]| {
    let (pieces, limits, plan) = Reader::new(data).h1_run();
    run_client(&pieces, &limits, plan);
});
