#!/usr/bin/env node
// Builds www/pkg/ from source: the hybi-wasm crate for wasm32-unknown-unknown
// (Cargo profile `wasm-release`: size-optimised, LTO), then wasm-bindgen
// (`--target web`: plain ES modules with a synchronous `initSync`, which
// Node 20 loads without flags or bundlers, and which a page can load too),
// then wasm-opt when binaryen is installed (optional: it only shrinks).
//
// wasm-bindgen's CLI must be the very version of the `wasm-bindgen` crate in
// Cargo.lock (the two share a private ABI), so it is read from the lock file
// and installed with `cargo install --locked` when missing or different.
//
// Usage: node scripts/build-wasm.js   (npm run build)

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

rmSync(pkg, { recursive: true, force: true });
mkdirSync(pkg, { recursive: true });
run('wasm-bindgen', [
  '--target', 'web',
  '--remove-name-section',
  '--remove-producers-section',
  '--out-dir', pkg,
  '--out-name', 'hybi_wasm',
  built,
]);

const wasmFile = join(pkg, 'hybi_wasm_bg.wasm');

/** Whether the bindings load `file` and a machine answers a request with it. */
function works(file) {
  const check = `
    import { readFileSync } from 'node:fs';
    import { initSync, Machine } from ${JSON.stringify(pathToFileURL(join(pkg, 'hybi_wasm.js')).href)};
    initSync({ module: readFileSync(${JSON.stringify(file)}) });
    const step = Machine.server(0, {}).feed(0, new TextEncoder().encode('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
    if (step.events[0]?.kind !== 'http') process.exit(1);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', check], { stdio: 'ignore' }).status === 0;
}

if (output('wasm-opt', ['--version']) !== null) {
  // Optional: a smaller file, same behaviour. A binaryen too old for what
  // rustc and wasm-bindgen emit (Debian 12's 108 breaks the externref table)
  // fails the check, and the wasm-bindgen output stays.
  const optimised = `${wasmFile}.opt`;
  const result = spawnSync('wasm-opt', ['-Oz', '--enable-bulk-memory', '--enable-sign-ext',
    '--enable-mutable-globals', '--enable-nontrapping-float-to-int', '--enable-reference-types',
    '--enable-multivalue', wasmFile, '-o', optimised], { cwd: root, stdio: 'inherit' });
  if (result.status === 0 && works(optimised)) {
    copyFileSync(optimised, wasmFile);
    console.error('wasm-opt -Oz applied');
  } else {
    console.error(`wasm-opt (${output('wasm-opt', ['--version'])}) output does not load; keeping the unoptimised module`);
  }
  rmSync(optimised, { force: true });
} else {
  console.error('wasm-opt not found (optional; binaryen); skipping it');
}
if (!works(wasmFile)) throw new Error('the built module does not load');

// The package is ESM ("type": "module" in www/package.json), and so is
// wasm-bindgen's web target: nothing to adapt. Record what was built.
const size = statSync(wasmFile).size;
const gzip = gzipSync(readFileSync(wasmFile), { level: 9 }).length;
writeFileSync(join(pkg, 'BUILD.json'), `${JSON.stringify({ wasmBindgen: version, profile, size, gzip }, null, 2)}\n`);
console.error(`pkg/hybi_wasm_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB), gzip -9 ${gzip} bytes`);
