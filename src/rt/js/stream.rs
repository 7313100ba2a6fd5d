//! Stream pairs as flows, and readable streams as bodies.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use js_sys::{Promise, Uint8Array};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::socket::SocketIo;
use crate::Error;

#[wasm_bindgen(inline_js = r#"
export function chunkOf(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}
export function describe(value) {
  if (value instanceof Error) return value.message || value.name;
  return String(value);
}
export function errorCode(value) {
  if (value === null || typeof value !== "object") return undefined;
  if (typeof value.code === "string") return value.code;
  return typeof value.name === "string" ? value.name : undefined;
}
export function cancel(reader) { reader.cancel().catch(() => {}); }
export function release(reader, writer, close) {
  const cancel = () => reader.cancel().catch(() => {});
  // Close first, so that what was written still goes out, then let go of
  // the reading side (in Node, cancelling it destroys the socket).
  if (close) writer.close().then(cancel, cancel);
  else cancel();
}
"#)]
extern "C" {
    /// Anything with the shape `{ readable, writable }`.
    #[wasm_bindgen(typescript_type = "StreamPair")]
    #[derive(Clone, Debug)]
    pub type StreamPair;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &StreamPair) -> ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &StreamPair) -> WritableStream;

    #[derive(Clone, Debug)]
    type ReadableStream;
    #[wasm_bindgen(method, catch, js_name = getReader)]
    fn get_reader(this: &ReadableStream) -> Result<Reader, JsValue>;

    #[derive(Clone, Debug)]
    type WritableStream;
    #[wasm_bindgen(method, catch, js_name = getWriter)]
    fn get_writer(this: &WritableStream) -> Result<Writer, JsValue>;

    #[derive(Clone, Debug)]
    type Reader;
    #[wasm_bindgen(method)]
    fn read(this: &Reader) -> Promise;

    type ReadResult;
    #[wasm_bindgen(method, getter)]
    fn done(this: &ReadResult) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn value(this: &ReadResult) -> JsValue;

    #[derive(Clone, Debug)]
    type Writer;
    #[wasm_bindgen(method)]
    fn write(this: &Writer, chunk: &Uint8Array) -> Promise;
    #[wasm_bindgen(method)]
    fn close(this: &Writer) -> Promise;
    #[wasm_bindgen(method, getter)]
    fn ready(this: &Writer) -> Promise;
    #[wasm_bindgen(method, getter, js_name = desiredSize)]
    fn desired_size(this: &Writer) -> Option<f64>;

    #[wasm_bindgen(js_name = chunkOf)]
    fn chunk_of(value: &JsValue) -> Option<Uint8Array>;
    pub(super) fn describe(value: &JsValue) -> String;
    #[wasm_bindgen(js_name = errorCode)]
    fn error_code(value: &JsValue) -> Option<String>;
    /// Cancels, ignoring a failure (the stream may have failed already).
    fn cancel(reader: &Reader);
    fn release(reader: &Reader, writer: &Writer, close: bool);
}

/// A JS error (a rejection, a thrown value) as an I/O error: Node's codes
/// and the DOM's names give the kind, the message is the JS one.
pub(crate) fn io_error(error: JsValue) -> io::Error {
    use io::ErrorKind::*;
    let kind = match error_code(&error).as_deref() {
        Some("ECONNREFUSED") => ConnectionRefused,
        Some("ECONNRESET") => ConnectionReset,
        Some("ECONNABORTED" | "AbortError" | "ABORT_ERR") => ConnectionAborted,
        Some("EPIPE" | "ERR_STREAM_DESTROYED" | "ERR_STREAM_PREMATURE_CLOSE") => BrokenPipe,
        Some("ETIMEDOUT" | "TimeoutError") => TimedOut,
        Some("ENOTFOUND" | "EAI_AGAIN") => NotFound,
        Some("EADDRNOTAVAIL" | "ENETUNREACH" | "EHOSTUNREACH") => AddrNotAvailable,
        _ => Other,
    };
    io::Error::new(kind, describe(&error))
}

/// How many bytes written to a stream may wait for it to take them before
/// writing waits too. The stream's own `desiredSize` is no bound: Node's
/// `Duplex.toWeb` counts chunks, not bytes, and takes 16 384 of them.
const MAX_UNTAKEN: usize = 64 * 1024;

/// The reading side of a stream pair: one `read()` at a time.
#[derive(Debug)]
struct Source {
    reader: Reader,
    pending: Option<JsFuture>,
    done: bool,
}

impl Source {
    fn new(readable: &ReadableStream) -> io::Result<Source> {
        let reader = readable.get_reader().map_err(io_error)?;
        Ok(Source { reader, pending: None, done: false })
    }

    /// The next chunk; `None` once the stream is done.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Chunk>>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(None));
            }
            let reader = &self.reader;
            let read = self.pending.get_or_insert_with(|| JsFuture::from(reader.read()));
            let result = ready!(Pin::new(read).poll(cx));
            self.pending = None;
            let result: ReadResult = result.map_err(io_error)?.unchecked_into();
            if result.done().is_truthy() {
                self.done = true;
                continue;
            }
            let value = result.value();
            let Some(chunk) = chunk_of(&value) else {
                let message = format!("a stream gave {}, not a Uint8Array", describe(&value));
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, message)));
            };
            let length = chunk.length();
            if length > 0 {
                return Poll::Ready(Ok(Some(Chunk { bytes: chunk, length, offset: 0 })));
            }
        }
    }
}

/// The writing side of a stream pair: writes go out without waiting for
/// each other, up to [`MAX_UNTAKEN`] bytes not yet taken by the stream.
#[derive(Debug)]
struct Sink {
    writer: Writer,
    /// Writes the stream has not taken yet, oldest first, with their sizes.
    untaken: VecDeque<(JsFuture, usize)>,
    untaken_bytes: usize,
    ready: Option<JsFuture>,
    closing: Option<JsFuture>,
    closed: bool,
    /// The first failure, given again to every later call.
    failed: Option<(io::ErrorKind, String)>,
}

impl Sink {
    fn new(writable: &WritableStream) -> io::Result<Sink> {
        let writer = writable.get_writer().map_err(io_error)?;
        Ok(Sink {
            writer,
            untaken: VecDeque::new(),
            untaken_bytes: 0,
            ready: None,
            closing: None,
            closed: false,
            failed: None,
        })
    }

    fn fail(&mut self, error: JsValue) -> io::Error {
        let error = io_error(error);
        self.failed = Some((error.kind(), error.to_string()));
        error
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }

    /// Forgets the writes the stream has taken, in order; fails with the
    /// first one that failed.
    fn poll_taken(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.check()?;
        while let Some((write, size)) = self.untaken.front_mut() {
            match Pin::new(write).poll(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(_)) => {
                    self.untaken_bytes -= *size;
                    self.untaken.pop_front();
                }
                Poll::Ready(Err(error)) => return Err(self.fail(error)),
            }
        }
        Ok(())
    }

    /// Ready when one more write may go: few enough bytes untaken, and the
    /// stream's own queue not full.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closing.is_some() {
            // A closed writable's `ready` resolves at once with no room:
            // waiting for room would spin.
            let message = "write after shutdown: the writable is closed";
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, message)));
        }
        loop {
            self.poll_taken(cx)?;
            if self.untaken_bytes >= MAX_UNTAKEN {
                // The oldest write was polled just now: it wakes us.
                return Poll::Pending;
            }
            if let Some(ready) = &mut self.ready {
                let result = ready!(Pin::new(ready).poll(cx));
                self.ready = None;
                result.map_err(|error| self.fail(error))?;
            }
            match self.writer.desired_size() {
                Some(size) if size > 0.0 => return Poll::Ready(Ok(())),
                // Full (0 or less), or errored (null): `ready` says which.
                _ => self.ready = Some(JsFuture::from(self.writer.ready())),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let chunk = Uint8Array::new_from_slice(bytes);
        self.untaken.push_back((JsFuture::from(self.writer.write(&chunk)), bytes.len()));
        self.untaken_bytes += bytes.len();
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_taken(cx)?;
        if self.untaken.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_flush(cx))?;
        let writer = &self.writer;
        let closing = self.closing.get_or_insert_with(|| JsFuture::from(writer.close()));
        let result = ready!(Pin::new(closing).poll(cx));
        self.closed = true;
        result.map_err(|error| self.fail(error))?;
        Poll::Ready(Ok(()))
    }
}

/// A stream pair as a transport: `Flow::new(JsStream::new(&pair)?)`.
///
/// Reading takes the readable's chunks (`Uint8Array`, or any
/// `ArrayBufferView` or `ArrayBuffer`); the end of the readable is the end
/// of the flow. Writes are copied into fresh `Uint8Array`s and handed to
/// the writable at once, until 64 KiB wait for it to take them (or until
/// its own queue is full): then writing waits. Flushing waits until the
/// writable took everything, shutting down closes it. A rejected read or
/// write is an [`io::Error`] whose kind comes from the JS error's `code`
/// (Node's `ECONNRESET`, ...) or `name` (`AbortError`, ...).
///
/// Dropped, it closes the writable (unless shut down already) and then
/// cancels the readable, which in Node destroys the socket.
///
/// A pair may also carry a `socket`: an object whose data comes in events
/// and whose writes are calls, as Node's sockets work (see the `socket`
/// module's documentation for its methods; paf's `connectTcp` and
/// `listenTcp` give one). Then the flow uses it instead of the streams:
/// a call per chunk, no promise.
#[derive(Debug)]
pub struct JsStream {
    io: Io,
    /// What is left of the chunk being read.
    chunk: Option<Chunk>,
    peer: Option<String>,
    local: Option<String>,
    alpn: Option<String>,
    tls: Option<PairTls>,
}

/// What the platform's TLS negotiated for a pair, from its `tls` property
/// (`{ version, cipher, servername, certificates }`, as paf's `listenTls`
/// gives it): names as the platform gives them, certificates as DER.
#[derive(Debug, Clone, Default)]
pub struct PairTls {
    /// `"TLSv1.3"`, `"TLSv1.2"`.
    pub version: String,
    /// The cipher suite's standard name.
    pub cipher: String,
    /// The name the client asked for with SNI.
    pub server_name: Option<String>,
    /// The client's certificates, its own first (DER).
    pub certificates: Vec<Vec<u8>>,
}

impl PairTls {
    fn of(tls: &JsValue) -> Option<PairTls> {
        if !tls.is_object() {
            return None;
        }
        let field = |name: &str| js_sys::Reflect::get(tls, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        let certificates = js_sys::Array::from(&field("certificates"))
            .iter()
            .filter_map(|der| der.dyn_into::<Uint8Array>().ok())
            .map(|der| der.to_vec())
            .collect();
        Some(PairTls {
            version: field("version").as_string().unwrap_or_default(),
            cipher: field("cipher").as_string().unwrap_or_default(),
            server_name: field("servername").as_string(),
            certificates,
        })
    }
}

/// A chunk received, its length read once (each read is a call to JS).
#[derive(Debug)]
struct Chunk {
    bytes: Uint8Array,
    length: u32,
    /// How much of it has been read.
    offset: u32,
}

#[derive(Debug)]
enum Io {
    Streams { source: Source, sink: Sink },
    Socket(SocketIo),
}

impl JsStream {
    /// Attaches to the pair's `socket`, if it has one, or else locks both
    /// of its streams (fails if either is locked already).
    pub fn new(pair: &StreamPair) -> io::Result<JsStream> {
        let field = |name: &str| js_sys::Reflect::get(pair, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        let socket = field("socket");
        let io = if socket.is_object() {
            Io::Socket(SocketIo::attach(socket.unchecked_into())?)
        } else {
            let source = Source::new(&pair.readable())?;
            match Sink::new(&pair.writable()) {
                Ok(sink) => Io::Streams { source, sink },
                Err(err) => {
                    cancel(&source.reader);
                    return Err(err);
                }
            }
        };
        let tls = PairTls::of(&field("tls"));
        Ok(JsStream {
            io,
            chunk: None,
            peer: field("peer").as_string(),
            local: field("local").as_string(),
            alpn: field("alpn").as_string(),
            tls,
        })
    }

    /// What the platform's TLS negotiated for the pair, from its `tls`
    /// property, if it has one.
    pub fn tls(&self) -> Option<&PairTls> {
        self.tls.as_ref()
    }

    /// The pair's `local` property, if it has one: this end's address.
    pub fn local(&self) -> Option<&str> {
        self.local.as_deref()
    }

    /// The pair's `peer` property, if it has one (a name for logs).
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// The pair's `alpn` property, if it has one: the protocol that the
    /// platform's TLS negotiated for it (`"h2"`, `"http/1.1"`), for pairs
    /// that come out of a TLS server of the platform's.
    pub fn alpn(&self) -> Option<&str> {
        self.alpn.as_deref()
    }
}

impl Drop for JsStream {
    fn drop(&mut self) {
        if let Io::Streams { source, sink } = &self.io {
            release(&source.reader, &sink.writer, sink.closing.is_none());
        }
    }
}

impl AsyncRead for JsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let source = match &mut this.io {
            Io::Streams { source, .. } => source,
            Io::Socket(socket) => return socket.poll_read(cx, buf),
        };
        if this.chunk.is_none() {
            match ready!(source.poll_chunk(cx))? {
                Some(chunk) => this.chunk = Some(chunk),
                None => return Poll::Ready(Ok(())),
            }
        }
        let chunk = this.chunk.as_mut().expect("a chunk was just read");
        let n = (chunk.length - chunk.offset).min(u32::try_from(buf.remaining()).unwrap_or(u32::MAX));
        // SAFETY: `copy_to_uninit` initialises exactly the `n` bytes it is
        // given, which are then marked filled.
        unsafe {
            let unfilled = &mut buf.unfilled_mut()[..n as usize];
            if chunk.offset == 0 && n == chunk.length {
                chunk.bytes.copy_to_uninit(unfilled);
            } else {
                chunk.bytes.subarray(chunk.offset, chunk.offset + n).copy_to_uninit(unfilled);
            }
            buf.assume_init(n as usize);
        }
        buf.advance(n as usize);
        chunk.offset += n;
        if chunk.offset == chunk.length {
            this.chunk = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl JsStream {
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Streams { sink, .. } => sink.poll_room(cx),
            Io::Socket(socket) => socket.poll_room(cx),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.io {
            Io::Streams { sink, .. } => {
                sink.write(bytes);
                Ok(())
            }
            Io::Socket(socket) => socket.write(bytes),
        }
    }
}

impl AsyncWrite for JsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_room(cx))?;
        self.write(buf)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_room(cx))?;
        // One JS call for the whole batch (a head and its body, say).
        let mut joined = Vec::with_capacity(bufs.iter().map(|buf| buf.len()).sum());
        for buf in bufs {
            joined.extend_from_slice(buf);
        }
        self.write(&joined)?;
        Poll::Ready(Ok(joined.len()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Streams { sink, .. } => sink.poll_flush(cx),
            Io::Socket(socket) => socket.poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Streams { sink, .. } => sink.poll_close(cx),
            Io::Socket(socket) => socket.poll_shutdown(),
        }
    }
}

/// A JS `ReadableStream` of `Uint8Array`s as a body to send (a request
/// body in a client, a response body in a server). Dropped before its
/// end, it cancels the stream.
#[derive(Debug)]
pub struct ReadableBody {
    source: Source,
    length: Option<u64>,
}

impl ReadableBody {
    /// Locks `readable`; `length` is what `Content-Length` will say, if
    /// known.
    pub fn new(readable: &JsValue, length: Option<u64>) -> io::Result<ReadableBody> {
        let source = Source::new(readable.unchecked_ref())?;
        Ok(ReadableBody { source, length })
    }
}

impl Drop for ReadableBody {
    fn drop(&mut self) {
        if !self.source.done {
            // Nobody will read the rest: let the stream's source stop.
            cancel(&self.source.reader);
        }
    }
}

impl http_body::Body for ReadableBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match ready!(self.source.poll_chunk(cx)) {
            Ok(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk.bytes.to_vec()))))),
            Ok(None) => Poll::Ready(None),
            Err(err) => Poll::Ready(Some(Err(Error::Io(err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.source.done
    }

    fn size_hint(&self) -> SizeHint {
        self.length.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
