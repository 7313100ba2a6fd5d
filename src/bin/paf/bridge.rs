//! `paf bridge`: a WebSocket/Wisp → TCP bridge for pages (see
//! [`paf::bridge`]), with the allow-list required; with `--root DIR` it
//! also serves the files of DIR (a page and its bridge on one origin).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use paf::bridge::{Policy, Target};
use paf::rt::native::TcpListener;
use paf::{Body, Config, Incoming, Method, Request, Switch};

use crate::serve::{describe, load_tls, logged, serve_until_forced, stop_on_signals, ClientAuth, Root};

const AFTER_HELP: &str = "\
A page opens a WebSocket to ws://ADDR/HOST:PORT (or /?target=HOST:PORT)
for one TCP connection, or to a path ending in / (ws://ADDR/wisp/) for
Wisp v1, many streams over one WebSocket. Over HTTPS (--tls-cert) it also
takes WebSockets over HTTP/2 (RFC 8441).

Only the --allow targets are reached; one that resolves to a loopback,
private or link-local address is refused unless --allow names that
address (or localhost). A refused page sees the WebSocket close with
code 1008 (policy), 1013 (a limit) or 1014 (unreachable) and the reason.";

/// Arguments of `paf bridge`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The address to listen on: 127.0.0.1:8080, [::]:443.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// The targets it may reach, HOST:PORT, comma-separated or repeated.
    #[arg(long, value_name = "HOST:PORT", required = true, value_delimiter = ',', value_parser = parse_target)]
    allow: Vec<Target>,
    /// The origins of the pages that may use it (https://app.example),
    /// comma-separated or repeated; without it, pages of any origin.
    #[arg(long, value_name = "ORIGIN", value_delimiter = ',')]
    origin: Vec<String>,
    /// Tunnels one client IP may have open at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_per_client: usize,
    /// Tunnels open at once in all.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_total: usize,
    /// Close a tunnel that relays nothing for this long: 120s (the
    /// default), 500ms, 2m.
    #[arg(long, value_name = "D", value_parser = crate::bench::parse_duration)]
    idle_timeout: Option<Duration>,
    /// Serve the files under DIR to requests that are no WebSocket.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Serve HTTPS (wss://) with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn parse_target(text: &str) -> Result<Target, String> {
    Target::parse(text).map_err(|err| err.to_string().trim_start_matches("bridge: ").to_owned())
}

/// Runs `paf bridge` until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let mut policy = Policy::new(args.allow).origins(args.origin);
    policy.max_per_client = args.max_per_client;
    policy.max_total = args.max_total;
    if let Some(idle) = args.idle_timeout {
        policy.idle_timeout = idle;
    }
    let root = match &args.root {
        Some(dir) => Some(Arc::new(Root::open(dir)?)),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((load_tls(cert, key, None, ClientAuth::Required)?, false)),
        _ => None,
    };
    let bridge = paf::platform::native::bridge(policy);
    let handler = paf::service_fn(move |req: Request<Incoming>| {
        let bridge = bridge.clone();
        let root = root.clone();
        async move {
            if root.is_none() || opens_websocket(&req) {
                bridge.answer(req).await
            } else {
                logged(req, root, None).await.map(Body::new)
            }
        }
    });
    let mut config = Config::default();
    config.h2.enable_connect_protocol = true;
    let switch = Switch::new();
    let forced = stop_on_signals(switch.clone())?;
    let listener = TcpListener::bind(args.listen.as_str())
        .await
        .map_err(|err| format!("cannot listen on {}: {}", args.listen, describe(&err)))?;
    let addr = listener.local_addr().map_err(|err| format!("cannot listen on {}: {}", args.listen, describe(&err)))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!("paf: bridge listening on {scheme}://{addr}/");
    serve_until_forced(listener, handler, tls, config, switch, forced).await
}

/// A WebSocket opening by either protocol (the bridge checks the rest).
fn opens_websocket(req: &Request<Incoming>) -> bool {
    req.method() == Method::CONNECT || req.headers().contains_key(paf::http::header::UPGRADE)
}

