//! What one end sends, in every framing: the messages each protocol can
//! carry and the one writer that puts them on the wire.
//!
//! [`crate::Connection`]'s `send_*` and `close` and the inspector's
//! [`encode`](crate::inspect::encode) both write through [`write`], so the
//! rules for what a protocol refuses to send, which frames are compressed
//! and which are masked are stated once, here; the byte layouts are the
//! framings' own ([`super::old`], [`super::new`], [`super::rfc6455::wire`],
//! [`Compressor`]).

use alloc::vec::Vec;

use super::rfc6455::deflate::Compressor;
use super::rfc6455::wire::{self, OpCode};
use super::{new, old};
use crate::config::{Framing, Protocol};
use crate::error::Misuse;

/// A message or control frame to put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message (RFC 6455 only).
    Binary(&'a [u8]),
    /// A ping (RFC 6455 only; at most 125 bytes).
    Ping(&'a [u8]),
    /// A pong (RFC 6455 only; at most 125 bytes).
    Pong(&'a [u8]),
    /// A close, with a code and reason where the protocol has them
    /// (RFC 6455; draft-76 takes only `None` or 1000 with no reason).
    Close {
        /// The close code.
        code: Option<u16>,
        /// The reason (at most 123 bytes, and only with a code).
        reason: &'a str,
    },
}

impl Outgoing<'_> {
    /// Whether this is a data message (text or binary), which RFC 6455
    /// cannot send in the middle of a fragmented one.
    pub(crate) fn is_data(&self) -> bool {
        matches!(self, Outgoing::Text(_) | Outgoing::Binary(_))
    }
}

/// How one end writes: its framing and, for RFC 6455, what each frame needs
/// from the sender.
pub(crate) enum Writer<'a> {
    /// Draft-76, in either framing.
    Draft76(Framing),
    /// RFC 6455.
    Rfc6455 {
        /// Compresses data messages when permessage-deflate was agreed.
        compressor: Option<&'a mut Compressor>,
        /// Where a compressed message is built before it is framed.
        scratch: &'a mut Vec<u8>,
        /// The masking key of each frame (RFC 6455 §5.3), drawn when the
        /// frame is written; `None` for a server, which never masks.
        mask: &'a mut dyn FnMut() -> Option<[u8; 4]>,
    },
}

/// Refuses what `protocol` cannot carry, as the application's mistake:
/// draft-76 has no binary messages, pings or pongs, and its close carries no
/// code (1000, a normal close, is what it means) and no reason; an RFC 6455
/// control frame holds at most 125 bytes, and a close's code and reason
/// must be ones RFC 6455 §7.4 lets an endpoint send.
pub(crate) fn check(protocol: Protocol, message: &Outgoing<'_>) -> Result<(), Misuse> {
    match (protocol, *message) {
        (Protocol::Draft76(_), Outgoing::Text(_)) => Ok(()),
        (Protocol::Draft76(_), Outgoing::Binary(_)) => Err(Misuse::BinaryUnsupported),
        (Protocol::Draft76(_), Outgoing::Ping(_) | Outgoing::Pong(_)) => Err(Misuse::PingUnsupported),
        (Protocol::Draft76(_), Outgoing::Close { code, reason }) => {
            if code.is_none_or(|c| c == 1000) && reason.is_empty() {
                Ok(())
            } else {
                Err(Misuse::CloseCodeUnsupported)
            }
        }
        (Protocol::Rfc6455, Outgoing::Text(_) | Outgoing::Binary(_)) => Ok(()),
        (Protocol::Rfc6455, Outgoing::Ping(data) | Outgoing::Pong(data)) if data.len() > 125 => {
            Err(Misuse::ControlTooLong)
        }
        (Protocol::Rfc6455, Outgoing::Ping(_) | Outgoing::Pong(_)) => Ok(()),
        (Protocol::Rfc6455, Outgoing::Close { code, reason }) => wire::close_payload(code, reason).map(drop),
    }
}

/// Appends `message` as `writer`'s framing puts it on the wire, after
/// [`check`] (nothing is written, and no mask drawn, when it refuses). RFC
/// 6455 sends each message as one frame with FIN set; a text or binary one
/// is compressed, with RSV1 set, when there is a compressor.
pub(crate) fn write(out: &mut Vec<u8>, writer: Writer<'_>, message: Outgoing<'_>) -> Result<(), Misuse> {
    match writer {
        Writer::Draft76(framing) => {
            check(Protocol::Draft76(framing), &message)?;
            match (framing, message) {
                // 'auto' writes 'old', as a server that sends before its
                // client's framing is known commits to it.
                (Framing::Old | Framing::Auto, Outgoing::Text(text)) => old::encode_text(text, out),
                (Framing::New, Outgoing::Text(text)) => new::encode_text(text, out),
                // `check` lets nothing else but a close through.
                (Framing::Old | Framing::Auto, _) => old::encode_close(out),
                (Framing::New, _) => new::encode_close(out),
            }
        }
        Writer::Rfc6455 { compressor, scratch, mask } => {
            check(Protocol::Rfc6455, &message)?;
            let (opcode, payload) = match message {
                Outgoing::Text(text) => (OpCode::Text, text.as_bytes()),
                Outgoing::Binary(data) => (OpCode::Binary, data),
                Outgoing::Ping(data) => (OpCode::Ping, data),
                Outgoing::Pong(data) => (OpCode::Pong, data),
                Outgoing::Close { code, reason } => {
                    let payload = wire::close_payload(code, reason)?;
                    wire::encode_frame(out, true, false, OpCode::Close, &payload, mask());
                    return Ok(());
                }
            };
            match compressor {
                Some(compressor) if !opcode.is_control() => {
                    scratch.clear();
                    compressor.compress_message(payload, scratch);
                    wire::encode_frame(out, true, true, opcode, scratch, mask());
                }
                _ => wire::encode_frame(out, true, false, opcode, payload, mask()),
            }
        }
    }
    Ok(())
}
