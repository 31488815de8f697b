// The examples CI runs: each must exit 0 (they check their own results).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('examples/demo_classifier.mjs runs PP-OCR cls and matches onnxruntime-node', () => {
  const r = spawnSync(process.execPath, ['examples/demo_classifier.mjs'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /onnxruntime/i);
});
