// Quantization-aware fine-tuning against post-training quantization, on real
// data, with fixed seeds:
//   - the MNIST CNN at W4A4 and W8A8 (per-channel weights): PTQ, QAT with labels,
//     QAT by distillation from the float model (no labels), test accuracy on the
//     1,996-digit test split (QAT trains on the 8,004 training digits; PTQ and
//     QAT calibrate on the same 512 training digits);
//   - PP-OCR cls at W4A8 by distillation on generated text-line images (the npm
//     packages ship no real photos): output SQNR against float on held-out
//     images, before (PTQ) and after.
//
//   node examples/qat_report.mjs [--epochs N] [--json out.json]
//
// Prints a table and writes artifacts/qat_report.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, quantize, finetune, compare } from '../bindings/js/index.js';
import { loadMnist, feedsOf } from './lib/mnist.mjs';
import { PPOCR } from './lib/models.mjs';
import { textImage } from './lib/text_image.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const epochs = Number(opt('--epochs', 2));
const jsonOut = opt('--json', path.join(root, 'artifacts/qat_report.json'));

await init();
const rows = [];
const pct = (x) => (x == null ? '   -  ' : (x * 100).toFixed(2).padStart(6));
const db = (x) => (x == null ? '  -  ' : x.toFixed(1).padStart(5));

// ---- MNIST --------------------------------------------------------------------
const mnist = await Model.load(fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx')));
const trainSet = await loadMnist({ split: 'train' });
const testSet = await loadMnist({ split: 'test' });
const data = [...feedsOf(trainSet, 1)];
const labels = Array.from(trainSet.labels);
const calibration = [...feedsOf({ ...trainSet, count: 512 }, 16)];
const testBatches = [...feedsOf(testSet, 256)];
const testLabels = testBatches.map((_, i) => testSet.labels.subarray(i * 256, Math.min(testSet.count, (i + 1) * 256)));

async function testAccuracy(model) {
  const c = await compare(mnist, model, testBatches, { labels: testLabels, perNode: false });
  return { float: c.accuracy.float, quantized: c.accuracy.quantized, sqnrDb: c.outputs[0].sqnrDb,
    agreement: c.outputs[0].argmaxAgreement };
}

const configs = [
  ['W4A4', { weights: { bits: 4 }, activations: { bits: 4 } }],
  ['W8A8', {}],
];
const training = { epochs, batchSize: 32, learningRate: 0.0001, optimizer: 'adam', schedule: 'cosine', seed: 1 };
console.log(`MNIST CNN: QAT ${JSON.stringify(training)} on ${trainSet.count} training digits; ` +
  `test split ${testSet.count} digits\n`);
for (const [name, base] of configs) {
  const recipe = { mode: 'static', ...base, report: { samples: 0 } };
  const ptq = await quantize(mnist, recipe, { calibration });
  const ptqAcc = await testAccuracy(ptq.model);
  ptq.model.dispose();
  rows.push({ model: 'mnist-cnn', config: name, method: 'PTQ', floatAccuracy: ptqAcc.float, accuracy: ptqAcc.quantized,
    sqnrDb: ptqAcc.sqnrDb, agreement: ptqAcc.agreement, sizeRatio: ptq.report.sizes.ratio });
  for (const [method, withLabels] of [['QAT labels', true], ['QAT distillation', false]]) {
    const t0 = performance.now();
    let last = 0;
    const r = await finetune(mnist, { ...recipe, training }, {
      data, labels: withLabels ? labels : undefined, calibration,
      onProgress: (p) => {
        if (p.stage === 'train' && (p.step - last >= 250 || p.step === p.total)) {
          last = p.step;
          console.log(`  ${name} ${method}: step ${p.step}/${p.total} loss ${p.loss.toFixed(4)} ` +
            `${p.samplesPerSecond.toFixed(0)} samples/s`);
        }
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const acc = await testAccuracy(r.model);
    r.model.dispose();
    rows.push({ model: 'mnist-cnn', config: name, method, floatAccuracy: acc.float, accuracy: acc.quantized,
      sqnrDb: acc.sqnrDb, agreement: acc.agreement, sizeRatio: r.report.sizes.ratio, seconds,
      samplesPerSecond: r.report.training.samplesPerSecond, steps: r.report.training.steps });
  }
}
mnist.dispose();

// ---- PP-OCR cls, W4A8 by distillation ------------------------------------------------
{
  const spec = PPOCR.cls;
  const model = await Model.load(fs.readFileSync(spec.file));
  const input = model.inputs[0].name;
  const images = (seeds) => seeds.map((seed) => ({ [input]: textImage(spec.height, spec.width, { seed, flipped: seed % 2 === 0 }) }));
  const trainImages = images(Array.from({ length: 128 }, (_, i) => 1 + i));
  const held = images(Array.from({ length: 16 }, (_, i) => 1001 + i));
  const recipe = { mode: 'static', weights: { bits: 4 }, report: { samples: 0 } };
  const calib = trainImages.slice(0, 16);
  const ptq = await quantize(model, recipe, { calibration: calib });
  const before = await compare(model, ptq.model, held, { perNode: false });
  ptq.model.dispose();
  const t0 = performance.now();
  // No labels: the float model's output is the target (KL distillation; its softmax
  // probabilities act as logits, which still ranks the two classes the same way).
  const clsTraining = { epochs: 3, batchSize: 16, learningRate: 0.0002, seed: 1 };
  const r = await finetune(model, { ...recipe, training: clsTraining }, { data: trainImages, calibration: calib });
  const after = await compare(model, r.model, held, { perNode: false });
  r.model.dispose();
  const o0 = before.outputs[0], o1 = after.outputs[0];
  rows.push({ model: 'ppocr-cls', config: 'W4A8', method: 'PTQ', sqnrDb: o0.sqnrDb, agreement: o0.argmaxAgreement,
    sizeRatio: ptq.report.sizes.ratio });
  rows.push({ model: 'ppocr-cls', config: 'W4A8', method: 'QAT distillation', sqnrDb: o1.sqnrDb,
    agreement: o1.argmaxAgreement, sizeRatio: r.report.sizes.ratio, seconds: (performance.now() - t0) / 1000,
    samplesPerSecond: r.report.training.samplesPerSecond, steps: r.report.training.steps });
  model.dispose();
}

console.log('\nmodel      config  method             float acc  acc     agree   SQNR dB  size    train s  samples/s');
for (const r of rows) {
  console.log(`${r.model.padEnd(10)} ${r.config.padEnd(7)} ${r.method.padEnd(18)} ${pct(r.floatAccuracy)}    ` +
    `${pct(r.accuracy)}  ${pct(r.agreement)}  ${db(r.sqnrDb)}    x${r.sizeRatio.toFixed(3)}  ` +
    `${r.seconds == null ? '   -  ' : r.seconds.toFixed(1).padStart(6)}   ${r.samplesPerSecond == null ? '-' : r.samplesPerSecond.toFixed(0)}`);
}
console.log('acc: top-1 on the MNIST test split; agree: top-1 agreement with float; ' +
  'SQNR: output signal-to-quantization-noise vs float (MNIST: test split; cls: 16 held-out generated images).');
fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
fs.writeFileSync(jsonOut, JSON.stringify({ training, rows }, null, 2));
console.log(`wrote ${path.relative(root, jsonOut)}`);
