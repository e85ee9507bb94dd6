// Peer: Node `websocket-driver` (pinned in ../package.json). Its server
// speaks draft-76 ('old' framing; it has no 'new') and RFC 6455; its client
// RFC 6455. It has no permessage-deflate of its own. Usage and reports:
// ../README.md.
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import { CLIENT_CLOSE_CODE, CLOSE_REASON, Inbox, Report, SERVER_CLOSE_CODE, emit, loadScript, parseArgs,
  stdinEnded } from './common.mjs';

const require = createRequire(import.meta.url);
const websocket = require('websocket-driver');
const IMPL = `node-websocket-driver-${require('websocket-driver/package.json').version}`;
const MAX = 64 * 1024 * 1024;
const args = parseArgs();
const { steps, pingEvery } = loadScript(args.script);

function protocolOf(driver) {
  if (driver.version === 'hixie-76') return 'draft76-old';
  if (driver.version.startsWith('hybi-')) return 'rfc6455';
  return driver.version;
}

async function server() {
  if (args.framing === 'new') throw new Error("websocket-driver has no 'new' framing");
  const srv = http.createServer((req, res) => { res.writeHead(404); res.end(); });
  const done = new Promise((resolve) => {
    srv.on('upgrade', (request, socket, body) => {
      const report = new Report(IMPL, 'server', steps);
      const driver = websocket.http(request, { maxLength: MAX, allowDrafts: true });
      report.protocol = protocolOf(driver);
      report.deflate = false;
      const hybi = report.protocol === 'rfc6455';
      if (hybi) { report.pings_received = 0; report.pongs_received = 0; }
      driver.io.write(body);
      socket.pipe(driver.io).pipe(socket);
      driver.on('ping', () => { report.pings_received += 1; });
      driver.on('error', (e) => report.errors.push(`server: ${e.message}`));
      driver.on('message', (event) => {
        const i = report.received.length;
        const isBinary = typeof event.data !== 'string';
        report.got(event.data, isBinary);
        if (hybi && pingEvery && i % pingEvery === 2) {
          driver.ping(`s${i}`, () => { report.pongs_received += 1; });
          report.pings_sent += 1;
        }
        if (isBinary) driver.binary(event.data); else driver.text(event.data);
        if (args.closeAfter === i + 1) driver.close(CLOSE_REASON, SERVER_CLOSE_CODE);
      });
      let reported = false;
      const finish = () => {
        if (reported) return;
        reported = true;
        emit(report);
        resolve();
      };
      driver.on('close', (event) => {
        // Draft-76 closes carry no code; the driver reports null for both.
        report.close = hybi ? { code: event.code, reason: event.reason } : { code: null, reason: '' };
        // Draft-76: the driver answered the close (or sent ours) and is
        // done; end the TCP connection as the draft says a server does.
        setTimeout(() => socket.end(), 10);
      });
      socket.on('close', finish);
      socket.on('error', (e) => { if (!report.close) report.errors.push(`socket: ${e.message}`); });
      driver.start();
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  emit({ listening: srv.address().port });
  await Promise.race([done, stdinEnded()]);
  process.exit(0);
}

async function client() {
  const report = new Report(IMPL, 'client', steps);
  const inbox = new Inbox();
  const url = new URL(args.url);
  const driver = websocket.client(args.url, { maxLength: MAX });
  driver.setHeader('Origin', args.origin);
  const tcp = net.connect(Number(url.port), url.hostname);
  tcp.pipe(driver.io).pipe(tcp);
  report.pings_received = 0;
  report.pongs_received = 0;
  driver.on('ping', () => { report.pings_received += 1; });
  const closed = new Promise((resolve) => driver.on('close', (event) => {
    if (driver.statusCode === 101 || driver.statusCode === undefined) report.close = { code: event.code, reason: event.reason };
    inbox.push({ closed: true });
    resolve();
  }));
  const opened = await new Promise((resolve) => {
    driver.on('open', () => resolve(true));
    driver.on('error', (e) => {
      if (driver.statusCode && driver.statusCode !== 101) {
        report.refused = { status: driver.statusCode };
        if (args.expectStatus === undefined) report.errors.push(`connect: refused with ${driver.statusCode}`);
      } else {
        report.errors.push(`client: ${e.message}`);
      }
      resolve(false);
    });
    tcp.on('connect', () => driver.start());
    tcp.on('error', (e) => { report.errors.push(`tcp: ${e.message}`); resolve(false); });
  });
  if (!opened) { emit(report); process.exit(0); }
  if (args.expectStatus !== undefined) report.errors.push('connected, but the server was expected to refuse');
  report.protocol = 'rfc6455';
  report.deflate = false;
  driver.on('message', (event) => inbox.push({ data: event.data, isBinary: typeof event.data !== 'string' }));
  for (let i = 0; i < steps.length; i++) {
    if (pingEvery && i % pingEvery === 1) {
      driver.ping(`c${i}`, () => { report.pongs_received += 1; });
      report.pings_sent += 1;
    }
    const step = steps[i];
    if (step.binary) driver.binary(step.payload); else driver.text(step.payload.toString('utf8'));
    const m = await inbox.next();
    if (m.timeout || m.closed) { report.errors.push(`no echo for message ${i} (${m.timeout ? 'timeout' : 'closed'})`); break; }
    report.got(m.data, m.isBinary);
  }
  if (args.closer === 'client') driver.close(CLOSE_REASON, CLIENT_CLOSE_CODE);
  await Promise.race([closed, new Promise((r) => setTimeout(r, 30000))]);
  if (!report.close) report.errors.push('the connection did not close within 30 s');
  tcp.end();
  emit(report);
  process.exit(0);
}

await (args.mode === 'server' ? server() : client());
