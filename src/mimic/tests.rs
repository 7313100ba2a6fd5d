use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tokio::io::DuplexStream;

use super::*;
use crate::flow::BoxFuture;
use crate::Flow;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// What in-memory protocols were asked to connect to, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// An in-memory protocol with a `u32` endpoint: it logs `name:endpoint`,
/// then connects (a duplex stream) or, if `fails`, answers an error.
fn memory(
    name: &str,
    priority: impl Into<Priority>,
    fails: bool,
    log: &Log,
) -> (Value<u32>, Witness<DuplexStream>) {
    let (log, owned) = (log.clone(), name.to_string());
    let protocol = protocol_fn(move |endpoint: u32| {
        let (log, name) = (log.clone(), owned.clone());
        async move {
            log.push(format!("{name}:{endpoint}"));
            if fails {
                Err(format!("{name} refused {endpoint}").into())
            } else {
                Ok(tokio::io::duplex(16).0)
            }
        }
    });
    register(name.to_string(), priority, protocol)
}

/// A fold function that counts its runs and gives `value`.
fn counted<A: Send + 'static>(
    runs: &Arc<AtomicUsize>,
    value: u32,
) -> impl Fn(A) -> BoxFuture<'static, Result<Option<u32>, BoxError>> + Send + Sync + 'static {
    let runs = runs.clone();
    move |_| {
        runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(Some(value)) })
    }
}

#[test]
fn contexts_and_errors_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ctx>();
    send_sync::<Value<String>>();
    send_sync::<Witness<DuplexStream>>();
    send_sync::<ResolveError>();
    fn send<T: Send>(_: &T) {}
    let ctx = Ctx::new();
    send(&resolve(&ctx));
}

#[test]
fn identity_is_per_creation_and_debug_shows_the_name() {
    let a = Value::<u16>::new("port");
    let b = Value::<u16>::new("port");
    assert_ne!(a, b);
    assert_eq!(a, a.clone());
    assert_eq!(format!("{a:?}"), r#"Value("port")"#);
    assert_eq!(a.name(), "port");

    let ctx = Ctx::new().add(&a, 1);
    assert_eq!(ctx.get(&a), Some(&1));
    assert_eq!(ctx.get(&b), None, "same name, other key");
    assert_eq!(ctx.get(&a.clone()), Some(&1), "a clone is the same key");
}

#[test]
fn contexts_are_persistent() {
    let port = Value::<u16>::new("port");
    let host = Value::<String>::new("host");
    let empty = Ctx::new();
    let one = empty.add(&port, 80);
    let two = one.add(&host, "example.com".into()).add(&port, 8080);
    assert!(empty.is_empty());
    assert_eq!(one.get(&port), Some(&80));
    assert_eq!(one.get(&host), None);
    assert_eq!(two.get(&port), Some(&8080));
    assert_eq!(two.get(&host).map(String::as_str), Some("example.com"));
    assert_eq!(format!("{two:?}"), r#"{"port": value, "host": value}"#);
}

#[test]
fn remove_drops_the_value_and_remove_folds_the_folds() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let runs = Arc::new(AtomicUsize::new(0));
    let ctx = Ctx::new().add(&edn, 1).fold(&edn, (), counted(&runs, 2));

    let without_value = ctx.remove(&edn);
    assert!(!without_value.contains(&edn));
    block_on(resolve(&without_value)).unwrap();
    assert_eq!(log.lines(), ["mem:2"], "the fold still derives it");

    let without_folds = ctx.remove_folds(&edn);
    assert!(without_folds.contains(&edn));
    let nothing = without_folds.remove(&edn);
    assert!(nothing.is_empty());
    assert!(block_on(resolve(&nothing)).unwrap_err().is_no_endpoint());
}

#[test]
fn merge_puts_the_second_context_on_top() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let port = Value::<u16>::new("port");
    let host = Value::<String>::new("host");
    let a = Ctx::new().add(&port, 1).add(&host, "a".into());
    let b = Ctx::new().add(&port, 2);
    let merged = a.merge(&b);
    assert_eq!(merged.get(&port), Some(&2), "b's value wins");
    assert_eq!(
        merged.get(&host).map(String::as_str),
        Some("a"),
        "a's other values stay"
    );

    // b's folds are tried first; a fold both share is kept once.
    let runs = Arc::new(AtomicUsize::new(0));
    let base = Ctx::new().fold(&edn, (), |()| async { Ok(None) });
    let a = base.fold(&edn, (), counted(&runs, 10));
    let b = base.fold(&edn, (), counted(&runs, 20));
    block_on(resolve(&a.merge(&b))).unwrap();
    block_on(resolve(&b.merge(&a))).unwrap();
    assert_eq!(log.lines(), ["mem:20", "mem:10"]);
    assert_eq!(format!("{:?}", a.merge(&b)), r#"{"mem": 3 fold(s)}"#);
}

#[test]
fn a_value_beats_the_folds_and_folds_run_newest_first() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let runs = Arc::new(AtomicUsize::new(0));
    let folded = Ctx::new()
        .fold(&edn, (), counted(&runs, 1))
        .fold(&edn, (), |()| async { Err("the newest fails".into()) })
        .fold(&edn, (), |()| async { Ok(None) });

    block_on(resolve(&folded.add(&edn, 7))).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // The two newest decline or fail, the oldest gives the endpoint.
    block_on(resolve(&folded)).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(log.lines(), ["mem:7", "mem:1"]);
}

#[test]
fn arguments_are_required_optional_or_defaulted() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let a = Value::<u32>::new("a");
    let b = Value::<u32>::new("b");
    let c = Value::<u32>::new("c");
    let ctx = Ctx::new().fold(
        &edn,
        (req(&a), opt(&b), dft(&c, 5)),
        |(a, b, c)| async move { Ok(Some(a * 100 + b.unwrap_or(9) * 10 + c)) },
    );
    block_on(resolve(&ctx.add(&a, 1))).unwrap();
    block_on(resolve(&ctx.add(&a, 1).add(&b, 2).add(&c, 3))).unwrap();
    // A single argument needs no tuple.
    let single = Ctx::new().fold(&edn, opt(&b), |b| async move { Ok(b) });
    block_on(resolve(&single.add(&b, 4))).unwrap();
    assert_eq!(log.lines(), ["mem:195", "mem:123", "mem:4"]);

    let err = block_on(resolve(&ctx)).unwrap_err();
    assert_eq!(err.to_string(), "mem: missing a");
    let err = block_on(resolve(&single)).unwrap_err();
    assert_eq!(err.to_string(), "mem: its fold over (b) declined");
}

#[test]
fn eight_arguments_fit_in_a_fold() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let v: Vec<Value<u32>> = (0..8).map(|i| Value::new(format!("v{i}"))).collect();
    let args = (
        req(&v[0]),
        req(&v[1]),
        req(&v[2]),
        req(&v[3]),
        req(&v[4]),
        req(&v[5]),
        req(&v[6]),
        req(&v[7]),
    );
    let mut ctx = Ctx::new().fold(&edn, args, |(a, b, c, d, e, f, g, h)| async move {
        Ok(Some(a + b + c + d + e + f + g + h))
    });
    for (i, value) in v.iter().enumerate() {
        ctx = ctx.add(value, i as u32);
    }
    block_on(resolve(&ctx)).unwrap();
    assert_eq!(log.lines(), ["mem:28"]);
}

#[test]
fn derivations_chain_and_run_once_per_resolution() {
    let log = Log::default();
    let (first, _) = memory("first", 1, true, &log);
    let (second, _) = memory("second", 2, false, &log);
    let name = Value::<String>::new("name");
    let address = Value::<u32>::new("address");
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let ctx = Ctx::new()
        .fold(&address, req(&name), move |name: String| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Some(name.len() as u32)) }
        })
        .fold(
            &first,
            req(&address),
            |address| async move { Ok(Some(address)) },
        )
        .fold(&second, req(&address), |address| async move {
            Ok(Some(address + 1))
        })
        .add(&name, "four".into());
    block_on(resolve(&ctx)).unwrap();
    assert_eq!(log.lines(), ["first:4", "second:5"]);
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "one lookup for both protocols"
    );
}

#[test]
fn no_endpoint_is_said_plainly() {
    let err = block_on(resolve(&Ctx::new())).unwrap_err();
    assert!(err.is_no_endpoint());
    assert_eq!(
        err.to_string(),
        "no endpoint in the context: it holds no endpoint of a registered protocol, \
         nor a fold deriving one (the context is empty)"
    );
    let host = Value::<String>::new("host");
    let err = block_on(resolve(&Ctx::new().add(&host, "example.com".into()))).unwrap_err();
    assert!(err.to_string().ends_with("(it holds: host)"), "{err}");
}

#[test]
fn the_report_says_what_each_protocol_lacked_or_answered() {
    let log = Log::default();
    let (tls, _) = memory("tls", 10, false, &log);
    let (tcp, _) = memory("tcp", 20, true, &log);
    let (unix, _) = memory("unix", None, false, &log);
    let host = Value::<String>::new("host");
    let config = Value::<u32>::new("tls-config");
    let scheme = Value::<String>::new("scheme");
    let path = Value::<String>::new("path");
    let ctx = Ctx::new()
        .fold(&config, req(&scheme), |_| async { Ok(Some(0)) })
        .fold(&config, (), |()| async { Err("no CA file".into()) })
        .fold(&tls, (req(&host), req(&config)), |_| async { Ok(Some(1)) })
        .fold(&tcp, req(&host), |_| async { Ok(Some(2)) })
        .fold(&unix, req(&path), |_| async { Ok(Some(3)) })
        .fold(&unix, (), |()| async { Err("no socket directory".into()) })
        .add(&host, "example.com".into());
    let err = block_on(resolve(&ctx)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no transport could be built; tried 3 protocols:\n\
         \x20 - tls (priority 10): cannot derive tls-config: none of its 2 folds succeeded:\n\
         \x20   - fold over (): no CA file\n\
         \x20   - fold over (scheme): missing scheme\n\
         \x20 - tcp (priority 20): tcp refused 2\n\
         \x20 - unix (no priority): none of its 2 folds succeeded:\n\
         \x20   - fold over (): no socket directory\n\
         \x20   - fold over (path): missing path"
    );
    let protocols: Vec<_> = err.attempts().iter().map(|a| a.protocol.as_str()).collect();
    assert_eq!(protocols, ["tls", "tcp", "unix"]);
    assert!(matches!(err.attempts()[1].failure, Failure::Connect(_)));
    assert!(!err.has_cycle());
    // Through paf::Error, unchanged.
    assert_eq!(crate::Error::from(err).to_string().lines().count(), 8);

    // A fold's error is said as it is, wherever the fold is.
    let ctx = Ctx::new()
        .fold(&tls, req(&config), |_| async { Ok(Some(1)) })
        .fold(&config, (), |()| async {
            Err("could not read the CA file".into())
        });
    let err = block_on(resolve(&ctx)).unwrap_err();
    assert_eq!(err.to_string(), "tls: could not read the CA file");
}

#[test]
fn cycles_are_reported_not_followed() {
    let log = Log::default();
    let (edn, _) = memory("mem", None, false, &log);
    let a = Value::<u32>::new("a");
    let b = Value::<u32>::new("b");
    let ctx = Ctx::new()
        .fold(&edn, req(&a), |a| async move { Ok(Some(a)) })
        .fold(&a, req(&b), |b| async move { Ok(Some(b)) })
        .fold(&b, req(&a), |a| async move { Ok(Some(a)) });
    let err = block_on(resolve(&ctx)).unwrap_err();
    assert!(err.has_cycle());
    assert_eq!(
        err.to_string(),
        "mem: cannot derive a: cannot derive b: dependency cycle: a -> b -> a"
    );

    // Optional arguments and defaults do not hide a cycle.
    let ctx = Ctx::new().fold(&edn, opt(&edn), |_| async { Ok(Some(1)) });
    let err = block_on(resolve(&ctx)).unwrap_err();
    assert_eq!(err.to_string(), "mem: dependency cycle: mem -> mem");
    let ctx = Ctx::new()
        .fold(&edn, dft(&a, 0), |a| async move { Ok(Some(a)) })
        .fold(&a, req(&edn), |e| async move { Ok(Some(e)) });
    assert!(block_on(resolve(&ctx)).unwrap_err().has_cycle());

    // A value in the context breaks the cycle.
    let ctx = Ctx::new()
        .fold(&edn, req(&a), |a| async move { Ok(Some(a)) })
        .fold(&a, req(&b), |b| async move { Ok(Some(b)) })
        .fold(&b, req(&a), |a| async move { Ok(Some(a)) })
        .add(&b, 42);
    block_on(resolve(&ctx)).unwrap();
    assert_eq!(log.lines(), ["mem:42"]);
}

#[test]
fn deep_chains_resolve_and_too_deep_ones_are_cut() {
    fn chain(length: usize, log: &Log) -> Ctx {
        let (edn, _) = memory("mem", None, false, log);
        let values: Vec<Value<u32>> = (0..length).map(|i| Value::new(format!("v{i}"))).collect();
        let mut ctx = Ctx::new().fold(&edn, req(&values[0]), |v| async move { Ok(Some(v)) });
        for pair in values.windows(2) {
            ctx = ctx.fold(
                &pair[0],
                req(&pair[1]),
                |v: u32| async move { Ok(Some(v + 1)) },
            );
        }
        ctx.add(&values[length - 1], 0)
    }
    let log = Log::default();
    block_on(resolve(&chain(MAX_DEPTH, &log))).unwrap();
    assert_eq!(log.lines(), [format!("mem:{}", MAX_DEPTH - 1)]);

    let err = block_on(resolve(&chain(MAX_DEPTH + 1, &log))).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("derivations nest deeper than 64 folds"),
        "{err}"
    );
    // Even far longer chains end, on a small stack.
    let err = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            block_on(resolve(&chain(1_000, &log)))
                .unwrap_err()
                .to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(err.contains("nest deeper"));
}

#[test]
fn the_witness_recognises_its_transport() {
    let log = Log::default();
    let (edn, witness) = memory("mem", None, false, &log);
    let (_, other) = register(
        "other",
        None,
        protocol_fn(|(): ()| async { Ok(Flow::pipe(1).0) }),
    );
    let flow = block_on(resolve(&Ctx::new().add(&edn, 1))).unwrap();
    // Relies on Flow::is / Flow::downcast_ref looking at the transport
    // inside the flow's box.
    assert!(
        witness.is(&flow),
        "Flow::is did not see the DuplexStream inside the flow"
    );
    assert!(witness.repr(&flow).is_some());
    assert!(!other.is(&flow));
    assert!(other.repr(&flow).is_none());
    assert_eq!(format!("{witness:?}"), r#"Witness("mem")"#);
}

/// The order `resolve` must try protocols registered (in this order) with
/// these priorities: explicit ones by number, ties in registration order,
/// then those without a priority in registration order.
fn expected_order(priorities: &[Option<i32>]) -> Vec<usize> {
    let mut explicit: Vec<(i32, usize)> = priorities
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (p, i)))
        .collect();
    explicit.sort();
    let none = priorities
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| i);
    explicit.into_iter().map(|(_, i)| i).chain(none).collect()
}

proptest! {
    #[test]
    fn protocols_are_tried_by_priority_and_fall_back(
        protocols in prop::collection::vec((prop::option::of(-3i32..3), any::<bool>()), 1..8),
    ) {
        let log = Log::default();
        let mut ctx = Ctx::new();
        for (i, (priority, fails)) in protocols.iter().enumerate() {
            let (edn, _) = memory(&format!("p{i}"), *priority, *fails, &log);
            ctx = ctx.add(&edn, i as u32);
        }
        let priorities: Vec<_> = protocols.iter().map(|(p, _)| *p).collect();
        let order = expected_order(&priorities);
        let winner = order.iter().position(|&i| !protocols[i].1);
        let tried = &order[..winner.map_or(order.len(), |w| w + 1)];
        let result = block_on(resolve(&ctx));

        let expected_log: Vec<String> = tried.iter().map(|i| format!("p{i}:{i}")).collect();
        prop_assert_eq!(log.lines(), expected_log);
        match result {
            Ok(_) => prop_assert!(winner.is_some()),
            Err(err) => {
                prop_assert!(winner.is_none());
                let names: Vec<String> = err.attempts().iter().map(|a| a.protocol.clone()).collect();
                let expected: Vec<String> = order.iter().map(|i| format!("p{i}")).collect();
                prop_assert_eq!(names, expected);
                let text = err.to_string();
                for i in &order {
                    let refused = format!("p{i} refused {i}");
                    prop_assert!(text.contains(&refused), "{}", text);
                }
            }
        }
    }

    #[test]
    fn defaults_apply_only_when_the_value_is_absent(
        present in prop::option::of(any::<u16>()),
        default in any::<u16>(),
    ) {
        let log = Log::default();
        let (edn, _) = memory("mem", None, false, &log);
        let port = Value::<u16>::new("port");
        let extra = Value::<u16>::new("extra");
        let mut ctx = Ctx::new().fold(&edn, (dft(&port, default), opt(&extra)), |(port, extra)| async move {
            Ok(Some(u32::from(port) + u32::from(extra.is_some()) * 100_000))
        });
        if let Some(port_value) = present {
            ctx = ctx.add(&port, port_value);
        }
        block_on(resolve(&ctx)).unwrap();
        block_on(resolve(&ctx.add(&extra, 0))).unwrap();
        let port = u32::from(present.unwrap_or(default));
        prop_assert_eq!(log.lines(), vec![format!("mem:{port}"), format!("mem:{}", port + 100_000)]);
    }

    #[test]
    fn a_value_added_later_replaces_an_earlier_one(
        adds in prop::collection::vec((any::<bool>(), any::<u16>()), 1..12),
        split in any::<prop::sample::Index>(),
    ) {
        let log = Log::default();
        let (edn, _) = memory("mem", None, false, &log);
        let port = Value::<u16>::new("port");
        let other = Value::<u16>::new("other");
        let base = Ctx::new().fold(&edn, req(&port), |port| async move { Ok(Some(u32::from(port))) });
        // Adds to `port` interleaved with adds to another key.
        let mut ctx = base.clone();
        for (to_port, value) in &adds {
            ctx = if *to_port { ctx.add(&port, *value) } else { ctx.add(&other, *value) };
        }
        let last = adds.iter().rev().find(|(to_port, _)| *to_port).map(|(_, value)| *value);
        prop_assert_eq!(ctx.get(&port).copied(), last);
        match last {
            Some(last) => {
                block_on(resolve(&ctx)).unwrap();
                prop_assert_eq!(log.lines(), vec![format!("mem:{last}")]);
            }
            None => prop_assert!(block_on(resolve(&ctx)).is_err()),
        }
        // The same holds across a merge: the second context is the later one.
        let at = split.index(adds.len() + 1);
        let (older, newer) = adds.split_at(at);
        let build = |adds: &[(bool, u16)]| adds.iter().filter(|(p, _)| *p).fold(Ctx::new(), |ctx, (_, v)| ctx.add(&port, *v));
        let merged = build(older).merge(&build(newer));
        prop_assert_eq!(merged.get(&port).copied(), last);
    }

    #[test]
    fn fold_graphs_resolve_like_a_fixed_point_and_cycles_end(
        nodes in prop::collection::vec(
            (prop::option::of(any::<u8>()), any::<bool>(), prop::collection::vec(0usize..8, 0..4)),
            2..8,
        ),
        ring in any::<bool>(),
    ) {
        let n = nodes.len();
        // Node i: maybe a value in the context, maybe a fold requiring the
        // listed nodes (summing them, plus one). With `ring`, nothing is in
        // the context, every node has a fold, and each node's first
        // dependency is the next node around a ring: a cycle is certain.
        let nodes: Vec<(Option<u32>, bool, Vec<usize>)> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, (value, has_fold, deps))| {
                let mut deps: Vec<usize> = deps.into_iter().map(|d| d % n).collect();
                if ring {
                    deps.insert(0, (i + 1) % n);
                    deps.truncate(3);
                    (None, true, deps)
                } else {
                    (value.map(u32::from), has_fold, deps)
                }
            })
            .collect();

        let log = Log::default();
        let (edn, _) = memory("n0", None, false, &log);
        let values: Vec<Value<u32>> =
            std::iter::once(edn).chain((1..n).map(|i| Value::new(format!("n{i}")))).collect();
        let mut ctx = Ctx::new();
        for (i, (value, has_fold, deps)) in nodes.iter().enumerate() {
            if let Some(value) = value {
                ctx = ctx.add(&values[i], *value);
            }
            if *has_fold {
                let key = &values[i];
                let v = |d: usize| &values[deps[d]];
                let sum = |s: u32| async move { Ok(Some(s.wrapping_add(1))) };
                ctx = match deps.len() {
                    0 => ctx.fold(key, (), move |()| sum(0)),
                    1 => ctx.fold(key, req(v(0)), sum),
                    2 => ctx.fold(key, (req(v(0)), req(v(1))), move |(a, b)| sum(a.wrapping_add(b))),
                    _ => ctx.fold(key, (req(v(0)), req(v(1)), req(v(2))), move |(a, b, c)| {
                        sum(a.wrapping_add(b).wrapping_add(c))
                    }),
                };
            }
        }

        // The reference: the least fixed point (a value in a cycle that
        // nothing in the context breaks is not derivable).
        let mut known: Vec<Option<u32>> = nodes.iter().map(|(value, _, _)| *value).collect();
        loop {
            let mut changed = false;
            for (i, (_, has_fold, deps)) in nodes.iter().enumerate() {
                if known[i].is_none() && *has_fold && deps.iter().all(|&d| known[d].is_some()) {
                    let sum = deps.iter().fold(0u32, |s, &d| s.wrapping_add(known[d].unwrap()));
                    known[i] = Some(sum.wrapping_add(1));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }

        let result = block_on(resolve(&ctx));
        match known[0] {
            Some(expected) => {
                prop_assert!(result.is_ok(), "{}", result.unwrap_err());
                prop_assert_eq!(log.lines(), vec![format!("n0:{expected}")]);
            }
            None => {
                let err = result.unwrap_err();
                if ring {
                    prop_assert!(err.has_cycle(), "{}", err);
                    prop_assert!(err.to_string().contains("dependency cycle: "), "{}", err);
                }
            }
        }
    }
}

/// Found by the mimic fuzz target: a failure shared by several paths (a
/// value every fold of the one above needs) was written once per path, so
/// the text of the error doubled with each level. It is listed once now.
#[test]
fn a_shared_failure_is_listed_once() {
    let values: Vec<Value<u32>> = (0..40).map(|i| Value::new(format!("v{i}"))).collect();
    let (endpoint, _) = register("deep", 1, protocol_fn(|_: u32| async { Ok(Flow::pipe(1).0) }));
    let mut ctx = Ctx::new().fold(&endpoint, req(&values[0]), |v| async move { Ok(Some(v)) });
    for pair in values.windows(2) {
        for _ in 0..2 {
            ctx = ctx.fold(&pair[0], req(&pair[1]), |v| async move { Ok(Some(v)) });
        }
    }
    let text = block_on(resolve(&ctx)).unwrap_err().to_string();
    assert!(text.len() < 10_000, "{} bytes", text.len());
    assert!(text.contains("(listed above)"), "{text}");
    assert!(text.contains("missing v39"), "{text}");
}
