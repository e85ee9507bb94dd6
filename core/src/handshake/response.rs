//! A plain HTTP response from a server: a refusal of the handshake, an
//! error status, or the answer to a request that was not an upgrade. Both
//! protocols' servers send it alike, and a driver can write one without a
//! connection ([`HttpResponse::encode`]).

use alloc::vec::Vec;

use super::http::{check_writable, reason_phrase, write_head, Header, Headers, ResponseHead};
use crate::error::Misuse;

/// A plain HTTP response: a refusal of the handshake, or the answer to a
/// request that was not an upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code (not 101).
    pub status: u16,
    /// Headers; `Content-Length` and `Connection: close` are added unless
    /// present.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status and a plain-text body.
    pub fn text(status: u16, body: &str) -> Self {
        HttpResponse {
            status,
            headers: alloc::vec![Header::new("Content-Type", "text/plain; charset=utf-8")],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Appends the response to `out` as it goes on the wire and returns its
    /// head. This needs no connection: a server over its connection limit
    /// answers 503 before it reads a byte. Fails, writing nothing, on a
    /// status outside 100–599 or 101, or on a header that cannot be written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<ResponseHead, Misuse> {
        self.check()?;
        Ok(self.write(out))
    }

    /// Refuses, as [`encode`](Self::encode) does, what cannot go on the
    /// wire.
    pub(crate) fn check(&self) -> Result<(), Misuse> {
        if !(100..=599).contains(&self.status) || self.status == 101 {
            return Err(Misuse::InvalidStatus);
        }
        check_writable(&self.headers)
    }

    /// Writes a response already checked (or built by the core itself),
    /// adding `Content-Length` and `Connection: close` unless present.
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> ResponseHead {
        let reason = reason_phrase(self.status);
        let line = alloc::format!("HTTP/1.1 {} {reason}", self.status);
        let mut headers = self.headers.clone();
        let has = |headers: &[Header], name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
        if !has(&headers, "Content-Length") {
            headers.push(Header::new("Content-Length", alloc::format!("{}", self.body.len())));
        }
        if !has(&headers, "Connection") {
            headers.push(Header::new("Connection", "close"));
        }
        write_head(out, &line, &headers);
        out.extend_from_slice(&self.body);
        ResponseHead {
            minor_version: 1,
            status: self.status,
            reason: reason.into(),
            line,
            headers: Headers(headers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_response_encodes_without_a_connection() {
        let mut out = b"kept".to_vec();
        let head = HttpResponse::text(503, "busy\n").encode(&mut out).unwrap();
        assert_eq!(
            out,
            b"keptHTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
        );
        assert_eq!((head.status, head.line.as_str()), (503, "HTTP/1.1 503 Service Unavailable"));
        assert_eq!(head.headers.get_str("Content-Length"), Some("5"));
    }

    #[test]
    fn http_response_encode_refuses_what_cannot_be_written() {
        let mut out = Vec::new();
        for status in [0, 99, 101, 600] {
            let error = HttpResponse::text(status, "").encode(&mut out).unwrap_err();
            assert_eq!(error, Misuse::InvalidStatus, "{status}");
        }
        let mut split = HttpResponse::text(200, "");
        split.headers.push(Header::new("X-Injected", "a\r\nSet-Cookie: b"));
        assert!(matches!(split.encode(&mut out), Err(Misuse::InvalidHeader)));
        assert!(out.is_empty(), "a refused response writes nothing");
    }
}
