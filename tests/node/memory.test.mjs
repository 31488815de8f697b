// WASM heap budget (issue #3, "Memory"): heap growth while loading and
// running a model stays within model bytes + 2 x its largest live activation
// set. The module loads models run-only (core/model.h): the heap holds each
// weight once, packed, and the original bytes stay in JavaScript; these tests
// also check that nothing a user sees changed: weights asked for by name,
// save() and quantize() give back exactly the model that was loaded, even if
// the caller's buffer changes afterwards.
import test from 'node:test';
import assert from 'node:assert/strict';
import { init, Model, heapSize, quantize } from '../../bindings/js/index.js';
import { textImage } from '../../examples/lib/text_image.mjs';
import { readModel } from './helpers.mjs';

await init();

const bitsOf = (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

// First in this process: the heap never shrinks, so only a fresh heap measures one model.
test('ppocr-rec: heap growth while loading and running stays within model bytes + 2 x peak activations', () => {
  const bytes = readModel('rec');
  const base = heapSize();
  const model = Model.loadSync(bytes);
  const feeds = { x: textImage(48, 320, { seed: 3 }) };
  model.run(feeds);
  model.run(feeds);
  const growth = heapSize() - base;
  const budget = bytes.length + 2 * model.lastRunStats.peakActivationBytes;
  model.dispose();
  const mib = (b) => (b / 1048576).toFixed(1);
  assert.ok(growth <= budget, `heap grew ${mib(growth)} MiB, budget ${mib(budget)} MiB`);
});

test('weights asked for by name come back bit for bit from their packed copies', () => {
  const bytes = readModel('rec');
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const model = Model.loadSync(bytes);
  // The 6625-class MatMul weight and a 1x1 Conv weight: both packed at load.
  const names = ['linear_85.w_0', 'conv2d_184.w_0'];
  const out = model.run({ x: textImage(48, 320, { seed: 3 }) }, { outputs: names });
  model.dispose();
  assert.deepEqual(out['linear_85.w_0'].shape, [120, 6625]);
  assert.deepEqual(out['conv2d_184.w_0'].shape, [480, 480, 1, 1]);
  // raw_data is little-endian floats in the file, so the exact bytes appear there.
  for (const name of names) assert.ok(file.indexOf(bitsOf(out[name].data)) >= 0, `${name} differs from the file`);
});

test('save() of a run-only model keeps every weight and computes what the loaded model computes', () => {
  const bytes = readModel('rec');
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const model = Model.loadSync(bytes);
  const saved = model.save();
  const feeds = { x: textImage(48, 320, { seed: 5 }) };
  const want = model.run(feeds);
  model.dispose();
  const names = ['linear_85.w_0', 'conv2d_184.w_0'];
  const again = Model.loadSync(saved);
  const weights = again.run(feeds, { outputs: names });
  const got = again.run(feeds);
  assert.deepEqual(again.save(), saved);
  again.dispose();
  const savedBuf = Buffer.from(saved.buffer, saved.byteOffset, saved.byteLength);
  for (const name of names) {
    const w = bitsOf(weights[name].data);
    assert.ok(file.indexOf(w) >= 0 && savedBuf.indexOf(w) >= 0, `${name} changed in save()`);
  }
  for (const [name, t] of Object.entries(want)) assert.ok(bitsOf(got[name].data).equals(bitsOf(t.data)), name);
});

test("save() and quantize() use the bytes copied at load, not the caller's buffer", async () => {
  const intact = readModel('cls');
  const mutable = intact.slice();
  const model = Model.loadSync(mutable);
  mutable.fill(0);
  const reference = Model.loadSync(intact);
  assert.deepEqual(model.save(), reference.save());
  const a = await quantize(model, { mode: 'dynamic' });
  const b = await quantize(reference, { mode: 'dynamic' });
  assert.deepEqual(a.bytes, b.bytes);
  const feeds = { x: textImage(48, 192, { seed: 7 }) };
  assert.deepEqual(a.model.run(feeds), b.model.run(feeds));
  for (const m of [model, reference, a.model, b.model]) m.dispose();
});

test('a disposed model cannot be saved or quantized', async () => {
  const model = Model.loadSync(readModel('cls'));
  model.dispose();
  assert.throws(() => model.save(), { code: 'FAILED_PRECONDITION' });
  await assert.rejects(quantize(model, { mode: 'dynamic' }), { code: 'FAILED_PRECONDITION' });
});
