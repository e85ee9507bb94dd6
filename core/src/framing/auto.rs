//! Telling a draft-76 client's framing ('old' or 'new') from the first
//! bytes it sends after the handshake (docs/PROTOCOLS.md §3.1): the rule a
//! server with [`Framing::Auto`] follows, since the request cannot say.
//!
//! A [`crate::Connection`] serving with `Auto` keeps the client's first
//! bytes until [`detect`] decides (within
//! [`MAX_PREFIX`] bytes), or [`Detection::on_silence`] does when nothing
//! more comes, or the application commits to 'old' by sending first; it
//! then reads the prefix, and everything after it, with the decoder of the
//! framing chosen.

use crate::config::Framing;

/// The most bytes [`detect`] needs: ten (`00` and nine more `00`s is
/// 'old' text of NULs; one byte fewer is still ambiguous).
pub const MAX_PREFIX: usize = 10;

/// The client's first bytes, held while they do not decide its framing:
/// never more than [`MAX_PREFIX`], kept inline (no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prefix {
    bytes: [u8; MAX_PREFIX],
    len: usize,
}

impl Prefix {
    /// The bytes held.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Moves bytes from the front of `input` into the prefix, one at a
    /// time, until [`detect`] decides (the deciding byte is taken too) or
    /// `input` is used up. Returns the decision.
    pub(crate) fn take(&mut self, input: &mut &[u8]) -> Option<Framing> {
        while let Some((&byte, rest)) = input.split_first() {
            // `detect` decides within MAX_PREFIX bytes, so there is room.
            self.bytes[self.len] = byte;
            self.len += 1;
            *input = rest;
            if let Detection::Framing(framing) = detect(self.as_slice()) {
                return Some(framing);
            }
        }
        None
    }

    /// What the bytes held say so far.
    pub(crate) fn detection(&self) -> Detection {
        detect(self.as_slice())
    }
}

/// What the first bytes of a draft-76 client's stream say of its framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// Decided: the client speaks this framing.
    Framing(Framing),
    /// Not decided yet: wait for more bytes (a prefix both framings start
    /// alike, and the client may still be sending).
    NeedMore,
    /// These bytes are all the client sends until we answer, and they are
    /// whole in either framing: the 'old' close (`FF 00`) and the start of
    /// a 'new' text frame, or the 'new' close (`00` and eight `00`s) and an
    /// 'old' text of eight NULs not yet ended. When nothing more comes
    /// (the caller's deadline, or the end of the stream), the caller
    /// decides with [`Detection::on_silence`].
    Ambiguous,
}

impl Detection {
    /// What an [`Ambiguous`](Detection::Ambiguous) prefix is taken as when
    /// the client sends nothing more for a while: 'old' for `FF 00` (a
    /// close sent at once, after which an 'old' client waits for ours,
    /// while a 'new' text frame's length would follow at once), 'new' for
    /// nine `00`s (the 'new' close, after which a 'new' client waits, while
    /// an 'old' text would still be sending). `None` for any other prefix.
    pub fn on_silence(first: &[u8]) -> Option<Framing> {
        match first {
            [0xFF, 0x00] => Some(Framing::Old),
            [0x00, rest @ ..] if rest.len() == 8 && rest.iter().all(|&b| b == 0) => Some(Framing::New),
            _ => None,
        }
    }
}

/// The framing of a client whose stream `bytes` is all there is to go by
/// (nothing more comes, or the stream is over): what [`detect`] says, an
/// ambiguous prefix [as silence takes it](Detection::on_silence), and
/// 'old' for a prefix that needed more (both framings read it as a frame
/// cut short) or for nothing at all.
pub fn decide_on_silence(bytes: &[u8]) -> Framing {
    match detect(bytes) {
        Detection::Framing(framing) => framing,
        _ => Detection::on_silence(bytes).unwrap_or(Framing::Old),
    }
}

/// Decides a draft-76 client's framing from the first bytes it sent after
/// the handshake (`first`, everything so far, at least one byte):
///
/// | first bytes | 'old' reads | 'new' reads | decision |
/// | --- | --- | --- | --- |
/// | `00`, then not eight `00`s | a text frame | a close with a non-zero length (Racket writes 0) | 'old' |
/// | `00` and eight `00`s, then more | a text frame going on | a close, then nothing (the client waits) | 'old' |
/// | `00` and eight `00`s, nothing more | text of NULs, unfinished | the close | ambiguous |
/// | `00` and fewer than eight more bytes, all `00` | | | need more |
/// | `FF 00`, then more | a close, then nothing | a text frame's length | 'new' |
/// | `FF 00`, nothing more | the close | a text frame's length, unfinished | ambiguous |
/// | `FF` alone | | | need more |
/// | `FF` then not `00` | a length-prefixed frame (discarded) | text of 2^56 bytes or more, past any limit | 'old' |
/// | `01`–`7F` | a sentinel frame of another type (discarded) | text (Racket's reader), never written by Racket | 'old' |
/// | `80`–`FE` | a length-prefixed frame (discarded) | text, never written by Racket | 'old' |
pub fn detect(first: &[u8]) -> Detection {
    match first {
        [] => Detection::NeedMore,
        [0x00, rest @ ..] => {
            let length = &rest[..rest.len().min(8)];
            if length.iter().any(|&b| b != 0) {
                Detection::Framing(Framing::Old)
            } else if rest.len() < 8 {
                Detection::NeedMore
            } else if rest.len() > 8 {
                Detection::Framing(Framing::Old)
            } else {
                Detection::Ambiguous
            }
        }
        [0xFF] => Detection::NeedMore,
        [0xFF, 0x00] => Detection::Ambiguous,
        [0xFF, 0x00, _, ..] => Detection::Framing(Framing::New),
        _ => Detection::Framing(Framing::Old),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::new;
    use alloc::vec::Vec;

    const OLD: Detection = Detection::Framing(Framing::Old);
    const NEW: Detection = Detection::Framing(Framing::New);

    fn new_text(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        new::encode_text(text, &mut out);
        out
    }

    #[test]
    fn what_each_framings_writers_send_first_is_told_apart() {
        assert_eq!(detect(b"\x00hello\xff"), OLD, "'old' text");
        assert_eq!(detect(b"\x00h"), OLD, "'old' text, its first byte only");
        assert_eq!(detect(&new_text("hello")), NEW, "'new' text");
        // A 'new' text frame as soon as its length's second byte is in.
        assert_eq!(detect(&new_text("hello")[..3]), NEW);
        // The empty 'new' text: FF and eight 00s, then the next frame.
        assert_eq!(detect(&new_text("")), NEW);
    }

    #[test]
    fn every_ambiguous_prefix_waits_then_goes_by_the_silence_rule() {
        // 'old' close, or a 'new' text whose length is still coming.
        assert_eq!(detect(b"\xff\x00"), Detection::Ambiguous);
        assert_eq!(Detection::on_silence(b"\xff\x00"), Some(Framing::Old));
        // 'new' close, or 'old' text of eight NULs still being sent.
        let new_close = [0u8; 9];
        assert_eq!(detect(&new_close), Detection::Ambiguous);
        assert_eq!(Detection::on_silence(&new_close), Some(Framing::New));
        // More after either settles it.
        assert_eq!(detect(b"\xff\x00\x00"), NEW);
        assert_eq!(detect(&[0u8; 10]), OLD);
        assert_eq!(detect(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff"), OLD);
        // Silence settles nothing else.
        assert_eq!(Detection::on_silence(b"\x00"), None);
        assert_eq!(Detection::on_silence(b"\xff"), None);
        assert_eq!(Detection::on_silence(b"\xff\x00\x00"), None);
    }

    /// Every prefix `detect` leaves undecided, grown by every next byte,
    /// is decided by the time it holds MAX_PREFIX bytes: the `Prefix`
    /// buffer cannot overflow.
    #[test]
    fn detect_decides_within_max_prefix_bytes() {
        let mut undecided: Vec<Vec<u8>> = alloc::vec![Vec::new()];
        let mut longest = 0;
        while let Some(prefix) = undecided.pop() {
            assert!(prefix.len() < MAX_PREFIX, "{prefix:02x?} undecided");
            longest = longest.max(prefix.len());
            for byte in 0..=0xFFu8 {
                let mut next = prefix.clone();
                next.push(byte);
                if !matches!(detect(&next), Detection::Framing(_)) {
                    undecided.push(next);
                }
            }
        }
        assert_eq!(longest, MAX_PREFIX - 1, "the longest undecided prefix: nine 00s");
    }

    #[test]
    fn a_prefix_takes_bytes_up_to_the_deciding_one() {
        let mut prefix = Prefix::default();
        let mut input: &[u8] = b"\xff";
        assert_eq!(prefix.take(&mut input), None);
        assert_eq!(prefix.detection(), Detection::NeedMore);
        let mut input: &[u8] = b"\x00";
        assert_eq!(prefix.take(&mut input), None);
        assert_eq!(prefix.detection(), Detection::Ambiguous);
        let mut input: &[u8] = b"\x00\x00\x05hello";
        assert_eq!(prefix.take(&mut input), Some(Framing::New));
        assert_eq!(prefix.as_slice(), b"\xff\x00\x00", "the deciding byte is held");
        assert_eq!(input, b"\x00\x05hello", "the rest is left");
        let mut prefix = Prefix::default();
        let mut input: &[u8] = &[0u8; 12];
        assert_eq!(prefix.take(&mut input), Some(Framing::Old));
        assert_eq!((prefix.as_slice().len(), input.len()), (MAX_PREFIX, 2));
    }

    #[test]
    fn prefixes_both_framings_start_alike_need_more() {
        assert_eq!(detect(b""), Detection::NeedMore);
        assert_eq!(detect(b"\xff"), Detection::NeedMore);
        for zeros in 1..9 {
            assert_eq!(detect(&[0u8; 9][..zeros]), Detection::NeedMore, "{zeros} zero bytes");
        }
    }

    #[test]
    fn every_other_first_byte_is_old() {
        for first in 0x01..=0xFEu8 {
            assert_eq!(detect(&[first]), OLD, "{first:#04x}");
            assert_eq!(detect(&[first, 0x00, 0x00]), OLD, "{first:#04x} 00 00");
        }
        // FF then a non-zero byte: an 'old' length frame; as 'new' text, a
        // declared length of at least 2^56.
        for second in 0x01..=0xFFu8 {
            assert_eq!(detect(&[0xFF, second]), OLD, "FF {second:#04x}");
        }
        // 00 then a non-zero byte among the next eight: 'old' text (a 'new'
        // close with a length Racket never writes).
        for at in 1..9 {
            let mut bytes = [0u8; 9];
            bytes[at] = b'a';
            assert_eq!(detect(&bytes[..=at]), OLD, "non-zero at {at}");
        }
    }
}
