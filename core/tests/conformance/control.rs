//! Control frames (Autobahn 2): pings answered with identical pongs, pongs
//! delivered, the 125-byte limit, no fragmented control frames.

use crate::harness::*;

#[test]
fn ping_empty_answered_with_identical_pong() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, b"");
        p.feed(&frame);
        assert_eq!(p.events(), [Event::Ping(vec![])]);
        let raw = p.transmitted();
        match role {
            Role::Server => assert_eq!(raw, [0x8a, 0x00]),
            Role::Client => {
                assert_eq!(raw.len(), 6, "{raw:02x?}");
                assert_eq!(raw[..2], [0x8a, 0x80]);
            }
        }
    }
}

#[test]
fn ping_125_bytes_answered_with_identical_pong() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let payload = binary_of_len(125);
        let frame = p.frame(FIN | PING, &payload);
        p.feed(&frame);
        p.expect(&[Event::Ping(payload.clone())], &[sent(FIN | PONG, &payload)], &format!("{role:?}"));
        if role == Role::Server {
            let frame = p.frame(FIN | PING, &payload);
            p.feed(&frame);
            let _ = p.events();
            let mut expected = vec![0x8a, 0x7d];
            expected.extend_from_slice(&payload);
            assert_eq!(p.transmitted(), expected);
        }
    }
}

#[test]
fn ping_with_binary_payload_answered() {
    let payload = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, &payload);
        p.feed_bytewise(&frame);
        p.expect(&[Event::Ping(payload.to_vec())], &[sent(FIN | PONG, &payload)], &format!("{role:?}"));
    }
}

#[test]
fn ping_126_bytes_fails_control_frame_too_long() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, &[0x61; 126]);
        p.feed(&frame);
        let error = protocol(ProtocolError::ControlFrameTooLong);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn control_frames_over_125_bytes_fail_on_the_header() {
    for role in ROLES {
        for (name, b0) in [("ping", FIN | PING), ("pong", FIN | PONG), ("close", FIN | CLOSE)] {
            let mut p = Peer::open(role, rfc6455());
            let header = p.header(b0, 126);
            p.feed_bytewise(&header);
            let error = protocol(ProtocolError::ControlFrameTooLong);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn ping_fragmented_fails() {
    for role in ROLES {
        for (name, b0) in [("ping", PING), ("pong", PONG), ("close", CLOSE)] {
            let mut p = Peer::open(role, rfc6455());
            let frame = [p.frame(b0, b"ab"), p.frame(FIN | CONT, b"cd")].concat();
            p.feed(&frame);
            let error = protocol(ProtocolError::FragmentedControlFrame);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn pong_unsolicited_delivered_without_reply() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(FIN | PONG, b""), p.frame(FIN | PONG, b"unsolicited pong payload")].concat();
        p.feed(&frames);
        let events = [Event::Pong(vec![]), Event::Pong(b"unsolicited pong payload".to_vec())];
        p.expect(&events, &[], &format!("{role:?}"));
    }
}

#[test]
fn pong_unsolicited_then_ping_answers_only_the_ping() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(FIN | PONG, b"unsolicited"), p.frame(FIN | PING, b"ping payload")].concat();
        p.feed(&frames);
        let events = [Event::Pong(b"unsolicited".to_vec()), Event::Ping(b"ping payload".to_vec())];
        p.expect(&events, &[sent(FIN | PONG, b"ping payload")], &format!("{role:?}"));
    }
}

#[test]
fn ping_not_answered_with_auto_pong_off() {
    for role in ROLES {
        let mut p = Peer::open(role, Config { auto_pong: false, ..rfc6455() });
        let frame = p.frame(FIN | PING, b"hello");
        p.feed(&frame);
        p.expect(&[Event::Ping(b"hello".to_vec())], &[], &format!("{role:?}"));
        // The application may answer by hand.
        p.conn.send_pong(b"hello").unwrap();
        p.expect(&[], &[sent(FIN | PONG, b"hello")], &format!("{role:?} manual pong"));
    }
}

#[test]
fn ping_ten_in_one_input_answered_in_order() {
    for role in ROLES {
        for bytewise in [false, true] {
            let mut p = Peer::open(role, rfc6455());
            let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("ping {i}").into_bytes()).collect();
            let input: Vec<u8> = payloads.iter().flat_map(|pl| p.frame(FIN | PING, pl)).collect();
            if bytewise {
                p.feed_bytewise(&input);
            } else {
                p.feed(&input);
            }
            let events: Vec<Event> = payloads.iter().map(|pl| Event::Ping(pl.clone())).collect();
            let pongs: Vec<Sent> = payloads.iter().map(|pl| sent(FIN | PONG, pl)).collect();
            p.expect(&events, &pongs, &format!("{role:?} bytewise {bytewise}"));
        }
    }
}

#[test]
fn ping_send_api() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.send_ping(b"").unwrap();
        p.conn.send_ping(&[7; 125]).unwrap();
        assert_eq!(p.conn.send_ping(&[7; 126]), Err(Misuse::ControlTooLong));
        assert_eq!(p.conn.send_pong(&[7; 126]), Err(Misuse::ControlTooLong));
        p.expect(&[], &[sent(FIN | PING, b""), sent(FIN | PING, &[7; 125])], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Open);
    }
}
