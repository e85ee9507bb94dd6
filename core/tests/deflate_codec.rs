//! The permessage-deflate codec (`framing/rfc6455/deflate.rs`) on its own:
//! the RFC 7692 §7.2.3 examples both ways, context takeover and its reset,
//! every window and level against C zlib (the shared `zlib_peer`), the size
//! limit against inflate bombs, corrupt input, and properties over random
//! messages. `deflate_zlib.rs` runs long mixed sequences against zlib; here
//! each case is small and names one behaviour.

mod common;
mod zlib_peer;

use std::sync::LazyLock;

use common::{deflate_params, named, rfc7692_examples, Seeded};
use flate2::{Compress, Compression, Decompress};
use hybi_core::config::{Role, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use hybi_core::framing::rfc6455::deflate::{Compressor, Decompressor, InflateError};
use hybi_core::DeflateParams;
use proptest::prelude::*;
use zlib_peer::{zlib_deflate, zlib_inflate, TAIL};

/// The payload of the RFC 7692 §7.2.3 example `name`
/// (`core/testdata/rfc7692_examples.txt`): each is "Hello".
fn example(name: &str) -> Vec<u8> {
    let examples = rfc7692_examples();
    let vector = named(&examples, name);
    assert_eq!(vector.text("text"), "Hello", "{name}");
    vector.bytes("compressed")
}

static HELLO: LazyLock<Vec<u8>> = LazyLock::new(|| example("hello"));
static HELLO_AGAIN: LazyLock<Vec<u8>> = LazyLock::new(|| example("hello again"));
static HELLO_STORED: LazyLock<Vec<u8>> = LazyLock::new(|| example("stored block"));
static HELLO_BFINAL: LazyLock<Vec<u8>> = LazyLock::new(|| example("bfinal set"));
static HELLO_TWO_BLOCKS: LazyLock<Vec<u8>> = LazyLock::new(|| example("two blocks"));

/// Most bytes the codec inflates between two checks of the limit
/// (`INFLATE_STEP` in deflate.rs): how far past the limit the output may
/// have been reserved.
const INFLATE_STEP: usize = 32 * 1024;

const MIB: usize = 1 << 20;
const NO_LIMIT: usize = usize::MAX;

fn compress(c: &mut Compressor, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    c.compress_message(payload, &mut out);
    out
}

fn inflate_msg(d: &mut Decompressor, message: &[u8]) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    d.decompress_message(message, &mut out, NO_LIMIT)?;
    Ok(out)
}

/// Incompressible bytes: the test kit's seeded generator.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    Seeded::new(seed).bytes(len)
}

/// A 20,000-byte random block repeated with one byte in 1,000 changed:
/// compresses well only with back-references 20,000 bytes long, so a
/// window-limited compressor that cheated would be caught.
fn repetitive_bytes(len: usize) -> Vec<u8> {
    let block = random_bytes(20_000, 7);
    let mut data: Vec<u8> = block.iter().copied().cycle().take(len).collect();
    for (i, b) in data.iter_mut().enumerate().step_by(1000) {
        *b = b.wrapping_add(i as u8);
    }
    data
}

fn sample_messages() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"Hello".to_vec(),
        b"Hello, Hello, Hello! permessage-deflate round trip".to_vec(),
        random_bytes(MIB, 1),
        repetitive_bytes(MIB),
        Vec::new(),
        b"Hello".to_vec(),
    ]
}

// --- RFC 7692 §7.2.3 examples ------------------------------------------

#[test]
fn rfc_examples_inflate() {
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    assert_eq!(inflate_msg(&mut d, &HELLO).unwrap(), b"Hello"); // §7.2.3.1
    assert_eq!(inflate_msg(&mut d, &HELLO_AGAIN).unwrap(), b"Hello"); // §7.2.3.2

    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    assert_eq!(inflate_msg(&mut d, &HELLO_STORED).unwrap(), b"Hello"); // §7.2.3.3

    // §7.2.3.4: BFINAL set; the history survives it.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Server);
    assert_eq!(inflate_msg(&mut d, &HELLO_BFINAL).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut d, &HELLO_AGAIN).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut d, &HELLO_BFINAL).unwrap(), b"Hello");

    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    assert_eq!(inflate_msg(&mut d, &HELLO_TWO_BLOCKS).unwrap(), b"Hello"); // §7.2.3.5

    // §7.2.3.1, fragmented: the payload split over two frames.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    d.begin_message();
    d.decompress_chunk(&HELLO[..3], &mut out, 5).unwrap();
    d.decompress_chunk(&HELLO[3..], &mut out, 5).unwrap();
    d.finish_message(&mut out, 5).unwrap();
    assert_eq!(out, b"Hello");
}

#[test]
fn rfc_examples_compress() {
    let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
    assert_eq!(compress(&mut c, b"Hello"), *HELLO);
    // Context takeover: the second copy is a back-reference (§7.2.3.2).
    assert_eq!(compress(&mut c, b"Hello"), *HELLO_AGAIN);
}

#[test]
fn no_context_takeover_resets_both_ends() {
    // Our compressor forgets: the second "Hello" is spelled out again.
    let mut c = Compressor::new(&deflate_params(true, 15), Role::Client, 6);
    assert_eq!(compress(&mut c, b"Hello"), *HELLO);
    assert_eq!(compress(&mut c, b"Hello"), *HELLO);
    // A window-limited one forgets too, with context takeover agreed.
    let mut c = Compressor::new(&deflate_params(false, 10), Role::Server, 6);
    assert_eq!(compress(&mut c, b"Hello"), *HELLO);
    assert_eq!(compress(&mut c, b"Hello"), *HELLO);

    // A decompressor for a peer that resets forgets as well: the
    // back-reference of §7.2.3.2 finds a cleared window.
    let mut d = Decompressor::new(&deflate_params(true, 15), Role::Server);
    assert_eq!(inflate_msg(&mut d, &HELLO).unwrap(), b"Hello");
    // ("H", then 4 bytes from 5 back: zeros, not "ello".)
    assert_eq!(inflate_msg(&mut d, &HELLO_AGAIN).unwrap(), b"H\0\0\0\0");
    // Only the peer's flag counts: a client inflates what the server
    // sends, and here only the client resets.
    let p = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
    let mut d = Decompressor::new(&p, Role::Client);
    assert_eq!(inflate_msg(&mut d, &HELLO).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut d, &HELLO_AGAIN).unwrap(), b"Hello");
}

#[test]
fn empty_message_is_one_zero_byte() {
    for (nct, bits, level) in [(false, 15, 6), (true, 15, 6), (false, 9, 6), (false, 15, 0)] {
        let mut c = Compressor::new(&deflate_params(nct, bits), Role::Client, level);
        let mut d = Decompressor::new(&deflate_params(nct, bits), Role::Server);
        let mut z = Decompress::new(false);
        for payload in [&b""[..], b"abcabcabc", b"", b"", b"abcabcabc"] {
            let message = compress(&mut c, payload);
            if payload.is_empty() {
                assert_eq!(message, [0x00]);
            }
            assert_eq!(inflate_msg(&mut d, &message).unwrap(), payload);
            assert_eq!(zlib_inflate(&mut z, &message, 4096).unwrap(), payload);
        }
    }
}

// --- Round trips against zlib -------------------------------------------

/// Our compressor, every window size, with and without context takeover,
/// inflated by zlib with exactly that window (taking output one byte at a
/// time, so zlib checks every distance) and by our decompressor.
#[test]
fn ours_to_zlib_every_window() {
    let messages = sample_messages();
    let zlib = |bits: u8| Decompress::new_with_window_bits(false, bits.max(9));
    for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
        // flate2 takes 9..=15: a 256-byte window is checked as 512.
        let keep = deflate_params(false, bits);
        let reset = deflate_params(true, bits);
        let mut ours = Compressor::new(&keep, Role::Server, 6);
        let mut ours_reset = Compressor::new(&reset, Role::Server, 6);
        assert_eq!(ours.window_bits(), bits);
        let (mut d_keep, mut z_keep) = (Decompressor::new(&keep, Role::Client), zlib(bits));
        let mut d_reset = Decompressor::new(&reset, Role::Client);
        for m in &messages {
            let message = compress(&mut ours, m);
            // Small windows cost at most a few bytes per piece.
            assert!(message.len() <= m.len() + m.len() / 16 + 16, "bits {bits}");
            // A limited window never carries context, so the same bytes
            // also suit peers that reset between messages. With the full
            // window the resetting compressor has its own output.
            let message_reset =
                if bits < MAX_WINDOW_BITS { message.clone() } else { compress(&mut ours_reset, m) };
            for (message, d, z) in
                [(&message, &mut d_keep, &mut z_keep), (&message_reset, &mut d_reset, &mut zlib(bits))]
            {
                let got = zlib_inflate(z, message, 1).unwrap_or_else(|e| panic!("bits {bits}: {e}"));
                assert!(got == *m, "zlib output differs: bits {bits}");
                assert!(inflate_msg(d, message).unwrap() == *m, "bits {bits}");
            }
        }
        // The full window with context takeover does carry context.
        if bits == MAX_WINDOW_BITS {
            let again = compress(&mut ours, &messages[4]).len();
            let fresh = compress(&mut Compressor::new(&keep, Role::Server, 6), &messages[4]).len();
            assert!(again < fresh / 2, "{again} vs {fresh}");
        }
    }
}

/// The check above has teeth: zlib with a 512-byte window refuses what a
/// 32 KiB-window compressor makes of data that repeats every 20,000 bytes.
#[test]
fn zlib_window_check_catches_far_references() {
    let data = repetitive_bytes(64 * 1024);
    let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
    let message = compress(&mut c, &data);
    assert!(message.len() < 30_000, "compressed to {}", message.len());
    for bits in [9, 12, 14] {
        let mut z = Decompress::new_with_window_bits(false, bits);
        let err = zlib_inflate(&mut z, &message, 1).unwrap_err();
        assert!(err.contains("too far back"), "{err}");
    }
    let mut z = Decompress::new_with_window_bits(false, 15);
    assert!(zlib_inflate(&mut z, &message, 1).unwrap() == data);
}

#[test]
fn window_limit_costs_ratio_not_correctness() {
    let data = repetitive_bytes(256 * 1024);
    let size =
        |bits| compress(&mut Compressor::new(&deflate_params(false, bits), Role::Server, 6), &data).len();
    // 20,000-byte repeats fit a 32 KiB window only.
    assert!(size(15) * 4 < size(14), "{} vs {}", size(15), size(14));
}

/// zlib's compressor, every window size, with and without context
/// takeover, inflated by ours.
#[test]
fn zlib_to_ours_every_window() {
    let messages = sample_messages();
    for bits in 9..=MAX_WINDOW_BITS {
        for nct in [false, true] {
            let p = deflate_params(nct, bits);
            let mut z = Compress::new_with_window_bits(Compression::new(6), false, bits);
            let mut d = Decompressor::new(&p, Role::Server);
            for m in &messages {
                let message = zlib_deflate(&mut z, m);
                if nct {
                    z.reset();
                }
                let got = inflate_msg(&mut d, &message).unwrap();
                assert!(got == *m, "bits {bits} nct {nct}");
            }
        }
    }
}

#[test]
fn every_level_round_trips() {
    let data = [b"Hello".repeat(1000), repetitive_bytes(100_000), random_bytes(70_000, 3)];
    for level in 0..=12 {
        for bits in [9, 15] {
            let mut c = Compressor::new(&deflate_params(false, bits), Role::Client, level);
            let mut d = Decompressor::new(&deflate_params(false, bits), Role::Server);
            let mut z = Decompress::new_with_window_bits(false, bits);
            for m in &data {
                let message = compress(&mut c, m);
                assert!(zlib_inflate(&mut z, &message, 1).unwrap() == *m, "level {level}");
                assert!(inflate_msg(&mut d, &message).unwrap() == *m, "level {level}");
            }
        }
    }
}

// --- Limits and corrupt input -------------------------------------------

/// One MiB of zeros, compressed: about a kilobyte.
fn zeros_message() -> Vec<u8> {
    let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 9);
    compress(&mut c, &vec![0; MIB])
}

#[test]
fn bomb_is_refused_while_inflating() {
    let piece = zeros_message();
    assert!(piece.len() < 2048, "{}", piece.len());

    // A kilobyte that inflates to a MiB is refused at 64 KiB.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    assert_eq!(d.decompress_message(&piece, &mut out, 64 * 1024), Err(InflateError::TooLarge));
    assert_eq!(out.len(), 64 * 1024);
    assert!(out.capacity() <= 2 * (64 * 1024 + INFLATE_STEP), "{}", out.capacity());

    // 1,024 pieces, each sync-flushed, are one stream of 1 GiB of zeros
    // in about a MiB. Two of them inflate to 2 MiB, so all of them to
    // 1 GiB.
    let mut bomb = Vec::new();
    for _ in 0..1024 {
        bomb.extend_from_slice(&piece);
        bomb.extend_from_slice(&TAIL);
    }
    bomb.truncate(bomb.len() - TAIL.len());
    assert!(bomb.len() < 2 * MIB);
    let two = &bomb[..2 * piece.len() + TAIL.len()];
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    d.decompress_message(two, &mut out, NO_LIMIT).unwrap();
    assert!(out.len() == 2 * MIB && out.iter().all(|&b| b == 0));

    // The whole bomb, one-shot: refused at 1 MiB, `out` never near 1 GiB.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    assert_eq!(d.decompress_message(&bomb, &mut out, MIB), Err(InflateError::TooLarge));
    assert_eq!(out.len(), MIB);
    assert!(out.capacity() <= 2 * (MIB + INFLATE_STEP), "{}", out.capacity());

    // Frame by frame: refused within the first two kilobytes of input.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    d.begin_message();
    let fed = bomb
        .chunks(1024)
        .position(|chunk| d.decompress_chunk(chunk, &mut out, MIB).is_err())
        .expect("the bomb went through");
    assert!(fed <= 1, "refused only after {} KiB", fed + 1);
    assert!(out.len() <= MIB);

    // Peak memory of the whole test process, tests running alongside
    // included, stays far below the 1 GiB the bomb holds (Linux only).
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let peak_kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/self/status");
        assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
    }
}

#[test]
fn limit_is_exact_and_per_message() {
    let payload = repetitive_bytes(100_000);
    let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
    let message = compress(&mut c, &payload);
    let limit = payload.len();

    let mut d = Decompressor::new(&deflate_params(true, 15), Role::Client);
    for _ in 0..3 {
        // Per message: the count restarts, so repeating it is fine.
        let mut out = Vec::new();
        d.decompress_message(&message, &mut out, limit).unwrap();
        assert!(out == payload);
    }
    let mut out = Vec::new();
    assert_eq!(d.decompress_message(&message, &mut out, limit - 1), Err(InflateError::TooLarge));
    assert_eq!(out.len(), limit - 1);

    // Across frames of one message the count adds up, even when the
    // caller empties `out` in between.
    let mut d = Decompressor::new(&deflate_params(true, 15), Role::Client);
    let mut total = 0;
    d.begin_message();
    let mut result = Ok(());
    for chunk in message.chunks(100) {
        let mut out = Vec::new();
        result = d.decompress_chunk(chunk, &mut out, limit - 1);
        total += out.len();
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        let mut out = Vec::new();
        result = d.finish_message(&mut out, limit - 1);
        total += out.len();
    }
    assert_eq!(result, Err(InflateError::TooLarge));
    assert_eq!(total, limit - 1);

    // An empty message fits a zero limit.
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    let mut out = Vec::new();
    d.decompress_message(&[0x00], &mut out, 0).unwrap();
    assert!(out.is_empty());
    assert_eq!(d.decompress_message(&HELLO, &mut out, 0), Err(InflateError::TooLarge));
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u32,
}

impl BitWriter {
    /// `n` bits of `value`, least significant first.
    fn put(&mut self, value: u32, n: u32) {
        for i in 0..n {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = (value >> i) & 1;
            *self.bytes.last_mut().unwrap() |= (bit as u8) << (self.used % 8);
            self.used += 1;
        }
    }

    /// A Huffman code of `n` bits, most significant first.
    fn code(&mut self, code: u32, n: u32) {
        for i in (0..n).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[test]
fn corrupt_input_is_refused() {
    // A fixed-Huffman block: "a", then length 3 with distance code 30,
    // which DEFLATE leaves undefined. Bits go in LSB first, Huffman codes
    // MSB first.
    let mut bad_distance = BitWriter::default();
    bad_distance.put(0b0, 1); // BFINAL
    bad_distance.put(0b01, 2); // BTYPE fixed
    bad_distance.code(0x30 + u32::from(b'a'), 8);
    bad_distance.code(0b000_0001, 7); // length code 257: 3 bytes
    bad_distance.code(30, 5);
    let bad_distance = bad_distance.finish();
    // The same with distance code 0 (distance 1) is fine: "aaaa".
    let mut good = BitWriter::default();
    good.put(0b0, 1);
    good.put(0b01, 2);
    good.code(0x30 + u32::from(b'a'), 8);
    good.code(0b000_0001, 7);
    good.code(0, 5);
    good.code(0, 7); // end of block
    good.put(0b000, 3); // the stored block the tail completes
    let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
    assert_eq!(inflate_msg(&mut d, &good.finish()).unwrap(), b"aaaa");

    let cases: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff],             // BTYPE 11 is reserved
        &[0x00, 0x05, 0x00, 0x00, 0x00], // stored block: NLEN is not !LEN
        &[0x04, 0x00, 0xfe, 0xff],       // dynamic block with bad code lengths
        &bad_distance,
    ];
    for case in cases {
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        assert_eq!(d.decompress_message(case, &mut out, NO_LIMIT), Err(InflateError::Corrupt), "{case:02x?}");
        // And it stays broken.
        assert_eq!(d.decompress_message(&HELLO, &mut out, NO_LIMIT), Err(InflateError::Corrupt));
    }
}

#[test]
fn inflate_error_texts() {
    assert_eq!(InflateError::TooLarge.to_string(), "inflated message exceeds the size limit");
    assert_eq!(InflateError::Corrupt.to_string(), "corrupt deflate data");
    assert_eq!(InflateError::TooLarge.close_code(), 1009);
    assert_eq!(InflateError::Corrupt.close_code(), 1007);
}

// --- Properties -------------------------------------------------------------

/// Short messages that repeat themselves and each other.
fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let message = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        prop::collection::vec(0u8..4, 0..5000),
        (prop::collection::vec(any::<u8>(), 1..40), 1usize..200).prop_map(|(unit, n)| unit.repeat(n)),
    ];
    prop::collection::vec(message, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any parameters, role and level: ours and zlib inflate what we send.
    #[test]
    fn round_trip(msgs in messages(), nct in any::<bool>(), bits in 8u8..=15,
                  client in any::<bool>(), level in 0u8..=9) {
        let role = if client { Role::Client } else { Role::Server };
        let peer = if client { Role::Server } else { Role::Client };
        let p = deflate_params(nct, bits);
        let mut c = Compressor::new(&p, role, level);
        let mut d = Decompressor::new(&p, peer);
        let mut z = Decompress::new_with_window_bits(false, bits.max(9));
        for m in &msgs {
            let message = compress(&mut c, m);
            prop_assert_eq!(&inflate_msg(&mut d, &message).unwrap(), m);
            if nct {
                z = Decompress::new_with_window_bits(false, bits.max(9));
            }
            prop_assert_eq!(&zlib_inflate(&mut z, &message, 1).unwrap(), m);
        }
    }

    /// Frames split anywhere inflate to what the whole message does.
    #[test]
    fn chunked_equals_one_shot(msgs in messages(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
                               nct in any::<bool>()) {
        let p = deflate_params(nct, 15);
        let mut c = Compressor::new(&p, Role::Server, 6);
        let mut whole = Decompressor::new(&p, Role::Client);
        let mut split = Decompressor::new(&p, Role::Client);
        for m in &msgs {
            let message = compress(&mut c, m);
            let one_shot = inflate_msg(&mut whole, &message).unwrap();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(message.len() + 1)).collect();
            points.sort_unstable();
            let mut out = Vec::new();
            split.begin_message();
            let mut from = 0;
            for to in points.into_iter().chain([message.len()]) {
                split.decompress_chunk(&message[from..to], &mut out, m.len()).unwrap();
                from = to;
            }
            split.finish_message(&mut out, m.len()).unwrap();
            prop_assert_eq!(&one_shot, m);
            prop_assert_eq!(&out, m);
        }
    }

    /// Garbage never panics nor outgrows the limit.
    #[test]
    fn garbage_is_harmless(data in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..5000) {
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        let _ = d.decompress_message(&data, &mut out, limit);
        prop_assert!(out.len() <= limit);
    }
}

#[test]
fn debug_output_names_state() {
    let c = Compressor::new(&deflate_params(false, 10), Role::Client, 6);
    assert!(format!("{c:?}").contains("window_bits: 10"));
    let d = Decompressor::new(&deflate_params(true, 15), Role::Client);
    assert!(format!("{d:?}").contains("reset_between_messages: true"));
}
