// The browser-style `WebSocket` class: WHATWG attributes, handlers and
// listeners, binaryType, closing rules, failures (onerror, then onclose
// 1006; 'unexpected-response'), draft-76 by option, and the EventEmitter
// side `ws` code uses.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';

import HybiWebSocket, { WebSocket, serve } from '../index.js';
import { echoServer } from './helpers.js';

/** Resolves with the WHATWG event of `type` (once). */
const event = (ws, type) => new Promise((resolve) => ws.addEventListener(type, resolve, { once: true }));

describe('WebSocket (WHATWG)', () => {
  test('open, messages by binaryType, close with code and reason, and the attributes on the way', async () => {
    const { server, url } = await echoServer({ compression: true, connHeaders: () => ({ subprotocol: 'chat' }) });
    assert.equal(HybiWebSocket, WebSocket, 'the default export');
    const ws = new WebSocket(url, ['chat', 'other'], { compression: true });
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.url, url);
    assert.equal(ws.binaryType, 'blob', 'the WHATWG default');
    assert.throws(() => ws.send('early'), (e) => e.name === 'InvalidStateError');
    const opened = new Promise((resolve) => {
      ws.onopen = resolve;
    });
    const open = await opened;
    assert.equal(open.type, 'open');
    assert.equal(open.target, ws);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(ws.protocol, 'chat');
    assert.match(ws.extensions, /^permessage-deflate/);

    const messages = [];
    ws.onmessage = (e) => messages.push(e.data);
    ws.send('text');
    ws.send(new Uint8Array([1, 2]));
    while (messages.length < 2) await event(ws, 'message');
    assert.equal(messages[0], 'text');
    assert.ok(messages[1] instanceof Blob);
    assert.deepEqual([...new Uint8Array(await messages[1].arrayBuffer())], [1, 2]);
    for (const [binaryType, check] of [
      ['arraybuffer', (d) => d instanceof ArrayBuffer],
      ['nodebuffer', (d) => Buffer.isBuffer(d)],
    ]) {
      ws.binaryType = binaryType;
      const next = event(ws, 'message');
      ws.send(new Uint8Array([3, 4, 5]));
      const { data } = await next;
      assert.ok(check(data), binaryType);
      assert.deepEqual([...new Uint8Array(data)], [3, 4, 5]);
    }
    ws.binaryType = 'fragments';
    assert.equal(ws.binaryType, 'nodebuffer', 'an unknown binaryType is ignored');

    assert.throws(() => ws.close(1001), (e) => e.name === 'InvalidAccessError');
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), (e) => e.name === 'SyntaxError');
    const closed = new Promise((resolve) => {
      ws.onclose = resolve;
    });
    ws.close(4000, 'done');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const close = await closed;
    assert.ok(close instanceof Event);
    assert.deepEqual([close.code, close.reason, close.wasClean], [4000, '', true]);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    assert.equal(ws.bufferedAmount, 0);
    ws.send('late');
    assert.equal(ws.bufferedAmount, 4, 'data sent after the close is counted, not sent');
    await server.close();
  });

  test('addEventListener: once, handleEvent objects, removeEventListener, no duplicates', async () => {
    const { server, url } = await echoServer();
    const ws = new WebSocket(url);
    await event(ws, 'open');
    const seen = [];
    const fn = (e) => seen.push(`fn ${e.data}`);
    const object = { handleEvent: (e) => seen.push(`object ${e.data}`) };
    ws.addEventListener('message', fn);
    ws.addEventListener('message', fn);
    ws.addEventListener('message', object, { once: true });
    ws.send('a');
    await event(ws, 'message');
    ws.removeEventListener('message', fn);
    ws.send('b');
    const last = await event(ws, 'message');
    assert.equal(last.data, 'b');
    assert.deepEqual(seen, ['fn a', 'object a']);
    ws.close();
    await event(ws, 'close');
    await server.close();
  });

  test('a connection that fails: onerror, then onclose 1006 not clean; closing while connecting fails it', async () => {
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const port = listener.address().port;
    await new Promise((r) => listener.close(r));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const order = [];
    ws.onerror = (e) => order.push(`error ${e.error.kind}`);
    const close = await event(ws, 'close');
    order.push(`close ${close.code} ${close.wasClean}`);
    assert.deepEqual(order, ['error io', 'close 1006 false']);

    const { server, url } = await echoServer();
    const aborted = new WebSocket(url);
    const abortOrder = [];
    aborted.onerror = () => abortOrder.push('error');
    aborted.onopen = () => abortOrder.push('open');
    aborted.close();
    assert.equal(aborted.readyState, WebSocket.CLOSING);
    const abortClose = await event(aborted, 'close');
    assert.deepEqual([...abortOrder, abortClose.code], ['error', 1006]);
    await server.close();
  });

  test("a refusal comes as 'unexpected-response' (the response head) when listened for, instead of 'error'", async () => {
    const { server, url } = await echoServer({ connHeaders: () => ({ status: 403, body: 'no' }) });
    const ws = new WebSocket(url);
    const errors = [];
    ws.on('error', (e) => errors.push(e));
    const closed = event(ws, 'close');
    const [response] = await once(ws, 'unexpected-response');
    assert.equal(response.status, 403);
    assert.equal((await closed).code, 1006);
    assert.deepEqual(errors, []);
    await server.close();
  });

  test('draft-76 by option, against the seed-style server', async () => {
    const { server, url } = await echoServer();
    const ws = new WebSocket(url, undefined, { protocol: 'draft76', headers: { Origin: 'http://localhost' } });
    await event(ws, 'open');
    assert.equal(ws.connection.protocol, 'draft76');
    assert.equal(ws.extensions, '');
    ws.send('old school');
    assert.equal((await event(ws, 'message')).data, 'old school');
    ws.close(1000);
    const close = await event(ws, 'close');
    assert.deepEqual([close.code, close.wasClean], [1005, true], 'draft-76 closes carry no code');
    await server.close();
  });

  test('the ws side: on(open), on(message, (data, isBinary)) with Buffers, ping/pong, terminate', async () => {
    const server = await serve({ port: 0, listenIp: '127.0.0.1' });
    server.on('connection', (conn) => conn.on('message', (data, isBinary) => conn.send(data, { binary: isBinary })));
    const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
    await once(ws, 'open');
    ws.send(Buffer.from('bytes'));
    const [data, isBinary] = await once(ws, 'message');
    assert.ok(Buffer.isBuffer(data), 'EventEmitter listeners get Buffers whatever binaryType says');
    assert.equal(isBinary, true);
    assert.equal(data.toString(), 'bytes');
    const ponged = once(ws, 'pong');
    ws.ping(Buffer.from('p'));
    assert.equal((await ponged)[0].toString(), 'p');
    const closed = new Promise((resolve) => ws.on('close', (...args) => resolve(args)));
    ws.terminate();
    assert.deepEqual(await closed, [1006, '', false]);
    await server.close();
  });
});
