//! A peer's close is answered when the application takes the close event,
//! not when the frame is read: an echo server that reads messages and the
//! close in one go can still echo every message first (RFC 6455 §5.5.1 lets
//! an endpoint finish sending before it answers a close).

mod common;

use common::{client_request, drain, transmit, Pair, NOW};
use hybi_core::{Close, Config, Event, Framing, Protocol, State};

/// Every protocol, with the close each one reports.
fn setups() -> Vec<(&'static str, Pair, Close)> {
    let rfc6455 = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut pairs = vec![
        ("draft-76 old", Pair::new(Framing::Old), Close::default()),
        ("draft-76 new", Pair::new(Framing::New), Close::default()),
        (
            "RFC 6455",
            Pair::with(rfc6455, client_request(), Config::default(), 7),
            Close { code: Some(1000), reason: "bye".into() },
        ),
    ];
    for (_, pair, _) in &mut pairs {
        pair.handshake();
    }
    pairs
}

#[test]
fn echo_server_answers_messages_read_with_the_close() {
    for (name, mut pair, close) in setups() {
        pair.client.send_text("first").unwrap();
        pair.client.send_text("second").unwrap();
        let code = close.code.filter(|_| pair.client.protocol() == Some(Protocol::Rfc6455));
        pair.client.close(NOW, code, &close.reason).unwrap();
        // Both messages and the close reach the server in one read.
        let wire = transmit(&mut pair.client);
        pair.server.handle_input(NOW, &wire);
        let mut seen = Vec::new();
        while let Some(event) = pair.server.poll_event() {
            if let Event::Text(text) = &event {
                assert_eq!(pair.server.state(), State::Open, "{name}: open until the close is taken");
                pair.server.send_text(text).unwrap_or_else(|e| panic!("{name}: echo refused: {e}"));
            }
            seen.push(event);
        }
        assert_eq!(
            seen,
            [Event::Text("first".into()), Event::Text("second".into()), Event::Close(close.clone())]
        );
        assert_eq!(pair.server.state(), State::Closed, "{name}: closed once the close is taken");
        // The echoes go out before the close's answer.
        let back = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &back);
        let events = drain(&mut pair.client);
        let echoed_code = Close { code: close.code, reason: String::new() };
        assert_eq!(
            events,
            [Event::Text("first".into()), Event::Text("second".into()), Event::Close(echoed_code)],
            "{name}"
        );
        assert_eq!(pair.client.state(), State::Closed, "{name}");
    }
}

#[test]
fn input_after_the_peer_close_is_ignored_until_and_after_it_is_taken() {
    for (name, mut pair, close) in setups() {
        let code = close.code.filter(|_| pair.client.protocol() == Some(Protocol::Rfc6455));
        pair.client.close(NOW, code, &close.reason).unwrap();
        let mut wire = transmit(&mut pair.client);
        // Garbage after the close frame: the peer has nothing more to say.
        wire.extend_from_slice(&[0x81, 0x05, b'x']);
        pair.server.handle_input(NOW, &wire);
        pair.server.handle_input(NOW, b"more");
        pair.server.handle_eof();
        assert_eq!(pair.server.poll_timeout(), None, "{name}: no timer waits on a closed peer");
        assert_eq!(drain(&mut pair.server), [Event::Close(close.clone())], "{name}");
        assert!(!transmit(&mut pair.server).is_empty(), "{name}: the close is answered");
        pair.server.handle_input(NOW, b"late");
        assert_eq!(drain(&mut pair.server), [], "{name}");
    }
}

#[test]
fn application_close_before_taking_the_peer_close_is_not_doubled() {
    for (name, mut pair, close) in setups() {
        let code = close.code.filter(|_| pair.client.protocol() == Some(Protocol::Rfc6455));
        pair.client.close(NOW, code, &close.reason).unwrap();
        let wire = transmit(&mut pair.client);
        pair.server.handle_input(NOW, &wire);
        // The application closes on its own before it looks at its events.
        let own = code.map(|_| 1001);
        pair.server.close(NOW, own, "").unwrap();
        let first = transmit(&mut pair.server);
        assert_eq!(drain(&mut pair.server), [Event::Close(close.clone())], "{name}");
        assert_eq!(transmit(&mut pair.server), Vec::<u8>::new(), "{name}: one close only");
        assert_eq!(pair.server.state(), State::Closed, "{name}");
        pair.client.handle_input(NOW, &first);
        let expected = Close { code: own, reason: String::new() };
        assert_eq!(drain(&mut pair.client), [Event::Close(expected)], "{name}");
    }
}

#[test]
fn peeking_at_the_peer_close_does_not_answer_it() {
    for (name, mut pair, close) in setups() {
        let code = close.code.filter(|_| pair.client.protocol() == Some(Protocol::Rfc6455));
        pair.client.send_text("last").unwrap();
        pair.client.close(NOW, code, &close.reason).unwrap();
        let wire = transmit(&mut pair.client);
        pair.server.handle_input(NOW, &wire);
        assert_eq!(pair.server.peek_event(), Some(&Event::Text("last".into())), "{name}");
        assert_eq!(pair.server.poll_event(), Some(Event::Text("last".into())), "{name}");
        assert_eq!(pair.server.peek_event(), Some(&Event::Close(close.clone())), "{name}");
        assert_eq!(pair.server.state(), State::Open, "{name}: a peek answers nothing");
        assert_eq!(pair.server.pending_transmit(), 0, "{name}");
        assert_eq!(pair.server.poll_event(), Some(Event::Close(close)), "{name}");
        assert_eq!(pair.server.peek_event(), None, "{name}");
        assert!(pair.server.pending_transmit() > 0, "{name}: taking it answers it");
    }
}

#[test]
fn an_answer_waiting_to_be_taken_outlives_every_deadline() {
    for (name, mut pair, close) in setups() {
        // The server closes first; the client's answer arrives but the
        // application has not taken it when the close deadline passes.
        let code = close.code.filter(|_| pair.server.protocol() == Some(Protocol::Rfc6455));
        pair.server.close(NOW, code, "").unwrap();
        let wire = transmit(&mut pair.server);
        pair.client.handle_input(NOW, &wire);
        assert!(matches!(drain(&mut pair.client).as_slice(), [Event::Close(_)]), "{name}");
        let answer = transmit(&mut pair.client);
        pair.server.handle_input(NOW, &answer);
        assert_eq!(pair.server.poll_timeout(), None, "{name}: nothing is awaited");
        pair.server.handle_timeout(hybi_core::Instant::from_millis(u64::MAX));
        let events = drain(&mut pair.server);
        assert!(matches!(events.as_slice(), [Event::Close(_)]), "{name}: one ending only: {events:?}");
        assert_eq!(pair.server.state(), State::Closed, "{name}");
    }
}
