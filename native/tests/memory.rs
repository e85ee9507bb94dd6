//! What a server holds in memory: buffers shrink back once a large message
//! is echoed, and `ServeOptions::memory_budget` fails the connection whose
//! input would go past it (close code 1009; a draft-76 connection, which
//! has no close codes, is closed) while the others go on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    client_options, close_code, local_options, queued_echo_server, raw_draft76, raw_rfc6455,
    unfinished_frame, within, ws_url,
};
use hybi::{connect_with, Config, DeflateConfig, Framing, Message, Protocol, ServeOptions, ServerHandle};

/// What an idle connection may keep of its buffers (the core's threshold
/// for giving them back).
const SHRINK_ABOVE: usize = 64 * 1024;

/// Waits until the server's charge to its budget satisfies `ok`; its value.
fn settles(server: &ServerHandle, ok: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = server.buffered_bytes().expect("a budget is set");
        if ok(held) || Instant::now() > deadline {
            return held;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bytes that deflate cannot shrink.
fn noise(len: usize) -> Vec<u8> {
    hybi_core::testing::Seeded::new(0x9e37_79b9_7f4a_7c15).bytes(len)
}

#[test]
fn buffers_shrink_back_once_a_large_inflated_message_is_echoed() {
    let options = ServeOptions {
        config: Config { deflate: Some(DeflateConfig::default()), ..Config::default() },
        ..local_options()
    };
    let server = queued_echo_server(options);
    let url = ws_url(&server, false);
    let server = within(Duration::from_secs(120), move || {
        let options = {
            let mut options = client_options(Protocol::Rfc6455);
            options.config.deflate = Some(DeflateConfig::default());
            options
        };
        let conn = connect_with(&url, options).unwrap();
        assert!(conn.deflate().is_some());
        let idle = settles(&server, |held| held <= SHRINK_ABOVE);
        // 16 MiB of zeros: about 16 KiB on the wire, 16 MiB once inflated.
        // Then 4 MiB of noise, whose compressed echo is as large.
        for message in [vec![0u8; 16 << 20], noise(4 << 20)] {
            let len = message.len();
            conn.send_binary(&message).unwrap();
            assert_eq!(conn.recv().unwrap(), Some(Message::Binary(message)));
            let held = settles(&server, |held| held <= SHRINK_ABOVE);
            assert!(held <= SHRINK_ABOVE, "after echoing {len} bytes the server holds {held} (idle: {idle})");
        }
        conn.close().unwrap();
        server
    });
    server.stop();
}

/// What each connection holds without drawing on the budget (the
/// driver's `UNBUDGETED`): the pool counts what they hold beyond it.
const UNBUDGETED: usize = 64 * 1024;

/// Two connections (each opened by `open`) send `unfinished`, a message of
/// `partial` bytes without its end; the server holds both, within `budget`.
/// Returns them, still open.
fn two_holding(
    server: &ServerHandle,
    open: impl Fn() -> TcpStream,
    unfinished: &[u8],
    partial: usize,
    budget: usize,
) -> Vec<TcpStream> {
    let mut holders = Vec::new();
    for n in 1..=2 {
        let mut stream = open();
        stream.write_all(unfinished).unwrap();
        let held = settles(server, |held| held >= n * (partial - UNBUDGETED));
        assert!(held >= n * (partial - UNBUDGETED) && held <= budget, "{n} unfinished: {held} bytes held");
        holders.push(stream);
    }
    holders
}

/// A new client's 100 small messages echo, in `protocol`.
fn small_messages_echo(url: &str, protocol: Protocol) {
    let small = connect_with(url, client_options(protocol)).unwrap();
    for i in 0..100 {
        let text = format!("small {i}");
        small.send_text(&text).unwrap();
        assert_eq!(small.recv().unwrap(), Some(Message::Text(text)));
    }
    small.close().unwrap();
}

#[test]
fn the_connection_that_would_exceed_the_budget_fails_with_1009_and_the_others_go_on() {
    const BUDGET: usize = 32 << 20;
    const PARTIAL: usize = 15 << 20;
    let server = queued_echo_server(ServeOptions { memory_budget: BUDGET, ..local_options() });
    let addr = server.local_addr();
    let url = ws_url(&server, false);
    let server = within(Duration::from_secs(120), move || {
        // Two connections each hold an unfinished 15 MiB message.
        let holders = two_holding(&server, || raw_rfc6455(addr), &unfinished_frame(PARTIAL), PARTIAL, BUDGET);
        // The third would take the server past its budget.
        let mut third = raw_rfc6455(addr);
        let mut writer = third.try_clone().unwrap();
        let sending = std::thread::spawn(move || {
            // The server stops reading (and closes) partway: errors are
            // expected here.
            let _ = writer.write_all(&unfinished_frame(PARTIAL));
        });
        assert_eq!(close_code(&mut third), 1009);
        let _ = sending.join();
        assert!(server.buffered_bytes().unwrap() <= BUDGET);
        // A fourth client's small messages still echo.
        small_messages_echo(&url, Protocol::Rfc6455);
        // The first two finish their messages and get them back whole.
        for mut stream in holders {
            common::finish_unfinished(&mut stream, PARTIAL);
        }
        server
    });
    server.stop();
}

/// Reads until the server ends the connection; how it ended (`Ok(0)` for
/// an orderly end), or why it did not.
fn closed(stream: &mut TcpStream) -> std::io::Result<usize> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(0),
            Ok(_) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn the_draft76_connection_that_would_exceed_the_budget_is_closed_and_the_others_go_on() {
    // The same budget and messages as above, in draft-76 'old' text frames
    // (0x00, the text, 0xFF) left without their 0xFF.
    const BUDGET: usize = 32 << 20;
    const PARTIAL: usize = 15 << 20;
    let unfinished = || [&[0x00][..], &vec![b'z'; PARTIAL]].concat();
    let server = queued_echo_server(ServeOptions { memory_budget: BUDGET, ..local_options() });
    let addr = server.local_addr();
    let url = ws_url(&server, false);
    let server = within(Duration::from_secs(120), move || {
        // Two connections each hold an unfinished 15 MiB message.
        let holders = two_holding(&server, || raw_draft76(addr), &unfinished(), PARTIAL, BUDGET);
        // The third would take the server past its budget: the draft has
        // no close frame with a code, so the server just ends it.
        let mut third = raw_draft76(addr);
        let mut writer = third.try_clone().unwrap();
        let message = unfinished();
        let sending = std::thread::spawn(move || {
            // The server stops reading (and closes) partway: errors are
            // expected here.
            let _ = writer.write_all(&message);
        });
        // Closed, not left waiting: an orderly end (the server lingers over
        // what the client still sends), or at worst a reset.
        if let Err(e) = closed(&mut third) {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "not closed: {e}");
        }
        let _ = sending.join();
        assert!(server.buffered_bytes().unwrap() <= BUDGET);
        // A fourth client's small messages still echo.
        small_messages_echo(&url, Protocol::Draft76(Framing::Old));
        // The first two finish their messages and get them back whole.
        for mut stream in holders {
            stream.write_all(b"!\xff").unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut echo = vec![0u8; PARTIAL + 3];
            stream.read_exact(&mut echo).unwrap();
            assert_eq!(echo[0], 0x00);
            assert!(echo[1..=PARTIAL].iter().all(|&b| b == b'z'));
            assert_eq!(echo[PARTIAL + 1..], *b"!\xff");
        }
        server
    });
    server.stop();
}

/// Every connection may hold its first 64 KiB without drawing on the
/// budget: however much of the pool other connections hold or have
/// reserved for a moment (a deflate read reserves what it could inflate
/// to), a client sending small messages is not failed for it. Here the pool
/// is empty from the start: small messages still echo, and a message past
/// the floor gets 1009.
#[test]
fn small_messages_fit_under_an_exhausted_budget() {
    let server = queued_echo_server(ServeOptions { memory_budget: 0, ..local_options() });
    let url = ws_url(&server, false);
    let addr = server.local_addr();
    let server = within(Duration::from_secs(60), move || {
        let conn = hybi::connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
        for i in 0..100 {
            let text = format!("{i:04}").repeat(256);
            conn.send_text(&text).unwrap();
            assert_eq!(conn.recv().unwrap(), Some(Message::Text(text)));
        }
        let mut big = raw_rfc6455(addr);
        big.write_all(&unfinished_frame(UNBUDGETED * 2)).unwrap();
        assert_eq!(close_code(&mut big), 1009, "a message past the floor under an empty pool");
        conn.close().unwrap();
        server
    });
    server.stop();
}
