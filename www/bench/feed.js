// Instructions per message fed to a server Machine configured as the Node
// driver configures it (streaming), each echoed back with one send: run by
// bench/instructions.sh under callgrind with two iteration counts, whose
// difference is the cost of the messages alone (start-up cancels out).
// Usage: node bench/feed.js <iterations> [binary|text] [size]
import { Machine } from '../index.js';
const iterations = Number(process.argv[2]);
const kind = process.argv[3] ?? 'binary';
const size = Number(process.argv[4] ?? 16);
const request = { host: 'x', resource: '/' };
const client = Machine.client(0, { protocol: 'rfc6455' }, request);
const server = Machine.server(0, { streaming: true });
server.feed(0, client.takeOutput());
const accepted = server.accept({});
client.feed(0, accepted.output);
const payload = kind === 'text' ? 'x'.repeat(size) : new Uint8Array(size).fill(7);
const frames = [];
for (let i = 0; i < 64; i++) frames.push(kind === 'text' ? client.sendText(payload) : client.sendBinary(payload));
const chunk = Buffer.concat(frames);
let n = 0;
for (let i = 0; i < iterations; i++) {
  const step = server.feed(1, chunk);
  for (const e of step.events) {
    n++;
    if (e.type === 'text') server.sendText(e.data);
    else if (e.type === 'binary' || e.type === 'binaryFragment') server.sendBinary(e.data);
    else if (e.type === 'textFragment') server.sendText(e.data);
  }
}
if (n !== iterations * 64) throw new Error(`got ${n}`);
