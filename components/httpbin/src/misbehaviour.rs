//! Two misbehaviours a host must survive, for the handler components'
//! tests: `/trap` traps (a panic aborts a wasm instance) and `/spin`
//! computes forever. Shared by the `paf:http/handler` and the
//! `wasi:http/proxy` builds of httpbin.

/// Traps or spins when `path` asks for it; returns otherwise.
pub fn on(path: Option<&str>) {
    match path {
        Some("/trap") => panic!("/trap: this handler traps on purpose"),
        Some("/spin") => loop {
            std::hint::spin_loop();
        },
        _ => {}
    }
}
