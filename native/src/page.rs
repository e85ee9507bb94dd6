//! The page `hybi serve` answers plain HTTP requests with: a live WebSocket
//! console and a frame inspector (`www/page/`), embedded at build time by
//! `build.rs` so that the binary needs no files beside it.
//!
//! The inspector runs the core compiled to wasm (`www/page/pkg/`), which
//! exists only after `./scripts/build-page` (run by `./scripts/serve`); a
//! binary built without it still serves the page, whose console works and
//! whose inspector says how to get it ([`has_inspector`]).
//!
//! Use it as a server's [`crate::ServeOptions::http_handler`]:
//!
//! ```no_run
//! use hybi::{serve, ServeOptions};
//! let options = ServeOptions { http_handler: Some(Box::new(hybi::page::respond)), ..ServeOptions::default() };
//! let server = serve(|conn, ()| while let Ok(Some(m)) = conn.recv() { let _ = conn.send(&m); }, options)?;
//! # Ok::<(), hybi::Error>(())
//! ```

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

/// Whether the inspector's wasm build was embedded.
pub fn has_inspector() -> bool {
    assets::HAS_INSPECTOR
}

/// The embedded file at `path` (`/` is `/index.html`), with its content
/// type.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    assets::ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, content_type, bytes)| (*content_type, *bytes))
}

/// Answers a plain HTTP request: `GET /` with the page, `GET` of one of its
/// files with that file, any other path with 404, other methods with 405.
pub fn respond(request: &RequestHead) -> HttpResponse {
    if request.method != "GET" {
        let mut response = HttpResponse::text(405, "method not allowed\n");
        response.headers.push(Header::new("Allow", "GET"));
        return response;
    }
    let Some((content_type, body)) = asset(path_of(&request.target)) else {
        return HttpResponse::text(404, "not found\n");
    };
    HttpResponse {
        status: 200,
        headers: vec![
            Header::new("Content-Type", content_type),
            // The page changes with every build of the binary.
            Header::new("Cache-Control", "no-cache"),
            Header::new("X-Content-Type-Options", "nosniff"),
            Header::new("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            Header::new("Referrer-Policy", "no-referrer"),
        ],
        body: body.to_vec(),
    }
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
        if has_inspector() {
            let response = respond(&request("GET /pkg/hybi_wasm_bg.wasm HTTP/1.1"));
            assert_eq!(header(&response, "Content-Type"), Some(&b"application/wasm"[..]));
            assert!(response.body.starts_with(b"\0asm"));
        } else {
            assert_eq!(respond(&request("GET /pkg/hybi_wasm.js HTTP/1.1")).status, 404);
        }
    }

    #[test]
    fn anything_else_is_404_or_405() {
        for line in ["GET /nope HTTP/1.1", "GET /../Cargo.toml HTTP/1.1", "GET /index.html/ HTTP/1.1"] {
            assert_eq!(respond(&request(line)).status, 404, "{line}");
        }
        assert_eq!(respond(&request("POST / HTTP/1.1")).status, 405);
    }
}
