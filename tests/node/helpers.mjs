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

// onnxruntime-node's uint8 x int8 GEMM (MLAS) on x86 CPUs without AVX-512
// VNNI / AVX-VNNI sums pairs of products in int16 with saturation
// (vpmaddubsw), so its results there are not the exact integer products that
// ONNX defines (onnxruntime documents this and recommends reduce_range). This
// probe asks it for 64 products of 255 x 127, whose exact sum is 2,072,640:
// true when it answers anything else. onnxruntime-web (WebAssembly) computes
// exactly everywhere, so tests that need an exact int8 oracle use it then.
let saturationProbe = null;
export async function ortNodeSaturatesU8S8() {
  if (saturationProbe) return saturationProbe;
  saturationProbe = (async () => {
    const { buildModel } = await import('../../scripts/lib/onnx_builder.mjs');
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'a', dtype: 'uint8', shape: [1, 64] }],
      outputs: [{ name: 'y', dtype: 'int32', shape: [1, 1] }],
      initializers: [{ name: 'b', dtype: 'int8', dims: [64, 1], data: new Int8Array(64).fill(127) }],
      nodes: [{ op: 'MatMulInteger', inputs: ['a', 'b'], outputs: ['y'] }],
    });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ a: new ort.Tensor('uint8', new Uint8Array(64).fill(255), [1, 64]) });
    await session.release?.();
    return out.y.data[0] !== 64 * 255 * 127;
  })();
  return saturationProbe;
}
