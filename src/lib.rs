//! paf: one HTTP/1.1 + HTTP/2 engine, server and client, that runs natively,
//! as a WASI 0.2 component, in browsers and in edge workers.
//!
//! The layers, bottom up (each imports only those above it in this list;
//! `docs/ARCHITECTURE.md` has the rules, checked by `scripts/check-layers`):
//!
//! * [`flow`]: the byte-stream type every transport is turned into;
//! * [`h1`]: the sans-IO HTTP/1.1 connection core, with a server and a
//!   client role;
//! * [`mimic`]: the typed resolver context that picks a transport at run time;
//! * [`rt`]: the runtimes (spawn, sleep, the connection timer, listeners,
//!   raw sockets and streams as flows): no HTTP;
//! * [`tls`]: rustls over any [`Flow`], client and server;
//! * [`fault`]: a flow, a listener and a mimic protocol that inject
//!   faults (delays, splits, truncations, resets, stalls), seeded;
//! * [`engine`]: every driver: HTTP/1.1 over a [`Flow`], [`engine::h2`]
//!   (the `h2` crate) and [`engine::alpn`] (one protocol per connection,
//!   by ALPN or preface), with the [`Handler`] and [`Serve`] traits;
//! * [`serve`](mod@serve): the accept loop, its stop switch and graceful drain;
//! * [`client`]: the high-level client: a URL in, a response out;
//! * [`ws`]: sans-IO WebSocket frames and handshakes, and Wisp packets;
//! * [`bridge`]: the WebSocket/Wisp → TCP bridge for browsers, under a
//!   policy (an allow-list, limits, timeouts);
//! * [`platform`]: what each platform contributes (its transports for
//!   mimic, the client's platform, handed-in connections), one file each.
//!
//! [`Error`], [`Config`], [`Body`] and [`Incoming`] are the vocabulary
//! every layer shares.
//!
//! ```no_run
//! # #[cfg(not(target_family = "wasm"))]
//! # async fn run() -> Result<(), paf::Error> {
//! use paf::{Body, Request, Response};
//! let listener = paf::rt::native::TcpListener::bind("127.0.0.1:8080").await?;
//! let switch = paf::Switch::new();
//! paf::serve(listener, paf::service_fn(|_req: Request<paf::Incoming>| async {
//!     Response::new(Body::from("hello\n"))
//! }), paf::Config::default(), switch).await
//! # }
//! ```

#[cfg(feature = "acme")]
pub mod acme;
pub mod body;
pub mod bridge;
pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod fault;
pub mod flow;
pub mod h1;
pub mod mimic;
pub mod platform;
pub mod rt;
pub mod serve;
pub mod tls;
pub mod ws;

pub use body::{Body, Incoming};
pub use client::Client;
pub use config::Config;
pub use engine::{service_fn, Connection, ErrorHook, Handler, Serve};
pub use serve::{serve, Switch};
pub use error::Error;
pub use flow::{Flow, MaybeSend, MaybeSync};
pub use http::{self, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
/// The bytes of a body (the `bytes` crate's), as an [`ErrorHook`] gives them.
pub use bytes::Bytes;


/// The boxed error type bodies use for their failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
