//! Byte-level fixtures for both roles.

mod client;
mod phase;
mod server;
