//! Bodies: [`Incoming`] is what a peer sends (a request body on a server, a
//! response body on a client), streamed with back-pressure from the
//! connection; [`Body`] is what paf sends, from bytes or from any
//! `http_body::Body`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::error::Timeout;
use crate::flow::MaybeSend;
use crate::{BoxError, Error};

/// A body received from the peer, streamed as the connection reads it.
///
/// The connection reads more from the transport only while this body has
/// room, so a slow reader throttles the peer instead of filling memory.
/// Dropping it unread tells the connection to discard the rest (or close).
#[derive(Debug)]
pub struct Incoming {
    kind: IncomingKind,
    end_hook: Option<EndHook>,
    /// The facts of the connection the request came on (an
    /// `engine::Connection`, read by `Connection::of`), type-erased: this
    /// module sits below `engine` in the layers (docs/ARCHITECTURE.md).
    connection: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

/// Called once the body is over: with `true` when it was read to its end,
/// `false` when it failed or was dropped first. (In a mutex, which is
/// never contended, so that a body can be shared by reference across
/// threads while a handler awaits.)
struct EndHook(std::sync::Mutex<HookFn>);

#[cfg(not(target_family = "wasm"))]
type HookFn = Box<dyn FnOnce(bool) + Send>;
#[cfg(target_family = "wasm")]
type HookFn = Box<dyn FnOnce(bool)>;

impl std::fmt::Debug for EndHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndHook")
    }
}

#[derive(Debug)]
enum IncomingKind {
    Empty,
    /// A body the connection had whole with its head: its bytes, until
    /// the reader takes them.
    Whole(Option<Bytes>),
    Channel { shared: Arc<Mutex<Channel>>, length: Option<u64> },
    /// An HTTP/2 stream: h2 buffers at most the stream's window, and the
    /// window reopens only as the reader takes data. `stall` bounds how
    /// long a reader waits with nothing coming (in a mutex for the same
    /// reason as [`EndHook`]; taken with `get_mut`, never locked).
    H2 { stream: ::h2::RecvStream, length: Option<u64>, taken: u64, data_done: bool, stall: Mutex<Box<dyn StallGuard>> },
}

/// How long the reader of an HTTP/2 body may wait with nothing arriving:
/// `engine::h2` gives one (the runtime's timer, armed with
/// [`Config::body_timeout`](crate::Config::body_timeout)); a stall ends
/// the body with [`Timeout::Body`].
pub(crate) trait StallGuard: MaybeSend + 'static {
    /// Bytes arrived: the wait starts over.
    fn progressed(&mut self);
    /// The reader waits with nothing to read: ready once it has waited
    /// too long.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl std::fmt::Debug for dyn StallGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StallGuard")
    }
}

#[derive(Debug, Default)]
struct Channel {
    frames: VecDeque<Frame<Bytes>>,
    queued: usize,
    taken: u64,
    capacity: usize,
    finished: bool,
    error: Option<Error>,
    receiver_gone: bool,
    receiver_polled: bool,
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
}

impl Incoming {
    fn of_kind(kind: IncomingKind) -> Incoming {
        Incoming { kind, end_hook: None, connection: None }
    }

    /// What a server attached of the connection the request came on.
    pub(crate) fn connection(&self) -> Option<&Arc<dyn std::any::Any + Send + Sync>> {
        self.connection.as_ref()
    }

    /// `connection` is made once per connection: a clone is no allocation.
    pub(crate) fn set_connection(&mut self, connection: Arc<dyn std::any::Any + Send + Sync>) {
        self.connection = Some(connection);
    }

    /// A body with nothing in it.
    pub fn empty() -> Incoming {
        Incoming::of_kind(IncomingKind::Empty)
    }

    /// A body received whole already.
    pub(crate) fn whole(bytes: Bytes) -> Incoming {
        let bytes = (!bytes.is_empty()).then_some(bytes);
        Incoming::of_kind(IncomingKind::Whole(bytes))
    }

    /// Whether all of the body has come from the connection (it may not
    /// have been read yet): the connection owes it nothing more.
    pub(crate) fn is_received(&self) -> bool {
        match &self.kind {
            IncomingKind::Empty | IncomingKind::Whole(_) => true,
            IncomingKind::Channel { shared, .. } => shared.lock().expect("body channel poisoned").finished,
            IncomingKind::H2 { stream, .. } => stream.is_end_stream(),
        }
    }

    /// A body fed by the connection through the returned sender, which
    /// queues up to `capacity` bytes before it reports no room.
    pub(crate) fn channel(capacity: usize, length: Option<u64>) -> (BodySender, Incoming) {
        let shared = Arc::new(Mutex::new(Channel { capacity, ..Channel::default() }));
        let sender = BodySender { shared: shared.clone(), finished: false };
        (sender, Incoming::of_kind(IncomingKind::Channel { shared, length }))
    }

    /// The body of an HTTP/2 stream, `length` long if its head said so,
    /// failing once `stall` says the peer sent nothing for too long.
    pub(crate) fn h2(stream: ::h2::RecvStream, length: Option<u64>, stall: impl StallGuard) -> Incoming {
        let stall = Mutex::new(Box::new(stall) as Box<dyn StallGuard>);
        Incoming::of_kind(IncomingKind::H2 { stream, length, taken: 0, data_done: false, stall })
    }

    /// Calls `hook` once the body is over: with `true` when it is read to
    /// its end, `false` when it fails or is dropped first (a client gives
    /// an HTTP/1.1 connection back to its pool so, with no task of its
    /// own).
    pub(crate) fn on_end(mut self, hook: impl FnOnce(bool) + MaybeSend + 'static) -> Incoming {
        self.end_hook = Some(EndHook(std::sync::Mutex::new(Box::new(hook))));
        self
    }

    fn end(&mut self, complete: bool) {
        if let Some(EndHook(hook)) = self.end_hook.take() {
            let hook = hook.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
            hook(complete);
        }
    }

    /// Reads the whole body into memory.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        use http_body_util::BodyExt;
        Ok(self.collect().await?.to_bytes())
    }
}

impl http_body::Body for Incoming {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = self.poll_kind(cx);
        match &polled {
            Poll::Ready(None) => self.end(true),
            Poll::Ready(Some(Err(_))) => self.end(false),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            IncomingKind::Empty => true,
            IncomingKind::Whole(bytes) => bytes.is_none(),
            IncomingKind::H2 { stream, .. } => stream.is_end_stream(),
            IncomingKind::Channel { shared, .. } => {
                let ch = shared.lock().expect("body channel poisoned");
                ch.finished && ch.frames.is_empty() && ch.error.is_none()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            IncomingKind::Empty => SizeHint::with_exact(0),
            IncomingKind::Whole(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            IncomingKind::Channel { shared, length: Some(n) } => {
                let taken = shared.lock().expect("body channel poisoned").taken;
                SizeHint::with_exact(n.saturating_sub(taken))
            }
            IncomingKind::Channel { length: None, .. } => SizeHint::default(),
            IncomingKind::H2 { length: Some(n), taken, .. } => {
                SizeHint::with_exact(n.saturating_sub(*taken))
            }
            IncomingKind::H2 { length: None, .. } => SizeHint::default(),
        }
    }
}

impl Incoming {
    fn poll_kind(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let shared = match &mut self.kind {
            IncomingKind::Empty => return Poll::Ready(None),
            IncomingKind::Whole(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            IncomingKind::Channel { shared, .. } => shared,
            IncomingKind::H2 { stream, taken, data_done, stall, .. } => {
                let stall = stall.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
                return match poll_h2_frame(stream, taken, data_done, cx) {
                    Poll::Pending => match stall.poll_stalled(cx) {
                        Poll::Ready(()) => Poll::Ready(Some(Err(Error::Timeout(Timeout::Body)))),
                        Poll::Pending => Poll::Pending,
                    },
                    ready => {
                        stall.progressed();
                        ready
                    }
                };
            }
        };
        let mut ch = shared.lock().expect("body channel poisoned");
        ch.receiver_polled = true;
        if let Some(frame) = ch.frames.pop_front() {
            if let Some(data) = frame.data_ref() {
                ch.queued -= data.len();
                ch.taken += data.len() as u64;
            }
            if let Some(waker) = ch.sender_waker.take() {
                waker.wake();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(err) = ch.error.take() {
            return Poll::Ready(Some(Err(err)));
        }
        if ch.finished {
            return Poll::Ready(None);
        }
        ch.receiver_waker = Some(cx.waker().clone());
        // The connection may be waiting for the first poll (100-continue).
        if let Some(waker) = ch.sender_waker.take() {
            waker.wake();
        }
        Poll::Pending
    }
}

/// The next frame of an HTTP/2 body: its data, then its trailers. Each
/// chunk's bytes go back to the peer's window as the reader takes them.
fn poll_h2_frame(
    stream: &mut ::h2::RecvStream,
    taken: &mut u64,
    data_done: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
    if !*data_done {
        match stream.poll_data(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                // Fails only for a stream already closed: nothing to give back.
                let _ = stream.flow_control().release_capacity(data.len());
                *taken += data.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(Error::from(err)))),
            Poll::Ready(None) => *data_done = true,
        }
    }
    match stream.poll_trailers(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
        Poll::Ready(Ok(None)) => Poll::Ready(None),
        Poll::Ready(Err(err)) => Poll::Ready(Some(Err(Error::from(err)))),
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let complete = http_body::Body::is_end_stream(self);
        self.end(complete);
        if let IncomingKind::Channel { shared, .. } = &self.kind {
            let mut ch = shared.lock().expect("body channel poisoned");
            ch.receiver_gone = true;
            ch.frames.clear();
            ch.queued = 0;
            if let Some(waker) = ch.sender_waker.take() {
                waker.wake();
            }
        }
    }
}

impl Channel {
    fn has_room(&self) -> bool {
        self.receiver_gone || self.queued < self.capacity
    }
}

/// The connection's end of an [`Incoming`] body.
#[derive(Debug)]
pub(crate) struct BodySender {
    shared: Arc<Mutex<Channel>>,
    finished: bool,
}

impl BodySender {
    /// Whether the body can take more bytes now; if not, the current task
    /// is woken when it can (or when the reader goes away).
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> bool {
        let mut ch = self.shared.lock().expect("body channel poisoned");
        if ch.has_room() {
            return true;
        }
        ch.sender_waker = Some(cx.waker().clone());
        false
    }

    /// Whether the reader has asked for data yet (for `100 Continue`);
    /// if not, the current task is woken when it does.
    pub(crate) fn poll_wanted(&self, cx: &mut Context<'_>) -> bool {
        let mut ch = self.shared.lock().expect("body channel poisoned");
        if ch.receiver_polled || ch.receiver_gone {
            return ch.receiver_polled;
        }
        ch.sender_waker = Some(cx.waker().clone());
        false
    }

    /// Whether the reader dropped the body.
    pub(crate) fn is_dropped(&self) -> bool {
        self.shared.lock().expect("body channel poisoned").receiver_gone
    }

    /// Whether the body can take more bytes now.
    pub(crate) fn has_room(&self) -> bool {
        self.shared.lock().expect("body channel poisoned").has_room()
    }

    fn push(&self, frame: Frame<Bytes>) {
        let mut ch = self.shared.lock().expect("body channel poisoned");
        if ch.receiver_gone {
            return;
        }
        if let Some(data) = frame.data_ref() {
            ch.queued += data.len();
        }
        ch.frames.push_back(frame);
        if let Some(waker) = ch.receiver_waker.take() {
            waker.wake();
        }
    }

    pub(crate) fn send_data(&self, data: Bytes) {
        self.push(Frame::data(data));
    }

    pub(crate) fn send_trailers(&self, trailers: HeaderMap) {
        self.push(Frame::trailers(trailers));
    }

    /// The body is complete.
    pub(crate) fn finish(mut self) {
        self.close(None);
    }

    /// The body failed; the reader gets `err` after what was queued.
    pub(crate) fn abort(mut self, err: Error) {
        self.close(Some(err));
    }

    fn close(&mut self, err: Option<Error>) {
        self.finished = true;
        let mut ch = self.shared.lock().expect("body channel poisoned");
        ch.finished = true;
        ch.error = err;
        if let Some(waker) = ch.receiver_waker.take() {
            waker.wake();
        }
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        if !self.finished {
            self.close(Some(Error::IncompleteMessage));
        }
    }
}

#[cfg(not(target_family = "wasm"))]
type BoxedBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>;
#[cfg(target_family = "wasm")]
type BoxedBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + 'static>>;

/// A body paf sends: empty, bytes in memory, or any `http_body::Body`
/// (a stream, a file, a received [`Incoming`] passed through).
pub struct Body {
    kind: BodyKind,
}

enum BodyKind {
    Full(Option<Bytes>),
    Boxed(BoxedBody),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { kind: BodyKind::Full(None) }
    }

    /// Wraps any body whose chunks are bytes-like, keeping its length.
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body + MaybeSend + 'static,
        B::Data: MaybeSend,
        B::Error: Into<BoxError>,
    {
        Body { kind: BodyKind::Boxed(Box::pin(IntoBytes { body })) }
    }

    /// A body streamed from a `Stream` of chunks.
    pub fn stream<S, D, E>(stream: S) -> Body
    where
        S: futures_core::Stream<Item = Result<D, E>> + MaybeSend + 'static,
        D: Into<Bytes> + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryStreamExt;
        let frames = stream.map_ok(|chunk| Frame::data(chunk.into()));
        Body::new(http_body_util::StreamBody::new(frames))
    }

    /// `bytes`, a whole body, framed as the message they came with: of no
    /// announced length when `headers` end with `transfer-encoding:
    /// chunked` (so HTTP/1.1 sends them chunked again, as the stream they
    /// were), of their length otherwise. For bodies carried whole across
    /// an interface without streams (the `paf:http/handler` WIT
    /// interface), so that their framing survives the trip.
    pub fn framed_as(headers: &HeaderMap, bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        let chunked = headers.get_all(http::header::TRANSFER_ENCODING).iter().next_back().is_some_and(|value| {
            let last_coding = value.as_bytes().rsplit(|&b| b == b',').next().unwrap_or_default();
            last_coding.trim_ascii().eq_ignore_ascii_case(b"chunked")
        });
        if !chunked {
            return Body::from(bytes);
        }
        let chunks = (!bytes.is_empty()).then_some(Ok::<_, std::convert::Infallible>(bytes));
        Body::stream(futures_util::stream::iter(chunks))
    }
}

pin_project_lite::pin_project! {
    /// Any body as one of bytes and boxed errors; unlike `map_frame`, it
    /// keeps the inner body's size hint, so a known length stays known.
    struct IntoBytes<B> {
        #[pin]
        body: B,
    }
}

impl<B> http_body::Body for IntoBytes<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().body.poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame
                    .map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
                    .map_err(Into::into)
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            BodyKind::Full(bytes) => f.debug_tuple("Body").field(bytes).finish(),
            BodyKind::Boxed(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body { kind: BodyKind::Full(Some(bytes).filter(|b| !b.is_empty())) }
    }
}
impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}
impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}
impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(bytes))
    }
}
impl From<Incoming> for Body {
    fn from(body: Incoming) -> Body {
        Body::new(body)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.kind {
            BodyKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyKind::Boxed(body) => body.as_mut().poll_frame(cx).map_err(Error::body),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Full(bytes) => bytes.is_none(),
            BodyKind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Boxed(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_whole_body_keeps_the_framing_its_headers_name() {
        let headers = |te: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in te {
                headers.append(http::header::TRANSFER_ENCODING, http::HeaderValue::from_static(value));
            }
            headers
        };
        for (te, unsized_) in [
            (&[][..], false),
            (&["chunked"], true),
            (&["gzip, Chunked "], true),
            (&["chunked", "gzip"], false),
            (&["chunked, gzip"], false),
        ] {
            let body = Body::framed_as(&headers(te), "hello");
            assert_eq!(body.size_hint().exact().is_none(), unsized_, "{te:?}");
            assert_eq!(body.collect().await.unwrap().to_bytes(), "hello", "{te:?}");
        }
        let mut empty = Body::framed_as(&headers(&["chunked"]), "");
        assert_eq!((empty.size_hint().exact(), empty.is_end_stream()), (None, false));
        assert!(empty.frame().await.is_none(), "no empty data frame");
    }

    #[tokio::test]
    async fn channel_body_delivers_frames_then_ends() {
        let (tx, rx) = Incoming::channel(16, None);
        tx.send_data(Bytes::from_static(b"hello "));
        tx.send_data(Bytes::from_static(b"world"));
        tx.finish();
        assert_eq!(rx.bytes().await.unwrap(), "hello world");
    }

    #[tokio::test]
    async fn a_sender_dropped_early_is_an_incomplete_body() {
        let (tx, rx) = Incoming::channel(16, Some(10));
        tx.send_data(Bytes::from_static(b"part"));
        drop(tx);
        assert!(matches!(rx.bytes().await, Err(Error::IncompleteMessage)));
    }

    #[test]
    fn room_follows_what_the_reader_took() {
        let (tx, mut rx) = Incoming::channel(4, None);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(tx.poll_room(&mut cx));
        assert!(!tx.poll_wanted(&mut cx));
        tx.send_data(Bytes::from_static(b"12345"));
        assert!(!tx.poll_room(&mut cx));
        let frame = Pin::new(&mut rx).poll_frame(&mut cx);
        assert!(matches!(frame, Poll::Ready(Some(Ok(_)))));
        assert!(tx.poll_room(&mut cx));
        assert!(tx.poll_wanted(&mut cx));
        tx.send_data(Bytes::from_static(b"12345"));
        assert!(!tx.has_room());
        drop(rx);
        assert!(tx.has_room(), "a dropped reader takes everything");
    }

    #[tokio::test]
    async fn body_from_a_stream_and_from_bytes() {
        let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
        let body = Body::stream(chunks);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ab");
        let body = Body::from("xyz");
        assert_eq!(body.size_hint().exact(), Some(3));
        let (tx, rx) = Incoming::channel(16, Some(7));
        let body = Body::new(rx);
        assert_eq!(body.size_hint().exact(), Some(7), "a wrapped body keeps its length");
        tx.send_data(Bytes::from_static(b"1234567"));
        tx.finish();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "1234567");
        assert!(Body::empty().is_end_stream());
    }

    fn watched(body: Incoming) -> (Incoming, std::sync::mpsc::Receiver<bool>) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        (body.on_end(move |complete| done_tx.send(complete).unwrap()), done_rx)
    }

    #[tokio::test]
    async fn the_end_hook_hears_of_a_complete_read_once() {
        let (tx, upstream) = Incoming::channel(16, Some(2));
        let (body, done) = watched(upstream);
        tx.send_data(Bytes::from_static(b"ok"));
        tx.finish();
        assert_eq!(body.bytes().await.unwrap(), "ok");
        assert_eq!(done.try_recv(), Ok(true));
        assert!(done.try_recv().is_err(), "called once");
    }

    #[test]
    fn the_end_hook_hears_of_a_body_dropped_early_or_failed() {
        let (tx, upstream) = Incoming::channel(16, None);
        let (body, done) = watched(upstream);
        tx.send_data(Bytes::from_static(b"part"));
        drop(body);
        assert_eq!(done.try_recv(), Ok(false), "dropped before its end");

        let (tx, upstream) = Incoming::channel(16, None);
        let (mut body, done) = watched(upstream);
        drop(tx);
        let waker = futures_util::task::noop_waker();
        let frame = Pin::new(&mut body).poll_frame(&mut Context::from_waker(&waker));
        assert!(matches!(frame, Poll::Ready(Some(Err(_)))));
        assert_eq!(done.try_recv(), Ok(false), "failed");
    }

    #[test]
    fn a_body_dropped_with_nothing_left_to_read_counts_as_read() {
        let (tx, upstream) = Incoming::channel(16, Some(0));
        let (body, done) = watched(upstream);
        tx.finish();
        drop(body);
        assert_eq!(done.try_recv(), Ok(true));
    }
}
