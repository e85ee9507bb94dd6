//! The HTTP/1.1 bits both handshakes share: reading a head incrementally,
//! parsing request and status lines and headers, writing heads.
//!
//! This is hand-written rather than `httparse` on purpose. draft-76 keys count
//! their spaces, including spaces at the very end of a value (Racket's client
//! generates such keys), and `httparse` trims trailing whitespace from values
//! as RFC 7230 asks, which changes the answer. Racket's server also accepts
//! lines ending in a bare CR. So values here keep trailing whitespace (only
//! the whitespace after the colon is dropped), and lines may end in CRLF, LF
//! or CR.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::error::{Error, HandshakeError, LimitError, Misuse};

/// One header line as it was sent: the name, and the value with the
/// whitespace after the colon removed and everything else kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The field name, as sent (compare it case-insensitively).
    pub name: String,
    /// The field value's bytes. HTTP allows non-ASCII octets here, so this is
    /// bytes; see [`Header::value_str`].
    pub value: Vec<u8>,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header { name: name.into(), value: value.into() }
    }

    /// The value as text, if it is UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.value).ok()
    }

    /// Whether the name and value can be written into a head without
    /// breaking it (a token name; no CR, LF or NUL in the value).
    pub fn is_writable(&self) -> bool {
        !self.name.is_empty()
            && self.name.bytes().all(is_token_byte)
            && !self.value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
    }
}

/// The header lines of a head, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The value of the first header named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| &h.value[..])
    }

    /// The value of the first header named `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Every value of headers named `name`, in order.
    pub fn iter_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| &h.value[..])
    }

    /// Whether any header is named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of the header `name` that must appear at most once.
    pub(crate) fn unique(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.iter_named(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(HandshakeError::DuplicateHeader(name)),
            None => Ok(first),
        }
    }

    /// The value of the header `name` that must appear exactly once.
    pub(crate) fn required(&self, name: &'static str) -> Result<&[u8], HandshakeError> {
        self.unique(name)?.ok_or(HandshakeError::MissingHeader(name))
    }

    /// Whether any `name` header's comma-separated token list contains
    /// `token` (case-insensitive), as `Connection: keep-alive, Upgrade` does.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.iter_named(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Iterates over the headers in order.
    pub fn iter(&self) -> core::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A parsed request head: request line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The request line exactly as sent, without its line ending (the seed's
    /// `ws-conn-line` on the server side).
    pub line: String,
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub target: String,
    /// The HTTP version's minor number (`1` for `HTTP/1.1`).
    pub minor_version: u8,
    /// The header lines.
    pub headers: Headers,
}

impl RequestHead {
    /// The target's path, without any query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// A parsed response head: status line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status line exactly as sent, without its line ending (the seed's
    /// `ws-conn-line` on the client side).
    pub line: String,
    /// The HTTP version's minor number.
    pub minor_version: u8,
    /// The status code, e.g. `101`.
    pub status: u16,
    /// The reason phrase, possibly empty.
    pub reason: String,
    /// The header lines.
    pub headers: Headers,
}

/// What [`HeadReader::read`] found so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadProgress {
    /// The head is not complete yet; every byte given was taken.
    Partial,
    /// The head ended; this many bytes of the last input belonged to it and
    /// the rest (key3, a body, frames) belongs to whatever follows.
    Complete(usize),
}

/// Accumulates an HTTP head from input split anywhere, within limits.
///
/// Lines end in CRLF, LF or a bare CR; a CR at the very end of the input
/// waits for the next byte to tell which. Scanning resumes where it stopped,
/// so feeding a head one byte at a time costs linear time.
#[derive(Debug)]
pub(crate) struct HeadReader {
    buf: Vec<u8>,
    /// Byte ranges of the lines found so far (without line endings).
    lines: Vec<Range<usize>>,
    line_start: usize,
    scan: usize,
    max_bytes: usize,
    max_headers: usize,
}

impl HeadReader {
    pub(crate) fn new(max_bytes: usize, max_headers: usize) -> Self {
        HeadReader { buf: Vec::new(), lines: Vec::new(), line_start: 0, scan: 0, max_bytes, max_headers }
    }

    /// Takes bytes of the head from `input`.
    pub(crate) fn read(&mut self, input: &[u8]) -> Result<HeadProgress, Error> {
        let previous = self.buf.len();
        // One byte past the limit: a bare CR as the head's last byte needs
        // the next byte to tell it from CRLF.
        let room = (self.max_bytes + 1).saturating_sub(previous);
        self.buf.extend_from_slice(&input[..input.len().min(room)]);
        while self.scan < self.buf.len() {
            let pos = self.scan;
            let ending = match self.buf[pos] {
                b'\n' => 1,
                b'\r' => match self.buf.get(pos + 1) {
                    None => break, // CR or CRLF: the next byte decides.
                    Some(b'\n') => 2,
                    Some(_) => 1,
                },
                _ => {
                    // Skip to the next candidate line ending in one go.
                    let rest = &self.buf[pos..];
                    self.scan += memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                    continue;
                }
            };
            let line = self.line_start..pos;
            self.line_start = pos + ending;
            self.scan = self.line_start;
            if line.is_empty() {
                if self.lines.is_empty() {
                    // RFC 7230 §3.5: ignore empty lines before the start line.
                    continue;
                }
                let end = self.line_start;
                if end > self.max_bytes {
                    return Err(LimitError::HandshakeTooLarge { limit: self.max_bytes }.into());
                }
                self.buf.truncate(end);
                return Ok(HeadProgress::Complete(end - previous));
            }
            self.lines.push(line);
            if self.lines.len() > self.max_headers + 1 {
                return Err(LimitError::TooManyHeaders { limit: self.max_headers }.into());
            }
        }
        if self.buf.len() > self.max_bytes {
            return Err(LimitError::HandshakeTooLarge { limit: self.max_bytes }.into());
        }
        Ok(HeadProgress::Partial)
    }

    fn start_line(&self) -> &[u8] {
        &self.buf[self.lines[0].clone()]
    }

    fn headers(&self) -> Result<Headers, HandshakeError> {
        self.lines[1..]
            .iter()
            .map(|r| parse_header(&self.buf[r.clone()]))
            .collect::<Result<_, _>>()
            .map(Headers)
    }

    /// Parses the complete head as a request.
    pub(crate) fn request(&self) -> Result<RequestHead, HandshakeError> {
        let line = self.start_line();
        let text = core::str::from_utf8(line).map_err(|_| HandshakeError::MalformedRequestLine)?;
        let mut parts = text.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HandshakeError::MalformedRequestLine);
        };
        if method.is_empty() || !method.bytes().all(is_token_byte) || target.is_empty() {
            return Err(HandshakeError::MalformedRequestLine);
        }
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(HandshakeError::MalformedRequestLine);
        }
        let minor_version = parse_version(version).ok_or(HandshakeError::MalformedRequestLine)?;
        if minor_version == 0 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        Ok(RequestHead {
            line: text.into(),
            method: method.into(),
            target: target.into(),
            minor_version,
            headers: self.headers()?,
        })
    }

    /// Parses the complete head as a response.
    pub(crate) fn response(&self) -> Result<ResponseHead, HandshakeError> {
        let line = self.start_line();
        let text = core::str::from_utf8(line).map_err(|_| HandshakeError::MalformedStatusLine)?;
        let (version, rest) = text.split_once(' ').ok_or(HandshakeError::MalformedStatusLine)?;
        let minor_version = parse_version(version).ok_or(HandshakeError::MalformedStatusLine)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HandshakeError::MalformedStatusLine);
        }
        let status = code.parse().map_err(|_| HandshakeError::MalformedStatusLine)?;
        Ok(ResponseHead {
            line: text.into(),
            minor_version,
            status,
            reason: reason.into(),
            headers: self.headers()?,
        })
    }
}

/// `HTTP/1.x` → `x`; any other version is not ours to speak.
fn parse_version(version: &str) -> Option<u8> {
    let minor = version.strip_prefix("HTTP/1.")?;
    match minor.as_bytes() {
        [d] if d.is_ascii_digit() => Some(d - b'0'),
        _ => None,
    }
}

fn parse_header(line: &[u8]) -> Result<Header, HandshakeError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HandshakeError::ObsoleteLineFolding);
    }
    let colon = memchr::memchr(b':', line).ok_or(HandshakeError::MalformedHeader)?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_token_byte) {
        return Err(HandshakeError::MalformedHeader);
    }
    let mut value = &line[colon + 1..];
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    if value.contains(&0) {
        return Err(HandshakeError::MalformedHeader);
    }
    // `name` is all token bytes, hence ASCII.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok(Header { name, value: value.to_vec() })
}

/// RFC 7230 `tchar`.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Optional whitespace removed from both ends, for token lists.
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Appends `Name: value\r\n`.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole head: the start line, the headers and the blank line.
pub(crate) fn write_head(out: &mut Vec<u8>, start_line: &str, headers: &[Header]) {
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        write_header(out, &h.name, &h.value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Both handshakes need `Connection` to list the `Upgrade` token.
pub(crate) fn check_connection_upgrade(headers: &Headers) -> Result<(), HandshakeError> {
    if headers.has_token("Connection", "Upgrade") {
        Ok(())
    } else if headers.contains("Connection") {
        Err(HandshakeError::BadConnection)
    } else {
        Err(HandshakeError::MissingHeader("Connection"))
    }
}

/// Checks application-supplied headers before they are written.
pub(crate) fn check_writable(headers: &[Header]) -> Result<(), Misuse> {
    if headers.iter().all(Header::is_writable) {
        Ok(())
    } else {
        Err(Misuse::InvalidHeader)
    }
}

/// The reason phrase we write for a status we send.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> (Result<HeadProgress, Error>, HeadReader) {
        let mut reader = HeadReader::new(16 * 1024, 64);
        let r = reader.read(input);
        (r, reader)
    }

    #[test]
    fn keeps_trailing_whitespace_and_drops_leading() {
        let (r, reader) = read_all(b"GET / HTTP/1.1\r\nX-Key:  a b  \r\n\r\nrest");
        assert_eq!(r.unwrap(), HeadProgress::Complete(33));
        let req = reader.request().unwrap();
        assert_eq!(req.headers.get("x-key"), Some(&b"a b  "[..]));
    }

    #[test]
    fn accepts_lf_and_bare_cr_line_endings() {
        for input in [&b"GET /a HTTP/1.1\nHost: h\n\nXY"[..], b"GET /a HTTP/1.1\rHost: h\r\rXY"] {
            let (r, reader) = read_all(input);
            assert_eq!(r.unwrap(), HeadProgress::Complete(input.len() - 2));
            let req = reader.request().unwrap();
            assert_eq!((req.method.as_str(), req.target.as_str()), ("GET", "/a"));
            assert_eq!(req.headers.get_str("host"), Some("h"));
        }
    }

    #[test]
    fn trailing_cr_waits_for_the_next_byte() {
        let mut reader = HeadReader::new(1024, 8);
        assert_eq!(reader.read(b"GET / HTTP/1.1\r\n\r").unwrap(), HeadProgress::Partial);
        // The LF belongs to the head: CRLF is one line ending.
        assert_eq!(reader.read(b"\nK").unwrap(), HeadProgress::Complete(1));
        let mut reader = HeadReader::new(1024, 8);
        assert_eq!(reader.read(b"GET / HTTP/1.1\r\r").unwrap(), HeadProgress::Partial);
        // A bare CR ended the head; `K` is not part of it.
        assert_eq!(reader.read(b"K").unwrap(), HeadProgress::Complete(0));
    }

    #[test]
    fn limits_are_enforced() {
        let mut reader = HeadReader::new(32, 64);
        let err = reader.read(&[b'a'; 40]).unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::HandshakeTooLarge { limit: 32 }));
        let mut reader = HeadReader::new(1024, 2);
        let err = reader.read(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n").unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::TooManyHeaders { limit: 2 }));
    }

    #[test]
    fn malformed_lines_are_typed() {
        let cases: &[(&[u8], HandshakeError)] = &[
            (b"GET /\r\n\r\n", HandshakeError::MalformedRequestLine),
            (b"GET  / HTTP/1.1\r\n\r\n", HandshakeError::MalformedRequestLine),
            (b"GET / HTTP/2.0\r\n\r\n", HandshakeError::MalformedRequestLine),
            (b"GET / HTTP/1.0\r\n\r\n", HandshakeError::UnsupportedHttpVersion),
            (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", HandshakeError::MalformedHeader),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", HandshakeError::MalformedHeader),
            (b"GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n", HandshakeError::ObsoleteLineFolding),
        ];
        for (input, expected) in cases {
            let (r, reader) = read_all(input);
            assert!(matches!(r, Ok(HeadProgress::Complete(_))), "{input:?}");
            assert_eq!(reader.request().unwrap_err(), *expected, "{input:?}");
        }
    }

    #[test]
    fn parses_status_lines() {
        let (_, reader) = read_all(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\r\n");
        let resp = reader.response().unwrap();
        assert_eq!((resp.status, resp.reason.as_str()), (101, "WebSocket Protocol Handshake"));
        let (_, reader) = read_all(b"HTTP/1.1 404\r\n\r\n");
        assert_eq!(reader.response().unwrap().status, 404);
        let (_, reader) = read_all(b"HTTP/1.1 1O1 x\r\n\r\n");
        assert_eq!(reader.response().unwrap_err(), HandshakeError::MalformedStatusLine);
    }

    #[test]
    fn connection_token_lists() {
        let headers = Headers(alloc::vec![Header::new("Connection", "keep-alive, Upgrade ")]);
        assert!(headers.has_token("connection", "upgrade"));
        assert!(!headers.has_token("connection", "close"));
    }
}
