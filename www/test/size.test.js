// The package's .wasm stays under 200 KiB, the size the package allows
// itself (what npm downloads and Node compiles at import): as built, and as
// a machine without binaryen's wasm-opt builds it (pkg/BUILD.json, written
// by scripts/build-wasm.js, records both).

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';

const LIMIT = 200 * 1024;
const build = JSON.parse(readFileSync(new URL('../pkg/BUILD.json', import.meta.url), 'utf8'));

test('pkg/hybi_wasm_bg.wasm is under 200 KiB', () => {
  const size = statSync(new URL('../pkg/hybi_wasm_bg.wasm', import.meta.url)).size;
  assert.equal(size, build.size, 'pkg/BUILD.json describes this build');
  assert.ok(size < LIMIT, `${size} bytes (wasm-opt: ${build.wasmOpt}), limit ${LIMIT}`);
});

test('without wasm-opt it is under 200 KiB too', () => {
  assert.equal(typeof build.sizeWithoutWasmOpt, 'number', 'pkg/BUILD.json records it');
  assert.ok(build.sizeWithoutWasmOpt < LIMIT, `${build.sizeWithoutWasmOpt} bytes, limit ${LIMIT}`);
});
