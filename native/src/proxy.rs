//! HTTP CONNECT proxies: which one to use (the option, or `HTTPS_PROXY` /
//! `HTTP_PROXY` and `NO_PROXY`), and opening the tunnel.
//!
//! The CONNECT exchange is plain HTTP/1.1 between us and the proxy, under
//! the WebSocket handshake rather than part of it, so it lives here and not
//! in the core.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};

use base64::Engine;
use url::Url;

use crate::error::Error;

/// Which proxy a client goes through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The environment's: `HTTPS_PROXY` / `https_proxy` for `wss://`,
    /// `HTTP_PROXY` / `http_proxy` for `ws://`, unless the host matches
    /// `NO_PROXY` / `no_proxy` (a comma list of host names, domain suffixes,
    /// addresses, or `*`) or is a loopback address or `localhost`. The
    /// default.
    #[default]
    FromEnv,
    /// Connect directly.
    None,
    /// This proxy (`http://[user:password@]host[:port]`), for every host.
    Url(Url),
}

/// Longest proxy response head we read.
const MAX_HEAD: usize = 8 * 1024;

/// The proxy to use for `host` (IPv6 without brackets), if any.
pub(crate) fn choose(proxy: &Proxy, secure: bool, host: &str, port: u16) -> Result<Option<Url>, Error> {
    match proxy {
        Proxy::None => Ok(None),
        Proxy::Url(url) => check(url.clone()).map(Some),
        Proxy::FromEnv => {
            let names: &[&str] =
                if secure { &["https_proxy", "HTTPS_PROXY"] } else { &["http_proxy", "HTTP_PROXY"] };
            let Some(value) =
                names.iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
            else {
                return Ok(None);
            };
            let no_proxy = ["no_proxy", "NO_PROXY"].iter().find_map(|name| std::env::var(name).ok());
            if is_local(host) || no_proxy.is_some_and(|list| bypasses(&list, host, port)) {
                return Ok(None);
            }
            parse(value.trim()).map(Some)
        }
    }
}

/// A proxy URL from the environment, where the scheme is often left out.
fn parse(value: &str) -> Result<Url, Error> {
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
    let url =
        Url::parse(&with_scheme).map_err(|e| Error::proxy(format!("invalid proxy URL {value:?}: {e}")))?;
    check(url)
}

fn check(url: Url) -> Result<Url, Error> {
    if url.scheme() != "http" {
        return Err(Error::proxy(format!(
            "unsupported proxy scheme {:?} (only http:// proxies)",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(Error::proxy(format!("proxy URL {url} has no host")));
    }
    Ok(url)
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `NO_PROXY`'s list exempts `host`: `*`, the host itself, or a
/// domain it is under (`example.com` and `.example.com` both cover
/// `a.example.com`), optionally with a port that must match.
pub(crate) fn bypasses(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.');
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, entry_port) = split_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let name = name.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.');
        if name.is_empty() {
            return false;
        }
        host.eq_ignore_ascii_case(name)
            || (host.len() > name.len()
                && host.as_bytes()[host.len() - name.len() - 1] == b'.'
                && host[host.len() - name.len()..].eq_ignore_ascii_case(name))
    })
}

/// `name:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or a bare name.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, after)) = rest.split_once(']') {
            return (addr, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Asks the proxy on `stream` for a tunnel to `authority` (`host:port`,
/// IPv6 in brackets) and reads its answer; any 2xx opens the tunnel.
pub(crate) fn tunnel(stream: &mut TcpStream, proxy: &Url, authority: &str) -> Result<(), Error> {
    stream
        .write_all(&connect_request(proxy, authority))
        .map_err(|e| Error::proxy(format!("writing CONNECT: {e}")))?;
    // Byte by byte, so that nothing after the head (the tunnel's first
    // bytes) is taken from the stream.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head_complete(&head)? {
        match stream.read(&mut byte) {
            Ok(0) => return Err(Error::proxy("connection ended before the CONNECT response")),
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::proxy(format!("reading the CONNECT response: {e}"))),
        }
    }
    check_response(&head, authority)
}

/// The CONNECT request for a tunnel to `authority` through `proxy`, with
/// its credentials if the URL has some. (The exchange itself is the
/// driver's: [`tunnel`] here, `hybi::tokio`'s `connect` for the async one.)
pub(crate) fn connect_request(proxy: &Url, authority: &str) -> Vec<u8> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if !proxy.username().is_empty() {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credentials = format!("{}:{}", decode(proxy.username()), decode(proxy.password().unwrap_or("")));
        let token = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Whether `head`, the bytes of the proxy's answer read so far (one at a
/// time: nothing after the head may be taken), is a whole head; an error
/// once it is longer than any head we accept.
pub(crate) fn head_complete(head: &[u8]) -> Result<bool, Error> {
    if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
        return Ok(true);
    }
    if head.len() >= MAX_HEAD {
        return Err(Error::proxy(format!("response head exceeds {MAX_HEAD} bytes")));
    }
    Ok(false)
}

/// The proxy's answer to CONNECT: any 2xx opens the tunnel.
pub(crate) fn check_response(head: &[u8], authority: &str) -> Result<(), Error> {
    let head = String::from_utf8_lossy(head);
    let status_line = head.lines().next().unwrap_or("").trim();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) if version.starts_with("HTTP/1.") => Ok(()),
        Some(_) if version.starts_with("HTTP/1.") => {
            Err(Error::proxy(format!("proxy refused CONNECT to {authority}: {status_line}")))
        }
        _ => Err(Error::proxy(format!("malformed CONNECT response {status_line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_lists() {
        assert!(bypasses("*", "example.com", 443));
        assert!(bypasses("example.com", "example.com", 443));
        assert!(bypasses("example.com", "a.b.example.com", 443));
        assert!(bypasses(" .example.com ,other", "a.example.com", 443));
        assert!(bypasses("*.example.com", "a.example.com", 443));
        assert!(!bypasses("example.com", "notexample.com", 443));
        assert!(!bypasses("a.example.com", "example.com", 443));
        assert!(bypasses("Example.COM", "www.example.com.", 80));
        assert!(bypasses("example.com:8080", "example.com", 8080));
        assert!(!bypasses("example.com:8080", "example.com", 80));
        assert!(bypasses("10.0.0.1", "10.0.0.1", 80));
        assert!(bypasses("::1", "::1", 80));
        assert!(bypasses("[::1]:80", "::1", 80));
        assert!(!bypasses("", "example.com", 80));
        assert!(!bypasses(",,", "example.com", 80));
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(parse("proxy.local:3128").unwrap().as_str(), "http://proxy.local:3128/");
        assert!(parse("https://proxy.local").is_err());
        assert!(parse("socks5://proxy.local").unwrap_err().to_string().contains("socks5"));
        assert_eq!(choose(&Proxy::None, true, "example.com", 443).unwrap(), None);
        let url = Url::parse("http://p:1").unwrap();
        assert_eq!(choose(&Proxy::Url(url.clone()), false, "localhost", 80).unwrap(), Some(url));
        assert!(is_local("127.0.0.1") && is_local("::1") && is_local("LOCALHOST") && !is_local("10.1.1.1"));
    }
}
