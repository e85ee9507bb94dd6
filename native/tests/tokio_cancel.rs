//! Cancellation (`hybi::tokio`): `recv`, `send`, `flush` and `close`
//! futures polled a few times and dropped, at every point a tiny duplex
//! buffer makes them wait, lose and corrupt nothing; and the split halves,
//! each in its own task, carry both directions at once.
#![cfg(feature = "tokio")]

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::{request, server_config, setups};
use hybi::tokio::{accept, client, Reader, WebSocket, Writer};
use hybi::Message;
use tokio::io::DuplexStream;
use tokio::sync::Barrier;

/// Polls `future` up to `times` times with a waker that does nothing (the
/// caller yields to the other tasks between tries), then drops it.
fn poll_then_drop<F: Future>(future: F, times: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..times {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return Some(value);
        }
    }
    None
}

/// The `i`th message: sizes around the frame-length edges and past the
/// duplex buffer, content that names its index.
fn message(i: usize, text: bool) -> Message {
    let len = [0, 3, 125, 126, 700, 4000, 70_000][i % 7];
    let body: String =
        format!("{i}:").chars().chain((0..len).map(|k| char::from(b'a' + ((i + k) % 26) as u8))).collect();
    if text || i.is_multiple_of(2) {
        Message::Text(body)
    } else {
        Message::Binary(body.into_bytes())
    }
}

/// Sends `count` messages through futures dropped after 1, 2, 3, ...
/// polls (a future polled once has queued its message: it must arrive);
/// every fifth future is dropped unpolled (it never started: it must not).
/// Returns what was promised, in order. Then flushes and closes.
async fn send_dropping<F>(count: usize, text: bool, mut send: F) -> Vec<Message>
where
    F: FnMut(Message, usize) -> bool,
{
    let mut promised = Vec::new();
    for i in 0..count {
        let message = message(i, text);
        let polls = if i % 5 == 4 { 0 } else { 1 + i % 4 };
        if send(message.clone(), polls) {
            promised.push(message);
        }
        tokio::task::yield_now().await;
    }
    promised
}

/// Receives until the end through futures dropped after 1, 2, 3 polls;
/// every message that came out is returned, in order.
async fn recv_dropping(
    mut next: impl FnMut(usize) -> Option<Result<Option<Message>, hybi::Error>>,
) -> Vec<Message> {
    let mut got = Vec::new();
    let mut dropped = 0usize;
    for attempt in 0.. {
        match next(1 + attempt % 3) {
            Some(Ok(Some(message))) => got.push(message),
            Some(Ok(None)) => break,
            Some(Err(e)) => panic!("recv failed after {} messages: {e}", got.len()),
            None => {
                dropped += 1;
                tokio::task::yield_now().await;
            }
        }
    }
    assert!(dropped > 0, "no recv future was dropped: the test proves nothing");
    got
}

async fn pair(config: hybi::core::Config) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    // 64 bytes: every message larger than that makes a send wait.
    let (a, b) = tokio::io::duplex(64);
    let server_config = server_config(&config);
    let server = tokio::spawn(async move { accept(b, server_config).await.expect("accept") });
    let client = client(a, request("example.com"), config).await.expect("client");
    (client, server.await.unwrap())
}

#[tokio::test]
async fn dropped_send_and_recv_futures_lose_and_corrupt_nothing() {
    for (name, config) in setups() {
        let text = config.protocol != hybi::Protocol::Rfc6455;
        let (mut sender, mut receiver) = pair(config).await;
        let receiving = tokio::spawn(async move {
            let got = recv_dropping(|polls| poll_then_drop(receiver.recv(), polls)).await;
            (got, receiver.close_status().and_then(|c| c.code))
        });
        let promised = send_dropping(60, text, |message, polls| {
            let started = polls > 0;
            let _ = poll_then_drop(sender.send(&message), polls);
            started
        })
        .await;
        // A flush dropped mid-way, then one that finishes: the rest goes.
        let _ = poll_then_drop(sender.flush(), 1);
        sender.flush().await.unwrap_or_else(|e| panic!("{name}: flush: {e}"));
        // A close dropped after one poll has started the closing handshake;
        // `recv` finishes it (the peer's answer, then the end).
        let _ = poll_then_drop(sender.close(Some(1000), ""), 1);
        assert_eq!(sender.recv().await.unwrap_or_else(|e| panic!("{name}: {e}")), None, "{name}");
        let (got, code) = receiving.await.unwrap();
        assert_eq!(got.len(), promised.len(), "{name}: messages lost or added");
        for (i, (got, want)) in got.iter().zip(&promised).enumerate() {
            assert!(got == want, "{name}: message {i} corrupted");
        }
        let rfc6455 = !text;
        assert_eq!(code, rfc6455.then_some(1000), "{name}: the close arrived as sent");
    }
}

/// One side's two halves, each in its own task: the writer sends `count`
/// messages through dropped futures while the reader receives the
/// peer's through dropped futures. Both writers are done before either
/// closes (`both_sent`): a close received ends what the other side may send.
async fn run_halves(
    reader: Reader<DuplexStream>,
    mut writer: Writer<DuplexStream>,
    count: usize,
    text: bool,
    both_sent: Arc<Barrier>,
) -> (Vec<Message>, Vec<Message>) {
    let mut reader = reader;
    let receiving =
        tokio::spawn(async move { recv_dropping(|polls| poll_then_drop(reader.recv(), polls)).await });
    let promised = send_dropping(count, text, |message, polls| {
        let started = polls > 0;
        let _ = poll_then_drop(writer.send(&message), polls);
        started
    })
    .await;
    writer.flush().await.expect("flush");
    both_sent.wait().await;
    writer.close(if text { None } else { Some(1000) }, "").await.expect("close");
    (promised, receiving.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_in_two_tasks_carry_both_directions_at_once() {
    for (name, config) in setups() {
        let text = config.protocol != hybi::Protocol::Rfc6455;
        let (a, b) = pair(config).await;
        let (a_reader, a_writer) = a.split();
        let (b_reader, b_writer) = b.split();
        let both_sent = Arc::new(Barrier::new(2));
        let a_side = tokio::spawn(run_halves(a_reader, a_writer, 40, text, Arc::clone(&both_sent)));
        let b_side = tokio::spawn(run_halves(b_reader, b_writer, 40, text, both_sent));
        let (a_sent, a_got) = a_side.await.unwrap();
        let (b_sent, b_got) = b_side.await.unwrap();
        assert!(a_sent == b_got, "{name}: a to b lost or corrupted");
        assert!(b_sent == a_got, "{name}: b to a lost or corrupted");
    }
}

/// The reader answers pings while its writer sits idle (here: held and
/// never used), and a split connection puts itself back together.
#[tokio::test]
async fn an_idle_writer_does_not_stop_the_reader_answering() {
    let config = hybi::core::Config { protocol: hybi::Protocol::Rfc6455, ..Default::default() };
    let (mut pinger, other) = pair(config).await;
    let (mut reader, writer) = other.split();
    let reading = tokio::spawn(async move {
        let end = reader.recv().await;
        (end.map_err(|e| e.kind()), reader)
    });
    // The pong comes back only if the reader writes it itself.
    for _ in 0..3 {
        pinger.ping(b"are you there").await.unwrap();
    }
    pinger.close(Some(1000), "bye").await.expect("the reader answered the close");
    let (end, reader) = reading.await.unwrap();
    assert_eq!(end, Ok(None));
    assert_eq!(reader.close_status().and_then(|c| c.code), Some(1000));
    let whole = WebSocket::reunite(reader, writer).unwrap_or_else(|_| panic!("same connection"));
    let _stream: DuplexStream = whole.into_inner();
}
