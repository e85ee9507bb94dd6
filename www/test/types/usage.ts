// Code that must type-check against index.d.ts (tsc --strict, test/types.test.js).
import http from 'node:http';

import WebSocketDefault, {
  type Connection,
  type Message,
  WebSocket,
  WebSocketServer,
  connect,
  headerValue,
  serve,
} from 'hybi';

export async function usage(): Promise<void> {
  // The seed's API: a handler with typed state from connHeaders.
  const server = await serve(
    async (conn: Connection, state: { user: string }) => {
      for await (const message of conn) await conn.send(`${state.user}: ${String(message)}`);
    },
    { port: 0, connHeaders: (line, headers) => ({ state: { user: headerValue(headers, 'X-User') ?? line } }) },
  );
  // No state: connHeaders may return nothing, or be left out.
  await serve(async (conn) => conn.close(), { port: 0, connHeaders: () => {} });
  await serve(async (conn) => conn.close(), { port: 0 });
  await serve(async (conn) => conn.close());
  // ws-style: events.
  const attached = await serve({ server: http.createServer(), path: '/ws' });
  attached.on('connection', (conn, request) => {
    conn.on('message', (data: Message, isBinary: boolean) => {
      for (const client of attached.clients) if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
    conn.on('close', (code: number, reason: string) => void [code, reason, request]);
  });
  const noServer = new WebSocketServer({ noServer: true });
  http.createServer().on('upgrade', (request, socket, head) => {
    noServer.handleUpgrade(request, socket, head, (conn) => noServer.emit('connection', conn, request));
  });
  const conn = await connect('ws://127.0.0.1/', { binaryType: 'arraybuffer' });
  await conn.send(new Float32Array(2));
  await conn.send(42);
  conn.terminate();
  const ws = new WebSocketDefault('ws://127.0.0.1/', ['chat'], { protocol: 'draft76' });
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event) => void event.data;
  ws.onclose = (event) => void [event.code, event.reason, event.wasClean];
  ws.addEventListener('message', { handleEvent: (event) => void event.data }, { once: true });
  ws.on('unexpected-response', (response) => void response.status);
  ws.close(1000, 'bye');
  await server.close();
}
