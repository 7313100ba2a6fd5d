//! `paf bench URL`: a load generator on paf's own client.
//!
//! `-c` connections run at once, each in its own task, sending requests
//! back to back (keep-alive; a connection that fails or that the server
//! closes is opened again) until `-n` requests have been sent or
//! `--duration` has passed. Each connection speaks one protocol: HTTP/1.1,
//! HTTP/2 by prior knowledge (h2c, `--h2`) or HTTP/2 over TLS (ALPN `h2`,
//! the default for `https://`), or with `--mix` the connections are dealt
//! out over several protocols in turn ([`MIX_HELP`]). An HTTP/2 connection
//! carries `--streams` requests at once, one task per stream. With
//! `--body-sizes`, requests are POSTs whose bodies take the listed sizes in
//! turn (request *i* gets the *i*-th size, cycling), what `/echo` answers.
//!
//! Each answered request's latency, from the moment it is handed to the
//! connection to the last byte of its body, goes into an HDR histogram;
//! each worker keeps its own tally, merged at the end per protocol and in
//! all, so that recording costs no lock.
//!
//! A request *fails* when it gets no answer (the error is counted by kind:
//! connect refused, TLS handshake, timeout, connection closed, protocol
//! error, ...) or when the answer is not a 2xx (counted by status). Every
//! failure is shown and makes the exit status 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
// The clock. scripts/test keeps clock reads out of `src/` because the
// library must run on wasm32-unknown-unknown, where they panic; this
// command is native only (the `cli` feature), so it reads the clock.
use std::time::Instant as Monotonic;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{HeaderName, HeaderValue, CONNECTION};
use http_body_util::BodyExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paf::engine::client;
use paf::rt::native::Tokio;
use paf::tls::ClientConfig;
use paf::{Body, Config, Flow, Method, Request, Response, StatusCode, Uri, Version};

use crate::tls_options::TlsOptions;

/// How many requests are sent when neither `-n` nor `--duration` is given.
const DEFAULT_REQUESTS: u64 = 1000;
/// The slowest latency the histogram holds (longer ones count as this).
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;
/// The quantiles whose latency `--json` lists (for plots): every tenth,
/// then the tail.
const QUANTILES: [f64; 16] = [
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0,
];
/// The width of the text histogram's longest bar.
const BAR_WIDTH: usize = 40;
/// The largest request body `--body-sizes` takes.
const MAX_BODY: u64 = 1 << 30;

/// The long help of `--mix`: what each protocol is.
const MIX_HELP: &str = "\
Spread the connections over these protocols, in turn (connection i speaks
the (i mod k)-th of the k listed; list one twice to give it more):
  h1   HTTP/1.1, on the URL's transport: clear text for http://, TLS for
       https:// (ALPN offers http/1.1 only)
  h2c  HTTP/2 by prior knowledge on clear text, whatever the URL's scheme
  h2   HTTP/2 over TLS, ALPN offering h2 only, whatever the URL's scheme
All connect to the URL's host and port, so a mix of clear text and TLS
needs a server that takes both on one port (paf serve --tls-cert ...
--accept-clear --h2c). The report counts each protocol on its own.
Without --mix: h1 for http:// (h2c with --h2), h2 for https:// (h1 with
--http1.1).";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to load: http:// or https://host[:port]/path.
    url: String,
    /// How many connections send requests at once.
    #[arg(short = 'c', long = "connections", value_name = "CONNS", default_value_t = 10)]
    connections: usize,
    /// How many requests to send in all (default 1000, or no limit with --duration).
    #[arg(short = 'n', long = "requests", value_name = "REQUESTS")]
    requests: Option<u64>,
    /// Speak HTTP/2 by prior knowledge (h2c) instead of HTTP/1.1: --mix h2c.
    #[arg(long, conflicts_with = "mix")]
    h2: bool,
    /// Spread the connections over protocols: h1, h2c, h2 (see --help).
    #[arg(long, value_name = "PROTOCOLS", value_enum, value_delimiter = ',', hide_possible_values = true, long_help = MIX_HELP)]
    mix: Option<Vec<Protocol>>,
    /// How many requests each HTTP/2 connection (h2c or h2) carries at once.
    #[arg(long, value_name = "M", default_value_t = 1)]
    streams: usize,
    /// Stop sending after this long: 10s, 500ms, 2m (also a limit with -n).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// The request method (POST when -d or --body-sizes is given, GET otherwise).
    #[arg(short = 'X', long = "method", value_name = "METHOD")]
    method: Option<Method>,
    /// The request body.
    #[arg(short = 'd', long = "data", value_name = "BODY")]
    data: Option<String>,
    /// Request bodies of these sizes in turn, cycling: 0,1k,64k,1M (k and M
    /// are KiB and MiB); N*SIZE repeats a size N times (50*0,1*1M).
    #[arg(long, value_name = "SIZES", value_parser = parse_sizes, conflicts_with = "data")]
    body_sizes: Option<BodySizes>,
    /// An extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// How long one request (connecting included) may take before it
    /// counts as a timeout.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Print the report as one JSON object (and no progress bar).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: TlsOptions,
}

/// A protocol a connection speaks (`--mix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Protocol {
    /// HTTP/1.1, on clear text or TLS as the URL's scheme says.
    H1,
    /// HTTP/2 by prior knowledge on clear text.
    H2c,
    /// HTTP/2 over TLS (ALPN h2).
    H2,
}

impl Protocol {
    /// The name in `--mix` and in the JSON report.
    fn label(self) -> &'static str {
        match self {
            Protocol::H1 => "h1",
            Protocol::H2c => "h2c",
            Protocol::H2 => "h2",
        }
    }

    fn over_tls(self, https: bool) -> bool {
        match self {
            Protocol::H1 => https,
            Protocol::H2c => false,
            Protocol::H2 => true,
        }
    }

    /// The name in the report's header.
    fn describe(self, https: bool) -> &'static str {
        match (self, https) {
            (Protocol::H1, false) => "HTTP/1.1",
            (Protocol::H1, true) => "HTTP/1.1 over TLS",
            (Protocol::H2c, _) => "HTTP/2 (h2c)",
            (Protocol::H2, _) => "HTTP/2 over TLS",
        }
    }
}

/// The sizes of `--body-sizes`, in the order they are sent.
#[derive(Debug, Clone)]
struct BodySizes(Vec<u64>);

/// Runs `paf bench`: exit status 0 when every request got a 2xx.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    if args.connections == 0 || args.streams == 0 {
        return Err("-c and --streams must be at least 1".into());
    }
    let target = Target::parse(&args.url)?;
    if args.mix.is_some() && args.tls.http1 {
        return Err("--http1.1 does not go with --mix: list h1 in it".into());
    }
    let protocols = match &args.mix {
        Some(mix) => mix.clone(),
        None if target.https => vec![if args.tls.http1 { Protocol::H1 } else { Protocol::H2 }],
        None => vec![if args.h2 { Protocol::H2c } else { Protocol::H1 }],
    };
    let tls = match protocols.iter().any(|p| p.over_tls(target.https)) {
        true => Some(Tls::new(&args.tls, &target)?),
        false => None,
    };
    let addresses = paf::rt::native::lookup(&target.host, target.port)
        .await
        .map_err(|err| format!("cannot resolve {}: {err}", target.host))?;
    let template = Template::new(&args, &target)?;
    let limit = match (args.requests, args.duration) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => DEFAULT_REQUESTS,
    };
    let shared = Arc::new(Shared {
        addresses,
        https: target.https,
        tls,
        template,
        config: Config::default(),
        timeout: args.timeout,
        tickets: Tickets::new(limit),
        done: AtomicU64::new(0),
    });

    let progress = progress_bar(args.requests.or(args.duration.is_none().then_some(limit)), args.json);
    let started = Monotonic::now();
    let mut connections = BTreeMap::<Protocol, usize>::new();
    let mut workers = Vec::new();
    for i in 0..args.connections {
        let protocol = protocols[i % protocols.len()];
        *connections.entry(protocol).or_default() += 1;
        match protocol {
            Protocol::H1 => workers.push(tokio::spawn(h1_worker(shared.clone()))),
            Protocol::H2c | Protocol::H2 => {
                let connection = Arc::new(H2Connection::new(protocol));
                for _ in 0..args.streams {
                    workers.push(tokio::spawn(h2_worker(shared.clone(), connection.clone())));
                }
            }
        }
    }
    let all_done = futures_util::future::join_all(workers);
    let mut all_done = std::pin::pin!(all_done);
    let deadline = args.duration.map(|d| started + d);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let results = loop {
        tokio::select! {
            results = &mut all_done => break results,
            _ = tick.tick() => {
                progress.set_position(shared.done.load(Ordering::Relaxed));
                if deadline.is_some_and(|d| Monotonic::now() >= d) {
                    shared.tickets.stop();
                }
            }
        }
    };
    let elapsed = started.elapsed();
    progress.finish_and_clear();

    let mut tally = Tally::new();
    let mut by_protocol = BTreeMap::<Protocol, Tally>::new();
    for result in results {
        let (protocol, worker) = result.map_err(|err| format!("a worker task failed: {err}"))?;
        by_protocol.entry(protocol).or_insert_with(Tally::new).merge(&worker);
        tally.merge(&worker);
    }
    let protocol = protocols
        .iter()
        .fold(Vec::new(), |mut seen, p| {
            if !seen.contains(p) {
                seen.push(*p);
            }
            seen
        })
        .into_iter()
        .map(|p| p.describe(target.https))
        .collect::<Vec<_>>()
        .join(" + ");
    let protocols = by_protocol
        .into_iter()
        .map(|(p, tally)| PerProtocol { protocol: p, connections: connections[&p], tally })
        .collect();
    let streams = if protocols_use_h2(&connections) { args.streams } else { 1 };
    let report = Report {
        url: &args.url,
        protocol,
        connections: args.connections,
        streams,
        body_sizes: args.body_sizes.as_ref().map(|sizes| sizes.0.as_slice()),
        elapsed,
        tally,
        protocols,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.tally.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn protocols_use_h2(connections: &BTreeMap<Protocol, usize>) -> bool {
    connections.keys().any(|p| *p != Protocol::H1)
}

/// The client TLS of the connections that speak it: one configuration per
/// ALPN offer, each shared by its connections (and so their session
/// resumption cache).
struct Tls {
    h1: Arc<ClientConfig>,
    h2: Arc<ClientConfig>,
    server_name: String,
}

impl Tls {
    fn new(options: &TlsOptions, target: &Target) -> Result<Tls, String> {
        let tls = options.client_tls()?;
        let alpn = |protocol: paf::engine::alpn::Protocol| tls.clone().alpn(vec![protocol.alpn_id().to_vec()]).build();
        Ok(Tls {
            h1: alpn(paf::engine::alpn::Protocol::Http1),
            h2: alpn(paf::engine::alpn::Protocol::Http2),
            server_name: target.host.clone(),
        })
    }
}

/// What every worker shares: where to connect, what to send, how many.
struct Shared {
    addresses: Vec<SocketAddr>,
    /// Whether the URL is https:// (h1 over TLS).
    https: bool,
    tls: Option<Tls>,
    template: Template,
    config: Config,
    timeout: Duration,
    tickets: Tickets,
    /// Requests finished (answered or failed), for the progress bar.
    done: AtomicU64,
}

/// The permission to send one more request: `limit` of them, until stopped.
struct Tickets {
    issued: AtomicU64,
    limit: u64,
    stopped: AtomicBool,
}

impl Tickets {
    fn new(limit: u64) -> Tickets {
        Tickets { issued: AtomicU64::new(0), limit, stopped: AtomicBool::new(false) }
    }

    /// The number of the next request, if one may be sent.
    fn take(&self) -> Option<u64> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let ticket = self.issued.fetch_add(1, Ordering::Relaxed);
        (ticket < self.limit).then_some(ticket)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// One HTTP/1.1 connection's loop: a request at a time, the connection
/// opened again after a failure or a `Connection: close`.
async fn h1_worker(shared: Arc<Shared>) -> (Protocol, Tally) {
    let mut tally = Tally::new();
    let mut connection: Option<client::SendRequest> = None;
    while let Some(ticket) = shared.tickets.take() {
        let started = Monotonic::now();
        let outcome = tokio::time::timeout(shared.timeout, h1_exchange(&shared, &mut connection, ticket))
            .await
            .unwrap_or(Err("timeout"));
        if outcome.is_err() {
            connection = None;
        }
        tally.record(outcome, started.elapsed());
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    (Protocol::H1, tally)
}

async fn h1_exchange(
    shared: &Shared,
    connection: &mut Option<client::SendRequest>,
    ticket: u64,
) -> Result<Answer, &'static str> {
    let sender = match connection {
        Some(sender) if !sender.is_closed() => sender,
        _ => {
            let flow = connect(shared, Protocol::H1).await?;
            connection.insert(client::handshake(flow, &shared.config, &Tokio))
        }
    };
    let (request, sent_bytes) = shared.template.request(ticket);
    let response = sender.send(request).await.map_err(|err| error_kind(&err))?;
    if !keeps_alive(&response) {
        *connection = None;
    }
    let status = response.status();
    let body_bytes = drain(response.into_body()).await?;
    Ok(Answer { status, body_bytes, sent_bytes })
}

/// One HTTP/2 connection (h2c or h2), shared by the tasks of its streams;
/// opened by the first of them that finds it missing or closed.
struct H2Connection {
    protocol: Protocol,
    sender: tokio::sync::Mutex<Option<paf::engine::h2::SendRequest>>,
}

impl H2Connection {
    fn new(protocol: Protocol) -> H2Connection {
        H2Connection { protocol, sender: tokio::sync::Mutex::new(None) }
    }

    async fn sender(&self, shared: &Shared) -> Result<paf::engine::h2::SendRequest, &'static str> {
        let mut slot = self.sender.lock().await;
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        *slot = None;
        let flow = connect(shared, self.protocol).await?;
        let sender = paf::engine::h2::handshake(flow, &shared.config, &Tokio).await.map_err(|err| error_kind(&err))?;
        Ok(slot.insert(sender).clone())
    }
}

/// One stream's loop on an HTTP/2 connection: a request at a time.
async fn h2_worker(shared: Arc<Shared>, connection: Arc<H2Connection>) -> (Protocol, Tally) {
    let mut tally = Tally::new();
    while let Some(ticket) = shared.tickets.take() {
        let started = Monotonic::now();
        let exchange = async {
            let mut sender = connection.sender(&shared).await?;
            let (request, sent_bytes) = shared.template.request(ticket);
            let response = sender.send(request).await.map_err(|err| error_kind(&err))?;
            let status = response.status();
            let body_bytes = drain(response.into_body()).await?;
            Ok(Answer { status, body_bytes, sent_bytes })
        };
        let outcome = tokio::time::timeout(shared.timeout, exchange).await.unwrap_or(Err("timeout"));
        tally.record(outcome, started.elapsed());
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    (connection.protocol, tally)
}

/// Opens a connection for `protocol`: TCP to the first address that
/// accepts, then a TLS handshake when the protocol runs over TLS (and for
/// h2, ALPN must have chosen it).
async fn connect(shared: &Shared, protocol: Protocol) -> Result<Flow, &'static str> {
    let tcp = connect_tcp(&shared.addresses).await?;
    if !protocol.over_tls(shared.https) {
        return Ok(tcp);
    }
    let tls = shared.tls.as_ref().expect("TLS is configured when a protocol needs it");
    let config = if protocol == Protocol::H2 { &tls.h2 } else { &tls.h1 };
    let flow = paf::tls::client_of_flow(config.clone(), &tls.server_name, tcp)
        .await
        .map_err(|err| error_kind(&err))?;
    if protocol == Protocol::H2 && paf::engine::alpn::Protocol::of_flow(&flow) != paf::engine::alpn::Protocol::Http2 {
        return Err("no h2 by ALPN");
    }
    Ok(flow)
}

/// Connects to the first address that accepts.
async fn connect_tcp(addresses: &[SocketAddr]) -> Result<Flow, &'static str> {
    let mut kind = "connect failed";
    for addr in addresses {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Small requests must not wait for Nagle's algorithm.
                tcp.set_nodelay(true).map_err(|_| "connect failed")?;
                return Ok(Flow::new(tcp));
            }
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => kind = "connect refused",
            Err(err) if err.kind() == io::ErrorKind::TimedOut => kind = "connect timeout",
            Err(_) => kind = "connect failed",
        }
    }
    Err(kind)
}

/// Whether the server keeps the connection open after this response.
fn keeps_alive<B>(response: &Response<B>) -> bool {
    let has_token = |token: &str| {
        response.headers().get_all(CONNECTION).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    match response.version() {
        Version::HTTP_10 => has_token("keep-alive"),
        _ => !has_token("close"),
    }
}

/// Reads a body to its end; how many bytes it had.
async fn drain(mut body: paf::Incoming) -> Result<u64, &'static str> {
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| error_kind(&err))?;
        if let Some(data) = frame.data_ref() {
            total += data.len() as u64;
        }
    }
    Ok(total)
}

/// The kind a failed request is counted under.
fn error_kind(err: &paf::Error) -> &'static str {
    match err {
        paf::Error::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => "connection reset",
            io::ErrorKind::UnexpectedEof => "connection closed",
            io::ErrorKind::TimedOut => "timeout",
            _ => "I/O error",
        },
        paf::Error::Timeout(_) => "timeout",
        paf::Error::Tls(_) => "TLS handshake failed",
        paf::Error::Parse(_) => "protocol error",
        paf::Error::IncompleteMessage | paf::Error::Closed => "connection closed",
        paf::Error::Body(_) => "body error",
        paf::Error::InvalidMessage(_) => "invalid request",
        paf::Error::Http2(paf::error::Http2Error::StreamReset { by_peer: true, .. }) => "stream reset by the server",
        paf::Error::Http2(paf::error::Http2Error::StreamReset { by_peer: false, .. }) => "stream reset by the client",
        paf::Error::Http2(paf::error::Http2Error::GoAway { by_peer: true, .. }) => "connection closed by the server (GOAWAY)",
        paf::Error::Http2(paf::error::Http2Error::GoAway { by_peer: false, .. }) => "connection closed by the client (GOAWAY)",
        _ => "protocol error",
    }
}

/// The requests the workers send, built once: the same head, and one of
/// the bodies in turn.
struct Template {
    method: Method,
    uri: Uri,
    headers: http::HeaderMap,
    /// Request `i` gets `bodies[i % len]`; no body when empty.
    bodies: Vec<Bytes>,
}

impl Template {
    fn new(args: &Args, target: &Target) -> Result<Template, String> {
        let bodies = match (&args.data, &args.body_sizes) {
            (Some(data), _) => vec![Bytes::from(data.clone())],
            (None, Some(sizes)) => {
                // One buffer of the largest size; each body is a slice of it.
                let largest = sizes.0.iter().copied().max().unwrap_or(0) as usize;
                let pattern = Bytes::from((0..largest).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>());
                sizes.0.iter().map(|&size| pattern.slice(..size as usize)).collect()
            }
            (None, None) => Vec::new(),
        };
        let method = match (&args.method, bodies.is_empty()) {
            (Some(method), _) => method.clone(),
            (None, false) => Method::POST,
            (None, true) => Method::GET,
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::USER_AGENT, HeaderValue::from_static(concat!("paf-bench/", env!("CARGO_PKG_VERSION"))));
        for line in &args.headers {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("-H {line:?}: write \"Name: value\""))?;
            let name: HeaderName = name.trim().parse().map_err(|_| format!("-H {line:?}: invalid header name"))?;
            let value: HeaderValue = value.trim().parse().map_err(|_| format!("-H {line:?}: invalid header value"))?;
            headers.append(name, value);
        }
        Ok(Template { method, uri: target.uri.clone(), headers, bodies })
    }

    /// Request number `ticket`, and the size of its body.
    fn request(&self, ticket: u64) -> (Request<Body>, u64) {
        let (body, size) = match self.bodies.len() {
            0 => (Body::empty(), 0),
            n => {
                let bytes = self.bodies[(ticket % n as u64) as usize].clone();
                let size = bytes.len() as u64;
                (Body::from(bytes), size)
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        (request, size)
    }
}

/// What a request that got an answer brought back.
struct Answer {
    status: StatusCode,
    body_bytes: u64,
    /// The size of the request's body.
    sent_bytes: u64,
}

/// Counts and latencies of one worker, or of all merged.
struct Tally {
    latency_us: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<&'static str, u64>,
    body_bytes: u64,
    sent_bytes: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("valid histogram bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            body_bytes: 0,
            sent_bytes: 0,
        }
    }

    fn record(&mut self, outcome: Result<Answer, &'static str>, latency: Duration) {
        match outcome {
            Ok(answer) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
                self.latency_us.saturating_record(micros);
                *self.statuses.entry(answer.status.as_u16()).or_default() += 1;
                self.body_bytes += answer.body_bytes;
                self.sent_bytes += answer.sent_bytes;
            }
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.latency_us.add(&other.latency_us).expect("histograms of equal bounds");
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.body_bytes += other.body_bytes;
        self.sent_bytes += other.sent_bytes;
    }

    fn requests(&self) -> u64 {
        self.statuses.values().chain(self.errors.values()).sum()
    }

    fn succeeded(&self) -> u64 {
        self.statuses.iter().filter(|(status, _)| (200..300).contains(*status)).map(|(_, n)| n).sum()
    }

    fn failed(&self) -> u64 {
        self.requests() - self.succeeded()
    }

    fn percentiles(&self) -> [(&'static str, u64); 7] {
        let h = &self.latency_us;
        [
            ("min", h.min()),
            ("p50", h.value_at_quantile(0.50)),
            ("p90", h.value_at_quantile(0.90)),
            ("p99", h.value_at_quantile(0.99)),
            ("p99_9", h.value_at_quantile(0.999)),
            ("max", h.max()),
            ("mean", h.mean().round() as u64),
        ]
    }

    /// `"statuses":{...},"errors":{...}` of the JSON report.
    fn json_counts(&self) -> String {
        let statuses: Vec<String> = self.statuses.iter().map(|(s, n)| format!("\"{s}\":{n}")).collect();
        let errors: Vec<String> = self.errors.iter().map(|(k, n)| format!("{}:{n}", json_string(k))).collect();
        format!("\"statuses\":{{{}}},\"errors\":{{{}}}", statuses.join(","), errors.join(","))
    }

    /// The count and percentiles in `"latency_us"` (without the braces).
    fn json_latency(&self) -> String {
        let mut out = format!("\"count\":{}", self.latency_us.len());
        if !self.latency_us.is_empty() {
            for (name, micros) in self.percentiles() {
                let _ = write!(out, ",\"{name}\":{micros}");
            }
        }
        out
    }

    /// Rows of the histogram: (upper bound in µs, count), the bounds
    /// doubling from the fastest request's to the slowest one's.
    fn histogram_rows(&self) -> Vec<(u64, u64)> {
        let h = &self.latency_us;
        if h.is_empty() {
            return Vec::new();
        }
        let mut rows = Vec::new();
        let mut upper = h.min().max(1).next_power_of_two();
        let mut below = h.count_between(0, upper);
        rows.push((upper, below));
        while upper < h.max() {
            let next = upper * 2;
            let count = h.count_between(0, next) - below;
            below += count;
            upper = next;
            rows.push((upper, count));
        }
        rows
    }
}

struct Report<'a> {
    url: &'a str,
    /// The protocols, described: "HTTP/1.1", "HTTP/1.1 + HTTP/2 (h2c)".
    protocol: String,
    connections: usize,
    streams: usize,
    body_sizes: Option<&'a [u64]>,
    elapsed: Duration,
    tally: Tally,
    /// Each protocol's own tally, in the order h1, h2c, h2.
    protocols: Vec<PerProtocol>,
}

/// The connections of one protocol and what they did.
struct PerProtocol {
    protocol: Protocol,
    connections: usize,
    tally: Tally,
}

impl Report<'_> {
    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn text(&self) -> String {
        let t = &self.tally;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests to {} over {} connections ({}{}) in {:.2} s",
            t.requests(),
            self.url,
            self.connections,
            self.protocol,
            if self.streams > 1 { format!(", {} streams each", self.streams) } else { String::new() },
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(out, "  requests/s     {:.1}", self.per_second(t.requests()));
        let _ = writeln!(out, "  body bytes/s   {}", human_bytes(self.per_second(t.body_bytes)));
        if let Some(sizes) = self.body_sizes {
            let _ = writeln!(out, "  request bodies {} in turn, {} sent", sizes_text(sizes), human_bytes(t.sent_bytes as f64));
        }
        let _ = writeln!(out, "  succeeded      {}", t.succeeded());
        let _ = writeln!(out, "  failed         {}", t.failed());
        if self.protocols.len() > 1 {
            let _ = writeln!(out, "By protocol:");
            for p in &self.protocols {
                let (t, h) = (&p.tally, &p.tally.latency_us);
                let _ = write!(
                    out,
                    "  {:<4} {:>6} connections  {:>9} requests  {:>6} failed",
                    p.protocol.label(),
                    p.connections,
                    t.requests(),
                    t.failed()
                );
                if !h.is_empty() {
                    let _ = write!(
                        out,
                        "  p50 {}  p99 {}  max {}",
                        human_micros(h.value_at_quantile(0.5)),
                        human_micros(h.value_at_quantile(0.99)),
                        human_micros(h.max())
                    );
                }
                let _ = writeln!(out);
            }
        }
        if !t.statuses.is_empty() {
            let _ = writeln!(out, "Statuses:");
            for (status, n) in &t.statuses {
                let mark = if (200..300).contains(status) { "" } else { "  (failed)" };
                let _ = writeln!(out, "  {status}  {n}{mark}");
            }
        }
        if !t.errors.is_empty() {
            let _ = writeln!(out, "Errors:");
            for (kind, n) in &t.errors {
                let _ = writeln!(out, "  {kind:<18} {n}");
            }
        }
        if t.latency_us.is_empty() {
            let _ = writeln!(out, "Latency: no request was answered");
            return out;
        }
        let _ = writeln!(out, "Latency of the {} answered requests:", t.latency_us.len());
        for (name, micros) in t.percentiles() {
            let _ = writeln!(out, "  {:<6} {}", name.replace('_', "."), human_micros(micros));
        }
        let rows = t.histogram_rows();
        let tallest = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
        let _ = writeln!(out, "Histogram:");
        for (upper, n) in rows {
            let width = (n as f64 / tallest as f64 * BAR_WIDTH as f64).ceil() as usize;
            let _ = writeln!(out, "  <= {:>9}  {:<BAR_WIDTH$}  {n}", human_micros(upper), "#".repeat(width));
        }
        out
    }

    fn json(&self) -> String {
        let t = &self.tally;
        let mut out = String::from("{");
        let _ = write!(out, "\"url\":{},\"protocol\":{}", json_string(self.url), json_string(&self.protocol));
        let _ = write!(out, ",\"connections\":{},\"streams\":{}", self.connections, self.streams);
        let _ = write!(out, ",\"elapsed_s\":{:.6}", self.elapsed.as_secs_f64());
        let _ = write!(out, ",\"requests\":{},\"succeeded\":{},\"failed\":{}", t.requests(), t.succeeded(), t.failed());
        let _ = write!(out, ",\"requests_per_s\":{:.3}", self.per_second(t.requests()));
        let _ = write!(out, ",\"body_bytes\":{},\"body_bytes_per_s\":{:.3}", t.body_bytes, self.per_second(t.body_bytes));
        if let Some(sizes) = self.body_sizes {
            let sizes: Vec<String> = sizes.iter().map(u64::to_string).collect();
            let _ = write!(out, ",\"body_sizes\":[{}],\"sent_bytes\":{}", sizes.join(","), t.sent_bytes);
        }
        let _ = write!(out, ",{}", t.json_counts());
        let _ = write!(out, ",\"latency_us\":{{{}", t.json_latency());
        let quantiles: Vec<String> = QUANTILES
            .iter()
            .map(|&q| format!("[{q},{}]", t.latency_us.value_at_quantile(q)))
            .collect();
        let _ = write!(out, ",\"quantiles\":[{}]", quantiles.join(","));
        let rows: Vec<String> = t
            .histogram_rows()
            .into_iter()
            .map(|(upper, n)| format!("{{\"le_us\":{upper},\"count\":{n}}}"))
            .collect();
        let _ = write!(out, "}},\"histogram\":[{}]", rows.join(","));
        let protocols: Vec<String> = self
            .protocols
            .iter()
            .map(|p| {
                let t = &p.tally;
                format!(
                    "{}:{{\"connections\":{},\"requests\":{},\"succeeded\":{},\"failed\":{},{},\"latency_us\":{{{}}}}}",
                    json_string(p.protocol.label()),
                    p.connections,
                    t.requests(),
                    t.succeeded(),
                    t.failed(),
                    t.json_counts(),
                    t.json_latency()
                )
            })
            .collect();
        let _ = write!(out, ",\"protocols\":{{{}}}}}", protocols.join(","));
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn human_micros(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros} µs"),
        1_000..1_000_000 => format!("{:.2} ms", micros as f64 / 1e3),
        _ => format!("{:.2} s", micros as f64 / 1e6),
    }
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `--body-sizes` as the report says it: a size repeated in a row once,
/// with its count (`40 × 0 B, 1.0 MiB`).
fn sizes_text(sizes: &[u64]) -> String {
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for &size in sizes {
        match runs.last_mut() {
            Some((last, n)) if *last == size => *n += 1,
            _ => runs.push((size, 1)),
        }
    }
    let runs: Vec<String> = runs
        .into_iter()
        .map(|(size, n)| match n {
            1 => human_bytes(size as f64),
            n => format!("{n} × {}", human_bytes(size as f64)),
        })
        .collect();
    runs.join(", ")
}

/// A progress bar on stderr, hidden when stderr is no terminal or the
/// report is JSON; `total` requests, or a counter when the duration rules.
fn progress_bar(total: Option<u64>, json: bool) -> ProgressBar {
    let target = if json || !io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let (bar, template) = match total {
        Some(total) => (ProgressBar::with_draw_target(Some(total), target), "{bar:40} {pos}/{len} requests {per_sec} eta {eta}"),
        None => (ProgressBar::with_draw_target(None, target), "{spinner} {pos} requests {per_sec} {elapsed}"),
    };
    bar.with_style(ProgressStyle::with_template(template).expect("the template is valid"))
}

/// `10s`, `500ms`, `2m`, `1.5s`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is no duration (write 10s, 500ms or 2m)"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1e3,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// `--body-sizes`: `0,1k,64k,1M`, `50*0,1*1M`; k is KiB, M is MiB.
fn parse_sizes(text: &str) -> Result<BodySizes, String> {
    let mut sizes = Vec::new();
    for item in text.split(',').map(str::trim) {
        let bad = |why: &str| format!("{item:?} in --body-sizes {text:?}: {why} (write 0,1k,64k,1M or 50*0,1*1M)");
        let (times, size) = match item.split_once('*') {
            Some((times, size)) => (times.trim().parse::<usize>().map_err(|_| bad("no count before *"))?, size.trim()),
            None => (1, item),
        };
        let (number, unit) = match size.strip_suffix(['k', 'K']) {
            Some(number) => (number, 1 << 10),
            None => match size.strip_suffix('M') {
                Some(number) => (number, 1 << 20),
                None => (size, 1),
            },
        };
        let size = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .ok_or_else(|| bad("not a size"))?;
        if size > MAX_BODY {
            return Err(bad("larger than 1 GiB"));
        }
        if times == 0 || sizes.len() + times > 100_000 {
            return Err(bad("a count from 1 to 100000 in all"));
        }
        sizes.extend(std::iter::repeat_n(size, times));
    }
    Ok(BodySizes(sizes))
}

/// What the URL names: a host, a port, a request target, TLS or not.
struct Target {
    uri: Uri,
    host: String,
    port: u16,
    https: bool,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let invalid = |reason: &str| {
            paf::Error::InvalidUrl { url: url.to_string(), reason: reason.to_string() }.to_string()
        };
        let uri: Uri = url.parse().map_err(|err: http::uri::InvalidUri| invalid(&err.to_string()))?;
        let (default_port, https) = match uri.scheme_str() {
            Some("http") => (80, false),
            Some("https") => (443, true),
            Some(other) => return Err(invalid(&format!("unsupported scheme {other:?} (use http:// or https://)"))),
            None => return Err(invalid("no scheme (write http://host/path)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(default_port);
        Ok(Target { uri, host, port, https })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn histogram_rows_cover_every_answer() {
        let mut tally = Tally::new();
        for micros in [3, 40, 41, 900, 70_000] {
            let answer = Answer { status: StatusCode::OK, body_bytes: 1, sent_bytes: 0 };
            tally.record(Ok(answer), Duration::from_micros(micros));
        }
        tally.record(Err("timeout"), Duration::ZERO);
        let rows = tally.histogram_rows();
        assert_eq!(rows.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert!(rows.windows(2).all(|w| w[1].0 == w[0].0 * 2));
        assert!(rows.last().unwrap().0 >= 70_000);
        assert_eq!((tally.requests(), tally.succeeded(), tally.failed()), (6, 5, 1));
    }

    #[test]
    fn body_sizes() {
        let sizes = |text| parse_sizes(text).map(|sizes| sizes.0);
        assert_eq!(sizes("0,1024,1048576"), Ok(vec![0, 1024, 1 << 20]));
        assert_eq!(sizes("0, 1k,64K,1M"), Ok(vec![0, 1024, 64 << 10, 1 << 20]));
        assert_eq!(sizes("2*0,1*1k"), Ok(vec![0, 0, 1024]));
        for bad in ["", "x", "1G", "2048M", "0*1k", "-1", "1.5k", "*1k"] {
            assert!(sizes(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn bodies_cycle_by_request_number() {
        let template = Template {
            method: Method::POST,
            uri: Uri::from_static("http://x/echo"),
            headers: http::HeaderMap::new(),
            bodies: [0usize, 3, 5].iter().map(|&n| Bytes::from(vec![b'a'; n])).collect(),
        };
        let sizes: Vec<u64> = (0..7).map(|ticket| template.request(ticket).1).collect();
        assert_eq!(sizes, [0, 3, 5, 0, 3, 5, 0]);
        assert_eq!(sizes_text(&[0, 0, 1024, 1 << 20]), "2 × 0.0 B, 1.0 KiB, 1.0 MiB");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
