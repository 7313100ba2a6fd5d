//! The server side of an HTTP/1.1 connection, sans IO.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::{BodySize, Limits, ParseError, RequestHead, WriteQueue};

/// What the peer's bytes meant.
#[derive(Debug)]
pub enum ServerEvent {
    /// A request head. Its body (if any) follows as `Data` events, then
    /// `Trailers` (chunked only), then `End`.
    Request(RequestHead),
    /// A chunk of the request body.
    Data(Bytes),
    /// The trailer fields of a chunked request body.
    Trailers(HeaderMap),
    /// The request body is complete (also sent for bodiless requests).
    End,
    /// The peer's bytes are not valid HTTP/1.1. The machine has queued the
    /// status response (if no response had started) and will close.
    Error(ParseError),
}

/// The server side of one HTTP/1.1 connection. See the module docs.
#[derive(Debug)]
pub struct ServerConn {
    _todo: (),
}

impl ServerConn {
    /// A new connection, waiting for its first request.
    pub fn new(limits: Limits) -> Self {
        let _ = limits;
        todo!()
    }
    /// Feeds bytes read from the transport.
    pub fn receive(&mut self, data: &[u8]) {
        let _ = data;
        todo!()
    }
    /// The transport reached end of stream.
    pub fn receive_eof(&mut self) {
        todo!()
    }
    /// The next event, if the buffered bytes make one.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        todo!()
    }
    /// Whether the driver should read more from the transport.
    pub fn wants_read(&self) -> bool {
        todo!()
    }
    /// Queues `100 Continue` if the current request expects it and no
    /// response has started. The driver calls it when the handler first
    /// reads the body.
    pub fn send_continue(&mut self) {
        todo!()
    }
    /// Queues the response head of the current request.
    pub fn send_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        body: BodySize,
    ) -> Result<(), crate::Error> {
        let _ = (status, headers, body);
        todo!()
    }
    /// Queues a chunk of the response body.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), crate::Error> {
        let _ = data;
        todo!()
    }
    /// Queues the trailers (chunked responses; dropped otherwise) .
    pub fn send_trailers(&mut self, trailers: &HeaderMap) -> Result<(), crate::Error> {
        let _ = trailers;
        todo!()
    }
    /// Ends the response body.
    pub fn send_end(&mut self) -> Result<(), crate::Error> {
        todo!()
    }
    /// The bytes to write.
    pub fn output(&mut self) -> &mut WriteQueue {
        todo!()
    }
    /// Whether the connection should close once the output is written.
    pub fn wants_close(&self) -> bool {
        todo!()
    }
    /// Whether the connection is between messages with nothing buffered.
    pub fn is_idle(&self) -> bool {
        todo!()
    }
    /// After a `101` response (or a 2xx to CONNECT) is sent: the bytes
    /// read past the request, to put in front of the upgraded flow.
    pub fn take_upgrade(&mut self) -> Option<Bytes> {
        todo!()
    }
}
