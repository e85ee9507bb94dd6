// index.d.ts against TypeScript's strict checker: test/types/usage.ts must
// type-check, and every line marked `@ts-expect-error` in
// test/types/errors.ts must be an error (tsc reports an unused directive
// otherwise), among them the serve<S> state hole: a connHeaders that
// gives no state when the handler's state cannot be undefined.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

test('index.d.ts type-checks with tsc --strict, and the expected errors are errors', () => {
  const result = spawnSync(process.execPath, [tsc, '-p', join(here, 'types', 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
  const expected = readFileSync(join(here, 'types', 'errors.ts'), 'utf8').match(/@ts-expect-error/g) ?? [];
  assert.ok(expected.length >= 6, 'the error cases are there');
});
