//! The resolver context (stub being replaced; see the mimic work).

/// Why no transport could be built.
#[derive(Debug, thiserror::Error)]
#[error("no transport could be built")]
pub struct ResolveError {}
