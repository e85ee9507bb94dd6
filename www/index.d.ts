// Type declarations of the `hybi` package (hand-written; the JavaScript is
// plain ES modules).

import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsConnectOptions, TlsOptions } from 'node:tls';

/** `[[name, value], ...]`, in order; names compare case-insensitively. */
export type HeaderList = [string, string][];

/** Headers as a list of pairs or as an object. */
export type HeadersInit = HeaderList | Record<string, string>;

/**
 * A received message: text as a string, binary (RFC 6455) as `binaryType`
 * says: a `Buffer` (the default), a `Uint8Array` or an `ArrayBuffer`.
 */
export type Message = string | Uint8Array | ArrayBuffer;

/** How binary messages are handed out (`recv`, 'message'). */
export type BinaryType = 'nodebuffer' | 'uint8array' | 'arraybuffer';

/**
 * What `send` takes (what `ws`'s does): text (a string, or a number as its
 * text), or bytes (binary, RFC 6455 only): a `Buffer`, `ArrayBuffer`,
 * typed array, `DataView`, `Blob`, or an array of byte values.
 */
export type Sendable = string | number | Uint8Array | ArrayBuffer | ArrayBufferView | Blob | readonly number[];

/** `send`'s options (`ws`'s `binary`): send a string as bytes, or bytes (UTF-8) as text. */
export interface SendOptions {
  binary?: boolean;
}

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
  /** Only a refused client's: the refusal's body (see `HybiError.response`). */
  body?: Uint8Array;
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
  /** `rejected`: the server's whole response, with its body (up to its Content-Length and 64 KiB, read for at most 0.5 s). */
  readonly response?: ResponseHead & { readonly body: Buffer };
  /** A client's failed handshake: the protocol the server may speak instead (the message names the option). */
  readonly suggestedProtocol?: 'rfc6455' | 'draft76';
}

/** `readyState` values, as the WHATWG numbers them. */
export type ReadyState = 0 | 1 | 2 | 3;

/**
 * One open WebSocket connection (the seed's `ws-conn`), and an
 * EventEmitter (`ws`'s events). Each message goes to exactly one taker: a
 * waiting `recv()`, else the 'message' listeners, else a queue (for a
 * later `recv`, or handed to the first 'message' listener).
 */
export class Connection extends EventEmitter implements AsyncIterable<Message> {
  private constructor();
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  /**
   * Sends text or (RFC 6455) binary; resolves once the socket took the bytes (after 'drain' when its buffer is full).
   * An unawaited failed send is no unhandled rejection; `callback(error?)` hears how it went.
   */
  send(message: Sendable, options?: SendOptions, callback?: (error?: Error) => void): Promise<void>;
  send(message: Sendable, callback: (error?: Error) => void): Promise<void>;
  /** RFC 6455: a ping of at most 125 bytes; the answer comes as 'pong'. */
  ping(data?: Sendable, callback?: (error?: Error) => void): Promise<void>;
  ping(callback: (error?: Error) => void): Promise<void>;
  /** The next message, or `null` once the connection ended cleanly; rejects once with how it ended otherwise. */
  recv(): Promise<Message | null>;
  /** Every message until the end (throws how it ended, if not cleanly). */
  [Symbol.asyncIterator](): AsyncIterator<Message>;
  /** Sends a close (default 1000; `null`: no code) and waits for the end; draft-76 takes only 1000 or `null` with no reason. */
  close(code?: number | null, reason?: string): Promise<void>;
  /** Destroys the socket at once, without a closing handshake ('close' 1006). */
  terminate(): void;
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
  /** 0 handshaking, 1 `open`, 2 closing, 3 the socket is closed. */
  readonly readyState: ReadyState;
  /** Once ended cleanly. */
  readonly closeStatus: CloseStatus | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Bytes given to the socket and not yet written. */
  readonly bufferedAmount: number;

  on(event: 'message', listener: (data: Message, isBinary: boolean) => void): this;
  /** The peer's close code (1005: none; 1006: no closing handshake) and reason. */
  on(event: 'close', listener: (code: number, reason: string) => void): this;
  on(event: 'error', listener: (error: HybiError) => void): this;
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'message', listener: (data: Message, isBinary: boolean) => void): this;
  once(event: 'close', listener: (code: number, reason: string) => void): this;
  once(event: 'error', listener: (error: HybiError) => void): this;
  once(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
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
  /** Binary messages as `Buffer` (default), `Uint8Array` or `ArrayBuffer`. */
  binaryType?: BinaryType;
}

/**
 * Accepts a request: headers for the 101 response, the subprotocol, the
 * handler's state. `state` may be left out only when `S` admits
 * `undefined` (the handler would get `undefined`).
 */
export type Acceptance<S = unknown> = {
  headers?: HeadersInit;
  subprotocol?: string;
} & (undefined extends S ? { state?: S } : { state: S });

/** A plain HTTP response: a refusal, or the answer to a plain request. */
export interface HttpAnswer {
  status: number;
  headers?: HeadersInit;
  /** A string is sent as UTF-8 text/plain unless a Content-Type is given. */
  body?: string | Uint8Array;
}

/** The seed's `conn-headers` hook; returning nothing (accept) only when `S` admits `undefined`. */
export type ConnHeaders<S> = (
  line: string,
  headers: HeaderList,
  request: RequestHead,
  /** Attached to an HTTP server (`server`, `handleUpgrade`): Node's parsed request. */
  message: IncomingMessage | undefined,
) => ConnHeadersResult<S> | Promise<ConnHeadersResult<S>>;

export type ConnHeadersResult<S> = Acceptance<S> | HttpAnswer | number | (undefined extends S ? void : never);

/** `connHeaders`: accept (`{ headers, subprotocol, state }`) or refuse (a status or `{ status, headers, body }`); required when the handler's state `S` cannot be `undefined`. */
export type ConnHeadersOption<S> = undefined extends S ? { connHeaders?: ConnHeaders<S> } : { connHeaders: ConnHeaders<S> };

export type ServeOptions<S = unknown> = ServeOptionsBase & ConnHeadersOption<S>;

export interface ServeOptionsBase {
  /** Default 80, as the seed; 0 picks a free port. */
  port?: number;
  /** Take the upgrade requests of this HTTP(S) server (Express's, ...) instead of listening. */
  server?: HttpServer;
  /** Listen nowhere: requests come through `handleUpgrade`. */
  noServer?: boolean;
  /** Serve only this request path (query aside); others get 404 (attached: go to the server's other 'upgrade' listeners). */
  path?: string;
  /** Binary messages as `Buffer` (default), `Uint8Array` or `ArrayBuffer`. */
  binaryType?: BinaryType;
  /** Default: every interface. */
  listenIp?: string;
  /** `ws`'s name for `listenIp`. */
  host?: string;
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

/**
 * A WebSocket server, and an EventEmitter: 'connection' `(conn, request)`
 * for connections opened without a handler (`request`: Node's
 * `IncomingMessage` when attached to an HTTP server, the parsed head
 * otherwise), 'listening', 'error', 'close'.
 */
export class Server extends EventEmitter {
  protected constructor();
  /** Where it listens (attached: the HTTP server's address; `noServer`: null). */
  address(): { address: string; family: string; port: number } | null;
  /** Connections being served. */
  readonly connections: number;
  /** The open connections (`ws`'s `clients`). */
  readonly clients: Set<Connection>;
  readonly path: string | undefined;
  /** Runs the handshake on a request an HTTP server parsed (its 'upgrade' event); `callback` gets the open connection. */
  handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback?: (conn: Connection, request: IncomingMessage) => void,
  ): void;
  /** Stops accepting, closes every connection (RFC 6455: 1001), resolves when all sockets are closed; an attached HTTP server keeps running. */
  close(callback?: () => void): Promise<void>;
  on(event: 'connection', listener: (conn: Connection, request: IncomingMessage | RequestHead, ...rest: any[]) => void): this;
  on(event: 'listening' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** `ws`'s spelling: `new WebSocketServer({ port | server | noServer, ... }, callback?)`; connections come as 'connection'. */
export class WebSocketServer extends Server {
  constructor(options?: ServeOptions<undefined>, callback?: () => void);
}

/** The seed's `ws-connect`. */
export function connect(url: string, options?: ConnectOptions): Promise<Connection>;

/** The seed's `ws-serve`: `handler(conn, state)` for each connection (closed when it returns). */
export function serve<S = undefined>(
  handler: (conn: Connection, state: S) => void | Promise<void>,
  options: ServeOptions<S>,
): Promise<Server>;
export function serve(handler: (conn: Connection, state: undefined) => void | Promise<void>): Promise<Server>;
/** Without a handler: connections come as the server's 'connection' events and stay open until closed. */
export function serve(options: ServeOptions<undefined>): Promise<Server>;

/** The WHATWG `CloseEvent`. */
export class CloseEvent extends Event {
  constructor(type: string, init?: EventInit & { code?: number; reason?: string; wasClean?: boolean });
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/**
 * A browser-style client (WHATWG `WebSocket`), and `ws`'s EventEmitter
 * client ('open', 'message' `(data, isBinary)` with Buffers, 'close'
 * `(code, reason, wasClean)`, 'error', 'ping', 'pong',
 * 'unexpected-response' `(response, error)`). `options` are `connect`'s
 * (`protocol: 'draft76'`, `headers`, `compression`, `tls`, ...).
 */
export class WebSocket extends EventEmitter {
  constructor(url: string | URL, protocols?: string | string[], options?: ConnectOptions);
  constructor(url: string | URL, options?: ConnectOptions);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readonly url: string;
  readonly readyState: ReadyState;
  /** For WHATWG listeners; default `'blob'`. EventEmitter listeners get Buffers. */
  binaryType: 'blob' | 'arraybuffer' | 'nodebuffer';
  readonly bufferedAmount: number;
  readonly protocol: string;
  readonly extensions: string;
  /** The open `Connection` underneath, once open. */
  readonly connection: Connection | null;
  send(data: Sendable, options?: SendOptions, callback?: (error?: Error) => void): void;
  send(data: Sendable, callback: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: Sendable, callback?: (error?: Error) => void): void;
  onopen: ((this: WebSocket, event: Event) => void) | null;
  onmessage: ((this: WebSocket, event: MessageEvent) => void) | null;
  onclose: ((this: WebSocket, event: CloseEvent) => void) | null;
  onerror: ((this: WebSocket, event: Event & { error?: unknown; message?: string }) => void) | null;
  addEventListener(type: 'message', listener: ((event: MessageEvent) => void) | { handleEvent(event: MessageEvent): void }, options?: { once?: boolean }): void;
  addEventListener(type: 'close', listener: ((event: CloseEvent) => void) | { handleEvent(event: CloseEvent): void }, options?: { once?: boolean }): void;
  addEventListener(type: 'open' | 'error', listener: ((event: Event) => void) | { handleEvent(event: Event): void }, options?: { once?: boolean }): void;
  removeEventListener(type: 'open' | 'message' | 'close' | 'error', listener: unknown): void;
  on(event: 'open', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer | string, isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: string, wasClean: boolean) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  on(event: 'unexpected-response', listener: (response: ResponseHead, error: HybiError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export default WebSocket;

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

/** An event of `Machine.feedInPlace`: a binary one may name where its bytes lie in the input instead. */
export type InPlaceEvent =
  | MachineEvent
  | { type: 'binary'; at: number; length: number }
  | { type: 'binaryFragment'; at: number; length: number; fin: boolean };

/** The core's state machine, compiled to wasm (hybi-wasm), for drivers of other transports. */
export class Machine {
  private constructor();
  static client(now: number, config: object | undefined, request: object): Machine;
  static server(now: number, config?: object): Machine;
  feed(now: number, input: Uint8Array): Step;
  /**
   * `feed`, except that a binary message or piece of 1 KiB or more lying in
   * `input` as it arrived (unmasked: what a client receives) comes as `at` and `length`,
   * where it lies in `input`, instead of `data`: take it from `input`.
   */
  feedInPlace(now: number, input: Uint8Array): Omit<Step, 'events'> & { events: InPlaceEvent[] };
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
   * driver writes itself, right after the bytes returned (a client's masked
   * with `maskPart` first); `undefined` (and nothing queued) where the
   * payload is not the application's bytes on the wire (permessage-deflate,
   * draft-76).
   */
  sendVerbatimHeader(binary: boolean, length: number): Uint8Array | undefined;
  /**
   * A client's payload after `sendVerbatimHeader`, part by part in order:
   * `part` masked into `out` (at least as long; may be `part` itself);
   * returns how many bytes were masked.
   */
  maskPart(part: Uint8Array, out: Uint8Array): number;
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
