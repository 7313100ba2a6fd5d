//! `paf-host`: a wasmtime host for paf's library component.
//!
//! `paf-host serve` listens natively (TCP, and TLS terminated here with
//! paf's rustls when given a certificate) and hands each accepted
//! connection to a fresh instance of the library component as a
//! `paf:http` flow: two `wasi:io` streams, the ALPN result and the peer's
//! name. The engine inside speaks HTTP/1.1 or HTTP/2 and calls the
//! imported `paf:http/handler` for each request; this host answers that
//! import with a fresh instance of the user's handler component
//! (`--handler`). A library component already composed with its handler
//! (`wac plug`) needs no `--handler`.
//!
//! Every instance has its memory capped; a handler has an epoch deadline
//! too, so one bad request cannot take the host down: a handler that traps
//! or runs past its deadline costs its request a 500, and the host stays
//! up. A connection instance that traps loses its connection only.
//!
//! `paf-host serve --proxy` serves a standard `wasi:http/proxy` component
//! instead, over paf's engine running natively here (see [`proxy`]).
//!
//! `paf-host get URL` calls the component's client, whose flows come from
//! this host's resolver (native TCP) before its own `wasi:sockets`.
//!
//! Compiled components are cached on disk (`--cache`), keyed by their
//! bytes: wasmtime compiles a component once.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use connection::{BusyWatch, Progress};

use clap::{Parser, Subcommand};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{
    format_err, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod connection;
mod exchange;
mod proxy;

mod library {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "paf:http/library",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "paf:http/handler.exchange": crate::exchange::HandlerExchange,
        },
    });
}

mod service {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "paf:http/service",
        exports: { default: async },
        with: { "wasi:io": wasmtime_wasi::p2::bindings::io },
    });
}

use library::paf::http::{handler, resolver, types};

/// How often the epoch ticks: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How long a client may take over its TLS handshake (as the engine's
/// header timeout: a peer that sends nothing is dropped).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(name = "paf-host", version, about = "A wasmtime host for paf's library component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Listen and hand each connection to the library component.
    Serve(ServeArgs),
    /// Fetch a URL with the library component's client.
    Get(GetArgs),
}

#[derive(Debug, clap::Args)]
struct Common {
    /// The library component (paf_library.wasm), alone or composed with
    /// a handler.
    #[arg(long, value_name = "WASM")]
    component: PathBuf,
    /// Where compiled components are kept (default: $XDG_CACHE_HOME/paf-host
    /// or ~/.cache/paf-host).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// The most linear memory one instance may have, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_memory: usize,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// The handler component (the paf:http `service` world), instantiated
    /// afresh for every request.
    #[arg(long, value_name = "WASM", conflicts_with = "proxy")]
    handler: Option<PathBuf>,
    /// --component is a wasi:http/proxy component (it exports
    /// wasi:http/incoming-handler, as for `wasmtime serve`), not paf's
    /// library: paf-host speaks HTTP itself and hands each request to a
    /// fresh instance of it, within --max-memory and --handler-timeout.
    #[arg(long)]
    proxy: bool,
    /// The TCP port to listen on (0: any free port, printed at start).
    #[arg(long)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    host: String,
    /// Terminate TLS here with this certificate chain (PEM); ALPN offers
    /// h2 and http/1.1 and the component is told which won.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long one request may take in its handler instance, its bodies
    /// streamed both ways included, in milliseconds, before the instance
    /// is interrupted (a 500 before the response head; after it, the
    /// response ends with an error).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    handler_timeout: u64,
    /// How many handler instances may live at once (the size of their
    /// pool); a request beyond them waits for one to end.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    handler_instances: u32,
    /// How long a connection's instance may compute without moving a byte
    /// to or from its peer or its handler, in milliseconds, before it is
    /// killed (and its connection closed).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    busy_timeout: u64,
    /// How many connections may be open at once; more wait in the
    /// listen backlog until one ends.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    #[command(flatten)]
    common: Common,
    /// The URL to fetch (http:// or https://).
    url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("paf-host: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Get(args) => get(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("paf-host: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What every connection's instance shares.
struct Shared {
    engine: Engine,
    library: library::LibraryPre<Instance>,
    handler: Option<Handlers>,
    max_memory: usize,
    handler_deadline: u64,
    busy_limit: Duration,
}

/// The handler component, instantiated per request from a pool of its own.
struct Handlers {
    engine: Engine,
    pre: service::ServicePre<Instance>,
    /// One permit per slot of the pool: a request beyond them waits.
    slots: Arc<tokio::sync::Semaphore>,
}

/// The pool of handler instances: `instances` at once, each with at most
/// `max_memory` bytes of linear memory.
fn handler_pool(instances: u32, max_memory: usize) -> PoolingAllocationConfig {
    // What a component built by wit-bindgen holds (its module and the
    // shims of the canonical ABI), with room to spare.
    const CORE_INSTANCES: u32 = 16;
    const MEMORIES: u32 = 2;
    const TABLES: u32 = 4;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES)
        .max_core_instances_per_component(CORE_INSTANCES)
        .total_memories(instances * MEMORIES)
        .max_memories_per_component(MEMORIES)
        .total_tables(instances * TABLES)
        .max_tables_per_component(TABLES)
        .total_stacks(instances)
        .max_memory_size(max_memory);
    pool
}

/// The data of one store: one instance of the library, or of a handler.
struct Instance {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    shared: Option<Arc<Shared>>,
    /// What moved on the connection this instance serves.
    progress: Progress,
}

impl WasiView for Instance {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// An engine whose epoch ticks every [`EPOCH_TICK`]; its instances come
/// from `pool` when given (reused slots: no memory mapped and unmapped per
/// instance), else are allocated on demand.
fn new_engine(pool: Option<PoolingAllocationConfig>) -> wasmtime::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)?;
    let ticker = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = ticker.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
    Ok(engine)
}

fn store(engine: &Engine, wasi: WasiCtx, max_memory: usize, shared: Option<Arc<Shared>>) -> Store<Instance> {
    let limits = StoreLimitsBuilder::new().memory_size(max_memory).build();
    let instance = Instance { wasi, table: ResourceTable::new(), limits, shared, progress: Progress::default() };
    let mut store = Store::new(engine, instance);
    store.limiter(|instance| &mut instance.limits);
    store
}

fn linker(engine: &Engine) -> wasmtime::Result<Linker<Instance>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // The paf:http interfaces only: wasi:io is wasmtime-wasi's, above.
    types::add_to_linker::<_, HasSelf<Instance>>(&mut linker, |instance| instance)?;
    resolver::add_to_linker::<_, HasSelf<Instance>>(&mut linker, |instance| instance)?;
    handler::add_to_linker::<_, HasSelf<Instance>>(&mut linker, |instance| instance)?;
    Ok(linker)
}

/// `path` compiled, from the cache when it holds it.
fn load(engine: &Engine, path: &Path, cache: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    let cached = cache.join(format!("{:016x}.cwasm", hasher.finish()));
    // SAFETY: only this program writes the cache, with Component::serialize;
    // a file from another wasmtime or configuration is refused (and
    // replaced below).
    if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
        return Ok(component);
    }
    let component = Component::new(engine, &bytes).with_context(|| format!("cannot compile {}", path.display()))?;
    if std::fs::create_dir_all(cache).is_ok() {
        let partial = cached.with_extension(format!("{}.partial", std::process::id()));
        if std::fs::write(&partial, component.serialize()?).is_ok() {
            let _ = std::fs::rename(&partial, &cached);
        }
    }
    Ok(component)
}

fn cache_dir(common: &Common) -> PathBuf {
    if let Some(dir) = &common.cache {
        return dir.clone();
    }
    match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
        (Some(cache), _) => PathBuf::from(cache).join("paf-host"),
        (None, Some(home)) => PathBuf::from(home).join(".cache/paf-host"),
        (None, None) => std::env::temp_dir().join("paf-host"),
    }
}

async fn serve(args: ServeArgs) -> wasmtime::Result<()> {
    if args.proxy {
        return serve_proxy(args).await;
    }
    let engine = new_engine(None)?;
    let cache = cache_dir(&args.common);
    let linker = linker(&engine)?;
    let component = load(&engine, &args.common.component, &cache)?;
    let library = library::LibraryPre::new(linker.instantiate_pre(&component)?).with_context(|| {
        format!("{} is not paf's library component (a wasi:http/proxy component needs --proxy)", args.common.component.display())
    })?;
    let max_memory = args.common.max_memory << 20;
    let handler = match &args.handler {
        Some(path) => {
            let handler_engine = new_engine(Some(handler_pool(args.handler_instances, max_memory)))?;
            let mut handler_linker = Linker::new(&handler_engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut handler_linker)?;
            let component = load(&handler_engine, path, &cache)?;
            let pre = service::ServicePre::new(handler_linker.instantiate_pre(&component)?)?;
            Some(Handlers { engine: handler_engine, pre, slots: Arc::new(tokio::sync::Semaphore::new(args.handler_instances as usize)) })
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        engine: engine.clone(),
        library,
        handler,
        max_memory,
        handler_deadline: deadline_ticks(args.handler_timeout),
        busy_limit: Duration::from_millis(args.busy_timeout),
    });
    let tls = server_tls(&args)?;
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("paf-host: listening on {scheme}://{}", listener.local_addr()?);
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_connections as usize));
    loop {
        let slot = slots.clone().acquire_owned().await?;
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("paf-host: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(&shared, tcp, None, peer).await,
                Some(config) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, paf::tls::accept(config, paf::Flow::new(tcp))).await {
                    Ok(Ok(stream)) => {
                        let alpn = stream.session().alpn_str().map(str::to_string);
                        serve_connection(&shared, stream, alpn, peer).await
                    }
                    Ok(Err(err)) => Err(format_err!("TLS handshake: {err}")),
                    Err(_) => Err(format_err!("TLS handshake: not done within {HANDSHAKE_TIMEOUT:?}")),
                },
            };
            if let Err(err) = served {
                eprintln!("paf-host: connection from {peer}: {err:#}");
            }
            drop(slot);
        });
    }
}

/// The TLS configuration --tls-cert and --tls-key give, if they do.
fn server_tls(args: &ServeArgs) -> wasmtime::Result<Option<Arc<paf::tls::ServerConfig>>> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
            Ok(Some(paf::tls::ServerTls::from_pem(&read(cert)?, &read(key)?)?.config()))
        }
        _ => Ok(None),
    }
}

/// `serve --proxy`: a wasi:http/proxy component behind paf's own engine.
async fn serve_proxy(args: ServeArgs) -> wasmtime::Result<()> {
    let max_memory = args.common.max_memory << 20;
    let engine = new_engine(Some(handler_pool(args.handler_instances, max_memory)))?;
    let component = load(&engine, &args.common.component, &cache_dir(&args.common))?;
    let pre = proxy::linker(&engine)?.instantiate_pre(&component)?;
    let pre = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre).with_context(|| {
        format!("{} is not a wasi:http/proxy component (it must export wasi:http/incoming-handler@0.2)", args.common.component.display())
    })?;
    let proxy = proxy::Proxy {
        pre,
        slots: Arc::new(tokio::sync::Semaphore::new(args.handler_instances as usize)),
        max_memory,
        deadline_ticks: deadline_ticks(args.handler_timeout),
    };
    let tls = server_tls(&args)?;
    let listener = paf::rt::native::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("paf-host: listening on {scheme}://{} (wasi:http/proxy)", listener.local_addr()?);
    proxy::serve(proxy, listener, tls, args.max_connections as usize).await
}

/// Epoch ticks in `millis` (at least one).
fn deadline_ticks(millis: u64) -> u64 {
    millis.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}

/// Serves one connection in a fresh instance of the library component.
async fn serve_connection<S>(shared: &Arc<Shared>, stream: S, alpn: Option<String>, peer: SocketAddr) -> wasmtime::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let wasi = WasiCtxBuilder::new().inherit_stderr().build();
    let mut store = store(&shared.engine, wasi, shared.max_memory, Some(shared.clone()));
    // The engine inside waits on the host most of the time; when it
    // computes for long, it yields to the other connections every tick,
    // and is killed past the busy limit.
    let mut watch = BusyWatch::new(store.data().progress.clone(), shared.busy_limit, EPOCH_TICK);
    store.epoch_deadline_callback(move |_| match watch.tick() {
        Ok(()) => Ok(wasmtime::UpdateDeadline::Yield(1)),
        Err(why) => Err(format_err!("{why}")),
    });
    let flow = flow(store.data_mut(), stream, alpn, peer.to_string())?;
    let library = shared.library.instantiate_async(&mut store).await?;
    library.paf_http_server().call_handle_connection(&mut store, &flow).await
}

/// `stream` as a `paf:http` flow in the instance's resource table, its
/// bytes counted as the instance's progress.
fn flow<S>(instance: &mut Instance, stream: S, alpn: Option<String>, peer: String) -> wasmtime::Result<types::Flow>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (input, output) = connection::streams(stream, instance.progress.clone());
    Ok(types::Flow { input: instance.table.push(input)?, output: instance.table.push(output)?, alpn, peer })
}

impl types::Host for Instance {}

/// The first line of an error: what happened, without the wasm backtrace.
fn one_line(err: &wasmtime::Error) -> String {
    let text = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => err.to_string(),
    };
    text.lines().next().unwrap_or_default().to_string()
}

impl resolver::Host for Instance {
    /// A native TCP connection, handed in as a flow.
    async fn connect(&mut self, endpoint: resolver::Endpoint) -> wasmtime::Result<Result<types::Flow, String>> {
        let host = endpoint.host.trim_start_matches('[').trim_end_matches(']');
        let tcp = match tokio::net::TcpStream::connect((host, endpoint.port)).await {
            Ok(tcp) => tcp,
            Err(err) => return Ok(Err(format!("could not connect to {}:{}: {err}", endpoint.host, endpoint.port))),
        };
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr().map_or_else(|_| endpoint.host.clone(), |addr| addr.to_string());
        Ok(Ok(flow(self, tcp, None, peer)?))
    }
}

async fn get(args: GetArgs) -> wasmtime::Result<()> {
    let engine = new_engine(None)?;
    let component = load(&engine, &args.common.component, &cache_dir(&args.common))?;
    let library = library::LibraryPre::new(linker(&engine)?.instantiate_pre(&component)?)?;
    let wasi = WasiCtxBuilder::new().inherit_stderr().inherit_network().allow_ip_name_lookup(true).build();
    let mut store = store(&engine, wasi, args.common.max_memory << 20, None);
    store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Yield(1)));
    let instance = library.instantiate_async(&mut store).await?;
    let client = instance.paf_http_client();
    let request = library::exports::paf::http::client::Request {
        method: "GET".into(),
        uri: args.url.clone(),
        headers: vec![("user-agent".into(), b"paf-host".to_vec())],
        body: Vec::new(),
    };
    let response = client.call_send(&mut store, &request).await?.map_err(|why| format_err!("{why}"))?;
    eprintln!("{} {}", response.version, response.status);
    let body = client.body();
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = body.call_read(&mut store, response.body, 64 * 1024).await?.map_err(|why| format_err!("{why}"))? {
        stdout.write_all(&chunk)?;
    }
    stdout.flush()?;
    response.body.resource_drop_async(&mut store).await?;
    Ok(())
}
