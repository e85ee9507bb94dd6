// What the client and the server share: the clock, the error class, and the
// translation of JS options into the plain objects hybi-wasm takes.

import { performance } from 'node:perf_hooks';

/**
 * The core's clock: milliseconds on a clock that never goes backwards
 * (`performance.now()`, not `Date.now()`, which jumps with the wall clock).
 */
export const now = () => performance.now();

/**
 * Every failure hybi reports. `kind` says who caused it, as the core sorts
 * errors:
 *
 * - `"handshake"`, `"protocol"`, `"limit"`: the peer broke a rule or a limit
 *   (`status` is the HTTP status a server answered with, `closeCode` the
 *   RFC 6455 close code sent);
 * - `"rejected"`: the server refused the handshake with `status`;
 *   a client's failed handshake has `suggestedProtocol` (`"rfc6455"` or
 *   `"draft76"`) when the server may speak the other protocol;
 * - `"eof"`: the connection ended where the protocol does not allow it
 *   (e.g. in the middle of a frame);
 * - `"timeout"`: a deadline passed (handshake, close, idle, keepalive);
 * - `"io"`: the socket failed (`cause` is Node's error);
 * - `"misuse"`: the application asked for something the connection cannot
 *   do (send on a closed connection, binary over draft-76);
 * - `"config"`: an option is malformed;
 * - `"internal"`: the wasm instance the connection ran in failed (a
 *   trap; see lib/wasm.js).
 */
export class HybiError extends Error {
  constructor(kind, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'HybiError';
    this.kind = kind;
    if (details.status !== undefined) this.status = details.status;
    if (details.closeCode !== undefined) this.closeCode = details.closeCode;
    if (details.response !== undefined) this.response = details.response;
  }
}

/** A value hybi-wasm threw or reported (`{ kind, message, status?, closeCode? }`) as a HybiError. */
export function fromCore(error) {
  if (error instanceof Error) return error;
  if (error && typeof error === 'object' && typeof error.kind === 'string') {
    return new HybiError(error.kind, error.message, error);
  }
  return new HybiError('misuse', String(error));
}

/** A socket's error as a HybiError. */
export function fromSocket(error) {
  if (error instanceof HybiError) return error;
  return new HybiError('io', error?.message ?? String(error), { cause: error });
}

/**
 * Drops `undefined` fields, deeply, so that what goes to hybi-wasm holds
 * only what was set (hybi-wasm reads an `undefined` field as an absent one,
 * "the default"; `null` is "off" for a timeout).
 */
export function clean(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    return value;
  }
  const out = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) out[key] = clean(field);
  }
  return out;
}

/** `[[name, value], ...]` from an array of pairs or an object. */
export function headerList(headers) {
  if (headers == null) return [];
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  return list.map(([name, value]) => [String(name), String(value)]);
}

/**
 * The first value of the header `name` (case-insensitive) in a
 * `[[name, value], ...]` list, like Racket's `headers-assq*`.
 */
export function headerValue(headers, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of headers) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** `compression: true | object` as hybi-wasm's `deflate`. */
export function deflateConfig(compression) {
  if (compression === undefined || compression === null || compression === false) return undefined;
  if (compression === true) return {};
  if (typeof compression === 'object') return compression;
  throw new HybiError('config', `compression must be a boolean or an object, not ${typeof compression}`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A message to send as the bytes hybi-wasm takes (binary), or a string
 * (text): what `ws`'s `send` takes, a string, a number (sent as its
 * text), a `Buffer`, `ArrayBuffer`, typed array or `DataView` (no copy),
 * or anything else `Buffer.from` takes (an array of byte values, an
 * object with `valueOf`); binary unless a string or number. `binary`
 * (`ws`'s option) overrides: `true` sends a string as its UTF-8 bytes,
 * `false` bytes as text (they must be UTF-8: kind `misuse` otherwise).
 * (A `Blob` is read by `Connection.send` before it comes here.)
 */
export function payload(message, binary) {
  let data;
  if (typeof message === 'string') data = message;
  else if (typeof message === 'number') data = String(message);
  else if (message instanceof Uint8Array) data = message;
  else if (message instanceof ArrayBuffer) data = new Uint8Array(message);
  else if (ArrayBuffer.isView(message)) data = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  else {
    try {
      data = Buffer.from(message);
    } catch (cause) {
      throw new HybiError('misuse', `cannot send ${message === null ? 'null' : typeof message}: a message is a string, bytes, or what Buffer.from takes`, { cause });
    }
  }
  if (binary === true && typeof data === 'string') return Buffer.from(data, 'utf8');
  if (binary === false && typeof data !== 'string') {
    try {
      return strictUtf8.decode(data);
    } catch {
      throw new HybiError('misuse', 'a text message (binary: false) must be UTF-8');
    }
  }
  return data;
}
