//! `peer`: the programs `scripts/bench` measures, each written twice, on
//! paf and on hyper, the same way (same tokio runtime, same bytes), so that
//! only the HTTP stack differs.
//!
//! ```text
//! peer serve paf|hyper ADDR          hello-world server (HTTP/1.1, and h2c by prior knowledge)
//! peer client paf|paf-client|hyper URL -n N
//!                                    N sequential keep-alive GETs on one connection (paf-client:
//!                                    paf's high-level Client, its pool); JSON report
//! peer hold ADDR -c N --pid PID [--h2c]
//!                                    N idle keep-alive connections (HTTP/1.1, or h2c by prior
//!                                    knowledge), one request answered on each; PID's VmRSS
//!                                    before and after, JSON
//! ```
//!
//! Both servers answer every request with the same 14-byte body and the
//! same `Content-Type`; hyper adds a `Date` field, paf does not.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{CONTENT_TYPE, HOST};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What both servers answer.
const HELLO: &str = "Hello, world!\n";

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve", stack, addr] => serve(stack, addr).await,
        ["client", stack, url, rest @ ..] => client(stack, url, rest).await,
        ["hold", addr, rest @ ..] => hold(addr, rest).await,
        _ => Err("usage: peer serve paf|hyper ADDR | peer client paf|hyper URL -n N | peer hold ADDR -c N --pid PID".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("peer: {err}");
            ExitCode::FAILURE
        }
    }
}

fn option<T: std::str::FromStr>(rest: &[&str], name: &str) -> Result<Option<T>, Failure> {
    match rest.iter().position(|a| *a == name) {
        None => Ok(None),
        Some(i) => {
            let value = rest.get(i + 1).ok_or_else(|| format!("{name} needs a value"))?;
            Ok(Some(value.parse().map_err(|_| format!("{name}: cannot parse {value:?}"))?))
        }
    }
}

// ---------------------------------------------------------------------------
// Servers

async fn serve(stack: &str, addr: &str) -> Result<(), Failure> {
    match stack {
        "paf" => serve_paf(addr).await,
        "hyper" => serve_hyper(addr).await,
        other => Err(format!("unknown stack {other:?} (paf or hyper)").into()),
    }
}

async fn serve_paf(addr: &str) -> Result<(), Failure> {
    let mut config = paf::Config::default();
    // The idle-connection benchmark holds 10 000 connections at once.
    config.max_connections = 100_000;
    // HTTP/2 by prior knowledge too, as hyper's auto server does.
    config.h2c = true;
    let listener = paf::rt::native::TcpListener::bind(addr).await?;
    eprintln!("peer: paf listening on http://{}", listener.local_addr()?);
    let handler = paf::service_fn(|_request: Request<paf::Incoming>| async {
        let mut response = Response::new(paf::Body::from(HELLO));
        response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        response
    });
    paf::serve(listener, handler, config, paf::Switch::new()).await?;
    Ok(())
}

async fn serve_hyper(addr: &str) -> Result<(), Failure> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("peer: hyper listening on http://{}", listener.local_addr()?);
    let service = hyper::service::service_fn(|_request: Request<hyper::body::Incoming>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(HELLO.as_bytes())));
        response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        Ok::<_, Infallible>(response)
    });
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

// ---------------------------------------------------------------------------
// Clients

/// Sequential keep-alive GETs on one connection: what a client costs per
/// request when the server answers at once.
async fn client(stack: &str, url: &str, rest: &[&str]) -> Result<(), Failure> {
    let requests: u64 = option(rest, "-n")?.unwrap_or(10_000);
    let uri: Uri = url.parse()?;
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    let tcp = TcpStream::connect(authority.as_str()).await?;
    tcp.set_nodelay(true)?;
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let started = Instant::now();
    match stack {
        "paf" => {
            let config = paf::Config::default();
            let mut sender = paf::engine::client::handshake(paf::Flow::new(tcp), &config, &paf::rt::native::Tokio);
            for _ in 0..requests {
                let sent = Instant::now();
                let request = Request::get(uri.clone()).body(paf::Body::empty())?;
                let response = sender.send(request).await?;
                drain(response.into_body()).await?;
                latency_us.saturating_record(sent.elapsed().as_micros() as u64);
            }
        }
        "paf-client" => {
            // The high-level client (pool, redirects, timeouts), as the
            // npm package's runs in wasm.
            let client = paf::Client::new();
            for _ in 0..requests {
                let sent = Instant::now();
                let response = client.get(uri.clone()).await?;
                drain(response.into_body()).await?;
                latency_us.saturating_record(sent.elapsed().as_micros() as u64);
            }
        }
        "hyper" => {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(connection);
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
            for _ in 0..requests {
                let sent = Instant::now();
                sender.ready().await?;
                // hyper's low-level client sends the target as given and
                // adds no Host; paf derives both from the absolute URI.
                let request = Request::get(path.as_str())
                    .header(HOST, authority.as_str())
                    .body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                drain(response.into_body()).await?;
                latency_us.saturating_record(sent.elapsed().as_micros() as u64);
            }
        }
        other => return Err(format!("unknown stack {other:?} (paf, paf-client or hyper)").into()),
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The quantiles `paf bench --json` lists, for the plots.
    let quantiles: Vec<String> = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0]
        .iter()
        .map(|&q| format!("[{q},{}]", latency_us.value_at_quantile(q)))
        .collect();
    println!(
        "{{\"stack\":\"{stack}\",\"requests\":{requests},\"elapsed_s\":{elapsed:.6},\"requests_per_s\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"quantiles\":[{}]}}",
        requests as f64 / elapsed,
        latency_us.value_at_quantile(0.5),
        latency_us.value_at_quantile(0.99),
        latency_us.max(),
        quantiles.join(","),
    );
    Ok(())
}

async fn drain<B>(mut body: B) -> Result<u64, Failure>
where
    B: http_body::Body + Unpin,
    B::Error: Into<Failure>,
{
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(Into::into)?.data_ref() {
            total += bytes::Buf::remaining(data) as u64;
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Idle connections

/// How many connections are being opened at once: more overflows the
/// listen backlog, and the kernel then drops SYNs (a one-second retry).
const OPENING_AT_ONCE: usize = 100;

/// Opens `-c` keep-alive connections to `addr`, each with one request
/// answered (so the server holds a connection past its first exchange),
/// then reports the server's (`--pid`) resident memory before and after.
async fn hold(addr: &str, rest: &[&str]) -> Result<(), Failure> {
    let count: usize = option(rest, "-c")?.unwrap_or(10_000);
    let pid: u32 = option(rest, "--pid")?.ok_or("--pid PID (the server's) is needed")?;
    let h2c = rest.contains(&"--h2c");
    let addr: SocketAddr = addr.parse()?;
    let before = vm_rss_kib(pid)?;
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..count {
        let permit = semaphore.clone().acquire_owned().await?;
        opening.spawn(async move {
            let held = if h2c { open_idle_h2c(addr).await } else { open_idle(addr).await };
            drop(permit);
            held
        });
    }
    let mut held = Vec::with_capacity(count);
    while let Some(result) = opening.join_next().await {
        held.push(result??);
    }
    // Let the server settle (its tasks park, buffers are released).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = vm_rss_kib(pid)?;
    println!(
        "{{\"connections\":{},\"rss_kib_before\":{before},\"rss_kib_after\":{after},\"per_connection_bytes\":{:.0}}}",
        held.len(),
        (after.saturating_sub(before) * 1024) as f64 / held.len().max(1) as f64
    );
    drop(held);
    Ok(())
}

/// An HTTP/2 connection (by prior knowledge) with one request answered on
/// it, kept open: its sender and the task that drives it.
async fn open_idle_h2c(addr: SocketAddr) -> Result<Held, Failure> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
    let driving = tokio::spawn(connection);
    let request = Request::get(format!("http://{addr}/")).body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request)).await??;
    let body = response.into_body().collect().await?.to_bytes();
    if body != HELLO.as_bytes() {
        return Err(format!("unexpected answer over h2c: {body:?}").into());
    }
    Ok(Box::new((sender, driving)))
}

/// What keeps an idle connection open.
type Held = Box<dyn std::any::Any + Send>;

async fn open_idle(addr: SocketAddr) -> Result<Held, Failure> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut seen = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !seen.ends_with(HELLO.as_bytes()) {
        let n = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf)).await??;
        if n == 0 {
            return Err("the server closed a connection that should stay idle".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(Box::new(tcp))
}

fn vm_rss_kib(pid: u32) -> Result<u64, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).ok_or("malformed VmRSS")?.parse()?)
}
