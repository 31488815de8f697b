// Float latency of real models: webquant (WASM, 1 thread) next to
// onnxruntime-web's wasm backend (numThreads = 1) on the same input, in the
// same process. Also the peak live activation bytes of our run.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Model, heapSize } from '../../bindings/js/index.js';
import { PPOCR } from '../../examples/lib/models.mjs';
import { textImage } from '../../examples/lib/text_image.mjs';
import { timeRuns, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function encoderFeeds(batch, seq) {
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq).fill(1n);
  for (let i = 0; i < ids.length; ++i) ids[i] = BigInt((i * 7919 + 13) % 1000);
  return {
    input_ids: { data: ids, shape: [batch, seq] },
    attention_mask: { data: mask, shape: [batch, seq] },
  };
}

export function floatCases() {
  const img = (key) => ({ x: textImage(PPOCR[key].height, PPOCR[key].width, { seed: 3 }) });
  return [
    { name: 'ppocr-cls 1x3x48x192', file: PPOCR.cls.file, feeds: img('cls') },
    { name: 'ppocr-rec 1x3x48x320', file: PPOCR.rec.file, feeds: img('rec') },
    { name: 'ppocr-det 1x3x640x640', file: PPOCR.det.file, feeds: img('det') },
    { name: 'encoder (2 layers, d128) 1x128', file: path.join(root, 'examples/models/encoder_opset17.onnx'),
      feeds: encoderFeeds(1, 128) },
  ];
}

export async function benchFloatModels({ runs = 10, only = null } = {}) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const results = [];
  for (const c of floatCases()) {
    if (only && !c.name.includes(only)) continue;
    const bytes = fs.readFileSync(c.file);
    const row = { model: c.name, modelBytes: bytes.length };
    try {
      const model = await Model.load(bytes);
      const ours = await timeRuns(() => model.run(c.feeds), { warmup: 2, runs });
      row.webquantMs = ours.median;
      row.webquantMinMs = ours.min;
      row.peakActivationBytes = model.lastRunStats.peakActivationBytes;
      model.dispose();
    } catch (e) {
      row.webquantError = `${e.code ?? ''} ${e.message}`.trim();
    }
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const feeds = {};
    for (const [k, v] of Object.entries(c.feeds)) {
      const dtype = v.data instanceof BigInt64Array ? 'int64' : 'float32';
      feeds[k] = new ort.Tensor(dtype, v.data, v.shape);
    }
    const theirs = await timeRuns(() => session.run(feeds), { warmup: 2, runs });
    await session.release();
    row.ortWebMs = theirs.median;
    row.ortWebMinMs = theirs.min;
    if (row.webquantMs) row.ratio = row.webquantMs / row.ortWebMs;
    results.push(row);
  }
  printTable(`Float latency, median of ${runs} runs after warm-up (Node, WASM, 1 thread)`,
    ['model', 'webquant ms', 'ort-web ms', 'ratio', 'peak act. MiB'],
    results.map((r) => [r.model, r.webquantMs?.toFixed(2) ?? `error: ${r.webquantError}`, r.ortWebMs.toFixed(2),
      r.ratio ? r.ratio.toFixed(2) + 'x' : '-', r.peakActivationBytes ? (r.peakActivationBytes / 1048576).toFixed(2) : '-']));
  console.log(`WASM heap after the float benchmarks: ${(heapSize() / 1048576).toFixed(1)} MiB`);
  return results;
}
