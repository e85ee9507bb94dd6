// The echo server of bench/echo.js, in a process of its own (one core for
// the server, one for the client). Usage: node bench/server.js
// ws|hybi|hybi-iterate [deflate [LEVEL]]: `hybi` is written as the ws server
// is (a 'message' listener sending each echo, not awaited), `hybi-iterate`
// with `for await` and `await conn.send`; `deflate` turns permessage-deflate
// on (each library's defaults, or hybi's `compressionLevel` LEVEL). Prints
// the port, echoes every message until killed. Each line on stdin is
// answered with the process's CPU time so far (µs, user + system), so the
// client can count what the server spent.

import { WebSocketServer } from 'ws';

import { serve } from '../index.js';

const impl = process.argv[2];
const deflate = process.argv[3] === 'deflate';
const level = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
if (impl === 'ws') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate, maxPayload: 64 << 20 });
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  wss.on('listening', () => console.log(wss.address().port));
} else if (impl === 'hybi' || impl === 'hybi-iterate') {
  const ignore = () => {};
  const server = await serve(
    impl === 'hybi'
      ? (conn) =>
          new Promise((resolve) => {
            conn.on('message', (data) => conn.send(data).catch(ignore));
            conn.on('close', resolve);
          })
      : async (conn) => {
          for await (const message of conn) await conn.send(message);
        },
    {
      port: 0,
      listenIp: '127.0.0.1',
      maxWaiting: 128,
      compression: deflate && level !== undefined ? { compressionLevel: level } : deflate,
      limits: { maxMessageSize: 64 << 20, maxFrameSize: 64 << 20 },
    },
  );
  console.log(server.address().port);
} else {
  throw new Error(`usage: node bench/server.js ws|hybi|hybi-iterate (got ${impl})`);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', () => {
  const { user, system } = process.cpuUsage();
  console.log(user + system);
});
// Exit normally on kill, so that `node --cpu-prof bench/server.js` writes
// its profile.
process.on('SIGTERM', () => process.exit(0));
