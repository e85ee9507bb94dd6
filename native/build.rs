//! Embeds the page `hybi serve` answers plain HTTP GETs with (`www/page/`)
//! into the crate, so the command needs no files beside the binary.
//!
//! The page's own files (HTML, CSS, JS modules) are in the repository. The
//! inspector's protocol core, `www/page/pkg/` (hybi-wasm through
//! `wasm-bindgen --target web`, built by `./scripts/build-page`), is not
//! embedded: `hybi serve` reads it at run time (`src/page.rs`), so the
//! binary is ready before the wasm is, and a new wasm needs no rebuild of
//! the binary. Nor does Cargo watch it: only the page's own files are
//! watched, each by name, so that writing `pkg/` rebuilds nothing. (A new
//! file of the page is picked up when a watched one changes to use it.)
//! Writes `$OUT_DIR/page_assets.rs`, a table of `(path, content type,
//! bytes)`.

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

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let page = manifest.join("..").join("www").join("page");
    // Where scripts/build-page writes the inspector's wasm: `hybi serve`'s
    // default place to read it from (src/page.rs).
    let repository = manifest.parent().expect("native/ is in the repository");
    println!(
        "cargo:rustc-env=HYBI_INSPECTOR_DIR={}",
        repository.join("www").join("page").join("pkg").display()
    );
    let mut files = Vec::new();
    if page.is_dir() {
        collect(&page, &page, &mut files);
    } else {
        // So that the page appearing is noticed.
        println!("cargo:rerun-if-changed={}", page.display());
    }
    files.sort();
    for (_, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
    }

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

    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("page_assets.rs");
    fs::write(dest, out).expect("writing page_assets.rs");
}

/// Every servable file under `dir`, as (path relative to `root` with `/`,
/// full path). Skips hidden files, TypeScript declarations and the
/// inspector's wasm build (`pkg/`, read at run time).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || (dir == root && name == "pkg") {
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
