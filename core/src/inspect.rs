//! The frame inspector: what a byte sequence means, frame by frame, in each
//! framing, and what bytes each framing puts on the wire for a message.
//!
//! The page's inspector (`www/page/`, through `hybi-wasm`) only draws what
//! this module says: protocol knowledge stays in the core (STYLE.md rule 1),
//! so the inspector cannot disagree with a [`crate::Connection`].
//!
//! # Reading: [`inspect`]
//!
//! The bytes are fed to the very decoders a connection uses,
//! [`old::Decoder`], [`new::Decoder`] and [`rfc6455::Reader`] (with the
//! connection's limits and, for permessage-deflate, its inflater), so every
//! verdict is theirs. Those decoders turn a stream into *messages*; the
//! inspector needs *frames* and the offset of each error, so it drives them
//! in steps whose ends it knows:
//!
//! - RFC 6455: [`wire::FrameHeader::parse`] (the reader's own header parser)
//!   tells where a frame's header and payload end; the reader is then fed that
//!   header, then that payload. When the payload fails, the run is repeated
//!   with that payload fed one byte at a time, so the error's offset is the
//!   byte at which the reader gave up (the decoders are deterministic, so the
//!   second run reaches the same state). Header errors point at the field that
//!   broke the rule (byte 0 for FIN/RSV/opcode, byte 1 for mask and length).
//! - 'new': the header's 9 bytes give the frame's end; the decoder is fed the
//!   rest of the input and returns exactly at that end.
//! - 'old': the decoder silently skips the frames the draft says to discard,
//!   so it is fed one byte at a time and a frame ends where it is back at a
//!   boundary.
//!
//! The fields shown for a frame are read from the bytes between those ends.
//! Text in draft-76 is checked as a connection with the default
//! [`crate::InvalidUtf8::Fail`] checks it, with the offset of the first bad
//! byte.
//!
//! permessage-deflate compresses messages, not frames (RFC 7692 §6), so the
//! inflated bytes are those of the whole message, on the record of the frame
//! that completes it ([`FrameRecord::delivered`]), exactly as a connection
//! delivers them.
//!
//! Bounds: the decoders check every declared length against
//! [`Options::limits`] before storing anything, as in a connection; records
//! copy only bytes that are in the input; and the delivered messages together
//! stop at [`Options::max_output`], so a small input that inflates hugely
//! cannot exhaust memory.
//!
//! # Writing: [`encode`]
//!
//! A connection's own writer ([`crate::framing::outgoing`], which
//! [`crate::Connection`]'s `send_*` and `close` call) produces the bytes, with
//! the framings' writers ([`old::encode_text`], [`new::encode_text`],
//! [`wire::encode_frame`], [`Compressor`]) and the same refusals. Only the
//! mask (a connection draws each from its entropy) and the compressor (a
//! fresh one, as for a connection's first message) are the caller's here.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::config::{Framing, Limits, Protocol, Role, DEFAULT_COMPRESSION_LEVEL};
use crate::error::{Error, LimitError, ProtocolError};
use crate::event::{Close, Event};
pub use crate::framing::outgoing::Outgoing;
use crate::framing::outgoing::{self, Writer};
use crate::framing::rfc6455::deflate::{Compressor, Decompressor};
use crate::framing::rfc6455::wire::{self, FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::framing::rfc6455::{self, Incoming, ReaderConfig};
use crate::framing::{new, old, Draft76Frame};
use crate::handshake::deflate::DeflateParams;

/// What the bytes are and how to read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The protocol whose framing the bytes are in.
    pub protocol: Protocol,
    /// Who sent the bytes. RFC 6455: a client masks every frame and a server
    /// never does, and permessage-deflate's context takeover is per sender.
    /// Draft-76 framings are the same both ways.
    pub sender: Role,
    /// RFC 6455: the permessage-deflate agreement, if any (RSV1 then marks a
    /// compressed message). Ignored for draft-76.
    pub deflate: Option<DeflateParams>,
    /// The limits a connection would apply. Default: [`Limits::default`].
    pub limits: Limits,
    /// Most bytes all delivered messages together may hold; the inspection
    /// stops with [`End::OutputLimit`] past it. Default 16 MiB.
    pub max_output: usize,
}

impl Options {
    /// Options for bytes in `protocol` sent by `sender`, without
    /// permessage-deflate, with the default limits.
    pub fn new(protocol: Protocol, sender: Role) -> Self {
        Options { protocol, sender, deflate: None, limits: Limits::default(), max_output: 16 * 1024 * 1024 }
    }
}

/// The result of [`inspect`]: every frame found, then how the bytes ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// The frames, in order. The last may be partial ([`FrameRecord::complete`]
    /// false) when the input ends inside it or it broke a rule.
    pub frames: Vec<FrameRecord>,
    /// How the bytes ended.
    pub end: End,
}

/// One frame as it is on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRecord {
    /// Offset of the frame's first byte in the input.
    pub offset: usize,
    /// Bytes of the frame in the input (header and payload that are present).
    pub len: usize,
    /// Bytes of the header (type byte and length, and for RFC 6455 the mask
    /// key); the payload follows.
    pub header_len: usize,
    /// Whether the whole frame is in the input and was accepted.
    pub complete: bool,
    /// The header's fields.
    pub header: FrameFields,
    /// What the frame is.
    pub kind: FrameKind,
    /// The payload bytes present in the input, unmasked (still compressed
    /// in a compressed message: see [`FrameRecord::delivered`]).
    pub payload: Vec<u8>,
    /// What a connection delivers when this frame completes a message or is
    /// a control frame: the message (inflated, for permessage-deflate),
    /// ping, pong or close. Always [`Event::Text`], [`Event::Binary`],
    /// [`Event::Ping`], [`Event::Pong`] or [`Event::Close`].
    pub delivered: Option<Event>,
}

impl FrameRecord {
    /// The payload length the header declares; `None` for an 'old' frame
    /// that runs to a 0xFF sentinel, or whose length digits were cut short.
    pub fn declared_len(&self) -> Option<u64> {
        match self.header {
            FrameFields::Rfc6455(header) => Some(header.payload_len),
            FrameFields::Old { length, .. } => length,
            FrameFields::New { length, .. } => Some(length),
        }
    }
}

/// A frame header's fields, per framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFields {
    /// RFC 6455 (§5.2): FIN, RSV1–3, opcode, mask key and payload length.
    Rfc6455(FrameHeader),
    /// Framing 'old': the type byte; a length when its high bit is set
    /// (base-128 digits), none when the payload runs to a 0xFF.
    Old {
        /// The frame-type byte.
        frame_type: u8,
        /// The length of a length-prefixed frame.
        length: Option<u64>,
    },
    /// Framing 'new': the type byte and the 8-byte big-endian length.
    New {
        /// The frame-type byte.
        frame_type: u8,
        /// The payload length.
        length: u64,
    },
}

/// What a frame is, in any framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A text frame (RFC 6455: the first of a text message).
    Text,
    /// The first frame of a binary message (RFC 6455 only).
    Binary,
    /// A continuation of a fragmented message (RFC 6455 only).
    Continuation,
    /// A close frame.
    Close,
    /// A ping (RFC 6455 only).
    Ping,
    /// A pong (RFC 6455 only).
    Pong,
    /// An RFC 6455 opcode reserved for the future; receiving it fails the
    /// connection.
    Reserved(u8),
    /// An 'old' frame of a type the draft tells a receiver to read and
    /// discard.
    Discarded,
}

impl FrameKind {
    /// A short lowercase name, as a page shows it.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Text => "text",
            FrameKind::Binary => "binary",
            FrameKind::Continuation => "continuation",
            FrameKind::Close => "close",
            FrameKind::Ping => "ping",
            FrameKind::Pong => "pong",
            FrameKind::Reserved(_) => "reserved",
            FrameKind::Discarded => "discarded",
        }
    }

    fn of(opcode: OpCode) -> FrameKind {
        match opcode {
            OpCode::Continuation => FrameKind::Continuation,
            OpCode::Text => FrameKind::Text,
            OpCode::Binary => FrameKind::Binary,
            OpCode::Close => FrameKind::Close,
            OpCode::Ping => FrameKind::Ping,
            OpCode::Pong => FrameKind::Pong,
            OpCode::Reserved(bits) => FrameKind::Reserved(bits),
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameKind::Reserved(bits) => write!(f, "reserved ({bits:#x})"),
            other => f.write_str(other.name()),
        }
    }
}

/// How the inspected bytes ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte belongs to a whole frame and no message is unfinished.
    Complete,
    /// The bytes end inside a frame, or inside a fragmented message.
    Incomplete {
        /// Offset of the unfinished frame (or, between frames, the end).
        at: usize,
        /// How many more bytes the frame needs: exactly this many when
        /// `exact`, else at least this many (its length is not known yet).
        needed: u64,
        /// Whether `needed` is exact.
        exact: bool,
    },
    /// The bytes break a rule: what a connection fails with, and the offset
    /// of the byte that broke it.
    Failed {
        /// Offset of the offending byte (see the module docs).
        offset: usize,
        /// The error a connection reading these bytes reports.
        error: Error,
    },
    /// A close frame came before the end; a connection reads nothing after
    /// it, and neither does the inspector.
    AfterClose {
        /// Offset of the first byte after the close frame.
        offset: usize,
    },
    /// The delivered messages outgrew [`Options::max_output`]; the inspector
    /// stopped after the frame that went past it.
    OutputLimit {
        /// Offset of the first byte not inspected.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Complete => f.write_str("complete"),
            End::Incomplete { needed, exact: true, .. } => {
                write!(f, "incomplete (needs {needed} more byte{})", plural(*needed))
            }
            End::Incomplete { needed, exact: false, .. } => {
                write!(f, "incomplete (needs at least {needed} more byte{})", plural(*needed))
            }
            End::Failed { offset, error } => write!(f, "{error} (at byte {offset})"),
            End::AfterClose { offset } => {
                write!(f, "bytes after the close frame, from byte {offset}, are not read")
            }
            End::OutputLimit { offset, limit } => {
                write!(f, "stopped at byte {offset}: messages exceed the {limit}-byte output limit")
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Decodes `input` as the bytes `options.sender` sent in `options.protocol`,
/// frame by frame, with the decoders a connection uses (see the module docs).
pub fn inspect(input: &[u8], options: &Options) -> Inspection {
    match options.protocol {
        Protocol::Draft76(Framing::Old) => inspect_old(input, options),
        Protocol::Draft76(Framing::New) => inspect_new(input, options),
        // As a server with `Framing::Auto` would read them, the input being
        // all there is.
        Protocol::Draft76(Framing::Auto) => match crate::framing::auto::decide_on_silence(input) {
            Framing::New => inspect_new(input, options),
            _ => inspect_old(input, options),
        },
        Protocol::Rfc6455 => match inspect_rfc6455(input, options, usize::MAX) {
            Ok(inspection) => inspection,
            // Again, one byte at a time from the payload that failed.
            Err(Refine(from)) => match inspect_rfc6455(input, options, from) {
                Ok(inspection) => inspection,
                Err(_) => unreachable!("payloads from the refined offset on are fed one byte at a time"),
            },
        },
    }
}

/// Accumulates records and counts delivered bytes against the output limit.
struct Records {
    frames: Vec<FrameRecord>,
    output: usize,
    max_output: usize,
}

impl Records {
    fn new(options: &Options) -> Self {
        Records { frames: Vec::new(), output: 0, max_output: options.max_output }
    }

    /// Adds a record; false when its delivered message went past the output
    /// limit.
    fn push(&mut self, record: FrameRecord) -> bool {
        let size = match &record.delivered {
            Some(Event::Text(text)) => text.len(),
            Some(Event::Binary(data) | Event::Ping(data) | Event::Pong(data)) => data.len(),
            Some(Event::Close(close)) => close.reason.len(),
            _ => 0,
        };
        // The payload copy counts too: it is as large as the input slice.
        self.output = self.output.saturating_add(size).saturating_add(record.payload.len());
        self.frames.push(record);
        self.output <= self.max_output
    }

    /// Adds the record of a whole draft-76 frame (`frame` is `None` for one
    /// the decoder discards) with what a connection delivers for it, its
    /// payload starting at `payload_at` and the next frame at `pos`. Returns
    /// how the inspection ends if it ends here: invalid text, the output
    /// limit, or a close.
    fn push_draft76(
        &mut self,
        mut record: FrameRecord,
        frame: Option<Draft76Frame>,
        payload_at: usize,
        pos: usize,
        input: &[u8],
    ) -> Option<End> {
        record.complete = true;
        let closed = frame == Some(Draft76Frame::Close);
        if let Some(frame) = frame {
            match draft76_event(frame, payload_at) {
                Ok(event) => record.delivered = Some(event),
                Err(end) => {
                    record.complete = false;
                    self.push(record);
                    return Some(end);
                }
            }
        }
        if !self.push(record) {
            return Some(End::OutputLimit { offset: pos, limit: self.max_output });
        }
        closed.then(|| after_close(pos, input))
    }

    fn finish(self, end: End) -> Inspection {
        Inspection { frames: self.frames, end }
    }
}

// ----- RFC 6455 -------------------------------------------------------------

/// A payload failed while fed whole: run again, byte by byte from here.
struct Refine(usize);

fn inspect_rfc6455(input: &[u8], options: &Options, fine_from: usize) -> Result<Inspection, Refine> {
    let config = ReaderConfig {
        expect_masked: options.sender == Role::Client,
        max_message_size: options.limits.max_message_size,
        max_frame_size: options.limits.max_frame_size,
        streaming: false,
    };
    // The reader's role is the receiver's: the other end from the sender.
    let receiver = match options.sender {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let inflater = options.deflate.as_ref().map(|params| Decompressor::new(params, receiver));
    let mut reader = rfc6455::Reader::new(config, inflater);
    let mut records = Records::new(options);
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        if rest.is_empty() {
            let end = if reader.at_boundary() {
                End::Complete
            } else {
                // A fragmented message is unfinished: another frame is due.
                End::Incomplete { at: pos, needed: 2, exact: false }
            };
            return Ok(records.finish(end));
        }
        let (header, header_len) = match FrameHeader::parse(rest) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                let (needed, exact) = header_needed(rest);
                return Ok(records.finish(End::Incomplete { at: pos, needed, exact }));
            }
            Err(_) => {
                // The reader parses with the same function: let it name the
                // error.
                let mut bytes = &rest[..rest.len().min(MAX_HEADER_LEN)];
                let error = match reader.read(&mut bytes) {
                    Err(error) => error,
                    Ok(_) => unreachable!("the reader parses headers with FrameHeader::parse"),
                };
                let offset = header_field_offset(pos, &error);
                return Ok(records.finish(End::Failed { offset, error }));
            }
        };
        let present = (rest.len() - header_len) as u64;
        let have = header.payload_len.min(present) as usize;
        let wire_payload = &rest[header_len..header_len + have];
        let mut payload = wire_payload.to_vec();
        if let Some(key) = header.mask {
            wire::apply_mask(&mut payload, key, 0);
        }
        let mut record = FrameRecord {
            offset: pos,
            len: header_len + have,
            header_len,
            complete: false,
            header: FrameFields::Rfc6455(header),
            kind: FrameKind::of(header.opcode),
            payload,
            delivered: None,
        };

        let mut header_bytes = &rest[..header_len];
        let mut incoming = match reader.read(&mut header_bytes) {
            Ok(incoming) => incoming,
            Err(error) => {
                let offset = header_field_offset(pos, &error);
                records.push(record);
                return Ok(records.finish(End::Failed { offset, error }));
            }
        };
        let payload_at = pos + header_len;
        if !wire_payload.is_empty() {
            if payload_at < fine_from {
                let mut bytes = wire_payload;
                match reader.read(&mut bytes) {
                    Ok(done) => incoming = done,
                    Err(_) => return Err(Refine(payload_at)),
                }
            } else {
                for (i, byte) in wire_payload.iter().enumerate() {
                    match reader.read(&mut core::slice::from_ref(byte)) {
                        Ok(done) => incoming = done,
                        Err(error) => {
                            let offset = payload_error_offset(&record, payload_at + i, &error);
                            records.push(record);
                            return Ok(records.finish(End::Failed { offset, error }));
                        }
                    }
                }
            }
        }
        if (have as u64) < header.payload_len {
            let needed = header.payload_len - have as u64;
            records.push(record);
            return Ok(records.finish(End::Incomplete { at: pos, needed, exact: true }));
        }
        record.complete = true;
        let closed = matches!(incoming, Some(Incoming::Close(_)));
        record.delivered = incoming.map(delivered);
        pos += record.len;
        if !records.push(record) {
            return Ok(records.finish(End::OutputLimit { offset: pos, limit: options.max_output }));
        }
        if closed {
            let end = if pos < input.len() { End::AfterClose { offset: pos } } else { End::Complete };
            return Ok(records.finish(end));
        }
    }
}

/// What a connection makes of what the reader produced.
fn delivered(incoming: Incoming) -> Event {
    match incoming {
        Incoming::Text(text) | Incoming::TextPiece { text, .. } => Event::Text(text),
        Incoming::Binary(data) | Incoming::BinaryPiece { data, .. } => Event::Binary(data),
        Incoming::Ping(payload) => Event::Ping(payload),
        Incoming::Pong(payload) => Event::Pong(payload),
        Incoming::Close(close) => {
            let (code, reason) = close.map_or((None, String::new()), |(c, r)| (Some(c), r));
            Event::Close(Close { code, reason })
        }
    }
}

/// How many more bytes a partial header needs, and whether that count
/// covers the whole frame (its length is known).
fn header_needed(partial: &[u8]) -> (u64, bool) {
    let [_, b1, rest @ ..] = partial else {
        return (2 - partial.len() as u64, false);
    };
    let (ext, short) = match b1 & 0x7f {
        126 => (2, None),
        127 => (8, None),
        len => (0, Some(u64::from(len))),
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    let header_left = (ext + mask - rest.len()) as u64;
    // The payload length is known when it is the 7-bit one, or its extended
    // bytes are all here (only the mask key is missing).
    let extended = (ext > 0 && rest.len() >= ext).then(|| {
        let mut be = [0u8; 8];
        be[8 - ext..].copy_from_slice(&rest[..ext]);
        u64::from_be_bytes(be)
    });
    match short.or(extended) {
        Some(payload) => (header_left.saturating_add(payload), true),
        None => (header_left, false),
    }
}

/// The byte a header error is about: byte 0 holds FIN, RSV and the
/// opcode; byte 1 the mask bit and the length (continued from byte 2).
fn header_field_offset(frame: usize, error: &Error) -> usize {
    match error {
        Error::Protocol(ProtocolError::UnmaskedFrame | ProtocolError::MaskedFrame)
        | Error::Protocol(ProtocolError::ControlFrameTooLong)
        | Error::Limit(LimitError::FrameTooLarge { .. } | LimitError::MessageTooLarge { .. }) => frame + 1,
        Error::Protocol(ProtocolError::BadLength) => frame + 2,
        _ => frame,
    }
}

/// The byte a payload error is about: where the reader gave up, except for
/// a close payload, whose code (or first bad reason byte) is pointed at.
fn payload_error_offset(record: &FrameRecord, detected: usize, error: &Error) -> usize {
    if record.kind != FrameKind::Close {
        return detected;
    }
    let start = record.offset + record.header_len;
    match (error, core::str::from_utf8(record.payload.get(2..).unwrap_or_default())) {
        (Error::Protocol(ProtocolError::InvalidUtf8), Err(e)) => start + 2 + e.valid_up_to(),
        _ => start,
    }
}

// ----- draft-76 'new' --------------------------------------------------------

fn inspect_new(input: &[u8], options: &Options) -> Inspection {
    let mut decoder = new::Decoder::new(options.limits.max_message_size, options.limits.max_frame_size);
    let mut records = Records::new(options);
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        if rest.is_empty() {
            return records.finish(End::Complete);
        }
        let [frame_type, b1, b2, b3, b4, b5, b6, b7, b8, ..] = *rest else {
            return records.finish(End::Incomplete { at: pos, needed: 9 - rest.len() as u64, exact: false });
        };
        let length = u64::from_be_bytes([b1, b2, b3, b4, b5, b6, b7, b8]);
        let mut bytes = rest;
        let decoded = decoder.decode(&mut bytes);
        let used = rest.len() - bytes.len();
        let record = FrameRecord {
            offset: pos,
            len: used.max(9),
            header_len: 9,
            complete: false,
            header: FrameFields::New { frame_type, length },
            // Racket reads 0x00 as close and every other type as text.
            kind: if frame_type == new::CLOSE { FrameKind::Close } else { FrameKind::Text },
            payload: rest[9..used.max(9)].to_vec(),
            delivered: None,
        };
        match decoded {
            // Only a declared length over a limit fails here.
            Err(error) => {
                records.push(record);
                return records.finish(End::Failed { offset: pos + 1, error });
            }
            Ok(None) => {
                let needed = length - record.payload.len() as u64;
                records.push(record);
                return records.finish(End::Incomplete { at: pos, needed, exact: true });
            }
            Ok(Some(frame)) => {
                pos += used;
                let payload_at = pos - record.payload.len();
                if let Some(end) = records.push_draft76(record, Some(frame), payload_at, pos, input) {
                    return records.finish(end);
                }
            }
        }
    }
}

/// What a connection with the default [`crate::InvalidUtf8::Fail`] makes of
/// a draft-76 frame whose payload starts at `payload_at`.
fn draft76_event(frame: Draft76Frame, payload_at: usize) -> Result<Event, End> {
    match frame {
        Draft76Frame::Text(bytes) => String::from_utf8(bytes).map(Event::Text).map_err(|e| End::Failed {
            offset: payload_at + e.utf8_error().valid_up_to(),
            error: ProtocolError::InvalidUtf8.into(),
        }),
        Draft76Frame::TextPiece { .. } => unreachable!("the inspector's decoders do not stream"),
        Draft76Frame::Close => Ok(Event::Close(Close::default())),
    }
}

fn after_close(pos: usize, input: &[u8]) -> End {
    if pos < input.len() {
        End::AfterClose { offset: pos }
    } else {
        End::Complete
    }
}

// ----- draft-76 'old' --------------------------------------------------------

fn inspect_old(input: &[u8], options: &Options) -> Inspection {
    let mut decoder = old::Decoder::new(options.limits.max_message_size, options.limits.max_frame_size);
    let mut records = Records::new(options);
    let mut pos = 0;
    while pos < input.len() {
        // Feed one byte at a time until the decoder is back between frames.
        let mut frame = None;
        let mut end = pos;
        for byte in &input[pos..] {
            end += 1;
            match decoder.decode(&mut core::slice::from_ref(byte)) {
                Ok(Some(done)) => frame = Some(done),
                Ok(None) => {}
                Err(error) => {
                    let mut record = old_record(&input[pos..end], pos);
                    record.complete = false;
                    records.push(record);
                    return records.finish(End::Failed { offset: end - 1, error });
                }
            }
            if decoder.at_boundary() {
                break;
            }
        }
        let record = old_record(&input[pos..end], pos);
        if !decoder.at_boundary() {
            let (needed, exact) = match record.header {
                FrameFields::Old { length: Some(length), .. } => (length - record.payload.len() as u64, true),
                _ => (1, false),
            };
            records.push(record);
            return records.finish(End::Incomplete { at: pos, needed, exact });
        }
        pos = end;
        let payload_at = record.offset + 1;
        if let Some(end) = records.push_draft76(record, frame, payload_at, pos, input) {
            return records.finish(end);
        }
    }
    records.finish(End::Complete)
}

/// The fields of the 'old' frame (or the start of one) in `bytes`, which
/// the decoder delimited.
fn old_record(bytes: &[u8], offset: usize) -> FrameRecord {
    let frame_type = bytes[0];
    let (header_len, length, payload, kind) = if frame_type & 0x80 == 0 {
        // Up to the 0xFF sentinel, which is neither header nor payload.
        let payload = bytes[1..].strip_suffix(&[0xff]).unwrap_or(&bytes[1..]);
        let kind = if frame_type == 0x00 { FrameKind::Text } else { FrameKind::Discarded };
        (1, None, payload, kind)
    } else {
        // Base-128 digits, most significant first; the high bit says more
        // follow. The decoder already bounded them by the frame limit.
        let mut length = 0u64;
        let mut header_len = 1;
        let mut whole = false;
        for &digit in &bytes[1..] {
            length = length.saturating_mul(128).saturating_add(u64::from(digit & 0x7f));
            header_len += 1;
            if digit & 0x80 == 0 {
                whole = true;
                break;
            }
        }
        let kind =
            if frame_type == 0xff && whole && length == 0 { FrameKind::Close } else { FrameKind::Discarded };
        (header_len, whole.then_some(length), &bytes[header_len..], kind)
    };
    FrameRecord {
        offset,
        len: bytes.len(),
        header_len,
        complete: false,
        header: FrameFields::Old { frame_type, length },
        kind,
        payload: payload.to_vec(),
        delivered: None,
    }
}

// ----- writing ---------------------------------------------------------------

/// How to write a message with [`encode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The protocol whose framing to write.
    pub protocol: Protocol,
    /// Who sends: an RFC 6455 client masks its frames.
    pub sender: Role,
    /// RFC 6455: compress text and binary messages with permessage-deflate
    /// under this agreement (a fresh compressor: the first message of a
    /// connection).
    pub deflate: Option<DeflateParams>,
    /// The DEFLATE level (0–9). Default 6, as a connection's.
    pub compression_level: u8,
    /// The masking key an RFC 6455 client uses. A connection draws a fresh
    /// one from its entropy for every frame; the caller picks it here.
    pub mask: [u8; 4],
}

impl EncodeOptions {
    /// Options for `sender` writing `protocol`, without permessage-deflate,
    /// masking (as a client) with the key of RFC 6455 §5.7's examples.
    pub fn new(protocol: Protocol, sender: Role) -> Self {
        EncodeOptions {
            protocol,
            sender,
            deflate: None,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            mask: [0x37, 0xfa, 0x21, 0x3d],
        }
    }
}

/// The bytes a connection puts on the wire for `message`, through the
/// writer its `send_*` and `close` use ([`crate::framing::outgoing`]);
/// refused as a connection refuses it ([`Misuse`](crate::Misuse)) when the
/// protocol cannot carry it.
pub fn encode(message: Outgoing<'_>, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    // A fresh compressor: the first message of a connection.
    let mut compressor = match (options.protocol, &options.deflate) {
        (Protocol::Rfc6455, Some(params)) => {
            Some(Compressor::new(params, options.sender, options.compression_level))
        }
        _ => None,
    };
    let mut mask = || (options.sender == Role::Client).then_some(options.mask);
    let mut scratch = Vec::new();
    let writer = match options.protocol {
        Protocol::Draft76(framing) => Writer::Draft76(framing),
        Protocol::Rfc6455 => {
            Writer::Rfc6455 { compressor: compressor.as_mut(), scratch: &mut scratch, mask: &mut mask }
        }
    };
    let mut out = Vec::new();
    outgoing::write(&mut out, writer, message)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Misuse;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn rfc(sender: Role) -> Options {
        Options::new(Protocol::Rfc6455, sender)
    }

    fn deflate(sender: Role) -> Options {
        Options { deflate: Some(DeflateParams::default()), ..rfc(sender) }
    }

    fn header(record: &FrameRecord) -> FrameHeader {
        match record.header {
            FrameFields::Rfc6455(header) => header,
            other => panic!("not an RFC 6455 header: {other:?}"),
        }
    }

    fn text(s: &str) -> Option<Event> {
        Some(Event::Text(s.into()))
    }

    fn failed(inspection: &Inspection) -> (usize, Error) {
        match &inspection.end {
            End::Failed { offset, error } => (*offset, error.clone()),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn rfc6455_5_7_single_frames() {
        // A single-frame unmasked text message (from a server).
        let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(got.end, End::Complete);
        assert_eq!(got.frames.len(), 1);
        let frame = &got.frames[0];
        assert_eq!((frame.offset, frame.len, frame.header_len, frame.complete), (0, 7, 2, true));
        let h = header(frame);
        assert_eq!(
            (h.fin, h.rsv1, h.rsv2, h.rsv3, h.opcode, h.mask, h.payload_len),
            (true, false, false, false, OpCode::Text, None, 5)
        );
        assert_eq!((frame.kind, frame.payload.as_slice()), (FrameKind::Text, &b"Hello"[..]));
        assert_eq!(frame.delivered, text("Hello"));

        // The same, masked (from a client): the payload shown is unmasked.
        let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let got = inspect(&wire, &rfc(Role::Client));
        assert_eq!(got.end, End::Complete);
        let frame = &got.frames[0];
        assert_eq!((frame.header_len, header(frame).mask), (6, Some(KEY)));
        assert_eq!((frame.payload.as_slice(), &frame.delivered), (&b"Hello"[..], &text("Hello")));

        // Unmasked ping, masked pong.
        let ping = inspect(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], &rfc(Role::Server));
        assert_eq!(ping.frames[0].delivered, Some(Event::Ping(b"Hello".to_vec())));
        let pong =
            inspect(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58], &rfc(Role::Client));
        assert_eq!(
            (pong.frames[0].kind, &pong.frames[0].delivered),
            (FrameKind::Pong, &Some(Event::Pong(b"Hello".to_vec())))
        );
    }

    #[test]
    fn rfc6455_5_7_fragments_and_long_lengths() {
        let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(got.end, End::Complete);
        let [first, second] = &got.frames[..] else { panic!("{got:?}") };
        assert_eq!(
            (first.offset, first.kind, header(first).fin, &first.delivered),
            (0, FrameKind::Text, false, &None)
        );
        assert_eq!((second.offset, second.kind, header(second).fin), (5, FrameKind::Continuation, true));
        assert_eq!((first.payload.as_slice(), second.payload.as_slice()), (&b"Hel"[..], &b"lo"[..]));
        assert_eq!(second.delivered, text("Hello"));

        // 256 bytes (16-bit length) and 64 KiB (64-bit length) of binary.
        let mut wire = vec![0x82, 0x7e, 0x01, 0x00];
        wire.extend_from_slice(&[7; 256]);
        wire.extend_from_slice(&[0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
        wire.extend_from_slice(&[9; 65536]);
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(got.end, End::Complete);
        assert_eq!((got.frames[0].header_len, got.frames[0].declared_len()), (4, Some(256)));
        assert_eq!(
            (got.frames[1].offset, got.frames[1].header_len, got.frames[1].declared_len()),
            (260, 10, Some(65536))
        );
        assert_eq!(got.frames[1].delivered, Some(Event::Binary(vec![9; 65536])));
    }

    #[test]
    fn rfc7692_7_2_3_examples_inflate_per_message() {
        // "Hello" compressed, then again sharing the LZ77 window (§7.2.3.2).
        let wire =
            [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
        let got = inspect(&wire, &deflate(Role::Server));
        assert_eq!(got.end, End::Complete);
        assert!(header(&got.frames[0]).rsv1);
        assert_eq!(got.frames[0].payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!((&got.frames[0].delivered, &got.frames[1].delivered), (&text("Hello"), &text("Hello")));

        // Fragmented (§7.2.3.3): the message inflates on its last frame.
        let wire = [0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00];
        let got = inspect(&wire, &deflate(Role::Server));
        assert_eq!((&got.frames[0].delivered, &got.frames[1].delivered), (&None, &text("Hello")));

        // Without the extension, RSV1 is a protocol error at byte 0.
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(failed(&got), (0, Error::Protocol(ProtocolError::ReservedBits)));
    }

    #[test]
    fn header_errors_point_at_their_field() {
        let cases: &[(&[u8], Role, usize, Error)] = &[
            (&[0x81, 0x00], Role::Client, 1, ProtocolError::UnmaskedFrame.into()),
            (&[0x81, 0x80, 1, 2, 3, 4], Role::Server, 1, ProtocolError::MaskedFrame.into()),
            (&[0xa1, 0x00], Role::Server, 0, ProtocolError::ReservedBits.into()),
            (&[0x83, 0x00], Role::Server, 0, ProtocolError::ReservedOpcode(3).into()),
            (&[0x09, 0x00], Role::Server, 0, ProtocolError::FragmentedControlFrame.into()),
            (&[0x89, 0x7e, 0x00, 0x7e], Role::Server, 1, ProtocolError::ControlFrameTooLong.into()),
            (&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0], Role::Server, 2, ProtocolError::BadLength.into()),
            (&[0x80, 0x00], Role::Server, 0, ProtocolError::UnexpectedContinuation.into()),
        ];
        for (wire, sender, offset, error) in cases {
            let got = inspect(wire, &rfc(*sender));
            assert_eq!(failed(&got), (*offset, error.clone()), "{wire:02x?}");
        }
        // A second message before the first ends: at the second frame.
        let got = inspect(&[0x01, 0x01, b'a', 0x01, 0x01, b'b'], &rfc(Role::Server));
        assert_eq!(failed(&got), (3, ProtocolError::ExpectedContinuation.into()));
        assert_eq!(got.frames.len(), 2);
        assert!(got.frames[0].complete && !got.frames[1].complete);
    }

    #[test]
    fn declared_lengths_are_checked_not_allocated() {
        // 2^62 bytes declared: refused at the length, nothing reserved.
        let wire = [0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(failed(&got), (1, LimitError::FrameTooLarge { limit: 16 * 1024 * 1024 }.into()));
        assert!(got.frames[0].payload.capacity() <= 3);
        let new_wire = [0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a'];
        let got = inspect(&new_wire, &Options::new(Protocol::Draft76(Framing::New), Role::Client));
        assert_eq!(failed(&got), (1, LimitError::MessageTooLarge { limit: 16 * 1024 * 1024 }.into()));
        assert!(got.frames[0].payload.capacity() <= 1);
    }

    #[test]
    fn payload_errors_have_exact_offsets() {
        // Good frame, then text whose fourth payload byte (offset 9+2+3)
        // cannot be UTF-8: found by the refined, byte-by-byte run.
        let mut wire = vec![0x81, 0x07, b'f', b'i', b'n', b'e', b'!', b'!', b'!'];
        wire.extend_from_slice(&[0x81, 0x05, b'a', b'b', b'c', 0xff, b'd']);
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(failed(&got), (12 + 2, ProtocolError::InvalidUtf8.into()));
        assert_eq!(got.frames[0].delivered, text("fine!!!"));
        assert!(!got.frames[1].complete);

        // Across fragments: 0xE2 0x82 then a non-continuation byte.
        let wire = [0x01, 0x02, b'a', 0xe2, 0x80, 0x02, 0x82, b'x'];
        assert_eq!(failed(&inspect(&wire, &rfc(Role::Server))), (7, ProtocolError::InvalidUtf8.into()));

        // Masked: the offset is in the wire bytes.
        let mut wire = Vec::new();
        wire::encode_frame(&mut wire, true, false, OpCode::Text, &[b'o', b'k', 0xc0, b'z'], Some(KEY));
        assert_eq!(failed(&inspect(&wire, &rfc(Role::Client))), (6 + 2, ProtocolError::InvalidUtf8.into()));

        // Close payloads: the code, or the first bad byte of the reason.
        let got = inspect(&[0x88, 0x02, 0x03, 0xed], &rfc(Role::Server));
        assert_eq!(failed(&got), (2, ProtocolError::InvalidClosePayload.into()));
        let got = inspect(&[0x88, 0x05, 0x03, 0xe8, b'o', 0xff, b'k'], &rfc(Role::Server));
        assert_eq!(failed(&got), (5, ProtocolError::InvalidUtf8.into()));

        // Data that does not inflate.
        let got = inspect(&[0xc1, 0x03, 0xff, 0xff, 0xff], &deflate(Role::Server));
        assert_eq!(failed(&got).1, ProtocolError::BadCompressedData.into());
        assert!((2..5).contains(&failed(&got).0));
    }

    #[test]
    fn incomplete_says_how_much_is_missing() {
        let cases: &[(&[u8], Role, u64, bool)] = &[
            (&[0x81], Role::Server, 1, false),
            (&[0x81, 0x85, 0x37], Role::Client, 3 + 5, true),
            (&[0x82, 0x7e, 0x01], Role::Server, 1, false),
            (&[0x82, 0xfe, 0x01, 0x00], Role::Client, 4 + 256, true),
            (&[0x81, 0x05, b'H', b'e'], Role::Server, 3, true),
            (&[0x01, 0x01, b'H'], Role::Server, 2, false),
        ];
        for (wire, sender, needed, exact) in cases {
            let got = inspect(wire, &rfc(*sender));
            match got.end {
                End::Incomplete { needed: n, exact: e, .. } => {
                    assert_eq!((n, e), (*needed, *exact), "{wire:02x?}")
                }
                other => panic!("{wire:02x?}: {other:?}"),
            }
        }
        let got = inspect(&[0x81, 0x05, b'H', b'e'], &rfc(Role::Server));
        assert_eq!(got.end.to_string(), "incomplete (needs 3 more bytes)");
        assert_eq!(got.frames[0].payload, b"He");
    }

    #[test]
    fn nothing_is_read_after_a_close() {
        let wire = [0x88, 0x02, 0x03, 0xe8, 0x81, 0x00];
        let got = inspect(&wire, &rfc(Role::Server));
        assert_eq!(got.end, End::AfterClose { offset: 4 });
        assert_eq!(
            got.frames[0].delivered,
            Some(Event::Close(Close { code: Some(1000), reason: String::new() }))
        );
        let got = inspect(&[0xff, 0x00, 0x00], &Options::new(Protocol::Draft76(Framing::Old), Role::Server));
        assert_eq!(got.end, End::AfterClose { offset: 2 });
    }

    #[test]
    fn draft76_old_sequence() {
        let mut wire = vec![0x00, b'H', b'i', 0xff]; // text
        wire.extend_from_slice(&[0x05, b'x', b'y', 0xff]); // sentinel frame of another type
        wire.extend_from_slice(&[0x80, 0x02, 1, 2]); // length-prefixed frame
        wire.extend_from_slice(&[0xfe, 0x81, 0x00]); // 128 bytes follow
        wire.extend_from_slice(&[0xaa; 128]);
        wire.extend_from_slice(&[0x00, 0xff]); // empty text
        wire.extend_from_slice(&[0xff, 0x00]); // close
        let got = inspect(&wire, &Options::new(Protocol::Draft76(Framing::Old), Role::Client));
        assert_eq!(got.end, End::Complete);
        let summary: Vec<_> = got
            .frames
            .iter()
            .map(|f| (f.offset, f.len, f.header_len, f.kind, f.header, f.payload.len(), f.complete))
            .collect();
        let old = |frame_type, length| FrameFields::Old { frame_type, length };
        assert_eq!(
            summary,
            [
                (0, 4, 1, FrameKind::Text, old(0x00, None), 2, true),
                (4, 4, 1, FrameKind::Discarded, old(0x05, None), 2, true),
                (8, 4, 2, FrameKind::Discarded, old(0x80, Some(2)), 2, true),
                (12, 131, 3, FrameKind::Discarded, old(0xfe, Some(128)), 128, true),
                (143, 2, 1, FrameKind::Text, old(0x00, None), 0, true),
                (145, 2, 2, FrameKind::Close, old(0xff, Some(0)), 0, true),
            ]
        );
        assert_eq!(got.frames[0].payload, b"Hi");
        assert_eq!(got.frames[0].delivered, text("Hi"));
        assert_eq!(got.frames[1].delivered, None);
        assert_eq!(got.frames[4].delivered, text(""));
        assert_eq!(got.frames[5].delivered, Some(Event::Close(Close::default())));
    }

    #[test]
    fn draft76_old_ends_and_errors() {
        let options = Options::new(Protocol::Draft76(Framing::Old), Role::Server);
        let got = inspect(&[0x00, b'a', b'b'], &options);
        assert_eq!(got.end, End::Incomplete { at: 0, needed: 1, exact: false });
        assert_eq!(got.frames[0].payload, b"ab");
        let got = inspect(&[0x00, 0xff, 0x80, 0x05, 1, 2], &options);
        assert_eq!(got.end, End::Incomplete { at: 2, needed: 3, exact: true });
        let got = inspect(&[0x00, b'o', b'k', 0xc3, 0x28, 0xff], &options);
        assert_eq!(failed(&got), (3, ProtocolError::InvalidUtf8.into()));
        let small = Options { limits: Limits { max_message_size: 3, ..Limits::default() }, ..options };
        let got = inspect(&[0x00, b'a', b'b', b'c', b'd', b'e'], &small);
        assert_eq!(failed(&got), (4, LimitError::MessageTooLarge { limit: 3 }.into()));
        // Length digits: as many as the frame limit needs (16 MiB: 4), zero
        // padded, still read; the next one fails, where a connection fails.
        let got = inspect(&[0xff, 0x80, 0x80, 0x80, 0x00], &options);
        assert_eq!(got.end, End::Complete);
        let kinds: Vec<_> = got.frames.iter().map(|f| (f.kind, f.header_len)).collect();
        assert_eq!(kinds, [(FrameKind::Close, 5)]);
        let limit = Limits::default().max_frame_size;
        let got = inspect(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], &options);
        assert_eq!(failed(&got), (5, LimitError::FrameTooLarge { limit }.into()));
    }

    #[test]
    fn draft76_new_sequence() {
        let mut wire = Vec::new();
        new::encode_text("Hi", &mut wire);
        wire.extend_from_slice(&[0x42, 0, 0, 0, 0, 0, 0, 0, 1, b'x']); // any other type is text
        new::encode_close(&mut wire);
        let options = Options::new(Protocol::Draft76(Framing::New), Role::Server);
        let got = inspect(&wire, &options);
        assert_eq!(got.end, End::Complete);
        let summary: Vec<_> = got
            .frames
            .iter()
            .map(|f| (f.offset, f.len, f.header_len, f.kind, f.header, f.delivered.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (0, 11, 9, FrameKind::Text, FrameFields::New { frame_type: 0xff, length: 2 }, text("Hi")),
                (11, 10, 9, FrameKind::Text, FrameFields::New { frame_type: 0x42, length: 1 }, text("x")),
                (
                    21,
                    9,
                    9,
                    FrameKind::Close,
                    FrameFields::New { frame_type: 0x00, length: 0 },
                    Some(Event::Close(Close::default()))
                ),
            ]
        );
        assert_eq!(inspect(&wire[..5], &options).end, End::Incomplete { at: 0, needed: 4, exact: false });
        assert_eq!(inspect(&wire[..10], &options).end, End::Incomplete { at: 0, needed: 1, exact: true });
        let bad = [0xff, 0, 0, 0, 0, 0, 0, 0, 2, 0xe0, b'a'];
        assert_eq!(failed(&inspect(&bad, &options)), (9, ProtocolError::InvalidUtf8.into()));
    }

    #[test]
    fn output_is_bounded() {
        let mut wire = Vec::new();
        for _ in 0..4 {
            old::encode_text("0123456789", &mut wire);
        }
        let options =
            Options { max_output: 25, ..Options::new(Protocol::Draft76(Framing::Old), Role::Server) };
        let got = inspect(&wire, &options);
        assert_eq!(got.end, End::OutputLimit { offset: 24, limit: 25 });
        assert_eq!(got.frames.len(), 2);
    }

    #[test]
    fn encode_uses_each_framings_writer() {
        let encode_as = |protocol, sender, message| encode(message, &EncodeOptions::new(protocol, sender));
        let old = Protocol::Draft76(Framing::Old);
        let new = Protocol::Draft76(Framing::New);
        assert_eq!(encode_as(old, Role::Client, Outgoing::Text("Hi")).unwrap(), [0x00, b'H', b'i', 0xff]);
        assert_eq!(
            encode_as(new, Role::Server, Outgoing::Text("Hi")).unwrap(),
            [0xff, 0, 0, 0, 0, 0, 0, 0, 2, b'H', b'i']
        );
        assert_eq!(
            encode_as(old, Role::Client, Outgoing::Close { code: None, reason: "" }).unwrap(),
            [0xff, 0x00]
        );
        assert_eq!(
            encode_as(new, Role::Client, Outgoing::Close { code: Some(1000), reason: "" }).unwrap(),
            [0; 9]
        );
        assert_eq!(
            encode_as(old, Role::Client, Outgoing::Binary(b"x")),
            Err(Misuse::BinaryUnsupported.into())
        );
        assert_eq!(encode_as(new, Role::Client, Outgoing::Ping(b"")), Err(Misuse::PingUnsupported.into()));
        assert_eq!(
            encode_as(old, Role::Client, Outgoing::Close { code: Some(1001), reason: "" }),
            Err(Misuse::CloseCodeUnsupported.into())
        );
        // RFC 6455 §5.7: a client masks, a server does not.
        let rfc = Protocol::Rfc6455;
        assert_eq!(
            encode_as(rfc, Role::Server, Outgoing::Text("Hello")).unwrap(),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_as(rfc, Role::Client, Outgoing::Text("Hello")).unwrap(),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(
            encode_as(rfc, Role::Server, Outgoing::Close { code: Some(1000), reason: "ok" }).unwrap(),
            [0x88, 0x04, 0x03, 0xe8, b'o', b'k']
        );
        assert_eq!(
            encode_as(rfc, Role::Server, Outgoing::Ping(&[0; 126])),
            Err(Misuse::ControlTooLong.into())
        );
        assert_eq!(
            encode_as(rfc, Role::Server, Outgoing::Close { code: Some(1005), reason: "" }),
            Err(Misuse::InvalidCloseCode.into())
        );
        // RFC 7692 §7.2.3.1: "Hello" compressed, RSV1 set.
        let options = EncodeOptions {
            deflate: Some(DeflateParams::default()),
            ..EncodeOptions::new(rfc, Role::Server)
        };
        assert_eq!(
            encode(Outgoing::Text("Hello"), &options).unwrap(),
            [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }

    #[test]
    fn display_of_ends() {
        assert_eq!(End::Complete.to_string(), "complete");
        assert_eq!(
            End::Incomplete { at: 0, needed: 1, exact: false }.to_string(),
            "incomplete (needs at least 1 more byte)"
        );
        let failed = End::Failed { offset: 1, error: ProtocolError::UnmaskedFrame.into() };
        assert_eq!(failed.to_string(), "protocol violation: client frame is not masked (at byte 1)");
        assert_eq!(FrameKind::Reserved(0xb).to_string(), "reserved (0xb)");
    }

    fn outgoing_strategy() -> impl Strategy<Value = (u8, String, Vec<u8>)> {
        (0u8..4, ".{0,40}", proptest::collection::vec(any::<u8>(), 0..300))
    }

    proptest! {
        /// What `encode` writes, `inspect` reads back as the same message,
        /// for every framing, sender and compression.
        #[test]
        fn encode_then_inspect_round_trips((which, s, data) in outgoing_strategy(), client: bool, compress: bool, mask: [u8; 4], framing in 0u8..3) {
            let sender = if client { Role::Client } else { Role::Server };
            let protocol = match framing { 0 => Protocol::Draft76(Framing::Old), 1 => Protocol::Draft76(Framing::New), _ => Protocol::Rfc6455 };
            let deflate = (compress && protocol == Protocol::Rfc6455).then(DeflateParams::default);
            let encode_options = EncodeOptions { deflate, mask, ..EncodeOptions::new(protocol, sender) };
            let control = &data[..data.len().min(125)];
            let (message, expected) = match which {
                0 => (Outgoing::Text(&s), Event::Text(s.clone())),
                1 => (Outgoing::Binary(&data), Event::Binary(data.clone())),
                2 => (Outgoing::Ping(control), Event::Ping(control.to_vec())),
                _ => (Outgoing::Close { code: None, reason: "" }, Event::Close(Close::default())),
            };
            let Ok(wire) = encode(message, &encode_options) else {
                prop_assert!(protocol != Protocol::Rfc6455);
                return Ok(());
            };
            let got = inspect(&wire, &Options { deflate, ..Options::new(protocol, sender) });
            prop_assert_eq!(&got.end, &End::Complete);
            prop_assert_eq!(got.frames.len(), 1);
            prop_assert_eq!(got.frames[0].len, wire.len());
            prop_assert_eq!(got.frames[0].delivered.as_ref(), Some(&expected));
        }

        /// Any bytes: records tile the input in order, and the inspector
        /// agrees with a real reader fed the same bytes whole.
        #[test]
        fn any_bytes_agree_with_the_reader(bytes in proptest::collection::vec(any::<u8>(), 0..64), client: bool, framing in 0u8..3) {
            let sender = if client { Role::Client } else { Role::Server };
            let protocol = match framing { 0 => Protocol::Draft76(Framing::Old), 1 => Protocol::Draft76(Framing::New), _ => Protocol::Rfc6455 };
            let got = inspect(&bytes, &Options::new(protocol, sender));
            let mut at = 0;
            for frame in &got.frames {
                prop_assert_eq!(frame.offset, at);
                at += frame.len;
            }
            prop_assert!(at <= bytes.len());
            if protocol == Protocol::Rfc6455 {
                let config = ReaderConfig { expect_masked: client, max_message_size: 16 << 20, max_frame_size: 16 << 20, streaming: false };
                let mut reader = rfc6455::Reader::new(config, None);
                let mut input = &bytes[..];
                let mut result = Ok(());
                let mut closed = false;
                while !input.is_empty() && !closed {
                    match reader.read(&mut input) {
                        Ok(Some(Incoming::Close(_))) => closed = true,
                        Ok(Some(_)) => {}
                        Ok(None) => {}
                        Err(e) => { result = Err(e); break }
                    }
                }
                match (&got.end, result) {
                    (End::Failed { error, .. }, Err(e)) => prop_assert_eq!(error, &e),
                    (End::Failed { .. }, Ok(())) => prop_assert!(false, "inspector failed, reader did not"),
                    (_, Err(e)) => prop_assert!(false, "reader failed with {e:?}, inspector said {:?}", got.end),
                    _ => {}
                }
            }
        }

        /// Frame sequences a peer could send, right or wrong (fragments,
        /// interleaved controls, bad UTF-8, compression, cut anywhere):
        /// the inspector delivers exactly what a reader fed the same bytes
        /// whole delivers, and fails with the same error.
        #[test]
        fn frame_sequences_agree_with_the_reader(
            frames in proptest::collection::vec((0u8..6, any::<bool>(), proptest::collection::vec(prop_oneof![Just(b'a'), Just(0xc3), Just(0xa9), Just(0xff), any::<u8>()], 0..12)), 0..6),
            client: bool,
            compress: bool,
            cut in 0usize..200,
        ) {
            let sender = if client { Role::Client } else { Role::Server };
            let params = compress.then(DeflateParams::default);
            let mut wire = Vec::new();
            let mut compressor = params.map(|p| Compressor::new(&p, sender, 6));
            for (which, fin, payload) in &frames {
                let opcode = [OpCode::Text, OpCode::Binary, OpCode::Continuation, OpCode::Ping, OpCode::Close, OpCode::Reserved(3)][*which as usize];
                let (rsv1, payload) = match (&mut compressor, opcode) {
                    (Some(c), OpCode::Text | OpCode::Binary) if *fin => {
                        let mut out = Vec::new();
                        c.compress_message(payload, &mut out);
                        (true, out)
                    }
                    _ => (false, payload.clone()),
                };
                let mask = client.then_some(KEY);
                wire::encode_frame(&mut wire, *fin || opcode.is_control(), rsv1, opcode, &payload, mask);
            }
            let wire = &wire[..cut.min(wire.len())];
            let options = Options { deflate: params, ..rfc(sender) };
            let got = inspect(wire, &options);

            let receiver = if client { Role::Server } else { Role::Client };
            let config = ReaderConfig { expect_masked: client, max_message_size: 16 << 20, max_frame_size: 16 << 20, streaming: false };
            let mut reader = rfc6455::Reader::new(config, params.map(|p| Decompressor::new(&p, receiver)));
            let mut input = wire;
            let mut expected = Vec::new();
            let mut error = None;
            while !input.is_empty() {
                match reader.read(&mut input) {
                    Ok(Some(incoming)) => {
                        let close = matches!(incoming, Incoming::Close(_));
                        expected.push(delivered(incoming));
                        if close { break }
                    }
                    Ok(None) => {}
                    Err(e) => { error = Some(e); break }
                }
            }
            let delivered: Vec<Event> = got.frames.iter().filter_map(|f| f.delivered.clone()).collect();
            prop_assert_eq!(delivered, expected);
            match (&got.end, error) {
                (End::Failed { error, offset }, Some(e)) => {
                    prop_assert_eq!(error, &e);
                    prop_assert!(*offset < wire.len(), "offset {} of {} bytes", offset, wire.len());
                }
                (end, None) => prop_assert!(!matches!(end, End::Failed { .. }), "{end:?}"),
                (end, Some(e)) => prop_assert!(false, "reader failed with {e:?}, inspector said {end:?}"),
            }
        }
    }
}
