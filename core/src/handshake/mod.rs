//! Opening handshakes: the HTTP head both share, and one module per protocol.

pub mod deflate;
pub mod draft76;
pub mod http;
pub mod mismatch;
pub mod response;
pub mod rfc6455;
pub mod target;
