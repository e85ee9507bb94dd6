// A browser-style client: the WHATWG `WebSocket` interface (`new
// WebSocket(url, protocols)`, `onopen`/`onmessage`/`onclose`/`onerror`,
// `addEventListener`, `readyState`, `binaryType`, `bufferedAmount`,
// `protocol`, `extensions`, `close(code, reason)`), so that code written
// for browsers or for Node's global `WebSocket` runs on hybi; and, like
// `ws`'s client, an EventEmitter (`on('open')`, `on('message', (data,
// isBinary))`, 'unexpected-response', `terminate`), so that `ws` code
// ports by renaming. Draft-76 with `{ protocol: 'draft76' }`.
//
// It is a thin shell over `connect` and the `Connection` it opens: the
// protocol is the core's, the reading and writing the connection's.

import { EventEmitter } from 'node:events';

import { connect } from './client.js';
import { CLOSED, CLOSING, CONNECTING, OPEN, kByEvents } from './connection.js';

const encoder = new TextEncoder();

/** The WHATWG `CloseEvent` (Node 20 has no global one). */
export class CloseEvent extends Event {
  #code;
  #reason;
  #wasClean;

  constructor(type, init = {}) {
    super(type, init);
    this.#code = init.code ?? 0;
    this.#reason = init.reason ?? '';
    this.#wasClean = init.wasClean ?? false;
  }

  get code() {
    return this.#code;
  }

  get reason() {
    return this.#reason;
  }

  get wasClean() {
    return this.#wasClean;
  }
}

/** The WHATWG `ErrorEvent`'s fields that matter here: `error` and `message`. */
class ErrorEvent extends Event {
  constructor(error) {
    super('error');
    this.error = error;
    this.message = error?.message ?? '';
  }
}

/** An event as a WHATWG listener receives it, from what the EventEmitter side emits. */
function toEvent(ws, type, args) {
  let event;
  switch (type) {
    case 'message': {
      const [data, isBinary] = args;
      event = new MessageEvent('message', { data: isBinary ? ws[kBinary](data) : data, origin: new URL(ws.url).origin });
      break;
    }
    case 'close':
      event = new CloseEvent('close', { code: args[0], reason: args[1], wasClean: args[2] === true });
      break;
    case 'error':
      event = new ErrorEvent(args[0]);
      break;
    default:
      event = new Event(type);
  }
  // Listeners see the socket as the event's target, as a dispatched event's.
  Object.defineProperty(event, 'target', { value: ws });
  Object.defineProperty(event, 'currentTarget', { value: ws });
  return event;
}

const WHATWG_EVENTS = ['open', 'message', 'close', 'error'];
const kBinary = Symbol('hybi.binary');
/** The EventEmitter listener that stands for a WHATWG one (`addEventListener`, `on<type>`). */
const kWhatwg = Symbol('hybi.whatwg');

function whatwgError(message, name) {
  return new DOMException(message, name);
}

/**
 * `new WebSocket(url, protocols?, options?)`: connects at once; `options`
 * are `connect`'s (`protocol: 'draft76'` for the seed's servers,
 * `headers`, `compression`, `tls`, ...).
 */
export class WebSocket extends EventEmitter {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;
  CONNECTING = CONNECTING;
  OPEN = OPEN;
  CLOSING = CLOSING;
  CLOSED = CLOSED;

  #url;
  #conn = null;
  #readyState = CONNECTING;
  #binaryType = 'blob';
  /** Bytes `send` was given after the connection closed (WHATWG counts them). */
  #discarded = 0;
  /** `close()` called while connecting. */
  #aborted = null;
  #handlers = { open: null, message: null, close: null, error: null };

  constructor(url, protocols, options) {
    super();
    if (protocols !== undefined && protocols !== null && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols;
      protocols = undefined;
    }
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      throw whatwgError(`invalid URL ${JSON.stringify(String(url))}`, 'SyntaxError');
    }
    // The WHATWG URL rules: http(s) stands for ws(s); no fragments.
    if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
    if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw whatwgError(`invalid URL scheme ${parsed.protocol}`, 'SyntaxError');
    }
    if (parsed.hash !== '') throw whatwgError('WebSocket URLs have no #fragment', 'SyntaxError');
    const subprotocols = protocols === undefined || protocols === null ? [] : [protocols].flat().map(String);
    if (new Set(subprotocols).size !== subprotocols.length) {
      throw whatwgError('the same subprotocol is listed twice', 'SyntaxError');
    }
    this.#url = parsed.href;
    const { binaryType, ...rest } = options ?? {};
    if (binaryType !== undefined) this.binaryType = binaryType;
    connect(this.#url, { ...rest, subprotocols, binaryType: 'nodebuffer' }).then(
      (conn) => this.#opened(conn),
      (error) => this.#failed(error),
    );
  }

  #opened(conn) {
    if (this.#aborted !== null) {
      // close() while connecting: the connection goes as soon as it came.
      conn.terminate();
      this.#failed(this.#aborted);
      return;
    }
    this.#conn = conn;
    conn[kByEvents]();
    conn.on('message', (data, isBinary) => this.emit('message', data, isBinary));
    conn.on('ping', (data) => this.emit('ping', data));
    conn.on('pong', (data) => this.emit('pong', data));
    conn.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    conn.on('close', (code, reason) => {
      this.#readyState = CLOSED;
      this.emit('close', code, reason, conn.closeStatus !== undefined);
    });
    this.#readyState = OPEN;
    this.emit('open');
    if (conn.readyState === CLOSED && this.#readyState !== CLOSED) {
      // It ended before this shell was told it opened: its 'close' went by.
      this.#readyState = CLOSED;
      const status = conn.closeStatus;
      this.emit('close', status === undefined ? 1006 : (status.code ?? 1005), status?.reason ?? '', status !== undefined);
    }
  }

  /** The handshake failed (or was aborted): 'unexpected-response' or 'error', then 'close' 1006. */
  #failed(error) {
    this.#readyState = CLOSED;
    if (error.kind === 'rejected' && this.listenerCount('unexpected-response') > 0) {
      this.emit('unexpected-response', error.response, error);
    } else if (this.listenerCount('error') > 0) {
      this.emit('error', error);
    }
    this.emit('close', 1006, '', false);
  }

  /** Binary data as `binaryType` says, for WHATWG listeners. */
  [kBinary](buffer) {
    switch (this.#binaryType) {
      case 'arraybuffer':
        return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
      case 'blob':
        return new Blob([buffer]);
      default:
        return buffer;
    }
  }

  get url() {
    return this.#url;
  }

  get readyState() {
    if (this.#readyState === OPEN && this.#conn !== null) {
      const state = this.#conn.readyState;
      return state === CLOSED ? CLOSING : state;
    }
    return this.#readyState;
  }

  /**
   * How binary messages reach WHATWG listeners (`onmessage`,
   * `addEventListener`): `'blob'` (the default, as the WHATWG's), `'arraybuffer'`
   * or `'nodebuffer'`. EventEmitter listeners (`on('message')`) get
   * Buffers. Other values are ignored, as the WHATWG says.
   */
  get binaryType() {
    return this.#binaryType;
  }

  set binaryType(value) {
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /** Bytes given to `send` and not yet written (and, once closed, those given in vain). */
  get bufferedAmount() {
    return (this.#conn?.bufferedAmount ?? 0) + this.#discarded;
  }

  /** The subprotocol the server chose, or `''`. */
  get protocol() {
    return this.#conn?.subprotocol ?? '';
  }

  /** The extensions in use, as the response's `Sec-WebSocket-Extensions` says them (`''` for none). */
  get extensions() {
    const headers = this.#conn?.response?.headers ?? [];
    return headers
      .filter(([name]) => name.toLowerCase() === 'sec-websocket-extensions')
      .map(([, value]) => value)
      .join(', ');
  }

  /** The open `Connection` underneath (`recv`, `closeStatus`, ...), once open. */
  get connection() {
    return this.#conn;
  }

  /**
   * Sends a message (WHATWG: returns nothing). `ws`'s `(data, options,
   * callback)` works too. Throws `InvalidStateError` while connecting;
   * once closing or closed, the data is discarded (and counted in
   * `bufferedAmount`).
   */
  send(data, options, callback) {
    if (this.readyState === CONNECTING) throw whatwgError('the connection is not open yet', 'InvalidStateError');
    if (this.readyState !== OPEN) {
      this.#discarded += typeof data === 'string' ? encoder.encode(data).length : (data?.byteLength ?? data?.size ?? 0);
      if (typeof options === 'function') options(whatwgError('the connection is closed', 'InvalidStateError'));
      else if (typeof callback === 'function') callback(whatwgError('the connection is closed', 'InvalidStateError'));
      return;
    }
    this.#conn.send(data, options, callback);
  }

  /**
   * Starts the closing handshake (WHATWG rules: `code` 1000 or
   * 3000–4999, `reason` at most 123 UTF-8 bytes; draft-76 sends its close
   * without either). Closing while connecting fails the connection.
   */
  close(code, reason) {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw whatwgError(`close code ${code} is not 1000 or 3000-4999`, 'InvalidAccessError');
    }
    if (reason !== undefined && encoder.encode(reason).length > 123) {
      throw whatwgError('close reason is over 123 bytes', 'SyntaxError');
    }
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED) return;
    if (state === CONNECTING) {
      this.#readyState = CLOSING;
      this.#aborted ??= whatwgError('closed before the connection was established', 'AbortError');
      return;
    }
    const conn = this.#conn;
    const closing = conn.protocol === 'draft76' ? conn.close(null) : conn.close(code ?? 1000, reason ?? '');
    // How the closing handshake went is told by 'close' (and 'error').
    closing.catch(() => {});
  }

  /** `ws`'s `terminate`: the socket goes at once, without a closing handshake ('close' 1006). */
  terminate() {
    if (this.#conn !== null) this.#conn.terminate();
    else if (this.readyState === CONNECTING) this.close();
  }

  /** `ws`'s `ping` (RFC 6455): the answer comes as 'pong'. */
  ping(data, callback) {
    if (this.#conn === null) throw whatwgError('the connection is not open yet', 'InvalidStateError');
    this.#conn.ping(data, callback);
  }

  // ----- the WHATWG EventTarget side ------------------------------------------

  /** `addEventListener(type, listener, { once })`: the listener gets an Event (`MessageEvent`, `CloseEvent`). */
  addEventListener(type, listener, options) {
    if (!WHATWG_EVENTS.includes(type) || listener === null || listener === undefined) return;
    for (const existing of this.listeners(type)) {
      if (existing[kWhatwg] === listener) return;
    }
    const once = typeof options === 'object' && options?.once === true;
    const wrapper = (...args) => {
      if (once) this.removeListener(type, wrapper);
      const event = toEvent(this, type, args);
      if (typeof listener === 'function') listener.call(this, event);
      else listener.handleEvent(event);
    };
    wrapper[kWhatwg] = listener;
    this.on(type, wrapper);
  }

  removeEventListener(type, listener) {
    for (const existing of this.listeners(type)) {
      if (existing[kWhatwg] === listener) {
        this.removeListener(type, existing);
        return;
      }
    }
  }

  #setHandler(type, handler) {
    const old = this.#handlers[type];
    if (old !== null) this.removeListener(type, old);
    this.#handlers[type] = null;
    if (typeof handler !== 'function') return;
    const wrapper = (...args) => handler.call(this, toEvent(this, type, args));
    wrapper.handler = handler;
    this.#handlers[type] = wrapper;
    this.on(type, wrapper);
  }

  get onopen() {
    return this.#handlers.open?.handler ?? null;
  }

  set onopen(handler) {
    this.#setHandler('open', handler);
  }

  get onmessage() {
    return this.#handlers.message?.handler ?? null;
  }

  set onmessage(handler) {
    this.#setHandler('message', handler);
  }

  get onclose() {
    return this.#handlers.close?.handler ?? null;
  }

  set onclose(handler) {
    this.#setHandler('close', handler);
  }

  get onerror() {
    return this.#handlers.error?.handler ?? null;
  }

  set onerror(handler) {
    this.#setHandler('error', handler);
  }
}
