//! Bodies on the client's side: request bodies that can be sent again (a
//! retry, a 307), and the helpers that read a response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{Body, Error, Incoming};

/// A request body as the client keeps it: bytes can be sent as many times
/// as needed; a stream only once.
pub(super) enum Payload {
    Bytes(Bytes),
    Stream(Option<Body>),
}

impl Payload {
    /// Takes `body` apart: a body that is complete after one poll (bytes in
    /// memory, whatever the type that held them) is kept as bytes.
    pub(super) fn new(mut body: Body) -> Payload {
        if body.is_end_stream() {
            return Payload::Bytes(Bytes::new());
        }
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(None) => Payload::Bytes(Bytes::new()),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if body.is_end_stream() => Payload::Bytes(data),
                Ok(data) => Payload::stream(Some(Frame::data(data)), body),
                Err(frame) => Payload::stream(Some(frame), body),
            },
            // The error is the stream's to report when it is sent.
            Poll::Ready(Some(Err(err))) => Payload::Stream(Some(Body::new(Failed(Some(err))))),
            Poll::Pending => Payload::stream(None, body),
        }
    }

    fn stream(first: Option<Frame<Bytes>>, rest: Body) -> Payload {
        Payload::Stream(Some(match first {
            None => rest,
            Some(first) => Body::new(Prefixed { first: Some(first), rest }),
        }))
    }

    /// Whether [`Payload::take`] can give the body again.
    pub(super) fn is_replayable(&self) -> bool {
        matches!(self, Payload::Bytes(_))
    }

    /// The body to send; `None` for a stream already sent.
    pub(super) fn take(&mut self) -> Option<Body> {
        match self {
            Payload::Bytes(bytes) => Some(Body::from(bytes.clone())),
            Payload::Stream(stream) => stream.take(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A body with its first frame, already polled, put back in front.
    struct Prefixed {
        first: Option<Frame<Bytes>>,
        #[pin]
        rest: Body,
    }
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.project();
        match this.first.take() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => this.rest.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let first = self.first.as_ref().and_then(Frame::data_ref).map_or(0, |d| d.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + first);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

/// A body whose first poll failed: it fails again when sent.
struct Failed(Option<Error>);

impl http_body::Body for Failed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Poll::Ready(self.0.take().map(Err))
    }
}

/// Reads at most `limit` bytes of `body` and drops it: a short body (a
/// redirect's) read to its end frees its connection for the next request.
pub(super) async fn drain(mut body: Incoming, limit: usize) {
    let mut read = 0;
    while read <= limit {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            _ => return,
        }
    }
}

/// Reading a response: the body whole, as text, or into a writer.
///
/// ```no_run
/// # async fn run() -> Result<(), paf::Error> {
/// use paf::client::ResponseExt;
/// let client = paf::Client::new();
/// let text = client.get("http://example.com/").await?.text().await?;
/// let mut file = tokio::fs::File::create("page.html").await?;
/// client.get("http://example.com/").await?.copy_to(&mut file).await?;
/// # Ok(()) }
/// ```
#[allow(async_fn_in_trait)] // called where it is awaited; no Send bound to promise
pub trait ResponseExt {
    /// The whole body, in memory.
    async fn bytes(self) -> Result<Bytes, Error>;
    /// The whole body as text: UTF-8, any invalid sequence replaced by
    /// U+FFFD (no other charset is decoded).
    async fn text(self) -> Result<String, Error>;
    /// Writes the body to `writer` as it arrives and flushes it; gives the
    /// number of bytes written.
    async fn copy_to<W: AsyncWrite + Unpin>(self, writer: &mut W) -> Result<u64, Error>;
}

impl ResponseExt for Response<Incoming> {
    async fn bytes(self) -> Result<Bytes, Error> {
        self.into_body().bytes().await
    }

    async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(match String::from_utf8(bytes.into()) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    async fn copy_to<W: AsyncWrite + Unpin>(self, writer: &mut W) -> Result<u64, Error> {
        let mut body = self.into_body();
        let mut written = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                writer.write_all(&data).await?;
                written += data.len() as u64;
            }
        }
        writer.flush().await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_are_replayable_and_streams_are_not() {
        let mut payload = Payload::new(Body::from("hello"));
        assert!(payload.is_replayable());
        for _ in 0..2 {
            let body = payload.take().unwrap();
            assert_eq!(body.size_hint().exact(), Some(5));
            assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        }
        assert!(matches!(Payload::new(Body::empty()), Payload::Bytes(b) if b.is_empty()));

        let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
        let mut payload = Payload::new(Body::stream(chunks));
        assert!(!payload.is_replayable());
        let body = payload.take().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ab", "the polled chunk is kept");
        assert!(payload.take().is_none());
    }
}
