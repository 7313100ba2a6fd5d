//! Resolution: derive endpoints through folds, then connect by priority.

use std::collections::HashMap;
use std::sync::Arc;

use super::args::FoldRun;
use super::error::{Attempt, Failure, ResolveError, Unavailable};
use super::{AnyValue, Ctx, ValueInfo};
use crate::flow::BoxFuture;
use crate::Flow;

/// How deep derivations may nest (a fold needing a value derived by a fold
/// needing ...) before resolution gives up on that path. Real contexts
/// nest a few levels; the limit keeps a pathological context from
/// exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// Builds a flow from `ctx` (mimic's `resolve`).
///
/// Every protocol whose endpoint value is in `ctx`, or has a fold there, is
/// a candidate. Candidates are tried by [`Priority`](super::Priority), the
/// lower number first, then in the order their endpoint values entered the
/// context. For each, the endpoint is taken from the context or derived
/// (see [`Ctx::fold`]), then the protocol connects; the first flow wins. A
/// candidate whose endpoint cannot be derived, or whose connection fails,
/// gives way to the next.
///
/// Derived values are shared between candidates of one call, never stored
/// in `ctx`. No timeout is applied here: wrap the call in one.
///
/// The error lists, per candidate, what was missing (recursively) or what
/// the connection answered; with no candidate at all it says that no
/// endpoint is in the context.
pub async fn resolve(ctx: &Ctx) -> Result<Flow, ResolveError> {
    let mut candidates: Vec<_> = ctx
        .entries
        .iter()
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| entry.key.protocol.as_ref().map(|reg| (reg, &entry.key)))
        .collect();
    // Stable: equal priorities keep the order of the context.
    candidates.sort_by_key(|(registration, _)| registration.priority);
    if candidates.is_empty() {
        return Err(ResolveError::no_endpoint(ctx.names()));
    }

    let mut resolver = Resolver::new(ctx.clone());
    let mut attempts = Vec::with_capacity(candidates.len());
    for (registration, key) in candidates {
        tracing::debug!(protocol = %key.name, priority = %registration.priority, "mimic: trying");
        let failure = match resolver.obtain(key).await {
            Err(why) => Failure::Unavailable(why),
            Ok(endpoint) => match registration.protocol.connect_erased(&*endpoint).await {
                Ok(flow) => {
                    tracing::debug!(protocol = %key.name, "mimic: connected");
                    return Ok(flow);
                }
                Err(error) => Failure::Connect(Arc::from(error)),
            },
        };
        tracing::debug!(protocol = %key.name, %failure, "mimic: failed");
        attempts.push(Attempt {
            protocol: key.name.to_string(),
            priority: registration.priority,
            failure,
        });
    }
    Err(ResolveError::from_attempts(attempts))
}

type Obtained = Result<Arc<dyn AnyValue>, Arc<Unavailable>>;

/// The state of one resolution: what was derived, and what is being
/// derived (to detect cycles).
#[doc(hidden)]
pub struct Resolver {
    ctx: Ctx,
    /// Results that do not depend on where they were asked from (see
    /// `lowest_cycle_hit`).
    derived: HashMap<u64, Obtained>,
    /// The values being derived, outermost first.
    stack: Vec<Arc<ValueInfo>>,
    /// The lowest stack depth a cycle ran into since the derivation at the
    /// top of the stack began (`usize::MAX`: none). A result that ran into
    /// a value below it on the stack depends on that outer derivation being
    /// in progress (asked from elsewhere, the cycle might not be there), so
    /// it is not remembered.
    lowest_cycle_hit: usize,
}

impl Resolver {
    fn new(ctx: Ctx) -> Resolver {
        Resolver {
            ctx,
            derived: HashMap::new(),
            stack: Vec::new(),
            lowest_cycle_hit: usize::MAX,
        }
    }

    /// The value of `key`: from the context, else derived by its folds.
    pub(super) fn obtain<'a>(&'a mut self, key: &'a Arc<ValueInfo>) -> BoxFuture<'a, Obtained> {
        // Boxed: derivations recurse through the folds' arguments.
        Box::pin(async move {
            let Some(entry) = self.ctx.entry(key.id).cloned() else {
                return Err(Arc::new(Unavailable::Absent {
                    value: key.name.to_string(),
                }));
            };
            if let Some(value) = &entry.value {
                return Ok(value.clone());
            }
            if entry.folds.is_empty() {
                return Err(Arc::new(Unavailable::Absent {
                    value: key.name.to_string(),
                }));
            }
            if let Some(known) = self.derived.get(&key.id) {
                return known.clone();
            }
            if let Some(depth) = self.stack.iter().position(|k| k.id == key.id) {
                self.lowest_cycle_hit = self.lowest_cycle_hit.min(depth);
                let path = self.stack[depth..]
                    .iter()
                    .chain([key])
                    .map(|k| k.name.to_string());
                return Err(Arc::new(Unavailable::Cycle {
                    path: path.collect(),
                }));
            }
            if self.stack.len() >= MAX_DEPTH {
                return Err(Arc::new(Unavailable::TooDeep {
                    value: key.name.to_string(),
                    limit: MAX_DEPTH,
                }));
            }

            let depth = self.stack.len();
            let outer_cycle_hit = std::mem::replace(&mut self.lowest_cycle_hit, usize::MAX);
            self.stack.push(key.clone());
            let mut failures = Vec::new();
            let mut produced = None;
            for fold in entry.folds.iter().rev() {
                match fold.run(self).await {
                    FoldRun::Produced(value) => {
                        produced = Some(value);
                        break;
                    }
                    FoldRun::Failed(failure) => failures.push(failure),
                }
            }
            self.stack.pop();

            let result = match produced {
                Some(value) => Ok(value),
                None => Err(Arc::new(Unavailable::Folds {
                    value: key.name.to_string(),
                    failures,
                })),
            };
            let cycle_hit = std::mem::replace(&mut self.lowest_cycle_hit, outer_cycle_hit);
            if cycle_hit >= depth {
                // Only ran into itself (or nothing): the answer is final.
                self.derived.insert(key.id, result.clone());
            } else {
                self.lowest_cycle_hit = outer_cycle_hit.min(cycle_hit);
            }
            result
        })
    }
}
