//! Type translation between the core and JavaScript, and nothing else.
//!
//! Configuration and requests come in as plain objects, read field by field
//! (the `args` module); events, heads and errors go out as plain objects
//! built property by property (the `out` module). Names are camelCase, as JS
//! expects. Every value maps one to one onto a core type: defaults are the
//! core's own (a field left out keeps [`hybi_core::Config::default`]'s
//! value), so the bindings decide nothing.

use hybi_core::{
    Close, Config, DeflateConfig, DeflateParams, Error, Event, Framing, Header, Headers, InvalidUtf8, Limits,
    Protocol, ProtocolSet, RequestHead, RequestKind, ResponseHead, Timeouts,
};
use std::time::Duration;
use wasm_bindgen::JsValue;

use crate::args::{self, Problem};
use crate::out::{self, Fields};

// ----- into the core -------------------------------------------------------

/// `"draft76"` or `"rfc6455"`.
#[derive(Clone, Copy)]
enum ProtocolName {
    Draft76,
    Rfc6455,
}

impl ProtocolName {
    fn read(value: &JsValue) -> Result<Self, Problem> {
        let names = ["draft76", "rfc6455"];
        args::one_of(value, &names, r#""draft76" or "rfc6455""#).map(|i| {
            if i == 0 {
                ProtocolName::Draft76
            } else {
                ProtocolName::Rfc6455
            }
        })
    }
}

/// `"old"`, `"new"` or `"auto"` (a server's: told from the client's first
/// bytes; a client's `"auto"` speaks 'old', as the core's does).
#[derive(Clone, Copy)]
enum FramingName {
    Old,
    New,
    Auto,
}

impl FramingName {
    fn read(value: &JsValue) -> Result<Self, Problem> {
        args::one_of(value, &["old", "new", "auto"], r#""old", "new" or "auto""#).map(|i| match i {
            0 => FramingName::Old,
            1 => FramingName::New,
            _ => FramingName::Auto,
        })
    }
}

impl From<FramingName> for Framing {
    fn from(name: FramingName) -> Self {
        match name {
            FramingName::Old => Framing::Old,
            FramingName::New => Framing::New,
            FramingName::Auto => Framing::Auto,
        }
    }
}

/// `"fail"` or `"replace"`.
#[derive(Clone, Copy)]
enum InvalidUtf8Name {
    Fail,
    Replace,
}

impl InvalidUtf8Name {
    fn read(value: &JsValue) -> Result<Self, Problem> {
        args::one_of(value, &["fail", "replace"], r#""fail" or "replace""#).map(|i| {
            if i == 0 {
                InvalidUtf8Name::Fail
            } else {
                InvalidUtf8Name::Replace
            }
        })
    }
}

/// [`hybi_core::Limits`]; an absent field keeps the core's default.
#[derive(Default)]
struct JsLimits {
    max_handshake_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
    output_high_water: Option<usize>,
    max_unread_while_closing: Option<usize>,
    max_linger_bytes: Option<usize>,
}

/// [`hybi_core::Timeouts`] in milliseconds. Absent: the core's default
/// (`None`); `null` or `0`: off (`Some(None)`; a zero deadline would fire at
/// once, so it can only mean "none", as in Node's `socket.setTimeout(0)`).
#[derive(Default)]
struct JsTimeouts {
    handshake: Option<Option<u64>>,
    close: Option<Option<u64>>,
    idle: Option<Option<u64>>,
    keepalive: Option<Option<u64>>,
    keepalive_timeout: Option<Option<u64>>,
    linger: Option<Option<u64>>,
    framing_silence: Option<Option<u64>>,
}

/// [`hybi_core::DeflateConfig`]; an absent field keeps its default, a
/// window size of `null` is "no parameter" (`Some(None)`).
#[derive(Default)]
struct JsDeflate {
    server_no_context_takeover: Option<bool>,
    client_no_context_takeover: Option<bool>,
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
    compression_level: Option<u8>,
}

/// [`hybi_core::Config`] as a plain object, every field optional:
///
/// ```js
/// { protocol: "rfc6455" | "draft76",      // client; default "rfc6455" ("draft76" if framing is given)
///   framing: "old" | "new" | "auto",      // draft-76 framing; default "auto" (server), 'old' (client)
///   accept: ["draft76", "rfc6455"],       // server; default both
///   secure: false,                        // server behind TLS
///   invalidUtf8: "fail" | "replace",
///   limits: { maxHandshakeBytes, maxHeaders, maxMessageSize, maxFrameSize,
///             outputHighWater, maxUnreadWhileClosing, maxLingerBytes },
///   timeouts: { handshake, close, idle, keepalive, keepaliveTimeout, linger,
///               framingSilence },             // ms; null or 0: off
///   deflate: null | { serverNoContextTakeover, clientNoContextTakeover,
///                     serverMaxWindowBits, clientMaxWindowBits, compressionLevel },
///   autoPong: true, streaming: false }
/// ```
///
/// Absent, `undefined` and `null` fields keep the core's default, except
/// that a `null` timeout is off and a `null` window size is no parameter.
#[derive(Default)]
pub(crate) struct JsConfig {
    protocol: Option<ProtocolName>,
    framing: Option<FramingName>,
    accept: Option<Vec<ProtocolName>>,
    secure: Option<bool>,
    invalid_utf8: Option<InvalidUtf8Name>,
    limits: JsLimits,
    timeouts: JsTimeouts,
    deflate: Option<JsDeflate>,
    auto_pong: Option<bool>,
    streaming: Option<bool>,
}

impl JsConfig {
    /// Reads the configuration object (`undefined` or `null`: all
    /// defaults), or says which field is wrong.
    pub(crate) fn read(value: &JsValue) -> Result<JsConfig, String> {
        let mut c = JsConfig::default();
        args::object(value, "config", &mut |name, value| {
            match name {
                "protocol" => c.protocol = args::nullable(value, ProtocolName::read)?,
                "framing" => c.framing = args::nullable(value, FramingName::read)?,
                "accept" => {
                    c.accept =
                        args::nullable(value, |v| Ok(args::list(v, "config.accept", ProtocolName::read)?))?
                }
                "secure" => c.secure = args::nullable(value, args::boolean)?,
                "invalidUtf8" => c.invalid_utf8 = args::nullable(value, InvalidUtf8Name::read)?,
                "limits" => c.limits = JsLimits::read(value)?,
                "timeouts" => c.timeouts = JsTimeouts::read(value)?,
                "deflate" => c.deflate = JsDeflate::read(value)?,
                "autoPong" => c.auto_pong = args::nullable(value, args::boolean)?,
                "streaming" => c.streaming = args::nullable(value, args::boolean)?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(c)
    }
}

impl JsLimits {
    fn read(value: &JsValue) -> Result<JsLimits, String> {
        let mut l = JsLimits::default();
        args::object(value, "config.limits", &mut |name, value| {
            let field = match name {
                "maxHandshakeBytes" => &mut l.max_handshake_bytes,
                "maxHeaders" => &mut l.max_headers,
                "maxMessageSize" => &mut l.max_message_size,
                "maxFrameSize" => &mut l.max_frame_size,
                "outputHighWater" => &mut l.output_high_water,
                "maxUnreadWhileClosing" => &mut l.max_unread_while_closing,
                "maxLingerBytes" => &mut l.max_linger_bytes,
                _ => return Ok(()),
            };
            *field = args::nullable(value, args::size)?;
            Ok(())
        })?;
        Ok(l)
    }
}

impl JsTimeouts {
    fn read(value: &JsValue) -> Result<JsTimeouts, String> {
        let mut t = JsTimeouts::default();
        args::object(value, "config.timeouts", &mut |name, value| {
            let field = match name {
                "handshake" => &mut t.handshake,
                "close" => &mut t.close,
                "idle" => &mut t.idle,
                "keepalive" => &mut t.keepalive,
                "keepaliveTimeout" => &mut t.keepalive_timeout,
                "linger" => &mut t.linger,
                "framingSilence" => &mut t.framing_silence,
                _ => return Ok(()),
            };
            *field = Some(args::nullable(value, args::millis)?);
            Ok(())
        })?;
        Ok(t)
    }
}

impl JsDeflate {
    /// `undefined` or `null`: no compression.
    fn read(value: &JsValue) -> Result<Option<JsDeflate>, String> {
        let mut d = JsDeflate::default();
        let present = args::object(value, "config.deflate", &mut |name, value| {
            match name {
                "serverNoContextTakeover" => {
                    d.server_no_context_takeover = args::nullable(value, args::boolean)?
                }
                "clientNoContextTakeover" => {
                    d.client_no_context_takeover = args::nullable(value, args::boolean)?
                }
                "serverMaxWindowBits" => d.server_max_window_bits = Some(args::nullable(value, args::byte)?),
                "clientMaxWindowBits" => d.client_max_window_bits = Some(args::nullable(value, args::byte)?),
                "compressionLevel" => d.compression_level = args::nullable(value, args::byte)?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(present.then_some(d))
    }
}

fn millis(value: Option<Option<u64>>, default: Option<Duration>) -> Option<Duration> {
    match value {
        None => default,
        Some(None | Some(0)) => None,
        Some(Some(ms)) => Some(Duration::from_millis(ms)),
    }
}

impl JsConfig {
    /// The core configuration: the core's defaults, with what JS set.
    pub(crate) fn into_core(self) -> Config {
        let base = Config::default();
        let framing = self.framing.map_or(base.framing, Framing::from);
        let protocol = match (self.protocol, self.framing) {
            // A client's `framing` is draft-76's: it implies the protocol.
            // (A server's `protocol` is unused, so this changes nothing there.)
            (None, Some(_)) => Protocol::Draft76(framing),
            (None, None) => base.protocol,
            (Some(ProtocolName::Draft76), _) => Protocol::Draft76(framing),
            (Some(ProtocolName::Rfc6455), _) => Protocol::Rfc6455,
        };
        // A client asking for draft-76 without saying which framing still
        // gets `framing`.
        let protocol = match protocol {
            Protocol::Draft76(_) => Protocol::Draft76(framing),
            other => other,
        };
        let accept = match self.accept {
            None => base.accept,
            Some(list) => ProtocolSet {
                draft76: list.iter().any(|p| matches!(p, ProtocolName::Draft76)),
                rfc6455: list.iter().any(|p| matches!(p, ProtocolName::Rfc6455)),
            },
        };
        let l = Limits::default();
        let limits = Limits {
            max_handshake_bytes: self.limits.max_handshake_bytes.unwrap_or(l.max_handshake_bytes),
            max_headers: self.limits.max_headers.unwrap_or(l.max_headers),
            max_message_size: self.limits.max_message_size.unwrap_or(l.max_message_size),
            max_frame_size: self.limits.max_frame_size.unwrap_or(l.max_frame_size),
            output_high_water: self.limits.output_high_water.unwrap_or(l.output_high_water),
            max_unread_while_closing: self
                .limits
                .max_unread_while_closing
                .unwrap_or(l.max_unread_while_closing),
            max_linger_bytes: self.limits.max_linger_bytes.unwrap_or(l.max_linger_bytes),
        };
        let t = Timeouts::default();
        let js = self.timeouts;
        let timeouts = Timeouts {
            handshake: millis(js.handshake, t.handshake),
            close: millis(js.close, t.close),
            idle: millis(js.idle, t.idle),
            keepalive: millis(js.keepalive, t.keepalive),
            keepalive_timeout: millis(js.keepalive_timeout, t.keepalive_timeout),
            linger: millis(js.linger, t.linger),
            framing_silence: millis(js.framing_silence, t.framing_silence),
        };
        let deflate = self.deflate.map(|js| {
            let d = DeflateConfig::default();
            DeflateConfig {
                server_no_context_takeover: js
                    .server_no_context_takeover
                    .unwrap_or(d.server_no_context_takeover),
                client_no_context_takeover: js
                    .client_no_context_takeover
                    .unwrap_or(d.client_no_context_takeover),
                server_max_window_bits: js.server_max_window_bits.unwrap_or(d.server_max_window_bits),
                client_max_window_bits: js.client_max_window_bits.unwrap_or(d.client_max_window_bits),
                compression_level: js.compression_level.unwrap_or(d.compression_level),
            }
        });
        Config {
            protocol,
            accept,
            framing,
            secure: self.secure.unwrap_or(base.secure),
            invalid_utf8: match self.invalid_utf8 {
                None => base.invalid_utf8,
                Some(InvalidUtf8Name::Fail) => InvalidUtf8::Fail,
                Some(InvalidUtf8Name::Replace) => InvalidUtf8::Replace,
            },
            limits,
            timeouts,
            deflate,
            auto_pong: self.auto_pong.unwrap_or(base.auto_pong),
            streaming: self.streaming.unwrap_or(base.streaming),
        }
    }
}

/// A header list as JS writes it, `[[name, value], ...]` with string values
/// (sent as their UTF-8 bytes); `undefined` or `null`: none.
pub(crate) fn read_headers(value: &JsValue, path: &str) -> Result<Vec<Header>, String> {
    args::list(value, path, |pair| {
        let pair = js_sys::Array::is_array(pair).then(|| js_sys::Array::from(pair));
        match pair.as_ref().map(|p| (p.length(), p.get(0).as_string(), p.get(1).as_string())) {
            Some((2, Some(name), Some(value))) => Ok(Header::new(name, value)),
            _ => Err(Problem::Expected("a [name, value] pair of strings")),
        }
    })
}

/// What a client asks for ([`hybi_core::ClientRequest`] and its
/// [`hybi_core::Target`]): the driver splits the URL, the core writes the
/// request. `{ host, port?, resource, secure?, subprotocols?, headers? }`.
pub(crate) struct JsRequest {
    /// Host name or address literal (IPv6 in brackets), without port.
    pub(crate) host: String,
    /// Port, when it is not the scheme's default.
    pub(crate) port: Option<u16>,
    /// Path and query, starting with `/`.
    pub(crate) resource: String,
    /// `wss://`.
    pub(crate) secure: bool,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) headers: Vec<Header>,
}

impl JsRequest {
    pub(crate) fn read(value: &JsValue) -> Result<JsRequest, String> {
        let (mut host, mut resource) = (None, None);
        let mut request = JsRequest {
            host: String::new(),
            port: None,
            resource: String::new(),
            secure: false,
            subprotocols: Vec::new(),
            headers: Vec::new(),
        };
        let present = args::object(value, "request", &mut |name, value| {
            match name {
                "host" => host = Some(args::string(value)?),
                "port" => request.port = args::nullable(value, args::port)?,
                "resource" => resource = Some(args::string(value)?),
                "secure" => request.secure = args::nullable(value, args::boolean)?.unwrap_or(false),
                "subprotocols" => {
                    request.subprotocols = args::list(value, "request.subprotocols", args::string)?
                }
                "headers" => request.headers = read_headers(value, "request.headers")?,
                _ => {}
            }
            Ok(())
        })?;
        if !present {
            return Err(args::expected("request", "an object", value));
        }
        let missing =
            |name: &str| args::expected(&format!("request.{name}"), "a string", &JsValue::UNDEFINED);
        request.host = host.ok_or_else(|| missing("host"))?;
        request.resource = resource.ok_or_else(|| missing("resource"))?;
        Ok(request)
    }
}

/// A server's acceptance ([`hybi_core::Accept`]): `{ subprotocol?, headers? }`.
#[derive(Default)]
pub(crate) struct JsAccept {
    pub(crate) subprotocol: Option<String>,
    pub(crate) headers: Vec<Header>,
}

impl JsAccept {
    /// `undefined` or `null`: no subprotocol, no headers.
    pub(crate) fn read(value: &JsValue) -> Result<JsAccept, String> {
        let mut accept = JsAccept::default();
        args::object(value, "accept", &mut |name, value| {
            match name {
                "subprotocol" => accept.subprotocol = args::nullable(value, args::string)?,
                "headers" => accept.headers = read_headers(value, "accept.headers")?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(accept)
    }
}

// ----- out of the core -----------------------------------------------------

/// A header value as a JS string: its text when it is UTF-8, otherwise one
/// character per byte (Latin-1, as Node's `http` reads headers), so that no
/// byte is lost or replaced.
fn header_value(value: &[u8]) -> String {
    match core::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `[[name, value], ...]`.
fn headers_out(headers: &Headers) -> JsValue {
    out::array(headers.iter(), |h| {
        let pair = js_sys::Array::new();
        pair.push(&JsValue::from_str(&h.name));
        pair.push(&JsValue::from_str(&header_value(&h.value)));
        pair.into()
    })
    .into()
}

/// [`hybi_core::RequestHead`] as `{ line, method, target, headers }`.
pub(crate) fn request_head(head: &RequestHead) -> JsValue {
    let js = Fields::new();
    js.set_str("line", &head.line);
    js.set_str("method", &head.method);
    js.set_str("target", &head.target);
    js.set("headers", &headers_out(&head.headers));
    js.into_js()
}

/// [`hybi_core::ResponseHead`] as `{ line, status, reason, headers }`.
pub(crate) fn response_head(head: &ResponseHead, refused_body: &[u8]) -> JsValue {
    let js = Fields::new();
    js.set_str("line", &head.line);
    js.set_number("status", head.status.into());
    js.set_str("reason", &head.reason);
    js.set("headers", &headers_out(&head.headers));
    if !refused_body.is_empty() {
        js.set_bytes("body", refused_body);
    }
    js.into_js()
}

/// A protocol's names: `"draft76"` with its framing, or `"rfc6455"`.
pub(crate) fn protocol_names(protocol: Protocol) -> (&'static str, Option<&'static str>) {
    match protocol {
        Protocol::Draft76(Framing::Old) => ("draft76", Some("old")),
        Protocol::Draft76(Framing::New) => ("draft76", Some("new")),
        // A server before the client's first bytes tell its framing.
        Protocol::Draft76(Framing::Auto) => ("draft76", Some("auto")),
        Protocol::Rfc6455 => ("rfc6455", None),
    }
}

/// A core [`Error`] as `{ kind, message, status?, closeCode? }`.
///
/// `kind` sorts errors by who caused them, as the core does: `"handshake"`,
/// `"protocol"`, `"limit"`, `"rejected"` (the server's status is
/// `status`), `"eof"`, `"timeout"`, `"misuse"` (the application's own
/// mistake). `status` is the HTTP status a server answered a failed
/// handshake with; `closeCode` the RFC 6455 close code sent because of it.
pub(crate) struct JsError {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) status: Option<u16>,
    pub(crate) close_code: Option<u16>,
}

impl From<&Error> for JsError {
    fn from(error: &Error) -> Self {
        let kind = match error {
            Error::Handshake(_) => "handshake",
            Error::Protocol(_) | Error::FramingMismatch { .. } => "protocol",
            Error::Limit(_) => "limit",
            Error::Rejected { .. } => "rejected",
            Error::UnexpectedEof(_) => "eof",
            Error::Timeout(_) => "timeout",
            Error::Misuse(_) => "misuse",
            _ => "other",
        };
        let status = match error {
            Error::Rejected { status } => Some(*status),
            other => other.http_status(),
        };
        JsError { kind, message: error.to_string(), status, close_code: error.close_code() }
    }
}

impl JsError {
    /// The plain object.
    pub(crate) fn to_js(&self) -> JsValue {
        let js = Fields::new();
        js.set_word("kind", self.kind);
        js.set_str("message", &self.message);
        if let Some(status) = self.status {
            js.set_number("status", status.into());
        }
        if let Some(code) = self.close_code {
            js.set_number("closeCode", code.into());
        }
        js.into_js()
    }
}

/// A core [`Error`] as a thrown JS value (a plain object; the `hybi` npm
/// package wraps it in its `HybiError` class).
pub(crate) fn throw(error: impl Into<Error>) -> JsValue {
    JsError::from(&error.into()).to_js()
}

/// An argument the bindings refuse before the core sees it, as a thrown
/// value of kind `"misuse"`.
pub(crate) fn misuse(message: &str) -> JsValue {
    JsError { kind: "misuse", message: message.into(), status: None, close_code: None }.to_js()
}

/// A binding's own refusal (bad configuration from JS) as a thrown value of
/// kind `"config"`.
pub(crate) fn config_error(message: String) -> JsValue {
    JsError { kind: "config", message, status: None, close_code: None }.to_js()
}

/// [`hybi_core::Event`] as `{ type, ... }`:
///
/// | `type` | fields |
/// | --- | --- |
/// | `"request"` | `kind` (`"websocket"` or `"http"`), `protocol`, `framing` |
/// | `"open"` | |
/// | `"text"`, `"binary"` | `data` (string or `Uint8Array`) |
/// | `"textFragment"`, `"binaryFragment"` | `data`, `fin` |
/// | `"ping"`, `"pong"` | `data` |
/// | `"close"` | `code` (or absent), `reason` |
/// | `"error"` | `error` (see [`JsError`]) |
pub(crate) enum JsEvent {
    Request {
        kind: &'static str,
        protocol: Option<&'static str>,
        framing: Option<&'static str>,
    },
    Open,
    Text {
        data: String,
    },
    Binary {
        data: Vec<u8>,
    },
    TextFragment {
        data: String,
        fin: bool,
    },
    BinaryFragment {
        data: Vec<u8>,
        fin: bool,
    },
    Ping {
        data: Vec<u8>,
    },
    Pong {
        data: Vec<u8>,
    },
    Close {
        code: Option<u16>,
        reason: String,
    },
    Error {
        error: JsError,
    },
    /// An event kind this version of the bindings does not know (the core's
    /// `Event` is `#[non_exhaustive]`): passed on by name, never dropped.
    Unknown {
        debug: String,
    },
}

impl JsEvent {
    /// The plain object: `type` first, then the fields in the order of the
    /// table above, absent ones left out.
    pub(crate) fn to_js(&self) -> JsValue {
        let js = Fields::new();
        let tag = match self {
            JsEvent::Request { .. } => "request",
            JsEvent::Open => "open",
            JsEvent::Text { .. } => "text",
            JsEvent::Binary { .. } => "binary",
            JsEvent::TextFragment { .. } => "textFragment",
            JsEvent::BinaryFragment { .. } => "binaryFragment",
            JsEvent::Ping { .. } => "ping",
            JsEvent::Pong { .. } => "pong",
            JsEvent::Close { .. } => "close",
            JsEvent::Error { .. } => "error",
            JsEvent::Unknown { .. } => "unknown",
        };
        js.set_word("type", tag);
        match self {
            JsEvent::Request { kind, protocol, framing } => {
                js.set_word("kind", kind);
                if let Some(protocol) = protocol {
                    js.set_word("protocol", protocol);
                }
                if let Some(framing) = framing {
                    js.set_word("framing", framing);
                }
            }
            JsEvent::Open => {}
            JsEvent::Text { data } => js.set_str("data", data),
            JsEvent::Binary { data } | JsEvent::Ping { data } | JsEvent::Pong { data } => {
                js.set_bytes("data", data)
            }
            JsEvent::TextFragment { data, fin } => {
                js.set_str("data", data);
                js.set_bool("fin", *fin);
            }
            JsEvent::BinaryFragment { data, fin } => {
                js.set_bytes("data", data);
                js.set_bool("fin", *fin);
            }
            JsEvent::Close { code, reason } => {
                if let Some(code) = code {
                    js.set_number("code", (*code).into());
                }
                js.set_str("reason", reason);
            }
            JsEvent::Error { error } => js.set("error", &error.to_js()),
            JsEvent::Unknown { debug } => js.set_str("debug", debug),
        }
        js.into_js()
    }

    /// The event as a client reports it: a client answers a failed
    /// handshake with no HTTP status, so an error keeps only the status the
    /// server refused it with (`"rejected"`).
    pub(crate) fn for_client(mut self) -> Self {
        if let JsEvent::Error { error } = &mut self {
            if error.kind != "rejected" {
                error.status = None;
            }
        }
        self
    }
}

impl From<Event> for JsEvent {
    fn from(event: Event) -> Self {
        match event {
            Event::Request(RequestKind::WebSocket(protocol)) => {
                let (protocol, framing) = protocol_names(protocol);
                JsEvent::Request { kind: "websocket", protocol: Some(protocol), framing }
            }
            Event::Request(RequestKind::Http) => {
                JsEvent::Request { kind: "http", protocol: None, framing: None }
            }
            Event::Open => JsEvent::Open,
            Event::Text(data) => JsEvent::Text { data },
            Event::Binary(data) => JsEvent::Binary { data },
            Event::TextFragment { text, fin } => JsEvent::TextFragment { data: text, fin },
            Event::BinaryFragment { data, fin } => JsEvent::BinaryFragment { data, fin },
            Event::Ping(data) => JsEvent::Ping { data },
            Event::Pong(data) => JsEvent::Pong { data },
            Event::Close(Close { code, reason }) => JsEvent::Close { code, reason },
            Event::Error(error) => JsEvent::Error { error: JsError::from(&error) },
            other => JsEvent::Unknown { debug: format!("{other:?}") },
        }
    }
}

/// Reads an argument from JS with `read`, or throws a `"config"` error that
/// says what is wrong with it.
pub(crate) fn from_js<T>(
    value: &JsValue,
    read: impl FnOnce(&JsValue) -> Result<T, String>,
) -> Result<T, JsValue> {
    read(value).map_err(config_error)
}

/// [`hybi_core::DeflateParams`], the negotiated agreement, as
/// `{ serverNoContextTakeover, clientNoContextTakeover,
/// serverMaxWindowBits, clientMaxWindowBits }`.
pub(crate) fn deflate_params(p: &DeflateParams) -> JsValue {
    let js = Fields::new();
    js.set_bool("serverNoContextTakeover", p.server_no_context_takeover);
    js.set_bool("clientNoContextTakeover", p.client_no_context_takeover);
    js.set_number("serverMaxWindowBits", p.server_max_window_bits.into());
    js.set_number("clientMaxWindowBits", p.client_max_window_bits.into());
    js.into_js()
}

/// The bounds a driver keeps around the core, from the connection's
/// configuration (so the JS driver has no defaults of its own):
/// `{ maxMessageSize, outputHighWater, maxUnreadWhileClosing,
/// maxLingerBytes, linger, handshake }`, the times in milliseconds (0:
/// none). `maxMessageSize` is there because a streaming driver counts a
/// message's pieces itself.
pub(crate) fn driver_bounds(config: &Config) -> JsValue {
    let ms = |t: Option<Duration>| t.map_or(0.0, |t| t.as_millis() as f64);
    let js = Fields::new();
    js.set_number("maxMessageSize", config.limits.max_message_size as f64);
    js.set_number("outputHighWater", config.limits.output_high_water as f64);
    js.set_number("maxUnreadWhileClosing", config.limits.max_unread_while_closing as f64);
    js.set_number("maxLingerBytes", config.limits.max_linger_bytes as f64);
    js.set_number("linger", ms(config.timeouts.linger));
    js.set_number("handshake", ms(config.timeouts.handshake));
    js.into_js()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_is_the_cores_default() {
        assert_eq!(JsConfig::default().into_core(), Config::default());
    }

    #[test]
    fn absent_keeps_the_default_null_and_zero_turn_a_timer_off() {
        let default = Some(Duration::from_secs(30));
        assert_eq!(millis(None, default), default);
        assert_eq!(millis(Some(None), default), None);
        assert_eq!(millis(Some(Some(0)), default), None);
        assert_eq!(millis(Some(Some(1500)), default), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_draft76_client_takes_its_framing_from_framing() {
        let config = JsConfig {
            protocol: Some(ProtocolName::Draft76),
            framing: Some(FramingName::New),
            ..JsConfig::default()
        };
        assert_eq!(config.into_core().protocol, Protocol::Draft76(Framing::New));
        let config = JsConfig { framing: Some(FramingName::New), ..JsConfig::default() };
        assert_eq!(config.into_core().protocol, Protocol::Draft76(Framing::New), "framing implies draft-76");
        assert_eq!(JsConfig::default().into_core().protocol, Protocol::Rfc6455, "RFC 6455 is the default");
        let config = JsConfig {
            protocol: Some(ProtocolName::Rfc6455),
            framing: Some(FramingName::New),
            ..JsConfig::default()
        };
        let core = config.into_core();
        assert_eq!((core.protocol, core.framing), (Protocol::Rfc6455, Framing::New));
    }

    #[test]
    fn accept_lists_the_protocols_a_server_takes() {
        let config = JsConfig { accept: Some(vec![ProtocolName::Rfc6455]), ..JsConfig::default() };
        assert_eq!(config.into_core().accept, ProtocolSet { draft76: false, rfc6455: true });
        let config = JsConfig { accept: Some(vec![]), ..JsConfig::default() };
        assert_eq!(config.into_core().accept, ProtocolSet { draft76: false, rfc6455: false });
    }

    #[test]
    fn deflate_fields_left_out_keep_their_defaults() {
        let config = JsConfig {
            deflate: Some(JsDeflate { compression_level: Some(1), ..JsDeflate::default() }),
            ..JsConfig::default()
        };
        assert_eq!(
            config.into_core().deflate,
            Some(DeflateConfig { compression_level: 1, ..DeflateConfig::default() })
        );
    }

    #[test]
    fn header_values_that_are_not_utf8_keep_every_byte() {
        assert_eq!(header_value(b"plain"), "plain");
        assert_eq!(header_value("é".as_bytes()), "é");
        assert_eq!(header_value(&[0x61, 0xff, 0x62]), "a\u{ff}b");
    }
}
