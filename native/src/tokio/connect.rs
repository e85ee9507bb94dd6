//! `connect`: a URL to an open [`WebSocket`], over tokio's TCP, through an
//! HTTP CONNECT proxy if one applies, with TLS for `wss://`; the blocking
//! `connect_with`'s steps, reading the same [`ConnectOptions`].

use std::io;

use ::tokio::io::{AsyncReadExt, AsyncWriteExt};
use ::tokio::net::TcpStream;
use ::tokio::time::Instant;

use super::{client_at, MaybeTls, WebSocket};
use crate::client::{endpoint, ConnectOptions, Endpoint};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::proxy;

/// Connects to a `ws://` or `wss://` URL as `options` say (the blocking
/// [`connect_with`](crate::connect_with)'s options, with the same errors:
/// a refusal's status, response and body, the other protocol suggested).
/// One handshake deadline (`config.timeouts.handshake`) covers TLS and the
/// WebSocket handshake together. `read_timeout` and `write_timeout` are
/// the blocking driver's: here, wrap a call in `tokio::time::timeout`.
///
/// Cancel-safe in the sense that a dropped `connect` leaves nothing
/// behind: the connection it was making is closed.
pub async fn connect(url: &str, options: ConnectOptions) -> Result<WebSocket<MaybeTls>, Error> {
    let endpoint = endpoint(url)?;
    let secure = endpoint.target.secure;
    let handshake = options.config.timeouts.handshake;
    let stream = match proxy::choose(&options.proxy, secure, &endpoint.bare_host, endpoint.port)? {
        Some(proxy_url) => {
            let host = proxy_url.host_str().unwrap_or_default().trim_matches(|c| c == '[' || c == ']');
            let port = proxy_url.port_or_known_default().unwrap_or(80);
            let mut stream = tcp_connect(host, port, options.connect_timeout)
                .await
                .map_err(|e| Error::proxy(format!("cannot reach {host}:{port}: {e}")))?;
            within(handshake, tunnel(&mut stream, &proxy_url, &endpoint.authority))
                .await
                .map_err(|_| Error::proxy("no CONNECT answer within the handshake timeout"))??;
            stream
        }
        None => tcp_connect(&endpoint.bare_host, endpoint.port, options.connect_timeout).await?,
    };
    stream.set_nodelay(true)?;
    // One handshake deadline from here, for TLS and WebSocket together.
    let clock = Clock::new();
    let deadline = clock.deadline(handshake).map(Instant::from_std);
    let io = if secure { tls(stream, &endpoint, &options, deadline).await? } else { MaybeTls::Plain(stream) };
    let (config, request) = options.into_core(endpoint.target);
    client_at(io, request, config, clock).await
}

/// `future`, given up after `limit` if there is one.
async fn within<T>(
    limit: Option<std::time::Duration>,
    future: impl std::future::Future<Output = T>,
) -> Result<T, ::tokio::time::error::Elapsed> {
    match limit {
        Some(limit) => ::tokio::time::timeout(limit, future).await,
        None => Ok(future.await),
    }
}

async fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Option<std::time::Duration>,
) -> Result<TcpStream, Error> {
    let addrs = ::tokio::net::lookup_host((host, port)).await.map_err(|e| {
        Error::io_as(ErrorKind::Io, io::Error::new(e.kind(), format!("resolving {host}: {e}")))
    })?;
    let mut last = None;
    for addr in addrs {
        match within(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(io::Error::new(e.kind(), format!("connecting to {addr}: {e}"))),
            Err(_) => {
                last =
                    Some(io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr}: timed out")))
            }
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => Error::new(ErrorKind::Io, format!("no address found for {host}")),
    })
}

/// The CONNECT exchange (its bytes and its answer are `proxy`'s), over
/// tokio.
async fn tunnel(stream: &mut TcpStream, proxy_url: &url::Url, authority: &str) -> Result<(), Error> {
    stream
        .write_all(&proxy::connect_request(proxy_url, authority))
        .await
        .map_err(|e| Error::proxy(format!("writing CONNECT: {e}")))?;
    let mut head = Vec::with_capacity(256);
    while !proxy::head_complete(&head)? {
        // Byte by byte: nothing after the head may be taken.
        match stream.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Error::proxy("connection ended before the CONNECT response"))
            }
            Err(e) => return Err(Error::proxy(format!("reading the CONNECT response: {e}"))),
        }
    }
    proxy::check_response(&head, authority)
}

#[cfg(feature = "tls")]
async fn tls(
    stream: TcpStream,
    endpoint: &Endpoint,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> Result<MaybeTls, Error> {
    let connector = tokio_rustls::TlsConnector::from(options.tls_client_config()?);
    let name = crate::tls::server_name(&endpoint.bare_host)?;
    let handshake = connector.connect(name, stream);
    let stream = match deadline {
        Some(deadline) => ::tokio::time::timeout_at(deadline, handshake).await.unwrap_or_else(|_| {
            Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"))
        }),
        None => handshake.await,
    }
    .map_err(Error::tls_handshake)?;
    Ok(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Client(stream))))
}

#[cfg(not(feature = "tls"))]
async fn tls(_: TcpStream, _: &Endpoint, _: &ConnectOptions, _: Option<Instant>) -> Result<MaybeTls, Error> {
    Err(Error::new(ErrorKind::Tls, "wss:// needs hybi's `tls` feature"))
}
