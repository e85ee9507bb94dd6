// What every Node peer of the interop suite shares: the script's payload
// generators (the same formulas as agent/src/main.rs and common.py),
// command-line options and the report format (see ../README.md).
import { readFileSync } from 'node:fs';

export const CLIENT_CLOSE_CODE = 4000;
export const SERVER_CLOSE_CODE = 4001;
export const CLOSE_REASON = 'bye ✓'; // multi-byte UTF-8 on purpose

export function generate(gen, len) {
  const out = Buffer.alloc(len);
  if (gen === 'ascii') {
    for (let i = 0; i < len; i++) out[i] = 0x20 + ((i * 7 + len) % 95);
  } else if (gen === 'utf8') {
    const unit = Buffer.from('aé€𝄞');
    let n = 0;
    while (n + unit.length <= len) n += unit.copy(out, n);
    out.fill(0x61, n);
  } else if (gen === 'bytes') {
    for (let i = 0; i < len; i++) out[i] = (i * 31 + len * 7 + 11) & 0xff;
  } else {
    throw new Error(`unknown generator ${gen}`);
  }
  return out;
}

export function loadScript(path) {
  const script = JSON.parse(readFileSync(path, 'utf8'));
  const steps = script.messages.map((m) => ({
    binary: m.type === 'binary',
    payload: generate(m.gen, m.len),
    label: `${m.type}/${m.gen}/${m.len}`,
  }));
  return { steps, pingEvery: script.ping_every || 0 };
}

export function parseArgs(argv = process.argv.slice(2)) {
  const args = { mode: argv[0], framing: 'old', protocol: 'rfc6455', closer: 'client',
    origin: 'http://127.0.0.1', deflate: false };
  for (let i = 1; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (name === 'deflate' || name === 'deflateTuned') args[name] = true;
    else args[name] = argv[++i];
  }
  if (args.closeAfter !== undefined) args.closeAfter = Number(args.closeAfter);
  if (args.expectStatus !== undefined) args.expectStatus = Number(args.expectStatus);
  return args;
}

export class Report {
  constructor(impl, role, steps) {
    Object.assign(this, { impl, role, protocol: null, deflate: null, received: [], pings_sent: 0,
      pongs_received: null, pings_received: null, close: null, errors: [] });
    Object.defineProperty(this, 'steps', { value: steps, enumerable: false });
  }

  // Records the next message (a string for text, a Buffer for binary)
  // against the script; returns whether it is the expected one.
  got(data, isBinary) {
    const i = this.received.length;
    const raw = isBinary ? Buffer.from(data) : Buffer.from(data, typeof data === 'string' ? 'utf8' : undefined);
    const want = this.steps[i];
    const ok = !!want && want.binary === isBinary && want.payload.equals(raw);
    if (!ok) {
      let where = '';
      if (want) {
        const n = Math.min(raw.length, want.payload.length);
        for (let j = 0; j < n; j++) if (raw[j] !== want.payload[j]) { where = ` (first difference at byte ${j})`; break; }
      }
      this.errors.push(`message ${i}: got ${isBinary ? 'binary' : 'text'} of ${raw.length} bytes, expected ${want ? want.label : 'nothing'}${where}`);
    }
    this.received.push({ type: isBinary ? 'binary' : 'text', len: raw.length, ok });
    return ok;
  }
}

export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Resolves when stdin ends: the orchestrator's way to stop a server.
export function stdinEnded() {
  return new Promise((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
}

// A queue of incoming messages that a lockstep client awaits one by one.
export class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item); else this.items.push(item);
  }
  next(timeoutMs = 30000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve({ timeout: true }), timeoutMs);
      this.waiters.push((item) => { clearTimeout(t); resolve(item); });
    });
  }
}
