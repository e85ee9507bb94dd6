//! RFC 7692 permessage-deflate negotiation (docs/PROTOCOLS.md §9.1): what a
//! client offers in `Sec-WebSocket-Extensions`, what a server accepts, and
//! the agreement both ends then hold.
//!
//! * A client sends [`client_offer`] as its `Sec-WebSocket-Extensions` value
//!   and checks the server's answer with [`client_accept_response`].
//! * A server passes every `Sec-WebSocket-Extensions` value of the request to
//!   [`server_negotiate`], which accepts the first valid `permessage-deflate`
//!   offer and returns the agreement and the value to answer with.
//!
//! Both ends then hold the same [`DeflateParams`] and build a
//! [`Compressor`](crate::framing::rfc6455::deflate::Compressor) for what they
//! send and a [`Decompressor`](crate::framing::rfc6455::deflate::Decompressor)
//! for what they receive. What we are willing to offer or accept is a
//! [`DeflateConfig`]; a refused response is a [`NegotiationError`].
//!
//! The header's words are HTTP's (tokens, quoted strings, comma-separated
//! lists: [`super::http`]); what is permessage-deflate's own is here: the
//! element grammar of RFC 6455 §9.1, the four parameters and their values.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::http::{split_list, split_quoted_string, split_token, trim_ows_start};
use crate::config::{clamp_window_bits, DeflateConfig, Role, MAX_WINDOW_BITS};
use crate::error::NegotiationError;

/// The extension token, as it appears in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The negotiated agreement, the same at both ends.
///
/// Window sizes are base-2 logarithms in `8..=15`; constructors of
/// [`Compressor`](crate::framing::rfc6455::deflate::Compressor) and
/// [`Decompressor`](crate::framing::rfc6455::deflate::Decompressor) clamp
/// other values into that range.
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
    pub(crate) fn sender(&self, sender: Role) -> (bool, u8) {
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
    fn from_name(name: &[u8]) -> Option<Parameter> {
        Parameter::ALL.into_iter().find(|p| p.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
        push_param(&mut offer, Parameter::ServerMaxWindowBits, Some(clamp_window_bits(bits)));
    }
    if let Some(bits) = cfg.client_max_window_bits {
        let bits = clamp_window_bits(bits);
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
    for element in split_list(value.as_bytes()) {
        let Some(element) = parse_element(element).map_err(|()| NegotiationError::Syntax)? else {
            continue;
        };
        if !element.name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
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
    if let Some(offered) = cfg.server_max_window_bits.map(clamp_window_bits) {
        match response.server_max_window_bits {
            None => return Err(NegotiationError::ServerWindowBitsMissing),
            Some(bits) if bits > offered => return Err(NegotiationError::ServerWindowBitsTooLarge),
            Some(_) => {}
        }
    }
    let client_bits =
        match (cfg.client_max_window_bits.map(clamp_window_bits), response.client_max_window_bits) {
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
        .flat_map(|value| split_list(value.as_bytes()))
        .filter_map(|element| parse_element(element).ok().flatten())
        .filter(|element| element.name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()))
        .filter_map(|element| PmdParams::parse(&element.params, Side::Offer).ok())
        .find_map(|offer| accept_offer(cfg, &offer))
}

/// The server's answer to one valid offer. Every valid offer is acceptable
/// today; the `Option` leaves room for declining.
fn accept_offer(cfg: &DeflateConfig, offer: &PmdParams) -> Option<(DeflateParams, String)> {
    let server_no_context_takeover = offer.server_no_context_takeover || cfg.server_no_context_takeover;
    let client_no_context_takeover = offer.client_no_context_takeover || cfg.client_no_context_takeover;

    let ours = cfg.server_max_window_bits.map_or(MAX_WINDOW_BITS, clamp_window_bits);
    let server_bits = ours.min(offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS));
    let say_server_bits = offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS;

    let wanted = cfg.client_max_window_bits.map_or(MAX_WINDOW_BITS, clamp_window_bits);
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
fn parse_bits(value: &[u8]) -> Option<u8> {
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// One parsed element of a `Sec-WebSocket-Extensions` list.
struct Element<'a> {
    name: &'a [u8],
    params: Vec<RawParam<'a>>,
}

/// One `name[=value]` parameter; a quoted value has been unescaped.
struct RawParam<'a> {
    name: &'a [u8],
    value: Option<Cow<'a, [u8]>>,
}

/// Parses `OWS token OWS *( ";" OWS token OWS [ "=" OWS value OWS ] )`, where
/// value is a token or a quoted string (RFC 6455 §9.1, with RFC 7230's
/// optional whitespace). `Ok(None)` is an empty list element, which lists
/// may contain.
fn parse_element(element: &[u8]) -> Result<Option<Element<'_>>, ()> {
    let rest = trim_ows_start(element);
    if rest.is_empty() {
        return Ok(None);
    }
    let (name, rest) = split_token(rest).ok_or(())?;
    let mut rest = trim_ows_start(rest);
    let mut params = Vec::new();
    while !rest.is_empty() {
        let [b';', after @ ..] = rest else {
            return Err(());
        };
        let (name, after) = split_token(trim_ows_start(after)).ok_or(())?;
        rest = trim_ows_start(after);
        let value = match rest {
            [b'=', after @ ..] => {
                let after = trim_ows_start(after);
                let (value, after) = match after {
                    [b'"', ..] => split_quoted_string(after).ok_or(())?,
                    _ => split_token(after).map(|(token, after)| (Cow::Borrowed(token), after)).ok_or(())?,
                };
                rest = trim_ows_start(after);
                Some(value)
            }
            _ => None,
        };
        params.push(RawParam { name, value });
    }
    Ok(Some(Element { name, params }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

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
}
