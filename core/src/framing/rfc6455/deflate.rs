//! RFC 7692 permessage-deflate compression (docs/PROTOCOLS.md §9.2–§9.7):
//! the [`Compressor`] for the messages one end sends and the bounded
//! [`Decompressor`] for those it receives, under the agreement
//! ([`DeflateParams`]) the handshake settled (`handshake/deflate.rs`).
//!
//! Sans-IO like the rest of the crate: nothing here reads a socket or a frame
//! header. The caller (the RFC 6455 reader, the connection's send path) sets
//! and checks RSV1, splits and joins frames, and hands this module message
//! payloads.
//!
//! # Compression
//!
//! A message is compressed as raw DEFLATE ending with a sync flush, whose
//! trailing `00 00 FF FF` is removed (RFC 7692 §7.2.1); the receiver appends it
//! again before inflating (§7.2.2). With context takeover the LZ77 window
//! carries from one message to the next.
//!
//! miniz_oxide always compresses with a 32 KiB window. When the agreed window
//! for our own compression is smaller, the [`Compressor`] cuts every message
//! into pieces of `2^bits` bytes and ends each piece with a full flush (a sync
//! flush that also forgets the history). Each piece is then compressed as if
//! by a fresh compressor, so no back-reference reaches further than `2^bits`
//! bytes, and the sync-flushed pieces concatenate into one valid DEFLATE
//! stream. Such a compressor also forgets its history after every message.
//! This costs some compression ratio (about five bytes per piece plus a new
//! block header), never correctness, and it honours every window size
//! exactly, 8 included (zlib cannot: asked for 8 it uses 9 or refuses).
//!
//! # Limits
//!
//! A [`Decompressor`] inflates in bounded steps and stops with
//! [`InflateError::TooLarge`] as soon as a message outgrows the caller's
//! limit, so a small message that would inflate to gigabytes never puts more
//! than the limit into the caller's buffer (plus what `Vec` growth reserves)
//! and stops after reading little more input than produced that much.
//! Besides the caller's output buffer, a `Decompressor` holds a fixed ~43 KiB
//! state and a `Compressor` a fixed ~300 KiB one.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate, InflateState, ZeroReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use crate::config::{clamp_window_bits, Role, MAX_WINDOW_BITS};
use crate::handshake::deflate::DeflateParams;

/// The empty stored block a sync flush ends with: removed from every
/// compressed message and appended again before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Most bytes inflated in one step between two checks of the size limit.
const INFLATE_STEP: usize = 32 * 1024;

/// Why a compressed message could not be inflated. Either one leaves the
/// [`Decompressor`] unusable: fail the connection ([`InflateError::close_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InflateError {
    /// The message inflates to more than the caller's limit.
    TooLarge,
    /// The data is not valid DEFLATE.
    Corrupt,
}

impl InflateError {
    /// The RFC 6455 close code to fail the connection with: 1009 (message too
    /// big) or 1007 (invalid payload data).
    pub const fn close_code(self) -> u16 {
        match self {
            InflateError::TooLarge => 1009,
            InflateError::Corrupt => 1007,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::TooLarge => "inflated message exceeds the size limit",
            InflateError::Corrupt => "corrupt deflate data",
        })
    }
}

impl core::error::Error for InflateError {}

/// Compresses the messages one end sends.
///
/// With context takeover (and a 32 KiB window) the LZ77 history carries
/// from message to message. With our side's `no_context_takeover`, or an
/// agreed window below 32 KiB (see the [module docs](self)), every message
/// starts afresh.
pub struct Compressor {
    engine: Box<CompressorOxide>,
    /// The window we promised to stay within, as a base-2 logarithm.
    window_bits: u8,
    /// Forget the history at the end of every message.
    reset_after_message: bool,
    /// `Some(2^window_bits)` when the window is limited: the input is cut
    /// into pieces of this many bytes, each ending with a full flush.
    piece: Option<usize>,
    /// A message given in parts ([`compress_part`](Self::compress_part)):
    /// its bytes so far, and those since the last full flush of `piece`.
    part_total: usize,
    part_since_flush: usize,
}

impl Compressor {
    /// A compressor for what `role` sends under `params`, at DEFLATE `level`
    /// (0 to 9; larger values count as 9; see
    /// [`DeflateConfig::compression_level`](crate::DeflateConfig::compression_level)).
    pub fn new(params: &DeflateParams, role: Role, level: u8) -> Compressor {
        let (no_context_takeover, window_bits) = params.sender(role);
        let window_bits = clamp_window_bits(window_bits);
        let level = level.min(9);
        // Negative window bits: raw DEFLATE, no zlib header.
        let flags = create_comp_flags_from_zip_params(i32::from(level), -15, 0);
        // Level 0 stores without back-references and needs no pieces.
        let piece = (window_bits < MAX_WINDOW_BITS && level > 0).then(|| 1usize << window_bits);
        Compressor {
            engine: Box::new(CompressorOxide::new(flags)),
            window_bits,
            reset_after_message: no_context_takeover || piece.is_some(),
            piece,
            part_total: 0,
            part_since_flush: 0,
        }
    }

    /// The window this compressor stays within, as a base-2 logarithm.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Compresses one whole message and appends it to `out`, without the
    /// trailing `00 00 FF FF` (RFC 7692 §7.2.1). The caller sends the bytes
    /// in frames whose first has RSV1 set.
    pub fn compress_message(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(self.part_total, 0, "a message given in parts was not ended");
        self.compress_part(payload, true, out);
    }

    /// Compresses one part of a message given in parts and appends what the
    /// engine wrote for it to `out`: often nothing for a part that does not
    /// end the message, as the engine holds input until it completes a
    /// block. The part that ends the message (`last`) flushes it as
    /// [`compress_message`](Self::compress_message) does, without the
    /// trailing `00 00 FF FF`; the parts' outputs together are one
    /// compressed message, which the caller sends in frames whose first has
    /// RSV1 set. So a sender never holds more of a large message than a
    /// part and the engine's window at once. A message must be ended before
    /// the next starts, and `compress_message` not called in between.
    pub fn compress_part(&mut self, part: &[u8], last: bool, out: &mut Vec<u8>) {
        self.part_total += part.len();
        if last && self.part_total == 0 {
            // With the tail the receiver adds, a lone empty stored block header
            // makes an empty stored block; the engine needs no update.
            out.push(0x00);
            return;
        }
        let start = out.len();
        match self.piece {
            Some(piece) => {
                // Pieces of `piece` bytes counted across parts, each ending
                // with a full flush, and so does the message: with its last
                // bytes, or (when they ended a piece in an earlier part, or
                // this last part is empty) on its own, an empty stored
                // block whose tail goes as every message's does.
                let mut rest = part;
                let mut ended = false;
                while !rest.is_empty() {
                    let take = rest.len().min(piece - self.part_since_flush);
                    self.part_since_flush += take;
                    ended = self.part_since_flush == piece || (last && take == rest.len());
                    let flush = if ended { TDEFLFlush::Full } else { TDEFLFlush::None };
                    deflate_into(&mut self.engine, &rest[..take], out, flush);
                    if ended {
                        self.part_since_flush = 0;
                    }
                    rest = &rest[take..];
                }
                if last && !ended {
                    deflate_into(&mut self.engine, &[], out, TDEFLFlush::Full);
                }
            }
            None => {
                let flush = match (last, self.reset_after_message) {
                    (false, _) => TDEFLFlush::None,
                    (true, true) => TDEFLFlush::Full,
                    (true, false) => TDEFLFlush::Sync,
                };
                deflate_into(&mut self.engine, part, out, flush);
            }
        }
        if last {
            // Sync and full flushes end with an empty stored block.
            debug_assert!(out[start..].ends_with(&TAIL));
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            self.part_total = 0;
            self.part_since_flush = 0;
        }
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("window_bits", &self.window_bits)
            .field("reset_after_message", &self.reset_after_message)
            .finish_non_exhaustive()
    }
}

/// Feeds all of `input` to `engine` and appends everything it writes, up to
/// and including the flush.
///
/// The engine hands its output to a callback that appends to `out`, so it
/// never has to hold output back for want of room. Handing it a fixed-size
/// output slice instead lost data: when a flush's last block did not fit,
/// miniz_oxide kept the rest for the next call, and the next call only
/// copied that rest out and returned, short of the room it was given,
/// without compressing the input still in its lookahead or writing the
/// flush. "Short of the room" looked like "flush complete", and the
/// message's tail stayed in the engine (to come out at the head of the next
/// message, or never). With a callback there is no such state: one call
/// consumes all the input and writes the whole flush, and the result says
/// whether it did.
// Never inlined: one copy of the engine's entry however many callers (for
// the size of the wasm build).
#[inline(never)]
fn deflate_into(engine: &mut CompressorOxide, input: &[u8], out: &mut Vec<u8>, flush: TDEFLFlush) {
    let (status, consumed) = compress_to_output(engine, input, flush, |bytes| {
        out.extend_from_slice(bytes);
        true
    });
    // Only misuse fails (a flush after `Finish`, which this module never
    // asks for); the output then does not end with the flush's empty stored
    // block, which `compress_message` checks.
    debug_assert!(
        status == TDEFLStatus::Okay && consumed == input.len(),
        "deflate stopped early: {status:?}, {consumed} of {} bytes",
        input.len()
    );
}

/// Inflates the messages the peer sends, frame by frame as they arrive.
///
/// For each compressed message: [`begin_message`](Self::begin_message), then
/// [`decompress_chunk`](Self::decompress_chunk) with each frame's payload,
/// then [`finish_message`](Self::finish_message); or
/// [`decompress_message`](Self::decompress_message) for a whole message.
///
/// The window is always 32 KiB, whatever the peer's agreed window. When the
/// peer's `no_context_takeover` was agreed the history is cleared between
/// messages; otherwise it carries over, also across a block with BFINAL set
/// (RFC 7692 §7.2.3.4), after which the message's remaining data is read as a
/// new DEFLATE stream. A back-reference to before the start of the history
/// yields zero bytes instead of an error, as miniz_oxide's wrapping window
/// cannot tell.
pub struct Decompressor {
    state: Box<InflateState>,
    /// Clear the history between messages (the peer resets its compressor).
    reset_between_messages: bool,
    /// Input was fed since the history was last cleared.
    dirty: bool,
    /// Bytes inflated for the current message.
    produced: usize,
}

impl Decompressor {
    /// A decompressor for what the peer of `role` sends under `params`.
    pub fn new(params: &DeflateParams, role: Role) -> Decompressor {
        let peer = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        let (no_context_takeover, _) = params.sender(peer);
        Decompressor {
            state: InflateState::new_boxed(DataFormat::Raw),
            reset_between_messages: no_context_takeover,
            dirty: false,
            produced: 0,
        }
    }

    /// Starts a new message: restarts the size count and, under the peer's
    /// `no_context_takeover`, clears a history left by an unfinished message.
    pub fn begin_message(&mut self) {
        self.produced = 0;
        if self.reset_between_messages && self.dirty {
            self.state.reset_as(ZeroReset);
            self.dirty = false;
        }
    }

    /// Inflates one frame's payload of the current message and appends the
    /// result to `out`.
    ///
    /// `max_total` bounds the bytes the whole message may inflate to (what
    /// this call and the earlier ones of the same message appended); going
    /// over is [`InflateError::TooLarge`], found while inflating: output
    /// comes in steps of at most 32 KiB and never more than one byte past the
    /// limit, which is cut off again.
    ///
    /// # Errors
    ///
    /// [`InflateError::TooLarge`] past `max_total`, [`InflateError::Corrupt`]
    /// for data that is not DEFLATE. `out` then holds a prefix of the message
    /// (within the limit) and the stream cannot go on.
    pub fn decompress_chunk(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
    ) -> Result<(), InflateError> {
        self.decompress_chunk_bounded(input, out, max_total, usize::MAX).map(|_| ())
    }

    /// [`decompress_chunk`](Self::decompress_chunk), appending at most
    /// `max_out` bytes to `out`, so that the caller's buffer for inflated
    /// data stays small however far the input inflates (a 16 KiB message
    /// may inflate to 16 MiB). Returns how many bytes of `input` it took.
    /// When `out` grew by exactly `max_out`, more output may be pending:
    /// call again with the rest of `input` (possibly empty) until `out`
    /// grows by less.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn decompress_chunk_bounded(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
        max_out: usize,
    ) -> Result<usize, InflateError> {
        if !input.is_empty() {
            self.dirty = true;
        }
        self.inflate_into(input, out, max_total, max_out)
    }

    /// Ends the current message: inflates the `00 00 FF FF` RFC 7692 §7.2.2
    /// appends, with the same `max_total` as the message's chunks, and, under
    /// the peer's `no_context_takeover`, clears the history.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn finish_message(&mut self, out: &mut Vec<u8>, max_total: usize) -> Result<(), InflateError> {
        self.dirty = true;
        self.inflate_into(&TAIL, out, max_total, usize::MAX)?;
        self.produced = 0;
        if self.reset_between_messages {
            self.state.reset_as(ZeroReset);
            self.dirty = false;
        }
        Ok(())
    }

    /// Inflates one whole message: [`begin_message`](Self::begin_message),
    /// [`decompress_chunk`](Self::decompress_chunk) and
    /// [`finish_message`](Self::finish_message) in one call.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn decompress_message(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
    ) -> Result<(), InflateError> {
        self.begin_message();
        self.decompress_chunk(payload, out, max_total)?;
        self.finish_message(out, max_total)
    }

    /// Inflates `input` into `out`, at most `max_out` bytes; returns how
    /// many input bytes were taken (all of them unless `out` filled up).
    fn inflate_into(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
        max_out: usize,
    ) -> Result<usize, InflateError> {
        let given = input.len();
        let mut written = 0usize;
        loop {
            // One byte past the limit tells "exactly at the limit" from "over".
            let allowed = max_total.saturating_sub(self.produced);
            // Small inputs get small steps: zeroing a whole step for every
            // tiny read would cost 32 KiB of writes per byte received.
            let step = INFLATE_STEP.min(input.len().saturating_mul(8).max(1024));
            let room = allowed.saturating_add(1).min(step).min(max_out - written);
            if room == 0 {
                // `out` is full; the rest waits for the next call.
                return Ok(given - input.len());
            }
            let start = out.len();
            out.resize(start + room, 0);
            let result = inflate(&mut self.state, input, &mut out[start..], MZFlush::None);
            out.truncate(start + result.bytes_written);
            input = &input[result.bytes_consumed..];
            written += result.bytes_written;
            self.produced += result.bytes_written;
            if self.produced > max_total {
                out.truncate(out.len().saturating_sub(self.produced - max_total));
                return Err(InflateError::TooLarge);
            }
            match result.status {
                // A block with BFINAL set ended the DEFLATE stream. Start a new
                // one in the same window: RFC 7692 §7.2.3.4 follows such a
                // block with more blocks. Only the block parser restarts; the
                // window and its position stay.
                Ok(MZStatus::StreamEnd) => self.state.decompressor().init(),
                Ok(_) => {}
                // No progress for want of input.
                Err(MZError::Buf) if input.is_empty() => return Ok(given),
                Err(_) => return Err(InflateError::Corrupt),
            }
            if input.is_empty() && result.bytes_written < room {
                return Ok(given);
            }
            if result.bytes_consumed == 0 && result.bytes_written == 0 {
                // Cannot happen with input and room; never loop on it.
                return Err(InflateError::Corrupt);
            }
        }
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("reset_between_messages", &self.reset_between_messages)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MIN_WINDOW_BITS;
    use alloc::string::{String, ToString};
    use alloc::{format, vec};
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use proptest::prelude::*;

    // RFC 7692 §7.2.3.1 to §7.2.3.5: "Hello" in various encodings.
    const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
    const HELLO_STORED: &[u8] = &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    const HELLO_BFINAL: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    const HELLO_TWO_BLOCKS: &[u8] =
        &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];

    const MIB: usize = 1 << 20;
    const NO_LIMIT: usize = usize::MAX;

    fn params(no_context_takeover: bool, window_bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            server_max_window_bits: window_bits,
            client_max_window_bits: window_bits,
        }
    }

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

    /// xorshift64*: incompressible bytes without a dependency.
    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
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

    /// Inflates one message with zlib (after appending the tail), taking
    /// `step` output bytes per call. With `step == 1` zlib checks every
    /// back-reference against its window exactly ("invalid distance too far
    /// back"); with larger steps it lets references into the current call's
    /// output through.
    fn zlib_inflate(z: &mut Decompress, message: &[u8], step: usize) -> Result<Vec<u8>, String> {
        let input = [message, &TAIL].concat();
        let (mut at, mut out, mut buf) = (0, Vec::new(), vec![0; step]);
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            z.decompress(&input[at..], &mut buf, FlushDecompress::None).map_err(|e| e.to_string())?;
            let read = (z.total_in() - in0) as usize;
            let wrote = (z.total_out() - out0) as usize;
            at += read;
            out.extend_from_slice(&buf[..wrote]);
            if at == input.len() && wrote < step {
                return Ok(out);
            }
            if read == 0 && wrote == 0 {
                return Err("zlib made no progress".to_string());
            }
        }
    }

    /// Compresses one message with zlib, sync-flushed, tail removed.
    fn zlib_deflate(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 64);
        let mut at = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let in0 = z.total_in();
            z.compress_vec(&payload[at..], &mut out, FlushCompress::Sync).unwrap();
            at += (z.total_in() - in0) as usize;
            if at == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.is_empty() {
            // zlib writes nothing for a second sync flush in a row: an empty
            // message after another message. Peers send a lone 0x00.
            assert!(payload.is_empty());
            return vec![0x00];
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - TAIL.len());
        out
    }

    // --- RFC 7692 §7.2.3 examples ------------------------------------------

    #[test]
    fn rfc_examples_inflate() {
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello"); // §7.2.3.1
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello"); // §7.2.3.2

        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO_STORED).unwrap(), b"Hello"); // §7.2.3.3

        // §7.2.3.4: BFINAL set; the history survives it.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Server);
        assert_eq!(inflate_msg(&mut d, HELLO_BFINAL).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_BFINAL).unwrap(), b"Hello");

        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO_TWO_BLOCKS).unwrap(), b"Hello"); // §7.2.3.5

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
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        // Context takeover: the second copy is a back-reference (§7.2.3.2).
        assert_eq!(compress(&mut c, b"Hello"), HELLO_AGAIN);
    }

    #[test]
    fn no_context_takeover_resets_both_ends() {
        // Our compressor forgets: the second "Hello" is spelled out again.
        let mut c = Compressor::new(&params(true, 15), Role::Client, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        // A window-limited one forgets too, with context takeover agreed.
        let mut c = Compressor::new(&params(false, 10), Role::Server, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);

        // A decompressor for a peer that resets forgets as well: the
        // back-reference of §7.2.3.2 finds a cleared window.
        let mut d = Decompressor::new(&params(true, 15), Role::Server);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello");
        // ("H", then 4 bytes from 5 back: zeros, not "ello".)
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"H\0\0\0\0");
        // Only the peer's flag counts: a client inflates what the server
        // sends, and here only the client resets.
        let p = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
        let mut d = Decompressor::new(&p, Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello");
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        for (nct, bits, level) in [(false, 15, 6), (true, 15, 6), (false, 9, 6), (false, 15, 0)] {
            let mut c = Compressor::new(&params(nct, bits), Role::Client, level);
            let mut d = Decompressor::new(&params(nct, bits), Role::Server);
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
            let keep = params(false, bits);
            let reset = params(true, bits);
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
        let size = |bits| compress(&mut Compressor::new(&params(false, bits), Role::Server, 6), &data).len();
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
                let p = params(nct, bits);
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
                let mut c = Compressor::new(&params(false, bits), Role::Client, level);
                let mut d = Decompressor::new(&params(false, bits), Role::Server);
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

        let mut d = Decompressor::new(&params(true, 15), Role::Client);
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
        let mut d = Decompressor::new(&params(true, 15), Role::Client);
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
        assert_eq!(d.decompress_message(HELLO, &mut out, 0), Err(InflateError::TooLarge));
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
            assert_eq!(
                d.decompress_message(case, &mut out, NO_LIMIT),
                Err(InflateError::Corrupt),
                "{case:02x?}"
            );
            // And it stays broken.
            assert_eq!(d.decompress_message(HELLO, &mut out, NO_LIMIT), Err(InflateError::Corrupt));
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
            let p = params(nct, bits);
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
            let p = params(nct, 15);
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
        let c = Compressor::new(&params(false, 10), Role::Client, 6);
        assert!(format!("{c:?}").contains("window_bits: 10"));
        let d = Decompressor::new(&params(true, 15), Role::Client);
        assert!(format!("{d:?}").contains("reset_between_messages: true"));
    }
}
