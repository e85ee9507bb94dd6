//! Reading payload straight into the message's buffer
//! (`Connection::take_payload_buffer` / `handle_payload`) against plain
//! `handle_input`: the same streams, cut into reads at every offset and one
//! byte at a time, fed by a driver that reads into the lent room whenever
//! the connection lends it, must give exactly the events plain input gives,
//! in both roles (masked frames to a server, unmasked to a client).

use hybi_core::testing::{drain_accepting, entropy, every_chunking, transmit, Chunking, Pair};
use hybi_core::{Accept, ClientRequest, Config, Connection, Event, Instant, Protocol, State, Target};

const T0: Instant = Instant::ZERO;
const SEED: u64 = 0x1e4d;

fn client_config() -> Config {
    Config { protocol: Protocol::Rfc6455, ..Config::default() }
}

fn request() -> ClientRequest {
    ClientRequest::new(Target { host: "example.com".into(), port: None, resource: "/".into(), secure: false })
}

fn payload(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + salt) % 251) as u8).collect()
}

/// What one end sends after the handshake: binary messages large and
/// small, one in fragments with a ping between them, text, and the close.
fn send_script(conn: &mut Connection) {
    conn.send_binary(&payload(1500, 1)).unwrap();
    conn.send_fragment(true, &payload(700, 2), false).unwrap();
    conn.send_ping(b"between").unwrap();
    conn.send_fragment(true, &payload(900, 3), true).unwrap();
    conn.send_text("a text message, not lent").unwrap();
    conn.send_binary(&payload(40, 4)).unwrap();
    conn.close(T0, Some(1000), "done").unwrap();
}

/// The two byte streams of one run, handshake included.
struct Recording {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

fn record() -> Recording {
    let mut pair = Pair::new(client_config(), request(), Config::default(), SEED);
    pair.handshake();
    send_script(&mut pair.client);
    send_script(&mut pair.server);
    pair.pump();
    let binaries = |events: &[Event]| events.iter().filter(|e| matches!(e, Event::Binary(_))).count();
    assert_eq!(binaries(&pair.server_events), 3, "{:?}", pair.server_events);
    assert_eq!(binaries(&pair.client_events), 3, "{:?}", pair.client_events);
    Recording { to_server: pair.to_server.clone(), to_client: pair.to_client.clone() }
}

/// Events as `(kind, length)`, for a readable failure; the events
/// themselves are compared whole.
fn outline(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Binary(data) => format!("Binary({})", data.len()),
            other => format!("{other:?}"),
        })
        .collect()
}

fn check(events: &[Event], expected: &[Event], context: &str) {
    assert!(
        events == expected,
        "{context}: {:?} where plain input gave {:?}",
        outline(events),
        outline(expected)
    );
}

/// Feeds `stream` cut by `chunking` as a driver with a read buffer of
/// `at_least` bytes does: each read goes into the lent room when the
/// connection lends it (never, with `None`: plain input), into the
/// driver's buffer (`handle_input`) otherwise. Returns the events and how
/// many bytes went into lent room.
fn replay_lending(
    mut conn: Connection,
    stream: &[u8],
    chunking: &Chunking,
    at_least: Option<usize>,
) -> (Vec<Event>, usize) {
    let accept = Accept::default();
    let mut events = Vec::new();
    let mut lent = 0;
    let mut loans = 0;
    for mut read in chunking.chunks(stream) {
        while !read.is_empty() {
            match at_least.and_then(|at_least| conn.take_payload_buffer(at_least)) {
                Some(mut buffer) => {
                    let n = buffer.room_len().min(read.len());
                    assert!(n > 0, "lent no room");
                    // Both ways of filling it, taking turns, so that room
                    // zeroed by one loan meets appending in the next.
                    loans += 1;
                    if loans % 2 == 0 {
                        buffer.room()[..n].copy_from_slice(&read[..n]);
                    } else {
                        buffer.append_to().extend_from_slice(&read[..n]);
                    }
                    conn.handle_payload(T0, buffer, n);
                    lent += n;
                    read = &read[n..];
                }
                None => {
                    conn.handle_input(T0, read);
                    read = &[];
                }
            }
            drain_accepting(&mut conn, Some(&accept), &mut events);
        }
    }
    assert_eq!(conn.state(), State::Closed, "{chunking:?}");
    (events, lent)
}

fn fresh_client() -> Connection {
    let mut client = Connection::client(T0, client_config(), request(), entropy(SEED)).expect("client");
    // The request was recorded already.
    transmit(&mut client);
    client
}

#[test]
fn every_chunking_gives_the_events_plain_input_gives() {
    let rec = record();
    let server = || Connection::server(T0, Config::default());
    let (server_events, _) = replay_lending(server(), &rec.to_server, &Chunking::Whole, None);
    let (client_events, _) = replay_lending(fresh_client(), &rec.to_client, &Chunking::Whole, None);
    for events in [&server_events, &client_events] {
        assert_eq!(
            events.iter().filter(|e| matches!(e, Event::Binary(_))).count(),
            3,
            "{:?}",
            outline(events)
        );
    }
    for at_least in [1, 64, 1000] {
        let mut lent = 0;
        for chunking in every_chunking(&rec.to_server) {
            let (events, n) = replay_lending(server(), &rec.to_server, &chunking, Some(at_least));
            check(&events, &server_events, &format!("server, {chunking:?}, at_least {at_least}"));
            lent += n;
        }
        for chunking in every_chunking(&rec.to_client) {
            let (events, n) = replay_lending(fresh_client(), &rec.to_client, &chunking, Some(at_least));
            check(&events, &client_events, &format!("client, {chunking:?}, at_least {at_least}"));
            lent += n;
        }
        // The path under test was taken, not only the fallback.
        assert!(lent > 0, "nothing read into lent room at {at_least}");
    }
}

#[test]
fn a_stalled_frame_holds_what_arrived_not_what_it_declared() {
    let mut pair = Pair::new(client_config(), request(), Config::default(), SEED);
    pair.handshake();
    pair.client.send_binary(&vec![7; 4 << 20]).unwrap();
    let wire = transmit(&mut pair.client);
    let before = pair.server.buffered_bytes();
    // The header and the first 1000 payload bytes, then nothing.
    pair.server.handle_input(T0, &wire[..14 + 1000]);
    let buffer = pair.server.take_payload_buffer(32 * 1024).expect("lent");
    assert!(buffer.room_len() <= 32 * 1024, "{} bytes of room", buffer.room_len());
    let held = pair.server.buffered_bytes() - before;
    assert!(held <= 1000 + 32 * 1024, "{held} bytes held for 1000 arrived");
    pair.server.handle_payload(T0, buffer, 0);
    assert_eq!(pair.server.state(), State::Open);
}
