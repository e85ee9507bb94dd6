// A draft-76 server with the default framing ('auto') tells 'old' from
// 'new' by the client's first bytes; `conn.framing` says 'auto' until then
// and the framing decided after.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, serve } from '../index.js';

for (const framing of ['old', 'new']) {
  test(`a default server reads a draft-76 '${framing}' client and says so once it knows`, async () => {
    const seen = [];
    const server = await serve(
      async (conn) => {
        seen.push(conn.framing);
        for await (const message of conn) {
          seen.push(conn.framing);
          await conn.send(message);
        }
      },
      { port: 0, listenIp: '127.0.0.1' },
    );
    try {
      const conn = await connect(`ws://127.0.0.1:${server.address().port}/`, { protocol: 'draft76', framing });
      await conn.send('first');
      assert.equal(await conn.recv(), 'first');
      await conn.close();
      assert.deepEqual(seen, ['auto', framing]);
    } finally {
      await server.close();
    }
  });
}
