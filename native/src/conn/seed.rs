//! The seed's `ws-conn-line` and `ws-conn-headers`, as the Node driver's
//! `line` and `headers` give them, so that both drivers answer alike.
//!
//! Racket's `net/websocket` documents `ws-conn-line` as "the request/response
//! line" and `ws-conn-headers` as "the headers of the WebSocket connection".
//! What it returns, per role:
//!
//! | | server | client |
//! | --- | --- | --- |
//! | `ws-conn-line` ([`Connection::line`]) | the request line received | the response's status line |
//! | `ws-conn-headers` ([`Connection::headers`]) | the headers its `conn-headers` hook returned | the response's headers |
//!
//! The whole heads, on either side, are [`Connection::request`] and
//! [`Connection::response`] (and their `_line`/`_headers` getters).

use hybi_core::Header;

use super::{Connection, Shared};

impl Shared {
    /// Server: records the headers `conn_headers` accepted the request
    /// with, for [`Connection::headers`]. Called for every server
    /// connection (with no headers for the default hook), so that it also
    /// tells a server's connection from a client's.
    pub(crate) fn set_accepted_headers(&self, headers: Vec<Header>) {
        let _ = self.accepted_headers.set(headers);
    }
}

impl Connection {
    /// The seed's `ws-conn-line`: on a server the request line received
    /// (`GET /chat HTTP/1.1`), on a client the response's status line
    /// (`HTTP/1.1 101 Switching Protocols`). Node's `conn.line`.
    pub fn line(&self) -> &str {
        match self.shared.accepted_headers.get() {
            Some(_) => self.request_line(),
            None => self.response_line(),
        }
    }

    /// The seed's `ws-conn-headers`: on a server the headers its
    /// `conn_headers` hook returned (none with the default hook; the 101
    /// response also carries the handshake's own, see
    /// [`response_headers`](Self::response_headers)), on a client the
    /// response's headers. Node's `conn.headers`.
    pub fn headers(&self) -> &[Header] {
        match self.shared.accepted_headers.get() {
            Some(accepted) => accepted,
            None => &self.response_headers().0,
        }
    }
}
