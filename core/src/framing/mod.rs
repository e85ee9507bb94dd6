//! Data framings, one module each. Each decoder takes bytes as they come,
//! split anywhere, and yields whole frames; none allocates more than the
//! bytes that actually arrived.

pub mod new;
pub mod old;
pub mod rfc6455;

use alloc::vec::Vec;

/// A complete draft-76 frame, in either framing: the only things either
/// framing can carry are text and a close.
#[derive(Debug, PartialEq, Eq)]
pub enum Draft76Frame {
    /// A text message's bytes, not yet checked for UTF-8.
    Text(Vec<u8>),
    /// The closing frame.
    Close,
}
