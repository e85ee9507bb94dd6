//! Framing 'old': draft-76 data framing, Racket's default
//! (docs/PROTOCOLS.md §2).
//!
//! A frame starts with a type byte. With the high bit clear, the payload runs
//! to the next 0xFF (type 0x00 is text; other types are read and discarded).
//! With the high bit set, a base-128 length follows (most significant digit
//! first, high bit = more digits) and then that many bytes; type 0xFF with
//! length 0 is the close frame, everything else of that shape is discarded.
//!
//! The draft puts no bound on the number of length digits, and a digit of
//! 0x80 (zero, more follow) leaves the length where it was: a peer could
//! keep a connection reading one header forever without the length ever
//! passing the frame limit. So the digits are counted too: no more than
//! [`max_length_digits`] of the frame limit, the most any length within it
//! needs; a longer run fails as an over-long frame would.
//!
//! Text is stored as it arrives, within `max_message_size` and within the
//! connection's allowance ([`Decoder::set_allowance`]), which a driver
//! sharing a memory budget sets: an unterminated message stops at
//! whichever comes first, not at the size limit alone.

use alloc::vec::Vec;

use super::{Draft76Frame, Draft76Text, SizeLimits, PIECE};
use crate::config::InvalidUtf8;
use crate::error::{Error, LimitError, Stage};

/// The close frame.
pub const CLOSE: [u8; 2] = [0xff, 0x00];

/// Appends a text frame. Valid UTF-8 never contains 0xFF, so the text needs
/// no escaping.
pub fn encode_text(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(0x00);
    out.extend_from_slice(text.as_bytes());
    out.push(0xff);
}

/// Appends the close frame.
pub fn encode_close(out: &mut Vec<u8>) {
    out.extend_from_slice(&CLOSE);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary, expecting a type byte.
    Type,
    /// Inside a type-0x00 frame: collecting text until 0xFF.
    Text,
    /// Inside a sentinel frame of another type: discarding until 0xFF.
    DiscardToSentinel { seen: usize },
    /// Reading base-128 length digits of a length-prefixed frame; `digits`
    /// of them read so far.
    Length { frame_type: u8, length: u64, digits: u32 },
    /// Discarding the payload of a length-prefixed frame.
    DiscardBytes { remaining: u64 },
}

/// Incremental decoder for framing 'old'.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    text: Draft76Text,
    limits: SizeLimits,
    /// [`max_length_digits`] of `max_frame_size`.
    max_length_digits: u32,
}

/// How many base-128 digits the longest length within `max_frame_size`
/// takes (at least one: a length of 0 is one digit), and so how many a
/// length-prefixed frame may have. Any length the limit allows fits in
/// this many; a longer run is either over the limit or padded with leading
/// zero digits, which the decoder refuses rather than read forever.
pub fn max_length_digits(max_frame_size: usize) -> u32 {
    let bits = u64::BITS - (max_frame_size as u64).leading_zeros();
    bits.div_ceil(7).max(1)
}

impl Decoder {
    /// A decoder that refuses text longer than `max_message_size` and
    /// discarded frames longer than `max_frame_size` (or whose length takes
    /// more digits than [`max_length_digits`] of it).
    pub fn new(max_message_size: usize, max_frame_size: usize) -> Self {
        Decoder {
            state: State::Type,
            text: Draft76Text::new(),
            limits: SizeLimits { message: max_message_size, frame: max_frame_size },
            max_length_digits: max_length_digits(max_frame_size),
        }
    }

    super::draft76_decoder_methods!();

    /// Consumes bytes from the front of `input` until a frame completes
    /// (returned) or `input` is used up (`Ok(None)`).
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Draft76Frame>, Error> {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                State::Type => {
                    *input = rest;
                    self.state = match byte {
                        0x00 => State::Text,
                        0x01..=0x7f => State::DiscardToSentinel { seen: 0 },
                        _ => State::Length { frame_type: byte, length: 0, digits: 0 },
                    };
                }
                State::Text if self.text.is_streaming() => {
                    // A piece at most, up to the sentinel if it is there.
                    let all: &[u8] = input;
                    let window = &all[..all.len().min(PIECE)];
                    let (chunk, end) = match memchr::memchr(0xff, window) {
                        Some(at) => (&all[..at], true),
                        None => (window, false),
                    };
                    *input = &all[chunk.len() + usize::from(end)..];
                    let limit = self.limits.message;
                    if self.text.len() + chunk.len() > limit {
                        return Err(LimitError::MessageTooLarge { limit }.into());
                    }
                    self.text.push_piece(chunk, limit)?;
                    if end {
                        self.state = State::Type;
                        return self.text.take_piece(true, limit);
                    }
                    // Out of input, or a piece's worth: what is whole goes.
                    if let Some(piece) = self.text.take_piece(false, limit)? {
                        return Ok(Some(piece));
                    }
                }
                State::Text => {
                    let (chunk, end) = split_at_sentinel(input);
                    if self.text.len() + chunk.len() > self.limits.message {
                        return Err(LimitError::MessageTooLarge { limit: self.limits.message }.into());
                    }
                    self.text.push(chunk, self.limits.message)?;
                    if end {
                        self.state = State::Type;
                        return Ok(Some(Draft76Frame::Text(self.text.take())));
                    }
                }
                State::DiscardToSentinel { seen } => {
                    let (chunk, end) = split_at_sentinel(input);
                    let seen = seen + chunk.len();
                    if seen > self.limits.frame {
                        return Err(LimitError::FrameTooLarge { limit: self.limits.frame }.into());
                    }
                    self.state = if end { State::Type } else { State::DiscardToSentinel { seen } };
                }
                State::Length { frame_type, length, digits } => {
                    *input = rest;
                    let too_large = LimitError::FrameTooLarge { limit: self.limits.frame };
                    let digits = digits + 1;
                    if digits > self.max_length_digits {
                        return Err(too_large.into());
                    }
                    let length = length
                        .checked_mul(128)
                        .and_then(|l| l.checked_add(u64::from(byte & 0x7f)))
                        .filter(|&l| l <= self.limits.frame as u64)
                        .ok_or(too_large)?;
                    if byte & 0x80 != 0 {
                        self.state = State::Length { frame_type, length, digits };
                    } else if frame_type == 0xff && length == 0 {
                        self.state = State::Type;
                        return Ok(Some(Draft76Frame::Close));
                    } else {
                        self.state =
                            if length == 0 { State::Type } else { State::DiscardBytes { remaining: length } };
                    }
                }
                State::DiscardBytes { remaining } => {
                    let take = remaining.min(input.len() as u64);
                    *input = &input[take as usize..];
                    self.state = match remaining - take {
                        0 => State::Type,
                        remaining => State::DiscardBytes { remaining },
                    };
                }
            }
        }
        Ok(None)
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

/// Splits off the bytes before the next 0xFF, consuming them and the 0xFF
/// itself; the flag tells whether the sentinel was found.
fn split_at_sentinel<'a>(input: &mut &'a [u8]) -> (&'a [u8], bool) {
    let all: &'a [u8] = input;
    match memchr::memchr(0xff, all) {
        Some(at) => {
            *input = &all[at + 1..];
            (&all[..at], true)
        }
        None => {
            *input = &[];
            (all, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn decode_all(decoder: &mut Decoder, mut input: &[u8]) -> Result<Vec<Draft76Frame>, Error> {
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut input)? {
            frames.push(frame);
        }
        assert!(input.is_empty());
        Ok(frames)
    }

    #[test]
    fn text_close_and_discarded_frames() {
        let mut wire = Vec::new();
        encode_text("héllo", &mut wire);
        wire.extend_from_slice(&[0x05, b'x', b'y', 0xff]); // other sentinel type: discarded
        wire.extend_from_slice(&[0x80, 0x02, 1, 2]); // length-prefixed: discarded
        wire.extend_from_slice(&[0xfe, 0x81, 0x00]); // 128 bytes follow...
        wire.extend_from_slice(&[0xaa; 128]);
        encode_text("", &mut wire);
        encode_close(&mut wire);
        let expected = vec![
            Draft76Frame::Text("héllo".as_bytes().to_vec()),
            Draft76Frame::Text(Vec::new()),
            Draft76Frame::Close,
        ];
        let mut decoder = Decoder::new(1 << 20, 1 << 20);
        assert_eq!(decode_all(&mut decoder, &wire).unwrap(), expected);
        // And byte by byte.
        let mut decoder = Decoder::new(1 << 20, 1 << 20);
        let mut frames = Vec::new();
        for b in &wire {
            frames.extend(decode_all(&mut decoder, core::slice::from_ref(b)).unwrap());
        }
        assert_eq!(frames, expected);
        assert!(decoder.at_boundary());
    }

    #[test]
    fn exact_bytes() {
        let mut wire = Vec::new();
        encode_text("Hi", &mut wire);
        encode_close(&mut wire);
        assert_eq!(wire, [0x00, b'H', b'i', 0xff, 0xff, 0x00]);
    }

    #[test]
    fn unterminated_text_over_the_limit_fails() {
        let mut decoder = Decoder::new(10, 100);
        let mut input = &[0x00, b'a', b'b', b'c', b'd', b'e', b'f'][..];
        assert_eq!(decoder.decode(&mut input).unwrap(), None);
        let mut input = &[b'g'; 5][..];
        assert_eq!(
            decoder.decode(&mut input).unwrap_err(),
            Error::Limit(LimitError::MessageTooLarge { limit: 10 })
        );
    }

    #[test]
    fn discarded_frames_are_bounded_too() {
        let mut decoder = Decoder::new(100, 10);
        let mut input = &[0x01; 20][..];
        assert_eq!(
            decoder.decode(&mut input).unwrap_err(),
            Error::Limit(LimitError::FrameTooLarge { limit: 10 })
        );
        let mut decoder = Decoder::new(100, 1000);
        // 0xFF 0x88 0x80 ... : a length that keeps growing digit by digit.
        let mut input = &[0xff, 0x88, 0x80, 0x80, 0x80, 0x80][..];
        assert_eq!(
            decoder.decode(&mut input).unwrap_err(),
            Error::Limit(LimitError::FrameTooLarge { limit: 1000 })
        );
    }

    /// `length` as the shortest run of base-128 digits.
    fn length_digits(mut length: u64) -> Vec<u8> {
        let mut digits = vec![(length & 0x7f) as u8];
        length >>= 7;
        while length > 0 {
            digits.insert(0, 0x80 | (length & 0x7f) as u8);
            length >>= 7;
        }
        digits
    }

    /// Feeds `input` whole and byte by byte; both must agree. Returns the
    /// result and how many bytes were taken before it.
    fn feed(decoder: impl Fn() -> Decoder, input: &[u8]) -> (Result<Vec<Draft76Frame>, Error>, usize) {
        let mut whole = decoder();
        let mut rest = input;
        let mut frames = Vec::new();
        let whole_result = loop {
            match whole.decode(&mut rest) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break Ok(frames),
                Err(error) => break Err(error),
            }
        };
        let whole_taken = input.len() - rest.len();
        let mut bytewise = decoder();
        let mut frames = Vec::new();
        let mut bytewise_result = Ok(());
        let mut bytewise_taken = 0;
        for byte in input {
            bytewise_taken += 1;
            match bytewise.decode(&mut core::slice::from_ref(byte)) {
                Ok(frame) => frames.extend(frame),
                Err(error) => {
                    bytewise_result = Err(error);
                    break;
                }
            }
        }
        let bytewise_result = bytewise_result.map(|()| frames);
        assert_eq!(whole_result, bytewise_result, "{input:02x?}");
        assert_eq!(whole_taken, bytewise_taken, "{input:02x?}");
        (whole_result, whole_taken)
    }

    #[test]
    fn length_digits_are_bounded_by_what_the_limit_needs() {
        let limits =
            [0, 1, 127, 128, 129, 1000, 16_383, 16_384, 1 << 20, 16 << 20, u32::MAX as usize, usize::MAX];
        for limit in limits {
            let allowed = max_length_digits(limit);
            // The limit itself, written shortest, takes exactly the allowed
            // number of digits: every length within the limit fits.
            assert_eq!(length_digits(limit as u64).len(), allowed as usize, "limit {limit}");
            let decoder = || Decoder::new(limit, limit);
            let too_large = Error::Limit(LimitError::FrameTooLarge { limit });
            for frame_type in [0x80, 0xfe, 0xff] {
                // Zero padded to exactly the allowed run still reads: a
                // close for type 0xFF, an empty discarded frame otherwise.
                let mut wire = vec![frame_type];
                wire.extend(core::iter::repeat_n(0x80, allowed as usize - 1));
                wire.push(0x00);
                let expected = if frame_type == 0xff { vec![Draft76Frame::Close] } else { Vec::new() };
                assert_eq!(
                    feed(decoder, &wire),
                    (Ok(expected), wire.len()),
                    "limit {limit}, {frame_type:02x}"
                );
                // One digit more fails on that digit, whatever its value.
                for last in [0x00, 0x01, 0x80] {
                    let mut wire = vec![frame_type];
                    wire.extend(core::iter::repeat_n(0x80, allowed as usize));
                    wire.push(last);
                    wire.extend_from_slice(&[0x00; 4]);
                    let taken = 1 + allowed as usize + 1;
                    assert_eq!(feed(decoder, &wire), (Err(too_large.clone()), taken), "limit {limit}");
                }
                // Endless zero digits end at the same place.
                let mut wire = vec![frame_type];
                wire.extend_from_slice(&[0x80; 64]);
                assert_eq!(feed(decoder, &wire), (Err(too_large.clone()), 1 + allowed as usize + 1));
                // The limit's own length, shortest, is read.
                let mut wire = vec![frame_type];
                wire.extend(length_digits(limit as u64));
                let expected =
                    if limit == 0 && frame_type == 0xff { vec![Draft76Frame::Close] } else { Vec::new() };
                assert_eq!(feed(decoder, &wire), (Ok(expected), wire.len()), "limit {limit}");
            }
        }
    }

    #[test]
    fn eof_mid_frame_is_an_error() {
        let mut decoder = Decoder::new(100, 100);
        assert_eq!(decoder.check_eof(), Ok(()));
        let mut input = &[0x00, b'a'][..];
        decoder.decode(&mut input).unwrap();
        assert_eq!(decoder.check_eof(), Err(Error::UnexpectedEof(Stage::Frame)));
    }
}
