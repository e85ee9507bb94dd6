// Connections as EventEmitters ('message', 'close', 'error', 'ping',
// 'pong', `terminate`), how events and `recv` share the messages (each
// goes to exactly one of them), a server's `clients`, what `send` takes
// and the forms binary messages come in.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';

import { connect, serve } from '../index.js';
import { rfc6455Request } from './helpers.js';

/** A server on 127.0.0.1 whose connections go to 'connection' listeners, and a client of it. */
async function pair(serverOptions = {}, clientOptions = {}) {
  const server = await serve({ port: 0, listenIp: '127.0.0.1', ...serverOptions });
  const accepted = once(server, 'connection');
  const client = await connect(`ws://127.0.0.1:${server.address().port}/`, clientOptions);
  const [conn] = await accepted;
  return { server, client, conn };
}

const nextMessage = (emitter) => once(emitter, 'message');

/** The 'close' event's arguments (not events.once, which rejects on an 'error' event). */
const closeEvent = (emitter) => new Promise((resolve) => emitter.on('close', (...args) => resolve(args)));

describe('events', () => {
  test("'message' gives text as a string and binary as a Buffer, with isBinary", async () => {
    const { server, client, conn } = await pair();
    const got = [];
    conn.on('message', (data, isBinary) => got.push([data, isBinary]));
    await client.send('text ☃');
    await client.send(new Uint8Array([1, 2, 3]));
    const closed = once(conn, 'close');
    await client.close();
    await closed;
    assert.equal(got.length, 2);
    assert.deepEqual(got[0], ['text ☃', false]);
    assert.ok(Buffer.isBuffer(got[1][0]));
    assert.deepEqual([...got[1][0]], [1, 2, 3]);
    assert.equal(got[1][1], true);
    await server.close();
  });

  test("'ping' and 'pong' carry their payloads; the core answers pings itself", async () => {
    const { server, client, conn } = await pair();
    // Listeners that stay (events.once removes its own): the connection is
    // read by events, so the close below is answered at once.
    const pinged = new Promise((resolve) => conn.on('ping', resolve));
    const ponged = new Promise((resolve) => client.on('pong', resolve));
    await client.ping(Buffer.from('are you there'));
    const [ping, pong] = await Promise.all([pinged, ponged]);
    assert.equal(ping.toString(), 'are you there');
    assert.equal(pong.toString(), 'are you there');
    await client.close();
    await server.close();
  });

  test("'close' gives the peer's code and reason; 1005 without a code; 1006 without a closing handshake", async () => {
    const { server, client, conn } = await pair();
    const serverSide = once(conn, 'close');
    const clientSide = once(client, 'close');
    await client.close(4001, 'bye');
    assert.deepEqual(await serverSide, [4001, 'bye']);
    assert.deepEqual(await clientSide, [4001, ''], 'the answer echoes the code');

    const third = once(server, 'connection');
    const plain = await connect(`ws://127.0.0.1:${server.address().port}/`);
    const [plainPeer] = await third;
    const noCode = closeEvent(plainPeer);
    await plain.close(null);
    assert.deepEqual(await noCode, [1005, '']);

    const second = once(server, 'connection');
    const other = await connect(`ws://127.0.0.1:${server.address().port}/`);
    const [peer] = await second;
    const peerClosed = closeEvent(peer);
    const terminated = closeEvent(other);
    assert.equal(other.readyState, 1);
    other.terminate();
    assert.deepEqual(await terminated, [1006, '']);
    assert.deepEqual(await peerClosed, [1006, '']);
    assert.equal(other.readyState, 3);
    await assert.rejects(other.recv(), (e) => e.kind === 'io', 'recv reports the abnormal end once');
    assert.equal(await other.recv(), null);
    await server.close();
  });

  test("'error' reports a protocol violation, then 'close' 1006; without an 'error' listener nothing throws", async () => {
    for (const listen of [true, false]) {
      const server = await serve({ port: 0, listenIp: '127.0.0.1' });
      const accepted = once(server, 'connection');
      const socket = net.connect(server.address().port, '127.0.0.1');
      await once(socket, 'connect');
      socket.on('error', () => {});
      socket.write(rfc6455Request('/').request);
      const [conn] = await accepted;
      const errors = [];
      if (listen) conn.on('error', (error) => errors.push(error));
      const closed = closeEvent(conn);
      // An unmasked frame from a client is a protocol error (1002).
      socket.write(Buffer.from([0x81, 0x01, 0x78]));
      assert.deepEqual(await closed, [1006, '']);
      if (listen) {
        assert.equal(errors.length, 1);
        assert.equal(errors[0].kind, 'protocol');
        assert.equal(errors[0].closeCode, 1002);
      }
      socket.destroy();
      await server.close();
    }
  });

  test('a server keeps its open connections in clients, for broadcasting', async () => {
    const server = await serve({ port: 0, listenIp: '127.0.0.1' });
    server.on('connection', (conn) => {
      conn.on('message', (data) => {
        for (const client of server.clients) if (client.readyState === 1) client.send(data);
      });
    });
    const url = `ws://127.0.0.1:${server.address().port}/`;
    const clients = await Promise.all([connect(url), connect(url), connect(url)]);
    while (server.clients.size < 3) await new Promise((r) => setImmediate(r));
    const heard = clients.map(nextMessage);
    await clients[0].send('to all');
    assert.deepEqual(await Promise.all(heard), [['to all', false], ['to all', false], ['to all', false]]);
    const gone = [...server.clients][0];
    const closed = once(gone, 'close');
    await clients[0].close();
    await closed;
    assert.equal(server.clients.size, 2);
    assert.ok(!server.clients.has(gone));
    await server.close();
  });
});

describe('events and recv share the messages: each goes to exactly one', () => {
  test('messages that arrive before the first listener are handed to it, in order, and not to recv', async () => {
    const { server, client, conn } = await pair();
    for (let i = 0; i < 5; i++) await client.send(`m${i}`);
    // The pong comes once the server has read every frame before the ping:
    // all five are queued then.
    const ponged = once(client, 'pong');
    await client.ping();
    await ponged;
    assert.equal(await conn.recv(), 'm0', 'recv takes the oldest');
    const got = [];
    conn.on('message', (data) => got.push(data));
    assert.deepEqual(got, [], 'handed on the next tick, not inside on()');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4']);
    const heard = nextMessage(conn);
    await client.send('m5');
    await heard;
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5']);
    await client.close();
    assert.equal(await conn.recv(), null, 'nothing left for recv: every message was taken once');
    await server.close();
  });

  test('a waiting recv takes the next message before the listeners do', async () => {
    const { server, client, conn } = await pair();
    const got = [];
    conn.on('message', (data) => got.push(data));
    const waiting = conn.recv();
    const heard = nextMessage(conn);
    await client.send('first');
    await client.send('second');
    assert.equal(await waiting, 'first');
    assert.deepEqual(await heard, ['second', false]);
    assert.deepEqual(got, ['second']);
    await client.close();
    await server.close();
  });

  test('a for await loop and a listener together see every message once', async () => {
    const { server, client, conn } = await pair();
    const heard = [];
    const looped = [];
    conn.on('message', (data) => heard.push(data));
    const loop = (async () => {
      for await (const message of conn) {
        looped.push(message);
        // Yield, so that the listener takes some while the loop is away.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const sent = Array.from({ length: 200 }, (_, i) => `n${i}`);
    for (const message of sent) client.send(message);
    await client.close();
    await loop;
    assert.ok(looped.length > 0 && heard.length > 0, `both took some (${looped.length} + ${heard.length})`);
    assert.deepEqual([...looped, ...heard].sort(), [...sent].sort());
    await server.close();
  });

  test("with a 'message' listener the peer's close is answered at once, not at the close deadline", async () => {
    const { server, client, conn } = await pair({ timeouts: { close: 60_000 } }, { timeouts: { close: 60_000 } });
    conn.on('message', (data) => conn.send(`echo ${data}`));
    await client.send('last words');
    const closing = client.close();
    assert.equal(await client.recv(), 'echo last words', 'the reply to a message before the close still went');
    await closing;
    assert.deepEqual(client.closeStatus, { code: 1000, reason: '' });
    await server.close();
  });
});

describe('send takes what ws.send takes; binary comes as binaryType says', () => {
  test('strings, numbers, Buffers, ArrayBuffers, typed arrays, DataViews, arrays of bytes and Blobs', async () => {
    const { server, client, conn } = await pair();
    const bytes = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const cases = [
      ['text', 'text', false],
      [42, '42', false],
      [bytes, bytes, true],
      [bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8), bytes, true],
      [new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8)), bytes, true],
      [new Float32Array([0.5, 1.5]), Buffer.from(new Float32Array([0.5, 1.5]).buffer), true],
      [new DataView(bytes.buffer, bytes.byteOffset + 2, 3), Buffer.from([3, 4, 5]), true],
      [[104, 105], Buffer.from([104, 105]), true],
      [new Blob(['blob ', 'parts']), Buffer.from('blob parts'), true],
    ];
    const got = [];
    conn.on('message', (data, isBinary) => got.push([data, isBinary]));
    // Not awaited one by one: a Blob is read asynchronously, and the
    // sends after it still go in order.
    await Promise.all(cases.map(([message]) => client.send(message)));
    await client.send(Buffer.from('as text'), { binary: false });
    await client.send('as binary', { binary: true });
    while (got.length < cases.length + 2) await nextMessage(conn);
    cases.forEach(([, expected, binary], i) => assert.deepEqual(got[i], [expected, binary], `case ${i}`));
    assert.deepEqual(got[cases.length], ['as text', false]);
    assert.deepEqual(got[cases.length + 1], [Buffer.from('as binary'), true]);
    await assert.rejects(client.send(Buffer.from([0xff]), { binary: false }), (e) => e.kind === 'misuse');
    await assert.rejects(client.send(Symbol('no')), (e) => e.kind === 'misuse');
    await client.close();
    await server.close();
  });

  test('a callback hears how a send went; an unawaited failed send is no unhandled rejection', async () => {
    const { server, client } = await pair();
    const done = await new Promise((resolve) => client.send('ok', resolve));
    assert.equal(done, undefined);
    await client.close();
    const failed = await new Promise((resolve) => client.send('too late', resolve));
    assert.equal(failed.kind, 'misuse');
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    client.send('too late again');
    await new Promise((r) => setTimeout(r, 20));
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, []);
    await server.close();
  });

  test("binaryType 'uint8array' and 'arraybuffer' on either end", async () => {
    for (const [binaryType, check] of [
      ['uint8array', (m) => m instanceof Uint8Array && !Buffer.isBuffer(m)],
      ['arraybuffer', (m) => m instanceof ArrayBuffer],
    ]) {
      const { server, client, conn } = await pair({ binaryType }, { binaryType });
      await client.send(new Uint8Array([9, 8, 7]));
      const received = await conn.recv();
      // Read on to the end, so that the client's close is answered.
      const end = conn.recv();
      assert.ok(check(received), `server: ${binaryType}`);
      assert.deepEqual([...new Uint8Array(received)], [9, 8, 7]);
      await conn.send(received);
      const back = await client.recv();
      assert.ok(check(back), `client: ${binaryType}`);
      await client.close();
      assert.equal(await end, null);
      await server.close();
    }
    await assert.rejects(serve({ port: 0, binaryType: 'blob' }), (e) => e.kind === 'config');
  });
});
