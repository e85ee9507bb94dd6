//! Deadlines on a fake clock: the handshake, close, idle and keepalive
//! timers of `Timeouts`, for client and server, RFC 6455 and draft-76.
//!
//! Time is only ever what the test passes in (`Instant::from_millis`), so
//! every deadline is checked to the millisecond: nothing happens one
//! millisecond before it, and the timer fires at it (or any time after).

use core::time::Duration;

use hybi_core::testing::{drain, entropy, transmit, Pair};
use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, Error, Event, Framing, Instant, Misuse, Protocol,
    RequestKind, State, Target, Timeouts, Timer,
};

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/t".into(), secure: false }
}

fn config(protocol: Protocol, timeouts: Timeouts) -> Config {
    Config { protocol, timeouts, ..Config::default() }
}

fn rfc6455(timeouts: Timeouts) -> Config {
    config(Protocol::Rfc6455, timeouts)
}

fn client(now: Instant, config: Config) -> Connection {
    Connection::client(now, config, ClientRequest::new(target()), entropy(77)).expect("client starts")
}

/// Moves what `from` queued to `to` at `now`; returns how many bytes.
fn pump(now: Instant, from: &mut Connection, to: &mut Connection) -> usize {
    let wire = transmit(from);
    to.handle_input(now, &wire);
    wire.len()
}

/// A client and server whose handshake happened entirely at `now`.
fn open_pair(now: Instant, client_config: Config, server_config: Config) -> (Connection, Connection) {
    let mut pair = Pair::starting_at(now, client_config, ClientRequest::new(target()), server_config, 77);
    pair.handshake();
    (pair.client, pair.server)
}

/// Calls `handle_timeout` one millisecond before `deadline` (nothing may
/// happen) and checks that `poll_timeout` names exactly `deadline`.
fn nothing_before(conn: &mut Connection, deadline: u64) {
    assert_eq!(conn.poll_timeout(), Some(at(deadline)), "poll_timeout");
    let state = conn.state();
    conn.handle_timeout(at(deadline - 1));
    assert_eq!(drain(conn), [], "no event 1 ms before {deadline}");
    assert_eq!(conn.pending_transmit(), 0, "nothing sent 1 ms before {deadline}");
    assert_eq!(conn.state(), state, "state unchanged 1 ms before {deadline}");
    assert_eq!(conn.poll_timeout(), Some(at(deadline)), "poll_timeout unchanged");
}

/// `conn` fails with the handshake timeout at `deadline`, and not 1 ms
/// before (see [`nothing_before`]).
#[track_caller]
fn handshake_times_out_at(conn: &mut Connection, deadline: u64) {
    nothing_before(conn, deadline);
    conn.handle_timeout(at(deadline));
    assert_eq!(drain(conn), [Event::Error(Error::Timeout(Timer::Handshake))]);
}

/// After a timeout: closed, nothing more to wait for, and later calls
/// change nothing.
fn over(conn: &mut Connection) {
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(at(u64::MAX));
    assert_eq!(drain(conn), []);
    assert_eq!(conn.pending_transmit(), 0);
}

// ---------------------------------------------------------------------------
// Handshake.
// ---------------------------------------------------------------------------

#[test]
fn client_handshake_timeout() {
    let mut c = client(at(1_000), rfc6455(Timeouts::default()));
    let mut s = Connection::server(at(1_000), Config::default());
    pump(at(1_000), &mut c, &mut s);
    let _ = drain(&mut s);
    s.accept(Accept::default()).unwrap();
    let response = transmit(&mut s);
    // Part of the response arrives; the deadline (30 s from the start) stays.
    c.handle_input(at(20_000), &response[..response.len() / 2]);
    assert_eq!(drain(&mut c), []);
    handshake_times_out_at(&mut c, 31_000);
    assert_eq!(c.pending_transmit(), 0, "a client has nothing to send on a handshake timeout");
    over(&mut c);
    // The rest of the response changes nothing now.
    c.handle_input(at(31_001), &response[response.len() / 2..]);
    assert_eq!(drain(&mut c), []);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn handshake_timeout_fires_late_too() {
    let mut c = client(Instant::ZERO, rfc6455(Timeouts::default()));
    let _ = transmit(&mut c);
    assert_eq!(c.poll_timeout(), Some(at(30_000)));
    c.handle_timeout(at(95_000));
    assert_eq!(drain(&mut c), [Event::Error(Error::Timeout(Timer::Handshake))]);
    over(&mut c);
}

#[test]
fn server_handshake_timeout_while_reading_the_request() {
    let mut c = client(Instant::ZERO, rfc6455(Timeouts::default()));
    let request = transmit(&mut c);
    let mut s = Connection::server(Instant::ZERO, Config::default());
    s.handle_input(at(10_000), &request[..request.len() - 3]);
    assert_eq!(drain(&mut s), []);
    handshake_times_out_at(&mut s, 30_000);
    // The request did not arrive in time: 408.
    let answer = String::from_utf8(transmit(&mut s)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    assert_eq!(s.response().map(|r| r.status), Some(408));
    over(&mut s);
    s.handle_input(at(30_001), &request[request.len() - 3..]);
    assert_eq!(drain(&mut s), []);
    assert_eq!(s.accept(Accept::default()), Err(Misuse::NoPendingRequest));
}

#[test]
fn server_handshake_timeout_while_the_application_decides() {
    let mut c = client(Instant::ZERO, rfc6455(Timeouts::default()));
    let mut s = Connection::server(Instant::ZERO, Config::default());
    pump(at(5_000), &mut c, &mut s);
    assert_eq!(drain(&mut s), [Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))]);
    handshake_times_out_at(&mut s, 30_000);
    // The request arrived; the application was too slow: 503, not 408.
    let answer = String::from_utf8(transmit(&mut s)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
    over(&mut s);
    assert_eq!(s.accept(Accept::default()), Err(Misuse::NoPendingRequest));
}

#[test]
fn draft76_server_handshake_timeout_while_waiting_for_key3() {
    let d76 = config(Protocol::Draft76(Framing::Old), Timeouts::default());
    let mut c = client(Instant::ZERO, d76);
    let request = transmit(&mut c);
    let mut s = Connection::server(Instant::ZERO, Config::default());
    // The head and 5 of key3's 8 bytes.
    s.handle_input(at(1_000), &request[..request.len() - 3]);
    assert_eq!(drain(&mut s), []);
    handshake_times_out_at(&mut s, 30_000);
    assert!(transmit(&mut s).starts_with(b"HTTP/1.1 408 "));
    over(&mut s);
}

#[test]
fn draft76_client_handshake_timeout() {
    let d76 = config(Protocol::Draft76(Framing::New), Timeouts { handshake: secs(2), ..Timeouts::default() });
    let mut c = client(at(500), d76);
    let _ = transmit(&mut c);
    handshake_times_out_at(&mut c, 2_500);
    over(&mut c);
}

#[test]
fn handshake_timer_is_disarmed_once_open() {
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::Old)] {
        let (mut c, mut s) = open_pair(at(29_000), config(protocol, Timeouts::default()), Config::default());
        // Only the handshake and close timers are on by default.
        assert_eq!(c.poll_timeout(), None, "{protocol:?}");
        assert_eq!(s.poll_timeout(), None, "{protocol:?}");
        c.handle_timeout(at(1_000_000));
        s.handle_timeout(at(1_000_000));
        assert_eq!((drain(&mut c), drain(&mut s)), (vec![], vec![]));
        assert_eq!((c.state(), s.state()), (State::Open, State::Open));
        assert_eq!((c.pending_transmit(), s.pending_transmit()), (0, 0));
    }
}

#[test]
fn no_timers_at_all() {
    let none = Timeouts {
        handshake: None,
        close: None,
        idle: None,
        keepalive: None,
        keepalive_timeout: None,
        linger: None,
        framing_silence: None,
    };
    let mut c = client(Instant::ZERO, rfc6455(none));
    let mut s = Connection::server(Instant::ZERO, Config { timeouts: none, ..Config::default() });
    assert_eq!((c.poll_timeout(), s.poll_timeout()), (None, None));
    c.handle_timeout(at(u64::MAX));
    s.handle_timeout(at(u64::MAX));
    assert_eq!((drain(&mut c), drain(&mut s)), (vec![], vec![]));
    assert_eq!((c.state(), s.state()), (State::Handshaking, State::Handshaking));
}

// ---------------------------------------------------------------------------
// Close.
// ---------------------------------------------------------------------------

#[test]
fn close_timeout_when_the_peer_never_answers() {
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::Old), Protocol::Draft76(Framing::New)] {
        for closer_is_client in [true, false] {
            let server_config = Config {
                framing: match protocol {
                    Protocol::Draft76(framing) => framing,
                    Protocol::Rfc6455 => Framing::Old,
                },
                ..Config::default()
            };
            let (mut c, mut s) =
                open_pair(Instant::ZERO, config(protocol, Timeouts::default()), server_config);
            let (closer, peer) = if closer_is_client { (&mut c, &mut s) } else { (&mut s, &mut c) };
            let (code, reason) = match protocol {
                Protocol::Rfc6455 => (Some(1000), "bye"),
                Protocol::Draft76(_) => (None, ""),
            };
            closer.close(at(1_000), code, reason).unwrap();
            assert_eq!(closer.state(), State::Closing);
            let close_frame = transmit(closer);
            assert!(!close_frame.is_empty());
            // The peer keeps talking but never closes: messages still
            // arrive, and the deadline does not move.
            peer.send_text("still here").unwrap();
            pump(at(3_000), peer, closer);
            assert_eq!(drain(closer), [Event::Text("still here".into())]);
            nothing_before(closer, 6_000);
            closer.handle_timeout(at(6_000));
            let context = format!("{protocol:?}, client closes: {closer_is_client}");
            assert_eq!(drain(closer), [Event::Error(Error::Timeout(Timer::Close))], "{context}");
            assert_eq!(transmit(closer), b"", "{context}: no second close frame");
            over(closer);
        }
    }
}

#[test]
fn close_answered_in_time_disarms_the_timer() {
    let (mut c, mut s) = open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config::default());
    s.close(at(100), Some(4000), "later").unwrap();
    assert_eq!(s.poll_timeout(), Some(at(5_100)));
    pump(at(200), &mut s, &mut c);
    assert_eq!(drain(&mut c), [Event::Close(Close { code: Some(4000), reason: "later".into() })]);
    assert_eq!(c.poll_timeout(), None);
    pump(at(5_099), &mut c, &mut s);
    assert_eq!(drain(&mut s), [Event::Close(Close { code: Some(4000), reason: String::new() })]);
    over(&mut s);
    over(&mut c);
}

#[test]
fn close_timeout_custom_and_disabled() {
    let t = Timeouts { close: Some(Duration::from_millis(250)), ..Timeouts::default() };
    let (mut c, _s) = open_pair(Instant::ZERO, rfc6455(t), Config::default());
    c.close(at(10), None, "").unwrap();
    assert_eq!(transmit(&mut c)[..2], [0x88, 0x80], "an empty masked close frame");
    nothing_before(&mut c, 260);
    c.handle_timeout(at(260));
    assert_eq!(drain(&mut c), [Event::Error(Error::Timeout(Timer::Close))]);

    let t = Timeouts { close: None, ..Timeouts::default() };
    let (mut c, _s) = open_pair(Instant::ZERO, rfc6455(t), Config::default());
    c.close(at(10), None, "").unwrap();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(at(u64::MAX));
    assert_eq!(drain(&mut c), []);
    assert_eq!(c.state(), State::Closing);
}

// ---------------------------------------------------------------------------
// Idle.
// ---------------------------------------------------------------------------

#[test]
fn idle_timeout_resets_on_every_input() {
    let t = Timeouts { idle: secs(60), ..Timeouts::default() };
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::Old)] {
        let (mut c, mut s) =
            open_pair(Instant::ZERO, config(protocol, t), Config { timeouts: t, ..Config::default() });
        assert_eq!(s.poll_timeout(), Some(at(60_000)));
        assert_eq!(c.poll_timeout(), Some(at(60_000)));
        c.send_text("a message in two reads").unwrap();
        let wire = transmit(&mut c);
        // One byte is input.
        s.handle_input(at(50_000), &wire[..1]);
        assert_eq!(drain(&mut s), []);
        assert_eq!(s.poll_timeout(), Some(at(110_000)));
        s.handle_input(at(100_000), &wire[1..]);
        assert_eq!(drain(&mut s), [Event::Text("a message in two reads".into())]);
        nothing_before(&mut s, 160_000);
        // Sending is not input: the deadline stays.
        s.send_text("reply").unwrap();
        let _ = transmit(&mut s);
        assert_eq!(s.poll_timeout(), Some(at(160_000)));
        s.handle_timeout(at(160_000));
        assert_eq!(drain(&mut s), [Event::Error(Error::Timeout(Timer::Idle))], "{protocol:?}");
        // RFC 6455 says goodbye with 1001 (going away); draft-76 just ends.
        let goodbye: &[u8] = if protocol == Protocol::Rfc6455 { &[0x88, 0x02, 0x03, 0xe9] } else { b"" };
        assert_eq!(transmit(&mut s), goodbye, "{protocol:?}: sent on an idle timeout");
        over(&mut s);
        // The client, which heard nothing since the handshake, times out at 60 s.
        nothing_before(&mut c, 60_000);
        c.handle_timeout(at(60_000));
        assert_eq!(drain(&mut c), [Event::Error(Error::Timeout(Timer::Idle))]);
        let goodbye = transmit(&mut c);
        let expected: &[u8] = if protocol == Protocol::Rfc6455 { &[0x88, 0x82] } else { b"" };
        assert_eq!(
            &goodbye[..goodbye.len().min(2)],
            expected,
            "{protocol:?}: a masked close 1001 or nothing"
        );
        over(&mut c);
    }
}

#[test]
fn idle_timeout_reset_by_pings_and_pongs() {
    let t = Timeouts { idle: secs(10), ..Timeouts::default() };
    let (mut c, mut s) = open_pair(Instant::ZERO, rfc6455(t), Config { timeouts: t, ..Config::default() });
    c.send_ping(b"x").unwrap();
    pump(at(9_000), &mut c, &mut s);
    assert_eq!(drain(&mut s), [Event::Ping(b"x".to_vec())]);
    assert_eq!(s.poll_timeout(), Some(at(19_000)));
    pump(at(9_500), &mut s, &mut c);
    assert_eq!(drain(&mut c), [Event::Pong(b"x".to_vec())]);
    assert_eq!(c.poll_timeout(), Some(at(19_500)));
}

#[test]
fn handshake_deadline_before_the_idle_one() {
    let t = Timeouts { idle: secs(60), ..Timeouts::default() };
    let mut c = client(Instant::ZERO, rfc6455(t));
    let _ = transmit(&mut c);
    handshake_times_out_at(&mut c, 30_000);
    over(&mut c);
}

/// `Timeouts::idle`: "Fail the connection when nothing at all arrives for
/// this long." A connection that sent its close to a peer gone silent must
/// not wait forever when the close timer is off (or longer than idle).
#[test]
fn idle_timeout_applies_while_closing() {
    for close in [None, secs(600)] {
        let t = Timeouts { idle: secs(60), close, ..Timeouts::default() };
        let (_c, mut s) = open_pair(Instant::ZERO, rfc6455(t), Config { timeouts: t, ..Config::default() });
        s.close(at(1_000), Some(1001), "").unwrap();
        let _ = transmit(&mut s);
        assert_eq!(s.state(), State::Closing);
        assert_eq!(
            s.poll_timeout(),
            Some(at(60_000)),
            "close timer {close:?}: the idle deadline still stands"
        );
        s.handle_timeout(at(60_000));
        assert_eq!(drain(&mut s), [Event::Error(Error::Timeout(Timer::Idle))], "close timer {close:?}");
        over(&mut s);
    }
}

// ---------------------------------------------------------------------------
// Keepalive.
// ---------------------------------------------------------------------------

fn keepalive(timeout: Option<Duration>) -> Timeouts {
    Timeouts { keepalive: secs(10), keepalive_timeout: timeout, ..Timeouts::default() }
}

#[test]
fn server_keepalive_ping_answered_then_unanswered() {
    let t = keepalive(secs(5));
    let (mut c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    nothing_before(&mut s, 10_000);
    s.handle_timeout(at(10_000));
    assert_eq!(drain(&mut s), [], "a keepalive ping is no event");
    assert_eq!(transmit(&mut s), [0x89, 0x00], "an empty unmasked ping");
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.poll_timeout(), Some(at(15_000)), "the answer is due 5 s later");
    // The client answers (automatically) 2 s later.
    s.handle_input(at(10_000), &[]);
    assert_eq!(s.poll_timeout(), Some(at(15_000)), "empty input is no input");
    c.handle_input(at(11_000), &[0x89, 0x00]);
    assert_eq!(drain(&mut c), [Event::Ping(vec![])]);
    pump(at(12_000), &mut c, &mut s);
    assert_eq!(drain(&mut s), [Event::Pong(vec![])]);
    // The failure is cancelled and the next ping is due 10 s after the pong.
    assert_eq!(s.poll_timeout(), Some(at(22_000)));
    s.handle_timeout(at(15_000));
    assert_eq!((drain(&mut s), transmit(&mut s)), (vec![], vec![]));
    nothing_before(&mut s, 22_000);
    s.handle_timeout(at(22_000));
    assert_eq!(transmit(&mut s), [0x89, 0x00]);
    // This time nothing comes back.
    nothing_before(&mut s, 27_000);
    s.handle_timeout(at(27_000));
    assert_eq!(drain(&mut s), [Event::Error(Error::Timeout(Timer::Keepalive))]);
    // A close (1001, going away) in case the peer is only slow.
    assert_eq!(transmit(&mut s), [0x88, 0x02, 0x03, 0xe9]);
    over(&mut s);
}

/// Both ends live on the kit's virtual clock: the client answers every
/// keepalive ping, so a server with keepalive on stays open however long it
/// runs, each ping 10 s after the last input; then an idle client that stops
/// answering is failed with 1001 once the answer is 5 s late.
#[test]
fn keepalive_between_live_ends_on_a_virtual_clock() {
    let t = keepalive(secs(5));
    let mut pair = Pair::new(
        rfc6455(Timeouts::default()),
        ClientRequest::new(target()),
        Config { timeouts: t, ..Config::default() },
        77,
    );
    pair.handshake();
    for n in 1..=6u64 {
        let before = pair.to_client.len();
        // Jump to the next deadline (the ping), then to the next (the next
        // ping: the pong cancelled the answer's deadline).
        assert_eq!(pair.next_timeout(), Some(at(n * 10_000)), "ping {n} due");
        assert_eq!(pair.drive(1), 1);
        assert_eq!(pair.now, at(n * 10_000));
        assert_eq!(pair.to_client[before..], [0x89, 0x00], "ping {n}");
        assert_eq!(pair.take_client_events(), [Event::Ping(vec![])], "ping {n}");
        assert_eq!(pair.take_server_events(), [Event::Pong(vec![])], "pong {n}");
        assert_eq!((pair.client.state(), pair.server.state()), (State::Open, State::Open));
    }
    // The client stops reading: the next ping goes unanswered.
    pair.advance(Duration::from_secs(10));
    assert_eq!(transmit(&mut pair.server), [0x89, 0x00]);
    assert_eq!(pair.next_timeout(), Some(at(75_000)));
    pair.advance(Duration::from_millis(4_999));
    assert_eq!(pair.take_server_events(), []);
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.take_server_events(), [Event::Error(Error::Timeout(Timer::Keepalive))]);
    assert_eq!(transmit(&mut pair.server), [0x88, 0x02, 0x03, 0xe9], "going away");
    over(&mut pair.server);
}

#[test]
fn any_input_cancels_the_keepalive_failure() {
    let t = keepalive(secs(5));
    let (mut c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    s.handle_timeout(at(10_000));
    assert_eq!(transmit(&mut s), [0x89, 0x00]);
    // Not the pong: a text message (the ping is never delivered).
    c.send_text("hi").unwrap();
    pump(at(14_999), &mut c, &mut s);
    assert_eq!(drain(&mut s), [Event::Text("hi".into())]);
    assert_eq!(s.poll_timeout(), Some(at(24_999)));
    s.handle_timeout(at(15_000));
    assert_eq!((drain(&mut s), transmit(&mut s)), (vec![], vec![]));
    assert_eq!(s.state(), State::Open);
}

#[test]
fn input_resets_the_keepalive_ping() {
    let t = keepalive(secs(5));
    let (mut c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    c.send_text("one").unwrap();
    pump(at(8_000), &mut c, &mut s);
    let _ = drain(&mut s);
    nothing_before(&mut s, 18_000);
    s.handle_timeout(at(18_000));
    assert_eq!(transmit(&mut s), [0x89, 0x00]);
}

#[test]
fn client_keepalive_ping_is_masked() {
    let t = keepalive(secs(5));
    let (mut c, mut s) = open_pair(at(1_000), rfc6455(t), Config::default());
    nothing_before(&mut c, 11_000);
    c.handle_timeout(at(11_000));
    assert_eq!(drain(&mut c), []);
    let ping = transmit(&mut c);
    assert_eq!(ping.len(), 6, "header, mask bit with length 0, 4-byte key: {ping:02x?}");
    assert_eq!(&ping[..2], [0x89, 0x80]);
    s.handle_input(at(11_500), &ping);
    assert_eq!(drain(&mut s), [Event::Ping(vec![])]);
    assert_eq!(c.poll_timeout(), Some(at(16_000)));
    pump(at(12_000), &mut s, &mut c);
    assert_eq!(drain(&mut c), [Event::Pong(vec![])]);
    assert_eq!(c.poll_timeout(), Some(at(22_000)));
    // Unanswered this time.
    c.handle_timeout(at(22_000));
    assert_eq!(transmit(&mut c)[..2], [0x89, 0x80]);
    nothing_before(&mut c, 27_000);
    c.handle_timeout(at(27_100));
    assert_eq!(drain(&mut c), [Event::Error(Error::Timeout(Timer::Keepalive))]);
    let goodbye = transmit(&mut c);
    assert_eq!((goodbye.len(), &goodbye[..2]), (8, &[0x88, 0x82][..]), "a masked close: {goodbye:02x?}");
    over(&mut c);
}

#[test]
fn keepalive_without_answer_deadline_keeps_pinging() {
    let t = keepalive(None);
    let (_c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    for n in 1..=5u64 {
        nothing_before(&mut s, n * 10_000);
        s.handle_timeout(at(n * 10_000));
        assert_eq!(transmit(&mut s), [0x89, 0x00], "ping {n}");
        assert_eq!(drain(&mut s), []);
        assert_eq!(s.state(), State::Open);
    }
}

#[test]
fn keepalive_and_idle_together() {
    // The idle deadline comes before the keepalive answer deadline.
    let t = Timeouts { idle: secs(12), ..keepalive(secs(5)) };
    let (_c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    s.handle_timeout(at(10_000));
    assert_eq!(transmit(&mut s), [0x89, 0x00]);
    nothing_before(&mut s, 12_000);
    s.handle_timeout(at(12_000));
    assert_eq!(drain(&mut s), [Event::Error(Error::Timeout(Timer::Idle))]);
    assert_eq!(transmit(&mut s), [0x88, 0x02, 0x03, 0xe9], "close 1001");
    over(&mut s);
}

#[test]
fn keepalive_never_fires_on_draft76() {
    for framing in [Framing::Old, Framing::New] {
        let t = keepalive(secs(5));
        let (mut c, mut s) = open_pair(
            Instant::ZERO,
            config(Protocol::Draft76(framing), t),
            Config { timeouts: t, framing, ..Config::default() },
        );
        assert_eq!((c.poll_timeout(), s.poll_timeout()), (None, None), "{framing:?}");
        for now in [10_000, 15_000, 1_000_000] {
            c.handle_timeout(at(now));
            s.handle_timeout(at(now));
        }
        assert_eq!((drain(&mut c), drain(&mut s)), (vec![], vec![]));
        assert_eq!((transmit(&mut c), transmit(&mut s)), (vec![], vec![]), "{framing:?}: no ping bytes");
        assert_eq!((c.state(), s.state()), (State::Open, State::Open));
        // With an idle timeout too, only that one is armed.
        let t = Timeouts { idle: secs(60), ..t };
        let (mut c, _s) = open_pair(
            Instant::ZERO,
            config(Protocol::Draft76(framing), t),
            Config { timeouts: t, framing, ..Config::default() },
        );
        nothing_before(&mut c, 60_000);
        c.handle_timeout(at(60_000));
        assert_eq!(drain(&mut c), [Event::Error(Error::Timeout(Timer::Idle))]);
        assert_eq!(transmit(&mut c), b"", "{framing:?}: no ping, no close");
        over(&mut c);
    }
}

#[test]
fn keepalive_is_not_armed_while_closing() {
    let t = keepalive(secs(5));
    let (_c, mut s) =
        open_pair(Instant::ZERO, rfc6455(Timeouts::default()), Config { timeouts: t, ..Config::default() });
    s.close(at(9_000), Some(1000), "").unwrap();
    let _ = transmit(&mut s);
    assert_eq!(s.poll_timeout(), Some(at(14_000)), "only the close deadline");
    s.handle_timeout(at(10_000));
    assert_eq!((drain(&mut s), transmit(&mut s)), (vec![], vec![]));
}

// ---------------------------------------------------------------------------
// Closed connections wait for nothing.
// ---------------------------------------------------------------------------

#[test]
fn poll_timeout_is_none_once_closed() {
    let t = Timeouts { idle: secs(60), ..keepalive(secs(5)) };
    // A clean close.
    let (mut c, mut s) = open_pair(Instant::ZERO, rfc6455(t), Config { timeouts: t, ..Config::default() });
    c.close(at(1_000), Some(1000), "").unwrap();
    pump(at(1_000), &mut c, &mut s);
    // Taking the close event is what answers it.
    assert_eq!(drain(&mut s), [Event::Close(Close { code: Some(1000), reason: String::new() })]);
    pump(at(1_000), &mut s, &mut c);
    assert_eq!(drain(&mut c), [Event::Close(Close { code: Some(1000), reason: String::new() })]);
    over(&mut c);
    over(&mut s);
    // A protocol error (an unmasked frame to a server).
    let (_c, mut s) = open_pair(Instant::ZERO, rfc6455(t), Config { timeouts: t, ..Config::default() });
    s.handle_input(at(1_000), &[0x81, 0x00]);
    assert!(matches!(drain(&mut s).as_slice(), [Event::Error(Error::Protocol(_))]));
    let _ = transmit(&mut s);
    over(&mut s);
    // End of stream.
    let (mut c, _s) = open_pair(Instant::ZERO, rfc6455(t), Config { timeouts: t, ..Config::default() });
    c.handle_eof();
    assert!(matches!(drain(&mut c).as_slice(), [Event::Error(Error::UnexpectedEof(_))]));
    over(&mut c);
    // A refused handshake.
    let mut s = Connection::server(Instant::ZERO, Config { timeouts: t, ..Config::default() });
    s.handle_input(at(1), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(drain(&mut s), [Event::Request(RequestKind::Http)]);
    s.respond(hybi_core::HttpResponse::text(404, "no")).unwrap();
    let _ = transmit(&mut s);
    over(&mut s);
}
