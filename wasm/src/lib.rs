//! `hybi-wasm`: the [`hybi_core`] WebSocket state machine for JavaScript,
//! through wasm-bindgen.
//!
//! ```text
//!   application   (JS: connect / serve, conn.send / recv / close)
//!        │                                   ▲ messages, errors
//!   ┌────┴──────────────────────────────────────────────────────────┐
//!   │ driver: the `hybi` npm package (www/lib), Node `net`/`tls`,     │
//!   │   setTimeout, performance.now(); or the browser page           │
//!   ├────────────────────────────────────────────────────────────────┤
//!   │ hybi-wasm (this crate): Machine = one core Connection for JS;  │
//!   │   types in and out, crypto.getRandomValues for entropy         │
//!   ├────────────────────────────────────────────────────────────────┤
//!   │ hybi-core: handshakes, framings, the connection state machine  │
//!   └────────────────────────────────────────────────────────────────┘
//!        ▲ Uint8Array chunks read                bytes to write ▼
//!                                 network
//! ```
//!
//! This crate translates types and nothing else: every byte on the wire and
//! every decision is the core's. Bytes come in as `Uint8Array`s; events,
//! heads and errors go out as plain objects built property by property;
//! configuration comes in as a plain object, read field by field. Every input returns, in one crossing, all the events it
//! caused, all the bytes to write and the next deadline (see [`Machine`]),
//! because each crossing between JS and wasm costs more than the work for a
//! small message.
//!
//! The crate builds for the host too (so that clippy, rustdoc and unit
//! tests run there); it is only useful on `wasm32-unknown-unknown`.
//!
//! # Features
//!
//! - `inspect` (off): the page's frame inspector, `inspect` and
//!   `encodeFrame` (module `inspect`). `scripts/build-page` turns it on;
//!   the npm package is built without it, and without serde, which only
//!   the inspector uses: about a third of the page's `.wasm` kept out of a
//!   download that never uses it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod convert;
mod entropy;
#[cfg(feature = "inspect")]
pub mod inspect;
mod machine;
mod out;

pub use machine::Machine;
