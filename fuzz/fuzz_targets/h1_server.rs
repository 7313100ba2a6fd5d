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
use paf_fuzz::{limits, run_server, split, Plan, Reader};

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let seed = input.u16();
    let limits = limits(input.byte());
    let plan_len = usize::from(input.byte() % 8);
    let plan = input.take(plan_len);
    let wire = input.rest();
    run_server(&split(wire, seed), &limits, Plan { bytes: plan, early: true });
});
