//! The same bytes split differently give the same events (adjacent body
//! chunks merged) and, for the server, the same answer bytes and the same
//! decision to close. Each run is compared with the run that gets all the
//! bytes at once.
//!
//! Input: role and limits selector, split seed (2 bytes), plan length,
//! plan bytes, then the bytes from the peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paf_fuzz::{limits, run_client, run_server, split, Plan, Reader};

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let selector = input.byte();
    let seed = input.u16().max(1);
    let limits = limits(selector >> 1);
    let plan_len = usize::from(input.byte() % 8);
    let plan = input.take(plan_len);
    let wire = input.rest();
    if selector & 1 == 0 {
        let plan = Plan { bytes: plan, early: false };
        let whole = run_server(&split(wire, 0), &limits, plan);
        let pieces = run_server(&split(wire, seed), &limits, plan);
        assert_eq!(whole, pieces, "the server's outcome depends on how its input was split");
    } else {
        let whole = run_client(&split(wire, 0), &limits, plan);
        let pieces = run_client(&split(wire, seed), &limits, plan);
        assert_eq!(whole, pieces, "the client's outcome depends on how its input was split");
    }
});
