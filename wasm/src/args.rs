//! Arguments from JavaScript (configuration, a client's request, a server's
//! acceptance): plain objects read field by field, with errors that name
//! the field, its expected type and the value given.
//!
//! By hand rather than with serde's `Deserialize` and `serde-wasm-bindgen`'s
//! deserializer: those cost about a fifth of the npm package's `.wasm`
//! (serde's visitors, one deserializer per struct, and the float formatting
//! behind serde's "invalid type: floating point" messages) for objects read
//! once per connection, and their messages did not say which field was
//! wrong. Values going the other way (events, heads, errors) are built by
//! hand too (the `out` module).
//!
//! The rules, for every object read here: a field that is absent or
//! `undefined` keeps its default; unknown fields are ignored; `null` is
//! "absent" too, except where a field documents it as "off".

use js_sys::{Array, Number, Object, JSON};
use wasm_bindgen::{JsCast, JsValue};

/// What is wrong with a field's value.
pub(crate) enum Problem {
    /// The value is not what the field takes (what it takes, e.g.
    /// `"a string"`); the object's reader adds the field's path and the
    /// value.
    Expected(&'static str),
    /// A nested object's problem, already a whole message.
    Message(String),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Problem::Message(message)
    }
}

/// `"{path} must be {what}, not {value}"`.
pub(crate) fn expected(path: &str, what: &str, value: &JsValue) -> String {
    format!("{path} must be {what}, not {}", describe(value))
}

/// A short description of a value for an error message: strings, numbers,
/// booleans and `null` as JS writes them, other values by their type.
fn describe(value: &JsValue) -> String {
    if value.as_f64().is_some() {
        // By JS, so that no float formatting is linked into the .wasm.
        let text = value.unchecked_ref::<Number>().to_string_with_radix(10);
        return text.ok().and_then(|s| s.as_string()).unwrap_or_default();
    }
    if value.is_string() || value.as_bool().is_some() || value.is_null() {
        if let Some(text) = JSON::stringify(value).ok().and_then(|s| s.as_string()) {
            return text;
        }
    }
    if Array::is_array(value) {
        return "an array".into();
    }
    if value.is_object() {
        return "an object".into();
    }
    value.js_typeof().as_string().unwrap_or_default()
}

/// Reads the plain object `value` (its path in messages: `path`), calling
/// `field(name, value)` for each of its own fields that is not `undefined`.
/// `Ok(false)`: `value` is `undefined` or `null` (absent). `field` is a
/// `dyn`, so that this code is in the `.wasm` once, not once per object
/// (about 2 KB).
pub(crate) fn object(
    value: &JsValue,
    path: &str,
    field: &mut dyn FnMut(&str, &JsValue) -> Result<(), Problem>,
) -> Result<bool, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(false);
    }
    if !value.is_object() || Array::is_array(value) {
        return Err(expected(path, "an object", value));
    }
    let entries = Object::entries(value.unchecked_ref());
    for i in 0..entries.length() {
        let entry: Array = entries.get(i).unchecked_into();
        let value = entry.get(1);
        if value.is_undefined() {
            continue;
        }
        let name = entry.get(0).as_string().unwrap_or_default();
        field(&name, &value).map_err(|problem| match problem {
            Problem::Expected(what) => expected(&format!("{path}.{name}"), what, &value),
            Problem::Message(message) => message,
        })?;
    }
    Ok(true)
}

/// Each element of the array `value` (its path: `path`) read by `item`;
/// `undefined` and `null` are an empty list.
pub(crate) fn list<T>(
    value: &JsValue,
    path: &str,
    mut item: impl FnMut(&JsValue) -> Result<T, Problem>,
) -> Result<Vec<T>, String> {
    let mut items = Vec::new();
    each(value, path, &mut |value| {
        items.push(item(value)?);
        Ok(())
    })?;
    Ok(items)
}

/// Calls `item` with each element of the array `value` (its path: `path`);
/// `undefined` and `null` have none. Not generic, so that its code is in
/// the `.wasm` once, not once per element type.
fn each(
    value: &JsValue,
    path: &str,
    item: &mut dyn FnMut(&JsValue) -> Result<(), Problem>,
) -> Result<(), String> {
    if value.is_undefined() || value.is_null() {
        return Ok(());
    }
    if !Array::is_array(value) {
        return Err(expected(path, "an array", value));
    }
    let array: &Array = value.unchecked_ref();
    for i in 0..array.length() {
        let value = array.get(i);
        item(&value).map_err(|problem| match problem {
            Problem::Expected(what) => expected(&format!("{path}[{i}]"), what, &value),
            Problem::Message(message) => message,
        })?;
    }
    Ok(())
}

/// `null` as `None`, anything else read by `read`.
pub(crate) fn nullable<T>(
    value: &JsValue,
    read: impl FnOnce(&JsValue) -> Result<T, Problem>,
) -> Result<Option<T>, Problem> {
    if value.is_null() {
        Ok(None)
    } else {
        read(value).map(Some)
    }
}

/// `true` or `false`.
pub(crate) fn boolean(value: &JsValue) -> Result<bool, Problem> {
    value.as_bool().ok_or(Problem::Expected("true or false"))
}

/// A string.
pub(crate) fn string(value: &JsValue) -> Result<String, Problem> {
    value.as_string().ok_or(Problem::Expected("a string"))
}

/// One of `names` (strings), as its index.
pub(crate) fn one_of(value: &JsValue, names: &[&str], what: &'static str) -> Result<usize, Problem> {
    value
        .as_string()
        .and_then(|text| names.iter().position(|name| *name == text))
        .ok_or(Problem::Expected(what))
}

/// A whole number from 0 to `max` (at most 2^53 - 1, the largest a JS
/// number holds exactly).
fn whole(value: &JsValue, max: u64, what: &'static str) -> Result<u64, Problem> {
    match value.as_f64() {
        Some(n) if Number::is_safe_integer(value) && n >= 0.0 && n as u64 <= max => Ok(n as u64),
        _ => Err(Problem::Expected(what)),
    }
}

/// A size or count (`usize`).
pub(crate) fn size(value: &JsValue) -> Result<usize, Problem> {
    const WHAT: &str =
        if usize::BITS == 32 { "a whole number from 0 to 4294967295" } else { "a whole number, 0 or more" };
    whole(value, usize::MAX as u64, WHAT).map(|n| n as usize)
}

/// Milliseconds (`u64`, up to 2^53 - 1).
pub(crate) fn millis(value: &JsValue) -> Result<u64, Problem> {
    whole(value, u64::MAX, "a whole number of milliseconds, or null (off)")
}

/// A `u8`.
pub(crate) fn byte(value: &JsValue) -> Result<u8, Problem> {
    whole(value, 255, "a whole number from 0 to 255").map(|n| n as u8)
}

/// A port number (`u16`).
pub(crate) fn port(value: &JsValue) -> Result<u16, Problem> {
    whole(value, 65535, "a port number from 0 to 65535").map(|n| n as u16)
}
