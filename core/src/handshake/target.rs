//! Where a client connects, as both protocols' requests state it (`Host`,
//! and draft-76's `Sec-WebSocket-Location`).

use alloc::string::String;
use core::fmt::Write;

/// Where a client connects: the parts of a `ws://` or `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address literal (IPv6 in brackets), without port.
    pub host: String,
    /// Port, if not the scheme's default (80 for ws, 443 for wss).
    pub port: Option<u16>,
    /// The resource name: path and query, starting with `/`.
    pub resource: String,
    /// `wss://` (TLS) rather than `ws://`.
    pub secure: bool,
}

impl Target {
    /// The `Host` header value: host, and the port when it is not the default.
    pub fn host_header(&self) -> String {
        let mut host = self.host.clone();
        if let Some(port) = self.non_default_port() {
            let _ = write!(host, ":{port}");
        }
        host
    }

    /// The URL as `Sec-WebSocket-Location` states it.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let mut url = String::new();
        let _ = write!(url, "{scheme}://{}{}", self.host_header(), self.resource);
        url
    }

    fn non_default_port(&self) -> Option<u16> {
        let default = if self.secure { 443 } else { 80 };
        self.port.filter(|&p| p != default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_and_host() {
        let target =
            Target { host: "example.com".into(), port: Some(8080), resource: "/a?b".into(), secure: false };
        assert_eq!(target.host_header(), "example.com:8080");
        assert_eq!(target.url(), "ws://example.com:8080/a?b");
        let target = Target { port: Some(443), secure: true, ..target };
        assert_eq!(target.url(), "wss://example.com/a?b");
    }
}
