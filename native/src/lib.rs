//! `hybi`: WebSocket clients and servers over `std::net`, with TLS through
//! rustls: the 2010 draft-76 handshake with both of Racket's framings ('old'
//! and 'new'), and RFC 6455 with permessage-deflate.
//!
//! The API mirrors Racket's `net/websocket` (the seed): [`connect`] is
//! `ws-connect`, [`serve`] is `ws-serve`, and a [`Connection`] has the
//! `ws-send!` / `ws-recv` / `ws-close!` operations, with `None` for the
//! seed's eof.
//!
//! ```text
//!   application   connect / serve, Connection::{send_text, recv, close}
//!        │                              ▲ Message / None / Error
//!   ┌────┴─────────────────────────────────────────────────────────┐
//!   │ hybi (this crate): sockets, TLS, threads, the clock, entropy  │
//!   │   moves bytes, time and randomness; translates types          │
//!   ├───────────────────────────────────────────────────────────────┤
//!   │ hybi-core: handshakes, framings, the connection state machine │
//!   └───────────────────────────────────────────────────────────────┘
//!        ▲ bytes read                                 bytes written ▼
//!                                network
//! ```
//!
//! This crate holds no protocol logic: every byte on the wire is decided by
//! [`hybi_core::Connection`]; this crate reads sockets, keeps time (the
//! socket's read timeout is the core's next deadline), supplies randomness
//! (the OS generator, pooled), and runs threads.
//!
//! # An echo server and a client
//!
//! ```
//! use hybi::{connect_with, serve, ConnectOptions, Framing, Message, Protocol, ServeOptions};
//!
//! let server = serve(
//!     |conn, ()| {
//!         while let Ok(Some(message)) = conn.recv() {
//!             conn.send(&message).ok();
//!         }
//!     },
//!     ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..ServeOptions::default() },
//! )?;
//! let url = format!("ws://{}/echo", server.local_addr());
//!
//! // RFC 6455, the default, with text and binary messages.
//! let conn = hybi::connect(&url, &[("Origin", "http://localhost")])?;
//! conn.send_text("hello")?;
//! assert_eq!(conn.recv()?, Some(Message::Text("hello".into())));
//! conn.send_binary(&[1, 2, 3])?;
//! assert_eq!(conn.recv()?, Some(Message::Binary(vec![1, 2, 3])));
//! conn.close()?;
//! assert_eq!(conn.recv()?, None);
//!
//! // The seed's protocol: draft-76, 'old' framing (text only).
//! let conn = connect_with(&url, ConnectOptions::new().protocol(Protocol::Draft76(Framing::Old)))?;
//! conn.send_text("hello")?;
//! assert_eq!(conn.recv()?, Some(Message::Text("hello".into())));
//! conn.close()?;
//!
//! server.stop();
//! # Ok::<(), hybi::Error>(())
//! ```
//!
//! # Threads
//!
//! A [`Connection`] is a handle: clone it to receive on one thread and send
//! on another. The two never wait on each other (see the `conn` module
//! notes in the source). A server runs one thread per connection, up to
//! [`ServeOptions::max_connections`] at once and
//! [`ServeOptions::max_connections_per_ip`] from one client address (mind a
//! reverse proxy, whose clients all share its address); a connection past
//! either is answered 503 at once. A connection that has not finished its
//! handshakes (TLS and WebSocket together) [`Timeouts::handshake`] after it
//! was accepted is closed, however slowly it sends.
//!
//! # Many small messages
//!
//! [`Connection::send`] writes each message at once: one system call per
//! message, which is what small messages cost on loopback. A server that
//! answers as it reads should [`queue`](Connection::queue) its answers
//! instead: `recv` returns messages that arrived in one read without
//! touching the socket, and writes everything queued, in one call, before
//! it waits for more. A client sending a burst queues it and lets its next
//! `recv` (or [`flush`](Connection::flush)) write it. `hybi serve` echoes
//! this way; `BENCHMARKS.md` has what it is worth.
//!
//! ```
//! # use hybi::{serve, ServeOptions};
//! let server = serve(
//!     |conn, ()| {
//!         while let Ok(Some(message)) = conn.recv() {
//!             // Written by the next `recv`, with every other echo queued
//!             // by then.
//!             if conn.queue(&message).is_err() {
//!                 break;
//!             }
//!         }
//!     },
//!     ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..ServeOptions::default() },
//! )?;
//! # server.stop();
//! # Ok::<(), hybi::Error>(())
//! ```
//!
//! # Features
//!
//! - `tls` (default): `wss://` clients (trusting webpki-roots plus any roots
//!   you add) and TLS servers from PEM, with rustls and its `aws-lc-rs`
//!   provider (post-quantum key exchange; `ring`'s provider is deprecated).
//! - `tokio` (off): the module `hybi::tokio`, the async driver: `connect`
//!   (ws/wss, proxies, the same `ConnectOptions`) and `serve` (the same
//!   `ServeOptions`, a graceful stop), and `accept` and `client` over any
//!   tokio `AsyncRead + AsyncWrite` stream you hold, each giving a
//!   `WebSocket` with `recv`/`send`/`close` (cancel-safe), `split` into a
//!   reader and a writer for two tasks, `futures::Stream` and
//!   `futures::Sink`, and the core's timers on tokio's clock. No tokio in
//!   the tree of users who leave it off.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod budget;
mod caps;
mod client;
mod clock;
mod conn;
mod entropy;
mod error;
mod held;
mod opened;
pub mod page;
mod proxy;
mod server;
mod stream;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transport;

pub use client::{connect, connect_with, ConnectOptions};
pub use conn::{Connection, Message};
pub use entropy::OsEntropy;
pub use error::{Error, ErrorKind};
pub use held::{accept, accept_with, client};
pub use proxy::Proxy;
pub use server::{serve, ConnHeaders, ErrorHook, HttpHandler, ServeOptions, ServerHandle, ServerStopper};
pub use stream::Stream;
#[cfg(feature = "tls")]
pub use tls::ServerTls;

// The core's vocabulary, re-exported so applications need not depend on
// `hybi-core` themselves; inlined, so that each shows its own summary here.
#[doc(inline)]
pub use hybi_core::{
    Accept, Close, Config, DeflateConfig, DeflateParams, Framing, Header, Headers, HttpResponse, InvalidUtf8,
    Limits, Protocol, ProtocolSet, RequestHead, ResponseHead, Timeouts,
};

// What a `conn_headers` hook reads to choose a subprotocol.
#[doc(inline)]
pub use hybi_core::handshake::rfc6455::offered_subprotocols;

/// The core crate itself, for what the re-exports above leave out.
pub use hybi_core as core;

/// The URL crate, for [`Proxy::Url`].
pub use url;

#[cfg(test)]
mod tests {
    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Connection>();
        send_sync::<crate::ServerHandle>();
        send_sync::<crate::Error>();
        send_sync::<crate::ConnectOptions>();
    }
}
