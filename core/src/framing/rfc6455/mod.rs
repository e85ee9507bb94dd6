//! RFC 6455 framing: the wire format ([`wire`]) and the reader that turns a
//! byte stream into messages and control frames, enforcing §5's rules and,
//! when negotiated, inflating permessage-deflate messages (RFC 7692, with
//! [`deflate`]'s codec).

pub mod deflate;
mod lend;
pub mod wire;

pub use self::lend::PayloadBuffer;

use alloc::string::String;
use alloc::vec::Vec;

use self::deflate::{Decompressor, InflateError};
use self::wire::{FrameHeader, HeaderError, OpCode, MAX_HEADER_LEN};
use super::HEADROOM;
use crate::error::{Error, LimitError, ProtocolError};
use crate::utf8::TextBuilder;

/// Payload is unmasked, inflated and validated in pieces of at most this
/// many bytes, so the scratch buffers stay in cache.
const PIECE: usize = 32 * 1024;

/// Largest payload [`Reader::read_small_message`] takes. Up to here the
/// message is built straight from the input with one allocation and std's
/// UTF-8 check; beyond it the general path's piecewise, SIMD-validated
/// assembly wins.
const SMALL_MESSAGE: u64 = 1024;

/// Largest unmasked binary payload [`Reader::read_lent`] lends: any that
/// lies whole in the input, since lending it straight from there copies
/// nothing and allocates nothing (the general path would copy it into a
/// message buffer first, and in streaming mode hand that buffer out as the
/// message's one piece). Masked payloads are unmasked into the reader's
/// scratch buffer, which a connection keeps, so they stay within
/// [`SMALL_MESSAGE`]; texts too, whose UTF-8 check beyond it is the
/// general path's.
const LEND_UNMASKED_BINARY: u64 = u64::MAX;

/// The per-piece scratch buffers (unmasked and inflated bytes, at most
/// [`PIECE`] each) are kept between messages up to this capacity, so small
/// messages reuse them; past it they are freed when a message ends, so an
/// idle connection does not hold two pieces. Freeing them costs one
/// allocation per message larger than this, under 1% of its handling.
const KEEP_SCRATCH: usize = 4 * 1024;

/// What the reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text message.
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// Streaming mode: the next piece of a text message (always whole
    /// characters); `fin` marks the message's last piece.
    TextPiece {
        /// The piece.
        text: String,
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// Streaming mode: the next piece of a binary message.
    BinaryPiece {
        /// The piece.
        data: Vec<u8>,
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong and its payload.
    Pong(Vec<u8>),
    /// A close frame, with its code and reason when it has them.
    Close(Option<(u16, String)>),
}

/// A message, or in streaming mode a piece of one, lent by
/// [`Reader::read_lent`] instead of allocated.
#[derive(Debug, PartialEq, Eq)]
pub enum Lent<'a> {
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// Streaming mode: the next piece of a binary message.
    BinaryPiece {
        /// The piece.
        data: &'a [u8],
        /// Whether the message ends with this piece.
        fin: bool,
    },
}

/// How the reader should treat frames: which masking the peer must use, the
/// limits, whether RSV1 means compression, and whether to deliver messages
/// whole or in pieces.
#[derive(Debug, Clone, Copy)]
pub struct ReaderConfig {
    /// Frames from the peer must be masked (we are the server).
    pub expect_masked: bool,
    /// Most bytes a reassembled (and inflated) message may hold, in whole
    /// mode.
    pub max_message_size: usize,
    /// Most payload bytes one frame may declare.
    pub max_frame_size: usize,
    /// Deliver data as it arrives instead of reassembling messages.
    pub streaming: bool,
}

/// How much memory the reader's buffers may hold: see
/// [`Reader::set_allowance`].
#[derive(Debug, Clone, Copy)]
struct Allowance {
    /// Most bytes [`Reader::buffered_bytes`] may reach.
    room: usize,
    /// The connection's whole allowance, which the error reports.
    reported: usize,
}

/// The message being received.
#[derive(Debug)]
enum Assembly {
    Text(TextBuilder),
    Binary(Vec<u8>),
}

impl Assembly {
    fn len(&self) -> usize {
        match self {
            Assembly::Text(t) => t.len(),
            Assembly::Binary(b) => b.len(),
        }
    }

    /// Makes room for `additional` more bytes at once, so a large payload
    /// is not copied again each time the buffer doubles.
    fn capacity(&self) -> usize {
        match self {
            Assembly::Text(t) => t.capacity(),
            Assembly::Binary(b) => b.capacity(),
        }
    }

    /// Makes room for `additional` more bytes without the capacity passing
    /// `ceiling` (unless the bytes themselves need more): doubling as `Vec`
    /// does, so that a message arriving in many reads is not copied each
    /// time, but never into memory the allowance does not cover.
    fn reserve_within(&mut self, additional: usize, ceiling: usize) {
        let (len, capacity) = (self.len(), self.capacity());
        let need = len.saturating_add(additional);
        if need <= capacity {
            return;
        }
        let target = need.max(capacity.saturating_mul(2).min(ceiling));
        match self {
            Assembly::Text(t) => t.reserve_exact(target - t.len()),
            Assembly::Binary(b) => b.reserve_exact(target - b.len()),
        }
    }
}

#[derive(Debug)]
struct Message {
    assembly: Assembly,
    compressed: bool,
}

#[derive(Debug)]
struct Frame {
    header: FrameHeader,
    remaining: u64,
    /// Payload bytes of this frame already read (the masking phase).
    done: u64,
}

/// Reads frames from a byte stream split anywhere.
#[derive(Debug)]
pub struct Reader {
    config: ReaderConfig,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    frame: Option<Frame>,
    control: Vec<u8>,
    message: Option<Message>,
    /// Unmasked (and, for compressed messages, inflated) bytes on their way
    /// into the message.
    scratch: Vec<u8>,
    inflated: Vec<u8>,
    inflater: Option<Decompressor>,
    allowance: Allowance,
    /// The message's buffer lent to the driver to read into (see [`lend`]).
    lending: lend::Lending,
}

impl Reader {
    /// A reader; `inflater` is present when permessage-deflate was agreed.
    pub fn new(config: ReaderConfig, inflater: Option<Decompressor>) -> Self {
        Reader {
            config,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            control: Vec::new(),
            message: None,
            scratch: Vec::new(),
            inflated: Vec::new(),
            inflater,
            allowance: Allowance { room: usize::MAX, reported: usize::MAX },
            lending: lend::Lending::default(),
        }
    }

    /// Bounds what the reader's buffers may hold (see
    /// [`buffered_bytes`](Self::buffered_bytes)) from now on: storing more
    /// of a message than `room` allows fails with
    /// [`LimitError::OverAllowance`] reporting `reported`, before the memory
    /// is allocated. Inflated data is checked as it comes, in steps of at
    /// most one piece, so a deflate bomb stops at the allowance too.
    pub fn set_allowance(&mut self, room: usize, reported: usize) {
        self.allowance = Allowance { room, reported };
    }

    /// Bytes the reader's buffers hold (their capacity): the message being
    /// assembled and the per-piece scratch.
    pub fn buffered_bytes(&self) -> usize {
        let message = self.message.as_ref().map_or(0, |m| m.assembly.capacity()) + self.lending.lent_bytes();
        message + self.scratch.capacity() + self.inflated.capacity() + self.control.capacity()
    }

    fn over_allowance(&self) -> Error {
        LimitError::OverAllowance { allowance: self.allowance.reported }.into()
    }

    /// Reserves room in the message for `additional` more bytes, within
    /// the allowance and (in whole mode) the message size limit.
    fn reserve_message(&mut self, additional: usize) -> Result<(), Error> {
        let (others, ceiling) = self.message_ceiling();
        let message = self.message.as_mut().expect("data frames belong to a message");
        // The message ends with this frame: growing it past the frame's end
        // (by doubling, to spare later copies) only holds memory no byte
        // will use, counted against the allowance as if it held some.
        // (`as`: a frame past `usize` is over the size limits; a smaller
        // bound only stops the doubling early, never short of `need`.)
        let rest = match &self.frame {
            Some(frame) if frame.header.fin && !message.compressed => frame.remaining as usize,
            _ => usize::MAX,
        };
        let ceiling = ceiling.min(message.assembly.len().saturating_add(rest));
        let need = message.assembly.len().saturating_add(additional);
        if need > message.assembly.capacity() && need.saturating_add(others) > self.allowance.room {
            return Err(self.over_allowance());
        }
        message.assembly.reserve_within(additional, ceiling);
        Ok(())
    }

    /// What the reader holds besides the message, and the capacity the
    /// message may grow to: within the allowance and (in whole mode) the
    /// message size limit.
    fn message_ceiling(&self) -> (usize, usize) {
        let others = self.scratch.capacity() + self.inflated.capacity() + self.control.capacity();
        let ceiling = self.allowance.room.saturating_sub(others).saturating_sub(HEADROOM);
        let ceiling = if self.config.streaming { ceiling } else { ceiling.min(self.config.max_message_size) };
        (others, ceiling)
    }

    /// A message ended: scratch buffers grown past [`KEEP_SCRATCH`] go.
    fn release_scratch(&mut self) {
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
        if self.inflated.capacity() > KEEP_SCRATCH {
            self.inflated = Vec::new();
        }
    }

    /// Whether the reader sits between frames, outside any message.
    pub fn at_boundary(&self) -> bool {
        self.frame.is_none() && self.header_len == 0 && self.message.is_none()
    }

    /// Consumes bytes from the front of `input` until something complete
    /// (or, in streaming mode, a piece) is ready, or `input` is used up.
    pub fn read(&mut self, input: &mut &[u8]) -> Result<Option<Incoming>, Error> {
        self.end_loan()?;
        if self.at_boundary() && !self.config.streaming {
            if let Some(incoming) = self.read_small_message(input)? {
                return Ok(Some(incoming));
            }
        }
        loop {
            if self.frame.is_none() {
                let Some(header) = self.read_header(input)? else {
                    return Ok(None);
                };
                self.start_frame(header)?;
            }
            let frame = self.frame.as_ref().expect("a frame is in progress");
            let take = frame.remaining.min(input.len() as u64) as usize;
            // All of it, but in streaming mode with compression: there the
            // inflater stops when the piece is full (see `consume`).
            let take = self.consume(&input[..take])?;
            *input = &input[take..];
            let frame = self.frame.as_mut().expect("a frame is in progress");
            frame.remaining -= take as u64;
            frame.done += take as u64;
            if frame.remaining == 0 {
                if let Some(incoming) = self.finish_frame()? {
                    return Ok(Some(incoming));
                }
                continue;
            }
            // Inside a frame: streaming hands out a piece when the input
            // ran out or enough has built up.
            let built = self.message.as_ref().map_or(0, |m| m.assembly.len());
            if self.config.streaming && (input.is_empty() || built >= PIECE) {
                if let Some(piece) = self.take_piece(false)? {
                    return Ok(Some(piece));
                }
            }
            if input.is_empty() {
                return Ok(None);
            }
        }
    }

    /// The common case, taken in one step: a small, whole, unfragmented,
    /// uncompressed data frame lies entirely in `input`. It is checked like
    /// any frame and unmasked straight into the message's own buffer,
    /// without the per-frame bookkeeping. Returns `None`, consuming
    /// nothing, for anything else (the general path then reads it).
    fn read_small_message(&mut self, input: &mut &[u8]) -> Result<Option<Incoming>, Error> {
        let Some((header, payload)) = self.small_frame(input, false)? else {
            return Ok(None);
        };
        if self.buffered_bytes().saturating_add(payload.len()) > self.allowance.room {
            return Err(self.over_allowance());
        }
        let mut data = Vec::with_capacity(payload.len());
        match header.mask {
            Some(key) => wire::unmask_into(&mut data, payload, key, 0),
            None => data.extend_from_slice(payload),
        }
        Ok(Some(if header.opcode == OpCode::Text {
            Incoming::Text(String::from_utf8(data).map_err(|_| ProtocolError::InvalidUtf8)?)
        } else {
            Incoming::Binary(data)
        }))
    }

    /// A small, whole, unfragmented, uncompressed data message at the front
    /// of `input` (an unmasked binary one of any size: lending it from
    /// `input` costs nothing), taken without allocating: the message is
    /// lent, straight from `input` when it arrived unmasked,
    /// from the reader's scratch buffer otherwise, and is gone at the next
    /// call. `None` for anything the general path ([`read`](Self::read))
    /// must take, such as any frame not wholly in `input`. In streaming
    /// mode a message lent this way is whole, where `read` would give it
    /// as its one and last piece; and the payload of an uncompressed
    /// binary message is lent a piece at a time as it arrives (all of the
    /// frame that `input` holds: straight from `input` when unmasked, else
    /// unmasked into the scratch buffer), its frame headers read here, so that
    /// `None` may follow a header read (`read` goes on from there). After
    /// a piece, call [`lent_done`](Self::lent_done).
    #[inline]
    pub fn read_lent<'s, 'd: 's>(&'s mut self, input: &mut &'d [u8]) -> Result<Option<Lent<'s>>, Error> {
        // In streaming mode too: a message whole in one small frame is its
        // own last piece, and lending it whole hands out the same bytes.
        if !self.at_boundary() {
            return self.lend_piece(input);
        }
        let Some((header, payload)) = self.small_frame(input, true)? else {
            return self.lend_piece(input);
        };
        let data: &'s [u8] = match header.mask {
            Some(key) => {
                self.scratch.clear();
                wire::unmask_into(&mut self.scratch, payload, key, 0);
                &self.scratch
            }
            None => payload,
        };
        Ok(Some(if header.opcode == OpCode::Text {
            Lent::Text(core::str::from_utf8(data).map_err(|_| ProtocolError::InvalidUtf8)?)
        } else {
            Lent::Binary(data)
        }))
    }

    /// Streaming mode: the next piece of an uncompressed binary message,
    /// lent as it arrived: straight from `input` when unmasked (all of the
    /// frame that `input` holds), else unmasked in one pass into the
    /// reader's scratch buffer (as much), where the general
    /// path would append them to the message's buffer (a `memcpy`, then
    /// the mask) and hand that out.
    /// The frame header is read here when one starts such a message or
    /// continues it. `None` for anything else (control frames, text,
    /// compressed messages, a header cut short, a frame with nothing of
    /// its payload in `input`), which [`read`](Self::read) takes on from
    /// where this left it. Call [`lent_done`](Self::lent_done) after the
    /// piece is used.
    fn lend_piece<'s, 'd: 's>(&'s mut self, input: &mut &'d [u8]) -> Result<Option<Lent<'s>>, Error> {
        let lendable = |message: &Option<Message>| matches!(message, Some(Message { assembly: Assembly::Binary(data), compressed: false }) if data.is_empty());
        if !self.config.streaming || self.header_len != 0 {
            return Ok(None);
        }
        if self.frame.is_none() {
            let Some((header, used)) = FrameHeader::parse(input).map_err(header_error)? else {
                return Ok(None);
            };
            let starts = header.opcode == OpCode::Binary && !header.rsv1 && self.message.is_none();
            if !(starts || header.opcode == OpCode::Continuation && lendable(&self.message)) {
                return Ok(None);
            }
            *input = &input[used..];
            self.start_frame(header)?;
        }
        let Some(frame) = &self.frame else { return Ok(None) };
        if frame.header.opcode.is_control()
            || !lendable(&self.message)
            || frame.remaining == 0
            || input.is_empty()
        {
            return Ok(None);
        }
        let mask = frame.header.mask;
        // All of the frame that the read holds, masked or not: one piece
        // per read, as the general path hands out (in the npm package,
        // pieces of 32 KiB from 64 KiB reads fragmented the allocator: two
        // do not fit where a freed read was, and RSS held 35 MiB more for
        // 160 MiB of unfinished messages).
        let take = frame.remaining.min(input.len() as u64) as usize;
        let (payload, rest) = input.split_at(take);
        if let Some(key) = mask {
            if self.scratch.len() < take {
                self.scratch.resize(take, 0);
                if self.buffered_bytes() > self.allowance.room {
                    return Err(self.over_allowance());
                }
            }
            wire::unmask_to(&mut self.scratch[..take], payload, key, frame.done as usize);
        }
        *input = rest;
        let frame = self.frame.as_mut().expect("checked above");
        frame.remaining -= take as u64;
        frame.done += take as u64;
        let fin = frame.remaining == 0 && frame.header.fin;
        if frame.remaining == 0 {
            self.frame = None;
            if fin {
                self.message = None;
            }
        }
        let data = if mask.is_some() { &self.scratch[..take] } else { payload };
        Ok(Some(Lent::BinaryPiece { data, fin }))
    }

    /// After a lent piece was used: scratch buffers grown past 4 KiB
    /// (`KEEP_SCRATCH`) go, even in the middle of a message, so that a
    /// connection holds no piece between reads (as the general path's
    /// pieces, handed out, hold none): in the npm package all connections
    /// share one wasm memory, which never shrinks.
    pub fn lent_done(&mut self) {
        self.release_scratch();
    }

    /// The header and payload of a small, whole, unfragmented, uncompressed
    /// data frame at the front of `input`, checked and consumed; `None`,
    /// consuming nothing, when the front of `input` is anything else. To
    /// be `lent`, an unmasked binary frame may be of any size.
    #[inline]
    fn small_frame<'d>(
        &self,
        input: &mut &'d [u8],
        lent: bool,
    ) -> Result<Option<(FrameHeader, &'d [u8])>, Error> {
        let Some((header, used)) = FrameHeader::parse(input).map_err(header_error)? else {
            return Ok(None);
        };
        let len = header.payload_len;
        let small = if lent && header.mask.is_none() && header.opcode == OpCode::Binary {
            LEND_UNMASKED_BINARY
        } else {
            SMALL_MESSAGE
        };
        let whole = header.fin && !header.rsv1 && len <= small && len <= (input.len() - used) as u64;
        if !whole || !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            return Ok(None);
        }
        self.check_header(&header)?;
        if len > self.config.max_message_size as u64 {
            return Err(LimitError::MessageTooLarge { limit: self.config.max_message_size }.into());
        }
        let (payload, rest) = input[used..].split_at(len as usize);
        *input = rest;
        Ok(Some((header, payload)))
    }

    fn read_header(&mut self, input: &mut &[u8]) -> Result<Option<FrameHeader>, Error> {
        if self.header_len == 0 {
            // Fast path: the whole header is in this input.
            if let Some((header, used)) = FrameHeader::parse(input).map_err(header_error)? {
                *input = &input[used..];
                return Ok(Some(header));
            }
        }
        let had = self.header_len;
        let take = (MAX_HEADER_LEN - had).min(input.len());
        self.header[had..had + take].copy_from_slice(&input[..take]);
        match FrameHeader::parse(&self.header[..had + take]).map_err(header_error)? {
            Some((header, used)) => {
                *input = &input[used - had..];
                self.header_len = 0;
                Ok(Some(header))
            }
            None => {
                *input = &input[take..];
                self.header_len = had + take;
                Ok(None)
            }
        }
    }

    /// Checks a header against §5 and the agreed extensions and sets up for
    /// its payload.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), Error> {
        self.check_header(&header)?;
        match header.opcode {
            OpCode::Reserved(_) => unreachable!("check_header refuses reserved opcodes"),
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
            OpCode::Continuation => {
                let Some(message) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                self.check_message_room(message, header.payload_len)?;
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation.into());
                }
                let assembly = if header.opcode == OpCode::Text {
                    Assembly::Text(TextBuilder::default())
                } else {
                    Assembly::Binary(Vec::new())
                };
                let message = Message { assembly, compressed: header.rsv1 };
                self.check_message_room(&message, header.payload_len)?;
                if let (true, Some(inflater)) = (message.compressed, &mut self.inflater) {
                    inflater.begin_message();
                }
                self.message = Some(message);
            }
        }
        self.frame = Some(Frame { remaining: header.payload_len, done: 0, header });
        Ok(())
    }

    /// The rules any frame header must meet whatever came before it:
    /// reserved bits and opcodes, masking by role, the frame size limit.
    #[inline]
    fn check_header(&self, header: &FrameHeader) -> Result<(), Error> {
        if header.rsv2 || header.rsv3 {
            return Err(ProtocolError::ReservedBits.into());
        }
        if header.mask.is_some() != self.config.expect_masked {
            return Err(if self.config.expect_masked {
                ProtocolError::UnmaskedFrame
            } else {
                ProtocolError::MaskedFrame
            }
            .into());
        }
        if header.payload_len > self.config.max_frame_size as u64 {
            return Err(LimitError::FrameTooLarge { limit: self.config.max_frame_size }.into());
        }
        let first_of_message = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        // RFC 7692 §6: RSV1 marks the first frame of a compressed message;
        // anywhere else, or without the extension, it is a violation.
        if header.rsv1 && !(first_of_message && self.inflater.is_some()) {
            return Err(ProtocolError::ReservedBits.into());
        }
        if let OpCode::Reserved(code) = header.opcode {
            return Err(ProtocolError::ReservedOpcode(code).into());
        }
        Ok(())
    }

    /// Refuses a frame that would take an uncompressed message past the
    /// limit before any of it is stored. (Compressed messages are bounded
    /// while they inflate.)
    fn check_message_room(&self, message: &Message, payload_len: u64) -> Result<(), Error> {
        if self.config.streaming || message.compressed {
            return Ok(());
        }
        let limit = self.config.max_message_size;
        if (message.assembly.len() as u64).saturating_add(payload_len) > limit as u64 {
            return Err(LimitError::MessageTooLarge { limit }.into());
        }
        Ok(())
    }

    /// Takes in a chunk of the current frame's payload.
    ///
    /// Returns how many bytes of `chunk` it took: all of them, but in
    /// streaming mode with compression. Deflate inflates up to ~1000:1, so
    /// there the inflater stops when the piece being built is full and
    /// only the input it took is taken: a piece stays within `PIECE`
    /// whatever the ratio, and the rest waits for the next call, after the
    /// piece is out.
    fn consume(&mut self, chunk: &[u8]) -> Result<usize, Error> {
        let frame = self.frame.as_ref().expect("a frame is in progress");
        let mask = frame.header.mask;
        let mut phase = frame.done as usize;
        if frame.header.opcode.is_control() {
            match mask {
                Some(key) => wire::unmask_into(&mut self.control, chunk, key, phase),
                None => self.control.extend_from_slice(chunk),
            }
            return Ok(chunk.len());
        }
        let compressed = self.message.as_ref().is_some_and(|m| m.compressed);
        // In streaming mode too: the message's buffer is handed out as a
        // piece after this chunk (or kept, up to a piece, for the next), so
        // unmasking into it holds no more than unmasking into scratch and
        // appending, and copies each byte once, not twice.
        let direct = !compressed
            && mask.is_some()
            && matches!(self.message.as_ref().map(|m| &m.assembly), Some(Assembly::Binary(_)));
        if mask.is_some() && !direct {
            // The scratch the pieces are unmasked into is allocated before
            // the allowance is checked, so that the check counts it.
            let want = chunk.len().min(PIECE);
            if self.scratch.capacity() < want {
                self.scratch.clear();
                self.scratch.reserve_exact(want);
            }
        }
        if !compressed {
            // These bytes have arrived (and passed the limit check): room
            // for them is not room for a merely declared length.
            self.reserve_message(chunk.len())?;
        }
        if direct {
            let message = self.message.as_mut().expect("data frames belong to a message");
            if let (Assembly::Binary(data), Some(key)) = (&mut message.assembly, mask) {
                // Unmasked straight into the message: one copy, not two.
                wire::unmask_into(data, chunk, key, phase);
                return Ok(chunk.len());
            }
        }
        let piece_room = (compressed && self.config.streaming).then(|| {
            let built = self.message.as_ref().map_or(0, |m| m.assembly.len());
            PIECE.saturating_sub(built).max(1)
        });
        for piece in chunk.chunks(PIECE) {
            // Unmask into scratch only when there is a mask to remove, or
            // when the bytes are bound for the inflater anyway.
            if let Some(key) = mask {
                self.scratch.clear();
                wire::unmask_into(&mut self.scratch, piece, key, phase);
            }
            let unmasked = mask.is_none().then_some(piece);
            if compressed {
                let taken = self.inflate_piece(unmasked, piece_room)?;
                if piece_room.is_some() {
                    // Streaming stops in the first piece of the chunk: what
                    // the inflater took of it is what was taken.
                    return Ok(taken);
                }
            } else {
                let plain = unmasked.unwrap_or(&self.scratch);
                let message = self.message.as_mut().expect("data frames belong to a message");
                append(&mut message.assembly, plain)?;
            }
            phase += piece.len();
        }
        Ok(chunk.len())
    }

    /// Inflates a piece of payload (`unmasked`, or else what `scratch`
    /// holds) into the message, a step of at most one piece at a time, each
    /// step checked against the allowance before it is stored: however far
    /// the piece inflates, `inflated` holds at most one piece. With
    /// `piece_room` (streaming), one step of at most that much output, which
    /// may leave input untaken. Returns how much of the input was taken.
    fn inflate_piece(&mut self, unmasked: Option<&[u8]>, piece_room: Option<usize>) -> Result<usize, Error> {
        let mut taken = 0;
        loop {
            let input = match unmasked {
                Some(piece) => &piece[taken..],
                None => &self.scratch[taken..],
            };
            let inflater = self.inflater.as_mut().expect("compressed messages need the inflater");
            self.inflated.clear();
            let used = inflater
                .decompress_chunk_bounded(
                    input,
                    &mut self.inflated,
                    inflate_limit(&self.config),
                    piece_room.unwrap_or(PIECE),
                )
                .map_err(|e| inflate_error(e, &self.config))?;
            let all_taken = used == input.len();
            taken += used;
            let produced = self.inflated.len();
            self.store_inflated()?;
            if piece_room.is_some() {
                if used == 0 && produced == 0 && !all_taken {
                    // The inflater neither took nor gave: never loop on it.
                    return Err(ProtocolError::BadCompressedData.into());
                }
                return Ok(taken);
            }
            if all_taken && produced < PIECE {
                return Ok(taken);
            }
        }
    }

    /// Moves what `inflated` holds into the message, within the allowance.
    fn store_inflated(&mut self) -> Result<(), Error> {
        if self.inflated.is_empty() {
            return Ok(());
        }
        self.reserve_message(self.inflated.len())?;
        let message = self.message.as_mut().expect("data frames belong to a message");
        append(&mut message.assembly, &self.inflated)
    }

    fn finish_frame(&mut self) -> Result<Option<Incoming>, Error> {
        let frame = self.frame.take().expect("a frame is in progress");
        let payload = core::mem::take(&mut self.control);
        match frame.header.opcode {
            OpCode::Ping => return Ok(Some(Incoming::Ping(payload))),
            OpCode::Pong => return Ok(Some(Incoming::Pong(payload))),
            OpCode::Close => {
                let close = wire::parse_close_payload(&payload).map_err(|e| match e {
                    wire::CloseError::InvalidUtf8 => Error::Protocol(ProtocolError::InvalidUtf8),
                    _ => Error::Protocol(ProtocolError::InvalidClosePayload),
                })?;
                return Ok(Some(Incoming::Close(close.map(|(code, reason)| (code, reason.into())))));
            }
            _ => {}
        }
        self.control = payload;
        if !frame.header.fin {
            return if self.config.streaming { self.take_piece(false) } else { Ok(None) };
        }
        let message = self.message.as_mut().expect("data frames belong to a message");
        if message.compressed {
            let inflater = self.inflater.as_mut().expect("compressed messages need the inflater");
            self.inflated.clear();
            inflater
                .finish_message(&mut self.inflated, inflate_limit(&self.config))
                .map_err(|e| inflate_error(e, &self.config))?;
            self.store_inflated()?;
        }
        if self.config.streaming {
            return self.take_piece(true);
        }
        self.release_scratch();
        let message = self.message.take().expect("data frames belong to a message");
        Ok(Some(match message.assembly {
            Assembly::Text(mut text) => {
                Incoming::Text(text.finish().map_err(|_| ProtocolError::InvalidUtf8)?)
            }
            Assembly::Binary(data) => Incoming::Binary(data),
        }))
    }

    /// Streaming mode: hands out what has arrived of the current message.
    /// A final piece is always delivered, even empty, so the application
    /// sees where the message ends.
    fn take_piece(&mut self, fin: bool) -> Result<Option<Incoming>, Error> {
        let Some(message) = self.message.as_mut() else {
            return Ok(None);
        };
        let piece = match &mut message.assembly {
            Assembly::Text(text) => {
                let piece = if fin {
                    // A partial character at the very end is invalid text.
                    text.finish().map_err(|_| ProtocolError::InvalidUtf8)?
                } else {
                    text.take_complete()
                };
                (!piece.is_empty() || fin).then_some(Incoming::TextPiece { text: piece, fin })
            }
            Assembly::Binary(data) => {
                let data = core::mem::take(data);
                (!data.is_empty() || fin).then_some(Incoming::BinaryPiece { data, fin })
            }
        };
        if fin {
            self.message = None;
            self.release_scratch();
        }
        Ok(piece)
    }
}

fn append(assembly: &mut Assembly, bytes: &[u8]) -> Result<(), Error> {
    match assembly {
        Assembly::Text(text) => text.push(bytes).map_err(|_| ProtocolError::InvalidUtf8.into()),
        Assembly::Binary(data) => {
            data.extend_from_slice(bytes);
            Ok(())
        }
    }
}

fn header_error(e: HeaderError) -> Error {
    Error::Protocol(match e {
        HeaderError::ControlTooLong { .. } => ProtocolError::ControlFrameTooLong,
        HeaderError::ControlFragmented => ProtocolError::FragmentedControlFrame,
        _ => ProtocolError::BadLength,
    })
}

/// How far one message may inflate: the inflater counts the whole message
/// against it. Streaming delivers pieces as they come, so nothing builds up.
fn inflate_limit(config: &ReaderConfig) -> usize {
    if config.streaming {
        usize::MAX
    } else {
        config.max_message_size
    }
}

fn inflate_error(e: InflateError, config: &ReaderConfig) -> Error {
    match e {
        InflateError::TooLarge => LimitError::MessageTooLarge { limit: config.max_message_size }.into(),
        _ => ProtocolError::BadCompressedData.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::handshake::deflate::DeflateParams;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn reader(expect_masked: bool, streaming: bool, deflate: bool) -> Reader {
        let config = ReaderConfig { expect_masked, max_message_size: 100, max_frame_size: 2000, streaming };
        let role = if expect_masked { Role::Server } else { Role::Client };
        Reader::new(config, deflate.then(|| Decompressor::new(&DeflateParams::default(), role)))
    }

    fn frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        wire::encode_frame(&mut out, fin, rsv1, opcode, payload, mask);
        out
    }

    /// The whole class of the abuse suite's `non-reading` failure under the
    /// tokio server: the last 14 bytes of a 256 KiB message doubled its
    /// buffer, and that unused capacity, counted against the allowance,
    /// failed the next message with 1009. A message ends where its final
    /// frame says; its buffer never grows past that, however it is read.
    #[test]
    fn a_message_never_grows_past_the_end_of_its_last_frame() {
        let ascii: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        // Reads that end inside a character leave it held back, outside
        // the text, until the next read completes it.
        let multibyte = "é✓ text 𝄞".repeat(250).into_bytes();
        for (opcode, payload) in
            [(OpCode::Binary, &ascii), (OpCode::Text, &ascii), (OpCode::Text, &multibyte)]
        {
            for mask in [None, Some(KEY)] {
                let split = 1234;
                let whole = frame(true, false, opcode, payload, mask);
                let fragments = [
                    frame(false, false, opcode, &payload[..split], mask),
                    frame(true, false, OpCode::Continuation, &payload[split..], mask),
                ]
                .concat();
                for (shape, bytes) in [("one frame", whole), ("two fragments", fragments)] {
                    for read in [1, 2, 7, 100, 1000, 1240, 3000, 4999, 5000, 5001, 6000, 20_000] {
                        let mut r = reader(mask.is_some(), false, false);
                        r.config.max_message_size = 10_000;
                        r.config.max_frame_size = 10_000;
                        let mut out = Vec::new();
                        for chunk in bytes.chunks(read) {
                            let mut input = chunk;
                            while let Some(incoming) = r.read(&mut input).unwrap() {
                                out.push(incoming);
                            }
                            assert!(input.is_empty());
                        }
                        let case = alloc::format!(
                            "{opcode:?} of {} B, masked {}, {shape}, in reads of {read}",
                            payload.len(),
                            mask.is_some()
                        );
                        let capacity = match &out[..] {
                            [Incoming::Binary(data)] if opcode == OpCode::Binary => {
                                assert_eq!(data, payload, "{case}");
                                data.capacity()
                            }
                            [Incoming::Text(text)] if opcode == OpCode::Text => {
                                assert_eq!(text.as_bytes(), &payload[..], "{case}");
                                text.capacity()
                            }
                            other => panic!("{case}: {other:?}"),
                        };
                        assert_eq!(capacity, payload.len(), "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn lends_an_unmasked_message_straight_from_the_input() {
        let bytes = [frame(true, false, OpCode::Text, b"hi", None), b"next".to_vec()].concat();
        let mut r = reader(false, false, false);
        let mut input = &bytes[..];
        let lent = r.read_lent(&mut input).unwrap();
        let Some(Lent::Text(text)) = lent else { panic!("{lent:?}") };
        assert_eq!(text, "hi");
        assert!(core::ptr::eq(text.as_ptr(), bytes[2..].as_ptr()), "copied, not lent");
        assert_eq!(input, b"next");
    }

    #[test]
    fn lends_an_unmasked_binary_message_of_any_size_straight_from_the_input() {
        for streaming in [false, true] {
            let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
            let bytes = [frame(true, false, OpCode::Binary, &payload, None), b"next".to_vec()].concat();
            let mut r = reader(false, streaming, false);
            r.config.max_message_size = 100_000;
            r.config.max_frame_size = 100_000;
            let mut input = &bytes[..];
            let lent = r.read_lent(&mut input).unwrap();
            let Some(Lent::Binary(data)) = lent else { panic!("{lent:?}") };
            assert_eq!(data, &payload[..]);
            assert!(core::ptr::eq(data.as_ptr(), bytes[10..].as_ptr()), "copied, not lent");
            assert_eq!(input, b"next");
        }
        // A text of that size is the general path's; so is a masked binary
        // one in whole mode, while streaming lends it as its one piece.
        let big = [0x61; SMALL_MESSAGE as usize + 1];
        let text = frame(true, false, OpCode::Text, &big, None);
        assert_eq!(reader(false, true, false).read_lent(&mut &text[..]).unwrap(), None);
        let masked = frame(true, false, OpCode::Binary, &big, Some(KEY));
        assert_eq!(reader(true, false, false).read_lent(&mut &masked[..]).unwrap(), None);
        let piece = Lent::BinaryPiece { data: &big, fin: true };
        assert_eq!(reader(true, true, false).read_lent(&mut &masked[..]).unwrap(), Some(piece));
        // Still within the limits: a message over the limit fails.
        let over = frame(true, false, OpCode::Binary, &[0; 101], None);
        let error = LimitError::MessageTooLarge { limit: 100 }.into();
        assert_eq!(reader(false, true, false).read_lent(&mut &over[..]), Err(error));
    }

    /// Streaming: an uncompressed binary message is lent a piece at a
    /// time (all of the frame the read holds), masked ones unmasked into
    /// the scratch buffer (let go once the piece is used); anything else
    /// in between (a ping) is the general path's, and the message's later
    /// frames are lent again.
    #[test]
    fn streaming_lends_binary_pieces_and_leaves_the_rest_to_the_general_path() {
        for masked in [false, true] {
            let key = masked.then_some(KEY);
            let payload: Vec<u8> = (0..3 * PIECE as u32 + 5).map(|i| (i * 7) as u8).collect();
            let (first, second) = payload.split_at(PIECE + 1);
            let bytes = [
                frame(false, false, OpCode::Binary, first, key),
                frame(true, false, OpCode::Ping, b"p", key),
                frame(true, false, OpCode::Continuation, second, key),
            ]
            .concat();
            let mut r = reader(masked, true, false);
            r.config.max_frame_size = payload.len();
            r.config.max_message_size = payload.len();
            let mut input = &bytes[..];
            let (mut got, mut pieces, mut pings) = (Vec::new(), 0, 0);
            while !input.is_empty() {
                if let Some(lent) = r.read_lent(&mut input).unwrap() {
                    let Lent::BinaryPiece { data, fin } = lent else { panic!("{lent:?}") };
                    got.extend_from_slice(data);
                    pieces += 1;
                    assert_eq!(fin, got.len() == payload.len());
                    r.lent_done();
                    // Nothing of the piece is held between reads.
                    assert!(
                        r.buffered_bytes() <= KEEP_SCRATCH,
                        "{} B held after a piece",
                        r.buffered_bytes()
                    );
                    continue;
                }
                match r.read(&mut input).unwrap() {
                    Some(Incoming::Ping(p)) => {
                        assert_eq!(p, b"p");
                        pings += 1;
                    }
                    other => panic!("the general path gave {other:?}"),
                }
            }
            assert_eq!(got, payload);
            assert_eq!(pings, 1);
            // Each frame in one piece: the read holds all of it.
            assert_eq!(pieces, 2, "masked: {masked}");
            assert!(r.at_boundary());
            assert!(r.scratch.capacity() <= KEEP_SCRATCH, "scratch kept after the message");
        }
        // Compressed messages are the general path's.
        let mut r = reader(true, true, true);
        let compressed = frame(true, true, OpCode::Binary, &[0; 2000], Some(KEY));
        assert_eq!(r.read_lent(&mut &compressed[..]).unwrap(), None);
    }

    #[test]
    fn lends_a_masked_message_unmasked_into_its_own_buffer() {
        let mut r = reader(true, false, false);
        for (opcode, payload) in [(OpCode::Binary, &b"\x00\xff\x10"[..]), (OpCode::Text, "é✓".as_bytes())]
        {
            let bytes = frame(true, false, opcode, payload, Some(KEY));
            let mut input = &bytes[..];
            let expected = match opcode {
                OpCode::Text => Lent::Text(core::str::from_utf8(payload).unwrap()),
                _ => Lent::Binary(payload),
            };
            assert_eq!(r.read_lent(&mut input).unwrap(), Some(expected));
            assert!(input.is_empty());
        }
    }

    #[test]
    fn leaves_to_the_general_path_what_it_cannot_lend_whole() {
        let text = |fin, rsv1| frame(fin, rsv1, OpCode::Text, b"abc", Some(KEY));
        let cases: [(&str, Reader, Vec<u8>); 6] = [
            ("a fragment", reader(true, false, false), text(false, false)),
            ("a fragment, streaming", reader(true, true, false), text(false, false)),
            ("a compressed frame", reader(true, false, true), text(true, true)),
            ("a ping", reader(true, false, false), frame(true, false, OpCode::Ping, b"p", Some(KEY))),
            ("a partial frame", reader(true, false, false), text(true, false)[..8].to_vec()),
            (
                "a frame over the small size",
                reader(true, false, false),
                frame(true, false, OpCode::Binary, &[7; SMALL_MESSAGE as usize + 1], Some(KEY)),
            ),
        ];
        for (what, mut r, bytes) in cases {
            let mut input = &bytes[..];
            assert_eq!(r.read_lent(&mut input).unwrap(), None, "{what}");
            assert_eq!(input.len(), bytes.len(), "{what}: consumed input");
        }
        // Inside a message, even a whole small frame belongs to it.
        let mut r = reader(true, false, false);
        let first = text(false, false);
        assert_eq!(r.read(&mut &first[..]).unwrap(), None);
        let next = frame(true, false, OpCode::Continuation, b"d", Some(KEY));
        let mut input = &next[..];
        assert_eq!(r.read_lent(&mut input).unwrap(), None);
        assert_eq!(r.read(&mut input).unwrap(), Some(Incoming::Text("abcd".into())));
        // Streaming, a piece of a message in progress is the general path's.
        let mut r = reader(true, true, false);
        assert!(matches!(r.read(&mut &first[..]).unwrap(), Some(Incoming::TextPiece { fin: false, .. })));
        let mut input = &next[..];
        assert_eq!(r.read_lent(&mut input).unwrap(), None);
        assert_eq!(input.len(), next.len());
    }

    #[test]
    fn lends_a_whole_small_message_in_streaming_mode_too() {
        let mut r = reader(true, true, false);
        let bytes = frame(true, false, OpCode::Text, "é✓".as_bytes(), Some(KEY));
        let mut input = &bytes[..];
        assert_eq!(r.read_lent(&mut input).unwrap(), Some(Lent::Text("é✓")));
        assert!(input.is_empty());
    }

    #[test]
    fn checks_what_it_lends_like_any_frame() {
        let cases = [
            (
                frame(true, false, OpCode::Text, b"\xc3\x28", Some(KEY)),
                Error::from(ProtocolError::InvalidUtf8),
            ),
            (frame(true, false, OpCode::Text, b"x", None), ProtocolError::UnmaskedFrame.into()),
            (
                frame(true, false, OpCode::Binary, &[0; 101], Some(KEY)),
                LimitError::MessageTooLarge { limit: 100 }.into(),
            ),
        ];
        for (bytes, error) in cases {
            assert_eq!(reader(true, false, false).read_lent(&mut &bytes[..]), Err(error));
        }
    }
}
