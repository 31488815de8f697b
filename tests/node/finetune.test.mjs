// finetune() and train() through the JS API on real digits: quantization-aware
// fine-tuning at W4A4 improves on post-training quantization of the same
// recipe (held-out digits), the exported QDQ model (opset 21, int4 weights)
// runs the same in webquant, onnxruntime-node and onnxruntime-web, distillation
// without labels, float training from scratch, progress and cancellation, and
// bad input (labels out of range, mismatched batch shapes, an op without a
// gradient, a diverging learning rate) giving clear errors with the model untouched;
// and a heap that does not grow with the number of training samples.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { init, Model, quantize, finetune, train, heapSize, WebquantError } from '../../bindings/js/index.js';
import { loadMnist, feedsOf, argmaxRows } from '../../examples/lib/mnist.mjs';
import { readModel } from './helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mnistBytes = new Uint8Array(fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx')));

await init();
ortWeb.env.wasm.numThreads = 1;
const trainSet = await loadMnist({ split: 'train', limit: 1024 });
const testSet = await loadMnist({ split: 'test', limit: 500 });
const data = [...feedsOf(trainSet, 1)];
const labels = Array.from(trainSet.labels);
const calibration = data.slice(0, 128);

function accuracy(model, set) {
  let correct = 0;
  let start = 0;
  for (const feeds of feedsOf(set, 250)) {
    const pred = argmaxRows(model.run(feeds).logits.data);
    for (let i = 0; i < pred.length; ++i) correct += pred[i] === set.labels[start + i];
    start += pred.length;
  }
  return correct / set.count;
}

async function ortLogits(runtime, bytes, feeds) {
  const session = await runtime.InferenceSession.create(bytes);
  const out = await session.run({ input: new runtime.Tensor('float32', feeds.input.data, feeds.input.shape) });
  await session.release?.();
  return out.logits.data;
}

const W4A4 = { mode: 'static', weights: { bits: 4 }, activations: { bits: 4 }, report: { samples: 0 } };

test('memory: batches are streamed, so the WASM heap does not grow with the number of samples', async () => {
  // 256 samples first (the heap settles: Emscripten grows it in 20% steps),
  // then 16x as many: keeping the samples (12.8 MB) would have to grow it.
  const model = await Model.load(mnistBytes);
  const big = await loadMnist({ split: 'train', limit: 4096 });
  const bigData = [...feedsOf(big, 1)];
  const bigLabels = Array.from(big.labels);
  const recipe = { mode: 'static', weights: { bits: 4 }, report: { samples: 0 }, training: { epochs: 1, batchSize: 32 } };
  const few = await finetune(model, recipe, { data: bigData.slice(0, 256), labels: bigLabels.slice(0, 256), calibration });
  few.model.dispose();
  const afterFew = heapSize();
  const many = await finetune(model, recipe, { data: bigData, labels: bigLabels, calibration });
  many.model.dispose();
  const afterMany = heapSize();
  console.log(`WASM heap after fine-tuning on 256 samples: ${afterFew} bytes; on ${bigData.length}: ${afterMany} bytes`);
  assert.equal(many.report.training.samples, bigData.length);
  assert.equal(afterMany, afterFew);
  model.dispose();
});

test('W4A4 QAT with labels beats PTQ of the same recipe on held-out digits; export runs alike in ORT node and web', async () => {
  const model = await Model.load(mnistBytes);
  const before = model.save();
  const ptq = await quantize(model, W4A4, { calibration });
  const ptqAcc = accuracy(ptq.model, testSet);
  ptq.model.dispose();
  const steps = [];
  const r = await finetune(model, { ...W4A4, training: { epochs: 1, batchSize: 32, learningRate: 0.0002, seed: 3 } }, {
    data, labels, calibration, onProgress: (p) => { if (p.stage === 'train') steps.push(p); },
  });
  const floatAcc = accuracy(model, testSet);
  const qatAcc = accuracy(r.model, testSet);
  console.log(`W4A4 on ${testSet.count} held-out digits: float ${floatAcc}, PTQ ${ptqAcc}, QAT ${qatAcc}`);
  assert.ok(qatAcc > ptqAcc, `QAT ${qatAcc} should beat PTQ ${ptqAcc}`);
  assert.ok(floatAcc - qatAcc <= 0.01, `QAT ${qatAcc} within 1 point of float ${floatAcc}`);
  // Progress: one report per step, with loss, accuracy, learning rate and throughput.
  assert.equal(steps.length, Math.ceil(data.length / 32));
  assert.equal(steps.at(-1).step, steps.at(-1).total);
  for (const p of steps) {
    assert.ok(Number.isFinite(p.loss) && p.learningRate > 0 && p.accuracy >= 0 && p.accuracy <= 1);
  }
  assert.ok(steps.at(-1).samplesPerSecond > 0);
  assert.equal(r.report.training.steps, steps.length);
  assert.equal(r.report.training.withLabels, true);
  assert.equal(r.report.training.loss, 'cross-entropy');
  assert.equal(r.recipe.training.epochs, 1);
  assert.ok(r.report.sizes.ratio < 0.16, `size ratio ${r.report.sizes.ratio}`);
  // The user's model is untouched.
  assert.deepEqual(model.save(), before);

  // The export: standard QDQ at opset 21 with int4 weights; webquant, ORT node and ORT web agree.
  const summary = r.model.summary();
  assert.ok((summary.opsets[''] ?? summary.opsets['ai.onnx']) >= 21, JSON.stringify(summary.opsets));
  assert.ok(summary.opCounts.some((o) => o.opType === 'QuantizeLinear'));
  const feeds = [...feedsOf(testSet, 100)][0];
  const ours = r.model.run(feeds).logits.data;
  for (const runtime of [ort, ortWeb]) {
    const theirs = await ortLogits(runtime, r.bytes, feeds);
    const a = argmaxRows(ours), b = argmaxRows(theirs);
    let same = 0;
    for (let i = 0; i < a.length; ++i) same += a[i] === b[i];
    assert.ok(same >= 99, `top-1 agreement with ${runtime === ort ? 'onnxruntime-node' : 'onnxruntime-web'}: ${same}/100`);
    let maxAbs = 0, maxRef = 0;
    for (let i = 0; i < ours.length; ++i) {
      maxAbs = Math.max(maxAbs, Math.abs(ours[i] - theirs[i]));
      maxRef = Math.max(maxRef, Math.abs(theirs[i]));
    }
    // Same QDQ arithmetic; a value landing on a rounding boundary may move by one 4-bit step.
    assert.ok(maxAbs <= 0.05 * maxRef, `max abs difference ${maxAbs} (largest logit ${maxRef})`);
  }
  r.model.dispose();
  model.dispose();
});

test('int8 QAT by distillation (no labels) stays with the float model; validation is reported per epoch', async () => {
  const model = await Model.load(mnistBytes);
  const validation = { data: [...feedsOf(testSet, 1)].slice(0, 200), labels: Array.from(testSet.labels.subarray(0, 200)) };
  const r = await finetune(model, { mode: 'static', report: { samples: 8 }, training: { epochs: 1, batchSize: 64, learningRate: 0.00005 } }, {
    data: data.slice(0, 512), calibration, validation,
  });
  assert.equal(r.report.training.withLabels, false);
  assert.equal(r.report.training.loss, 'distillation');
  assert.equal(r.report.training.history.length, 1);
  assert.ok(r.report.training.validationBefore.accuracy >= 0.97);
  assert.ok(r.report.training.history[0].validation.accuracy >= 0.97);
  // Agreement with the teacher (the "correct" of a label-free run).
  assert.ok(r.report.training.history[0].accuracy >= 0.97, JSON.stringify(r.report.training.history[0]));
  assert.ok(r.report.comparison.outputs[0].sqnrDb > 25, `SQNR ${r.report.comparison.outputs[0].sqnrDb}`);
  const floatAcc = accuracy(model, testSet), qatAcc = accuracy(r.model, testSet);
  assert.ok(floatAcc - qatAcc <= 0.004, `float ${floatAcc} vs int8 distilled ${qatAcc}`);
  r.model.dispose();
  model.dispose();
});

test('train(): float training from fresh weights learns the digits; augment hook sees each batch', async () => {
  const model = await Model.load(mnistBytes);
  let augmented = 0;
  const r = await train(model, { epochs: 2, batchSize: 32, learningRate: 0.002, initialize: 'random', seed: 5 }, {
    data, labels, augment: (feeds, info) => { augmented += 1; assert.equal(feeds.input.shape[1], 1); assert.ok(info.epoch >= 0); return feeds; },
  });
  assert.equal(augmented, 2 * Math.ceil(data.length / 32));
  const acc = accuracy(r.model, testSet);
  assert.ok(acc >= 0.85, `accuracy after 2 epochs on 1024 digits from scratch: ${acc}`);
  assert.equal(r.training.initialize, 'random');
  assert.ok(accuracy(model, testSet) >= 0.98);  // the architecture's own weights untouched
  r.model.dispose();
  model.dispose();
});

test('bad input: clear errors naming what is wrong, the model untouched, and the next call works', async () => {
  const model = await Model.load(mnistBytes);
  const before = model.save();
  const recipe = { mode: 'static', report: { samples: 0 }, training: { epochs: 1, batchSize: 8, learningRate: 0.0001 } };
  const small = data.slice(0, 16);
  const fails = async (promise, code, pattern) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof WebquantError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    });
  };
  // Label out of range: names the sample within the batch.
  await fails(finetune(model, recipe, { data: small, labels: small.map((_, i) => (i === 3 ? 12 : 1)), calibration }),
    'INVALID_ARGUMENT', /label|12/);
  // Not an integer / wrong count.
  await fails(finetune(model, recipe, { data: small, labels: small.map(() => 0.5), calibration }), 'INVALID_ARGUMENT', /class index/);
  await fails(finetune(model, recipe, { data: small, labels: [1, 2], calibration }), 'INVALID_ARGUMENT', /one entry per sample/);
  // Mismatched batch shapes.
  const odd = [...small];
  odd[5] = { input: { data: new Float32Array(27 * 28), shape: [1, 1, 27, 28] } };
  await fails(finetune(model, recipe, { data: odd, labels: small.map(() => 1), calibration }), 'INVALID_ARGUMENT', /sample 5.*\[1,1,27,28\]/);
  // Recipe errors name the field.
  await fails(finetune(model, { ...recipe, training: { learningRate: -1 } }, { data: small, calibration }),
    'INVALID_ARGUMENT', /recipe\.training\.learningRate/);
  await fails(finetune(model, { mode: 'dynamic', training: {} }, { data: small }), 'INVALID_ARGUMENT', /recipe\.mode/);
  // A diverging learning rate: NaN/Inf detected, training stops naming the step.
  await fails(train(model, { epochs: 3, batchSize: 8, learningRate: 100000, optimizer: 'sgd', schedule: 'constant' },
    { data: small, labels: small.map((_, i) => i % 10) }), 'NUMERIC_ERROR', /step \d+/);
  assert.deepEqual(model.save(), before);

  // An op without a gradient: PP-OCR det upsamples with Resize.
  const det = await Model.load(readModel('det'));
  const x = { x: { data: new Float32Array(3 * 64 * 64), shape: [1, 3, 64, 64] } };
  await fails(train(det, { epochs: 1 }, { data: [x], labels: undefined }), 'UNSUPPORTED', /Resize.*node|node.*Resize/);
  det.dispose();

  // Still works afterwards.
  const ok = await finetune(model, recipe, { data: small, labels: small.map((_, i) => trainSet.labels[i]), calibration });
  assert.equal(ok.report.training.steps, 2);
  ok.model.dispose();
  model.dispose();
});

test('cancellation: an AbortSignal stops fine-tuning between steps with CANCELLED; the next run succeeds', async () => {
  const model = await Model.load(mnistBytes);
  const controller = new AbortController();
  let seen = 0;
  await assert.rejects(finetune(model, { mode: 'static', report: { samples: 0 }, training: { epochs: 1, batchSize: 8 } }, {
    data, labels, calibration: calibration.slice(0, 8),
    onProgress: (p) => { if (p.stage === 'train' && ++seen === 3) controller.abort(); },
    signal: controller.signal,
  }), (e) => e instanceof WebquantError && e.code === 'CANCELLED');
  assert.equal(seen, 3);
  const r = await train(model, { epochs: 1, batchSize: 16 }, { data: data.slice(0, 32), labels: labels.slice(0, 32) });
  assert.equal(r.report.training.steps, 2);
  r.model.dispose();
  model.dispose();
});
