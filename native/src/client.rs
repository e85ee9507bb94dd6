//! The client (the seed's `ws-connect`): URL to socket (directly or through
//! a CONNECT proxy), TLS for `wss://`, then the core's opening handshake.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use hybi_core::{ClientRequest, Config, Event, Header, Protocol, Target};
use url::{Host, Url};

use crate::clock::Clock;
use crate::conn::{Connection, Shared};
use crate::entropy::OsEntropy;
use crate::error::{Error, ErrorKind};
use crate::proxy::{self, Proxy};
use crate::transport;

/// How a client connects: everything [`connect_with`] takes besides the URL.
///
/// Build it from the default, which speaks RFC 6455, as today's servers
/// do (and as the seed's successor, Racket's `rfc6455` package, does);
/// the seed's draft-76 is one field away:
///
/// ```
/// use hybi::{Config, ConnectOptions, DeflateConfig, Framing, Protocol, Timeouts};
/// use std::time::Duration;
///
/// let options = ConnectOptions { subprotocols: vec!["chat".into()], ..ConnectOptions::default() }
///     .header("Origin", "http://example.com");
/// assert_eq!(options.config.protocol, Protocol::Rfc6455);
///
/// // A draft-76 server, as the seed's `ws-connect` spoke to.
/// let draft76 = ConnectOptions::new().protocol(Protocol::Draft76(Framing::Old));
///
/// // Any of the core's settings, through `config`.
/// let tuned = ConnectOptions {
///     config: Config {
///         deflate: Some(DeflateConfig::default()),
///         timeouts: Timeouts { keepalive: Some(Duration::from_secs(20)), ..Timeouts::default() },
///         ..Config::default()
///     },
///     ..ConnectOptions::default()
/// };
/// # let _ = (draft76, tuned);
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The core's settings: `config.protocol` (default RFC 6455;
    /// `Protocol::Draft76(_)` for the seed's servers: a handshake failing in
    /// a way that suggests the other protocol says so,
    /// [`Error::suggested_protocol`]), permessage-deflate to offer
    /// (`config.deflate`, default none), size limits on what the server may
    /// send, the handshake, close, idle and keepalive deadlines, `auto_pong`
    /// (`false`: pings go unanswered; this driver does not show pings to the
    /// application) and the rest. This driver sets `secure` from the URL and
    /// `streaming` to false (`recv` returns whole messages) itself; `accept`
    /// and `framing` are a server's.
    pub config: Config,
    /// Headers added to the opening request (`Origin`, `Cookie`, ...).
    pub headers: Vec<Header>,
    /// Subprotocols to offer, most preferred first (draft-76: at most one).
    pub subprotocols: Vec<String>,
    /// How long a TCP connect (to the server or the proxy) may take.
    /// Default 30 s.
    pub connect_timeout: Option<Duration>,
    /// See [`Connection::set_read_timeout`]. Default none.
    pub read_timeout: Option<Duration>,
    /// See [`Connection::set_write_timeout`]. Default none.
    pub write_timeout: Option<Duration>,
    /// Which HTTP CONNECT proxy to go through. Default: the environment's.
    pub proxy: Proxy,
    /// Root certificates (PEM) trusted for `wss://` besides webpki-roots.
    #[cfg(feature = "tls")]
    pub extra_roots_pem: Vec<u8>,
    /// A complete rustls configuration for `wss://`, replacing the one built
    /// from webpki-roots and `extra_roots_pem`.
    #[cfg(feature = "tls")]
    pub tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `wss://`: accept any server certificate (expired, self-signed, for
    /// another name), as `curl -k` does. The connection is still encrypted,
    /// but anyone on the path can pose as the server: for tests and
    /// debugging only. Ignored when `tls_config` is set. Default false.
    #[cfg(feature = "tls")]
    pub danger_accept_invalid_certs: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            config: Config::default(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: None,
            write_timeout: None,
            proxy: Proxy::default(),
            #[cfg(feature = "tls")]
            extra_roots_pem: Vec::new(),
            #[cfg(feature = "tls")]
            tls_config: None,
            #[cfg(feature = "tls")]
            danger_accept_invalid_certs: false,
        }
    }
}

impl ConnectOptions {
    /// The defaults; see each field.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header to the opening request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// What the core is given for a connection to `target`: the config
    /// (with `secure` from the URL, and whole messages) and the opening
    /// request. Both drivers' `connect` read the options here.
    pub(crate) fn into_core(self, target: Target) -> (Config, ClientRequest) {
        let config = Config { secure: target.secure, streaming: false, ..self.config };
        (config, ClientRequest { target, subprotocols: self.subprotocols, headers: self.headers })
    }

    /// Speaks `protocol` (sets `config.protocol`).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }
}

/// Connects to a `ws://` or `wss://` URL with extra request headers (the
/// seed's `ws-connect`), speaking RFC 6455. For draft-76, subprotocols and
/// the rest, use [`connect_with`].
///
/// ```no_run
/// let conn = hybi::connect("ws://localhost:8080/echo", &[("Origin", "http://localhost")])?;
/// conn.send_text("hello")?;
/// println!("{:?}", conn.recv()?);
/// conn.close()?;
/// # Ok::<(), hybi::Error>(())
/// ```
pub fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Connection, Error> {
    let headers = headers.iter().map(|(name, value)| Header::new(*name, *value)).collect();
    connect_with(url, ConnectOptions { headers, ..ConnectOptions::default() })
}

/// Where a URL points, in the forms the socket, TLS and the core need.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) target: Target,
    /// Host without IPv6 brackets (for TLS and `NO_PROXY`).
    pub(crate) bare_host: String,
    pub(crate) port: u16,
    /// `host:port` with IPv6 in brackets (for CONNECT).
    pub(crate) authority: String,
}

pub(crate) fn endpoint(raw: &str) -> Result<Endpoint, Error> {
    let url = Url::parse(raw).map_err(|e| Error::invalid_url(raw, e))?;
    let secure = match url.scheme() {
        "ws" => false,
        "wss" => true,
        other => return Err(Error::invalid_url(raw, format!("scheme {other:?} is not ws or wss"))),
    };
    if url.fragment().is_some() {
        // RFC 6455 §3: fragment identifiers are meaningless in these URLs.
        return Err(Error::invalid_url(raw, "WebSocket URLs have no #fragment"));
    }
    let (host, bare_host) = match url.host() {
        Some(Host::Domain(d)) => (d.to_owned(), d.to_owned()),
        Some(Host::Ipv4(ip)) => (ip.to_string(), ip.to_string()),
        Some(Host::Ipv6(ip)) => (format!("[{ip}]"), ip.to_string()),
        None => return Err(Error::invalid_url(raw, "no host")),
    };
    let port = url.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
    let mut resource = url.path().to_owned();
    if let Some(query) = url.query() {
        resource.push('?');
        resource.push_str(query);
    }
    let authority = format!("{host}:{port}");
    Ok(Endpoint { target: Target { host, port: url.port(), resource, secure }, bare_host, port, authority })
}

fn tcp_connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::io_as(ErrorKind::Io, std::io::Error::new(e.kind(), format!("resolving {host}: {e}")))
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(std::io::Error::new(e.kind(), format!("connecting to {addr}: {e}"))),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => Error::new(ErrorKind::Io, format!("no address found for {host}")),
    })
}

/// Connects to a `ws://` or `wss://` URL as `options` say, through an HTTP
/// CONNECT proxy if one applies, and completes the opening handshake.
///
/// A server answering with another status than 101 gives an error of kind
/// [`ErrorKind::HandshakeRefused`] whose [`Error::status`] is that status
/// and [`Error::response`] and [`Error::response_body`] the whole answer
/// (the body up to its `Content-Length` and 64 KiB, read for at most half
/// a second more when its end is not marked). When the failure
/// suggests the server speaks the other protocol (docs/PROTOCOLS.md §5.1),
/// [`Error::suggested_protocol`] says which and the message names the
/// option to set.
pub fn connect_with(url: &str, options: ConnectOptions) -> Result<Connection, Error> {
    let endpoint = endpoint(url)?;
    let secure = endpoint.target.secure;
    let proxy = proxy::choose(&options.proxy, secure, &endpoint.bare_host, endpoint.port)?;
    let stream = match &proxy {
        Some(proxy_url) => {
            let host = proxy_url.host_str().unwrap_or_default().trim_matches(|c| c == '[' || c == ']');
            let port = proxy_url.port_or_known_default().unwrap_or(80);
            let mut stream = tcp_connect(host, port, options.connect_timeout)
                .map_err(|e| Error::proxy(format!("cannot reach {host}:{port}: {e}")))?;
            stream.set_read_timeout(options.config.timeouts.handshake)?;
            proxy::tunnel(&mut stream, proxy_url, &endpoint.authority)?;
            stream
        }
        None => tcp_connect(&endpoint.bare_host, endpoint.port, options.connect_timeout)?,
    };
    stream.set_nodelay(true)?;
    let clock = Clock::new();
    let control = stream.try_clone()?;
    // One handshake deadline from here, for TLS and WebSocket together.
    let deadline = clock.deadline(options.config.timeouts.handshake);
    let halves = if secure {
        tls_handshake(stream, &endpoint, &options, deadline)?
    } else {
        transport::plain(Box::new(stream.try_clone()?), Box::new(stream))
    };
    // The handshake's own timeouts are over: from here the core's deadlines
    // set the read timeout, and the option the write timeout.
    control.set_read_timeout(None)?;
    control.set_write_timeout(options.write_timeout.filter(|t| !t.is_zero()))?;

    let read_timeout = options.read_timeout;
    let (config, request) = options.into_core(endpoint.target);
    let protocol = config.protocol;
    let core = hybi_core::Connection::client(clock.start(), config, request, Box::new(OsEntropy::new()))?;
    let shared = Shared::new(core, clock, halves, Box::new(control))?;
    let conn = open(shared, protocol)?;
    conn.set_read_timeout(read_timeout);
    Ok(conn)
}

/// The client's opening handshake on a connection made around a client
/// core: sends the request the core queued and reads the answer.
pub(crate) fn open(shared: std::sync::Arc<Shared>, protocol: Protocol) -> Result<Connection, Error> {
    shared.command(|_| Ok(()))?;
    match shared.next_handshake_event()? {
        Event::Open => Ok(Connection::from_shared(shared)),
        Event::Error(e) => {
            let body = match e {
                hybi_core::Error::Rejected { .. } => shared.refused_body(crate::conn::REFUSED_BODY_WAIT),
                _ => Vec::new(),
            };
            Err(Error::handshake_failed(e, protocol, shared.response(), body))
        }
        other => Err(Error::new(ErrorKind::Protocol, format!("unexpected handshake event {other:?}"))),
    }
}

#[cfg(feature = "tls")]
fn tls_handshake(
    stream: TcpStream,
    endpoint: &Endpoint,
    options: &ConnectOptions,
    deadline: Option<std::time::Instant>,
) -> Result<(transport::ReadHalf, transport::WriteHalf), Error> {
    let session = crate::tls::client_session(options.tls_client_config()?, &endpoint.bare_host)?;
    transport::tls(stream, session, deadline).map_err(Error::tls_handshake)
}

#[cfg(feature = "tls")]
impl ConnectOptions {
    /// The rustls configuration `wss://` uses: `tls_config`, or one built
    /// from webpki-roots and `extra_roots_pem` (or trusting anything). Both
    /// drivers' `connect` read it here.
    pub(crate) fn tls_client_config(&self) -> Result<std::sync::Arc<rustls::ClientConfig>, Error> {
        match &self.tls_config {
            Some(config) => Ok(std::sync::Arc::clone(config)),
            None if self.danger_accept_invalid_certs => crate::tls::insecure_client_config(),
            None => crate::tls::client_config(&self.extra_roots_pem),
        }
    }
}

#[cfg(not(feature = "tls"))]
fn tls_handshake(
    _: TcpStream,
    _: &Endpoint,
    _: &ConnectOptions,
    _: Option<std::time::Instant>,
) -> Result<(transport::ReadHalf, transport::WriteHalf), Error> {
    Err(Error::new(ErrorKind::Tls, "wss:// needs hybi's `tls` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_targets() {
        let e = endpoint("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            e.target,
            Target { host: "example.com".into(), port: None, resource: "/chat?room=1".into(), secure: false }
        );
        assert_eq!((e.port, e.authority.as_str()), (80, "example.com:80"));
        let e = endpoint("wss://[::1]:8443").unwrap();
        assert_eq!(e.target.host, "[::1]");
        assert_eq!(e.target.port, Some(8443));
        assert_eq!(e.target.resource, "/");
        assert_eq!(e.bare_host, "::1");
        assert_eq!(e.authority, "[::1]:8443");
        let e = endpoint("wss://example.com:443/").unwrap();
        assert_eq!((e.target.port, e.port), (None, 443));
    }

    #[test]
    fn bad_urls_are_invalid_url_errors() {
        for bad in ["http://example.com/", "ws://", "not a url", "ws://example.com/#frag"] {
            let e = endpoint(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad}");
            assert!(e.to_string().contains(bad) || bad == "ws://", "{e}");
        }
    }
}
