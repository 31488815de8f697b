// Training throughput of the MNIST CNN in WASM (single thread, issue #6):
// float training (train()) and quantization-aware fine-tuning (finetune()) at
// W8A8 and W4A4, batch 64, on real digits. "core" counts only the time inside
// the training core (forward, loss, backward, optimizer); "end to end" adds
// the JS batching and the per-step event-loop yield.
//   node scripts/bench/training.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, train, finetune } from '../../bindings/js/index.js';
import { loadMnist, feedsOf } from '../../examples/lib/mnist.mjs';
import { printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function benchTraining({ only = null } = {}) {
  await init();
  const model = await Model.load(fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx')));
  const set = await loadMnist({ split: 'train', limit: 1280 });
  const data = [...feedsOf(set, 1)];
  const labels = Array.from(set.labels);
  const training = { epochs: 1, batchSize: 64, learningRate: 0.0001 };
  const cases = [
    ['float (train)', () => train(model, training, { data, labels })],
    ['QAT W8A8 (finetune)', () => finetune(model, { mode: 'static', report: { samples: 0 }, training }, { data, labels })],
    ['QAT W4A4 (finetune)', () => finetune(model, { mode: 'static', weights: { bits: 4 }, activations: { bits: 4 },
      report: { samples: 0 }, training }, { data, labels })],
  ];
  const rows = [];
  for (const [name, run] of cases) {
    if (only && !name.includes(only) && !'training'.includes(only)) continue;
    await (await run()).model.dispose();  // warm-up
    const t0 = performance.now();
    const r = await run();
    const seconds = (performance.now() - t0) / 1000;
    r.model.dispose();
    rows.push({ name, batch: 64, steps: r.report.training.steps, coreSamplesPerSecond: r.report.training.samplesPerSecond,
      endToEndSamplesPerSecond: r.report.training.samples / seconds });
  }
  model.dispose();
  printTable('Training throughput, MNIST CNN 1x28x28, batch 64, WASM single thread (samples/s)',
    ['mode', 'steps', 'core', 'end to end'],
    rows.map((r) => [r.name, r.steps, r.coreSamplesPerSecond.toFixed(0), r.endToEndSamplesPerSecond.toFixed(0)]));
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchTraining();
