//! The WebSocket/Wisp → TCP bridge on loopback: WebSocket tunnels over
//! HTTP/1.1 Upgrade and HTTP/2 extended CONNECT (the `h2` crate as the
//! client), Wisp streams, and every refusal of the policy with the close
//! code and reason a page sees. The client side frames with paf's own
//! sans-IO codec in the client role; the targets are TCP echo servers and
//! the `paf serve` binary.

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use paf::bridge::{Dial, Policy, Target};
use paf::flow::BoxFuture;
use paf::platform::native::NativeDial;
use paf::ws::wisp::{Packet, Reason, STREAM_TCP};
use paf::ws::{encode, CloseCode, CloseFrame, Decoder, Frame, Opcode, Role};
use paf::{Config, Flow};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use common::serving::Server;

const LIMIT: Duration = Duration::from_secs(20);

/// A TCP server that sends back what it reads.
async fn echo_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

fn allow(addr: SocketAddr) -> Target {
    Target::parse(&addr.to_string()).unwrap()
}

async fn bridge_serving<D: Dial>(policy: Policy, dial: D) -> (Server, paf::bridge::Bridge<D, paf::rt::native::Tokio>) {
    let bridge = paf::bridge::handler(policy, dial, paf::rt::native::Tokio);
    let mut config = Config::default();
    config.h2c = true;
    config.h2.enable_connect_protocol = true;
    (Server::serving(config, bridge.clone()).await, bridge)
}

/// A WebSocket client over any byte stream, framing with paf's codec in
/// the client role.
struct WsClient<S> {
    stream: S,
    decoder: Decoder,
    next_key: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    fn new(stream: S, already_read: &[u8]) -> Self {
        let mut decoder = Decoder::new(Role::Client, 16 << 20);
        decoder.receive(already_read);
        WsClient { stream, decoder, next_key: 0x1234_5678 }
    }

    async fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        self.next_key = self.next_key.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut out = BytesMut::new();
        encode(opcode, payload, Some(self.next_key.to_be_bytes()), &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next frame, `None` at the end of the stream.
    async fn frame(&mut self) -> Option<Frame> {
        let mut buf = vec![0; 64 * 1024];
        loop {
            if let Some(frame) = self.decoder.next_frame().expect("the bridge sent a valid frame") {
                return Some(frame);
            }
            let n = timeout(LIMIT, self.stream.read(&mut buf)).await.expect("a frame in time").unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.receive(&buf[..n]);
        }
    }

    /// `n` bytes of binary messages.
    async fn binary(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let frame = self.frame().await.expect("more bytes before the end");
            assert!(matches!(frame.opcode, Opcode::Binary | Opcode::Continuation), "{frame:?}");
            got.extend_from_slice(&frame.payload);
        }
        got
    }

    /// The close the bridge sends (skipping data before it).
    async fn close(&mut self) -> CloseFrame {
        loop {
            let frame = self.frame().await.expect("a close frame before the end");
            if frame.opcode == Opcode::Close {
                return CloseFrame::parse(&frame.payload).unwrap();
            }
        }
    }
}

/// Opens a WebSocket by HTTP/1.1 Upgrade; returns the response head too.
async fn open_h1(port: u16, path: &str, extra: &str) -> (WsClient<TcpStream>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(timeout(LIMIT, stream.read(&mut byte)).await.unwrap().unwrap(), 1, "the head ended early: {head:?}");
        head.push(byte[0]);
    }
    (WsClient::new(stream, &[]), String::from_utf8(head).unwrap().to_ascii_lowercase())
}

/// Waits until the bridge has `n` tunnels open (closing one takes a moment).
async fn open_tunnels_become<D: Dial>(bridge: &paf::bridge::Bridge<D, paf::rt::native::Tokio>, n: u64) {
    timeout(LIMIT, async {
        while bridge.stats().open != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} tunnels open, not {n}", bridge.stats().open));
}

/// Opens a tunnel to an echo `target` and checks that `bytes` come back.
async fn echoing_tunnel(port: u16, target: SocketAddr, extra: &str, bytes: &[u8]) -> WsClient<TcpStream> {
    let (mut ws, head) = open_h1(port, &format!("/{target}"), extra).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    ws.send(Opcode::Binary, bytes).await;
    assert_eq!(ws.binary(bytes.len()).await, bytes);
    ws
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 10) as u8).collect()
}

#[tokio::test]
async fn a_websocket_over_http1_relays_a_mebibyte_each_way_byte_for_byte() {
    let target = echo_target().await;
    let (server, bridge) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let (mut ws, head) = open_h1(server.port, &format!("/{target}"), "Sec-WebSocket-Protocol: binary\r\n").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    assert!(head.contains("sec-websocket-protocol: binary"), "{head}");

    let sent = pattern(1 << 20, 7);
    let mut echoed = Vec::new();
    // A chunk at a time: the test reads while the echo comes back.
    for chunk in sent.chunks(60_000) {
        ws.send(Opcode::Binary, chunk).await;
        echoed.extend(ws.binary(chunk.len()).await);
    }
    assert!(echoed == sent, "the echo differs from what was sent");
    ws.send(Opcode::Ping, b"still there?").await;
    let pong = ws.frame().await.unwrap();
    assert_eq!((pong.opcode, &pong.payload[..]), (Opcode::Pong, &b"still there?"[..]));
    ws.send(Opcode::Close, &CloseFrame::new(CloseCode::NORMAL, "done").payload()).await;
    assert_eq!(ws.close().await, CloseFrame::new(CloseCode::NORMAL, "done"), "the close is echoed");

    let stats = bridge.stats();
    assert_eq!((stats.bytes_up, stats.bytes_down, stats.opened, stats.refused), (1 << 20, 1 << 20, 1, 0));
}

#[tokio::test]
async fn the_target_may_be_in_the_query_and_the_target_closing_closes_the_websocket() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"hello from the target").await.unwrap();
    });
    let (server, _bridge) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let (mut ws, head) = open_h1(server.port, &format!("/?target={target}"), "").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert_eq!(ws.binary(21).await, b"hello from the target");
    let close = ws.close().await;
    assert_eq!(close.code, CloseCode::NORMAL, "{close}");
    assert_eq!(close.reason, "the target closed the connection");
}

#[tokio::test]
async fn targets_outside_the_allow_list_are_refused_with_a_reason() {
    let target = echo_target().await;
    let other = echo_target().await;
    let (server, bridge) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let (mut ws, head) = open_h1(server.port, &format!("/{other}"), "").await;
    assert!(head.starts_with("http/1.1 101"), "a page reads the reason from the close: {head}");
    let close = ws.close().await;
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
    assert_eq!(close.reason, format!("bridge: {other} is not in the allow-list"));

    let (mut ws, _) = open_h1(server.port, "/not-a-target", "").await;
    let close = ws.close().await;
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
    assert!(close.reason.contains("is not HOST:PORT"), "{close}");
    assert_eq!(bridge.stats().refused, 2);
}

/// A resolver where `intranet.test` is the loopback address of an echo
/// target, as a name of the private network would be.
#[derive(Clone)]
struct Intranet(SocketAddr);

impl Dial for Intranet {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let found = match host {
            "intranet.test" => Ok(vec![SocketAddr::new(self.0.ip(), port)]),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, format!("could not resolve host {host}"))),
        };
        Box::pin(async move { found })
    }

    fn connect(&self, address: SocketAddr) -> BoxFuture<'static, io::Result<Flow>> {
        NativeDial.connect(address)
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_unless_the_address_is_listed() {
    let target = echo_target().await;
    let name = Target { host: "intranet.test".into(), port: target.port() };
    let (server, _) = bridge_serving(Policy::new([name.clone()]), Intranet(target)).await;
    let (mut ws, _) = open_h1(server.port, &format!("/{name}"), "").await;
    let close = ws.close().await;
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
    assert!(close.reason.contains("resolves to the non-public address 127.0.0.1"), "{close}");

    let (server, _) = bridge_serving(Policy::new([name.clone(), allow(target)]), Intranet(target)).await;
    let (mut ws, _) = open_h1(server.port, &format!("/{name}"), "").await;
    ws.send(Opcode::Binary, b"listed").await;
    assert_eq!(ws.binary(6).await, b"listed");
}

#[tokio::test]
async fn pages_of_other_origins_are_refused_and_pages_listed_are_not() {
    let target = echo_target().await;
    let policy = Policy::new([allow(target)]).origins(["https://app.example".to_owned()]);
    let (server, _) = bridge_serving(policy, NativeDial).await;
    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "Origin: https://evil.example\r\n").await;
    let close = ws.close().await;
    assert_eq!(close, CloseFrame::new(CloseCode::POLICY_VIOLATION, "bridge: pages from https://evil.example may not use this bridge"));
    echoing_tunnel(server.port, target, "Origin: https://APP.example\r\n", b"ok").await;
}

#[tokio::test]
async fn tunnels_are_limited_per_client_and_slots_come_back_when_they_close() {
    let target = echo_target().await;
    let mut policy = Policy::new([allow(target)]);
    policy.max_per_client = 2;
    let (server, bridge) = bridge_serving(policy, NativeDial).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(echoing_tunnel(server.port, target, "", b"x").await);
    }
    let (mut third, _) = open_h1(server.port, &format!("/{target}"), "").await;
    let close = third.close().await;
    assert_eq!(close.code, CloseCode::TRY_AGAIN_LATER);
    assert!(close.reason.contains("2 tunnels from 127.0.0.1 are open"), "{close}");

    let mut first = open.remove(0);
    first.send(Opcode::Close, &CloseFrame::new(CloseCode::NORMAL, "").payload()).await;
    first.close().await;
    open_tunnels_become(&bridge, 1).await;
    echoing_tunnel(server.port, target, "", b"y").await;
}

#[tokio::test]
async fn an_idle_tunnel_is_closed() {
    let target = echo_target().await;
    let mut policy = Policy::new([allow(target)]);
    policy.idle_timeout = Duration::from_millis(300);
    let (server, bridge) = bridge_serving(policy, NativeDial).await;
    let mut ws = echoing_tunnel(server.port, target, "", b"once").await;
    let close = ws.close().await;
    assert_eq!(close, CloseFrame::new(CloseCode::GOING_AWAY, "bridge: idle for 0 s"));
    assert_eq!(bridge.stats().bytes_up, 4);
}

#[tokio::test]
async fn frames_that_break_rfc_6455_close_the_tunnel_with_their_code() {
    let target = echo_target().await;
    let mut policy = Policy::new([allow(target)]);
    policy.max_frame = 1024;
    let (server, _) = bridge_serving(policy, NativeDial).await;

    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "").await;
    ws.stream.write_all(&[0x82, 0x02, b'n', b'o']).await.unwrap();
    let close = ws.close().await;
    assert_eq!(close, CloseFrame::new(CloseCode::PROTOCOL_ERROR, "a client frame must be masked"));

    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "").await;
    ws.send(Opcode::Binary, &[0; 1025]).await;
    assert_eq!(ws.close().await.code, CloseCode::MESSAGE_TOO_BIG);

    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "").await;
    ws.send(Opcode::Text, b"text").await;
    assert_eq!(ws.close().await.code, CloseCode::UNSUPPORTED_DATA);

    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "").await;
    ws.send(Opcode::Close, &[0x03, 0xE8, 0xFF]).await;
    assert_eq!(ws.close().await.code, CloseCode::INVALID_PAYLOAD);
}

#[tokio::test]
async fn requests_that_are_no_websocket_get_a_status_that_says_so() {
    let target = echo_target().await;
    let (server, _) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    timeout(LIMIT, stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(answer.contains("Sec-WebSocket-Version: 13"), "{answer}");
}

/// An HTTP/2 stream as a byte stream, pumped through an in-memory duplex.
fn h2_stream_as_duplex(mut send: h2::SendStream<Bytes>, mut recv: h2::RecvStream) -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (mut read, mut write) = tokio::io::split(theirs);
    tokio::spawn(async move {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = read.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
            send.reserve_capacity(n);
            let mut chunk = Bytes::copy_from_slice(&buf[..n]);
            while !chunk.is_empty() {
                let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(granted)) => granted,
                    _ => return,
                };
                send.send_data(chunk.split_to(granted.min(chunk.len())), false).unwrap();
            }
        }
    });
    tokio::spawn(async move {
        while let Some(Ok(data)) = recv.data().await {
            let _ = recv.flow_control().release_capacity(data.len());
            if write.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    ours
}

#[tokio::test]
async fn a_websocket_over_http2_extended_connect_relays_byte_for_byte() {
    let target = echo_target().await;
    let (server, bridge) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = timeout(LIMIT, client.ready()).await.unwrap().unwrap();
    // The server's SETTINGS come after the handshake; the flag with them.
    timeout(LIMIT, async {
        while !client.is_extended_connect_protocol_enabled() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("SETTINGS_ENABLE_CONNECT_PROTOCOL from the server");
    let mut request = http::Request::connect(format!("http://127.0.0.1:{}/{target}", server.port))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = client.send_request(request, false).unwrap();
    let response = timeout(LIMIT, response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let mut ws = WsClient::new(h2_stream_as_duplex(send, response.into_body()), &[]);
    let sent = pattern(1 << 20, 3);
    let mut echoed = Vec::new();
    for chunk in sent.chunks(50_000) {
        ws.send(Opcode::Binary, chunk).await;
        echoed.extend(ws.binary(chunk.len()).await);
    }
    assert!(echoed == sent, "the echo over HTTP/2 differs");
    ws.send(Opcode::Close, &CloseFrame::new(CloseCode::NORMAL, "bye").payload()).await;
    assert_eq!(ws.close().await.reason, "bye");
    assert_eq!(bridge.stats().bytes_down, 1 << 20);

    // A plain CONNECT, or one without the WebSocket version, is no WebSocket.
    let mut request = http::Request::connect(format!("http://127.0.0.1:{}/{target}", server.port)).body(()).unwrap();
    request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    let (response, _send) = client.send_request(request, false).unwrap();
    assert_eq!(timeout(LIMIT, response).await.unwrap().unwrap().status(), 426);
}

fn wisp_packet(frame: Frame) -> Packet {
    assert_eq!(frame.opcode, Opcode::Binary, "{frame:?}");
    Packet::parse(frame.payload).unwrap()
}

#[tokio::test]
async fn wisp_carries_many_streams_over_one_websocket_and_refuses_per_stream() {
    let first = echo_target().await;
    let second = echo_target().await;
    let outside = echo_target().await;
    let (server, bridge) = bridge_serving(Policy::new([allow(first), allow(second)]), NativeDial).await;
    let (mut ws, head) = open_h1(server.port, "/wisp/", "").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert_eq!(wisp_packet(ws.frame().await.unwrap()), Packet::Continue { stream: 0, buffer: 128 });

    for (stream, target) in [(1, first), (2, second), (3, outside)] {
        let connect = Packet::Connect { stream, kind: STREAM_TCP, port: target.port(), host: target.ip().to_string() };
        ws.send(Opcode::Binary, &connect.encode()).await;
    }
    assert_eq!(wisp_packet(ws.frame().await.unwrap()), Packet::Close { stream: 3, reason: Reason::BLOCKED });
    let one = pattern(300_000, 1);
    let two = pattern(200_000, 2);
    // 40 packets per stream: past the first CONTINUE (every 32 taken).
    for (a, b) in one.chunks(7_500).zip(two.chunks(5_000)) {
        ws.send(Opcode::Binary, &Packet::Data { stream: 1, payload: Bytes::copy_from_slice(a) }.encode()).await;
        ws.send(Opcode::Binary, &Packet::Data { stream: 2, payload: Bytes::copy_from_slice(b) }.encode()).await;
    }
    let (mut got_one, mut got_two, mut continues) = (Vec::new(), Vec::new(), 0);
    while got_one.len() < one.len() || got_two.len() < two.len() {
        match wisp_packet(ws.frame().await.expect("more packets")) {
            Packet::Data { stream: 1, payload } => got_one.extend_from_slice(&payload),
            Packet::Data { stream: 2, payload } => got_two.extend_from_slice(&payload),
            Packet::Continue { stream: 1 | 2, buffer } => {
                assert!(buffer > 0 && buffer <= 128);
                continues += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(got_one == one && got_two == two, "a stream's bytes differ");
    assert!(continues >= 2, "each stream says it took packets: {continues}");

    ws.send(Opcode::Binary, &Packet::Close { stream: 1, reason: Reason::VOLUNTARY }.encode()).await;
    open_tunnels_become(&bridge, 1).await;
    let stats = bridge.stats();
    assert_eq!((stats.opened, stats.refused, stats.bytes_up), (2, 1, 500_000));

    ws.send(Opcode::Binary, &[0x07, 0, 0, 0, 0]).await;
    let close = ws.close().await;
    assert_eq!(close, CloseFrame::new(CloseCode::PROTOCOL_ERROR, "invalid Wisp packet: unknown packet type"));
}

#[tokio::test]
async fn an_http_exchange_with_paf_serve_goes_through_the_bridge() {
    let port = common::free_port();
    let _serve = common::native_server(port, &[]);
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    let (server, _) = bridge_serving(Policy::new([allow(target)]), NativeDial).await;
    let (mut ws, _) = open_h1(server.port, &format!("/{target}"), "").await;
    ws.send(Opcode::Binary, format!("GET /bytes/100000 HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n").as_bytes()).await;
    let mut answer = Vec::new();
    while let Some(frame) = ws.frame().await {
        match frame.opcode {
            Opcode::Binary => answer.extend_from_slice(&frame.payload),
            Opcode::Close => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:.200}");
    assert!(text.to_ascii_lowercase().contains("content-length: 100000"), "{text:.300}");
    let body_at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(answer.len() - body_at, 100_000);
}

#[test]
fn the_cli_requires_an_allow_list_and_says_what_is_wrong_with_one() {
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_paf")).args(args).output().unwrap();
    let missing = run(&["bridge", "--listen", "127.0.0.1:0"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--allow <HOST:PORT>"), "{missing:?}");
    let bad = run(&["bridge", "--listen", "127.0.0.1:0", "--allow", "example.com"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"example.com\" is not HOST:PORT"), "{bad:?}");
}
