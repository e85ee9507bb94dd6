//! An async client that waits on two things at once: the connection's
//! messages and a ticker. `cargo run -p hybi --features tokio --example tokio_ticker URL`
//! (for example against the `tokio_echo` example: `ws://127.0.0.1:8080/`).
//!
//! Racket's `ws-conn` is an event: `(sync conn ticker)` returns whichever
//! is ready first. Here `tokio::select!` is `sync`, and `recv()` is the
//! connection's event: it is cancel-safe, so when the ticker wins, the
//! message `recv` was reading is not lost; the next `recv` returns it.

use std::time::Duration;

use hybi::tokio::connect;
use hybi::{ConnectOptions, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), hybi::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:8080/".into());
    let mut ws = connect(&url, ConnectOptions::default()).await?;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0;
    loop {
        tokio::select! {
            message = ws.recv() => match message? {
                Some(message) => println!("received {message:?}"),
                None => break,
            },
            _ = ticker.tick() => {
                ticks += 1;
                if ticks > 5 {
                    ws.close(Some(1000), "done").await?;
                    break;
                }
                ws.send(&Message::Text(format!("tick {ticks}"))).await?;
            }
        }
    }
    Ok(())
}
