// Node client ↔ Node server, in every protocol and framing.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { HybiError, connect, headerValue, serve } from '../index.js';
import { echoServer, pattern, text } from './helpers.js';

const MIB = 1024 * 1024;

const variants = [
  { name: "draft-76 'old'", client: { protocol: 'draft76', framing: 'old' }, server: { framing: 'old' } },
  { name: "draft-76 'new'", client: { protocol: 'draft76', framing: 'new' }, server: { framing: 'new' } },
  { name: 'RFC 6455', client: { protocol: 'rfc6455' }, server: {} },
  {
    name: 'RFC 6455 + permessage-deflate',
    client: { protocol: 'rfc6455', compression: true },
    server: { compression: true },
  },
];

for (const variant of variants) {
  describe(`Node ↔ Node, ${variant.name}`, () => {
    const rfc = variant.client.protocol === 'rfc6455';

    test('text messages echo in order, and the close is clean', async () => {
      const { server, url } = await echoServer(variant.server);
      try {
        const conn = await connect(url, variant.client);
        assert.equal(conn.protocol, variant.client.protocol);
        assert.equal(conn.framing, rfc ? undefined : variant.client.framing);
        assert.equal(conn.deflate !== undefined, variant.client.compression === true);
        // Long texts go in as bytes when ASCII, as strings otherwise.
        const sent = ['hello', '', 'é ☃ 😀', text(1000), 'a'.repeat(100000), `${'b'.repeat(5000)}é`];
        for (const message of sent) await conn.send(message);
        for (const message of sent) assert.equal(await conn.recv(), message);
        await conn.close();
        assert.equal(conn.closed, true);
        assert.equal(conn.open, false);
        assert.equal(await conn.recv(), null);
        assert.equal(await conn.recv(), null, 'eof, forever after');
        if (rfc) assert.deepEqual(conn.closeStatus, { code: 1000, reason: '' });
      } finally {
        await server.close();
      }
    });

    test('1 MiB messages', async () => {
      const { server, url } = await echoServer(variant.server);
      try {
        const conn = await connect(url, variant.client);
        const big = text(MIB);
        await conn.send(big);
        assert.equal(await conn.recv(), big);
        if (rfc) {
          const bytes = pattern(MIB);
          await conn.send(bytes);
          const back = await conn.recv();
          assert.ok(back instanceof Uint8Array);
          assert.equal(back.length, MIB);
          assert.deepEqual(Buffer.from(back), Buffer.from(bytes));
        }
        await conn.close();
      } finally {
        await server.close();
      }
    });

    test('binary messages need RFC 6455', async () => {
      const { server, url } = await echoServer(variant.server);
      try {
        const conn = await connect(url, variant.client);
        if (rfc) {
          await conn.send(new Uint8Array([0, 1, 2, 255]));
          assert.deepEqual([...(await conn.recv())], [0, 1, 2, 255]);
          // An ArrayBuffer and a view of a larger buffer send just their bytes.
          await conn.send(new Uint16Array([0x0102, 0x0304]).buffer);
          assert.equal((await conn.recv()).length, 4);
          await conn.send(new Uint8Array([9, 8, 7, 6]).subarray(1, 3));
          assert.deepEqual([...(await conn.recv())], [8, 7]);
        } else {
          await assert.rejects(conn.send(new Uint8Array([1])), (e) => e instanceof HybiError && e.kind === 'misuse');
          // The connection stays usable.
          await conn.send('still open');
          assert.equal(await conn.recv(), 'still open');
        }
        await conn.close();
      } finally {
        await server.close();
      }
    });

    test('the server closes when its handler returns; the client reads eof', async () => {
      const server = await serve(
        async (conn) => {
          await conn.send(`bye from ${conn.protocol}`);
        },
        { port: 0, listenIp: '127.0.0.1', ...variant.server },
      );
      try {
        const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, variant.client);
        assert.equal(await conn.recv(), `bye from ${variant.client.protocol}`);
        assert.equal(await conn.recv(), null);
        assert.equal(conn.closed, true);
        if (rfc) assert.equal(conn.closeStatus.code, 1000);
      } finally {
        await server.close();
      }
    });
  });
}

describe('Node ↔ Node: the seed API', () => {
  test('connHeaders sees the request; its headers, subprotocol and state reach both ends', async () => {
    let seen;
    const server = await serve(
      async (conn, state) => {
        await conn.send(JSON.stringify({ state, line: conn.line, headers: conn.headers, sub: conn.subprotocol }));
        for await (const message of conn) await conn.send(message);
      },
      {
        port: 0,
        listenIp: '127.0.0.1',
        connHeaders: (line, headers, request) => {
          seen = { line, origin: headerValue(headers, 'origin'), method: request.method };
          return {
            headers: [
              ['Sec-WebSocket-Origin', headerValue(headers, 'Origin')],
              ['Sec-WebSocket-Location', `ws://127.0.0.1:${server.address().port}/chat?room=1`],
            ],
            subprotocol: headerValue(headers, 'Sec-WebSocket-Protocol') === undefined ? undefined : 'superchat',
            state: { room: 1 },
          };
        },
      },
    );
    try {
      const url = `ws://127.0.0.1:${server.address().port}/chat?room=1`;
      // draft-76, as the seed: the headers are what its example adds.
      const conn = await connect(url, { protocol: 'draft76', headers: { Origin: 'http://example.com' } });
      assert.deepEqual(seen, { line: 'GET /chat?room=1 HTTP/1.1', origin: 'http://example.com', method: 'GET' });
      assert.equal(conn.line, 'HTTP/1.1 101 WebSocket Protocol Handshake');
      assert.equal(headerValue(conn.headers, 'Sec-WebSocket-Origin'), 'http://example.com');
      const fromServer = JSON.parse(await conn.recv());
      assert.deepEqual(fromServer.state, { room: 1 });
      assert.equal(fromServer.line, 'GET /chat?room=1 HTTP/1.1');
      assert.deepEqual(fromServer.headers, [
        ['Sec-WebSocket-Origin', 'http://example.com'],
        ['Sec-WebSocket-Location', url],
      ]);
      await conn.close();

      // RFC 6455 with a subprotocol offer.
      const rfc = await connect(url, { protocol: 'rfc6455', subprotocols: ['chat', 'superchat'] });
      assert.equal(rfc.subprotocol, 'superchat');
      assert.equal(rfc.line, 'HTTP/1.1 101 Switching Protocols');
      assert.equal(headerValue(rfc.request.headers, 'Sec-WebSocket-Protocol'), undefined, 'request shows only our headers');
      assert.equal(JSON.parse(await rfc.recv()).sub, 'superchat');
      await rfc.close();
    } finally {
      await server.close();
    }
  });

  test('a refusal from connHeaders reaches the client as a rejected handshake with its status', async () => {
    const server = await serve(() => assert.fail('refused connections get no handler'), {
      port: 0,
      listenIp: '127.0.0.1',
      connHeaders: () => ({ status: 403, body: 'no entry\n' }),
    });
    try {
      for (const protocol of ['draft76', 'rfc6455']) {
        await assert.rejects(connect(`ws://127.0.0.1:${server.address().port}/`, { protocol }), (error) => {
          assert.ok(error instanceof HybiError);
          assert.equal(error.kind, 'rejected');
          assert.equal(error.status, 403);
          assert.equal(error.response.status, 403);
          return true;
        });
      }
    } finally {
      await server.close();
    }
  });

  test('connHeaders may be async; one that throws or picks a subprotocol not offered gets a 500', async () => {
    const errors = [];
    const server = await serve(
      async (conn, state) => {
        await conn.send(`state ${state}`);
      },
      {
        port: 0,
        listenIp: '127.0.0.1',
        onError: (error) => errors.push(error),
        connHeaders: async (line) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (line.startsWith('GET /throw')) throw new Error('hook failed');
          if (line.startsWith('GET /bad-sub')) return { subprotocol: 'never-offered' };
          return { state: 'async' };
        },
      },
    );
    try {
      const base = `ws://127.0.0.1:${server.address().port}`;
      const conn = await connect(`${base}/ok`, { protocol: 'rfc6455' });
      assert.equal(await conn.recv(), 'state async');
      assert.equal(await conn.recv(), null);
      await assert.rejects(connect(`${base}/throw`, { protocol: 'rfc6455' }), (e) => e.kind === 'rejected' && e.status === 500);
      await assert.rejects(connect(`${base}/bad-sub`, { protocol: 'rfc6455', subprotocols: ['chat'] }), (e) => e.status === 500);
      assert.deepEqual(
        errors.map((e) => e.message),
        ['hook failed', 'subprotocol was not offered by the client'],
      );
    } finally {
      await server.close();
    }
  });

  test('50 concurrent connections, each with its own conversation', async () => {
    const { server, url } = await echoServer({ compression: true });
    try {
      const protocols = [{ protocol: 'rfc6455' }, { protocol: 'rfc6455', compression: true }, { protocol: 'draft76' }];
      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const conn = await connect(url, protocols[i % protocols.length]);
          const sent = Array.from({ length: 20 }, (_, j) => `conn ${i} message ${j} ${text(j * 50)}`);
          await Promise.all(sent.map((m) => conn.send(m)));
          const got = [];
          for (let j = 0; j < sent.length; j++) got.push(await conn.recv());
          await conn.close();
          return got.every((m, j) => m === sent[j]);
        }),
      );
      assert.equal(results.filter(Boolean).length, 50);
      assert.equal(server.connections, 0);
    } finally {
      await server.close();
    }
  });

  test('server.close() sends going-away (1001) to open RFC 6455 connections and ends draft-76 ones', async () => {
    const { server, url } = await echoServer();
    const rfc = await connect(url, { protocol: 'rfc6455' });
    const d76 = await connect(url, { protocol: 'draft76' });
    await rfc.send('x');
    assert.equal(await rfc.recv(), 'x');
    assert.equal(server.connections, 2);
    // Clients read on: what arrives after a message (here the server's
    // close) is taken in when the application reads.
    const ends = [rfc.recv(), d76.recv()];
    const started = performance.now();
    await server.close();
    assert.ok(performance.now() - started < 2000, 'the clients answered at once; no close timeout');
    assert.deepEqual(await Promise.all(ends), [null, null]);
    assert.deepEqual(rfc.closeStatus, { code: 1001, reason: 'server shutting down' });
    assert.equal(server.connections, 0);
  });

  test('wss:// with a TLS server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hybi-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const { server, port } = await echoServer({ tls: { key: readFileSync(join(dir, 'key.pem')), cert } });
    try {
      for (const protocol of ['rfc6455', 'draft76']) {
        const conn = await connect(`wss://127.0.0.1:${port}/secure`, { protocol, tls: { ca: cert } });
        await conn.send(`over TLS ${protocol}`);
        assert.equal(await conn.recv(), `over TLS ${protocol}`);
        if (protocol === 'draft76') {
          // The server knows it is behind TLS: the location it derives says wss://.
          assert.equal(headerValue(conn.headers, 'Sec-WebSocket-Location'), `wss://127.0.0.1:${port}/secure`);
        }
        await conn.close();
      }
      // A client that does not trust the certificate fails with an I/O error.
      await assert.rejects(connect(`wss://127.0.0.1:${port}/`, { protocol: 'rfc6455' }), (e) => e.kind === 'io');
    } finally {
      await server.close();
    }
  });
});
