//! What the opening handshake settled, as both drivers keep it for their
//! connection handles: read once from the core when the connection opens
//! ([`Opened::of`]), so that the getters hand out references without taking
//! the core's lock. The protocol is not kept here: a draft-76 server with
//! `Framing::Auto` (the default) decides its framing from the client's
//! first bytes, after opening, so the handles ask the core for it.

use hybi_core::{DeflateParams, RequestHead, ResponseHead};

/// The handshake's outcome, fixed once the connection is open.
pub(crate) struct Opened {
    pub(crate) request: RequestHead,
    pub(crate) response: ResponseHead,
    pub(crate) subprotocol: Option<String>,
    pub(crate) deflate: Option<DeflateParams>,
}

impl Opened {
    /// What `core`, open, says of its handshake.
    pub(crate) fn of(core: &hybi_core::Connection) -> Opened {
        Opened {
            request: core.request().cloned().expect("an open connection has a request"),
            response: core.response().cloned().expect("an open connection has a response"),
            subprotocol: core.subprotocol().map(str::to_owned),
            deflate: core.deflate().cloned(),
        }
    }
}

/// The getters every connection handle has, over `self.<path>.opened()`
/// (an [`Opened`]) and `self.<path>.protocol()` (the core's, live), where
/// `<path>` leads to the driver's shared state: one definition, and one set
/// of docs, for the blocking `Connection` and the async `Reader` and
/// `WebSocket`.
macro_rules! opened_getters {
    ($($shared:ident).+) => {
        /// The whole opening request (sent, or received).
        pub fn request(&self) -> &hybi_core::RequestHead {
            &self.$($shared).+.opened().request
        }

        /// The whole 101 response (received, or sent).
        pub fn response(&self) -> &hybi_core::ResponseHead {
            &self.$($shared).+.opened().response
        }

        /// The subprotocol both ends agreed on, if any.
        pub fn subprotocol(&self) -> Option<&str> {
            self.$($shared).+.opened().subprotocol.as_deref()
        }

        /// The permessage-deflate agreement, if messages are compressed.
        pub fn deflate(&self) -> Option<&hybi_core::DeflateParams> {
            self.$($shared).+.opened().deflate.as_ref()
        }

        /// The protocol spoken (a server tells it from each request). A
        /// draft-76 server with `Framing::Auto` (the default) says
        /// `Draft76(Auto)` until the client's first bytes decide the
        /// framing, and the framing decided from then on.
        pub fn protocol(&self) -> hybi_core::Protocol {
            self.$($shared).+.protocol()
        }
    };
}
pub(crate) use opened_getters;
