//! Why no transport could be built: per protocol, what its endpoint lacked
//! (recursively, through the folds) or what its connection answered.

use std::error::Error;
use std::fmt::{self, Write};
use std::sync::Arc;

use super::Priority;

/// An error kept to be reported (shared: a failed derivation can be the
/// reason several protocols failed).
type SharedError = Arc<dyn Error + Send + Sync>;

/// No transport could be built from a context.
///
/// Its `Display` is meant for people: one line when one protocol was
/// tried (`tcp: connection refused to 127.0.0.1:1`), a headline and one
/// entry per protocol otherwise. [`ResolveError::attempts`] gives the
/// same information to programs.
#[derive(Debug)]
pub struct ResolveError {
    attempts: Vec<Attempt>,
    /// The names of what the context held, when no protocol could even be
    /// tried.
    context: Vec<String>,
}

/// One protocol that was tried, and how it failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The name the protocol was registered with (also its endpoint's).
    pub protocol: String,
    /// Its priority.
    pub priority: Priority,
    /// How it failed.
    pub failure: Failure,
}

/// How one protocol failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// Its endpoint was not in the context and could not be derived.
    Unavailable(Arc<Unavailable>),
    /// Its endpoint was there, but connecting to it failed.
    Connect(SharedError),
}

/// A protocol's connect error that is not the protocol's own: the flow it
/// runs over (the TCP connection under TLS, say) could not be opened.
///
/// A protocol layered over another flow wraps the opening's error in it,
/// so that the failure is said as what it is: a [`ResolveError`] of one
/// attempt shows it without the protocol's name in front ("connection
/// refused to ...", not "tls: connection refused to ..."), and
/// [`source`](Error::source) gives the error inside, for a program to
/// classify (a refusal, a name not found, ...).
#[derive(Debug)]
pub struct Underlying(pub crate::BoxError);

impl fmt::Display for Underlying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for Underlying {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

/// Why a value could not be obtained.
#[derive(Debug)]
#[non_exhaustive]
pub enum Unavailable {
    /// Neither in the context nor with a fold to derive it.
    Absent {
        /// The value's name.
        value: String,
    },
    /// Deriving it needs itself: `path` goes from the value that was being
    /// derived, through what it needed, back to it.
    Cycle {
        /// The names along the cycle; the first and last are the same.
        path: Vec<String>,
    },
    /// Deriving it nests more than [`MAX_DEPTH`](super::MAX_DEPTH) folds.
    TooDeep {
        /// The value's name.
        value: String,
        /// The limit.
        limit: usize,
    },
    /// Every fold that derives it declined or failed (newest fold first).
    Folds {
        /// The value's name.
        value: String,
        /// What each fold answered.
        failures: Vec<FoldFailure>,
    },
}

/// What a fold answered instead of a value.
#[derive(Debug)]
#[non_exhaustive]
pub enum FoldFailure {
    /// It ran and answered `Ok(None)`.
    Declined {
        /// The names of its arguments.
        args: Vec<String>,
    },
    /// A required argument (or one in a cycle) could not be obtained.
    Lacked {
        /// The names of its arguments.
        args: Vec<String>,
        /// The argument that could not be obtained.
        arg: String,
        /// Why.
        why: Arc<Unavailable>,
    },
    /// It ran and answered an error.
    Failed {
        /// The names of its arguments.
        args: Vec<String>,
        /// Its error.
        error: SharedError,
    },
}

impl ResolveError {
    pub(super) fn no_endpoint(context: Vec<String>) -> ResolveError {
        ResolveError {
            attempts: Vec::new(),
            context,
        }
    }

    pub(super) fn from_attempts(attempts: Vec<Attempt>) -> ResolveError {
        ResolveError {
            attempts,
            context: Vec::new(),
        }
    }

    /// The protocols tried, in the order they were tried; empty when the
    /// context held no endpoint at all.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Whether no protocol could even be tried: the context held no
    /// endpoint value of a registered protocol, nor a fold deriving one.
    pub fn is_no_endpoint(&self) -> bool {
        self.attempts.is_empty()
    }

    /// Whether some derivation ran into a dependency cycle (a bug in the
    /// context's folds).
    pub fn has_cycle(&self) -> bool {
        self.attempts.iter().any(|attempt| match &attempt.failure {
            Failure::Unavailable(why) => why.has_cycle(),
            Failure::Connect(_) => false,
        })
    }
}

impl Unavailable {
    /// Whether a cycle is behind this, somewhere down the derivations.
    pub fn has_cycle(&self) -> bool {
        match self {
            Unavailable::Cycle { .. } => true,
            Unavailable::Absent { .. } | Unavailable::TooDeep { .. } => false,
            Unavailable::Folds { failures, .. } => failures.iter().any(|failure| match failure {
                FoldFailure::Lacked { why, .. } => why.has_cycle(),
                FoldFailure::Declined { .. } | FoldFailure::Failed { .. } => false,
            }),
        }
    }

    /// Whether this comes from how the folds are wired (a cycle, too deep a
    /// nesting) rather than from what the context holds: such a reason is
    /// reported even through optional arguments and defaults.
    pub(super) fn is_structural(&self) -> bool {
        match self {
            Unavailable::Cycle { .. } | Unavailable::TooDeep { .. } => true,
            Unavailable::Absent { .. } => false,
            Unavailable::Folds { failures, .. } => failures.iter().any(|failure| match failure {
                FoldFailure::Lacked { why, .. } => why.is_structural(),
                FoldFailure::Declined { .. } | FoldFailure::Failed { .. } => false,
            }),
        }
    }
}

impl Error for ResolveError {}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.attempts.as_slice() {
            [] => {
                f.write_str(
                    "no endpoint in the context: it holds no endpoint of a registered protocol, \
                     nor a fold deriving one",
                )?;
                if self.context.is_empty() {
                    f.write_str(" (the context is empty)")
                } else {
                    write!(f, " (it holds: {})", self.context.join(", "))
                }
            }
            [attempt] => match &attempt.failure {
                // The flow under the protocol failed: not the protocol's doing.
                Failure::Connect(error) if error.is::<Underlying>() => write!(f, "{error}"),
                failure => {
                    write!(f, "{}: ", attempt.protocol)?;
                    write_failure(f, failure, 0, &mut Vec::new())
                }
            },
            attempts => {
                write!(
                    f,
                    "no transport could be built; tried {} protocols:",
                    attempts.len()
                )?;
                let mut listed = Vec::new();
                for attempt in attempts {
                    write!(f, "\n  - {} ({}): ", attempt.protocol, attempt.priority)?;
                    write_failure(f, &attempt.failure, 1, &mut listed)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_failure(f, self, 0, &mut Vec::new())
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_unavailable(f, self, 0, false, &mut Vec::new())
    }
}

// The renderers below write chains on one line ("cannot derive a: missing
// b") and only open an indented list where a value had several folds.
// `indent` is the indentation of the line being written, in list levels.
// `listed` holds the values whose folds were already listed: derived values
// are shared (one failure reached through several paths), and writing each
// path in full would make the text grow exponentially with the depth of a
// context whose folds need each other in several ways (found by the mimic
// fuzz target); a list is written once, later paths refer to it.
type Listed = Vec<*const Unavailable>;

fn write_failure(f: &mut dyn Write, failure: &Failure, indent: usize, listed: &mut Listed) -> fmt::Result {
    match failure {
        // The attempt names the protocol, which is also its endpoint's name:
        // no "cannot derive tcp:" in front.
        Failure::Unavailable(why) => write_unavailable(f, why, indent, true, listed),
        Failure::Connect(error) => write!(f, "{error}"),
    }
}

fn write_unavailable(
    f: &mut dyn Write,
    why: &Unavailable,
    indent: usize,
    named: bool,
    listed: &mut Listed,
) -> fmt::Result {
    match why {
        Unavailable::Absent { value } => write!(f, "missing {value}"),
        Unavailable::Cycle { path } => write!(f, "dependency cycle: {}", path.join(" -> ")),
        Unavailable::TooDeep { value, limit } => {
            write!(
                f,
                "gave up deriving {value}: derivations nest deeper than {limit} folds"
            )
        }
        Unavailable::Folds { value, failures } => match failures.as_slice() {
            // A fold's own error speaks for itself ("could not resolve host
            // x"), without "cannot derive addresses:" in front.
            [only @ FoldFailure::Failed { .. }] => write_fold_failure(f, only, indent, false, listed),
            [only] => {
                if !named {
                    write!(f, "cannot derive {value}: ")?;
                }
                write_fold_failure(f, only, indent, false, listed)
            }
            all => {
                if !named {
                    write!(f, "cannot derive {value}: ")?;
                }
                write!(f, "none of its {} folds succeeded", all.len())?;
                let this: *const Unavailable = why;
                if listed.contains(&this) {
                    return f.write_str(" (listed above)");
                }
                listed.push(this);
                f.write_str(":")?;
                for failure in all {
                    write!(f, "\n{:width$}- ", "", width = 2 * (indent + 1))?;
                    write_fold_failure(f, failure, indent + 1, true, listed)?;
                }
                Ok(())
            }
        },
    }
}

fn write_fold_failure(
    f: &mut dyn Write,
    failure: &FoldFailure,
    indent: usize,
    in_list: bool,
    listed: &mut Listed,
) -> fmt::Result {
    let args = match failure {
        FoldFailure::Declined { args }
        | FoldFailure::Lacked { args, .. }
        | FoldFailure::Failed { args, .. } => args.join(", "),
    };
    if in_list {
        // In a list, say which fold each line is about.
        write!(f, "fold over ({args}): ")?;
    }
    match failure {
        FoldFailure::Declined { .. } if in_list => f.write_str("declined"),
        FoldFailure::Declined { .. } => write!(f, "its fold over ({args}) declined"),
        FoldFailure::Lacked { why, .. } => write_unavailable(f, why, indent, false, listed),
        FoldFailure::Failed { error, .. } => write!(f, "{error}"),
    }
}
