//! The page's frame inspector arriving while `hybi serve` runs, as
//! `./scripts/serve` has it: the server starts before the inspector's wasm
//! is built, its page says the wasm is being built, and the wasm is served
//! once it appears in the directory, without a restart. (A stub stands in
//! for the wasm-bindgen output: no tool is needed.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const HYBI: &str = env!("CARGO_BIN_EXE_hybi");

/// A `hybi serve` child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hybi serve` on a free port with the inspector read from `dir`;
/// returns it, its address, and its first lines (up to the `page at` one).
fn start(dir: &Path) -> (Server, String, Vec<String>) {
    let mut child = Command::new(HYBI)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--inspector-dir"])
        .arg(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("hybi serve starts");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end: a server whose stderr is closed dies of its
        // next line.
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|line: &String| line.starts_with("page at ")) {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("hybi serve said only {seen:?}"),
        }
    }
    let addr = seen[0]
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("first line {:?}", seen[0]))
        .to_string();
    (server, addr, seen)
}

/// `GET path`: (status, body).
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, response[end..].to_vec())
}

fn text(addr: &str, path: &str) -> (u16, String) {
    let (status, body) = get(addr, path);
    (status, String::from_utf8(body).unwrap())
}

/// A fresh directory under the system's temporary one.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hybi-page-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_inspector_appears_without_a_restart() {
    let dir = scratch("appears");
    // What ./scripts/build-page leaves while it builds: its state and PID
    // (this test's own, which is alive), then what it is doing.
    std::fs::write(
        dir.join(".build-status"),
        format!("building {}\nbuilding hybi-wasm for wasm32-unknown-unknown.\n", std::process::id()),
    )
    .unwrap();
    let (_server, addr, said) = start(&dir);
    assert!(said[0].starts_with("listening on "), "{said:?}");
    assert!(said.iter().any(|line| line.contains("inspector building in")), "{said:?}");

    // The page, and the notice its inspector shows while it waits.
    let (status, page) = text(&addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>hybi") && page.contains("id=\"inspector-status\""), "{page}");
    let (status, script) = text(&addr, "/inspector.js");
    assert_eq!(status, 200);
    assert!(
        script.contains("is being built") && script.contains("/inspector.json"),
        "no notice in inspector.js"
    );
    assert_eq!(
        text(&addr, "/inspector.json"),
        (200, r#"{"state":"building","detail":"building hybi-wasm for wasm32-unknown-unknown."}"#.into())
    );
    assert_eq!(get(&addr, "/pkg/hybi_wasm.js").0, 404);

    // The build fails: the page says so (and the page's script says how to
    // get it).
    std::fs::write(dir.join(".build-status"), "failed\n./scripts/build-page stopped (exit 101).\n").unwrap();
    assert_eq!(
        text(&addr, "/inspector.json"),
        (200, r#"{"state":"failed","detail":"./scripts/build-page stopped (exit 101)."}"#.into())
    );
    assert!(script.contains("run ./scripts/build-page"));

    // The wasm-bindgen output appears (a stub): served at once.
    let wasm = b"\0asm\x01\0\0\0";
    std::fs::write(dir.join("hybi_wasm_bg.wasm"), wasm).unwrap();
    assert_eq!(
        text(&addr, "/inspector.json").1,
        r#"{"state":"failed","detail":"./scripts/build-page stopped (exit 101)."}"#
    );
    std::fs::write(dir.join("hybi_wasm.js"), "export default async function init() {}\n").unwrap();
    assert_eq!(text(&addr, "/inspector.json"), (200, r#"{"state":"ready","detail":""}"#.into()));
    assert_eq!(get(&addr, "/pkg/hybi_wasm_bg.wasm"), (200, wasm.to_vec()));
    assert_eq!(text(&addr, "/pkg/hybi_wasm.js"), (200, "export default async function init() {}\n".into()));
    // Nothing else of the directory is served.
    assert_eq!(get(&addr, "/pkg/.build-status").0, 404);

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_build_the_page_says_how_to_get_it() {
    let dir = scratch("missing").join("never-built");
    let (_server, addr, said) = start(&dir);
    assert!(said.iter().any(|line| line.contains("inspector missing in")), "{said:?}");
    assert_eq!(text(&addr, "/inspector.json"), (200, r#"{"state":"missing","detail":""}"#.into()));
    assert!(text(&addr, "/inspector.js").1.contains("Run ./scripts/build-page"));
}
