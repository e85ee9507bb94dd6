// Peer: Debian's Chromium, headless, driven by playwright-core (pinned in
// ../package.json): the browser's own WebSocket (RFC 6455; it always
// offers permessage-deflate) as a client running the script. Client only:
// a browser cannot be a WebSocket server.
//
// The page comes from a small HTTP server of our own on 127.0.0.1 port 0,
// so the WebSocket goes from a loopback origin to a loopback server
// (Chromium blocks a public origin from reaching loopback: Private/Local
// Network Access) and carries a real Origin header,
// `http://127.0.0.1:PORT`. The browser's JavaScript cannot send pings nor
// see a refused handshake's status; the status is read from the DevTools
// protocol instead (and from the console message Chromium prints). Usage and
// reports: ../README.md.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CLIENT_CLOSE_CODE, CLOSE_REASON, emit, parseArgs } from './common.mjs';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const PW = require('playwright-core/package.json').version;
const args = parseArgs();
const script = JSON.parse(readFileSync(args.script, 'utf8'));
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Runs inside the page. The generators are the suite's (common.mjs), on
// Uint8Array instead of Buffer.
async function inPage({ url, script, closer, clientCode, reason }) {
  function generate(gen, len) {
    const out = new Uint8Array(len);
    if (gen === 'ascii') for (let i = 0; i < len; i++) out[i] = 0x20 + ((i * 7 + len) % 95);
    else if (gen === 'utf8') {
      const unit = new TextEncoder().encode('aé€𝄞');
      let n = 0;
      while (n + unit.length <= len) { out.set(unit, n); n += unit.length; }
      out.fill(0x61, n);
    } else if (gen === 'bytes') for (let i = 0; i < len; i++) out[i] = (i * 31 + len * 7 + 11) & 0xff;
    return out;
  }
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const report = { impl: `chromium-${navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1]}`, role: 'client',
    protocol: 'rfc6455', deflate: null, extensions: null, received: [], pings_sent: 0, pongs_received: null,
    pings_received: null, close: null, errors: [] };
  const steps = script.messages.map((m) => ({ binary: m.type === 'binary', payload: generate(m.gen, m.len),
    label: `${m.type}/${m.gen}/${m.len}` }));
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let waiter = null;
  const push = (item) => { if (waiter) { const w = waiter; waiter = null; w(item); } else inbox.push(item); };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve) => {
    const t = setTimeout(() => { waiter = null; resolve({ timeout: true }); }, 30000);
    waiter = (item) => { clearTimeout(t); resolve(item); };
  });
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => { report.close = { code: e.code, reason: e.reason, wasClean: e.wasClean }; push({ closed: true }); resolve(); };
  });
  ws.onmessage = (e) => push({ data: e.data });
  const opened = await new Promise((resolve) => { ws.onopen = () => resolve(true); ws.onerror = () => resolve(false); });
  if (!opened) { report.errors.push('the connection did not open'); await closed; return report; }
  report.extensions = ws.extensions;
  report.deflate = ws.extensions.includes('permessage-deflate');
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    ws.send(step.binary ? step.payload : new TextDecoder().decode(step.payload));
    const m = await next();
    if (m.timeout || m.closed) { report.errors.push(`no echo for message ${i} (${m.timeout ? 'timeout' : 'closed'})`); break; }
    const isBinary = typeof m.data !== 'string';
    const raw = isBinary ? new Uint8Array(m.data) : new TextEncoder().encode(m.data);
    const ok = step.binary === isBinary && equal(raw, step.payload);
    if (!ok) report.errors.push(`message ${i}: got ${isBinary ? 'binary' : 'text'} of ${raw.length} bytes, expected ${step.label}`);
    report.received.push({ type: isBinary ? 'binary' : 'text', len: raw.length, ok });
  }
  if (closer === 'client') ws.close(clientCode, reason);
  await Promise.race([closed, new Promise((r) => setTimeout(r, 30000))]);
  if (!report.close) report.errors.push('the connection did not close within 30 s');
  else if (!report.close.wasClean) report.errors.push(`unclean close ${JSON.stringify(report.close)}`);
  return report;
}

async function client() {
  const profile = mkdtempSync(join(tmpdir(), 'hybi-interop-chromium-'));
  let context;
  let report;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
    const page = context.pages()[0] || await context.newPage();
    const pages = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>hybi interop</title>');
    });
    await new Promise((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${pages.address().port}`;
    // Refused handshakes: the status from DevTools and from the console.
    const statuses = [];
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => statuses.push(e.response.status));
    page.on('console', (m) => {
      const found = m.text().match(/Unexpected response code: (\d{3})/);
      if (found) statuses.push(Number(found[1]));
    });
    await page.goto(`${origin}/`);
    report = await page.evaluate(inPage, { url: args.url, script, closer: args.closer, clientCode: CLIENT_CLOSE_CODE,
      reason: CLOSE_REASON });
    // The user agent's version is reduced (156.0.0.0); DevTools has the real one.
    const product = (await cdp.send('Browser.getVersion')).product;
    report.impl = `chromium-${product.split('/')[1]}-playwright-${PW}`;
    report.origin = origin;
    pages.close();
    if (args.expectStatus !== undefined) {
      await new Promise((r) => setTimeout(r, 200));
      report.refused = { status: statuses.find((s) => s !== 101) ?? null, statuses };
      // Not opening is what a refusal looks like from JavaScript.
      report.errors = report.errors.filter((e) => e !== 'the connection did not open' && !e.startsWith('unclean close'));
      if (report.deflate !== null) report.errors.push('connected, but the server was expected to refuse');
    }
  } catch (e) {
    report = { impl: 'chromium', role: 'client', errors: [`browser: ${e.message}`] };
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  emit(report);
}

if (args.mode !== 'client') {
  emit({ impl: 'chromium', errors: ['a browser is a client only'] });
  process.exit(1);
}
await client();
process.exit(0);
