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
import { fileURLToPath } from 'node:url';
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
if (output('wasm-opt', ['--version']) !== null) {
  // Optional: a smaller file, same behaviour. An old binaryen that cannot
  // read what rustc emits leaves the wasm-bindgen output as it is.
  const optimised = `${wasmFile}.opt`;
  const result = spawnSync('wasm-opt', ['-Oz', '--enable-bulk-memory', '--enable-sign-ext',
    '--enable-mutable-globals', '--enable-nontrapping-float-to-int', '--enable-reference-types',
    '--enable-multivalue', wasmFile, '-o', optimised], { cwd: root, stdio: 'inherit' });
  if (result.status === 0) {
    copyFileSync(optimised, wasmFile);
  } else {
    console.error('wasm-opt failed; keeping the unoptimised module');
  }
  rmSync(optimised, { force: true });
} else {
  console.error('wasm-opt not found (Debian: apt-get install binaryen); skipping it');
}

// The package is ESM ("type": "module" in www/package.json), and so is
// wasm-bindgen's web target: nothing to adapt. Record what was built.
const size = statSync(wasmFile).size;
const gzip = gzipSync(readFileSync(wasmFile), { level: 9 }).length;
writeFileSync(join(pkg, 'BUILD.json'), `${JSON.stringify({ wasmBindgen: version, profile, size, gzip }, null, 2)}\n`);
console.error(`pkg/hybi_wasm_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB), gzip -9 ${gzip} bytes`);
