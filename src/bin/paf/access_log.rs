//! `paf serve`'s access log: one line per request on stdout, written when
//! the response body has been sent (or abandoned), with the peer, method,
//! path, protocol, status, body bytes and duration, in the common log
//! format or as JSON.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};
use crate::httpbin::json_string;
use paf::rt::UtcTime;
use paf::{Body, Connection, Incoming, Request, Response};

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// The common log format with the protocol in the request line and the
    /// duration in seconds after the byte count (nginx's `$request_time`).
    Common,
    /// One JSON object per line.
    Json,
}

/// What is known of a request when it arrives.
pub struct Entry {
    format: LogFormat,
    peer: String,
    method: String,
    path: String,
    protocol: String,
    started: Instant,
}

impl Entry {
    /// Starts the entry of `req`.
    pub fn start(format: LogFormat, req: &Request<Incoming>) -> Entry {
        let connection = Connection::of(req);
        Entry {
            format,
            peer: connection.map_or_else(|| "-".to_string(), |conn| conn.peer().to_string()),
            method: req.method().to_string(),
            path: req.uri().path_and_query().map_or("/", |path| path.as_str()).to_string(),
            protocol: connection.map_or_else(|| format!("{:?}", req.version()), |conn| conn.protocol().to_string()),
            started: Instant::now(),
        }
    }

    /// `response` with a body that writes the line once it is done.
    pub fn finish(self, response: Response<Body>) -> Response<Body> {
        let status = response.status().as_u16();
        response.map(|body| Body::new(Counted { body, sent: 0, line: Some((self, status)) }))
    }

    fn line(&self, status: u16, bytes: u64, took: Duration) -> String {
        let host = match self.peer.rsplit_once(':') {
            Some((ip, port)) if port.parse::<u16>().is_ok() => ip.trim_start_matches('[').trim_end_matches(']'),
            _ => self.peer.as_str(),
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        match self.format {
            LogFormat::Common => format!(
                "{host} - - [{}] \"{} {} {}\" {status} {bytes} {:.6}",
                common_time(now),
                self.method,
                self.path.escape_default(),
                self.protocol,
                took.as_secs_f64()
            ),
            LogFormat::Json => format!(
                "{{\"time\":{},\"peer\":{},\"method\":{},\"path\":{},\"protocol\":{},\"status\":{status},\"bytes\":{bytes},\"duration_ms\":{:.3}}}",
                now.as_secs(),
                json_string(&self.peer),
                json_string(&self.method),
                json_string(&self.path),
                json_string(&self.protocol),
                took.as_secs_f64() * 1000.0
            ),
        }
    }
}

/// A response body that counts what it gives and logs when it ends.
struct Counted {
    body: Body,
    sent: u64,
    line: Option<(Entry, u16)>,
}

impl Counted {
    fn log(&mut self) {
        if let Some((entry, status)) = self.line.take() {
            println!("{}", entry.line(status, self.sent, entry.started.elapsed()));
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = paf::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, paf::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.remaining() as u64;
                }
                if self.body.is_end_stream() {
                    self.log();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.log(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    /// A body never polled (HEAD, 204) or abandoned by the peer is logged
    /// with what was sent of it.
    fn drop(&mut self) {
        self.log();
    }
}

/// `[06/Dec/2026:07:50:00 +0000]`'s inside, from the time since the epoch.
fn common_time(since_epoch: Duration) -> String {
    let t = UtcTime::from_unix(since_epoch);
    format!("{:02}/{}/{}:{:02}:{:02}:{:02} +0000", t.day, t.month_name(), t.year, t.hour, t.minute, t.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_time_reads_as_a_calendar_date() {
        assert_eq!(common_time(Duration::ZERO), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(common_time(Duration::from_secs(1_796_543_400)), "06/Dec/2026:07:50:00 +0000");
        assert_eq!(common_time(Duration::from_secs(951_782_400)), "29/Feb/2000:00:00:00 +0000");
    }
}
