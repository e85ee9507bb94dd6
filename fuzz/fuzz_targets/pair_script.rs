//! A client and a server, connected through their own handshake, run a
//! script of commands, partial deliveries, ends of stream and clock ticks,
//! in 'old', 'new', RFC 6455 or RFC 6455 with permessage-deflate.
//!
//! Checked against a model of both ends:
//! - every command succeeds exactly when the protocol and the state allow
//!   it, and a refused command queues nothing and changes no state;
//! - what each end receives (messages and pings, in order, intact) is at
//!   every moment a prefix of what the other end sent successfully, and all
//!   of it once every byte was delivered, unless the receiver failed or its
//!   stream was ended;
//! - pongs answer the pings sent, in order;
//! - a close started by either end is seen by both, with the right code
//!   and reason, when every byte was delivered and nothing failed;
//! - no event after `Close` or `Error`, and a finished end takes no input.
#![no_main]

use arbitrary::Arbitrary;
use hybi_core::framing::rfc6455::wire::is_valid_close_code;
use hybi_core::{Close, Connection, Event, Instant, State};
use hybi_fuzz::{pair, PairProtocol, Watch, Wire};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Proto {
    Old,
    New,
    Rfc6455,
    Deflate(u8),
}

#[derive(Arbitrary, Debug)]
enum Code {
    None,
    Normal,
    Listed(u8),
    Raw(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    SendText {
        client: bool,
        text: String,
    },
    SendBinary {
        client: bool,
        data: Vec<u8>,
    },
    SendPing {
        client: bool,
        data: Vec<u8>,
    },
    SendFragment {
        client: bool,
        binary: bool,
        data: Vec<u8>,
        fin: bool,
    },
    Close {
        client: bool,
        code: Code,
        reason: String,
    },
    Deliver {
        from_client: bool,
        max_bytes: u16,
    },
    /// Like `Deliver`, but the receiver's application does not look at its
    /// events until the next operation: a peer's close then waits to be
    /// taken (and answered) while other operations (a tick, a send) happen.
    DeliverLate {
        from_client: bool,
        max_bytes: u16,
    },
    Eof {
        client: bool,
    },
    Tick(u16),
}

#[derive(Arbitrary, Debug)]
struct Script {
    proto: Proto,
    streaming: bool,
    ops: Vec<Op>,
}

/// What one end sends the other, in order: the things the model checks.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

struct End {
    name: &'static str,
    conn: Connection,
    watch: Watch,
    /// Sent successfully, in order.
    sent: Vec<Item>,
    /// Received, in order (streamed pieces reassembled).
    received: Vec<Item>,
    pings_sent: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    /// A fragmented message being sent: its type and bytes so far.
    sending: Option<(bool, Vec<u8>)>,
    /// Bytes of a split character held back for the next text fragment.
    carry: Vec<u8>,
    /// A streamed message being received: its type and bytes so far.
    streaming_in: Option<(bool, Vec<u8>)>,
    close_sent: Option<(Option<u16>, String)>,
    close_seen: Option<Close>,
    failed: bool,
    eof: bool,
}

impl End {
    fn new(name: &'static str, conn: Connection, watch: Watch) -> End {
        End {
            name,
            conn,
            watch,
            sent: Vec::new(),
            received: Vec::new(),
            pings_sent: Vec::new(),
            pongs: Vec::new(),
            sending: None,
            carry: Vec::new(),
            streaming_in: None,
            close_sent: None,
            close_seen: None,
            failed: false,
            eof: false,
        }
    }

    fn finished(&self) -> bool {
        self.watch.finished.is_some()
    }

    fn can_send(&self) -> bool {
        self.close_sent.is_none() && !self.finished()
    }

    fn events(&mut self) {
        for event in self.watch.drain(&mut self.conn) {
            match event {
                Event::Text(t) => self.received.push(Item::Text(t)),
                Event::Binary(b) => self.received.push(Item::Binary(b)),
                Event::Ping(p) => self.received.push(Item::Ping(p)),
                Event::Pong(p) => self.pongs.push(p),
                Event::TextFragment { text, fin } => self.piece(false, text.as_bytes(), fin),
                Event::BinaryFragment { data, fin } => self.piece(true, &data, fin),
                Event::Close(close) => self.close_seen = Some(close),
                Event::Error(_) => self.failed = true,
                other => panic!("{}: unexpected {other:?} on an open connection", self.name),
            }
        }
    }

    fn piece(&mut self, binary: bool, bytes: &[u8], fin: bool) {
        let (kind, buf) = self.streaming_in.get_or_insert_with(|| (binary, Vec::new()));
        assert_eq!(*kind, binary, "{}: a piece of another message type", self.name);
        buf.extend_from_slice(bytes);
        if fin {
            let (binary, buf) = self.streaming_in.take().expect("a message in progress");
            self.received.push(if binary {
                Item::Binary(buf)
            } else {
                Item::Text(String::from_utf8(buf).expect("pieces of whole characters"))
            });
        }
    }
}

struct Pair {
    proto: PairProtocol,
    rfc6455: bool,
    now: Instant,
    ends: [End; 2],
    /// Bytes on their way: `wires[0]` from the client, `wires[1]` from the
    /// server.
    wires: [Wire; 2],
}

impl Pair {
    fn collect(&mut self) {
        for i in 0..2 {
            self.wires[i].collect(&mut self.ends[i].conn);
        }
    }

    fn deliver(&mut self, from: usize, max: usize) {
        self.deliver_then(from, max, true);
    }

    /// Delivers up to `max` bytes; `look` drains the receiver's events.
    fn deliver_then(&mut self, from: usize, max: usize, look: bool) {
        let bytes = self.wires[from].take(max);
        if bytes.is_empty() {
            return;
        }
        let to = &mut self.ends[1 - from];
        let finished = to.finished();
        let before = to.conn.pending_transmit();
        to.conn.handle_input(self.now, &bytes);
        if look {
            to.events();
        }
        if finished {
            assert_eq!(to.conn.pending_transmit(), before, "{}: finished end queued bytes", to.name);
        }
    }

    /// Runs a command on end `i`: its success must match the model's
    /// expectation, and a refusal must change nothing.
    fn command(
        &mut self,
        i: usize,
        expect_ok: bool,
        what: &str,
        run: impl FnOnce(&mut Connection) -> bool,
    ) -> bool {
        let end = &mut self.ends[i];
        let before = (end.conn.pending_transmit(), end.conn.state());
        let ok = run(&mut end.conn);
        assert_eq!(
            ok, expect_ok,
            "{}: {what} in {:?} (proto {:?}, close sent {:?}, finished {:?})",
            end.name, before.1, self.proto, end.close_sent, end.watch.finished
        );
        if !ok {
            assert_eq!(
                (end.conn.pending_transmit(), end.conn.state()),
                before,
                "{}: refused {what} changed something",
                end.name
            );
        }
        end.events();
        ok
    }

    fn op(&mut self, op: Op) {
        let rfc = self.rfc6455;
        match op {
            Op::SendText { client, text } => {
                let i = side(client);
                let end = &self.ends[i];
                let expect = end.can_send() && end.sending.is_none();
                if self.command(i, expect, "send_text", |c| c.send_text(&text).is_ok()) {
                    self.ends[i].sent.push(Item::Text(text));
                }
            }
            Op::SendBinary { client, data } => {
                let i = side(client);
                let end = &self.ends[i];
                let expect = rfc && end.can_send() && end.sending.is_none();
                if self.command(i, expect, "send_binary", |c| c.send_binary(&data).is_ok()) {
                    self.ends[i].sent.push(Item::Binary(data));
                }
            }
            Op::SendPing { client, mut data } => {
                data.truncate(125);
                let i = side(client);
                let expect = rfc && self.ends[i].can_send();
                if self.command(i, expect, "send_ping", |c| c.send_ping(&data).is_ok()) {
                    self.ends[i].pings_sent.push(data.clone());
                    self.ends[i].sent.push(Item::Ping(data));
                }
            }
            Op::SendFragment { client, binary, data, fin } => {
                let i = side(client);
                let end = &self.ends[i];
                let expect = rfc && end.can_send() && end.sending.as_ref().is_none_or(|(b, _)| *b == binary);
                // Text fragments carry valid text overall, but a fragment
                // may end inside a character (the rest starts the next).
                let (bytes, carry) = if binary {
                    (data.clone(), Vec::new())
                } else {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    let mut bytes = end.carry.clone();
                    bytes.extend_from_slice(text.as_bytes());
                    let cut = if fin {
                        0
                    } else {
                        usize::from(data.first().copied().unwrap_or(0) % 4).min(bytes.len())
                    };
                    let carry = bytes.split_off(bytes.len() - cut);
                    (bytes, carry)
                };
                if self.command(i, expect, "send_fragment", |c| c.send_fragment(binary, &bytes, fin).is_ok())
                {
                    let end = &mut self.ends[i];
                    end.carry = carry;
                    let (_, buf) = end.sending.get_or_insert_with(|| (binary, Vec::new()));
                    buf.extend_from_slice(&bytes);
                    if fin {
                        let (binary, buf) = end.sending.take().expect("in progress");
                        end.sent.push(if binary {
                            Item::Binary(buf)
                        } else {
                            Item::Text(String::from_utf8(buf).expect("fragments of valid text"))
                        });
                    }
                }
            }
            Op::Close { client, code, reason } => {
                let i = side(client);
                let code = match code {
                    Code::None => None,
                    Code::Normal => Some(1000),
                    Code::Listed(n) => Some(
                        [1001, 1002, 1003, 1005, 1006, 1007, 1011, 1015, 3000, 4999][usize::from(n % 10)],
                    ),
                    Code::Raw(c) => Some(c),
                };
                let allowed = if rfc {
                    match code {
                        None => reason.is_empty(),
                        Some(c) => is_valid_close_code(c) && reason.len() <= 123,
                    }
                } else {
                    matches!(code, None | Some(1000)) && reason.is_empty()
                };
                let expect = self.ends[i].can_send() && allowed;
                let now = self.now;
                // The peer's close already read (taken or not: `DeliverLate`)
                // and not answered: ours is the answer.
                let ending = self.ends[i].conn.state() == State::Ending;
                if self.command(i, expect, "close", |c| c.close(now, code, &reason).is_ok()) {
                    let end = &mut self.ends[i];
                    end.close_sent = Some((code, reason));
                    end.sending = None;
                    end.carry.clear();
                    let answered = ending && end.conn.state() == State::Closed;
                    assert!(end.conn.state() == State::Closing || answered, "{:?}", end.conn.state());
                }
            }
            Op::Deliver { from_client, max_bytes } => {
                self.collect();
                let max = if max_bytes == 0 { usize::MAX } else { usize::from(max_bytes) };
                self.deliver(side(from_client), max);
            }
            Op::DeliverLate { from_client, max_bytes } => {
                self.collect();
                let max = if max_bytes == 0 { usize::MAX } else { usize::from(max_bytes) };
                self.deliver_then(side(from_client), max, false);
            }
            Op::Eof { client } => {
                let end = &mut self.ends[side(client)];
                end.eof = true;
                let finished = end.finished();
                end.conn.handle_eof();
                end.events();
                assert_eq!(end.conn.state(), State::Closed, "{}: open after end of stream", end.name);
                assert!(
                    finished || end.watch.finished.is_some(),
                    "{}: end of stream without an event",
                    end.name
                );
            }
            Op::Tick(ms) => {
                self.now = self.now + core::time::Duration::from_millis(u64::from(ms) * 4);
                for end in &mut self.ends {
                    end.conn.handle_timeout(self.now);
                    end.events();
                }
            }
        }
        self.collect();
        self.check_prefixes();
    }

    fn check_prefixes(&self) {
        for i in 0..2 {
            let (from, to) = (&self.ends[i], &self.ends[1 - i]);
            assert!(
                from.sent.starts_with(&to.received),
                "{} received what {} did not send (or out of order):\nsent {:?}\nreceived {:?}",
                to.name,
                from.name,
                from.sent,
                to.received
            );
            assert!(
                from.pings_sent.starts_with(&from.pongs),
                "{}: pongs {:?} do not answer pings {:?}",
                from.name,
                from.pongs,
                from.pings_sent
            );
        }
    }

    /// Delivers every byte both ways until nothing moves.
    fn flush(&mut self) {
        // What a `DeliverLate` left unread is read now.
        for end in &mut self.ends {
            end.events();
        }
        for _ in 0..8 {
            self.collect();
            if self.wires.iter().all(|w| w.0.is_empty()) {
                return;
            }
            self.deliver(0, usize::MAX);
            self.deliver(1, usize::MAX);
        }
        panic!("bytes still moving after 8 rounds");
    }

    fn check_final(&self) {
        for i in 0..2 {
            let (from, to) = (&self.ends[i], &self.ends[1 - i]);
            if !to.failed && !to.eof {
                assert_eq!(
                    from.sent, to.received,
                    "{} did not receive everything {} sent, all bytes delivered",
                    to.name, from.name
                );
            }
        }
        let [c, s] = &self.ends;
        let clean = !c.failed && !s.failed && !c.eof && !s.eof;
        if !clean {
            return;
        }
        for i in 0..2 {
            let (from, to) = (&self.ends[i], &self.ends[1 - i]);
            if let Some((code, reason)) = &from.close_sent {
                let expected = if self.rfc6455 {
                    Close { code: *code, reason: reason.clone() }
                } else {
                    Close::default()
                };
                assert_eq!(
                    to.close_seen.as_ref(),
                    Some(&expected),
                    "{}'s close as {} saw it",
                    from.name,
                    to.name
                );
                assert!(from.close_seen.is_some(), "{} started a close and never saw it end", from.name);
                if to.close_sent.is_none() {
                    // The echo: the same code, no reason.
                    let echo = if self.rfc6455 {
                        Close { code: *code, reason: String::new() }
                    } else {
                        Close::default()
                    };
                    assert_eq!(from.close_seen.as_ref(), Some(&echo), "{} got a wrong echo", from.name);
                }
            }
        }
        if c.close_sent.is_none() && s.close_sent.is_none() {
            assert!(c.close_seen.is_none() && s.close_seen.is_none(), "a close nobody sent");
            assert_eq!(c.conn.state(), State::Open);
            assert_eq!(s.conn.state(), State::Open);
        } else {
            assert_eq!(c.conn.state(), State::Closed);
            assert_eq!(s.conn.state(), State::Closed);
        }
    }
}

fn side(client: bool) -> usize {
    if client {
        0
    } else {
        1
    }
}

fuzz_target!(|script: Script| {
    let proto = match script.proto {
        Proto::Old => PairProtocol::Old,
        Proto::New => PairProtocol::New,
        Proto::Rfc6455 => PairProtocol::Rfc6455,
        Proto::Deflate(choice) => PairProtocol::Deflate(choice),
    };
    let (client_config, server_config) = proto.configs(script.streaming);
    let client_watch = Watch::new(&client_config);
    let server_watch = Watch::new(&server_config);
    let (c, s) = pair(client_config, server_config);
    let mut pair = Pair {
        proto,
        rfc6455: proto.is_rfc6455(),
        now: Instant::ZERO,
        ends: [End::new("client", c, client_watch), End::new("server", s, server_watch)],
        wires: [Wire::default(), Wire::default()],
    };
    for op in script.ops.into_iter().take(256) {
        pair.op(op);
    }
    pair.flush();
    pair.check_prefixes();
    pair.check_final();
});
