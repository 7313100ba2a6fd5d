//! A listener over in-memory pipes: a server with no socket, for tests
//! and for a client and a server in one process.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Endpoints, Listener, Peer, Runtime};
use crate::Flow;

/// The listening end of [`pipes`]: each [`PipeConnector::connect`] is one
/// connection it accepts, from a peer named `pipe#N`.
#[derive(Debug)]
pub struct PipeListener<R> {
    rt: R,
    incoming: mpsc::UnboundedReceiver<(Flow, u64)>,
}

/// The connecting end of [`pipes`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct PipeConnector {
    outgoing: mpsc::UnboundedSender<(Flow, u64)>,
    capacity: usize,
    count: Arc<AtomicU64>,
}

/// A listener and the connector that reaches it: every connection is a
/// [`Flow::pipe`] buffering `capacity` bytes each way, run on `rt`.
pub fn pipes<R: Runtime>(rt: R, capacity: usize) -> (PipeListener<R>, PipeConnector) {
    let (outgoing, incoming) = mpsc::unbounded_channel();
    (
        PipeListener { rt, incoming },
        PipeConnector { outgoing, capacity: capacity.max(1), count: Arc::new(AtomicU64::new(0)) },
    )
}

impl PipeConnector {
    /// A new connection to the listener: the client's end. Refused once
    /// the listener is dropped.
    pub fn connect(&self) -> io::Result<Flow> {
        let (near, far) = Flow::pipe(self.capacity);
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        self.outgoing.send((far, n)).map_err(|_| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused: the pipe listener is gone")
        })?;
        Ok(near)
    }
}

impl<R: Runtime> Listener for PipeListener<R> {
    type Runtime = R;

    fn runtime(&self) -> R {
        self.rt.clone()
    }

    async fn accept(&mut self) -> io::Result<(Flow, Endpoints)> {
        match self.incoming.recv().await {
            Some((flow, n)) => Ok((flow, Endpoints::new(Peer::Name(format!("pipe#{n}")), None))),
            // No connector left: no connection will ever come.
            None => std::future::pending().await,
        }
    }
}
