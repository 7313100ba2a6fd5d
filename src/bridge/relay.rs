//! The tunnels: WebSocket frames to and from a TCP target, one target per
//! WebSocket or many as Wisp streams, under the bridge's policy.
//!
//! Each direction moves as fast as the slower side takes it: a write is
//! awaited before the next read, so a slow target holds the client's
//! frames back in TCP and a slow page holds the target's bytes back.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::future::{select, Either};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use super::policy::{Counters, Slot};
use super::{Dial, Policy, Refusal, Target};
use crate::rt::{within, Runtime};
use crate::ws::wisp::{Packet, Reason, STREAM_TCP};
use crate::ws::{encode, CloseCode, CloseFrame, Decoder, Opcode, Role};
use crate::Flow;

/// How many DATA packets a Wisp stream buffers before the target takes
/// them: what a client may send ahead (CONTINUE).
const WISP_BUFFER: u32 = 128;
/// The read size from targets: the payload of one frame or DATA packet.
const READ_SIZE: usize = 32 * 1024;
/// How long a closing WebSocket waits for the client's close in return.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) struct Shared<D, R> {
    pub(super) policy: Policy,
    dial: D,
    pub(super) rt: R,
    pub(super) counters: Arc<Counters>,
}

/// The WebSocket close a refusal ends with.
pub(super) fn close_code(refusal: &Refusal) -> CloseCode {
    match refusal {
        Refusal::Limit(_) => CloseCode::TRY_AGAIN_LATER,
        Refusal::Unreachable { .. } => CloseCode::BAD_GATEWAY,
        _ => CloseCode::POLICY_VIOLATION,
    }
}

/// The Wisp CLOSE reason of a refusal.
fn wisp_reason(refusal: &Refusal) -> Reason {
    match refusal {
        Refusal::Limit(_) => Reason::THROTTLED,
        Refusal::Invalid(_) => Reason::INVALID,
        Refusal::Unreachable { .. } => Reason::UNREACHABLE,
        _ => Reason::BLOCKED,
    }
}

/// Closes a WebSocket that has not started relaying.
pub(super) async fn close<R: Runtime>(ws: Flow, frame: CloseFrame, rt: &R) {
    let (reader, sender) = split(ws, 125);
    sender.finish(reader, &frame, rt).await;
}

fn split(ws: Flow, max_frame: usize) -> (WsReader, WsSender) {
    let (read, write) = tokio::io::split(ws);
    let reader = WsReader { read, decoder: Decoder::new(Role::Server, max_frame), buf: vec![0; READ_SIZE] };
    (reader, WsSender(Arc::new(tokio::sync::Mutex::new(write))))
}

/// What the client sent next.
enum Event {
    /// Bytes of a binary message; `fin` on its last frame.
    Data { payload: Bytes, fin: bool },
    /// The client's close frame.
    Closed(CloseFrame),
    /// The client broke the protocol: close with this.
    Failed(CloseFrame),
    /// The connection ended without a close.
    Gone,
}

struct WsReader {
    read: ReadHalf<Flow>,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl WsReader {
    /// The next data, close or failure; answers pings on the way.
    async fn next(&mut self, sender: &WsSender) -> Event {
        loop {
            let frame = match self.decoder.next_frame() {
                Err(close) => return Event::Failed(close),
                Ok(Some(frame)) => frame,
                Ok(None) => match self.read.read(&mut self.buf).await {
                    Ok(0) | Err(_) => return Event::Gone,
                    Ok(n) => {
                        self.decoder.receive(&self.buf[..n]);
                        continue;
                    }
                },
            };
            match frame.opcode {
                Opcode::Binary | Opcode::Continuation => return Event::Data { payload: frame.payload, fin: frame.fin },
                Opcode::Text => {
                    return Event::Failed(CloseFrame::new(CloseCode::UNSUPPORTED_DATA, "this bridge relays binary messages only"))
                }
                Opcode::Close => {
                    return Event::Closed(CloseFrame::parse(&frame.payload).expect("the decoder checked it"))
                }
                Opcode::Ping => {
                    if sender.frame(Opcode::Pong, &frame.payload).await.is_err() {
                        return Event::Gone;
                    }
                }
                Opcode::Pong => {}
            }
        }
    }
}

/// The sending half of a WebSocket, shared by whatever sends on it.
#[derive(Clone)]
struct WsSender(Arc<tokio::sync::Mutex<WriteHalf<Flow>>>);

impl WsSender {
    async fn frame(&self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        let mut out = BytesMut::new();
        encode(opcode, payload, None, &mut out);
        let mut write = self.0.lock().await;
        write.write_all(&out).await?;
        write.flush().await
    }

    async fn packet(&self, packet: &Packet) -> io::Result<()> {
        self.frame(Opcode::Binary, &packet.encode()).await
    }

    /// Ends the WebSocket as `end` says: echoes the client's close, or
    /// sends the bridge's and waits for the client's.
    async fn end<R: Runtime>(&self, end: End, reader: WsReader, rt: &R) {
        match end {
            End::Client(frame) => {
                if let Some(frame) = frame {
                    let _ = self.frame(Opcode::Close, &frame.payload()).await;
                }
                let _ = self.0.lock().await.shutdown().await;
            }
            End::Close(frame) => self.finish(reader, &frame, rt).await,
        }
    }

    /// Sends `frame`, then waits a little for the client's close in
    /// return (so that ours is read before the connection goes).
    async fn finish<R: Runtime>(&self, mut reader: WsReader, frame: &CloseFrame, rt: &R) {
        if self.frame(Opcode::Close, &frame.payload()).await.is_err() {
            return;
        }
        let _ = within(rt, CLOSE_WAIT, async {
            while let Event::Data { .. } = reader.next(self).await {}
        })
        .await;
        let _ = self.0.lock().await.shutdown().await;
    }
}

/// Completes once nothing has moved on `activity` for the idle timeout.
async fn idle<R: Runtime>(rt: &R, timeout: std::time::Duration, activity: &AtomicU64) {
    loop {
        let seen = activity.load(Ordering::Relaxed);
        rt.sleep(timeout).await;
        if activity.load(Ordering::Relaxed) == seen {
            return;
        }
    }
}

/// The output of whichever of three futures completes first (the two
/// directions of a tunnel and its idle timer); the others are dropped.
async fn first_of<T>(a: impl Future<Output = T>, b: impl Future<Output = T>, c: impl Future<Output = T>) -> T {
    let (a, b, c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
    match select(select(a, b), c).await {
        Either::Left((Either::Left((end, _)) | Either::Right((end, _)), _)) => end,
        Either::Right((end, _)) => end,
    }
}

/// How a tunnel ended.
enum End {
    /// The client closed (or went): echo its close, if any.
    Client(Option<CloseFrame>),
    /// The bridge closes with this.
    Close(CloseFrame),
}

impl<D: Dial, R: Runtime> Shared<D, R> {
    pub(super) fn new(policy: Policy, dial: D, rt: R) -> Self {
        Shared { policy, dial, rt, counters: Arc::default() }
    }

    /// A connection to a target (allowed: see [`Shared::admit`]), at an
    /// address the policy allows.
    async fn reach(&self, target: &Target) -> Result<Flow, Refusal> {
        let unreachable = |message: String| Refusal::Unreachable { target: target.clone(), message };
        let timed_out = || unreachable(format!("no connection within {} s", self.policy.connect_timeout.as_secs()));
        let connect = async {
            let addresses = self.dial.lookup(&target.host, target.port).await.map_err(|e| unreachable(e.to_string()))?;
            let mut last = String::new();
            for address in self.policy.usable(target, addresses)? {
                match self.dial.connect(address).await {
                    Ok(flow) => return Ok(flow),
                    Err(err) => last = err.to_string(),
                }
            }
            Err(unreachable(last))
        };
        within(&self.rt, self.policy.connect_timeout, connect).await.unwrap_or_else(|| Err(timed_out()))
    }

    /// A tunnel's slot, for a target in the allow-list, within the limits.
    fn admit(&self, target: &Target, client: Option<IpAddr>) -> Result<Slot, Refusal> {
        self.policy.check_target(target)?;
        self.counters.take_slot(&self.policy, client)
    }

    /// Relays one WebSocket to `target`.
    pub(super) async fn tunnel(self: Arc<Self>, ws: Flow, target: Target, client: Option<IpAddr>) {
        let (mut reader, sender) = split(ws, self.policy.max_frame);
        let reached = match self.admit(&target, client) {
            Ok(slot) => self.reach(&target).await.map(|flow| (slot, flow)),
            Err(refusal) => Err(refusal),
        };
        let (_slot, flow) = match reached {
            Ok(reached) => reached,
            Err(refusal) => {
                self.counters.refused();
                tracing::info!(?client, %refusal, "refused");
                let frame = CloseFrame::new(close_code(&refusal), &refusal.to_string());
                return sender.finish(reader, &frame, &self.rt).await;
            }
        };
        let (mut target_read, mut target_write) = tokio::io::split(flow);
        let activity = AtomicU64::new(0);
        let (mut up, mut down) = (0u64, 0u64);
        let client_to_target = async {
            loop {
                match reader.next(&sender).await {
                    Event::Data { payload, .. } => {
                        if let Err(err) = target_write.write_all(&payload).await {
                            return End::Close(CloseFrame::new(CloseCode::BAD_GATEWAY, &format!("bridge: {target}: {err}")));
                        }
                        up += payload.len() as u64;
                        self.counters.bytes_up.fetch_add(payload.len() as u64, Ordering::Relaxed);
                        activity.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Closed(frame) => return End::Client(Some(frame)),
                    Event::Failed(frame) => return End::Close(frame),
                    Event::Gone => return End::Client(None),
                }
            }
        };
        let target_to_client = async {
            let mut buf = vec![0; READ_SIZE];
            loop {
                let n = match target_read.read(&mut buf).await {
                    Ok(0) => return End::Close(CloseFrame::new(CloseCode::NORMAL, "the target closed the connection")),
                    Ok(n) => n,
                    Err(err) => return End::Close(CloseFrame::new(CloseCode::BAD_GATEWAY, &format!("bridge: {target}: {err}"))),
                };
                if sender.frame(Opcode::Binary, &buf[..n]).await.is_err() {
                    return End::Client(None);
                }
                down += n as u64;
                self.counters.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                activity.fetch_add(1, Ordering::Relaxed);
            }
        };
        let timeout = self.policy.idle_timeout;
        let idle = async {
            idle(&self.rt, timeout, &activity).await;
            End::Close(CloseFrame::new(CloseCode::GOING_AWAY, &format!("bridge: idle for {} s", timeout.as_secs())))
        };
        let end = first_of(client_to_target, target_to_client, idle).await;
        let _ = target_write.shutdown().await;
        tracing::info!(?client, %target, up, down, "tunnel closed");
        sender.end(end, reader, &self.rt).await;
    }

    /// Serves Wisp v1 on one WebSocket until it closes.
    pub(super) async fn wisp(self: Arc<Self>, ws: Flow, client: Option<IpAddr>) {
        let (mut reader, sender) = split(ws, self.policy.max_frame);
        let streams: Streams = Arc::default();
        if sender.packet(&Packet::Continue { stream: 0, buffer: WISP_BUFFER }).await.is_err() {
            return;
        }
        let mut message = BytesMut::new();
        let end = loop {
            let (payload, fin) = match reader.next(&sender).await {
                Event::Data { payload, fin } => (payload, fin),
                Event::Closed(frame) => break End::Client(Some(frame)),
                Event::Failed(frame) => break End::Close(frame),
                Event::Gone => break End::Client(None),
            };
            if message.len() + payload.len() > self.policy.max_frame {
                break End::Close(CloseFrame::new(CloseCode::MESSAGE_TOO_BIG, "a Wisp packet larger than the bridge takes"));
            }
            message.extend_from_slice(&payload);
            if !fin {
                continue;
            }
            match Packet::parse(message.split().freeze()) {
                Ok(packet) => self.clone().on_packet(packet, &sender, &streams, client).await,
                Err(err) => break End::Close(CloseFrame::new(CloseCode::PROTOCOL_ERROR, &err.to_string())),
            }
        };
        // Every stream's sender goes: their tasks end and close their targets.
        streams.lock().unwrap_or_else(|p| p.into_inner()).clear();
        sender.end(end, reader, &self.rt).await;
    }

    async fn on_packet(self: Arc<Self>, packet: Packet, sender: &WsSender, streams: &Streams, client: Option<IpAddr>) {
        let close = |stream, reason| Packet::Close { stream, reason };
        match packet {
            Packet::Connect { stream, kind, port, host } => {
                let opened = if kind != STREAM_TCP {
                    Err(Refusal::Invalid(format!("stream type {kind} is not TCP")))
                } else if stream == 0 || lock(streams).contains_key(&stream) {
                    Err(Refusal::Invalid(format!("stream {stream} is in use")))
                } else {
                    let target = Target::parse(&format!("{host}:{port}"));
                    target.and_then(|target| Ok((self.admit(&target, client)?, target)))
                };
                match opened {
                    Ok((slot, target)) => {
                        let (tx, rx) = mpsc::channel(WISP_BUFFER as usize);
                        lock(streams).insert(stream, tx);
                        let task = self.clone().wisp_stream(stream, target, rx, sender.clone(), slot, streams.clone());
                        self.rt.spawn(Box::pin(task));
                    }
                    Err(refusal) => {
                        self.counters.refused();
                        tracing::info!(?client, %refusal, "refused");
                        let _ = sender.packet(&close(stream, wisp_reason(&refusal))).await;
                    }
                }
            }
            Packet::Data { stream, payload } => {
                let overrun = match lock(streams).get(&stream) {
                    Some(tx) => matches!(tx.try_send(payload), Err(mpsc::error::TrySendError::Full(_))),
                    None => false,
                };
                if overrun {
                    // More than the CONTINUEs allowed: the client broke the protocol.
                    lock(streams).remove(&stream);
                    let _ = sender.packet(&close(stream, Reason::THROTTLED)).await;
                }
            }
            Packet::Close { stream, .. } => {
                lock(streams).remove(&stream);
            }
            Packet::Continue { .. } => {}
        }
    }

    /// One Wisp stream: the target's bytes out as DATA, the client's DATA
    /// in, a CONTINUE every quarter of the buffer taken.
    async fn wisp_stream(
        self: Arc<Self>,
        id: u32,
        target: Target,
        mut from_client: mpsc::Receiver<Bytes>,
        sender: WsSender,
        _slot: Slot,
        streams: Streams,
    ) {
        let flow = match self.reach(&target).await {
            Ok(flow) => flow,
            Err(refusal) => {
                self.counters.refused();
                tracing::info!(%refusal, "refused");
                lock(&streams).remove(&id);
                let _ = sender.packet(&Packet::Close { stream: id, reason: wisp_reason(&refusal) }).await;
                return;
            }
        };
        let (mut target_read, mut target_write) = tokio::io::split(flow);
        let activity = AtomicU64::new(0);
        let client_to_target = async {
            let mut taken = 0u32;
            while let Some(bytes) = from_client.recv().await {
                target_write.write_all(&bytes).await.map_err(|_| Reason::NETWORK_ERROR)?;
                self.counters.bytes_up.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                activity.fetch_add(1, Ordering::Relaxed);
                taken += 1;
                if taken % (WISP_BUFFER / 4) == 0 {
                    let buffer = WISP_BUFFER - from_client.len() as u32;
                    sender.packet(&Packet::Continue { stream: id, buffer }).await.map_err(|_| Reason::NETWORK_ERROR)?;
                }
            }
            // The client closed the stream, or the WebSocket went.
            Ok(())
        };
        let target_to_client = async {
            let mut buf = vec![0; READ_SIZE];
            loop {
                let n = target_read.read(&mut buf).await.map_err(|_| Reason::NETWORK_ERROR)?;
                if n == 0 {
                    return Err(Reason::VOLUNTARY);
                }
                let payload = Bytes::copy_from_slice(&buf[..n]);
                sender.packet(&Packet::Data { stream: id, payload }).await.map_err(|_| Reason::NETWORK_ERROR)?;
                self.counters.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                activity.fetch_add(1, Ordering::Relaxed);
            }
        };
        let idle = async {
            idle(&self.rt, self.policy.idle_timeout, &activity).await;
            Err(Reason::TIMEOUT)
        };
        let end: Result<(), Reason> = first_of(client_to_target, target_to_client, idle).await;
        let _ = target_write.shutdown().await;
        let was_open = lock(&streams).remove(&id).is_some();
        if let (Err(reason), true) = (end, was_open) {
            let _ = sender.packet(&Packet::Close { stream: id, reason }).await;
        }
        tracing::info!(%target, stream = id, "wisp stream closed");
    }
}

type Streams = Arc<Mutex<HashMap<u32, mpsc::Sender<Bytes>>>>;

fn lock(streams: &Streams) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::Sender<Bytes>>> {
    streams.lock().unwrap_or_else(|p| p.into_inner())
}
