// An open WebSocket connection (the seed's `ws-conn`): one hybi-wasm Machine
// (the core's state machine), one Node socket, and the loop between them.
//
// The driver moves bytes, time and nothing else:
// - every chunk the socket reads goes to `machine.feedInPlace` (whole, unless it
//   is over 64 KiB, or 2 KiB with permessage-deflate: then in slices, see
//   `#feedSliced`), and the step it returns (events, bytes to write, next
//   deadline, state) is applied at once: one crossing into wasm per chunk,
//   however many frames it holds;
// - the core's deadline is one `setTimeout`, re-armed lazily: input pushes
//   an idle deadline later without touching the timer, which on firing
//   calls `machine.tick` and re-arms for whatever the core says next;
// - writes within one tick are corked into one system call, and `send`'s
//   promise waits for 'drain' when the socket's buffer is over its
//   high-water mark; past `limits.outputHighWater` unwritten bytes of what
//   the core queued by itself (pongs, close answers: a step's output)
//   reading pauses until 'drain'. Only those: pausing at the socket's whole
//   unwritten output deadlocked two peers that both had a large message
//   unwritten (each stopped reading because the other did; both sockets'
//   receive queues full for good, seen as stalls of `npm run bench` at
//   1 MiB and 4 MiB). The application's own sends have their backpressure
//   in `send`'s promise;
// - received messages wait in a queue for `recv`; past `maxBuffered` bytes
//   (or while the core holds events back, see `#apply`) the socket is
//   paused, so a receiver that does not read stops the peer instead of
//   growing memory;
// - the core runs in streaming mode: message data (RFC 6455, and draft-76
//   text in either framing) leaves wasm memory piece by piece as it is
//   unmasked (and inflated, or read), and messages are assembled
//   here, in JS-owned memory that goes with the connection, so that the
//   wasm instance all connections share stays small (its memory never
//   shrinks). A message that arrives whole in one chunk is one piece,
//   handed on as it is. `limits.maxMessageSize` is kept here, and so is
//   the server's memory budget: what a connection holds (the message being
//   assembled, messages not yet read) is charged to it, and a connection
//   whose input would take the budget past its limit fails with 1009
//   (`machine.failLimit`; draft-76, which has no close codes: closed), the
//   others unaffected.

import { EventEmitter } from 'node:events';

import { HybiError, fromCore, fromSocket, headerValue, now, payload } from './util.js';

const RESOLVED = Promise.resolve();

/** Default bound on received bytes waiting for `recv` before reading pauses. */
export const DEFAULT_MAX_BUFFERED = 1024 * 1024;

// The bounds this driver keeps around the core (`limits.maxMessageSize`,
// `limits.outputHighWater`, `limits.maxUnreadWhileClosing`,
// `timeouts.linger`) are read from the machine's configuration
// (`machine.driverBounds`): the core's `Config` holds their defaults for
// every driver, and the user's options reach them the way they reach the
// core's own limits.

/**
 * Input is fed to the core in slices of at most this many bytes (with
 * permessage-deflate, where a byte may inflate a thousandfold, the smaller
 * one), and after `TURN_MS` of feeding the rest waits for the next turn of
 * the event loop (`setImmediate`): a peer sending deflate bombs costs its
 * own connection time, not every other connection's.
 */
const SLICE = 64 * 1024;
const DEFLATE_SLICE = 2 * 1024;
const TURN_MS = 2;

/**
 * Connections with a rest to feed, each waiting for its turn: one turn per
 * `setImmediate`, round robin, so that between two turns the event loop
 * polls the sockets again. A few bomb senders then cost the others one turn
 * (a slice, and what the application does with a message it completes),
 * not one turn each per loop.
 */
const turns = [];
let turnScheduled = false;

function queueTurn(turn) {
  turns.push(turn);
  if (!turnScheduled) {
    turnScheduled = true;
    setImmediate(runTurn);
  }
}

function runTurn() {
  turnScheduled = false;
  const turn = turns.shift();
  if (turns.length > 0) {
    turnScheduled = true;
    setImmediate(runTurn);
  }
  turn?.();
}

/** Default server-wide `memoryBudget`, as the native server's. */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;

/**
 * A pool of bytes the connections of one server draw on for what they
 * buffer of their input (messages being assembled, messages not yet read):
 * `{ limit, used }`.
 */
export const budget = (limit) => ({ limit, used: 0 });

/**
 * A client refused with another status than 101 reads the refusal's body
 * (for `HybiError.response.body`) up to its `Content-Length` and at most
 * this many bytes, for at most `REFUSED_BODY_WAIT_MS` (as the native
 * client).
 */
const REFUSED_BODY_LIMIT = 64 * 1024;
const REFUSED_BODY_WAIT_MS = 500;

// Internal entry points for client.js and server.js.
export const kStart = Symbol('hybi.start');
export const kAccept = Symbol('hybi.accept');
export const kRespond = Symbol('hybi.respond');
export const kShutdown = Symbol('hybi.shutdown');
export const kHead = Symbol('hybi.head');
export const kByEvents = Symbol('hybi.byEvents');

/** `readyState` values, as the WHATWG `WebSocket` (and `ws`) number them. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** Binary messages as the application asked for them (`binaryType`). */
const binaryForms = {
  nodebuffer: (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  uint8array: (bytes) => bytes,
  arraybuffer: (bytes) =>
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
};

/** `binaryType` checked: a form of `binaryForms`. */
export function binaryForm(binaryType = 'nodebuffer') {
  const form = binaryForms[binaryType];
  if (form === undefined || !Object.hasOwn(binaryForms, binaryType)) {
    throw new HybiError('config', `binaryType must be "nodebuffer", "uint8array" or "arraybuffer", not ${JSON.stringify(binaryType)}`);
  }
  return form;
}

/**
 * A connection with a listener for any of these is read by events (as
 * `ws`'s are): once every message before the peer's close (or an error in
 * its input) has been handed out, with none queued, the application has
 * read up to the end, and the close owed is sent at once (so is it for a
 * connection handed out by an event, see `kByEvents`). One read with
 * `recv` only reaches the end when `recv` does (so that replies to the
 * last messages can still go), or at the close deadline.
 */
const EVENTS_READ = ['message', 'close', 'error', 'ping', 'pong'];

/** For the promises of `send` and `ping` (see `send`): marked handled, still rejecting for whoever awaits them. */
const ignore = () => {};
function handled(promise, callback) {
  if (typeof callback === 'function') promise.then(() => callback(), callback);
  else promise.catch(ignore);
  return promise;
}

/**
 * Calls a listener-facing `emit` from inside the driver's loop: a listener
 * that throws must not leave the loop half done, so its exception is thrown
 * again on a fresh stack (an uncaught exception, as from any EventEmitter
 * listener), after the loop has finished the step.
 */
function emitSafely(emitter, name, ...args) {
  try {
    emitter.emit(name, ...args);
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

/**
 * What a queued message counts against `maxBuffered`: its length, and a
 * share for the object itself, so that a flood of tiny messages is bounded
 * by memory too.
 */
const sizeOf = (message) => 64 + (typeof message === 'string' ? message.length : message.byteLength);

/**
 * Texts this long or longer go into wasm as UTF-8 bytes when they are
 * ASCII: wasm-bindgen copies a JS string in with a JS loop over its ASCII
 * characters (some 3 ns each, 3 ms for 1 MiB), where `encodeInto` and a
 * byte copy take a tenth of that. Texts with other characters keep the
 * string path, whose `encodeInto` takes over at the first of them.
 */
const LONG_TEXT = 1024;
const encoder = new TextEncoder();
let scratch = new Uint8Array(64 * 1024);

/**
 * Large messages (RFC 6455; bytes, UTF-16 units for a text) never enter
 * wasm memory whole. Without permessage-deflate, any message of
 * `VERBATIM_MIN` or more goes as one frame whose header is made in wasm and
 * whose payload is written from JS memory (`#sendVerbatim`): a server's as
 * it is, which saves the three copies of the crossing (in, framed, out;
 * BENCHMARKS-node.md, issue 17) for one more socket write; a client's
 * masked by the core `MASK_PART` bytes at a time, each part copied into
 * wasm, masked in place and copied into one buffer for the payload (two
 * copies instead of three, and one allocation instead of one per part or
 * fragment). With permessage-deflate, messages of `PARTS_MIN` or more go
 * into wasm `SEND_PART` bytes at a time (`#sendInParts`); below these
 * sizes, one crossing with the whole payload costs less.
 */
const VERBATIM_MIN = 4 * 1024;
const MASK_PART = 64 * 1024;
const PARTS_MIN = 64 * 1024;
const SEND_PART = 64 * 1024;

/**
 * Feeds `input` (a chunk the socket read, or part of one) to `machine`;
 * returns the step. A binary message or piece (1 KiB or more) that lies in
 * `input` as it arrived (unmasked: what a client receives) comes from the core as where
 * it lies (`machine.feedInPlace`) and is taken from `input` here, not
 * copied out of wasm memory: as a view of the chunk when it is at least
 * half of the memory the chunk holds, so that a message kept pins at most
 * twice its size (`sizeOf` counts its length), else as a copy.
 */
function feedInPlace(machine, input) {
  const step = machine.feedInPlace(now(), input);
  for (const event of step.events) {
    if (event.at === undefined) continue;
    const end = event.at + event.length;
    // The copy from a view: `new Uint8Array(view)` does not zero-fill its
    // memory first, where `ArrayBuffer.prototype.slice` does.
    event.data =
      event.length * 2 >= input.buffer.byteLength
        ? new Uint8Array(input.buffer, input.byteOffset + event.at, event.length)
        : new Uint8Array(input.subarray(event.at, end));
  }
  return step;
}

/** Queues `text` on `machine`; returns the bytes to write. */
function sendText(machine, text) {
  if (text.length < LONG_TEXT) return machine.sendText(text);
  let buffer = scratch;
  if (buffer.length < text.length) {
    buffer = new Uint8Array(text.length);
    // Kept for next time up to 1 MiB; larger ones are one-offs.
    if (text.length <= 1024 * 1024) scratch = buffer;
  }
  const { read, written } = encoder.encodeInto(text, buffer);
  // Every character one byte: ASCII.
  if (read === text.length && written === text.length) return machine.sendTextUtf8(buffer.subarray(0, written));
  return machine.sendText(text);
}

/**
 * One WebSocket connection, handed out open by `connect` and to the `serve`
 * handler. Not constructed by applications.
 *
 * | seed (Racket) | here |
 * | --- | --- |
 * | `ws-send!` | `send(text or bytes)` (a Promise: backpressure) |
 * | `ws-recv` (string or eof) | `recv()` (a Promise of a message, or `null`), `for await` |
 * | `ws-close!` | `close(code?, reason?)` |
 * | `ws-conn-line`, `ws-conn-headers` | `line`, `headers` (and `request`, `response`) |
 * | `ws-conn-closed?`, `open-ws-conn?` | `closed`, `open` |
 */
export class Connection extends EventEmitter {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  #machine;
  #socket;
  #hooks;
  #role;
  #maxBuffered;
  /** `{ maxMessageSize, outputHighWater, maxUnreadWhileClosing, linger, ... }` (see the module notes). */
  #bounds;
  /** The server's memory budget (`{ limit, used }`), or null. */
  #budget;
  /** Bytes charged to `#budget` now: `#partsBytes + #buffered`. */
  #charged = 0;
  /** The pieces of the message being received, and their size in bytes. */
  #parts = [];
  #partsBytes = 0;
  /** A limit was passed: `{ budget, limit, failed }` (`machine.failLimit`'s arguments). */
  #overLimit = null;
  /** Large sends go as one frame, the payload from JS memory (see `#sendVerbatim`): RFC 6455 without deflate. */
  #verbatimSends = false;
  /** Large sends go through wasm in parts (see `#sendInParts`): any other RFC 6455 connection. */
  #partSends = false;

  /** Received messages not yet taken by `recv`, oldest first. */
  #queue = [];
  #buffered = 0;
  /** `recv` calls waiting for a message. */
  #readers = [];
  /**
   * The application reached the end (`recv` gave it `null` or the error):
   * a core whose peer is done (state "ending") may send the close it owes.
   */
  #endReached = false;
  /** What is left of a chunk fed in slices, for the next turn (see `#feedSliced`). */
  #rest = null;
  /** `#feedRest` waits in `turns`. */
  #turnQueued = false;
  /** The socket ended while `#rest` waited. */
  #eofAfterRest = false;
  #paused = false;
  /** Bytes of steps' output (the core's own answers) the socket has not written yet (see `#flow`). */
  #answerBytes = 0;
  /** `close` was called: read on, whatever the queue holds. */
  #closing = false;
  /** How the connection ended, once it has: `{ close }` or `{ error }`. */
  #end = null;
  /** A refused client reading its refusal's body: `{ end, parts, have, want, timer }`. */
  #refusal = null;
  #errorReported = false;
  #opened = false;
  /** The core is done (state "closed"): our side of the socket is ended. */
  #finished = false;
  #eofFed = false;
  /** The socket emitted 'close'. */
  #transportDone = false;
  #socketError = null;
  #corked = false;
  #drainWaiters = [];
  #timer = null;
  #timerAt = Infinity;
  #linger = null;
  #closedPromise;
  #resolveClosed;
  #info = null;
  /** Server: the headers `connHeaders` returned (the seed's `ws-conn-headers`). */
  #seedHeaders = undefined;
  /** Binary messages in the form asked for (`binaryType`): a Buffer by default. */
  #binary;
  /** `recv` was called: the application reads with it (see `#readByEvents`). */
  #recvCalled = false;
  /** See `kByEvents`. */
  #byEvents = false;
  /** The last send that waits for a Blob before it, or null. */
  #blobSends = null;
  /** `terminate()` was called. */
  #terminated = false;
  /** The queue is being handed to the first 'message' listener (see `#handQueue`). */
  #handing = false;

  constructor(machine, socket, hooks) {
    super();
    this.#machine = machine;
    this.#binary = hooks.binary ?? binaryForms.nodebuffer;
    // Messages queued before the first 'message' listener go to it (see
    // `#deliver`), and a connection read by events may reach its end.
    this.on('newListener', (name) => {
      if (!this.#handing && EVENTS_READ.includes(name) && (this.#queue.length > 0 || this.#end !== null)) {
        this.#handing = true;
        process.nextTick(() => this.#handQueue());
      }
    });
    this.#socket = socket;
    this.#hooks = hooks;
    this.#role = hooks.role;
    this.#maxBuffered = hooks.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.#bounds = machine.driverBounds;
    this.#budget = hooks.budget ?? null;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (error) => {
      this.#socketError ??= error;
    });
    socket.on('close', () => this.#onSocketClose());
    socket.on('drain', () => this.#onDrain());
    // The wasm instance trapped in another connection's call (see
    // lib/wasm.js): this one fails too, as any step would fail it.
    machine.onFatal(() => this.#apply(this.#machine.fatalStep()));
  }

  // ----- the seed's operations --------------------------------------------

  /**
   * Sends a text message (a string) or a binary one (`Uint8Array`,
   * `ArrayBuffer` or a view; RFC 6455 only). The promise resolves once the
   * socket took the bytes (at once, or at its 'drain' when its buffer is
   * over the high-water mark), and rejects with a `HybiError` if the
   * connection cannot send (kind `"misuse"`: not open, or binary over
   * draft-76) or the socket is gone (kind `"io"`).
   */
  send(message, options, callback) {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    const binary = options?.binary;
    if (this.#blobSends === null && !(message instanceof Blob)) return handled(this.#send(message, binary), callback);
    // A Blob is read first; sends after it wait for it, so that messages
    // go out in the order they were sent.
    const sent = (this.#blobSends ?? RESOLVED).then(async () =>
      this.#send(message instanceof Blob ? new Uint8Array(await message.arrayBuffer()) : message, binary),
    );
    const chain = sent.catch(ignore);
    this.#blobSends = chain;
    chain.then(() => {
      if (this.#blobSends === chain) this.#blobSends = null;
    });
    return handled(sent, callback);
  }

  #send(message, binary) {
    let out;
    try {
      const data = payload(message, binary);
      const text = typeof data === 'string';
      const length = text ? data.length : data.byteLength;
      if (length >= VERBATIM_MIN && this.#verbatimSends) {
        const sent = this.#sendVerbatim(text, data);
        if (sent !== null) return sent;
      } else if (length >= PARTS_MIN && this.#partSends) {
        return this.#sendInParts(text, data);
      }
      out = text ? sendText(this.#machine, data) : this.#machine.sendBinary(data);
    } catch (error) {
      return Promise.reject(fromCore(error));
    }
    return this.#writeAndWait(out);
  }

  /**
   * Sends a large message as one frame with only its header made in wasm
   * (the core's `send_verbatim_header` or, for a client,
   * `send_masked_header`) and its payload written from JS memory: a
   * server's is a text's UTF-8 bytes, or the caller's own buffer, which
   * the socket holds until it has written it, so that promise resolves
   * only then (the caller may reuse the buffer afterwards); a client's is
   * masked a part at a time (`machine.maskPart`) into one buffer with the
   * header. Null where the core's frames would
   * not carry the application's bytes (then it queued nothing).
   */
  #sendVerbatim(text, data) {
    const bytes = text ? Buffer.from(data, 'utf8') : data;
    const machine = this.#machine;
    const length = bytes.byteLength;
    const header = machine.sendVerbatimHeader(!text, length);
    if (header === undefined) return null;
    const socket = this.#socket;
    if (this.#role === 'client') {
      // The whole frame in one buffer of its own (one socket write), the
      // payload masked into it before anything is written: nothing else
      // can be sent meanwhile.
      const start = header.length;
      const frame = Buffer.allocUnsafeSlow(start + length);
      frame.set(header, 0);
      for (let at = 0; at < length; at += MASK_PART) {
        const end = Math.min(at + MASK_PART, length);
        machine.maskPart(bytes.subarray(at, end), frame.subarray(start + at, start + end));
      }
      if (this.#transportDone || socket.destroyed || socket.writableEnded) return Promise.reject(this.#deadError());
      return this.#writeAndWait(frame);
    }
    if (this.#transportDone || socket.destroyed || socket.writableEnded) return Promise.reject(this.#deadError());
    this.#write(header);
    if (text) return this.#writeAndWait(bytes);
    return new Promise((resolve, reject) => {
      this.#write(bytes, (error) => (error ? reject(fromSocket(error)) : resolve()));
    });
  }

  /**
   * Sends a large message through wasm `SEND_PART` bytes at a time
   * (`machine.sendFragment`), so that wasm memory never holds it whole:
   * with permessage-deflate the parts are compressed as one message (a
   * frame per part with what the compressor wrote for it), otherwise they
   * are the fragments of one (a client's: each masked in wasm). All parts go in
   * this one call, so no other message can come between them.
   */
  #sendInParts(text, data) {
    const bytes = text ? Buffer.from(data, 'utf8') : data;
    const machine = this.#machine;
    const socket = this.#socket;
    for (let at = 0; ; ) {
      const end = Math.min(at + SEND_PART, bytes.byteLength);
      const out = machine.sendFragment(!text, bytes.subarray(at, end), end === bytes.byteLength);
      if (this.#transportDone || socket.destroyed) return Promise.reject(this.#deadError());
      this.#write(out);
      if (end === bytes.byteLength) break;
      at = end;
    }
    if (!socket.writableNeedDrain) return RESOLVED;
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /**
   * Sends a ping (RFC 6455 only, at most 125 bytes); the peer's pong comes
   * as a 'pong' event. A callback, if given, is called as `send`'s.
   */
  ping(data = new Uint8Array(0), callback) {
    if (typeof data === 'function') {
      callback = data;
      data = new Uint8Array(0);
    }
    let out;
    try {
      out = this.#machine.sendPing(payload(data ?? new Uint8Array(0), true));
    } catch (error) {
      return handled(Promise.reject(fromCore(error)), callback);
    }
    return handled(this.#writeAndWait(out), callback);
  }

  /**
   * Ends the connection at once (`ws`'s `terminate`): the socket is
   * destroyed without a closing handshake. `recv` then gives what was
   * queued, then rejects once (kind `io`); 'close' comes with 1006.
   */
  terminate() {
    if (this.#transportDone) return;
    this.#terminated = true;
    this.#setEnd({ error: new HybiError('io', 'the connection was terminated') });
    this.#socket.destroy();
  }

  /**
   * The next message: a string (text) or a `Uint8Array` (binary), or `null`
   * once the connection has ended cleanly (the seed's eof: the peer's close
   * arrived, or ours was answered), and forever after. If it ended
   * otherwise (a protocol violation, a limit, a timeout, the peer vanishing
   * mid-frame), the promise rejects with that `HybiError` once; later calls
   * give `null`.
   *
   * Read to the end: the peer's close (or the error in its input) is
   * answered when `recv` reaches it, so that the messages that came before
   * it can still be answered (the core's close deadline bounds the wait).
   */
  recv() {
    this.#recvCalled = true;
    if (this.#queue.length > 0) {
      const message = this.#queue.shift();
      this.#buffered -= sizeOf(message);
      this.#charge();
      this.#flow();
      return Promise.resolve(message);
    }
    if (this.#end !== null || this.#transportDone) {
      this.#reachEnd();
      return this.#endResult();
    }
    return new Promise((resolve, reject) => {
      this.#readers.push({ resolve, reject });
    });
  }

  /** `for await (const message of conn)`: every message until the end. */
  [Symbol.asyncIterator]() {
    return {
      next: () => this.recv().then((value) => (value === null ? { done: true, value: undefined } : { done: false, value })),
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Closes the connection: sends a close (RFC 6455: `code`, default 1000,
   * and `reason`; `null` sends none; draft-76 closes carry neither, so only
   * 1000 or `null` with no reason fit it) and waits for the peer's answer or
   * the end of its stream, up to the close timeout, then for the socket to
   * close. Messages arriving meanwhile stay queued for `recv` (up to
   * 16 MiB). Resolves once the socket is closed; rejects if the closing
   * handshake itself failed (e.g. timed out). Closing a connection that is
   * over already resolves.
   */
  close(code = 1000, reason = '') {
    // A peer that is done (state "ending") is answered with this close.
    const state = this.#machine.state;
    const overAlready = (this.#end !== null && state !== 'ending') || this.#transportDone;
    if (!this.#transportDone && (state === 'open' || state === 'ending')) {
      try {
        this.#closeWith(() => this.#machine.close(now(), code ?? undefined, reason));
      } catch (error) {
        this.#closing = false;
        return Promise.reject(fromCore(error));
      }
    }
    return this.#closedPromise.then(() => {
      const error = this.#end?.error;
      if (!overAlready && error !== undefined && !this.#errorReported) {
        this.#errorReported = true;
        throw error;
      }
    });
  }

  // ----- getters ------------------------------------------------------------

  /**
   * The seed's `ws-conn-line`: the request line on a server (`GET /chat
   * HTTP/1.1`), the response's status line on a client.
   */
  get line() {
    return this.#info?.line;
  }

  /**
   * The seed's `ws-conn-headers`, `[[name, value], ...]`: on a server the
   * headers `connHeaders` returned (and the 101 response carried), on a
   * client the response's headers.
   */
  get headers() {
    return this.#info?.headers;
  }

  /** The opening request, `{ line, method, target, headers }`: received (server) or sent (client, without the headers the handshake adds). */
  get request() {
    return this.#info?.request ?? this.#machine.request;
  }

  /** The 101 response, `{ line, status, reason, headers }`: sent (server) or received (client). */
  get response() {
    return this.#info?.response ?? this.#machine.response;
  }

  /** `"draft76"` or `"rfc6455"`. */
  get protocol() {
    return this.#info?.protocol;
  }

  /**
   * The draft-76 framing, `"old"` or `"new"`; `undefined` for RFC 6455. A
   * server with `framing: 'auto'` says `"auto"` until the client's first
   * bytes decide it.
   */
  get framing() {
    const info = this.#info;
    if (info?.framing === 'auto') {
      // The core decides on the client's first bytes: ask it again.
      const live = this.#machine.framing;
      if (live !== undefined) info.framing = live;
    }
    return info?.framing;
  }

  /** The subprotocol both ends agreed on, or `undefined`. */
  get subprotocol() {
    return this.#info?.subprotocol;
  }

  /** The permessage-deflate agreement, or `undefined` without compression. */
  get deflate() {
    return this.#info?.deflate;
  }

  /** `"client"` or `"server"`. */
  get role() {
    return this.#role;
  }

  /**
   * Whether the connection is over (the seed's `ws-conn-closed?`). A
   * connection whose peer closed is over once `recv` has returned the
   * messages before the close and then `null` (or the close deadline
   * passed): until then the application may still answer them.
   */
  get closed() {
    return this.#transportDone || this.#machine.state === 'closed';
  }

  /**
   * Whether messages can still be sent (the seed's `open-ws-conn?`): open and
   * no close sent, or the peer closed and `recv` has not reached its close.
   */
  get open() {
    const state = this.#machine.state;
    return !this.#transportDone && (state === 'open' || state === 'ending');
  }

  /**
   * `CONNECTING` (0) while handshaking, `OPEN` (1) while messages can be
   * sent (`open`), `CLOSING` (2) until the socket is closed, `CLOSED` (3):
   * the WHATWG numbers, so that `conn.readyState === WebSocket.OPEN` reads
   * as with `ws`.
   */
  get readyState() {
    if (this.#transportDone) return CLOSED;
    if (this.open) return OPEN;
    return this.#opened ? CLOSING : CONNECTING;
  }

  /** The close code and reason, `{ code, reason }`, once the connection ended cleanly. */
  get closeStatus() {
    return this.#end?.close;
  }

  /** The peer's address and port. */
  get remoteAddress() {
    return this.#socket.remoteAddress;
  }

  get remotePort() {
    return this.#socket.remotePort;
  }

  /** Bytes given to the socket and not yet written by it. */
  get bufferedAmount() {
    return this.#socket.writableLength;
  }

  // ----- internal entry points ------------------------------------------------

  /** Client: writes the opening request the machine queued and arms its deadline. */
  [kStart]() {
    this.#write(this.#machine.takeOutput());
    const at = this.#machine.pollTimeout();
    if (at !== undefined) this.#arm(at);
  }

  /**
   * Server: accepts the pending request (`{ subprotocol, headers }`);
   * throws the core's refusal (e.g. a subprotocol the client did not offer).
   */
  [kAccept](accept) {
    this.#seedHeaders = accept.headers;
    this.#apply(this.#machine.accept(accept));
  }

  /**
   * Server attached to an HTTP server: the request head it parsed (`line`,
   * `headers` as `[[name, value], ...]`), then `head`, the bytes that
   * followed it (the `'upgrade'` event's third argument).
   */
  [kHead](line, headers, head) {
    this.#apply(this.#machine.feedHead(now(), line, headers));
    if (head !== undefined && head.length > 0) this.#onData(head);
  }

  /** Server: answers the pending request with a plain HTTP response. */
  [kRespond](status, headers, body) {
    const step = this.#machine.respond(status, headers, body);
    // Answered as asked: the connection ends without an error.
    this.#setEnd({ close: { code: undefined, reason: '' } });
    this.#apply(step);
  }

  /**
   * Server shutting down: the core closes as its protocol says a server
   * going away does (RFC 6455: 1001); one still handshaking is cut.
   */
  [kShutdown]() {
    const state = this.#machine.state;
    if ((state === 'open' || state === 'ending') && !this.#transportDone) {
      this.#closeWith(() => this.#machine.goAway(now(), 'server shutting down'));
    } else if (state === 'handshaking') {
      this.#socket.destroy();
    }
    return this.#closedPromise;
  }

  /**
   * Applies a closing command's step (`close`, `goAway`); what waited in
   * `#rest` goes in at once, among it perhaps the peer's answer. Throws
   * what the command throws.
   */
  #closeWith(command) {
    this.#closing = true;
    this.#apply(command());
    this.#feedRestNow();
    this.#flow();
  }

  // ----- the loop --------------------------------------------------------------

  #onData(chunk) {
    if (this.#refusal !== null) {
      this.#refusalPart(chunk);
      return;
    }
    if (this.#rest !== null) {
      // Read before the pause took (the socket is paused while a rest waits).
      this.#rest = Buffer.concat([this.#rest, chunk]);
      return;
    }
    this.#feedSliced(chunk);
  }

  /**
   * Feeds `chunk` a slice at a time (see `SLICE`); what is left after
   * `TURN_MS` waits in `#rest` for the connection's next turn (`turns`),
   * the socket paused.
   */
  #feedSliced(chunk) {
    const size = this.#info?.deflate ? DEFLATE_SLICE : SLICE;
    const start = performance.now();
    let at = 0;
    while (at < chunk.length) {
      const end = Math.min(at + size, chunk.length);
      this.#apply(feedInPlace(this.#machine, at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end)));
      at = end;
      if (at < chunk.length && !this.#transportDone && performance.now() - start >= TURN_MS) {
        this.#rest = chunk.subarray(at);
        if (!this.#turnQueued) {
          this.#turnQueued = true;
          queueTurn(this.#feedRest);
        }
        this.#flow();
        return;
      }
    }
  }

  #feedRest = () => {
    this.#turnQueued = false;
    const rest = this.#rest;
    if (rest === null) return;
    this.#rest = null;
    this.#feedSliced(rest);
    this.#flow();
    if (this.#rest === null && this.#eofAfterRest) {
      this.#eofAfterRest = false;
      this.#onEnd();
    }
  };

  /** Feeds what waited in `#rest` at once, and the end of the stream after it (closing, closed). */
  #feedRestNow() {
    const rest = this.#rest;
    if (rest === null) return;
    this.#rest = null;
    // In slices, as `#feedSliced` does (without yielding): what one feed
    // inflates sits in wasm memory until its step is taken, and a rest of
    // a deflate bomb fed whole would inflate to megabytes at once.
    const size = this.#info?.deflate ? DEFLATE_SLICE : SLICE;
    for (let at = 0; at < rest.length; at += size) {
      this.#take(feedInPlace(this.#machine, rest.subarray(at, Math.min(at + size, rest.length))));
    }
    if (this.#eofAfterRest) {
      this.#eofAfterRest = false;
      this.#feedEof();
    }
  }

  #onEnd() {
    if (this.#refusal !== null) this.#refusalDone();
    if (this.#rest !== null) {
      this.#eofAfterRest = true;
      return;
    }
    this.#feedEof();
  }

  /** Applies a step (see `#take`), then pauses or resumes reading. */
  #apply(step) {
    this.#take(step);
    this.#flow();
  }

  /**
   * Takes a step: writes its output, handles its events, re-arms the timer,
   * ends our side once the core is done. A core whose peer is done (state
   * "ending": the peer's close, or an error in its input, came after the
   * step's messages) reads nothing more and waits for `machine.finish()`,
   * called once the application has read up to the end (`#reachEnd`), so
   * that its answers to those messages go out before the close.
   */
  #take(step) {
    if (step.output !== undefined) this.#writeAnswer(step.output);
    const events = step.events;
    for (let i = 0; i < events.length; i++) this.#event(events[i]);
    if (step.timeout !== undefined) this.#arm(step.timeout);
    if (step.state === 'closed') this.#finish();
    const over = this.#overLimit;
    if (over !== null && !over.failed) {
      // Once: the core fails the connection (1009) and reads no more.
      over.failed = true;
      this.#take(this.#machine.failLimit(over.budget, over.limit));
    } else if (this.#endReached && step.state === 'ending') {
      this.#take(this.#machine.finish());
    }
  }

  /** The application reached the end: a core whose peer is done sends the close it owes. */
  #reachEnd() {
    if (this.#endReached) return;
    this.#endReached = true;
    if (this.#machine.state === 'ending') this.#apply(this.#machine.finish());
  }

  #event(event) {
    switch (event.type) {
      case 'text':
      case 'binary':
        this.#deliver(event.data);
        break;
      case 'close':
        this.#setEnd({ close: { code: event.code, reason: event.reason } });
        break;
      case 'error':
        this.#setEnd({ error: fromCore(event.error) });
        break;
      case 'open':
        this.#onOpen();
        break;
      case 'request':
        // Decided asynchronously (the hook may be async), never inside
        // this loop.
        queueMicrotask(() => this.#hooks.onRequest(this, event));
        break;
      case 'textFragment':
      case 'binaryFragment':
        this.#piece(event.data, event.fin);
        break;
      case 'ping':
      case 'pong':
        // The core answered pings already; the application hears of both.
        if (this.listenerCount(event.type) > 0) emitSafely(this, event.type, binaryForms.nodebuffer(event.data));
        break;
      default:
        break;
    }
  }

  /**
   * A piece of a message (text: a string of whole characters; binary: a
   * `Uint8Array` copied out of wasm memory), checked against the message
   * size limit and the budget before it is kept; the message is handed on
   * at its last piece. A message that is one piece costs no copy.
   */
  #piece(data, fin) {
    if (this.#overLimit !== null) return;
    const text = typeof data === 'string';
    const room = this.#bounds.maxMessageSize - this.#partsBytes;
    // A text's UTF-8 length is counted only when it may matter: a
    // character is at most 3 UTF-8 bytes per UTF-16 unit.
    let size = data.length;
    if (text && (!fin || this.#parts.length > 0 || size * 3 > room)) size = Buffer.byteLength(data);
    if (size > room) {
      this.#fail(false, this.#bounds.maxMessageSize);
      return;
    }
    if (fin && this.#parts.length === 0) {
      this.#deliver(data);
      return;
    }
    if (!this.#fits(size)) return;
    this.#parts.push(data);
    this.#partsBytes += size;
    this.#charge();
    if (!fin) return;
    const parts = this.#parts;
    const total = this.#partsBytes;
    this.#parts = [];
    this.#partsBytes = 0;
    this.#charge();
    if (text) {
      this.#deliver(parts.join(''));
    } else {
      // Memory of its own (never Buffer's shared pool) that is not
      // zero-filled first, since every byte is copied over; handed on as
      // a plain Uint8Array, as a message in one piece is.
      const own = Buffer.allocUnsafeSlow(total);
      const message = new Uint8Array(own.buffer, own.byteOffset, total);
      let at = 0;
      for (const part of parts) {
        message.set(part, at);
        at += part.byteLength;
      }
      this.#deliver(message);
    }
  }

  /**
   * Whether `size` more bytes fit the budget; if not, the connection is
   * failed (1009).
   */
  #fits(size) {
    const budget = this.#budget;
    if (budget === null || budget.used + size <= budget.limit) return true;
    this.#fail(true, budget.limit);
    return false;
  }

  /** Fails the connection over a limit, once this step's events are taken (see `#take`). */
  #fail(overBudget, limit) {
    this.#overLimit = { budget: overBudget, limit, failed: false };
    this.#parts = [];
    this.#partsBytes = 0;
    this.#charge();
  }

  /** Brings the budget's count of this connection's bytes up to date. */
  #charge() {
    const budget = this.#budget;
    if (budget === null) return;
    const held = this.#partsBytes + this.#buffered;
    budget.used += held - this.#charged;
    this.#charged = held;
  }

  /**
   * A whole message goes to exactly one taker: the oldest `recv` waiting,
   * else the 'message' listeners (when nothing is queued before it), else
   * the queue, for a later `recv` or for the first 'message' listener.
   */
  #deliver(bytesOrText) {
    const text = typeof bytesOrText === 'string';
    const message = text ? bytesOrText : this.#binary(bytesOrText);
    const reader = this.#readers.shift();
    if (reader !== undefined) {
      reader.resolve(message);
      return;
    }
    if (this.#queue.length === 0 && this.listenerCount('message') > 0) {
      emitSafely(this, 'message', message, !text);
      return;
    }
    if (this.#closing && this.#buffered > this.#bounds.maxUnreadWhileClosing) return;
    const size = sizeOf(message);
    if (!this.#fits(size)) return;
    this.#queue.push(message);
    this.#buffered += size;
    this.#charge();
  }

  /**
   * Hands the queued messages to the 'message' listeners, oldest first,
   * while there are listeners and no `recv` took them; reaching the end of
   * a queue after which the connection ended counts as reading it.
   */
  #handQueue() {
    this.#handing = false;
    while (this.#queue.length > 0 && this.listenerCount('message') > 0) {
      const message = this.#queue.shift();
      this.#buffered -= sizeOf(message);
      this.#charge();
      emitSafely(this, 'message', message, typeof message !== 'string');
    }
    this.#flow();
    if (this.#end !== null && this.#readByEvents()) this.#reachEnd();
  }

  /**
   * Whether the application has read up to the end of the queue by events
   * (see `EVENTS_READ`): nothing queued, and listeners; or the connection
   * was handed out by an event and `recv` was never called on it.
   */
  #readByEvents() {
    if (this.#byEvents && !this.#recvCalled) return true;
    if (this.#queue.length > 0) return false;
    for (const name of EVENTS_READ) if (this.listenerCount(name) > 0) return true;
    return false;
  }

  /**
   * Handed out by an event ('connection', `handleUpgrade`'s callback, the
   * `WebSocket` class), as `ws` hands its connections: until `recv` is
   * called, the application reads it by events, and messages that no
   * listener took do not hold the peer's close back.
   */
  [kByEvents]() {
    this.#byEvents = true;
  }

  #onOpen() {
    const machine = this.#machine;
    const request = machine.request;
    const response = machine.response;
    const server = this.#role === 'server';
    this.#info = {
      line: server ? request.line : response.line,
      headers: server ? (this.#seedHeaders ?? []) : response.headers,
      request,
      response,
      protocol: machine.protocol,
      framing: machine.framing,
      subprotocol: machine.subprotocol,
      deflate: machine.deflate,
    };
    const rfc6455 = this.#info.protocol === 'rfc6455';
    this.#verbatimSends = rfc6455 && this.#info.deflate === undefined;
    this.#partSends = rfc6455 && !this.#verbatimSends;
    this.#opened = true;
    this.#hooks.onOpen?.(this);
  }

  #setEnd(end) {
    if (this.#end !== null) return;
    let refused = false;
    if (end.error !== undefined && end.error.kind === 'rejected') {
      refused = this.#refused(end);
    }
    this.#end = end;
    const readers = this.#readers;
    this.#readers = [];
    // A waiting reader reaches the end now, and so do 'message' listeners
    // that were handed everything before it; the step being taken finishes
    // the core (see `#take`).
    if (readers.length > 0 || this.#readByEvents()) {
      this.#endReached = true;
    }
    if (end.error !== undefined && this.#opened && this.listenerCount('error') > 0 && !this.#terminated) {
      emitSafely(this, 'error', end.error);
    }
    for (const reader of readers) {
      if (end.error !== undefined && !this.#errorReported) {
        this.#errorReported = true;
        reader.reject(end.error);
      } else {
        reader.resolve(null);
      }
    }
    // A refusal's body is read first (see `#refused`).
    if (!this.#opened && !refused) this.#hooks.onEnd?.(this, end);
  }

  /**
   * A refused client: the error gets the response, its body as far as it
   * came with the head; true while the rest is read (then `#refusalDone`
   * reports the end).
   */
  #refused(end) {
    const response = this.#machine.response;
    const body = response.body ?? new Uint8Array(0);
    response.body = Buffer.from(body.buffer, body.byteOffset, body.length);
    end.error.response = response;
    const length = Number(headerValue(response.headers, 'Content-Length'));
    const want = Math.min(Number.isSafeInteger(length) && length >= 0 ? length : REFUSED_BODY_LIMIT, REFUSED_BODY_LIMIT);
    if (body.length >= want || this.#transportDone) {
      response.body = response.body.subarray(0, want);
      return false;
    }
    const timer = setTimeout(() => this.#refusalDone(), REFUSED_BODY_WAIT_MS);
    timer.unref();
    this.#refusal = { end, parts: [response.body], have: body.length, want, timer };
    return true;
  }

  #refusalPart(chunk) {
    const refusal = this.#refusal;
    refusal.parts.push(chunk);
    refusal.have += chunk.length;
    if (refusal.have >= refusal.want) this.#refusalDone();
  }

  #refusalDone() {
    const refusal = this.#refusal;
    if (refusal === null) return;
    this.#refusal = null;
    clearTimeout(refusal.timer);
    refusal.end.error.response.body = Buffer.concat(refusal.parts).subarray(0, refusal.want);
    this.#hooks.onEnd?.(this, refusal.end);
  }

  #endResult() {
    const error = this.#end?.error ?? (this.#end === null ? this.#deadError() : undefined);
    if (error !== undefined && !this.#errorReported) {
      this.#errorReported = true;
      return Promise.reject(error);
    }
    return Promise.resolve(null);
  }

  #deadError() {
    return this.#socketError ? fromSocket(this.#socketError) : new HybiError('io', 'the connection is closed');
  }

  /**
   * Pauses reading while the reader lags (see the module notes), while a
   * sliced chunk waits for its next turn, and while the core's own answers
   * not yet written are over `limits.outputHighWater` (resumed at the
   * socket's 'drain', which comes after their write callbacks).
   */
  #flow() {
    const live = !this.#finished && !this.#transportDone;
    const hold =
      // A rest waiting for its turn holds reading even while closing, so
      // that what a peer sends meanwhile waits in its socket, not in `#rest`.
      (live && this.#rest !== null) ||
      (live &&
        !this.#closing &&
        (this.#buffered >= this.#maxBuffered || this.#answerBytes > this.#bounds.outputHighWater));
    if (hold === this.#paused) return;
    this.#paused = hold;
    if (hold) this.#socket.pause();
    else this.#socket.resume();
  }

  /** Writes `bytes` (corked until the next tick); `written(error?)` is the socket's callback for them. */
  #write(bytes, written) {
    const socket = this.#socket;
    if (bytes.length === 0) return true;
    if (this.#transportDone || socket.destroyed || socket.writableEnded) return false;
    if (!this.#corked) {
      // Every write of this tick (replies to a whole chunk of messages,
      // a burst of sends) goes out in one system call.
      this.#corked = true;
      socket.cork();
      process.nextTick(this.#uncork);
    }
    return socket.write(bytes, written);
  }

  /** Writes a step's output, counted in `#answerBytes` until the socket has written it. */
  #writeAnswer(bytes) {
    const socket = this.#socket;
    if (bytes.length === 0 || this.#transportDone || socket.destroyed || socket.writableEnded) {
      this.#write(bytes);
      return;
    }
    const n = bytes.length;
    this.#answerBytes += n;
    // Called on error too (a destroyed socket fails what it holds).
    this.#write(bytes, () => {
      this.#answerBytes -= n;
    });
  }

  #uncork = () => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #writeAndWait(bytes) {
    if (this.#transportDone || this.#socket.destroyed) return Promise.reject(this.#deadError());
    if (this.#write(bytes)) return RESOLVED;
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  #onDrain() {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this.#flow();
  }

  #arm(at) {
    if (this.#finished || this.#transportDone) return;
    if (this.#timer !== null && at >= this.#timerAt) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    // +1: the core counts whole milliseconds; firing a hair early would
    // only re-arm.
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - now()) + 1);
    this.#timer.unref();
  }

  #onTimer = () => {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#finished || this.#transportDone) return;
    this.#apply(this.#machine.tick(now()));
  };

  #feedEof() {
    if (this.#eofFed) return;
    this.#eofFed = true;
    this.#apply(this.#machine.eof());
  }

  /** The core is done: everything it sends is written; end our direction. */
  #finish() {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
    // A refused client reads the refusal's body first: our end of the
    // stream would make many servers end theirs before it (see `#refused`).
    if (this.#transportDone || this.#refusal !== null) return;
    this.#socket.end();
    // The peer closes its side in turn; one that does not is cut.
    this.#linger = setTimeout(() => this.#socket.destroy(), this.#bounds.linger);
    this.#linger.unref();
  }

  #onSocketClose() {
    this.#transportDone = true;
    if (this.#refusal !== null) this.#refusalDone();
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.#timer = null;
    if (this.#socketError !== null && this.#end === null) {
      // A reset or a refused connection says more than "ended early".
      this.#setEnd({ error: fromSocket(this.#socketError) });
    }
    // The core tells how the stream ended (between frames, mid-frame, ...).
    this.#feedRestNow();
    this.#feedEof();
    if (this.#end === null) this.#setEnd({ error: this.#deadError() });
    // What is left unread stays readable, but no longer counts against the
    // server's budget: it goes when the application drops the connection.
    this.#parts = [];
    this.#partsBytes = 0;
    if (this.#budget !== null) this.#budget.used -= this.#charged;
    this.#budget = null;
    this.#charged = 0;
    const error = this.#deadError();
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    this.#resolveClosed();
    this.#hooks.onClose?.(this);
    if (this.#opened) {
      // As the WHATWG `WebSocket` reports it: the peer's code, 1005 for a
      // close without one, 1006 for an end without a closing handshake.
      const close = this.#end?.close;
      emitSafely(this, 'close', close === undefined ? 1006 : (close.code ?? 1005), close?.reason ?? '');
    }
  }
}
