//! Reading a large frame's payload straight into the message it belongs to.
//!
//! A driver that reads into a buffer of its own and hands the bytes to
//! [`Reader::read`] copies every payload byte once more than it must: from
//! its buffer into the message. For a frame whose payload is still long to
//! come, the reader lends the driver the message's own buffer instead
//! ([`Reader::take_payload_buffer`]): the driver reads the socket into its
//! room and hands it back with the count ([`Reader::commit_payload`]), and
//! the bytes are unmasked where they landed.
//!
//! What is lent is room for bytes that have not arrived, so it is bounded
//! by what has, never by the length the frame header declares: at least
//! what the driver would read into its own buffer at once (`at_least`),
//! and up to [`AHEAD`] times what the message holds, within the allowance,
//! never past the frame's end. Three times, where `read`'s growth doubles:
//! each time the buffer grows, all that arrived is copied (`realloc`),
//! which was the largest cost left in echoing 4 MiB messages (19% of the
//! server's samples against 7% for zeroing); growing fourfold copies a
//! 4 MiB message about 2.6 MiB in all instead of 4, for at most four times
//! what a stalled peer sent held instead of two. A driver that has a
//! buffer it finished with (a large message it wrote) can offer it
//! ([`Reader::take_payload_buffer_reusing`]): the message moves into it
//! once instead of growing, which copies and allocates nothing more.
//!
//! The room is lent two ways, for the two kinds of reader a driver has:
//!
//! - [`PayloadBuffer::room`], a `&mut [u8]`, for a reader that fills
//!   initialised memory (`std::io::Read`). `forbid(unsafe_code)` means
//!   the core can hand out only initialised bytes, so the room is zeroed
//!   the first time it is asked for; the zeroed tail past what arrived is
//!   kept between loans (a byte is zeroed once, however the reads fall)
//!   and cut off before anything else reads the message.
//! - [`PayloadBuffer::append_to`], the message's `Vec` itself, for a
//!   reader that appends into a vector's spare capacity without
//!   initialising it first (tokio's `read_buf` through `bytes::BufMut`,
//!   limited to [`PayloadBuffer::room_len`]). Zeroing 4 MiB before the
//!   socket overwrote it was 11% of an async server's time echoing 4 MiB
//!   messages (BENCHMARKS.md, "Echo over loopback (async driver)").

use alloc::vec::Vec;
use core::ops::RangeInclusive;

use super::wire;
use super::{Assembly, Incoming, Message, Reader};
use crate::error::{Error, Misuse};

/// Room in the message being received, lent to a driver to read the next
/// payload bytes of the current frame into; see
/// [`Connection::take_payload_buffer`](crate::Connection::take_payload_buffer).
/// Hand it back with
/// [`Connection::handle_payload`](crate::Connection::handle_payload), with
/// the number of bytes read into the front of [`room`](Self::room), before
/// any other input.
///
/// Fill it one of two ways (see the module docs): write into
/// [`room`](Self::room), or append to [`append_to`](Self::append_to)
/// without initialising first. Either way, no more than
/// [`room_len`](Self::room_len) bytes.
#[derive(Debug)]
pub struct PayloadBuffer {
    /// The message so far (`filled` bytes), then, up to `len()`, zeroed
    /// room kept from an earlier loan; the room ends at `end`, within the
    /// capacity.
    data: Vec<u8>,
    filled: usize,
    end: usize,
}

impl PayloadBuffer {
    /// Where the next payload bytes go, in order from its start: never past
    /// the current frame's end, so no byte of the next frame lands here.
    /// Zeroed where it was not before (once per byte of a message).
    pub fn room(&mut self) -> &mut [u8] {
        if self.data.len() < self.end {
            self.data.resize(self.end, 0);
        }
        &mut self.data[self.filled..self.end]
    }

    /// The message's buffer, holding the payload so far, for a reader that
    /// appends the next payload bytes to it, at most
    /// [`room_len`](Self::room_len) of them: the capacity for them is there
    /// already (appending more reallocates it, and the core refuses the
    /// buffer back), and it is not initialised first. For tokio,
    /// `read_buf(&mut bytes::BufMut::limit(buffer.append_to(), room_len))`.
    /// Append only: the bytes already in it are the message's.
    pub fn append_to(&mut self) -> &mut Vec<u8> {
        self.data.truncate(self.filled);
        &mut self.data
    }

    /// How many bytes the room takes.
    pub fn room_len(&self) -> usize {
        self.end - self.filled
    }
}

/// How far the room may reach past what arrived: this many times the
/// bytes the message holds (see the module docs).
const AHEAD: usize = 3;

/// What the reader keeps about lending its message buffer.
#[derive(Debug, Default)]
pub(super) struct Lending {
    /// Zeroed bytes at the end of the binary message's buffer, past what
    /// has arrived: room lent before and not filled, kept for the next loan.
    tail: usize,
    /// The buffer is lent out: what it had arrived with (`filled`) and its
    /// length and capacity then, to know it when it comes back and to
    /// count it meanwhile.
    out: Option<Out>,
}

/// What [`Reader::lend_plan`] found: bytes of the message that arrived
/// (`filled`), room to lend past them (`ahead`), and what the frame has
/// still to come (`remaining`).
#[derive(Debug, Clone, Copy)]
struct LendPlan {
    filled: usize,
    ahead: usize,
    remaining: usize,
}

impl LendPlan {
    /// The capacities a spare may have for the message to move into it,
    /// allowance aside: from what the room needs to twice the message's
    /// length when the frame ends, within the message size `limit`.
    /// [`Reader::move_into_spare`] holds a spare to these, and
    /// [`Reader::spare_wanted`] tells a driver them.
    fn spare_range(&self, limit: usize) -> RangeInclusive<usize> {
        let most = self.filled.saturating_add(self.remaining).saturating_mul(2).min(limit);
        self.filled + self.ahead..=most
    }
}

#[derive(Debug, Clone, Copy)]
struct Out {
    filled: usize,
    end: usize,
    capacity: usize,
}

impl Lending {
    /// Bytes lent out (the buffer's capacity), which the reader still
    /// holds for [`Reader::buffered_bytes`].
    pub(super) fn lent_bytes(&self) -> usize {
        self.out.map_or(0, |out| out.capacity)
    }
}

impl Reader {
    /// Lends the message's buffer for the next payload bytes of the frame
    /// in progress, if that frame is a binary one not compressed, in whole
    /// mode, with at least `at_least` (at least 1) bytes still to come.
    /// The room is at least `at_least` bytes, more as the message grows (up
    /// to three times what arrived), never past the frame's end; `None`
    /// when it is anything else, or when the allowance does not cover
    /// `at_least` more bytes (reading into the driver's buffer then fails
    /// the connection as it should, once the bytes arrive).
    pub fn take_payload_buffer(&mut self, at_least: usize) -> Option<PayloadBuffer> {
        self.take_payload_buffer_reusing(at_least, &mut Vec::new())
    }

    /// [`take_payload_buffer`](Self::take_payload_buffer), offered a
    /// buffer to move the message into instead of growing it; see
    /// [`Connection::take_payload_buffer_reusing`](crate::Connection::take_payload_buffer_reusing)
    /// and, for the bounds, `move_into_spare`.
    pub fn take_payload_buffer_reusing(
        &mut self,
        at_least: usize,
        spare: &mut Vec<u8>,
    ) -> Option<PayloadBuffer> {
        let plan = self.lend_plan(at_least)?;
        let at_least = at_least.max(1);
        if self.lending.tail < at_least {
            let (tail, ahead) = (self.lending.tail, plan.ahead);
            if !self.move_into_spare(plan.spare_range(self.config.max_message_size), spare)
                && self.reserve_message(ahead - tail).is_err()
                && self.reserve_message(at_least - tail).is_err()
            {
                return None;
            }
        }
        let tail = self.lending.tail;
        let Some(Message { assembly: Assembly::Binary(data), .. }) = &mut self.message else {
            unreachable!("checked above");
        };
        let filled = data.len() - tail;
        // Not zeroed here: `room` zeroes what it lends past the tail kept
        // from the last loan, and `append_to` needs none of it.
        let end = data.capacity().min(filled.saturating_add(plan.remaining));
        self.lending.tail = 0;
        self.lending.out = Some(Out { filled, end, capacity: data.capacity() });
        Some(PayloadBuffer { data: core::mem::take(data), filled, end })
    }

    /// What lending room for `at_least` more bytes would take, if the
    /// reader would lend now: the frame in progress is a binary one, not
    /// compressed, in whole mode, with at least `at_least` still to come.
    fn lend_plan(&self, at_least: usize) -> Option<LendPlan> {
        if self.lending.out.is_some() || self.config.streaming || self.header_len != 0 {
            return None;
        }
        let frame = self.frame.as_ref()?;
        let remaining = usize::try_from(frame.remaining).unwrap_or(usize::MAX);
        let at_least = at_least.max(1);
        if frame.header.opcode.is_control() || remaining < at_least {
            return None;
        }
        let message = self.message.as_ref()?;
        if message.compressed || !matches!(message.assembly, Assembly::Binary(_)) {
            return None;
        }
        let filled = message.assembly.len() - self.lending.tail;
        let ahead = remaining.min(at_least.max(AHEAD * filled));
        Some(LendPlan { filled, ahead, remaining })
    }

    /// The capacities a spare may have for
    /// [`take_payload_buffer_reusing`](Self::take_payload_buffer_reusing)
    /// to move the message into it now (the message must grow to lend
    /// `at_least` bytes of room), allowance aside: from what the room
    /// needs to twice the message's length when the frame ends, within the
    /// message size limit. `None` when no spare would be taken. For a
    /// driver under a memory budget to reserve a spare's capacity before
    /// offering it, and only one that would be taken.
    pub fn spare_wanted(&self, at_least: usize) -> Option<RangeInclusive<usize>> {
        let range = self.lend_plan(at_least)?.spare_range(self.config.max_message_size);
        let capacity = self.message.as_ref().map_or(0, |m| m.assembly.capacity());
        if self.lending.tail >= at_least.max(1) || capacity >= *range.start() || range.is_empty() {
            return None;
        }
        Some(range)
    }

    /// Moves the binary message into `spare` if its buffer is short of the
    /// capacity `range` starts at and `spare`'s is in `range`
    /// ([`LendPlan::spare_range`]) and within the allowance; the old buffer
    /// comes back in `spare`. False if it did not.
    fn move_into_spare(&mut self, range: RangeInclusive<usize>, spare: &mut Vec<u8>) -> bool {
        let need = *range.start();
        let (others, ceiling) = self.message_ceiling();
        let fits = range.contains(&spare.capacity())
            && spare.capacity() <= ceiling
            && spare.capacity().saturating_add(others) <= self.allowance.room;
        let Some(Message { assembly: Assembly::Binary(data), .. }) = &mut self.message else {
            return false;
        };
        if data.capacity() >= need || !fits {
            return false;
        }
        // The zeroed tail kept from the last loan stays behind.
        data.truncate(data.len() - self.lending.tail);
        self.lending.tail = 0;
        spare.clear();
        spare.extend_from_slice(data);
        core::mem::swap(data, spare);
        spare.clear();
        true
    }

    /// Whether a data frame's payload is in progress: the only time
    /// [`take_payload_buffer`](Self::take_payload_buffer) may lend.
    #[inline]
    pub fn in_data_frame(&self) -> bool {
        self.frame.as_ref().is_some_and(|f| !f.header.opcode.is_control())
    }

    /// Takes the buffer back with `n` more payload bytes at the front of
    /// its room: unmasks them in place and moves the frame on, like
    /// [`read`](Self::read) given the same bytes. A buffer that is not the
    /// one lent, or `n` past its room, is a driver's error.
    pub fn commit_payload(&mut self, buffer: PayloadBuffer, n: usize) -> Result<Option<Incoming>, Error> {
        let out = self.lending.out.take().ok_or(Misuse::PayloadBuffer)?;
        let PayloadBuffer { mut data, filled, end } = buffer;
        // Filled through `room` (its length is then `end`) or appended to
        // (`filled + n`), or not touched: `n` bytes after the message, room
        // to spare up to `end` at most, and the capacity it was lent with
        // (grown, it is another allocation than the one counted).
        if filled != out.filled || end != out.end || data.capacity() != out.capacity || data.len() > end {
            return Err(Misuse::PayloadBuffer.into());
        }
        let frame = self.frame.as_mut().expect("a buffer is lent only inside a frame");
        let slot = match &mut self.message {
            Some(Message { assembly: Assembly::Binary(slot), .. }) => slot,
            _ => unreachable!("a buffer is lent only for a binary message"),
        };
        if filled + n > data.len() {
            // Past the room, or more than was appended: the message ends
            // where it arrived (no unfilled byte is ever read as payload).
            data.truncate(filled);
            *slot = data;
            return Err(Misuse::PayloadBuffer.into());
        }
        if let Some(key) = frame.header.mask {
            wire::apply_mask(&mut data[filled..filled + n], key, frame.done as usize);
        }
        // What is past the `n` bytes (zeroed room, or bytes a driver wrote
        // and did not count) is cut before the message is read.
        self.lending.tail = data.len() - filled - n;
        *slot = data;
        frame.remaining -= n as u64;
        frame.done += n as u64;
        if frame.remaining > 0 {
            return Ok(None);
        }
        self.cut_tail();
        self.finish_frame()
    }

    /// Forgets a buffer that will not come back (the connection ended
    /// while it was out).
    pub(crate) fn forget_lent(&mut self) {
        self.lending.out = None;
        self.lending.tail = 0;
    }

    /// Before input through [`read`](Self::read): the buffer must be back,
    /// and the zeroed tail goes (the capacity stays).
    pub(super) fn end_loan(&mut self) -> Result<(), Error> {
        if self.lending.out.is_some() {
            return Err(Misuse::PayloadBuffer.into());
        }
        self.cut_tail();
        Ok(())
    }

    fn cut_tail(&mut self) {
        let tail = core::mem::take(&mut self.lending.tail);
        if let (true, Some(Message { assembly: Assembly::Binary(data), .. })) = (tail > 0, &mut self.message)
        {
            data.truncate(data.len() - tail);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::config::Role;
    use crate::error::LimitError;
    use crate::framing::rfc6455::deflate::Decompressor;
    use crate::framing::rfc6455::wire::OpCode;
    use crate::framing::rfc6455::ReaderConfig;
    use crate::handshake::deflate::DeflateParams;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn reader(limit: usize, streaming: bool) -> Reader {
        let config =
            ReaderConfig { expect_masked: true, max_message_size: limit, max_frame_size: limit, streaming };
        Reader::new(config, None)
    }

    fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wire::encode_frame(&mut out, fin, false, opcode, payload, Some(KEY));
        out
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Feeds `bytes` as a driver does: into lent room while the reader
    /// lends it (reads of at most `read` bytes), through `read` otherwise.
    /// Lent room is filled both ways, taking turns.
    fn feed(r: &mut Reader, bytes: &[u8], at_least: usize, read: usize) -> Vec<Incoming> {
        feed_reusing(r, bytes, at_least, read, &mut Vec::new()).0
    }

    #[test]
    fn a_frame_read_into_lent_room_arrives_whole_and_unmasked() {
        let data = payload(10_000);
        let bytes = [frame(true, OpCode::Binary, &data), frame(true, OpCode::Text, b"next")].concat();
        for (at_least, read) in [(1, 1), (16, 100), (64, 3000), (4096, 7), (1, usize::MAX)] {
            let out = feed(&mut reader(1 << 20, false), &bytes, at_least, read);
            assert_eq!(
                out,
                [Incoming::Binary(data.clone()), Incoming::Text("next".into())],
                "{at_least} {read}"
            );
        }
    }

    #[test]
    fn fragments_and_control_frames_between_them() {
        let data = payload(5000);
        let bytes = [
            frame(false, OpCode::Binary, &data[..2000]),
            frame(true, OpCode::Ping, b"p"),
            frame(true, OpCode::Continuation, &data[2000..]),
        ]
        .concat();
        for read in [1, 5, 999, 4096, usize::MAX] {
            let out = feed(&mut reader(1 << 20, false), &bytes, 8, read);
            assert_eq!(out, [Incoming::Ping(b"p".to_vec()), Incoming::Binary(data.clone())], "{read}");
        }
    }

    #[test]
    fn a_declared_length_lends_only_what_may_arrive() {
        // A header declaring 4 MiB and nothing after it.
        let mut r = reader(8 << 20, false);
        let header = &frame(true, OpCode::Binary, &vec![0; 4 << 20])[..14];
        assert_eq!(r.read(&mut &header[..]).unwrap(), None);
        let mut buffer = r.take_payload_buffer(32 * 1024).expect("lent");
        assert_eq!(buffer.room_len(), 32 * 1024);
        assert!(r.buffered_bytes() <= 32 * 1024, "{} held for nothing arrived", r.buffered_bytes());
        // As bytes arrive, the room grows with them, to at most four times
        // what arrived.
        let mut arrived = 0;
        while arrived < 1 << 20 {
            let n = buffer.room().len();
            arrived += n;
            assert_eq!(r.commit_payload(buffer, n).unwrap(), None);
            buffer = r.take_payload_buffer(32 * 1024).expect("lent");
            let held = r.buffered_bytes();
            assert!(held <= (AHEAD + 1) * arrived, "{held} held for {arrived} arrived");
            // Unless the frame's end stops it, further than doubling.
            let to_end = held == 4 << 20;
            assert!(held > 2 * arrived || to_end, "{held} held for {arrived} arrived: grew by doubling");
        }
        r.commit_payload(buffer, 0).unwrap();
    }

    #[test]
    fn the_room_ends_with_the_frame() {
        let mut r = reader(1 << 20, false);
        let bytes = frame(true, OpCode::Binary, &payload(100));
        let mut input = &bytes[..40];
        assert_eq!(r.read(&mut input).unwrap(), None);
        // 34 of 100 payload bytes read (6 of header): 66 to come, and the
        // room may reach three times what arrived: all 66.
        let buffer = r.take_payload_buffer(8).expect("lent");
        assert_eq!(buffer.room_len(), 66);
        assert_eq!(r.commit_payload(buffer, 0).unwrap(), None);
        // Asked for all that is left, it lends that and not a byte more.
        let buffer = r.take_payload_buffer(66).expect("lent");
        assert_eq!(buffer.room_len(), 66);
        assert_eq!(r.commit_payload(buffer, 0).unwrap(), None);
        assert!(r.take_payload_buffer(67).is_none(), "lent more than the frame has left");
    }

    #[test]
    fn lends_nothing_it_cannot_fill_in_place() {
        let big = payload(200);
        let deflate = Decompressor::new(&DeflateParams::default(), Role::Server);
        let compressed = {
            let mut out = Vec::new();
            wire::encode_frame(&mut out, true, true, OpCode::Binary, &big, Some(KEY));
            out
        };
        let cases: [(&str, Reader, Vec<u8>); 5] = [
            ("text", reader(1000, false), frame(true, OpCode::Text, &[b'a'; 200])),
            ("a ping", reader(1000, false), frame(true, OpCode::Ping, &[1; 100])),
            ("streaming", reader(1000, true), frame(true, OpCode::Binary, &big)),
            (
                "compressed",
                Reader::new(
                    ReaderConfig {
                        expect_masked: true,
                        max_message_size: 1000,
                        max_frame_size: 1000,
                        streaming: false,
                    },
                    Some(deflate),
                ),
                compressed,
            ),
            ("between frames", reader(1000, false), frame(true, OpCode::Binary, &big)),
        ];
        for (what, mut r, bytes) in cases {
            let cut = if what == "between frames" { bytes.len() } else { 10 };
            let mut input = &bytes[..cut];
            let _ = r.read(&mut input);
            assert!(r.take_payload_buffer(1).is_none(), "{what}");
        }
        // A header cut in two: nothing to lend until it is whole.
        let mut r = reader(1000, false);
        assert_eq!(r.read(&mut &frame(true, OpCode::Binary, &big)[..3]).unwrap(), None);
        assert!(r.take_payload_buffer(1).is_none());
    }

    #[test]
    fn lends_nothing_past_the_allowance() {
        let mut r = reader(1 << 20, false);
        let bytes = frame(true, OpCode::Binary, &payload(100_000));
        assert_eq!(r.read(&mut &bytes[..14]).unwrap(), None);
        r.set_allowance(1000, 5000);
        assert!(r.take_payload_buffer(4096).is_none());
        // Reading the bytes fails as it would have without the loan.
        let mut input = &bytes[14..14 + 4096];
        assert_eq!(r.read(&mut input), Err(LimitError::OverAllowance { allowance: 5000 }.into()));
    }

    #[test]
    fn a_driver_that_breaks_the_loan_fails_the_message_not_the_process() {
        let bytes = frame(true, OpCode::Binary, &payload(100));
        let start = |r: &mut Reader| assert_eq!(r.read(&mut &bytes[..20]).unwrap(), None);
        // Input while the buffer is out.
        let mut r = reader(1000, false);
        start(&mut r);
        let _buffer = r.take_payload_buffer(1).expect("lent");
        assert!(r.take_payload_buffer(1).is_none(), "lent twice");
        assert_eq!(r.read(&mut &bytes[20..]), Err(Misuse::PayloadBuffer.into()));
        // More bytes than the room.
        let mut r = reader(1000, false);
        start(&mut r);
        let buffer = r.take_payload_buffer(1).expect("lent");
        let room = buffer.room_len();
        assert_eq!(r.commit_payload(buffer, room + 1), Err(Misuse::PayloadBuffer.into()));
        // Another reader's buffer.
        let (mut a, mut b) = (reader(1000, false), reader(1000, false));
        start(&mut a);
        start(&mut b);
        let _mine = a.take_payload_buffer(1).expect("lent");
        let theirs = b.take_payload_buffer(50).expect("lent");
        assert_eq!(a.commit_payload(theirs, 0), Err(Misuse::PayloadBuffer.into()));
    }

    #[test]
    fn appending_finds_the_capacity_there_and_is_held_to_the_room() {
        let bytes = frame(true, OpCode::Binary, &payload(100));
        let start = |r: &mut Reader| assert_eq!(r.read(&mut &bytes[..20]).unwrap(), None);
        // What a reader into spare capacity relies on: the message and
        // nothing after it, with capacity for the whole room.
        let mut r = reader(1000, false);
        start(&mut r);
        let mut buffer = r.take_payload_buffer(1).expect("lent");
        let room = buffer.room_len();
        let vec = buffer.append_to();
        assert_eq!(vec.len(), 14, "the payload so far, and no room in it");
        assert!(vec.capacity() >= 14 + room);
        // Zeroed room from a loan before, then appended to: the room goes.
        buffer.room()[..3].copy_from_slice(&bytes[20..23]);
        buffer.append_to().extend_from_slice(&bytes[20..25]);
        assert_eq!(r.commit_payload(buffer, 5).unwrap(), None);
        assert_eq!(feed(&mut r, &bytes[25..], 1, 7), [Incoming::Binary(payload(100))]);
        // Appended past the room; counted past what was appended; grown.
        // Each breaks the loan and returns the count it hands back.
        type BreakLoan = fn(&mut PayloadBuffer, &[u8]) -> usize;
        let breaks: [(&str, BreakLoan); 3] = [
            ("past the room", |b, rest| {
                let room = b.room_len();
                b.append_to().extend_from_slice(&rest[..room]);
                b.append_to().push(0);
                room
            }),
            ("counted more than appended", |b, rest| {
                b.append_to().extend_from_slice(&rest[..3]);
                4
            }),
            ("grown", |b, _| {
                let vec = b.append_to();
                vec.reserve(vec.capacity() + 1);
                0
            }),
        ];
        for (what, break_it) in breaks {
            let mut r = reader(1000, false);
            start(&mut r);
            let mut buffer = r.take_payload_buffer(1).expect("lent");
            let n = break_it(&mut buffer, &bytes[20..]);
            assert_eq!(r.commit_payload(buffer, n), Err(Misuse::PayloadBuffer.into()), "{what}");
        }
    }

    /// [`feed`], offering `spare` at every loan; also says whether the
    /// message ever moved into it.
    fn feed_reusing(
        r: &mut Reader,
        mut bytes: &[u8],
        at_least: usize,
        read: usize,
        spare: &mut Vec<u8>,
    ) -> (Vec<Incoming>, bool) {
        let spare_at = (spare.capacity() > 0).then_some(spare.as_ptr());
        let (mut out, mut moved, mut loans) = (Vec::new(), false, 0);
        while !bytes.is_empty() {
            if let Some(mut buffer) = r.take_payload_buffer_reusing(at_least, spare) {
                moved |= Some(buffer.append_to().as_ptr()) == spare_at;
                let n = buffer.room_len().min(bytes.len()).min(read);
                loans += 1;
                if loans % 2 == 0 {
                    // Room zeroed past `n`: a tail kept for the next loan.
                    buffer.room()[..n].copy_from_slice(&bytes[..n]);
                } else {
                    buffer.append_to().extend_from_slice(&bytes[..n]);
                }
                bytes = &bytes[n..];
                out.extend(r.commit_payload(buffer, n).unwrap());
                continue;
            }
            let mut input = &bytes[..read.min(bytes.len())];
            let before = input.len();
            while !input.is_empty() {
                out.extend(r.read(&mut input).unwrap());
            }
            bytes = &bytes[before..];
        }
        (out, moved)
    }

    #[test]
    fn a_spare_takes_the_message_instead_of_growing_it() {
        let data = payload(100_000);
        let bytes = [frame(true, OpCode::Binary, &data), frame(true, OpCode::Binary, b"next")].concat();
        let next = || Incoming::Binary(b"next".to_vec());
        // Spares: none, small, the frame's size, twice it, just over twice.
        for (capacity, must_move) in [
            (0, Some(false)),
            (5_000, None),
            (100_000, Some(true)),
            (200_000, Some(true)),
            (200_001, Some(false)),
        ] {
            // An `at_least` over what a loan leaves unfilled: the message
            // moves with a zeroed tail, which must stay behind.
            for (at_least, read) in [(1, 1000), (1, 4096), (1, 30_000), (8192, 1000), (8192, 7000)] {
                let mut spare = Vec::with_capacity(capacity);
                let spare_at = spare.as_ptr();
                let (out, moved) =
                    feed_reusing(&mut reader(1 << 20, false), &bytes, at_least, read, &mut spare);
                assert_eq!(out, [Incoming::Binary(data.clone()), next()], "{capacity} {at_least} {read}");
                if let Some(must_move) = must_move {
                    assert_eq!(moved, must_move, "{capacity} {at_least} {read}");
                }
                if moved {
                    assert!(spare.is_empty(), "the old buffer comes back empty");
                }
                if capacity == 100_000 {
                    // Moved once, then never grown: the message is the spare.
                    let Incoming::Binary(message) = &out[0] else { unreachable!() };
                    assert_eq!(message.as_ptr(), spare_at, "{read}");
                }
            }
        }
        // A loan left partly unfilled, then a move: the zeroed tail stays
        // behind.
        let mut r = reader(1 << 20, false);
        assert_eq!(r.read(&mut &bytes[..1014]).unwrap(), None);
        let mut buffer = r.take_payload_buffer(1).expect("lent");
        let room = buffer.room_len();
        buffer.room()[..10].copy_from_slice(&bytes[1014..1024]);
        assert_eq!(r.commit_payload(buffer, 10).unwrap(), None);
        let mut spare = Vec::with_capacity(100_000);
        let buffer = r.take_payload_buffer_reusing(room, &mut spare).expect("lent");
        assert_eq!(buffer.room_len(), 100_000 - 1010, "moved");
        assert_eq!(r.commit_payload(buffer, 0).unwrap(), None);
        let out = feed(&mut r, &bytes[1024..], 1, 5000);
        assert_eq!(out, [Incoming::Binary(data.clone()), next()]);
        // Not past the allowance, however well the spare would fit.
        let mut r = reader(1 << 20, false);
        r.set_allowance(150_000, 150_000);
        let (out, moved) = feed_reusing(&mut r, &bytes, 1, 4096, &mut Vec::with_capacity(160_000));
        assert_eq!((out, moved), (vec![Incoming::Binary(data.clone()), next()], false));
    }

    #[test]
    fn room_left_unfilled_goes_before_input_takes_the_rest() {
        let data = payload(3000);
        let bytes = frame(true, OpCode::Binary, &data);
        let mut r = reader(1 << 20, false);
        assert_eq!(r.read(&mut &bytes[..8]).unwrap(), None);
        let mut buffer = r.take_payload_buffer(1000).expect("lent");
        assert!(buffer.room_len() >= 1000);
        buffer.room()[..500].copy_from_slice(&bytes[8..508]);
        assert_eq!(r.commit_payload(buffer, 500).unwrap(), None);
        let mut input = &bytes[508..];
        assert_eq!(r.read(&mut input).unwrap(), Some(Incoming::Binary(data)));
    }
}
