//! How a connection ends when the peer ends it (docs/PROTOCOLS.md §9 and
//! ARCHITECTURE.md, "Closing"): the peer's close, or an error in its input,
//! is reported after every event before it, nothing more is read, and the
//! application may still answer what it read (State::Ending) until it calls
//! `finish` (or `close`, or the close deadline passes); only then does the
//! close go out. So an echo server that reads messages together with the
//! end in one read echoes every one of them before its close, whatever the
//! reads look like, in both roles and every protocol.

mod common;

use common::{
    client_request, drain, every_chunking, rfc6455_frame, rfc6455_frames, text_frame, transmit, Pair, NOW,
};
use hybi_core::{
    Close, Config, Connection, Error, Event, Framing, Instant, LimitError, Limits, Misuse, Protocol,
    ProtocolError, State,
};

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;

/// The end of a connection in a test's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Old,
    New,
    Rfc6455,
}

const KINDS: [Kind; 3] = [Kind::Old, Kind::New, Kind::Rfc6455];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// An open pair of `kind`, with the close deadline at `close` (none when
/// `None`) and messages of at most 64 bytes.
fn open_pair(kind: Kind, close: Option<core::time::Duration>) -> Pair {
    let mut config = match kind {
        Kind::Old => common::client_config(Framing::Old),
        Kind::New => common::client_config(Framing::New),
        Kind::Rfc6455 => Config { protocol: Protocol::Rfc6455, ..Config::default() },
    };
    config.timeouts.close = close;
    config.limits = Limits { max_message_size: 64, ..Limits::default() };
    let framing = if kind == Kind::New { Framing::New } else { Framing::Old };
    let server = Config { framing, ..config.clone() };
    let mut pair = Pair::new(config, client_request(), server, 3);
    pair.handshake();
    pair
}

fn end_of(pair: &mut Pair, side: Side) -> &mut Connection {
    match side {
        Side::Server => &mut pair.server,
        Side::Client => &mut pair.client,
    }
}

/// A text frame as the peer of `side` sends it: masked towards a server.
fn peer_text(kind: Kind, side: Side, text: &[u8]) -> Vec<u8> {
    peer_frame(kind, side, FIN | TEXT, text)
}

fn peer_frame(kind: Kind, side: Side, b0: u8, payload: &[u8]) -> Vec<u8> {
    match kind {
        Kind::Old => text_frame(Framing::Old, payload),
        Kind::New => text_frame(Framing::New, payload),
        Kind::Rfc6455 => {
            rfc6455_frame(b0, payload, (side == Side::Server).then_some([0x37, 0xfa, 0x21, 0x3d]))
        }
    }
}

/// The peer's close frame: RFC 6455 with `code` and `reason`.
fn peer_close(kind: Kind, side: Side, code: u16, reason: &str) -> Vec<u8> {
    match kind {
        Kind::Old => common::close_frame(Framing::Old),
        Kind::New => common::close_frame(Framing::New),
        Kind::Rfc6455 => {
            let payload = [&code.to_be_bytes()[..], reason.as_bytes()].concat();
            peer_frame(kind, side, FIN | CLOSE, &payload)
        }
    }
}

/// An echo application: feeds `reads` to `conn` one by one, and after each
/// read takes every event, echoes each message at once, and finishes the
/// connection when it reaches the end. Returns the events and what was
/// transmitted. Checks on the way that nothing is transmitted for the end
/// before the application reached it.
fn echo_app(conn: &mut Connection, reads: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let mut events = Vec::new();
    let mut wire = Vec::new();
    for read in reads {
        conn.handle_input(NOW, read);
        while let Some(event) = conn.poll_event() {
            match &event {
                Event::Text(text) => conn.send_text(text).expect("an answer before the end is allowed"),
                Event::Binary(data) => conn.send_binary(data).expect("an answer before the end is allowed"),
                Event::Close(_) | Event::Error(_) => {
                    if conn.state() == State::Ending {
                        // Reached the end: nothing has gone out for it yet.
                        let before = transmit(conn);
                        if let Some(last) = last_rfc6455_opcode(conn, &before) {
                            assert_ne!(
                                last, CLOSE,
                                "the close went out before the application reached the end"
                            );
                        }
                        wire.extend(before);
                    }
                    conn.finish();
                }
                _ => {}
            }
            events.push(event);
        }
        wire.extend(transmit(conn));
    }
    (events, wire)
}

/// The echo application on `side` of a fresh open pair of `kind`, fed
/// `reads`: its events, what it transmitted, its state after, and the reads'
/// sizes for messages.
fn echo_run(kind: Kind, side: Side, reads: &[&[u8]]) -> (Vec<Event>, Vec<u8>, State, String) {
    let mut pair = open_pair(kind, None);
    let conn = end_of(&mut pair, side);
    let (events, wire) = echo_app(conn, reads);
    let sizes: Vec<usize> = reads.iter().map(|r| r.len()).collect();
    (events, wire, conn.state(), format!("reads {sizes:?}"))
}

fn last_rfc6455_opcode(conn: &Connection, bytes: &[u8]) -> Option<u8> {
    if conn.protocol() != Some(Protocol::Rfc6455) || bytes.is_empty() {
        return None;
    }
    rfc6455_frames(bytes).last().map(|(b0, _, _)| b0 & 0x0f)
}

/// What an echo server transmitted, frame by frame (draft-76: the bytes).
fn sent_frames(kind: Kind, side: Side, wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    match kind {
        Kind::Rfc6455 => rfc6455_frames(wire)
            .into_iter()
            .map(|(b0, mask, payload)| {
                assert_eq!(mask.is_some(), side == Side::Client, "masking follows the role");
                (b0, payload)
            })
            .collect(),
        _ => vec![(0, wire.to_vec())],
    }
}

/// The echoes of `messages` in `kind`, as [`sent_frames`] shows them.
fn echoes(kind: Kind, messages: &[&str], then: &[u8]) -> Vec<(u8, Vec<u8>)> {
    match kind {
        Kind::Rfc6455 => messages.iter().map(|m| (FIN | TEXT, m.as_bytes().to_vec())).collect(),
        Kind::Old | Kind::New => {
            let framing = if kind == Kind::Old { Framing::Old } else { Framing::New };
            let mut bytes: Vec<u8> =
                messages.iter().flat_map(|m| text_frame(framing, m.as_bytes())).collect();
            bytes.extend_from_slice(then);
            vec![(0, bytes)]
        }
    }
}

#[test]
fn messages_read_with_the_peer_close_are_answered_before_the_close_every_chunking() {
    for kind in KINDS {
        for side in [Side::Server, Side::Client] {
            let stream = [
                peer_text(kind, side, b"first"),
                peer_text(kind, side, "sécond".as_bytes()),
                peer_close(kind, side, 1000, "bye"),
            ]
            .concat();
            let close = match kind {
                Kind::Rfc6455 => Close { code: Some(1000), reason: "bye".into() },
                _ => Close::default(),
            };
            for chunking in every_chunking(&stream) {
                let (events, wire, state, ctx) = echo_run(kind, side, &chunking.chunks(&stream));
                let ctx = format!("{kind:?} {side:?} {ctx}");
                assert_eq!(
                    events,
                    [Event::Text("first".into()), Event::Text("sécond".into()), Event::Close(close.clone())],
                    "{ctx}"
                );
                assert_eq!(state, State::Closed, "{ctx}");
                let mut expected = echoes(kind, &["first", "sécond"], &common::close_frame(Framing::Old));
                match kind {
                    // The answer echoes the code, not the reason.
                    Kind::Rfc6455 => expected.push((FIN | CLOSE, 1000u16.to_be_bytes().to_vec())),
                    Kind::Old => {}
                    Kind::New => {
                        expected = echoes(kind, &["first", "sécond"], &common::close_frame(Framing::New))
                    }
                }
                assert_eq!(sent_frames(kind, side, &wire), expected, "{ctx}");
            }
        }
    }
}

/// One RFC 6455 input error after a valid message: the frames that cause
/// it, what is reported, and the close code that must follow the echo.
fn rfc6455_errors(side: Side) -> Vec<(&'static str, Vec<u8>, Error, u16)> {
    let frame = |b0, payload: &[u8]| peer_frame(Kind::Rfc6455, side, b0, payload);
    vec![
        ("reserved bit", frame(FIN | RSV1 | TEXT, b"x"), ProtocolError::ReservedBits.into(), 1002),
        ("reserved opcode", frame(FIN | 0x3, b"x"), ProtocolError::ReservedOpcode(3).into(), 1002),
        (
            "continuation of nothing",
            frame(FIN | CONTINUATION, b"x"),
            ProtocolError::UnexpectedContinuation.into(),
            1002,
        ),
        (
            "a new message inside a fragmented one",
            [frame(TEXT, b"a"), frame(FIN | BINARY, b"b")].concat(),
            ProtocolError::ExpectedContinuation.into(),
            1002,
        ),
        ("invalid UTF-8", frame(FIN | TEXT, b"\xc3\x28"), ProtocolError::InvalidUtf8.into(), 1007),
        (
            "a message over the limit",
            frame(FIN | TEXT, &[b'x'; 65]),
            LimitError::MessageTooLarge { limit: 64 }.into(),
            1009,
        ),
    ]
}

#[test]
fn messages_before_a_bad_frame_are_answered_before_the_failing_close_every_chunking() {
    for side in [Side::Server, Side::Client] {
        for (name, bad, error, code) in rfc6455_errors(side) {
            let stream =
                [peer_text(Kind::Rfc6455, side, b"valid"), bad, peer_text(Kind::Rfc6455, side, b"after")]
                    .concat();
            for chunking in every_chunking(&stream) {
                let (events, wire, state, ctx) = echo_run(Kind::Rfc6455, side, &chunking.chunks(&stream));
                let ctx = format!("{name}, {side:?}, {ctx}");
                assert_eq!(events, [Event::Text("valid".into()), Event::Error(error.clone())], "{ctx}");
                assert_eq!(state, State::Closed, "{ctx}");
                assert_eq!(
                    sent_frames(Kind::Rfc6455, side, &wire),
                    [(FIN | TEXT, b"valid".to_vec()), (FIN | CLOSE, code.to_be_bytes().to_vec())],
                    "{ctx}: the echo, then the close with the error's code"
                );
            }
        }
    }
}

#[test]
fn draft76_messages_before_invalid_text_are_answered_before_the_connection_ends() {
    for kind in [Kind::Old, Kind::New] {
        for side in [Side::Server, Side::Client] {
            let stream = [peer_text(kind, side, b"valid"), peer_text(kind, side, b"\xc3\x28")].concat();
            for chunking in every_chunking(&stream) {
                let (events, wire, state, ctx) = echo_run(kind, side, &chunking.chunks(&stream));
                let ctx = format!("{kind:?} {side:?} {ctx}");
                assert_eq!(
                    events,
                    [Event::Text("valid".into()), Event::Error(ProtocolError::InvalidUtf8.into())],
                    "{ctx}"
                );
                assert_eq!(state, State::Closed, "{ctx}");
                // The draft fails without a word: the echo is all.
                assert_eq!(sent_frames(kind, side, &wire), echoes(kind, &["valid"], &[]), "{ctx}");
            }
        }
    }
}

#[test]
fn the_end_waits_for_finish_and_nothing_more_is_read() {
    for kind in KINDS {
        let mut pair = open_pair(kind, None);
        let stream =
            [peer_text(kind, Side::Server, b"one"), peer_close(kind, Side::Server, 1001, "")].concat();
        pair.server.handle_input(NOW, &stream);
        // Taking and peeking answer nothing.
        assert_eq!(pair.server.poll_event(), Some(Event::Text("one".into())), "{kind:?}");
        assert!(matches!(pair.server.peek_event(), Some(Event::Close(_))), "{kind:?}");
        assert!(matches!(pair.server.poll_event(), Some(Event::Close(_))), "{kind:?}");
        assert_eq!(pair.server.state(), State::Ending, "{kind:?}");
        assert_eq!(pair.server.pending_transmit(), 0, "{kind:?}: nothing before finish");
        // Input after the close and the end of the stream change nothing.
        pair.server.handle_input(NOW, &peer_text(kind, Side::Server, b"late"));
        pair.server.handle_eof();
        assert_eq!(pair.server.poll_event(), None, "{kind:?}");
        assert_eq!(pair.server.state(), State::Ending, "{kind:?}");
        // Sending is still allowed, and goes first.
        pair.server.send_text("reply").unwrap();
        pair.server.finish();
        assert_eq!(pair.server.state(), State::Closed, "{kind:?}");
        let wire = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &wire);
        let code = (kind == Kind::Rfc6455).then_some(1001);
        assert_eq!(
            drain(&mut pair.client),
            [Event::Text("reply".into()), Event::Close(Close { code, reason: String::new() })],
            "{kind:?}"
        );
        // finish again, and every command, find nothing to do.
        pair.server.finish();
        assert_eq!(pair.server.send_text("x"), Err(Misuse::NotOpen), "{kind:?}");
        assert_eq!(pair.server.pending_transmit(), 0, "{kind:?}");
    }
}

#[test]
fn the_close_deadline_bounds_the_wait_for_finish() {
    let deadline = core::time::Duration::from_secs(5);
    for kind in KINDS {
        for failure in [false, true] {
            if failure && kind != Kind::Rfc6455 {
                continue;
            }
            let ctx = format!("{kind:?} failure={failure}");
            let mut pair = open_pair(kind, Some(deadline));
            let t = Instant::from_millis(1_000);
            let end = if failure {
                peer_frame(kind, Side::Server, FIN | RSV1 | TEXT, b"x")
            } else {
                peer_close(kind, Side::Server, 1000, "")
            };
            pair.server.handle_input(t, &[peer_text(kind, Side::Server, b"m"), end].concat());
            assert_eq!(pair.server.poll_timeout(), Some(t + deadline), "{ctx}");
            pair.server.handle_timeout(Instant::from_millis(1_000 + 4_999));
            assert_eq!(pair.server.state(), State::Ending, "{ctx}: not yet");
            pair.server.handle_timeout(t + deadline);
            assert_eq!(pair.server.state(), State::Closed, "{ctx}");
            assert_eq!(pair.server.poll_timeout(), None, "{ctx}");
            // The events stay as they were: the deadline adds none.
            let events = std::iter::from_fn(|| pair.server.poll_event()).collect::<Vec<_>>();
            assert_eq!(events.len(), 2, "{ctx}: {events:?}");
            assert!(matches!(events[1], Event::Close(_) | Event::Error(_)), "{ctx}: {events:?}");
            let wire = transmit(&mut pair.server);
            if kind == Kind::Rfc6455 {
                let code: u16 = if failure { 1002 } else { 1000 };
                assert_eq!(
                    rfc6455_frames(&wire),
                    [(FIN | CLOSE, None, code.to_be_bytes().to_vec())],
                    "{ctx}"
                );
            } else {
                assert_eq!(
                    wire,
                    common::close_frame(if kind == Kind::Old { Framing::Old } else { Framing::New })
                );
            }
        }
    }
}

#[test]
fn close_while_ending_answers_with_its_own_code_once() {
    for kind in KINDS {
        let mut pair = open_pair(kind, None);
        pair.server.handle_input(NOW, &peer_close(kind, Side::Server, 1000, "bye"));
        assert_eq!(pair.server.state(), State::Ending, "{kind:?}");
        let (code, reason) = if kind == Kind::Rfc6455 { (Some(4000), "own") } else { (None, "") };
        if kind != Kind::Rfc6455 {
            assert_eq!(
                pair.server.close(NOW, Some(1001), ""),
                Err(Misuse::CloseCodeUnsupported),
                "{kind:?}: the draft has no codes"
            );
        }
        pair.server.close(NOW, code, reason).unwrap();
        assert_eq!(pair.server.state(), State::Closed, "{kind:?}");
        pair.server.finish();
        let wire = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &wire);
        assert_eq!(
            drain(&mut pair.client),
            [Event::Close(Close { code, reason: reason.into() })],
            "{kind:?}"
        );
        assert_eq!(pair.server.poll_event().map(|e| matches!(e, Event::Close(_))), Some(true), "{kind:?}");
        assert_eq!(pair.server.poll_event(), None, "{kind:?}");
    }
}

#[test]
fn close_after_a_peer_error_sends_the_errors_code() {
    let mut pair = open_pair(Kind::Rfc6455, None);
    pair.server.handle_input(NOW, &peer_frame(Kind::Rfc6455, Side::Server, FIN | TEXT, b"\xff"));
    assert_eq!(pair.server.state(), State::Ending);
    pair.server.close(NOW, Some(1000), "").unwrap();
    assert_eq!(rfc6455_frames(&transmit(&mut pair.server)), [(FIN | CLOSE, None, vec![0x03, 0xef])]);
    assert_eq!(pair.server.state(), State::Closed);
}

#[test]
fn a_close_answering_ours_ends_at_once() {
    for kind in KINDS {
        let mut pair = open_pair(kind, None);
        pair.server.close(NOW, None, "").unwrap();
        assert_eq!(pair.server.state(), State::Closing, "{kind:?}");
        let ours = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &ours);
        assert!(matches!(drain(&mut pair.client).as_slice(), [Event::Close(_)]), "{kind:?}");
        let answer = transmit(&mut pair.client);
        pair.server.handle_input(NOW, &[peer_text(kind, Side::Server, b"in flight"), answer].concat());
        assert_eq!(pair.server.state(), State::Closed, "{kind:?}: nothing is owed");
        assert_eq!(pair.server.poll_timeout(), None, "{kind:?}");
        assert_eq!(pair.server.poll_event(), Some(Event::Text("in flight".into())), "{kind:?}");
        assert!(matches!(pair.server.poll_event(), Some(Event::Close(_))), "{kind:?}");
        pair.server.handle_timeout(Instant::from_millis(u64::MAX));
        assert_eq!(pair.server.poll_event(), None, "{kind:?}: one ending only");
    }
}

#[test]
fn go_away_speaks_each_protocol() {
    for kind in KINDS {
        let mut pair = open_pair(kind, None);
        pair.server.go_away(NOW, "server shutting down").unwrap();
        assert_eq!(pair.server.state(), State::Closing, "{kind:?}");
        let wire = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &wire);
        let expected = match kind {
            Kind::Rfc6455 => Close { code: Some(1001), reason: "server shutting down".into() },
            _ => Close::default(),
        };
        assert_eq!(drain(&mut pair.client), [Event::Close(expected)], "{kind:?}");
        // Going away twice, or once closed, does nothing more.
        pair.server.go_away(NOW, "again").unwrap();
        assert_eq!(pair.server.pending_transmit(), 0, "{kind:?}");
    }
    // While the peer is done, going away is finishing.
    let mut pair = open_pair(Kind::Rfc6455, None);
    pair.server.handle_input(NOW, &peer_close(Kind::Rfc6455, Side::Server, 1000, ""));
    pair.server.go_away(NOW, "server shutting down").unwrap();
    assert_eq!(rfc6455_frames(&transmit(&mut pair.server)), [(FIN | CLOSE, None, vec![0x03, 0xe8])]);
    // During the handshake there is nothing to close.
    let mut server = Connection::server(NOW, Config::default());
    assert_eq!(server.go_away(NOW, ""), Err(Misuse::NotOpen));
}
