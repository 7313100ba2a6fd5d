//! [`Global`]: a static made on first use, which wasm's non-`Sync`
//! values may live in too.

use std::ops::Deref;
use std::sync::LazyLock;

/// A value made on first use and shared by the whole program, for the
/// statics above: a [`LazyLock`].
///
/// On wasm, mimic values are not `Sync` (a protocol there may hold JS or
/// WASI handles), which a static requires; but without the `atomics`
/// target feature a wasm program has a single thread, so nothing is ever
/// shared between threads and `Global` is `Sync` there all the same.
pub struct Global<T> {
    lazy: LazyLock<T>,
}

impl<T> Global<T> {
    /// A value that `make` builds on first use.
    pub const fn new(make: fn() -> T) -> Global<T> {
        Global {
            lazy: LazyLock::new(make),
        }
    }
}

impl<T> Deref for Global<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.lazy
    }
}

// SAFETY: without the atomics feature, a wasm module runs on one thread
// (std cannot spawn another), so no reference ever crosses threads.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<T> Sync for Global<T> {}
