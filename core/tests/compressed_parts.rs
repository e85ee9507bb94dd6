//! `Connection::send_compressed_part`: a message compressed with
//! permessage-deflate and given in parts (what the Node driver does with
//! large messages, so that they never sit whole in wasm memory) arrives as
//! the message, in both roles and under every agreement shape; parts may be
//! empty, may end inside a UTF-8 character, and pings may come between
//! them; other messages may not; without deflate nothing is queued.

mod common;

use common::{client_request, transmit, Pair};
use hybi_core::{Config, DeflateConfig, Event, Misuse, Protocol};

fn pair(client_deflate: DeflateConfig, server_deflate: DeflateConfig) -> Pair {
    let client = Config { protocol: Protocol::Rfc6455, deflate: Some(client_deflate), ..Config::default() };
    let server = Config { deflate: Some(server_deflate), ..Config::default() };
    let mut pair = Pair::new(client, client_request(), server, 7);
    pair.handshake();
    assert!(pair.server.deflate().is_some(), "deflate agreed");
    pair
}

fn variants() -> Vec<(&'static str, DeflateConfig, DeflateConfig)> {
    let no_takeover = DeflateConfig {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let window_10 = DeflateConfig {
        server_max_window_bits: Some(10),
        client_max_window_bits: Some(10),
        ..DeflateConfig::default()
    };
    vec![
        ("default", DeflateConfig::default(), DeflateConfig::default()),
        ("no context takeover", no_takeover, no_takeover),
        ("10-bit windows", window_10, DeflateConfig::default()),
    ]
}

/// Bytes that compress somewhat: a repeated phrase with a counter in it.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut i = seed;
    while out.len() < len {
        out.extend_from_slice(format!("part {i} of a message κόσμε 😀 ").as_bytes());
        i = i.wrapping_mul(2_654_435_761).wrapping_add(1) % 1000;
    }
    out.truncate(len);
    out
}

/// Sends `message` from `from` in parts of `part` bytes (one last empty part
/// when `empty_last`), a ping after the first part.
fn send_in_parts(
    from: &mut hybi_core::Connection,
    binary: bool,
    message: &[u8],
    part: usize,
    empty_last: bool,
) {
    let chunks: Vec<&[u8]> = message.chunks(part.max(1)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let fin = i + 1 == chunks.len() && !empty_last;
        assert_eq!(from.send_compressed_part(binary, chunk, fin), Ok(true));
        if i == 0 {
            from.send_ping(b"between parts").expect("ping between parts");
        }
    }
    if empty_last || chunks.is_empty() {
        assert_eq!(from.send_compressed_part(binary, &[], true), Ok(true));
    }
}

fn messages_only(events: Vec<Event>) -> Vec<Event> {
    events.into_iter().filter(|e| matches!(e, Event::Text(_) | Event::Binary(_))).collect()
}

#[test]
fn messages_in_parts_arrive_whole_both_ways() {
    for (name, client_deflate, server_deflate) in variants() {
        let mut p = pair(client_deflate, server_deflate);
        let cases: [(usize, usize, bool); 6] = [
            (0, 1, false),
            (1, 1, true),
            (5000, 7, false),
            (200_000, 65_536, false),
            (70_000, 1024, true),
            (3 << 20, 65_536, false),
        ];
        for (n, &(len, part, empty_last)) in cases.iter().enumerate() {
            let bytes = data(len, n as u32);
            // Text cut into parts at byte offsets: most cut characters.
            let text = String::from_utf8_lossy(&bytes).into_owned();
            send_in_parts(&mut p.server, true, &bytes, part, empty_last);
            p.server.send_text("a whole message between").expect("whole message");
            send_in_parts(&mut p.server, false, text.as_bytes(), part, empty_last);
            send_in_parts(&mut p.client, true, &bytes, part, empty_last);
            p.pump();
            assert_eq!(
                messages_only(p.take_client_events()),
                [
                    Event::Binary(bytes.clone()),
                    Event::Text("a whole message between".into()),
                    Event::Text(text)
                ],
                "{name}: server → client, {len} B in {part} B parts"
            );
            assert_eq!(
                messages_only(p.take_server_events()),
                [Event::Binary(bytes)],
                "{name}: client → server, {len} B in {part} B parts"
            );
        }
    }
}

#[test]
fn nothing_else_comes_between_the_parts() {
    let mut p = pair(DeflateConfig::default(), DeflateConfig::default());
    assert_eq!(p.server.send_compressed_part(true, b"first", false), Ok(true));
    let in_progress = Err(Misuse::MessageInProgress);
    assert_eq!(p.server.send_text("no"), in_progress);
    assert_eq!(p.server.send_binary(b"no"), in_progress);
    assert_eq!(p.server.send_fragment(true, b"no", true), in_progress);
    assert_eq!(p.server.send_compressed_part(false, b"other type", true), Err(Misuse::FragmentTypeChanged));
    assert_eq!(p.server.send_compressed_part(true, b" and last", true), Ok(true));
    p.pump();
    assert_eq!(messages_only(p.take_client_events()), [Event::Binary(b"first and last".to_vec())]);
}

#[test]
fn without_deflate_nothing_is_queued() {
    let client = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut p = Pair::new(client, client_request(), Config::default(), 3);
    p.handshake();
    assert_eq!(p.server.send_compressed_part(true, b"data", true), Ok(false));
    assert!(transmit(&mut p.server).is_empty(), "nothing queued");
    p.server.send_binary(b"after").expect("a message after");
    p.pump();
    assert_eq!(messages_only(p.take_client_events()), [Event::Binary(b"after".to_vec())]);
}
