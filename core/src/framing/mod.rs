//! Data framings, one module each. Each decoder takes bytes as they come,
//! split anywhere, and yields whole frames (or, streaming, pieces of a
//! message); none allocates more than the bytes that actually arrived.
//! What one end sends, in any of them, goes through [`outgoing`].

pub mod auto;
pub mod new;
pub mod old;
pub mod outgoing;
pub mod rfc6455;

use alloc::string::String;
use alloc::vec::Vec;

use crate::config::InvalidUtf8;
use crate::error::{Error, LimitError, ProtocolError};
use crate::utf8::TextBuilder;

/// Room a message's buffer leaves free when it grows ahead of its bytes
/// under an allowance, for what the connection queues meanwhile (a pong
/// for each ping in the same read, a longer event queue): growing into the
/// last of the allowance is for bytes that arrived, not for slack.
pub(crate) const HEADROOM: usize = 32 * 1024;

/// Streamed draft-76 text is handed out in pieces made of at most this many
/// bytes taken from the input and the up to three bytes of a character
/// begun in the piece before (with [`InvalidUtf8::Replace`], up to three
/// times as many bytes of text), as the RFC 6455 reader's pieces.
pub const PIECE: usize = 32 * 1024;

/// A complete draft-76 frame, in either framing: the only things either
/// framing can carry are text and a close.
#[derive(Debug, PartialEq, Eq)]
pub enum Draft76Frame {
    /// A text message's bytes, not yet checked for UTF-8.
    Text(Vec<u8>),
    /// Streaming (the decoders' `streaming`): the next piece of a text
    /// message, whole characters already checked (or replaced) per
    /// [`InvalidUtf8`]; `fin` marks the message's last piece, which comes
    /// even when empty.
    TextPiece {
        /// The piece.
        text: String,
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// The closing frame.
    Close,
}

/// The methods both draft-76 decoders ('old' and 'new') take from what they
/// share, the text being received (`self.text`) and a `State::Type` between
/// frames: written once, expanded in each `impl Decoder`.
macro_rules! draft76_decoder_methods {
    () => {
        /// Streaming ([`crate::Config::streaming`]): text is handed out as it
        /// arrives, in [`Draft76Frame::TextPiece`]s of at most [`PIECE`]
        /// bytes, checked (or replaced) per `invalid_utf8` as it goes, instead
        /// of whole in [`Draft76Frame::Text`]; `max_message_size` holds over
        /// the message's pieces together.
        pub fn streaming(mut self, invalid_utf8: InvalidUtf8) -> Self {
            self.text.stream(invalid_utf8);
            self
        }

        /// Bounds what [`buffered_bytes`](Self::buffered_bytes) may reach from
        /// now on: text that would take it past `room` fails with
        /// [`LimitError::OverAllowance`] reporting `reported`, before the memory
        /// is allocated (the RFC 6455 reader's `set_allowance`).
        pub fn set_allowance(&mut self, room: usize, reported: usize) {
            self.text.set_allowance(room, reported);
        }

        /// Bytes the decoder holds: the storage of the text message being
        /// received. Nothing between messages.
        pub fn buffered_bytes(&self) -> usize {
            self.text.buffered_bytes()
        }

        /// Whether the decoder sits between frames, where the stream may end.
        pub fn at_boundary(&self) -> bool {
            self.state == State::Type
        }
    };
}
pub(crate) use draft76_decoder_methods;

/// The two size limits a draft-76 decoder keeps, in either framing (from
/// [`crate::Limits`]): text messages (`max_message_size`) and frames,
/// discarded or close (`max_frame_size`).
#[derive(Clone, Copy, Debug)]
struct SizeLimits {
    message: usize,
    frame: usize,
}

/// The text message a draft-76 decoder is receiving, in either framing,
/// and the allowance its storage grows within (the RFC 6455 reader's rule:
/// a connection's buffers never pass what its driver reserved for it).
#[derive(Debug)]
struct Draft76Text {
    bytes: Vec<u8>,
    /// Streaming: the piece being built, in place of `bytes`.
    stream: Option<Stream>,
    /// Most bytes `bytes` may hold (its capacity).
    room: usize,
    /// The connection's whole allowance, which the error reports.
    reported: usize,
}

/// A text message handed out piece by piece as it arrives.
#[derive(Debug)]
struct Stream {
    text: TextBuilder,
    invalid_utf8: InvalidUtf8,
    /// Bytes of the message taken so far, in all its pieces.
    received: usize,
    /// Bytes of text made of them (more than `received` only where
    /// invalid bytes were replaced), for `max_message_size`.
    made: usize,
}

impl Draft76Text {
    fn new() -> Self {
        Draft76Text { bytes: Vec::new(), stream: None, room: usize::MAX, reported: usize::MAX }
    }

    /// Streaming from now on (between messages): text is checked (or
    /// replaced) as it arrives and handed out in pieces.
    fn stream(&mut self, invalid_utf8: InvalidUtf8) {
        self.stream = Some(Stream { text: TextBuilder::default(), invalid_utf8, received: 0, made: 0 });
    }

    fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    fn set_allowance(&mut self, room: usize, reported: usize) {
        self.room = room;
        self.reported = reported;
    }

    /// What the message's storage holds: its capacity, not its length.
    fn buffered_bytes(&self) -> usize {
        self.bytes.capacity() + self.stream.as_ref().map_or(0, |s| s.text.capacity())
    }

    /// Bytes of the message taken so far (streaming: in all its pieces).
    fn len(&self) -> usize {
        self.stream.as_ref().map_or(self.bytes.len(), |s| s.received)
    }

    /// Streaming: takes `chunk` (at most [`PIECE`] bytes that passed the
    /// framing's limit) into the piece being built. Fails with
    /// [`ProtocolError::InvalidUtf8`] at the first byte that cannot be
    /// UTF-8 (with [`InvalidUtf8::Fail`]), with
    /// [`LimitError::OverAllowance`] before storing past the room, and with
    /// [`LimitError::MessageTooLarge`] once the text made (with
    /// [`InvalidUtf8::Replace`], possibly longer than the bytes) passes
    /// `limit`.
    fn push_piece(&mut self, chunk: &[u8], limit: usize) -> Result<(), Error> {
        let stream = self.stream.as_mut().expect("streaming");
        // Room for the bytes (and a character completed from the bytes
        // held back): all the text they make unless invalid bytes are
        // replaced, whose growth (at most threefold, within a piece) the
        // connection's check after the piece counts.
        let (len, capacity) = (stream.text.len(), stream.text.capacity());
        let need = len.saturating_add(chunk.len());
        if need > capacity {
            if need.saturating_add(self.bytes.capacity()) > self.room {
                return Err(LimitError::OverAllowance { allowance: self.reported }.into());
            }
            stream.text.reserve_exact(need - len);
        }
        let before = stream.text.len();
        match stream.invalid_utf8 {
            InvalidUtf8::Fail => stream.text.push(chunk).map_err(|_| ProtocolError::InvalidUtf8)?,
            InvalidUtf8::Replace => stream.text.push_lossy(chunk),
        }
        stream.received += chunk.len();
        stream.made += stream.text.len() - before;
        if stream.made > limit {
            return Err(LimitError::MessageTooLarge { limit }.into());
        }
        Ok(())
    }

    /// Streaming: the piece built so far, if it holds a character or ends
    /// the message (a character cut short at the end fails with
    /// [`InvalidUtf8::Fail`], is replaced with [`InvalidUtf8::Replace`]).
    fn take_piece(&mut self, fin: bool, limit: usize) -> Result<Option<Draft76Frame>, Error> {
        let stream = self.stream.as_mut().expect("streaming");
        let text = match (fin, stream.invalid_utf8) {
            (false, _) => stream.text.take_complete(),
            (true, InvalidUtf8::Fail) => stream.text.finish().map_err(|_| ProtocolError::InvalidUtf8)?,
            (true, InvalidUtf8::Replace) => {
                let before = stream.text.len();
                let text = stream.text.finish_lossy();
                // The bytes held back, cut short, became one U+FFFD
                // (`made` counted them so far, as `len` does).
                stream.made += text.len().saturating_sub(before);
                if stream.made > limit {
                    return Err(LimitError::MessageTooLarge { limit }.into());
                }
                text
            }
        };
        if fin {
            stream.received = 0;
            stream.made = 0;
        }
        Ok((fin || !text.is_empty()).then_some(Draft76Frame::TextPiece { text, fin }))
    }

    /// Appends bytes that arrived (and passed the framing's limit), failing
    /// with [`LimitError::OverAllowance`] before storing past the room.
    /// Storage doubles as `Vec`'s does, so a message arriving in many
    /// reads is not copied each time, but never past `most` (the most the
    /// message can hold: the size limit, or the length a frame declared)
    /// nor into the room's last [`HEADROOM`]; only the bytes themselves may
    /// take it to the room's end.
    fn push(&mut self, chunk: &[u8], most: usize) -> Result<(), Error> {
        let (len, capacity) = (self.bytes.len(), self.bytes.capacity());
        let need = len.saturating_add(chunk.len());
        if need > capacity {
            if need > self.room {
                return Err(LimitError::OverAllowance { allowance: self.reported }.into());
            }
            let ceiling = self.room.saturating_sub(HEADROOM).min(most);
            let target = need.max(capacity.saturating_mul(2).min(ceiling));
            self.bytes.reserve_exact(target - len);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole message, handed over with its storage: between messages
    /// the decoder holds nothing, however large the last one was.
    fn take(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn draft76_text_grows_ahead_only_within_its_bounds() {
        // Unbounded: doubling, but never past what the message can hold.
        let mut text = Draft76Text::new();
        text.push(&[b'a'; 1000], 1500).unwrap();
        text.push(&[b'a'; 1], 1500).unwrap();
        assert_eq!(text.buffered_bytes(), 1500);
        // Under an allowance: doubling stops HEADROOM short of the room,
        // the bytes themselves may fill it, one more byte fails unstored.
        let room = 3 * HEADROOM;
        let mut text = Draft76Text::new();
        text.set_allowance(room, 7);
        text.push(&[b'a'; HEADROOM], usize::MAX).unwrap();
        text.push(&[b'a'; 1], usize::MAX).unwrap();
        assert_eq!(text.buffered_bytes(), room - HEADROOM);
        text.push(&vec![b'a'; room - text.len()], usize::MAX).unwrap();
        assert_eq!(text.buffered_bytes(), room);
        assert_eq!(text.push(b"a", usize::MAX), Err(LimitError::OverAllowance { allowance: 7 }.into()));
        assert_eq!((text.len(), text.buffered_bytes()), (room, room));
        // Handed over whole: nothing stays behind.
        assert_eq!(text.take().len(), room);
        assert_eq!(text.buffered_bytes(), 0);
    }
}
