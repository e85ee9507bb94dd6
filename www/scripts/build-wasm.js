#!/usr/bin/env node
// Builds www/pkg/ from source: the hybi-wasm crate for wasm32-unknown-unknown
// (Cargo profile `wasm-release`: size-optimised, LTO; without the page's
// frame inspector, cargo feature `inspect`), then `wasm-opt -Oz` when
// binaryen is installed (scripts/test-node installs Debian's), then
// wasm-bindgen (`--target web`: plain ES modules with a synchronous
// `initSync`, which Node 20 loads without flags or bundlers, and which a page
// can load too).
//
// wasm-opt runs on rustc's output, before wasm-bindgen, not after it as
// usual: Debian 12's binaryen (108) writes the export of wasm-bindgen's
// externref table as the function table's, so that the module fails to
// start ("WebAssembly.Table.grow(): failed to grow table"); rustc's output
// has no externref table yet. wasm-bindgen's glue added afterwards is a few
// hundred bytes of shims. wasm-opt is optional: without it, or if
// wasm-bindgen refuses its output, or if the result does not load, the
// package is the one built without it (about 14 KB larger: under 208 KiB,
// where the optimized one stays under 200; pkg/BUILD.json records both
// sizes and test/size.test.js checks both).
//
// wasm-bindgen's CLI must be the very version of the `wasm-bindgen` crate in
// Cargo.lock (the two share a private ABI), so it is read from the lock file
// and installed with `cargo install --locked` when missing or different.
//
// Usage: node scripts/build-wasm.js   (npm run build)

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const www = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(www, '..');
const pkg = join(www, 'pkg');
const profile = 'wasm-release';
const target = 'wasm32-unknown-unknown';

function run(cmd, args, options = {}) {
  console.error(`+ ${cmd} ${args.join(' ')}`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${cmd} exited with ${result.status}`);
}

function output(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

/** The `wasm-bindgen` crate's version in Cargo.lock. */
function lockedBindgenVersion() {
  const lock = readFileSync(join(root, 'Cargo.lock'), 'utf8');
  const match = /\[\[package\]\]\nname = "wasm-bindgen"\nversion = "([^"]+)"/.exec(lock);
  if (!match) throw new Error('Cargo.lock has no wasm-bindgen package: is hybi-wasm in the workspace?');
  return match[1];
}

function ensureBindgen(version) {
  const have = output('wasm-bindgen', ['--version']);
  if (have === `wasm-bindgen ${version}`) return;
  console.error(`wasm-bindgen ${version} needed (found: ${have ?? 'none'}); installing it`);
  run('cargo', ['install', '--locked', 'wasm-bindgen-cli', '--version', version]);
}

function targetDir() {
  const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root, encoding: 'utf8' }));
  return meta.target_directory;
}

const version = lockedBindgenVersion();
ensureBindgen(version);
run('cargo', ['build', '-p', 'hybi-wasm', '--target', target, '--profile', profile, '--locked']);
const built = join(targetDir(), target, profile, 'hybi_wasm.wasm');
const wasmFile = join(pkg, 'hybi_wasm_bg.wasm');

/** wasm-bindgen on `input`, into a fresh `dir`; whether it succeeded. */
function bindgen(input, dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = ['--target', 'web', '--remove-name-section', '--remove-producers-section',
    '--out-dir', dir, '--out-name', 'hybi_wasm', input];
  console.error(`+ wasm-bindgen ${args.join(' ')}`);
  return spawnSync('wasm-bindgen', args, { cwd: root, stdio: 'inherit' }).status === 0;
}

/** Whether the bindings in `dir` load and a machine answers a request. */
function works(dir) {
  const check = `
    import { readFileSync } from 'node:fs';
    import { initSync, Machine } from ${JSON.stringify(pathToFileURL(join(dir, 'hybi_wasm.js')).href)};
    initSync({ module: readFileSync(${JSON.stringify(join(dir, 'hybi_wasm_bg.wasm'))}) });
    const step = Machine.server(0, {}).feed(0, new TextEncoder().encode('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
    if (step.events[0]?.kind !== 'http') process.exit(1);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', check], { stdio: 'ignore' }).status === 0;
}

// Without wasm-opt first, next to rustc's output: what a machine without
// binaryen builds, checked and measured whatever happens next.
const plain = join(dirname(built), 'pkg-without-wasm-opt');
if (!bindgen(built, plain)) throw new Error('wasm-bindgen failed');
if (!works(plain)) throw new Error('the built module does not load');
const sizeWithoutWasmOpt = statSync(join(plain, 'hybi_wasm_bg.wasm')).size;

// The features rustc enables for wasm32-unknown-unknown (all of them since
// 1.87; the workspace needs 1.88), so that wasm-opt may keep and use them.
const features = ['--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int', '--enable-reference-types', '--enable-multivalue'];
const wasmOpt = output('wasm-opt', ['--version']);
let optimised = false;
if (wasmOpt !== null) {
  const file = built.replace(/\.wasm$/, '.opt.wasm');
  console.error(`+ wasm-opt -Oz ${features.join(' ')} ${built} -o ${file}`);
  const result = spawnSync('wasm-opt', ['-Oz', ...features, built, '-o', file], { cwd: root, stdio: 'inherit' });
  optimised = result.status === 0 && bindgen(file, pkg) && works(pkg);
  if (!optimised) {
    console.error(`${wasmOpt} failed, or wasm-bindgen refused its output, or that does not load; building without it`);
  }
} else {
  console.error('wasm-opt not found (binaryen; scripts/test-node installs it); building without it');
}
if (!optimised && !(bindgen(built, pkg) && works(pkg))) throw new Error('the built module does not load');

// The package is ESM ("type": "module" in www/package.json), and so is
// wasm-bindgen's web target: nothing to adapt. Record what was built.
const size = statSync(wasmFile).size;
const gzip = gzipSync(readFileSync(wasmFile), { level: 9 }).length;
const build = { wasmBindgen: version, profile, wasmOpt: optimised ? `${wasmOpt} -Oz` : null, size, gzip, sizeWithoutWasmOpt };
writeFileSync(join(pkg, 'BUILD.json'), `${JSON.stringify(build, null, 2)}\n`);
console.error(`pkg/hybi_wasm_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB), gzip -9 ${gzip} bytes; ${sizeWithoutWasmOpt} bytes without wasm-opt`);
