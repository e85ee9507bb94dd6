// Telling a client that its server may speak the other protocol
// (docs/PROTOCOLS.md §5.1).
//
// This mirrors `hybi_core::handshake::mismatch::suggested_protocol`, the
// rule the native driver and the CLI use, rule for rule. It is written
// again here, against the house rule that protocol decisions live in the
// core, because the .wasm has no room for it: compiled in, it took the
// package past the 200 KiB test/size.test.js holds it to (by about 700
// bytes). test/errors.test.js checks each rule against real servers; keep
// the two in step.

/** `connect()`'s option for each suggestion, as the message names it. */
const hints = {
  rfc6455: '; the server may speak only RFC 6455: connect with { protocol: "rfc6455" }',
  draft76: '; the server may speak only draft-76: connect with { protocol: "draft76" } (framing "old", or "new")',
};

/**
 * The protocol (`"rfc6455"` or `"draft76"`) a client that `asked` for one
 * should try after its handshake failed with `error` (a HybiError), given
 * the server's `response` head (`{ status, headers }`, or undefined).
 */
export function suggestedProtocol(asked, error, response) {
  if (response === undefined || response === null) return undefined;
  const has = (name) => response.headers.some(([header]) => header.toLowerCase() === name);
  const accept = has('sec-websocket-accept');
  const draft76Answer = has('sec-websocket-location') || has('sec-websocket-origin');
  const upgraded = response.status === 101;
  if (asked === 'draft76') {
    if (error.kind === 'rejected' && (error.status === 400 || error.status === 426)) return 'rfc6455';
    if (error.kind === 'handshake' && upgraded && accept) return 'rfc6455';
  } else {
    if (error.kind === 'rejected' && error.status >= 400 && error.status <= 499) return 'draft76';
    if (error.kind === 'handshake' && upgraded && !accept && draft76Answer) return 'draft76';
  }
  return undefined;
}

/**
 * Adds `suggestedProtocol` and `response` to a client's handshake error
 * when the failure suggests the other protocol, and names the option in
 * its message.
 */
export function withProtocolHint(error, asked, response) {
  const suggested = suggestedProtocol(asked, error, response);
  if (suggested !== undefined) {
    error.suggestedProtocol = suggested;
    error.message += hints[suggested];
    if (error.response === undefined) error.response = response;
  }
  return error;
}
