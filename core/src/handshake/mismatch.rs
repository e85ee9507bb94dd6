//! Telling a client that its server may speak the other protocol.
//!
//! A client has to choose draft-76 or RFC 6455 before it sends a byte
//! (docs/PROTOCOLS.md §5), and a server speaking the other one answers in
//! ways that, bare, say nothing about why: a 400 or 426 from an RFC 6455
//! server to a draft-76 request, a 101 without `Sec-WebSocket-Accept` from a
//! draft-76 server to an RFC 6455 one. [`suggested_protocol`] reads the
//! failed handshake and says which protocol to try, so that each driver can
//! name its own option for it.

use crate::config::{Framing, Protocol};
use crate::error::Error;
use crate::handshake::http::ResponseHead;

/// The protocol a client whose opening handshake failed with `error`
/// should try instead, judged from the server's `response` (the core's
/// [`crate::Connection::response`]); `None` when nothing suggests it.
///
/// The rules (docs/PROTOCOLS.md §5.1):
/// - asked draft-76, and refused with 400 (RFC 6455 §4.2.1's answer to a
///   request without `Sec-WebSocket-Key`) or 426 (§4.4's "Upgrade
///   Required"): RFC 6455;
/// - asked draft-76, answered 101 with `Sec-WebSocket-Accept` (an RFC 6455
///   answer): RFC 6455;
/// - asked RFC 6455, refused with any 4xx (a draft-76 server finds no
///   `Sec-WebSocket-Key1` and calls it a bad request, or serves the request
///   as a plain page that is not found): draft-76. 3xx and 5xx are not
///   hinted: a redirect or a server's own trouble says nothing about the
///   protocol;
/// - asked RFC 6455, answered 101 with `Sec-WebSocket-Location` or
///   `Sec-WebSocket-Origin` and no `Sec-WebSocket-Accept` (a draft-76
///   answer): draft-76.
///
/// Draft-76 is suggested with the 'old' framing, the seed's default: the
/// handshake cannot tell which framing a server uses.
pub fn suggested_protocol(
    asked: Protocol,
    error: &Error,
    response: Option<&ResponseHead>,
) -> Option<Protocol> {
    let response = response?;
    let answered_rfc6455 = response.status == 101 && response.headers.contains("Sec-WebSocket-Accept");
    let answered_draft76 = response.status == 101
        && !response.headers.contains("Sec-WebSocket-Accept")
        && (response.headers.contains("Sec-WebSocket-Location")
            || response.headers.contains("Sec-WebSocket-Origin"));
    match (asked, error) {
        (Protocol::Draft76(_), Error::Rejected { status: 400 | 426 }) => Some(Protocol::Rfc6455),
        (Protocol::Draft76(_), Error::Handshake(_)) if answered_rfc6455 => Some(Protocol::Rfc6455),
        (Protocol::Rfc6455, Error::Rejected { status: 400..=499 }) => Some(Protocol::Draft76(Framing::Old)),
        (Protocol::Rfc6455, Error::Handshake(_)) if answered_draft76 => Some(Protocol::Draft76(Framing::Old)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HandshakeError;
    use crate::handshake::http::{Header, Headers};
    use alloc::string::String;
    use alloc::vec::Vec;

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        let headers: Vec<Header> = headers.iter().map(|(n, v)| Header::new(*n, *v)).collect();
        ResponseHead {
            line: alloc::format!("HTTP/1.1 {status} X"),
            minor_version: 1,
            status,
            reason: String::from("X"),
            headers: Headers(headers),
        }
    }

    const DRAFT76: Protocol = Protocol::Draft76(Framing::New);
    const SUGGEST_DRAFT76: Option<Protocol> = Some(Protocol::Draft76(Framing::Old));

    #[test]
    fn a_draft76_client_refused_with_400_or_426_is_told_of_rfc6455() {
        for status in [400, 426] {
            let error = Error::Rejected { status };
            let head = response(status, &[("Sec-WebSocket-Version", "13")]);
            assert_eq!(suggested_protocol(DRAFT76, &error, Some(&head)), Some(Protocol::Rfc6455), "{status}");
        }
        for status in [403, 404, 500, 503] {
            let error = Error::Rejected { status };
            assert_eq!(suggested_protocol(DRAFT76, &error, Some(&response(status, &[]))), None, "{status}");
        }
    }

    #[test]
    fn an_rfc6455_answer_to_a_draft76_client_suggests_rfc6455() {
        let head = response(101, &[("Upgrade", "websocket"), ("Sec-WebSocket-Accept", "x")]);
        let error = Error::Handshake(HandshakeError::MissingHeader("Sec-WebSocket-Origin"));
        assert_eq!(suggested_protocol(DRAFT76, &error, Some(&head)), Some(Protocol::Rfc6455));
    }

    #[test]
    fn an_rfc6455_client_refused_with_a_4xx_is_told_of_draft76() {
        for status in [400, 403, 404, 426, 499] {
            let error = Error::Rejected { status };
            let head = response(status, &[]);
            assert_eq!(
                suggested_protocol(Protocol::Rfc6455, &error, Some(&head)),
                SUGGEST_DRAFT76,
                "{status}"
            );
        }
        for status in [301, 500, 503] {
            let error = Error::Rejected { status };
            let head = response(status, &[]);
            assert_eq!(suggested_protocol(Protocol::Rfc6455, &error, Some(&head)), None, "{status}");
        }
    }

    #[test]
    fn a_draft76_answer_to_an_rfc6455_client_suggests_draft76() {
        let error = Error::Handshake(HandshakeError::MissingHeader("Sec-WebSocket-Accept"));
        for header in ["Sec-WebSocket-Location", "Sec-WebSocket-Origin"] {
            let head = response(101, &[("Upgrade", "WebSocket"), (header, "x")]);
            assert_eq!(
                suggested_protocol(Protocol::Rfc6455, &error, Some(&head)),
                SUGGEST_DRAFT76,
                "{header}"
            );
        }
        // A broken RFC 6455 answer (a wrong accept) is not a draft-76 one.
        let head = response(101, &[("Sec-WebSocket-Accept", "wrong"), ("Sec-WebSocket-Origin", "x")]);
        assert_eq!(suggested_protocol(Protocol::Rfc6455, &error, Some(&head)), None);
    }

    #[test]
    fn no_response_or_other_errors_suggest_nothing() {
        let error = Error::Rejected { status: 400 };
        assert_eq!(suggested_protocol(DRAFT76, &error, None), None);
        let head = response(101, &[("Sec-WebSocket-Location", "ws://x/")]);
        let error = Error::Timeout(crate::error::Timer::Handshake);
        assert_eq!(suggested_protocol(Protocol::Rfc6455, &error, Some(&head)), None);
    }
}
