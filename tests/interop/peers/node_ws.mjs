// Peer: Node `ws` (pinned in ../package.json), RFC 6455 with or without
// permessage-deflate (threshold 0: every message compressed), as a server
// (echo) or a client (the script). Usage and reports: ../README.md.
import { createRequire } from 'node:module';
import WebSocket, { WebSocketServer } from 'ws';
import { CLIENT_CLOSE_CODE, CLOSE_REASON, Inbox, Report, SERVER_CLOSE_CODE, emit, loadScript, parseArgs,
  stdinEnded } from './common.mjs';

const version = createRequire(import.meta.url)('ws/package.json').version;
const IMPL = `node-ws-${version}`;
const MAX = 64 * 1024 * 1024;
const args = parseArgs();
const { steps, pingEvery } = loadScript(args.script);
// --deflate-tuned: every parameter asked for, small windows (as our side).
const pmd = args.deflateTuned
  ? { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10,
    clientMaxWindowBits: 9 }
  : args.deflate ? { threshold: 0 } : false;

// Messages of these sizes go out in three fragments split inside UTF-8
// characters (bytes 7 and 33335 of the utf8 generator's 10-byte unit), with
// a ping between the first two: reassembly, incremental UTF-8 across
// fragments, and a control frame inside a message.
const FRAGMENTED = new Set([65536, 70000]);
function sendMessage(ws, data, isBinary, report, tag) {
  const bytes = Buffer.from(data);
  if (!FRAGMENTED.has(bytes.length)) {
    ws.send(data, { binary: isBinary });
    return;
  }
  ws.send(bytes.subarray(0, 7), { binary: isBinary, fin: false });
  ws.ping(pingPayload(tag));
  report.pings_sent += 1;
  ws.send(bytes.subarray(7, 33335), { binary: isBinary, fin: false });
  ws.send(bytes.subarray(33335), { binary: isBinary, fin: true });
}

// Pings carry their tag, the first one padded to the 125 bytes a control
// frame may hold; a pong counts only if it echoes a ping we sent.
const outstanding = new Set();
function pingPayload(tag) {
  const payload = outstanding.size === 0 && !pingPayload.used ? tag.padEnd(125, '.') : tag;
  pingPayload.used = true;
  outstanding.add(payload);
  return payload;
}

function trackPings(ws, report) {
  report.pings_received = 0;
  report.pongs_received = 0;
  ws.on('ping', () => { report.pings_received += 1; });
  ws.on('pong', (data) => {
    const payload = data.toString();
    if (outstanding.delete(payload)) report.pongs_received += 1;
    else report.errors.push(`pong with a payload we did not send: ${JSON.stringify(payload.slice(0, 40))}`);
  });
}

async function server() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd, maxPayload: MAX });
  await new Promise((resolve) => wss.on('listening', resolve));
  emit({ listening: wss.address().port });
  const done = new Promise((resolve) => {
    wss.on('connection', (ws) => {
      const report = new Report(IMPL, 'server', steps);
      report.protocol = 'rfc6455';
      report.deflate = ws.extensions.includes('permessage-deflate');
      report.extensions = ws.extensions;
      trackPings(ws, report);
      ws.on('message', (data, isBinary) => {
        const i = report.received.length;
        report.got(data, isBinary);
        if (pingEvery && i % pingEvery === 2) { ws.ping(pingPayload(`s${i}`)); report.pings_sent += 1; }
        sendMessage(ws, data, isBinary, report, `sf${i}`);
        if (args.closeAfter === i + 1) ws.close(SERVER_CLOSE_CODE, CLOSE_REASON);
      });
      ws.on('error', (e) => report.errors.push(`server: ${e.message}`));
      ws.on('close', (code, reason) => {
        report.close = { code, reason: reason.toString() };
        emit(report);
        resolve();
      });
    });
  });
  await Promise.race([done, stdinEnded()]);
  wss.close();
  process.exit(0);
}

async function client() {
  const report = new Report(IMPL, 'client', steps);
  const inbox = new Inbox();
  const ws = new WebSocket(args.url, { origin: args.origin, perMessageDeflate: pmd, maxPayload: MAX });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    report.close = { code, reason: reason.toString() };
    inbox.push({ closed: true });
    resolve();
  }));
  const opened = await new Promise((resolve) => {
    ws.on('open', () => resolve(true));
    ws.on('unexpected-response', (req, res) => {
      report.refused = { status: res.statusCode };
      if (args.expectStatus === undefined) report.errors.push(`connect: refused with ${res.statusCode}`);
      req.destroy();
      resolve(false);
    });
    ws.on('error', (e) => { report.errors.push(`client: ${e.message}`); resolve(false); });
  });
  if (!opened) { emit(report); process.exit(0); }
  if (args.expectStatus !== undefined) report.errors.push('connected, but the server was expected to refuse');
  report.protocol = 'rfc6455';
  report.deflate = ws.extensions.includes('permessage-deflate');
  report.extensions = ws.extensions;
  trackPings(ws, report);
  ws.on('message', (data, isBinary) => inbox.push({ data, isBinary }));
  for (let i = 0; i < steps.length; i++) {
    if (pingEvery && i % pingEvery === 1) { ws.ping(pingPayload(`c${i}`)); report.pings_sent += 1; }
    const step = steps[i];
    sendMessage(ws, step.binary ? step.payload : step.payload.toString('utf8'), step.binary, report, `cf${i}`);
    const m = await inbox.next();
    if (m.timeout || m.closed) { report.errors.push(`no echo for message ${i} (${m.timeout ? 'timeout' : 'closed'})`); break; }
    report.got(m.data, m.isBinary);
  }
  if (args.closer === 'client') ws.close(CLIENT_CLOSE_CODE, CLOSE_REASON);
  await Promise.race([closed, new Promise((r) => setTimeout(r, 30000))]);
  if (!report.close) report.errors.push('the connection did not close within 30 s');
  emit(report);
  process.exit(0);
}

await (args.mode === 'server' ? server() : client());
