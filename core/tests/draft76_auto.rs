//! A draft-76 server with `Framing::Auto` (the default) against clients of
//! either framing: every row of the detection table (docs/PROTOCOLS.md
//! §3.1) under every chunking, read exactly as a server told the right
//! framing reads it; the ambiguous prefixes decided by silence on the
//! virtual clock and by the end of the stream; a server that sends first
//! committing to 'old'; and the error that names a framing mismatch.

mod common;

use std::time::Duration;

use common::*;
use hybi_core::{
    Close, Config, Error, Event, EventRef, Framing, Instant, LimitError, Limits, Protocol, RequestKind,
    Stage, State, Timeouts,
};

const OLD: Framing = Framing::Old;
const NEW: Framing = Framing::New;

/// The default silence before an ambiguous prefix is decided.
const SILENCE: Duration = Duration::from_millis(500);

fn auto_config() -> Config {
    let config = Config::default();
    assert_eq!(config.framing, Framing::Auto, "a server's default framing is 'auto'");
    config
}

/// Feeds `stream` to a fresh open server in `chunking`'s reads, then the
/// end of the stream; its events and the protocol it ended with.
fn read_all(config: Config, stream: &[u8], chunking: &Chunking) -> (Vec<Event>, Option<Protocol>, Vec<u8>) {
    let mut server = open_server(config);
    let mut events = replay(&mut server, stream, chunking, false);
    let protocol = server.protocol();
    server.handle_eof();
    events.extend(drain(&mut server));
    (events, protocol, transmit(&mut server))
}

/// One row of the table: what a client sends first, the framing it is
/// read as, and the events a server told that framing gives (ending with
/// the end of the stream).
struct Row {
    what: &'static str,
    stream: Vec<u8>,
    framing: Framing,
    events: Vec<Event>,
}

fn text(s: &str) -> Event {
    Event::Text(s.into())
}

fn closed() -> Event {
    Event::Close(Close::default())
}

fn rows() -> Vec<Row> {
    let old_text = |s: &str| text_frame(OLD, s.as_bytes());
    let new_text = |s: &str| text_frame(NEW, s.as_bytes());
    let nuls = |n: usize| "\0".repeat(n);
    vec![
        Row {
            what: "00, then a non-zero byte among the next eight: 'old' text",
            stream: [old_text("hello"), old_text("x")].concat(),
            framing: OLD,
            events: vec![text("hello"), text("x"), closed()],
        },
        Row {
            what: "00 and NULs, the sentinel among the next eight bytes",
            stream: old_text(&nuls(3)),
            framing: OLD,
            events: vec![text(&nuls(3)), closed()],
        },
        Row {
            what: "00, then the sentinel at once: the empty 'old' text",
            stream: [old_text(""), old_text("after")].concat(),
            framing: OLD,
            events: vec![text(""), text("after"), closed()],
        },
        Row {
            what: "00 and eight 00s, then more: 'old' text of eight NULs",
            stream: old_text(&nuls(8)),
            framing: OLD,
            events: vec![text(&nuls(8)), closed()],
        },
        Row {
            what: "00 and eight 00s, then more: 'old' text of many NULs",
            stream: [old_text(&nuls(20)), old_text("z")].concat(),
            framing: OLD,
            events: vec![text(&nuls(20)), text("z"), closed()],
        },
        Row {
            what: "00 and eight 00s, nothing more: the 'new' close",
            stream: close_frame(NEW),
            framing: NEW,
            events: vec![closed()],
        },
        Row {
            what: "FF 00, then more: 'new' text",
            stream: [new_text("hello"), new_text("wörld ✓")].concat(),
            framing: NEW,
            events: vec![text("hello"), text("wörld ✓"), closed()],
        },
        Row {
            what: "FF 00, then more: the empty 'new' text, then the 'new' close",
            stream: [new_text(""), close_frame(NEW)].concat(),
            framing: NEW,
            events: vec![text(""), closed()],
        },
        Row {
            what: "FF 00 and a long 'new' text",
            stream: new_text(&"n".repeat(300)),
            framing: NEW,
            events: vec![text(&"n".repeat(300)), closed()],
        },
        Row {
            what: "FF 00, nothing more: the 'old' close",
            stream: close_frame(OLD),
            framing: OLD,
            events: vec![closed()],
        },
        Row {
            what: "FF then not 00: an 'old' length frame, discarded",
            stream: [vec![0xFF, 0x02, b'a', b'b'], old_text("kept")].concat(),
            framing: OLD,
            events: vec![text("kept"), closed()],
        },
        Row {
            what: "01: an 'old' sentinel frame of another type, discarded",
            stream: [vec![0x01, b'a', 0xFF], old_text("kept")].concat(),
            framing: OLD,
            events: vec![text("kept"), closed()],
        },
        Row {
            what: "7F: an 'old' sentinel frame of another type, discarded",
            stream: [vec![0x7F, 0xFF], old_text("kept")].concat(),
            framing: OLD,
            events: vec![text("kept"), closed()],
        },
        Row {
            what: "80: an 'old' length frame, discarded",
            stream: [vec![0x80, 0x03, 1, 2, 3], old_text("kept")].concat(),
            framing: OLD,
            events: vec![text("kept"), closed()],
        },
        Row {
            what: "FE: an 'old' length frame of two digits, discarded",
            stream: [vec![0xFE, 0x81, 0x00], vec![7; 128], old_text("kept")].concat(),
            framing: OLD,
            events: vec![text("kept"), closed()],
        },
        Row { what: "nothing at all", stream: Vec::new(), framing: OLD, events: vec![closed()] },
    ]
}

#[test]
fn every_row_of_the_table_is_read_as_a_server_told_its_framing_reads_it() {
    for row in rows() {
        for streaming in [false, true] {
            let config = Config { streaming, ..auto_config() };
            let told = Config { framing: row.framing, ..config.clone() };
            let (expected, _, expected_out) = read_all(told, &row.stream, &Chunking::Whole);
            if !streaming {
                assert_events(&expected, &row.events, row.what);
            }
            let mut chunkings = every_chunking(&row.stream);
            chunkings.push(Chunking::Sizes(vec![2, 3, 1]));
            for chunking in &chunkings {
                let context = format!("{} ({chunking:?}, streaming {streaming})", row.what);
                let (events, protocol, out) = read_all(config.clone(), &row.stream, chunking);
                if streaming && *chunking != Chunking::Whole {
                    // Pieces are what has arrived, and the bytes held for
                    // the decision arrive together: the same texts.
                    assert_events(&assembled(&events), &assembled(&expected), &context);
                } else {
                    assert_events(&events, &expected, &context);
                }
                // What the server answered (its close) is the chosen framing's.
                assert_eq!(out, expected_out, "{context}: output");
                // Decided before the end of the stream only when the bytes
                // alone decide.
                let decided_early = !matches!(
                    hybi_core::framing::auto::detect(&row.stream),
                    hybi_core::framing::auto::Detection::NeedMore
                        | hybi_core::framing::auto::Detection::Ambiguous
                ) && !row.stream.is_empty();
                if decided_early {
                    assert_eq!(protocol, Some(Protocol::Draft76(row.framing)), "{context}");
                } else {
                    assert_eq!(protocol, Some(Protocol::Draft76(Framing::Auto)), "{context}: undecided");
                }
            }
        }
    }
}

/// Streamed pieces joined into the messages they make.
fn assembled(events: &[Event]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut message = String::new();
    for event in events {
        match event {
            Event::TextFragment { text, fin } => {
                message.push_str(text);
                if *fin {
                    out.push(Event::Text(std::mem::take(&mut message)));
                }
            }
            other => out.push(other.clone()),
        }
    }
    assert!(message.is_empty(), "an unfinished message: {events:?}");
    out
}

#[test]
fn lent_events_come_in_order_across_the_decision() {
    for row in rows() {
        for chunking in [Chunking::Whole, Chunking::OneByte, Chunking::SplitAt(2), Chunking::SplitAt(3)] {
            let mut server = open_server(auto_config());
            let mut events = Vec::new();
            for chunk in chunking.chunks(&row.stream) {
                server.handle_input_with(NOW, chunk, &mut |e: EventRef<'_>| events.push(e.into_owned()));
            }
            server.handle_eof();
            events.extend(drain(&mut server));
            assert_events(&events, &row.events, &format!("{} ({chunking:?}), lent", row.what));
        }
    }
}

#[test]
fn clients_of_either_framing_are_answered_in_their_own() {
    // The first message is the hardest for each: the empty text (a 'new'
    // one is FF and eight 00s), eight NULs ('old': nine 00s, then FF).
    let firsts = ["", "\0\0\0\0\0\0\0\0", "hello"];
    for framing in FRAMINGS {
        for first in firsts {
            let messages = [first, "héllo wörld ✓ 😀", "", "last"];
            for chunking in [Chunking::Whole, Chunking::OneByte, Chunking::Sizes(vec![1, 2, 3, 5, 8])] {
                let context = format!("{framing:?} client, first {first:?}, {chunking:?}");
                let mut pair = Pair::new(client_config(framing), client_request(), auto_config(), 7)
                    .chunked(chunking.clone());
                pair.handshake();
                assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(Framing::Auto)), "{context}");
                for m in messages {
                    pair.client.send_text(m).unwrap();
                }
                pair.pump();
                assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(framing)), "{context}");
                assert_events(&pair.take_server_events(), &texts(&messages), &context);
                // The echoes arrive whole (a mismatched server sent 'new'
                // clients empty ones).
                for m in messages {
                    pair.server.send_text(m).unwrap();
                }
                pair.pump();
                assert_events(&pair.take_client_events(), &texts(&messages), &context);
                pair.client.close(pair.now, None, "").unwrap();
                pair.pump();
                assert_eq!(pair.take_server_events(), [closed()], "{context}");
                assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
                assert_eq!(pair.take_client_events(), [closed()], "{context}");
            }
        }
    }
}

#[test]
fn a_close_sent_at_once_is_taken_after_the_silence_and_answered() {
    for framing in FRAMINGS {
        let mut pair = Pair::new(client_config(framing), client_request(), auto_config(), 3);
        pair.handshake();
        pair.client.close(pair.now, None, "").unwrap();
        pair.pump();
        // Whole in both framings: nothing yet, a deadline armed.
        assert_eq!(pair.take_server_events(), [], "{framing:?}");
        assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(Framing::Auto)));
        assert_eq!(pair.server.poll_timeout(), Some(pair.now + SILENCE), "{framing:?}");
        pair.advance(SILENCE - Duration::from_millis(1));
        assert_eq!(pair.take_server_events(), [], "{framing:?}: not before the silence");
        pair.advance(Duration::from_millis(1));
        assert_eq!(pair.take_server_events(), [closed()], "{framing:?}");
        assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(framing)));
        // Our close, in the client's framing, ends both.
        let start = pair.to_client.len();
        pair.pump();
        assert_eq!(pair.to_client[start..], close_frame(framing)[..], "{framing:?}: our close");
        assert_eq!(pair.take_client_events(), [closed()], "{framing:?}");
        assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
    }
}

#[test]
fn a_close_followed_by_the_end_of_the_stream_needs_no_silence() {
    for framing in FRAMINGS {
        for chunking in every_chunking(&close_frame(framing)) {
            let (events, protocol, out) = read_all(auto_config(), &close_frame(framing), &chunking);
            assert_eq!(events, [closed()], "{framing:?} {chunking:?}");
            assert_eq!(protocol, Some(Protocol::Draft76(Framing::Auto)), "undecided until the end");
            assert_eq!(out, close_frame(framing), "{framing:?}: our close");
        }
    }
}

#[test]
fn only_a_prefix_whole_in_both_framings_waits_for_silence() {
    let mut server = open_server(auto_config());
    assert_eq!(server.poll_timeout(), None, "nothing from the client: nothing to decide");
    server.handle_input(NOW, &[0x00, 0x00, 0x00]);
    assert_eq!(server.poll_timeout(), None, "a prefix that needs more waits for more");
    server.handle_input(NOW, &[0x00; 6]);
    assert_eq!(server.poll_timeout(), Some(NOW + SILENCE), "nine 00s: the 'new' close, or not");
    // More before the deadline settles it: 'old' text of NULs.
    let later = NOW + Duration::from_millis(300);
    server.handle_input(later, &[0x00, 0xFF]);
    assert_eq!(server.protocol(), Some(Protocol::Draft76(OLD)));
    assert_eq!(drain(&mut server), [text(&"\0".repeat(9))]);
    assert_eq!(server.poll_timeout(), None);

    // The deadline runs from the last byte.
    let mut server = open_server(auto_config());
    server.handle_input(NOW, &[0xFF]);
    assert_eq!(server.poll_timeout(), None);
    server.handle_input(later, &[0x00]);
    assert_eq!(server.poll_timeout(), Some(later + SILENCE));
    server.handle_timeout(later + SILENCE);
    assert_eq!(drain(&mut server), [closed()]);
    assert_eq!(transmit(&mut server), close_frame(OLD));

    // Without a silence, only more bytes or the end decide.
    let quiet =
        Config { timeouts: Timeouts { framing_silence: None, ..Timeouts::default() }, ..auto_config() };
    let mut server = open_server(quiet);
    server.handle_input(NOW, &close_frame(OLD));
    assert_eq!(server.poll_timeout(), None);
    server.handle_timeout(Instant::from_millis(u64::MAX / 2));
    assert_eq!(drain(&mut server), []);
    server.handle_eof();
    assert_eq!(drain(&mut server), [closed()]);
    assert_eq!(server.protocol(), Some(Protocol::Draft76(OLD)));
}

#[test]
fn a_server_that_sends_first_commits_to_old() {
    // Nothing held: the text goes out as 'old', and 'old' is read after.
    let mut server = open_server(auto_config());
    server.send_text("welcome").unwrap();
    assert_eq!(server.protocol(), Some(Protocol::Draft76(OLD)));
    assert_eq!(transmit(&mut server), text_frame(OLD, b"welcome"));
    server.handle_input(NOW, &text_frame(OLD, b"thanks"));
    assert_eq!(drain(&mut server), [text("thanks")]);

    // A prefix held is read as 'old' first: here the 'old' close, so the
    // application's text is an answer before the end.
    let mut server = open_server(auto_config());
    server.handle_input(NOW, &close_frame(OLD));
    server.send_text("bye").unwrap();
    assert_eq!(server.state(), State::Ending);
    assert_eq!(drain(&mut server), [closed()]);
    assert_eq!(transmit(&mut server), [text_frame(OLD, b"bye"), close_frame(OLD)].concat());

    // Nine 00s read as 'old': text begun, then more of it.
    let mut server = open_server(auto_config());
    server.handle_input(NOW, &[0x00; 9]);
    server.send_text("hi").unwrap();
    server.handle_input(NOW, &[b'!', 0xFF]);
    assert_eq!(drain(&mut server), [text("\0\0\0\0\0\0\0\0!")]);

    // Closing and going away commit too, with the 'old' close.
    for go_away in [false, true] {
        let mut server = open_server(auto_config());
        server.handle_input(NOW, &[0xFF]);
        if go_away {
            server.go_away(NOW, "shutting down").unwrap();
        } else {
            server.close(NOW, None, "").unwrap();
        }
        assert_eq!(server.protocol(), Some(Protocol::Draft76(OLD)));
        assert_eq!(transmit(&mut server), close_frame(OLD), "go_away {go_away}");
        assert_eq!(server.state(), State::Closing);
    }

    // A refused send commits to nothing.
    let mut server = open_server(auto_config());
    assert!(server.send_binary(b"x").is_err());
    assert!(server.close(NOW, Some(1001), "").is_err());
    assert_eq!(server.protocol(), Some(Protocol::Draft76(Framing::Auto)));
    assert_eq!(server.pending_transmit(), 0);
}

#[test]
fn the_prefix_held_is_counted() {
    let mut server = open_server(auto_config());
    let before = server.buffered_bytes();
    server.handle_input(NOW, &[0x00; 5]);
    assert_eq!(server.buffered_bytes(), before + 5);
    server.handle_input(NOW, &[0x00; 4]);
    assert_eq!(server.buffered_bytes(), before + 9);
}

#[test]
fn a_first_frame_that_breaks_the_framing_chosen_names_the_mismatch() {
    // An 'old' client that closes and then sends text: FF 00, then more,
    // is 'new' text whose length is huge.
    let stream = [close_frame(OLD), text_frame(OLD, b"late message")].concat();
    for chunking in every_chunking(&stream) {
        let (events, protocol, _) = read_all(auto_config(), &stream, &chunking);
        assert_eq!(protocol, Some(Protocol::Draft76(NEW)), "{chunking:?}");
        let limit = Limits::default().max_message_size;
        let cause = Box::new(Error::Limit(LimitError::MessageTooLarge { limit }));
        assert_eq!(events, [Event::Error(Error::FramingMismatch { detected: NEW, cause })], "{chunking:?}");
    }
    let Event::Error(error) = &read_all(auto_config(), &stream, &Chunking::Whole).0[0] else {
        unreachable!()
    };
    let message = error.to_string();
    assert!(message.contains("looked like draft-76 'new' framing"), "{message}");
    assert!(message.contains("if the client speaks 'old', set the server's framing to 'old'"), "{message}");
    assert!(message.contains("message exceeds"), "the cause is named: {message}");

    // Cut short by the end of the stream: the peer left, whatever its
    // framing; no hint.
    let stream = [close_frame(OLD), vec![0x00, b'a']].concat();
    let (events, _, _) = read_all(auto_config(), &stream, &Chunking::OneByte);
    assert_eq!(events, [Event::Error(Error::UnexpectedEof(Stage::Frame))]);

    // Taken for 'old', and the first frame runs past the frame limit.
    let small = Config { limits: Limits { max_frame_size: 100, ..Limits::default() }, ..auto_config() };
    let stream = [vec![0x80, 0x7F, 0x7F]].concat();
    let (events, _, _) = read_all(small.clone(), &stream, &Chunking::OneByte);
    let cause = Box::new(Error::Limit(LimitError::FrameTooLarge { limit: 100 }));
    assert_eq!(events, [Event::Error(Error::FramingMismatch { detected: OLD, cause })]);
    let Event::Error(error) = &events[0] else { unreachable!() };
    assert!(error.to_string().contains("if the client speaks 'new', set the server's framing to 'new'"));

    // After a whole first frame, errors are the framing's own.
    let stream = [text_frame(OLD, b"fine"), vec![0x80, 0x7F, 0x7F]].concat();
    let (events, _, _) = read_all(small.clone(), &stream, &Chunking::OneByte);
    assert_eq!(events, [text("fine"), Event::Error(LimitError::FrameTooLarge { limit: 100 }.into())]);

    // A server told its framing never blames the choice.
    let told = Config { framing: NEW, ..auto_config() };
    let stream = [close_frame(OLD), text_frame(OLD, b"late message")].concat();
    let (events, _, _) = read_all(told, &stream, &Chunking::Whole);
    let limit = Limits::default().max_message_size;
    assert_eq!(events, [Event::Error(LimitError::MessageTooLarge { limit }.into())]);
}

#[test]
fn the_request_says_auto_and_a_client_given_auto_speaks_old() {
    let mut pair = Pair::new(client_config(Framing::Auto), client_request(), auto_config(), 5);
    assert_eq!(pair.client.protocol(), Some(Protocol::Draft76(OLD)), "a client has nothing to detect from");
    pair.pump();
    assert_eq!(
        pair.take_server_events(),
        [Event::Request(RequestKind::WebSocket(Protocol::Draft76(Framing::Auto))), Event::Open]
    );
    let start = pair.to_server.len();
    pair.client.send_text("hi").unwrap();
    pair.pump();
    assert_eq!(pair.to_server[start..], text_frame(OLD, b"hi")[..]);
    assert_eq!(pair.take_server_events(), [text("hi")]);
    assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(OLD)));
}

#[test]
fn rfc6455_requests_are_untouched_by_auto() {
    let client = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut pair = Pair::new(client, client_request(), auto_config(), 9);
    pair.handshake();
    pair.client.send_text("plain").unwrap();
    pair.pump();
    assert_eq!(pair.take_server_events(), [text("plain")]);
    assert_eq!(pair.server.protocol(), Some(Protocol::Rfc6455));
}
