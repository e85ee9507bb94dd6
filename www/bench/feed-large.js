// Feeds 1 MiB binary frames to a Machine in 64 KiB reads, as the Node
// driver feeds a socket's chunks, and reports µs per MiB taken out as
// pieces: the receive path alone (no sockets), both ways. `server`: masked
// frames (what a server receives); `client`: unmasked, through
// `feedInPlace` (the driver then takes the pieces from its own chunk, so
// this counts no copy out of wasm for them; `feed` where a build has no
// `feedInPlace`, for comparing with one from before it).
// Usage: node bench/feed-large.js [rounds]
import { Machine } from '../index.js';

const rounds = Number(process.argv[2] ?? 4);
const size = 1 << 20;
const read = 64 * 1024;
const limits = { maxMessageSize: 64 << 20, maxFrameSize: 64 << 20 };
for (const receiver of ['server', 'client']) {
  const client = Machine.client(0, { protocol: 'rfc6455', limits, streaming: true }, { host: 'x', resource: '/' });
  const server = Machine.server(0, { streaming: true, limits });
  server.feed(0, client.takeOutput());
  client.feed(0, server.accept({}).output);
  const payload = new Uint8Array(size).fill(7);
  const frame = receiver === 'server' ? client.sendBinary(payload) : server.sendBinary(payload);
  const machine = receiver === 'server' ? server : client;
  const feed = (machine.feedInPlace ?? machine.feed).bind(machine);
  for (let r = 0; r < rounds; r++) {
    const messages = 200;
    let bytes = 0;
    const start = performance.now();
    for (let i = 0; i < messages; i++) {
      for (let at = 0; at < frame.length; at += read) {
        const step = feed(1, frame.subarray(at, Math.min(at + read, frame.length)));
        for (const event of step.events) bytes += event.data?.length ?? event.length;
      }
    }
    if (bytes !== messages * size) throw new Error(`took ${bytes} bytes, sent ${messages * size}`);
    console.log(`${receiver} receives: ${(((performance.now() - start) / messages) * 1000).toFixed(0)} µs per MiB`);
  }
}
