//! An async echo server: `cargo run -p hybi --features tokio --example tokio_echo [ADDR]`
//! (default 127.0.0.1:8080). Every protocol the crate speaks. It serves
//! until the process ends; `server.stopper().stop()` from any task would
//! stop it gracefully (open connections get a going-away close).

use hybi::tokio::serve;
use hybi::ServeOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), hybi::Error> {
    let addr: std::net::SocketAddr =
        std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:8080").parse().expect("an address");
    let server = serve(
        addr,
        |mut ws, ()| async move {
            while let Ok(Some(message)) = ws.recv().await {
                if ws.send(&message).await.is_err() {
                    break;
                }
            }
        },
        ServeOptions::default(),
    )
    .await?;
    println!("echoing on ws://{}/", server.local_addr());
    server.wait().await;
    Ok(())
}
