//! The engine over in-memory flows and loopback TCP: server driver, the
//! low-level client, the serve loop's guarantees (isolation, errors, stop
//! and drain), timeouts and upgrades.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use paf::engine::{client, server, upgrade};
use paf::rt::native::{TcpListener, Tokio};
use paf::{service_fn, Body, Config, Error, Flow, Incoming, Request, Response, StatusCode, Switch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::serving::raw_exchange;

const LIMIT: Duration = Duration::from_secs(10);

async fn echo(req: Request<Incoming>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => Response::new(Body::from(req.into_body())),
        "/panic" => panic!("the handler broke"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow done"))
        }
        path => Response::new(Body::from(format!("{} {path}", req.method()))),
    }
}

fn short_timeouts() -> Config {
    let mut config = Config::default();
    config.header_timeout = Duration::from_millis(300);
    config.idle_timeout = Duration::from_millis(300);
    config.body_timeout = Duration::from_millis(500);
    config.drain_timeout = Duration::from_secs(2);
    config
}

/// A server connection on one end of a pipe, a client on the other.
fn pipe_pair(config: Config) -> client::SendRequest {
    let (server_end, client_end) = Flow::pipe(64 * 1024);
    tokio::spawn(async move {
        let never = std::future::pending::<()>();
        let _ = server::serve_connection(server_end, service_fn(echo), &config, Tokio, never).await;
    });
    client::handshake(client_end, &Config::default(), &Tokio)
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://test{path}")).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn requests_on_one_connection_are_answered_in_order() {
    let mut sender = pipe_pair(Config::default());
    for path in ["/a", "/b", "/c"] {
        let response = timeout(LIMIT, sender.send(get(path))).await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.into_body().bytes().await.unwrap(), format!("GET {path}"));
    }
}

#[tokio::test]
async fn a_streamed_mebibyte_is_echoed_intact() {
    let mut sender = pipe_pair(Config::default());
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..256u32)
        .map(|i| Ok(Bytes::from(vec![(i % 251) as u8; 4096])))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.as_ref().unwrap().to_vec()).collect();
    let request = Request::post("http://test/echo")
        .body(Body::stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    let body = timeout(LIMIT, response.into_body().bytes()).await.unwrap().unwrap();
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "echoed body differs");
}

#[tokio::test]
async fn trailers_cross_a_chunked_body() {
    let mut sender = pipe_pair(Config::default());
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames = vec![
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"data"))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    let body = Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(frames)));
    let request = Request::post("http://test/echo").body(body).unwrap();
    let response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers came back");
    assert_eq!(trailers["x-checksum"], "abc");
    assert_eq!(collected.to_bytes(), "data");
}

#[tokio::test]
async fn expect_continue_gets_its_body_through() {
    let mut sender = pipe_pair(Config::default());
    let request = Request::post("http://test/echo")
        .header("expect", "100-continue")
        .body(Body::from("after the hundred"))
        .unwrap();
    let response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap(), "after the hundred");
}

#[tokio::test]
async fn a_slowloris_head_is_cut_by_the_header_timeout() {
    let (server_end, mut client_end) = Flow::pipe(1024);
    let config = short_timeouts();
    let served = tokio::spawn(async move {
        let never = std::future::pending::<()>();
        server::serve_connection(server_end, service_fn(echo), &config, Tokio, never).await
    });
    client_end.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ").await.unwrap();
    let result = timeout(LIMIT, served).await.expect("the server gave up").unwrap();
    assert!(matches!(result, Err(Error::Timeout(paf::error::Timeout::Header))), "{result:?}");
    let mut rest = Vec::new();
    client_end.read_to_end(&mut rest).await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_quietly() {
    let (server_end, client_end) = Flow::pipe(1024);
    let config = short_timeouts();
    let served = tokio::spawn(async move {
        let never = std::future::pending::<()>();
        server::serve_connection(server_end, service_fn(echo), &config, Tokio, never).await
    });
    let mut sender = client::handshake(client_end, &Config::default(), &Tokio);
    let response = sender.send(get("/")).await.unwrap();
    response.into_body().bytes().await.unwrap();
    let result = timeout(LIMIT, served).await.expect("idle timeout fired").unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_upgrade_hands_the_flow_to_both_sides() {
    let (server_end, client_end) = Flow::pipe(1024);
    let handler = service_fn(|mut req: Request<Incoming>| async move {
        let on_upgrade = upgrade::on(&mut req);
        tokio::spawn(async move {
            let mut flow = on_upgrade.await.expect("server side upgraded");
            let mut buf = [0u8; 4];
            flow.read_exact(&mut buf).await.unwrap();
            flow.write_all(&buf.map(|b| b.to_ascii_uppercase())).await.unwrap();
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "shout")
            .body(Body::empty())
            .unwrap()
    });
    tokio::spawn(async move {
        let never = std::future::pending::<()>();
        let _ = server::serve_connection(server_end, handler, &Config::default(), Tokio, never).await;
    });
    let mut sender = client::handshake(client_end, &Config::default(), &Tokio);
    let request = Request::get("http://test/")
        .header("connection", "upgrade")
        .header("upgrade", "shout")
        .body(Body::empty())
        .unwrap();
    let mut response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut flow = timeout(LIMIT, upgrade::on(&mut response)).await.unwrap().unwrap();
    flow.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    timeout(LIMIT, flow.read_exact(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf, b"PING");
}

/// Starts `serve` on loopback; returns the address, the switch and the task.
async fn start_server(
    config: Config,
    errors: Arc<AtomicUsize>,
) -> (std::net::SocketAddr, Switch, tokio::task::JoinHandle<Result<(), Error>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let switch = Switch::new();
    let handler = service_fn(echo).on_error(move |_peer: &str, _err: &Error| {
        errors.fetch_add(1, Ordering::SeqCst);
    });
    let task = tokio::spawn(paf::serve(listener, handler, config, switch.clone()));
    timeout(LIMIT, switch.initialized()).await.unwrap();
    (addr, switch, task)
}

#[tokio::test]
async fn a_stalled_client_does_not_block_the_others_and_errors_do_not_end_the_loop() {
    let errors = Arc::new(AtomicUsize::new(0));
    let (addr, switch, task) = start_server(Config::default(), errors.clone()).await;
    // Half a request head, held open: it must not hold up accept.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    for _ in 0..20 {
        let answer = raw_exchange(addr, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("GET /x"), "{answer}");
    }
    // A malformed request is answered, reported, and the loop goes on.
    let answer = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let answer = raw_exchange(addr, b"GET /y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(answer.ends_with("GET /y"), "{answer}");
    assert!(errors.load(Ordering::SeqCst) >= 1);
    drop(stalled);
    switch.stop();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn stop_drains_the_request_in_flight_and_stops_accepting() {
    let errors = Arc::new(AtomicUsize::new(0));
    let (addr, switch, task) = start_server(Config::default(), errors).await;
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    in_flight.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    switch.stop();
    let mut answer = Vec::new();
    timeout(LIMIT, in_flight.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.ends_with("slow done"), "{answer}");
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after stop");
}

#[tokio::test]
async fn a_client_reports_a_refused_and_a_truncated_exchange() {
    // A server that answers with a body shorter than its Content-Length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await.unwrap();
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").await.unwrap();
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut sender = client::handshake(Flow::new(tcp), &Config::default(), &Tokio);
    let response = timeout(LIMIT, sender.send(get("/"))).await.unwrap().unwrap();
    let body = timeout(LIMIT, response.into_body().bytes()).await.unwrap();
    assert!(body.is_err(), "a truncated body must be an error, got {body:?}");
}

#[tokio::test]
async fn a_panicking_handler_costs_its_request_a_500_and_nothing_more() {
    let errors = Arc::new(AtomicUsize::new(0));
    let (addr, switch, task) = start_server(Config::default(), errors.clone()).await;
    let answer = raw_exchange(addr, b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let answer = raw_exchange(addr, b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(answer.ends_with("GET /after"), "{answer}");
    assert_eq!(errors.load(Ordering::SeqCst), 1, "the panic reached the error handler");
    switch.stop();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_connect_tunnel_carries_raw_bytes_after_a_2xx() {
    let (server_end, client_end) = Flow::pipe(1024);
    let handler = service_fn(|mut req: Request<Incoming>| async move {
        assert_eq!(req.method(), http::Method::CONNECT);
        assert_eq!(req.uri().authority().unwrap().as_str(), "example.org:443");
        let on_upgrade = upgrade::on(&mut req);
        tokio::spawn(async move {
            let mut flow = on_upgrade.await.expect("server side tunnel");
            let mut buf = [0u8; 6];
            flow.read_exact(&mut buf).await.unwrap();
            flow.write_all(&buf).await.unwrap();
        });
        Response::new(Body::empty())
    });
    tokio::spawn(async move {
        let never = std::future::pending::<()>();
        let _ = server::serve_connection(server_end, handler, &Config::default(), Tokio, never).await;
    });
    let mut sender = client::handshake(client_end, &Config::default(), &Tokio);
    let request = Request::connect("example.org:443").body(Body::empty()).unwrap();
    let mut response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut flow = timeout(LIMIT, upgrade::on(&mut response)).await.unwrap().unwrap();
    flow.write_all(b"tunnel").await.unwrap();
    let mut buf = [0u8; 6];
    timeout(LIMIT, flow.read_exact(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf, b"tunnel");
}

/// Whether a connection whose (only) response is `answer` still takes
/// requests, seen as soon as the response head is in.
async fn open_after(request: Request<Body>, answer: &'static str) -> bool {
    let (mut server_end, client_end) = Flow::pipe(64 * 1024);
    tokio::spawn(async move {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if server_end.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        server_end.write_all(answer.as_bytes()).await.unwrap();
        let _ = server_end.read(&mut byte).await; // held open until the client goes
    });
    let mut sender = client::handshake(client_end, &Config::default(), &Tokio);
    let response = timeout(LIMIT, sender.send(request)).await.unwrap().unwrap();
    let open = !sender.is_closed();
    drop(response);
    open
}

#[tokio::test]
async fn a_connection_says_it_is_closed_as_its_last_response_comes() {
    let cases = [
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false),
        ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 200 OK\r\n\r\nuntil the close", false),
    ];
    for (answer, open) in cases {
        assert_eq!(open_after(get("/"), answer).await, open, "{answer:?}");
    }
    let closing = Request::get("http://test/").header("connection", "close").body(Body::empty()).unwrap();
    assert!(!open_after(closing, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await, "the request said close");
    let upgrading = Request::get("http://test/")
        .header("connection", "upgrade")
        .header("upgrade", "x")
        .body(Body::empty())
        .unwrap();
    let switched = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n";
    assert!(!open_after(upgrading, switched).await, "the flow goes to the upgrade");
}
