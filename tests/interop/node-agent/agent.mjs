// The Node driver's side of the interop suite: the same echo server and
// scripted client as agent/src/main.rs, on the public API of the npm
// package in www/ (`connect`, `serve`, conn.send/recv/ping/close), as an
// application would use it. Same command line and report format (see
// ../README.md).
//
// The package's wasm (www/pkg/) must be built first (scripts/test-interop
// does it); importing it fails the cell otherwise, loudly.
import { CLIENT_CLOSE_CODE, CLOSE_REASON, Report, SERVER_CLOSE_CODE, emit, loadScript, parseArgs, stdinEnded }
  from '../peers/common.mjs';

const args = parseArgs();
const { steps, pingEvery } = loadScript(args.script);
let hybi;
try {
  hybi = await import('../../../www/index.js');
} catch (e) {
  emit({ impl: 'hybi-node', role: args.mode, errors: [`cannot load www/index.js (the Node package): ${e.message}`] });
  process.exit(1);
}
const { connect, serve, headerValue } = hybi;
const IMPL = 'hybi-node';
// --deflate-tuned: as agent/src/main.rs, every parameter with small windows.
const TUNED = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10,
  clientMaxWindowBits: 9 };
const compression = args.deflateTuned ? TUNED : (args.deflate ? true : undefined);

/** The protocol spoken: at open, and again at the end for a server with framing 'auto'. */
function spoke(report, conn) {
  report.protocol = conn.protocol === 'rfc6455' ? 'rfc6455' : `draft76-${conn.framing}`;
}

function opened(report, conn) {
  spoke(report, conn);
  report.deflate = conn.deflate !== undefined && conn.deflate !== null;
  const d = conn.deflate;
  report.deflate_params = d ? { server_no_context_takeover: d.serverNoContextTakeover,
    client_no_context_takeover: d.clientNoContextTakeover, server_max_window_bits: d.serverMaxWindowBits,
    client_max_window_bits: d.clientMaxWindowBits } : null;
}

function closed(report, conn) {
  const status = conn.closeStatus;
  report.close = status ? { code: status.code ?? null, reason: status.reason ?? '' } : null;
}

const isBinary = (m) => typeof m !== 'string';

async function serveOne(conn, closeAfter) {
  const report = new Report(IMPL, 'server', steps);
  opened(report, conn);
  const rfc6455 = conn.protocol === 'rfc6455';
  try {
    for (;;) {
      const message = await conn.recv();
      if (message === null) break;
      const i = report.received.length;
      report.got(message, isBinary(message));
      if (rfc6455 && pingEvery && i % pingEvery === 2) {
        await conn.ping(new TextEncoder().encode(`s${i}`));
        report.pings_sent += 1;
      }
      await conn.send(message);
      if (closeAfter === i + 1) {
        await conn.close(rfc6455 ? SERVER_CLOSE_CODE : null, rfc6455 ? CLOSE_REASON : '');
        break;
      }
    }
  } catch (e) {
    report.errors.push(`server after ${report.received.length} messages: ${e.kind ?? ''} ${e.message}`);
  }
  spoke(report, conn);
  closed(report, conn);
  return report;
}

async function server() {
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const srv = await serve(async (conn) => {
    emit(await serveOne(conn, args.closeAfter));
    finish();
  }, {
    port: 0,
    listenIp: '127.0.0.1',
    framing: args.framing,
    compression,
    limits: { maxMessageSize: 16 * 1024 * 1024 },
    connHeaders: (line, headers) => {
      if (args.allowOrigin === undefined) return {};
      const origin = headerValue(headers, 'Origin');
      if (origin === args.allowOrigin) return {};
      emit({ refused: { origin: origin ?? null, status: 403 } });
      return { status: 403, body: 'origin not allowed\n' };
    },
    onError: (e) => process.stderr.write(`hybi-node server error: ${e.message}\n`),
  });
  emit({ listening: srv.address().port });
  await Promise.race([done, stdinEnded()]);
  await srv.close();
  process.exit(0);
}

async function client() {
  const report = new Report(IMPL, 'client', steps);
  const protocol = args.protocol === 'draft76' ? 'draft76' : 'rfc6455';
  let conn;
  try {
    conn = await connect(args.url, { protocol, framing: args.framing, compression,
      headers: [['Origin', args.origin]], limits: { maxMessageSize: 16 * 1024 * 1024 } });
  } catch (e) {
    report.refused = { status: e.status ?? null, kind: e.kind };
    if (args.expectStatus === undefined) report.errors.push(`connect: ${e.kind} ${e.message}`);
    emit(report);
    process.exit(0);
  }
  if (args.expectStatus !== undefined) report.errors.push('connected, but the server was expected to refuse');
  opened(report, conn);
  const rfc6455 = protocol === 'rfc6455';
  let ok = true;
  const withTimeout = (p) => Promise.race([p, new Promise((_, reject) =>
    setTimeout(() => reject(new Error('no message within 30 s')), 30000))]);
  try {
    for (let i = 0; i < steps.length; i++) {
      if (rfc6455 && pingEvery && i % pingEvery === 1) {
        await conn.ping(new TextEncoder().encode(`c${i}`));
        report.pings_sent += 1;
      }
      const step = steps[i];
      await conn.send(step.binary ? new Uint8Array(step.payload) : step.payload.toString('utf8'));
      const message = await withTimeout(conn.recv());
      if (message === null) { report.errors.push(`connection ended awaiting echo ${i}`); ok = false; break; }
      report.got(message, isBinary(message));
    }
    if (ok) {
      if (args.closer === 'client') {
        await conn.close(rfc6455 ? CLIENT_CLOSE_CODE : null, rfc6455 ? CLOSE_REASON : '');
      } else {
        // Anything before the close is recorded; the orchestrator decides.
        for (;;) {
          const message = await withTimeout(conn.recv());
          if (message === null) break;
          report.got(message, isBinary(message));
        }
      }
    }
  } catch (e) {
    report.errors.push(`client after ${report.received.length} echoes: ${e.kind ?? ''} ${e.message}`);
  }
  closed(report, conn);
  emit(report);
  process.exit(0);
}

await (args.mode === 'server' ? server() : client());
