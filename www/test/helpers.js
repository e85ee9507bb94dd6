// Shared by the tests: echo servers, raw sockets, the native `hybi` binary.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { serve } from '../index.js';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every message back, until the end; servers in tests listen on 127.0.0.1, port 0. */
export async function echoServer(options = {}) {
  const server = await serve(
    async (conn) => {
      for await (const message of conn) await conn.send(message);
    },
    // A backlog of 128, not the seed's 4: tests open dozens of connections at once,
    // and SYNs past the backlog are retried after 1, 2, 4 ... seconds.
    { port: 0, listenIp: '127.0.0.1', maxWaiting: 128, ...options },
  );
  return { server, port: server.address().port, url: `ws://127.0.0.1:${server.address().port}/echo` };
}

/** Bytes of `size` in a pattern that catches reordering and masking mistakes. */
export function pattern(size, seed = 1) {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** A text of `size` characters, not all ASCII. */
export function text(size) {
  const unit = 'hybi ☃ draft-76 ';
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

/**
 * Opens a raw TCP connection, writes `bytes`, and collects what comes back
 * until the server closes (or `waitMs` passes).
 */
export function rawExchange(port, bytes, { waitMs = 5000, end = false } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(bytes);
      if (end) socket.end();
    });
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), timedOut: true });
    }, waitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), timedOut: false });
    });
  });
}

/** An RFC 6455 opening request with a valid key, and the accept value it calls for. */
export function rfc6455Request(path = '/', extra = '') {
  const key = Buffer.from(pattern(16, 7)).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
  return { request, accept };
}

/** A masked client frame (RFC 6455), FIN set. */
export function clientFrame(opcode, payload, mask = [1, 2, 3, 4]) {
  const data = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
  const header = [];
  header.push(0x80 | opcode);
  if (data.length < 126) header.push(0x80 | data.length);
  else if (data.length < 65536) header.push(0x80 | 126, data.length >> 8, data.length & 0xff);
  else throw new Error('test frames stay under 64 KiB');
  const masked = Buffer.from(data.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([Buffer.from(header), Buffer.from(mask), masked]);
}

/** The native `hybi` binary (built by scripts/test-node); a test fails without it. */
export function nativeBinary() {
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');
  const path = process.env.HYBI_BIN ?? join(targetDir, 'debug', 'hybi');
  if (!existsSync(path)) {
    throw new Error(`native hybi binary not found at ${path}: run scripts/test-node, or cargo build -p hybi --features cli --bin hybi`);
  }
  return path;
}

/** Starts `hybi serve --port 0 ARGS` and waits for its `listening on` line. */
export function nativeServer(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(nativeBinary(), ['serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`hybi serve did not start: ${log}`));
    }, 10000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      // The whole port: a chunk may end inside it.
      const match = /listening on 127\.0\.0\.1:(\d+)\D/.exec(log);
      if (match && timer) {
        clearTimeout(timer);
        resolve({
          port: Number(match[1]),
          url: `ws://127.0.0.1:${match[1]}/`,
          log: () => log,
          // The log once it matches `pattern`, or after `ms`: the server
          // writes a connection's last line after its peer may have seen
          // the close, and a pipe may hand it over in pieces.
          waitForLog: (pattern, ms = 5000) =>
            new Promise((done) => {
              const until = Date.now() + ms;
              const check = () => (pattern.test(log) || Date.now() > until ? done(log) : setTimeout(check, 10));
              check();
            }),
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill();
            }),
        });
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hybi serve exited with ${code}: ${log}`));
    });
  });
}

/** Runs `hybi connect URL ARGS` with `lines` on stdin; resolves to { code, stdout, stderr }. */
export function nativeConnect(url, args, lines) {
  return new Promise((resolve, reject) => {
    const child = spawn(nativeBinary(), ['connect', url, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`hybi connect hung: ${stderr}`));
    }, 20000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(lines.map((line) => `${line}\n`).join(''));
  });
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
