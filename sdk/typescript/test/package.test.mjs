// The package as consumers load it: ESM and CommonJS, and its types.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('package', () => {
  test('loads as ESM and as CommonJS, with the same names', async () => {
    const esm = await import('@actas/host');
    const cjs = createRequire(import.meta.url)('@actas/host');
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
    for (const name of ['Verifier', 'Client', 'Guard', 'Feed', 'SseParser', 'ActasProblem', 'actasMiddleware', 'withActas', 'bannerTag', 'createActas']) {
      assert.equal(typeof cjs[name], 'function', name);
    }
    const p = new cjs.ActasProblem({ type: 'urn:actas:problem:not-found', title: 'Not found', status: 404, detail: 'No.' });
    assert.ok(p instanceof Error);
    assert.equal(p.slug, 'not-found');
  });

  test('its types fit an Express app and a Next.js route handler', () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'test', 'fixtures', 'tsconfig.json')], {
      cwd: root,
      stdio: 'pipe',
      encoding: 'utf8',
    });
  });
});
