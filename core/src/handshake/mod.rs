//! Opening handshakes: the HTTP head both share, and one module per protocol.

pub mod draft76;
pub mod http;
pub mod mismatch;
pub mod rfc6455;
