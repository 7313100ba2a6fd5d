//! The engine drives the protocol machines over a [`Flow`](crate::Flow).
//!
//! [`server::serve_connection`] runs one server connection: it moves bytes
//! between the flow and the sans-IO [`h1`](crate::h1) machine, hands each
//! request to the [`Handler`], and streams bodies both ways with
//! back-pressure. [`client::handshake`] is the low-level client over one
//! flow. Neither knows HTTP beyond moving bytes and arming timeouts.

pub mod alpn;
pub mod client;
mod connection;
pub(crate) mod date;
pub mod h2;
mod handler;
pub(crate) mod io;
pub mod server;
mod service;
#[cfg(feature = "tower")]
pub mod tower;
pub mod upgrade;

pub use connection::Connection;
pub use handler::{service_fn, ErrorHook, Handler, ServiceFn};
pub use service::Serve;
pub(crate) use handler::{call_caught, head_for_hook, panic_message, shaped_response, Caught};
