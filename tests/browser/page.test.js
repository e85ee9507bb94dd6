// The page `hybi serve` answers, as a person uses it, in a real browser:
// Debian's Chromium driven by playwright-core. Starts `hybi serve --port 0`,
// opens the page, talks to the server through the console with the
// browser's own WebSocket, decodes known byte sequences of every framing in
// the inspector (the core compiled to wasm), sees the inspector arrive in a
// page opened while its wasm was being built, and saves a screenshot to
// target/browser/page.png.
//
// Run through ../../scripts/test-browser, which builds everything first.
// Environment: HYBI_BIN (default target/release/hybi), CHROMIUM (default
// /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const hybiBin = process.env.HYBI_BIN ?? join(root, 'target', 'release', 'hybi');
const chromiumBin = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = join(root, 'target', 'browser');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let server;
let address;
let context;
let page;
let userDataDir;
const problems = [];
const serverLog = [];

/** Starts `hybi serve --port 0` and resolves with the address it prints. */
function startServer(args = []) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(hybiBin, ['serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error(`no "listening on" from ${hybiBin} in 10 s`)), 10_000);
    let buffered = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      serverLog.push(chunk);
      buffered += chunk;
      // The whole address: a chunk may end inside it ("listening on 127"
      // once made the page load http://0.0.0.127/ under load).
      const match = /^listening on (\S+)\s/m.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, address: match[1] });
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hybi serve exited with ${code}: ${serverLog.join('')}`));
    });
  });
}

before(async () => {
  ({ child: server, address } = await startServer());
  userDataDir = mkdtempSync(join(tmpdir(), 'hybi-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumBin,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  const response = await page.goto(`http://${address}/`);
  assert.equal(response.status(), 200);
  await page.waitForSelector('body[data-inspector]', { timeout: 15_000 });
});

after(async () => {
  await context?.close();
  server?.removeAllListeners('exit');
  server?.kill('SIGTERM');
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test('the page loads with its inspector and no errors', async () => {
  assert.equal(await page.title(), 'hybi: WebSocket console and frame inspector');
  assert.equal(await page.getAttribute('body', 'data-inspector'), 'ready',
    await page.textContent('#inspector-status'));
  assert.equal(await page.inputValue('#url'), `ws://${address}/`);
  // Every visible form control has a label a screen reader can read.
  const unlabelled = await page.$$eval('input, select, textarea, button', (controls) => controls
    .filter((c) => c.type !== 'hidden')
    .filter((c) => !(c.labels?.length || c.getAttribute('aria-label') || (c.tagName === 'BUTTON' && c.textContent.trim())))
    .map((c) => c.outerHTML));
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.getAttribute('#log', 'aria-live'), 'polite');
  assert.deepEqual(problems, []);
});

/** The text of the log's rows, as `direction type size content`. */
async function logRows() {
  return page.$$eval('#log tr', (rows) => rows.map((row) => Array.from(row.cells).slice(1).map((c) => c.textContent).join(' | ')));
}

test('the console connects, echoes text and binary, and closes with a code', async () => {
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Connected'));
  assert.match(await page.textContent('#status'), /subprotocol: none/);

  // Text, sent from the keyboard (Ctrl+Enter in the message box).
  await page.fill('#message', 'hello, hybi');
  await page.focus('#message');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#log tr.entry-received');
  let rows = await logRows();
  assert.ok(rows.includes('→ sent | text | 11 bytes | hello, hybi'), rows.join('\n'));
  assert.ok(rows.includes('← received | text | 11 bytes | hello, hybi'), rows.join('\n'));

  // Binary, typed as hex.
  await page.check('input[name="send-type"][value="binary"]');
  await page.fill('#message', 'de ad be ef 00');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('#log tr.entry-received').length === 2);
  rows = await logRows();
  assert.ok(rows.includes('← received | binary | 5 bytes | de ad be ef 00'), rows.join('\n'));

  // Every row has a time.
  const times = await page.$$eval('#log td.time', (cells) => cells.map((c) => c.textContent));
  assert.ok(times.every((t) => /^\d\d:\d\d:\d\d\.\d{3}$/.test(t)), times.join(', '));

  // Close with a code: the server answers with the same code.
  await page.fill('#close-code', '4000');
  await page.fill('#close-reason', 'bye');
  await page.click('#close');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Closed'));
  assert.equal(await page.textContent('#status'), 'Closed: code 4000, no reason, clean.');
  rows = await logRows();
  assert.ok(rows.includes('• event | close |  | code 4000, no reason, clean'), rows.join('\n'));
  assert.equal(await page.isDisabled('#send'), true);
  assert.equal(await page.isDisabled('#connect'), false);
});

/** Decodes `hex` with the inspector's form and returns the summary and the frames' fields. */
async function decode(hex, protocol, sender, deflate = false) {
  await page.selectOption('#protocol', protocol);
  await page.check(`input[name="sender"][value="${sender}"]`);
  if (protocol === 'rfc6455') await page.setChecked('#deflate', deflate);
  await page.fill('#bytes', hex);
  await page.click('#decode');
  const summary = await page.textContent('#inspect-summary');
  const frames = await page.$$eval('#frames article', (articles) => articles.map((article) => {
    const fields = {};
    const terms = article.querySelectorAll('dt');
    for (const dt of terms) fields[dt.textContent] = dt.nextElementSibling.textContent;
    return { title: article.querySelector('h4').textContent, fields };
  }));
  return { summary, frames };
}

test('the inspector decodes RFC 6455 (§5.7) frames field by field', async () => {
  const { summary, frames } = await decode('81 85 37 fa 21 3d 7f 9f 4d 51 58', 'rfc6455', 'client');
  assert.equal(summary, '11 bytes, 1 frame: complete.');
  assert.equal(frames.length, 1);
  assert.equal(frames[0].title, 'Frame 1: text, bytes 0–10');
  assert.deepEqual(frames[0].fields, {
    FIN: '1',
    RSV1: '0',
    RSV2: '0',
    RSV3: '0',
    Opcode: '0x1 (text)',
    Mask: 'yes, key 37 fa 21 3d',
    'Payload length': '5',
    'Payload (unmasked)': '48 65 6c 6c 6f\n"Hello"',
    Delivered: 'text message, 5 bytes: "Hello"',
  });

  // Fragments: the message is delivered with its last frame.
  const fragmented = await decode('01 03 48 65 6c 80 02 6c 6f', 'rfc6455', 'server');
  assert.equal(fragmented.summary, '9 bytes, 2 frames: complete.');
  assert.equal(fragmented.frames[0].fields.Delivered, 'nothing yet (the message continues)');
  assert.equal(fragmented.frames[1].fields.Opcode, '0x0 (continuation)');
  assert.equal(fragmented.frames[1].fields.Delivered, 'text message, 5 bytes: "Hello"');

  // permessage-deflate (RFC 7692 §7.2.3.1): inflated on delivery.
  const compressed = await decode('c1 07 f2 48 cd c9 c9 07 00', 'rfc6455', 'server', true);
  assert.equal(compressed.frames[0].fields.RSV1, '1');
  assert.equal(compressed.frames[0].fields.Delivered, 'text message, 5 bytes: "Hello"');
});

test('the inspector shows the exact protocol error and its offset', async () => {
  const { summary, frames } = await decode('81 05 48 65 6c 6c 6f', 'rfc6455', 'client');
  assert.equal(summary, '7 bytes, 1 frame: protocol violation: client frame is not masked (at byte 1).');
  assert.equal(frames[0].title, 'Frame 1: text, bytes 0–6 (partial)');
  assert.equal(await page.getAttribute('#hexview .b-error', 'title'),
    'byte 1: protocol violation: client frame is not masked (at byte 1)');

  const utf8 = await decode('81 04 61 62 ff 63', 'rfc6455', 'server');
  assert.equal(utf8.summary, '6 bytes, 1 frame: protocol violation: text is not valid UTF-8 (at byte 4).');

  const short = await decode('82 7e 01 00 de ad', 'rfc6455', 'server');
  assert.equal(short.summary, '6 bytes, 1 frame: incomplete (needs 254 more bytes).');
});

test('the inspector reads hex dumps and dropped or chosen files', async () => {
  const dump = await decode('00000000: 8185 37fa 213d 7f9f 4d51 58  ..7.!=..MQX', 'rfc6455', 'client');
  assert.equal(dump.summary, '11 bytes, 1 frame: complete.');
  assert.equal(dump.frames[0].fields.Delivered, 'text message, 5 bytes: "Hello"');

  // A capture file of raw bytes, through the file chooser.
  await page.selectOption('#protocol', 'old');
  await page.setInputFiles('#file', {
    name: 'capture.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from([0x00, 0x6f, 0x6b, 0xff, 0xff, 0x00]),
  });
  await page.waitForFunction(() => document.getElementById('inspect-summary').textContent.startsWith('6 bytes'));
  assert.equal(await page.textContent('#inspect-summary'), '6 bytes, 2 frames: complete.');
  assert.equal(await page.inputValue('#bytes'), '00 6f 6b ff ff 00');

  const bad = await decode('81 0g', 'rfc6455', 'server');
  assert.equal(bad.summary, 'Cannot read the bytes: not hex: "g" at character 5.');
});

test("the inspector decodes draft-76 'old' and 'new' sequences", async () => {
  const old = await decode('00 48 69 ff 80 02 01 02 ff 00', 'old', 'client');
  assert.equal(old.summary, '10 bytes, 3 frames: complete.');
  assert.deepEqual(old.frames.map((f) => f.title), [
    'Frame 1: text, bytes 0–3',
    'Frame 2: discarded, bytes 4–7',
    'Frame 3: close, bytes 8–9',
  ]);
  assert.deepEqual(old.frames[0].fields, {
    'Type byte': '0x00 (text)',
    Length: 'none: runs to the 0xff sentinel',
    Payload: '48 69\n"Hi"',
    Delivered: 'text message, 2 bytes: "Hi"',
  });
  assert.equal(old.frames[1].fields.Length, '2');
  assert.equal(old.frames[2].fields.Delivered, 'close, no code');

  const fresh = await decode('ff 00 00 00 00 00 00 00 02 48 69 00 00 00 00 00 00 00 00 00', 'new', 'server');
  assert.equal(fresh.summary, '20 bytes, 2 frames: complete.');
  assert.deepEqual(fresh.frames[0].fields, {
    'Type byte': '0xff (text)',
    Length: '2',
    Payload: '48 69\n"Hi"',
    Delivered: 'text message, 2 bytes: "Hi"',
  });
  assert.equal(fresh.frames[1].title, 'Frame 2: close, bytes 11–19');
});

test('the encoder shows the bytes of each framing', async () => {
  await page.selectOption('#encode-type', 'text');
  await page.fill('#encode-data', 'Hello');
  await page.fill('#encode-mask', '37 fa 21 3d');
  await page.click('#encode');
  const rows = await page.$$eval('#encoded tr', (trs) => trs.map((tr) => Array.from(tr.cells).slice(0, 3).map((c) => c.textContent).join(' | ')));
  assert.deepEqual(rows.slice(0, 4), [
    "draft-76 'old' | either | 00 48 65 6c 6c 6f ff",
    "draft-76 'new' | either | ff 00 00 00 00 00 00 00 05 48 65 6c 6c 6f",
    'RFC 6455 | client | 81 85 37 fa 21 3d 7f 9f 4d 51 58',
    'RFC 6455 | server | 81 05 48 65 6c 6c 6f',
  ]);
  assert.equal(rows[5], 'RFC 6455 + permessage-deflate | server | c1 07 f2 48 cd c9 c9 07 00');

  // Binary: draft-76 cannot carry it, and says so.
  await page.selectOption('#encode-type', 'binary');
  await page.fill('#encode-data', '01 02');
  const refused = await page.textContent('#encoded tr:first-child td.refused');
  assert.equal(refused, 'refused: this protocol cannot carry binary messages');

  // "Inspect" takes a row's bytes to the decoder.
  await page.selectOption('#encode-type', 'text');
  await page.fill('#encode-data', 'Hello');
  await page.click('#encoded tr:nth-child(3) button');
  assert.equal(await page.textContent('#inspect-summary'), '11 bytes, 1 frame: complete.');
});

test('the inspector is picked up when its wasm appears, without a reload', async () => {
  // A server whose inspector is being built (as ./scripts/serve starts it):
  // what build-page leaves while it runs, with a live PID (ours).
  const dir = mkdtempSync(join(tmpdir(), 'hybi-inspector-'));
  writeFileSync(join(dir, '.build-status'), `building ${process.pid}\nbuilding hybi-wasm for wasm32-unknown-unknown.\n`);
  const { child, address: building } = await startServer(['--inspector-dir', dir]);
  const tab = await context.newPage();
  try {
    await tab.goto(`http://${building}/`);
    await tab.waitForSelector('body[data-inspector="building"]', { timeout: 15_000 });
    assert.match(await tab.textContent('#inspector-status'), /is being built: building hybi-wasm .*picks it up/);
    assert.equal(await tab.isDisabled('#decode'), true);
    // The build ends: its output appears, each file whole.
    for (const name of ['hybi_wasm.js', 'hybi_wasm_bg.wasm']) {
      copyFileSync(join(root, 'www', 'page', 'pkg', name), join(dir, `.${name}`));
      renameSync(join(dir, `.${name}`), join(dir, name));
    }
    await tab.waitForSelector('body[data-inspector="ready"]', { timeout: 15_000 });
    assert.equal(await tab.textContent('#inspector-status'), '');
    assert.equal(await tab.isDisabled('#decode'), false);
  } finally {
    await tab.close();
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('screenshot', async () => {
  // Something in every part of the page for the picture.
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Connected'));
  await page.check('input[name="send-type"][value="text"]');
  await page.fill('#message', 'hello again');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('#log tr.entry-received').length >= 3);
  await page.selectOption('#example', { label: "RFC 6455 §5.7: text in two fragments (server)" });
  await page.waitForFunction(() => document.querySelectorAll('#frames article').length === 2);
  mkdirSync(shots, { recursive: true });
  const path = join(shots, 'page.png');
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  assert.deepEqual(problems, []);
});
