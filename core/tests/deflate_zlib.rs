//! permessage-deflate against an independent codec: C zlib (through flate2).
//!
//! Our compressor is checked by zlib's inflater and our inflater by zlib's
//! compressor, message by message and byte for byte, over long sequences
//! that mix sizes (0 B to 1 MiB, every size around the buffer and window
//! boundaries of both codecs), compressibility (random, image-like, text,
//! all-zero, mixtures) and compression levels, at every window size 8 to 15
//! with and without context takeover.
//!
//! Why this file exists: a compressor that stops before the engine has
//! handed out the whole sync flush loses a message's tail (or moves it to
//! the head of the next message), and only some byte counts at some
//! positions in a long stream trigger it. `deflate_codec.rs` uses a few
//! hand-picked messages; these sequences run thousands.

mod common;
mod zlib_peer;

use common::{deflate_params, Seeded};
use flate2::{Compress, Compression, Decompress};
use hybi_core::config::{Role, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use hybi_core::framing::rfc6455::deflate::{Compressor, Decompressor};
use hybi_core::DeflateParams;
use zlib_peer::{zlib_deflate, zlib_inflate};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

// ---------------------------------------------------------------------------
// Test data.
// ---------------------------------------------------------------------------

/// The test kit's xorshift64* generator, its seed spread first.
struct Rng(Seeded);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(Seeded::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A 512×512 8-bit grey image with a BMP header and palette, like the file
/// that first showed the bug: smooth shapes plus sensor noise, so it
/// compresses poorly (to about 80-90%) but not at all like random bytes.
fn bmp_image(seed: u64) -> Vec<u8> {
    const SIDE: usize = 512;
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(1078 + SIDE * SIDE);
    // BITMAPFILEHEADER + BITMAPINFOHEADER, then a 256-entry grey palette.
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&((1078 + SIDE * SIDE) as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&1078u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&(SIDE as u32).to_le_bytes());
    out.extend_from_slice(&(SIDE as u32).to_le_bytes());
    out.extend_from_slice(&[1, 0, 8, 0]);
    out.extend_from_slice(&[0; 24]);
    for grey in 0..=255u8 {
        out.extend_from_slice(&[grey, grey, grey, 0]);
    }
    let (cx, cy) = (180 + (seed % 100) as i64, 300 - (seed % 70) as i64);
    for y in 0..SIDE as i64 {
        for x in 0..SIDE as i64 {
            let (dx, dy) = (x - cx, y - cy);
            let ring = ((dx * dx + dy * dy) / 300) % 64;
            let shade = (x + 2 * y) / 6 + ring * 2;
            let noise = (rng.next() % 23) as i64 - 11;
            out.push((shade + noise).clamp(0, 255) as u8);
        }
    }
    out
}

/// English-like text: words from a small vocabulary, punctuation, lines.
fn text(len: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "socket",
        "frame",
        "message",
        "deflate",
        "window",
        "of",
        "and",
        "a",
        "server",
        "client",
        "sends",
        "reads",
        "compressed",
        "tail",
        "context",
        "takeover",
        "bytes",
        "every",
        "flush",
        "to",
        "byte-exact",
        "round",
        "trip",
        "is",
        "not",
        "lost",
        "ünïcödé",
        "€",
        "42",
        "1009",
    ];
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
        out.push(match rng.below(16) {
            0 => b'\n',
            1 => b',',
            2 => b'.',
            _ => b' ',
        });
    }
    out.truncate(len);
    out
}

/// Sizes around every boundary of either codec or of the protocol: frame
/// length encodings, window sizes, our output steps (32 KiB), miniz's
/// internal buffers (64 KiB of LZ codes, 85,196 B of output), 64 KiB and
/// 128 KiB messages, 1 MiB.
fn boundary_sizes() -> Vec<usize> {
    let mut sizes = vec![0, 1, 2, 3, 4, 5, 7, 8, 125, 126, 127, 128];
    for bits in 8..=20 {
        let n = 1usize << bits;
        sizes.extend([n - 1, n, n + 1]);
    }
    for n in [85_196, 65_536 * 13 / 10, 32 * KIB + 64, 64 * KIB - 64, 128 * KIB - 212, 65_457] {
        sizes.extend([n - 1, n, n + 1]);
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// A long, unfriendly sequence of messages: sizes drawn from the boundary
/// list and at random (mostly up to 160 KiB, now and then up to 1 MiB), each
/// message of one kind of content or a mixture. `budget` bounds the total
/// bytes so that a test's run time stays predictable.
fn message_sequence(seed: u64, count: usize, budget: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let image = bmp_image(seed);
    let sizes = boundary_sizes();
    let mut total = 0;
    let mut messages = Vec::with_capacity(count);
    let mut image_at = 0;
    for i in 0..count {
        let size = match rng.below(8) {
            0..=2 => sizes[rng.below(sizes.len())],
            3 if rng.below(8) == 0 => rng.below(MIB + 1),
            3..=5 => rng.below(160 * KIB),
            6 => 64 * KIB,
            _ => rng.below(512),
        };
        // Keep to the budget evenly over the sequence: a message that would
        // run ahead of the schedule is made small instead.
        let schedule = budget / count * (i + 1) + budget / 8;
        let size = if total + size > schedule { rng.below(2048) } else { size.min(MIB) };
        let mut m = vec![0u8; size];
        match rng.below(6) {
            0 => rng.fill(&mut m),
            1 => {} // all zero
            2 => m = text(size, &mut rng),
            3 | 4 => {
                // Consecutive slices of the image, as a file sent in pieces.
                for b in m.iter_mut() {
                    *b = image[image_at];
                    image_at = (image_at + 1) % image.len();
                }
            }
            _ => {
                // Mixtures change compressibility inside one message.
                let mut at = 0;
                while at < size {
                    let run = (1 + rng.below(20 * KIB)).min(size - at);
                    let part = &mut m[at..at + run];
                    match rng.below(4) {
                        0 => rng.fill(part),
                        1 => {}
                        2 => part.copy_from_slice(&text(run, &mut rng)),
                        _ => {
                            let from = rng.below(image.len() - run.min(image.len() - 1));
                            let n = run.min(image.len() - from);
                            part[..n].copy_from_slice(&image[from..from + n]);
                        }
                    }
                    at += run;
                }
            }
        }
        total += m.len();
        messages.push(m);
    }
    messages
}

// ---------------------------------------------------------------------------
// The two directions.
// ---------------------------------------------------------------------------

/// Where the first difference between two messages is, for a useful panic.
fn describe(got: &[u8], want: &[u8]) -> String {
    let same = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    format!("got {} bytes, want {}; first difference at byte {same}", got.len(), want.len())
}

/// Our compressor (as `role`, at `level`), zlib inflating every message with
/// the agreed window. Returns the compressed bytes, for a sanity check.
fn ours_to_zlib(messages: &[Vec<u8>], p: &DeflateParams, role: Role, level: u8, step: usize) -> usize {
    let (no_context_takeover, bits) = match role {
        Role::Server => (p.server_no_context_takeover, p.server_max_window_bits),
        Role::Client => (p.client_no_context_takeover, p.client_max_window_bits),
    };
    let mut ours = Compressor::new(p, role, level);
    // flate2 takes windows 9..=15: a 256-byte window is checked as 512.
    let window = bits.max(9);
    let mut zlib = Decompress::new_with_window_bits(false, window);
    let mut wire = 0;
    let mut compressed = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        compressed.clear();
        ours.compress_message(m, &mut compressed);
        wire += compressed.len();
        let got = zlib_inflate(&mut zlib, &compressed, step)
            .unwrap_or_else(|e| panic!("message {i} ({} B), {p:?} {role:?} level {level}: {e}", m.len()));
        assert!(
            got == *m,
            "message {i} ({} B), {p:?} {role:?} level {level}: {}",
            m.len(),
            describe(&got, m)
        );
        if no_context_takeover {
            zlib.reset(false);
        }
    }
    wire
}

/// zlib compressing (as the peer of `role`), our inflater reading.
fn zlib_to_ours(messages: &[Vec<u8>], p: &DeflateParams, role: Role, level: u32) {
    let peer_bits = match role {
        Role::Server => p.client_max_window_bits,
        Role::Client => p.server_max_window_bits,
    };
    let peer_resets = match role {
        Role::Server => p.client_no_context_takeover,
        Role::Client => p.server_no_context_takeover,
    };
    let mut zlib = Compress::new_with_window_bits(Compression::new(level), false, peer_bits.max(9));
    let mut ours = Decompressor::new(p, role);
    let mut got = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let compressed = zlib_deflate(&mut zlib, m);
        if peer_resets {
            zlib.reset();
        }
        got.clear();
        // Frame by frame as a peer would fragment it, cut at odd places.
        ours.begin_message();
        let cut = (compressed.len() / 3).max(1);
        for chunk in compressed.chunks(cut) {
            ours.decompress_chunk(chunk, &mut got, usize::MAX)
                .unwrap_or_else(|e| panic!("message {i} ({} B), {p:?} {role:?}: {e}", m.len()));
        }
        ours.finish_message(&mut got, usize::MAX)
            .unwrap_or_else(|e| panic!("message {i} ({} B), {p:?} {role:?}: {e}", m.len()));
        assert!(
            got == *m,
            "message {i} ({} B), {p:?} {role:?} level {level}: {}",
            m.len(),
            describe(&got, m)
        );
    }
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

/// The report's case: a server keeping context takeover echoes 64 KiB slices
/// of a grey image; the 45th came back 79 bytes short. Then 128 KiB slices.
#[test]
fn image_slices_echoed_with_context_takeover() {
    let image: Vec<u8> = (0..4).flat_map(bmp_image).collect();
    let p = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
    for slice in [64 * KIB, 128 * KIB] {
        let messages: Vec<Vec<u8>> = image.chunks(slice).map(<[u8]>::to_vec).cycle().take(120).collect();
        ours_to_zlib(&messages, &p, Role::Server, 6, 64 * KIB);
    }
}

/// Thousands of messages through the default agreement (32 KiB windows,
/// context kept), both directions.
#[test]
fn thousands_of_messages_default_agreement() {
    let messages = message_sequence(1, 3000, 96 * MIB);
    let p = DeflateParams::default();
    let wire = ours_to_zlib(&messages, &p, Role::Server, 6, 64 * KIB);
    let total: usize = messages.iter().map(Vec::len).sum();
    assert!(wire < total, "the sequence compresses: {wire} of {total} bytes");
    zlib_to_ours(&messages, &p, Role::Client, 6);
}

/// Every window size 8 to 15 on each side, with and without context
/// takeover, levels 0 to 9 in turn, both directions, both roles.
#[test]
fn every_window_and_takeover_both_directions() {
    let levels = [6u8, 1, 9, 0, 3];
    let mut n = 0;
    for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
        for no_context_takeover in [false, true] {
            let p = deflate_params(no_context_takeover, bits);
            let level = levels[n % levels.len()];
            let role = if n % 2 == 0 { Role::Server } else { Role::Client };
            let messages = message_sequence(100 + n as u64, 300, 10 * MIB);
            ours_to_zlib(&messages, &p, role, level, 16 * KIB);
            zlib_to_ours(&messages, &p, role, u32::from(level));
            n += 1;
        }
    }
}

/// Small windows checked the strict way: zlib takes its output a byte at a
/// time, so a back-reference beyond the agreed window is refused ("invalid
/// distance too far back") instead of slipping through.
#[test]
fn small_windows_hold_their_distance_exactly() {
    for bits in MIN_WINDOW_BITS..MAX_WINDOW_BITS {
        for no_context_takeover in [false, true] {
            let messages = message_sequence(200 + u64::from(bits), 40, 512 * KIB);
            ours_to_zlib(&messages, &deflate_params(no_context_takeover, bits), Role::Client, 6, 1);
        }
    }
}

/// The generators make what they claim: without this a bug in them could
/// turn every sequence into zeros and the tests above into nothing.
#[test]
fn test_data_is_as_described() {
    let ratio = |data: &[u8]| {
        let mut z = Compress::new(Compression::new(6), false);
        zlib_deflate(&mut z, data).len() as f64 / data.len() as f64
    };
    let image = bmp_image(1);
    let r = ratio(&image);
    assert!((0.6..0.97).contains(&r), "image compresses to {r:.2}");
    let r = ratio(&text(100_000, &mut Rng::new(3)));
    assert!((0.2..0.6).contains(&r), "text compresses to {r:.2}");
    let mut random = vec![0; 100_000];
    Rng::new(4).fill(&mut random);
    assert!(ratio(&random) > 1.0);
    let messages = message_sequence(1, 3000, 96 * MIB);
    let total: usize = messages.iter().map(Vec::len).sum();
    assert!(total > 40 * MIB, "{total}");
    assert!(messages.iter().any(Vec::is_empty));
    assert!(messages.iter().any(|m| m.len() > 512 * KIB));
    for size in [64 * KIB - 1, 64 * KIB, 128 * KIB + 1] {
        assert!(messages.iter().any(|m| m.len() == size), "{size}");
    }
}

/// What the fuzzer (`fuzz/fuzz_targets/deflate_zlib.rs`) found first with
/// the bug put back: one large message stored at level 0, e.g. 63,653
/// random bytes, came out 163 bytes short. Stored blocks make the flush's
/// last block large, so every size from 32 KiB to 160 KiB in steps of 211
/// bytes, at level 0 and 1, on a fresh compressor and on one that goes on.
#[test]
fn large_single_messages_at_low_levels() {
    let mut rng = Rng::new(9);
    let sizes: Vec<usize> = (32 * KIB..160 * KIB).step_by(211).collect();
    let messages: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| {
            let mut m = vec![0; n];
            rng.fill(&mut m);
            m
        })
        .collect();
    for level in [0, 1] {
        for bits in [12, 15] {
            let p = deflate_params(false, bits);
            ours_to_zlib(&messages, &p, Role::Server, level, 64 * KIB);
            for m in messages.iter().step_by(7) {
                ours_to_zlib(std::slice::from_ref(m), &p, Role::Client, level, 64 * KIB);
            }
        }
    }
}

/// A message compressed in parts (`compress_part`, what a sender that never
/// holds a large message whole uses) inflates, with zlib, to the message,
/// for every window and takeover, parts of odd sizes (1 byte to past a
/// window, cut where they fall), messages of 0 B to megabytes, and whole
/// messages (`compress_message`) in between on the same compressor.
#[test]
fn messages_compressed_in_parts_inflate_whole() {
    let part_sizes = [1usize, 7, 255, 256, 1000, 4096, 32 * KIB, 32 * KIB + 1, 64 * KIB, 200 * KIB];
    let mut n = 0;
    for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
        for no_context_takeover in [false, true] {
            let p = deflate_params(no_context_takeover, bits);
            let level = [6u8, 1, 9, 0, 3][n % 5];
            let role = if n % 2 == 0 { Role::Server } else { Role::Client };
            let mut ours = Compressor::new(&p, role, level);
            let mut zlib = Decompress::new_with_window_bits(false, bits.max(9));
            let mut messages = message_sequence(500 + n as u64, 40, 4 * MIB);
            messages.push(Vec::new());
            messages.push(vec![0; 3 * MIB]);
            for (i, m) in messages.iter().enumerate() {
                let mut compressed = Vec::new();
                let part = part_sizes[(i + n) % part_sizes.len()];
                if i % 4 == 3 {
                    ours.compress_message(m, &mut compressed);
                } else if m.is_empty() {
                    ours.compress_part(&[], true, &mut compressed);
                } else {
                    let parts: Vec<&[u8]> = m.chunks(part).collect();
                    for (j, chunk) in parts.iter().enumerate() {
                        ours.compress_part(chunk, j + 1 == parts.len(), &mut compressed);
                    }
                }
                let got = zlib_inflate(&mut zlib, &compressed, 16 * KIB).unwrap_or_else(|e| {
                    panic!("message {i} ({} B) in {part} B parts, {p:?} {role:?} level {level}: {e}", m.len())
                });
                assert!(
                    got == *m,
                    "message {i} ({} B) in {part} B parts, {p:?} {role:?} level {level}: {}",
                    m.len(),
                    describe(&got, m)
                );
                if no_context_takeover {
                    zlib.reset(false);
                }
                // Every fifth once more, all in one part that does not end
                // it, then an empty last part.
                if i % 5 == 1 && !m.is_empty() {
                    let mut compressed = Vec::new();
                    ours.compress_part(m, false, &mut compressed);
                    ours.compress_part(&[], true, &mut compressed);
                    let got = zlib_inflate(&mut zlib, &compressed, 16 * KIB)
                        .unwrap_or_else(|e| panic!("message {i} again, last part empty, {p:?}: {e}"));
                    assert!(got == *m, "message {i} again, last part empty, {p:?}: {}", describe(&got, m));
                    if no_context_takeover {
                        zlib.reset(false);
                    }
                }
            }
            n += 1;
        }
    }
}
