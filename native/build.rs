//! Embeds the page `hybi serve` answers plain HTTP GETs with (`www/page/`)
//! into the crate, so the command needs no files beside the binary.
//!
//! The page's own files (HTML, CSS, JS modules) are in the repository. The
//! inspector's protocol core, `www/page/pkg/` (hybi-wasm through
//! `wasm-bindgen --target web`), is a build artifact that exists only after
//! `./scripts/build-page`: it is embedded when it is there, and without it
//! the page runs its console and says how to get the inspector. Writes
//! `$OUT_DIR/page_assets.rs`, a table of `(path, content type, bytes)`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Content types by extension; files of other types are not served.
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("ico", "image/x-icon"),
    ("txt", "text/plain; charset=utf-8"),
];

/// The wasm-bindgen output the inspector imports; `pkg/` counts only when
/// both are there.
const CORE_FILES: [&str; 2] = ["hybi_wasm.js", "hybi_wasm_bg.wasm"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let page = manifest.join("..").join("www").join("page");
    // A directory: Cargo rescans everything under it, `pkg/` included.
    println!("cargo:rerun-if-changed={}", page.display());

    let mut files = Vec::new();
    if page.is_dir() {
        collect(&page, &page, &mut files);
    }
    let has_core = CORE_FILES.iter().all(|name| files.iter().any(|(rel, _)| rel == &format!("pkg/{name}")));
    if !has_core {
        files.retain(|(rel, _)| !rel.starts_with("pkg/"));
    }
    files.sort();

    let mut out = String::new();
    out.push_str("/// `(path, content type, bytes)` of every file of `www/page/`.\n");
    out.push_str("pub(crate) static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (rel, path) in &files {
        let ext = Path::new(rel).extension().and_then(|e| e.to_str()).unwrap_or("");
        let content_type = TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t).expect("collected by type");
        let path = path.canonicalize().unwrap_or_else(|_| path.clone());
        let path = path.to_str().expect("the repository's paths are UTF-8");
        writeln!(out, "    ({:?}, {content_type:?}, include_bytes!({path:?})),", format!("/{rel}")).unwrap();
    }
    out.push_str("];\n");
    writeln!(out, "/// Whether the inspector's wasm build was embedded.\npub(crate) const HAS_INSPECTOR: bool = {has_core};").unwrap();

    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("page_assets.rs");
    fs::write(dest, out).expect("writing page_assets.rs");
}

/// Every servable file under `dir`, as (path relative to `root` with `/`,
/// full path). Skips hidden files and TypeScript declarations.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if name.ends_with(".d.ts") || !TYPES.iter().any(|(e, _)| *e == ext) {
            continue;
        }
        let rel = path.strip_prefix(root).expect("under root");
        let rel: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        files.push((rel.join("/"), path));
    }
}
