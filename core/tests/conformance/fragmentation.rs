//! Fragmentation (Autobahn 5): messages in many frames, control frames
//! between them, continuations out of place.

use crate::harness::*;

#[test]
fn fragmented_text_in_two_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, b"fragment1"), p.frame(FIN | CONT, b"fragment2")].concat();
        p.feed(&frames);
        p.expect(&[Event::Text("fragment1fragment2".into())], &[], &format!("{role:?}"));
    }
}

#[test]
fn fragmented_messages_in_many_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let text = text_of_len(3000);
        let data = binary_of_len(3000);
        for sizes in [&[1usize, 2, 3][..], &[1000, 1000, 1000], &[7; 500], &[2999, 1], &[0, 3000]] {
            let frames = fragments(&mut p, TEXT, text.as_bytes(), sizes);
            p.feed(&frames);
            let frames = fragments(&mut p, BINARY, &data, sizes);
            p.feed(&frames);
            let events = [Event::Text(text.clone()), Event::Binary(data.clone())];
            p.expect(&events, &[], &format!("{role:?} sizes {:?}", &sizes[..sizes.len().min(4)]));
        }
    }
}

#[test]
fn fragmented_with_pings_interleaved() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let first = [p.frame(TEXT, b"fragment1"), p.frame(FIN | PING, b"ping1")].concat();
        p.feed(&first);
        // The pong goes out in the middle of the message.
        p.expect(&[Event::Ping(b"ping1".to_vec())], &[sent(FIN | PONG, b"ping1")], &format!("{role:?} mid"));
        let rest = [
            p.frame(CONT, b"fragment2"),
            p.frame(FIN | PING, b""),
            p.frame(FIN | PONG, b"pong"),
            p.frame(FIN | CONT, b"fragment3"),
        ]
        .concat();
        p.feed_bytewise(&rest);
        let events = [
            Event::Ping(vec![]),
            Event::Pong(b"pong".to_vec()),
            Event::Text("fragment1fragment2fragment3".into()),
        ];
        p.expect(&events, &[sent(FIN | PONG, b"")], &format!("{role:?} end"));
    }
}

#[test]
fn fragmented_message_interrupted_by_close_ends_cleanly() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames =
            [p.frame(TEXT, b"never"), p.frame(FIN | CLOSE, &[0x03, 0xe8]), p.frame(FIN | CONT, b"ends")]
                .concat();
        p.feed(&frames);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn continuation_without_message_fails() {
    for role in ROLES {
        let cases: [(&str, Frames); 4] = [
            ("final continuation", &[(FIN | CONT, b"x")]),
            ("non-final continuation", &[(CONT, b"x"), (FIN | CONT, b"y")]),
            ("empty continuation", &[(FIN | CONT, b"")]),
            ("continuation after a whole message", &[(FIN | TEXT, b"done"), (FIN | CONT, b"x")]),
        ];
        for (name, frames) in cases {
            let mut p = Peer::open(role, rfc6455());
            let bytes: Vec<u8> = frames.iter().flat_map(|(b0, pl)| p.frame(*b0, pl)).collect();
            p.feed(&bytes);
            let before: &[Event] =
                if frames.len() == 2 && frames[0].0 & FIN != 0 { &[Event::Text("done".into())] } else { &[] };
            let error = protocol(ProtocolError::UnexpectedContinuation);
            p.expect_failure(before, &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn new_message_while_fragmented_fails() {
    for role in ROLES {
        for (name, first, second) in [
            ("text after text", TEXT, FIN | TEXT),
            ("binary after text", TEXT, FIN | BINARY),
            ("text after binary", BINARY, FIN | TEXT),
            ("non-final text after text", TEXT, TEXT),
        ] {
            let mut p = Peer::open(role, rfc6455());
            let bytes =
                [p.frame(first, b"one"), p.frame(second, b"two"), p.frame(FIN | CONT, b"three")].concat();
            p.feed(&bytes);
            let error = protocol(ProtocolError::ExpectedContinuation);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn fragmented_with_empty_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let cases: [(Frames, Event); 4] = [
            (&[(TEXT, b""), (CONT, b""), (FIN | CONT, b"abc")], Event::Text("abc".into())),
            (&[(TEXT, b"abc"), (CONT, b""), (FIN | CONT, b"")], Event::Text("abc".into())),
            (&[(TEXT, b""), (CONT, b""), (FIN | CONT, b"")], Event::Text(String::new())),
            (&[(BINARY, b""), (CONT, b""), (FIN | CONT, b"")], Event::Binary(vec![])),
        ];
        for (frames, event) in cases {
            let bytes: Vec<u8> = frames.iter().flat_map(|(b0, pl)| p.frame(*b0, pl)).collect();
            p.feed(&bytes);
            p.expect(&[event], &[], &format!("{role:?} {frames:?}"));
        }
    }
}

#[test]
fn fragmented_4_kib_in_one_byte_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let text = text_of_len(4096);
        let frames = fragments(&mut p, TEXT, text.as_bytes(), &[1; 4096]);
        p.feed(&frames);
        let data = binary_of_len(4096);
        let frames = fragments(&mut p, BINARY, &data, &[1; 4096]);
        p.feed(&frames);
        p.expect(&[Event::Text(text), Event::Binary(data)], &[], &format!("{role:?}"));
    }
}

#[test]
fn fragmented_message_split_at_every_point() {
    for role in ROLES {
        let probe = {
            let mut p = Peer::open(role, rfc6455());
            fragments(&mut p, TEXT, "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(), &[5, 5, 5, 5]).len()
        };
        for split in 0..=probe {
            let mut p = Peer::open(role, rfc6455());
            let bytes = fragments(&mut p, TEXT, "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(), &[5, 5, 5, 5]);
            p.feed(&bytes[..split]);
            p.feed(&bytes[split..]);
            p.expect(
                &[Event::Text("Hello-µ@ßöäüàá-UTF-8!!".into())],
                &[],
                &format!("{role:?} split {split}"),
            );
        }
    }
}

#[test]
fn fragmented_send_api() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.send_fragment(false, b"Hel", false).unwrap();
        assert_eq!(p.conn.send_text("no"), Err(Misuse::MessageInProgress));
        assert_eq!(p.conn.send_fragment(true, b"x", true), Err(Misuse::FragmentTypeChanged));
        p.conn.send_ping(b"mid").unwrap();
        p.conn.send_fragment(false, b"lo", true).unwrap();
        let frames = [sent(TEXT, b"Hel"), sent(FIN | PING, b"mid"), sent(FIN | CONT, b"lo")];
        p.expect(&[], &frames, &format!("{role:?}"));
    }
}
