//! `hybi-core`: a WebSocket connection as a pure state machine.
//!
//! Bytes in, events and bytes out, for both roles and every protocol hybi
//! speaks: the 2010 draft-76 handshake with its two framings ('old', the
//! draft's, and 'new', Racket's), and RFC 6455. The core performs no I/O,
//! reads no clock and draws no random numbers: the driver does all three and
//! passes the results in.
//!
//! ```text
//!   application      send_text / close / accept          Event
//!        │                    ▼                             ▲
//!   ┌────┴────────────────────────────────────────────────────────┐
//!   │ driver (hybi, hybi-wasm): sockets, clock, entropy            │
//!   │   handle_input(bytes)  handle_eof()  handle_timeout(now)     │
//!   │   poll_event()  poll_transmit(buf)  poll_timeout()           │
//!   ├──────────────────────────────────────────────────────────────┤
//!   │ hybi-core: handshake/ framing/ connection  (this crate)      │
//!   └──────────────────────────────────────────────────────────────┘
//!        ▲ bytes read                               bytes written ▼
//!                              network
//! ```
//!
//! # Driving a connection
//!
//! A driver loops: feed what the transport gave, drain events, write what the
//! connection queued, sleep until the next read or deadline. Here a client and
//! a server are wired to each other in memory:
//!
//! ```
//! use hybi_core::{
//!     Accept, ClientRequest, Config, Connection, Event, Instant, RequestKind, Target,
//! };
//!
//! let now = Instant::ZERO;
//! let target = Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false };
//! // Entropy comes from the driver; a real one uses a CSPRNG.
//! let mut seed = 42u8;
//! let entropy = Box::new(move |buf: &mut [u8]| buf.iter_mut().for_each(|b| { seed = seed.wrapping_mul(13).wrapping_add(7); *b = seed }));
//! let mut client = Connection::client(now, Config::default(), ClientRequest::new(target), entropy)?;
//! let mut server = Connection::server(now, Config::default());
//!
//! // Moves bytes one way, as a socket would.
//! fn pump(from: &mut Connection, to: &mut Connection) {
//!     let mut wire = Vec::new();
//!     if from.poll_transmit(&mut wire) > 0 {
//!         to.handle_input(Instant::ZERO, &wire);
//!     }
//! }
//!
//! pump(&mut client, &mut server);
//! assert!(matches!(server.poll_event(), Some(Event::Request(RequestKind::WebSocket(_)))));
//! assert_eq!(server.request().unwrap().target, "/chat");
//! server.accept(Accept::default())?;
//! assert_eq!(server.poll_event(), Some(Event::Open));
//!
//! pump(&mut server, &mut client);
//! assert_eq!(client.poll_event(), Some(Event::Open));
//! client.send_text("hello")?;
//! pump(&mut client, &mut server);
//! assert_eq!(server.poll_event(), Some(Event::Text("hello".into())));
//! # Ok::<(), hybi_core::Error>(())
//! ```
//!
//! # Messages without allocation
//!
//! [`Connection::handle_input_with`] takes input like `handle_input` but
//! hands each event to a callback as it happens, whole messages lent as
//! [`EventRef::Text`]`(&str)` / [`EventRef::Binary`]`(&[u8])`: a small
//! message that arrived whole is read in place (or unmasked into a buffer
//! the connection reuses) with no allocation, which is most of what a small
//! message costs. In streaming mode the pieces of a binary message are lent
//! the same way ([`EventRef::BinaryFragment`]). The two ways of feeding
//! input can be mixed freely.
//!
//! ```
//! # use hybi_core::{Config, Connection, EventRef, Instant};
//! # fn parse(_: &str) {}
//! # fn run(conn: &mut Connection, bytes: &[u8]) {
//! conn.handle_input_with(Instant::ZERO, bytes, &mut |event| match event {
//!     EventRef::Text(text) => parse(text),
//!     EventRef::Binary(_) | EventRef::BinaryFragment { .. } => {}
//!     EventRef::Other(event) => println!("{event:?}"),
//! });
//! # }
//! ```
//!
//! See `ARCHITECTURE.md` at the repository root for how the modules fit.
//!
//! # Features
//!
//! - `std` (off): lets `simdutf8` and `memchr` pick SIMD code for the CPU at
//!   run time. Without it, on a target built without `+avx2`/`+sse4.2`
//!   (the default x86-64 target), text is validated by scalar code, several
//!   times slower on large messages. Drivers with std (`hybi`) turn it on;
//!   `no_std` users who care can build with
//!   `-C target-feature=+avx2` instead.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod config;
pub mod connection;
pub mod entropy;
pub mod error;
pub mod event;
pub mod framing;
pub mod handshake;
pub mod inspect;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
mod utf8;

pub use config::{
    Config, DeflateConfig, Framing, InvalidUtf8, Limits, Protocol, ProtocolSet, Role, Timeouts,
};
pub use connection::{Accept, ClientRequest, Connection, State};
pub use entropy::Entropy;
pub use error::{
    Error, HandshakeError, KeyName, KeyProblem, LimitError, Misuse, NegotiationError, ProtocolError, Stage,
    Timer,
};
pub use event::{Close, Event, EventRef, RequestKind};
pub use framing::rfc6455::PayloadBuffer;
pub use handshake::deflate::DeflateParams;
pub use handshake::http::{Header, Headers, RequestHead, ResponseHead};
pub use handshake::response::HttpResponse;
pub use handshake::target::Target;
pub use time::Instant;

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
