//! `paf.wasm`: the `paf` command as a WASI 0.2 command component, with the
//! native command's `serve` (the same httpbin endpoints, [`httpbin`], over
//! `wasi:sockets`) and `get` (HTTP/1.1, or HTTP/2 by ALPN or prior
//! knowledge, TLS by rustls inside the component).
//!
//! ```text
//! wasmtime run -S inherit-network paf.wasm serve --port 8080 --h2c
//! wasmtime run -S inherit-network -S allow-ip-name-lookup paf.wasm get https://example.com/
//! ```
//!
//! Everything runs on [`paf::rt::wasi`]: its executor, listener, DNS and
//! TCP. There are no signals in WASI: `serve` runs until it is killed, or
//! with `--stop-on-eof` stops gracefully when its standard input ends.

#[path = "../../../src/bin/paf/httpbin.rs"]
mod httpbin;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use http::header::{self, HeaderValue};
use http_body_util::BodyExt;
use paf::engine::alpn::Protocol;
use paf::client::ClientBuilder;
use paf::platform;
use paf::rt::wasi::{self, TcpListener, Wasi};
use paf::tls::ClientTls;
use paf::{Body, Config, Request, Switch, Uri};

#[derive(Debug, Parser)]
#[command(name = "paf", version, about = "HTTP/1.1 and HTTP/2 server and client on the paf engine, in a WASI 0.2 component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve httpbin-style endpoints.
    Serve(ServeArgs),
    /// Fetch a URL and print the response.
    Get(GetArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = httpbin::ENDPOINTS)]
struct ServeArgs {
    /// The TCP port to listen on (0: any free port, printed at start).
    #[arg(long)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    host: String,
    /// On clear text, also speak HTTP/2 to clients that start with its
    /// preface (prior knowledge, as `curl --http2-prior-knowledge`).
    #[arg(long)]
    h2c: bool,
    /// Stop gracefully when standard input ends (WASI has no signals):
    /// stop accepting, let the requests in flight finish, then exit.
    #[arg(long)]
    stop_on_eof: bool,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    /// The URL to fetch: http:// or https://.
    url: String,
    /// Show the response headers.
    #[arg(short, long)]
    verbose: bool,
    /// Trust only the CA certificates in this PEM file (give wasmtime the
    /// directory: --dir).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Offer only HTTP/1.1 over TLS.
    #[arg(long = "http1.1")]
    http1: bool,
    /// Speak HTTP/2 on clear text from the first byte (h2c).
    #[arg(long = "http2-prior-knowledge")]
    http2_prior_knowledge: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = wasi::block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Get(args) => get(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("paf: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let addresses = wasi::lookup(&args.host, args.port).await.map_err(|err| err.to_string())?;
    let listener = TcpListener::bind(addresses[0]).await.map_err(|err| err.to_string())?;
    eprintln!("paf: listening on http://{}", listener.local_addr());
    let mut config = Config::default();
    config.h2c = args.h2c;
    let handler = paf::service_fn(|req| async move { httpbin::answer(req, &Wasi).await });
    let switch = Switch::new();
    if args.stop_on_eof {
        let switch = switch.clone();
        wasi::spawn(async move {
            wasi::end_of_stdin().await;
            switch.stop();
        });
    }
    paf::serve(listener, handler, config, switch)
        .await
        .map_err(|err| format!("the server failed: {err}"))
}

async fn get(args: GetArgs) -> Result<(), String> {
    let uri: Uri = args.url.parse().map_err(|err| format!("invalid URL {}: {err}", args.url))?;
    let mut client_tls = ClientTls::new();
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        client_tls = client_tls.only_roots_pem(&pem).map_err(|err| format!("{}: {err}", path.display()))?;
    }
    let mut client = ClientBuilder::new(platform::wasi::platform())
        .tls(client_tls)
        .http2_prior_knowledge(args.http2_prior_knowledge)
        .max_redirects(0);
    if args.http1 {
        client = client.alpn(vec![Protocol::Http1]);
    }
    let mut request = Request::get(uri).body(Body::empty()).map_err(|err| format!("cannot build the request: {err}"))?;
    let headers = request.headers_mut();
    headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("paf/", env!("CARGO_PKG_VERSION"))));
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    let response = client
        .build()
        .request(request)
        .await
        .map_err(|err| format!("request to {} failed: {err}", args.url))?;
    eprintln!("{:?} {}", response.version(), response.status());
    if args.verbose {
        for (name, value) in response.headers() {
            eprintln!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let mut body = response.into_body();
    let mut stdout = std::io::stdout().lock();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| format!("the body of {} failed: {err}", args.url))?;
        if let Ok(data) = frame.into_data() {
            stdout.write_all(&data).map_err(|err| format!("cannot write the body: {err}"))?;
        }
    }
    stdout.flush().map_err(|err| format!("cannot write the body: {err}"))
}
