//! RFC 7692 permessage-deflate: parameter negotiation and per-message
//! compression.
//!
//! Sans-IO like the rest of the crate: nothing here reads a socket or a frame
//! header. The caller sets and checks RSV1, splits and joins frames, and
//! hands this module message payloads.
//!
//! # Negotiation
//!
//! * A client sends [`client_offer`] as its `Sec-WebSocket-Extensions` value
//!   and checks the server's answer with [`client_accept_response`].
//! * A server passes every `Sec-WebSocket-Extensions` value of the request to
//!   [`server_negotiate`], which accepts the first valid `permessage-deflate`
//!   offer and returns the agreement and the value to answer with.
//!
//! Both ends then hold the same [`DeflateParams`] and build a [`Compressor`]
//! for what they send and a [`Decompressor`] for what they receive.
//!
//! # Compression
//!
//! A message is compressed as raw DEFLATE ending with a sync flush, whose
//! trailing `00 00 FF FF` is removed (RFC 7692 §7.2.1); the receiver appends it
//! again before inflating (§7.2.2). With context takeover the LZ77 window
//! carries from one message to the next.
//!
//! miniz_oxide always compresses with a 32 KiB window. When the agreed window
//! for our own compression is smaller, the [`Compressor`] cuts every message
//! into pieces of `2^bits` bytes and ends each piece with a full flush (a sync
//! flush that also forgets the history). Each piece is then compressed as if
//! by a fresh compressor, so no back-reference reaches further than `2^bits`
//! bytes, and the sync-flushed pieces concatenate into one valid DEFLATE
//! stream. Such a compressor also forgets its history after every message.
//! This costs some compression ratio (about five bytes per piece plus a new
//! block header), never correctness, and it honours every window size
//! exactly, 8 included (zlib cannot: asked for 8 it uses 9 or refuses).
//!
//! # Limits
//!
//! A [`Decompressor`] inflates in bounded steps and stops with
//! [`InflateError::TooLarge`] as soon as a message outgrows the caller's
//! limit, so a small message that would inflate to gigabytes never puts more
//! than the limit into the caller's buffer (plus what `Vec` growth reserves)
//! and stops after reading little more input than produced that much.
//! Besides the caller's output buffer, a `Decompressor` holds a fixed ~43 KiB
//! state and a `Compressor` a fixed ~300 KiB one.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use crate::config::Role;

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate, InflateState, ZeroReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// The extension token, as it appears in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The smallest LZ77 window RFC 7692 allows, as a base-2 logarithm (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;

/// The largest LZ77 window RFC 7692 allows, as a base-2 logarithm (32 KiB).
pub const MAX_WINDOW_BITS: u8 = 15;

/// The empty stored block a sync flush ends with: removed from every
/// compressed message and appended again before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Most bytes inflated in one step between two checks of the size limit.
const INFLATE_STEP: usize = 32 * 1024;

/// The compression level [`DeflateConfig::default`] uses.
pub const DEFAULT_COMPRESSION_LEVEL: u8 = 6;

/// What we are willing to offer (as a client) or to accept (as a server).
///
/// The default restricts nothing and compresses at level 6. Window sizes are
/// base-2 logarithms; a value outside `8..=15` is clamped into that range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateConfig {
    /// Whether the server must forget its compression history after each
    /// message.
    ///
    /// * Client: offer `server_no_context_takeover`; a response that does not
    ///   grant it is refused.
    /// * Server: reset our compressor after every message and say so in the
    ///   response, whether or not the client asked.
    ///
    /// Default `false`.
    pub server_no_context_takeover: bool,
    /// Whether the client must forget its compression history after each
    /// message.
    ///
    /// * Client: offer `client_no_context_takeover` (a promise) and reset our
    ///   compressor after every message.
    /// * Server: put `client_no_context_takeover` in the response, which
    ///   obliges the client to reset after every message.
    ///
    /// Default `false`.
    pub client_no_context_takeover: bool,
    /// The largest window the server may compress with.
    ///
    /// * Client: `Some(n)` offers `server_max_window_bits=n`; a response
    ///   without the parameter or with a larger value is refused. `None`
    ///   leaves the server free (up to 15).
    /// * Server: `Some(n)` compresses with at most a `2^n` byte window and
    ///   says so in the response; the offer's `server_max_window_bits` may
    ///   lower it further. `None` uses what the offer allows (15 without one).
    ///
    /// Default `None`.
    pub server_max_window_bits: Option<u8>,
    /// The largest window the client may compress with.
    ///
    /// * Client: `None` leaves `client_max_window_bits` out of the offer, so
    ///   the server cannot limit our window. `Some(15)` offers the bare
    ///   parameter: we accept any limit the server sets. `Some(n)` with
    ///   `n < 15` offers `client_max_window_bits=n`: we promise never to use
    ///   more than `2^n` bytes, and the server may lower it further.
    /// * Server: `Some(n)` with `n < 15` asks the client for at most `2^n`
    ///   bytes when the offer carries `client_max_window_bits` (the RFC
    ///   allows nothing else); an offer without it is still accepted, because
    ///   our [`Decompressor`] always has a 32 KiB window. `None` and
    ///   `Some(15)` ask nothing.
    ///
    /// Default `Some(15)`: the bare parameter in offers, as browsers send.
    ///
    /// Asking a peer for 8 (either window) is valid but zlib-based peers
    /// cannot compress with a 256-byte window: they decline or use 512
    /// bytes. 9 is the safe minimum to ask for; our own compressor honours 8.
    pub client_max_window_bits: Option<u8>,
    /// The DEFLATE level our [`Compressor`] uses: 0 stores without
    /// compressing, 1 is fastest, 9 compresses best; larger values count as
    /// 9. Not negotiated. Default 6.
    pub compression_level: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(MAX_WINDOW_BITS),
            compression_level: DEFAULT_COMPRESSION_LEVEL,
        }
    }
}

/// The negotiated agreement, the same at both ends.
///
/// Window sizes are base-2 logarithms in `8..=15`; constructors of
/// [`Compressor`] and [`Decompressor`] clamp other values into that range.
/// The default is an agreement without parameters: context takeover both
/// ways, 32 KiB windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message, so the client may
    /// reset its decompressor.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message, so the server may
    /// reset its decompressor.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateParams {
    /// `(no_context_takeover, max_window_bits)` of what `sender` compresses.
    fn sender(&self, sender: Role) -> (bool, u8) {
        match sender {
            Role::Client => (self.client_no_context_takeover, self.client_max_window_bits),
            Role::Server => (self.server_no_context_takeover, self.server_max_window_bits),
        }
    }
}

/// One of the four permessage-deflate extension parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parameter {
    /// `server_no_context_takeover`
    ServerNoContextTakeover,
    /// `client_no_context_takeover`
    ClientNoContextTakeover,
    /// `server_max_window_bits`
    ServerMaxWindowBits,
    /// `client_max_window_bits`
    ClientMaxWindowBits,
}

impl Parameter {
    const ALL: [Parameter; 4] = [
        Parameter::ServerNoContextTakeover,
        Parameter::ClientNoContextTakeover,
        Parameter::ServerMaxWindowBits,
        Parameter::ClientMaxWindowBits,
    ];

    /// The parameter's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Parameter::ServerNoContextTakeover => "server_no_context_takeover",
            Parameter::ClientNoContextTakeover => "client_no_context_takeover",
            Parameter::ServerMaxWindowBits => "server_max_window_bits",
            Parameter::ClientMaxWindowBits => "client_max_window_bits",
        }
    }

    /// The parameter with this name, compared case-insensitively.
    fn from_name(name: &str) -> Option<Parameter> {
        Parameter::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a server's permessage-deflate response was refused. Each one means the
/// client must fail the connection (RFC 7692 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The header value does not follow the `Sec-WebSocket-Extensions`
    /// grammar.
    Syntax,
    /// The response does not name `permessage-deflate`.
    Missing,
    /// The response names `permessage-deflate` more than once.
    DuplicateExtension,
    /// A parameter that permessage-deflate does not define.
    UnknownParameter,
    /// The parameter appears more than once.
    DuplicateParameter(Parameter),
    /// The parameter takes no value but has one.
    UnexpectedValue(Parameter),
    /// The parameter needs a value but has none.
    MissingValue(Parameter),
    /// The value is not a decimal integer from 8 to 15 without leading
    /// zeros.
    InvalidWindowBits(Parameter),
    /// The response limits the client's window although the offer did not
    /// include `client_max_window_bits`.
    ClientWindowBitsNotOffered,
    /// The response's `server_max_window_bits` is larger than the offered
    /// one.
    ServerWindowBitsTooLarge,
    /// The offer had `server_max_window_bits` and the response does not.
    ServerWindowBitsMissing,
    /// The offer had `server_no_context_takeover` and the response does not.
    ServerNoContextTakeoverMissing,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Syntax => f.write_str("malformed Sec-WebSocket-Extensions value"),
            NegotiationError::Missing => f.write_str("response does not accept permessage-deflate"),
            NegotiationError::DuplicateExtension => {
                f.write_str("response accepts permessage-deflate more than once")
            }
            NegotiationError::UnknownParameter => f.write_str("unknown permessage-deflate parameter"),
            NegotiationError::DuplicateParameter(p) => write!(f, "duplicate {p} parameter"),
            NegotiationError::UnexpectedValue(p) => write!(f, "{p} must not have a value"),
            NegotiationError::MissingValue(p) => write!(f, "{p} needs a value"),
            NegotiationError::InvalidWindowBits(p) => {
                write!(f, "{p} is not an integer from 8 to 15")
            }
            NegotiationError::ClientWindowBitsNotOffered => {
                f.write_str("response sets client_max_window_bits, which the offer did not include")
            }
            NegotiationError::ServerWindowBitsTooLarge => {
                f.write_str("response's server_max_window_bits is larger than offered")
            }
            NegotiationError::ServerWindowBitsMissing => {
                f.write_str("response lacks the offered server_max_window_bits")
            }
            NegotiationError::ServerNoContextTakeoverMissing => {
                f.write_str("response lacks the offered server_no_context_takeover")
            }
        }
    }
}

impl core::error::Error for NegotiationError {}

/// Why a compressed message could not be inflated. Either one leaves the
/// [`Decompressor`] unusable: fail the connection ([`InflateError::close_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InflateError {
    /// The message inflates to more than the caller's limit.
    TooLarge,
    /// The data is not valid DEFLATE.
    Corrupt,
}

impl InflateError {
    /// The RFC 6455 close code to fail the connection with: 1009 (message too
    /// big) or 1007 (invalid payload data).
    pub const fn close_code(self) -> u16 {
        match self {
            InflateError::TooLarge => 1009,
            InflateError::Corrupt => 1007,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::TooLarge => "inflated message exceeds the size limit",
            InflateError::Corrupt => "corrupt deflate data",
        })
    }
}

impl core::error::Error for InflateError {}

// ---------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------

/// The `Sec-WebSocket-Extensions` value a client sends: one
/// `permessage-deflate` offer built from `cfg`.
#[must_use]
pub fn client_offer(cfg: &DeflateConfig) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if cfg.server_no_context_takeover {
        push_param(&mut offer, Parameter::ServerNoContextTakeover, None);
    }
    if cfg.client_no_context_takeover {
        push_param(&mut offer, Parameter::ClientNoContextTakeover, None);
    }
    if let Some(bits) = cfg.server_max_window_bits {
        push_param(&mut offer, Parameter::ServerMaxWindowBits, Some(clamp_bits(bits)));
    }
    if let Some(bits) = cfg.client_max_window_bits {
        let bits = clamp_bits(bits);
        let value = (bits < MAX_WINDOW_BITS).then_some(bits);
        push_param(&mut offer, Parameter::ClientMaxWindowBits, value);
    }
    offer
}

/// Checks the server's `Sec-WebSocket-Extensions` response against the offer
/// [`client_offer`] made from the same `cfg`, and returns the agreement.
///
/// `value` is the whole header value (several header lines joined with
/// `", "`); elements naming other extensions are left to the caller. Exactly
/// one element must be `permessage-deflate`. The response may add
/// `server_no_context_takeover`, `client_no_context_takeover` and
/// `server_max_window_bits` on its own; it must grant what the offer asked of
/// the server; and it may set `client_max_window_bits` only if the offer had
/// it. A response value above our own offered `client_max_window_bits` is
/// accepted: we keep to the smaller one we promised.
///
/// # Errors
///
/// A [`NegotiationError`] naming the first problem found: a malformed value
/// ([`NegotiationError::Syntax`], whichever extension it is in), no or two
/// `permessage-deflate` elements, an unknown, repeated or badly valued
/// parameter, or a parameter that does not answer our offer. The client must
/// then fail the connection.
pub fn client_accept_response(cfg: &DeflateConfig, value: &str) -> Result<DeflateParams, NegotiationError> {
    let mut found = None;
    for element in split_list(value) {
        let Some(element) = parse_element(element).map_err(|()| NegotiationError::Syntax)? else {
            continue;
        };
        if !element.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            continue;
        }
        if found.is_some() {
            return Err(NegotiationError::DuplicateExtension);
        }
        found = Some(PmdParams::parse(&element.params, Side::Response)?);
    }
    let response = found.ok_or(NegotiationError::Missing)?;

    if cfg.server_no_context_takeover && !response.server_no_context_takeover {
        return Err(NegotiationError::ServerNoContextTakeoverMissing);
    }
    if let Some(offered) = cfg.server_max_window_bits.map(clamp_bits) {
        match response.server_max_window_bits {
            None => return Err(NegotiationError::ServerWindowBitsMissing),
            Some(bits) if bits > offered => return Err(NegotiationError::ServerWindowBitsTooLarge),
            Some(_) => {}
        }
    }
    let client_bits = match (cfg.client_max_window_bits.map(clamp_bits), response.client_max_window_bits) {
        (None, Some(_)) => return Err(NegotiationError::ClientWindowBitsNotOffered),
        (None, None) => MAX_WINDOW_BITS,
        (Some(ours), theirs) => ours.min(theirs.flatten().unwrap_or(MAX_WINDOW_BITS)),
    };

    Ok(DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        client_no_context_takeover: response.client_no_context_takeover || cfg.client_no_context_takeover,
        server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        client_max_window_bits: client_bits,
    })
}

/// Accepts the first valid `permessage-deflate` offer among a request's
/// `Sec-WebSocket-Extensions` values and returns the agreement and the
/// `Sec-WebSocket-Extensions` value to answer with.
///
/// `offers` holds every `Sec-WebSocket-Extensions` value of the request, in
/// order; each may list several comma-separated offers. Other extensions,
/// malformed elements and invalid `permessage-deflate` offers (unknown or
/// repeated parameters, bad values) are skipped. `None` means no offer was
/// valid: answer without permessage-deflate.
#[must_use]
pub fn server_negotiate(cfg: &DeflateConfig, offers: &[&str]) -> Option<(DeflateParams, String)> {
    offers
        .iter()
        .flat_map(|value| split_list(value))
        .filter_map(|element| parse_element(element).ok().flatten())
        .filter(|element| element.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .filter_map(|element| PmdParams::parse(&element.params, Side::Offer).ok())
        .find_map(|offer| accept_offer(cfg, &offer))
}

/// The server's answer to one valid offer. Every valid offer is acceptable
/// today; the `Option` leaves room for declining.
fn accept_offer(cfg: &DeflateConfig, offer: &PmdParams) -> Option<(DeflateParams, String)> {
    let server_no_context_takeover = offer.server_no_context_takeover || cfg.server_no_context_takeover;
    let client_no_context_takeover = offer.client_no_context_takeover || cfg.client_no_context_takeover;

    let ours = cfg.server_max_window_bits.map_or(MAX_WINDOW_BITS, clamp_bits);
    let server_bits = ours.min(offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS));
    let say_server_bits = offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS;

    let wanted = cfg.client_max_window_bits.map_or(MAX_WINDOW_BITS, clamp_bits);
    let (client_bits, say_client_bits) = match offer.client_max_window_bits {
        // The offer does not let us limit the client.
        None => (MAX_WINDOW_BITS, false),
        Some(promised) => {
            let promised = promised.unwrap_or(MAX_WINDOW_BITS);
            (wanted.min(promised), wanted < MAX_WINDOW_BITS)
        }
    };

    let mut response = String::from(EXTENSION_NAME);
    if server_no_context_takeover {
        push_param(&mut response, Parameter::ServerNoContextTakeover, None);
    }
    if client_no_context_takeover {
        push_param(&mut response, Parameter::ClientNoContextTakeover, None);
    }
    if say_server_bits {
        push_param(&mut response, Parameter::ServerMaxWindowBits, Some(server_bits));
    }
    if say_client_bits {
        push_param(&mut response, Parameter::ClientMaxWindowBits, Some(client_bits));
    }
    let params = DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Some((params, response))
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Appends `; name` or `; name=bits`.
fn push_param(out: &mut String, param: Parameter, bits: Option<u8>) {
    out.push_str("; ");
    out.push_str(param.name());
    if let Some(bits) = bits {
        out.push('=');
        if bits >= 10 {
            out.push('1');
        }
        out.push(char::from(b'0' + bits % 10));
    }
}

/// Whether a permessage-deflate element is an offer or a response: they
/// differ only in `client_max_window_bits`, whose value is optional in an
/// offer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The validated parameters of one permessage-deflate offer or response.
#[derive(Default)]
struct PmdParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (offers only).
    client_max_window_bits: Option<Option<u8>>,
}

impl PmdParams {
    fn parse(params: &[RawParam<'_>], side: Side) -> Result<PmdParams, NegotiationError> {
        let mut out = PmdParams::default();
        let mut seen = [false; Parameter::ALL.len()];
        for raw in params {
            let param = Parameter::from_name(raw.name).ok_or(NegotiationError::UnknownParameter)?;
            let seen = &mut seen[param as usize];
            if core::mem::replace(seen, true) {
                return Err(NegotiationError::DuplicateParameter(param));
            }
            let value = raw.value.as_deref();
            match param {
                Parameter::ServerNoContextTakeover | Parameter::ClientNoContextTakeover => {
                    if value.is_some() {
                        return Err(NegotiationError::UnexpectedValue(param));
                    }
                    if param == Parameter::ServerNoContextTakeover {
                        out.server_no_context_takeover = true;
                    } else {
                        out.client_no_context_takeover = true;
                    }
                }
                Parameter::ServerMaxWindowBits => {
                    let value = value.ok_or(NegotiationError::MissingValue(param))?;
                    let bits = parse_bits(value).ok_or(NegotiationError::InvalidWindowBits(param))?;
                    out.server_max_window_bits = Some(bits);
                }
                Parameter::ClientMaxWindowBits => {
                    let bits = match value {
                        None if side == Side::Offer => None,
                        None => return Err(NegotiationError::MissingValue(param)),
                        Some(value) => {
                            Some(parse_bits(value).ok_or(NegotiationError::InvalidWindowBits(param))?)
                        }
                    };
                    out.client_max_window_bits = Some(bits);
                }
            }
        }
        Ok(out)
    }
}

/// `8`..`15`, decimal, without leading zeros or signs (RFC 7692 §7.1.2).
fn parse_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// One parsed element of a `Sec-WebSocket-Extensions` list.
struct Element<'a> {
    name: &'a str,
    params: Vec<RawParam<'a>>,
}

/// One `name[=value]` parameter; a quoted value has been unescaped.
struct RawParam<'a> {
    name: &'a str,
    value: Option<Cow<'a, str>>,
}

/// Splits a list at the commas outside quoted strings.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    core::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// Parses `OWS token OWS *( ";" OWS token OWS [ "=" OWS value OWS ] )`, where
/// value is a token or a quoted string (RFC 6455 §9.1, with RFC 7230's
/// optional whitespace). `Ok(None)` is an empty list element, which lists
/// may contain.
fn parse_element(element: &str) -> Result<Option<Element<'_>>, ()> {
    let mut cur = Cursor { s: element, at: 0 };
    cur.skip_ows();
    if cur.at == element.len() {
        return Ok(None);
    }
    let name = cur.token()?;
    cur.skip_ows();
    let mut params = Vec::new();
    while cur.at < element.len() {
        cur.expect(b';')?;
        cur.skip_ows();
        let name = cur.token()?;
        cur.skip_ows();
        let value = if cur.eat(b'=') {
            cur.skip_ows();
            let value =
                if cur.peek() == Some(b'"') { cur.quoted_string()? } else { Cow::Borrowed(cur.token()?) };
            cur.skip_ows();
            Some(value)
        } else {
            None
        };
        params.push(RawParam { name, value });
    }
    Ok(Some(Element { name, params }))
}

struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), ()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(())
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// `1*tchar` (RFC 7230 §3.2.6).
    fn token(&mut self) -> Result<&'a str, ()> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        if self.at == start {
            return Err(());
        }
        Ok(&self.s[start..self.at])
    }

    /// A quoted string, unescaped; the cursor is on the opening quote.
    fn quoted_string(&mut self) -> Result<Cow<'a, str>, ()> {
        self.at += 1;
        let start = self.at;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            let b = self.peek().ok_or(())?;
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped =
                        self.peek().filter(|&b| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)).ok_or(())?;
                    let buf = unescaped.get_or_insert_with(|| self.s.as_bytes()[start..self.at - 1].to_vec());
                    buf.push(escaped);
                    self.at += 1;
                }
                b'\t' | b' '..=b'~' | 0x80..=0xff => {
                    if let Some(buf) = &mut unescaped {
                        buf.push(b);
                    }
                }
                _ => return Err(()),
            }
        }
        match unescaped {
            // Removing backslashes keeps UTF-8 valid, so this cannot fail.
            Some(buf) => String::from_utf8(buf).map(Cow::Owned).map_err(|_| ()),
            None => Ok(Cow::Borrowed(&self.s[start..self.at - 1])),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------

/// Compresses the messages one end sends.
///
/// With context takeover (and a 32 KiB window) the LZ77 history carries
/// from message to message. With our side's `no_context_takeover`, or an
/// agreed window below 32 KiB (see the [module docs](self)), every message
/// starts afresh.
pub struct Compressor {
    engine: Box<CompressorOxide>,
    /// The window we promised to stay within, as a base-2 logarithm.
    window_bits: u8,
    /// Forget the history at the end of every message.
    reset_after_message: bool,
    /// `Some(2^window_bits)` when the window is limited: the input is cut
    /// into pieces of this many bytes, each ending with a full flush.
    piece: Option<usize>,
}

impl Compressor {
    /// A compressor for what `role` sends under `params`, at DEFLATE `level`
    /// (0 to 9; larger values count as 9; see
    /// [`DeflateConfig::compression_level`]).
    pub fn new(params: &DeflateParams, role: Role, level: u8) -> Compressor {
        let (no_context_takeover, window_bits) = params.sender(role);
        let window_bits = clamp_bits(window_bits);
        let level = level.min(9);
        // Negative window bits: raw DEFLATE, no zlib header.
        let flags = create_comp_flags_from_zip_params(i32::from(level), -15, 0);
        // Level 0 stores without back-references and needs no pieces.
        let piece = (window_bits < MAX_WINDOW_BITS && level > 0).then(|| 1usize << window_bits);
        Compressor {
            engine: Box::new(CompressorOxide::new(flags)),
            window_bits,
            reset_after_message: no_context_takeover || piece.is_some(),
            piece,
        }
    }

    /// The window this compressor stays within, as a base-2 logarithm.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Compresses one whole message and appends it to `out`, without the
    /// trailing `00 00 FF FF` (RFC 7692 §7.2.1). The caller sends the bytes
    /// in frames whose first has RSV1 set.
    pub fn compress_message(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if payload.is_empty() {
            // With the tail the receiver adds, a lone empty stored block header
            // makes an empty stored block; the engine needs no update.
            out.push(0x00);
            return;
        }
        let start = out.len();
        match self.piece {
            Some(piece) => {
                for chunk in payload.chunks(piece) {
                    deflate_into(&mut self.engine, chunk, out, TDEFLFlush::Full);
                }
            }
            None => {
                let flush = if self.reset_after_message { TDEFLFlush::Full } else { TDEFLFlush::Sync };
                deflate_into(&mut self.engine, payload, out, flush);
            }
        }
        // Sync and full flushes end with an empty stored block.
        debug_assert!(out[start..].ends_with(&TAIL));
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("window_bits", &self.window_bits)
            .field("reset_after_message", &self.reset_after_message)
            .finish_non_exhaustive()
    }
}

/// Feeds all of `input` to `engine` and appends everything it writes, up to
/// and including the flush.
///
/// The engine hands its output to a callback that appends to `out`, so it
/// never has to hold output back for want of room. Handing it a fixed-size
/// output slice instead lost data: when a flush's last block did not fit,
/// miniz_oxide kept the rest for the next call, and the next call only
/// copied that rest out and returned, short of the room it was given,
/// without compressing the input still in its lookahead or writing the
/// flush. "Short of the room" looked like "flush complete", and the
/// message's tail stayed in the engine (to come out at the head of the next
/// message, or never). With a callback there is no such state: one call
/// consumes all the input and writes the whole flush, and the result says
/// whether it did.
fn deflate_into(engine: &mut CompressorOxide, input: &[u8], out: &mut Vec<u8>, flush: TDEFLFlush) {
    let (status, consumed) = compress_to_output(engine, input, flush, |bytes| {
        out.extend_from_slice(bytes);
        true
    });
    // Only misuse fails (a flush after `Finish`, which this module never
    // asks for); the output then does not end with the flush's empty stored
    // block, which `compress_message` checks.
    debug_assert!(
        status == TDEFLStatus::Okay && consumed == input.len(),
        "deflate stopped early: {status:?}, {consumed} of {} bytes",
        input.len()
    );
}

/// Inflates the messages the peer sends, frame by frame as they arrive.
///
/// For each compressed message: [`begin_message`](Self::begin_message), then
/// [`decompress_chunk`](Self::decompress_chunk) with each frame's payload,
/// then [`finish_message`](Self::finish_message); or
/// [`decompress_message`](Self::decompress_message) for a whole message.
///
/// The window is always 32 KiB, whatever the peer's agreed window. When the
/// peer's `no_context_takeover` was agreed the history is cleared between
/// messages; otherwise it carries over, also across a block with BFINAL set
/// (RFC 7692 §7.2.3.4), after which the message's remaining data is read as a
/// new DEFLATE stream. A back-reference to before the start of the history
/// yields zero bytes instead of an error, as miniz_oxide's wrapping window
/// cannot tell.
pub struct Decompressor {
    state: Box<InflateState>,
    /// Clear the history between messages (the peer resets its compressor).
    reset_between_messages: bool,
    /// Input was fed since the history was last cleared.
    dirty: bool,
    /// Bytes inflated for the current message.
    produced: usize,
}

impl Decompressor {
    /// A decompressor for what the peer of `role` sends under `params`.
    pub fn new(params: &DeflateParams, role: Role) -> Decompressor {
        let peer = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        let (no_context_takeover, _) = params.sender(peer);
        Decompressor {
            state: InflateState::new_boxed(DataFormat::Raw),
            reset_between_messages: no_context_takeover,
            dirty: false,
            produced: 0,
        }
    }

    /// Starts a new message: restarts the size count and, under the peer's
    /// `no_context_takeover`, clears a history left by an unfinished message.
    pub fn begin_message(&mut self) {
        self.produced = 0;
        if self.reset_between_messages && self.dirty {
            self.state.reset_as(ZeroReset);
            self.dirty = false;
        }
    }

    /// Inflates one frame's payload of the current message and appends the
    /// result to `out`.
    ///
    /// `max_total` bounds the bytes the whole message may inflate to (what
    /// this call and the earlier ones of the same message appended); going
    /// over is [`InflateError::TooLarge`], found while inflating: output
    /// comes in steps of at most 32 KiB and never more than one byte past the
    /// limit, which is cut off again.
    ///
    /// # Errors
    ///
    /// [`InflateError::TooLarge`] past `max_total`, [`InflateError::Corrupt`]
    /// for data that is not DEFLATE. `out` then holds a prefix of the message
    /// (within the limit) and the stream cannot go on.
    pub fn decompress_chunk(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
    ) -> Result<(), InflateError> {
        self.decompress_chunk_bounded(input, out, max_total, usize::MAX).map(|_| ())
    }

    /// [`decompress_chunk`](Self::decompress_chunk), appending at most
    /// `max_out` bytes to `out`, so that the caller's buffer for inflated
    /// data stays small however far the input inflates (a 16 KiB message
    /// may inflate to 16 MiB). Returns how many bytes of `input` it took.
    /// When `out` grew by exactly `max_out`, more output may be pending:
    /// call again with the rest of `input` (possibly empty) until `out`
    /// grows by less.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn decompress_chunk_bounded(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
        max_out: usize,
    ) -> Result<usize, InflateError> {
        if !input.is_empty() {
            self.dirty = true;
        }
        self.inflate_into(input, out, max_total, max_out)
    }

    /// Ends the current message: inflates the `00 00 FF FF` RFC 7692 §7.2.2
    /// appends, with the same `max_total` as the message's chunks, and, under
    /// the peer's `no_context_takeover`, clears the history.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn finish_message(&mut self, out: &mut Vec<u8>, max_total: usize) -> Result<(), InflateError> {
        self.dirty = true;
        self.inflate_into(&TAIL, out, max_total, usize::MAX)?;
        self.produced = 0;
        if self.reset_between_messages {
            self.state.reset_as(ZeroReset);
            self.dirty = false;
        }
        Ok(())
    }

    /// Inflates one whole message: [`begin_message`](Self::begin_message),
    /// [`decompress_chunk`](Self::decompress_chunk) and
    /// [`finish_message`](Self::finish_message) in one call.
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    pub fn decompress_message(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
    ) -> Result<(), InflateError> {
        self.begin_message();
        self.decompress_chunk(payload, out, max_total)?;
        self.finish_message(out, max_total)
    }

    /// Inflates `input` into `out`, at most `max_out` bytes; returns how
    /// many input bytes were taken (all of them unless `out` filled up).
    fn inflate_into(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max_total: usize,
        max_out: usize,
    ) -> Result<usize, InflateError> {
        let given = input.len();
        let mut written = 0usize;
        loop {
            // One byte past the limit tells "exactly at the limit" from "over".
            let allowed = max_total.saturating_sub(self.produced);
            // Small inputs get small steps: zeroing a whole step for every
            // tiny read would cost 32 KiB of writes per byte received.
            let step = INFLATE_STEP.min(input.len().saturating_mul(8).max(1024));
            let room = allowed.saturating_add(1).min(step).min(max_out - written);
            if room == 0 {
                // `out` is full; the rest waits for the next call.
                return Ok(given - input.len());
            }
            let start = out.len();
            out.resize(start + room, 0);
            let result = inflate(&mut self.state, input, &mut out[start..], MZFlush::None);
            out.truncate(start + result.bytes_written);
            input = &input[result.bytes_consumed..];
            written += result.bytes_written;
            self.produced += result.bytes_written;
            if self.produced > max_total {
                out.truncate(out.len().saturating_sub(self.produced - max_total));
                return Err(InflateError::TooLarge);
            }
            match result.status {
                // A block with BFINAL set ended the DEFLATE stream. Start a new
                // one in the same window: RFC 7692 §7.2.3.4 follows such a
                // block with more blocks. Only the block parser restarts; the
                // window and its position stay.
                Ok(MZStatus::StreamEnd) => self.state.decompressor().init(),
                Ok(_) => {}
                // No progress for want of input.
                Err(MZError::Buf) if input.is_empty() => return Ok(given),
                Err(_) => return Err(InflateError::Corrupt),
            }
            if input.is_empty() && result.bytes_written < room {
                return Ok(given);
            }
            if result.bytes_consumed == 0 && result.bytes_written == 0 {
                // Cannot happen with input and room; never loop on it.
                return Err(InflateError::Corrupt);
            }
        }
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("reset_between_messages", &self.reset_between_messages)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::{format, vec};
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use proptest::prelude::*;

    // RFC 7692 §7.2.3.1 to §7.2.3.5: "Hello" in various encodings.
    const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
    const HELLO_STORED: &[u8] = &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    const HELLO_BFINAL: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    const HELLO_TWO_BLOCKS: &[u8] =
        &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];

    const MIB: usize = 1 << 20;
    const NO_LIMIT: usize = usize::MAX;

    fn params(no_context_takeover: bool, window_bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            server_max_window_bits: window_bits,
            client_max_window_bits: window_bits,
        }
    }

    fn compress(c: &mut Compressor, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        c.compress_message(payload, &mut out);
        out
    }

    fn inflate_msg(d: &mut Decompressor, message: &[u8]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        d.decompress_message(message, &mut out, NO_LIMIT)?;
        Ok(out)
    }

    /// xorshift64*: incompressible bytes without a dependency.
    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    /// A 20,000-byte random block repeated with one byte in 1,000 changed:
    /// compresses well only with back-references 20,000 bytes long, so a
    /// window-limited compressor that cheated would be caught.
    fn repetitive_bytes(len: usize) -> Vec<u8> {
        let block = random_bytes(20_000, 7);
        let mut data: Vec<u8> = block.iter().copied().cycle().take(len).collect();
        for (i, b) in data.iter_mut().enumerate().step_by(1000) {
            *b = b.wrapping_add(i as u8);
        }
        data
    }

    fn sample_messages() -> Vec<Vec<u8>> {
        vec![
            Vec::new(),
            b"Hello".to_vec(),
            b"Hello, Hello, Hello! permessage-deflate round trip".to_vec(),
            random_bytes(MIB, 1),
            repetitive_bytes(MIB),
            Vec::new(),
            b"Hello".to_vec(),
        ]
    }

    /// Inflates one message with zlib (after appending the tail), taking
    /// `step` output bytes per call. With `step == 1` zlib checks every
    /// back-reference against its window exactly ("invalid distance too far
    /// back"); with larger steps it lets references into the current call's
    /// output through.
    fn zlib_inflate(z: &mut Decompress, message: &[u8], step: usize) -> Result<Vec<u8>, String> {
        let input = [message, &TAIL].concat();
        let (mut at, mut out, mut buf) = (0, Vec::new(), vec![0; step]);
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            z.decompress(&input[at..], &mut buf, FlushDecompress::None).map_err(|e| e.to_string())?;
            let read = (z.total_in() - in0) as usize;
            let wrote = (z.total_out() - out0) as usize;
            at += read;
            out.extend_from_slice(&buf[..wrote]);
            if at == input.len() && wrote < step {
                return Ok(out);
            }
            if read == 0 && wrote == 0 {
                return Err("zlib made no progress".to_string());
            }
        }
    }

    /// Compresses one message with zlib, sync-flushed, tail removed.
    fn zlib_deflate(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 64);
        let mut at = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let in0 = z.total_in();
            z.compress_vec(&payload[at..], &mut out, FlushCompress::Sync).unwrap();
            at += (z.total_in() - in0) as usize;
            if at == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.is_empty() {
            // zlib writes nothing for a second sync flush in a row: an empty
            // message after another message. Peers send a lone 0x00.
            assert!(payload.is_empty());
            return vec![0x00];
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - TAIL.len());
        out
    }

    // --- RFC 7692 §7.2.3 examples ------------------------------------------

    #[test]
    fn rfc_examples_inflate() {
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello"); // §7.2.3.1
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello"); // §7.2.3.2

        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO_STORED).unwrap(), b"Hello"); // §7.2.3.3

        // §7.2.3.4: BFINAL set; the history survives it.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Server);
        assert_eq!(inflate_msg(&mut d, HELLO_BFINAL).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_BFINAL).unwrap(), b"Hello");

        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO_TWO_BLOCKS).unwrap(), b"Hello"); // §7.2.3.5

        // §7.2.3.1, fragmented: the payload split over two frames.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        d.begin_message();
        d.decompress_chunk(&HELLO[..3], &mut out, 5).unwrap();
        d.decompress_chunk(&HELLO[3..], &mut out, 5).unwrap();
        d.finish_message(&mut out, 5).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc_examples_compress() {
        let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        // Context takeover: the second copy is a back-reference (§7.2.3.2).
        assert_eq!(compress(&mut c, b"Hello"), HELLO_AGAIN);
    }

    #[test]
    fn no_context_takeover_resets_both_ends() {
        // Our compressor forgets: the second "Hello" is spelled out again.
        let mut c = Compressor::new(&params(true, 15), Role::Client, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        // A window-limited one forgets too, with context takeover agreed.
        let mut c = Compressor::new(&params(false, 10), Role::Server, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);
        assert_eq!(compress(&mut c, b"Hello"), HELLO);

        // A decompressor for a peer that resets forgets as well: the
        // back-reference of §7.2.3.2 finds a cleared window.
        let mut d = Decompressor::new(&params(true, 15), Role::Server);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello");
        // ("H", then 4 bytes from 5 back: zeros, not "ello".)
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"H\0\0\0\0");
        // Only the peer's flag counts: a client inflates what the server
        // sends, and here only the client resets.
        let p = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
        let mut d = Decompressor::new(&p, Role::Client);
        assert_eq!(inflate_msg(&mut d, HELLO).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut d, HELLO_AGAIN).unwrap(), b"Hello");
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        for (nct, bits, level) in [(false, 15, 6), (true, 15, 6), (false, 9, 6), (false, 15, 0)] {
            let mut c = Compressor::new(&params(nct, bits), Role::Client, level);
            let mut d = Decompressor::new(&params(nct, bits), Role::Server);
            let mut z = Decompress::new(false);
            for payload in [&b""[..], b"abcabcabc", b"", b"", b"abcabcabc"] {
                let message = compress(&mut c, payload);
                if payload.is_empty() {
                    assert_eq!(message, [0x00]);
                }
                assert_eq!(inflate_msg(&mut d, &message).unwrap(), payload);
                assert_eq!(zlib_inflate(&mut z, &message, 4096).unwrap(), payload);
            }
        }
    }

    // --- Round trips against zlib -------------------------------------------

    /// Our compressor, every window size, with and without context takeover,
    /// inflated by zlib with exactly that window (taking output one byte at a
    /// time, so zlib checks every distance) and by our decompressor.
    #[test]
    fn ours_to_zlib_every_window() {
        let messages = sample_messages();
        let zlib = |bits: u8| Decompress::new_with_window_bits(false, bits.max(9));
        for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
            // flate2 takes 9..=15: a 256-byte window is checked as 512.
            let keep = params(false, bits);
            let reset = params(true, bits);
            let mut ours = Compressor::new(&keep, Role::Server, 6);
            let mut ours_reset = Compressor::new(&reset, Role::Server, 6);
            assert_eq!(ours.window_bits(), bits);
            let (mut d_keep, mut z_keep) = (Decompressor::new(&keep, Role::Client), zlib(bits));
            let mut d_reset = Decompressor::new(&reset, Role::Client);
            for m in &messages {
                let message = compress(&mut ours, m);
                // Small windows cost at most a few bytes per piece.
                assert!(message.len() <= m.len() + m.len() / 16 + 16, "bits {bits}");
                // A limited window never carries context, so the same bytes
                // also suit peers that reset between messages. With the full
                // window the resetting compressor has its own output.
                let message_reset =
                    if bits < MAX_WINDOW_BITS { message.clone() } else { compress(&mut ours_reset, m) };
                for (message, d, z) in
                    [(&message, &mut d_keep, &mut z_keep), (&message_reset, &mut d_reset, &mut zlib(bits))]
                {
                    let got = zlib_inflate(z, message, 1).unwrap_or_else(|e| panic!("bits {bits}: {e}"));
                    assert!(got == *m, "zlib output differs: bits {bits}");
                    assert!(inflate_msg(d, message).unwrap() == *m, "bits {bits}");
                }
            }
            // The full window with context takeover does carry context.
            if bits == MAX_WINDOW_BITS {
                let again = compress(&mut ours, &messages[4]).len();
                let fresh = compress(&mut Compressor::new(&keep, Role::Server, 6), &messages[4]).len();
                assert!(again < fresh / 2, "{again} vs {fresh}");
            }
        }
    }

    /// The check above has teeth: zlib with a 512-byte window refuses what a
    /// 32 KiB-window compressor makes of data that repeats every 20,000 bytes.
    #[test]
    fn zlib_window_check_catches_far_references() {
        let data = repetitive_bytes(64 * 1024);
        let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
        let message = compress(&mut c, &data);
        assert!(message.len() < 30_000, "compressed to {}", message.len());
        for bits in [9, 12, 14] {
            let mut z = Decompress::new_with_window_bits(false, bits);
            let err = zlib_inflate(&mut z, &message, 1).unwrap_err();
            assert!(err.contains("too far back"), "{err}");
        }
        let mut z = Decompress::new_with_window_bits(false, 15);
        assert!(zlib_inflate(&mut z, &message, 1).unwrap() == data);
    }

    #[test]
    fn window_limit_costs_ratio_not_correctness() {
        let data = repetitive_bytes(256 * 1024);
        let size = |bits| compress(&mut Compressor::new(&params(false, bits), Role::Server, 6), &data).len();
        // 20,000-byte repeats fit a 32 KiB window only.
        assert!(size(15) * 4 < size(14), "{} vs {}", size(15), size(14));
    }

    /// zlib's compressor, every window size, with and without context
    /// takeover, inflated by ours.
    #[test]
    fn zlib_to_ours_every_window() {
        let messages = sample_messages();
        for bits in 9..=MAX_WINDOW_BITS {
            for nct in [false, true] {
                let p = params(nct, bits);
                let mut z = Compress::new_with_window_bits(Compression::new(6), false, bits);
                let mut d = Decompressor::new(&p, Role::Server);
                for m in &messages {
                    let message = zlib_deflate(&mut z, m);
                    if nct {
                        z.reset();
                    }
                    let got = inflate_msg(&mut d, &message).unwrap();
                    assert!(got == *m, "bits {bits} nct {nct}");
                }
            }
        }
    }

    #[test]
    fn every_level_round_trips() {
        let data = [b"Hello".repeat(1000), repetitive_bytes(100_000), random_bytes(70_000, 3)];
        for level in 0..=12 {
            for bits in [9, 15] {
                let mut c = Compressor::new(&params(false, bits), Role::Client, level);
                let mut d = Decompressor::new(&params(false, bits), Role::Server);
                let mut z = Decompress::new_with_window_bits(false, bits);
                for m in &data {
                    let message = compress(&mut c, m);
                    assert!(zlib_inflate(&mut z, &message, 1).unwrap() == *m, "level {level}");
                    assert!(inflate_msg(&mut d, &message).unwrap() == *m, "level {level}");
                }
            }
        }
    }

    // --- Limits and corrupt input -------------------------------------------

    /// One MiB of zeros, compressed: about a kilobyte.
    fn zeros_message() -> Vec<u8> {
        let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 9);
        compress(&mut c, &vec![0; MIB])
    }

    #[test]
    fn bomb_is_refused_while_inflating() {
        let piece = zeros_message();
        assert!(piece.len() < 2048, "{}", piece.len());

        // A kilobyte that inflates to a MiB is refused at 64 KiB.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        assert_eq!(d.decompress_message(&piece, &mut out, 64 * 1024), Err(InflateError::TooLarge));
        assert_eq!(out.len(), 64 * 1024);
        assert!(out.capacity() <= 2 * (64 * 1024 + INFLATE_STEP), "{}", out.capacity());

        // 1,024 pieces, each sync-flushed, are one stream of 1 GiB of zeros
        // in about a MiB. Two of them inflate to 2 MiB, so all of them to
        // 1 GiB.
        let mut bomb = Vec::new();
        for _ in 0..1024 {
            bomb.extend_from_slice(&piece);
            bomb.extend_from_slice(&TAIL);
        }
        bomb.truncate(bomb.len() - TAIL.len());
        assert!(bomb.len() < 2 * MIB);
        let two = &bomb[..2 * piece.len() + TAIL.len()];
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        d.decompress_message(two, &mut out, NO_LIMIT).unwrap();
        assert!(out.len() == 2 * MIB && out.iter().all(|&b| b == 0));

        // The whole bomb, one-shot: refused at 1 MiB, `out` never near 1 GiB.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        assert_eq!(d.decompress_message(&bomb, &mut out, MIB), Err(InflateError::TooLarge));
        assert_eq!(out.len(), MIB);
        assert!(out.capacity() <= 2 * (MIB + INFLATE_STEP), "{}", out.capacity());

        // Frame by frame: refused within the first two kilobytes of input.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        d.begin_message();
        let fed = bomb
            .chunks(1024)
            .position(|chunk| d.decompress_chunk(chunk, &mut out, MIB).is_err())
            .expect("the bomb went through");
        assert!(fed <= 1, "refused only after {} KiB", fed + 1);
        assert!(out.len() <= MIB);

        // Peak memory of the whole test process, tests running alongside
        // included, stays far below the 1 GiB the bomb holds (Linux only).
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let peak_kib: usize = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmHWM in /proc/self/status");
            assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
        }
    }

    #[test]
    fn limit_is_exact_and_per_message() {
        let payload = repetitive_bytes(100_000);
        let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
        let message = compress(&mut c, &payload);
        let limit = payload.len();

        let mut d = Decompressor::new(&params(true, 15), Role::Client);
        for _ in 0..3 {
            // Per message: the count restarts, so repeating it is fine.
            let mut out = Vec::new();
            d.decompress_message(&message, &mut out, limit).unwrap();
            assert!(out == payload);
        }
        let mut out = Vec::new();
        assert_eq!(d.decompress_message(&message, &mut out, limit - 1), Err(InflateError::TooLarge));
        assert_eq!(out.len(), limit - 1);

        // Across frames of one message the count adds up, even when the
        // caller empties `out` in between.
        let mut d = Decompressor::new(&params(true, 15), Role::Client);
        let mut total = 0;
        d.begin_message();
        let mut result = Ok(());
        for chunk in message.chunks(100) {
            let mut out = Vec::new();
            result = d.decompress_chunk(chunk, &mut out, limit - 1);
            total += out.len();
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            let mut out = Vec::new();
            result = d.finish_message(&mut out, limit - 1);
            total += out.len();
        }
        assert_eq!(result, Err(InflateError::TooLarge));
        assert_eq!(total, limit - 1);

        // An empty message fits a zero limit.
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        let mut out = Vec::new();
        d.decompress_message(&[0x00], &mut out, 0).unwrap();
        assert!(out.is_empty());
        assert_eq!(d.decompress_message(HELLO, &mut out, 0), Err(InflateError::TooLarge));
    }

    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        used: u32,
    }

    impl BitWriter {
        /// `n` bits of `value`, least significant first.
        fn put(&mut self, value: u32, n: u32) {
            for i in 0..n {
                if self.used.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = (value >> i) & 1;
                *self.bytes.last_mut().unwrap() |= (bit as u8) << (self.used % 8);
                self.used += 1;
            }
        }

        /// A Huffman code of `n` bits, most significant first.
        fn code(&mut self, code: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((code >> i) & 1, 1);
            }
        }

        fn finish(self) -> Vec<u8> {
            self.bytes
        }
    }

    #[test]
    fn corrupt_input_is_refused() {
        // A fixed-Huffman block: "a", then length 3 with distance code 30,
        // which DEFLATE leaves undefined. Bits go in LSB first, Huffman codes
        // MSB first.
        let mut bad_distance = BitWriter::default();
        bad_distance.put(0b0, 1); // BFINAL
        bad_distance.put(0b01, 2); // BTYPE fixed
        bad_distance.code(0x30 + u32::from(b'a'), 8);
        bad_distance.code(0b000_0001, 7); // length code 257: 3 bytes
        bad_distance.code(30, 5);
        let bad_distance = bad_distance.finish();
        // The same with distance code 0 (distance 1) is fine: "aaaa".
        let mut good = BitWriter::default();
        good.put(0b0, 1);
        good.put(0b01, 2);
        good.code(0x30 + u32::from(b'a'), 8);
        good.code(0b000_0001, 7);
        good.code(0, 5);
        good.code(0, 7); // end of block
        good.put(0b000, 3); // the stored block the tail completes
        let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
        assert_eq!(inflate_msg(&mut d, &good.finish()).unwrap(), b"aaaa");

        let cases: [&[u8]; 4] = [
            &[0xff, 0xff, 0xff],             // BTYPE 11 is reserved
            &[0x00, 0x05, 0x00, 0x00, 0x00], // stored block: NLEN is not !LEN
            &[0x04, 0x00, 0xfe, 0xff],       // dynamic block with bad code lengths
            &bad_distance,
        ];
        for case in cases {
            let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
            let mut out = Vec::new();
            assert_eq!(
                d.decompress_message(case, &mut out, NO_LIMIT),
                Err(InflateError::Corrupt),
                "{case:02x?}"
            );
            // And it stays broken.
            assert_eq!(d.decompress_message(HELLO, &mut out, NO_LIMIT), Err(InflateError::Corrupt));
        }
    }

    #[test]
    fn error_texts() {
        assert_eq!(InflateError::TooLarge.to_string(), "inflated message exceeds the size limit");
        assert_eq!(InflateError::Corrupt.to_string(), "corrupt deflate data");
        assert_eq!(InflateError::TooLarge.close_code(), 1009);
        assert_eq!(InflateError::Corrupt.close_code(), 1007);
        let p = Parameter::ServerMaxWindowBits;
        let all = [
            NegotiationError::Syntax,
            NegotiationError::Missing,
            NegotiationError::DuplicateExtension,
            NegotiationError::UnknownParameter,
            NegotiationError::DuplicateParameter(p),
            NegotiationError::UnexpectedValue(p),
            NegotiationError::MissingValue(p),
            NegotiationError::InvalidWindowBits(p),
            NegotiationError::ClientWindowBitsNotOffered,
            NegotiationError::ServerWindowBitsTooLarge,
            NegotiationError::ServerWindowBitsMissing,
            NegotiationError::ServerNoContextTakeoverMissing,
        ];
        let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(t.starts_with(|c: char| c.is_ascii_lowercase()), "{t}");
            assert!(!texts[..i].contains(t), "{t} twice");
        }
        assert_eq!(texts[7], "server_max_window_bits is not an integer from 8 to 15");
    }

    // --- Negotiation ----------------------------------------------------------

    #[test]
    fn client_offers() {
        let default = DeflateConfig::default();
        assert_eq!(client_offer(&default), "permessage-deflate; client_max_window_bits");
        let none = DeflateConfig { client_max_window_bits: None, ..default };
        assert_eq!(client_offer(&none), "permessage-deflate");
        let all = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(9),
            compression_level: 1,
        };
        assert_eq!(
            client_offer(&all),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9"
        );
        let clamped =
            DeflateConfig { server_max_window_bits: Some(3), client_max_window_bits: Some(40), ..default };
        assert_eq!(
            client_offer(&clamped),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits"
        );
    }

    fn response_to(cfg: &DeflateConfig, offers: &[&str]) -> Option<String> {
        server_negotiate(cfg, offers).map(|(_, response)| response)
    }

    #[test]
    fn server_accepts_valid_offers() {
        let cfg = DeflateConfig::default();
        let cases: &[(&str, &str)] = &[
            ("permessage-deflate", "permessage-deflate"),
            ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
            ("permessage-deflate; client_max_window_bits=9", "permessage-deflate"),
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover",
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=10",
            ),
            ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
            (
                "permessage-deflate; server_max_window_bits=15",
                "permessage-deflate; server_max_window_bits=15",
            ),
            // Quoted values, escapes, case and whitespace.
            (
                "permessage-deflate; server_max_window_bits=\"12\"",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; server_max_window_bits=\"1\\3\"",
                "permessage-deflate; server_max_window_bits=13",
            ),
            (
                " \tPerMessage-Deflate ;\tSERVER_MAX_WINDOW_BITS = 11 ; Client_No_Context_Takeover ",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=11",
            ),
            // Other extensions and invalid offers before it are skipped.
            ("x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"),
            (
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; server_max_window_bits=9",
            ),
            (
                "permessage-deflate; foo, permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
            ),
            // A comma inside a quoted string does not split the list.
            (
                "foo; bar=\"x, permessage-deflate; server_max_window_bits=9, y\", \
                 permessage-deflate; server_max_window_bits=12",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (", ,permessage-deflate,", "permessage-deflate"),
        ];
        for (offer, want) in cases {
            assert_eq!(response_to(&cfg, &[offer]).as_deref(), Some(*want), "offer {offer:?}");
        }
        // Offers spread over several header lines, in order.
        let offers = [
            "foo",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=14",
        ];
        assert_eq!(response_to(&cfg, &offers).unwrap(), "permessage-deflate; server_max_window_bits=14");

        let (p, _) = server_negotiate(
            &cfg,
            &["permessage-deflate; client_max_window_bits=9; server_max_window_bits=10"],
        )
        .unwrap();
        let want = DeflateParams {
            server_max_window_bits: 10,
            client_max_window_bits: 9,
            ..DeflateParams::default()
        };
        assert_eq!(p, want);
    }

    #[test]
    fn server_skips_invalid_offers() {
        let cfg = DeflateConfig::default();
        let invalid = [
            "",
            " , ",
            "x-webkit-deflate-frame",
            "permessage-deflate-x",
            // Bad values.
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=\"\"",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=\"abc\"",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"\"",
            // Duplicates, in any spelling.
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER",
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            // Unknown parameters.
            "permessage-deflate; foo",
            "permessage-deflate; client_max_window_bits; mux=1",
            // Syntax.
            "permessage-deflate;",
            "permessage-deflate; =9",
            "permessage-deflate server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; server_max_window_bits=10 11",
            "permessage-deflate; server_max_window_bits==10",
            "\"permessage-deflate\"",
        ];
        for offer in invalid {
            assert_eq!(response_to(&cfg, &[offer]), None, "offer {offer:?}");
        }
        assert_eq!(response_to(&cfg, &invalid), None);
        assert_eq!(response_to(&cfg, &[]), None);
    }

    #[test]
    fn server_applies_its_config() {
        let plain = "permessage-deflate";
        let base = DeflateConfig::default();
        let cases: &[(DeflateConfig, &str, &str, DeflateParams)] = &[
            (
                DeflateConfig { server_no_context_takeover: true, ..base },
                plain,
                "permessage-deflate; server_no_context_takeover",
                DeflateParams { server_no_context_takeover: true, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { client_no_context_takeover: true, ..base },
                plain,
                "permessage-deflate; client_no_context_takeover",
                DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { server_max_window_bits: Some(10), ..base },
                plain,
                "permessage-deflate; server_max_window_bits=10",
                DeflateParams { server_max_window_bits: 10, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { server_max_window_bits: Some(10), ..base },
                "permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; server_max_window_bits=9",
                DeflateParams { server_max_window_bits: 9, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { server_max_window_bits: Some(10), ..base },
                "permessage-deflate; server_max_window_bits=12",
                "permessage-deflate; server_max_window_bits=10",
                DeflateParams { server_max_window_bits: 10, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { client_max_window_bits: Some(10), ..base },
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=10",
                DeflateParams { client_max_window_bits: 10, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { client_max_window_bits: Some(10), ..base },
                "permessage-deflate; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9",
                DeflateParams { client_max_window_bits: 9, ..DeflateParams::default() },
            ),
            // The offer does not let us limit the client: accepted anyway.
            (
                DeflateConfig { client_max_window_bits: Some(10), ..base },
                plain,
                "permessage-deflate",
                DeflateParams::default(),
            ),
            (
                DeflateConfig { client_max_window_bits: None, ..base },
                "permessage-deflate; client_max_window_bits=12",
                "permessage-deflate",
                DeflateParams { client_max_window_bits: 12, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { server_max_window_bits: Some(2), client_max_window_bits: Some(99), ..base },
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_max_window_bits=8",
                DeflateParams { server_max_window_bits: 8, ..DeflateParams::default() },
            ),
        ];
        for (cfg, offer, want_response, want_params) in cases {
            let (p, response) = server_negotiate(cfg, &[offer]).unwrap();
            assert_eq!(response, *want_response, "{cfg:?} {offer}");
            assert_eq!(p, *want_params, "{cfg:?} {offer}");
        }
    }

    #[test]
    fn client_checks_responses() {
        use NegotiationError as E;
        use Parameter as P;
        let base = DeflateConfig::default();
        let asks_server =
            DeflateConfig { server_no_context_takeover: true, server_max_window_bits: Some(10), ..base };
        let no_client_bits = DeflateConfig { client_max_window_bits: None, ..base };
        let cases: &[(&DeflateConfig, &str, NegotiationError)] = &[
            (&base, "", E::Missing),
            (&base, "x-webkit-deflate-frame", E::Missing),
            (&base, "permessage-deflate, permessage-deflate", E::DuplicateExtension),
            (&base, "permessage-deflate;", E::Syntax),
            (&base, "permessage-deflate; server_max_window_bits=\"10", E::Syntax),
            (&base, "foo bar, permessage-deflate", E::Syntax),
            (&base, "permessage-deflate; foo", E::UnknownParameter),
            (&base, "permessage-deflate; foo=1", E::UnknownParameter),
            (
                &base,
                "permessage-deflate; server_no_context_takeover; Server_No_Context_Takeover",
                E::DuplicateParameter(P::ServerNoContextTakeover),
            ),
            (
                &base,
                "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
                E::DuplicateParameter(P::ClientMaxWindowBits),
            ),
            (
                &base,
                "permessage-deflate; client_no_context_takeover=true",
                E::UnexpectedValue(P::ClientNoContextTakeover),
            ),
            (&base, "permessage-deflate; server_max_window_bits", E::MissingValue(P::ServerMaxWindowBits)),
            (&base, "permessage-deflate; client_max_window_bits", E::MissingValue(P::ClientMaxWindowBits)),
            (
                &base,
                "permessage-deflate; server_max_window_bits=7",
                E::InvalidWindowBits(P::ServerMaxWindowBits),
            ),
            (
                &base,
                "permessage-deflate; server_max_window_bits=16",
                E::InvalidWindowBits(P::ServerMaxWindowBits),
            ),
            (
                &base,
                "permessage-deflate; server_max_window_bits=abc",
                E::InvalidWindowBits(P::ServerMaxWindowBits),
            ),
            (
                &base,
                "permessage-deflate; client_max_window_bits=\"7\"",
                E::InvalidWindowBits(P::ClientMaxWindowBits),
            ),
            (&no_client_bits, "permessage-deflate; client_max_window_bits=10", E::ClientWindowBitsNotOffered),
            (
                &asks_server,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                E::ServerWindowBitsTooLarge,
            ),
            (&asks_server, "permessage-deflate; server_no_context_takeover", E::ServerWindowBitsMissing),
            (
                &asks_server,
                "permessage-deflate; server_max_window_bits=10",
                E::ServerNoContextTakeoverMissing,
            ),
        ];
        for (cfg, response, want) in cases {
            assert_eq!(client_accept_response(cfg, response), Err(*want), "response {response:?}");
        }
    }

    #[test]
    fn client_accepts_valid_responses() {
        let base = DeflateConfig::default();
        let cases: &[(DeflateConfig, &str, DeflateParams)] = &[
            (base, "permessage-deflate", DeflateParams::default()),
            (base, "  PERMESSAGE-DEFLATE  ", DeflateParams::default()),
            // What the server may add on its own.
            (
                base,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=\"12\"",
                DeflateParams {
                    server_no_context_takeover: true,
                    client_no_context_takeover: true,
                    server_max_window_bits: 12,
                    ..DeflateParams::default()
                },
            ),
            (
                base,
                "permessage-deflate; client_max_window_bits=9",
                DeflateParams { client_max_window_bits: 9, ..DeflateParams::default() },
            ),
            // We promised 10; a looser limit does not loosen our promise.
            (
                DeflateConfig { client_max_window_bits: Some(10), ..base },
                "permessage-deflate; client_max_window_bits=12",
                DeflateParams { client_max_window_bits: 10, ..DeflateParams::default() },
            ),
            // Offered client_no_context_takeover binds us without an echo.
            (
                DeflateConfig { client_no_context_takeover: true, ..base },
                "permessage-deflate",
                DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() },
            ),
            (
                DeflateConfig { server_max_window_bits: Some(12), ..base },
                "permessage-deflate; server_max_window_bits=9",
                DeflateParams { server_max_window_bits: 9, ..DeflateParams::default() },
            ),
            // Other extensions in the same value are left to the caller.
            (base, "foo; x=1, permessage-deflate", DeflateParams::default()),
        ];
        for (cfg, response, want) in cases {
            assert_eq!(client_accept_response(cfg, response), Ok(*want), "response {response:?}");
        }
    }

    // --- Properties -------------------------------------------------------------

    fn config() -> impl Strategy<Value = DeflateConfig> {
        let bits = prop::option::of(6u8..=17);
        (any::<bool>(), any::<bool>(), bits.clone(), bits, 0u8..=9).prop_map(|(s, c, sb, cb, level)| {
            DeflateConfig {
                server_no_context_takeover: s,
                client_no_context_takeover: c,
                server_max_window_bits: sb,
                client_max_window_bits: cb,
                compression_level: level,
            }
        })
    }

    /// Short messages that repeat themselves and each other.
    fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let message = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2000),
            prop::collection::vec(0u8..4, 0..5000),
            (prop::collection::vec(any::<u8>(), 1..40), 1usize..200).prop_map(|(unit, n)| unit.repeat(n)),
        ];
        prop::collection::vec(message, 1..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any client and server configurations agree, on what each promised.
        #[test]
        fn negotiation_agrees(client in config(), server in config()) {
            let offer = client_offer(&client);
            let (server_params, response) = server_negotiate(&server, &[&offer]).unwrap();
            let client_params = client_accept_response(&client, &response).unwrap();
            prop_assert_eq!(client_params, server_params);
            let p = client_params;
            prop_assert!((8..=15).contains(&p.server_max_window_bits));
            prop_assert!((8..=15).contains(&p.client_max_window_bits));
            if let Some(bits) = client.server_max_window_bits {
                prop_assert!(p.server_max_window_bits <= bits.max(8));
            }
            if let Some(bits) = server.server_max_window_bits {
                prop_assert!(p.server_max_window_bits <= bits.max(8));
            }
            if let Some(bits) = client.client_max_window_bits {
                prop_assert!(p.client_max_window_bits <= bits.max(8));
            }
            prop_assert!(p.server_no_context_takeover
                >= (client.server_no_context_takeover || server.server_no_context_takeover));
            prop_assert!(p.client_no_context_takeover >= client.client_no_context_takeover);
        }

        /// Any parameters, role and level: ours and zlib inflate what we send.
        #[test]
        fn round_trip(msgs in messages(), nct in any::<bool>(), bits in 8u8..=15,
                      client in any::<bool>(), level in 0u8..=9) {
            let role = if client { Role::Client } else { Role::Server };
            let peer = if client { Role::Server } else { Role::Client };
            let p = params(nct, bits);
            let mut c = Compressor::new(&p, role, level);
            let mut d = Decompressor::new(&p, peer);
            let mut z = Decompress::new_with_window_bits(false, bits.max(9));
            for m in &msgs {
                let message = compress(&mut c, m);
                prop_assert_eq!(&inflate_msg(&mut d, &message).unwrap(), m);
                if nct {
                    z = Decompress::new_with_window_bits(false, bits.max(9));
                }
                prop_assert_eq!(&zlib_inflate(&mut z, &message, 1).unwrap(), m);
            }
        }

        /// Frames split anywhere inflate to what the whole message does.
        #[test]
        fn chunked_equals_one_shot(msgs in messages(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
                                   nct in any::<bool>()) {
            let p = params(nct, 15);
            let mut c = Compressor::new(&p, Role::Server, 6);
            let mut whole = Decompressor::new(&p, Role::Client);
            let mut split = Decompressor::new(&p, Role::Client);
            for m in &msgs {
                let message = compress(&mut c, m);
                let one_shot = inflate_msg(&mut whole, &message).unwrap();
                let mut points: Vec<usize> = cuts.iter().map(|i| i.index(message.len() + 1)).collect();
                points.sort_unstable();
                let mut out = Vec::new();
                split.begin_message();
                let mut from = 0;
                for to in points.into_iter().chain([message.len()]) {
                    split.decompress_chunk(&message[from..to], &mut out, m.len()).unwrap();
                    from = to;
                }
                split.finish_message(&mut out, m.len()).unwrap();
                prop_assert_eq!(&one_shot, m);
                prop_assert_eq!(&out, m);
            }
        }

        /// Garbage never panics nor outgrows the limit.
        #[test]
        fn garbage_is_harmless(data in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..5000) {
            let mut d = Decompressor::new(&DeflateParams::default(), Role::Client);
            let mut out = Vec::new();
            let _ = d.decompress_message(&data, &mut out, limit);
            prop_assert!(out.len() <= limit);
        }

        /// Header values that are anything at all never panic.
        #[test]
        fn any_header_is_handled(value in "[ -~\\t\u{80}-\u{10ffff}]{0,80}",
                                 tokens in prop::collection::vec(prop_oneof![
                                     Just("permessage-deflate"), Just(";"), Just(","), Just("="),
                                     Just("\""), Just("\\"), Just(" "), Just("server_max_window_bits"),
                                     Just("client_max_window_bits"), Just("10"), Just("server_no_context_takeover"),
                                 ], 0..12)) {
            let built: String = tokens.concat();
            for v in [value.as_str(), built.as_str()] {
                let _ = server_negotiate(&DeflateConfig::default(), &[v]);
                let _ = client_accept_response(&DeflateConfig::default(), v);
            }
        }
    }

    #[test]
    fn debug_output_names_state() {
        let c = Compressor::new(&params(false, 10), Role::Client, 6);
        assert!(format!("{c:?}").contains("window_bits: 10"));
        let d = Decompressor::new(&params(true, 15), Role::Client);
        assert!(format!("{d:?}").contains("reset_between_messages: true"));
    }
}
