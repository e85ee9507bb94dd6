//! Incremental UTF-8: text that arrives in pieces split anywhere, validated
//! once per byte and failed as soon as it cannot be valid.
//!
//! RFC 6455 §8.1 asks a receiver to fail a connection on invalid text as
//! soon as it sees it, not when the message ends, and a message may be split
//! across frames and reads in the middle of a character. [`TextBuilder`]
//! appends each piece to a `String`, holding back the at most three bytes of
//! a character that is not complete yet. Each byte is validated once (by
//! `simdutf8`), and no `unsafe` is needed to build the `String`.

use alloc::string::String;
use alloc::vec::Vec;

/// Text being assembled from pieces.
#[derive(Debug, Default)]
pub(crate) struct TextBuilder {
    text: String,
    /// The start of a character whose remaining bytes have not arrived.
    carry: [u8; 4],
    carry_len: u8,
}

/// The piece made the text invalid UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl TextBuilder {
    /// Bytes held so far, counting a held-back partial character.
    pub(crate) fn len(&self) -> usize {
        self.text.len() + self.carry_len as usize
    }

    /// Bytes allocated for the text.
    pub(crate) fn capacity(&self) -> usize {
        self.text.capacity()
    }

    /// Makes room for exactly `additional` more bytes (the caller chooses
    /// how far ahead to grow) past [`len`](Self::len), which counts the
    /// held-back partial character: it goes into the text with the next
    /// bytes, so room is made for it too. (Without it, a message reserved
    /// to its exact end overflowed by that character, and `String`'s own
    /// doubling then allocated twice the message.)
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.text.reserve_exact(additional + self.carry_len as usize);
    }

    /// Appends `bytes`; fails if no continuation could make the text valid.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.carry_len > 0 {
            let held = self.carry_len as usize;
            let width = char_width(self.carry[0]).ok_or(InvalidUtf8)?;
            let take = (width - held).min(bytes.len());
            self.carry[held..held + take].copy_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let have = held + take;
            match core::str::from_utf8(&self.carry[..have]) {
                Ok(ch) => {
                    self.text.push_str(ch);
                    self.carry_len = 0;
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid beginning of a character.
                    self.carry_len = have as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        let tail = incomplete_tail_len(bytes);
        let (whole, partial) = bytes.split_at(bytes.len() - tail);
        let whole = simdutf8::basic::from_utf8(whole).map_err(|_| InvalidUtf8)?;
        if tail > 0 {
            // Fail fast if these bytes cannot begin a character.
            if let Err(e) = core::str::from_utf8(partial) {
                if e.error_len().is_some() {
                    return Err(InvalidUtf8);
                }
            }
            self.carry[..tail].copy_from_slice(partial);
            self.carry_len = tail as u8;
        }
        self.text.push_str(whole);
        Ok(())
    }

    /// Appends `bytes`, each invalid sequence replaced by U+FFFD exactly as
    /// [`String::from_utf8_lossy`] replaces it in the whole text: a
    /// sequence cut short at the end of `bytes` is held back until the next
    /// piece says whether it completes (see [`finish_lossy`](Self::finish_lossy)).
    /// Appends at most three bytes of text per byte taken.
    pub(crate) fn push_lossy(&mut self, mut bytes: &[u8]) {
        while self.carry_len > 0 {
            let Some((&byte, rest)) = bytes.split_first() else {
                return;
            };
            let held = self.carry_len as usize;
            self.carry[held] = byte;
            match core::str::from_utf8(&self.carry[..=held]) {
                Ok(ch) => {
                    self.text.push_str(ch);
                    self.carry_len = 0;
                    bytes = rest;
                }
                Err(e) if e.error_len().is_none() => {
                    self.carry_len += 1;
                    bytes = rest;
                }
                Err(_) => {
                    // The held bytes are one invalid sequence; `byte`
                    // starts afresh, as std reads on after the error.
                    self.text.push(char::REPLACEMENT_CHARACTER);
                    self.carry_len = 0;
                }
            }
        }
        let mut chunks = bytes.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            self.text.push_str(chunk.valid());
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let cut_short = chunks.peek().is_none()
                && core::str::from_utf8(invalid).is_err_and(|e| e.error_len().is_none());
            if cut_short {
                self.carry[..invalid.len()].copy_from_slice(invalid);
                self.carry_len = invalid.len() as u8;
            } else {
                self.text.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }

    /// The rest of a text built with [`push_lossy`](Self::push_lossy): a
    /// character cut short at the very end becomes one U+FFFD.
    pub(crate) fn finish_lossy(&mut self) -> String {
        if self.carry_len > 0 {
            self.carry_len = 0;
            self.text.push(char::REPLACEMENT_CHARACTER);
        }
        core::mem::take(&mut self.text)
    }

    /// The text so far, leaving a held-back partial character in place: for
    /// delivering a long message in pieces.
    pub(crate) fn take_complete(&mut self) -> String {
        core::mem::take(&mut self.text)
    }

    /// The whole text, if it does not end inside a character.
    pub(crate) fn finish(&mut self) -> Result<String, InvalidUtf8> {
        if self.carry_len > 0 {
            self.carry_len = 0;
            return Err(InvalidUtf8);
        }
        Ok(core::mem::take(&mut self.text))
    }
}

/// Up to this many bytes, [`into_string`] lets std check the text in place;
/// beyond it, up to [`COPY_MAX`], checking with `simdutf8` and copying is
/// faster than std's check of text that is not all ASCII.
const IN_PLACE_MAX: usize = 512;

/// Beyond this, the copy's fresh allocation (pages the allocator maps anew,
/// measured: 1 MiB messages 30% slower) costs more than std's check saves.
const COPY_MAX: usize = 64 * 1024;

/// Turns a whole message's bytes into text, handing the bytes back if they
/// are not UTF-8. Without `unsafe`, a `String` can only be made from a `Vec`
/// by std's own check; for mid-sized messages the SIMD check plus one copy
/// beats it, for small ones the extra allocation would not.
pub(crate) fn into_string(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    if bytes.len() <= IN_PLACE_MAX || bytes.len() > COPY_MAX {
        return String::from_utf8(bytes).map_err(|e| e.into_bytes());
    }
    match simdutf8::basic::from_utf8(&bytes) {
        Ok(text) => Ok(String::from(text)),
        Err(_) => Err(bytes),
    }
}

/// How long `bytes` is as text once each invalid sequence becomes U+FFFD
/// (three bytes), as [`String::from_utf8_lossy`] replaces them: known
/// before the text is made, so a limit can refuse it unallocated.
pub(crate) fn replaced_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|chunk| chunk.valid().len() + if chunk.invalid().is_empty() { 0 } else { 3 })
        .sum()
}

/// `bytes` as text with each invalid sequence replaced by U+FFFD, exactly
/// as [`String::from_utf8_lossy`] does, in storage of exactly its
/// [`replaced_len`].
pub(crate) fn replace_invalid(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(replaced_len(bytes));
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    text
}

/// How many bytes the character starting with `lead` takes, if `lead` can
/// start one.
fn char_width(lead: u8) -> Option<usize> {
    match lead {
        0x00..=0x7f => Some(1),
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

/// How many bytes at the end of `bytes` start a character that needs more
/// bytes than are there (0 to 3). Malformed input is left to the validator.
fn incomplete_tail_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xc0 != 0x80 {
            return match char_width(b) {
                Some(width) if width > back => back,
                _ => 0,
            };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(pieces: &[&[u8]]) -> Result<String, InvalidUtf8> {
        let mut b = TextBuilder::default();
        for p in pieces {
            b.push(p)?;
        }
        b.finish()
    }

    #[test]
    fn characters_split_anywhere() {
        let text = "aé€😀z";
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                assert_eq!(build(&[&bytes[..i], &bytes[i..j], &bytes[j..]]).unwrap(), text);
            }
        }
    }

    #[test]
    fn lossy_pieces_split_anywhere() {
        let mut bytes = "aé€😀".as_bytes().to_vec();
        bytes.extend_from_slice(&[0xe2, 0x82, b'A', 0xf0, 0x9f, 0xff, 0xed, 0xa0, 0x80, 0xc3]);
        bytes.extend_from_slice("z😀".as_bytes());
        bytes.extend_from_slice(&[0xf0, 0x9f, 0x98]);
        let expected = String::from_utf8_lossy(&bytes);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut b = TextBuilder::default();
                let mut text = String::new();
                for piece in [&bytes[..i], &bytes[i..j]] {
                    b.push_lossy(piece);
                    text.push_str(&b.take_complete());
                }
                b.push_lossy(&bytes[j..]);
                text.push_str(&b.finish_lossy());
                assert_eq!(text, expected, "cut at {i} and {j}");
            }
        }
    }

    #[test]
    fn fails_fast_inside_a_character() {
        let mut b = TextBuilder::default();
        // 0xF0 0x28 can never be valid: fail on the second byte, before the end.
        b.push(&[b'a', 0xf0]).unwrap();
        assert_eq!(b.push(&[0x28]), Err(InvalidUtf8));
        // A lone lead byte that can never start a character.
        assert_eq!(TextBuilder::default().push(&[0xff]), Err(InvalidUtf8));
        // Overlong and surrogate starts fail as soon as their second byte is seen.
        assert_eq!(TextBuilder::default().push(&[0xed, 0xa0]), Err(InvalidUtf8));
        assert_eq!(TextBuilder::default().push(&[0xc0]), Err(InvalidUtf8));
        // Truncated at the end of the message.
        assert_eq!(build(&[&[0xe2, 0x82]]), Err(InvalidUtf8));
    }

    #[test]
    fn whole_messages_small_and_large() {
        for len in [0, 1, IN_PLACE_MAX, IN_PLACE_MAX + 1, 4096, COPY_MAX + 1] {
            let text: String = "aé€😀".chars().cycle().take(len).collect();
            assert_eq!(into_string(text.clone().into_bytes()), Ok(text.clone()), "{len} characters");
            let mut bad = text.into_bytes();
            bad.push(0xff);
            assert_eq!(into_string(bad.clone()), Err(bad), "{len} characters and a stray byte");
        }
    }

    #[test]
    fn replacement_matches_std_and_its_length_is_known_first() {
        let cases: [&[u8]; 6] =
            [b"", b"plain", b"\xff", b"a\xc3(b\xe2\x82", b"\xed\xa0\x80z", "é✓\u{1F600}".as_bytes()];
        for bytes in cases {
            let text = replace_invalid(bytes);
            assert_eq!(text, String::from_utf8_lossy(bytes), "{bytes:02x?}");
            assert_eq!(replaced_len(bytes), text.len(), "{bytes:02x?}");
            assert_eq!(text.capacity(), text.len(), "{bytes:02x?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64), cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for c in cuts { pieces.push(&bytes[start..c]); start = c; }
            pieces.push(&bytes[start..]);
            let expected = core::str::from_utf8(&bytes).map(String::from).ok();
            prop_assert_eq!(build(&pieces).ok(), expected);
        }

        #[test]
        fn lossy_pieces_agree_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64), cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut b = TextBuilder::default();
            let mut text = String::new();
            let mut start = 0;
            for c in cuts {
                b.push_lossy(&bytes[start..c]);
                text.push_str(&b.take_complete());
                start = c;
            }
            b.push_lossy(&bytes[start..]);
            text.push_str(&b.finish_lossy());
            prop_assert_eq!(text, String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn valid_text_in_any_pieces(text in "\\PC{0,40}", cut in 0usize..200) {
            let bytes = text.as_bytes();
            let cut = cut.min(bytes.len());
            prop_assert_eq!(build(&[&bytes[..cut], &bytes[cut..]]).unwrap(), text);
        }
    }
}
