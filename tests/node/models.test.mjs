// Real models end to end against onnxruntime-node: the three PP-OCR models at
// their working resolutions and a PyTorch-exported transformer encoder (with
// LayerNormalization, and with it decomposed at opset 13) at batch 1 and 8.
// Bound: max abs error <= 1e-3, and relative error <= 1e-4 where |value| > 10.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model } from '../../bindings/js/index.js';
import { textImage } from '../../examples/lib/text_image.mjs';
import { PPOCR, ortRun } from './helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
await init();

function assertClose(ours, ref, label) {
  assert.equal(ours.length, ref.length, `${label}: length`);
  let maxAbs = 0, worstRel = 0;
  for (let i = 0; i < ref.length; ++i) {
    const d = Math.abs(ours[i] - ref[i]);
    assert.ok(Number.isFinite(ours[i]) || ours[i] === ref[i], `${label}[${i}] = ${ours[i]}`);
    maxAbs = Math.max(maxAbs, d);
    if (Math.abs(ref[i]) > 10) worstRel = Math.max(worstRel, d / Math.abs(ref[i]));
  }
  assert.ok(maxAbs <= 1e-3, `${label}: max abs error ${maxAbs}`);
  assert.ok(worstRel <= 1e-4, `${label}: relative error ${worstRel} on large values`);
  return maxAbs;
}

async function compareModel(file, feeds, label) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const model = await Model.load(bytes);
  const ours = model.run(feeds);
  const ortFeeds = {};
  for (const [k, v] of Object.entries(feeds)) {
    ortFeeds[k] = { ...v, dtype: v.data instanceof BigInt64Array ? 'int64' : 'float32' };
  }
  const ref = await ortRun(bytes, ortFeeds);
  for (const out of model.outputs) {
    assert.deepEqual(ours[out.name].shape, Array.from(ref[out.name].dims), `${label} ${out.name} shape`);
    assertClose(ours[out.name].data, ref[out.name].data, `${label} ${out.name}`);
  }
  model.dispose();
}

for (const key of ['cls', 'rec', 'det']) {
  test(`PP-OCR ${key} at 1x3x${PPOCR[key].height}x${PPOCR[key].width} matches onnxruntime-node`, async () => {
    const img = textImage(PPOCR[key].height, PPOCR[key].width, { seed: 21 });
    await compareModel(PPOCR[key].file, { x: img }, `ppocr-${key}`);
  });
}

function encoderFeeds(batch, seq, seed) {
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; ++b) {
    const len = seq - ((b * 3 + seed) % Math.max(1, seq >> 1));  // ragged lengths, padded with mask 0
    for (let s = 0; s < seq; ++s) {
      ids[b * seq + s] = BigInt((b * 131 + s * 17 + seed * 7) % 1000);
      mask[b * seq + s] = s < len ? 1n : 0n;
    }
  }
  return { input_ids: { data: ids, shape: [batch, seq] }, attention_mask: { data: mask, shape: [batch, seq] } };
}

for (const opset of [17, 13]) {
  test(`transformer encoder (opset ${opset}) at batch 1 and 8 matches onnxruntime-node`, async () => {
    const file = path.join(root, `examples/models/encoder_opset${opset}.onnx`);
    await compareModel(file, encoderFeeds(1, 16, 1), `encoder${opset} b1`);
    await compareModel(file, encoderFeeds(8, 37, 2), `encoder${opset} b8`);
  });
}
