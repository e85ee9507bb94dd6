//! Reproducers of what the fuzz targets (`fuzz/`, run with `./scripts/fuzz`)
//! found in hybi-core, minimised by hand: each test names the target that
//! found it, carries its input bytes inline and states what must hold.
//! Stable Rust, no cargo-fuzz needed.

use hybi_core::{Accept, Config, Connection, DeflateConfig, Event, Instant, Limits, RequestKind};

/// An RFC 6455 request offering permessage-deflate with no parameters.
const DEFLATE_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/// A server that accepted [`DEFLATE_REQUEST`] under `config`.
fn deflate_server(config: Config) -> Connection {
    let mut server = Connection::server(Instant::ZERO, config);
    server.handle_input(Instant::ZERO, DEFLATE_REQUEST);
    assert_eq!(
        server.poll_event(),
        Some(Event::Request(RequestKind::WebSocket(hybi_core::Protocol::Rfc6455)))
    );
    server.accept(Accept::default()).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Open));
    assert!(server.deflate().is_some());
    let mut response = Vec::new();
    let _ = server.poll_transmit(&mut response);
    server
}

/// Found by `frames_rfc6455_deflate` (streaming + permessage-deflate).
///
/// One read of 121 bytes (a masked text frame whose 115-byte payload is
/// 100,000 × `a` deflated) comes out as a single `Event::TextFragment` of
/// 100,000 bytes. `Config::streaming` says a message "of any size costs no
/// more memory than one read" and that `max_frame_size` still applies in
/// streaming mode, but in that mode the inflate limit is `usize::MAX`
/// (`framing/rfc6455/mod.rs`, `inflate_limit`) and a piece is whatever one
/// read inflates to: deflate's ~1000:1 ratio turns a 1 MiB read into ~1 GiB
/// in one `Vec`, and a 16 MiB frame (the default `max_frame_size`) into
/// ~16 GiB. Must hold: no piece is larger than `max_frame_size`, and the
/// pieces still add up to the whole message.
#[test]
fn streaming_inflate_is_bounded_per_piece() {
    let limits = Limits { max_frame_size: 64 * 1024, max_message_size: 64 * 1024, ..Limits::default() };
    let config =
        Config { streaming: true, limits, deflate: Some(DeflateConfig::default()), ..Config::default() };
    let mut server = deflate_server(config);

    // FIN | RSV1 | text, masked (all-zero key), 115 payload bytes.
    let mut frame = vec![0xc1, 0x80 | 115, 0x00, 0x00, 0x00, 0x00];
    frame.extend_from_slice(&[
        0xec, 0xc1, 0x31, 0x01, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0xac, 0xeb, 0x5f, 0xc2, 0x1a, 0x1e, 0x40, 0x01,
    ]);
    frame.extend_from_slice(&[0x00; 96]);
    frame.extend_from_slice(&[0xaf, 0x06]);
    assert_eq!(frame.len(), 121);

    server.handle_input(Instant::ZERO, &frame);
    let mut total = 0;
    let mut finished = false;
    while let Some(event) = server.poll_event() {
        match event {
            Event::TextFragment { text, fin } => {
                assert!(
                    text.len() <= limits.max_frame_size,
                    "a {}-byte read became one piece of {} bytes (max_frame_size {})",
                    frame.len(),
                    text.len(),
                    limits.max_frame_size
                );
                assert!(text.bytes().all(|b| b == b'a'));
                total += text.len();
                finished = fin;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(finished, "the message did not end");
    assert_eq!(total, 100_000);
}

/// Found while fuzzing `frames_old` with limits of `usize::MAX` (what an
/// application that wants no limit configures; `Limits` allows it).
///
/// The 'old' decoder (`framing/old.rs`, `State::Length`) computes
/// `length * 128 + digit` in `u64` and compares with `max_frame_size` only
/// afterwards. Under any limit above 2^57 a length-prefixed frame with
/// eleven or more base-128 digits overflows: a panic ("attempt to multiply
/// with overflow") where overflow checks are on (debug builds, the fuzz
/// builds), and a silently wrapped length in release builds, after which
/// the decoder skips a wrong number of bytes and reads the rest of the
/// stream out of frame. Must hold: no panic, and a length that does not fit
/// is refused (`FrameTooLarge`) instead of wrapping.
#[test]
fn old_length_digits_do_not_overflow() {
    use hybi_core::framing::old::Decoder;
    use hybi_core::{Error, LimitError};

    // Type 0x80 (length-prefixed), then 2^77 - 1 in eleven base-128 digits.
    let frame = [0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    let mut decoder = Decoder::new(usize::MAX, usize::MAX);
    let mut input = &frame[..];
    let result = decoder.decode(&mut input);
    assert!(
        matches!(result, Err(Error::Limit(LimitError::FrameTooLarge { .. }))),
        "a length of 77 bits under a usize::MAX limit gave {result:?}"
    );
}

/// The draft's own request (docs/PROTOCOLS.md §1.1), key3 included.
const DRAFT76_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n\
    Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
    Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U";

/// Found by `frames_old` (tiny limits, `InvalidUtf8::Replace`).
///
/// `max_message_size` is "most bytes one message may hold once
/// reassembled"; the 'old' and 'new' decoders check it against the raw
/// bytes, but with `InvalidUtf8::Replace` every invalid byte becomes U+FFFD,
/// three bytes, after the check (`connection.rs`, `on_draft76_frame`). So a
/// 1,024-byte frame of continuation bytes under a 1,024-byte limit arrives
/// as a 3,072-byte `Event::Text`. Must hold: a text event never exceeds
/// `max_message_size` (or the message fails with `MessageTooLarge`).
#[test]
fn replaced_text_stays_within_max_message_size() {
    use hybi_core::InvalidUtf8;

    let limits = Limits { max_message_size: 1024, ..Limits::default() };
    let config = Config { invalid_utf8: InvalidUtf8::Replace, limits, ..Config::default() };
    let mut server = Connection::server(Instant::ZERO, config);
    server.handle_input(Instant::ZERO, DRAFT76_REQUEST);
    assert!(matches!(server.poll_event(), Some(Event::Request(RequestKind::WebSocket(_)))));
    server.accept(Accept::default()).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Open));

    // A text frame: 0x00, 1,024 lone continuation bytes, 0xFF.
    let mut frame = vec![0x00];
    frame.extend_from_slice(&[0x80; 1024]);
    frame.push(0xff);
    server.handle_input(Instant::ZERO, &frame);
    match server.poll_event() {
        Some(Event::Text(text)) => {
            assert!(text.len() <= 1024, "a text event of {} bytes under a 1024-byte limit", text.len())
        }
        Some(Event::Error(hybi_core::Error::Limit(_))) => {}
        other => panic!("unexpected {other:?}"),
    }
}
