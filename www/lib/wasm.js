// Loads the hybi-core state machine (hybi-wasm, built into ../pkg by
// `npm run build`) once, synchronously, when the package is imported: a
// module of a few hundred KiB compiles in milliseconds, and a synchronous
// load keeps `connect` and `serve` free of an extra await.

import { readFileSync } from 'node:fs';
import { initSync, Machine } from '../pkg/hybi_wasm.js';

const wasmUrl = new URL('../pkg/hybi_wasm_bg.wasm', import.meta.url);
let bytes;
try {
  bytes = readFileSync(wasmUrl);
} catch (cause) {
  throw new Error(`hybi: ${wasmUrl.pathname} is missing; build it with \`npm run build\``, { cause });
}
const exports = initSync({ module: bytes });

/**
 * The size of the instance's linear memory, which every connection shares
 * and which never shrinks: for tests and monitoring (not part of the
 * package's API).
 */
export const wasmMemoryBytes = () => exports.memory.buffer.byteLength;

export { Machine };
