// hybi for Node: WebSocket clients and servers over `net` and `tls`, speaking
// the 2010 draft-76 handshake with both of Racket's framings ('old' and
// 'new') and RFC 6455 with permessage-deflate. Every protocol decision is
// made by hybi-core, compiled to WebAssembly; this package moves bytes,
// time and randomness.
//
// The API is Racket's net/websocket (the seed) in JS form: `connect` is
// `ws-connect`, `serve` is `ws-serve`, and a connection has `send`,
// `recv` and `close` (`ws-send!`, `ws-recv`, `ws-close!`), with `null` for
// the seed's eof.

export { connect } from './lib/client.js';
export { Connection } from './lib/connection.js';
export { serve, Server, WebSocketServer } from './lib/server.js';
export { CloseEvent, WebSocket } from './lib/websocket.js';
export { WebSocket as default } from './lib/websocket.js';
export { HybiError, headerValue } from './lib/util.js';
/** The core's state machine itself, for drivers of other transports. */
export { Machine } from './lib/wasm.js';
