// Code that must NOT type-check against index.d.ts: each line after a
// `@ts-expect-error` is an error tsc --strict must find (test/types.test.js
// fails if one is not).
import { type Connection, WebSocket, serve } from 'hybi';

const handler = async (conn: Connection, state: { user: string }) => {
  await conn.send(state.user);
};

export async function errors(): Promise<void> {
  // The serve<S> state hole: with state typed, connHeaders must give it.
  // @ts-expect-error connHeaders returns no state
  await serve(handler, { port: 0, connHeaders: () => ({ headers: { 'X-A': 'b' } }) });
  // @ts-expect-error connHeaders returns nothing at all
  await serve(handler, { port: 0, connHeaders: () => {} });
  // @ts-expect-error no connHeaders: the handler would get undefined
  await serve(handler, { port: 0 });
  // @ts-expect-error the state is of the wrong type
  await serve(handler, { port: 0, connHeaders: () => ({ state: { user: 1 } }) });
  // @ts-expect-error no options at all
  await serve(handler);
  // Refusing is always fine; an async hook too.
  await serve(handler, { port: 0, connHeaders: async () => 403 });

  const ws = new WebSocket('ws://127.0.0.1/');
  // @ts-expect-error binaryType 'fragments' is ws's, not hybi's
  ws.binaryType = 'fragments';
  // @ts-expect-error a symbol is not a message
  ws.send(Symbol('x'));
}
