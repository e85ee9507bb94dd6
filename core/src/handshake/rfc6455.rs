//! The RFC 6455 opening handshake (§4): the client's request with its nonce,
//! the server's checks, `Sec-WebSocket-Accept`, subprotocol and extension
//! negotiation.

use alloc::string::String;
use alloc::vec::Vec;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::deflate::{self, DeflateParams};
use super::http::{
    check_connection_upgrade, split_token_list, trim_ows, write_head, write_header, Header, Headers,
    RequestHead, ResponseHead,
};
use super::target::Target;
use crate::config::DeflateConfig;
use crate::entropy::Entropy;
use crate::error::HandshakeError;

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The protocol version this module speaks.
pub const VERSION: &str = "13";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value: base64 of the
/// SHA-1 of the key (as sent) followed by [`GUID`].
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    BASE64.encode(sha1.finalize())
}

/// Every token of every `name` header's comma-separated list, in order,
/// without empty ones.
pub fn header_tokens<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers.iter_named(name).flat_map(split_token_list).filter(|t| !t.is_empty())
}

/// What the client must see in the response, kept from request to response.
#[derive(Clone, Debug)]
pub(crate) struct ClientExpectation {
    accept: String,
    subprotocols: Vec<String>,
    deflate: Option<DeflateConfig>,
}

/// What the handshake settled for the rest of the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Agreement {
    pub(crate) subprotocol: Option<String>,
    pub(crate) deflate: Option<DeflateParams>,
}

/// Writes the client's request into `out`: our headers first, then the
/// caller's.
pub(crate) fn write_client_request(
    target: &Target,
    subprotocols: &[String],
    deflate: Option<&DeflateConfig>,
    headers: &[Header],
    entropy: &mut dyn Entropy,
    out: &mut Vec<u8>,
) -> ClientExpectation {
    let mut nonce = [0u8; 16];
    entropy.fill(&mut nonce);
    let key = BASE64.encode(nonce);

    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.resource.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, "Host", target.host_header().as_bytes());
    write_header(out, "Upgrade", b"websocket");
    write_header(out, "Connection", b"Upgrade");
    write_header(out, "Sec-WebSocket-Key", key.as_bytes());
    write_header(out, "Sec-WebSocket-Version", VERSION.as_bytes());
    if let Some((first, rest)) = subprotocols.split_first() {
        // Written in place rather than `join`ed: std's join is 1.3 KB of
        // the npm package's .wasm, and this was its only use.
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(first.as_bytes());
        for subprotocol in rest {
            out.extend_from_slice(b", ");
            out.extend_from_slice(subprotocol.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    if let Some(cfg) = deflate {
        write_header(out, "Sec-WebSocket-Extensions", deflate::client_offer(cfg).as_bytes());
    }
    for h in headers {
        write_header(out, &h.name, &h.value);
    }
    out.extend_from_slice(b"\r\n");
    ClientExpectation {
        accept: accept_key(key.as_bytes()),
        subprotocols: subprotocols.to_vec(),
        deflate: deflate.cloned(),
    }
}

/// Checks a 101 response against what the client asked for.
pub(crate) fn check_response(
    response: &ResponseHead,
    expected: &ClientExpectation,
) -> Result<Agreement, HandshakeError> {
    let headers = &response.headers;
    check_upgrade_headers(headers)?;
    let accept = trim_ows(headers.required("Sec-WebSocket-Accept")?);
    if accept != expected.accept.as_bytes() {
        return Err(HandshakeError::AcceptMismatch);
    }
    let subprotocol = match headers.unique("Sec-WebSocket-Protocol")? {
        None => None,
        Some(chosen) => {
            let chosen =
                core::str::from_utf8(trim_ows(chosen)).map_err(|_| HandshakeError::SubprotocolMismatch)?;
            if !expected.subprotocols.iter().any(|p| p == chosen) {
                return Err(HandshakeError::SubprotocolMismatch);
            }
            Some(chosen.into())
        }
    };
    let mut agreed = None;
    for value in headers.iter_named("Sec-WebSocket-Extensions") {
        let value = core::str::from_utf8(value).map_err(|_| HandshakeError::ExtensionNotOffered)?;
        if trim_ows(value.as_bytes()).is_empty() {
            continue;
        }
        let (Some(cfg), None) = (&expected.deflate, &agreed) else {
            // Nothing offered, or a second extension: RFC 6455 §9.1 says
            // the client must fail the connection.
            return Err(HandshakeError::ExtensionNotOffered);
        };
        agreed = Some(deflate::client_accept_response(cfg, value).map_err(HandshakeError::Extension)?);
    }
    Ok(Agreement { subprotocol, deflate: agreed })
}

fn check_upgrade_headers(headers: &Headers) -> Result<(), HandshakeError> {
    if !headers.contains("Upgrade") {
        return Err(HandshakeError::MissingHeader("Upgrade"));
    }
    if !header_tokens(headers, "Upgrade").any(|t| t.eq_ignore_ascii_case(b"websocket")) {
        return Err(HandshakeError::BadUpgrade);
    }
    check_connection_upgrade(headers)?;
    Ok(())
}

/// The parts of a valid request the response is built from.
#[derive(Clone, Debug)]
pub(crate) struct ServerOffer {
    key: Vec<u8>,
}

/// Checks an RFC 6455 request head (§4.2.1).
pub(crate) fn check_request_head(request: &RequestHead) -> Result<ServerOffer, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    let headers = &request.headers;
    headers.required("Host")?;
    check_upgrade_headers(headers)?;
    match headers.unique("Sec-WebSocket-Version")? {
        Some(v) if trim_ows(v) == VERSION.as_bytes() => {}
        _ => return Err(HandshakeError::UnsupportedWebSocketVersion),
    }
    let key = trim_ows(headers.required("Sec-WebSocket-Key")?);
    match BASE64.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::InvalidNonce),
    }
    Ok(ServerOffer { key: key.to_vec() })
}

/// The subprotocols a request offers, in the client's order of preference.
pub fn offered_subprotocols(request: &RequestHead) -> Vec<&str> {
    header_tokens(&request.headers, "Sec-WebSocket-Protocol")
        .filter_map(|t| core::str::from_utf8(t).ok())
        .collect()
}

/// Settles extensions for a request: the first acceptable
/// permessage-deflate offer, when the server is configured for it.
pub(crate) fn negotiate_extensions(
    request: &RequestHead,
    deflate: Option<&DeflateConfig>,
) -> Option<(DeflateParams, String)> {
    let cfg = deflate?;
    let offers: Vec<&str> = request
        .headers
        .iter_named("Sec-WebSocket-Extensions")
        .filter_map(|v| core::str::from_utf8(v).ok())
        .collect();
    deflate::server_negotiate(cfg, &offers)
}

/// Writes the 101 response and returns the headers it carried.
pub(crate) fn write_server_response(
    offer: &ServerOffer,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    app_headers: &[Header],
    out: &mut Vec<u8>,
) -> Vec<Header> {
    let mut headers = Vec::with_capacity(app_headers.len() + 5);
    headers.push(Header::new("Upgrade", "websocket"));
    headers.push(Header::new("Connection", "Upgrade"));
    headers.push(Header::new("Sec-WebSocket-Accept", accept_key(&offer.key)));
    if let Some(p) = subprotocol {
        headers.push(Header::new("Sec-WebSocket-Protocol", p));
    }
    if let Some(e) = extensions {
        headers.push(Header::new("Sec-WebSocket-Extensions", e));
    }
    headers.extend_from_slice(app_headers);
    write_head(out, "HTTP/1.1 101 Switching Protocols", &headers);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::http::{HeadKind, HeadProgress, HeadReader};

    #[test]
    fn rfc_accept_example() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    fn request(text: &str) -> RequestHead {
        let mut reader = HeadReader::new(HeadKind::Request, 4096, 32);
        assert!(matches!(reader.read(text.as_bytes()).unwrap(), HeadProgress::Complete(_)));
        reader.request().unwrap()
    }

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn server_checks_each_rule() {
        assert!(check_request_head(&request(GOOD)).is_ok());
        assert_eq!(offered_subprotocols(&request(GOOD)), ["chat", "superchat"]);
        let cases: &[(&str, &str, HandshakeError)] = &[
            ("GET /chat", "POST /chat", HandshakeError::MethodNotGet),
            ("Host: server.example.com\r\n", "", HandshakeError::MissingHeader("Host")),
            ("Upgrade: websocket", "Upgrade: h2c", HandshakeError::BadUpgrade),
            ("keep-alive, Upgrade", "keep-alive", HandshakeError::BadConnection),
            ("Version: 13", "Version: 8", HandshakeError::UnsupportedWebSocketVersion),
            ("Sec-WebSocket-Version: 13\r\n", "", HandshakeError::UnsupportedWebSocketVersion),
            ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==", HandshakeError::InvalidNonce),
            ("dGhlIHNhbXBsZSBub25jZQ==", "not base64 at all!!!!!!!", HandshakeError::InvalidNonce),
        ];
        for (from, to, expected) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_eq!(check_request_head(&request(&text)).unwrap_err(), *expected, "{text}");
        }
        assert_eq!(HandshakeError::UnsupportedWebSocketVersion.http_status(), 426);
    }
}
