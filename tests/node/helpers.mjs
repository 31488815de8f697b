// Shared helpers for the Node API tests.
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { PPOCR } from '../../examples/lib/models.mjs';

export { PPOCR };
export const readModel = (key) => new Uint8Array(fs.readFileSync(PPOCR[key].file));

// Runs bytes in onnxruntime-node; feeds {name: {data, shape}} of float32.
export async function ortRun(bytes, feeds) {
  const session = await ort.InferenceSession.create(bytes);
  const ortFeeds = {};
  for (const [name, f] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(f.dtype ?? 'float32', f.data, f.shape);
  const out = await session.run(ortFeeds);
  await session.release?.();
  return out;
}

// Max |a-b| and max |b| over two equal-length arrays.
export function compare(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return { maxAbs, maxRef, rel: maxAbs / Math.max(maxRef, 1e-30) };
}
