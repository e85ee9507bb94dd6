// Loads the hybi-core state machine (hybi-wasm, built into ../pkg by
// `npm run build`) synchronously when the package is imported: a module of
// a few hundred KiB compiles in milliseconds, and a synchronous load keeps
// `connect` and `serve` free of an extra await.
//
// Every connection's Machine lives in one instance of the module and its
// linear memory (one crossing per call, no per-connection instance cost).
// A fatal error inside the wasm, a trap (`RuntimeError: unreachable`, from
// a panic, since the module is built with panic=abort, or from an
// allocation that failed), ends that instance for good: wasm has no
// unwinding, so a trap leaves the shadow stack pointer where the trapped
// frames put it and whatever the trapped code was changing half changed,
// possibly the allocator's own lists. Nothing that runs on that memory can
// be vouched for afterwards, so every connection on it fails (RFC 6455:
// close 1011, written here, not by the dead core; see `GuardedMachine`),
// and new connections get a fresh instance of the same compiled module.
// The process and the connections of other instances go on.
//
// A fresh instance needs a fresh copy of wasm-bindgen's glue
// (pkg/hybi_wasm.js), which keeps its instance in module-level variables
// and initialises once: its source is compiled here as a function, once
// per instance (`vm.compileFunction`), with its `export`s turned into a
// returned object. An instance whose connections are all gone is garbage,
// memory and all: the only way the memory of a wasm instance ever shrinks.

import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { compileFunction } from 'node:vm';

import { HybiError } from './util.js';

const wasmUrl = new URL('../pkg/hybi_wasm_bg.wasm', import.meta.url);
const glueUrl = new URL('../pkg/hybi_wasm.js', import.meta.url);
let bytes;
let glueSource;
try {
  bytes = readFileSync(wasmUrl);
  glueSource = readFileSync(glueUrl, 'utf8');
} catch (cause) {
  throw new Error(`hybi: ${wasmUrl.pathname} is missing; build it with \`npm run build\``, { cause });
}
const compiled = new WebAssembly.Module(bytes);

// Node 20's V8 (11.3) dies ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when optimized code that
// inlined a call into wasm is deoptimized lazily while that call runs:
// the wasm calls back into JS (js-sys builds every step's objects), a map
// the optimized caller depended on changes, and the continuation of the
// inlined JS-to-wasm call cannot be rebuilt. Seen in the abuse suite's
// idle-many at ~1,500 connections (5 of 16 runs, none of 15 with this;
// --trace-deopt-verbose: #onOpen with the glue's `get request` inlined,
// deoptimized for "code dependencies"). TurboFan is told not to inline
// JS-to-wasm calls, before any of this package's code is optimized; it is
// a process-wide V8 flag (each call into wasm then goes through its
// wrapper: no measurable cost here, see bench/guard-overhead.js).
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

/**
 * wasm-bindgen's `--target web` glue as the body of a function that returns
 * `{ initSync, Machine }`: its two export statements, and the
 * `import.meta.url` of its asynchronous loader (never called here), are
 * the only module syntax in it.
 */
const glueBody = (() => {
  const edits = [
    ['export class Machine ', 'class Machine '],
    ['export { initSync, __wbg_init as default };', 'return { initSync, Machine };'],
    ['import.meta.url', JSON.stringify(glueUrl.href)],
  ];
  let body = glueSource;
  for (const [from, to] of edits) {
    if (!body.includes(from)) {
      throw new Error(`hybi: pkg/hybi_wasm.js is not the wasm-bindgen glue this package knows (no \`${from}\`)`);
    }
    body = body.split(from).join(to);
  }
  return body;
})();

/** A fresh copy of the glue with its own instance of the compiled module. */
function instantiate() {
  const glue = compileFunction(glueBody, [], { filename: glueUrl.href })();
  const exports = glue.initSync({ module: compiled });
  return { exports, Machine: glue.Machine };
}

/** The bytes of an RFC 6455 close frame with code 1011 (internal error), as a server sends it (unmasked). */
const SERVER_CLOSE_1011 = Uint8Array.of(0x88, 0x02, 0x03, 0xf3);

/** The same frame as a client sends it, masked with a fresh key. */
function clientClose1011() {
  const frame = Uint8Array.of(0x88, 0x82, 0, 0, 0, 0, 0x03, 0xf3);
  const mask = frame.subarray(2, 6);
  crypto.getRandomValues(mask);
  frame[6] ^= mask[0];
  frame[7] ^= mask[1];
  return frame;
}

/**
 * One instance of the module: its exports, its glue's `Machine` class, and
 * its live machines (held weakly: a connection that is gone must not be
 * kept by its instance), to be failed together if it traps.
 */
class WasmInstance {
  dead = false;
  /** The trap that ended it. */
  cause = null;
  #machines = new Set();
  #forget = new FinalizationRegistry((ref) => this.#machines.delete(ref));

  constructor() {
    const { exports, Machine } = instantiate();
    this.exports = exports;
    this.Machine = Machine;
  }

  adopt(machine) {
    const ref = new WeakRef(machine);
    this.#machines.add(ref);
    this.#forget.register(machine, ref);
  }

  /** The instance trapped: every machine on it fails (once this call has returned). */
  die(cause) {
    if (this.dead) return;
    this.dead = true;
    this.cause = cause;
    if (current === this) current = null;
    const machines = [...this.#machines].map((ref) => ref.deref()).filter((m) => m !== undefined);
    this.#machines.clear();
    for (const machine of machines) machine.abandon();
    // Not from inside the call that trapped: each connection applies its
    // failure as it would any other step, from a fresh stack.
    queueMicrotask(() => {
      for (const machine of machines) machine.notifyFatal();
    });
  }
}

/** The instance new machines go to; replaced when it dies. */
let current = new WasmInstance();
let instancesStarted = 1;

function liveInstance() {
  if (current === null) {
    current = new WasmInstance();
    instancesStarted++;
  }
  return current;
}

/** Whether `error` is a fatal error of the wasm itself (a trap), not one the core reports. */
const isTrap = (error) => error instanceof WebAssembly.RuntimeError;

/** A step with nothing in it, for a machine whose failure was handed out already. */
const EMPTY_CLOSED_STEP = Object.freeze({ events: Object.freeze([]), state: 'closed' });

/**
 * A hybi-wasm `Machine` (same methods, same steps) whose calls are guarded
 * against a trap in its instance: the call that traps, and every call on
 * a machine of an instance that trapped, returns the step that fails the
 * connection (`fatalStep`), once, and empty closed steps after it;
 * commands throw `{ kind: "internal" }`. Machines of the same instance
 * that were not being called hear of it through `onFatal`.
 */
export class GuardedMachine {
  #raw;
  #instance;
  #role;
  #state = 'handshaking';
  #protocol = undefined;
  #fatalGiven = false;
  #onFatal = null;

  constructor(raw, instance) {
    this.#raw = raw;
    this.#instance = instance;
    this.#role = raw.role;
    instance.adopt(this);
  }

  /** A server machine on the live instance (`Machine.server`). */
  static server(now, config) {
    return GuardedMachine.#create((Machine) => Machine.server(now, config));
  }

  /** A client machine on the live instance (`Machine.client`). */
  static client(now, config, request) {
    return GuardedMachine.#create((Machine) => Machine.client(now, config, request));
  }

  static #create(make) {
    let instance = liveInstance();
    let raw;
    try {
      raw = make(instance.Machine);
    } catch (error) {
      if (!isTrap(error)) throw error;
      instance.die(error);
      // Once more, on a fresh instance: a second trap there is not the
      // old instance's doing, and is thrown.
      instance = liveInstance();
      raw = make(instance.Machine);
    }
    return new GuardedMachine(raw, instance);
  }

  /** Calls `onFatal()` when the instance traps in a call on another machine (for a driver that is not calling). */
  onFatal(callback) {
    this.#onFatal = callback;
  }

  /**
   * The step that fails the connection after a trap: an error event of
   * kind `"internal"`; RFC 6455 while a close is owed (open, or "ending"),
   * a close 1011 (as the core would send it: unmasked from a server,
   * masked from a client); draft-76, or a connection closing or
   * handshaking, nothing more (state `"closed"`: the driver ends the
   * socket). An empty closed step after the first.
   */
  fatalStep() {
    if (this.#fatalGiven || this.#state === 'closed') {
      this.#fatalGiven = true;
      return EMPTY_CLOSED_STEP;
    }
    this.#fatalGiven = true;
    const step = { events: [{ type: 'error', error: this.#internalError() }], state: 'closed' };
    // Open, or "ending" (the peer is done and our close is owed): the
    // close goes, with 1011. Closing: ours went already; handshaking: no
    // frames yet.
    if (this.#closeOwed() && this.#protocol === 'rfc6455') {
      step.output = this.#role === 'server' ? SERVER_CLOSE_1011 : clientClose1011();
    }
    this.#state = 'closed';
    return step;
  }

  #closeOwed() {
    return this.#state === 'open' || this.#state === 'ending';
  }

  #internalError() {
    const cause = this.#instance.cause;
    return new HybiError('internal', `the wasm instance failed (${cause?.message ?? cause}); close code 1011`, {
      cause,
      closeCode: this.#closeOwed() && this.#protocol === 'rfc6455' ? 1011 : undefined,
    });
  }

  /** The instance died: the raw machine is never called (nor freed into the dead instance) again. */
  abandon() {
    const raw = this.#raw;
    if (raw === null) return;
    this.#raw = null;
    // Out of the glue's finalization registry: freeing it later would run
    // the dead instance's allocator, from a finaliser where a trap would
    // take the process with it.
    raw.__destroy_into_raw();
  }

  notifyFatal() {
    if (this.#fatalGiven) return;
    this.#onFatal?.();
  }

  #trapped(error) {
    if (!isTrap(error)) throw error;
    this.#instance.die(error);
    return this.fatalStep();
  }

  /** Records the state a step reports (and, at open, the protocol: a close 1011 needs it after a trap). */
  #step(step) {
    if (step.state !== this.#state) {
      this.#state = step.state;
      if (step.state === 'open' && this.#protocol === undefined) this.#protocol = this.#raw.protocol;
    }
    return step;
  }

  /** After a call on `raw` threw `error`: a trap ends the instance (and this call throws kind `internal`); anything else is the core's and goes on. */
  #commandFailed(error) {
    this.#trapped(error);
    throw this.#internalError();
  }

  /** The raw machine, or a throw of kind `internal` after a trap. */
  #live() {
    if (this.#raw === null) throw this.#internalError();
    return this.#raw;
  }

  // Steps. (Input goes in through `feedInPlace` only: the driver's one
  // way of feeding, see connection.js.)
  feedInPlace(now, input) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.feedInPlace(now, input));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  feedHead(now, line, headers) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.feedHead(now, line, headers));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  finish() {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.finish());
    } catch (error) {
      return this.#trapped(error);
    }
  }

  eof() {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.eof());
    } catch (error) {
      return this.#trapped(error);
    }
  }

  tick(now) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.tick(now));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  accept(accept) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.accept(accept));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  respond(status, headers, body) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.respond(status, headers, body));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  close(now, code, reason) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.close(now, code, reason));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  goAway(now, reason) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.goAway(now, reason));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  failLimit(budget, limit) {
    if (this.#raw === null) return this.fatalStep();
    try {
      return this.#step(this.#raw.failLimit(budget, limit));
    } catch (error) {
      return this.#trapped(error);
    }
  }

  // Commands: the bytes to write (written out, no closures: sends are the hot path).
  sendText(text) {
    const raw = this.#live();
    try {
      return raw.sendText(text);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  sendTextUtf8(bytes) {
    const raw = this.#live();
    try {
      return raw.sendTextUtf8(bytes);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  sendBinary(data) {
    const raw = this.#live();
    try {
      return raw.sendBinary(data);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  sendVerbatimHeader(binary, length) {
    const raw = this.#live();
    try {
      return raw.sendVerbatimHeader(binary, length);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  maskPart(part, out) {
    const raw = this.#live();
    try {
      return raw.maskPart(part, out);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  sendFragment(binary, data, fin) {
    const raw = this.#live();
    try {
      return raw.sendFragment(binary, data, fin);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  sendPing(data) {
    const raw = this.#live();
    try {
      return raw.sendPing(data);
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  takeOutput() {
    const raw = this.#live();
    try {
      return raw.takeOutput();
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  pollTimeout() {
    const raw = this.#live();
    try {
      return raw.pollTimeout();
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  /** Frees the machine in its instance (never into a dead one). */
  free() {
    const raw = this.#raw;
    if (raw === null) return;
    this.#raw = null;
    this.#fatalGiven = true;
    raw.free();
  }

  // Getters: after a trap, what was known (the state "closed").
  get state() {
    if (this.#raw === null) return 'closed';
    try {
      return this.#raw.state;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get role() {
    if (this.#raw === null) return this.#role;
    try {
      return this.#raw.role;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get protocol() {
    if (this.#raw === null) return this.#protocol;
    try {
      return this.#raw.protocol;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get framing() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.framing;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get request() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.request;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get response() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.response;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get subprotocol() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.subprotocol;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  get deflate() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.deflate;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }

  /** The bounds the driver keeps, from the core's configuration (see machine.rs). */
  get driverBounds() {
    if (this.#raw === null) return undefined;
    try {
      return this.#raw.driverBounds;
    } catch (error) {
      return this.#commandFailed(error);
    }
  }
}

/**
 * The size of the live instance's linear memory, which its connections
 * share and which never shrinks (0 between a trap and the next
 * connection, which starts a fresh instance): for tests and monitoring
 * (not part of the package's API).
 */
export const wasmMemoryBytes = () => current?.exports.memory.buffer.byteLength ?? 0;

/**
 * For tests and monitoring (not part of the package's API): how many
 * instances were started (more than 1: one trapped), and the live one's
 * exports (a test makes it trap by growing its memory to the most wasm32
 * allows, so that its next allocation fails).
 */
export const wasmInstances = () => ({ started: instancesStarted, exports: liveInstance().exports });

/** The core's state machine, unguarded (the first instance's class), for drivers of other transports. */
export const Machine = current.Machine;
