#!/usr/bin/env node
// The abuse suite's Node server (`run.py --server node`): an echo server on
// the npm package's `serve` (www/, built with `npm run build`), taking the
// flags of `hybi serve` that the suite uses, mapped to `serve`'s options.
// Like `hybi serve`, it says `listening on ADDR:PORT` on stderr once it
// listens; it also says `wasm memory BYTES` at start and whenever the wasm
// instance's linear memory (shared by every connection, never shrinking)
// has grown, checked every 50 ms.
//
// `--help` lists the flags it takes: the suite runs a scenario whose flags
// are not all there without them, and fails it ("the server takes the
// scenario's flags").
//
// On SIGUSR2 it collects its garbage (a full GC) and says `js memory
// after gc: arrayBuffers BYTES external BYTES heapUsed BYTES rss BYTES`:
// what the process still holds once garbage is gone, so that the suite
// can tell memory connections hold from garbage V8 has not collected yet
// and from memory glibc keeps after a free (RSS alone cannot tell them
// apart). With `HYBI_ABUSE_JS_MEMORY=1` in its environment it also says
// `js memory arrayBuffers ...` every 50 ms (for investigating, not checked).
//
// Usage: node tests/abuse/node_server.mjs [--host H] [--port P] [FLAGS]

import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

import { serve } from '../../www/index.js';

const serverSource = readFileSync(new URL('../../www/lib/server.js', import.meta.url), 'utf8');

/** `hybi serve` flag: [takes a value, how it sets `serve`'s options]. */
const FLAGS = {
  '--host': [true, (o, v) => (o.listenIp = v)],
  '--port': [true, (o, v) => (o.port = Number(v))],
  '--protocol': [true, (o, v) => (o.protocols = v === 'any' ? undefined : [v])],
  '--framing': [true, (o, v) => (o.framing = v)],
  '--tls-cert': [true, (o, v) => ((o.tls ??= {}).cert = readFileSync(v))],
  '--tls-key': [true, (o, v) => ((o.tls ??= {}).key = readFileSync(v))],
  '--deflate': [false, (o) => (o.compression = true)],
  '--max-connections': [true, (o, v) => (o.maxConnections = Number(v))],
  '--max-per-ip': [true, (o, v) => (o.maxConnectionsPerIp = Number(v))],
  '--backlog': [true, (o, v) => (o.maxWaiting = Number(v))],
  '--idle-timeout': [true, (o, v) => ((o.timeouts ??= {}).idle = Number(v) > 0 ? Number(v) * 1000 : null)],
  '--handshake-timeout': [
    true,
    (o, v) => ((o.timeouts ??= {}).handshake = Number(v) > 0 ? Number(v) * 1000 : null),
  ],
  '--max-message-size': [true, (o, v) => ((o.limits ??= {}).maxMessageSize = Number(v))],
  '--max-frame-size': [true, (o, v) => ((o.limits ??= {}).maxFrameSize = Number(v))],
};
// The server-wide memory budget is `serve`'s `memoryBudget` (bytes) once
// the package has one; until then the flag is not offered, and the
// scenarios that need it fail on that too.
if (serverSource.includes('memoryBudget')) {
  FLAGS['--memory-budget'] = [true, (o, v) => (o.memoryBudget = Number(v) > 0 ? Number(v) * 1024 * 1024 : Infinity)];
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('Usage: node tests/abuse/node_server.mjs [OPTIONS]\n\nOptions (as `hybi serve`):');
  for (const name of Object.keys(FLAGS)) console.log(`      ${name}`);
  process.exit(0);
}

const options = { port: 8080, listenIp: '127.0.0.1' };
for (let i = 0; i < args.length; i++) {
  const flag = FLAGS[args[i]];
  if (flag === undefined) {
    console.error(`node_server.mjs: unknown flag ${args[i]}`);
    process.exit(2);
  }
  const [takesValue, set] = flag;
  set(options, takesValue ? args[++i] : undefined);
}

options.onError = () => {
  // Failed handshakes and peers' violations are the attacks' business.
};

// One message per call of an async function of its own: a handler
// suspended in `for await (const message of conn)` keeps the last message
// it handled reachable until the next one arrives (V8 keeps a suspended
// async function's registers), so each idle connection would hold its last
// message, up to 16 MiB: the application's memory, not the package's (see
// www/README.md), and not what this suite measures.
async function echoOne(conn) {
  const message = await conn.recv();
  if (message === null) return false;
  await conn.send(message);
  return true;
}

const server = await serve(async (conn) => {
  while (await echoOne(conn));
}, options);
const { address, port } = server.address();
console.error(`listening on ${address}:${port}`);

// The wasm memory, when the package tells it (www/lib/wasm.js).
const wasm = await import('../../www/lib/wasm.js');
if (typeof wasm.wasmMemoryBytes === 'function') {
  let said = 0;
  const say = () => {
    const bytes = wasm.wasmMemoryBytes();
    if (bytes !== said) console.error(`wasm memory ${bytes}`);
    said = bytes;
  };
  say();
  setInterval(say, 50).unref();
}

// A test harness's own: the package never collects garbage on purpose.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc');
const jsMemory = () => {
  const { arrayBuffers, external, heapUsed, rss } = process.memoryUsage();
  return `arrayBuffers ${arrayBuffers} external ${external} heapUsed ${heapUsed} rss ${rss}`;
};
process.on('SIGUSR2', () => {
  collectGarbage();
  // Array buffers are freed on a thread of V8's after the collection.
  setTimeout(() => console.error(`js memory after gc: ${jsMemory()}`), 200);
});
if (process.env.HYBI_ABUSE_JS_MEMORY === '1') setInterval(() => console.error(`js memory ${jsMemory()}`), 50).unref();

const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
