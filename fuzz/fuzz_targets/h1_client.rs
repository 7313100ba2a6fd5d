//! The client machine sending requests (GET, HEAD, POST with a body,
//! CONNECT, an upgrade, `Expect: 100-continue`, ...) and fed arbitrary
//! bytes as the server's, at arbitrary split points: no panic, progress
//! within a bound, the buffered bytes within the configured limits.
//!
//! Input: split seed (2 bytes), limits selector, plan length, plan bytes
//! (one request each), then the bytes from the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paf_fuzz::{limits, run_client, split, Reader};

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let seed = input.u16();
    let limits = limits(input.byte());
    let plan_len = usize::from(input.byte() % 8);
    let plan = input.take(plan_len);
    let wire = input.rest();
    run_client(&split(wire, seed), &limits, plan);
});
