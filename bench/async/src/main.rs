//! Echo servers over tokio, one process each, under one load client:
//! hybi's async driver (`hybi::tokio::accept`), tokio-tungstenite 0.30 and
//! fastwebsockets 0.10, back to back in the same run.
//!
//! `cargo run --release --locked -- [--quick] [--rounds N] [--only KIND]
//! [--part throughput|latency|memory]`, in `bench/async/`. Each server is
//! this binary started again as `--server hybi|tungstenite|fastws`, so its
//! memory (VmRSS) and CPU time (utime + stime) are read from outside it, in
//! `/proc/<pid>/`. `--only hybi-serve` runs hybi's server API instead,
//! `hybi::tokio::serve` with its defaults (a memory budget among them),
//! alone: not part of the default run.
//!
//! The load client is none of the three libraries: it writes pre-built
//! masked RFC 6455 binary frames and checks every byte of every echo
//! against what it sent, so it costs the same whichever server it drives
//! and favours none of them. Each connection keeps a window of messages in
//! flight (up to 32 and at most 1 MiB, as `native/benches/echo.rs`): it
//! writes the window in one write, then reads the window's echoes.

mod client;
mod servers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client::Load;

/// The servers, in the order of the table's columns.
const KINDS: [&str; 3] = ["hybi", "tungstenite", "fastws"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    raise_fd_limit();
    if let Some(kind) = value("--server") {
        servers::run(&kind);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let rounds: usize =
        value("--rounds").map_or(if quick { 1 } else { 3 }, |r| r.parse().expect("--rounds N"));
    let only = value("--only");
    let part = value("--part");
    let kinds: Vec<&str> = match only.as_deref() {
        // Not in the default run (see `servers::hybi_serve`).
        Some("hybi-serve") => vec!["hybi-serve"],
        only => KINDS.iter().copied().filter(|k| only.is_none_or(|o| o == *k)).collect(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let wants = |p: &str| part.as_deref().is_none_or(|w| w == p);
    if wants("throughput") {
        runtime.block_on(throughput(&kinds, rounds, quick, value("--load")));
    }
    if wants("latency") {
        runtime.block_on(latency(&kinds, quick));
    }
    if wants("memory") {
        runtime.block_on(memory(&kinds, if quick { 1000 } else { 10_000 }));
    }
}

/// Lifts the soft limit on open descriptors to the hard one (10,000
/// connections need that many sockets on each side).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A server process, killed when dropped.
struct Server {
    kind: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(kind: &'static str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--server", kind])
            .stdout(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").expect("the server's address").parse().unwrap();
        Server { kind, child, addr }
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// Peak resident memory, KiB.
    fn hwm_kib(&self) -> u64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmHWM")
    }

    /// User + system CPU time so far.
    fn cpu(&self) -> Duration {
        let stat = self.proc_file("stat");
        // Fields after the command name (which may hold spaces), from 3 on.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_micros(ticks * 1_000_000 / hz)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Echo throughput: every load, each server `rounds` times, alternating
/// (the first server of a round moves each round).
async fn throughput(kinds: &[&'static str], rounds: usize, quick: bool, pick: Option<String>) {
    let scale = if quick { 10 } else { 1 };
    let loads = [
        Load { connections: 64, size: 16, messages: 20_000 / scale },
        Load { connections: 64, size: 16 << 10, messages: 2_000 / scale },
        Load { connections: 64, size: 4 << 20, messages: (8 / scale).max(1) },
        Load { connections: 1000, size: 16, messages: 1_500 / scale },
        Load { connections: 1000, size: 16 << 10, messages: 150 / scale },
        Load { connections: 1000, size: 4 << 20, messages: 1 },
    ];
    println!(
        "echo throughput, median of {rounds} (all runs in brackets); server CPU per message; server peak RSS"
    );
    for (i, load) in loads.iter().enumerate() {
        if pick.as_ref().is_some_and(|p| *p != i.to_string()) {
            continue;
        }
        let servers: Vec<Server> = kinds.iter().map(|k| Server::start(k)).collect();
        let mut rates = vec![Vec::new(); servers.len()];
        let mut cpus = vec![Vec::new(); servers.len()];
        for round in 0..rounds {
            for j in 0..servers.len() {
                let s = (round + j) % servers.len();
                let server = &servers[s];
                let conns = client::open_all(server.addr, load.connections).await;
                let cpu_before = server.cpu();
                let elapsed = client::echo_all(conns, load).await;
                let cpu = server.cpu() - cpu_before;
                let messages = (load.connections * load.messages) as f64;
                rates[s].push(messages / elapsed.as_secs_f64());
                cpus[s].push(cpu.as_secs_f64() * 1e6 / messages);
            }
        }
        for (s, server) in servers.iter().enumerate() {
            let runs: Vec<String> = rates[s].iter().map(|r| format!("{r:.0}")).collect();
            let rate = median(&mut rates[s].clone());
            println!(
                "{:>5} x {:>6}  {:<12} {:>10.0} msg/s {:>9.1} MiB/s  [{}]  cpu {:.2} us/msg  peak {} MiB",
                load.connections,
                size_name(load.size),
                server.kind,
                rate,
                rate * load.size as f64 / (1 << 20) as f64,
                runs.join(" "),
                median(&mut cpus[s]),
                server.hwm_kib() / 1024,
            );
        }
        if kinds.len() == 3 {
            let hybi = median(&mut rates[0]);
            println!(
                "{:>5} x {:>6}  hybi / tungstenite {:.2}x, hybi / fastws {:.2}x",
                load.connections,
                size_name(load.size),
                hybi / median(&mut rates[1]),
                hybi / median(&mut rates[2])
            );
        }
    }
}

/// Echo latency with 1,000 connections each keeping one 16 B message in
/// flight: every round trip timed, all connections at once.
async fn latency(kinds: &[&'static str], quick: bool) {
    let load = Load { connections: 1000, size: 16, messages: if quick { 20 } else { 200 } };
    println!("echo latency, 1000 connections x 16 B, one message in flight each, {} each", load.messages);
    for kind in kinds {
        let server = Server::start(kind);
        let conns = client::open_all(server.addr, load.connections).await;
        let started = Instant::now();
        let mut times = client::round_trips(conns, &load).await;
        let elapsed = started.elapsed();
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{kind:<12} p50 {:>7.0} us  p99 {:>7.0} us  max {:>7.0} us  ({:.0} round trips/s)",
            at(0.5).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6,
            times.last().unwrap().as_secs_f64() * 1e6,
            times.len() as f64 / elapsed.as_secs_f64()
        );
    }
}

/// Memory per idle connection: `count` connections, each after one 16 B
/// echo, RSS of the server process before and after, from outside.
async fn memory(kinds: &[&'static str], count: usize) {
    println!("memory per idle connection, {count} open (each after one 16 B echo)");
    for kind in kinds {
        let server = Server::start(kind);
        // Warm up: one connection, so that one-time allocations (the
        // runtime's, the allocator's arenas) are not counted.
        let warm = client::open_all(server.addr, 1).await;
        let warm = client::echo_once(warm).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.rss_kib();
        let conns = client::echo_once(client::open_all(server.addr, count).await).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = server.rss_kib();
        println!(
            "{kind:<12} RSS {before} KiB -> {after} KiB: {:.2} KiB per connection",
            after.saturating_sub(before) as f64 / count as f64
        );
        drop((warm, conns));
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
