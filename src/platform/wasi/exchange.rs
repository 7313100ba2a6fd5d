//! The handler's side of a `paf:http/handler` exchange (see `wit/paf.wit`):
//! a paf [`Handler`] answering one request whose body the server writes in
//! piece by piece, and whose response the server reads out piece by piece.
//!
//! The server drives: each call runs the handler (on this component's
//! executor) until it can answer, or until the handler waits for more of
//! the request body than was written — then the call returns (`response`
//! gives `None`, `read` an empty piece) and the server writes the next
//! piece. The handler gets its request through [`call`](super::call), a
//! real [`Incoming`] whose length is the one the server announced.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::response::Parts;
use http_body::{Body as _, Frame, SizeHint};

use super::call;
use crate::rt::wasi::block_on;
use crate::{Body, Error, Handler, Incoming, Request, Response};

/// One request being answered by a handler.
pub struct Exchange {
    request_body: Rc<RefCell<Pipe>>,
    stage: RefCell<Stage>,
}

enum Stage {
    Answering(Pin<Box<dyn Future<Output = Result<Response<Incoming>, Error>>>>),
    Streaming { body: Incoming, leftover: Bytes },
    Failed,
}

/// The head of a response, and the length of its body when known.
pub struct Head {
    pub parts: Parts,
    pub body_length: Option<u64>,
}

impl Exchange {
    /// Starts answering `request` with `handler`; its body, of
    /// `body_length` bytes (`None`: until [`Exchange::write`] says it
    /// ended), follows through [`Exchange::write`].
    pub fn new<H: Handler>(handler: H, request: Request<()>, body_length: Option<u64>, peer: String) -> Exchange {
        let request_body = Rc::new(RefCell::new(Pipe::default()));
        let body = PipeBody { pipe: request_body.clone(), remaining: body_length };
        let request = request.map(|()| Body::new(body));
        let answer = Box::pin(async move { call(handler, request, &peer).await });
        Exchange { request_body, stage: RefCell::new(Stage::Answering(answer)) }
    }

    /// The next piece of the request body; `end` with the last.
    pub fn write(&self, piece: Bytes, end: bool) {
        let mut pipe = self.request_body.borrow_mut();
        if !piece.is_empty() {
            pipe.pieces.push_back(piece);
        }
        pipe.ended |= end;
        pipe.wanted = false;
        if let Some(reader) = pipe.reader.take() {
            reader.wake();
        }
    }

    /// Runs the handler until it has the head of its response: `None`
    /// while it waits for more of the request body than was written.
    pub fn response(&self) -> Option<Result<Head, Error>> {
        let mut stage = self.stage.borrow_mut();
        let Stage::Answering(answer) = &mut *stage else {
            return Some(Err(Error::InvalidMessage("the response head was already taken".into())));
        };
        let answered = block_on(poll_fn(|cx| match answer.as_mut().poll(cx) {
            Poll::Ready(answered) => Poll::Ready(Some(answered)),
            Poll::Pending => self.request_body.borrow_mut().starved(cx).map(|()| None),
        }))?;
        Some(match answered {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                // The handler's framing, as its HTTP/1.1 answer carried it:
                // a stream (chunked, even when empty), or a length.
                let chunked = parts.headers.contains_key(http::header::TRANSFER_ENCODING);
                let body_length = match chunked {
                    true => None,
                    false if body.is_end_stream() => Some(0),
                    false => body.size_hint().exact(),
                };
                *stage = Stage::Streaming { body, leftover: Bytes::new() };
                Ok(Head { parts, body_length })
            }
            Err(err) => {
                *stage = Stage::Failed;
                Err(err)
            }
        })
    }

    /// Up to `max` bytes of the response body, `None` at its end; an empty
    /// piece while the handler waits for more of the request body.
    pub fn read(&self, max: usize) -> Result<Option<Bytes>, Error> {
        let max = max.max(1);
        let mut stage = self.stage.borrow_mut();
        let Stage::Streaming { body, leftover } = &mut *stage else {
            return Err(Error::InvalidMessage("no response body to read: its head was not taken".into()));
        };
        if leftover.is_empty() {
            let frame = block_on(poll_fn(|cx| loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                        // Trailers, and empty pieces: none goes over the interface.
                        _ => continue,
                    },
                    Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return self.request_body.borrow_mut().starved(cx).map(|()| Some(Ok(Bytes::new()))),
                }
            }));
            match frame {
                None => return Ok(None),
                Some(Err(err)) => return Err(err),
                Some(Ok(data)) => *leftover = data,
            }
        }
        let piece = leftover.split_to(max.min(leftover.len()));
        Ok(Some(piece))
    }
}

/// The request body between the server's writes and the handler's reads.
#[derive(Default)]
struct Pipe {
    pieces: VecDeque<Bytes>,
    ended: bool,
    /// The handler read all that was written, and waits for more.
    wanted: bool,
    /// The handler's task, waiting for a piece.
    reader: Option<Waker>,
    /// The server's call, waiting for the handler.
    server: Option<Waker>,
}

impl Pipe {
    /// Ready when the handler waits for a piece not written yet: the
    /// server's call returns then, to write it. Else the call waits, and
    /// is woken when the handler starts waiting so.
    fn starved(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.wanted && self.pieces.is_empty() && !self.ended {
            return Poll::Ready(());
        }
        self.server = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The handler's request body: what the server writes.
struct PipeBody {
    pipe: Rc<RefCell<Pipe>>,
    /// Of the length announced, what has not come yet.
    remaining: Option<u64>,
}

impl http_body::Body for PipeBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let mut pipe = self.pipe.borrow_mut();
        if let Some(piece) = pipe.pieces.pop_front() {
            drop(pipe);
            self.remaining = self.remaining.map(|remaining| remaining.saturating_sub(piece.len() as u64));
            return Poll::Ready(Some(Ok(Frame::data(piece))));
        }
        if pipe.ended || self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        pipe.wanted = true;
        pipe.reader = Some(cx.waker().clone());
        if let Some(server) = pipe.server.take() {
            server.wake();
        }
        Poll::Pending
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map_or_else(SizeHint::default, SizeHint::with_exact)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0)
    }
}
