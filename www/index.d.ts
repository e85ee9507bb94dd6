// Type declarations of the `hybi` package (hand-written; the JavaScript is
// plain ES modules).

import type { ConnectionOptions as TlsConnectOptions, TlsOptions } from 'node:tls';

/** `[[name, value], ...]`, in order; names compare case-insensitively. */
export type HeaderList = [string, string][];

/** Headers as a list of pairs or as an object. */
export type HeadersInit = HeaderList | Record<string, string>;

/** A received message: text as a string, binary (RFC 6455) as bytes. */
export type Message = string | Uint8Array;

/** What `send` takes: text, or bytes (binary, RFC 6455 only). */
export type Sendable = string | Uint8Array | ArrayBuffer | ArrayBufferView;

export type Protocol = 'draft76' | 'rfc6455';
export type Framing = 'old' | 'new';
/** A server's draft-76 framing: `auto` tells 'old' from 'new' by each client's first bytes. */
export type ServerFraming = Framing | 'auto';

/** Bounds on what a peer can make a connection hold (the core's `Limits`). */
export interface Limits {
  /** Handshake head bytes. Default 16 KiB. */
  maxHandshakeBytes?: number;
  /** Handshake header lines. Default 64. */
  maxHeaders?: number;
  /** One message, reassembled (and inflated). Default 16 MiB. */
  maxMessageSize?: number;
  /** One frame's declared payload. Default 16 MiB. */
  maxFrameSize?: number;
  /** Unwritten output past which reading pauses (pongs and echoes of a peer that does not read). Default 256 KiB. */
  outputHighWater?: number;
  /** Received messages kept for `recv` while our close waits for its answer. Default 16 MiB. */
  maxUnreadWhileClosing?: number;
  /** Most bytes read and dropped while lingering after the end (native driver). Default 4 MiB. */
  maxLingerBytes?: number;
}

/** The core's deadlines, in milliseconds; `null` or 0 turns one off. */
export interface Timeouts {
  /** The opening handshake. Default 30 s. */
  handshake?: number | null;
  /** Waiting for the peer's answer to our close. Default 5 s. */
  close?: number | null;
  /** Nothing received for this long fails the connection. Default none (servers: `timeout`). */
  idle?: number | null;
  /** RFC 6455: ping after this long without input. Default none. */
  keepalive?: number | null;
  /** RFC 6455: fail if a keepalive ping gets no answer within this long. Default 30 s. */
  keepaliveTimeout?: number | null;
  /** Draft-76 server with framing `auto`: how long a client's first bytes that fit both framings (a close sent at once) wait for more before they are taken as that close. Default 500 ms. */
  framingSilence?: number | null;
  /** After the end, how long the socket waits for the peer to close its side before it is cut. Default 2 s. */
  linger?: number | null;
}

/** RFC 7692 permessage-deflate parameters (the core's `DeflateConfig`). */
export interface Compression {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  /** 8–15, or `null` to leave it to the peer. */
  serverMaxWindowBits?: number | null;
  /** 8–15, or `null` to leave it out of an offer. Default 15. */
  clientMaxWindowBits?: number | null;
  /** 0–9. Default 6. */
  compressionLevel?: number;
}

/** The negotiated permessage-deflate agreement. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

export interface RequestHead {
  /** The request line as sent, e.g. `GET /chat HTTP/1.1`. */
  line: string;
  method: string;
  /** Path and query. */
  target: string;
  headers: HeaderList;
}

export interface ResponseHead {
  /** The status line as sent. */
  line: string;
  status: number;
  reason: string;
  headers: HeaderList;
}

export interface CloseStatus {
  /** The close code, when the protocol has one and the peer sent it. */
  code?: number;
  reason: string;
}

/** Every failure hybi reports; `kind` says who caused it. */
export class HybiError extends Error {
  readonly name: 'HybiError';
  /**
   * `handshake`, `protocol`, `limit`: the peer broke a rule or a limit;
   * `rejected`: the server refused the handshake (`status`, `response`);
   * `eof`: the stream ended where the protocol does not allow it;
   * `timeout`: a deadline passed; `io`: the socket failed (`cause`);
   * `misuse`: the application asked for what the connection cannot do;
   * `config`: an option is malformed; `internal`: the wasm instance the
   * connection ran in failed (a trap: every connection on it is failed,
   * RFC 6455 ones with close 1011, and new ones get a fresh instance).
   */
  readonly kind:
    | 'handshake'
    | 'protocol'
    | 'limit'
    | 'rejected'
    | 'eof'
    | 'timeout'
    | 'io'
    | 'misuse'
    | 'config'
    | 'internal'
    | 'other';
  /** The HTTP status a failed handshake was answered with. */
  readonly status?: number;
  /** The RFC 6455 close code sent because of this error. */
  readonly closeCode?: number;
  /** `rejected`: the server's whole response. */
  readonly response?: ResponseHead;
  /** A client's failed handshake: the protocol the server may speak instead (the message names the option). */
  readonly suggestedProtocol?: 'rfc6455' | 'draft76';
}

/** One open WebSocket connection (the seed's `ws-conn`). */
export class Connection implements AsyncIterable<Message> {
  private constructor();
  /** Sends text or (RFC 6455) binary; resolves once the socket took the bytes (after 'drain' when its buffer is full). */
  send(message: Sendable): Promise<void>;
  /** RFC 6455: a ping of at most 125 bytes. */
  ping(data?: Sendable): Promise<void>;
  /** The next message, or `null` once the connection ended cleanly; rejects once with how it ended otherwise. */
  recv(): Promise<Message | null>;
  /** Every message until the end (throws how it ended, if not cleanly). */
  [Symbol.asyncIterator](): AsyncIterator<Message>;
  /** Sends a close (default 1000; `null`: no code) and waits for the end; draft-76 takes only 1000 or `null` with no reason. */
  close(code?: number | null, reason?: string): Promise<void>;
  /** Server: the request line; client: the response's status line (the seed's `ws-conn-line`). */
  readonly line: string;
  /** Server: the headers `connHeaders` returned; client: the response's headers (the seed's `ws-conn-headers`). */
  readonly headers: HeaderList;
  readonly request: RequestHead;
  readonly response: ResponseHead;
  readonly protocol: Protocol;
  /** Draft-76 only; a server with framing `auto` says `auto` (its framing is told by the client's first bytes, after the open). */
  readonly framing: ServerFraming | undefined;
  readonly subprotocol: string | undefined;
  readonly deflate: DeflateParams | undefined;
  readonly role: 'client' | 'server';
  /** Over (the seed's `ws-conn-closed?`). */
  readonly closed: boolean;
  /** Messages can still be sent (the seed's `open-ws-conn?`). */
  readonly open: boolean;
  /** Once ended cleanly. */
  readonly closeStatus: CloseStatus | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Bytes given to the socket and not yet written. */
  readonly bufferedAmount: number;
}

export interface ConnectOptions {
  /** Extra request headers (`Origin`, `Cookie`, ...). */
  headers?: HeadersInit;
  /** Default `rfc6455`; `draft76` for the seed's servers. */
  protocol?: Protocol;
  /** Draft-76 framing. Default `old`. Given alone, implies `protocol: 'draft76'`. */
  framing?: Framing;
  /** Subprotocols to offer, most preferred first (draft-76: at most one). */
  subprotocols?: string[];
  /** RFC 6455 permessage-deflate: `true` for the defaults. */
  compression?: boolean | Compression;
  limits?: Limits;
  timeouts?: Timeouts;
  /** Draft-76 text that is not UTF-8. Default `fail`. */
  invalidUtf8?: 'fail' | 'replace';
  /** RFC 6455: answer pings with pongs. Default true; false leaves them unanswered. */
  autoPong?: boolean;
  /** Received bytes held for `recv` before reading pauses. Default 1 MiB. */
  maxBuffered?: number;
  /** For wss://: options of `tls.connect` (`ca`, `rejectUnauthorized`, ...). */
  tls?: TlsConnectOptions;
}

/** Accepts a request: headers for the 101 response, the subprotocol, the handler's state. */
export interface Acceptance<S = unknown> {
  headers?: HeadersInit;
  subprotocol?: string;
  state?: S;
}

/** A plain HTTP response: a refusal, or the answer to a plain request. */
export interface HttpAnswer {
  status: number;
  headers?: HeadersInit;
  /** A string is sent as UTF-8 text/plain unless a Content-Type is given. */
  body?: string | Uint8Array;
}

export interface ServeOptions<S = unknown> {
  /** Default 80, as the seed; 0 picks a free port. */
  port?: number;
  /** Default: every interface. */
  listenIp?: string;
  /** Listen backlog. Default 511 (Node's own); the seed's was 4. */
  maxWaiting?: number;
  /** Most sockets served at once, TLS handshakes included; past it a new one gets HTTP 503 (TLS: is closed). Default 1024. */
  maxConnections?: number;
  /**
   * Most sockets at once from one remote address; past it its new ones get HTTP 503 (TLS: are closed). Default 64.
   * Behind a reverse proxy every client has the proxy's address: set it to `maxConnections` there.
   */
  maxConnectionsPerIp?: number;
  /** Idle seconds per connection. Default 3600, as the seed; 0: none. */
  timeout?: number;
  /** The seed's `conn-headers`: accept (`{ headers, subprotocol, state }`) or refuse (a status or `{ status, headers, body }`). */
  connHeaders?: (
    line: string,
    headers: HeaderList,
    request: RequestHead,
  ) => Acceptance<S> | HttpAnswer | number | void | Promise<Acceptance<S> | HttpAnswer | number | void>;
  /** Serve wss:// with these `tls.createServer` options (`key`, `cert`, ...). */
  tls?: TlsOptions;
  /** Draft-76 framing (a request cannot say). Default `auto`: each client's first bytes tell; a server that sends first to 'new' clients sets `new`. */
  framing?: ServerFraming;
  /** Default both. */
  protocols?: Protocol[];
  /** Accept RFC 6455 permessage-deflate. */
  compression?: boolean | Compression;
  limits?: Limits;
  /** `idle` (ms), when given, wins over `timeout`. */
  timeouts?: Timeouts;
  invalidUtf8?: 'fail' | 'replace';
  /** RFC 6455: answer pings with pongs. Default true; false leaves them unanswered. */
  autoPong?: boolean;
  maxBuffered?: number;
  /**
   * Bytes all connections together may hold of their input (messages being received, messages not yet read);
   * a connection whose input would pass it fails with close code 1009. Default 256 MiB; `Infinity`: none.
   */
  memoryBudget?: number;
  /** Answers plain HTTP requests. Default: a short text page for GET, 405 otherwise. */
  httpHandler?: (request: RequestHead) => HttpAnswer | Promise<HttpAnswer>;
  /** Told of failed handshakes and of hooks and handlers that threw. */
  onError?: (error: Error, conn?: Connection) => void;
}

/** A running server. */
export class Server {
  private constructor();
  address(): { address: string; family: string; port: number };
  /** Connections being served. */
  readonly connections: number;
  /** Stops accepting, closes every connection (RFC 6455: 1001), resolves when all sockets are closed. */
  close(): Promise<void>;
}

/** The seed's `ws-connect`. */
export function connect(url: string, options?: ConnectOptions): Promise<Connection>;

/** The seed's `ws-serve`. */
export function serve<S = unknown>(
  handler: (conn: Connection, state: S) => void | Promise<void>,
  options?: ServeOptions<S>,
): Promise<Server>;

/** The first value of header `name` (case-insensitive), like Racket's `headers-assq*`. */
export function headerValue(headers: HeaderList, name: string): string | undefined;

/** A step of the core: what one input or command came to. */
export interface Step {
  events: MachineEvent[];
  output?: Uint8Array;
  /** The next deadline, on the clock passed in. */
  timeout?: number;
  /** `ending`: the peer is done (its close, or an error in its input, is the last event); call `finish()` once the application has read up to it. */
  state: 'handshaking' | 'open' | 'closing' | 'ending' | 'closed';
}

export type MachineEvent =
  | { type: 'request'; kind: 'websocket' | 'http'; protocol?: Protocol; framing?: ServerFraming }
  | { type: 'open' }
  | { type: 'text'; data: string }
  | { type: 'binary'; data: Uint8Array }
  | { type: 'textFragment'; data: string; fin: boolean }
  | { type: 'binaryFragment'; data: Uint8Array; fin: boolean }
  | { type: 'ping' | 'pong'; data: Uint8Array }
  | { type: 'close'; code?: number; reason: string }
  | { type: 'error'; error: { kind: string; message: string; status?: number; closeCode?: number } };

/** The core's state machine, compiled to wasm (hybi-wasm), for drivers of other transports. */
export class Machine {
  private constructor();
  static client(now: number, config: object | undefined, request: object): Machine;
  static server(now: number, config?: object): Machine;
  feed(now: number, input: Uint8Array): Step;
  eof(): Step;
  tick(now: number): Step;
  accept(accept?: { subprotocol?: string; headers?: HeaderList }): Step;
  respond(status: number, headers: HeaderList | undefined, body: Uint8Array): Step;
  sendText(text: string): Uint8Array;
  /** Text given as its UTF-8 bytes (faster for long ASCII texts); throws kind `misuse` if not UTF-8. */
  sendTextUtf8(text: Uint8Array): Uint8Array;
  sendBinary(data: Uint8Array): Uint8Array;
  /**
   * Queues only the header of a message of `length` bytes whose payload the
   * driver writes itself, right after the bytes returned; `undefined` (and
   * nothing queued) where the payload is not verbatim on the wire (a
   * client, permessage-deflate, draft-76).
   */
  sendVerbatimHeader(binary: boolean, length: number): Uint8Array | undefined;
  /**
   * One part of a message sent in parts (`fin` ends it): with
   * permessage-deflate the parts are compressed as one message (a part may
   * yield an empty frame), otherwise each is one uncompressed fragment. A
   * text's parts must together be UTF-8 (not checked). A whole message as
   * one part with `fin` is the frame `sendText`/`sendBinary` make (from
   * bytes: faster than `sendText` for long texts).
   */
  sendFragment(binary: boolean, data: Uint8Array, fin: boolean): Uint8Array;
  sendPing(data: Uint8Array): Uint8Array;
  close(now: number, code: number | undefined, reason: string): Step;
  /** State `ending` (the peer is done): the application read up to the end; sends the close owed. */
  finish(): Step;
  /** Closes as a server going away (RFC 6455: 1001 with `reason`); throws kind `misuse` while handshaking. */
  goAway(now: number, reason: string): Step;
  takeOutput(): Uint8Array;
  pollTimeout(): number | undefined;
  readonly state: Step['state'];
  readonly role: 'client' | 'server';
  readonly protocol: Protocol | undefined;
  /** `auto`: a server whose client's first bytes have not yet told its framing. */
  readonly framing: ServerFraming | undefined;
  readonly request: RequestHead | undefined;
  readonly response: ResponseHead | undefined;
  readonly subprotocol: string | undefined;
  readonly deflate: DeflateParams | undefined;
  free(): void;
}
