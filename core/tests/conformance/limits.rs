//! Limits (Autobahn 9, and ours): declared lengths checked before anything
//! is allocated, messages and frames over the configured sizes failed.

use crate::harness::*;

#[test]
fn limit_message_size_fails_on_the_declaring_header() {
    for role in ROLES {
        for b0 in [FIN | TEXT, FIN | BINARY, TEXT] {
            let mut p = Peer::open(role, with_limits(64 * 1024, 16 << 20));
            let header = p.header(b0, 64 * 1024 + 1);
            p.feed_bytewise(&header);
            let error = Error::Limit(LimitError::MessageTooLarge { limit: 64 * 1024 });
            p.expect_failure(&[], &[], error, 1009, &format!("{role:?} {b0:#x}"));
        }
    }
}

#[test]
fn limit_fragmented_message_growing_past_the_limit() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1000, 16 << 20));
        let frames =
            [p.frame(BINARY, &[1; 600]), p.frame(FIN | PING, b"mid"), p.frame(CONT, &[2; 400])].concat();
        p.feed(&frames);
        p.expect(&[Event::Ping(b"mid".to_vec())], &[sent(FIN | PONG, b"mid")], &format!("{role:?} at 1000"));
        // One more byte than the limit, declared by the next header.
        let header = p.header(FIN | CONT, 1);
        p.feed(&header);
        let error = Error::Limit(LimitError::MessageTooLarge { limit: 1000 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?} past 1000"));
    }
}

#[test]
fn limit_fragmented_message_exactly_at_the_limit() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1000, 16 << 20));
        let text = text_of_len(1000);
        let frames = fragments(&mut p, TEXT, text.as_bytes(), &[333, 333, 0, 334]);
        p.feed(&frames);
        p.expect(&[Event::Text(text)], &[], &format!("{role:?}"));
    }
}

#[test]
fn limit_frame_size() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(16 << 20, 100));
        let data = binary_of_len(300);
        let frames = fragments(&mut p, BINARY, &data, &[100, 100, 100]);
        p.feed(&frames);
        p.expect(&[Event::Binary(data)], &[], &format!("{role:?} frames at the limit"));
        let header = p.header(FIN | BINARY, 101);
        p.feed(&header);
        let error = Error::Limit(LimitError::FrameTooLarge { limit: 100 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?} frame over the limit"));
    }
}

#[test]
fn limit_declared_2_pow_62_fails_at_once() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let mut frame = p.header(FIN | BINARY, 1 << 62);
        frame.extend_from_slice(b"some payload");
        let largest = largest_allocation_in(|| p.feed(&frame));
        let error = Error::Limit(LimitError::FrameTooLarge { limit: 16 << 20 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?}"));
        assert!(largest < 64 * 1024, "{role:?}: allocated {largest} bytes for a declared length");
    }
}

#[test]
fn limit_64_bit_length_with_top_bit_set_fails() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let mut frame = vec![FIN | BINARY, if role == Role::Server { 0xff } else { 0x7f }];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        if role == Role::Server {
            frame.extend_from_slice(&[1, 2, 3, 4]);
        }
        p.feed(&frame);
        let error = protocol(ProtocolError::BadLength);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn limit_declared_length_is_not_allocated() {
    // Control: the tracking allocator sees a large allocation.
    assert!(largest_allocation_in(|| drop(std::hint::black_box(vec![0u8; 2 << 20]))) >= 2 << 20);
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1 << 40, 1 << 40));
        let mut input = p.header(FIN | BINARY, 1 << 30);
        input.extend(vec![0x55; 4096]);
        let largest = largest_allocation_in(|| p.feed(&input));
        assert!(largest < 1 << 20, "{role:?}: a 1 GiB declaration allocated {largest} bytes");
        p.expect(&[], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Open);
    }
}
