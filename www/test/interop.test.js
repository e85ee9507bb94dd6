// hybi for Node against other implementations: the native `hybi` binary
// (both directions, every protocol) and the `ws` package (RFC 6455, with
// and without permessage-deflate, both directions). A peer that cannot
// start fails its test.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { WebSocket, WebSocketServer } from 'ws';

import { connect } from '../index.js';
import { echoServer, nativeConnect, nativeServer, pattern, text } from './helpers.js';

const MIB = 1024 * 1024;

describe('Node client → native server (hybi serve)', () => {
  const cases = [
    { name: "draft-76 'old'", args: ['--framing', 'old'], options: { protocol: 'draft76', framing: 'old' } },
    { name: "draft-76 'new'", args: ['--framing', 'new'], options: { protocol: 'draft76', framing: 'new' } },
    // The default server tells the framing from the client's first bytes.
    { name: "draft-76 'old', default server", args: [], options: { protocol: 'draft76', framing: 'old' } },
    { name: "draft-76 'new', default server", args: [], options: { protocol: 'draft76', framing: 'new' } },
    { name: 'RFC 6455', args: [], options: { protocol: 'rfc6455' } },
    { name: 'RFC 6455 + permessage-deflate', args: ['--deflate'], options: { protocol: 'rfc6455', compression: true } },
  ];
  for (const { name, args, options } of cases) {
    test(name, async () => {
      const native = await nativeServer(args);
      try {
        const conn = await connect(native.url, options);
        assert.equal(conn.protocol, options.protocol);
        assert.equal(conn.deflate !== undefined, options.compression === true);
        for (const message of ['hello', 'é ☃ 😀', text(64 * 1024), text(MIB)]) {
          await conn.send(message);
          assert.equal(await conn.recv(), message);
        }
        if (options.protocol === 'rfc6455') {
          const bytes = pattern(MIB);
          await conn.send(bytes);
          assert.deepEqual(Buffer.from(await conn.recv()), Buffer.from(bytes));
        }
        await conn.close();
        assert.equal(await conn.recv(), null);
        if (options.protocol === 'rfc6455') assert.equal(conn.closeStatus.code, 1000);
        assert.match(await native.waitForLog(/closed/), /closed/);
      } finally {
        await native.stop();
      }
    });
  }
});

describe('native client (hybi connect) → Node server', () => {
  const cases = [
    { name: "draft-76 'old'", args: ['--protocol', 'draft76', '--framing', 'old'], server: { framing: 'old' } },
    { name: "draft-76 'new'", args: ['--protocol', 'draft76', '--framing', 'new'], server: { framing: 'new' } },
    { name: "draft-76 'old', default server", args: ['--protocol', 'draft76', '--framing', 'old'], server: {} },
    { name: "draft-76 'new', default server", args: ['--protocol', 'draft76', '--framing', 'new'], server: {} },
    { name: 'RFC 6455', args: ['--protocol', 'rfc6455'], server: {} },
    { name: 'RFC 6455 + permessage-deflate', args: ['--protocol', 'rfc6455', '--deflate'], server: { compression: true } },
  ];
  for (const { name, args, server: options } of cases) {
    test(name, async () => {
      const opened = [];
      const { server, url } = await echoServer({
        ...options,
        connHeaders: (line, headers, request) => {
          opened.push(line);
          return {};
        },
      });
      try {
        const lines = ['hello', 'é ☃ 😀', text(10000), ...Array.from({ length: 50 }, (_, i) => `line ${i}`)];
        // `hybi connect` sends every line, then closes at the end of stdin:
        // the server answers every message before it answers the close.
        const { code, stdout, stderr } = await nativeConnect(url, args, lines);
        assert.equal(code, 0, stderr);
        assert.deepEqual(stdout.split('\n').slice(0, -1), lines);
        assert.deepEqual(opened, ['GET /echo HTTP/1.1']);
      } finally {
        await server.close();
      }
    });
  }
});

/** A `ws` echo server on 127.0.0.1, port 0. */
function wsEchoServer(perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
    wss.on('connection', (socket) => {
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    wss.once('error', reject);
    wss.once('listening', () => resolve(wss));
  });
}

/** Opens a `ws` client and resolves once it is open. */
function wsClient(url, options) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The next message a `ws` client receives, as `{ data, isBinary }`. */
function wsNext(socket) {
  return new Promise((resolve, reject) => {
    socket.once('message', (data, isBinary) => resolve({ data, isBinary }));
    socket.once('close', () => reject(new Error('closed before a message')));
  });
}

for (const deflate of [false, true]) {
  const label = deflate ? 'with permessage-deflate' : 'without compression';

  test(`Node client → ws server, ${label}`, async () => {
    const wss = await wsEchoServer(deflate);
    try {
      const conn = await connect(`ws://127.0.0.1:${wss.address().port}/`, { protocol: 'rfc6455', compression: deflate });
      assert.equal(conn.deflate !== undefined, deflate);
      for (const message of ['hello', text(1000), text(MIB)]) {
        await conn.send(message);
        assert.equal(await conn.recv(), message);
      }
      const bytes = pattern(MIB);
      await conn.send(bytes);
      assert.deepEqual(Buffer.from(await conn.recv()), Buffer.from(bytes));
      await conn.close(4000, 'done here');
      assert.equal(await conn.recv(), null);
      // ws echoes the code and the reason.
      assert.deepEqual(conn.closeStatus, { code: 4000, reason: 'done here' });
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  test(`ws client → Node server, ${label}`, async () => {
    const { server, url } = await echoServer({ compression: true });
    try {
      const socket = await wsClient(url, { perMessageDeflate: deflate });
      assert.equal(socket.extensions.includes('permessage-deflate'), deflate);
      socket.send('hello');
      let reply = await wsNext(socket);
      assert.equal(reply.isBinary, false);
      assert.equal(reply.data.toString(), 'hello');
      const big = text(MIB);
      socket.send(big);
      reply = await wsNext(socket);
      assert.equal(reply.data.toString(), big);
      const bytes = pattern(MIB);
      socket.send(bytes);
      reply = await wsNext(socket);
      assert.equal(reply.isBinary, true);
      assert.deepEqual(Buffer.from(reply.data), Buffer.from(bytes));
      // Ten messages in a row, then the close: every echo comes before the
      // close answer.
      const got = [];
      socket.on('message', (data) => got.push(data.toString()));
      const closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
      for (let i = 0; i < 10; i++) socket.send(`m${i}`);
      socket.close(1000);
      assert.equal(await closed, 1000);
      assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    } finally {
      await server.close();
    }
  });
}
