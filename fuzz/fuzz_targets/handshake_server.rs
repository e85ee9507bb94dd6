//! Raw bytes to a server, cut at fuzzer-chosen points: draft-76, RFC 6455
//! and plain HTTP requests, told apart by the server itself, and whatever
//! follows them (key3, frames). A request is accepted or answered, as a
//! fuzz bit says, at once or only after more input (and the end of the
//! stream) arrived.
//!
//! Input: `[flags, split, more, bytes...]`.
//! flags: bit 0 small limits (else the defaults), bit 1 draft-76 framing
//! 'new' (else 'auto', the default, or 'old' with more's bit 4), bit 2 answer with `respond` instead of `accept`, bit 3 offer
//! permessage-deflate, bit 4 end of stream after the input, bit 5 choose
//! the first offered subprotocol, bits 6–7 the protocols accepted (all,
//! RFC 6455 only, draft-76 only, all).
//! more: bit 0 decide late, bit 1 streaming, bit 2 replace invalid
//! draft-76 text, bit 3 tiny limits, bit 4 draft-76 framing 'old'.
#![no_main]

use hybi_core::handshake::rfc6455::offered_subprotocols;
use hybi_core::{
    Accept, Config, Connection, DeflateConfig, Error, Event, Framing, HttpResponse, Instant, InvalidUtf8,
    Misuse, Protocol, ProtocolSet, RequestKind, State,
};
use hybi_fuzz::{chunks, Watch, SMALL, TINY};
use libfuzzer_sys::fuzz_target;

struct Run {
    conn: Connection,
    watch: Watch,
    config: Config,
    respond: bool,
    pick_subprotocol: bool,
    /// An `Event::Request` waits for its answer.
    pending: Option<RequestKind>,
    /// `accept` or `respond` was called successfully.
    answered: bool,
    /// Every byte the server transmitted, in order.
    sent: Vec<u8>,
}

impl Run {
    fn collect(&mut self) {
        let mut buf = Vec::new();
        let _ = self.conn.poll_transmit(&mut buf);
        self.sent.extend_from_slice(&buf);
    }

    /// Drains events, checking each; answers a request at once unless told
    /// to wait.
    fn events(&mut self, decide_now: bool) {
        loop {
            let events = self.watch.drain(&mut self.conn);
            if events.is_empty() && !(decide_now && self.pending.is_some()) {
                break;
            }
            for event in &events {
                match event {
                    Event::Request(kind) => self.on_request(*kind),
                    Event::Open => assert!(self.answered, "Event::Open before accept"),
                    Event::Error(error) if !self.answered => {
                        self.collect();
                        // A deadline that passes while the application
                        // decides is the server's fault: 503, not 408.
                        let status = match error {
                            Error::Timeout(_) if self.pending.is_some() => Some(503),
                            _ => error.http_status(),
                        };
                        if let Some(status) = status {
                            let line = format!("HTTP/1.1 {status} ");
                            assert!(
                                self.sent.starts_with(line.as_bytes()),
                                "{error:?} not answered with {status}: {:?}",
                                String::from_utf8_lossy(&self.sent)
                            );
                        }
                    }
                    _ => {}
                }
            }
            if decide_now {
                self.decide();
            }
        }
    }

    fn on_request(&mut self, kind: RequestKind) {
        let request = self.conn.request().expect("a request event comes with the request");
        assert!(!request.method.is_empty());
        match kind {
            RequestKind::Http => assert_eq!(self.conn.protocol(), None),
            RequestKind::WebSocket(protocol) => {
                assert_eq!(self.conn.protocol(), Some(protocol));
                match protocol {
                    Protocol::Draft76(framing) => {
                        assert!(self.config.accept.draft76, "draft-76 request accepted against config");
                        assert_eq!(framing, self.config.framing);
                    }
                    Protocol::Rfc6455 => {
                        assert!(self.config.accept.rfc6455, "RFC 6455 accepted against config")
                    }
                }
            }
        }
        self.pending = Some(kind);
    }

    fn decide(&mut self) {
        let Some(kind) = self.pending.take() else { return };
        if self.watch.finished.is_some() {
            // Input that waited for the decision ended the connection first
            // (too much of it, or the deadline).
            assert_eq!(self.conn.accept(Accept::default()), Err(Misuse::NoPendingRequest));
            assert!(self.conn.respond(HttpResponse::text(403, "")).is_err());
            return;
        }
        self.collect();
        assert!(self.sent.is_empty(), "server wrote before deciding");
        let http = kind == RequestKind::Http;
        if http {
            let refused = self.conn.accept(Accept::default());
            assert_eq!(refused, Err(Misuse::NoPendingRequest));
            assert_eq!(self.conn.pending_transmit(), 0, "refused accept queued bytes");
        }
        if http || self.respond {
            let status = if http { 404 } else { 403 };
            self.conn.respond(HttpResponse::text(status, "no\n")).expect("respond to a pending request");
            self.answered = true;
            assert_eq!(self.conn.state(), State::Closed);
            self.collect();
            assert!(self.sent.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
            assert_eq!(self.conn.response().map(|r| r.status), Some(status));
        } else {
            let request = self.conn.request().expect("pending request");
            let subprotocol = if self.pick_subprotocol {
                offered_subprotocols(request).first().map(|s| s.to_string())
            } else {
                None
            };
            let chosen = subprotocol.clone();
            self.conn.accept(Accept { subprotocol, headers: Vec::new() }).expect("accept a valid request");
            self.answered = true;
            assert_eq!(self.conn.subprotocol(), chosen.as_deref());
            assert_eq!(self.conn.response().map(|r| r.status), Some(101));
            self.collect();
            assert!(self.sent.starts_with(b"HTTP/1.1 101 "), "{:?}", String::from_utf8_lossy(&self.sent));
            if self.config.deflate.is_none() {
                assert!(self.conn.deflate().is_none());
            }
            // The first event after accept is Open; more may follow from
            // input that waited for the decision.
            let events = self.watch.drain(&mut self.conn);
            assert!(matches!(events.first(), Some(Event::Open)), "{events:?}");
        }
        // The answer must not be asked for twice.
        assert_eq!(self.conn.respond(HttpResponse::text(500, "")), Err(Misuse::NoPendingRequest));
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, split, more, input @ ..] = data else { return };
    let bit = |n: u8| flags & (1 << n) != 0;
    let more_bit = |n: u8| more & (1 << n) != 0;
    let mut config = Config::default();
    if bit(0) {
        config.limits = SMALL;
    }
    if more_bit(3) {
        config.limits = TINY;
    }
    if bit(1) {
        config.framing = Framing::New;
    } else if more_bit(4) {
        config.framing = Framing::Old;
    }
    if bit(3) {
        config.deflate = Some(DeflateConfig::default());
    }
    config.accept = match flags >> 6 {
        1 => ProtocolSet { draft76: false, rfc6455: true },
        2 => ProtocolSet { draft76: true, rfc6455: false },
        _ => ProtocolSet::default(),
    };
    config.streaming = more_bit(1);
    if more_bit(2) {
        config.invalid_utf8 = InvalidUtf8::Replace;
    }
    let late = more_bit(0);
    let watch = Watch::new(&config);
    let mut run = Run {
        conn: Connection::server(Instant::ZERO, config.clone()),
        watch,
        config,
        respond: bit(2),
        pick_subprotocol: bit(5),
        pending: None,
        answered: false,
        sent: Vec::new(),
    };
    let bound = 2 * run.config.limits.max_handshake_bytes + 1024;
    let mut fed = 0usize;
    for chunk in chunks(input, *split) {
        // A late decision answers a request only after the next read.
        let decide_after = !late || run.pending.is_some();
        let closed = run.conn.state() == State::Closed;
        let before = run.conn.pending_transmit();
        fed += chunk.len();
        run.conn.handle_input(Instant::ZERO, chunk);
        if closed {
            assert_eq!(run.conn.pending_transmit(), before, "closed server queued bytes after input");
            assert!(run.watch.drain(&mut run.conn).is_empty(), "closed server emitted events");
        }
        run.events(decide_after);
        let queued = run.sent.len() + run.conn.pending_transmit();
        assert!(queued <= bound + 3 * fed, "{queued} bytes queued for {fed} bytes of input");
    }
    if bit(4) {
        let closed = run.conn.state() == State::Closed;
        let before = run.conn.pending_transmit();
        run.conn.handle_eof();
        if closed {
            assert_eq!(run.conn.pending_transmit(), before, "closed server queued bytes at end of stream");
        }
        run.events(false);
    }
    run.events(true);
    if run.pending.is_none() && bit(4) {
        assert_eq!(run.conn.state(), State::Closed, "end of stream left the server {:?}", run.conn.state());
    }
    run.conn.handle_timeout(Instant::from_millis(3_600_000));
    run.events(true);
    if !run.answered {
        // Not answered within an hour: the handshake deadline ended it.
        assert_eq!(run.conn.state(), State::Closed, "handshake outlived its deadline");
    }
});
