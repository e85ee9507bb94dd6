// The package as npm ships it: ES module and CommonJS entry points with the
// same exports, the files in the tarball (LICENSE among them), and README
// links that work on the npm page (absolute, or to a file in the package).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const www = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = (args) => execFileSync(process.execPath, args, { cwd: www, encoding: 'utf8' }).trim();

test('import and require give the same exports', () => {
  const esm = node(['--input-type=module', '-e', "import * as h from 'hybi'; console.log(Object.keys(h).sort().join(','))"]);
  // require(esm) marks a module with a default export with `__esModule` (for transpiled code).
  const cjs = node(['-e', "console.log(Object.keys(require('hybi')).filter((k) => k !== '__esModule').sort().join(','))"]);
  assert.equal(cjs, esm);
  for (const name of ['WebSocket', 'WebSocketServer', 'connect', 'serve', 'default']) assert.ok(esm.split(',').includes(name), name);
  assert.equal(node(['-e', "const { WebSocket, default: D } = require('hybi'); console.log(WebSocket === D)"]), 'true');
});

test('package.json: exports for import and require, engines, and the files npm packs', () => {
  const pkg = JSON.parse(readFileSync(join(www, 'package.json'), 'utf8'));
  assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'import', 'require']);
  assert.equal(pkg.engines.node, '>=20');
  // `npm pack --dry-run` would run prepack (the wasm build): the list is
  // checked from `files` instead, each entry present (pkg/ once built).
  for (const file of pkg.files) assert.ok(existsSync(join(www, file)), `${file} is there to pack`);
  assert.ok(pkg.files.includes('LICENSE') && pkg.files.includes('index.cjs'));
});

test('README links work on the npm page: absolute, anchors, or files in the package', () => {
  const readme = readFileSync(join(www, 'README.md'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(www, 'package.json'), 'utf8'));
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  for (const link of links) {
    if (/^(https?:)?\/\//.test(link) || link.startsWith('#')) continue;
    const file = link.replace(/#.*$/, '').replace(/^\.\//, '');
    assert.ok(
      pkg.files.some((f) => f === file || (f.endsWith('/') && file.startsWith(f))),
      `README links to ${link}, which is not in the package`,
    );
  }
});
