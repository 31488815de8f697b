// The core's layers only look down (doc/design.md, "Layers"): no file
// includes a header of a higher layer, and the bindings include only the
// public umbrella header core/webquant.h.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

// Bottom to top. A file may include files of its own layer or of lower ones.
export const LAYERS = [
  ['base', (f) => /^core\/(status|tensor|qparams)\.(h|cc)$/.test(f) || f.startsWith('core/util/')],
  ['onnx', (f) => f.startsWith('core/onnx/')],
  ['graph', (f) => f.startsWith('core/graph/')],
  ['passes', (f) => f.startsWith('core/passes/')],
  ['runtime', (f) => f.startsWith('core/runtime/')],
  ['kernels', (f) => f.startsWith('core/kernels/')],
  ['ops', (f) => f.startsWith('core/ops/')],
  ['quant/train', (f) => f.startsWith('core/quant/') || f.startsWith('core/train/')],
  ['model', (f) => /^core\/model\.(h|cc)$/.test(f)],
  ['api', (f) => f === 'core/webquant.h'],
];

export function layerOf(file) {
  const i = LAYERS.findIndex(([, match]) => match(file));
  return i < 0 ? null : { index: i, name: LAYERS[i][0] };
}

// [{file, include, from, to}] for every include that runs upward; files
// outside every layer are reported too, so a new room must be placed.
export function upwardIncludes(files, read) {
  const bad = [];
  for (const file of files) {
    const from = layerOf(file);
    if (!from) { bad.push({ file, include: '', from: 'none', to: 'none' }); continue; }
    for (const m of read(file).matchAll(/#include "(core\/[^"]+)"/g)) {
      const to = layerOf(m[1]);
      if (!to || to.index > from.index) bad.push({ file, include: m[1], from: from.name, to: to ? to.name : 'none' });
    }
  }
  return bad;
}

const walk = (d) => fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })
  .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
const read = (f) => fs.readFileSync(path.join(ROOT, f), 'utf8');

test('no include in core/ runs from a lower layer to a higher one', () => {
  const files = walk('core').filter((f) => /\.(h|cc)$/.test(f));
  assert.ok(files.length > 80, `found ${files.length} files`);
  const bad = upwardIncludes(files, read);
  assert.deepEqual(bad.map((b) => `${b.file} (${b.from}) includes ${b.include} (${b.to})`), []);
});

test('the bindings include only the public header core/webquant.h', () => {
  for (const f of walk('bindings').filter((f) => f.endsWith('.cc'))) {
    const includes = [...read(f).matchAll(/#include "(core\/[^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(includes, ['core/webquant.h'], f);
  }
});

test('the checker catches an upward include and an unplaced file', () => {
  const fake = {
    'core/graph/a.cc': '#include "core/runtime/session.h"\n#include "core/tensor.h"\n',
    'core/ops/b.cc': '#include "core/kernels/qgemm.h"\n#include "core/passes/runtime_ops_spec.h"\n',
    'core/newroom/c.cc': '',
  };
  const bad = upwardIncludes(Object.keys(fake), (f) => fake[f]);
  assert.deepEqual(bad.map((b) => [b.file, b.include]), [
    ['core/graph/a.cc', 'core/runtime/session.h'],
    ['core/newroom/c.cc', ''],
  ]);
});
