// Seeded inputs matching a model's declared inputs: symbolic or unknown dims get
// small values (DIM_HINTS per base model, else 1 for the batch axis and 4 for
// the rest). Returns null when the declared inputs cannot be fed (unknown
// dtype, missing shape, more than kMaxElements elements).

const kMaxElements = 1 << 22;

// The package's seeded PRNG (mulberry32), so the fuzz inputs are the ones webquant/data generates.
import { rng } from '../../bindings/js/data/samples.js';

export { rng };

function fill(dtype, n, rand) {
  switch (dtype) {
    case 'float': return Float32Array.from({ length: n }, () => rand() * 2 - 1);
    case 'double': return Float64Array.from({ length: n }, () => rand() * 2 - 1);
    case 'int64': return BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 4)));
    case 'uint64': return BigUint64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 4)));
    case 'int32': return Int32Array.from({ length: n }, () => Math.floor(rand() * 4));
    case 'uint32': return Uint32Array.from({ length: n }, () => Math.floor(rand() * 4));
    case 'int16': return Int16Array.from({ length: n }, () => Math.floor(rand() * 4));
    case 'uint16': return Uint16Array.from({ length: n }, () => Math.floor(rand() * 4));
    case 'int8': return Int8Array.from({ length: n }, () => Math.floor(rand() * 256) - 128);
    case 'uint8': case 'bool': return Uint8Array.from({ length: n }, () => Math.floor(rand() * (dtype === 'bool' ? 2 : 256)));
    case 'float16': case 'bfloat16': return Uint16Array.from({ length: n }, () => 0x3c00 | Math.floor(rand() * 0x3ff));
    default: return null;
  }
}

/** inputs: Model.inputs; hints: {axis: size}; returns {name: {data, shape, dtype}} or null. */
export function makeFeeds(inputs, seed, hints = {}) {
  const rand = rng(seed);
  const feeds = {};
  for (const inp of inputs) {
    if (!Array.isArray(inp.shape)) return null;
    const shape = inp.shape.map((d, axis) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (hints[axis] !== undefined) return hints[axis];
      return axis === 0 ? 1 : 4;
    });
    let n = 1;
    for (const d of shape) n *= d;
    if (!Number.isSafeInteger(n) || n > kMaxElements) return null;
    const data = fill(inp.dtype, n, rand);
    if (!data) return null;
    feeds[inp.name] = { data, shape, dtype: inp.dtype };
  }
  return feeds;
}
