//! `paf get URL`: one request with [`paf::Client`], the status (and with
//! `-v` the headers, the protocol and TLS) on stderr, the body on stdout or
//! in a file, and with `-v` or `--timing` how long each step took.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http_body::Body as _;
use http_body_util::BodyExt;
use indicatif::{ProgressBar, ProgressStyle};
use paf::client::{ConnectionInfo, IntoUrl, Timings, UnixSocket};
use paf::{Body, Client, Method, Request, Response, Incoming};
use tokio::io::AsyncWriteExt;

use crate::tls_options::TlsOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to fetch: http://, https:// or http+unix://%2Fpath%2Fto.sock/path.
    url: String,
    /// Follow redirects (10 at most).
    #[arg(short = 'L', long = "location")]
    follow: bool,
    /// Add a header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Send DATA as the request body (POST unless -X says otherwise);
    /// @FILE sends the file's content.
    #[arg(short = 'd', long, value_name = "DATA")]
    data: Option<String>,
    /// The request method (default GET, or POST with -d).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Write the body to FILE instead of stdout, with a progress bar.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show the request and the response headers, the protocol, TLS and
    /// the timings.
    #[arg(short, long)]
    verbose: bool,
    /// Show how long each step took: DNS, connect, TLS, first byte, total.
    #[arg(long)]
    timing: bool,
    #[command(flatten)]
    tls: TlsOptions,
    /// Speak HTTP/2 on clear text from the first byte (h2c).
    #[arg(long = "http2-prior-knowledge")]
    http2_prior_knowledge: bool,
    /// Connect through this Unix socket, whatever the URL's host.
    #[arg(long, value_name = "PATH")]
    unix_socket: Option<PathBuf>,
    /// How long connecting may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// How long the whole request may take until the response head, in
    /// seconds.
    #[arg(short = 'm', long = "max-time", value_name = "SECONDS", default_value_t = 30.0)]
    max_time: f64,
}

pub async fn run(args: Args) -> Result<ExitCode, String> {
    let client = client(&args)?;
    let request = request(&args).await?;
    if args.verbose {
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        eprintln!("> {} {target}", request.method());
        for (name, value) in request.headers() {
            eprintln!("> {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let start = client.now();
    let response = client
        .request(request)
        .await
        .map_err(|err| one_line(&format!("request to {} failed: {err}", args.url)))?;
    report(&args, &response);
    let length = response.body().size_hint().exact();
    let timings = response.extensions().get::<Timings>().copied();
    let mut body = response.into_body();
    match &args.output {
        Some(path) => {
            let mut file = tokio::fs::File::create(path)
                .await
                .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
            let progress = progress_bar(length);
            while let Some(chunk) = next_chunk(&mut body).await? {
                file.write_all(&chunk)
                    .await
                    .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
                progress.inc(chunk.len() as u64);
            }
            file.flush().await.map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            progress.finish();
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            while let Some(chunk) = next_chunk(&mut body).await? {
                if let Err(err) = stdout.write_all(&chunk) {
                    // A closed pipe (`paf get ... | head`) is a normal end.
                    if err.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(ExitCode::SUCCESS);
                    }
                    return Err(format!("cannot write the body: {err}"));
                }
            }
            let _ = stdout.flush();
        }
    }
    if args.verbose || args.timing {
        if let Some(timings) = timings {
            print_timings(&timings, client.now().saturating_sub(start));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn client(args: &Args) -> Result<Client, String> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|_| format!("invalid {name}: {s} (seconds, positive)"))
    };
    let tls = args.tls.client_tls()?;
    let mut builder = Client::builder()
        .tls(tls)
        .max_redirects(if args.follow { 10 } else { 0 })
        .http2_prior_knowledge(args.http2_prior_knowledge)
        .connect_timeout(seconds("--connect-timeout", args.connect_timeout)?)
        .request_timeout(seconds("--max-time", args.max_time)?);
    if args.tls.http1 {
        builder = builder.alpn(vec![paf::engine::alpn::Protocol::Http1]);
    }
    if let Some(path) = &args.unix_socket {
        builder = builder.unix_socket(path);
    }
    Ok(builder.build())
}

async fn request(args: &Args) -> Result<Request<Body>, String> {
    let url = args.url.as_str().into_url().map_err(|err| err.to_string())?;
    let body = match args.data.as_deref() {
        None => Body::empty(),
        Some(data) => match data.strip_prefix('@') {
            Some(path) => Body::from(
                tokio::fs::read(path).await.map_err(|err| format!("cannot read {path}: {err}"))?,
            ),
            None => Body::from(data.to_string()),
        },
    };
    let method = match (&args.method, &args.data) {
        (Some(method), _) => Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("invalid method {method:?}"))?,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = url.uri;
    if let Some(path) = url.unix {
        request.extensions_mut().insert(UnixSocket(path));
    }
    let headers = request.headers_mut();
    headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("paf/", env!("CARGO_PKG_VERSION"))));
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    if args.data.is_some() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    }
    for line in &args.headers {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("invalid header {line:?}: write it 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name in {line:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("invalid header value in {line:?}"))?;
        headers.insert(name, value);
    }
    Ok(request)
}

/// The status line; with `-v`, how it came and the headers too.
fn report(args: &Args, response: &Response<Incoming>) {
    if args.verbose {
        if let Some(info) = response.extensions().get::<ConnectionInfo>() {
            let reused = if info.reused { ", reused" } else { "" };
            let redirects = match info.redirects {
                0 => String::new(),
                n => format!(", after {n} redirect(s)"),
            };
            let protocol = match info.protocol {
                paf::engine::alpn::Protocol::Http1 => "HTTP/1",
                paf::engine::alpn::Protocol::Http2 => "HTTP/2",
            };
            eprintln!("* {protocol} connection{reused}{redirects}");
            if let Some(tls) = &info.tls {
                let alpn = tls.alpn_str().unwrap_or("none");
                eprintln!("* {} {}, ALPN {alpn}", tls.version, tls.cipher_suite);
            }
        }
    }
    eprintln!("{:?} {}", response.version(), response.status());
    if args.verbose {
        for (name, value) in response.headers() {
            eprintln!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
}

/// Each step's end, counted from the start of the request.
fn print_timings(timings: &Timings, total: Duration) {
    let before = timings.redirects;
    let steps = [
        ("redirects", (!before.is_zero()).then_some(before)),
        ("dns", timings.dns.map(|d| before + d)),
        ("connect", timings.connect.map(|d| before + d)),
        ("tls", timings.tls.map(|d| before + d)),
        ("first byte", Some(before + timings.first_byte)),
        ("total", Some(total)),
    ];
    for (step, at) in steps {
        if let Some(at) = at {
            eprintln!("* {step:<10} {:>10.3} ms", at.as_secs_f64() * 1000.0);
        }
    }
}

/// An error on one line: a context that tried several transports lists
/// them on several.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

async fn next_chunk(body: &mut Incoming) -> Result<Option<bytes::Bytes>, String> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(err)) => return Err(format!("the response body failed: {err}")),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

fn progress_bar(length: Option<u64>) -> ProgressBar {
    match length {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("the template is valid"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .expect("the template is valid"),
        ),
    }
}
