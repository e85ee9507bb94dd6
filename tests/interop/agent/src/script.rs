//! The exchange script (`script-*.json`, written by run.py) and its
//! payloads, generated here exactly as every other side of the suite
//! generates them.

use hybi::Message;
use serde_json::Value;

/// One message of the exchange script.
#[derive(Clone, Debug)]
pub struct Step {
    pub binary: bool,
    pub payload: Vec<u8>,
    pub label: String,
}

pub struct Script {
    pub steps: Vec<Step>,
    /// The client pings before message `i` when `i % ping_every == 1`, the
    /// server before echo `i` when `i % ping_every == 2`; 0: no pings.
    pub ping_every: usize,
}

impl Script {
    /// Whether the client pings before sending message `index`.
    pub fn client_pings_before(&self, index: usize) -> bool {
        self.ping_every > 0 && index % self.ping_every == 1
    }

    /// Whether the server pings before echoing message `index`.
    pub fn server_pings_before(&self, index: usize) -> bool {
        self.ping_every > 0 && index % self.ping_every == 2
    }
}

/// Generates a payload exactly as the other implementations of the suite
/// do (run.py, peers/*.py, peers/*.mjs): every side derives the expected
/// message from the script alone, so nothing but the peer can corrupt it.
fn generate(gen: &str, len: usize) -> Result<Vec<u8>, String> {
    match gen {
        "ascii" => Ok((0..len).map(|i| 0x20 + ((i * 7 + len) % 95) as u8).collect()),
        "utf8" => {
            // 1, 2, 3 and 4-byte characters, repeated; padded with ASCII.
            let unit = "aé€𝄞".as_bytes();
            let mut out = Vec::with_capacity(len);
            while out.len() + unit.len() <= len {
                out.extend_from_slice(unit);
            }
            out.resize(len, b'a');
            Ok(out)
        }
        "bytes" => Ok((0..len).map(|i| ((i * 31 + len * 7 + 11) & 0xff) as u8).collect()),
        other => Err(format!("unknown generator {other:?}")),
    }
}

pub fn load_script(path: &str) -> Result<Script, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))?;
    let ping_every = value["ping_every"].as_u64().unwrap_or(0) as usize;
    let mut steps = Vec::new();
    for m in value["messages"].as_array().ok_or("script has no messages")? {
        let kind = m["type"].as_str().ok_or("message without type")?;
        let gen = m["gen"].as_str().ok_or("message without gen")?;
        let len = m["len"].as_u64().ok_or("message without len")? as usize;
        steps.push(Step {
            binary: kind == "binary",
            payload: generate(gen, len)?,
            label: format!("{kind}/{gen}/{len}"),
        });
    }
    Ok(Script { steps, ping_every })
}

pub fn message_of(step: &Step) -> Message {
    if step.binary {
        Message::Binary(step.payload.clone())
    } else {
        Message::Text(String::from_utf8(step.payload.clone()).expect("text generators make UTF-8"))
    }
}
