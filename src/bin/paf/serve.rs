//! `paf serve`: an httpbin-style test server on the paf engine, and a static
//! file server with `--root`.
//!
//! The server answers what [`httpbin`] answers, as the WASI components do
//! (`/`, and 404 for paths that are no endpoint, included); with `--root
//! DIR` [`route`] tries the endpoints first, then every other path (`/`
//! included) is a file under DIR. Files are streamed chunk by chunk with a
//! known length (so the engine sends `Content-Length`).
//!
//! Bad input is a 4xx with a one-line explanation, never a panic. Ctrl-C or
//! SIGTERM flips the server's [`Switch`]: it stops accepting, finishes the
//! requests in flight, and `paf` exits 0 (a second signal exits at once).

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::{select, Either};
use futures_util::stream::{self, StreamExt};
use http::header::{self, HeaderValue};
use crate::access_log::{Entry, LogFormat};
use crate::memory;
use crate::httpbin::{self, method_not_allowed, text, KnownLength, Reply, CHUNK};
use paf::engine::alpn;
use paf::rt::native::{TcpListener, Tokio, UnixListener};
use paf::tls::ServerTls;
use paf::rt::Listener;
use paf::{Body, Config, Flow, Incoming, Method, Request, Response, StatusCode, Switch};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The `--help` text after the options.
fn after_help() -> String {
    format!("{}\n\n{FILES_AND_SIGNALS}", httpbin::ENDPOINTS)
}

const FILES_AND_SIGNALS: &str = "\
Endpoints take precedence over files: with --root DIR, every other path,
/ included, is a file under DIR (a directory serves its index.html), 404
if there is none; without --root, other paths are 404. Paths with '..'
segments (also percent-encoded) are refused, and so is any file that
resolves outside DIR.

Ctrl-C or SIGTERM stops accepting connections, finishes the requests in
flight, then exits 0.";

/// Arguments of `paf serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = after_help())]
pub struct Args {
    /// The TCP port to listen on (0: any free port, printed at start).
    #[arg(long, required_unless_present = "unix")]
    port: Option<u16>,
    /// The address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1",
        value_name = "ADDR",
        conflicts_with = "unix"
    )]
    host: String,
    /// Listen on this Unix socket instead of TCP (the file must not exist).
    #[arg(long, value_name = "PATH", conflicts_with = "port")]
    unix: Option<PathBuf>,
    /// Serve the files under DIR for the paths that are no endpoint.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); ALPN offers h2 and
    /// http/1.1.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Ask HTTPS clients for a certificate signed by a CA in this PEM file
    /// (mutual TLS); required unless --tls-client-auth optional.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate (required) or may
    /// (optional: one presented must still be signed by --tls-client-ca).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ClientAuth::Required, requires = "tls_client_ca")]
    tls_client_auth: ClientAuth,
    /// With --tls-cert: also take clear-text connections on the same port,
    /// told apart by their first byte (0x16 starts a TLS handshake, never
    /// an HTTP request); for tests and `paf bench --mix h1,h2c,h2`.
    #[arg(long, requires = "tls_cert")]
    accept_clear: bool,
    /// On clear text, also speak HTTP/2 to clients that start with its
    /// preface (prior knowledge, as `curl --http2-prior-knowledge`); with
    /// --tls-cert, only with --accept-clear.
    #[arg(long)]
    h2c: bool,
    /// How long a keep-alive connection may stay idle before the server
    /// closes it: 60s (the default), 500ms, 2m.
    #[arg(long, value_name = "D", value_parser = crate::bench::parse_duration)]
    idle_timeout: Option<Duration>,
    /// The access log's format: one line per request on stdout.
    #[arg(long, value_enum, default_value = "common", value_name = "FORMAT")]
    log_format: LogFormat,
    /// No access log.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    acme: crate::acme::ServeAcme,
}

/// `--tls-client-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientAuth {
    /// Every client presents a certificate signed by --tls-client-ca.
    Required,
    /// A client may present none.
    Optional,
}

/// Runs `paf serve` until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let root = match &args.root {
        Some(dir) => Some(Arc::new(Root::open(dir)?)),
        None => None,
    };
    let log = (!args.quiet).then_some(args.log_format);
    let activity = memory::Activity::default();
    memory::trim_when_idle(activity.clone());
    let handler = paf::service_fn(move |req| {
        activity.note();
        logged(req, root.clone(), log)
    });
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(load_tls(cert, key, args.tls_client_ca.as_deref(), args.tls_client_auth)?),
        _ => None,
    };
    if args.h2c && tls.is_some() && !args.accept_clear {
        return Err("--h2c is for clear text: with --tls-cert, add --accept-clear".into());
    }
    let mut config = Config::default();
    config.h2c = args.h2c;
    if let Some(idle) = args.idle_timeout {
        config.idle_timeout = idle;
    }
    let tls = tls.map(|tls| (tls, args.accept_clear));
    let switch = Switch::new();
    // Before the "listening" line: a signal right after it must stop us
    // cleanly, not kill us.
    let forced = stop_on_signals(switch.clone())?;
    if !args.acme.domains.is_empty() {
        if tls.is_some() || args.unix.is_some() {
            return Err("--acme serves HTTPS on --port with its own certificate: drop --tls-cert and --unix".into());
        }
        let port = args.port.ok_or("--acme needs --port (the HTTPS port)")?;
        return crate::acme::serve(&args.acme, &args.host, port, handler, config, switch, forced).await;
    }

    match &args.unix {
        Some(path) => {
            let listener = UnixListener::bind(path).map_err(|err| {
                let hint = match err.kind() {
                    io::ErrorKind::AddrInUse => " (remove the file if no server uses it)",
                    _ => "",
                };
                format!(
                    "cannot listen on {}: {}{hint}",
                    path.display(),
                    describe(&err)
                )
            })?;
            eprintln!("paf: listening on unix:{}", path.display());
            let served = serve_until_forced(listener, handler, tls, config, switch, forced).await;
            let _ = std::fs::remove_file(path);
            served
        }
        None => {
            let port = args.port.ok_or("--port or --unix is needed")?;
            let shown = if args.host.contains(':') {
                format!("[{}]:{port}", args.host)
            } else {
                format!("{}:{port}", args.host)
            };
            let listener = TcpListener::bind((args.host.as_str(), port))
                .await
                .map_err(|err| format!("cannot listen on {shown}: {}", describe(&err)))?;
            let addr = listener
                .local_addr()
                .map_err(|err| format!("cannot listen on {shown}: {}", describe(&err)))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!("paf: listening on {scheme}://{addr}");
            serve_until_forced(listener, handler, tls, config, switch, forced).await
        }
    }
}

/// Serves until `switch` is stopped and the requests in flight are done,
/// or until `forced` completes.
pub(crate) async fn serve_until_forced(
    listener: impl Listener,
    handler: impl paf::Handler,
    tls: Option<(ServerTls, bool)>,
    config: Config,
    switch: Switch,
    forced: Pin<Box<dyn Future<Output = ()>>>,
) -> Result<ExitCode, String> {
    let serving: Pin<Box<dyn Future<Output = Result<(), paf::Error>>>> = match tls {
        Some((tls, false)) => {
            let service = alpn::service(alpn::Tls::new(tls.config()), handler);
            Box::pin(paf::serve(listener, service, config, switch))
        }
        Some((tls, true)) => {
            let service = alpn::service(TlsOrClear(alpn::Tls::new(tls.config())), handler);
            Box::pin(paf::serve(listener, service, config, switch))
        }
        None => Box::pin(paf::serve(listener, handler, config, switch)),
    };
    match select(serving, forced).await {
        Either::Left((Ok(()), _)) => Ok(ExitCode::SUCCESS),
        Either::Left((Err(err), _)) => Err(format!("the server failed: {err}")),
        Either::Right(_) => Err("stopped again before the requests in flight finished".into()),
    }
}

/// `--accept-clear`: TLS for a connection whose first byte starts a TLS
/// handshake record (0x16), clear text (HTTP/1.1, or h2c with `--h2c`)
/// for any other. That byte is read in the connection's own task, within
/// the header timeout, and put back in front of the flow.
#[derive(Clone)]
struct TlsOrClear(alpn::Tls);

/// The content type of a TLS handshake record, the first byte of a
/// ClientHello; no HTTP request starts with it.
const TLS_HANDSHAKE: u8 = 0x16;

impl alpn::Info for TlsOrClear {
    async fn inject(&self, mut flow: Flow) -> Result<Flow, paf::Error> {
        let mut first = [0u8; 1];
        let n = flow.read(&mut first).await?;
        let flow = flow.with_prefix(bytes::Bytes::copy_from_slice(&first[..n]));
        match first {
            [TLS_HANDSHAKE] if n == 1 => self.0.inject(flow).await,
            _ => Ok(flow),
        }
    }

    fn protocol(&self, flow: &Flow) -> Option<alpn::Protocol> {
        paf::tls::session(flow).and(self.0.protocol(flow))
    }

    fn peer(&self, flow: &Flow, accepted_as: &str) -> String {
        self.0.peer(flow, accepted_as)
    }
}

/// The server's TLS configuration from PEM files.
pub(crate) fn load_tls(cert: &Path, key: &Path, client_ca: Option<&Path>, client_auth: ClientAuth) -> Result<ServerTls, String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| format!("cannot read {}: {}", path.display(), describe(&err)))
    };
    let tls = ServerTls::from_pem(&read(cert)?, &read(key)?)
        .map_err(|err| format!("cannot use {} and {}: {err}", cert.display(), key.display()))?;
    let Some(client_ca) = client_ca else {
        return Ok(tls);
    };
    let roots = read(client_ca)?;
    match client_auth {
        ClientAuth::Required => tls.require_client_certs(&roots),
        ClientAuth::Optional => tls.accept_client_certs(&roots),
    }
    .map_err(|err| format!("cannot use {} (--tls-client-ca): {err}", client_ca.display()))
}

/// Stops `switch` on the first Ctrl-C or SIGTERM; the returned future
/// completes on the second one.
pub(crate) fn stop_on_signals(switch: Switch) -> Result<Pin<Box<dyn Future<Output = ()>>>, String> {
    let install = |kind: SignalKind| {
        signal(kind).map_err(|err| format!("cannot handle signals: {}", describe(&err)))
    };
    let mut interrupt = install(SignalKind::interrupt())?;
    let mut terminate = install(SignalKind::terminate())?;
    async fn either(interrupt: &mut Signal, terminate: &mut Signal) {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    Ok(Box::pin(async move {
        either(&mut interrupt, &mut terminate).await;
        switch.stop();
        either(&mut interrupt, &mut terminate).await;
    }))
}

/// An I/O error as the end of a one-line message: "permission denied".
pub(crate) fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => {
            let text = err.to_string();
            let text = match text.find(" (os error") {
                Some(end) => &text[..end],
                None => &text[..],
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".into(),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Routing

/// [`route`], with its line in the access log when there is one.
pub(crate) async fn logged(req: Request<Incoming>, root: Option<Arc<Root>>, log: Option<LogFormat>) -> Response<Reply> {
    match log {
        Some(format) => {
            let entry = Entry::start(format, &req);
            entry.finish(route(req, root).await)
        }
        None => route(req, root).await,
    }
}

/// httpbin, or with `--root` its endpoints first, then files.
async fn route(req: Request<Incoming>, root: Option<Arc<Root>>) -> Response<Reply> {
    let Some(root) = root else {
        return httpbin::answer(req, &Tokio).await;
    };
    match httpbin::endpoint(req, &Tokio).await {
        Ok(response) => response,
        Err(req) if httpbin::is_read_only(&req) => file(&req, &root).await,
        Err(_) => method_not_allowed(),
    }
}

// ---------------------------------------------------------------------------
// Static files

/// The directory `--root` serves, canonicalized.
#[derive(Debug)]
pub(crate) struct Root {
    dir: PathBuf,
}

impl Root {
    pub(crate) fn open(dir: &Path) -> Result<Root, String> {
        let canonical = std::fs::canonicalize(dir).map_err(|err| {
            format!(
                "cannot serve files from {}: {}",
                dir.display(),
                describe(&err)
            )
        })?;
        if !canonical.is_dir() {
            return Err(format!(
                "cannot serve files from {}: not a directory",
                dir.display()
            ));
        }
        Ok(Root { dir: canonical })
    }
}

/// A file under the root, streamed, with its content type and length.
async fn file(req: &Request<Incoming>, root: &Root) -> Response<Reply> {
    let raw = req.uri().path();
    let Some(decoded) = percent_decode(raw) else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed percent-encoding in the path",
        );
    };
    let mut path = root.dir.clone();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return text(StatusCode::BAD_REQUEST, "'..' is not allowed in paths"),
            _ if segment.contains(&0) => {
                return text(StatusCode::BAD_REQUEST, "NUL is not allowed in paths")
            }
            _ => path.push(OsStr::from_bytes(segment)),
        }
    }
    let not_found = || text(StatusCode::NOT_FOUND, format!("no file at {raw}"));
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return not_found();
    };
    if meta.is_dir() {
        if !raw.ends_with('/') {
            // Relative links in the index must resolve inside the directory.
            return redirect(&format!("{raw}/"));
        }
        path.push("index.html");
    }
    // Symbolic links may point anywhere: what they resolve to must be
    // under the root.
    match tokio::fs::canonicalize(&path).await {
        Ok(real) if real.starts_with(&root.dir) => {}
        _ => return not_found(),
    }
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return not_found();
    };
    let length = match file.metadata().await {
        Ok(meta) if meta.is_file() => meta.len(),
        _ => return not_found(),
    };
    let content_type = mime_guess::from_path(&path).first_or_octet_stream();
    let body = if req.method() == Method::HEAD {
        // The engine sends no body for HEAD; only the length matters.
        Body::new(KnownLength::new(stream::empty().boxed(), length))
    } else {
        let chunks = stream::try_unfold(file, |mut file| async move {
            let mut buf = BytesMut::with_capacity(CHUNK);
            let read = file.read_buf(&mut buf).await?;
            Ok((read > 0).then(|| (buf.freeze(), file)))
        });
        Body::new(KnownLength::new(chunks.boxed(), length))
    };
    let mut response = Response::new(body);
    if let Ok(value) = HeaderValue::from_str(content_type.as_ref()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn redirect(location: &str) -> Response<Reply> {
    let mut response = text(
        StatusCode::MOVED_PERMANENTLY,
        format!("moved to {location}"),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Decodes `%XX` escapes; `None` for a `%` not followed by two hex digits.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Helpers

