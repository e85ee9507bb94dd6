//! The in-memory demo: a client and a server `Connection` wired to each other
//! without sockets, once per protocol, printing every byte that crosses the
//! "wire". Run with `cargo run -p hybi-core --example demo`.

use hybi_core::{
    Accept, ClientRequest, Config, Connection, Entropy, Event, Framing, Instant, Protocol, Target,
};

/// Demo-only entropy (xorshift): a real driver uses the OS's CSPRNG.
struct DemoEntropy(u64);

impl Entropy for DemoEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

/// Moves queued bytes from one side to the other, printing them.
fn pump(label: &str, from: &mut Connection, to: &mut Connection) {
    let mut wire = Vec::new();
    if from.poll_transmit(&mut wire) == 0 {
        return;
    }
    println!("  {label} {} bytes: {}", wire.len(), printable(&wire));
    to.handle_input(Instant::ZERO, &wire);
}

fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

fn drain(label: &str, conn: &mut Connection) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = conn.poll_event() {
        println!("  {label} event: {event:?}");
        events.push(event);
    }
    events
}

fn run(protocol: Protocol) -> Result<(), hybi_core::Error> {
    println!("== {protocol:?}");
    let target =
        Target { host: "localhost".into(), port: Some(8080), resource: "/echo".into(), secure: false };
    let client_config = Config { protocol, ..Config::default() };
    let server_config = Config {
        framing: match protocol {
            Protocol::Draft76(framing) => framing,
            Protocol::Rfc6455 => Framing::Old,
        },
        ..Config::default()
    };
    let mut client = Connection::client(
        Instant::ZERO,
        client_config,
        ClientRequest::new(target),
        Box::new(DemoEntropy(0x9e37_79b9)),
    )?;
    let mut server = Connection::server(Instant::ZERO, server_config);

    pump("client ->", &mut client, &mut server);
    drain("server", &mut server);
    server.accept(Accept::default())?;
    drain("server", &mut server);
    pump("server ->", &mut server, &mut client);
    drain("client", &mut client);

    client.send_text("hello, wörld")?;
    pump("client ->", &mut client, &mut server);
    for event in drain("server", &mut server) {
        if let Event::Text(text) = event {
            server.send_text(&text)?; // echo
        }
    }
    pump("server ->", &mut server, &mut client);
    drain("client", &mut client);

    client.close(Instant::ZERO, Some(1000), "")?;
    pump("client ->", &mut client, &mut server);
    drain("server", &mut server);
    pump("server ->", &mut server, &mut client);
    drain("client", &mut client);
    println!("  states: client {:?}, server {:?}\n", client.state(), server.state());
    Ok(())
}

fn main() -> Result<(), hybi_core::Error> {
    run(Protocol::Draft76(Framing::Old))?;
    run(Protocol::Draft76(Framing::New))?;
    run(Protocol::Rfc6455)
}
