// hybi-wasm's Machine on its own: a client and a server wired in memory,
// on a fake clock, as the core's own tests do.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Machine } from '../index.js';

const request = { host: 'example.com', resource: '/chat', headers: [['Origin', 'http://example.com']] };

/** Moves a step's output to the other machine; returns the other's step. */
function pump(step, to, now = 0) {
  assert.ok(step.output instanceof Uint8Array, 'the step has output');
  return to.feed(now, step.output);
}

function pair(config = {}) {
  const client = Machine.client(0, { protocol: 'rfc6455', ...config }, request);
  const server = Machine.server(0, config);
  const head = server.feed(0, client.takeOutput());
  assert.deepEqual(head.events, [{ type: 'request', kind: 'websocket', protocol: 'rfc6455' }]);
  assert.equal(head.state, 'handshaking');
  const accepted = server.accept({ headers: [['X-Hello', 'yes']] });
  assert.deepEqual(accepted.events, [{ type: 'open' }]);
  assert.equal(accepted.state, 'open');
  const opened = pump(accepted, client);
  assert.deepEqual(opened.events, [{ type: 'open' }]);
  return { client, server };
}

test('a step carries every event and every output byte of one input', () => {
  const { client, server } = pair();
  assert.equal(server.request.line, 'GET /chat HTTP/1.1');
  assert.deepEqual(client.response.headers.find(([name]) => name === 'X-Hello'), ['X-Hello', 'yes']);
  // Three frames in one chunk: one step hands out all three.
  const chunk = Buffer.concat([client.sendText('one'), client.sendBinary(new Uint8Array([1, 2])), client.sendText('three')]);
  const step = server.feed(1, chunk);
  assert.equal(step.events.length, 3);
  assert.deepEqual(step.events[0], { type: 'text', data: 'one' });
  assert.equal(step.events[1].type, 'binary');
  assert.deepEqual([...step.events[1].data], [1, 2]);
  assert.deepEqual(step.events[2], { type: 'text', data: 'three' });
  assert.equal(step.state, 'open');
});

test("a peer's close is answered by finish, or at the close deadline", () => {
  const { client, server } = pair({ timeouts: { close: 100 } });
  const closeStep = client.close(5, 1000, 'bye');
  assert.equal(closeStep.state, 'closing');
  assert.equal(typeof closeStep.timeout, 'number', 'the close deadline is armed');
  const got = server.feed(6, closeStep.output);
  assert.deepEqual(got.events, [{ type: 'close', code: 1000, reason: 'bye' }]);
  assert.equal(got.state, 'ending');
  assert.equal(got.output, undefined, 'no answer before the application reached the close');
  assert.equal(got.timeout, 106, 'the wait for finish is bounded by the close deadline');
  const finished = server.finish();
  assert.equal(finished.state, 'closed');
  assert.deepEqual(server.finish().events, [], 'finish again does nothing');
  const answer = client.feed(7, finished.output);
  assert.deepEqual(answer.events, [{ type: 'close', code: 1000, reason: '' }]);
  assert.equal(answer.state, 'closed');

  // Not finished in time: the deadline answers.
  const late = pair({ timeouts: { close: 100 } });
  const waiting = late.server.feed(10, late.client.close(10, 1001, '').output);
  assert.equal(waiting.state, 'ending');
  assert.deepEqual(late.server.tick(109).events, []);
  const due = late.server.tick(110);
  assert.deepEqual(due.events, [], 'the deadline adds no event');
  assert.equal(due.state, 'closed');
  assert.deepEqual([...due.output], [0x88, 0x02, 0x03, 0xe9]);
});

test('a server going away closes with 1001, and its reason', () => {
  const { client, server } = pair();
  const step = server.goAway(1, 'server shutting down');
  assert.equal(step.state, 'closing');
  const got = client.feed(2, step.output);
  assert.deepEqual(got.events, [{ type: 'close', code: 1001, reason: 'server shutting down' }]);
  const early = Machine.server(0, {});
  assert.throws(() => early.goAway(0, ''), (e) => e.kind === 'misuse', 'nothing to close while handshaking');
});

test('messages before a bad frame are answered before the failing close', () => {
  const { client, server } = pair();
  const text = client.sendText('valid');
  // A text frame with RSV2 set (no extension defines it): masked, key 0.
  const bad = new Uint8Array([0xa1, 0x81, 0, 0, 0, 0, 0x78]);
  const step = server.feed(1, Buffer.concat([text, bad]));
  assert.equal(step.events.length, 2);
  assert.deepEqual(step.events[0], { type: 'text', data: 'valid' });
  assert.equal(step.events[1].type, 'error');
  assert.equal(step.events[1].error.closeCode, 1002);
  assert.equal(step.state, 'ending');
  assert.equal(step.output, undefined);
  const echo = server.sendText('valid');
  const end = server.finish();
  assert.equal(end.state, 'closed');
  const back = client.feed(2, Buffer.concat([echo, end.output]));
  assert.deepEqual(back.events, [
    { type: 'text', data: 'valid' },
    { type: 'close', code: 1002, reason: '' },
  ]);
});

test('messages that arrive with the close can still be answered', () => {
  const { client, server } = pair();
  const text = client.sendText('question');
  const close = client.close(1, 1000, '').output;
  const step = server.feed(2, Buffer.concat([text, close]));
  assert.deepEqual(step.events, [
    { type: 'text', data: 'question' },
    { type: 'close', code: 1000, reason: '' },
  ]);
  assert.equal(step.state, 'ending');
  assert.equal(step.output, undefined, 'no answer to the close yet');
  const reply = server.sendText('answer');
  assert.ok(reply.length > 0);
  const end = server.finish();
  assert.deepEqual(end.events, []);
  assert.equal(end.state, 'closed');
  // The client is closing (it sent its close): nothing is held back then.
  const back = client.feed(3, Buffer.concat([reply, end.output]));
  assert.deepEqual(back.events, [
    { type: 'text', data: 'answer' },
    { type: 'close', code: 1000, reason: '' },
  ]);
  assert.equal(back.state, 'closed');
});

test('commands the core refuses throw { kind: "misuse" }; bad arguments { kind: "config" }', () => {
  const draft = Machine.client(0, { protocol: 'draft76' }, request);
  assert.throws(() => draft.sendText('too early'), (e) => e.kind === 'misuse' && /not open/.test(e.message));
  // A config error names the field, what it takes and what it got.
  assert.throws(
    () => Machine.client(0, { timeouts: { idle: 'soon' } }, request),
    (e) => e.kind === 'config' && e.message === 'config.timeouts.idle must be a whole number of milliseconds, or null (off), not "soon"',
  );
  assert.throws(
    () => Machine.server(0, { limits: { maxMessageSize: 1.5 } }),
    (e) => e.kind === 'config' && /^config\.limits\.maxMessageSize .* not 1\.5$/.test(e.message),
  );
  assert.throws(
    () => Machine.server(0, { accept: ['rfc6455', 'hybi-07'] }),
    (e) => e.kind === 'config' && /^config\.accept\[1\] must be "draft76" or "rfc6455", not "hybi-07"$/.test(e.message),
  );
  assert.throws(() => Machine.client(0, {}, { host: 'x' }), (e) => e.kind === 'config' && /resource/.test(e.message));
  assert.throws(
    () => Machine.client(0, {}, { ...request, headers: [['X-A', 1]] }),
    (e) => e.kind === 'config' && /^request\.headers\[0\] must be a \[name, value\] pair of strings/.test(e.message),
  );
  // undefined is absent (the default), null a timer off.
  assert.equal(Machine.server(0, { timeouts: { handshake: undefined } }).pollTimeout(), 30000);
  assert.equal(Machine.server(0, { timeouts: { handshake: null } }).pollTimeout(), undefined);
  assert.throws(
    () => Machine.client(0, { protocol: 'draft76' }, { ...request, subprotocols: ['a', 'b'] }),
    (e) => e.kind === 'misuse',
  );
  const { client } = pair();
  assert.throws(() => client.close(0, 1005, ''), (e) => e.kind === 'misuse');
  assert.throws(() => client.sendPing(new Uint8Array(126)), (e) => e.kind === 'misuse');
});

test('a client masks every frame with fresh bytes from crypto.getRandomValues', () => {
  const { client } = pair();
  const masks = new Set();
  for (let i = 0; i < 2000; i++) {
    const frame = client.sendText('same text');
    assert.equal(frame[1] & 0x80, 0x80, 'masked');
    masks.add(Buffer.from(frame.subarray(2, 6)).toString('hex'));
  }
  // 2000 draws of 32 bits: a repeat is possible but vanishingly rare.
  assert.ok(masks.size >= 1995, `${masks.size} distinct masks`);
});

test('timers run on the clock the driver passes in', () => {
  const client = Machine.client(1000, { protocol: 'rfc6455', timeouts: { handshake: 500 } }, request);
  client.takeOutput();
  assert.equal(client.pollTimeout(), 1500);
  assert.deepEqual(client.tick(1499).events, []);
  const fired = client.tick(1500);
  assert.equal(fired.events.length, 1);
  assert.equal(fired.events[0].type, 'error');
  assert.equal(fired.events[0].error.kind, 'timeout');
  assert.equal(fired.state, 'closed');
  // Absent keeps the default (30 s); null or 0 turns a timer off.
  const off = Machine.client(0, { timeouts: { handshake: null } }, request);
  assert.equal(off.pollTimeout(), undefined);
  const zero = Machine.client(0, { timeouts: { handshake: 0 } }, request);
  assert.equal(zero.pollTimeout(), undefined);
  const byDefault = Machine.client(0, {}, request);
  assert.equal(byDefault.pollTimeout(), 30000);
});

test('permessage-deflate is negotiated from plain-object parameters', () => {
  const { client, server } = pair({ deflate: { clientMaxWindowBits: 12, compressionLevel: 1 } });
  assert.deepEqual(client.deflate, server.deflate);
  assert.equal(client.deflate.clientMaxWindowBits, 12);
  const big = 'abc'.repeat(10000);
  const frame = client.sendText(big);
  assert.ok(frame.length < 1000, `compressed to ${frame.length} bytes`);
  assert.deepEqual(server.feed(1, frame).events, [{ type: 'text', data: big }]);
});

test('sendTextUtf8 takes UTF-8 bytes and refuses others', () => {
  const { client, server } = pair();
  const frame = client.sendTextUtf8(Buffer.from('héllo'));
  assert.deepEqual(server.feed(1, frame).events, [{ type: 'text', data: 'héllo' }]);
  assert.throws(() => client.sendTextUtf8(new Uint8Array([0x68, 0xff])), (e) => e.kind === 'misuse');
});

test('a text as UTF-8 bytes in one sendFragment with fin is a whole text message; in parts, one message too', () => {
  const { client, server } = pair();
  const frame = client.sendFragment(false, Buffer.from('héllo'), true);
  assert.deepEqual(server.feed(1, frame).events, [{ type: 'text', data: 'héllo' }]);
  // Parts may cut a character: the message is checked whole.
  const bytes = Buffer.from('κόσμε');
  const first = client.sendFragment(false, bytes.subarray(0, 3), false);
  const last = client.sendFragment(false, bytes.subarray(3), true);
  assert.deepEqual(server.feed(2, Buffer.concat([first, last])).events, [{ type: 'text', data: 'κόσμε' }]);
});

test("a client's large message: one frame, header from sendVerbatimHeader, payload masked by maskPart in parts", () => {
  const { client, server } = pair();
  const data = new Uint8Array(70000).map((_, i) => (i * 7 + 3) & 0xff);
  const original = Uint8Array.from(data);
  const header = client.sendVerbatimHeader(true, data.length);
  // FIN + binary, masked, 64-bit length.
  assert.deepEqual([...header.subarray(0, 2)], [0x82, 0x80 | 127]);
  assert.equal(header.length, 2 + 8 + 4);
  const masked = new Uint8Array(data.length);
  // Parts cut anywhere, not at multiples of 4.
  for (const [at, end] of [[0, 1], [1, 4099], [4099, 65536], [65536, 70000]]) {
    assert.equal(client.maskPart(data.subarray(at, end), masked.subarray(at, end)), end - at);
  }
  assert.deepEqual(data, original, "the application's bytes are left as they were");
  assert.notDeepEqual(masked, data, 'the payload went out masked');
  // Nothing else may be sent inside the frame; once it is done, anything.
  const key = header.subarray(10, 14);
  assert.deepEqual([...masked.subarray(0, 4)], [0, 1, 2, 3].map((i) => data[i] ^ key[i]));
  const step = server.feed(1, Buffer.concat([header, masked, client.sendText('after')]));
  assert.deepEqual(step.events.map((e) => e.type), ['binary', 'text']);
  assert.deepEqual(step.events[0].data, data);
  assert.equal(step.events[1].data, 'after');
  // Nothing else goes inside the frame; more than announced is not masked.
  client.sendVerbatimHeader(false, 3);
  assert.equal(client.maskPart(new Uint8Array([0x61]), new Uint8Array(1)), 1);
  assert.throws(() => client.sendText('x'), { kind: 'misuse' });
  assert.throws(() => client.sendPing(new Uint8Array(0)), { kind: 'misuse' });
  const rest = new Uint8Array(3);
  assert.equal(client.maskPart(new Uint8Array([0x62, 0x63, 0x64]), rest), 2);
  assert.equal(rest[2], 0x64, 'the byte past the payload is copied as it was');
  assert.ok(client.sendText('x') instanceof Uint8Array);
  // A server's payload goes as it is: maskPart masks nothing.
  assert.ok(server.sendVerbatimHeader(true, 2) instanceof Uint8Array);
  assert.equal(server.maskPart(new Uint8Array([1, 2]), new Uint8Array(2)), 0);
});

test('steps, events, heads and errors are plain objects: keys in order, absent fields left out', () => {
  // What wasm/src/out.rs promises (the objects serde used to make): JS code
  // may rely on `'timeout' in step` or on Object.keys.
  const plain = (value) => Object.getPrototypeOf(value) === Object.prototype;
  const { client, server } = pair({ deflate: {}, timeouts: { idle: 60000 } });
  const quiet = server.feed(1, new Uint8Array(0));
  assert.ok(plain(quiet));
  assert.deepEqual(Object.keys(quiet), ['events', 'timeout', 'state'], 'no output: no output key');
  const step = server.feed(2, Buffer.concat([client.sendText('t'), client.sendPing(new Uint8Array([1]))]));
  assert.deepEqual(Object.keys(step), ['events', 'output', 'timeout', 'state']);
  assert.ok(step.output instanceof Uint8Array);
  assert.deepEqual(step.events.map((e) => Object.keys(e)), [['type', 'data'], ['type', 'data']]);
  assert.ok(step.events[1].data instanceof Uint8Array);
  assert.deepEqual(Object.keys(server.request), ['line', 'method', 'target', 'headers']);
  assert.deepEqual(Object.keys(client.response), ['line', 'status', 'reason', 'headers']);
  assert.deepEqual(Object.keys(client.deflate),
    ['serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits']);
  const closed = server.feed(3, client.close(3, undefined, '').output);
  assert.deepEqual(closed.events, [{ type: 'close', reason: '' }]);
  assert.ok(!('code' in closed.events[0]), 'no code: no code key');
  const failed = Machine.server(0, {}).feed(0, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
  assert.deepEqual(Object.keys(failed.events[0]), ['type', 'error']);
  assert.deepEqual(Object.keys(failed.events[0].error), ['kind', 'message', 'status']);
  assert.throws(() => client.sendText('late'), (e) => plain(e) && Object.keys(e).join() === 'kind,message');
});

test("the driver's bounds come from the core's configuration, defaults included", () => {
  // The core's defaults (hybi_core::Limits / Timeouts), which the native
  // driver keeps too.
  assert.deepEqual(Machine.server(0, {}).driverBounds, {
    maxMessageSize: 16 * 1024 * 1024,
    outputHighWater: 256 * 1024,
    maxUnreadWhileClosing: 16 * 1024 * 1024,
    maxLingerBytes: 4 * 1024 * 1024,
    linger: 2000,
    handshake: 30000,
  });
  const tuned = Machine.client(
    0,
    {
      limits: { maxMessageSize: 1000, outputHighWater: 2000, maxUnreadWhileClosing: 3000, maxLingerBytes: 4000 },
      timeouts: { linger: null, handshake: 5000 },
    },
    { host: 'h', port: 80, resource: '/', secure: false, subprotocols: [], headers: [] },
  );
  assert.deepEqual(tuned.driverBounds, {
    maxMessageSize: 1000,
    outputHighWater: 2000,
    maxUnreadWhileClosing: 3000,
    maxLingerBytes: 4000,
    linger: 0,
    handshake: 5000,
  });
});

test('feedInPlace names where a binary message or piece of 1 KiB or more lies in the input when it arrived unmasked', () => {
  const { client, server } = pair({ streaming: true, limits: { maxFrameSize: 1 << 20, maxMessageSize: 1 << 20 } });
  const big = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  const small = new Uint8Array(1024).fill(5);
  // Server → client: unmasked. A whole small message, then a large one in
  // two reads: each part named by where it lies in the read it came in.
  const frames = Buffer.concat([server.sendBinary(small), server.sendBinary(big)]);
  const cut = 40_000;
  const first = client.feedInPlace(1, frames.subarray(0, cut));
  const second = client.feedInPlace(1, frames.subarray(cut));
  assert.deepEqual(first.events[0], { type: 'binary', at: 4, length: 1024 });
  const header = 4 + 1024 + 10; // small's frame, then a 64-bit extended length
  assert.deepEqual(first.events[1], { type: 'binaryFragment', at: header, length: cut - header, fin: false });
  assert.deepEqual(second.events, [{ type: 'binaryFragment', at: 0, length: frames.length - cut, fin: true }]);
  assert.deepEqual(frames.subarray(header, frames.length), Buffer.from(big));
  // Under 1 KiB: copied out, as by feed.
  const tiny = client.feedInPlace(1, server.sendBinary(Uint8Array.of(1, 2, 3)));
  assert.deepEqual(tiny.events, [{ type: 'binary', data: Uint8Array.of(1, 2, 3) }]);
  // Client → server: masked, so unmasked in wasm and copied out, a piece
  // per read, as `feed` gives them.
  const masked = client.sendBinary(big);
  const pieces = [cut, masked.length].flatMap((end, i) => server.feedInPlace(2, masked.subarray(i * cut, end)).events);
  assert.ok(pieces.length === 2 && pieces.every((e) => e.type === 'binaryFragment' && e.data instanceof Uint8Array));
  assert.deepEqual(Buffer.concat(pieces.map((e) => e.data)), Buffer.from(big));
  assert.deepEqual(pieces.map((e) => e.fin), pieces.map((_, i) => i === pieces.length - 1));
});
