// A WebSocket endpoint on an HTTP server the application runs: `serve({
// server })` on Node's own `http` server and on Express, `noServer` with
// `handleUpgrade`, path routing, the `connHeaders` hook with Node's parsed
// request, and the bytes that came with the request head (`head`).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';

import express from 'express';

import { connect, serve } from '../index.js';
import { clientFrame, rfc6455Request } from './helpers.js';

/** An HTTP server listening on 127.0.0.1, port 0; `close` ends it and its sockets. */
async function httpServer(app) {
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

/** Echoes every message back. */
async function echo(conn) {
  for await (const message of conn) await conn.send(message);
}

describe('serve({ server }): an endpoint on an http.Server', () => {
  test('RFC 6455 and draft-76 clients are served next to plain HTTP routes, with connHeaders seeing the parsed request', async () => {
    const { server, port, close } = await httpServer((req, res) => res.end(`page ${req.url}`));
    const seen = [];
    const hybi = await serve(
      async (conn, state) => {
        await conn.send(`state ${state}`);
        await echo(conn);
      },
      {
        server,
        connHeaders: (line, headers, request, message) => {
          seen.push({ line, origin: message.headers.origin, remote: message.socket.remoteAddress });
          return { headers: [['X-Hybi', 'attached']], state: message.url };
        },
      },
    );
    try {
      assert.deepEqual(hybi.address(), server.address());
      const page = await fetch(`http://127.0.0.1:${port}/hello`);
      assert.equal(await page.text(), 'page /hello', 'plain requests stay with the HTTP server');

      const rfc = await connect(`ws://127.0.0.1:${port}/chat?room=1`, { headers: { Origin: 'http://here' } });
      assert.equal(rfc.protocol, 'rfc6455');
      assert.equal(rfc.response.headers.find(([n]) => n === 'X-Hybi')?.[1], 'attached');
      assert.equal(await rfc.recv(), 'state /chat?room=1');
      await rfc.send('über');
      assert.equal(await rfc.recv(), 'über');
      const bytes = Buffer.from([0, 1, 2, 255]);
      await rfc.send(bytes);
      assert.deepEqual(await rfc.recv(), bytes);
      await rfc.close();

      // Draft-76's key3 follows the head: Node hands it over as `head`
      // (or it arrives later on the socket). The server's framing is 'old'.
      const old = await connect(`ws://127.0.0.1:${port}/old`, { protocol: 'draft76', headers: { Origin: 'http://here' } });
      assert.equal(old.protocol, 'draft76');
      assert.equal(await old.recv(), 'state /old');
      await old.send('hello');
      assert.equal(await old.recv(), 'hello');
      await old.close();
      assert.deepEqual(seen[0], { line: 'GET /chat?room=1 HTTP/1.1', origin: 'http://here', remote: '127.0.0.1' });
      assert.equal(seen.length, 2);
    } finally {
      await hybi.close();
      await close();
    }
  });

  test('frames sent with the request head, in one write, reach the handler (the upgrade event\'s head)', async () => {
    const { server, port, close } = await httpServer();
    const hybi = await serve(echo, { server });
    try {
      const { request } = rfc6455Request('/early');
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      // Head, a text frame and a close frame in one write.
      socket.write(Buffer.concat([Buffer.from(request), clientFrame(0x1, Buffer.from('early')), clientFrame(0x8, Buffer.from([0x03, 0xe8]))]));
      const chunks = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      await once(socket, 'end');
      socket.destroy();
      const reply = Buffer.concat(chunks);
      const head = reply.indexOf('\r\n\r\n') + 4;
      assert.match(reply.subarray(0, head).toString(), /^HTTP\/1\.1 101 /);
      assert.deepEqual([...reply.subarray(head)], [0x81, 5, ...Buffer.from('early'), 0x88, 2, 0x03, 0xe8]);
    } finally {
      await hybi.close();
      await close();
    }
  });

  test('a malformed upgrade request is answered by the core with its status', async () => {
    const { server, port, close } = await httpServer();
    const hybi = await serve(echo, { server });
    try {
      // RFC 6455 without its key: the core's 400, not Node's.
      const response = await new Promise((resolve, reject) => {
        const req = http.get({ port, host: '127.0.0.1', path: '/', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' } });
        req.on('response', resolve);
        req.on('upgrade', () => reject(new Error('upgraded without a key')));
        req.on('error', reject);
      });
      assert.equal(response.statusCode, 400);
      let body = '';
      for await (const chunk of response) body += chunk;
      assert.match(body, /Sec-WebSocket-Key/);
    } finally {
      await hybi.close();
      await close();
    }
  });

  test('path routing: two endpoints share one server; other paths get 404, or go to the server\'s other upgrade listeners', async () => {
    const { server, port, close } = await httpServer();
    const a = await serve(async (conn) => conn.send('a'), { server, path: '/a' });
    const b = await serve(async (conn) => conn.send('b'), { server, path: '/b' });
    try {
      const toA = await connect(`ws://127.0.0.1:${port}/a?x=1`);
      assert.equal(await toA.recv(), 'a');
      const toB = await connect(`ws://127.0.0.1:${port}/b`);
      assert.equal(await toB.recv(), 'b');
      await assert.rejects(connect(`ws://127.0.0.1:${port}/c`), (e) => e.kind === 'rejected' && e.status === 404);

      // With another 'upgrade' listener, requests for no hybi path are its.
      const others = [];
      server.on('upgrade', (request, socket) => {
        if (request.url === '/other') {
          others.push(request.url);
          socket.end('HTTP/1.1 418 I\'m a teapot\r\nContent-Length: 0\r\n\r\n');
        }
      });
      await assert.rejects(connect(`ws://127.0.0.1:${port}/other`), (e) => e.status === 418);
      assert.deepEqual(others, ['/other']);
      const again = await connect(`ws://127.0.0.1:${port}/b`);
      assert.equal(await again.recv(), 'b', 'hybi paths are still served');
      assert.deepEqual(others, ['/other'], 'and not handed to the other listener');
    } finally {
      await a.close();
      await b.close();
      await close();
    }
    assert.equal(server.listenerCount('upgrade'), 1, 'closing both hybi servers removed their listener');
  });

  test('Express: the app serves its routes, hybi the WebSocket path of the same server', async () => {
    const app = express();
    app.get('/health', (req, res) => res.json({ ok: true }));
    const { server, port, close } = await httpServer(app);
    const hybi = await serve(echo, { server, path: '/ws', compression: true });
    try {
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { ok: true });
      const conn = await connect(`ws://127.0.0.1:${port}/ws`, { compression: true });
      assert.ok(conn.deflate, 'permessage-deflate agreed');
      const big = 'x'.repeat(100_000);
      await conn.send(big);
      assert.equal(await conn.recv(), big);
      await conn.close();
      assert.equal(hybi.clients.size, 0);
    } finally {
      await hybi.close();
      await close();
    }
  });
});

describe('noServer and handleUpgrade', () => {
  test('the application routes and authenticates; refused sockets never reach hybi', async () => {
    const { server, port, close } = await httpServer();
    const hybi = await serve({ noServer: true });
    assert.equal(hybi.address(), null);
    const users = [];
    hybi.on('connection', (conn, request, user) => {
      users.push(user);
      conn.on('message', (data) => conn.send(`${user}: ${data}`));
    });
    server.on('upgrade', (request, socket, head) => {
      const user = new URL(request.url, 'ws://x').searchParams.get('token');
      if (user === null) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      hybi.handleUpgrade(request, socket, head, (conn) => hybi.emit('connection', conn, request, user));
    });
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${port}/`), (e) => e.kind === 'rejected' && e.status === 401);
      const conn = await connect(`ws://127.0.0.1:${port}/?token=ann`);
      await conn.send('hi');
      assert.equal(await conn.recv(), 'ann: hi');
      assert.equal(hybi.clients.size, 1);
      await conn.close();
      assert.deepEqual(users, ['ann']);
    } finally {
      await hybi.close();
      await close();
    }
  });

  test('close() sends open connections 1001 and leaves the HTTP server running', async () => {
    const { server, port, close } = await httpServer((req, res) => res.end('still here'));
    const hybi = await serve({ server });
    const opened = once(hybi, 'connection');
    const conn = await connect(`ws://127.0.0.1:${port}/`);
    await opened;
    await hybi.close();
    assert.equal(await conn.recv(), null);
    assert.deepEqual(conn.closeStatus, { code: 1001, reason: 'server shutting down' });
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'still here');
    await close();
  });
});
