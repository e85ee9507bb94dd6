// `ws`'s own README examples, ported to hybi by the renames of the
// migration guide in README.md (`ws` → `hybi`), and run: the simple
// server and client, sending binary data, broadcast (to all, and to every
// other client), the heartbeat of the FAQ (server pings, client 'ping'
// listener), an external HTTP server (here Express's), and handleUpgrade
// with authentication. Each keeps the example's code and adds the
// assertions.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';

import express from 'express';

import WebSocket, { WebSocketServer } from '../index.js';

const listening = (wss) => (wss.address() ? Promise.resolve() : once(wss, 'listening'));
const urlOf = (wss, path = '/') => `ws://127.0.0.1:${wss.address().port}${path}`;

describe("ws's README examples, on hybi", () => {
  test('simple server; sending and receiving text; sending binary data', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const received = [];
    wss.on('connection', function connection(ws) {
      ws.on('error', console.error);
      ws.on('message', function message(data) {
        received.push(data);
      });
      ws.send('something');
    });
    await listening(wss);

    const ws = new WebSocket(urlOf(wss));
    ws.on('error', console.error);
    const got = once(ws, 'message');
    ws.on('open', function open() {
      ws.send('something');
      const array = new Float32Array(5);
      for (var i = 0; i < array.length; ++i) array[i] = i / 2;
      ws.send(array);
    });
    const [data] = await got;
    assert.equal(`received: ${data}`, 'received: something');
    while (received.length < 2) await new Promise((r) => setImmediate(r));
    assert.equal(String(received[0]), 'something');
    assert.deepEqual(new Float32Array(received[1].buffer, received[1].byteOffset, 5), Float32Array.of(0, 0.5, 1, 1.5, 2));
    ws.close();
    await once(ws, 'close');
    await wss.close();
  });

  test('server broadcast, to all and to every other client', async () => {
    for (const excludeSelf of [false, true]) {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      wss.on('connection', function connection(ws) {
        ws.on('error', console.error);
        ws.on('message', function message(data, isBinary) {
          wss.clients.forEach(function each(client) {
            if ((!excludeSelf || client !== ws) && client.readyState === WebSocket.OPEN) {
              client.send(data, { binary: isBinary });
            }
          });
        });
      });
      await listening(wss);
      const clients = [new WebSocket(urlOf(wss)), new WebSocket(urlOf(wss)), new WebSocket(urlOf(wss))];
      await Promise.all(clients.map((c) => once(c, 'open')));
      while (wss.clients.size < 3) await new Promise((r) => setImmediate(r));
      const heard = clients.map(() => []);
      clients.forEach((c, i) => c.on('message', (data, isBinary) => heard[i].push([String(data), isBinary])));
      clients[0].send('hello all');
      clients[1].send(Buffer.from('bin'));
      const expected = excludeSelf ? [1, 1, 2] : [2, 2, 2];
      while (heard.some((h, i) => h.length < expected[i])) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(heard.map((h) => h.length), expected, `excludeSelf ${excludeSelf}`);
      assert.deepEqual(heard[2], [['hello all', false], ['bin', true]]);
      clients.forEach((c) => c.close());
      await wss.close();
    }
  });

  test('heartbeat: the server pings, terminates the silent; the client watches pings', async () => {
    function heartbeat() {
      this.isAlive = true;
    }
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', function connection(ws) {
      ws.isAlive = true;
      ws.on('error', console.error);
      ws.on('pong', heartbeat);
    });
    const closed = [];
    const interval = setInterval(function ping() {
      wss.clients.forEach(function each(ws) {
        if (ws.isAlive === false) {
          closed.push(ws);
          return ws.terminate();
        }
        ws.isAlive = false;
        ws.ping();
      });
    }, 50);
    wss.on('close', function close() {
      clearInterval(interval);
    });
    await listening(wss);

    // The FAQ's client: a ping listener that resets a timer.
    function clientHeartbeat() {
      clearTimeout(this.pingTimeout);
      this.pingTimeout = setTimeout(() => this.terminate(), 50 + 1000);
    }
    const client = new WebSocket(urlOf(wss));
    client.on('error', console.error);
    client.on('open', clientHeartbeat);
    let pings = 0;
    client.on('ping', () => pings++);
    client.on('ping', clientHeartbeat);
    client.on('close', function clear() {
      clearTimeout(this.pingTimeout);
    });
    await once(client, 'open');
    while (pings < 3) await once(client, 'ping');
    assert.equal(closed.length, 0, 'a client that answers pings stays');
    client.close();
    await once(client, 'close');
    await wss.close();
    assert.equal(interval._destroyed, true, "'close' cleared the interval");
  });

  test('external HTTP server (Express)', async () => {
    const app = express();
    app.get('/', (req, res) => res.send('http'));
    const server = createServer(app);
    const wss = new WebSocketServer({ server });
    wss.on('connection', function connection(ws) {
      ws.on('error', console.error);
      ws.on('message', function message(data) {
        ws.send(`received: ${data}`);
      });
      ws.send('something');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    assert.equal(await (await fetch(`http://127.0.0.1:${server.address().port}/`)).text(), 'http');
    const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
    const messages = [];
    ws.on('message', (data) => messages.push(String(data)));
    await once(ws, 'open');
    ws.send('hi');
    while (messages.length < 2) await once(ws, 'message');
    assert.deepEqual(messages, ['something', 'received: hi']);
    ws.close();
    await once(ws, 'close');
    await wss.close();
    await new Promise((r) => server.close(r));
  });

  test('client authentication with noServer and handleUpgrade', async () => {
    function onSocketError(err) {
      console.error(err);
    }
    // Not defined in the example; here a token in the query.
    function authenticate(request, next) {
      const token = new URL(request.url, 'ws://base').searchParams.get('token');
      if (token === 'secret') next(null, 'alice');
      else next(new Error('bad token'));
    }
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', function connection(ws, request, client) {
      ws.on('error', console.error);
      ws.on('message', function message(data) {
        ws.send(`Received message ${data} from user ${client}`);
      });
    });
    server.on('upgrade', function upgrade(request, socket, head) {
      socket.on('error', onSocketError);
      authenticate(request, function next(err, client) {
        if (err || !client) {
          socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
          socket.destroy();
          return;
        }
        socket.removeListener('error', onSocketError);
        wss.handleUpgrade(request, socket, head, function done(ws) {
          wss.emit('connection', ws, request, client);
        });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `ws://127.0.0.1:${server.address().port}/`;

    const refused = new WebSocket(`${base}?token=wrong`);
    const [response] = await once(refused, 'unexpected-response');
    assert.equal(response.status, 401);

    const ws = new WebSocket(`${base}?token=secret`);
    await once(ws, 'open');
    ws.send('hello');
    const [data] = await once(ws, 'message');
    assert.equal(String(data), 'Received message hello from user alice');
    ws.close();
    await once(ws, 'close');
    await wss.close();
    await new Promise((r) => server.close(r));
  });
});
