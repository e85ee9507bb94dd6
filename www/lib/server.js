// The server (the seed's `ws-serve`): a `net` (or `tls`) listener, or the
// upgrade requests of an HTTP server the application runs (`server`,
// `noServer` and `handleUpgrade`, as `ws` spells them), the `connHeaders`
// hook, the handler or the 'connection' event, and a handle that stops it
// all.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

import { Connection, DEFAULT_MEMORY_BUDGET, binaryForm, budget, kAccept, kByEvents, kHead, kRespond, kShutdown } from './connection.js';
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

/** The path of a request target, without its query. */
const pathOf = (target) => {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
};

/**
 * A Node `IncomingMessage`'s head as the core takes it: the request line
 * (Node keeps no copy of it; for a request its parser accepted, method,
 * target and version with single spaces are the line) and the headers in
 * order, as sent. Node decodes header values as Latin-1 and the bindings
 * send values as UTF-8: a value that was UTF-8 on the wire is given back
 * its bytes.
 */
function parsedHead(request) {
  const raw = request.rawHeaders;
  const headers = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const value = raw[i + 1];
    headers.push([raw[i], /[^\x00-\x7f]/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value]);
  }
  return { line: `${request.method} ${request.url} HTTP/${request.httpVersion}`, headers };
}

/**
 * The hybi servers attached to each HTTP server (`serve({ server })`): one
 * 'upgrade' listener per HTTP server routes each request to the first
 * whose `path` it matches (or that has none).
 */
const attached = new WeakMap();

function attach(httpServer, hybi) {
  let servers = attached.get(httpServer);
  if (servers === undefined) {
    servers = [];
    const route = (request, socket, head) => {
      const path = pathOf(request.url ?? '');
      const match = servers.find((s) => s.path === undefined || s.path === path);
      // Requests for no hybi path are left to the server's other 'upgrade'
      // listeners, if it has any; otherwise the first hybi server answers
      // them (404, see `decide`).
      if (match === undefined && httpServer.listenerCount('upgrade') > 1) return;
      (match ?? servers[0]).handleUpgrade(request, socket, head);
    };
    servers.route = route;
    attached.set(httpServer, servers);
    httpServer.on('upgrade', route);
  }
  servers.push(hybi);
}

function detach(httpServer, hybi) {
  const servers = attached.get(httpServer);
  if (servers === undefined) return;
  const at = servers.indexOf(hybi);
  if (at !== -1) servers.splice(at, 1);
  if (servers.length === 0) {
    httpServer.off('upgrade', servers.route);
    attached.delete(httpServer);
  }
}

// Internal: start listening (standalone servers).
const kListen = Symbol('hybi.listen');

/**
 * A WebSocket server: from `serve` (listening), or `new WebSocketServer`
 * (the `ws` spelling). An EventEmitter: 'connection' `(conn, request)`
 * for each connection opened when there is no handler, 'listening',
 * 'error', 'close'. `clients` holds the open connections.
 */
export class Server extends EventEmitter {
  #handler;
  #options;
  /** Connections being served (handshaking, open or closing). */
  #conns = new Set();
  /** Open connections (`ws`'s `clients`): added at open, removed at close. */
  #clients = new Set();
  #closing = null;
  /** The `net`/`tls` server of a standalone server; null when attached or `noServer`. */
  #listener = null;
  /** `options.server`: the HTTP server attached to. */
  #httpServer = null;
  /** TLS sockets still in their TLS handshake: no Connection owns them yet. */
  #handshaking = new Set();
  #config;
  #secureConfig;
  #caps;
  #pool;
  /** The core's bounds for this server's connections (`Machine.driverBounds`). */
  #bounds;
  /** `options.path`: the only request path served, or undefined for any. */
  path;

  constructor(handler, options = {}) {
    super();
    this.#handler = handler ?? null;
    this.#options = options;
    const modes = [options.port !== undefined, options.server !== undefined, options.noServer === true];
    if (modes.filter(Boolean).length > 1) {
      throw new HybiError('config', 'one of port, server and noServer, not several');
    }
    if (options.path !== undefined && (typeof options.path !== 'string' || !options.path.startsWith('/'))) {
      throw new HybiError('config', `path must be a string starting with "/", not ${JSON.stringify(options.path)}`);
    }
    this.path = options.path;
    const { timeout = 3600, framing, protocols } = options;
    this.#config = clean({
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
    // Attached to an HTTPS server, the socket says whether it is wss://.
    this.#secureConfig = { ...this.#config, secure: true };
    this.binary = binaryForm(options.binaryType);
    // Fails early (and synchronously) on a malformed configuration, and
    // tells the bounds this driver keeps (the TLS handshake's deadline).
    try {
      const probe = GuardedMachine.server(now(), this.#config);
      this.#bounds = probe.driverBounds;
      probe.free();
    } catch (error) {
      throw fromCore(error);
    }
    const memoryBudget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    this.#pool = memoryBudget === Infinity ? null : budget(memoryBudget);
    this.#caps = new Caps(
      options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    );
    if (options.server !== undefined) {
      this.#httpServer = options.server;
      attach(options.server, this);
    }
  }

  /** The address it listens on, `{ address, family, port }` (an attached server's: the HTTP server's; `noServer`: null). */
  address() {
    return (this.#listener ?? this.#httpServer)?.address() ?? null;
  }

  /** How many connections are being served (handshaking, open or closing). */
  get connections() {
    return this.#conns.size;
  }

  /** The open connections (`ws`'s `clients`), for broadcasting: each is added when it opens and removed when its socket closes. */
  get clients() {
    return this.#clients;
  }

  /**
   * Takes over a request an HTTP server parsed (its `'upgrade'` event:
   * `request`, `socket`, `head`) and runs the handshake on it, with
   * `connHeaders` and `path` as for any request. Once the connection is
   * open, `callback(conn, request)` runs if given; otherwise the handler,
   * or else the 'connection' event. A refused request is answered (its
   * status) and its socket ended; `callback` is not called.
   */
  handleUpgrade(request, socket, head, callback) {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const why = this.#caps.admit(socket);
    if (why !== null) {
      refuse(socket, why, true);
      return;
    }
    socket.setTimeout(0);
    socket.setNoDelay(true);
    const conn = this.#connection(socket, socket.encrypted ? this.#secureConfig : this.#config, request, callback);
    const { line, headers } = parsedHead(request);
    conn[kHead](line, headers, head);
  }

  /**
   * Stops the server: stops accepting, sends every open connection a close
   * (RFC 6455 code 1001, going away), cuts those still handshaking, and
   * resolves once every socket is closed (then 'close' is emitted and
   * `callback`, if given, called). An HTTP server it was attached to is
   * left running (close it yourself), as `ws` does.
   */
  close(callback) {
    if (this.#closing === null) {
      const listener = this.#listener;
      const stopped = listener?.listening ? new Promise((resolve) => listener.close(() => resolve())) : null;
      if (this.#httpServer !== null) detach(this.#httpServer, this);
      const conns = [...this.#conns].map((conn) => conn[kShutdown]());
      // A client that half-closed in the middle of its TLS handshake leaves
      // a socket nobody ends (the server allows half-open sockets).
      for (const raw of this.#handshaking) raw.destroy();
      this.#closing = Promise.all([stopped, ...conns]).then(() => {
        this.emit('close');
      });
    }
    if (typeof callback === 'function') this.#closing.then(() => callback());
    return this.#closing;
  }

  #report(error, conn) {
    this.#options.onError?.(error, conn);
  }

  /** A Connection for a server socket, counted until it closes. */
  #connection(socket, config, incoming, callback) {
    const options = this.#options;
    const machine = GuardedMachine.server(now(), config);
    const conn = new Connection(machine, socket, {
      role: 'server',
      binary: this.binary,
      maxBuffered: options.maxBuffered,
      budget: this.#pool,
      onRequest: (c, event) => this.#decide(c, event, incoming),
      onOpen: (c) => this.#opened(c, incoming, callback),
      onEnd: (c, end) => {
        if (end.error !== undefined) this.#report(end.error, c);
      },
      onClose: (c) => {
        this.#conns.delete(c);
        this.#clients.delete(c);
      },
    });
    this.#conns.add(conn);
    return conn;
  }

  async #decide(conn, event, incoming) {
    const { connHeaders, httpHandler } = this.#options;
    const request = conn.request;
    try {
      if (event.kind === 'http') {
        const response = httpHandler ? await httpHandler(request) : defaultPage(request);
        conn[kRespond](...responseParts(response));
        return;
      }
      if (this.path !== undefined && pathOf(request.target) !== this.path) {
        conn[kRespond](...responseParts({ status: 404, body: 'no WebSocket endpoint at this path\n' }));
        return;
      }
      const result = connHeaders ? await connHeaders(request.line, request.headers, request, incoming) : {};
      if (isRefusal(result)) {
        conn[kRespond](...responseParts(result));
        return;
      }
      conn[kState] = result?.state;
      conn[kAccept]({ subprotocol: result?.subprotocol, headers: headerList(result?.headers) });
    } catch (error) {
      // The hook threw, or asked for what the handshake cannot carry.
      this.#report(fromCore(error), conn);
      try {
        conn[kRespond](500, [['Content-Type', 'text/plain; charset=utf-8']], encoder.encode('internal server error\n'));
      } catch {
        // Already answered.
      }
    }
  }

  /** An accepted connection opened: to `handleUpgrade`'s callback, the handler, or 'connection' listeners. */
  #opened(conn, incoming, callback) {
    this.#clients.add(conn);
    const request = incoming ?? conn.request;
    const handler = this.#handler;
    if (typeof callback === 'function' || handler === null) {
      conn[kByEvents]();
      if (typeof callback === 'function') callback(conn, request);
      else this.emit('connection', conn, request);
      return;
    }
    Promise.resolve()
      .then(() => handler(conn, conn[kState]))
      .then(
        () => conn.close(),
        (error) => {
          this.#report(error, conn);
          return conn.protocol === 'rfc6455' ? conn.close(1011, '') : conn.close(null);
        },
      )
      .catch(() => {
        // How the close went is the handler's business (recv reported it).
      });
  }

  /** A standalone server: listens with `net` (or `tls`); resolves with itself once listening. */
  [kListen]() {
    const options = this.#options;
    if (options.server !== undefined || options.noServer === true) {
      return Promise.resolve(this);
    }
    // `host` is ws's name for `listenIp`.
    const { port = 80, listenIp = options.host, maxWaiting = DEFAULT_BACKLOG } = options;
    const caps = this.#caps;
    const onSocket = (socket) => {
      socket.setNoDelay(true);
      this.#connection(socket, this.#config, undefined, undefined);
    };
    const server = options.tls
      ? tls.createServer({
          // The TLS handshake within the core's (0: none; Node's own 120 s then).
          handshakeTimeout: this.#bounds.handshake || undefined,
          ...options.tls,
          allowHalfOpen: true,
        })
      : net.createServer({ allowHalfOpen: true });
    this.#listener = server;
    // Sockets refused over a cap (TLS: their failed handshake is no news).
    const refused = new WeakSet();
    if (options.tls) {
      const handshaking = this.#handshaking;
      server.on('secureConnection', onSocket);
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
        this.#report(new HybiError('io', `TLS handshake failed: ${error.message}`, { cause: error }));
      });
    } else {
      server.on('connection', (socket) => {
        const why = caps.admit(socket);
        if (why === null) onSocket(socket);
        else refuse(socket, why, true);
      });
    }
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: listenIp, backlog: maxWaiting }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#report(new HybiError('io', error.message, { cause: error })));
        resolve(this);
        this.emit('listening');
      });
    });
  }
}

/**
 * Starts a WebSocket server (the seed's `ws-serve`): every protocol in
 * `protocols` on one port, each request saying which it speaks. For each
 * WebSocket request, `connHeaders(line, headers, request, message)`
 * decides: return `{ headers, subprotocol, state }` (all optional) to
 * accept, with the headers to add to the 101 response, or a status number
 * or `{ status, headers, body }` to refuse; it may be async (`message` is
 * Node's `IncomingMessage` on a server attached to an HTTP server). Then
 * `handler(conn, state)` runs with the open connection; when it returns
 * (or its promise settles), the connection is closed if still open.
 * Without a handler (`serve(options)`), open connections are emitted as
 * 'connection' `(conn, request)` and stay open until closed.
 *
 * Resolves to a `Server` once it listens. Where it listens (one of):
 * - `port` (default 80, as the seed; 0 picks a free one), `listenIp`
 *   (default: every interface), `maxWaiting` (listen backlog, default 511,
 *   Node's own; the seed's was 4, too few for bursts of clients);
 * - `server`: an `http.Server` or `https.Server` (Express's, Fastify's
 *   `server`, ...) whose upgrade requests it takes (its 'upgrade' event);
 *   several hybi servers with different `path`s can share one;
 * - `noServer: true`: none; the application hands requests to
 *   `server.handleUpgrade(request, socket, head, callback)`.
 *
 * Other options (all optional):
 * - `path`: serve only requests for this path (query aside); others get
 *   404 (attached: are left to the HTTP server's other 'upgrade'
 *   listeners, if it has any);
 * - `timeout` (idle seconds per connection, default 3600; 0: none);
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
 *   `maxBuffered`, `binaryType`: as for `connect`;
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
export function serve(handler, options) {
  if (options === undefined && handler !== null && typeof handler === 'object') {
    options = handler;
    handler = undefined;
  }
  let server;
  try {
    server = new Server(handler, options);
  } catch (error) {
    return Promise.reject(error);
  }
  return server[kListen]();
}

/**
 * `ws`'s `WebSocketServer`: `new WebSocketServer(options, callback?)` with
 * `serve`'s options (`port`, `server` or `noServer`, `path`, ...); a
 * standalone one starts listening at once ('listening', then `callback`;
 * a failure to listen is an 'error' event). Connections come as
 * 'connection' `(conn, request)`.
 */
export class WebSocketServer extends Server {
  constructor(options = {}, callback) {
    super(undefined, options);
    if (typeof callback === 'function') this.once('listening', callback);
    this[kListen]().catch((error) => this.emit('error', error));
  }
}

const kState = Symbol('hybi.state');
