// Quantize the bundled MNIST CNN to static int8 with real digits, compare it
// with the float model on held-out digits, and save the quantized ONNX file.
//
//   node examples/quantize_and_compare.mjs [--out mnist_cnn.static.onnx] [--calib 64] [--json]
//
// The digits are the 256 MNIST test images bundled for the web app
// (web/assets/mnist_samples.bin, format in examples/lib/mnist.mjs): the first
// `--calib` calibrate, the rest evaluate. It imports 'webquant' by package
// name, so it runs unchanged in this repository (Node resolves a package's own
// name through its exports map) and in a project that installed the package.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, quantize, compare } from 'webquant';
import { parseMnistSamples, PIXELS } from './lib/mnist.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const modelFile = opt('--model', path.join(here, 'models/mnist_cnn.onnx'));
const samplesFile = opt('--samples', path.join(here, '../web/assets/mnist_samples.bin'));
const outFile = opt('--out', 'mnist_cnn.static.onnx');
const calibCount = Number(opt('--calib', 64));
const json = args.includes('--json');
const log = (...a) => { if (!json) console.log(...a); };

await init();
const floatBytes = fs.readFileSync(modelFile);
const float = await Model.load(floatBytes);
const digits = parseMnistSamples(fs.readFileSync(samplesFile));
if (!(calibCount >= 1 && calibCount < digits.count)) throw new Error(`--calib must be 1..${digits.count - 1}`);

// One digit per feed, shaped like the model input [batch, 1, 28, 28].
function* feeds(from, to) {
  for (let i = from; i < to; ++i) {
    yield { input: { data: digits.images.subarray(i * PIXELS, (i + 1) * PIXELS), shape: [1, 1, 28, 28] } };
  }
}

const recipe = { mode: 'static', weights: { bits: 8, granularity: 'per-channel' }, calibration: { method: 'minmax' } };
const t0 = performance.now();
const q = await quantize(float, recipe, {
  calibration: feeds(0, calibCount),
  onProgress: ({ stage, done, total }) => { if (!json) process.stderr.write(`\r${stage} ${done}${total ? '/' + total : ''}   `); },
});
const seconds = (performance.now() - t0) / 1000;
if (!json) process.stderr.write('\n');
fs.mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
fs.writeFileSync(outFile, q.bytes);

const labels = digits.labels.subarray(calibCount);
const report = await compare(float, q.model, feeds(calibCount, digits.count), { labels });

// Latency: median of 50 single-digit runs of each model.
function medianMs(model) {
  const x = { input: { data: digits.images.subarray(0, PIXELS), shape: [1, 1, 28, 28] } };
  model.run(x);
  const t = [];
  for (let i = 0; i < 50; ++i) {
    const s = performance.now();
    model.run(x);
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[25];
}
const latency = { floatMs: medianMs(float), quantizedMs: medianMs(q.model) };

const result = {
  recipe: q.recipe, output: outFile, floatBytes: floatBytes.length, quantizedBytes: q.bytes.length,
  calibrationSamples: calibCount, evalSamples: digits.count - calibCount, quantizeSeconds: seconds,
  accuracy: report.accuracy, outputs: report.outputs, latency,
};
if (json) {
  console.log(JSON.stringify(result, (k, v) => (v === Infinity ? 'Infinity' : v), 2));
} else {
  const o = report.outputs[0];
  log(`${outFile}: ${q.bytes.length} bytes (${(q.bytes.length / floatBytes.length).toFixed(3)}x of float), quantized in ${seconds.toFixed(2)} s`);
  log(`accuracy on ${result.evalSamples} held-out digits: float ${(100 * report.accuracy.float).toFixed(2)}%, ` +
    `int8 ${(100 * report.accuracy.quantized).toFixed(2)}%`);
  log(`output '${o.name}': SQNR ${o.sqnrDb.toFixed(1)} dB, cosine ${o.cosine.toFixed(5)}, max abs error ${o.maxAbsError.toFixed(4)}` +
    ((o.top1Agreement ?? o.argmaxAgreement) != null ? `, top-1 agreement ${(100 * (o.top1Agreement ?? o.argmaxAgreement)).toFixed(1)}%` : ''));
  log(`latency (median of 50): float ${latency.floatMs.toFixed(3)} ms, int8 ${latency.quantizedMs.toFixed(3)} ms`);
}
q.model.dispose();
float.dispose();
