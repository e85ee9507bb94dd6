// The cost of lib/wasm.js's GuardedMachine (every call guarded against a
// trap in the wasm) over the raw hybi-wasm Machine, on the hot path of
// small messages: a server machine fed chunks of 64 masked 16 B binary
// frames, and one 16 B sendBinary per message. Both machines in one
// process, rounds alternating; prints the median CPU time per message.
//
// Usage: node bench/guard-overhead.js [rounds]

import { GuardedMachine, Machine } from '../lib/wasm.js';

const rounds = Number(process.argv[2] ?? 25);
const request = new TextEncoder().encode(
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);
const mask = [1, 2, 3, 4];
const frame = [0x82, 0x80 | 16, ...mask, ...Array.from({ length: 16 }, (_, i) => i ^ mask[i & 3])];
const chunk = Uint8Array.from(Array.from({ length: 64 }, () => frame).flat());
const data = new Uint8Array(16);

function opened(machine) {
  machine.feedInPlace(0, request);
  machine.accept({});
  return machine;
}

/** CPU µs per message over `n` chunks. */
function run(machine, n) {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    machine.feedInPlace(0, chunk);
    for (let j = 0; j < 64; j++) machine.sendBinary(data);
  }
  const { user, system } = process.cpuUsage(start);
  return (user + system) / (n * 64);
}

const config = { streaming: true };
const raw = opened(Machine.server(0, config));
const guarded = opened(GuardedMachine.server(0, config));
for (let i = 0; i < 2; i++) run(raw, 2000), run(guarded, 2000);
const times = { raw: [], guarded: [] };
for (let i = 0; i < rounds; i++) {
  times.raw.push(run(raw, 10000));
  times.guarded.push(run(guarded, 10000));
}
const median = (list) => list.sort((a, b) => a - b)[list.length >> 1];
console.log(
  `µs CPU per 16 B message (its share of a 64-frame feed + one sendBinary), median of ${rounds}: ` +
    `raw ${median(times.raw).toFixed(3)}, guarded ${median(times.guarded).toFixed(3)}`,
);
