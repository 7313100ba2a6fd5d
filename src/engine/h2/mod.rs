//! HTTP/2, server and client, over any [`Flow`](crate::Flow), with the
//! `h2` crate doing the framing, HPACK and flow-control accounting.
//!
//! The shapes are those of HTTP/1.1: [`serve_connection`] runs a
//! [`Handler`](crate::Handler) on one connection, [`handshake`] gives a
//! [`SendRequest`] whose `send(Request<Body>)` resolves to a
//! `Response<Incoming>`. The same handler, request, response and body types
//! serve both protocols.
//!
//! # Flow control
//! Both directions are bounded by the HTTP/2 windows, never by memory:
//!
//! * a received body is an [`Incoming`](crate::Incoming) over the stream;
//!   the window is given back to the peer only as the reader takes data,
//!   so a slow reader stops the peer once the stream's window
//!   ([`Settings::initial_stream_window`]) is full;
//! * a body we send goes out only as fast as the peer's window opens: each
//!   chunk waits for send capacity (`reserve_capacity` / `poll_capacity`)
//!   and no more than [`Config::body_buffer`](crate::Config::body_buffer)
//!   bytes per stream are queued in the connection. A peer that opens no
//!   window for [`Config::body_timeout`](crate::Config::body_timeout) gets
//!   the stream reset (`CANCEL`) and the sender a
//!   [`Timeout::Body`].
//!
//! A peer that opens a stream and then sends its body slowly costs one
//! stream's window; one that sends nothing of it for
//! [`Config::body_timeout`](crate::Config::body_timeout) while the reader
//! waits fails the body with [`Timeout::Body`] (and the stream is reset),
//! as an HTTP/1.1 body does. The connection's idle timeout applies only
//! once no stream is open.
//!
//! # Keep-alive
//! With [`Settings::keep_alive_interval`] set, both sides PING the peer
//! every interval and drop a connection whose PING goes unanswered for
//! [`Settings::keep_alive_timeout`] ([`Timeout::KeepAlive`]).
//!
//! # Errors
//! RST_STREAM and GOAWAY become [`Error::Http2`] with the reason and the
//! side that sent it: "stream reset by the peer: CANCEL".
//!
//! # Reset streams and the clock
//! h2 remembers streams this side reset for a while, so that frames the
//! peer had already sent for them are ignored quietly; to time that it
//! reads `Instant::now()`, which panics on `wasm32-unknown-unknown`. paf
//! sets `max_concurrent_reset_streams(0)` on every connection, on every
//! target (one behaviour everywhere, no clock in the core): such late
//! frames are treated as frames for an unknown stream and answered with a
//! RST_STREAM (`STREAM_CLOSED`) of their own. The connection is unharmed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::{self, HeaderMap, HeaderValue};
use http_body::Body as _;

use crate::error::{Http2Error, Reason, Timeout};
use crate::rt::{Runtime, Timer};
use crate::{BoxError, Error};

mod client;
mod server;
mod tunnel;

pub use client::{handshake, SendRequest};
pub use server::serve_connection;
pub(crate) use server::serve_connection_after_preface;

/// The HTTP/2 preface a client sends first (RFC 9113 §3.4); on clear text
/// it announces HTTP/2 by prior knowledge (h2c).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub use crate::config::Settings;

/// The PINGs of one connection (RFC 9113 §6.7), when
/// [`Settings::keep_alive_interval`] asks for them: one every interval,
/// each answered within [`Settings::keep_alive_timeout`] or the peer is
/// dead.
pub(crate) struct KeepAlive<R> {
    ping_pong: ::h2::PingPong,
    interval: Duration,
    timeout: Duration,
    rt: R,
    /// Until the next ping, or, with a ping out, until it is late.
    sleep: crate::flow::BoxFuture<'static, ()>,
    ping_out: bool,
}

impl<R: Runtime> KeepAlive<R> {
    /// Keep-alive for the connection whose `ping_pong` this is, if
    /// `settings` ask for it.
    pub(crate) fn new(ping_pong: Option<::h2::PingPong>, settings: &Settings, rt: &R) -> Option<KeepAlive<R>> {
        let interval = settings.keep_alive_interval?;
        Some(KeepAlive {
            ping_pong: ping_pong?,
            interval,
            timeout: settings.keep_alive_timeout,
            sleep: rt.sleep(interval),
            rt: rt.clone(),
            ping_out: false,
        })
    }

    /// Ready once a ping went unanswered for the timeout: the peer is
    /// dead. (A connection that fails otherwise says so itself.)
    pub(crate) fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.ping_out {
                match self.ping_pong.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.ping_out = false;
                        self.sleep = self.rt.sleep(self.interval);
                    }
                    Poll::Ready(Err(_)) => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.ping_out {
                return Poll::Ready(());
            }
            if self.ping_pong.send_ping(::h2::Ping::opaque()).is_err() {
                return Poll::Pending;
            }
            self.ping_out = true;
            self.sleep = self.rt.sleep(self.timeout);
        }
    }
}

/// The [`StallGuard`](crate::body::StallGuard) of a received body: the
/// runtime's timer, as a stall timeout of `after`.
pub(crate) struct BodyStall<R> {
    timer: Timer<R>,
    after: Duration,
}

impl<R: Runtime> BodyStall<R> {
    pub(crate) fn new(rt: R, after: Duration) -> BodyStall<R> {
        BodyStall { timer: Timer::new(rt), after }
    }
}

impl<R: Runtime + 'static> crate::body::StallGuard for BodyStall<R> {
    fn progressed(&mut self) {
        self.timer.note_progress();
    }

    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.timer.poll(Some((Timeout::Body, self.after)), cx) {
            Some(_) => Poll::Ready(()),
            None => Poll::Pending,
        }
    }
}

fn reset_by_peer(reason: ::h2::Reason) -> Error {
    Http2Error::StreamReset { reason: Reason::from(u32::from(reason)), by_peer: true }.into()
}

/// Removes the header fields HTTP/2 forbids (RFC 9113 §8.2.2): those that
/// only make sense on one HTTP/1.1 connection. A handler written for
/// HTTP/1.1 may set them; h2 would refuse the whole message.
pub(crate) fn strip_connection_headers(headers: &mut HeaderMap) {
    if let Some(connection) = headers.remove(header::CONNECTION) {
        // `Connection: x-foo` names more connection-specific fields.
        if let Ok(names) = connection.to_str() {
            for name in names.split(',') {
                headers.remove(name.trim());
            }
        }
    }
    for name in [header::TRANSFER_ENCODING, header::UPGRADE] {
        headers.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
    if headers.get(header::TE).is_some_and(|te| te != "trailers") {
        headers.remove(header::TE);
    }
}

/// The length a `Content-Length` field announces, if valid.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Sets `Content-Length` from a body that knows its exact length, as the
/// HTTP/1.1 side does, so that both protocols answer alike.
pub(crate) fn set_content_length<B: http_body::Body>(headers: &mut HeaderMap, body: &B) {
    if headers.contains_key(header::CONTENT_LENGTH) {
        return;
    }
    if let Some(n) = body.size_hint().exact() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
}

/// Streams `body` into `stream`, each chunk only as the peer's window
/// allows, then ends the stream (with the body's trailers, if any).
///
/// On an error the stream is left as it is: the caller resets it, after
/// keeping the error where its side will see it.
pub(crate) async fn send_body<B, R>(
    stream: &mut ::h2::SendStream<Bytes>,
    body: B,
    rt: &R,
    stall: Duration,
) -> Result<(), Error>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
    R: Runtime,
{
    let mut body = std::pin::pin!(body);
    loop {
        let next = std::future::poll_fn(|cx| {
            // A peer that resets the stream stops a body that is slow to come.
            if let Poll::Ready(reset) = stream.poll_reset(cx) {
                return Poll::Ready(Err(reset.map_or_else(Error::from, reset_by_peer)));
            }
            body.as_mut().poll_frame(cx).map(|frame| Ok(frame.map(|f| f.map_err(Error::body))))
        });
        let frame = match next.await? {
            None => return stream.send_data(Bytes::new(), true).map_err(Error::from),
            Some(frame) => frame?,
        };
        let mut data = match frame.into_data() {
            Ok(mut data) => data.copy_to_bytes(data.remaining()),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => return stream.send_trailers(trailers).map_err(Error::from),
                Err(_) => continue,
            },
        };
        let last = body.is_end_stream();
        if data.is_empty() && !last {
            continue;
        }
        loop {
            let chunk = if data.is_empty() {
                data.split_off(0)
            } else {
                stream.reserve_capacity(data.len());
                let granted = wait_capacity(stream, rt, stall).await?;
                data.split_to(granted.min(data.len()))
            };
            stream.send_data(chunk, last && data.is_empty()).map_err(Error::from)?;
            if data.is_empty() {
                break;
            }
        }
        if last {
            return Ok(());
        }
    }
}

/// Waits until the stream may send at least one byte; how many it may.
async fn wait_capacity<R: Runtime>(
    stream: &mut ::h2::SendStream<Bytes>,
    rt: &R,
    stall: Duration,
) -> Result<usize, Error> {
    if stream.capacity() > 0 {
        return Ok(stream.capacity());
    }
    let mut sleep = rt.sleep(stall);
    std::future::poll_fn(|cx| poll_capacity(stream, sleep.as_mut(), cx)).await
}

fn poll_capacity(
    stream: &mut ::h2::SendStream<Bytes>,
    mut sleep: Pin<&mut (dyn std::future::Future<Output = ()> + '_)>,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, Error>> {
    loop {
        return match stream.poll_capacity(cx) {
            Poll::Ready(Some(Ok(0))) => continue,
            Poll::Ready(Some(Ok(n))) => Poll::Ready(Ok(n)),
            Poll::Ready(Some(Err(err))) => Poll::Ready(Err(Error::from(err))),
            // No more capacity ever: the stream was reset or closed.
            Poll::Ready(None) => Poll::Ready(Err(match stream.poll_reset(cx) {
                Poll::Ready(Ok(reason)) => reset_by_peer(reason),
                Poll::Ready(Err(err)) => Error::from(err),
                Poll::Pending => Error::Closed,
            })),
            Poll::Pending if sleep.as_mut().poll(cx).is_ready() => {
                stream.send_reset(::h2::Reason::CANCEL);
                Poll::Ready(Err(Error::Timeout(Timeout::Body)))
            }
            Poll::Pending => Poll::Pending,
        };
    }
}

/// Applies the settings both sides share to an h2 builder.
macro_rules! configure {
    ($builder:expr, $config:expr) => {{
        let settings: &$crate::engine::h2::Settings = &$config.h2;
        $builder
            .max_concurrent_streams(settings.max_concurrent_streams)
            .initial_window_size(settings.initial_stream_window)
            .initial_connection_window_size(settings.initial_connection_window)
            .max_frame_size(settings.max_frame_size)
            .max_header_list_size(settings.max_header_list_size)
            .max_send_buffer_size($config.body_buffer.max(1))
            // See the module documentation: no clock read on a reset.
            .max_concurrent_reset_streams(0);
    }};
}
use configure;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_specific_fields_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "close, x-hop".parse().unwrap());
        headers.insert("x-hop", "1".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        headers.insert(header::TE, "gzip".parse().unwrap());
        headers.insert("x-kept", "yes".parse().unwrap());
        strip_connection_headers(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers["x-kept"], "yes");
        headers.insert(header::TE, "trailers".parse().unwrap());
        strip_connection_headers(&mut headers);
        assert_eq!(headers[header::TE], "trailers", "TE: trailers is allowed");
    }

    #[test]
    fn resets_and_goaways_say_who_and_why() {
        let err = Error::from(Http2Error::StreamReset { reason: Reason::CANCEL, by_peer: true });
        assert_eq!(err.to_string(), "stream reset by the peer: CANCEL");
        let err = Error::from(Http2Error::GoAway { reason: Reason::from(0x1u32), by_peer: false });
        assert_eq!(err.to_string(), "connection closed by this side (GOAWAY): PROTOCOL_ERROR");
        assert_eq!(Reason::from(0x42u32).to_string(), "unknown error code 0x42");
        let h2_reset = Error::from(::h2::Error::from(::h2::Reason::REFUSED_STREAM));
        assert!(matches!(
            h2_reset,
            Error::Http2(Http2Error::StreamReset { reason: Reason::REFUSED_STREAM, .. })
        ));
    }
}
