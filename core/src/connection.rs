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

use crate::config::{Config, Framing, InvalidUtf8, Protocol};
use crate::entropy::Entropy;
use crate::error::{Error, HandshakeError, Misuse, ProtocolError, Stage};
use crate::event::{Close, Event, RequestKind};
use crate::framing::{new, old, Draft76Frame};
use crate::handshake::draft76::{
    self, ClientExpectation, ServerKeys, Target, ANSWER_LEN, KEY3_LEN,
};
use crate::handshake::http::{
    self, HeadProgress, HeadReader, Header, Headers, RequestHead, ResponseHead,
};
use crate::time::Instant;

/// Which end of the connection this machine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends the opening request.
    Client,
    /// Answers it.
    Server,
}

/// A connection's life, as a driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The opening handshake is under way.
    Handshaking,
    /// Messages flow both ways.
    Open,
    /// We sent a close and wait for the peer's; messages may still arrive.
    Closing,
    /// Over: flush what is queued for transmission and close the transport.
    Closed,
}

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// Where to connect.
    pub target: Target,
    /// Extra headers for the request, such as `Origin`, `Cookie` or (in
    /// draft-76, which has no list) `Sec-WebSocket-Protocol`.
    pub headers: Vec<Header>,
}

impl ClientRequest {
    /// A request for `target` with no extra headers.
    pub fn new(target: Target) -> Self {
        ClientRequest {
            target,
            headers: Vec::new(),
        }
    }
}

/// A server's acceptance of a WebSocket request: the seed's `conn-headers`
/// hook result, minus the per-connection state, which the driver keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    /// Headers added to the 101 response. In draft-76, any
    /// `Sec-WebSocket-Origin` or `Sec-WebSocket-Location` here replaces the
    /// one the connection would otherwise derive from the request.
    pub headers: Vec<Header>,
}

/// A plain HTTP response: a refusal of the handshake, or the answer to a
/// request that was not an upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code (not 101).
    pub status: u16,
    /// Headers; `Content-Length` and `Connection: close` are added unless
    /// present.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status, a plain-text body and no other headers.
    pub fn text(status: u16, body: &str) -> Self {
        HttpResponse {
            status,
            headers: alloc::vec![Header::new("Content-Type", "text/plain; charset=utf-8")],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Where the handshake is, per role.
enum Phase {
    /// Client: reading the response head.
    ClientHead {
        reader: HeadReader,
        expect: ClientExpectation,
    },
    /// Client, draft-76: reading the 16-byte answer after the head.
    ClientAnswer {
        expect: ClientExpectation,
        answer: [u8; ANSWER_LEN],
        have: usize,
    },
    /// Server: reading the request head.
    ServerHead { reader: HeadReader },
    /// Server, draft-76: reading key3 after the head.
    ServerKey3 {
        keys: ServerKeys,
        key3: [u8; KEY3_LEN],
        have: usize,
    },
    /// Server: `Event::Request` is out; waiting for `accept` or `respond`.
    ServerDecision {
        kind: RequestKind,
        keys: Option<(ServerKeys, [u8; KEY3_LEN])>,
    },
    /// Handshake done; frames flow through the codec.
    Open(Codec),
    /// Nothing more comes in.
    Done,
}

/// The framing in use once the handshake is done.
enum Codec {
    Old(old::Decoder),
    New(new::Decoder),
}

/// One WebSocket connection, in one role, without I/O.
///
/// Methods come in four kinds, as in quinn-proto:
/// - **inputs**: [`handle_input`](Self::handle_input) with bytes read from
///   the transport, [`handle_eof`](Self::handle_eof) when it ends,
///   [`handle_timeout`](Self::handle_timeout) when the deadline from
///   [`poll_timeout`](Self::poll_timeout) passes;
/// - **commands**: [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`close`](Self::close), and on a
///   server [`accept`](Self::accept) / [`respond`](Self::respond);
/// - **pollers**, to call after every input or command, in this order:
///   [`poll_event`](Self::poll_event) until `None`,
///   [`poll_transmit`](Self::poll_transmit) and write what it gives,
///   [`poll_timeout`](Self::poll_timeout) to know when to wake; when
///   [`state`](Self::state) is [`State::Closed`] and the transmit buffer is
///   flushed, close the transport;
/// - **getters**: [`state`](Self::state), [`protocol`](Self::protocol),
///   [`request`](Self::request), [`response`](Self::response).
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    protocol: Option<Protocol>,
    request: Option<RequestHead>,
    response: Option<ResponseHead>,
    events: VecDeque<Event>,
    transmit: Vec<u8>,
    /// Input that arrived while the server application was deciding.
    deferred: Vec<u8>,
    /// The stream ended while the server application was deciding.
    deferred_eof: bool,
    sent_close: bool,
    handshake_deadline: Option<Instant>,
    close_deadline: Option<Instant>,
    /// Kept for protocols that need randomness after the handshake (RFC 6455
    /// masking keys).
    #[allow(dead_code)]
    entropy: Option<Box<dyn Entropy + Send>>,
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
    /// keys (and, in RFC 6455, masking keys).
    pub fn client(
        now: Instant,
        config: Config,
        request: ClientRequest,
        mut entropy: Box<dyn Entropy + Send>,
    ) -> Result<Self, Error> {
        http::check_writable(&request.headers)?;
        let mut transmit = Vec::with_capacity(256);
        let expect = match config.protocol {
            Protocol::Draft76(_) => draft76::write_client_request(
                &request.target,
                &request.headers,
                &mut *entropy,
                &mut transmit,
            ),
            Protocol::Rfc6455 => return Err(Misuse::ProtocolUnavailable.into()),
        };
        let line = alloc::format!("GET {} HTTP/1.1", request.target.resource);
        let sent = RequestHead {
            line,
            method: "GET".into(),
            target: request.target.resource.clone(),
            minor_version: 1,
            headers: Headers(request.headers),
        };
        let limits = config.limits;
        Ok(Connection {
            role: Role::Client,
            protocol: Some(config.protocol),
            phase: Phase::ClientHead {
                reader: HeadReader::new(limits.max_handshake_bytes, limits.max_headers),
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
                reader: HeadReader::new(limits.max_handshake_bytes, limits.max_headers),
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
            events: VecDeque::new(),
            transmit: Vec::new(),
            deferred: Vec::new(),
            deferred_eof: false,
            sent_close: false,
            close_deadline: None,
            entropy: None,
        }
    }

    // ----- getters -------------------------------------------------------

    /// Which end this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Open(_) if self.sent_close => State::Closing,
            Phase::Open(_) => State::Open,
            Phase::Done => State::Closed,
            _ => State::Handshaking,
        }
    }

    /// The protocol spoken: known from the start for a client, once the
    /// request is read for a server.
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

    // ----- pollers -------------------------------------------------------

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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
        match self.state() {
            State::Handshaking => self.handshake_deadline,
            State::Closing => self.close_deadline,
            State::Open | State::Closed => None,
        }
    }

    // ----- inputs --------------------------------------------------------

    /// Feeds bytes read from the transport, split anywhere. Every byte is
    /// taken (the connection keeps what it cannot use yet).
    pub fn handle_input(&mut self, data: &[u8]) {
        let mut input = data;
        if let Err(error) = self.process(&mut input) {
            self.fail(error);
        }
    }

    /// Tells the connection the transport has no more bytes to give.
    pub fn handle_eof(&mut self) {
        let result = match &self.phase {
            Phase::ServerDecision { .. } => {
                self.deferred_eof = true;
                return;
            }
            Phase::Done => return,
            Phase::Open(codec) => {
                let at_boundary = match codec {
                    Codec::Old(d) => d.check_eof(),
                    Codec::New(d) => d.check_eof(),
                };
                // Draft-76 peers may hang up between frames (and Racket does
                // right after its close frame): that is the end of the stream.
                at_boundary.map(|()| self.finish_clean(Close::default()))
            }
            _ => Err(Error::UnexpectedEof(Stage::Handshake)),
        };
        if let Err(error) = result {
            self.fail(error);
        }
    }

    /// Tells the connection the time is `now`; fails it if a deadline from
    /// [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.poll_timeout() {
            Some(deadline) if deadline <= now => {
                let stage = if self.state() == State::Closing {
                    Stage::Closing
                } else {
                    Stage::Handshake
                };
                self.fail(Error::Timeout(stage));
            }
            _ => {}
        }
    }

    // ----- commands ------------------------------------------------------

    /// Accepts the pending WebSocket request with the application's headers.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Error> {
        http::check_writable(&accept.headers)?;
        let Phase::ServerDecision {
            kind: RequestKind::WebSocket(protocol),
            keys,
        } = &self.phase
        else {
            return Err(Misuse::NoPendingRequest.into());
        };
        let protocol = *protocol;
        let request = self.request.as_ref().ok_or(Misuse::NoPendingRequest)?;
        let codec = match (protocol, keys) {
            (Protocol::Draft76(framing), Some((keys, key3))) => {
                let headers = draft76::write_server_response(
                    request,
                    keys,
                    key3,
                    self.config.secure,
                    &accept.headers,
                    &mut self.transmit,
                );
                self.response = Some(ResponseHead {
                    line: "HTTP/1.1 101 WebSocket Protocol Handshake".into(),
                    minor_version: 1,
                    status: 101,
                    reason: "WebSocket Protocol Handshake".into(),
                    headers: Headers(headers),
                });
                self.codec_for(framing)
            }
            _ => return Err(Misuse::NoPendingRequest.into()),
        };
        self.open(codec);
        let deferred = core::mem::take(&mut self.deferred);
        self.handle_input(&deferred);
        if core::mem::take(&mut self.deferred_eof) {
            self.handle_eof();
        }
        Ok(())
    }

    /// Answers the pending request with a plain HTTP response (a refusal of
    /// a WebSocket request, or a page for a plain one) and ends the
    /// connection.
    pub fn respond(&mut self, response: HttpResponse) -> Result<(), Error> {
        if !matches!(self.phase, Phase::ServerDecision { .. }) {
            return Err(Misuse::NoPendingRequest.into());
        }
        if !(100..=599).contains(&response.status) || response.status == 101 {
            return Err(Misuse::InvalidStatus.into());
        }
        http::check_writable(&response.headers)?;
        self.write_http_response(response);
        self.phase = Phase::Done;
        self.deferred = Vec::new();
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        let codec = self.sendable()?;
        match codec {
            Codec::Old(_) => old::encode_text(text, &mut self.transmit),
            Codec::New(_) => new::encode_text(text, &mut self.transmit),
        }
        Ok(())
    }

    /// Queues a binary message. Draft-76 has none: that is an error, never a
    /// silent drop.
    pub fn send_binary(&mut self, _data: &[u8]) -> Result<(), Error> {
        match self.sendable()? {
            Codec::Old(_) | Codec::New(_) => Err(Misuse::BinaryUnsupported.into()),
        }
    }

    /// Starts the closing handshake. `code` and `reason` go on the wire where
    /// the protocol has them; draft-76 closes carry neither, so only `None`
    /// or 1000 with an empty reason fit it. `now` starts the deadline for
    /// the peer's answer.
    pub fn close(&mut self, now: Instant, code: Option<u16>, reason: &str) -> Result<(), Error> {
        let codec = self.sendable()?;
        let normal = code.is_none_or(|c| c == 1000) && reason.is_empty();
        match codec {
            Codec::Old(_) | Codec::New(_) if !normal => {
                return Err(Misuse::CloseCodeUnsupported.into())
            }
            Codec::Old(_) => old::encode_close(&mut self.transmit),
            Codec::New(_) => new::encode_close(&mut self.transmit),
        }
        self.sent_close = true;
        self.close_deadline = self.config.timeouts.close.map(|t| now + t);
        Ok(())
    }

    // ----- transitions ---------------------------------------------------

    fn sendable(&self) -> Result<&Codec, Error> {
        match &self.phase {
            Phase::Open(codec) if !self.sent_close => Ok(codec),
            _ => Err(Misuse::NotOpen.into()),
        }
    }

    fn codec_for(&self, framing: Framing) -> Codec {
        let limits = &self.config.limits;
        match framing {
            Framing::Old => Codec::Old(old::Decoder::new(
                limits.max_message_size,
                limits.max_frame_size,
            )),
            Framing::New => Codec::New(new::Decoder::new(
                limits.max_message_size,
                limits.max_frame_size,
            )),
        }
    }

    fn open(&mut self, codec: Codec) {
        self.phase = Phase::Open(codec);
        self.events.push_back(Event::Open);
    }

    /// Runs the input through the phases until it is used up or the
    /// connection stops taking it.
    fn process(&mut self, input: &mut &[u8]) -> Result<(), Error> {
        while !input.is_empty() {
            match &mut self.phase {
                Phase::ClientHead { reader, .. } => {
                    let HeadProgress::Complete(used) = reader.read(input)? else {
                        *input = &[];
                        break;
                    };
                    *input = &input[used..];
                    let response = reader.response();
                    self.on_response_head(response?)?;
                }
                Phase::ClientAnswer {
                    expect,
                    answer,
                    have,
                } => {
                    let take = (ANSWER_LEN - *have).min(input.len());
                    answer[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    *input = &input[take..];
                    if *have == ANSWER_LEN {
                        draft76::check_answer(answer, expect)?;
                        let Some(Protocol::Draft76(framing)) = self.protocol else {
                            unreachable!()
                        };
                        let codec = self.codec_for(framing);
                        self.open(codec);
                    }
                }
                Phase::ServerHead { reader } => {
                    let HeadProgress::Complete(used) = reader.read(input)? else {
                        *input = &[];
                        break;
                    };
                    *input = &input[used..];
                    let request = reader.request();
                    self.on_request_head(request?)?;
                }
                Phase::ServerKey3 { keys, key3, have } => {
                    let take = (KEY3_LEN - *have).min(input.len());
                    key3[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    *input = &input[take..];
                    if *have == KEY3_LEN {
                        let keys = Some((keys.clone(), *key3));
                        let kind = RequestKind::WebSocket(self.protocol.unwrap_or_default());
                        self.await_decision(kind, keys);
                    }
                }
                Phase::ServerDecision { .. } => {
                    let room = self
                        .config
                        .limits
                        .max_handshake_bytes
                        .saturating_sub(self.deferred.len());
                    if input.len() > room {
                        return Err(crate::error::LimitError::HandshakeTooLarge {
                            limit: self.config.limits.max_handshake_bytes,
                        }
                        .into());
                    }
                    self.deferred.extend_from_slice(input);
                    *input = &[];
                }
                Phase::Open(codec) => {
                    let frame = match codec {
                        Codec::Old(d) => d.decode(input)?,
                        Codec::New(d) => d.decode(input)?,
                    };
                    if let Some(frame) = frame {
                        self.on_draft76_frame(frame)?;
                    }
                }
                Phase::Done => {
                    // After the close, the peer has nothing more to say.
                    *input = &[];
                }
            }
        }
        Ok(())
    }

    fn on_response_head(&mut self, response: ResponseHead) -> Result<(), Error> {
        let status = response.status;
        let Phase::ClientHead { expect, .. } = core::mem::replace(&mut self.phase, Phase::Done)
        else {
            unreachable!("called only from the ClientHead phase")
        };
        let checked = if status == 101 {
            draft76::check_response_head(&response, &expect)
        } else {
            Ok(())
        };
        self.response = Some(response);
        if status != 101 {
            return Err(Error::Rejected { status });
        }
        checked?;
        self.phase = Phase::ClientAnswer {
            expect,
            answer: [0; ANSWER_LEN],
            have: 0,
        };
        Ok(())
    }

    fn on_request_head(&mut self, request: RequestHead) -> Result<(), Error> {
        let headers = &request.headers;
        let is_draft76 =
            headers.contains("Sec-WebSocket-Key1") || headers.contains("Sec-WebSocket-Key2");
        let is_upgrade = headers.contains("Upgrade") || headers.contains("Sec-WebSocket-Key");
        let checked = if is_draft76 {
            if self.config.accept.draft76 {
                draft76::check_request_head(&request).map(Some)
            } else {
                Err(HandshakeError::ProtocolNotAccepted)
            }
        } else if is_upgrade {
            // RFC 6455 requests are recognised; answering them comes with
            // the RFC 6455 handshake module.
            Err(HandshakeError::ProtocolNotAccepted)
        } else {
            Ok(None)
        };
        self.request = Some(request);
        match checked? {
            Some(keys) => {
                self.protocol = Some(Protocol::Draft76(self.config.framing));
                self.phase = Phase::ServerKey3 {
                    keys,
                    key3: [0; KEY3_LEN],
                    have: 0,
                };
            }
            None => self.await_decision(RequestKind::Http, None),
        }
        Ok(())
    }

    fn await_decision(&mut self, kind: RequestKind, keys: Option<(ServerKeys, [u8; KEY3_LEN])>) {
        self.phase = Phase::ServerDecision { kind, keys };
        self.events.push_back(Event::Request(kind));
    }

    fn on_draft76_frame(&mut self, frame: Draft76Frame) -> Result<(), Error> {
        match frame {
            Draft76Frame::Text(bytes) => {
                let text = match (String::from_utf8(bytes), self.config.invalid_utf8) {
                    (Ok(text), _) => text,
                    (Err(e), InvalidUtf8::Replace) => {
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    }
                    (Err(_), InvalidUtf8::Fail) => return Err(ProtocolError::InvalidUtf8.into()),
                };
                self.events.push_back(Event::Text(text));
            }
            Draft76Frame::Close => {
                // The draft: a peer that has not sent its own close answers
                // with one. Racket does not, and that is fine too.
                if !self.sent_close {
                    match &self.phase {
                        Phase::Open(Codec::Old(_)) => old::encode_close(&mut self.transmit),
                        Phase::Open(Codec::New(_)) => new::encode_close(&mut self.transmit),
                        _ => {}
                    }
                    self.sent_close = true;
                }
                self.finish_clean(Close::default());
            }
        }
        Ok(())
    }

    fn finish_clean(&mut self, close: Close) {
        self.phase = Phase::Done;
        self.events.push_back(Event::Close(close));
    }

    /// Ends the connection on `error`, queueing what the protocol sends on
    /// failure: a server's HTTP error status during the handshake.
    fn fail(&mut self, error: Error) {
        let answer_status = match self.phase {
            Phase::ServerHead { .. } | Phase::ServerKey3 { .. } | Phase::ServerDecision { .. } => {
                error.http_status()
            }
            _ => None,
        };
        if let Some(status) = answer_status {
            let body = alloc::format!("{error}\n");
            self.write_http_response(HttpResponse::text(status, &body));
        }
        self.phase = Phase::Done;
        self.deferred = Vec::new();
        self.events.push_back(Event::Error(error));
    }

    fn write_http_response(&mut self, response: HttpResponse) {
        let out = &mut self.transmit;
        let status_line = alloc::format!(
            "HTTP/1.1 {} {}",
            response.status,
            http::reason_phrase(response.status)
        );
        out.extend_from_slice(status_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut headers = response.headers;
        let has = |headers: &[Header], name: &str| {
            headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
        };
        if !has(&headers, "Content-Length") {
            headers.push(Header::new(
                "Content-Length",
                alloc::format!("{}", response.body.len()),
            ));
        }
        if !has(&headers, "Connection") {
            headers.push(Header::new("Connection", "close"));
        }
        for h in &headers {
            http::write_header(out, &h.name, &h.value);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&response.body);
        self.response = Some(ResponseHead {
            minor_version: 1,
            status: response.status,
            reason: http::reason_phrase(response.status).into(),
            line: status_line,
            headers: Headers(headers),
        });
    }
}
