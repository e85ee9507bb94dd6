//! Framing 'new': Racket's reading of the August 2010 draft
//! (docs/PROTOCOLS.md §3).
//!
//! Every frame is a type byte, an 8-byte big-endian payload length and the
//! payload. Racket writes text as type 0xFF and close as type 0x00 with
//! length 0; it reads 0x00 as close whatever its payload and any other type
//! as text, and so does this decoder, to interoperate with it exactly.
//!
//! Text is stored as it arrives, never ahead of the declared length, and
//! within the connection's allowance ([`Decoder::set_allowance`]), which a
//! driver sharing a memory budget sets.

use alloc::vec::Vec;

use super::{Draft76Frame, Draft76Text, SizeLimits, PIECE};
use crate::config::InvalidUtf8;
use crate::error::{Error, LimitError, Stage};

/// Type byte of a text frame.
pub const TEXT: u8 = 0xff;
/// Type byte of the close frame.
pub const CLOSE: u8 = 0x00;

/// Appends a text frame.
pub fn encode_text(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 9);
    out.push(TEXT);
    out.extend_from_slice(&(text.len() as u64).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Appends the close frame.
pub fn encode_close(out: &mut Vec<u8>) {
    out.push(CLOSE);
    out.extend_from_slice(&0u64.to_be_bytes());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Type,
    Length { frame_type: u8, bytes: [u8; 8], have: u8 },
    Payload { frame_type: u8, remaining: u64 },
}

/// Incremental decoder for framing 'new'.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    text: Draft76Text,
    limits: SizeLimits,
}

impl Decoder {
    /// A decoder that refuses text frames declaring more than
    /// `max_message_size` bytes and close payloads over `max_frame_size`.
    pub fn new(max_message_size: usize, max_frame_size: usize) -> Self {
        let limits = SizeLimits { message: max_message_size, frame: max_frame_size };
        Decoder { state: State::Type, text: Draft76Text::new(), limits }
    }

    super::draft76_decoder_methods!();

    /// Consumes bytes from the front of `input` until a frame completes
    /// (returned) or `input` is used up (`Ok(None)`).
    ///
    /// The declared length is checked against the limits before any payload
    /// is stored, and storage then grows only with the bytes that arrive.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Draft76Frame>, Error> {
        loop {
            match self.state {
                State::Type => {
                    let Some((&frame_type, rest)) = input.split_first() else {
                        return Ok(None);
                    };
                    *input = rest;
                    self.state = State::Length { frame_type, bytes: [0; 8], have: 0 };
                }
                State::Length { frame_type, mut bytes, have } => {
                    let take = (8 - have as usize).min(input.len());
                    if take == 0 {
                        return Ok(None);
                    }
                    bytes[have as usize..have as usize + take].copy_from_slice(&input[..take]);
                    *input = &input[take..];
                    let have = have + take as u8;
                    if have < 8 {
                        self.state = State::Length { frame_type, bytes, have };
                        continue;
                    }
                    let remaining = u64::from_be_bytes(bytes);
                    let (limit, error) = if frame_type == CLOSE {
                        (self.limits.frame, LimitError::FrameTooLarge { limit: self.limits.frame })
                    } else {
                        (self.limits.message, LimitError::MessageTooLarge { limit: self.limits.message })
                    };
                    if remaining > limit as u64 {
                        return Err(error.into());
                    }
                    self.state = State::Payload { frame_type, remaining };
                }
                State::Payload { frame_type, remaining }
                    if frame_type != CLOSE && self.text.is_streaming() =>
                {
                    let take = remaining.min(input.len().min(PIECE) as u64) as usize;
                    let limit = self.limits.message;
                    self.text.push_piece(&input[..take], limit)?;
                    *input = &input[take..];
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        self.state = State::Type;
                        return self.text.take_piece(true, limit);
                    }
                    self.state = State::Payload { frame_type, remaining };
                    // Out of input, or a piece's worth: what is whole goes.
                    if let Some(piece) = self.text.take_piece(false, limit)? {
                        return Ok(Some(piece));
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                }
                State::Payload { frame_type, remaining } => {
                    let take = remaining.min(input.len() as u64) as usize;
                    if frame_type != CLOSE {
                        // The declared length passed the limit; storage
                        // never grows past it, so a message that arrives
                        // in many reads ends with no slack.
                        let declared = (self.text.len() as u64).saturating_add(remaining);
                        let most = usize::try_from(declared).unwrap_or(usize::MAX);
                        self.text.push(&input[..take], most)?;
                    }
                    *input = &input[take..];
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Payload { frame_type, remaining };
                        return Ok(None);
                    }
                    self.state = State::Type;
                    return Ok(Some(if frame_type == CLOSE {
                        Draft76Frame::Close
                    } else {
                        Draft76Frame::Text(self.text.take())
                    }));
                }
            }
        }
    }

    /// The error for the stream ending here, if it may not.
    pub fn check_eof(&self) -> Result<(), Error> {
        if self.at_boundary() {
            Ok(())
        } else {
            Err(Error::UnexpectedEof(Stage::Frame))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn exact_bytes() {
        let mut wire = Vec::new();
        encode_text("Hi", &mut wire);
        encode_close(&mut wire);
        assert_eq!(wire, [0xff, 0, 0, 0, 0, 0, 0, 0, 2, b'H', b'i', 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn decodes_in_any_split_and_like_racket() {
        let mut wire = Vec::new();
        encode_text("héllo", &mut wire);
        encode_text("", &mut wire);
        wire.extend_from_slice(&[0x42, 0, 0, 0, 0, 0, 0, 0, 1, b'x']); // other types read as text
        wire.extend_from_slice(&[0x00, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9]); // close with a payload
        let expected = vec![
            Draft76Frame::Text("héllo".as_bytes().to_vec()),
            Draft76Frame::Text(Vec::new()),
            Draft76Frame::Text(b"x".to_vec()),
            Draft76Frame::Close,
        ];
        for split in 0..=wire.len() {
            let mut decoder = Decoder::new(100, 100);
            let mut frames = Vec::new();
            for mut part in [&wire[..split], &wire[split..]] {
                while let Some(f) = decoder.decode(&mut part).unwrap() {
                    frames.push(f);
                }
                assert!(part.is_empty());
            }
            assert_eq!(frames, expected, "split at {split}");
        }
    }

    #[test]
    fn declared_length_over_the_limit_fails_before_allocating() {
        let mut decoder = Decoder::new(1024, 1024);
        let mut input = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a'][..];
        assert_eq!(
            decoder.decode(&mut input).unwrap_err(),
            Error::Limit(LimitError::MessageTooLarge { limit: 1024 })
        );
        assert_eq!(decoder.buffered_bytes(), 0);
    }

    #[test]
    fn storage_grows_only_with_arrived_bytes() {
        let mut decoder = Decoder::new(1 << 24, 1 << 24);
        let mut input = &[0xff, 0, 0, 0, 0, 0, 0xff, 0, 0, b'a'][..];
        assert_eq!(decoder.decode(&mut input).unwrap(), None);
        assert!(decoder.buffered_bytes() < 1024);
        assert_eq!(decoder.check_eof(), Err(Error::UnexpectedEof(Stage::Frame)));
    }
}
