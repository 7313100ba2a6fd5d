//! The server machine fed arbitrary bytes at arbitrary split points, driven
//! as the engine drives it (reading only while it wants to, answering each
//! request in one of several ways, sometimes before its body ended): no
//! panic, every step makes progress within a bound, and the buffered bytes
//! stay within the configured limits.
//!
//! Input: split seed (2 bytes), limits selector, plan length, plan bytes,
//! then the bytes from the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paf_fuzz::{run_server, Plan, Reader};

fuzz_target!(|data: &[u8]| {
    let (pieces, limits, plan) = Reader::new(data).h1_run();
    run_server(&pieces, &limits, Plan { bytes: plan, early: true });
});
