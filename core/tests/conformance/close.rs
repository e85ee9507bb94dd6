//! Close handling (Autobahn 7): close codes and reasons, what is read after
//! a close, the end of the stream.

use crate::harness::*;

#[test]
fn close_without_payload_answered_with_empty_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"");
        p.feed(&frame);
        assert_eq!(p.events(), [Event::Close(Close { code: None, reason: String::new() })]);
        let raw = p.transmitted();
        if role == Role::Server {
            assert_eq!(raw, [0x88, 0x00]);
        }
        assert_eq!(p.check_sent(&raw), [sent(FIN | CLOSE, b"")], "{role:?}");
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_1000_with_reason_echoes_the_code() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"\x03\xe8Normal closure");
        p.feed(&frame);
        let close = Event::Close(Close { code: Some(1000), reason: "Normal closure".into() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn close_invalid_codes_fail_1002() {
    for role in ROLES {
        for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(FIN | CLOSE, &code.to_be_bytes());
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidClosePayload);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} code {code}"));
        }
    }
}

#[test]
fn close_valid_codes_accepted_and_echoed() {
    let codes =
        [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    for role in ROLES {
        for code in codes {
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(FIN | CLOSE, &[&code.to_be_bytes()[..], b"why"].concat());
            p.feed(&frame);
            let close = Event::Close(Close { code: Some(code), reason: "why".into() });
            p.expect(&[close], &[close_frame(code)], &format!("{role:?} code {code}"));
            assert_eq!(p.conn.state(), State::Closed);
        }
    }
}

#[test]
fn close_one_byte_payload_fails_1002() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, &[0x03]);
        p.feed(&frame);
        let error = protocol(ProtocolError::InvalidClosePayload);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn close_reason_of_123_bytes_accepted() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let reason = text_of_len(123);
        let frame = p.frame(FIN | CLOSE, &[&[0x03, 0xe8][..], reason.as_bytes()].concat());
        p.feed_bytewise(&frame);
        let close = Event::Close(Close { code: Some(1000), reason });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
    }
}

#[test]
fn close_then_further_input_ignored() {
    for role in ROLES {
        // In the same read as the close, and in later reads.
        let mut p = Peer::open(role, rfc6455());
        let bytes =
            [p.frame(FIN | CLOSE, &[0x03, 0xe8]), p.frame(FIN | TEXT, b"after"), p.frame(FIN | PING, b"x")]
                .concat();
        p.feed(&bytes);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        // Even garbage that would otherwise fail the connection.
        p.feed(&[0xff; 32]);
        p.expect(&[], &[], &format!("{role:?} garbage"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_data_after_own_close_delivered_until_peer_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, Some(1000), "bye").unwrap();
        assert_eq!(p.conn.state(), State::Closing);
        p.expect(&[], &[sent(FIN | CLOSE, b"\x03\xe8bye")], &format!("{role:?} our close"));
        assert!(p.conn.poll_timeout().is_some(), "{role:?}: a close deadline is armed");

        let bytes =
            [p.frame(FIN | TEXT, b"still"), p.frame(BINARY, &[1]), p.frame(FIN | CONT, &[2])].concat();
        p.feed(&bytes);
        let events = [Event::Text("still".into()), Event::Binary(vec![1, 2])];
        p.expect(&events, &[], &format!("{role:?} data while closing"));
        assert_eq!(p.conn.state(), State::Closing);

        let frame = p.frame(FIN | CLOSE, &[0x03, 0xe8]);
        p.feed(&frame);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        // Our close was already sent: no second one.
        p.expect(&[close], &[], &format!("{role:?} peer close"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_protocol_error_while_closing_sends_no_second_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, None, "").unwrap();
        p.expect(&[], &[sent(FIN | CLOSE, b"")], &format!("{role:?}"));
        let frame = p.frame(FIN | 3, b"");
        p.feed(&frame);
        p.expect(&[Event::Error(protocol(ProtocolError::ReservedOpcode(3)))], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn close_api_validation() {
    let cases: [(&str, Option<u16>, String, Misuse); 9] = [
        ("code 1005", Some(1005), String::new(), Misuse::InvalidCloseCode),
        ("code 1006", Some(1006), String::new(), Misuse::InvalidCloseCode),
        ("code 1015", Some(1015), String::new(), Misuse::InvalidCloseCode),
        ("code 1004", Some(1004), String::new(), Misuse::InvalidCloseCode),
        ("code 999", Some(999), String::new(), Misuse::InvalidCloseCode),
        ("code 5000", Some(5000), String::new(), Misuse::InvalidCloseCode),
        ("code 0", Some(0), String::new(), Misuse::InvalidCloseCode),
        ("reason of 124 bytes", Some(1000), "r".repeat(124), Misuse::CloseReasonTooLong),
        ("reason without code", None, "why".into(), Misuse::InvalidCloseCode),
    ];
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for (name, code, reason, misuse) in &cases {
            assert_eq!(p.conn.close(Instant::ZERO, *code, reason), Err(*misuse), "{role:?} {name}");
            // A refused command changes nothing.
            assert_eq!(p.conn.state(), State::Open, "{role:?} {name}");
            p.expect(&[], &[], &format!("{role:?} {name}"));
        }
        let reason = "r".repeat(123);
        p.conn.close(Instant::ZERO, Some(4999), &reason).unwrap();
        let payload = [&4999u16.to_be_bytes()[..], reason.as_bytes()].concat();
        p.expect(&[], &[sent(FIN | CLOSE, &payload)], &format!("{role:?} 123-byte reason"));
    }
}

#[test]
fn close_api_exact_bytes_from_server() {
    let mut p = Peer::open(Role::Server, rfc6455());
    p.conn.close(Instant::ZERO, Some(1002), "").unwrap();
    assert_eq!(p.transmitted(), [0x88, 0x02, 0x03, 0xea]);
    let mut p = Peer::open(Role::Server, rfc6455());
    p.conn.close(Instant::ZERO, None, "").unwrap();
    assert_eq!(p.transmitted(), [0x88, 0x00]);
}

#[test]
fn send_after_close_is_not_open() {
    for role in ROLES {
        for peer_closed in [false, true] {
            let mut p = Peer::open(role, rfc6455());
            if peer_closed {
                let frame = p.frame(FIN | CLOSE, b"");
                p.feed(&frame);
            } else {
                p.conn.close(Instant::ZERO, Some(1000), "").unwrap();
            }
            let _ = (p.events(), p.transmitted());
            let not_open = Err(Misuse::NotOpen);
            let ctx = format!("{role:?} peer closed {peer_closed}");
            assert_eq!(p.conn.send_text("x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_binary(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_ping(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_pong(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_fragment(false, b"x", true), not_open, "{ctx}");
            assert_eq!(p.conn.close(Instant::ZERO, Some(1000), ""), not_open, "{ctx}");
            assert_eq!(p.transmitted(), [], "{ctx}");
        }
    }
}

#[test]
fn eof_without_close_is_abnormal() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | TEXT, b"last words");
        p.feed(&frame);
        p.conn.handle_eof();
        let events = [Event::Text("last words".into()), Event::Error(Error::UnexpectedEof(Stage::Open))];
        // Nobody is left to read a close frame.
        p.expect(&events, &[], &format!("{role:?}"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn eof_inside_a_frame_or_message() {
    for role in ROLES {
        let cases: [(&str, BuildInput); 4] = [
            ("inside a header", |p| p.frame(FIN | BINARY, &[0; 200])[..3].to_vec()),
            ("inside a payload", |p| {
                let frame = p.frame(FIN | BINARY, &[0; 200]);
                frame[..frame.len() - 1].to_vec()
            }),
            ("between fragments", |p| p.frame(TEXT, b"half")),
            ("inside a control frame", |p| p.frame(FIN | PING, b"ping")[..3].to_vec()),
        ];
        for (name, build) in cases {
            let mut p = Peer::open(role, rfc6455());
            let bytes = build(&mut p);
            p.feed(&bytes);
            p.conn.handle_eof();
            p.expect(&[Event::Error(Error::UnexpectedEof(Stage::Frame))], &[], &format!("{role:?} {name}"));
            p.expect_dead(&format!("{role:?} {name}"));
        }
    }
}

#[test]
fn eof_after_own_close_is_closing_stage() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, Some(1000), "").unwrap();
        let _ = p.transmitted();
        p.conn.handle_eof();
        p.expect(&[Event::Error(Error::UnexpectedEof(Stage::Closing))], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn eof_after_close_handshake_is_silent() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"");
        p.feed(&frame);
        let _ = (p.events(), p.transmitted());
        p.conn.handle_eof();
        p.expect(&[], &[], &format!("{role:?}"));
    }
}

#[test]
fn close_unanswered_times_out() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::from_millis(1000), Some(1000), "").unwrap();
        let _ = p.transmitted();
        // The default close timeout is 5 s from our close.
        assert_eq!(p.conn.poll_timeout(), Some(Instant::from_millis(6000)), "{role:?}");
        p.conn.handle_timeout(Instant::from_millis(5999));
        p.expect(&[], &[], &format!("{role:?} before the deadline"));
        p.conn.handle_timeout(Instant::from_millis(6000));
        let error = Error::Timeout(hybi_core::Timer::Close);
        p.expect(&[Event::Error(error)], &[], &format!("{role:?} at the deadline"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}
