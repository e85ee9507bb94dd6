//! Data framings, one module each. Each decoder takes bytes as they come,
//! split anywhere, and yields whole frames; none allocates more than the
//! bytes that actually arrived.

pub mod new;
pub mod old;
pub mod rfc6455;

use alloc::vec::Vec;

use crate::error::{Error, LimitError};

/// Room a message's buffer leaves free when it grows ahead of its bytes
/// under an allowance, for what the connection queues meanwhile (a pong
/// for each ping in the same read, a longer event queue): growing into the
/// last of the allowance is for bytes that arrived, not for slack.
pub(crate) const HEADROOM: usize = 32 * 1024;

/// A complete draft-76 frame, in either framing: the only things either
/// framing can carry are text and a close.
#[derive(Debug, PartialEq, Eq)]
pub enum Draft76Frame {
    /// A text message's bytes, not yet checked for UTF-8.
    Text(Vec<u8>),
    /// The closing frame.
    Close,
}

/// The text message a draft-76 decoder is receiving, in either framing,
/// and the allowance its storage grows within (the RFC 6455 reader's rule:
/// a connection's buffers never pass what its driver reserved for it).
#[derive(Debug)]
struct Draft76Text {
    bytes: Vec<u8>,
    /// Most bytes `bytes` may hold (its capacity).
    room: usize,
    /// The connection's whole allowance, which the error reports.
    reported: usize,
}

impl Draft76Text {
    fn new() -> Self {
        Draft76Text { bytes: Vec::new(), room: usize::MAX, reported: usize::MAX }
    }

    fn set_allowance(&mut self, room: usize, reported: usize) {
        self.room = room;
        self.reported = reported;
    }

    /// What the message's storage holds: its capacity, not its length.
    fn buffered_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    fn len(&self) -> usize {
        self.bytes.len()
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
