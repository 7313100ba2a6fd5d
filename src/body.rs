//! placeholder
pub struct Body; pub struct Incoming;
