//! Draft-76 text in streaming mode (`Config::streaming`), in both framings
//! and both roles: pieces of whole characters as the text arrives, the same
//! `TextFragment` events RFC 6455 streaming uses, invalid UTF-8 failed at
//! the first byte that cannot be UTF-8 or replaced exactly as whole-message
//! mode replaces it, `max_message_size` over a message's pieces together,
//! and nothing of a long unfinished message held in the core.

mod common;

use common::*;
use hybi_core::{
    Config, Connection, Error, Event, Framing, InvalidUtf8, LimitError, Limits, Protocol, ProtocolError,
};

/// A piece's most bytes (the decoders' `PIECE`).
const PIECE: usize = 32 * 1024;

#[derive(Clone, Copy, Debug)]
enum Role {
    Server,
    Client,
}

fn open(
    role: Role,
    framing: Framing,
    streaming: bool,
    invalid_utf8: InvalidUtf8,
    limits: Limits,
) -> Connection {
    match role {
        Role::Server => open_server(Config { framing, streaming, invalid_utf8, limits, ..Config::default() }),
        Role::Client => open_client(
            Config {
                protocol: Protocol::Draft76(framing),
                streaming,
                invalid_utf8,
                limits,
                ..Config::default()
            },
            3,
        ),
    }
}

/// Feeds `wire` in the reads `chunking` makes and drains the events.
fn feed(conn: &mut Connection, wire: &[u8], chunking: &Chunking) -> Vec<Event> {
    replay(conn, wire, chunking, false)
}

/// Joins streamed pieces into the messages (and any other events) they
/// make, checking the pieces' shape: each piece but a message's last holds
/// something, only a message's last says `fin`.
fn assemble(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut text: Option<String> = None;
    for event in events {
        match event {
            Event::TextFragment { text: piece, fin } => {
                assert!(fin || !piece.is_empty(), "an empty piece that does not end the message");
                let message = text.get_or_insert_with(String::new);
                message.push_str(&piece);
                if fin {
                    out.push(Event::Text(text.take().unwrap()));
                }
            }
            Event::Text(_) => panic!("a whole message in streaming mode"),
            other => out.push(other),
        }
    }
    if let Some(partial) = text {
        out.push(Event::TextFragment { text: partial, fin: false });
    }
    out
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];
const HANDLING: [InvalidUtf8; 2] = [InvalidUtf8::Fail, InvalidUtf8::Replace];

/// Text with characters of every width, and what it looks like on the wire
/// as two messages and an empty one.
fn sample(framing: Framing) -> (Vec<String>, Vec<u8>) {
    let messages = vec!["aé€😀z日本".to_string(), String::new(), "😀😀x".to_string()];
    let wire = messages.iter().flat_map(|m| text_frame(framing, m.as_bytes())).collect();
    (messages, wire)
}

#[test]
fn pieces_make_the_messages_at_every_split_and_byte_by_byte() {
    for framing in FRAMINGS {
        let (messages, wire) = sample(framing);
        let expected = texts(&messages);
        let mut chunkings = vec![Chunking::Whole, Chunking::OneByte, Chunking::Sizes(vec![2, 3, 5])];
        chunkings.extend((0..=wire.len()).map(Chunking::SplitAt));
        // Every pair of cuts inside the first message's characters.
        for i in 0..=20 {
            for j in i..=20 {
                chunkings.push(Chunking::SplitsAt(vec![i, j]));
            }
        }
        for role in ROLES {
            for handling in HANDLING {
                for chunking in &chunkings {
                    let context = format!("{framing:?} {role:?} {handling:?} {chunking:?}");
                    let mut conn = open(role, framing, true, handling, Limits::default());
                    let events = feed(&mut conn, &wire, chunking);
                    assert!(
                        events.iter().all(|e| matches!(e, Event::TextFragment { .. })),
                        "{context}: {events:?}"
                    );
                    assert_eq!(assemble(events), expected, "{context}");
                    assert!(conn.buffered_bytes() < 1024, "{context}: nothing held between messages");
                }
            }
        }
    }
}

#[test]
fn each_piece_is_what_has_arrived_in_whole_characters() {
    // Byte by byte, a piece comes out as each character completes.
    for framing in FRAMINGS {
        let mut conn = open(Role::Server, framing, true, InvalidUtf8::Fail, Limits::default());
        let events = feed(&mut conn, &text_frame(framing, "aé😀".as_bytes()), &Chunking::OneByte);
        let pieces: Vec<(String, bool)> = events
            .into_iter()
            .map(|e| match e {
                Event::TextFragment { text, fin } => (text, fin),
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<(String, bool)> = match framing {
            // 'old' learns of the end at the sentinel, after the last byte.
            Framing::Old => {
                vec![("a".into(), false), ("é".into(), false), ("😀".into(), false), ("".into(), true)]
            }
            // 'new' knows the length: the last character ends the message.
            Framing::New => vec![("a".into(), false), ("é".into(), false), ("😀".into(), true)],
            Framing::Auto => unreachable!("FRAMINGS is 'old' and 'new'"),
        };
        assert_eq!(pieces, expected, "{framing:?}");
    }
}

#[test]
fn a_large_message_comes_in_bounded_pieces_and_is_not_held() {
    let text = mixed_text(1 << 20);
    for framing in FRAMINGS {
        for role in ROLES {
            let wire = text_frame(framing, text.as_bytes());
            for chunking in [Chunking::Whole, Chunking::Sizes(vec![64 * 1024, 1000, 7])] {
                let context = format!("{framing:?} {role:?} {chunking:?}");
                let mut conn = open(role, framing, true, InvalidUtf8::Fail, Limits::default());
                let events = feed(&mut conn, &wire, &chunking);
                for event in &events {
                    let Event::TextFragment { text, .. } = event else { panic!("{context}: {event:?}") };
                    // A piece's bytes, and a character begun before them.
                    assert!(text.len() <= PIECE + 3, "{context}: a piece of {}", text.len());
                }
                assert_eq!(assemble(events), texts(&[&text]), "{context}");
            }
            // Unfinished: what arrived has left the core, nothing of it is held.
            let mut conn = open(role, framing, true, InvalidUtf8::Fail, Limits::default());
            let mut unfinished = text_frame(framing, text.as_bytes());
            unfinished.truncate(unfinished.len() - 100);
            let events = feed(&mut conn, &unfinished, &Chunking::Sizes(vec![64 * 1024]));
            let arrived: usize = events
                .iter()
                .map(|e| match e {
                    Event::TextFragment { text, fin: false } => text.len(),
                    other => panic!("{other:?}"),
                })
                .sum();
            assert!(arrived + 104 >= text.len() - 100, "{framing:?} {role:?}: {arrived} handed out");
            assert!(conn.buffered_bytes() < 1024, "{framing:?} {role:?}: holds {}", conn.buffered_bytes());
        }
    }
}

#[test]
fn invalid_utf8_fails_at_the_first_byte_that_cannot_be_utf8() {
    // 0xE2 0x28 can never be UTF-8: the failure comes with the 0x28.
    let payload = [b'a', b'b', 0xe2, 0x28, b'c', b'd'];
    for framing in FRAMINGS {
        for role in ROLES {
            let wire = text_frame(framing, &payload);
            let at = wire.windows(2).position(|w| w == [0xe2, 0x28]).unwrap() + 1; // the 0x28
            let context = format!("{framing:?} {role:?}");
            let mut conn = open(role, framing, true, InvalidUtf8::Fail, Limits::default());
            let before = feed(&mut conn, &wire[..at], &Chunking::OneByte);
            assert_eq!(
                before,
                [
                    Event::TextFragment { text: "a".into(), fin: false },
                    Event::TextFragment { text: "b".into(), fin: false }
                ],
                "{context}"
            );
            conn.handle_input(NOW, &wire[at..=at]);
            assert_eq!(
                drain(&mut conn),
                [Event::Error(Error::Protocol(ProtocolError::InvalidUtf8))],
                "{context}"
            );
            // Whole: the piece with the bad byte is not handed out.
            let mut conn = open(role, framing, true, InvalidUtf8::Fail, Limits::default());
            assert_eq!(
                feed(&mut conn, &wire, &Chunking::Whole),
                [Event::Error(Error::Protocol(ProtocolError::InvalidUtf8))],
                "{context}"
            );
            // A character cut short by the end of the message fails there.
            let wire = text_frame(framing, &[b'a', 0xe2, 0x82]);
            let mut conn = open(role, framing, true, InvalidUtf8::Fail, Limits::default());
            let events = feed(&mut conn, &wire, &Chunking::OneByte);
            assert_eq!(
                events,
                [
                    Event::TextFragment { text: "a".into(), fin: false },
                    Event::Error(Error::Protocol(ProtocolError::InvalidUtf8))
                ],
                "{context}"
            );
        }
    }
}

#[test]
fn invalid_utf8_is_replaced_as_whole_messages_replace_it_at_every_split() {
    let mut payload = b"ok ".to_vec();
    // (no 0xFF: 'old' ends a message there)
    payload.extend_from_slice(&[0xe2, 0x82, b'A', 0xf0, 0x9f, 0xfe, 0xed, 0xa0, 0x80, 0xc3]);
    payload.extend_from_slice("z😀é".as_bytes());
    payload.extend_from_slice(&[0xf0, 0x9f, 0x98]);
    for framing in FRAMINGS {
        let wire = text_frame(framing, &payload);
        for role in ROLES {
            // What whole-message mode delivers, and std's replacement.
            let mut whole = open(role, framing, false, InvalidUtf8::Replace, Limits::default());
            let expected = feed(&mut whole, &wire, &Chunking::Whole);
            assert_eq!(expected, texts(&[String::from_utf8_lossy(&payload)]));
            let mut chunkings = vec![Chunking::OneByte];
            chunkings.extend((0..=wire.len()).map(Chunking::SplitAt));
            for chunking in chunkings {
                let mut conn = open(role, framing, true, InvalidUtf8::Replace, Limits::default());
                let events = feed(&mut conn, &wire, &chunking);
                assert_eq!(assemble(events), expected, "{framing:?} {role:?} {chunking:?}");
            }
        }
    }
}

#[test]
fn max_message_size_holds_over_the_pieces_together() {
    let limits = Limits { max_message_size: 100, ..Limits::default() };
    let too_large = Event::Error(Error::Limit(LimitError::MessageTooLarge { limit: 100 }));
    for role in ROLES {
        // 'old': the pieces pass, until the message's bytes pass the limit.
        let wire = text_frame(Framing::Old, &[b'a'; 150]);
        let mut conn = open(role, Framing::Old, true, InvalidUtf8::Fail, limits);
        let events = feed(&mut conn, &wire, &Chunking::Sizes(vec![10]));
        let (last, pieces) = events.split_last().unwrap();
        assert_eq!(last, &too_large, "{role:?}");
        let arrived: usize = pieces
            .iter()
            .map(|e| match e {
                Event::TextFragment { text, fin: false } => text.len(),
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(arrived, 99, "{role:?}: the type byte and 9 bytes, then 10 at a time");
        // Exactly the limit passes, in pieces.
        let wire = text_frame(Framing::Old, &[b'a'; 100]);
        let mut conn = open(role, Framing::Old, true, InvalidUtf8::Fail, limits);
        let events = feed(&mut conn, &wire, &Chunking::Sizes(vec![10]));
        assert_eq!(assemble(events), texts(&["a".repeat(100)]), "{role:?}");
        // 'new': the declared length is refused before any piece.
        let wire = text_frame(Framing::New, &[b'a'; 101]);
        let mut conn = open(role, Framing::New, true, InvalidUtf8::Fail, limits);
        assert_eq!(feed(&mut conn, &wire, &Chunking::OneByte), std::slice::from_ref(&too_large), "{role:?}");
        // Replaced text counts as delivered: 40 bad bytes make 120.
        for framing in FRAMINGS {
            let wire = text_frame(framing, &[0xfe; 40]);
            let mut conn = open(role, framing, true, InvalidUtf8::Replace, limits);
            let events = feed(&mut conn, &wire, &Chunking::Sizes(vec![7]));
            assert_eq!(events.last(), Some(&too_large), "{framing:?} {role:?}: {events:?}");
            // As whole-message mode does.
            let mut conn = open(role, framing, false, InvalidUtf8::Replace, limits);
            assert_eq!(
                feed(&mut conn, &wire, &Chunking::Whole),
                std::slice::from_ref(&too_large),
                "{framing:?} {role:?}"
            );
        }
    }
}
