// The JS API on the real PP-OCR classifier: init, load, summary, run against
// onnxruntime-node, save and reload (by us and by onnxruntime), dispose.
import test from 'node:test';
import assert from 'node:assert/strict';
import { init, Model, WebquantError, supportedOps } from '../../bindings/js/index.js';
import { textImage } from '../../examples/lib/text_image.mjs';
import { PPOCR, readModel, ortRun, compare } from './helpers.mjs';

const { height, width } = PPOCR.cls;

test('init() is memoised and idempotent', async () => {
  const a = init();
  const b = init();
  await Promise.all([a, b]);
  await init();
  assert.ok(supportedOps().includes('Conv'));
});

test('summary of the PP-OCR classifier', async () => {
  const bytes = readModel('cls');
  const model = await Model.load(bytes);
  const s = model.summary();
  assert.equal(s.inputs.length, 1);
  assert.equal(s.inputs[0].name, 'x');
  assert.equal(s.inputs[0].dtype, 'float');
  assert.equal(s.inputs[0].shape.length, 4);
  assert.equal(s.inputs[0].shape[1], 3);
  assert.equal(s.outputs.length, 1);
  assert.equal(s.modelBytes, bytes.length);
  assert.ok(s.numNodes > 20, `numNodes ${s.numNodes}`);
  assert.ok(s.numParameters > 100000, `numParameters ${s.numParameters}`);
  const counts = Object.fromEntries(s.opCounts.map((o) => [o.opType, o.count]));
  assert.ok(counts.Conv > 10, 'Conv count');
  assert.equal(s.opCounts.reduce((a, o) => a + o.count, 0), s.numNodes);
  assert.deepEqual(model.inputs, s.inputs);
  model.dispose();
});

test('float run matches onnxruntime-node (1e-4 relative)', async () => {
  const bytes = readModel('cls');
  const model = await Model.load(bytes);
  for (const seed of [1, 2, 3]) {
    for (const flipped of [false, true]) {
      const img = textImage(height, width, { seed, flipped });
      const ours = model.run({ x: img });
      const outName = model.outputs[0].name;
      const ref = await ortRun(bytes, { x: img });
      assert.deepEqual(ours[outName].shape, Array.from(ref[outName].dims));
      const c = compare(ours[outName].data, ref[outName].data);
      assert.ok(c.rel <= 1e-4, `seed ${seed} flipped ${flipped}: rel ${c.rel}`);
    }
  }
  assert.ok(model.lastRunStats.peakActivationBytes > 0);
  model.dispose();
});

test('dynamic batch: the classifier runs at batch 1 and 8', async () => {
  const model = await Model.load(readModel('cls'));
  const one = textImage(height, width, { seed: 11 });
  const eight = new Float32Array(8 * one.data.length);
  for (let b = 0; b < 8; ++b) eight.set(textImage(height, width, { seed: 11 + b }).data, b * one.data.length);
  const r1 = model.run({ x: one });
  const r8 = model.run({ x: { data: eight, shape: [8, 3, height, width] } });
  const out = model.outputs[0].name;
  assert.deepEqual(r8[out].shape, [8, 2]);
  const c = compare(r8[out].data.subarray(0, 2), r1[out].data);
  assert.ok(c.maxAbs < 1e-5, `batch-8 row 0 differs from batch-1 by ${c.maxAbs}`);
  model.dispose();
});

test('save() round-trips: we and onnxruntime-node load the saved bytes with identical results', async () => {
  const bytes = readModel('cls');
  const model = await Model.load(bytes);
  const saved = model.save();
  assert.ok(saved instanceof Uint8Array && saved.length > 0.9 * bytes.length);
  const again = await Model.load(saved);
  assert.deepEqual(again.summary().opCounts, model.summary().opCounts);
  assert.equal(again.summary().numParameters, model.summary().numParameters);
  const img = textImage(height, width, { seed: 5 });
  const out = model.outputs[0].name;
  const a = model.run({ x: img })[out].data;
  const b = again.run({ x: img })[out].data;
  assert.deepEqual(Array.from(b), Array.from(a));
  const refOriginal = await ortRun(bytes, { x: img });
  const refSaved = await ortRun(saved, { x: img });
  assert.deepEqual(Array.from(refSaved[out].data), Array.from(refOriginal[out].data));
  model.dispose();
  again.dispose();
});

test('the caller\'s model bytes and input data are not modified', async () => {
  const bytes = readModel('cls');
  const copy = bytes.slice();
  const model = await Model.load(bytes);
  const img = textImage(height, width, { seed: 9 });
  const imgCopy = img.data.slice();
  model.run({ x: img });
  assert.deepEqual(bytes, copy);
  assert.deepEqual(img.data, imgCopy);
  model.dispose();
});

test('intermediate values can be requested as outputs', async () => {
  const model = await Model.load(readModel('cls'));
  const img = textImage(height, width, { seed: 4 });
  const all = model.run({ x: img });
  const out = model.outputs[0].name;
  const r = model.run({ x: img }, { outputs: [out] });
  assert.deepEqual(Array.from(r[out].data), Array.from(all[out].data));
  assert.throws(() => model.run({ x: img }, { outputs: ['no_such_value'] }),
    (e) => e instanceof WebquantError && /no_such_value/.test(e.message));
  model.dispose();
});

test('dispose() is idempotent and later calls fail clearly', async () => {
  const model = await Model.load(readModel('cls'));
  model.dispose();
  model.dispose();
  assert.throws(() => model.run({}), (e) => e instanceof WebquantError && e.code === 'FAILED_PRECONDITION');
});
