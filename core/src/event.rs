//! What a connection tells its driver, the same for every protocol.

use alloc::string::String;
use alloc::vec::Vec;

use crate::config::Protocol;
use crate::error::Error;

/// Something that happened on a connection, drained with
/// [`crate::Connection::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Server: a complete request head arrived. Read it with
    /// [`crate::Connection::request`] and answer with
    /// [`crate::Connection::accept`] or [`crate::Connection::respond`].
    Request(RequestKind),
    /// The opening handshake is complete: messages may flow both ways.
    Open,
    /// A whole text message.
    Text(String),
    /// A whole binary message (RFC 6455 only).
    Binary(Vec<u8>),
    /// Streaming mode ([`crate::Config::streaming`]): the next piece of a
    /// text message, always whole characters.
    TextFragment {
        /// The piece.
        text: String,
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// Streaming mode: the next piece of a binary message.
    BinaryFragment {
        /// The piece.
        data: Vec<u8>,
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// A ping (RFC 6455 only). The pong is sent by the connection.
    Ping(Vec<u8>),
    /// A pong (RFC 6455 only).
    Pong(Vec<u8>),
    /// The connection ended cleanly: the peer's close frame arrived, or (in
    /// draft-76, whose peers may just hang up) the stream ended between
    /// frames. If the peer closed first, the connection is
    /// [`crate::State::Ending`]: the application may still answer the
    /// messages before this event, and [`crate::Connection::finish`] (call
    /// it when the application reaches this event) queues the answering
    /// close. Once [`crate::Connection::state`] is
    /// [`crate::State::Closed`], flush
    /// [`crate::Connection::poll_transmit`], then close the transport.
    Close(Close),
    /// The connection failed; always the last event. Events before this
    /// one stay valid. An error in the peer's input on an open connection
    /// leaves it [`crate::State::Ending`], like a peer's close: the
    /// application may answer the messages before the error, and
    /// [`crate::Connection::finish`] queues the close with the error's
    /// code. Other failures (timeouts, the end of the stream, errors
    /// during the handshake) queue whatever the protocol sends at once (an
    /// HTTP error status, a close frame with a code). Once closed, flush
    /// the transmit buffer and close the transport.
    Error(Error),
}

impl Event {
    /// Bytes of memory the event's payload holds (its allocation, which may
    /// exceed its length): what a queued event costs, for drivers that keep
    /// count of the memory their connections hold
    /// ([`crate::Connection::buffered_bytes`] counts events still queued in
    /// the connection; after `poll_event` they are the driver's).
    pub fn buffered_bytes(&self) -> usize {
        match self {
            Event::Text(text) | Event::TextFragment { text, .. } => text.capacity(),
            Event::Binary(data)
            | Event::BinaryFragment { data, .. }
            | Event::Ping(data)
            | Event::Pong(data) => data.capacity(),
            Event::Close(close) => close.reason.capacity(),
            Event::Request(_) | Event::Open | Event::Error(_) => 0,
        }
    }
}

/// An event as [`crate::Connection::handle_input_with`] hands it over:
/// whole messages, and in streaming mode pieces of binary ones, lent;
/// everything else given.
#[derive(Debug, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// A whole text message, valid for the call.
    Text(&'a str),
    /// A whole binary message (RFC 6455 only), valid for the call.
    Binary(&'a [u8]),
    /// Streaming mode: the next piece of a binary message, valid for the
    /// call ([`Event::BinaryFragment`] lent).
    BinaryFragment {
        /// The piece.
        data: &'a [u8],
        /// Whether the message ends with this piece.
        fin: bool,
    },
    /// Any other event (never [`Event::Text`] or [`Event::Binary`]; a
    /// [`Event::BinaryFragment`] where the piece could not be lent).
    Other(Event),
}

impl EventRef<'_> {
    /// The event as [`crate::Connection::poll_event`] would have given it.
    pub fn into_owned(self) -> Event {
        match self {
            EventRef::Text(text) => Event::Text(String::from(text)),
            EventRef::Binary(data) => Event::Binary(data.to_vec()),
            EventRef::BinaryFragment { data, fin } => Event::BinaryFragment { data: data.to_vec(), fin },
            EventRef::Other(event) => event,
        }
    }
}

/// What a server received, so the application knows how to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A valid WebSocket opening handshake of this protocol: accept it, or
    /// refuse it with an HTTP status.
    WebSocket(Protocol),
    /// An ordinary HTTP request with no upgrade: answer it (a page, a 404),
    /// or refuse it.
    Http,
}

/// How a connection was closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Close {
    /// The close code, where the protocol has one and the peer sent it.
    pub code: Option<u16>,
    /// The close reason (empty when the protocol or the peer gave none).
    pub reason: String,
}
