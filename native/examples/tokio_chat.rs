//! An async chat server: every message a client sends goes to every
//! connected client. `cargo run -p hybi --features tokio --example tokio_chat [ADDR]`.
//!
//! Each connection is split: its reader task forwards what arrives to a
//! broadcast channel, its writer task sends what the channel carries. A
//! slow client that falls behind the channel's capacity misses messages
//! (and is told how many) instead of holding everyone back.

use hybi::tokio::serve;
use hybi::{Message, ServeOptions};
use tokio::sync::broadcast;

#[tokio::main]
async fn main() -> Result<(), hybi::Error> {
    let addr: std::net::SocketAddr =
        std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:8080").parse().expect("an address");
    let (room, _) = broadcast::channel::<Message>(256);
    let server = serve(
        addr,
        move |ws, ()| {
            let room = room.clone();
            async move {
                let (mut reader, mut writer) = ws.split();
                let mut heard = room.subscribe();
                let speaking = tokio::spawn(async move {
                    loop {
                        let message = match heard.recv().await {
                            Ok(message) => message,
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                Message::Text(format!("({n} messages missed)"))
                            }
                            Err(broadcast::error::RecvError::Closed) => break,
                        };
                        if writer.send(&message).await.is_err() {
                            break;
                        }
                    }
                });
                while let Ok(Some(message)) = reader.recv().await {
                    let _ = room.send(message);
                }
                speaking.abort();
            }
        },
        ServeOptions::default(),
    )
    .await?;
    println!("chat on ws://{}/", server.local_addr());
    server.wait().await;
    Ok(())
}
