//! [`Machine`]: one core [`Connection`] as a JavaScript class.

use hybi_core::{
    Accept, ClientRequest, Connection, Event, EventRef, Headers, HttpResponse, Instant, LimitError, Misuse,
    Role, State, Target,
};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::convert::{
    self, from_js, protocol_names, read_headers, throw, JsAccept, JsConfig, JsEvent, JsRequest,
};
use crate::entropy::{self, JsEntropy};
use crate::out::{self, Fields};

/// An event as a step carries it; a client reports failed handshakes
/// without the HTTP status it did not send (see `JsEvent::for_client`).
fn event_js(event: Event, client: bool) -> JsValue {
    let event = JsEvent::from(event);
    let event = if client { event.for_client() } else { event };
    event.to_js()
}

/// The smallest binary message or piece [`Machine::feed_in_place`] names
/// by where it lies: a smaller one is copied out of wasm memory as
/// cheaply as the driver would copy it out of its chunk.
const IN_PLACE_MIN: usize = 1024;

/// `{ type, data }` for a lent message, as `JsEvent::to_js` writes its
/// owned twin.
fn lent_message_js(tag: &'static str, data: &JsValue) -> JsValue {
    let js = Fields::new();
    js.set_word("type", tag);
    js.set("data", data);
    js.into_js()
}

/// The JS clock reading (milliseconds, any epoch that never goes backwards,
/// e.g. `performance.now()`) as the core's [`Instant`]. Fractions are
/// dropped; `as` saturates, so NaN and negative readings are the epoch.
fn instant(now: f64) -> Instant {
    Instant::from_millis(now as u64)
}

/// Output buffer capacity kept between outputs (see `Machine::release_output`).
const KEEP_OUTPUT: usize = 64 * 1024;

fn state_name(state: State) -> &'static str {
    match state {
        State::Handshaking => "handshaking",
        State::Open => "open",
        State::Closing => "closing",
        State::Ending => "ending",
        State::Closed => "closed",
    }
}

/// What one input (a socket chunk, the end of the stream, a timer) or a
/// command that may change the connection's course came to, in one object so
/// that one crossing from JS returns all of it:
///
/// `{ events: Event[], output?: Uint8Array, timeout?: number, state }`:
/// every event the core produced (see `JsEvent` in the source for their
/// shapes), every byte to write to the socket, in order, the next deadline
/// (same clock as `now`; call [`Machine::tick`] then), and the state
/// (`"handshaking"`, `"open"`, `"closing"`, `"ending"` or `"closed"`: once
/// `"closed"` and `output` is written, close the socket; `"ending"`: the
/// peer is done, call [`Machine::finish`] when the application has read up
/// to the step's last event). `output` and `timeout` are left out when
/// there is none.
fn step_object(events: &Array, output: &[u8], timeout: Option<f64>, state: State) -> JsValue {
    let js = Fields::new();
    js.set("events", events);
    if !output.is_empty() {
        js.set_bytes("output", output);
    }
    if let Some(timeout) = timeout {
        js.set_number("timeout", timeout);
    }
    js.set_word("state", state_name(state));
    js.into_js()
}

/// One WebSocket connection's protocol state, without I/O: the core's
/// [`Connection`] for JavaScript.
///
/// A driver (the `hybi` npm package's `lib/connection.js`) owns the socket,
/// the clock and the timer, and calls:
///
/// - inputs, each returning a step (`{ events, output, timeout, state }`):
///   [`feed`](Self::feed) with each chunk the socket read, whole (one call
///   per chunk, however many frames it holds), [`eof`](Self::eof) when the
///   socket ended, [`tick`](Self::tick) when the step's `timeout` passed;
/// - commands: [`sendText`](Self::send_text),
///   [`sendTextUtf8`](Self::send_text_utf8),
///   [`sendBinary`](Self::send_binary), [`sendPing`](Self::send_ping),
///   [`sendVerbatimHeader`](Self::send_verbatim_header),
///   [`maskPart`](Self::mask_part) and
///   [`sendFragment`](Self::send_fragment) (large messages: the npm
///   driver's way to keep them out of wasm memory), which
///   return the bytes to write (`Uint8Array`) and change no deadline and no
///   event, so the hot path crosses once and builds no object;
///   [`close`](Self::close), [`goAway`](Self::go_away),
///   [`finish`](Self::finish), [`failLimit`](Self::fail_limit),
///   [`accept`](Self::accept) and [`respond`](Self::respond), which return
///   a step. Only what a driver uses is bound (every export costs wasm
///   size): the core's unsolicited pongs are not;
/// - getters for the handshake's outcome.
///
/// Errors the core reports as events (the peer's doing) come in the step's
/// `events`; commands the core refuses throw `{ kind: "misuse", message }`,
/// and malformed arguments `{ kind: "config", message }`.
///
/// Time is passed in as milliseconds (`now`, a `number`), on any clock that
/// never goes backwards. Randomness for a client comes from
/// `crypto.getRandomValues`, which the bindings call themselves (see the
/// `entropy` module for why).
#[wasm_bindgen]
pub struct Machine {
    conn: Connection,
    /// Output buffer; traded with the core's on every poll, so that in
    /// steady state no output allocates.
    out: Vec<u8>,
}

impl Machine {
    fn step(&mut self) -> JsValue {
        let events = Array::new();
        let client = self.conn.role() == Role::Client;
        while let Some(event) = self.conn.poll_event() {
            events.push(&event_js(event, client));
        }
        self.step_with(&events)
    }

    /// The step object for `events` and whatever the core queued for the
    /// peer and the timer.
    fn step_with(&mut self, events: &Array) -> JsValue {
        self.out.clear();
        let _ = self.conn.poll_transmit(&mut self.out);
        let timeout = self.conn.poll_timeout().map(|at| at.as_millis() as f64);
        let step = step_object(events, &self.out, timeout, self.conn.state());
        self.release_output();
        step
    }

    fn output(&mut self) -> Uint8Array {
        self.out.clear();
        let _ = self.conn.poll_transmit(&mut self.out);
        let bytes = Uint8Array::from(&self.out[..]);
        self.release_output();
        bytes
    }

    /// Output copied out: a buffer grown by a large message goes at once,
    /// not at the next output, so that an idle connection holds no share of
    /// the wasm memory all connections use.
    fn release_output(&mut self) {
        if self.out.capacity() > KEEP_OUTPUT {
            self.out = Vec::new();
        }
    }

    fn command(&mut self, result: Result<(), Misuse>) -> Result<Uint8Array, JsValue> {
        result.map_err(throw)?;
        Ok(self.output())
    }
}

#[wasm_bindgen]
impl Machine {
    /// A client, its opening request already queued: write
    /// [`takeOutput`](Self::take_output) to the socket. `config` is a plain
    /// object (see the `convert` module: `{ protocol, framing, limits,
    /// timeouts, deflate, ... }`, all optional); `request` is
    /// `{ host, port?, resource, secure?, subprotocols?, headers? }`, the
    /// URL split by the driver, with `headers` as `[[name, value], ...]`.
    pub fn client(now: f64, config: JsValue, request: JsValue) -> Result<Machine, JsValue> {
        let config = from_js(&config, JsConfig::read)?.into_core();
        let request = from_js(&request, JsRequest::read)?;
        entropy::ensure_available()?;
        let target = Target {
            host: request.host,
            port: request.port,
            resource: request.resource,
            secure: request.secure,
        };
        let request = ClientRequest { target, subprotocols: request.subprotocols, headers: request.headers };
        let conn = Connection::client(instant(now), config, request, Box::new(JsEntropy)).map_err(throw)?;
        Ok(Machine { conn, out: Vec::new() })
    }

    /// A server waiting for its client's request. `config` as for
    /// [`client`](Self::client) (`accept`, `framing`, `secure`, limits,
    /// timeouts, `deflate` apply).
    pub fn server(now: f64, config: JsValue) -> Result<Machine, JsValue> {
        let config = from_js(&config, JsConfig::read)?.into_core();
        Ok(Machine { conn: Connection::server(instant(now), config), out: Vec::new() })
    }

    /// Feeds one chunk the socket read, at time `now`; returns the step.
    /// A small message that arrived whole in one frame goes from the
    /// input (or the core's reused unmasking buffer) straight into its JS
    /// string or `Uint8Array`, with no allocation in wasm memory (the
    /// core's `handle_input_with`); in streaming mode it comes as a whole
    /// `text`/`binary` event rather than a last piece, and so do the
    /// pieces of a binary message (`binaryFragment`).
    pub fn feed(&mut self, now: f64, input: &[u8]) -> JsValue {
        self.feed_lending(now, input, false)
    }

    /// [`feed`](Self::feed), except that a binary message or piece of 1
    /// KiB or more whose bytes lie in `input` as they are (unmasked: what
    /// a client receives) comes as `at` and `length`, where in the `input`
    /// it starts and how long it is, instead of a `data` copy: the driver
    /// takes them from its own chunk, which the bytes never have to leave.
    #[wasm_bindgen(js_name = feedInPlace)]
    pub fn feed_in_place(&mut self, now: f64, input: &[u8]) -> JsValue {
        self.feed_lending(now, input, true)
    }

    fn feed_lending(&mut self, now: f64, input: &[u8], in_place: bool) -> JsValue {
        let events = Array::new();
        let client = self.conn.role() == Role::Client;
        let within = input.as_ptr_range();
        self.conn.handle_input_with(instant(now), input, &mut |event| {
            let (tag, data, fin) = match event {
                EventRef::Text(text) => {
                    events.push(&lent_message_js("text", &JsValue::from_str(text)));
                    return;
                }
                EventRef::Other(event) => {
                    events.push(&event_js(event, client));
                    return;
                }
                EventRef::Binary(data) => ("binary", data, None),
                EventRef::BinaryFragment { data, fin } => ("binaryFragment", data, Some(fin)),
            };
            let js = Fields::new();
            js.set_word("type", tag);
            if in_place && data.len() >= IN_PLACE_MIN && within.contains(&data.as_ptr()) {
                // `as`: offsets within one wasm allocation fit a double.
                js.set_number("at", (data.as_ptr() as usize - within.start as usize) as f64);
                js.set_number("length", data.len() as f64);
            } else {
                js.set_bytes("data", data);
            }
            if let Some(fin) = fin {
                js.set_bool("fin", fin);
            }
            events.push(&js.into_js());
        });
        self.step_with(&events)
    }

    /// Server: a request head that the driver's HTTP server parsed already
    /// (Node's `'upgrade'` event), as if its bytes had been fed: `line` is
    /// the request line (`GET /chat HTTP/1.1`), `headers` `[[name, value],
    /// ...]` (values sent as their UTF-8 bytes); returns the step (the core's
    /// `handle_request_head`). Feed the bytes that followed the head
    /// afterwards. Throws `{ kind: "misuse" }` unless the machine is a
    /// server that has been fed nothing.
    #[wasm_bindgen(js_name = feedHead)]
    pub fn feed_head(&mut self, now: f64, line: &str, headers: JsValue) -> Result<JsValue, JsValue> {
        let headers = from_js(&headers, |h| read_headers(h, "headers"))?;
        self.conn.handle_request_head(instant(now), line, Headers(headers)).map_err(throw)?;
        Ok(self.step())
    }

    /// The application has read every message up to the end a step
    /// reported (state `"ending"`: the peer's close, or an error in its
    /// input) and written its answers: queues the close the protocol owes
    /// (the core's `finish`); returns the step (state `"closed"`). Nothing
    /// happens in any other state.
    pub fn finish(&mut self) -> JsValue {
        self.conn.finish();
        self.step()
    }

    /// The socket ended (the peer will send nothing more); returns the step.
    pub fn eof(&mut self) -> JsValue {
        self.conn.handle_eof();
        self.step()
    }

    /// The time is `now` (a step's `timeout` passed); returns the step.
    pub fn tick(&mut self, now: f64) -> JsValue {
        self.conn.handle_timeout(instant(now));
        self.step()
    }

    /// Server: accepts the pending WebSocket request with
    /// `{ subprotocol?, headers? }` (the seed's `conn-headers` result);
    /// returns the step (the 101 response, `open`, and whatever arrived
    /// after the request).
    pub fn accept(&mut self, accept: JsValue) -> Result<JsValue, JsValue> {
        let accept = from_js(&accept, JsAccept::read)?;
        let accept = Accept { subprotocol: accept.subprotocol, headers: accept.headers };
        self.conn.accept(accept).map_err(throw)?;
        Ok(self.step())
    }

    /// Server: answers the pending request with a plain HTTP response (a
    /// refusal, or a page for a plain request) and ends the connection;
    /// returns the step. `headers` is `[[name, value], ...]` or undefined.
    pub fn respond(&mut self, status: u16, headers: JsValue, body: &[u8]) -> Result<JsValue, JsValue> {
        let headers = from_js(&headers, |h| read_headers(h, "headers"))?;
        let response = HttpResponse { status, headers, body: body.to_vec() };
        self.conn.respond(response).map_err(throw)?;
        Ok(self.step())
    }

    /// Queues a text message; returns the bytes to write.
    #[wasm_bindgen(js_name = sendText)]
    pub fn send_text(&mut self, text: &str) -> Result<Uint8Array, JsValue> {
        let result = self.conn.send_text(text);
        self.command(result)
    }

    /// Queues a text message given as its UTF-8 bytes (what
    /// `Buffer.from(text)` or a `TextEncoder` gives); returns the bytes to
    /// write. For long texts: passing a JS string into wasm copies it one
    /// character at a time in JS (wasm-bindgen's ASCII loop, some 10 ns a
    /// character, 10 ms for 1 MiB), where the encoder and this copy are
    /// bulk operations. Throws `{ kind: "misuse" }` if the bytes are not
    /// UTF-8.
    #[wasm_bindgen(js_name = sendTextUtf8)]
    pub fn send_text_utf8(&mut self, text: &[u8]) -> Result<Uint8Array, JsValue> {
        let text = core::str::from_utf8(text).map_err(|_| convert::misuse("text message is not UTF-8"))?;
        let result = self.conn.send_text(text);
        self.command(result)
    }

    /// Queues a binary message (RFC 6455 only); returns the bytes to write.
    #[wasm_bindgen(js_name = sendBinary)]
    pub fn send_binary(&mut self, data: &[u8]) -> Result<Uint8Array, JsValue> {
        let result = self.conn.send_binary(data);
        self.command(result)
    }

    /// Queues only the header of a message of `len` payload bytes whose
    /// payload the driver writes itself, from its own buffer: so that a
    /// large message never enters the wasm memory all connections share
    /// (which never shrinks) whole, and is copied as little as can be. A
    /// server's payload goes as it is (the core's `send_verbatim_header`);
    /// a client's is masked by [`maskPart`](Self::mask_part) first, part
    /// by part (`send_masked_header`). Returns the bytes to write (anything
    /// queued before, then the header), after which the driver must write
    /// exactly the `len` payload bytes (valid UTF-8 unless `binary`) before
    /// anything the connection queues later. Returns `undefined`, queuing
    /// nothing, where the payload is not the application's bytes on the
    /// wire (permessage-deflate compresses, draft-76 frames text its own
    /// way): send with [`sendBinary`](Self::send_binary),
    /// [`sendText`](Self::send_text) or [`sendFragment`](Self::send_fragment)
    /// then. Throws `{ kind: "misuse" }` as they do (not open, a fragmented
    /// message in progress).
    #[wasm_bindgen(js_name = sendVerbatimHeader)]
    pub fn send_verbatim_header(&mut self, binary: bool, len: f64) -> Result<JsValue, JsValue> {
        // `as` saturates; JS lengths are integers below 2^53.
        let len = len as usize;
        let header = match self.conn.send_verbatim_header(binary, len) {
            Ok(false) => self.conn.send_masked_header(binary, len),
            other => other,
        };
        Ok(if header.map_err(throw)? { self.output().into() } else { JsValue::UNDEFINED })
    }

    /// A client's payload after its [`sendVerbatimHeader`](Self::send_verbatim_header),
    /// one part at a time, in order: `part` (copied into wasm memory, as
    /// any argument) is masked there in place and copied into `out`, a
    /// `Uint8Array` at least as long, with no buffer made in between
    /// (the core's `mask_payload`). Returns how many bytes were masked:
    /// `part.length`, unless more than the header announced was given.
    #[wasm_bindgen(js_name = maskPart)]
    pub fn mask_part(&mut self, mut part: Vec<u8>, out: &Uint8Array) -> usize {
        let n = self.conn.mask_payload(&mut part);
        out.unchecked_ref::<out::Sink>().copy_into(&part);
        n
    }

    /// Queues one part of a message sent in parts (RFC 6455 only); returns
    /// the bytes to write. The first part's `binary` sets the message type,
    /// later ones must repeat it, `fin` ends the message. With
    /// permessage-deflate the parts are compressed as one message (the
    /// core's `send_compressed_part`: a part may yield no frame, as the
    /// compressor holds input until it completes a block; a text's parts
    /// together must be UTF-8), so that a large message enters wasm memory
    /// a part at a time, never whole; without, each part is one
    /// uncompressed fragment (`send_fragment`).
    #[wasm_bindgen(js_name = sendFragment)]
    pub fn send_fragment(&mut self, binary: bool, data: &[u8], fin: bool) -> Result<Uint8Array, JsValue> {
        let result = match self.conn.send_compressed_part(binary, data, fin) {
            Ok(true) => Ok(()),
            Ok(false) => self.conn.send_fragment(binary, data, fin),
            Err(error) => Err(error),
        };
        self.command(result)
    }

    /// Queues a ping (RFC 6455 only, at most 125 bytes); returns the bytes
    /// to write.
    #[wasm_bindgen(js_name = sendPing)]
    pub fn send_ping(&mut self, data: &[u8]) -> Result<Uint8Array, JsValue> {
        let result = self.conn.send_ping(data);
        self.command(result)
    }

    /// Starts the closing handshake at time `now` (which starts the close
    /// deadline, hence the step): `code` and `reason` where the protocol has
    /// them (draft-76: none, or 1000 with no reason).
    pub fn close(&mut self, now: f64, code: Option<u16>, reason: &str) -> Result<JsValue, JsValue> {
        self.conn.close(instant(now), code, reason).map_err(throw)?;
        Ok(self.step())
    }

    /// Closes because this end is going away (a server shutting down), as
    /// the protocol says it (the core's `go_away`): RFC 6455 code 1001 with
    /// `reason`, the draft-76 close otherwise; a connection whose peer is
    /// done is finished. Returns the step; throws `{ kind: "misuse" }`
    /// during the handshake (drop the socket then).
    #[wasm_bindgen(js_name = goAway)]
    pub fn go_away(&mut self, now: f64, reason: &str) -> Result<JsValue, JsValue> {
        self.conn.go_away(instant(now), reason).map_err(throw)?;
        Ok(self.step())
    }

    /// Fails the connection on a limit the driver keeps (with `streaming`
    /// the driver assembles messages): `budget` false, a message over
    /// `limit` bytes (`limits.maxMessageSize`); true, buffered input over a
    /// memory budget of `limit` bytes. As the core fails on its own limits:
    /// RFC 6455 queues a close with code 1009, nothing more is read, and the
    /// step's events end with the error (kind `"limit"`). Returns the step;
    /// on a connection already over, an empty one.
    #[wasm_bindgen(js_name = failLimit)]
    pub fn fail_limit(&mut self, budget: bool, limit: f64) -> JsValue {
        let limit = limit as usize;
        self.conn.fail_limit(if budget {
            LimitError::OverAllowance { allowance: limit }
        } else {
            LimitError::MessageTooLarge { limit }
        });
        self.step()
    }

    /// Every byte queued for the peer (a new client's request).
    #[wasm_bindgen(js_name = takeOutput)]
    pub fn take_output(&mut self) -> Uint8Array {
        self.output()
    }

    /// `"handshaking"`, `"open"`, `"closing"`, `"ending"` or `"closed"`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        out::word(state_name(self.conn.state()))
    }

    /// `"client"` or `"server"`.
    #[wasm_bindgen(getter)]
    pub fn role(&self) -> JsValue {
        out::word(match self.conn.role() {
            Role::Client => "client",
            Role::Server => "server",
        })
    }

    /// `"draft76"` or `"rfc6455"`, once known (a server learns it from the
    /// request).
    #[wasm_bindgen(getter)]
    pub fn protocol(&self) -> JsValue {
        self.conn.protocol().map_or(JsValue::UNDEFINED, |p| out::word(protocol_names(p).0))
    }

    /// The draft-76 framing, `"old"` or `"new"` (undefined for RFC 6455).
    #[wasm_bindgen(getter)]
    pub fn framing(&self) -> JsValue {
        self.conn.protocol().and_then(|p| protocol_names(p).1).map_or(JsValue::UNDEFINED, out::word)
    }

    /// The opening request, `{ line, method, target, headers }`: received
    /// (server) or sent (client, without the headers the handshake adds).
    #[wasm_bindgen(getter)]
    pub fn request(&self) -> JsValue {
        self.conn.request().map_or(JsValue::UNDEFINED, convert::request_head)
    }

    /// The opening response, `{ line, status, reason, headers, body }`:
    /// sent (server) or received (client); `body` only for a refused
    /// client, the start of the refusal's body that came with its head
    /// (the driver may read on for the rest).
    #[wasm_bindgen(getter)]
    pub fn response(&self) -> JsValue {
        self.conn
            .response()
            .map_or(JsValue::UNDEFINED, |head| convert::response_head(head, self.conn.refused_body()))
    }

    /// The subprotocol both ends agreed on.
    #[wasm_bindgen(getter)]
    pub fn subprotocol(&self) -> Option<String> {
        self.conn.subprotocol().map(Into::into)
    }

    /// The permessage-deflate agreement, `{ serverNoContextTakeover,
    /// clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits }`,
    /// or undefined without compression.
    #[wasm_bindgen(getter)]
    pub fn deflate(&self) -> JsValue {
        self.conn.deflate().map_or(JsValue::UNDEFINED, convert::deflate_params)
    }

    /// What the driver keeps around the core, from this machine's
    /// configuration: `{ maxMessageSize, outputHighWater,
    /// maxUnreadWhileClosing, maxLingerBytes, linger, handshake }` (times in
    /// ms, 0: none).
    #[wasm_bindgen(getter, js_name = driverBounds)]
    pub fn driver_bounds(&self) -> JsValue {
        convert::driver_bounds(self.conn.config())
    }

    /// The next deadline (call [`tick`](Self::tick) then), if any.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.conn.poll_timeout().map(|at| at.as_millis() as f64)
    }
}
