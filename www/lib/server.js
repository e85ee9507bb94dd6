// The server (the seed's `ws-serve`): a `net` (or `tls`) listener, the
// `connHeaders` hook, the handler, and a handle that stops it all.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

import { Connection, DEFAULT_MEMORY_BUDGET, budget, kAccept, kRespond, kShutdown } from './connection.js';
import { HybiError, clean, deflateConfig, fromCore, headerList, now } from './util.js';
import { GuardedMachine } from './wasm.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const encoder = new TextEncoder();

/** The listen backlog by default: Node's own (511), not the seed's 4. */
export const DEFAULT_BACKLOG = 511;
/** Connections served at once by default (as the native server). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** Connections from one address at once by default (as the native server). */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 64;
/** How long a refused client is read (and its bytes dropped) before its socket is cut. */
const REFUSED_LINGER_MS = 2000;
/** Most bytes read from a refused client before its socket is cut. */
const REFUSED_READ_MAX = 64 * 1024;

/** The 503 for a connection over a cap (the native server's answer). */
function refusal(body) {
  const bytes = encoder.encode(body);
  return Buffer.concat([
    Buffer.from(
      'HTTP/1.1 503 Service Unavailable\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${bytes.length}\r\n` +
        'Connection: close\r\n\r\n',
      'latin1',
    ),
    bytes,
  ]);
}
const FULL = refusal('server is at its connection limit\n');
const FULL_FOR_IP = refusal('too many connections from your address\n');

/**
 * Counts accepted sockets, in all and per remote address, from accept to
 * 'close' (TLS handshakes included, as the native server counts them).
 */
class Caps {
  #total = 0;
  #perIp = new Map();
  #max;
  #maxPerIp;

  constructor(max, maxPerIp) {
    this.#max = Math.max(1, max);
    this.#maxPerIp = Math.max(1, maxPerIp);
  }

  /** Takes a slot for `socket` and frees it at its 'close'; or says why not: `"full"`, `"ip"`. */
  admit(socket) {
    if (this.#total >= this.#max) return 'full';
    const ip = socket.remoteAddress ?? '';
    const count = this.#perIp.get(ip) ?? 0;
    if (count >= this.#maxPerIp) return 'ip';
    this.#total++;
    this.#perIp.set(ip, count + 1);
    socket.once('close', () => {
      this.#total--;
      const left = this.#perIp.get(ip) - 1;
      if (left === 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    });
    return null;
  }
}

/**
 * Refuses a socket over a cap without waiting on it: the 503 goes to the
 * socket's buffer, our side ends, and what the client still sends is read
 * and dropped for a while, so that the close after the answer is a FIN,
 * not a reset that could lose the answer (as native). Over TLS there is no
 * plaintext to answer with (and the TLS socket already owns the raw one):
 * the socket is closed.
 */
function refuse(socket, why, plain) {
  socket.on('error', () => {});
  if (!plain) {
    socket.destroy();
    return;
  }
  let read = 0;
  const cut = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  cut.unref();
  socket.on('close', () => clearTimeout(cut));
  socket.on('data', (chunk) => {
    read += chunk.length;
    if (read > REFUSED_READ_MAX) socket.destroy();
  });
  socket.on('end', () => socket.destroy());
  socket.end(why === 'full' ? FULL : FULL_FOR_IP);
}

/** The answer to a plain HTTP request when the application gave none. */
function defaultPage(request) {
  if (request.method !== 'GET') {
    return { status: 405, headers: [['Allow', 'GET']], body: 'method not allowed\n' };
  }
  return {
    status: 200,
    body:
      `hybi ${version} (Node): a WebSocket server (draft-76 and RFC 6455).\n` +
      'Connect with a WebSocket client, e.g. `hybi connect ws://HOST:PORT/`.\n',
  };
}

/** `{ status, headers?, body? }` (body a string or bytes) as `respond`'s arguments. */
function responseParts(response) {
  if (typeof response === 'number') response = { status: response };
  const headers = headerList(response.headers);
  let body = response.body ?? '';
  if (typeof body === 'string') {
    if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
      headers.push(['Content-Type', 'text/plain; charset=utf-8']);
    }
    body = encoder.encode(body);
  }
  return [response.status, headers, body];
}

/** Whether a `connHeaders` result refuses the request. */
const isRefusal = (result) =>
  typeof result === 'number' || (result !== null && typeof result === 'object' && typeof result.status === 'number');

/**
 * A running server, from `serve`.
 */
export class Server {
  #server;
  #conns;
  #closing = null;

  #handshaking;

  constructor(server, conns, handshaking) {
    this.#server = server;
    this.#conns = conns;
    this.#handshaking = handshaking;
  }

  /** The address it listens on, `{ address, family, port }` (with the port picked for port 0). */
  address() {
    return this.#server.address();
  }

  /** How many connections are being served (handshaking, open or closing). */
  get connections() {
    return this.#conns.size;
  }

  /**
   * Stops the server: stops accepting, sends every open connection a close
   * (RFC 6455 code 1001, going away), cuts those still handshaking, and
   * resolves once every socket is closed.
   */
  close() {
    if (this.#closing === null) {
      const stopped = new Promise((resolve) => this.#server.close(() => resolve()));
      const conns = [...this.#conns].map((conn) => conn[kShutdown]());
      // A client that half-closed in the middle of its TLS handshake leaves
      // a socket nobody ends (the server allows half-open sockets).
      for (const raw of this.#handshaking) raw.destroy();
      this.#closing = Promise.all([stopped, ...conns]).then(() => undefined);
    }
    return this.#closing;
  }
}

/**
 * Starts a WebSocket server (the seed's `ws-serve`): every protocol in
 * `protocols` on one port, each request saying which it speaks. For each
 * WebSocket request, `connHeaders(line, headers, request)` decides:
 * return `{ headers, subprotocol, state }` (all optional) to accept, with
 * the headers to add to the 101 response, or a status number or
 * `{ status, headers, body }` to refuse; it may be async. Then
 * `handler(conn, state)` runs with the open connection; when it returns
 * (or its promise settles), the connection is closed if still open.
 *
 * Resolves to a `Server` once it listens. Options (all optional):
 * - `port` (default 80, as the seed; 0 picks a free one), `listenIp`
 *   (default: every interface), `maxWaiting` (listen backlog, default 511,
 *   Node's own; the seed's was 4, too few for bursts of clients),
 *   `timeout` (idle seconds per connection, default 3600; 0: none);
 * - `maxConnections` (default 1024) and `maxConnectionsPerIp` (default
 *   64): sockets served at once, in all and from one remote address,
 *   counted from accept (TLS handshakes included) to close; one over
 *   either is answered at once with HTTP 503 (over TLS: closed) and does
 *   not reach `connHeaders`. Behind a reverse proxy every client has the
 *   proxy's address: raise `maxConnectionsPerIp` to `maxConnections` there
 *   and limit per client in the proxy;
 * - `connHeaders`: the hook above (default: accept everything);
 * - `tls`: options for `tls.createServer` (`key`, `cert`, ...) to serve
 *   wss://;
 * - `framing`: draft-76 framing, `"auto"` (default: each client's first
 *   bytes tell, docs/PROTOCOLS.md §3.1), `"old"` or `"new"`: nothing in a
 *   request says which; a server that sends first to 'new' clients sets
 *   `"new"`;
 * - `protocols`: accepted, default `["draft76", "rfc6455"]`;
 * - `compression`: accept RFC 6455 permessage-deflate (`true` or its
 *   parameters);
 * - `limits`, `timeouts` (ms; `idle` defaults to `timeout`), `invalidUtf8`,
 *   `maxBuffered`: as for `connect`;
 * - `memoryBudget`: bytes all connections together may hold of their
 *   input (messages being received, messages not yet read), default
 *   256 MiB (as the native server; `Infinity`: no budget); a connection
 *   whose input would pass it fails with close code 1009, the others go
 *   on;
 * - `httpHandler(request)`: answers plain HTTP requests with
 *   `{ status, headers, body }` (default: a short text page for GET, 405
 *   otherwise);
 * - `onError(error, conn?)`: told of handshakes that failed and of
 *   handlers and hooks that threw.
 */
export function serve(handler, options = {}) {
  const {
    port = 80,
    listenIp,
    maxWaiting = DEFAULT_BACKLOG,
    maxConnections = DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerIp = DEFAULT_MAX_CONNECTIONS_PER_IP,
    timeout = 3600,
    connHeaders = () => ({}),
    framing,
    protocols,
    onError,
    httpHandler,
  } = options;
  const config = clean({
    accept: protocols,
    framing,
    secure: options.tls !== undefined,
    invalidUtf8: options.invalidUtf8,
    limits: options.limits,
    // `timeout` is the seed's idle timeout in seconds; `timeouts.idle`
    // (milliseconds), when given, wins.
    timeouts: { idle: timeout > 0 ? timeout * 1000 : null, ...options.timeouts },
    deflate: deflateConfig(options.compression),
    autoPong: options.autoPong,
    // Message data leaves wasm memory as it arrives (see connection.js).
    streaming: true,
  });
  // Fails early (and synchronously) on a malformed configuration, and
  // tells the bounds this driver keeps (the TLS handshake's deadline).
  let bounds;
  try {
    const probe = GuardedMachine.server(now(), config);
    bounds = probe.driverBounds;
    probe.free();
  } catch (error) {
    return Promise.reject(fromCore(error));
  }
  const conns = new Set();
  const memoryBudget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const pool = memoryBudget === Infinity ? null : budget(memoryBudget);
  const report = (error, conn) => {
    if (onError) onError(error, conn);
  };

  async function decide(conn, event) {
    const request = conn.request;
    try {
      if (event.kind === 'http') {
        const response = httpHandler ? await httpHandler(request) : defaultPage(request);
        conn[kRespond](...responseParts(response));
        return;
      }
      const result = await connHeaders(request.line, request.headers, request);
      if (isRefusal(result)) {
        conn[kRespond](...responseParts(result));
        return;
      }
      conn[kState] = result?.state;
      conn[kAccept]({ subprotocol: result?.subprotocol, headers: headerList(result?.headers) });
    } catch (error) {
      // The hook threw, or asked for what the handshake cannot carry.
      report(fromCore(error), conn);
      try {
        conn[kRespond](500, [['Content-Type', 'text/plain; charset=utf-8']], encoder.encode('internal server error\n'));
      } catch {
        // Already answered.
      }
    }
  }

  function run(conn) {
    Promise.resolve()
      .then(() => handler(conn, conn[kState]))
      .then(
        () => conn.close(),
        (error) => {
          report(error, conn);
          return conn.protocol === 'rfc6455' ? conn.close(1011, '') : conn.close(null);
        },
      )
      .catch(() => {
        // How the close went is the handler's business (recv reported it).
      });
  }

  function onSocket(socket) {
    socket.setNoDelay(true);
    const machine = GuardedMachine.server(now(), config);
    const conn = new Connection(machine, socket, {
      role: 'server',
      maxBuffered: options.maxBuffered,
      budget: pool,
      onRequest: decide,
      onOpen: run,
      onEnd: (c, end) => {
        if (end.error !== undefined) report(end.error, c);
      },
      onClose: (c) => conns.delete(c),
    });
    conns.add(conn);
  }

  // TLS sockets still in their TLS handshake: no Connection owns them yet.
  const handshaking = new Set();
  const server = options.tls
    ? tls.createServer({
        // The TLS handshake within the core's (0: none; Node's own 120 s then).
        handshakeTimeout: bounds.handshake || undefined,
        ...options.tls,
        allowHalfOpen: true,
      })
    : net.createServer({ allowHalfOpen: true });
  const caps = new Caps(maxConnections, maxConnectionsPerIp);
  // Sockets refused over a cap (TLS: their failed handshake is no news).
  const refused = new WeakSet();
  if (options.tls) {
    server.on('secureConnection', onSocket);
  } else {
    server.on('connection', (socket) => {
      const why = caps.admit(socket);
      if (why === null) onSocket(socket);
      else refuse(socket, why, true);
    });
  }
  if (options.tls) {
    server.on('connection', (raw) => {
      const why = caps.admit(raw);
      if (why !== null) {
        refused.add(raw);
        refuse(raw, why, false);
        return;
      }
      handshaking.add(raw);
      raw.once('close', () => handshaking.delete(raw));
    });
    server.on('secureConnection', (socket) => handshaking.delete(socket._parent));
    server.on('tlsClientError', (error, socket) => {
      // With a listener, Node leaves the failed socket open: it would keep
      // `close` waiting forever.
      socket.destroy();
      if (refused.has(socket._parent)) return;
      report(new HybiError('io', `TLS handshake failed: ${error.message}`, { cause: error }));
    });
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: listenIp, backlog: maxWaiting }, () => {
      server.off('error', reject);
      server.on('error', (error) => report(new HybiError('io', error.message, { cause: error })));
      resolve(new Server(server, conns, handshaking));
    });
  });
}

const kState = Symbol('hybi.state');
