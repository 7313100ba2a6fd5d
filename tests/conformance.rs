//! RFC 9112 on the wire, held against every runtime paf serves on: the
//! native `paf serve`, `paf.wasm serve` in wasmtime (`wasi:sockets`),
//! `paf-host` with the library and httpbin components (flows the host
//! hands in), and Node (the npm package's server, `js/wasm`, on its
//! `listenTcp`). Each is the same httpbin handler. Each check is one
//! function of a running httpbin server; [`checks!`] makes a test of every
//! check on every target. The last test sends the same requests to all
//! four and compares the answers.
//!
//! The checks speak raw bytes over blocking sockets, with threads where
//! connections must be concurrent; every wait on the wire is bounded by
//! [`WAIT`]. The native tests run with the others; the wasm ones need
//! wasmtime, the components, paf-host and the Node build:
//! `scripts/test-wasi` builds those, sets `PAF_WASMTIME`, `PAF_COMPONENTS`,
//! `PAF_HOST` and `PAF_NODE_HTTPBIN` (`scripts/build-node-httpbin`), and
//! runs the ignored tests here.

use std::any::Any;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod common;
use common::{command_component_server, free_port, host_server, native_server, node_server, Process};

/// The bound of every wait on the wire: a connect, a read, a write.
const WAIT: Duration = Duration::from_secs(30);
/// How soon a request that nothing holds up must be answered.
const PROMPT: Duration = Duration::from_secs(2);
/// The server's header timeout (`Config::header_timeout`'s default).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        checks!(@on native, Server::native, []; $($check),*);
        checks!(@on component, Server::component, [ignore = "needs wasmtime and the components: scripts/test-wasi"]; $($check),*);
        checks!(@on host, Server::host, [ignore = "needs paf-host and the components: scripts/test-wasi"]; $($check),*);
        checks!(@on node, Server::node, [ignore = "needs Node and the httpbin build of js/wasm: scripts/test-wasi"]; $($check),*);
    };
    (@on $target:ident, $start:path, $attributes:tt; $($check:ident),*) => {
        mod $target {
            use super::*;
            $(checks!(@test $check, $start, $attributes);)*
        }
    };
    (@test $check:ident, $start:path, [$($attribute:meta)?]) => {
        #[test]
        $(#[$attribute])?
        fn $check() {
            super::$check(&$start());
        }
    };
}

checks!(
    every_smuggling_case_gets_one_status_and_a_close,
    pipelined_requests_are_answered_in_order,
    a_half_closed_request_gets_its_whole_answer,
    slowloris_holds_only_its_own_connections,
    a_slow_handler_and_a_slow_reader_hold_only_their_own_connections,
    two_hundred_keep_alive_connections_of_five_requests,
    connections_reset_in_every_state_leave_the_server_answering,
    a_thousand_connections_at_once,
);

// ---------------------------------------------------------------------------
// The targets

/// A running httpbin server, killed when dropped.
struct Server {
    _process: Process,
    addr: SocketAddr,
}

impl Server {
    fn native() -> Server {
        Server::start(native_server)
    }

    fn component() -> Server {
        Server::start(command_component_server)
    }

    fn host() -> Server {
        Server::start(host_server)
    }

    fn node() -> Server {
        Server::start(node_server)
    }

    fn start(start: fn(u16, &[&str]) -> Process) -> Server {
        let port = free_port();
        Server { _process: start(port, &[]), addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }
}

// ---------------------------------------------------------------------------
// The checks

/// Follows every rejected request: a server that answers it was smuggled.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

/// Requests that must be refused, by name, with the status they get.
fn smuggling_cases() -> Vec<(&'static str, String, u16)> {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let many_fields: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many_fields = format!("GET / HTTP/1.1\r\nHost: a\r\n{many_fields}\r\n");
    let long_field = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(9000));
    vec![
        ("CL and TE", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("differing CLs", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde".into(), 400),
        ("signed CL", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd".into(), 400),
        ("hex CL", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd".into(), 400),
        ("overflowing CL", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n".into(), 400),
        // RFC 9112 §6.3: chunked not final is a 400; §6.1: an unknown coding before it is a 501.
        ("TE not chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".into(), 400),
        ("unknown coding", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(), 501),
        ("TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("chunked not final", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(), 400),
        ("chunked twice", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("bad chunk size", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".into(), 400),
        ("overflowing chunk size", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n".into(), 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n".into(), 400),
        ("space before colon", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nabcde".into(), 400),
        ("no Host", "GET / HTTP/1.1\r\n\r\n".into(), 400),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(), 400),
        ("long request line", long_target, 414),
        ("too many fields", many_fields, 431),
        ("long field", long_field, 431),
        ("HTTP/2.0 on the h1 parser", "GET / HTTP/2.0\r\nHost: a\r\n\r\n".into(), 505),
    ]
}

fn every_smuggling_case_gets_one_status_and_a_close(server: &Server) {
    for (name, bad, status) in smuggling_cases() {
        let mut conn = Conn::open(server.addr);
        // The server may refuse before it has read it all.
        let _ = conn.stream().write_all(format!("{bad}{SMUGGLED}").as_bytes());
        let wire = conn.rest();
        let shown = String::from_utf8_lossy(&wire);
        let answer = read_answer(&mut &wire[..], false).unwrap_or_else(|why| panic!("{name}: {why}: {shown:?}"));
        assert_eq!(answer.status, status, "{name}: {shown:?}");
        assert_eq!(answer.field("connection"), Some("close"), "{name}: {shown:?}");
        assert_eq!(shown.matches("HTTP/1.1 ").count(), 1, "{name}: more than one response: {shown:?}");
        assert!(!shown.contains("/smuggled"), "{name}: the smuggled request was answered: {shown:?}");
    }
    assert_still_answers(server);
}

fn pipelined_requests_are_answered_in_order(server: &Server) {
    let mut conn = Conn::open(server.addr);
    conn.send(
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
         GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nhi\r\n0\r\nX-T: y\r\n\r\n\
         GET /status/202 HTTP/1.0\r\n\r\n",
    );
    let answers: Vec<(u16, String)> = (0..4).map(|_| conn.answer()).map(|a| (a.status, a.text())).collect();
    let expected = [(200, "abc"), (201, "201 Created\n"), (200, "hi"), (202, "202 Accepted\n")];
    assert_eq!(answers, expected.map(|(status, body)| (status, body.to_string())));
    assert_eq!(conn.rest(), b"", "an HTTP/1.0 request without keep-alive: closed after its answer");
}

fn a_half_closed_request_gets_its_whole_answer(server: &Server) {
    let mut conn = Conn::open(server.addr);
    conn.send("GET /bytes/300000 HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.stream().shutdown(Shutdown::Write).unwrap();
    let answer = conn.answer();
    assert_eq!(answer.status, 200);
    assert!(answer.body == pattern(300_000), "the body of /bytes/300000 differs");
    assert_eq!(conn.rest(), b"", "closed after the answer");

    let mut conn = Conn::open(server.addr);
    conn.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    conn.stream().shutdown(Shutdown::Write).unwrap();
    assert_eq!(conn.answer().text(), "hello");
    assert_eq!(conn.rest(), b"", "closed after the answer");
}

/// Connections that send part of a head, then stall (or drip a byte a
/// second), are closed by the header timeout without an answer (as the
/// native server does: a plain close), and meanwhile hold up no one else.
fn slowloris_holds_only_its_own_connections(server: &Server) {
    let started = Instant::now();
    let stalled: Vec<Client<(Vec<u8>, Duration)>> = (0..4)
        .map(|i| {
            let mut conn = Conn::open(server.addr);
            conn.send("GET /status/200 HTTP/1.1\r\nHost: a\r\nX-Slow: ");
            let drips = i % 2 == 1;
            thread::spawn(move || {
                let dripping = drips.then(|| drip(conn.stream().try_clone().unwrap()));
                let wire = conn.rest();
                let closed_after = started.elapsed();
                drop(conn);
                if let Some(dripping) = dripping {
                    dripping.join().unwrap();
                }
                Ok((wire, closed_after))
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(get(server.addr, "/status/200").status, 200);
        assert!(asked.elapsed() < PROMPT, "answered after {:?} while slow heads stalled", asked.elapsed());
    }
    for (i, (wire, closed_after)) in join_all(stalled).into_iter().enumerate() {
        assert_eq!(String::from_utf8_lossy(&wire), "", "stalled connection {i}: closed without an answer");
        assert!(
            closed_after >= HEADER_TIMEOUT - Duration::from_secs(1),
            "stalled connection {i} was closed after {closed_after:?}, before the header timeout"
        );
    }
    assert_still_answers(server);
}

/// Writes a byte a second to `stream` until the write fails (the server
/// closed) or [`WAIT`] has passed.
fn drip(mut stream: TcpStream) -> JoinHandle<()> {
    thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < WAIT && stream.write_all(b"a").is_ok() {
            thread::sleep(Duration::from_secs(1));
        }
    })
}

fn a_slow_handler_and_a_slow_reader_hold_only_their_own_connections(server: &Server) {
    let started = Instant::now();
    let mut slow_handler = Conn::open(server.addr);
    slow_handler.send("GET /delay/3000 HTTP/1.1\r\nHost: a\r\n\r\n");
    // Never read: the server fills the socket's buffers and waits.
    let mut slow_reader = Conn::open(server.addr);
    slow_reader.send("GET /bytes/50000000 HTTP/1.1\r\nHost: a\r\n\r\n");
    thread::sleep(Duration::from_millis(300));
    for path in ["/status/200", "/bytes/1000", "/headers", "/stream/2", "/status/201"] {
        let asked = Instant::now();
        let answer = get(server.addr, path);
        assert!(matches!(answer.status, 200 | 201), "{path}: {}", answer.status);
        assert!(asked.elapsed() < PROMPT, "{path} answered after {:?}", asked.elapsed());
    }
    assert!(started.elapsed() < Duration::from_secs(3), "the others were answered while the delay ran");
    let answer = slow_handler.answer();
    assert_eq!((answer.status, answer.text().as_str()), (200, "answered after 3000 ms\n"));
    assert!(started.elapsed() >= Duration::from_secs(3), "the delay was cut short");
    drop(slow_reader);
    assert_still_answers(server);
}

fn two_hundred_keep_alive_connections_of_five_requests(server: &Server) {
    let conns: Vec<Conn> = (0..200).map(|_| Conn::open(server.addr)).collect();
    let clients = conns.into_iter().enumerate().map(|(c, mut conn)| {
        spawn_client(move || {
            for i in 0..5 {
                let (request, expected) = if i % 2 == 0 {
                    let body = format!("connection {c}, request {i}");
                    let request = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    (request, body.into_bytes())
                } else {
                    let n = c * 10 + i;
                    (format!("GET /bytes/{n} HTTP/1.1\r\nHost: a\r\n\r\n"), pattern(n))
                };
                let answer = conn.exchange(&request).map_err(|why| format!("connection {c}, request {i}: {why}"))?;
                if (answer.status, &answer.body) != (200, &expected) {
                    return Err(format!("connection {c}, request {i}: a {} of {} bytes, not the one expected", answer.status, answer.body.len()));
                }
            }
            Ok(())
        })
    });
    join_all(clients.collect());
    assert_still_answers(server);
}

/// Connections closed by a reset (SO_LINGER 0) while the server writes a
/// large body, while the handler thinks, while the server waits for the
/// request body, and while idle between requests.
fn connections_reset_in_every_state_leave_the_server_answering(server: &Server) {
    let requests = [
        "GET /bytes/10000000 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /delay/1000 HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhalf of it",
        "GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    let conns: Vec<Conn> = requests
        .iter()
        .cycle()
        .take(256)
        .map(|request| {
            let mut conn = Conn::open(server.addr);
            conn.send(request);
            conn
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    for conn in conns {
        // Closed as it is dropped, with a reset.
        socket2::SockRef::from(conn.stream()).set_linger(Some(Duration::ZERO)).unwrap();
    }
    for i in 0..20 {
        let asked = Instant::now();
        assert_eq!(get(server.addr, "/status/200").status, 200, "request {i} after the resets");
        assert!(asked.elapsed() < PROMPT, "request {i} after the resets answered after {:?}", asked.elapsed());
    }
}

fn a_thousand_connections_at_once(server: &Server) {
    let conns: Vec<Conn> = (0..1000).map(|_| Conn::open(server.addr)).collect();
    let clients = conns.into_iter().enumerate().map(|(n, mut conn)| {
        spawn_client(move || {
            let answer = conn.exchange(&format!("GET /bytes/{n} HTTP/1.1\r\nHost: a\r\n\r\n"));
            match answer.map_err(|why| format!("connection {n}: {why}"))? {
                answer if answer.status == 200 && answer.body == pattern(n) => Ok(()),
                answer => Err(format!("connection {n}: a {} of {} bytes, not /bytes/{n}", answer.status, answer.body.len())),
            }
        })
    });
    join_all(clients.collect());
    assert_still_answers(server);
}

/// A new connection gets an answer.
fn assert_still_answers(server: &Server) {
    let answer = get(server.addr, "/status/203");
    assert_eq!((answer.status, answer.text().as_str()), (203, "203 Non Authoritative Information\n"));
}

// ---------------------------------------------------------------------------
// The same answers everywhere

/// Requests whose answers must be the same on every runtime.
const SAME_EVERYWHERE: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    "GET /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /bytes/10 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "GET /bytes/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /bytes/2000000000 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /ip HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /stream/3 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /stream/many HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /stream/0 HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /stream/3 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\n",
    "DELETE /status/503 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/304 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/999 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /headers HTTP/1.1\r\nHost: a\r\nUser-Agent: conformance\r\nX-Fixed: one\r\nX-Fixed: two\r\n\r\n",
    "GET /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "GET /headers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "PUT /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello there",
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n there\r\n0\r\n\r\n",
    "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /delay/10 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /delay/soon HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /headers/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/202?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://a/status/205 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /status/200 HTTP/1.0\r\n\r\n",
    "GET /status/200 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
];

#[test]
#[ignore = "needs wasmtime, paf-host, the components and the Node build: scripts/test-wasi"]
fn every_runtime_answers_alike() {
    let servers = [
        ("native", Server::native()),
        ("paf.wasm", Server::component()),
        ("paf-host", Server::host()),
        ("node", Server::node()),
    ];
    let mut differences = Vec::new();
    for request in SAME_EVERYWHERE {
        let answers: Vec<(&str, Answer)> = servers
            .iter()
            .map(|(name, server)| {
                let mut conn = Conn::open(server.addr);
                conn.send(request);
                (*name, comparable(conn.answer_to(request.starts_with("HEAD "))))
            })
            .collect();
        let (native, expected) = &answers[0];
        for (name, answer) in &answers[1..] {
            if answer != expected {
                differences.push(format!("{request:?}\n  {native}: {expected:?}\n  {name}: {answer:?}"));
            }
        }
    }
    assert!(differences.is_empty(), "{} answers differ:\n{}", differences.len(), differences.join("\n"));
}

/// `answer` without what may differ between two correct servers: the
/// date's value and the order of the fields.
fn comparable(mut answer: Answer) -> Answer {
    for (name, value) in &mut answer.fields {
        if name == "date" {
            *value = "(any)".into();
        }
    }
    answer.fields.sort();
    answer
}

// ---------------------------------------------------------------------------
// The wire

/// One client connection; every read and write waits at most [`WAIT`].
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Conn { reader: BufReader::new(stream) }
    }

    fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.reader.get_mut().write_all(bytes.as_ref()).unwrap_or_else(|err| panic!("cannot send the request: {err}"));
    }

    /// The next response (to a request other than HEAD).
    fn answer(&mut self) -> Answer {
        self.answer_to(false)
    }

    fn answer_to(&mut self, head_request: bool) -> Answer {
        read_answer(&mut self.reader, head_request).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Sends `request` (not a HEAD) and reads its answer, or says what failed.
    fn exchange(&mut self, request: &str) -> Result<Answer, String> {
        let stream = self.reader.get_mut();
        stream.write_all(request.as_bytes()).map_err(|err| format!("cannot send the request: {err}"))?;
        read_answer(&mut self.reader, false)
    }

    /// What comes until the server closes the connection (a reset, after
    /// which nothing more can come, counts as the close).
    fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!(
                "waiting for the server to close the connection: {}; it sent {:?}",
                read_failure(err),
                String::from_utf8_lossy(&rest)
            ),
        }
        rest
    }
}

/// `GET path` on a new connection, and its answer.
fn get(addr: SocketAddr, path: &str) -> Answer {
    let mut conn = Conn::open(addr);
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n"));
    conn.answer()
}

/// A response as it came on the wire, its body unframed.
#[derive(PartialEq)]
struct Answer {
    status: u16,
    /// The header fields in order, names in lower case.
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    /// The value of field `name`, if it came once.
    fn field(&self, name: &str) -> Option<&str> {
        let mut values = self.fields.iter().filter(|(n, _)| n == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Some(value),
            _ => None,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for Answer {
    /// The status, the fields and the body (its first 200 bytes, escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.body[..self.body.len().min(200)];
        let more = if shown.len() < self.body.len() { "..." } else { "" };
        write!(f, "{} {:?} {} bytes: \"{}{more}\"", self.status, self.fields, self.body.len(), shown.escape_ascii())
    }
}

/// Reads one response (skipping interim 1xx ones) and its body, framed as
/// RFC 9112 §6.3 says.
fn read_answer(wire: &mut impl BufRead, head_request: bool) -> Result<Answer, String> {
    let (status, fields) = loop {
        let status_line = read_line(wire)?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3)?.parse::<u16>().ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let mut fields = Vec::new();
        loop {
            let line = read_line(wire)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| format!("not a field: {line:?}"))?;
            fields.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        if !(100..200).contains(&status) {
            break (status, fields);
        }
    };
    let mut answer = Answer { status, fields, body: Vec::new() };
    if head_request || matches!(status, 204 | 304) {
        return Ok(answer);
    }
    let read_error = |err| format!("the body of a {status}: {}", read_failure(err));
    if answer.field("transfer-encoding") == Some("chunked") {
        loop {
            let size_line = read_line(wire)?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| format!("not a chunk size: {size_line:?}"))?;
            if size == 0 {
                while !read_line(wire)?.is_empty() {}
                break;
            }
            let start = answer.body.len();
            answer.body.resize(start + size, 0);
            wire.read_exact(&mut answer.body[start..]).map_err(read_error)?;
            if !read_line(wire)?.is_empty() {
                return Err("a chunk longer than its size".into());
            }
        }
    } else if let Some(length) = answer.field("content-length") {
        let length: usize = length.parse().map_err(|_| format!("a bad content-length: {length:?}"))?;
        answer.body.resize(length, 0);
        wire.read_exact(&mut answer.body).map_err(read_error)?;
    } else {
        wire.read_to_end(&mut answer.body).map_err(read_error)?;
    }
    Ok(answer)
}

/// One line, without its CRLF; an error at the end of the stream.
fn read_line(wire: &mut impl BufRead) -> Result<String, String> {
    let mut line = Vec::new();
    match wire.read_until(b'\n', &mut line) {
        Ok(0) => Err("the server closed the connection where a line was due".into()),
        Ok(_) if line.ends_with(b"\r\n") => {
            line.truncate(line.len() - 2);
            String::from_utf8(line).map_err(|err| format!("a line that is not UTF-8: {err}"))
        }
        Ok(_) => Err(format!("a line cut short: {:?}", String::from_utf8_lossy(&line))),
        Err(err) => Err(read_failure(err)),
    }
}

/// What a failed read means.
fn read_failure(err: io::Error) -> String {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!("nothing came within {WAIT:?}"),
        _ => format!("cannot read: {err}"),
    }
}

/// The bytes of `/bytes/{n}`: byte `i` is `i % 251`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A client thread: what it got, or what went wrong.
type Client<T> = JoinHandle<Result<T, String>>;

/// A client thread with a small stack: a thousand of them at once.
fn spawn_client(client: impl FnOnce() -> Result<(), String> + Send + 'static) -> Client<()> {
    thread::Builder::new().stack_size(256 * 1024).spawn(client).expect("cannot start a client thread")
}

/// What every thread gave; fails with what went wrong in the ones that
/// failed or panicked.
fn join_all<T>(threads: Vec<Client<T>>) -> Vec<T> {
    let total = threads.len();
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for thread in threads {
        match thread.join() {
            Ok(Ok(result)) => results.push(result),
            Ok(Err(why)) => failures.push(why),
            Err(panic) => failures.push(panic_message(panic)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} clients failed; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    results
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic.downcast_ref::<&str>().map_or("a panic".to_string(), |message| message.to_string()),
    }
}
