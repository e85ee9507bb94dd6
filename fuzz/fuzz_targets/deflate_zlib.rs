//! permessage-deflate against an independent codec, C zlib, both ways.
//!
//! The input is an agreement (window 8 to 15, context takeover or not,
//! level, which role sends) and a sequence of message runs, each described
//! by a size (up to 1 MiB), a kind of content (random, zero, text-like, a
//! repeated pattern, image-like rows, a mixture), a seed and a repeat count
//! (each repetition a little longer and with other bytes), so that a few
//! bytes of input stand for a long stream of unfriendly data: bugs of a
//! long-lived codec show after many messages, not in the first. For every
//! message, in order on long-lived codecs:
//!
//! * our compressor's output, inflated by zlib with the agreed window, is
//!   the message, byte for byte (the class of bug where a sync flush ends
//!   early and a tail is lost or moved into the next message);
//! * zlib's compressor's output (sync flush, tail removed, as browsers send
//!   it), inflated by ours frame by frame at fuzzer-chosen cuts, is the
//!   message;
//! * our own inflater reads our compressor's output back.
#![no_main]

use arbitrary::Arbitrary;
use flate2::{Compress, Compression, Decompress};
use hybi_core::framing::rfc6455::deflate::{Compressor, Decompressor};
use hybi_core::DeflateParams;
use hybi_core::Role;
use libfuzzer_sys::fuzz_target;

// The same use of zlib as core/tests/deflate_zlib.rs.
#[path = "../../core/tests/zlib_peer/mod.rs"]
mod zlib_peer;
use zlib_peer::{zlib_deflate, zlib_inflate};

/// Most bytes one input may stand for, to keep executions per second useful.
const MAX_TOTAL: usize = 4 << 20;
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Arbitrary, Debug)]
struct Input {
    window_bits: u8,
    no_context_takeover: bool,
    level: u8,
    client_sends: bool,
    messages: Vec<Message>,
}

#[derive(Arbitrary, Debug)]
struct Message {
    size: u32,
    kind: Kind,
    seed: u64,
    /// Where the receiving frames are cut (RFC 6455 fragments).
    cut: u16,
    /// Further messages of this kind, each `stride` bytes longer than the
    /// one before and filled from the next seed.
    repeat: u8,
    stride: u16,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Random,
    Zero,
    Text,
    Pattern(u8),
    Image,
    Mixture,
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn fill(kind: Kind, rng: &mut Rng, out: &mut [u8]) {
    match kind {
        Kind::Random => out.iter_mut().for_each(|b| *b = (rng.next() >> 56) as u8),
        Kind::Zero => out.fill(0),
        Kind::Text => {
            const WORDS: &[&[u8]] = &[b"the ", b"frame ", b"tail ", b"window ", b"of ", b"deflate, ", b"\n"];
            let mut at = 0;
            while at < out.len() {
                let word = WORDS[(rng.next() % WORDS.len() as u64) as usize];
                let n = word.len().min(out.len() - at);
                out[at..at + n].copy_from_slice(&word[..n]);
                at += n;
            }
        }
        Kind::Pattern(period) => {
            let period = usize::from(period) + 1;
            let unit: Vec<u8> = (0..period).map(|_| (rng.next() >> 56) as u8).collect();
            for (b, u) in out.iter_mut().zip(unit.iter().cycle()) {
                *b = *u;
            }
        }
        Kind::Image => {
            // Rows of a smooth gradient with noise: compresses poorly but not
            // like random bytes.
            for (i, b) in out.iter_mut().enumerate() {
                let (x, y) = ((i % 512) as u64, (i / 512) as u64);
                *b = ((x + 2 * y) / 6 + rng.next() % 23) as u8;
            }
        }
        Kind::Mixture => {
            let mut at = 0;
            while at < out.len() {
                let run = (1 + (rng.next() % 20_000) as usize).min(out.len() - at);
                let kind = match rng.next() % 4 {
                    0 => Kind::Random,
                    1 => Kind::Zero,
                    2 => Kind::Text,
                    _ => Kind::Image,
                };
                fill(kind, rng, &mut out[at..at + run]);
                at += run;
            }
        }
    }
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    let same = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    format!("got {} bytes, want {}; first difference at {same}", got.len(), want.len())
}

fuzz_target!(|input: Input| {
    let bits = 8 + input.window_bits % 8;
    let p = DeflateParams {
        server_no_context_takeover: input.no_context_takeover,
        client_no_context_takeover: input.no_context_takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    };
    let (sender, receiver) =
        if input.client_sends { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
    let level = input.level % 10;
    let mut ours = Compressor::new(&p, sender, level);
    let mut our_inflater = Decompressor::new(&p, receiver);
    let mut our_inflater_of_zlib = Decompressor::new(&p, receiver);
    // flate2 takes windows 9..=15.
    let mut zlib_inflater = Decompress::new_with_window_bits(false, bits.max(9));
    let mut zlib = Compress::new_with_window_bits(Compression::new(u32::from(level)), false, bits.max(9));

    let mut total = 0;
    let (mut message, mut compressed, mut got) = (Vec::new(), Vec::new(), Vec::new());
    let runs = input.messages.iter().flat_map(|spec| {
        (0..=u64::from(spec.repeat)).map(move |k| {
            let size = spec.size as usize + k as usize * usize::from(spec.stride);
            (size % (MAX_MESSAGE + 1), spec.kind, spec.seed.wrapping_add(k), spec.cut)
        })
    });
    for (i, (size, kind, seed, cut)) in runs.enumerate() {
        let size = size.min(MAX_TOTAL - total);
        total += size;
        message.resize(size, 0);
        fill(kind, &mut Rng(seed | 1), &mut message);

        // Ours -> zlib, and ours -> ours.
        compressed.clear();
        ours.compress_message(&message, &mut compressed);
        let inflated = zlib_inflate(&mut zlib_inflater, &compressed, 64 * 1024)
            .unwrap_or_else(|e| panic!("message {i}, zlib refuses our output: {e}"));
        assert!(inflated == message, "message {i}, ours -> zlib: {}", first_difference(&inflated, &message));
        if input.no_context_takeover {
            zlib_inflater.reset(false);
        }
        got.clear();
        our_inflater.decompress_message(&compressed, &mut got, usize::MAX).expect("ours -> ours");
        assert!(got == message, "message {i}, ours -> ours: {}", first_difference(&got, &message));

        // zlib -> ours, fragmented at the fuzzer's cut.
        let from_zlib = zlib_deflate(&mut zlib, &message);
        if input.no_context_takeover {
            zlib.reset();
        }
        got.clear();
        our_inflater_of_zlib.begin_message();
        for frame in from_zlib.chunks(usize::from(cut).max(1)) {
            our_inflater_of_zlib.decompress_chunk(frame, &mut got, usize::MAX).expect("zlib -> ours");
        }
        our_inflater_of_zlib.finish_message(&mut got, usize::MAX).expect("zlib -> ours");
        assert!(got == message, "message {i}, zlib -> ours: {}", first_difference(&got, &message));

        if total >= MAX_TOTAL {
            break;
        }
    }
});
