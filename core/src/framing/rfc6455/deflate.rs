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
