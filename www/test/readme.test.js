// The README's examples, run as they are written (only the port changes:
// 8080 becomes a free one), so that they cannot rot: the echo server with
// the seed's draft-76 headers and the client that talks to it, the Express
// attach, and the browser-style WebSocket. Each runs in its own Node
// process, importing 'hybi' as a user's code does (the package's own name,
// from a file inside it).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { connect, serve } from '../index.js';

const www = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = join(www, 'test', '.readme');

/** The README's ```js blocks, in order. */
const blocks = [...readFileSync(join(www, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

/** The block that contains `marker` (one each: a renamed example fails here, not later). */
function block(marker) {
  const found = blocks.filter((b) => b.includes(marker));
  assert.equal(found.length, 1, `one README example contains ${JSON.stringify(marker)}`);
  return found[0];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * Runs `code` (8080 replaced by `port`) as an ES module in its own process;
 * resolves with `{ child, output, exited }`, where `output()` is what it
 * printed so far and `exited` its exit code's promise.
 */
function run(name, code, port) {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, code.replaceAll('8080', String(port)));
  const child = spawn(process.execPath, [file], { cwd: www, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then(() => children.delete(child));
  return { child, output: () => out, exited };
}

/** Waits until `output()` matches `pattern`, or fails after `ms`. */
async function until(proc, pattern, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!pattern.test(proc.output())) {
    if (Date.now() > deadline) assert.fail(`no ${pattern} within ${ms} ms; output:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Connects to `url` once the example `proc` listens (retrying for up to 15 s while it runs). */
async function connectWhenUp(proc, url) {
  for (let i = 0; ; i++) {
    try {
      return await connect(url);
    } catch (error) {
      if (i > 150 || proc.child.exitCode !== null) throw new Error(`${error.message}\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("the README's examples", () => {
  test('every example parses', async () => {
    assert.ok(blocks.length >= 4, `${blocks.length} examples`);
    for (const [i, code] of blocks.entries()) {
      const proc = spawn(process.execPath, ['--check', '--input-type=module'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      proc.stdin.end(code);
      const status = await new Promise((resolve) => proc.once('exit', resolve));
      assert.equal(status, 0, `example ${i + 1} does not parse:\n${err}`);
    }
  });

  test('the seed echo server answers the client example (draft-76, then RFC 6455)', async () => {
    const port = await freePort();
    const server = run('server', block("['Sec-WebSocket-Location'"), port);
    await until(server, /listening on/);
    const client = run('client', block("connect('ws://localhost:8080/chat'"), port);
    const status = await client.exited;
    const out = client.output();
    assert.equal(status, 0, out);
    // draft-76: the echo of 'hello'; RFC 6455: the two echoes, then the close.
    assert.match(out, /^hello$/m);
    assert.match(out, /<Buffer 01 02 03>/);
    assert.match(out, /^bye$/m);
    assert.match(out, /code: 1000/);
    // The server logged each message it echoed.
    assert.match(server.output(), /^hello$/m);
    server.child.kill();
  });

  test('the one-message-per-call echo server (memory notes) echoes text and 256 KiB binary', async () => {
    const port = await freePort();
    const proc = run('echo-one', block('async function echoOne(conn)'), port);
    const conn = await connectWhenUp(proc, `ws://127.0.0.1:${port}/`);
    const big = Buffer.alloc(256 * 1024, 7);
    await conn.send('one');
    await conn.send(big);
    assert.equal(await conn.recv(), 'one');
    assert.deepEqual(Buffer.from(await conn.recv()), big);
    await conn.close();
    proc.child.kill();
  });

  test('the Express example echoes on /ws', async () => {
    const port = await freePort();
    const proc = run('express', block("from 'express'"), port);
    const conn = await connectWhenUp(proc, `ws://127.0.0.1:${port}/ws`);
    await conn.send('over express');
    assert.equal(await conn.recv(), 'over express');
    await conn.close();
    proc.child.kill();
  });

  test('the browser-style WebSocket example sends, receives and shows the message', async () => {
    const server = await serve(
      async (conn) => {
        for await (const message of conn) await conn.send(message);
      },
      {
        port: 0,
        listenIp: '127.0.0.1',
        path: '/chat',
        connHeaders: () => ({ subprotocol: 'chat' }),
      },
    );
    const port = server.address().port;
    const proc = run('websocket', block('new WebSocket(').replaceAll('localhost', '127.0.0.1'), port);
    // binaryType 'arraybuffer' does not matter for text: the echo prints as sent.
    await until(proc, /^hello$/m);
    proc.child.kill();
    await server.close();
  });
});
