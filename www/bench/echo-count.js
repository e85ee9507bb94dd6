// One whole echo per iteration, client and server in this one process,
// over loopback, through the public API (hybi: `connect`/`serve` +
// `send`/`recv`; ws: `WebSocket`/`WebSocketServer` + `send`/'message'):
// run by bench/echo-instructions.sh under callgrind with two iteration
// counts, whose difference is the instructions of the echoes alone
// (start-up, handshake and JIT warm-up cancel out). One message in flight
// at a time, so that the run does the same work each time.
// Usage: node bench/echo-count.js <ws|hybi> <iterations> <size> [binary|text|deflate]
import { once } from 'node:events';

import { WebSocket, WebSocketServer } from 'ws';

import { jsonLike } from './json-like.js';
import { connect, serve } from '../index.js';

const [impl, iterationsArg, sizeArg, kindArg] = process.argv.slice(2);
const iterations = Number(iterationsArg);
const size = Number(sizeArg);
const kind = kindArg ?? 'binary';
const deflate = kind === 'deflate';
const limits = { maxMessageSize: 64 << 20, maxFrameSize: 64 << 20 };

const payload =
  kind === 'deflate' ? jsonLike(size) : kind === 'text' ? 'x'.repeat(size) : new Uint8Array(size).fill(7);

async function wsEcho() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate, maxPayload: 64 << 20 });
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await once(wss, 'listening');
  const socket = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`, {
    perMessageDeflate: deflate,
    maxPayload: 64 << 20,
  });
  await once(socket, 'open');
  for (let i = 0; i < iterations; i++) {
    socket.send(payload);
    const [data] = await once(socket, 'message');
    if (data.length !== size) throw new Error(`echo of ${data.length} B`);
  }
  socket.terminate();
  wss.close();
}

async function hybiEcho() {
  const server = await serve(
    async (conn) => {
      for await (const message of conn) await conn.send(message);
    },
    { port: 0, listenIp: '127.0.0.1', compression: deflate, limits },
  );
  const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, { compression: deflate, limits });
  for (let i = 0; i < iterations; i++) {
    await conn.send(payload);
    const data = await conn.recv();
    if (data.length !== size) throw new Error(`echo of ${data.length} B`);
  }
  await conn.close();
  await server.close();
}

if (impl === 'ws') await wsEcho();
else if (impl === 'hybi') await hybiEcho();
else throw new Error(`usage: node bench/echo-count.js ws|hybi <iterations> <size> [binary|text|deflate]`);
