//! The page `hybi serve` answers plain HTTP requests with: a live WebSocket
//! console and a frame inspector (`www/page/`).
//!
//! The page's own files (HTML, CSS, JS modules) are embedded at build time
//! by `build.rs`, so the binary needs no files beside it for them. The
//! inspector's protocol core (hybi-core compiled to wasm, `pkg/`) is read at
//! run time from a directory, [`Page::inspector_dir`], because it is built
//! separately (`./scripts/build-page`, which needs `wasm-bindgen-cli`) and
//! usually later than the binary: `./scripts/serve` starts the server first
//! and builds the wasm beside it, and the page picks the inspector up when
//! it appears, without a restart. While it is absent the page's console
//! works, and its inspector says whether the wasm is being built, failed to
//! build, or was never built ([`InspectorState`], served as
//! `/inspector.json`).
//!
//! Use it as a server's [`crate::ServeOptions::http_handler`]:
//!
//! ```no_run
//! use hybi::{page::Page, serve, ServeOptions};
//! let page = Page::default();
//! let options = ServeOptions { http_handler: Some(Box::new(move |request| page.respond(request))), ..ServeOptions::default() };
//! let server = serve(|conn, ()| while let Ok(Some(m)) = conn.recv() { let _ = conn.send(&m); }, options)?;
//! # Ok::<(), hybi::Error>(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use hybi_core::{Header, HttpResponse, RequestHead};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/page_assets.rs"));
}

/// What the page may load: only its own files, plus WebSocket connections
/// anywhere (the console connects to any URL typed in). `wasm-unsafe-eval`
/// lets the inspector compile its wasm and nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where `./scripts/build-page` writes the inspector's wasm: `www/page/pkg/`
/// of the repository this binary was built from.
pub const DEFAULT_INSPECTOR_DIR: &str = env!("HYBI_INSPECTOR_DIR");

/// The wasm-bindgen output the inspector imports; the directory counts only
/// when both are there.
const CORE_FILES: [&str; 2] = ["hybi_wasm.js", "hybi_wasm_bg.wasm"];

/// The file `./scripts/build-page` keeps in the inspector's directory while
/// it builds, and leaves there when the build fails: its first line is
/// `building PID` or `failed`, the rest says what to tell the reader.
/// Hidden, so never served.
pub const STATUS_FILE: &str = ".build-status";

/// Where the inspector's wasm stands, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectorState {
    /// Both files of the wasm build are in the directory.
    Ready,
    /// `./scripts/build-page` is building it; what it is doing.
    Building(String),
    /// The last build failed; what happened and how to get it.
    Failed(String),
    /// Never built into this directory.
    Missing,
}

impl InspectorState {
    /// `ready`, `building`, `failed` or `missing`.
    pub fn name(&self) -> &'static str {
        match self {
            InspectorState::Ready => "ready",
            InspectorState::Building(_) => "building",
            InspectorState::Failed(_) => "failed",
            InspectorState::Missing => "missing",
        }
    }

    /// The state as the page reads it: `{"state": ..., "detail": ...}`.
    fn to_json(&self) -> String {
        let detail = match self {
            InspectorState::Building(detail) | InspectorState::Failed(detail) => detail.as_str(),
            InspectorState::Ready | InspectorState::Missing => "",
        };
        format!("{{\"state\":\"{}\",\"detail\":{}}}", self.name(), json_string(detail))
    }
}

/// The page, with the inspector's wasm read from a directory at run time.
#[derive(Clone, Debug)]
pub struct Page {
    inspector_dir: PathBuf,
}

impl Default for Page {
    /// The page with the inspector from [`DEFAULT_INSPECTOR_DIR`].
    fn default() -> Self {
        Page::new(DEFAULT_INSPECTOR_DIR)
    }
}

impl Page {
    /// The page, with the inspector's wasm-bindgen output (`hybi_wasm.js`,
    /// `hybi_wasm_bg.wasm`) read from `inspector_dir` on every request, so
    /// that it may appear or change while the server runs.
    pub fn new(inspector_dir: impl Into<PathBuf>) -> Self {
        Page { inspector_dir: inspector_dir.into() }
    }

    /// The directory the inspector's wasm is read from.
    pub fn inspector_dir(&self) -> &Path {
        &self.inspector_dir
    }

    /// Where the inspector's wasm stands now.
    pub fn inspector_state(&self) -> InspectorState {
        if CORE_FILES.iter().all(|name| self.inspector_dir.join(name).is_file()) {
            return InspectorState::Ready;
        }
        let Ok(status) = fs::read_to_string(self.inspector_dir.join(STATUS_FILE)) else {
            return InspectorState::Missing;
        };
        let (first, detail) = status.split_once('\n').unwrap_or((&status, ""));
        let detail = detail.trim().to_string();
        let mut words = first.split_whitespace();
        match (words.next(), words.next().and_then(|pid| pid.parse::<u32>().ok())) {
            (Some("building"), Some(pid)) if !alive(pid) => InspectorState::Failed(format!(
                "The build stopped before it finished (interrupted?). Run ./scripts/build-page in the \
                 repository to build it; this page picks it up when it is there. It was: {detail}"
            )),
            (Some("building"), _) => InspectorState::Building(detail),
            (Some("failed"), _) => InspectorState::Failed(detail),
            _ => InspectorState::Missing,
        }
    }

    /// Answers a plain HTTP request: `GET /` with the page, `GET` of one of
    /// its files with that file (`/pkg/...` from the inspector's directory),
    /// `GET /inspector.json` with [`Page::inspector_state`], any other path
    /// with 404, other methods with 405.
    pub fn respond(&self, request: &RequestHead) -> HttpResponse {
        if request.method != "GET" {
            let mut response = HttpResponse::text(405, "method not allowed\n");
            response.headers.push(Header::new("Allow", "GET"));
            return response;
        }
        let path = path_of(&request.target);
        let found = if path == "/inspector.json" {
            Some(("application/json", self.inspector_state().to_json().into_bytes()))
        } else if let Some(name) = path.strip_prefix("/pkg/") {
            self.inspector_file(name)
        } else {
            asset(path).map(|(content_type, body)| (content_type, body.to_vec()))
        };
        let Some((content_type, body)) = found else {
            return HttpResponse::text(404, "not found\n");
        };
        HttpResponse {
            status: 200,
            headers: vec![
                Header::new("Content-Type", content_type),
                // The page changes with every build of the binary, the
                // inspector with every build of its wasm.
                Header::new("Cache-Control", "no-cache"),
                Header::new("X-Content-Type-Options", "nosniff"),
                Header::new("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                Header::new("Referrer-Policy", "no-referrer"),
            ],
            body,
        }
    }

    /// A file of the inspector's directory: a plain name (no directories,
    /// nothing hidden) ending in `.js` or `.wasm`, what wasm-bindgen writes.
    fn inspector_file(&self, name: &str) -> Option<(&'static str, Vec<u8>)> {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !plain {
            return None;
        }
        let content_type = if name.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if name.ends_with(".wasm") {
            "application/wasm"
        } else {
            return None;
        };
        fs::read(self.inspector_dir.join(name)).ok().map(|body| (content_type, body))
    }
}

/// Whether process `pid` still runs (always "yes" where that cannot be told).
fn alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new(&format!("/proc/{pid}")).exists()
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Answers a plain HTTP request as [`Page::default`] does.
pub fn respond(request: &RequestHead) -> HttpResponse {
    Page::default().respond(request)
}

/// The embedded file at `path` (`/` is `/index.html`), with its content
/// type. The inspector's wasm is not among them (see [`Page`]).
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    assets::ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, content_type, bytes)| (*content_type, *bytes))
}

/// The path of a request target: origin-form (`/a?b`) or absolute-form
/// (`http://host/a?b`), without the query.
fn path_of(target: &str) -> &str {
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    target.split(['?', '#']).next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hybi_core::{Connection, Event, Instant};

    fn request(line: &str) -> RequestHead {
        let mut server = Connection::server(Instant::ZERO, hybi_core::Config::default());
        server.handle_input(Instant::ZERO, format!("{line}\r\nHost: x\r\n\r\n").as_bytes());
        assert!(matches!(server.poll_event(), Some(Event::Request(_))));
        server.request().unwrap().clone()
    }

    fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a [u8]> {
        response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| &h.value[..])
    }

    #[test]
    fn root_is_the_page() {
        for line in
            ["GET / HTTP/1.1", "GET /?x=1 HTTP/1.1", "GET /index.html HTTP/1.1", "GET http://x/ HTTP/1.1"]
        {
            let response = respond(&request(line));
            assert_eq!(response.status, 200, "{line}");
            assert_eq!(header(&response, "Content-Type"), Some(&b"text/html; charset=utf-8"[..]));
            assert!(String::from_utf8_lossy(&response.body).contains("<title>hybi"));
        }
    }

    #[test]
    fn assets_have_their_types() {
        for (path, content_type) in
            [("/app.js", "text/javascript; charset=utf-8"), ("/style.css", "text/css; charset=utf-8")]
        {
            let response = respond(&request(&format!("GET {path} HTTP/1.1")));
            assert_eq!(
                (response.status, header(&response, "Content-Type")),
                (200, Some(content_type.as_bytes()))
            );
        }
    }

    /// A fresh directory under the system's temporary one.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hybi-page-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_inspector_is_read_at_run_time() {
        let dir = scratch("runtime");
        let page = Page::new(&dir);
        let state = |page: &Page| {
            String::from_utf8(page.respond(&request("GET /inspector.json HTTP/1.1")).body).unwrap()
        };
        assert_eq!(state(&page), r#"{"state":"missing","detail":""}"#);
        assert_eq!(page.respond(&request("GET /pkg/hybi_wasm.js HTTP/1.1")).status, 404);

        fs::write(
            dir.join(STATUS_FILE),
            format!("building {}\nbuilding \"hybi-wasm\"\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(state(&page), r#"{"state":"building","detail":"building \"hybi-wasm\""}"#);
        // A build whose process is gone did not finish.
        fs::write(dir.join(STATUS_FILE), "building 4294967295\nx\n").unwrap();
        assert_eq!(
            page.inspector_state().name(),
            if cfg!(target_os = "linux") { "failed" } else { "building" }
        );
        fs::write(dir.join(STATUS_FILE), "failed\nrun ./scripts/build-page\n").unwrap();
        assert_eq!(page.inspector_state(), InspectorState::Failed("run ./scripts/build-page".into()));

        fs::write(dir.join("hybi_wasm.js"), "export default 1;\n").unwrap();
        fs::write(dir.join("hybi_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(state(&page), r#"{"state":"ready","detail":""}"#);
        let response = page.respond(&request("GET /pkg/hybi_wasm_bg.wasm HTTP/1.1"));
        assert_eq!(header(&response, "Content-Type"), Some(&b"application/wasm"[..]));
        assert!(response.body.starts_with(b"\0asm"));
        for hidden in ["/pkg/.build-status", "/pkg/../hybi_wasm.js", "/pkg/", "/pkg/x.d.ts", "/pkg/a/b.js"] {
            assert_eq!(page.respond(&request(&format!("GET {hidden} HTTP/1.1"))).status, 404, "{hidden}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn anything_else_is_404_or_405() {
        for line in ["GET /nope HTTP/1.1", "GET /../Cargo.toml HTTP/1.1", "GET /index.html/ HTTP/1.1"] {
            assert_eq!(respond(&request(line)).status, 404, "{line}");
        }
        assert_eq!(respond(&request("POST / HTTP/1.1")).status, 405);
    }
}
