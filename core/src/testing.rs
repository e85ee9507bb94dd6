//! The kit the tests of the core, its benches, the drivers' tests and the
//! fuzz targets share (cargo feature `testing`, off by default; never for
//! production): seeded entropy, the reads a transport may cut a byte stream
//! into, and a client/server [`Pair`] wired in memory on a virtual clock.
//!
//! The pair is modelled on quinn-proto's test `Pair`: no sockets, no sleeps,
//! time is a number the test moves. Each end is driven as a reading
//! application drives it: after every read its events are taken, a server
//! accepts WebSocket requests (unless told not to), and an end that reaches
//! the peer's close or an error calls [`Connection::finish`], so the close
//! the core owes goes out as it would under a driver.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::{Accept, ClientRequest, Config, Connection, Entropy, Event, Instant, RequestKind};

// ---------------------------------------------------------------------------
// Entropy
// ---------------------------------------------------------------------------

/// A deterministic generator (xorshift64*): the same seed gives a client the
/// same keys, nonce and masks, so a test (or a fuzz seed) can carry the
/// answers that match them. Predictable by design: tests only.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Seeded {
    /// A generator from `seed`; seeds differing only in the lowest bit
    /// give the same stream (zero would be a fixed point of xorshift).
    pub const fn new(seed: u64) -> Seeded {
        Seeded(seed | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` bytes that deflate cannot shrink.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0; len];
        self.fill(&mut out);
        out
    }
}

impl Entropy for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            // The top byte: xorshift64*'s low bits are its weakest.
            *byte = (self.next_u64() >> 56) as u8;
        }
    }
}

/// [`Seeded`] boxed as [`Connection::client`] takes it.
pub fn entropy(seed: u64) -> Box<dyn Entropy + Send> {
    Box::new(Seeded::new(seed))
}

// ---------------------------------------------------------------------------
// Message text
// ---------------------------------------------------------------------------

/// Exactly `len` bytes of text: `pieces` in turn, cut back to a character
/// boundary and padded with `.`. Each test or bench picks its pieces, so it
/// picks the mix of one- to four-byte characters UTF-8 validation meets.
pub fn text_of(pieces: &[&str], len: usize) -> String {
    let mut s = String::with_capacity(len + pieces.iter().map(|p| p.len()).max().unwrap_or(0));
    let mut i = 0;
    while s.len() < len && !pieces.is_empty() {
        s.push_str(pieces[i % pieces.len()]);
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    while s.len() < len {
        s.push('.');
    }
    s
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

/// How a byte stream is cut into the reads a transport would deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// One read.
    Whole,
    /// One byte per read.
    OneByte,
    /// Two reads, cut at this offset (clamped to the length).
    SplitAt(usize),
    /// Cut at each of these offsets (sorted, clamped).
    SplitsAt(Vec<usize>),
    /// Reads of these sizes, cycled (zeros count as one).
    Sizes(Vec<usize>),
}

impl Chunking {
    /// The reads `data` arrives in; never an empty read unless `data` is empty.
    pub fn chunks<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        match self {
            Chunking::Whole => out.push(data),
            Chunking::OneByte => out.extend(data.chunks(1)),
            Chunking::SplitAt(at) => {
                let at = (*at).min(data.len());
                out.push(&data[..at]);
                out.push(&data[at..]);
            }
            Chunking::SplitsAt(cuts) => {
                let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
                cuts.sort_unstable();
                let mut start = 0;
                for cut in cuts {
                    out.push(&data[start..cut]);
                    start = cut;
                }
                out.push(&data[start..]);
            }
            Chunking::Sizes(sizes) => {
                let mut rest = data;
                let mut i = 0;
                while !rest.is_empty() {
                    let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1).clamp(1, rest.len());
                    out.push(&rest[..n]);
                    rest = &rest[n..];
                    i += 1;
                }
            }
        }
        out.retain(|c| !c.is_empty());
        out
    }
}

/// Every way of cutting `stream` into reads that matters to a parser: one
/// read, one cut at each offset, and one byte at a time.
pub fn every_chunking(stream: &[u8]) -> Vec<Chunking> {
    let mut all = alloc::vec![Chunking::Whole, Chunking::OneByte];
    all.extend((1..stream.len()).map(Chunking::SplitAt));
    all
}

/// Split points for a stream of `len` bytes: every `step`th offset plus the
/// first and last `edge` ones (for streams too long to cut everywhere).
pub fn sparse_splits(len: usize, step: usize, edge: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..=len).step_by(step.max(1)).collect();
    cuts.extend(0..=edge.min(len));
    cuts.extend(len.saturating_sub(edge)..=len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

// ---------------------------------------------------------------------------
// One end, driven as an application drives it
// ---------------------------------------------------------------------------

/// Every byte queued on `conn` for its peer.
pub fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let n = conn.poll_transmit(&mut out);
    assert_eq!(n, out.len(), "poll_transmit must report what it moved");
    out
}

/// Every event queued on `conn`, oldest first, as an application that
/// reads to the end takes them: reaching the peer's close or an error
/// [`finish`](Connection::finish)es the connection.
pub fn drain(conn: &mut Connection) -> Vec<Event> {
    let mut events = Vec::new();
    drain_accepting(conn, None, &mut events);
    events
}

/// Takes `conn`'s events into `events` as a reading application does:
/// given an `accept`, a WebSocket request is accepted with it the moment it
/// comes out (and the events that produces are taken too); the end
/// (`Event::Close` or `Event::Error`) is answered with [`Connection::finish`].
pub fn drain_accepting(conn: &mut Connection, accept: Option<&Accept>, events: &mut Vec<Event>) {
    while let Some(event) = conn.poll_event() {
        let request = matches!(event, Event::Request(RequestKind::WebSocket(_)));
        let end = matches!(event, Event::Close(_) | Event::Error(_));
        events.push(event);
        if let (Some(accept), true) = (accept, request) {
            conn.accept(accept.clone()).expect("accept");
        }
        if end {
            conn.finish();
        }
    }
}

// ---------------------------------------------------------------------------
// A client and a server wired together
// ---------------------------------------------------------------------------

/// A client and a server [`Connection`] talking through memory, on a
/// virtual clock that moves only when the test moves it.
pub struct Pair {
    /// The client end.
    pub client: Connection,
    /// The server end.
    pub server: Connection,
    /// The time every input is given; moved by [`advance`](Pair::advance).
    pub now: Instant,
    /// Events the client's application took, oldest first.
    pub client_events: Vec<Event>,
    /// Events the server's application took, oldest first.
    pub server_events: Vec<Event>,
    /// Every byte moved so far from the client to the server.
    pub to_server: Vec<u8>,
    /// Every byte moved so far from the server to the client.
    pub to_client: Vec<u8>,
    /// How bytes are cut into reads, in both directions.
    pub chunking: Chunking,
    /// How the server's application accepts a WebSocket request as soon as
    /// it comes out (`Accept::default()` unless set); `None` leaves requests
    /// to the test.
    pub accept: Option<Accept>,
}

impl Pair {
    /// A pair at time zero: a client sending `request` with entropy from
    /// `seed`, and a server; nothing moved yet.
    pub fn new(client_config: Config, request: ClientRequest, server_config: Config, seed: u64) -> Pair {
        Pair::starting_at(Instant::ZERO, client_config, request, server_config, seed)
    }

    /// As [`new`](Pair::new), both ends created at `now`.
    pub fn starting_at(
        now: Instant,
        client_config: Config,
        request: ClientRequest,
        server_config: Config,
        seed: u64,
    ) -> Pair {
        let client = Connection::client(now, client_config, request, entropy(seed)).expect("client");
        let server = Connection::server(now, server_config);
        Pair {
            client,
            server,
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            to_server: Vec::new(),
            to_client: Vec::new(),
            chunking: Chunking::Whole,
            accept: Some(Accept::default()),
        }
    }

    /// The same pair, its bytes cut into reads by `chunking`.
    pub fn chunked(mut self, chunking: Chunking) -> Pair {
        self.chunking = chunking;
        self
    }

    /// Moves what the client queued into the server; returns how many bytes.
    pub fn client_to_server(&mut self) -> usize {
        let wire = transmit(&mut self.client);
        for chunk in self.chunking.chunks(&wire) {
            self.server.handle_input(self.now, chunk);
            drain_accepting(&mut self.server, self.accept.as_ref(), &mut self.server_events);
        }
        drain_accepting(&mut self.server, self.accept.as_ref(), &mut self.server_events);
        self.to_server.extend_from_slice(&wire);
        wire.len()
    }

    /// Moves what the server queued into the client; returns how many bytes.
    pub fn server_to_client(&mut self) -> usize {
        let wire = transmit(&mut self.server);
        for chunk in self.chunking.chunks(&wire) {
            self.client.handle_input(self.now, chunk);
            drain_accepting(&mut self.client, None, &mut self.client_events);
        }
        drain_accepting(&mut self.client, None, &mut self.client_events);
        self.to_client.extend_from_slice(&wire);
        wire.len()
    }

    /// Moves bytes both ways until neither end has anything to send; the
    /// clock stands still.
    pub fn pump(&mut self) {
        while self.client_to_server() + self.server_to_client() > 0 {}
    }

    /// Runs the opening handshake and checks both ends opened; the
    /// handshake's events are taken away.
    pub fn handshake(&mut self) {
        self.pump();
        assert_eq!(
            self.server_events,
            [Event::Request(RequestKind::WebSocket(self.server.protocol().expect("protocol"))), Event::Open],
            "server handshake events"
        );
        assert_eq!(self.client_events, [Event::Open], "client handshake events");
        self.server_events.clear();
        self.client_events.clear();
    }

    /// The client's events so far, leaving none.
    pub fn take_client_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.client_events)
    }

    /// The server's events so far, leaving none.
    pub fn take_server_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.server_events)
    }

    /// The earlier of the two ends' deadlines.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the clock forward by `by` and lets both ends see it (each
    /// application takes what its timers produced); moves no bytes.
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now + by);
    }

    /// Moves the clock to `at` (never backwards) and lets both ends see it.
    pub fn advance_to(&mut self, at: Instant) {
        assert!(at >= self.now, "the clock does not go back: {at:?} < {:?}", self.now);
        self.now = at;
        self.client.handle_timeout(at);
        drain_accepting(&mut self.client, None, &mut self.client_events);
        self.server.handle_timeout(at);
        drain_accepting(&mut self.server, self.accept.as_ref(), &mut self.server_events);
    }

    /// Drives the pair until both ends are quiet for good: moves bytes, and
    /// whenever nothing moves, jumps the clock to the next deadline (at most
    /// `max_deadlines` of them, so a keepalive cannot run forever). Returns
    /// how many deadlines it jumped to.
    pub fn drive(&mut self, max_deadlines: usize) -> usize {
        let mut jumps = 0;
        loop {
            self.pump();
            match self.next_timeout() {
                Some(at) if jumps < max_deadlines => {
                    self.advance_to(at.max(self.now));
                    jumps += 1;
                }
                _ => return jumps,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz seeds carry answers made with this exact stream (fuzz/src's
    /// `CLIENT_SEED`), so the generator must not change; the bytes were
    /// computed from the xorshift64* definition outside this crate.
    #[test]
    fn seeded_is_the_xorshift64_star_the_fuzz_seeds_were_made_with() {
        let mut bytes = [0u8; 8];
        Seeded::new(0x5eed_cafe).fill(&mut bytes);
        assert_eq!(bytes, [0xd7, 0x8f, 0xde, 0xef, 0xc0, 0x12, 0x47, 0x6e]);
        Seeded::new(7).fill(&mut bytes);
        assert_eq!(bytes, [0xd1, 0xed, 0x16, 0x1b, 0x5f, 0x68, 0xda, 0x2b]);
    }

    #[test]
    fn every_chunking_covers_the_stream_without_empty_reads() {
        let stream: Vec<u8> = (0..10).collect();
        let mut all = every_chunking(&stream);
        all.extend([
            Chunking::SplitsAt(alloc::vec![7, 0, 3, 3, 99]),
            Chunking::Sizes(alloc::vec![0, 4]),
            Chunking::Sizes(Vec::new()),
        ]);
        for chunking in &all {
            let reads = chunking.chunks(&stream);
            assert!(reads.iter().all(|r| !r.is_empty()), "{chunking:?}");
            assert_eq!(reads.concat(), stream, "{chunking:?}");
        }
        assert_eq!(all.len(), 2 + 9 + 3);
        assert_eq!(Chunking::Sizes(alloc::vec![0, 4]).chunks(&stream).len(), 4, "1, 4, 1, 4");
    }
}
