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
// Usage: node tests/abuse/node_server.mjs [--host H] [--port P] [FLAGS]

import { readFileSync } from 'node:fs';

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

const server = await serve(async (conn) => {
  for await (const message of conn) await conn.send(message);
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

const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
