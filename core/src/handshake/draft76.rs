//! The draft-76 (hybi-00) opening handshake: keys, the 16-byte answer, the
//! client's request and the server's response (docs/PROTOCOLS.md §1).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use md5::{Digest, Md5};

use super::http::{
    check_connection_upgrade, trim_ows, write_head, write_header, Header, RequestHead, ResponseHead,
};
use super::target::Target;
use crate::entropy::{uniform_below, Entropy};
use crate::error::{HandshakeError, KeyName, KeyProblem};

/// Length of key3, the raw bytes after the client's head.
pub const KEY3_LEN: usize = 8;
/// Length of the server's answer, the raw bytes after the response head.
pub const ANSWER_LEN: usize = 16;

/// Reads one key: its digits as one number divided by its space count.
///
/// Every character other than an ASCII digit or U+0020 is ignored, as the
/// draft says; the value must be exactly what followed the header's colon
/// and separator (see [`super::http`]), or the space count is wrong.
pub fn key_part(key: &[u8]) -> Result<u32, KeyProblem> {
    let mut number: u64 = 0;
    let mut spaces: u32 = 0;
    for &b in key {
        match b {
            b'0'..=b'9' => {
                number = number * 10 + u64::from(b - b'0');
                if number > u64::from(u32::MAX) {
                    return Err(KeyProblem::NumberTooLarge);
                }
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if spaces == 0 {
        return Err(KeyProblem::NoSpaces);
    }
    let spaces = u64::from(spaces);
    if !number.is_multiple_of(spaces) {
        return Err(KeyProblem::NotMultiple);
    }
    // number <= u32::MAX and spaces >= 1, so the quotient fits.
    Ok((number / spaces) as u32)
}

/// The 16 bytes a server answers with: MD5 of both parts (big-endian) and key3.
pub fn answer(part1: u32, part2: u32, key3: &[u8; KEY3_LEN]) -> [u8; ANSWER_LEN] {
    let mut md5 = Md5::new();
    md5.update(part1.to_be_bytes());
    md5.update(part2.to_be_bytes());
    md5.update(key3);
    md5.finalize().into()
}

/// Computes the answer straight from the two key header values and key3.
pub fn answer_for_keys(
    key1: &[u8],
    key2: &[u8],
    key3: &[u8; KEY3_LEN],
) -> Result<[u8; ANSWER_LEN], HandshakeError> {
    let part = |key: KeyName, value: &[u8]| {
        key_part(value).map_err(|problem| HandshakeError::BadKey { key, problem })
    };
    Ok(answer(part(KeyName::Key1, key1)?, part(KeyName::Key2, key2)?, key3))
}

/// Makes a key as the draft's client algorithm does, from injected entropy:
/// 1–12 spaces, a part such that part × spaces fits in 32 bits, its product
/// in decimal with 1–12 random characters from U+0021–U+002F and
/// U+003A–U+007E sprinkled in, and the spaces inserted anywhere but first or
/// last. Returns the key and its part.
pub fn generate_key(entropy: &mut dyn Entropy) -> (String, u32) {
    let spaces = 1 + uniform_below(entropy, 12);
    let max_part = u32::MAX / spaces;
    let part = if max_part == u32::MAX {
        let mut bytes = [0u8; 4];
        entropy.fill(&mut bytes);
        u32::from_le_bytes(bytes)
    } else {
        uniform_below(entropy, max_part + 1)
    };
    let mut key: Vec<u8> = Vec::with_capacity(40);
    let _ = write!(DecimalSink(&mut key), "{}", u64::from(part) * u64::from(spaces));

    // 15 + 69 = 84 candidate characters: U+0021..=U+002F and U+003A..=U+007E.
    for _ in 0..1 + uniform_below(entropy, 12) {
        let pick = uniform_below(entropy, 84) as u8;
        let ch = if pick < 15 { 0x21 + pick } else { 0x3a + pick - 15 };
        let at = uniform_below(entropy, key.len() as u32 + 1) as usize;
        key.insert(at, ch);
    }
    for _ in 0..spaces {
        // Positions 1..len keep a space from being first or last.
        let at = 1 + uniform_below(entropy, key.len() as u32 - 1) as usize;
        key.insert(at, b' ');
    }
    // Every byte pushed is ASCII.
    (String::from_utf8(key).unwrap_or_default(), part)
}

/// `core::fmt::Write` into a byte vector, so `write!` formats numbers
/// without going through a `String`.
struct DecimalSink<'a>(&'a mut Vec<u8>);

impl Write for DecimalSink<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What a draft-76 client expects back, kept between request and response.
#[derive(Clone, Debug)]
pub(crate) struct ClientExpectation {
    answer: [u8; ANSWER_LEN],
    origin: Option<Vec<u8>>,
    location: String,
    subprotocol: Option<Vec<u8>>,
}

/// Writes the client's request (head and key3) into `out`.
///
/// `headers` are the caller's extra headers (Origin, Sec-WebSocket-Protocol,
/// cookies…), already checked to be writable; the ones the handshake itself
/// needs come first.
pub(crate) fn write_client_request(
    target: &Target,
    headers: &[Header],
    entropy: &mut dyn Entropy,
    out: &mut Vec<u8>,
) -> ClientExpectation {
    let (key1, part1) = generate_key(entropy);
    let (key2, part2) = generate_key(entropy);
    let mut key3 = [0u8; KEY3_LEN];
    entropy.fill(&mut key3);

    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.resource.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, "Upgrade", b"WebSocket");
    write_header(out, "Connection", b"Upgrade");
    write_header(out, "Host", target.host_header().as_bytes());
    write_header(out, "Sec-WebSocket-Key1", key1.as_bytes());
    write_header(out, "Sec-WebSocket-Key2", key2.as_bytes());
    for h in headers {
        write_header(out, &h.name, &h.value);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&key3);

    let find =
        |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.clone());
    ClientExpectation {
        answer: answer(part1, part2, &key3),
        origin: find("Origin"),
        location: target.url(),
        subprotocol: find("Sec-WebSocket-Protocol"),
    }
}

/// Checks the server's response head (status 101 already established).
///
/// Racket's server sends only `Upgrade` and `Connection`, so the
/// `Sec-WebSocket-*` headers are checked only when present.
pub(crate) fn check_response_head(
    response: &ResponseHead,
    expected: &ClientExpectation,
) -> Result<(), HandshakeError> {
    let headers = &response.headers;
    let upgrade = trim_ows(headers.required("Upgrade")?);
    if !upgrade.eq_ignore_ascii_case(b"WebSocket") {
        return Err(HandshakeError::BadUpgrade);
    }
    check_connection_upgrade(headers)?;
    if let Some(origin) = headers.unique("Sec-WebSocket-Origin")? {
        if expected.origin.as_deref().is_some_and(|ours| ours != origin) {
            return Err(HandshakeError::OriginMismatch);
        }
    }
    if let Some(location) = headers.unique("Sec-WebSocket-Location")? {
        if location != expected.location.as_bytes() {
            return Err(HandshakeError::LocationMismatch);
        }
    }
    if let Some(chosen) = headers.unique("Sec-WebSocket-Protocol")? {
        if expected.subprotocol.as_deref() != Some(chosen) {
            return Err(HandshakeError::SubprotocolMismatch);
        }
    }
    Ok(())
}

/// Checks the 16 bytes that follow the response head.
pub(crate) fn check_answer(
    received: &[u8; ANSWER_LEN],
    expected: &ClientExpectation,
) -> Result<(), HandshakeError> {
    if *received == expected.answer {
        Ok(())
    } else {
        Err(HandshakeError::AnswerMismatch)
    }
}

/// The keys of a valid draft-76 request, once its head is checked.
#[derive(Clone, Debug)]
pub(crate) struct ServerKeys {
    part1: u32,
    part2: u32,
}

/// Checks a draft-76 request head: GET, `Upgrade: WebSocket`, a
/// `Connection` list with `Upgrade`, `Host`, and exactly one of each key,
/// both answerable.
pub(crate) fn check_request_head(request: &RequestHead) -> Result<ServerKeys, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    let headers = &request.headers;
    // Only the keys' values are taken byte-exact; other values may carry
    // optional whitespace.
    if !trim_ows(headers.required("Upgrade")?).eq_ignore_ascii_case(b"WebSocket") {
        return Err(HandshakeError::BadUpgrade);
    }
    check_connection_upgrade(headers)?;
    headers.required("Host")?;
    let key = |name: KeyName| -> Result<u32, HandshakeError> {
        let header = match name {
            KeyName::Key1 => "Sec-WebSocket-Key1",
            KeyName::Key2 => "Sec-WebSocket-Key2",
        };
        key_part(headers.required(header)?).map_err(|problem| HandshakeError::BadKey { key: name, problem })
    };
    Ok(ServerKeys { part1: key(KeyName::Key1)?, part2: key(KeyName::Key2)? })
}

/// Writes the server's 101 response and answer into `out`.
///
/// Unless the application's headers already carry them, adds
/// `Sec-WebSocket-Origin` (from `Origin`) and `Sec-WebSocket-Location` (from
/// `Host` and the request target), which browsers of that protocol required.
pub(crate) fn write_server_response(
    request: &RequestHead,
    keys: &ServerKeys,
    key3: &[u8; KEY3_LEN],
    secure: bool,
    app_headers: &[Header],
    out: &mut Vec<u8>,
) -> Vec<Header> {
    let mut headers = Vec::with_capacity(app_headers.len() + 4);
    headers.push(Header::new("Upgrade", "WebSocket"));
    headers.push(Header::new("Connection", "Upgrade"));
    let supplied = |name: &str| app_headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    if let Some(origin) = request.headers.get("Origin") {
        if !supplied("Sec-WebSocket-Origin") {
            headers.push(Header::new("Sec-WebSocket-Origin", origin));
        }
    }
    if !supplied("Sec-WebSocket-Location") {
        let host = request.headers.get("Host").unwrap_or_default();
        let mut location = Vec::with_capacity(host.len() + request.target.len() + 6);
        location.extend_from_slice(if secure { b"wss://" } else { b"ws://" });
        location.extend_from_slice(host);
        location.extend_from_slice(request.target.as_bytes());
        headers.push(Header::new("Sec-WebSocket-Location", location));
    }
    headers.extend_from_slice(app_headers);

    write_head(out, "HTTP/1.1 101 WebSocket Protocol Handshake", &headers);
    out.extend_from_slice(&answer(keys.part1, keys.part2, key3));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Seeded;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The vectors of docs/PROTOCOLS.md §1.3 (the first is the draft's own).
    pub(crate) fn vectors() -> Vec<(&'static str, &'static str, [u8; 8], [u8; 16])> {
        let v3_key3: [u8; 8] = hex("91253ed3a9e76a88").try_into().unwrap();
        let v3_answer: [u8; 16] = hex("b49c6e4053040426e51bbf6cb79f1df9").try_into().unwrap();
        alloc::vec![
            ("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", *b"^n:ds[4U", *b"8jKS'y:G*Co,Wxa-"),
            (
                "18x 6]8vM;54 *(5:  {   U1]8  z [  8",
                "1_ tx7X d  <  nw  334J702) 7]o}` 0",
                *b"Tm[K T2u",
                *b"fQJ,fN/4F4!~K~MH",
            ),
            ("1   38 wZ3f9 23O0 3l 0r", "27   0E 6 2  1665:< ;U 1H", v3_key3, v3_answer),
        ]
    }

    #[test]
    fn protocol_vectors() {
        for (key1, key2, key3, expected) in vectors() {
            assert_eq!(answer_for_keys(key1.as_bytes(), key2.as_bytes(), &key3).unwrap(), expected);
        }
    }

    #[test]
    fn refused_keys() {
        assert_eq!(key_part(b"2 L785 8o% s9Sy9@V. 4<1P5"), Err(KeyProblem::NotMultiple));
        assert_eq!(key_part(b"12345"), Err(KeyProblem::NoSpaces));
        assert_eq!(key_part(b"4294967296 "), Err(KeyProblem::NumberTooLarge));
        // A long run of digits must not overflow on the way to the error.
        assert_eq!(key_part(&[b'9'; 64]), Err(KeyProblem::NumberTooLarge));
        assert_eq!(key_part(b"4294967295 "), Ok(u32::MAX));
        // Leading zeros are digits like any other.
        assert_eq!(key_part(b"0000000000000000000012 3"), Ok(123));
    }

    #[test]
    fn spaces_at_the_end_of_the_value_count() {
        // Racket's client can put spaces last; 24 / 2 = 12, but 24 / 1 = 24.
        assert_eq!(key_part(b"2x4 "), Ok(24));
        assert_eq!(key_part(b"2x4  "), Ok(12));
    }

    #[test]
    fn generated_keys_follow_the_draft() {
        let mut entropy = Seeded::new(7);
        for _ in 0..2000 {
            let (key, part) = generate_key(&mut entropy);
            let bytes = key.as_bytes();
            assert_eq!(key_part(bytes), Ok(part), "{key:?}");
            assert_ne!(bytes[0], b' ', "{key:?}");
            assert_ne!(*bytes.last().unwrap(), b' ', "{key:?}");
            let spaces = bytes.iter().filter(|&&b| b == b' ').count();
            assert!((1..=12).contains(&spaces), "{key:?}");
            let noise = bytes.iter().filter(|b| !b.is_ascii_digit() && **b != b' ').count();
            assert!((1..=12).contains(&noise), "{key:?}");
            assert!(bytes.iter().all(|b| (0x20..0x7f).contains(b)), "{key:?}");
        }
    }
}
