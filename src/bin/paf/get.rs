//! `paf get URL`: one request with the low-level client, the status (and
//! the headers with `-v`) on stderr, the body on stdout or in a file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http_body::Body as _;
use indicatif::{ProgressBar, ProgressStyle};
use paf::engine::client;
use paf::rt::native::{self, Tokio};
use paf::{Body, Config, Flow, Request, Uri};
use tokio::io::AsyncWriteExt;

/// How long connecting (DNS included) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to fetch (http://host[:port]/path).
    url: String,
    /// Write the body to FILE instead of stdout, with a progress bar.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show the request and the response headers.
    #[arg(short, long)]
    verbose: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, String> {
    let target = Target::parse(&args.url)?;
    let flow = tokio::time::timeout(CONNECT_TIMEOUT, open(&target))
        .await
        .map_err(|_| format!("could not connect to {}: timed out after {CONNECT_TIMEOUT:?}", target.authority()))?
        .map_err(|err| err.to_string())?;
    let mut sender = client::handshake(flow, &Config::default(), &Tokio);
    let request = Request::get(target.uri.clone())
        .header("user-agent", concat!("paf/", env!("CARGO_PKG_VERSION")))
        .header("accept", "*/*")
        .body(Body::empty())
        .map_err(|err| format!("cannot build the request: {err}"))?;
    if args.verbose {
        eprintln!("> GET {} HTTP/1.1", target.uri.path_and_query().map_or("/", |p| p.as_str()));
        for (name, value) in request.headers() {
            eprintln!("> {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let response = sender
        .send(request)
        .await
        .map_err(|err| format!("request to {} failed: {err}", args.url))?;
    eprintln!("{:?} {}", response.version(), response.status());
    if args.verbose {
        for (name, value) in response.headers() {
            eprintln!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let length = response.body().size_hint().exact();
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
    Ok(ExitCode::SUCCESS)
}

async fn next_chunk(body: &mut paf::Incoming) -> Result<Option<bytes::Bytes>, String> {
    use http_body_util::BodyExt;
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

/// What the URL names: a host, a port, a request target.
struct Target {
    uri: Uri,
    host: String,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let invalid = |reason: &str| paf::Error::InvalidUrl { url: url.to_string(), reason: reason.to_string() }.to_string();
        let uri: Uri = url.parse().map_err(|err: http::uri::InvalidUri| invalid(&err.to_string()))?;
        let port = match uri.scheme_str() {
            Some("http") => 80,
            Some("https") => return Err(invalid("https needs TLS, which paf get does not speak yet")),
            Some(other) => return Err(invalid(&format!("unsupported scheme {other:?} (use http://)"))),
            None => return Err(invalid("no scheme (write http://host/path)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(port);
        Ok(Target { uri, host, port })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Opens a flow to the target through the native resolver context: DNS
/// (or the IP literal), then TCP to each address in turn.
async fn open(target: &Target) -> Result<Flow, paf::Error> {
    let ctx = native::ctx()
        .add(&native::HOST, target.host.clone())
        .add(&native::PORT, target.port);
    Ok(paf::mimic::resolve(&ctx).await?)
}
