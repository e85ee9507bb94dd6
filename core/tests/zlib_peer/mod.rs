//! C zlib (through flate2) as the independent permessage-deflate peer:
//! one message at a time, the way RFC 7692 frames it (sync flush, the
//! `00 00 FF FF` tail removed by the sender and appended by the receiver).
//!
//! Shared by `core/tests/deflate_zlib.rs` and `core/tests/deflate_codec.rs`
//! (`mod zlib_peer;`) and the fuzz target `fuzz/fuzz_targets/deflate_zlib.rs`
//! (`#[path]`), so that all check our codec against the same use of zlib.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

/// What RFC 7692 §7.2.1 strips from every message and §7.2.2 appends again.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflates one message with zlib after appending the tail; an error where
/// zlib refuses the data. Takes output in `step`-byte calls: zlib checks
/// back-references against its window exactly only when each call's output
/// is small (a distance into the same call's output is let through).
pub fn zlib_inflate(z: &mut Decompress, message: &[u8], step: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; step];
    for input in [message, &TAIL[..]] {
        let mut at = 0;
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            let status =
                z.decompress(&input[at..], &mut buf, FlushDecompress::Sync).map_err(|e| e.to_string())?;
            let read = (z.total_in() - in0) as usize;
            let wrote = (z.total_out() - out0) as usize;
            at += read;
            out.extend_from_slice(&buf[..wrote]);
            if status == Status::StreamEnd {
                return Err("zlib found BFINAL in a sync-flushed message".into());
            }
            if at == input.len() && wrote < step {
                break;
            }
            if read == 0 && wrote == 0 {
                return Err("zlib made no progress".into());
            }
        }
    }
    Ok(out)
}

/// Compresses one message with zlib, sync-flushed, tail removed (what
/// browsers and zlib-based servers send).
pub fn zlib_deflate(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / 8 + 64);
    let mut at = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        let in0 = z.total_in();
        z.compress_vec(&payload[at..], &mut out, FlushCompress::Sync).unwrap();
        at += (z.total_in() - in0) as usize;
        // zlib has finished the flush when it leaves output room unused.
        if at == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.is_empty() {
        // A second sync flush in a row writes nothing: an empty message
        // after another one. Peers send a lone 0x00 byte for it.
        assert!(payload.is_empty());
        return vec![0x00];
    }
    assert!(out.ends_with(&TAIL), "zlib's sync flush ends with the empty stored block");
    out.truncate(out.len() - TAIL.len());
    out
}
