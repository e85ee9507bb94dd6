//! The connection state machine: every transition lives in this file.
//!
//! A [`Connection`] is one WebSocket connection in one role. It owns no
//! socket, clock or random source: the driver feeds it bytes and time, and
//! drains events and bytes. See the crate documentation for the loop.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::config::{Config, Framing, InvalidUtf8, Protocol, Role};
use crate::entropy::Entropy;
use crate::error::{Error, HandshakeError, LimitError, Misuse, ProtocolError, Stage, Timer};
use crate::event::{Close, Event, EventRef, RequestKind};
use crate::framing::auto::{self, Detection};
use crate::framing::outgoing::{self, Outgoing, Writer};
use crate::framing::rfc6455::deflate::{Compressor, Decompressor};
use crate::framing::rfc6455::{self, wire, Incoming, Lent, PayloadBuffer, ReaderConfig};
use crate::framing::{new, old, Draft76Frame};
use crate::handshake::deflate::DeflateParams;
use crate::handshake::draft76::{self, ANSWER_LEN, KEY3_LEN};
use crate::handshake::http::{
    self, HeadKind, HeadProgress, HeadReader, Header, Headers, RequestHead, ResponseHead,
};
use crate::handshake::response::HttpResponse;
use crate::handshake::rfc6455 as hs6455;
use crate::handshake::target::Target;
use crate::time::Instant;

/// Buffers grown past this many bytes by one large message are freed once
/// it is delivered or sent, so that an idle connection does not keep the
/// memory of its largest message; below it they are kept for the next one,
/// so a stream of small messages does not allocate each time.
const SHRINK_ABOVE: usize = 64 * 1024;

/// The most one byte of permessage-deflate input inflates to: a DEFLATE
/// length code of 258 bytes in one bit at best (RFC 1951 §3.2.5), plus
/// rounding.
const MAX_INFLATE_RATIO: usize = 1032;

/// A connection's life, as a driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The opening handshake is under way.
    Handshaking,
    /// Messages flow both ways.
    Open,
    /// We sent a close and wait for the peer's; messages may still arrive.
    Closing,
    /// The peer is done: its close arrived, or its input failed the
    /// connection, and [`Event::Close`] or [`Event::Error`] says so after
    /// the events before it. Nothing more is read. Sending is still
    /// allowed, so the application can answer what it read before the end;
    /// [`Connection::finish`] (when the application has read up to that
    /// event), [`Connection::close`], or the close deadline then sends the
    /// close that ends the connection.
    Ending,
    /// Over: flush what is queued for transmission and close the transport.
    Closed,
}

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// Where to connect.
    pub target: Target,
    /// RFC 6455 subprotocols to offer, most preferred first. Draft-76 has no
    /// list: at most one, sent as `Sec-WebSocket-Protocol`.
    pub subprotocols: Vec<String>,
    /// Extra headers for the request, such as `Origin` or `Cookie`.
    pub headers: Vec<Header>,
}

impl ClientRequest {
    /// A request for `target` with no subprotocols and no extra headers.
    pub fn new(target: Target) -> Self {
        ClientRequest { target, subprotocols: Vec::new(), headers: Vec::new() }
    }
}

/// A server's acceptance of a WebSocket request: the seed's `conn-headers`
/// hook result, minus the per-connection state, which the driver keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    /// The subprotocol chosen from the client's offer
    /// ([`offered_subprotocols`](crate::handshake::rfc6455::offered_subprotocols)); it must be one of them.
    pub subprotocol: Option<String>,
    /// Headers added to the 101 response. In draft-76, any
    /// `Sec-WebSocket-Origin` or `Sec-WebSocket-Location` here replaces the
    /// one the connection would otherwise derive from the request.
    pub headers: Vec<Header>,
}

/// What a client must check in the response, per protocol.
enum Expectation {
    Draft76(draft76::ClientExpectation),
    Rfc6455(hs6455::ClientExpectation),
}

/// What a server needs to answer a WebSocket request, per protocol.
enum Answer {
    Draft76(draft76::ServerKeys, [u8; KEY3_LEN]),
    Rfc6455(hs6455::ServerOffer),
}

/// Where the connection is.
enum Phase {
    /// Client: reading the response head.
    ClientHead { reader: HeadReader, expect: Expectation },
    /// Client, draft-76: reading the 16-byte answer after the head.
    ClientAnswer { expect: draft76::ClientExpectation, answer: [u8; ANSWER_LEN], have: usize },
    /// Server: reading the request head.
    ServerHead { reader: HeadReader },
    /// Server, draft-76: reading key3 after the head.
    ServerKey3 { keys: draft76::ServerKeys, key3: [u8; KEY3_LEN], have: usize },
    /// Server: `Event::Request` is out; waiting for `accept` or `respond`.
    ServerDecision { kind: RequestKind, answer: Option<Answer> },
    /// Handshake done; frames flow through the codec.
    Open(Codec),
    /// Nothing more comes in.
    Done,
}

/// The framing in use once the handshake is done.
enum Codec {
    /// Draft-76 server with [`Framing::Auto`]: the client's first bytes,
    /// held until they tell its framing (docs/PROTOCOLS.md §3.1).
    Undecided(auto::Prefix),
    Old(old::Decoder),
    New(new::Decoder),
    Rfc6455(Box<Rfc6455>),
}

impl Codec {
    fn protocol(&self) -> Protocol {
        match self {
            Codec::Undecided(_) => Protocol::Draft76(Framing::Auto),
            Codec::Old(_) => Protocol::Draft76(Framing::Old),
            Codec::New(_) => Protocol::Draft76(Framing::New),
            Codec::Rfc6455(_) => Protocol::Rfc6455,
        }
    }
}

/// RFC 6455 state beyond the reader: what we send.
struct Rfc6455 {
    reader: rfc6455::Reader,
    compressor: Option<Compressor>,
    /// Compressed payloads on their way into a frame.
    scratch: Vec<u8>,
    /// The type of the fragmented message we are sending, if any.
    sending_fragmented: Option<wire::OpCode>,
    /// The message being sent is compressed in parts
    /// ([`Connection::send_compressed_part`]).
    sending_compressed: bool,
    /// The frame whose header [`Connection::send_masked_header`] queued and
    /// whose payload the driver is still masking in parts.
    masking: Option<PayloadMask>,
}

/// Where a client is in masking one frame's payload in parts
/// ([`Connection::mask_payload`]): the frame's key, how many payload bytes
/// were masked (the next part's phase), and how many are left.
#[derive(Clone, Copy)]
struct PayloadMask {
    key: [u8; 4],
    done: usize,
    left: usize,
}

impl Rfc6455 {
    /// Bounds the reader by the connection's input allowance, less what
    /// the connection holds outside the reader (`outside`) and our scratch.
    fn bound_reader(&mut self, allowance: usize, outside: usize) {
        if allowance != usize::MAX {
            let others = outside + self.scratch.capacity();
            self.reader.set_allowance(allowance.saturating_sub(others), allowance);
        }
    }
}

/// One WebSocket connection, in one role, without I/O.
///
/// Methods come in five kinds, as in quinn-proto. The states they refer to
/// are [`State`]'s; ARCHITECTURE.md ("Closing", "Writing a driver") draws
/// them.
///
/// **Inputs** (anything the transport or the clock did; never fail, any
/// state, anything they cannot use is dropped):
/// - [`handle_input`](Self::handle_input): bytes read, split anywhere;
///   events are queued for [`poll_event`](Self::poll_event);
/// - [`handle_input_with`](Self::handle_input_with): the same, handing each
///   event to a callback as it happens, whole messages lent (no allocation
///   for a small message); mixable with `handle_input`;
/// - [`handle_payload`](Self::handle_payload): bytes read straight into
///   the buffer [`take_payload_buffer`](Self::take_payload_buffer) lent
///   (the middle of a large binary frame), not copied again; the buffer
///   comes back before any other input;
/// - [`handle_eof`](Self::handle_eof): the transport has no more bytes;
/// - [`handle_timeout`](Self::handle_timeout): the deadline from
///   [`poll_timeout`](Self::poll_timeout) passed.
///
/// **Commands** (what the application asks; each returns
/// `Result<_, Misuse>`, a refusal changes nothing):
/// - server, [`State::Handshaking`] after [`Event::Request`]:
///   [`accept`](Self::accept), [`respond`](Self::respond);
/// - [`State::Open`] and [`State::Ending`] (the peer is done but the
///   application may still answer): [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary),
///   [`send_fragment`](Self::send_fragment), [`send_ping`](Self::send_ping),
///   [`send_pong`](Self::send_pong),
///   [`send_verbatim_header`](Self::send_verbatim_header) and
///   [`send_masked_header`](Self::send_masked_header) with
///   [`mask_payload`](Self::mask_payload) (a large payload the driver
///   writes itself), [`close`](Self::close) (in `Ending`: the answer, with
///   the application's code);
/// - [`go_away`](Self::go_away): this end is leaving, in the words of the
///   protocol in use (`Open`: a close, 1001 in RFC 6455; `Ending`:
///   [`finish`](Self::finish); refused while handshaking);
/// - [`finish`](Self::finish): the application has read up to
///   [`Event::Close`] / [`Event::Error`]: send the close owed (does nothing
///   outside `Ending`, so a driver calls it whenever its application reaches
///   the end);
/// - [`fail_limit`](Self::fail_limit): a limit the driver keeps was passed
///   by the peer (never refused).
///
/// **Pollers**, after every input or command, in this order:
/// [`poll_event`](Self::poll_event) until `None` (or
/// [`peek_event`](Self::peek_event) to look first); taking an event changes
/// nothing else, so a driver may queue events for its application;
/// [`poll_transmit`](Self::poll_transmit), and write what it gives before
/// anything later; [`poll_timeout`](Self::poll_timeout), to know when to
/// call `handle_timeout`. Once [`state`](Self::state) is [`State::Closed`]
/// and the transmit buffer is written, close the transport.
///
/// **Memory** (for drivers that share a budget between connections):
/// [`buffered_bytes`](Self::buffered_bytes), what the connection holds;
/// [`input_bound`](Self::input_bound), the most the next read can make it
/// hold; [`set_input_allowance`](Self::set_input_allowance), the bound past
/// which input fails it (1009); [`pending_transmit`](Self::pending_transmit),
/// output not yet taken.
///
/// **Getters**: [`role`](Self::role), [`state`](Self::state),
/// [`protocol`](Self::protocol), [`request`](Self::request),
/// [`response`](Self::response), [`subprotocol`](Self::subprotocol),
/// [`deflate`](Self::deflate).
///
/// The end, from either side: the application's [`close`](Self::close)
/// moves `Open` to `Closing` (messages may still arrive) and the peer's
/// answer to `Closed`; the peer's close, or an error in its input, moves
/// `Open` to `Ending` after the events before it, and
/// [`finish`](Self::finish), `close`, or the close deadline to `Closed`.
/// Timeouts, the end of the stream and handshake errors close at once.
/// [`Event::Close`] or [`Event::Error`] is always the last event.
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    protocol: Option<Protocol>,
    request: Option<RequestHead>,
    response: Option<ResponseHead>,
    /// Client: what followed a refused response's head in its input.
    refused_body: Vec<u8>,
    subprotocol: Option<String>,
    deflate: Option<DeflateParams>,
    events: VecDeque<Event>,
    /// What the payloads of `events` hold ([`Event::buffered_bytes`]).
    event_bytes: usize,
    /// Most bytes [`buffered_bytes`](Self::buffered_bytes) may reach while
    /// input is taken; `usize::MAX` when the driver set none.
    input_allowance: usize,
    transmit: Vec<u8>,
    /// Input that arrived while the server application was deciding.
    deferred: Vec<u8>,
    /// The stream ended while the server application was deciding.
    deferred_eof: bool,
    sent_close: bool,
    /// The peer is done ([`State::Ending`]): the close we owe it, sent by
    /// [`finish`](Self::finish) once the application has read every event
    /// before the end, so that messages that arrived before it (in the same
    /// read) can still be answered. RFC 6455 §5.5.1 lets an endpoint finish
    /// what it is sending before it echoes a close, and §7.1.7 only asks
    /// that a failing endpoint stop reading and send its close.
    ending: Option<Ending>,
    handshake_deadline: Option<Instant>,
    close_deadline: Option<Instant>,
    last_input: Instant,
    /// When the unanswered keepalive ping went out.
    keepalive_sent: Option<Instant>,
    /// Masking keys (RFC 6455 client) and handshake keys come from here.
    entropy: Option<Box<dyn Entropy + Send>>,
    /// The framing [`Framing::Auto`] chose, until the client's first frame
    /// is read whole: an error in that frame is reported as
    /// [`Error::FramingMismatch`].
    auto_chose: Option<Framing>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A client connection whose opening request is queued for transmission
    /// at once. `now` starts the handshake deadline; `entropy` provides the
    /// keys (and, in RFC 6455, a masking key for every frame).
    pub fn client(
        now: Instant,
        config: Config,
        request: ClientRequest,
        mut entropy: Box<dyn Entropy + Send>,
    ) -> Result<Self, Error> {
        http::check_writable(&request.headers)?;
        let mut headers = request.headers;
        let mut transmit = Vec::with_capacity(256);
        let expect = match config.protocol {
            Protocol::Draft76(_) => {
                match request.subprotocols.as_slice() {
                    [] => {}
                    [one] => headers.push(Header::new("Sec-WebSocket-Protocol", one.as_str())),
                    _ => return Err(Misuse::SubprotocolList.into()),
                }
                http::check_writable(&headers)?;
                Expectation::Draft76(draft76::write_client_request(
                    &request.target,
                    &headers,
                    &mut *entropy,
                    &mut transmit,
                ))
            }
            Protocol::Rfc6455 => {
                let tokens = request.subprotocols.iter();
                if tokens.clone().any(|p| p.is_empty() || !p.bytes().all(http::is_token_byte)) {
                    return Err(Misuse::InvalidHeader.into());
                }
                Expectation::Rfc6455(hs6455::write_client_request(
                    &request.target,
                    &request.subprotocols,
                    config.deflate.as_ref(),
                    &headers,
                    &mut *entropy,
                    &mut transmit,
                ))
            }
        };
        let sent = RequestHead {
            line: alloc::format!("GET {} HTTP/1.1", request.target.resource),
            method: "GET".into(),
            target: request.target.resource,
            minor_version: 1,
            headers: Headers(headers),
        };
        let limits = config.limits;
        // A client has nothing to tell a framing from: 'auto' speaks 'old'.
        let protocol = match config.protocol {
            Protocol::Draft76(Framing::Auto) => Protocol::Draft76(Framing::Old),
            other => other,
        };
        Ok(Connection {
            protocol: Some(protocol),
            phase: Phase::ClientHead {
                reader: HeadReader::new(HeadKind::Response, limits.max_handshake_bytes, limits.max_headers),
                expect,
            },
            request: Some(sent),
            transmit,
            entropy: Some(entropy),
            ..Connection::base(now, config, Role::Client)
        })
    }

    /// A server connection waiting for its client's request. `now` starts
    /// the handshake deadline.
    pub fn server(now: Instant, config: Config) -> Self {
        let limits = config.limits;
        Connection {
            phase: Phase::ServerHead {
                reader: HeadReader::new(HeadKind::Request, limits.max_handshake_bytes, limits.max_headers),
            },
            ..Connection::base(now, config, Role::Server)
        }
    }

    fn base(now: Instant, config: Config, role: Role) -> Self {
        Connection {
            role,
            handshake_deadline: config.timeouts.handshake.map(|t| now + t),
            config,
            phase: Phase::Done,
            protocol: None,
            request: None,
            response: None,
            refused_body: Vec::new(),
            subprotocol: None,
            deflate: None,
            events: VecDeque::new(),
            event_bytes: 0,
            input_allowance: usize::MAX,
            transmit: Vec::new(),
            deferred: Vec::new(),
            deferred_eof: false,
            sent_close: false,
            ending: None,
            close_deadline: None,
            last_input: now,
            keepalive_sent: None,
            entropy: None,
            auto_chose: None,
        }
    }

    // ----- getters -------------------------------------------------------

    /// Which end this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration the connection was made with: drivers read the
    /// bounds they keep themselves from it ([`Limits::output_high_water`],
    /// [`Timeouts::linger`], ...).
    ///
    /// [`Limits::output_high_water`]: crate::Limits::output_high_water
    /// [`Timeouts::linger`]: crate::Timeouts::linger
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Open(_) if self.ending.is_some() => State::Ending,
            Phase::Open(_) if self.sent_close => State::Closing,
            Phase::Open(_) => State::Open,
            Phase::Done => State::Closed,
            _ => State::Handshaking,
        }
    }

    /// The protocol spoken: known from the start for a client, once the
    /// request is read for a server. A draft-76 server with
    /// [`Framing::Auto`] says `Draft76(Auto)` until the client's first
    /// bytes (or the application's first send) decide, then the framing
    /// chosen.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// The opening request: the one received (server) or sent (client;
    /// without the headers the handshake itself adds).
    pub fn request(&self) -> Option<&RequestHead> {
        self.request.as_ref()
    }

    /// The opening response: the one sent (server) or received (client).
    pub fn response(&self) -> Option<&ResponseHead> {
        self.response.as_ref()
    }

    /// Client: the bytes that came after a refused response's head
    /// ([`Error::Rejected`]) in the input that completed it, at most
    /// [`Limits::max_handshake_bytes`](crate::Limits::max_handshake_bytes):
    /// the start of the refusal's body. The driver may read on for the
    /// rest (see the response's `Content-Length`); the core reads no more.
    pub fn refused_body(&self) -> &[u8] {
        &self.refused_body
    }

    /// The subprotocol both ends agreed on, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The permessage-deflate agreement, if compression is on.
    pub fn deflate(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// Bytes of memory the connection holds for data in transit, counted
    /// by allocation: the message being received (RFC 6455, inflated, and
    /// the reader's scratch; or draft-76 text in either framing), events
    /// not yet taken, bytes queued for the peer and the compressed copy of
    /// the last message sent, input held while a server decides. What
    /// grows with traffic, and what
    /// [`set_input_allowance`](Self::set_input_allowance) bounds; not the
    /// fixed per-connection state (the handshake head reader, up to
    /// `max_handshake_bytes`; with permessage-deflate ~300 KiB of
    /// compressor and ~43 KiB of decompressor).
    pub fn buffered_bytes(&self) -> usize {
        let codec = match &self.phase {
            Phase::Open(Codec::Rfc6455(c)) => c.reader.buffered_bytes() + c.scratch.capacity(),
            Phase::Open(Codec::Old(d)) => d.buffered_bytes(),
            Phase::Open(Codec::New(d)) => d.buffered_bytes(),
            Phase::Open(Codec::Undecided(prefix)) => prefix.as_slice().len(),
            _ => 0,
        };
        codec + self.held_outside_codec()
    }

    /// What [`buffered_bytes`](Self::buffered_bytes) counts outside the
    /// framing's reader: events, output, deferred input.
    fn held_outside_codec(&self) -> usize {
        let queue = self.events.capacity() * core::mem::size_of::<Event>();
        queue + self.event_bytes + self.transmit.capacity() + self.deferred.capacity()
    }

    /// The most [`buffered_bytes`](Self::buffered_bytes) can grow while
    /// [`handle_input`](Self::handle_input) takes `len` bytes under an
    /// allowance: with permessage-deflate a byte may inflate a
    /// thousandfold, and a message's buffer grows ahead of its bytes by up
    /// to what the allowance leaves. A driver sharing a memory budget
    /// between connections reserves this much (or what is left) before the
    /// call and returns what the call did not use.
    ///
    /// Draft-76 text is stored once as it arrives, so its bound is `len`
    /// and the slack (which also covers the copy a mid-sized message may
    /// take on its way to a `String`, at most 64 KiB), except that with
    /// [`InvalidUtf8::Replace`] a finished message with invalid UTF-8 is
    /// copied with each bad byte made three: up to three times what is
    /// held of it, within `max_message_size`. (In [`Config::streaming`]
    /// mode text is replaced piece by piece as it arrives, within the
    /// slack.)
    pub fn input_bound(&self, len: usize) -> usize {
        let ratio = if self.deflate.is_some() { MAX_INFLATE_RATIO } else { 1 };
        // Scratch for one piece unmasked and one inflated, a pong or two.
        let slack = 3 * 32 * 1024;
        let draft76 = matches!(self.protocol, Some(Protocol::Draft76(_)));
        let whole = !self.config.streaming;
        let replaced = if draft76 && whole && self.config.invalid_utf8 == InvalidUtf8::Replace {
            let held = match &self.phase {
                Phase::Open(Codec::Old(d)) => d.buffered_bytes(),
                Phase::Open(Codec::New(d)) => d.buffered_bytes(),
                _ => 0,
            };
            held.saturating_add(len).saturating_mul(3).min(self.config.limits.max_message_size)
        } else {
            0
        };
        len.saturating_mul(ratio).saturating_add(slack).saturating_add(replaced)
    }

    // ----- pollers -------------------------------------------------------

    /// The next event, oldest first. Taking an event changes nothing else:
    /// the close owed for a peer's [`Event::Close`] or [`Event::Error`]
    /// waits for [`finish`](Self::finish), so a driver may queue events for
    /// its application as it likes.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if let Some(event) = &event {
            self.event_bytes -= event.buffered_bytes();
        } else if self.events.capacity() * core::mem::size_of::<Event>() > SHRINK_ABOVE {
            // A burst of small messages grew the queue: give it back.
            self.events = VecDeque::new();
        }
        event
    }

    /// The next event, without taking it.
    #[must_use]
    pub fn peek_event(&self) -> Option<&Event> {
        self.events.front()
    }

    /// Moves every byte queued for the peer to the end of `buf` and returns
    /// how many. Given an empty `buf`, the connection's own buffer is swapped
    /// in without copying.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.transmit.len();
        if buf.is_empty() {
            core::mem::swap(buf, &mut self.transmit);
        } else {
            buf.append(&mut self.transmit);
        }
        if self.transmit.capacity() > SHRINK_ABOVE {
            self.transmit = Vec::new();
        }
        n
    }

    /// How many bytes are queued for the peer, so a driver can stop
    /// accepting sends while a slow peer lets them pile up.
    pub fn pending_transmit(&self) -> usize {
        self.transmit.len()
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(at, _)| at)
    }

    /// The earliest armed timer and what it does when it fires.
    fn next_timer(&self) -> Option<(Instant, TimerAction)> {
        use TimerAction::{Fail, Ping};
        let t = &self.config.timeouts;
        let after = |base: Instant, d: Option<core::time::Duration>| d.map(|d| base + d);
        let (first, second) = match self.state() {
            // Nothing is awaited from a peer that is done; the application
            // has until the close deadline to answer what it read.
            State::Ending => (self.close_deadline.map(|at| (at, TimerAction::Finish)), None),
            State::Handshaking => (self.handshake_deadline.map(|at| (at, Fail(Timer::Handshake))), None),
            State::Closing => (
                self.close_deadline.map(|at| (at, Fail(Timer::Close))),
                after(self.last_input, t.idle).map(|at| (at, Fail(Timer::Idle))),
            ),
            State::Closed => (None, None),
            State::Open => {
                let idle = after(self.last_input, t.idle).map(|at| (at, Fail(Timer::Idle)));
                let keepalive = match (&self.phase, self.keepalive_sent) {
                    // Only a prefix that is whole in both framings waits
                    // for silence; any other waits for more bytes.
                    (Phase::Open(Codec::Undecided(prefix)), _) => match prefix.detection() {
                        Detection::Ambiguous => after(self.last_input, t.framing_silence)
                            .map(|at| (at, TimerAction::DecideFraming)),
                        _ => None,
                    },
                    _ if !self.is_rfc6455() => None,
                    (_, None) => after(self.last_input, t.keepalive).map(|at| (at, Ping)),
                    (_, Some(sent)) => match t.keepalive_timeout {
                        Some(wait) => Some((sent + wait, Fail(Timer::Keepalive))),
                        // Without a deadline for the answer, keep pinging.
                        None => after(sent, t.keepalive).map(|at| (at, Ping)),
                    },
                };
                (idle, keepalive)
            }
        };
        [first, second].into_iter().flatten().min_by_key(|(at, _)| *at)
    }

    fn is_rfc6455(&self) -> bool {
        matches!(self.phase, Phase::Open(Codec::Rfc6455(_)))
    }

    // ----- inputs --------------------------------------------------------

    /// Bounds what [`buffered_bytes`](Self::buffered_bytes) may reach while
    /// later input is taken, until called again (`usize::MAX`, the
    /// default: no bound). Input that would take the connection's buffers
    /// past it fails the connection with [`LimitError::OverAllowance`]
    /// (close code 1009, like a message too big) before the memory is
    /// allocated; inflated data is checked as it is inflated, so a deflate
    /// bomb stops at the allowance. Already queued output counts, so a
    /// connection whose peer does not read takes less input. For a driver
    /// that shares a memory budget between connections: before each input,
    /// set `buffered_bytes()` plus what it reserved for this connection
    /// (see [`input_bound`](Self::input_bound)).
    ///
    /// Draft-76 text, in either framing, is bounded the same way; the
    /// draft has no close codes, so the connection fails with the same
    /// error and nothing is sent, as for a message over
    /// `max_message_size`.
    pub fn set_input_allowance(&mut self, bytes: usize) {
        self.input_allowance = bytes;
    }

    /// Queues an event, counting what its payload holds.
    fn push_event(&mut self, event: Event) {
        self.event_bytes += event.buffered_bytes();
        self.events.push_back(event);
    }

    /// Feeds bytes read from the transport at time `now`, split anywhere.
    /// Every byte is taken (the connection keeps what it cannot use yet).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.last_input = self.last_input.max(now);
        self.keepalive_sent = None;
        let mut input = data;
        if let Err(error) = self.process(&mut input, None) {
            self.failed_on_input(error, input);
        }
    }

    /// What both input paths do when `process` fails: a refusal keeps the
    /// start of its body (`rest`, what followed the head in this input;
    /// see [`refused_body`](Self::refused_body)), and the connection fails.
    fn failed_on_input(&mut self, error: Error, rest: &[u8]) {
        if matches!(error, Error::Rejected { .. }) {
            let kept = rest.len().min(self.config.limits.max_handshake_bytes);
            self.refused_body = rest[..kept].to_vec();
        }
        self.fail_on_input(error);
    }

    /// [`handle_input`](Self::handle_input), handing every event to
    /// `on_event` as it happens (after any events still queued) instead of
    /// queueing it. Messages are lent rather than given: a small message
    /// that arrived whole is read straight from `data` (or unmasked into a
    /// buffer the connection reuses) without allocating, which is most of
    /// the cost of a small message; in streaming mode, so are the pieces
    /// of an uncompressed binary message (straight from `data`, or
    /// unmasked into that buffer a piece at a time). For applications that consume each
    /// message where it lands (parse it, forward it); `on_event` cannot
    /// reach the connection, so replies are sent after this returns.
    ///
    /// Handing over an event counts as taking it (see
    /// [`poll_event`](Self::poll_event)): the end of the connection still
    /// waits for [`finish`](Self::finish).
    pub fn handle_input_with(&mut self, now: Instant, data: &[u8], on_event: &mut dyn FnMut(EventRef<'_>)) {
        self.drain_to(on_event);
        if !data.is_empty() {
            self.last_input = self.last_input.max(now);
            self.keepalive_sent = None;
            let mut input = data;
            if let Err(error) = self.process(&mut input, Some(&mut *on_event)) {
                self.failed_on_input(error, input);
            }
        }
        self.drain_to(on_event);
    }

    /// Lends the buffer of the message being received, for the driver to
    /// read the current frame's next payload bytes into, so that they are
    /// not read into the driver's buffer and copied again: `Some` in the
    /// middle of an RFC 6455 binary frame, not compressed, in whole mode,
    /// with at least `at_least` bytes still to come. Pass the size of the
    /// driver's own read buffer: below that, one read into it takes the
    /// frame's end and what follows together.
    ///
    /// The room lent is memory for bytes that have not arrived, so it is
    /// not sized by the length the frame declares: at least `at_least`
    /// bytes, and up to three times what the message holds (so that a
    /// large message is copied fewer times as it grows than the doubling
    /// of [`handle_input`](Self::handle_input) copies it), within the input
    /// allowance, never past the frame's end.
    ///
    /// Read into the front of [`PayloadBuffer::room`] (or append to
    /// [`PayloadBuffer::append_to`], which is not zeroed first), then hand
    /// the buffer back with [`handle_payload`](Self::handle_payload) before
    /// any other input (a read that failed or timed out hands it back with
    /// 0 bytes).
    /// Meanwhile it counts in [`buffered_bytes`](Self::buffered_bytes);
    /// other input fails the connection with [`Misuse::PayloadBuffer`].
    pub fn take_payload_buffer(&mut self, at_least: usize) -> Option<PayloadBuffer> {
        self.take_payload_buffer_reusing(at_least, &mut Vec::new())
    }

    /// [`take_payload_buffer`](Self::take_payload_buffer), offered a buffer
    /// the driver has no more use for (say, a large message it finished
    /// writing; its contents are ignored): when the message must grow and
    /// `spare` has the capacity it would grow to, what arrived is copied
    /// into `spare` and the message goes on there, and its old, smaller
    /// buffer comes back in `spare`, empty. Growing a large message by
    /// reallocation copies all that arrived each time, and a fresh
    /// allocation of its whole size costs a page fault per page; memory
    /// already owned costs neither.
    ///
    /// A spare larger than what arrived is held as the message's buffer
    /// for as long as the message lasts: it is used only within the input
    /// allowance and up to twice the length the message will have when
    /// the current frame ends.
    pub fn take_payload_buffer_reusing(
        &mut self,
        at_least: usize,
        spare: &mut Vec<u8>,
    ) -> Option<PayloadBuffer> {
        // Asked after every read: between frames, answered at once.
        let Phase::Open(Codec::Rfc6455(c)) = &self.phase else {
            return None;
        };
        if self.ending.is_some() || !c.reader.in_data_frame() {
            return None;
        }
        let outside = self.held_outside_codec();
        let Phase::Open(Codec::Rfc6455(c)) = &mut self.phase else {
            unreachable!("matched above");
        };
        c.bound_reader(self.input_allowance, outside);
        c.reader.take_payload_buffer_reusing(at_least, spare)
    }

    /// The capacities a spare buffer may have for
    /// [`take_payload_buffer_reusing`](Self::take_payload_buffer_reusing)
    /// to move the message being received into it now, with `at_least` as
    /// it would be given, the input allowance aside; `None` when no spare
    /// would be taken (no binary frame in progress to lend for, or the
    /// message has the room already). For a driver that draws on a memory
    /// budget: since a move happens only within the allowance, it reserves
    /// a spare's capacity and raises the allowance
    /// ([`set_input_allowance`](Self::set_input_allowance)) only for a
    /// spare that would be taken.
    pub fn spare_wanted(&self, at_least: usize) -> Option<core::ops::RangeInclusive<usize>> {
        match &self.phase {
            Phase::Open(Codec::Rfc6455(c)) if self.ending.is_none() => c.reader.spare_wanted(at_least),
            _ => None,
        }
    }

    /// Takes back the buffer [`take_payload_buffer`] lent, with `n` bytes
    /// read from the transport at time `now` into the front of its room:
    /// the same as [`handle_input`](Self::handle_input) given those bytes,
    /// without copying them. If the connection ended meanwhile, the buffer
    /// is dropped. `n` past the room, or a buffer not lent by this
    /// connection, fails it with a [`Misuse`].
    ///
    /// [`take_payload_buffer`]: Self::take_payload_buffer
    pub fn handle_payload(&mut self, now: Instant, buffer: PayloadBuffer, n: usize) {
        if n > 0 {
            self.last_input = self.last_input.max(now);
            self.keepalive_sent = None;
        }
        let outside = self.held_outside_codec();
        let Phase::Open(Codec::Rfc6455(c)) = &mut self.phase else {
            return;
        };
        if self.ending.is_some() {
            c.reader.forget_lent();
            return;
        }
        c.bound_reader(self.input_allowance, outside);
        let result = c.reader.commit_payload(buffer, n).and_then(|incoming| {
            if let Some(incoming) = incoming {
                self.on_rfc6455(incoming);
                self.check_allowance()?;
            }
            Ok(())
        });
        if let Err(error) = result {
            self.fail_on_input(error);
        }
    }

    /// Hands every queued event to `on_event`, as `poll_event` would.
    fn drain_to(&mut self, on_event: &mut dyn FnMut(EventRef<'_>)) {
        while let Some(event) = self.poll_event() {
            match event {
                Event::Text(text) => on_event(EventRef::Text(&text)),
                Event::Binary(data) => on_event(EventRef::Binary(&data)),
                other => on_event(EventRef::Other(other)),
            }
        }
    }

    /// Server: takes a request head that the transport's own HTTP parser
    /// read already (an HTTP server that hands upgrade requests over, as
    /// Node's `'upgrade'` event does), as if its bytes had arrived through
    /// [`handle_input`](Self::handle_input): the request is checked and
    /// told apart the same way, under the same limits, and
    /// [`Event::Request`] (or the error, and the status that answers it)
    /// follows. `line` is the request line without its line ending
    /// (`GET /chat HTTP/1.1`), `headers` the header lines in order. The
    /// bytes that followed the head (a draft-76 key3, early frames) go to
    /// `handle_input` afterwards.
    ///
    /// Only for a server that has read nothing yet; otherwise it refuses
    /// with [`Misuse::NoPendingRequest`] and changes nothing.
    pub fn handle_request_head(&mut self, now: Instant, line: &str, headers: Headers) -> Result<(), Misuse> {
        let Phase::ServerHead { reader } = &self.phase else {
            return Err(Misuse::NoPendingRequest);
        };
        if !reader.is_empty() {
            return Err(Misuse::NoPendingRequest);
        }
        self.last_input = self.last_input.max(now);
        self.phase = Phase::Done;
        let limits = self.config.limits;
        let result = http::parsed_request(line, headers, limits.max_handshake_bytes, limits.max_headers)
            .and_then(|request| self.on_request_head(request));
        if let Err(error) = result {
            self.fail_on_input(error);
        }
        Ok(())
    }

    /// Tells the connection the transport has no more bytes to give.
    pub fn handle_eof(&mut self) {
        let result = match &self.phase {
            Phase::ServerDecision { .. } => {
                self.deferred_eof = true;
                return;
            }
            Phase::Done => return,
            // The stream may end right after the peer's close.
            _ if self.ending.is_some() => return,
            // The end of the stream is the silence that decides a prefix
            // whole in both framings; any other is read as 'old' (what an
            // empty one is makes no difference).
            Phase::Open(Codec::Undecided(prefix)) => {
                self.commit(auto::decide_on_silence(prefix.as_slice()));
                return self.handle_eof();
            }
            // Draft-76 peers may hang up between frames (and Racket does
            // right after its close frame): that is the end of the stream.
            Phase::Open(Codec::Old(d)) => d.check_eof().map(|()| self.finish_clean(Close::default())),
            Phase::Open(Codec::New(d)) => d.check_eof().map(|()| self.finish_clean(Close::default())),
            // RFC 6455 ends with a close handshake; anything else is an
            // abnormal closure (1006).
            Phase::Open(Codec::Rfc6455(c)) if c.reader.at_boundary() => {
                Err(Error::UnexpectedEof(if self.sent_close { Stage::Closing } else { Stage::Open }))
            }
            Phase::Open(Codec::Rfc6455(_)) => Err(Error::UnexpectedEof(Stage::Frame)),
            _ => Err(Error::UnexpectedEof(Stage::Handshake)),
        };
        if let Err(error) = result {
            self.fail(error);
        }
    }

    /// Tells the connection the time is `now`: fails it if a deadline has
    /// passed, or sends a keepalive ping when one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some((at, action)) = self.next_timer() else {
            return;
        };
        if at > now {
            return;
        }
        match action {
            TimerAction::Fail(timer) => self.fail(Error::Timeout(timer)),
            TimerAction::Finish => self.finish(),
            TimerAction::DecideFraming => {
                if let Phase::Open(Codec::Undecided(prefix)) = &self.phase {
                    self.commit(auto::decide_on_silence(prefix.as_slice()));
                }
            }
            TimerAction::Ping => {
                self.keepalive_sent = Some(now);
                self.write_frame(wire::OpCode::Ping, &[], true, false);
            }
        }
    }

    // ----- commands ------------------------------------------------------

    /// Accepts the pending WebSocket request.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Misuse> {
        http::check_writable(&accept.headers)?;
        let (
            Phase::ServerDecision { kind: RequestKind::WebSocket(protocol), answer: Some(answer) },
            Some(request),
        ) = (&self.phase, &self.request)
        else {
            return Err(Misuse::NoPendingRequest);
        };
        if let Some(chosen) = &accept.subprotocol {
            if !hs6455::offered_subprotocols(request).contains(&chosen.as_str()) {
                return Err(Misuse::SubprotocolNotOffered);
            }
        }
        let protocol = *protocol;
        let mut app_headers = accept.headers;
        let (headers, codec) = match (protocol, answer) {
            (Protocol::Draft76(framing), Answer::Draft76(keys, key3)) => {
                if let Some(p) = &accept.subprotocol {
                    app_headers.push(Header::new("Sec-WebSocket-Protocol", p.as_str()));
                }
                let headers = draft76::write_server_response(
                    request,
                    keys,
                    key3,
                    self.config.secure,
                    &app_headers,
                    &mut self.transmit,
                );
                (headers, self.draft76_codec(framing))
            }
            (Protocol::Rfc6455, Answer::Rfc6455(offer)) => {
                let agreed = hs6455::negotiate_extensions(request, self.config.deflate.as_ref());
                let headers = hs6455::write_server_response(
                    offer,
                    accept.subprotocol.as_deref(),
                    agreed.as_ref().map(|(_, value)| value.as_str()),
                    &app_headers,
                    &mut self.transmit,
                );
                self.deflate = agreed.map(|(params, _)| params);
                (headers, self.rfc6455_codec())
            }
            _ => return Err(Misuse::NoPendingRequest),
        };
        let (line, reason) = match protocol {
            Protocol::Draft76(_) => {
                ("HTTP/1.1 101 WebSocket Protocol Handshake", "WebSocket Protocol Handshake")
            }
            Protocol::Rfc6455 => ("HTTP/1.1 101 Switching Protocols", "Switching Protocols"),
        };
        self.response = Some(ResponseHead {
            line: line.into(),
            minor_version: 1,
            status: 101,
            reason: reason.into(),
            headers: Headers(headers),
        });
        self.subprotocol = accept.subprotocol;
        self.open(codec);
        let deferred = core::mem::take(&mut self.deferred);
        let mut input = &deferred[..];
        if let Err(error) = self.process(&mut input, None) {
            self.fail_on_input(error);
        }
        if core::mem::take(&mut self.deferred_eof) {
            self.handle_eof();
        }
        Ok(())
    }

    /// Answers the pending request with a plain HTTP response (a refusal of
    /// a WebSocket request, or a page for a plain one) and ends the
    /// connection.
    pub fn respond(&mut self, response: HttpResponse) -> Result<(), Misuse> {
        if !matches!(self.phase, Phase::ServerDecision { .. }) {
            return Err(Misuse::NoPendingRequest);
        }
        response.check()?;
        self.response = Some(response.write(&mut self.transmit));
        self.phase = Phase::Done;
        self.deferred = Vec::new();
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Misuse> {
        self.send(Outgoing::Text(text))
    }

    /// Queues a binary message. Draft-76 has none: that is an error, never a
    /// silent drop.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Misuse> {
        self.send(Outgoing::Binary(data))
    }

    /// Queues only the header of a message of `len` payload bytes whose
    /// payload goes on the wire exactly as the application holds it, for a
    /// driver that writes those bytes itself, straight from the
    /// application's buffer, instead of having them copied into the
    /// transmit buffer: for a large message that copy (and the fresh buffer
    /// it needs) is most of what sending costs in user space.
    ///
    /// The payload is verbatim only in an RFC 6455 server's frames without
    /// permessage-deflate: a client masks, deflate compresses, draft-76
    /// frames text differently and has no binary. Anywhere else this queues
    /// nothing and returns `Ok(false)`: send with
    /// [`send_binary`](Self::send_binary) or [`send_text`](Self::send_text).
    /// After `Ok(true)` the driver must write what
    /// [`poll_transmit`](Self::poll_transmit) gives, then exactly `len`
    /// payload bytes (valid UTF-8 if not `binary`), before any byte the
    /// connection queues later.
    pub fn send_verbatim_header(&mut self, binary: bool, len: usize) -> Result<bool, Misuse> {
        let Codec::Rfc6455(c) = self.sendable()? else {
            return Ok(false);
        };
        if c.sending_fragmented.is_some() {
            return Err(Misuse::MessageInProgress);
        }
        if self.role == Role::Client || c.compressor.is_some() {
            return Ok(false);
        }
        let opcode = if binary { wire::OpCode::Binary } else { wire::OpCode::Text };
        let header = wire::FrameHeader::outgoing(true, false, opcode, len as u64, None);
        header.encode(&mut self.transmit);
        Ok(true)
    }

    /// The client's twin of [`send_verbatim_header`](Self::send_verbatim_header):
    /// queues the header of one frame carrying a whole message of `len`
    /// payload bytes, with a fresh masking key, whose payload the driver
    /// masks with [`mask_payload`](Self::mask_payload), part by part in
    /// order, and writes itself. So a large message goes out as one frame,
    /// each part crossing into the driver's memory once, masked in place,
    /// instead of being copied into the transmit buffer as it is masked
    /// (or sent as many fragments, one such copy each, by a driver that
    /// keeps large messages out of the core's memory).
    ///
    /// Only a client without permessage-deflate masks a payload it is
    /// given as it is: anywhere else this queues nothing and returns
    /// `Ok(false)` (a server: [`send_verbatim_header`](Self::send_verbatim_header)).
    /// After `Ok(true)` the driver must write what
    /// [`poll_transmit`](Self::poll_transmit) gives, then exactly the `len`
    /// masked payload bytes (valid UTF-8 before masking if not `binary`),
    /// before any byte the connection queues later; until every payload
    /// byte has been masked, the connection refuses to send anything else
    /// ([`Misuse::MessageInProgress`]), since no frame may come inside
    /// another.
    pub fn send_masked_header(&mut self, binary: bool, len: usize) -> Result<bool, Misuse> {
        let Codec::Rfc6455(c) = self.sendable()? else {
            return Ok(false);
        };
        if c.sending_fragmented.is_some() {
            return Err(Misuse::MessageInProgress);
        }
        if self.role == Role::Server || c.compressor.is_some() {
            return Ok(false);
        }
        let Some(key) = draw_mask(self.role, &mut self.entropy) else {
            return Ok(false);
        };
        let opcode = if binary { wire::OpCode::Binary } else { wire::OpCode::Text };
        wire::FrameHeader::outgoing(true, false, opcode, len as u64, Some(key)).encode(&mut self.transmit);
        if len > 0 {
            if let Phase::Open(Codec::Rfc6455(c)) = &mut self.phase {
                c.masking = Some(PayloadMask { key, done: 0, left: len });
            }
        }
        Ok(true)
    }

    /// Masks, in place, the next part of the payload whose header
    /// [`send_masked_header`](Self::send_masked_header) queued, at its
    /// offset in the frame (the parts may be cut anywhere); returns how
    /// many bytes of `part` it masked: all of them, or only the rest of the
    /// payload when `part` is longer (the bytes after it are left as they
    /// are), and 0 when no payload is waiting to be masked.
    pub fn mask_payload(&mut self, part: &mut [u8]) -> usize {
        let Phase::Open(Codec::Rfc6455(c)) = &mut self.phase else {
            return 0;
        };
        let Some(mask) = &mut c.masking else {
            return 0;
        };
        let n = part.len().min(mask.left);
        wire::apply_mask(&mut part[..n], mask.key, mask.done);
        mask.done += n;
        mask.left -= n;
        if mask.left == 0 {
            c.masking = None;
        }
        n
    }

    /// Queues one fragment of a message sent in pieces (RFC 6455 only):
    /// the first fragment's `binary` sets the message type, later ones must
    /// repeat it, and `fin` ends the message. Fragments go uncompressed;
    /// pings and pongs may be sent between them.
    pub fn send_fragment(&mut self, binary: bool, data: &[u8], fin: bool) -> Result<(), Misuse> {
        let opcode = if binary { wire::OpCode::Binary } else { wire::OpCode::Text };
        let Codec::Rfc6455(c) = self.sendable_mut()? else {
            return Err(Misuse::FragmentsUnsupported);
        };
        if c.sending_compressed {
            return Err(Misuse::MessageInProgress);
        }
        let wire_opcode = match c.sending_fragmented {
            None => opcode,
            Some(started) if started == opcode => wire::OpCode::Continuation,
            Some(_) => return Err(Misuse::FragmentTypeChanged),
        };
        c.sending_fragmented = if fin { None } else { Some(opcode) };
        self.write_frame(wire_opcode, data, fin, false);
        Ok(())
    }

    /// Queues one part of a message compressed with permessage-deflate and
    /// given in parts, so that a large message passes through the core
    /// (and its memory) a part at a time instead of whole. The first
    /// part's `binary` sets the message type, later ones must repeat it,
    /// and `fin` ends the message; a text's parts together must be UTF-8
    /// (a part may end inside a character). The compressed message goes out
    /// as the compressor writes it, a frame per part: the first with the
    /// type and RSV1, the rest continuations (empty for a part the
    /// compressor took without writing anything: it holds input until a
    /// block is complete), the last with FIN. Pings and pongs may be sent between parts; other
    /// messages not. Without permessage-deflate (or on draft-76) this
    /// queues nothing and returns `Ok(false)`: use
    /// [`send_fragment`](Self::send_fragment), which sends uncompressed.
    pub fn send_compressed_part(&mut self, binary: bool, data: &[u8], fin: bool) -> Result<bool, Misuse> {
        let opcode = if binary { wire::OpCode::Binary } else { wire::OpCode::Text };
        let Codec::Rfc6455(c) = self.sendable_mut()? else {
            return Ok(false);
        };
        let Some(compressor) = &mut c.compressor else {
            return Ok(false);
        };
        let wire_opcode = match (c.sending_compressed, c.sending_fragmented) {
            (false, None) => opcode,
            (true, Some(started)) if started == opcode => wire::OpCode::Continuation,
            (true, Some(_)) => return Err(Misuse::FragmentTypeChanged),
            _ => return Err(Misuse::MessageInProgress),
        };
        let mut compressed = core::mem::take(&mut c.scratch);
        compressed.clear();
        compressor.compress_part(data, fin, &mut compressed);
        c.sending_fragmented = if fin { None } else { Some(opcode) };
        c.sending_compressed = !fin;
        // A frame for every part, empty when the compressor held it all:
        // RSV1 on the first only.
        self.write_frame(wire_opcode, &compressed, fin, wire_opcode != wire::OpCode::Continuation);
        if let Phase::Open(Codec::Rfc6455(c)) = &mut self.phase {
            if compressed.capacity() <= SHRINK_ABOVE {
                c.scratch = compressed;
            }
        }
        Ok(true)
    }

    /// Queues a ping (RFC 6455 only; at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Misuse> {
        self.send(Outgoing::Ping(payload))
    }

    /// Queues an unsolicited pong (RFC 6455 only; at most 125 bytes), e.g. as
    /// a one-way heartbeat. Pings are answered without this.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Misuse> {
        self.send(Outgoing::Pong(payload))
    }

    /// Starts the closing handshake. `code` and `reason` go on the wire where
    /// the protocol has them (RFC 6455: a code from 1000–1003, 1007–1014 or
    /// 3000–4999, a reason of at most 123 bytes, and no reason without a
    /// code); draft-76 closes carry neither, so only `None` or 1000 with an
    /// empty reason fit it. `now` starts the deadline for the peer's answer.
    ///
    /// When the peer is done ([`State::Ending`]) this ends the connection:
    /// after a peer's close it is the answer, with this code and reason
    /// instead of the echo [`finish`](Self::finish) sends; after an error
    /// in the peer's input it is [`finish`](Self::finish) (the error's
    /// code is what the protocol asks for).
    pub fn close(&mut self, now: Instant, code: Option<u16>, reason: &str) -> Result<(), Misuse> {
        // The arguments are checked in every state that can send, so that
        // a refusal does not depend on what the peer did.
        let close = Outgoing::Close { code, reason };
        outgoing::check(self.sendable()?.protocol(), &close)?;
        if let Some(Ending::Failed { .. }) = self.ending {
            self.finish();
            return Ok(());
        }
        self.write_message(close)?;
        if self.ending.is_some() {
            self.end_answered();
        } else {
            self.sent_close = true;
            self.close_deadline = self.config.timeouts.close.map(|t| now + t);
        }
        Ok(())
    }

    /// Fails the connection on a limit its driver keeps, as the core fails
    /// on its own limits: an RFC 6455 close with code 1009 is queued (on an
    /// open connection that has not sent its close), nothing more is read,
    /// and [`Event::Error`] with `error` is the last event. For drivers
    /// that hold what the core hands out: in [`Config::streaming`] mode the
    /// driver assembles messages, so `max_message_size` and a memory budget
    /// shared between connections are its to check. Does nothing once the
    /// connection has ended.
    pub fn fail_limit(&mut self, error: LimitError) {
        if matches!(self.phase, Phase::Done) || self.ending.is_some() {
            return;
        }
        self.fail_on_input(error.into());
    }

    /// Ends a connection whose peer is done ([`State::Ending`]), once the
    /// application has read every event up to [`Event::Close`] or
    /// [`Event::Error`] and queued its answers to the messages before it:
    /// queues the close the protocol asks for (the echo of the peer's
    /// close, or an RFC 6455 close with the error's code) and moves to
    /// [`State::Closed`]. Drivers call it when they hand that event to
    /// their application; the close deadline calls it if they do not. Does
    /// nothing in any other state, so it can be called whenever the
    /// application reaches the end.
    pub fn finish(&mut self) {
        let Some(ending) = self.ending else {
            return;
        };
        // RFC 6455 §5.5.1 echoes the peer's code (an empty close for none);
        // the draft answers with its close too (though Racket does not, and
        // that is fine). A failure sends its code where the protocol has
        // codes, and nothing otherwise.
        let answer = match ending {
            Ending::PeerClosed { code } => Some(code),
            Ending::Failed { code } if self.is_rfc6455() => code.map(Some),
            Ending::Failed { .. } => None,
        };
        if let Some(code) = answer {
            // The shared writer takes every such code: a peer's was checked
            // as its close was read, and an error's are valid ones.
            let written = self.write_message(Outgoing::Close { code, reason: "" });
            debug_assert_eq!(written, Ok(()));
        }
        self.end_answered();
    }

    /// The close we owe is queued: nothing more goes either way.
    fn end_answered(&mut self) {
        self.ending = None;
        self.sent_close = true;
        self.close_deadline = None;
        self.phase = Phase::Done;
    }

    /// Closes because this end is going away (a server shutting down, a
    /// client leaving a page), in the words of the protocol in use: RFC
    /// 6455 close code 1001 with `reason`, the draft-76 close otherwise
    /// (it carries neither). A connection whose peer is done is
    /// [`finish`](Self::finish)ed; one already closing or closed is left as
    /// it is. Fails with [`Misuse::NotOpen`] during the handshake, when
    /// there is nothing to close: the driver drops the transport.
    pub fn go_away(&mut self, now: Instant, reason: &str) -> Result<(), Misuse> {
        match self.state() {
            State::Handshaking => Err(Misuse::NotOpen),
            State::Closing | State::Closed => Ok(()),
            State::Ending => {
                self.finish();
                Ok(())
            }
            State::Open if self.is_rfc6455() => self.close(now, Some(1001), reason),
            State::Open => self.close(now, None, ""),
        }
    }

    // ----- sending -------------------------------------------------------

    /// The open codec, if it may send a frame now: not after our close,
    /// and not inside a payload the driver is still masking
    /// ([`mask_payload`](Self::mask_payload)).
    fn sendable(&self) -> Result<&Codec, Misuse> {
        match &self.phase {
            Phase::Open(Codec::Rfc6455(c)) if c.masking.is_some() => Err(Misuse::MessageInProgress),
            Phase::Open(codec) if !self.sent_close => Ok(codec),
            _ => Err(Misuse::NotOpen),
        }
    }

    fn sendable_mut(&mut self) -> Result<&mut Codec, Misuse> {
        match &mut self.phase {
            Phase::Open(Codec::Rfc6455(c)) if c.masking.is_some() => Err(Misuse::MessageInProgress),
            Phase::Open(codec) if !self.sent_close => Ok(codec),
            _ => Err(Misuse::NotOpen),
        }
    }

    /// Queues a whole message or control frame, refused as
    /// [`outgoing::check`] says (and, for a data message, while a
    /// fragmented one is being sent).
    fn send(&mut self, message: Outgoing<'_>) -> Result<(), Misuse> {
        if let Codec::Rfc6455(c) = self.sendable()? {
            if c.sending_fragmented.is_some() && message.is_data() {
                return Err(Misuse::MessageInProgress);
            }
        }
        self.write_message(message)
    }

    /// Writes `message` with the open connection's framing through the
    /// writer the inspector's `encode` uses too, masking with fresh entropy
    /// when we are the client.
    fn write_message(&mut self, message: Outgoing<'_>) -> Result<(), Misuse> {
        if let Phase::Open(Codec::Undecided(_)) = self.phase {
            // Sending before the client: what we send must have a framing,
            // and the draft's own is the one to bet on (Framing::Auto). A
            // refused message commits to nothing.
            outgoing::check(Protocol::Draft76(Framing::Auto), &message)?;
            self.commit(Framing::Old);
        }
        let Phase::Open(codec) = &mut self.phase else {
            return Err(Misuse::NotOpen);
        };
        let (role, entropy) = (self.role, &mut self.entropy);
        let mut mask = || draw_mask(role, entropy);
        match codec {
            Codec::Old(_) | Codec::Undecided(_) => {
                outgoing::write(&mut self.transmit, Writer::Draft76(Framing::Old), message)
            }
            Codec::New(_) => outgoing::write(&mut self.transmit, Writer::Draft76(Framing::New), message),
            Codec::Rfc6455(c) => {
                let writer = Writer::Rfc6455 {
                    compressor: c.compressor.as_mut(),
                    scratch: &mut c.scratch,
                    mask: &mut mask,
                };
                let written = outgoing::write(&mut self.transmit, writer, message);
                if c.scratch.capacity() > SHRINK_ABOVE {
                    c.scratch = Vec::new();
                }
                written
            }
        }
    }

    /// Appends one RFC 6455 frame, masked with fresh entropy when we are the
    /// client (RFC 6455 §5.3).
    fn write_frame(&mut self, opcode: wire::OpCode, payload: &[u8], fin: bool, rsv1: bool) {
        let mask = draw_mask(self.role, &mut self.entropy);
        wire::encode_frame(&mut self.transmit, fin, rsv1, opcode, payload, mask);
    }

    // ----- transitions ---------------------------------------------------

    fn draft76_codec(&self, framing: Framing) -> Codec {
        let limits = &self.config.limits;
        let (streaming, invalid_utf8) = (self.config.streaming, self.config.invalid_utf8);
        match framing {
            Framing::Old => {
                let d = old::Decoder::new(limits.max_message_size, limits.max_frame_size);
                Codec::Old(if streaming { d.streaming(invalid_utf8) } else { d })
            }
            Framing::New => {
                let d = new::Decoder::new(limits.max_message_size, limits.max_frame_size);
                Codec::New(if streaming { d.streaming(invalid_utf8) } else { d })
            }
            Framing::Auto => Codec::Undecided(auto::Prefix::default()),
        }
    }

    /// Ends an undecided draft-76 framing ([`Framing::Auto`]) with
    /// `framing`: the bytes held are read with its decoder, as if they had
    /// just arrived, and an error among them fails the connection as input
    /// does. Does nothing once decided.
    fn commit(&mut self, framing: Framing) {
        if let Err(error) = self.decide(framing, true, None) {
            self.fail_on_input(error);
        }
    }

    /// [`commit`](Self::commit), for the input loop: the error is returned
    /// and events go to `lend_to` when given. Without `replay_held`, the
    /// caller hands the decoder the bytes held itself.
    fn decide(
        &mut self,
        framing: Framing,
        replay_held: bool,
        lend_to: Option<&mut dyn FnMut(EventRef<'_>)>,
    ) -> Result<(), Error> {
        let Phase::Open(Codec::Undecided(prefix)) = self.phase else {
            return Ok(());
        };
        self.protocol = Some(Protocol::Draft76(framing));
        self.phase = Phase::Open(self.draft76_codec(framing));
        self.auto_chose = Some(framing);
        let mut held = if replay_held { prefix.as_slice() } else { &[] };
        self.process(&mut held, lend_to)
    }

    /// `error`, named a framing mismatch when it broke the first frame of
    /// a framing [`Framing::Auto`] chose. A driver's memory budget
    /// ([`LimitError::OverAllowance`]) is no framing's doing, and neither
    /// is a stream that ends inside the frame (not an error this sees).
    fn framing_mismatch(&self, error: Error) -> Error {
        match (self.auto_chose, error) {
            (_, error @ Error::Limit(LimitError::OverAllowance { .. })) => error,
            (Some(detected), cause) => Error::FramingMismatch { detected, cause: Box::new(cause) },
            (None, error) => error,
        }
    }

    fn rfc6455_codec(&self) -> Codec {
        let limits = &self.config.limits;
        let reader_config = ReaderConfig {
            expect_masked: self.role == Role::Server,
            max_message_size: limits.max_message_size,
            max_frame_size: limits.max_frame_size,
            streaming: self.config.streaming,
        };
        let level = self.config.deflate.map_or(0, |d| d.compression_level);
        let inflater = self.deflate.as_ref().map(|p| Decompressor::new(p, self.role));
        Codec::Rfc6455(Box::new(Rfc6455 {
            reader: rfc6455::Reader::new(reader_config, inflater),
            compressor: self.deflate.as_ref().map(|p| Compressor::new(p, self.role, level)),
            scratch: Vec::new(),
            sending_fragmented: None,
            sending_compressed: false,
            masking: None,
        }))
    }

    fn open(&mut self, codec: Codec) {
        self.phase = Phase::Open(codec);
        self.push_event(Event::Open);
    }

    /// Runs the input through the phases until it is used up or the
    /// connection stops taking it. With `lend_to`, events go there as they
    /// happen and small messages are lent (see
    /// [`handle_input_with`](Self::handle_input_with)).
    fn process(
        &mut self,
        input: &mut &[u8],
        mut lend_to: Option<&mut dyn FnMut(EventRef<'_>)>,
    ) -> Result<(), Error> {
        while !input.is_empty() {
            if let Some(on_event) = lend_to.as_deref_mut() {
                if !self.events.is_empty() {
                    // Whatever the last step queued goes first.
                    self.drain_to(on_event);
                }
            }
            if self.ending.is_some() {
                // After its close or its error, the peer has nothing more
                // to say.
                *input = &[];
                break;
            }
            // What the connection holds outside the framing's reader comes
            // off the reader's room under an allowance.
            let outside = self.held_outside_codec();
            match &mut self.phase {
                Phase::ClientHead { reader, .. } | Phase::ServerHead { reader } => {
                    let HeadProgress::Complete(used) = reader.read(input)? else {
                        *input = &[];
                        break;
                    };
                    *input = &input[used..];
                    self.on_head()?;
                }
                Phase::ClientAnswer { expect, answer, have } => {
                    let take = (ANSWER_LEN - *have).min(input.len());
                    answer[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    *input = &input[take..];
                    if *have == ANSWER_LEN {
                        draft76::check_answer(answer, expect)?;
                        let Some(Protocol::Draft76(framing)) = self.protocol else {
                            unreachable!("only draft-76 clients read an answer")
                        };
                        let codec = self.draft76_codec(framing);
                        self.open(codec);
                    }
                }
                Phase::ServerKey3 { keys, key3, have } => {
                    let take = (KEY3_LEN - *have).min(input.len());
                    key3[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    *input = &input[take..];
                    if *have == KEY3_LEN {
                        let answer = Answer::Draft76(keys.clone(), *key3);
                        let kind = RequestKind::WebSocket(Protocol::Draft76(self.config.framing));
                        self.await_decision(kind, Some(answer));
                    }
                }
                Phase::ServerDecision { .. } => {
                    let limit = self.config.limits.max_handshake_bytes;
                    if self.deferred.len() + input.len() > limit {
                        return Err(LimitError::HandshakeTooLarge { limit }.into());
                    }
                    self.deferred.extend_from_slice(input);
                    *input = &[];
                }
                Phase::Open(codec) => match codec {
                    Codec::Undecided(prefix) => {
                        let (read, held_before) = (*input, prefix.as_slice().len());
                        if let Some(framing) = prefix.take(input) {
                            // Decided by this read alone: the decoder reads
                            // it whole, as a server told the framing would
                            // (one streamed piece, not two).
                            let replay_held = held_before > 0;
                            if !replay_held {
                                *input = read;
                            }
                            // (Unsized afresh: a shorter borrow than `lend_to`'s.)
                            let lend = lend_to.as_deref_mut().map(|f| f as &mut dyn FnMut(EventRef<'_>));
                            self.decide(framing, replay_held, lend)?;
                        }
                    }
                    Codec::Old(d) => {
                        d.set_allowance(self.input_allowance.saturating_sub(outside), self.input_allowance);
                        match d.decode(input) {
                            Ok(Some(frame)) => self.on_draft76_frame(frame)?,
                            Ok(None) => {}
                            Err(error) => return Err(self.framing_mismatch(error)),
                        }
                    }
                    Codec::New(d) => {
                        d.set_allowance(self.input_allowance.saturating_sub(outside), self.input_allowance);
                        match d.decode(input) {
                            Ok(Some(frame)) => self.on_draft76_frame(frame)?,
                            Ok(None) => {}
                            Err(error) => return Err(self.framing_mismatch(error)),
                        }
                    }
                    Codec::Rfc6455(c) => {
                        c.bound_reader(self.input_allowance, outside);
                        if let Some(on_event) = lend_to.as_deref_mut() {
                            if let Some(lent) = c.reader.read_lent(input)? {
                                on_event(match lent {
                                    Lent::Text(text) => EventRef::Text(text),
                                    Lent::Binary(data) => EventRef::Binary(data),
                                    Lent::BinaryPiece { data, fin } => EventRef::BinaryFragment { data, fin },
                                });
                                c.reader.lent_done();
                                continue;
                            }
                        }
                        if let Some(incoming) = c.reader.read(input)? {
                            self.on_rfc6455(incoming);
                            // What the reader could not see: a pong the
                            // event's ping queued, the queue growing.
                            self.check_allowance()?;
                        }
                    }
                },
                Phase::Done => {
                    // After the close, the peer has nothing more to say.
                    *input = &[];
                }
            }
        }
        Ok(())
    }

    /// A complete head arrived: parse it for the role and move on.
    fn on_head(&mut self) -> Result<(), Error> {
        match core::mem::replace(&mut self.phase, Phase::Done) {
            Phase::ClientHead { reader, expect } => self.on_response_head(reader.response()?, expect),
            Phase::ServerHead { reader } => self.on_request_head(reader.request()?),
            // Called only when a head completes, so in one of the two
            // phases above. (No message: its bytes count against the
            // npm package's .wasm size budget, www/test/size.test.js.)
            _ => unreachable!(),
        }
    }

    fn on_response_head(&mut self, response: ResponseHead, expect: Expectation) -> Result<(), Error> {
        let status = response.status;
        let response = self.response.insert(response);
        if status != 101 {
            return Err(Error::Rejected { status });
        }
        match expect {
            Expectation::Draft76(expect) => {
                draft76::check_response_head(response, &expect)?;
                self.subprotocol = response.headers.get_str("Sec-WebSocket-Protocol").map(String::from);
                self.phase = Phase::ClientAnswer { expect, answer: [0; ANSWER_LEN], have: 0 };
            }
            Expectation::Rfc6455(expect) => {
                let agreed = hs6455::check_response(response, &expect)?;
                self.subprotocol = agreed.subprotocol;
                self.deflate = agreed.deflate;
                let codec = self.rfc6455_codec();
                self.open(codec);
            }
        }
        Ok(())
    }

    /// Tells the protocols apart by the request alone (docs/PROTOCOLS.md §5).
    fn on_request_head(&mut self, request: RequestHead) -> Result<(), Error> {
        let headers = &request.headers;
        let accept = self.config.accept;
        let draft76 = headers.contains("Sec-WebSocket-Key1") || headers.contains("Sec-WebSocket-Key2");
        let rfc6455 = headers.contains("Sec-WebSocket-Key")
            || headers.contains("Sec-WebSocket-Version")
            || hs6455::header_tokens(headers, "Upgrade").any(|t| t.eq_ignore_ascii_case(b"websocket"));
        let checked = if draft76 && headers.contains("Sec-WebSocket-Key") {
            // Neither protocol can answer it; taken as draft-76 it would
            // wait for a key3 that an RFC 6455 client never sends.
            Err(HandshakeError::MixedProtocolKeys)
        } else if (draft76 || rfc6455) && request.minor_version == 0 {
            // Only an upgrade needs HTTP/1.1 (RFC 6455 §4.1; draft-76's
            // request line is `GET ... HTTP/1.1` too). A plain request over
            // HTTP/1.0 gets its page like any other.
            Err(HandshakeError::UnsupportedHttpVersion)
        } else if draft76 {
            if accept.draft76 {
                draft76::check_request_head(&request).map(Detected::Draft76)
            } else {
                Err(HandshakeError::ProtocolNotAccepted)
            }
        } else if rfc6455 {
            if accept.rfc6455 {
                hs6455::check_request_head(&request).map(Detected::Rfc6455)
            } else {
                Err(HandshakeError::ProtocolNotAccepted)
            }
        } else {
            Ok(Detected::Http)
        };
        self.request = Some(request);
        match checked? {
            Detected::Draft76(keys) => {
                self.protocol = Some(Protocol::Draft76(self.config.framing));
                self.phase = Phase::ServerKey3 { keys, key3: [0; KEY3_LEN], have: 0 };
            }
            Detected::Rfc6455(offer) => {
                self.protocol = Some(Protocol::Rfc6455);
                self.await_decision(RequestKind::WebSocket(Protocol::Rfc6455), Some(Answer::Rfc6455(offer)));
            }
            Detected::Http => self.await_decision(RequestKind::Http, None),
        }
        Ok(())
    }

    fn await_decision(&mut self, kind: RequestKind, answer: Option<Answer>) {
        self.phase = Phase::ServerDecision { kind, answer };
        self.push_event(Event::Request(kind));
    }

    /// Fails input that took the connection past its allowance where the
    /// framing's reader could not see: a pong an event's ping queued, the
    /// event queue growing.
    fn check_allowance(&self) -> Result<(), Error> {
        if self.buffered_bytes() > self.input_allowance {
            let allowance = self.input_allowance;
            return Err(LimitError::OverAllowance { allowance }.into());
        }
        Ok(())
    }

    fn on_draft76_frame(&mut self, frame: Draft76Frame) -> Result<(), Error> {
        // The first frame was whole in the framing chosen: whatever fails
        // later is not the choice's.
        self.auto_chose = None;
        match frame {
            Draft76Frame::Text(bytes) => {
                let text = match (crate::utf8::into_string(bytes), self.config.invalid_utf8) {
                    (Ok(text), _) => text,
                    (Err(bytes), InvalidUtf8::Replace) => {
                        // Each replaced byte may grow to three: the limit
                        // holds for what is delivered, not only what
                        // arrived, and the allowance for the copy made
                        // while the bytes are still held. Both are checked
                        // before the copy is allocated.
                        let len = crate::utf8::replaced_len(&bytes);
                        let limit = self.config.limits.max_message_size;
                        if len > limit {
                            return Err(LimitError::MessageTooLarge { limit }.into());
                        }
                        let peak = self.buffered_bytes().saturating_add(bytes.capacity()).saturating_add(len);
                        if peak > self.input_allowance {
                            let allowance = self.input_allowance;
                            return Err(LimitError::OverAllowance { allowance }.into());
                        }
                        crate::utf8::replace_invalid(&bytes)
                    }
                    (Err(_), InvalidUtf8::Fail) => return Err(ProtocolError::InvalidUtf8.into()),
                };
                self.push_event(Event::Text(text));
                self.check_allowance()?;
            }
            Draft76Frame::TextPiece { text, fin } => {
                self.push_event(Event::TextFragment { text, fin });
                self.check_allowance()?;
            }
            Draft76Frame::Close => self.on_peer_close(Close::default()),
        }
        Ok(())
    }

    fn on_rfc6455(&mut self, incoming: Incoming) {
        let event = match incoming {
            Incoming::Text(text) => Event::Text(text),
            Incoming::Binary(data) => Event::Binary(data),
            Incoming::TextPiece { text, fin } => Event::TextFragment { text, fin },
            Incoming::BinaryPiece { data, fin } => Event::BinaryFragment { data, fin },
            Incoming::Ping(payload) => {
                // §5.5.2: a pong is owed unless the peer's close arrived,
                // which ends the connection before any later ping is read.
                if self.config.auto_pong {
                    self.write_frame(wire::OpCode::Pong, &payload, true, false);
                }
                Event::Ping(payload)
            }
            Incoming::Pong(payload) => Event::Pong(payload),
            Incoming::Close(close) => {
                let (code, reason) = close.map_or((None, String::new()), |(c, r)| (Some(c), r));
                self.on_peer_close(Close { code, reason });
                return;
            }
        };
        self.push_event(event);
    }

    /// The peer's close frame: report it now. If it answers ours, the
    /// connection is over; otherwise our answer waits for
    /// [`finish`](Self::finish).
    fn on_peer_close(&mut self, close: Close) {
        if self.sent_close {
            self.phase = Phase::Done;
        } else {
            self.begin_ending(Ending::PeerClosed { code: close.code });
        }
        self.push_event(Event::Close(close));
    }

    /// Stops reading and starts the wait for [`finish`](Self::finish),
    /// bounded by the close deadline from the last input.
    fn begin_ending(&mut self, ending: Ending) {
        self.ending = Some(ending);
        self.close_deadline = self.config.timeouts.close.map(|t| self.last_input + t);
    }

    fn finish_clean(&mut self, close: Close) {
        self.phase = Phase::Done;
        self.push_event(Event::Close(close));
    }

    /// Fails the connection on an error in the peer's input. While the
    /// connection is open and our close is not sent, the events before the
    /// error stay answerable: the error is reported and nothing more is
    /// read, and the close with its code waits for
    /// [`finish`](Self::finish) ([`State::Ending`]). Otherwise as
    /// [`fail`](Self::fail).
    fn fail_on_input(&mut self, error: Error) {
        if matches!(self.phase, Phase::Open(_)) && !self.sent_close && self.ending.is_none() {
            self.begin_ending(Ending::Failed { code: error.close_code() });
            self.push_event(Event::Error(error));
        } else {
            self.fail(error);
        }
    }

    /// Ends the connection on `error` at once, queueing what the protocol
    /// sends on failure: a server's HTTP error status during the handshake,
    /// or an RFC 6455 close frame with the error's code.
    fn fail(&mut self, error: Error) {
        // A server that has not answered yet answers with an HTTP status.
        let unanswered = self.role == Role::Server && self.response.is_none();
        match self.phase {
            Phase::ServerHead { .. }
            | Phase::ServerKey3 { .. }
            | Phase::ServerDecision { .. }
            | Phase::Done
                if unanswered =>
            {
                // A request that timed out while the application decided
                // did arrive: the server, not the client, was too slow.
                let status = match (&self.phase, &error) {
                    (Phase::ServerDecision { .. }, Error::Timeout(_)) => Some(503),
                    _ => error.http_status(),
                };
                if let Some(status) = status {
                    let mut response = HttpResponse::text(status, &alloc::format!("{error}\n"));
                    match status {
                        426 => response.headers.push(Header::new("Sec-WebSocket-Version", hs6455::VERSION)),
                        405 => response.headers.push(Header::new("Allow", "GET")),
                        _ => {}
                    }
                    self.response = Some(response.write(&mut self.transmit));
                }
            }
            Phase::Open(Codec::Rfc6455(_)) if !self.sent_close => {
                if let Some(code) = error.close_code() {
                    self.write_frame(wire::OpCode::Close, &code.to_be_bytes(), true, false);
                    self.sent_close = true;
                }
            }
            _ => {}
        }
        self.phase = Phase::Done;
        self.ending = None;
        self.deferred = Vec::new();
        self.push_event(Event::Error(error));
    }
}

/// What ends a connection whose peer is done ([`State::Ending`]), once the
/// application has read up to it.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// The peer's close arrived: the answer echoes its code.
    PeerClosed { code: Option<u16> },
    /// The peer's input failed the connection: an RFC 6455 close with this
    /// code, if it has one (draft-76 fails without a word).
    Failed { code: Option<u16> },
}

/// What a request turned out to be.
enum Detected {
    Draft76(draft76::ServerKeys),
    Rfc6455(hs6455::ServerOffer),
    Http,
}

/// What a due timer does.
#[derive(Clone, Copy, Debug)]
enum TimerAction {
    Fail(Timer),
    Ping,
    /// The application's time to answer before the end is up.
    Finish,
    /// The client's first bytes, whole in both draft-76 framings, were
    /// followed by silence: [`Detection::on_silence`] decides.
    DecideFraming,
}

/// A fresh masking key when we are the client (RFC 6455 §5.3); a server
/// never masks.
fn draw_mask(role: Role, entropy: &mut Option<Box<dyn Entropy + Send>>) -> Option<[u8; 4]> {
    match (role, entropy) {
        (Role::Client, Some(entropy)) => {
            let mut key = [0u8; 4];
            entropy.fill(&mut key);
            Some(key)
        }
        _ => None,
    }
}
