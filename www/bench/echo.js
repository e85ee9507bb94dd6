// Echo benchmark: hybi (Node client → Node server, both driving the core
// compiled to wasm) against ws (ws client → ws server), same load, same
// machine, in the same run. RFC 6455, binary messages without compression
// by default; `--text` sends text ('x' repeated), `--deflate` JSON-like
// text with permessage-deflate on at both ends (each library's defaults;
// ws compresses only messages of 1 KiB or more, its default threshold);
// `--corpus FILE` takes that text from FILE instead (repeated to size),
// `--level N` sets hybi's compression level (its `compressionLevel`, both
// ends; ws keeps zlib's default).
//
// ws uses its optional `bufferutil` addon (a pinned dev dependency, loaded
// from its prebuilt binary) when it loads; the last line says whether it
// did. `WS_NO_BUFFER_UTIL=1` (inherited by the server process) measures
// plain ws instead.
//
// hybi runs in two styles, each at both ends:
// - `hybi`: ws's own style, as the ws side is written: a 'message'
//   listener, and sends not awaited (`conn.on('message', (data) =>
//   conn.send(data))`);
// - `hybi-iterate`: hybi's promise API, `for await (const message of conn)`
//   and, on the server, `await conn.send(message)` (each send waits until
//   the socket has taken the bytes, so the next echo cannot join its write).
//
// Load: the client keeps `window` messages in flight (each echo received
// sends the next) for `seconds`, after a warm-up; the server runs in a
// child process, so client and server each have a core. Reported:
// messages echoed per second, hybi / ws, and the CPU time client and server
// spent per message (user + system, both processes): on a machine shared
// with other work, throughput varies with the neighbours and CPU time per
// message much less.
//
// Usage: npm run bench [-- --seconds 3 --sizes 16,16384,1048576,4194304
// --rounds 1 --text|--deflate [--corpus FILE] [--level N] --only ws|hybi|hybi-iterate]
// (`--only`: one server and client, for profiling).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { WebSocket } from 'ws';

import { jsonLike } from './json-like.js';
import { connect } from '../index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    sizes: { type: 'string', default: '16,16384,1048576,4194304' },
    rounds: { type: 'string', default: '1' },
    text: { type: 'boolean', default: false },
    deflate: { type: 'boolean', default: false },
    corpus: { type: 'string' },
    level: { type: 'string' },
    only: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const sizes = values.sizes.split(',').map(Number);
const rounds = Number(values.rounds);

/** Messages in flight per size: enough to keep both processes busy. */
const windowFor = (size) => (size <= 64 ? 256 : size <= 65536 ? 32 : size <= 1048576 ? 4 : 2);
const deflate = values.deflate;
const IMPLS = ['ws', 'hybi', 'hybi-iterate'];
if (values.only !== undefined && !IMPLS.includes(values.only)) throw new Error(`--only ${IMPLS.join('|')}`);
const impls = values.only ? [values.only] : IMPLS;

/** `size` characters of the text in `path`, repeated as often as needed. */
function fromCorpus(path, size) {
  const text = readFileSync(path, 'utf8');
  return text.repeat(Math.ceil(size / text.length)).slice(0, size);
}

function message(size) {
  if (deflate) return values.corpus ? fromCorpus(values.corpus, size) : jsonLike(size);
  if (values.text) return 'x'.repeat(size);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31) & 0xff;
  return bytes;
}

async function startServer(impl) {
  const args = [fileURLToPath(new URL('server.js', import.meta.url)), impl];
  if (deflate) args.push('deflate', ...(values.level === undefined ? [] : [values.level]));
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = child.stdout.setEncoding('utf8');
  const [line] = await once(lines, 'data');
  const cpu = async () => {
    child.stdin.write('\n');
    const [answer] = await once(lines, 'data');
    return Number(answer.trim());
  };
  return { port: Number(line.trim()), cpu, stop: () => child.kill() };
}

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/**
 * Runs the windowed echo loop on `send`/`onMessage`; resolves to
 * `{ rate, cpu }`: messages/s and CPU µs per message (both processes).
 */
function measure(send, onMessage, size, serverCpu) {
  return new Promise((resolve, reject) => {
    const payload = message(size);
    const window = windowFor(size);
    let counting = false;
    let count = 0;
    let start = 0;
    let done = false;
    let cpuStart = 0;
    let serverStart = 0;
    onMessage(() => {
      if (done) return;
      if (counting) count++;
      send(payload);
    });
    setTimeout(async () => {
      serverStart = await serverCpu();
      counting = true;
      start = performance.now();
      cpuStart = cpuNow();
      setTimeout(async () => {
        const elapsed = (performance.now() - start) / 1000;
        const counted = count;
        const clientCpu = cpuNow() - cpuStart;
        done = true;
        const server = (await serverCpu()) - serverStart;
        // A run that echoed nothing measured nothing: say so, loudly.
        if (counted === 0) reject(new Error(`no echo of ${size} B came back in ${seconds} s`));
        resolve({ rate: counted / elapsed, cpu: (clientCpu + server) / counted });
      }, seconds * 1000);
    }, warmup * 1000);
    for (let i = 0; i < window; i++) send(payload);
  });
}

async function benchWs({ port, cpu }, size) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate, maxPayload: 64 << 20 });
  await once(socket, 'open');
  const result = await measure((data) => socket.send(data), (handler) => socket.on('message', handler), size, cpu);
  socket.terminate();
  return result;
}

/** hybi's client, in ws's style (`iterate` false) or with `for await`. */
async function benchHybi({ port, cpu }, size, iterate) {
  const conn = await connect(`ws://127.0.0.1:${port}/`, {
    protocol: 'rfc6455',
    compression: deflate && values.level !== undefined ? { compressionLevel: Number(values.level) } : deflate,
    limits: { maxMessageSize: 64 << 20, maxFrameSize: 64 << 20 },
  });
  let handler = () => {};
  const reading = iterate
    ? (async () => {
        for await (const _ of conn) handler();
      })().catch(() => {})
    : new Promise((resolve) => {
        conn.on('message', () => handler());
        conn.on('close', resolve);
      });
  const ignore = () => {};
  const result = await measure(
    (data) => conn.send(data).catch(ignore),
    (h) => {
      handler = h;
    },
    size,
    cpu,
  );
  handler = () => {};
  await conn.close().catch(ignore);
  await reading;
  return result;
}

const results = [];
for (let round = 0; round < rounds; round++) {
  for (const size of sizes) {
    const row = { size, window: windowFor(size) };
    for (const impl of impls) {
      const server = await startServer(impl);
      try {
        row[impl] = impl === 'ws' ? await benchWs(server, size) : await benchHybi(server, size, impl === 'hybi-iterate');
      } finally {
        server.stop();
      }
    }
    results.push(row);
    const cpu = (us) => (us >= 100 ? us.toFixed(0) : us.toFixed(1)).padStart(7);
    console.log(`${String(size).padStart(8)} B, window ${row.window}`);
    for (const impl of impls) {
      const { rate, cpu: used } = row[impl];
      const ratios =
        row.ws === undefined || impl === 'ws'
          ? ''
          : `  ${impl}/ws: throughput ${(rate / row.ws.rate).toFixed(2)}, CPU efficiency ${(row.ws.cpu / used).toFixed(2)}`;
      console.log(`  ${impl.padEnd(12)} ${rate.toFixed(0).padStart(7)} msg/s ${cpu(used)} µs CPU/msg${ratios}`);
    }
  }
}
const require = createRequire(new URL('../node_modules/ws/', import.meta.url));
console.log(
  `node ${process.version}, ws ${require('ws/package.json').version} ${bufferutilUsed(require)}, ` +
    `${deflate ? `${values.corpus ?? 'JSON-like'} text, permessage-deflate${values.level === undefined ? '' : ` (hybi at level ${values.level})`}` : values.text ? 'text' : 'binary'} messages, ` +
    `${seconds} s per run after ${warmup} s warm-up, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);

/**
 * Whether ws masks with bufferutil's native code: ws's own buffer-util
 * module (the instance ws uses) calls into bufferutil, and bufferutil
 * loaded its compiled binary rather than its JS fallback.
 */
function bufferutilUsed(require) {
  if (process.env.WS_NO_BUFFER_UTIL) return 'without bufferutil (WS_NO_BUFFER_UTIL set)';
  try {
    const native = require('bufferutil').mask.toString().includes('[native code]');
    const wsUses = require(require.resolve('ws').replace(/index\.js$/, 'lib/buffer-util.js')).mask.toString().includes('bufferUtil.mask');
    if (native && wsUses) return 'with bufferutil (native)';
    return `bufferutil not in use (native: ${native}, ws uses it: ${wsUses})`;
  } catch (error) {
    return `without bufferutil (${error.code ?? error.message})`;
  }
}
