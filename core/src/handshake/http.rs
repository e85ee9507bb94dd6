//! The HTTP/1.1 bits both handshakes share: reading a head incrementally,
//! parsing request and status lines and headers, writing heads.
//!
//! This is hand-written rather than `httparse` on purpose. draft-76 keys count
//! their spaces, including spaces at the very end of a value (Racket's client
//! generates such keys), and `httparse` trims trailing whitespace from values
//! as RFC 7230 asks, which changes the answer. Racket's server also accepts
//! lines ending in a bare CR. So values here keep trailing whitespace (only
//! the whitespace after the colon is dropped), and lines may end in CRLF, LF
//! or CR, as long as a head's lines all end the way its start line does
//! (see `LineEnds`): a CR or LF is never left inside a value.
//!
//! The reader fails a head as soon as it cannot become valid, byte by byte,
//! so that a server answers garbage (or TLS on a plain port) with 400 at
//! once instead of holding the connection until the handshake deadline.

use alloc::borrow::Cow;
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
        self.iter_named(name).flat_map(split_token_list).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
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

/// Which start line a head begins with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadKind {
    /// `METHOD SP target SP HTTP/1.x`: a server reads these.
    Request,
    /// `HTTP/1.x SP code [SP reason]`: a client reads these.
    Response,
}

/// How the lines of a head end: the way its start line ends.
///
/// Racket's server reads lines ending in CR, LF or CRLF, so a peer built to
/// it may end every line in a bare CR, and we read such heads. But a bare CR
/// in the middle of a CRLF head (`X-A: a\rUpgrade: websocket`) is another
/// matter: RFC 9112 §2.2 says to reject it or replace it with SP, because
/// readers disagree about whether it starts a new line. We reject (400)
/// rather than replace: a replaced CR would change what the sender wrote,
/// and in a draft-76 key a space is data (the answer divides by the count).
/// With the style fixed by the start line, a line ending is never a guess
/// that depends on bytes after the head: in a CR head the CR that ends the
/// empty line ends the head at once (key3 may follow, and may even begin
/// with LF), and in a CRLF head a CR must be followed by LF, a byte of the
/// head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineEnds {
    /// The start line has not ended yet.
    Unknown,
    /// CRLF, or a lone LF (RFC 9112 §2.2 lets a recipient take one).
    CrLf,
    /// A bare CR, for every line.
    Cr,
}

/// Where the line being read is in its grammar, so that a head that cannot
/// become valid (binary garbage, a TLS ClientHello on a plain port, a
/// request line without its version) fails on its first wrong byte or at
/// the end of the wrong line, not after a timeout. Bytes at or above 0x80
/// are let through where text may hold them; the line's full parse at its
/// end checks UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineCheck {
    /// Request line: this many method bytes so far.
    Method(usize),
    /// Request line: this many target bytes so far.
    Target(usize),
    /// Request line: this many bytes of `HTTP/1.x` so far.
    RequestVersion(usize),
    /// Status line: this many bytes of `HTTP/1.x` so far.
    StatusVersion(usize),
    /// Status line: this many digits of the code so far.
    Code(usize),
    /// Status line: in the reason phrase.
    Reason,
    /// Header line: this many name bytes so far.
    Name(usize),
    /// Header line: after the colon.
    Value,
}

/// `HTTP/1.` and a digit: the only versions we speak.
fn version_byte(at: usize, byte: u8) -> bool {
    match at {
        0..=6 => byte == b"HTTP/1."[at],
        7 => byte.is_ascii_digit(),
        _ => false,
    }
}

impl LineCheck {
    fn start(kind: HeadKind) -> Self {
        match kind {
            HeadKind::Request => LineCheck::Method(0),
            HeadKind::Response => LineCheck::StatusVersion(0),
        }
    }

    /// The state after `byte` (never CR or LF), or why no line can go on so.
    fn step(self, byte: u8) -> Result<Self, HandshakeError> {
        use LineCheck::*;
        Ok(match self {
            Method(n) if is_token_byte(byte) => Method(n + 1),
            Method(n) if n > 0 && byte == b' ' => Target(0),
            Target(n) if n > 0 && byte == b' ' => RequestVersion(0),
            Target(n) if byte > b' ' && byte != 0x7f => Target(n + 1),
            RequestVersion(at) if version_byte(at, byte) => RequestVersion(at + 1),
            Method(_) | Target(_) | RequestVersion(_) => return Err(HandshakeError::MalformedRequestLine),
            StatusVersion(8) if byte == b' ' => Code(0),
            StatusVersion(at) if version_byte(at, byte) => StatusVersion(at + 1),
            Code(n) if n < 3 && byte.is_ascii_digit() => Code(n + 1),
            Code(3) if byte == b' ' => Reason,
            Reason => Reason,
            StatusVersion(_) | Code(_) => return Err(HandshakeError::MalformedStatusLine),
            Name(0) if matches!(byte, b' ' | b'\t') => return Err(HandshakeError::ObsoleteLineFolding),
            Name(n) if is_token_byte(byte) => Name(n + 1),
            Name(n) if n > 0 && byte == b':' => Value,
            Value if byte != 0 => Value,
            Name(_) | Value => return Err(HandshakeError::MalformedHeader),
        })
    }

    /// Whether a line may end here.
    fn end(self) -> Result<(), HandshakeError> {
        match self {
            LineCheck::RequestVersion(8) | LineCheck::Code(3) | LineCheck::Reason | LineCheck::Value => {
                Ok(())
            }
            LineCheck::Method(_) | LineCheck::Target(_) | LineCheck::RequestVersion(_) => {
                Err(HandshakeError::MalformedRequestLine)
            }
            LineCheck::StatusVersion(_) | LineCheck::Code(_) => Err(HandshakeError::MalformedStatusLine),
            LineCheck::Name(_) => Err(HandshakeError::MalformedHeader),
        }
    }
}

/// Accumulates an HTTP head from input split anywhere, within limits, and
/// fails it as soon as it cannot become a valid head.
///
/// Lines end as the start line does ([`LineEnds`]): CRLF or LF, or a bare
/// CR throughout. Each line is checked byte by byte as it arrives and
/// parsed when it ends; scanning resumes where it stopped, so feeding a
/// head one byte at a time costs linear time.
#[derive(Debug)]
pub(crate) struct HeadReader {
    kind: HeadKind,
    buf: Vec<u8>,
    /// The start line's bytes (without its line ending), once it ended.
    start_line: Option<Range<usize>>,
    headers: Vec<Header>,
    line_start: usize,
    scan: usize,
    line_ends: LineEnds,
    check: LineCheck,
    max_bytes: usize,
    max_headers: usize,
}

impl HeadReader {
    pub(crate) fn new(kind: HeadKind, max_bytes: usize, max_headers: usize) -> Self {
        HeadReader {
            kind,
            buf: Vec::new(),
            start_line: None,
            headers: Vec::new(),
            line_start: 0,
            scan: 0,
            line_ends: LineEnds::Unknown,
            check: LineCheck::start(kind),
            max_bytes,
            max_headers,
        }
    }

    /// Takes bytes of the head from `input`.
    pub(crate) fn read(&mut self, input: &[u8]) -> Result<HeadProgress, Error> {
        let previous = self.buf.len();
        let taken = input.len().min(self.max_bytes.saturating_sub(previous));
        self.buf.extend_from_slice(&input[..taken]);
        while self.scan < self.buf.len() {
            let pos = self.scan;
            let ending = match (self.buf[pos], self.line_ends) {
                (b'\n', LineEnds::Cr) => return Err(HandshakeError::BareLineEnding.into()),
                (b'\n', _) => 1,
                (b'\r', LineEnds::Cr) => 1,
                (b'\r', _) => match self.buf.get(pos + 1) {
                    // CR or CRLF: the next byte, which is the head's, decides.
                    None => break,
                    Some(b'\n') => 2,
                    // The start line (or an empty line before it) sets the
                    // style; a bare CR after that is inside a line.
                    Some(_) if self.line_ends == LineEnds::Unknown => 1,
                    Some(_) => return Err(HandshakeError::BareLineEnding.into()),
                },
                _ => {
                    // Check up to the next candidate line ending in one go.
                    let rest = &self.buf[pos..];
                    let len = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                    for &byte in &rest[..len] {
                        self.check = self.check.step(byte)?;
                    }
                    self.scan += len;
                    continue;
                }
            };
            let line = self.line_start..pos;
            self.line_start = pos + ending;
            self.scan = self.line_start;
            if !line.is_empty() {
                self.end_line(line, ending == 1 && self.buf[pos] == b'\r')?;
            } else if self.start_line.is_some() {
                let end = self.line_start;
                self.buf.truncate(end);
                return Ok(HeadProgress::Complete(end - previous));
            }
            // RFC 9112 §2.2: empty lines before the start line are ignored.
        }
        if taken < input.len() {
            return Err(LimitError::HandshakeTooLarge { limit: self.max_bytes }.into());
        }
        Ok(HeadProgress::Partial)
    }

    /// A non-empty line ended: it must be whole, and it is parsed now.
    fn end_line(&mut self, line: Range<usize>, bare_cr: bool) -> Result<(), Error> {
        self.check.end()?;
        self.check = LineCheck::Name(0);
        if self.start_line.is_none() {
            let bytes = &self.buf[line.clone()];
            match self.kind {
                HeadKind::Request => parse_request_line(bytes).map(drop)?,
                HeadKind::Response => parse_status_line(bytes).map(drop)?,
            }
            self.start_line = Some(line);
            self.line_ends = if bare_cr { LineEnds::Cr } else { LineEnds::CrLf };
            return Ok(());
        }
        if self.headers.len() == self.max_headers {
            return Err(LimitError::TooManyHeaders { limit: self.max_headers }.into());
        }
        self.headers.push(parse_header(&self.buf[line])?);
        Ok(())
    }

    fn start_line(&self) -> &[u8] {
        self.start_line.clone().map_or(&[], |line| &self.buf[line])
    }

    /// The complete head as a request.
    pub(crate) fn request(&self) -> Result<RequestHead, HandshakeError> {
        let (text, method, target, minor_version) = parse_request_line(self.start_line())?;
        Ok(RequestHead {
            line: text.into(),
            method: method.into(),
            target: target.into(),
            minor_version,
            headers: Headers(self.headers.clone()),
        })
    }

    /// Nothing has been read yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The complete head as a response.
    pub(crate) fn response(&self) -> Result<ResponseHead, HandshakeError> {
        let (text, minor_version, status, reason) = parse_status_line(self.start_line())?;
        Ok(ResponseHead {
            line: text.into(),
            minor_version,
            status,
            reason: reason.into(),
            headers: Headers(self.headers.clone()),
        })
    }
}

/// A request head another HTTP parser read (see
/// `Connection::handle_request_head`), held to the rules and limits a head
/// read here is: the request line's grammar, header names that are tokens,
/// values without CR, LF or NUL, at most `max_headers` headers and
/// `max_bytes` in all (counted as the head's bytes with CRLF line ends).
pub(crate) fn parsed_request(
    line: &str,
    headers: Headers,
    max_bytes: usize,
    max_headers: usize,
) -> Result<RequestHead, Error> {
    if headers.len() > max_headers {
        return Err(LimitError::TooManyHeaders { limit: max_headers }.into());
    }
    let size = headers.iter().fold(line.len() + 4, |n, h| n + h.name.len() + h.value.len() + 4);
    if size > max_bytes {
        return Err(LimitError::HandshakeTooLarge { limit: max_bytes }.into());
    }
    if !headers.iter().all(Header::is_writable) {
        return Err(HandshakeError::MalformedHeader.into());
    }
    let (text, method, target, minor_version) = parse_request_line(line.as_bytes())?;
    Ok(RequestHead {
        line: text.into(),
        method: method.into(),
        target: target.into(),
        minor_version,
        headers,
    })
}

/// `METHOD SP target SP HTTP/1.x` → (line, method, target, x). Any 1.x is
/// read: a plain request may be HTTP/1.0, only an upgrade needs 1.1.
fn parse_request_line(line: &[u8]) -> Result<(&str, &str, &str, u8), HandshakeError> {
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
    Ok((text, method, target, minor_version))
}

/// `HTTP/1.x SP code [SP reason]` → (line, x, code, reason).
fn parse_status_line(line: &[u8]) -> Result<(&str, u8, u16, &str), HandshakeError> {
    let text = core::str::from_utf8(line).map_err(|_| HandshakeError::MalformedStatusLine)?;
    let (version, rest) = text.split_once(' ').ok_or(HandshakeError::MalformedStatusLine)?;
    let minor_version = parse_version(version).ok_or(HandshakeError::MalformedStatusLine)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HandshakeError::MalformedStatusLine);
    }
    let status = code.parse().map_err(|_| HandshakeError::MalformedStatusLine)?;
    Ok((text, minor_version, status, reason))
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
    let value = trim_ows_start(&line[colon + 1..]);
    if value.contains(&0) {
        return Err(HandshakeError::MalformedHeader);
    }
    // `name` is all token bytes, hence ASCII.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok(Header { name, value: value.to_vec() })
}

// ----- the token grammar (RFC 7230 §3.2.6, §7) ------------------------------
//
// What every header value the handshakes read as a list is made of:
// `Connection`, `Upgrade` and `Sec-WebSocket-Protocol` hold tokens;
// `Sec-WebSocket-Extensions` (`handshake/deflate.rs`) tokens and quoted
// strings, in elements whose own grammar (RFC 6455 §9.1) is built on these.

/// RFC 7230 `tchar`.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Optional whitespace (`OWS`: spaces and tabs) removed from the start.
pub(crate) fn trim_ows_start(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// Optional whitespace removed from both ends, for list elements.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let mut bytes = trim_ows_start(bytes);
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The `token` (`1*tchar`) `input` starts with, and what follows it;
/// `None` if `input` does not start with a token byte.
pub(crate) fn split_token(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = input.iter().position(|&b| !is_token_byte(b)).unwrap_or(input.len());
    (len > 0).then(|| input.split_at(len))
}

/// The `quoted-string` `input` starts with (its opening `"` first): the
/// text between the quotes with each `quoted-pair` unescaped (borrowed when
/// there is none), and what follows the closing quote. `None` if the string
/// is not closed or holds a byte neither `qdtext` nor `quoted-pair` allows
/// (a control character other than tab).
pub(crate) fn split_quoted_string(input: &[u8]) -> Option<(Cow<'_, [u8]>, &[u8])> {
    let [b'"', body @ ..] = input else {
        return None;
    };
    // HTAB / SP / VCHAR / obs-text: what `qdtext` (but for `"` and `\`) and
    // the escaped byte of a `quoted-pair` may be.
    let quotable = |b: u8| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff);
    let mut unescaped: Option<Vec<u8>> = None;
    let mut at = 0;
    loop {
        let b = *body.get(at)?;
        at += 1;
        match b {
            b'"' => break,
            b'\\' => {
                let escaped = body.get(at).copied().filter(|&b| quotable(b))?;
                unescaped.get_or_insert_with(|| body[..at - 1].to_vec()).push(escaped);
                at += 1;
            }
            _ if quotable(b) => {
                if let Some(buf) = &mut unescaped {
                    buf.push(b);
                }
            }
            _ => return None,
        }
    }
    let text = match unescaped {
        Some(buf) => Cow::Owned(buf),
        None => Cow::Borrowed(&body[..at - 1]),
    };
    Some((text, &body[at..]))
}

/// The elements of a token list (RFC 7230 §7 `#rule` of tokens:
/// `Connection`, `Upgrade`, `Sec-WebSocket-Protocol`), trimmed of OWS, empty
/// ones included (a list may contain them): split at every comma, since
/// tokens hold none and such a list has no quoted strings.
pub(crate) fn split_token_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// The elements of a comma-separated list (RFC 7230 §7 `#rule`) whose
/// elements may hold quoted strings (`Sec-WebSocket-Extensions`): split at
/// the commas outside them, untrimmed, empty elements included.
pub(crate) fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(value);
    core::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate() {
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
        read_as(HeadKind::Request, input)
    }

    fn read_as(kind: HeadKind, input: &[u8]) -> (Result<HeadProgress, Error>, HeadReader) {
        let mut reader = HeadReader::new(kind, 16 * 1024, 64);
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

    /// A request and a response head with every line ending in `eol`.
    fn heads(eol: &str) -> [(HeadKind, alloc::string::String); 2] {
        [
            (HeadKind::Request, alloc::format!("GET /a HTTP/1.1{eol}Host: h{eol}X-Sp: v {eol}{eol}")),
            (HeadKind::Response, alloc::format!("HTTP/1.1 101 Switching{eol}Host: h{eol}X-Sp: v {eol}{eol}")),
        ]
    }

    #[test]
    fn accepts_crlf_lf_and_bare_cr_line_endings_split_anywhere() {
        for eol in ["\r\n", "\n", "\r"] {
            for (kind, head) in heads(eol) {
                let mut wire = head.clone().into_bytes();
                // What follows may start with anything, LF included (a
                // draft-76 key3 or answer is random bytes).
                wire.extend_from_slice(b"\nXY\r");
                for split in 0..=wire.len() {
                    let mut reader = HeadReader::new(kind, 1024, 8);
                    let (first, second) = wire.split_at(split);
                    let progress = match reader.read(first).unwrap() {
                        HeadProgress::Complete(used) => used,
                        HeadProgress::Partial => {
                            split
                                + match reader.read(second).unwrap() {
                                    HeadProgress::Complete(used) => used,
                                    HeadProgress::Partial => {
                                        panic!("{kind:?} {eol:?} split at {split}: incomplete")
                                    }
                                }
                        }
                    };
                    assert_eq!(progress, head.len(), "{kind:?} {eol:?} split at {split}");
                    let headers = match kind {
                        HeadKind::Request => reader.request().unwrap().headers,
                        HeadKind::Response => reader.response().unwrap().headers,
                    };
                    assert_eq!(headers.get_str("host"), Some("h"));
                    assert_eq!(headers.get_str("x-sp"), Some("v "));
                    assert_eq!(headers.len(), 2);
                }
            }
        }
    }

    #[test]
    fn a_head_ending_in_bare_crs_completes_on_its_last_byte() {
        // With the start line's bare CR, every CR ends a line on its own:
        // the CR of the empty line ends the head without a look at the next
        // byte, which is not the head's (draft-76's key3 comes right after,
        // and nothing more may come until the server answers).
        for (kind, head) in heads("\r") {
            let mut reader = HeadReader::new(kind, 1024, 8);
            assert_eq!(reader.read(head.as_bytes()).unwrap(), HeadProgress::Complete(head.len()), "{kind:?}");
            let mut reader = HeadReader::new(kind, 1024, 8);
            for (at, byte) in head.bytes().enumerate() {
                let progress = reader.read(&[byte]).unwrap();
                let done = at + 1 == head.len();
                assert_eq!(progress, if done { HeadProgress::Complete(1) } else { HeadProgress::Partial });
            }
        }
        // In a CRLF head the last CR's LF is part of the head: it waits.
        let mut reader = HeadReader::new(HeadKind::Request, 1024, 8);
        assert_eq!(reader.read(b"GET / HTTP/1.1\r\n\r").unwrap(), HeadProgress::Partial);
        assert_eq!(reader.read(b"\nK").unwrap(), HeadProgress::Complete(1));
    }

    #[test]
    fn limits_are_enforced() {
        let mut reader = HeadReader::new(HeadKind::Request, 32, 64);
        let err = reader.read(&[b'a'; 40]).unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::HandshakeTooLarge { limit: 32 }));
        let mut reader = HeadReader::new(HeadKind::Request, 1024, 2);
        let err = reader.read(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n").unwrap_err();
        assert_eq!(err, Error::Limit(LimitError::TooManyHeaders { limit: 2 }));
        // A head of exactly the limit passes, whatever its line endings.
        for eol in ["\r\n", "\n", "\r"] {
            for (kind, head) in heads(eol) {
                let mut reader = HeadReader::new(kind, head.len(), 8);
                let mut wire = head.clone().into_bytes();
                wire.extend_from_slice(b"\n\n\n");
                assert_eq!(reader.read(&wire).unwrap(), HeadProgress::Complete(head.len()));
                let mut reader = HeadReader::new(kind, head.len() - 1, 8);
                assert!(reader.read(&wire).is_err(), "{kind:?} {eol:?}");
            }
        }
    }

    /// Heads cut right after the byte that makes them impossible: each must
    /// fail on that byte, fed whole or byte by byte, and not one earlier.
    const IMPOSSIBLE: &[(HeadKind, &[u8], HandshakeError)] = {
        use HandshakeError::*;
        use HeadKind::{Request as Q, Response as R};
        &[
            // Not HTTP at all: a TLS ClientHello on the plain port, binary.
            (Q, b"\x16", MalformedRequestLine),
            (Q, b"\x00", MalformedRequestLine),
            (Q, b"\xff", MalformedRequestLine),
            (Q, b"\r\n\x16", MalformedRequestLine),
            (R, b"\x16", MalformedStatusLine),
            (R, b"\x00", MalformedStatusLine),
            // Request lines: method, separators, target, version.
            (Q, b" ", MalformedRequestLine),
            (Q, b"GE\x00", MalformedRequestLine),
            (Q, b"GET\t", MalformedRequestLine),
            (Q, b"G(", MalformedRequestLine),
            (Q, b"GET  ", MalformedRequestLine),
            (Q, b"GET /\x01", MalformedRequestLine),
            (Q, b"GET /\x7f", MalformedRequestLine),
            (Q, b"GET /\r\n", MalformedRequestLine),
            (Q, b"GET /\n", MalformedRequestLine),
            (Q, b"GET / \r\n", MalformedRequestLine),
            (Q, b"GET / h", MalformedRequestLine),
            (Q, b"GET / HTTP/2", MalformedRequestLine),
            (Q, b"GET / HTTP/1.x", MalformedRequestLine),
            (Q, b"GET / HTTP/1.1 ", MalformedRequestLine),
            (Q, b"GET / HTTP/1.\r\n", MalformedRequestLine),
            (Q, b"GET /\xff HTTP/1.1\r\n", MalformedRequestLine),
            (Q, b"GET /a\rb", MalformedRequestLine),
            // Status lines.
            (R, b"HTTP/1.1\r\n", MalformedStatusLine),
            (R, b"HTTP/1.1 1O", MalformedStatusLine),
            (R, b"HTTP/1.1 1011", MalformedStatusLine),
            (R, b"HTTP/1.1 10\r\n", MalformedStatusLine),
            (R, b"HTTP/2", MalformedStatusLine),
            (R, b"h", MalformedStatusLine),
            // Header lines.
            (Q, b"GET / HTTP/1.1\r\nNoColon\r\n", MalformedHeader),
            (Q, b"GET / HTTP/1.1\r\nBad ", MalformedHeader),
            (Q, b"GET / HTTP/1.1\r\n:", MalformedHeader),
            (Q, b"GET / HTTP/1.1\r\n\x16", MalformedHeader),
            (Q, b"GET / HTTP/1.1\r\nA: x\x00", MalformedHeader),
            (Q, b"GET / HTTP/1.1\r\nA: x\r\n ", ObsoleteLineFolding),
            (R, b"HTTP/1.1 101 OK\r\n\t", ObsoleteLineFolding),
            (R, b"HTTP/1.1 101 OK\r\nX ", MalformedHeader),
            // A CR inside a line of a CRLF or LF head, an LF in a CR head,
            // and a CRLF head whose empty line is a bare CR.
            (Q, b"GET / HTTP/1.1\r\nX-A: a\rU", BareLineEnding),
            (Q, b"GET / HTTP/1.1\nX-A: a\rU", BareLineEnding),
            (Q, b"GET / HTTP/1.1\r\nX-A: a\r\r", BareLineEnding),
            (Q, b"GET / HTTP/1.1\r\nHost: h\r\n\rK", BareLineEnding),
            (Q, b"GET / HTTP/1.1\rHost: h\n", BareLineEnding),
            (Q, b"GET / HTTP/1.1\rHost: h\r\n", BareLineEnding),
            (R, b"HTTP/1.1 101 OK\r\nX-A: a\rU", BareLineEnding),
            (R, b"HTTP/1.1 101 OK\rX-A: a\n", BareLineEnding),
        ]
    };

    #[test]
    fn impossible_heads_fail_on_the_byte_that_makes_them_so() {
        for (kind, input, expected) in IMPOSSIBLE {
            let expected = Error::Handshake(expected.clone());
            let (r, _) = read_as(*kind, input);
            assert_eq!(r, Err(expected.clone()), "{kind:?} {input:?} whole");
            let mut reader = HeadReader::new(*kind, 1024, 8);
            let (last, before) = input.split_last().unwrap();
            for byte in before {
                let r = reader.read(&[*byte]);
                assert_eq!(r, Ok(HeadProgress::Partial), "{kind:?} {input:?} failed early");
            }
            assert_eq!(reader.read(&[*last]), Err(expected), "{kind:?} {input:?} byte by byte");
        }
    }

    #[test]
    fn http_1_0_requests_are_read() {
        // Refusing an upgrade over HTTP/1.0 is the connection's business; a
        // plain request over HTTP/1.0 is served.
        let (r, reader) = read_all(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(r, Ok(HeadProgress::Complete(18)));
        assert_eq!(reader.request().unwrap().minor_version, 0);
    }

    #[test]
    fn parses_status_lines() {
        let (_, reader) = read_as(HeadKind::Response, b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\r\n");
        let resp = reader.response().unwrap();
        assert_eq!((resp.status, resp.reason.as_str()), (101, "WebSocket Protocol Handshake"));
        let (_, reader) = read_as(HeadKind::Response, b"HTTP/1.1 404\r\n\r\n");
        assert_eq!(reader.response().unwrap().status, 404);
        let (r, _) = read_as(HeadKind::Response, b"HTTP/1.1 1O1 x\r\n\r\n");
        assert_eq!(r, Err(HandshakeError::MalformedStatusLine.into()));
    }

    #[test]
    fn connection_token_lists() {
        let headers = Headers(alloc::vec![Header::new("Connection", "keep-alive, Upgrade ")]);
        assert!(headers.has_token("connection", "upgrade"));
        assert!(!headers.has_token("connection", "close"));
    }
}
