// The client (the seed's `ws-connect`): URL to socket (`net`, or `tls` for
// wss://), then the core's opening handshake.

import net from 'node:net';
import tls from 'node:tls';

import { Connection, binaryForm, kStart } from './connection.js';
import { withProtocolHint } from './mismatch.js';
import { HybiError, clean, deflateConfig, fromCore, headerList, now } from './util.js';
import { GuardedMachine } from './wasm.js';

/** Where a URL points, in the forms the socket and the core need. */
function endpoint(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new HybiError('config', `invalid URL ${JSON.stringify(String(url))}`, { cause });
  }
  const secure = parsed.protocol === 'wss:';
  if (!secure && parsed.protocol !== 'ws:') {
    throw new HybiError('config', `invalid URL ${JSON.stringify(url)}: scheme is not ws or wss`);
  }
  if (parsed.hash !== '' || url.includes('#')) {
    // RFC 6455 §3: fragment identifiers are meaningless in these URLs.
    throw new HybiError('config', `invalid URL ${JSON.stringify(url)}: WebSocket URLs have no #fragment`);
  }
  if (parsed.hostname === '') throw new HybiError('config', `invalid URL ${JSON.stringify(url)}: no host`);
  // `URL` leaves the scheme's default port out of `port`, which is what the
  // core wants for the Host header; IPv6 hosts keep their brackets there.
  const port = parsed.port === '' ? undefined : Number(parsed.port);
  const bareHost = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    secure,
    host: parsed.hostname,
    bareHost,
    port,
    socketPort: port ?? (secure ? 443 : 80),
    resource: `${parsed.pathname || '/'}${parsed.search}`,
  };
}

/**
 * Connects to a `ws://` or `wss://` URL and completes the opening handshake
 * (the seed's `ws-connect`). Resolves to an open `Connection`; rejects with
 * a `HybiError` (kind `"rejected"` with `status` and `response` when the
 * server answered with another status than 101; with `suggestedProtocol`,
 * and a message naming the option, when the failure suggests the server
 * speaks the other protocol: docs/PROTOCOLS.md §5.1).
 *
 * Options (all optional):
 * - `headers`: extra request headers, `[[name, value], ...]` or an object
 *   (`Origin`, `Cookie`, ...);
 * - `protocol`: `"rfc6455"` (default, as today's servers and the seed's
 *   successor, Racket's `rfc6455`) or `"draft76"` (the seed's);
 * - `framing`: draft-76 framing, `"old"` (default) or `"new"`; implies
 *   `protocol: "draft76"`;
 * - `subprotocols`: to offer, most preferred first (draft-76: at most one);
 * - `compression`: RFC 6455 permessage-deflate, `true` or its parameters
 *   (`{ serverNoContextTakeover, clientNoContextTakeover,
 *   serverMaxWindowBits, clientMaxWindowBits, compressionLevel }`);
 * - `limits`: `{ maxHandshakeBytes, maxHeaders, maxMessageSize,
 *   maxFrameSize }` on what the server may send;
 * - `timeouts`: milliseconds, `{ handshake, close, idle, keepalive,
 *   keepaliveTimeout }` (`null` or 0: off);
 * - `invalidUtf8`: draft-76 text that is not UTF-8, `"fail"` or `"replace"`;
 * - `maxBuffered`: received bytes held for `recv` before reading pauses
 *   (default 1 MiB);
 * - `tls`: options for `tls.connect` (`ca`, `rejectUnauthorized`, ...).
 */
export function connect(url, options = {}) {
  return new Promise((resolve, reject) => {
    const target = endpoint(url);
    const config = clean({
      protocol: options.protocol,
      framing: options.framing,
      invalidUtf8: options.invalidUtf8,
      limits: options.limits,
      timeouts: options.timeouts,
      deflate: deflateConfig(options.compression),
      secure: target.secure,
      autoPong: options.autoPong,
      // Message data leaves wasm memory as it arrives (see connection.js).
      streaming: true,
    });
    const request = clean({
      host: target.host,
      port: target.port,
      resource: target.resource,
      secure: target.secure,
      subprotocols: options.subprotocols ?? [],
      headers: headerList(options.headers),
    });
    let machine;
    const binary = binaryForm(options.binaryType);
    try {
      machine = GuardedMachine.client(now(), config, request);
    } catch (error) {
      throw fromCore(error);
    }
    const socket = target.secure
      ? tls.connect({
          servername: net.isIP(target.bareHost) ? undefined : target.bareHost,
          ...options.tls,
          host: target.bareHost,
          port: target.socketPort,
          allowHalfOpen: true,
        })
      : net.connect({ host: target.bareHost, port: target.socketPort, allowHalfOpen: true });
    socket.setNoDelay(true);
    const conn = new Connection(machine, socket, {
      role: 'client',
      binary,
      maxBuffered: options.maxBuffered,
      onOpen: resolve,
      onEnd: (_, end) => {
        if (end.error === undefined) {
          reject(new HybiError('eof', 'the connection ended during the opening handshake'));
        } else {
          reject(withProtocolHint(end.error, machine.protocol, machine.response));
        }
        socket.destroy();
      },
    });
    conn[kStart]();
  });
}
