// Memory under hostile input (issue 14): message data leaves the wasm
// memory all connections share as it arrives, messages are assembled in
// JS-owned memory, and a server-wide budget bounds what connections hold.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { WebSocket, WebSocketServer } from 'ws';

import { connect, serve } from '../index.js';
import { wasmMemoryBytes } from '../lib/wasm.js';
import { pattern, rfc6455Request } from './helpers.js';

const MiB = 1024 * 1024;

/**
 * A raw RFC 6455 client: connects, sends the opening request, and resolves
 * once the 101 arrived, with `{ socket, wait(predicate, ms) }`: `wait`
 * resolves to what arrived after the head once `predicate(bytes)` holds,
 * or to `null` after `ms`.
 */
function rawClient(port, request = rfc6455Request('/').request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    let head = -1;
    let waiter = null;
    let closed = false;
    const check = () => {
      if (waiter !== null && waiter.predicate(data.subarray(head), closed)) {
        clearTimeout(waiter.timer);
        const { resolve: done } = waiter;
        waiter = null;
        done(data.subarray(head));
      }
    };
    const wait = (predicate, ms) =>
      new Promise((done) => {
        waiter = { predicate, resolve: done, timer: setTimeout(() => ((waiter = null), done(null)), ms) };
        check();
      });
    socket.on('error', reject);
    socket.on('close', () => {
      closed = true;
      check();
    });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (head < 0) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = end + 4;
        assert.match(data.subarray(0, head).toString('latin1'), /^HTTP\/1\.1 101 /);
        resolve({ socket, wait });
      }
      check();
    });
  });
}

/**
 * The header of the first frame of a binary message (FIN clear: more
 * frames would follow) declaring `size` bytes, masked with zeros so that
 * the payload goes out as it is.
 */
function unfinishedHeader(size) {
  const header = Buffer.alloc(14);
  header[0] = 0x02; // binary, FIN clear
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(size), 2);
  // Mask key 0,0,0,0 (bytes 10..13).
  return header;
}

/** `n` as 8 big-endian bytes ('new' framing's length). */
function u64(n) {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(n));
  return bytes;
}

/** A masked ping with an empty payload; its pong (`8a 00`) says the server read everything before it. */
const PING = Buffer.from([0x89, 0x80, 0, 0, 0, 0]);
const hasPong = (bytes) => bytes.includes(Buffer.from([0x8a, 0x00]));
/** A server's close frame with code 1009. */
const CLOSE_1009 = Buffer.from([0x88, 0x02, 0x03, 0xf1]);

/** SHA-256 of a message's bytes (text as UTF-8). */
const digest = (message) =>
  createHash('sha256')
    .update(typeof message === 'string' ? Buffer.from(message) : message)
    .digest('hex');

/**
 * One 16 MiB case, run in a child process (`HYBI_MEMORY_CASE`): `ws` sends
 * (so that no large message goes through hybi's send path), hybi receives;
 * the message must arrive byte-exact and the wasm memory grow by at most
 * 4 MiB.
 */
async function receive16({ compression, kind, direction }) {
  // 16 MiB of UTF-8 exactly (the default limit), not all ASCII.
  const unit = 'hybi ☃ draft-76 ';
  const units = Math.floor((16 * MiB) / Buffer.byteLength(unit));
  const padding = 16 * MiB - units * Buffer.byteLength(unit);
  const message = kind === 'text' ? unit.repeat(units) + 'x'.repeat(padding) : pattern(16 * MiB, 5);
  const type = kind === 'text' ? 'string' : 'object';
  const length = kind === 'text' ? message.length : message.byteLength;
  const expected = `${type} ${length} ${digest(message)}`;
  const describeIt = (got) => `${typeof got} ${got.length} ${digest(got)}`;
  let before;
  if (direction === 'ws client → hybi server') {
    const server = await serve(
      async (conn) => {
        const got = await conn.recv();
        await conn.send(describeIt(got));
      },
      { port: 0, listenIp: '127.0.0.1', protocols: ['rfc6455'], compression },
    );
    before = wasmMemoryBytes();
    const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/`, { perMessageDeflate: compression });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    assert.equal(ws.extensions.includes('permessage-deflate'), compression);
    const reply = new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
    ws.send(message, { binary: kind === 'binary' });
    assert.equal(await reply, expected);
    ws.terminate();
    await server.close();
  } else {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: compression });
    wss.on('connection', (ws) => ws.send(message, { binary: kind === 'binary' }));
    await new Promise((resolve) => wss.once('listening', resolve));
    before = wasmMemoryBytes();
    const conn = await connect(`ws://127.0.0.1:${wss.address().port}/`, { protocol: 'rfc6455', compression });
    assert.equal(conn.deflate !== undefined, compression);
    const got = await conn.recv();
    assert.equal(kind === 'text' ? typeof got === 'string' : got instanceof Uint8Array, true);
    assert.equal(describeIt(got), expected);
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
  const grown = wasmMemoryBytes() - before;
  assert.ok(grown <= 4 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
}

const CASE = process.env.HYBI_MEMORY_CASE;
if (CASE !== undefined) {
  await receive16(JSON.parse(CASE));
  process.exit(0);
}

describe('memory (issue 14)', () => {
  test('20 connections each holding an unfinished 8 MiB message leave the wasm memory as it was', async (t) => {
    const server = await serve(
      async (conn) => {
        await conn.recv().catch(() => {});
      },
      { port: 0, listenIp: '127.0.0.1', maxWaiting: 128, protocols: ['rfc6455'] },
    );
    const port = server.address().port;
    const clients = [];
    try {
      // Warm up: one connection and a message, so the baseline holds the
      // instance's fixed costs.
      const warm = await connect(`ws://127.0.0.1:${port}/`, { protocol: 'rfc6455' });
      await warm.send('warm');
      await warm.close();
      globalThis.gc?.();
      const wasmBefore = wasmMemoryBytes();
      const rssBefore = process.memoryUsage().rss;
      const payload = Buffer.alloc(8 * MiB, 0x5a);
      for (let i = 0; i < 20; i++) clients.push(await rawClient(port));
      // One whole frame with FIN clear: the message stays unfinished. The
      // ping's pong says the server read all of it.
      await Promise.all(
        clients.map(async ({ socket, wait }) => {
          socket.write(unfinishedHeader(payload.length));
          socket.write(payload);
          socket.write(PING);
          assert.ok(await wait(hasPong, 30000), 'the server read the whole frame and answered the ping');
        }),
      );
      const grown = wasmMemoryBytes() - wasmBefore;
      const rssGrown = process.memoryUsage().rss - rssBefore;
      t.diagnostic(`wasm memory +${(grown / MiB).toFixed(1)} MiB, RSS +${(rssGrown / MiB).toFixed(1)} MiB`);
      assert.ok(grown <= 4 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
      // 160 MiB are held (the budget's default is 256 MiB); their pieces
      // and the sockets' buffers cost some more.
      assert.ok(rssGrown < 256 * MiB, `RSS grew by ${(rssGrown / MiB).toFixed(1)} MiB`);
    } finally {
      for (const { socket } of clients) socket.destroy();
      await server.close();
    }
  });

  test('with a small budget, the connection that would pass it fails with 1009 and another keeps echoing', async () => {
    const server = await serve(
      async (conn) => {
        for await (const message of conn) await conn.send(message);
      },
      { port: 0, listenIp: '127.0.0.1', protocols: ['rfc6455'], memoryBudget: 4 * MiB },
    );
    const port = server.address().port;
    let hog;
    try {
      const good = await connect(`ws://127.0.0.1:${port}/`, { protocol: 'rfc6455' });
      await good.send('before');
      assert.equal(await good.recv(), 'before');
      hog = await rawClient(port);
      const payload = Buffer.alloc(8 * MiB, 0x5a);
      hog.socket.write(unfinishedHeader(payload.length + 1));
      hog.socket.write(payload);
      const answer = await hog.wait((b) => b.includes(CLOSE_1009), 10000);
      assert.ok(answer !== null, 'the connection over the budget got close 1009');
      for (let i = 0; i < 3; i++) {
        const message = pattern(64 * 1024, i);
        await good.send(message);
        assert.deepEqual(await good.recv(), Buffer.from(message), 'binary messages are Buffers');
      }
      // The budget went back when the failed connection ended: a message
      // of 3 MiB fits again.
      const big = pattern(3 * MiB, 9);
      await good.send(big);
      assert.deepEqual(await good.recv(), Buffer.from(big));
      await good.close();
    } finally {
      hog?.socket.destroy();
      await server.close();
    }
  });

  test('draft-76: with a small budget, a connection whose message would pass it fails, another keeps echoing', async () => {
    const server = await serve(
      async (conn) => {
        for await (const message of conn) await conn.send(message);
      },
      { port: 0, listenIp: '127.0.0.1', protocols: ['draft76'], memoryBudget: 4 * MiB },
    );
    const port = server.address().port;
    let hog;
    try {
      const good = await connect(`ws://127.0.0.1:${port}/`, { protocol: 'draft76' });
      await good.send('before');
      assert.equal(await good.recv(), 'before');
      // The draft's own example keys (docs/PROTOCOLS.md).
      const request =
        'GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n' +
        'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n' +
        'Origin: http://example.com\r\n\r\n^n:ds[4U';
      hog = await rawClient(port, request);
      // An 'old' text frame that never ends: 0x00 and 8 MiB without the 0xFF.
      hog.socket.write(Buffer.from([0x00]));
      hog.socket.write(Buffer.alloc(8 * MiB, 0x61));
      const answer = await hog.wait((_, closed) => closed, 10000);
      assert.ok(answer !== null, 'the connection over the budget was failed (closed)');
      for (let i = 0; i < 3; i++) {
        await good.send(`after ${i}`);
        assert.equal(await good.recv(), `after ${i}`);
      }
      await good.close();
    } finally {
      hog?.socket.destroy();
      await server.close();
    }
  });

  test("draft-76: 10 connections each sending an unfinished 8 MiB text message ('old' and 'new' framing) leave the wasm memory as it was", async (t) => {
    // Both framings at once: wasm memory never shrinks, so a framing tested
    // after another would find the room the first one left.
    const servers = {};
    for (const framing of ['old', 'new']) {
      servers[framing] = await serve(
        async (conn) => {
          await conn.recv().catch(() => {});
        },
        { port: 0, listenIp: '127.0.0.1', protocols: ['draft76'], framing },
      );
    }
    const clients = [];
    try {
      // Warm up: one connection and a message each, so the baseline holds
      // the instance's fixed costs.
      for (const [framing, server] of Object.entries(servers)) {
        const warm = await connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'draft76', framing });
        await warm.send('warm ☃');
        await warm.close();
      }
      const before = wasmMemoryBytes();
      // Some 9 MiB of text that is not all ASCII: characters split across reads.
      const text = Buffer.from('draft-76 ☃ 😀 '.repeat(MiB / 2));
      // The draft's own example keys (docs/PROTOCOLS.md).
      const request =
        'GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n' +
        'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n' +
        'Origin: http://example.com\r\n\r\n^n:ds[4U';
      for (let i = 0; i < 10; i++) {
        const framing = i % 2 === 0 ? 'old' : 'new';
        clients.push({ framing, ...(await rawClient(servers[framing].address().port, request)) });
      }
      // The message never ends (no 0xFF; one byte short of its length);
      // the stream does, which the server reads only after all of the
      // message, and closes (mid-frame).
      await Promise.all(
        clients.map(async ({ framing, socket, wait }) => {
          const header = framing === 'old' ? [0x00] : [0xff, ...u64(text.length + 1)];
          socket.write(Buffer.from(header));
          socket.write(text);
          socket.end();
          assert.ok((await wait((_, closed) => closed, 30000)) !== null, 'the server read it all and closed');
        }),
      );
      const grown = wasmMemoryBytes() - before;
      t.diagnostic(`wasm memory +${(grown / MiB).toFixed(1)} MiB`);
      assert.ok(grown <= 4 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
    } finally {
      for (const { socket } of clients) socket.destroy();
      for (const server of Object.values(servers)) await server.close();
    }
  });

  // Each in a process of its own: wasm memory never shrinks, so in one
  // process a message received earlier would leave room for the next.
  describe('a 16 MiB message arrives byte-exact, its bytes never in wasm memory', () => {
    for (const compression of [false, true]) {
      for (const kind of ['text', 'binary']) {
        for (const direction of ['ws client → hybi server', 'ws server → hybi client']) {
          test(`${kind}${compression ? ', permessage-deflate' : ''}: ${direction}`, async () => {
            const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
              env: { ...process.env, HYBI_MEMORY_CASE: JSON.stringify({ compression, kind, direction }) },
              stdio: ['ignore', 'ignore', 'pipe'],
            });
            let stderr = '';
            child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
            const [code] = await once(child, 'exit');
            assert.equal(code, 0, stderr);
          });
        }
      }
    }
  });
});
