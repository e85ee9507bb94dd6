//! Values for JavaScript (steps, events, heads, errors): plain objects
//! built property by property with js-sys, the counterpart of the `args`
//! module.
//!
//! By hand rather than with serde's `Serialize` and `serde-wasm-bindgen`'s
//! serializer, for the size of the npm package's `.wasm`: the serializer,
//! its error type, the key cache's hash map and the `Serialize` impls were
//! about 9 KB of it (214,283 -> 204,811 B when they left), for objects of a
//! handful of fixed shapes, and a step is built faster without them. The objects are the ones
//! serde made, property for property and in the same order: a field that
//! is absent (`None`) is left out, never set to `undefined`; bytes are
//! `Uint8Array` copies; numbers, booleans and strings are plain JS values.
//!
//! The names of properties and the fixed strings among values (`"text"`,
//! `"open"`, ...) are words: made into JS strings once per instance and
//! reused, because making a JS string from wasm decodes UTF-8 in JS
//! (`TextDecoder`), which costs about a microsecond however short the
//! string, more than all the rest of a small message's event.

use std::cell::RefCell;

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A plain object being filled in.
    #[wasm_bindgen(extends = Object)]
    type PlainObject;

    /// `this[key] = value`: on a plain object an assignment cannot throw,
    /// so this needs none of `Reflect.set`'s `try`/`catch` glue.
    #[wasm_bindgen(method, indexing_setter)]
    fn set(this: &PlainObject, key: &JsValue, value: &JsValue);

    /// A `Uint8Array` of the driver's that wasm copies bytes into.
    #[wasm_bindgen(extends = Uint8Array)]
    pub(crate) type Sink;

    /// `this.set(bytes)`: `bytes` reach JS as a view of wasm memory, so
    /// this is one copy (js-sys's `copy_from` is the same call behind a
    /// length assertion, whose panic formatting costs the .wasm more than
    /// the whole binding that uses this).
    #[wasm_bindgen(method, js_name = set)]
    pub(crate) fn copy_into(this: &Sink, bytes: &[u8]);
}

thread_local! {
    /// The words made so far; a few dozen at most.
    static WORDS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The index of `word` in `words`, made into a JS string the first time.
/// A word (a fixed string) as the JS string made for it once.
pub(crate) fn word(word: &'static str) -> JsValue {
    WORDS.with_borrow_mut(|words| {
        let i = index(words, word);
        words[i].1.clone()
    })
}

fn index(words: &mut Vec<(&'static str, JsValue)>, word: &'static str) -> usize {
    if let Some(i) = words.iter().position(|(known, _)| *known == word) {
        return i;
    }
    words.push((word, JsValue::from_str(word)));
    words.len() - 1
}

/// A `Uint8Array` holding a copy of `bytes` (out of wasm memory, which may
/// move when wasm allocates).
pub(crate) fn bytes(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A plain object (`{}`), filled in by [`set`](Self::set) in the order its
/// properties are to appear.
pub(crate) struct Fields(PlainObject);

impl Fields {
    pub(crate) fn new() -> Self {
        Fields(Object::new().unchecked_into())
    }

    /// Sets the property `key` to `value`.
    pub(crate) fn set(&self, key: &'static str, value: &JsValue) {
        WORDS.with_borrow_mut(|words| {
            let k = index(words, key);
            self.0.set(&words[k].1, value);
        })
    }

    /// Sets the property `key` to `value`, a word (a fixed string).
    pub(crate) fn set_word(&self, key: &'static str, value: &'static str) {
        WORDS.with_borrow_mut(|words| {
            let k = index(words, key);
            let v = index(words, value);
            self.0.set(&words[k].1, &words[v].1);
        })
    }

    /// Sets the property `key` to a JS string copy of `value`.
    pub(crate) fn set_str(&self, key: &'static str, value: &str) {
        self.set(key, &JsValue::from_str(value));
    }

    /// Sets the property `key` to a number.
    pub(crate) fn set_number(&self, key: &'static str, value: f64) {
        self.set(key, &JsValue::from_f64(value));
    }

    /// Sets the property `key` to `true` or `false`.
    pub(crate) fn set_bool(&self, key: &'static str, value: bool) {
        self.set(key, &JsValue::from_bool(value));
    }

    /// Sets the property `key` to a `Uint8Array` copy of `value`.
    pub(crate) fn set_bytes(&self, key: &'static str, value: &[u8]) {
        self.set(key, &bytes(value));
    }

    /// The object.
    pub(crate) fn into_js(self) -> JsValue {
        self.0.into()
    }
}

/// A JS array of the values `items` gives, in order.
pub(crate) fn array<T>(items: impl IntoIterator<Item = T>, mut value: impl FnMut(T) -> JsValue) -> Array {
    let array = Array::new();
    for item in items {
        array.push(&value(item));
    }
    array
}
