//! mimic resolution with random contexts: values added and removed, folds
//! with required, optional and defaulted arguments that derive, decline or
//! fail (cycles included), contexts merged, over four protocols of mixed
//! priorities that connect or fail. `resolve` never panics and never hangs
//! (every future here is ready at once, so resolution must finish in one
//! poll), and gives the same outcome twice.
//!
//! Input: a program, two bytes per operation.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use paf::mimic::{self, dft, opt, protocol_fn, req, Ctx, Value};
use paf::Flow;
use paf_fuzz::Reader;

struct Keys {
    /// Plain values, then the four protocols' endpoint values.
    values: Vec<Value<u32>>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut values: Vec<Value<u32>> = (0..4).map(|i| Value::new(format!("v{i}"))).collect();
        for (i, priority) in [Some(1), Some(1), None, Some(-5)].into_iter().enumerate() {
            let (endpoint, _) = mimic::register(
                format!("p{i}"),
                priority,
                protocol_fn(|endpoint: u32| async move {
                    if endpoint.is_multiple_of(3) {
                        Err(format!("refused {endpoint}").into())
                    } else {
                        Ok(Flow::pipe(16).0)
                    }
                }),
            );
            values.push(endpoint);
        }
        Keys { values }
    })
}

/// Polls `future` once: everything here is ready at once.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("resolution did not finish with every future ready"),
    }
}

/// What a fold does with its arguments, chosen by a byte.
fn outcome(behaviour: u8, sum: u32) -> Result<Option<u32>, paf::BoxError> {
    match behaviour % 4 {
        0 => Ok(None),
        1 => Err("fold failed".into()),
        _ => Ok(Some(sum.wrapping_add(u32::from(behaviour)))),
    }
}

fn build(input: &mut Reader<'_>) -> Ctx {
    let keys = &keys().values;
    let mut stack: Vec<Ctx> = vec![Ctx::new()];
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let (op, arg) = (input.byte(), input.byte());
        let key = &keys[usize::from(op >> 3) % keys.len()];
        let other = &keys[usize::from(arg) % keys.len()];
        let third = &keys[usize::from(arg >> 3) % keys.len()];
        let top = stack.last().expect("never empty").clone();
        let next = match op & 7 {
            0 => top.add(key, u32::from(arg)),
            1 => top.remove(key),
            2 => top.remove_folds(key),
            3 => top.fold(key, req(other), move |a| async move { outcome(arg, a) }),
            4 => top.fold(key, (req(other), opt(third)), move |(a, b)| async move {
                outcome(arg, a.wrapping_add(b.unwrap_or(7)))
            }),
            5 => top.fold(key, (dft(other, 3), opt(third), req(key)), move |(a, b, c)| async move {
                outcome(arg, a ^ b.unwrap_or(1) ^ c)
            }),
            6 => {
                // A new context on the stack, or the top two merged.
                if arg & 1 == 0 || stack.len() < 2 {
                    stack.push(Ctx::new());
                    continue;
                }
                let top = stack.pop().expect("two");
                let below = stack.pop().expect("two");
                stack.push(if arg & 2 == 0 { below.merge(&top) } else { top.merge(&below) });
                continue;
            }
            _ => {
                let _ = top.get(key);
                let _ = top.contains(key);
                let _ = format!("{top:?}");
                continue;
            }
        };
        *stack.last_mut().expect("never empty") = next;
    }
    stack.into_iter().reduce(|a, b| a.merge(&b)).expect("never empty")
}

fuzz_target!(|data: &[u8]| {
    let ctx = build(&mut Reader::new(data));
    let first = now(mimic::resolve(&ctx)).map(|_| ()).map_err(|e| e.to_string());
    let second = now(mimic::resolve(&ctx)).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(first, second, "the same context resolved twice");
});
