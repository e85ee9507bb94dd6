//! Randomness for the core, from JavaScript's `crypto.getRandomValues`.
//!
//! # Why an import and a pool
//!
//! The core asks for random bytes through [`hybi_core::Entropy`], boxed as
//! `Box<dyn Entropy + Send>`. A JS callback (`js_sys::Function`) is not
//! `Send`, and a buffer that JS refills would need the driver to know when
//! the core is about to draw (before every send of an RFC 6455 client, for
//! its masking key) — protocol knowledge the driver must not have. So the
//! binding imports the one function every JS host has for this, the Web
//! Crypto API's `crypto.getRandomValues` (a global in browsers and in Node
//! since v19), and calls it itself: the driver has nothing to do.
//!
//! An RFC 6455 client needs four fresh bytes for every frame it sends; one
//! crossing into JS per frame would cost more than the masking. So draws go
//! through a 4 KiB pool refilled with one call: one crossing per 1,024
//! masking keys. Every byte is handed out once. The pool is shared by every
//! machine of the instance, which is sound because wasm32 runs one thread and
//! the bytes are independent; it lives in a `thread_local` only because a
//! plain `static` would need a lock the single thread never contends.

use std::cell::RefCell;

use hybi_core::Entropy;
use wasm_bindgen::prelude::*;

/// Bytes drawn from JS at once.
const POOL_SIZE: usize = 4096;

/// `crypto.getRandomValues` caps one call at 65,536 bytes (it throws
/// `QuotaExceededError` past that).
const MAX_DRAW: usize = 65_536;

#[wasm_bindgen]
extern "C" {
    /// The Web Crypto generator, a CSPRNG as RFC 6455 §10.3 asks for masks.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

struct Pool {
    bytes: [u8; POOL_SIZE],
    /// Bytes of `bytes` not yet handed out, at its end: `bytes[POOL_SIZE -
    /// fresh..]`; 0 when empty. Counted this way round so that the empty
    /// pool is all zero bytes, which the linker leaves out of the `.wasm`
    /// (zeroed memory, `.bss`); counting the bytes used instead would start
    /// at `POOL_SIZE` and store 4 KiB of zeros in the file's data section.
    fresh: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_SIZE], fresh: 0 }) };
}

/// Fills `buf` from JS, at most [`MAX_DRAW`] bytes per call.
fn draw(buf: &mut [u8]) -> Result<(), JsValue> {
    for chunk in buf.chunks_mut(MAX_DRAW) {
        get_random_values(chunk)?;
    }
    Ok(())
}

/// Checks that JS can give random bytes, refilling the pool: called when a
/// client machine is made, so that a host without `crypto.getRandomValues`
/// is an error the caller sees instead of a trap in the middle of a send.
pub(crate) fn ensure_available() -> Result<(), JsValue> {
    POOL.with_borrow_mut(|pool| {
        if pool.fresh > 0 {
            return Ok(());
        }
        draw(&mut pool.bytes)?;
        pool.fresh = POOL_SIZE;
        Ok(())
    })
}

/// The core's [`Entropy`], backed by the shared pool. Zero-sized, so it is
/// `Send` as the core requires.
pub(crate) struct JsEntropy;

impl Entropy for JsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        // `ensure_available` succeeded when the machine was made; the Web
        // Crypto API does not fail after that for draws under its quota, so
        // a failure here leaves nothing safe to mask with: stop.
        let fail = |e: JsValue| -> ! { wasm_bindgen::throw_val(e) };
        if buf.len() > POOL_SIZE / 4 {
            // Large draws gain nothing from the pool.
            return draw(buf).unwrap_or_else(|e| fail(e));
        }
        POOL.with_borrow_mut(|pool| {
            if pool.fresh < buf.len() {
                draw(&mut pool.bytes).unwrap_or_else(|e| fail(e));
                pool.fresh = POOL_SIZE;
            }
            let start = POOL_SIZE - pool.fresh;
            buf.copy_from_slice(&pool.bytes[start..start + buf.len()]);
            pool.fresh -= buf.len();
        });
    }
}
