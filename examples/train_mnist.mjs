// Trains the bundled MNIST CNN from scratch with webquant's own training core
// (WASM, single thread): the architecture comes from
// examples/models/mnist_cnn.onnx, every weight is re-initialised (He-uniform,
// fixed seed), then Adam on the 8,004 training digits, each shifted by up to
// 2 pixels per epoch, of the `mnist` package
// (split in examples/lib/mnist.mjs), evaluated on the 1,996 test digits.
//
//   node examples/train_mnist.mjs [--epochs N] [--out file.onnx] [--json out.json]
//
// With --out examples/models/mnist_cnn.onnx it rewrites the bundled model
// (that is how the bundled model was made). Exits non-zero if the test
// accuracy is below 98%.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, train, compare } from '../bindings/js/index.js';
import { loadMnist, feedsOf } from './lib/mnist.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const epochs = Number(opt('--epochs', 12));
const out = opt('--out', path.join(root, 'artifacts/mnist_cnn.trained.onnx'));
const jsonOut = opt('--json', path.join(root, 'artifacts/train_mnist.json'));

await init();
const architecture = await Model.load(fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx')));
const trainSet = await loadMnist({ split: 'train' });
const testSet = await loadMnist({ split: 'test' });
const data = [...feedsOf(trainSet, 1)];
const labels = Array.from(trainSet.labels);
const training = {
  epochs, batchSize: 64, learningRate: 0.003, optimizer: 'adam', schedule: 'cosine', warmupSteps: 100,
  weightDecay: 0.0001, seed: 2026, initialize: 'random',
};
// Augmentation: each digit shifted by up to 2 pixels (seeded, so runs repeat).
function shiftAugment(seed) {
  let a = seed >>> 0;
  const rand = () => {  // xorshift32
    a ^= a << 13; a >>>= 0; a ^= a >>> 17; a ^= a << 5; a >>>= 0;
    return a / 4294967296;
  };
  return (feeds) => {
    const { data, shape } = feeds.input;
    const src = Float32Array.from(data);
    for (let n = 0; n < shape[0]; ++n) {
      const dx = Math.floor(rand() * 5) - 2, dy = Math.floor(rand() * 5) - 2;
      const base = n * 784;
      for (let y = 0; y < 28; ++y)
        for (let x = 0; x < 28; ++x) {
          const sx = x - dx, sy = y - dy;
          data[base + y * 28 + x] = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? src[base + sy * 28 + sx] : 0;
        }
    }
    return feeds;
  };
}

console.log(`training the MNIST CNN from scratch: ${trainSet.count} digits, ${JSON.stringify(training)}`);
let lastPrint = 0;
const t0 = performance.now();
const result = await train(architecture, training, {
  data, labels, augment: shiftAugment(training.seed + 1),
  onProgress: (p) => {
    if (p.stage !== 'train') return;
    if (p.step - lastPrint >= 100 || p.step === p.total) {
      lastPrint = p.step;
      console.log(`  epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.total} loss ${p.loss.toFixed(4)} ` +
        `lr ${p.learningRate.toExponential(2)} ${p.samplesPerSecond.toFixed(0)} samples/s`);
    }
  },
});
const seconds = (performance.now() - t0) / 1000;
const testBatches = [...feedsOf(testSet, 256)];
const testLabels = testBatches.map((_, i) => testSet.labels.subarray(i * 256, Math.min(testSet.count, (i + 1) * 256)));
const c = await compare(architecture, result.model, testBatches, { labels: testLabels, perNode: false });
const accuracy = c.accuracy.quantized;  // "quantized" = the second model: the freshly trained one
for (const e of result.report.training.history)
  console.log(`epoch ${e.epoch}: train loss ${e.loss.toFixed(4)}, train accuracy ${(e.accuracy * 100).toFixed(2)}%`);
console.log(`test accuracy (${testSet.count} digits): ${(accuracy * 100).toFixed(2)}% ` +
  `(bundled model before retraining: ${(c.accuracy.float * 100).toFixed(2)}%), ${seconds.toFixed(1)} s, ` +
  `${result.report.training.samplesPerSecond.toFixed(0)} samples/s`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, result.bytes);
fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
fs.writeFileSync(jsonOut, JSON.stringify({ training, testAccuracy: accuracy, testDigits: testSet.count, seconds,
  history: result.report.training.history, samplesPerSecond: result.report.training.samplesPerSecond }, null, 2));
console.log(`wrote ${path.relative(root, out)} (${result.bytes.length} bytes)`);
result.model.dispose();
architecture.dispose();
if (!(accuracy >= 0.98)) {
  console.error(`test accuracy ${(accuracy * 100).toFixed(2)}% is below the 98% target`);
  process.exit(1);
}
