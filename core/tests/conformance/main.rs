//! RFC 6455 / RFC 7692 conformance, in memory, for both roles.
//!
//! The cases follow the categories of the Autobahn TestSuite (framing, pings,
//! reserved bits, opcodes, fragmentation, UTF-8, limits, close handling,
//! masking, compression, handshake). Each case runs against a server
//! `Connection` fed masked frames, as a client sends them, and against a
//! client `Connection` fed unmasked frames, as a server sends them. Every
//! case checks the exact events and the exact frames the machine transmits
//! (masked ones are parsed and unmasked first).
//!
//! One file per concern, all sharing `harness` (and the crate's test kit,
//! `hybi_core::testing`, through it).

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod close;
mod compression;
mod control;
mod fragmentation;
mod framing;
mod handshake;
mod limits;
mod masking;
mod utf8;
