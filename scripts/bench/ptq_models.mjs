// Quantized models end to end (issue #5): for the MNIST CNN and the three
// PP-OCR models, latency of float and of each quantized mode in webquant's
// runtime, next to onnxruntime-web (wasm, 1 thread) running the float model
// and our exported file; model size; and how long quantization took.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Model, quantize } from '../../bindings/js/index.js';
import { PPOCR } from '../../examples/lib/models.mjs';
import { textImage } from '../../examples/lib/text_image.mjs';
import { loadMnist, feedsOf } from '../../examples/lib/mnist.mjs';
import { timeRuns, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function cases() {
  const train = await loadMnist({ split: 'train', limit: 256 });
  const mnistCalib = [...feedsOf(train, 16)];
  const ocr = (key) => {
    const { height, width } = PPOCR[key];
    const calib = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => ({ x: textImage(height, width, { seed }) }));
    return { name: `ppocr-${key} 1x3x${height}x${width}`, file: PPOCR[key].file, calib, feeds: { x: textImage(height, width, { seed: 50 }) } };
  };
  return [
    { name: 'mnist-cnn 1x1x28x28', file: path.join(root, 'examples/models/mnist_cnn.onnx'), calib: mnistCalib,
      feeds: { input: { data: train.images.subarray(0, 784), shape: [1, 1, 28, 28] } } },
    ocr('cls'), ocr('rec'), ocr('det'),
  ];
}

const modes = [
  ['static int8', { mode: 'static', report: { samples: 0 } }],
  ['dynamic int8', { mode: 'dynamic' }],
  ['weight-only int4', { mode: 'weight-only' }],
  ['fp16', { mode: 'fp16' }],
];

export async function benchPtqModels({ runs = 10, only = null } = {}) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const results = [];
  for (const c of await cases()) {
    if (only && !c.name.includes(only) && !'ptq'.includes(only)) continue;
    const bytes = new Uint8Array(fs.readFileSync(c.file));
    const model = await Model.load(bytes);
    const inputName = model.inputs[0].name;
    const feeds = { [inputName]: c.feeds[Object.keys(c.feeds)[0]] };
    const calib = c.calib.map((f) => ({ [inputName]: f[Object.keys(f)[0]] }));
    const ortTime = async (b) => {
      const s = await ort.InferenceSession.create(b);
      const f = { [inputName]: new ort.Tensor('float32', feeds[inputName].data, feeds[inputName].shape) };
      const t = await timeRuns(() => s.run(f), { warmup: 2, runs });
      await s.release?.();
      return t.median;
    };
    const floatMs = (await timeRuns(() => model.run(feeds), { warmup: 2, runs })).median;
    const ortFloatMs = await ortTime(bytes);
    results.push({ model: c.name, mode: 'float', bytes: bytes.length, webquantMs: floatMs, ortWebMs: ortFloatMs });
    for (const [name, recipe] of modes) {
      const row = { model: c.name, mode: name };
      try {
        const t0 = performance.now();
        const q = await quantize(model, recipe, { calibration: calib });
        row.quantizeMs = performance.now() - t0;
        row.bytes = q.bytes.length;
        row.sizeRatio = q.bytes.length / bytes.length;
        row.webquantMs = (await timeRuns(() => q.model.run(feeds), { warmup: 2, runs })).median;
        row.ortWebMs = await ortTime(q.bytes);
        q.model.dispose();
      } catch (e) {
        row.error = e.message.slice(0, 120);
      }
      results.push(row);
    }
    model.dispose();
  }
  const f = (x, d = 2) => (x == null ? '-' : x.toFixed(d));
  printTable('Quantized models: webquant runtime vs onnxruntime-web 1.30 on the same file (ms, median)',
    ['model', 'mode', 'size', 'x float', 'webquant', 'ort-web', 'ours/ort-web', 'quantize ms'],
    results.map((r) => [r.model, r.mode, r.bytes ?? '-', f(r.sizeRatio, 3), f(r.webquantMs), f(r.ortWebMs),
      r.webquantMs && r.ortWebMs ? f(r.webquantMs / r.ortWebMs) : '-', r.error ? `error: ${r.error}` : f(r.quantizeMs, 0)]));
  return results;
}
