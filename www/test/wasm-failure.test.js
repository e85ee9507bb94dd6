// A fatal error inside the wasm (issue 14), and large sends that stay out
// of wasm memory.
//
// The trap is a real one, reached from outside: the test grows the live
// instance's memory to the 4 GiB wasm32 allows (address space only: the
// pages are never touched, so RSS does not move), so that the next
// allocation the core's allocator cannot serve from what it already has
// fails as it would in a server at that ceiling: `handle_alloc_error`,
// and with panic=abort a `RuntimeError: unreachable`. A 4 MiB echo over
// permessage-deflate (whose sends still go through wasm memory) needs
// such an allocation. The clients are `ws` (pure JS), so that only the
// server's machines live in the instance that traps.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';

import { WebSocket, WebSocketServer } from 'ws';

import { connect, serve } from '../index.js';
import { wasmInstances, wasmMemoryBytes } from '../lib/wasm.js';
import { echoServer, pattern, text } from './helpers.js';

const MiB = 1024 * 1024;

/** A `ws` client, open, collecting its messages and its close. */
async function wsClient(url, options = {}) {
  const socket = new WebSocket(url, options);
  const messages = [];
  let waiting = null;
  socket.on('message', (data, binary) => {
    messages.push(binary ? new Uint8Array(data) : data.toString('utf8'));
    waiting?.();
  });
  const closed = once(socket, 'close').then(([code]) => code);
  socket.on('error', () => {});
  await once(socket, 'open');
  const next = async () => {
    while (messages.length === 0) await new Promise((resolve) => (waiting = resolve));
    return messages.shift();
  };
  return { socket, next, closed };
}

/** Resolves to `promise`'s value, or rejects after `ms`. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('a fatal error inside the wasm', () => {
  test('fails every connection of the instance with 1011; the process goes on and a new connection gets a fresh instance', async (t) => {
    const errors = [];
    const { server, url } = await echoServer({ compression: true, onError: (error) => errors.push(error) });
    // A hybi client in the same instance, talking to a ws server, which
    // checks that its close comes masked, as a client's must (RFC 6455
    // §5.1: ws fails an unmasked one with 1002).
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const closedAtWs = new Promise((resolve) => wss.on('connection', (socket) => socket.on('close', (code) => resolve(code))));
    try {
      const a = await wsClient(url, { perMessageDeflate: true });
      const b = await wsClient(url, { perMessageDeflate: true });
      for (const client of [a, b]) {
        client.socket.send('before');
        assert.equal(await within(client.next(), 5000, 'echo before'), 'before');
      }
      const d = await connect(`ws://127.0.0.1:${wss.address().port}/`, { protocol: 'rfc6455' });
      const dEnd = d.recv().then(
        (value) => ({ value }),
        (error) => ({ error }),
      );
      const { started, exports } = wasmInstances();
      const pages = exports.memory.buffer.byteLength / 65536;
      exports.memory.grow(65536 - pages);
      assert.equal(wasmMemoryBytes(), 4 * 1024 * MiB, 'the instance is at the wasm32 ceiling');

      a.socket.send(pattern(4 * MiB, 3));
      assert.equal(await within(a.closed, 10000, "a's close"), 1011, 'the connection that trapped got 1011');
      assert.equal(await within(b.closed, 10000, "b's close"), 1011, 'the other connection of the instance got 1011');
      assert.equal(await within(closedAtWs, 10000, "the client's close"), 1011, "the client's (masked) 1011 reached ws");
      const { error } = await within(dEnd, 5000, "the client's recv");
      assert.equal(error?.kind, 'internal', "the client's recv rejects with kind internal");
      assert.ok(
        errors.some((error) => error.kind === 'internal'),
        `onError heard of the failure (${errors.map((e) => `${e.kind}: ${e.message}`).join('; ')})`,
      );

      const c = await wsClient(url, { perMessageDeflate: true });
      const message = pattern(256 * 1024, 5);
      c.socket.send(message);
      assert.deepEqual(await within(c.next(), 5000, 'echo after'), message);
      assert.equal(wasmInstances().started, started + 1, 'a fresh instance serves the new connection');
      assert.ok(wasmMemoryBytes() < 16 * MiB, `the fresh instance's memory is small (${wasmMemoryBytes()} B)`);
      t.diagnostic(`errors: ${errors.map((e) => `${e.kind}: ${e.message}`).join('; ')}`);
      c.socket.close(1000);
      assert.equal(await within(c.closed, 5000, "c's close"), 1000);
    } finally {
      for (const socket of wss.clients) socket.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await server.close();
    }
  });
});

describe('large sends', () => {
  test('an RFC 6455 server echoes a 15 MiB binary and a 13.5 MiB text message without them entering wasm memory', async (t) => {
    const server = await serve(
      async (conn) => {
        for await (const message of conn) await conn.send(message);
      },
      { port: 0, listenIp: '127.0.0.1', protocols: ['rfc6455'] },
    );
    const url = `ws://127.0.0.1:${server.address().port}/`;
    try {
      const client = await wsClient(url, { maxPayload: 64 * MiB });
      client.socket.send('warm');
      assert.equal(await client.next(), 'warm');
      const before = wasmMemoryBytes();
      const binary = pattern(15 * MiB, 11);
      client.socket.send(binary);
      assert.deepEqual(await within(client.next(), 20000, 'binary echo'), binary);
      // 12 Mi characters, 13.5 MiB of UTF-8: under the 16 MiB limit.
      const long = text(12 * MiB);
      client.socket.send(long);
      assert.equal(await within(client.next(), 20000, 'text echo'), long);
      const grown = wasmMemoryBytes() - before;
      t.diagnostic(`wasm memory +${(grown / MiB).toFixed(2)} MiB over the two echoes`);
      // Receiving streams pieces out (64 KiB slices); sending only makes
      // the header in wasm. Before, each echo grew it by ~30 MiB.
      assert.ok(grown <= 1 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
      client.socket.close(1000);
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test('with permessage-deflate a server echoes 15 MiB binary and 13.5 MiB text messages compressed in parts, wasm memory growing only as receiving them does', async (t) => {
    const { server, url } = await echoServer({ compression: true });
    try {
      const client = await wsClient(url, { perMessageDeflate: true, maxPayload: 64 * MiB });
      client.socket.send('warm');
      assert.equal(await client.next(), 'warm');
      const before = wasmMemoryBytes();
      // Zeros (a bomb's echo: 15 MiB compress to ~15 KiB) and a pattern
      // (which does not compress), each byte-exact through ws's inflater.
      for (const message of [new Uint8Array(15 * MiB), pattern(15 * MiB, 12), text(12 * MiB)]) {
        client.socket.send(message);
        assert.deepEqual(await within(client.next(), 30000, 'deflate echo'), message);
      }
      const grown = wasmMemoryBytes() - before;
      t.diagnostic(`wasm memory +${(grown / MiB).toFixed(2)} MiB over the three echoes`);
      // Sending compresses 64 KiB parts; before, each 15 MiB echo went in
      // whole (+17 MiB). Receiving them alone, without echoes, grows it by
      // 2 MiB once (the inflater's steps; measured, not this test's
      // subject), hence 4.
      assert.ok(grown <= 4 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
      client.socket.close(1000);
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test('a client sends 15 MiB in parts (one frame masked a part at a time, or compressed with permessage-deflate), wasm memory staying as it was', async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true, maxPayload: 64 * MiB });
    await once(wss, 'listening');
    const received = [];
    wss.on('connection', (socket) => socket.on('message', (data, binary) => received.push({ data, binary })));
    const url = `ws://127.0.0.1:${wss.address().port}/`;
    try {
      for (const compression of [false, true]) {
        const conn = await connect(url, { protocol: 'rfc6455', compression });
        await conn.send('warm');
        const before = wasmMemoryBytes();
        const message = pattern(15 * MiB, compression ? 21 : 22);
        await conn.send(message);
        const long = text(12 * MiB);
        await conn.send(long);
        const deadline = Date.now() + 30000;
        while (received.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        const grown = wasmMemoryBytes() - before;
        t.diagnostic(`compression ${compression}: wasm memory +${(grown / MiB).toFixed(2)} MiB`);
        assert.equal(received.length, 3, 'ws got the three messages');
        assert.equal(received[0].data.toString(), 'warm');
        assert.ok(received[1].binary && Buffer.compare(received[1].data, message) === 0, 'the binary message arrived whole');
        assert.ok(!received[2].binary && received[2].data.toString('utf8') === long, 'the text arrived whole');
        assert.ok(grown <= 1 * MiB, `wasm memory grew by ${(grown / MiB).toFixed(1)} MiB`);
        received.length = 0;
        await conn.close();
      }
    } finally {
      for (const socket of wss.clients) socket.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
