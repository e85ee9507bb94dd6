//! What one side saw, as the JSON line every side of the suite prints (see
//! the README for the fields).

use std::fmt::Display;

use hybi::{Close, DeflateParams, Framing, Message, Protocol};
use serde_json::{json, Value};

use crate::script::Script;

pub struct Report {
    /// Which of our drivers reported (`hybi-native`, `hybi-tokio`).
    implementation: &'static str,
    role: &'static str,
    protocol: Option<String>,
    deflate: Option<bool>,
    deflate_params: Value,
    pub received: Vec<Value>,
    pub pings_sent: usize,
    close: Option<Value>,
    pub errors: Vec<String>,
}

impl Report {
    pub fn new(implementation: &'static str, role: &'static str) -> Report {
        Report {
            implementation,
            role,
            protocol: None,
            deflate: None,
            deflate_params: Value::Null,
            received: Vec::new(),
            pings_sent: 0,
            close: None,
            errors: Vec::new(),
        }
    }

    /// Records what the opening handshake agreed on.
    pub fn opened(&mut self, protocol: Protocol, deflate: Option<&DeflateParams>) {
        self.spoke(protocol);
        self.deflate = Some(deflate.is_some());
        self.deflate_params = deflate.map_or(Value::Null, |p| {
            json!({
                "server_no_context_takeover": p.server_no_context_takeover,
                "client_no_context_takeover": p.client_no_context_takeover,
                "server_max_window_bits": p.server_max_window_bits,
                "client_max_window_bits": p.client_max_window_bits,
            })
        });
    }

    /// Records message `index` against the script; false when it differs.
    pub fn received(&mut self, script: &Script, message: &Message) -> bool {
        let index = self.received.len();
        let (kind, bytes) = match message {
            Message::Text(t) => ("text", t.as_bytes()),
            Message::Binary(b) => ("binary", b.as_slice()),
        };
        let ok =
            script.steps.get(index).is_some_and(|s| s.binary == (kind == "binary") && s.payload == bytes);
        if !ok {
            let want = script.steps.get(index).map_or("nothing".into(), |s| s.label.clone());
            self.errors.push(format!(
                "message {index}: got {kind} of {} bytes, expected {want}{}",
                bytes.len(),
                first_difference(script.steps.get(index).map(|s| s.payload.as_slice()), bytes)
            ));
        }
        self.received.push(json!({"type": kind, "len": bytes.len(), "ok": ok}));
        ok
    }

    /// Records what a client's wait for echo `index` gave, the same for
    /// both drivers; false when the exchange cannot go on.
    pub fn echo(
        &mut self,
        script: &Script,
        index: usize,
        got: Result<Option<Message>, impl Display>,
    ) -> bool {
        match got {
            Ok(Some(message)) => {
                self.received(script, &message);
                true
            }
            Ok(None) => {
                self.errors.push(format!("connection ended awaiting echo {index}"));
                false
            }
            Err(e) => {
                self.errors.push(format!("awaiting echo {index}: {e}"));
                false
            }
        }
    }

    /// Records what a client gave while it waits for the server's close
    /// (anything but the end is recorded, and fails the check as "expected
    /// nothing"); false once the wait is over.
    pub fn before_close(&mut self, script: &Script, got: Result<Option<Message>, impl Display>) -> bool {
        match got {
            Ok(None) => false,
            Ok(Some(message)) => {
                self.received(script, &message);
                true
            }
            Err(e) => {
                self.errors.push(format!("awaiting the server's close: {e}"));
                false
            }
        }
    }

    /// Records the protocol spoken: at open, and again at the end for a
    /// server with `--framing auto` (the default), which says
    /// `draft76-auto` until the client's first bytes decide the framing.
    pub fn spoke(&mut self, protocol: Protocol) {
        self.protocol = Some(match protocol {
            Protocol::Rfc6455 => "rfc6455".into(),
            Protocol::Draft76(Framing::Old) => "draft76-old".into(),
            Protocol::Draft76(Framing::New) => "draft76-new".into(),
            Protocol::Draft76(Framing::Auto) => "draft76-auto".into(),
        });
    }

    /// Records the peer's close, if it closed cleanly.
    pub fn closed(&mut self, close: Option<&Close>) {
        self.close = close.map(|c| json!({"code": c.code, "reason": c.reason}));
    }

    pub fn to_json(&self) -> Value {
        json!({
            "impl": self.implementation,
            "role": self.role,
            "protocol": self.protocol,
            "deflate": self.deflate,
            "deflate_params": self.deflate_params,
            "received": self.received,
            "pings_sent": self.pings_sent,
            // Neither driver's API shows pongs or pings received: `recv`
            // takes them in and answers pings itself.
            "pongs_received": Value::Null,
            "pings_received": Value::Null,
            "close": self.close,
            "errors": self.errors,
        })
    }
}

/// Where two payloads first differ, to make a failing cell's log useful.
fn first_difference(want: Option<&[u8]>, got: &[u8]) -> String {
    let Some(want) = want else { return String::new() };
    match want.iter().zip(got).position(|(a, b)| a != b) {
        Some(i) => format!(" (first difference at byte {i}: got {:#04x}, expected {:#04x})", got[i], want[i]),
        None => format!(" (lengths {} vs {} agree on the common prefix)", got.len(), want.len()),
    }
}
