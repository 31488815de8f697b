// quantize() and compare() through the JS API on real data: the MNIST CNN
// calibrated on real training digits and evaluated on the test split; every
// exported file loaded by onnxruntime-node and onnxruntime-web and compared
// with webquant's own execution of it; bad recipes, bad samples, cancellation,
// and calibration memory that does not grow with the number of samples.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { init, Model, quantize, compare, normalizeRecipe, heapSize, WebquantError } from '../../bindings/js/index.js';
import { loadMnist, feedsOf, argmaxRows } from '../../examples/lib/mnist.mjs';
import { ortNodeSaturatesU8S8 } from './helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mnistBytes = new Uint8Array(fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx')));

await init();
ortWeb.env.wasm.numThreads = 1;
const train = await loadMnist({ split: 'train', limit: 512 });
const testSet = await loadMnist({ split: 'test' });
const calibration = () => feedsOf(train, 16);  // 32 batches of real training digits

function accuracy(model, set) {
  let correct = 0;
  let start = 0;
  for (const feeds of feedsOf(set, 128)) {
    const pred = argmaxRows(model.run(feeds).logits.data);
    for (let i = 0; i < pred.length; ++i) correct += pred[i] === set.labels[start + i];
    start += pred.length;
  }
  return correct / set.count;
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function ortOutputs(runtime, bytes, feeds) {
  const session = await runtime.InferenceSession.create(bytes);
  const out = await session.run({ input: new runtime.Tensor('float32', feeds.input.data, feeds.input.shape) });
  await session.release?.();
  return out.logits.data;
}

test('static int8 per-channel MNIST: accuracy within 0.3 points of float on the real test split', async () => {
  const model = await Model.load(mnistBytes);
  const savedBefore = model.save();
  const stages = new Set();
  const q = await quantize(model, { mode: 'static' }, {
    calibration: calibration(), onProgress: (p) => stages.add(p.stage),
  });
  const floatAcc = accuracy(model, testSet);
  const quantAcc = accuracy(q.model, testSet);
  assert.ok(floatAcc >= 0.98, `float accuracy ${floatAcc}`);
  assert.ok(floatAcc - quantAcc <= 0.003, `float ${floatAcc} vs static int8 ${quantAcc}`);
  assert.deepEqual([...stages], ['prepare', 'calibrate', 'quantize', 'report']);
  // The report: sizes, per-node ranges and histograms, per-node SQNR, output metrics.
  const r = q.report;
  assert.equal(r.mode, 'static');
  assert.equal(r.calibration.samples, 32);
  assert.ok(r.sizes.ratio < 0.27, `size ratio ${r.sizes.ratio}`);
  assert.ok(r.activations.length >= 5);
  for (const a of r.activations) {
    assert.ok(a.histogram.counts.length > 0 && a.histogram.counts.length <= 64, a.name);
    assert.ok(a.clipMax >= a.clipMin);
  }
  assert.equal(r.weights.length, 4);
  for (const w of r.weights) assert.ok(w.sqnrDb > 30, `${w.name} weight SQNR ${w.sqnrDb}`);
  assert.equal(r.comparison.samples, 4);
  assert.ok(r.comparison.nodes.length >= 4);
  for (const n of r.comparison.nodes) assert.ok(Number.isFinite(n.sqnrDb), n.name);
  const out = r.comparison.outputs[0];
  assert.equal(out.name, 'logits');
  assert.ok(out.sqnrDb > 20 && out.cosine > 0.99 && out.argmaxAgreement > 0.95, JSON.stringify(out));
  // The user's model is untouched and still runs.
  assert.deepEqual(model.save(), savedBefore);
  q.model.dispose();
  model.dispose();
});

test('compare(): accuracy with labels and argmax agreement on the real test split', async () => {
  const model = await Model.load(mnistBytes);
  const q = await quantize(model, { mode: 'dynamic' });
  const samples = [...feedsOf(testSet, 256)];
  const labels = [];
  for (let s = 0; s < testSet.count; s += 256) labels.push(testSet.labels.subarray(s, Math.min(testSet.count, s + 256)));
  const c = await compare(model, q.model, samples, { labels });
  assert.equal(c.accuracy.count, testSet.count);
  assert.ok(Math.abs(c.accuracy.float - accuracy(model, testSet)) < 1e-12, `${c.accuracy.float} vs ${accuracy(model, testSet)}`);
  assert.ok(Math.abs(c.accuracy.quantized - accuracy(q.model, testSet)) < 0.002);
  assert.ok(c.outputs[0].argmaxAgreement > 0.99);
  await assert.rejects(compare(model, q.model, samples.slice(0, 1), { labels: [[1, 2]] }),
    (e) => e instanceof WebquantError && /got 2 labels for 256 rows/.test(e.message));
  q.model.dispose();
  model.dispose();
});

const modes = [
  { recipe: { mode: 'static' }, ortTol: 0.35, ops: ['QuantizeLinear', 'DequantizeLinear'] },
  { recipe: { mode: 'static', activations: { dtype: 'int8', symmetric: true }, calibration: { method: 'percentile' } },
    ortTol: 0.35, ops: ['QuantizeLinear'] },
  { recipe: { mode: 'dynamic' }, ortTol: 1e-3, ops: ['DynamicQuantizeLinear', 'MatMulInteger'] },
  { recipe: { mode: 'weight-only' }, ortTol: 1e-3, ops: ['com.microsoft:MatMulNBits'] },
  { recipe: { mode: 'weight-only', weights: { bits: 4, granularity: 'per-block', blockSize: 32, symmetric: false } },
    ortTol: 1e-3, ops: ['com.microsoft:MatMulNBits'] },
  // K = 1568 of the first dense layer is 12.25 blocks of 128: a padded last block.
  { recipe: { mode: 'weight-only', weights: { blockSize: 128 } }, ortTol: 1e-3, ops: ['com.microsoft:MatMulNBits'] },
  { recipe: { mode: 'weight-only', weights: { bits: 4, granularity: 'per-block', blockSize: 128, symmetric: false } },
    ortTol: 1e-3, ops: ['com.microsoft:MatMulNBits'] },
  { recipe: { mode: 'fp16' }, ortTol: 1e-3, ops: ['Cast'] },
];

for (const { recipe, ortTol, ops } of modes) {
  test(`${JSON.stringify(recipe)}: onnxruntime-node and -web load the export and agree with webquant`, async () => {
    const model = await Model.load(mnistBytes);
    const q = await quantize(model, recipe, { calibration: calibration() });
    const opTypes = q.model.summary().opCounts.map((o) => o.opType);
    for (const op of ops) assert.ok(opTypes.includes(op), `${op} in ${opTypes}`);
    const feeds = feedsOf(testSet, 64).next().value;
    const ours = q.model.run(feeds).logits.data;
    const web = await ortOutputs(ortWeb, q.bytes, feeds);
    // onnxruntime-node is only an exact int8 oracle where its uint8 x int8
    // GEMM does not saturate (helpers.mjs); elsewhere it must still load and
    // run the export, and onnxruntime-web is the oracle for both checks.
    const integer = ops.includes('QuantizeLinear') || ops.includes('MatMulInteger');
    const nodeRun = await ortOutputs(ort, q.bytes, feeds);
    const node = integer && (await ortNodeSaturatesU8S8()) ? web : nodeRun;
    assert.equal(nodeRun.length, ours.length);
    // Float paths agree to rounding; static int8 may differ by one quantization
    // step in some activations (onnxruntime fuses QLinearConv), so the logits
    // agree to a fraction of their range and the predictions agree.
    const range = Math.max(...ours) - Math.min(...ours);
    assert.ok(maxAbsDiff(ours, node) <= ortTol * (ortTol < 0.01 ? 1 : range / 10), `node ${maxAbsDiff(ours, node)}`);
    assert.ok(maxAbsDiff(ours, web) <= ortTol * (ortTol < 0.01 ? 1 : range / 10), `web ${maxAbsDiff(ours, web)}`);
    const a = argmaxRows(ours), b = argmaxRows(node), c = argmaxRows(web);
    let agreeNode = 0, agreeWeb = 0;
    for (let i = 0; i < a.length; ++i) { agreeNode += a[i] === b[i]; agreeWeb += a[i] === c[i]; }
    assert.ok(agreeNode >= a.length - 1 && agreeWeb >= a.length - 1, `${agreeNode} ${agreeWeb} of ${a.length}`);
    q.model.dispose();
    model.dispose();
  });
}

test('bad recipes and samples give errors naming the field, node or sample; the model keeps working', async () => {
  const model = await Model.load(mnistBytes);
  const savedBefore = model.save();
  const bad = [
    [{ mode: 'static', colour: 'red' }, /recipe: unknown key "colour"/],
    [{ mode: 'dynamic', activations: { bits: 4 } }, /recipe\.activations\.bits: 4-bit activations need mode "static"/],
    [{ mode: 'weight-only', weights: { blockSize: 24 } }, /recipe\.weights\.blockSize: must be a power of two >= 16/],
    [{ mode: 'static', exclude: { nodes: ['nope'] } }, /recipe\.exclude\.nodes: no node named 'nope'/],
    [{ mode: 'static', weights: { granularity: 'per-block' } }, /recipe\.weights\.granularity/],
    ['{"mode": "static",', /recipe: JSON/],
  ];
  for (const [recipe, re] of bad) {
    await assert.rejects(quantize(model, recipe, { calibration: calibration() }),
      (e) => e instanceof WebquantError && e.code === 'INVALID_ARGUMENT' && re.test(e.message), String(re));
  }
  assert.throws(() => normalizeRecipe({ mode: 'fast' }), /recipe\.mode: unknown "fast"/);
  await assert.rejects(quantize(model, { mode: 'static' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /needs calibration samples/.test(e.message));
  const wrongShape = [{ input: { data: new Float32Array(27 * 28), shape: [1, 1, 27, 28] } }];
  await assert.rejects(quantize(model, { mode: 'static' }, { calibration: wrongShape }),
    (e) => /calibration sample 0/.test(e.message) && /input/.test(e.message));
  const good = feedsOf(train, 4).next().value;
  const nan = new Float32Array(4 * 784);
  nan[100] = NaN;
  await assert.rejects(quantize(model, { mode: 'static' }, {
    calibration: [good, { input: { data: nan, shape: [4, 1, 28, 28] } }],
  }), (e) => e.code === 'NUMERIC_ERROR' && /calibration sample 1: input 'input'/.test(e.message));
  const wrongType = [{ input: { data: new Int32Array(784), shape: [1, 1, 28, 28] } }];
  await assert.rejects(quantize(model, { mode: 'static' }, { calibration: wrongType }),
    (e) => /calibration sample 0/.test(e.message));
  // Cancel mid-calibration.
  const ctrl = new AbortController();
  await assert.rejects(quantize(model, { mode: 'static' }, {
    calibration: calibration(), signal: ctrl.signal,
    onProgress: (p) => { if (p.stage === 'calibrate' && p.done === 3) ctrl.abort(); },
  }), (e) => e.code === 'CANCELLED');
  // Everything still works afterwards, and the model is unchanged.
  const q = await quantize(model, { mode: 'static' }, { calibration: calibration() });
  assert.ok(accuracy(q.model, testSet) > 0.97);
  assert.deepEqual(model.save(), savedBefore);
  q.model.dispose();
  model.dispose();
});

test('calibration memory does not grow with the number of samples (10 vs 1000)', async () => {
  const model = await Model.load(mnistBytes);
  const recipe = { mode: 'static', calibration: { method: 'entropy' }, report: { samples: 0 } };
  const many = await loadMnist({ split: 'train', limit: 1000 });
  const run = async (n) => {
    const q = await quantize(model, recipe, { calibration: feedsOf({ ...many, count: n }, 1) });
    assert.equal(q.report.calibration.samples, n);
    q.model.dispose();
    return heapSize();
  };
  const after10 = await run(10);
  const after1000 = await run(1000);
  console.log(`# WASM heap after calibrating on 10 samples: ${after10} bytes; on 1000 samples: ${after1000} bytes`);
  assert.equal(after1000, after10);
  model.dispose();
});
