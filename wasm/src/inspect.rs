//! The frame inspector for the page: [`hybi_core::inspect`] as two JS
//! functions, `inspect(bytes, options)` and `encodeFrame(message, options)`.
//!
//! Types are translated and nothing else: every field, verdict, name and
//! message comes from the core, so the page cannot disagree with a
//! connection.
//!
//! Options, as a plain object (every field optional):
//!
//! ```js
//! { protocol: "rfc6455" | "draft76",        // default "rfc6455"
//!   framing: "old" | "new",                 // draft-76 framing; default "old"
//!   sender: "client" | "server",            // who sent / sends the bytes; default "client"
//!   deflate: null | { serverNoContextTakeover, clientNoContextTakeover,
//!                     serverMaxWindowBits, clientMaxWindowBits },
//!   limits: { maxMessageSize, maxFrameSize }, // inspect: the core's defaults
//!   maxOutput,                              // inspect: bytes all messages may hold
//!   compressionLevel,                       // encodeFrame: 0–9, default 6
//!   mask }                                  // encodeFrame: 4 bytes a client masks with
//! ```
//!
//! `inspect` returns `{ frames, end }`:
//!
//! - each frame: `{ offset, length, headerLength, complete, kind, kindLabel,
//!   fields, payload, delivered }`, where `fields` is
//!   `{ framing: "rfc6455", fin, rsv1, rsv2, rsv3, opcode, mask, payloadLength }`
//!   (`mask` a `Uint8Array` or `null`), `{ framing: "old", type, length }`
//!   (`length` `null` for a frame that runs to 0xFF) or
//!   `{ framing: "new", type, length }`; `payload` is the unmasked payload
//!   (`Uint8Array`); `delivered` is what a connection delivers when the frame
//!   completes a message or is a control frame (the same event objects as
//!   `Machine`'s: `{ type: "text", data }`, `"binary"`, `"ping"`, `"pong"`,
//!   `{ type: "close", code, reason }`), or `null`. Lengths are numbers
//!   (exact up to 2^53).
//! - `end`: `{ status, message, ... }` with `status` `"complete"`,
//!   `"incomplete"` (`at`, `needed`, `exact`), `"failed"` (`offset`,
//!   `error`: `{ kind, message, closeCode? }` as `Machine` throws them),
//!   `"afterClose"` (`offset`) or `"outputLimit"` (`offset`, `limit`);
//!   `message` is the core's sentence for it.
//!
//! `encodeFrame({ type: "text", data } | { type: "binary", data } |
//! { type: "ping" | "pong", data } | { type: "close", code?, reason? }, options)`
//! returns the bytes as a `Uint8Array`, or throws `{ kind: "misuse", message }`
//! when the protocol cannot carry the message.

use hybi_core::inspect::{self, EncodeOptions, End, FrameFields, FrameRecord, Options, Outgoing};
use hybi_core::{DeflateParams, Framing, Limits, Protocol, Role};
use js_sys::Uint8Array;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::convert::{config_error, throw, JsError, JsEvent};

/// Bytes that become a `Uint8Array` (serde's default would be an array of
/// numbers, one JS value per byte).
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// The object `Machine` hands out for the same event, embedded as it is.
impl Serialize for JsEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.to_js(), s)
    }
}

/// The object `Machine` throws for the same error, embedded as it is.
impl Serialize for JsError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.to_js(), s)
    }
}

/// Serializes a value the inspector built; its types always serialize, so
/// a failure is a bug in this crate.
fn to_js<T: Serialize>(value: &T) -> JsValue {
    serde_wasm_bindgen::to_value(value).expect("the inspector's output types serialize to JS")
}

/// Deserializes an argument with serde (the page's inspector, unlike
/// `Machine`, is not in the npm package, whose size made `Machine` read its
/// arguments by hand), or says what is wrong with it.
fn from_js<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|e| config_error(format!("invalid {what}: {e}")))
}

/// `"client"` or `"server"`.
#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    #[default]
    Client,
    Server,
}

/// `"draft76"` or `"rfc6455"`.
#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProtocolName {
    Draft76,
    #[default]
    Rfc6455,
}

/// `"old"` or `"new"`.
#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FramingName {
    #[default]
    Old,
    New,
}

/// [`DeflateParams`]; an absent field keeps the core's default.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsParams {
    server_no_context_takeover: Option<bool>,
    client_no_context_takeover: Option<bool>,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
}

impl From<JsParams> for DeflateParams {
    fn from(js: JsParams) -> Self {
        let d = DeflateParams::default();
        DeflateParams {
            server_no_context_takeover: js.server_no_context_takeover.unwrap_or(d.server_no_context_takeover),
            client_no_context_takeover: js.client_no_context_takeover.unwrap_or(d.client_no_context_takeover),
            server_max_window_bits: js.server_max_window_bits.unwrap_or(d.server_max_window_bits),
            client_max_window_bits: js.client_max_window_bits.unwrap_or(d.client_max_window_bits),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsLimits {
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
}

/// The options of both functions (see the module docs).
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsOptions {
    protocol: ProtocolName,
    framing: FramingName,
    sender: RoleName,
    deflate: Option<JsParams>,
    limits: JsLimits,
    max_output: Option<usize>,
    compression_level: Option<u8>,
    mask: Option<Vec<u8>>,
}

impl JsOptions {
    fn from_js(value: JsValue) -> Result<JsOptions, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(JsOptions::default());
        }
        from_js(value, "inspector options")
    }

    fn protocol(&self) -> Protocol {
        match (self.protocol, self.framing) {
            (ProtocolName::Rfc6455, _) => Protocol::Rfc6455,
            (ProtocolName::Draft76, FramingName::Old) => Protocol::Draft76(Framing::Old),
            (ProtocolName::Draft76, FramingName::New) => Protocol::Draft76(Framing::New),
        }
    }

    fn sender(&self) -> Role {
        match self.sender {
            RoleName::Client => Role::Client,
            RoleName::Server => Role::Server,
        }
    }
}

/// A header's fields, tagged by framing.
#[derive(Serialize)]
#[serde(tag = "framing", rename_all = "camelCase")]
enum JsFields {
    #[serde(rename = "rfc6455", rename_all = "camelCase")]
    Rfc6455 {
        fin: bool,
        rsv1: bool,
        rsv2: bool,
        rsv3: bool,
        opcode: u8,
        mask: Option<Bytes>,
        payload_length: f64,
    },
    #[serde(rename = "old")]
    Old {
        #[serde(rename = "type")]
        frame_type: u8,
        length: Option<f64>,
    },
    #[serde(rename = "new")]
    New {
        #[serde(rename = "type")]
        frame_type: u8,
        length: f64,
    },
}

impl From<FrameFields> for JsFields {
    fn from(fields: FrameFields) -> Self {
        match fields {
            FrameFields::Rfc6455(h) => JsFields::Rfc6455 {
                fin: h.fin,
                rsv1: h.rsv1,
                rsv2: h.rsv2,
                rsv3: h.rsv3,
                opcode: h.opcode.as_u4(),
                mask: h.mask.map(|key| Bytes(key.to_vec())),
                payload_length: h.payload_len as f64,
            },
            FrameFields::Old { frame_type, length } => {
                JsFields::Old { frame_type, length: length.map(|l| l as f64) }
            }
            FrameFields::New { frame_type, length } => JsFields::New { frame_type, length: length as f64 },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsFrame {
    offset: usize,
    length: usize,
    header_length: usize,
    complete: bool,
    kind: &'static str,
    kind_label: String,
    fields: JsFields,
    payload: Bytes,
    delivered: Option<JsEvent>,
}

impl From<FrameRecord> for JsFrame {
    fn from(record: FrameRecord) -> Self {
        JsFrame {
            offset: record.offset,
            length: record.len,
            header_length: record.header_len,
            complete: record.complete,
            kind: record.kind.name(),
            kind_label: record.kind.to_string(),
            fields: record.header.into(),
            payload: Bytes(record.payload),
            delivered: record.delivered.map(JsEvent::from),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsEnd {
    status: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
}

impl From<End> for JsEnd {
    fn from(end: End) -> Self {
        let message = end.to_string();
        let mut js = JsEnd {
            status: "complete",
            message,
            offset: None,
            at: None,
            needed: None,
            exact: None,
            error: None,
            limit: None,
        };
        match end {
            End::Complete => {}
            End::Incomplete { at, needed, exact } => {
                js.status = "incomplete";
                (js.at, js.needed, js.exact) = (Some(at), Some(needed as f64), Some(exact));
            }
            End::Failed { offset, error } => {
                js.status = "failed";
                (js.offset, js.error) = (Some(offset), Some(JsError::from(&error)));
            }
            End::AfterClose { offset } => {
                js.status = "afterClose";
                js.offset = Some(offset);
            }
            End::OutputLimit { offset, limit } => {
                js.status = "outputLimit";
                (js.offset, js.limit) = (Some(offset), Some(limit));
            }
        }
        js
    }
}

#[derive(Serialize)]
struct JsInspection {
    frames: Vec<JsFrame>,
    end: JsEnd,
}

/// Decodes `bytes` frame by frame as the core's decoders read them (see the
/// module docs for `options` and the result).
#[wasm_bindgen]
pub fn inspect(bytes: &[u8], options: JsValue) -> Result<JsValue, JsValue> {
    let js = JsOptions::from_js(options)?;
    let mut options = Options::new(js.protocol(), js.sender());
    options.deflate = js.deflate.map(DeflateParams::from);
    let l = Limits::default();
    options.limits.max_message_size = js.limits.max_message_size.unwrap_or(l.max_message_size);
    options.limits.max_frame_size = js.limits.max_frame_size.unwrap_or(l.max_frame_size);
    if let Some(max) = js.max_output {
        options.max_output = max;
    }
    let inspection = inspect::inspect(bytes, &options);
    Ok(to_js(&JsInspection {
        frames: inspection.frames.into_iter().map(JsFrame::from).collect(),
        end: inspection.end.into(),
    }))
}

/// A message to encode, tagged by `type`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum JsOutgoing {
    Text {
        data: String,
    },
    Binary {
        #[serde(with = "serde_bytes_compat")]
        data: Vec<u8>,
    },
    Ping {
        #[serde(with = "serde_bytes_compat", default)]
        data: Vec<u8>,
    },
    Pong {
        #[serde(with = "serde_bytes_compat", default)]
        data: Vec<u8>,
    },
    Close {
        #[serde(default)]
        code: Option<u16>,
        #[serde(default)]
        reason: String,
    },
}

/// Accepts a `Uint8Array` or an array of numbers for bytes.
mod serde_bytes_compat {
    use serde::de::{Deserializer, SeqAccess, Visitor};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a Uint8Array or an array of bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

/// The bytes a connection puts on the wire for `message` (see the module
/// docs), or the core's refusal.
#[wasm_bindgen(js_name = encodeFrame)]
pub fn encode_frame(message: JsValue, options: JsValue) -> Result<Uint8Array, JsValue> {
    let message: JsOutgoing = from_js(message, "message")?;
    let js = JsOptions::from_js(options)?;
    let mut options = EncodeOptions::new(js.protocol(), js.sender());
    options.deflate = js.deflate.map(DeflateParams::from);
    if let Some(level) = js.compression_level {
        options.compression_level = level;
    }
    if let Some(mask) = js.mask {
        options.mask = mask
            .try_into()
            .map_err(|_| config_error("invalid inspector options: mask is not 4 bytes".into()))?;
    }
    let outgoing = match &message {
        JsOutgoing::Text { data } => Outgoing::Text(data),
        JsOutgoing::Binary { data } => Outgoing::Binary(data),
        JsOutgoing::Ping { data } => Outgoing::Ping(data),
        JsOutgoing::Pong { data } => Outgoing::Pong(data),
        JsOutgoing::Close { code, reason } => Outgoing::Close { code: *code, reason },
    };
    let bytes = inspect::encode(outgoing, &options).map_err(throw)?;
    Ok(Uint8Array::from(&bytes[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_translate_one_to_one() {
        let options = Options::new(Protocol::Rfc6455, Role::Client);
        let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let got = inspect::inspect(&wire, &options);
        let frame = JsFrame::from(got.frames[0].clone());
        assert_eq!((frame.kind, frame.kind_label.as_str(), frame.header_length), ("text", "text", 6));
        match frame.fields {
            JsFields::Rfc6455 { fin, opcode, mask, payload_length, .. } => {
                assert_eq!((fin, opcode, payload_length), (true, 1, 5.0));
                assert_eq!(mask.map(|m| m.0), Some(vec![0x37, 0xfa, 0x21, 0x3d]));
            }
            _ => panic!("not RFC 6455 fields"),
        }
        let end = JsEnd::from(End::Incomplete { at: 3, needed: 2, exact: true });
        assert_eq!((end.status, end.at, end.needed), ("incomplete", Some(3), Some(2.0)));
        assert_eq!(end.message, "incomplete (needs 2 more bytes)");
    }
}
