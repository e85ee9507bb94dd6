// Malformed handshakes, peers that vanish, limits, timers, backpressure.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';

import { HybiError, connect, serve } from '../index.js';
import { clientFrame, echoServer, pattern, rawExchange, rfc6455Request, sleep } from './helpers.js';

/** The status line and body of a raw HTTP answer. */
function parseResponse(data) {
  const text = data.toString('latin1');
  const [head, body = ''] = text.split('\r\n\r\n');
  const [statusLine, ...headers] = head.split('\r\n');
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('malformed handshakes are answered with their status', () => {
  const draft76 = (key1, key2) =>
    'GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n' +
    `Sec-WebSocket-Key1: ${key1}\r\nSec-WebSocket-Key2: ${key2}\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U`;

  test('RFC 6455 version 8 → 426 with Sec-WebSocket-Version: 13', async () => {
    const { server, port } = await echoServer();
    try {
      const request = rfc6455Request().request.replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8');
      const answer = parseResponse((await rawExchange(port, request)).data);
      assert.equal(answer.status, 426);
      assert.ok(answer.headers.includes('Sec-WebSocket-Version: 13'), answer.headers.join('|'));
    } finally {
      await server.close();
    }
  });

  test('a draft-76 key that is not a multiple of its spaces → 400', async () => {
    const errors = [];
    const { server, port } = await echoServer({ onError: (e) => errors.push(e) });
    try {
      const bad = parseResponse((await rawExchange(port, draft76('2 L785 8o% s9Sy9@V. 4<1P5', '12998 5 Y3 1  .P00'))).data);
      assert.equal(bad.status, 400);
      assert.match(bad.body, /Sec-WebSocket-Key1/);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].kind, 'handshake');
      assert.equal(errors[0].status, 400);
      // The draft's own vector is answered with its 16 bytes.
      const good = (await rawExchange(port, draft76('4 @1  46546xW%0l 1 5', '12998 5 Y3 1  .P00'), { waitMs: 300 })).data;
      assert.ok(good.toString('latin1').startsWith('HTTP/1.1 101 WebSocket Protocol Handshake\r\n'));
      assert.ok(good.toString('latin1').endsWith("\r\n\r\n8jKS'y:G*Co,Wxa-"), JSON.stringify(good.toString('latin1')));
    } finally {
      await server.close();
    }
  });

  test('an upgrade request that is not GET → 405', async () => {
    const { server, port } = await echoServer();
    try {
      const request = rfc6455Request().request.replace('GET /', 'POST /');
      const answer = parseResponse((await rawExchange(port, request)).data);
      assert.equal(answer.status, 405);
    } finally {
      await server.close();
    }
  });

  test('a plain GET gets a short text page; other plain requests 405; a handler can answer instead', async () => {
    const errors = [];
    const { server, port } = await echoServer({ onError: (e) => errors.push(e) });
    try {
      const page = parseResponse((await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')).data);
      assert.equal(page.status, 200);
      assert.match(page.body, /^hybi .*WebSocket server/);
      assert.ok(page.headers.some((h) => /^Content-Type: text\/plain/i.test(h)));
      const post = parseResponse((await rawExchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')).data);
      assert.equal(post.status, 405);
      assert.ok(post.headers.includes('Allow: GET'));
      await sleep(50);
      assert.deepEqual(errors, [], 'answering a plain request is no error');
    } finally {
      await server.close();
    }
    const custom = await serve(() => {}, {
      port: 0,
      listenIp: '127.0.0.1',
      httpHandler: (request) => ({ status: 404, body: `no ${request.target} here\n` }),
    });
    try {
      const answer = parseResponse((await rawExchange(custom.address().port, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n')).data);
      assert.equal(answer.status, 404);
      assert.equal(answer.body, 'no /x here\n');
    } finally {
      await custom.close();
    }
  });

  test('a server that accepts only RFC 6455 refuses draft-76 with 400', async () => {
    const { server, port } = await echoServer({ protocols: ['rfc6455'] });
    try {
      const answer = parseResponse((await rawExchange(port, draft76('4 @1  46546xW%0l 1 5', '12998 5 Y3 1  .P00'))).data);
      assert.equal(answer.status, 400);
      await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { protocol: 'draft76' }), (e) => {
        assert.equal(e.kind, 'rejected');
        assert.equal(e.status, 400);
        // The refusal suggests the other protocol and names the option.
        assert.equal(e.suggestedProtocol, 'rfc6455');
        assert.match(e.message, /may speak only RFC 6455: connect with \{ protocol: "rfc6455" \}/);
        assert.equal(e.response.status, 400);
        return true;
      });
      // The default speaks RFC 6455.
      const conn = await connect(`ws://127.0.0.1:${port}/`);
      assert.equal(conn.protocol, 'rfc6455');
      await conn.close();
    } finally {
      await server.close();
    }
  });

  test('an RFC 6455 client of a draft-76 server is told to use draft76 (docs/PROTOCOLS.md §5.1)', async () => {
    const { server, port } = await echoServer({ protocols: ['draft76'] });
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${port}/`), (e) => {
        assert.equal(e.kind, 'rejected');
        assert.equal(e.status, 400);
        assert.equal(e.suggestedProtocol, 'draft76');
        assert.match(e.message, /may speak only draft-76: connect with \{ protocol: "draft76" \}/);
        return true;
      });
    } finally {
      await server.close();
    }
    // A raw server giving a draft-76 answer (no Sec-WebSocket-Accept).
    const raw = net.createServer((socket) => {
      socket.once('data', () => {
        socket.end(
          'HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Origin: http://localhost\r\nSec-WebSocket-Location: ws://localhost/\r\n\r\n',
        );
      });
    });
    await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${raw.address().port}/`), (e) => {
        assert.equal(e.kind, 'handshake');
        assert.equal(e.suggestedProtocol, 'draft76');
        assert.equal(e.response.status, 101);
        return true;
      });
    } finally {
      raw.close();
    }
    // A refusal that says nothing of the protocol suggests nothing.
    const busy = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
    });
    await new Promise((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${busy.address().port}/`), (e) => {
        assert.equal(e.status, 503);
        assert.equal(e.suggestedProtocol, undefined);
        assert.doesNotMatch(e.message, /may speak/);
        return true;
      });
    } finally {
      busy.close();
    }
  });

  test('a client that says nothing is answered 408 after the handshake timeout', async () => {
    const { server, port } = await echoServer({ timeouts: { handshake: 200 } });
    try {
      const started = performance.now();
      const { data, timedOut } = await rawExchange(port, 'GET / HTTP/1.1\r\n', { waitMs: 3000 });
      assert.equal(timedOut, false, 'the server closed the connection');
      assert.equal(parseResponse(data).status, 408);
      assert.ok(performance.now() - started >= 190);
    } finally {
      await server.close();
    }
  });

  test('a client refuses a server that answers a draft-76 request wrongly', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        socket.end('HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n0123456789abcdef');
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'draft76' }), (e) => {
        assert.ok(e instanceof HybiError);
        assert.equal(e.kind, 'handshake');
        assert.equal(e.status, undefined, 'a client answers with no status');
        return true;
      });
    } finally {
      server.close();
    }
  });
});

describe("a refusal's body reaches HybiError.response.body", () => {
  /** A server answering every request with `head`, then each of `later` in its own write. */
  function refusing(head, later, end = true) {
    return new Promise((resolve) => {
      const server = net.createServer((socket) => {
        // The client cuts what it does not read (a reset).
        socket.on('error', () => {});
        socket.once('data', async () => {
          socket.write(head);
          for (const part of later) {
            await sleep(30);
            socket.write(part);
          }
          if (end) socket.end();
        });
      });
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
  }

  const cases = [
    { name: 'with the head', head: 'HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way', later: [], body: 'no way' },
    { name: 'in later writes', head: 'HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nno', later: [' en', 'try\n!!'], body: 'no entry\n!!' },
    { name: 'without Content-Length, to the end', head: 'HTTP/1.1 503 Busy\r\n\r\n', later: ['try ', 'later'], body: 'try later' },
    { name: 'Content-Length past what comes: what came', head: 'HTTP/1.1 401 No\r\nContent-Length: 99\r\n\r\n', later: ['short'], body: 'short' },
  ];
  for (const { name, head, later, body } of cases) {
    test(name, async () => {
      const server = await refusing(head, later);
      try {
        await assert.rejects(connect(`ws://127.0.0.1:${server.address().port}/`), (e) => {
          assert.equal(e.kind, 'rejected');
          assert.ok(Buffer.isBuffer(e.response.body));
          assert.equal(e.response.body.toString(), body.slice(0, Number(/Content-Length: (\d+)/.exec(head)?.[1] ?? 1e9)));
          return true;
        });
      } finally {
        server.close();
      }
    });
  }

  test('a body that does not end is cut at 64 KiB, or after half a second', async () => {
    const big = await refusing('HTTP/1.1 413 Big\r\n\r\n', ['x'.repeat(100 * 1024)], false);
    const slow = await refusing('HTTP/1.1 429 Slow\r\n\r\n', ['a', 'b'], false);
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${big.address().port}/`), (e) => e.response.body.length === 64 * 1024);
      const started = performance.now();
      await assert.rejects(connect(`ws://127.0.0.1:${slow.address().port}/`), (e) => e.response.body.toString() === 'ab');
      const took = performance.now() - started;
      assert.ok(took >= 450 && took < 3000, `${took} ms`);
    } finally {
      big.close();
      slow.close();
    }
  });
});

describe('peers that vanish', () => {
  test('a client that disconnects mid-frame: the server recv rejects with kind "eof", no hang', async () => {
    let outcome;
    const done = new Promise((resolve) => {
      outcome = resolve;
    });
    const server = await serve(
      async (conn) => {
        const first = await conn.recv();
        try {
          await conn.recv();
          outcome({ first, second: 'resolved' });
        } catch (error) {
          outcome({ first, error });
        }
        // After the error, eof.
        outcome.after = await conn.recv();
      },
      { port: 0, listenIp: '127.0.0.1' },
    );
    try {
      const { request } = rfc6455Request();
      const socket = net.connect({ host: '127.0.0.1', port: server.address().port });
      socket.write(request);
      socket.write(clientFrame(1, 'whole'));
      // A frame announcing 100 bytes, 10 of which arrive, then the end.
      socket.end(clientFrame(1, 'x'.repeat(100)).subarray(0, 16));
      const result = await done;
      assert.equal(result.first, 'whole');
      assert.ok(result.error instanceof HybiError);
      assert.equal(result.error.kind, 'eof');
      assert.match(result.error.message, /middle of a frame/);
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('a server that disconnects mid-frame: the client recv rejects, then returns null', async () => {
    const server = await handRolledServer((socket) => {
      // One whole text frame, then half of one, then a reset.
      socket.write(Buffer.from([0x81, 2, 0x68, 0x69, 0x81, 50, 0x61, 0x62]));
      setTimeout(() => socket.resetAndDestroy(), 50);
    });
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'rfc6455' });
      assert.equal(await conn.recv(), 'hi');
      await assert.rejects(conn.recv(), (e) => e instanceof HybiError && (e.kind === 'io' || e.kind === 'eof'));
      assert.equal(await conn.recv(), null);
      assert.equal(conn.closed, true);
      await assert.rejects(conn.send('late'), HybiError);
    } finally {
      server.close();
    }
  });

  test('a draft-76 peer may just hang up between frames: a clean end', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        // A draft-76 server that answers with the wrong 16 bytes is refused.
        socket.end(
          'HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n' +
            'not the answer!!',
        );
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    await assert.rejects(
      connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'draft76' }),
      (e) => e.kind === 'handshake',
    );
    server.close();

    const { server: echo, url } = await echoServer();
    try {
      const conn = await connect(url, { protocol: 'draft76' });
      await conn.send('a');
      assert.equal(await conn.recv(), 'a');
      const end = conn.recv();
      await echo.close();
      assert.equal(await end, null);
      assert.equal(conn.closeStatus.code, undefined);
    } finally {
      await echo.close();
    }
  });
});

describe('limits', () => {
  test('an oversize message: the server fails with a limit error and the client sees close 1009', async () => {
    let serverError;
    const failed = new Promise((resolve) => {
      serverError = resolve;
    });
    const server = await serve(
      async (conn) => {
        assert.equal(await conn.recv(), 'small');
        await conn.send('ok');
        try {
          await conn.recv();
        } catch (error) {
          serverError(error);
        }
      },
      { port: 0, listenIp: '127.0.0.1', limits: { maxMessageSize: 1024 } },
    );
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'rfc6455' });
      await conn.send('small');
      assert.equal(await conn.recv(), 'ok');
      await conn.send(pattern(2048));
      const error = await failed;
      assert.ok(error instanceof HybiError);
      assert.equal(error.kind, 'limit');
      assert.equal(error.closeCode, 1009);
      assert.equal(await conn.recv(), null);
      assert.equal(conn.closeStatus.code, 1009);
    } finally {
      await server.close();
    }
  });

  test('a client limits what the server may send (draft-76: the connection fails)', async () => {
    const { server, url } = await echoServer();
    try {
      const conn = await connect(url, { protocol: 'draft76', limits: { maxMessageSize: 100 } });
      await conn.send('x'.repeat(101));
      await assert.rejects(conn.recv(), (e) => e.kind === 'limit');
      assert.equal(conn.closed, true);
    } finally {
      await server.close();
    }
  });

  test('an invalid configuration is a config error', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { limits: { maxMessageSize: -1 } }), (e) => e.kind === 'config');
    await assert.rejects(connect('ws://127.0.0.1:1/', { protocol: 'hybi-07' }), (e) => e.kind === 'config');
    await assert.rejects(connect('http://127.0.0.1:1/'), (e) => e.kind === 'config');
    await assert.rejects(connect('ws://127.0.0.1:1/#frag'), (e) => e.kind === 'config');
    await assert.rejects(serve(() => {}, { port: 0, framing: 'newest' }), (e) => e.kind === 'config');
  });
});

describe('timers', () => {
  test('idle timeout: a silent server ends the client with a timeout error', async () => {
    const server = await serve(() => new Promise(() => {}), { port: 0, listenIp: '127.0.0.1' });
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, {
        protocol: 'rfc6455',
        timeouts: { idle: 200 },
      });
      const started = performance.now();
      await assert.rejects(conn.recv(), (e) => e.kind === 'timeout');
      assert.ok(performance.now() - started >= 150);
    } finally {
      await server.close();
    }
  });

  test('keepalive pings keep a quiet connection alive past the idle timeout', async () => {
    // Pings every 100 ms against a 1 s idle timeout: a wide margin for a
    // loaded machine; 2.5 s is past two idle timeouts.
    const { server, url } = await echoServer({ timeouts: { idle: 1000 } });
    try {
      const pinging = await connect(url, { protocol: 'rfc6455', timeouts: { keepalive: 100 } });
      const quiet = await connect(url, { protocol: 'rfc6455' });
      const reading = pinging.recv();
      const quietEnd = quiet.recv();
      await sleep(2500);
      // The quiet one was closed by the server's idle timeout (1001).
      assert.equal(await quietEnd, null);
      assert.equal(quiet.closeStatus.code, 1001);
      assert.equal(pinging.open, true, 'the server saw pings and stayed');
      await pinging.send('still here');
      assert.equal(await reading, 'still here');
      await pinging.close();
    } finally {
      await server.close();
    }
  });

  test('a close the peer never answers times out', async () => {
    const server = await handRolledServer((socket) => {
      // Reads and never answers.
      socket.on('data', () => {});
    });
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, {
        protocol: 'rfc6455',
        timeouts: { close: 200 },
      });
      await assert.rejects(conn.close(), (e) => e.kind === 'timeout');
      assert.equal(conn.closed, true);
    } finally {
      server.close();
    }
  });
});

describe('flow control', () => {
  test('a receiver that does not read pauses the socket: the sender waits for drain', async () => {
    const count = 512;
    const size = 64 * 1024;
    let lastSend;
    let sentAll = false;
    const server = await serve(
      async (conn) => {
        const sends = [];
        for (let i = 0; i < count; i++) sends.push(conn.send(pattern(size, i + 1)));
        lastSend = Promise.all(sends).then(() => {
          sentAll = true;
        });
        await lastSend;
        await conn.recv();
      },
      { port: 0, listenIp: '127.0.0.1' },
    );
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, {
        protocol: 'rfc6455',
        maxBuffered: 256 * 1024,
      });
      await sleep(500);
      // 32 MiB were sent and the client read none: the kernel buffers and
      // the client's bounded queue hold far less, so the server still waits.
      assert.equal(sentAll, false, 'the sender is held back');
      for (let i = 0; i < count; i++) {
        const message = await conn.recv();
        assert.equal(message.length, size);
        if (i === 0 || i === count - 1) assert.deepEqual(Buffer.from(message), Buffer.from(pattern(size, i + 1)));
      }
      await lastSend;
      assert.equal(sentAll, true);
      await conn.close();
    } finally {
      await server.close();
    }
  });

  test('close() takes in what waited while the application was not reading', async () => {
    const server = await serve(
      async (conn) => {
        await conn.send('a');
        await sleep(100);
        await conn.send('b');
        assert.equal(await conn.recv(), null);
      },
      { port: 0, listenIp: '127.0.0.1' },
    );
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'rfc6455' });
      assert.equal(await conn.recv(), 'a');
      await sleep(300);
      const started = performance.now();
      await conn.close();
      assert.ok(performance.now() - started < 1000, 'no close timeout');
      assert.equal(await conn.recv(), 'b', 'a message that waited stays readable');
      assert.equal(await conn.recv(), null);
      assert.equal(conn.closeStatus.code, 1000);
    } finally {
      await server.close();
    }
  });

  test('messages that arrive with the peer\'s close are still answered (the close waits for recv)', async () => {
    const { server, port } = await echoServer();
    try {
      const { request } = rfc6455Request();
      const { data } = await rawExchange(
        port,
        Buffer.concat([
          Buffer.from(request),
          clientFrame(1, 'one'),
          clientFrame(1, 'two'),
          clientFrame(2, Buffer.from([1, 2, 3])),
          clientFrame(8, Buffer.from([0x03, 0xe8])),
        ]),
      );
      const bytes = data.subarray(data.indexOf('\r\n\r\n') + 4);
      // Three unmasked echoes, then the close answer echoing 1000.
      assert.deepEqual(
        [...bytes],
        [0x81, 3, ...Buffer.from('one'), 0x81, 3, ...Buffer.from('two'), 0x82, 3, 1, 2, 3, 0x88, 2, 0x03, 0xe8],
      );
    } finally {
      await server.close();
    }
  });

  test('messages before a bad frame are answered before the failing close (1002, 1007)', async () => {
    const { server, port } = await echoServer();
    try {
      const { request } = rfc6455Request();
      const cases = [
        [clientFrame(0x40 | 1, 'x'), 1002], // RSV1 without an extension
        [clientFrame(3, 'x'), 1002], // a reserved opcode
        [clientFrame(1, Buffer.from([0xc3, 0x28])), 1007], // text that is not UTF-8
      ];
      for (const [bad, code] of cases) {
        const { data } = await rawExchange(port, Buffer.concat([Buffer.from(request), clientFrame(1, 'valid'), bad]));
        const bytes = data.subarray(data.indexOf('\r\n\r\n') + 4);
        assert.deepEqual([...bytes], [0x81, 5, ...Buffer.from('valid'), 0x88, 2, code >> 8, code & 0xff], `close ${code}`);
      }
    } finally {
      await server.close();
    }
  });
});

/** Sec-WebSocket-Accept for a key (what a server computes; test peers only). */
function acceptFor(key) {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/**
 * A misbehaving RFC 6455 server written by hand on 127.0.0.1 (port 0): it
 * answers the first request with a 101, then hands the socket to `opened`.
 */
async function handRolledServer(opened) {
  const server = net.createServer((socket) => {
    socket.once('data', (data) => {
      const key = /Sec-WebSocket-Key: (.*)\r\n/.exec(data.toString())[1];
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      );
      opened(socket);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
