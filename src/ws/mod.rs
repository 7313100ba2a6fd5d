//! WebSocket (RFC 6455, and RFC 8441 over HTTP/2) and Wisp v1, sans-IO:
//! the opening handshake checked from a request head, frames in and out
//! with masking and the close codes bad input calls for, and Wisp's
//! packets. No sockets, no clocks, no randomness (a client passes its
//! masking keys in); [`bridge`](crate::bridge) drives them over flows.

pub mod close;
pub mod frame;
pub mod handshake;
pub mod wisp;

pub use close::{CloseCode, CloseFrame};
pub use frame::{apply_mask, encode, Decoder, Frame, Opcode, Role};

#[cfg(test)]
mod tests;
