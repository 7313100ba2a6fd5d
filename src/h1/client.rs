//! The client side of an HTTP/1.1 connection, sans IO.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::{BodySize, Limits, ParseError, ResponseHead, WriteQueue};

/// What the peer's bytes meant.
#[derive(Debug)]
pub enum ClientEvent {
    /// An interim response (1xx other than 101), e.g. `100 Continue`.
    Informational(ResponseHead),
    /// The final response head. Its body follows as `Data`, `Trailers`, `End`.
    Response(ResponseHead),
    /// A chunk of the response body.
    Data(Bytes),
    /// The trailer fields of a chunked response body.
    Trailers(HeaderMap),
    /// The response body is complete (also sent for bodiless responses).
    End,
    /// The peer's bytes are not valid HTTP/1.1; the connection must close.
    Error(ParseError),
}

/// The client side of one HTTP/1.1 connection. See the module docs.
#[derive(Debug)]
pub struct ClientConn {
    _todo: (),
}

impl ClientConn {
    /// A new connection, ready for its first request.
    pub fn new(limits: Limits) -> Self {
        let _ = limits;
        todo!()
    }
    /// Queues a request head. `Host` is added from `uri` when absent.
    pub fn send_request(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: BodySize,
    ) -> Result<(), crate::Error> {
        let _ = (method, uri, headers, body);
        todo!()
    }
    /// Whether the request body may be sent now (false while waiting for
    /// `100 Continue`, and after a final response that makes it moot).
    pub fn may_send_body(&self) -> bool {
        todo!()
    }
    /// The driver's `100 Continue` wait ran out: send the body anyway.
    pub fn continue_anyway(&mut self) {
        todo!()
    }
    /// Queues a chunk of the request body.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), crate::Error> {
        let _ = data;
        todo!()
    }
    /// Queues trailers (chunked bodies; dropped otherwise).
    pub fn send_trailers(&mut self, trailers: &HeaderMap) -> Result<(), crate::Error> {
        let _ = trailers;
        todo!()
    }
    /// Ends the request body.
    pub fn send_end(&mut self) -> Result<(), crate::Error> {
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
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        todo!()
    }
    /// Whether the driver should read more from the transport.
    pub fn wants_read(&self) -> bool {
        todo!()
    }
    /// The bytes to write.
    pub fn output(&mut self) -> &mut WriteQueue {
        todo!()
    }
    /// Whether the connection must close once this exchange is over.
    pub fn wants_close(&self) -> bool {
        todo!()
    }
    /// Whether a new request may be sent (the previous exchange is over and
    /// the connection stays open).
    pub fn is_idle(&self) -> bool {
        todo!()
    }
    /// After a `101` (or a 2xx to CONNECT): the bytes read past the
    /// response, to put in front of the upgraded flow.
    pub fn take_upgrade(&mut self) -> Option<Bytes> {
        todo!()
    }
}
