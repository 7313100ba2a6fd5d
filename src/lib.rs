//! paf: one HTTP/1.1 + HTTP/2 engine, server and client, that runs natively,
//! as a WASI 0.2 component, in browsers and in edge workers.
//!
//! The layers, bottom up (see `DESIGN.md` in the project's shared folder):
//!
//! * [`flow`]: the byte-stream type every transport is turned into;
//! * [`mimic`]: the typed resolver context that picks a transport at run time;
//! * [`h1`]: the sans-IO HTTP/1.1 state machines (server and client);
//! * [`engine`]: drives the protocol machines over a [`Flow`];
//! * [`h2`]: HTTP/2 over a [`Flow`], server and client, with the same
//!   handler and body types;
//! * [`alpn`]: HTTP/1.1 or HTTP/2 per connection, by ALPN or preface;
//! * [`serve`](mod@serve): the accept loop, its stop switch and graceful drain;
//! * [`tls`]: rustls over any [`Flow`], client and server;
//! * [`client`]: the high-level client: a URL in, a response out;
//! * [`rt`]: the platform runtimes (spawn, sleep, sockets), the only
//!   platform-specific code.
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

pub mod alpn;
pub mod body;
pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod flow;
pub mod h1;
pub mod h2;
pub mod mimic;
pub mod rt;
pub mod serve;
pub mod tls;

pub use body::{Body, Incoming};
pub use client::Client;
pub use config::Config;
pub use serve::{serve, service_fn, Handler, Serve, Switch};
pub use error::Error;
pub use flow::{Flow, MaybeSend, MaybeSync};
pub use http::{self, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};


/// The boxed error type bodies use for their failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
