// Generates the onnxruntime oracle vectors for tests/core/kernels_q8_test.cc.
//
//   node tests/data/q8_oracle/generate.mjs        (from the repository root)
//
// Each case builds a one-node ONNX model (scripts/lib/onnx_builder.mjs), runs it with onnxruntime-node on deterministic inputs, and
// writes <case>.bin next to this script: inputs, attributes and outputs as
// named tensors. The C++ test feeds the same inputs to our kernels and
// requires identical output bytes.
//
// .bin format (little endian): "WQO1", u32 count, then per tensor:
//   u8 name_len, name, u8 onnx_dtype, u8 rank, i64 dims[rank], u32 nbytes, bytes
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeOracleBin } from '../oracle_bin.mjs';
import { buildModel, ONNX_DTYPE } from '../../../scripts/lib/onnx_builder.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ort = require(path.join(here, '../../../node_modules/onnxruntime-node'));

const DT = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7 };
const ARR = { 1: Float32Array, 2: Uint8Array, 3: Int8Array, 6: Int32Array, 7: BigInt64Array };
const ORT_TYPE = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64' };
const NAME_OF = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k]));

// inputs: [{name, dtype, dims, data, init}]; outputs: [{name, dtype, dims}] (dims may be [] = unknown rank)
function model(opType, inputs, outputs, attrs, opset) {
  return buildModel({
    opset,
    inputs: inputs.filter((x) => !x.init).map((x) => ({ name: x.name, dtype: NAME_OF[x.dtype], shape: x.dims })),
    outputs: outputs.map((o) => ({ name: o.name, dtype: NAME_OF[o.dtype] })),
    initializers: inputs.filter((x) => x.init).map((x) => ({ name: x.name, dtype: NAME_OF[x.dtype], dims: x.dims, data: x.data })),
    nodes: [{ name: 'n0', op: opType, inputs: inputs.map((x) => x.name), outputs: outputs.map((o) => o.name), attrs }],
  });
}

// ---- deterministic data -------------------------------------------------------
let seed = 12345;
function rnd() {  // xorshift32 in [0, 1)
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const fill = (Arr, n, f) => { const a = new Arr(n); for (let i = 0; i < n; ++i) a[i] = f(i); return a; };
const numel = (dims) => dims.reduce((a, b) => a * b, 1);

const writeBin = (file, tensors) => writeOracleBin(path.join(here, file), tensors);

async function run(file, opType, inputs, outputs, attrs, opset) {
  const bytes = model(opType, inputs, outputs, attrs, opset);
  const sess = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  const feeds = {};
  for (const i of inputs) if (!i.init) feeds[i.name] = new ort.Tensor(ORT_TYPE[i.dtype], i.data, i.dims);
  const res = await sess.run(feeds);
  const tensors = [];
  for (const i of inputs) tensors.push({ name: 'in.' + i.name, dtype: i.dtype, dims: i.dims, data: i.data });
  for (const [k, v] of Object.entries(attrs)) {
    const vals = Array.isArray(v) ? v : [v];
    tensors.push({ name: 'attr.' + k, dtype: DT.int64, dims: [vals.length], data: BigInt64Array.from(vals.map(BigInt)) });
  }
  for (const o of outputs) {
    const t = res[o.name];
    const dtype = Object.entries(ORT_TYPE).find(([, s]) => s === t.type)[0] | 0;
    tensors.push({ name: 'out.' + o.name, dtype, dims: t.dims, data: t.data });
  }
  writeBin(file, tensors);
  console.log(`${file}: ${opType} -> ${outputs.map((o) => `${o.name}${JSON.stringify(res[o.name].dims)}`).join(', ')}`);
}

const scalar = (name, dtype, v) => ({ name, dtype, dims: [], data: new ARR[dtype]([v]), init: true });

// ---- cases ----------------------------------------------------------------------
async function main() {
  // QuantizeLinear: ties, saturation, NaN/inf, per-tensor u8 / s8 and per-axis.
  {
    const n = 300;
    const x = fill(Float32Array, n, (i) => {
      if (i < 40) return (i - 20) + 0.5;             // exact ties at scale 1
      if (i === 40) return NaN;
      if (i === 41) return Infinity;
      if (i === 42) return -Infinity;
      if (i < 60) return (rnd() - 0.5) * 1e5;        // saturating
      return (rnd() - 0.5) * 8;
    });
    const x2 = fill(Float32Array, n, (i) => i < 40 ? ((i - 20) + 0.5) * 0.25 : x[i]);
    await run('quantize_u8.bin', 'QuantizeLinear',
      [{ name: 'x', dtype: DT.float, dims: [n], data: x2 }, scalar('s', DT.float, 0.25), scalar('z', DT.uint8, 131)],
      [{ name: 'y', dtype: DT.uint8 }], {}, 13);
    await run('quantize_s8.bin', 'QuantizeLinear',
      [{ name: 'x', dtype: DT.float, dims: [n], data: x }, scalar('s', DT.float, 0.0372549), scalar('z', DT.int8, -128)],
      [{ name: 'y', dtype: DT.int8 }], {}, 13);
    const xa = fill(Float32Array, 2 * 3 * 5, () => (rnd() - 0.5) * 20);
    await run('quantize_axis.bin', 'QuantizeLinear',
      [{ name: 'x', dtype: DT.float, dims: [2, 3, 5], data: xa },
       { name: 's', dtype: DT.float, dims: [3], data: new Float32Array([0.1, 0.07, 0.5]), init: true },
       { name: 'z', dtype: DT.uint8, dims: [3], data: new Uint8Array([0, 128, 255]), init: true }],
      [{ name: 'y', dtype: DT.uint8 }], { axis: 1 }, 13);
  }
  // DynamicQuantizeLinear: mixed signs, all positive, all zero.
  {
    const mixed = fill(Float32Array, 3 * 67, () => (rnd() - 0.3) * 7);
    const pos = fill(Float32Array, 50, () => rnd() * 3 + 0.1);
    const zero = new Float32Array(9);
    for (const [file, x] of [['dql_mixed.bin', mixed], ['dql_positive.bin', pos], ['dql_zero.bin', zero]]) {
      await run(file, 'DynamicQuantizeLinear', [{ name: 'x', dtype: DT.float, dims: [x.length], data: x }],
        [{ name: 'y', dtype: DT.uint8 }, { name: 'y_scale', dtype: DT.float }, { name: 'y_zero_point', dtype: DT.uint8 }],
        {}, 11);
    }
  }
  // MatMulInteger: uint8 A with zp x int8 B with per-column zp -> int32.
  {
    const M = 7, K = 67, N = 19;
    const a = fill(Uint8Array, M * K, () => randInt(0, 255));
    const b = fill(Int8Array, K * N, () => randInt(-128, 127));
    const bz = fill(Int8Array, N, (i) => [0, -128, 127, 5][i % 4]);
    await run('matmulinteger.bin', 'MatMulInteger',
      [{ name: 'a', dtype: DT.uint8, dims: [M, K], data: a }, { name: 'b', dtype: DT.int8, dims: [K, N], data: b, init: true },
       scalar('az', DT.uint8, 255), { name: 'bz', dtype: DT.int8, dims: [N], data: bz, init: true }],
      [{ name: 'y', dtype: DT.int32 }], {}, 10);
  }
  // QLinearMatMul: u8 x s8 -> u8, u8 x u8 -> u8, s8 x s8 -> s8.
  {
    const cases = [
      ['qlinearmatmul_u8s8.bin', DT.uint8, DT.int8, DT.uint8, 33, 65, 17, 130, 0, 128],
      ['qlinearmatmul_u8u8.bin', DT.uint8, DT.uint8, DT.uint8, 5, 31, 9, 3, 131, 128],
      ['qlinearmatmul_s8s8.bin', DT.int8, DT.int8, DT.int8, 16, 64, 33, -128, 0, -20],
    ];
    for (const [file, ta, tb, ty, M, K, N, az, bz, yz] of cases) {
      const rng = (t) => (t === DT.uint8 ? () => randInt(0, 255) : () => randInt(-128, 127));
      const a = fill(ARR[ta], M * K, rng(ta));
      const b = fill(ARR[tb], K * N, rng(tb));
      await run(file, 'QLinearMatMul',
        [{ name: 'a', dtype: ta, dims: [M, K], data: a }, scalar('as', DT.float, 0.0213), scalar('az', ta, az),
         { name: 'b', dtype: tb, dims: [K, N], data: b, init: true }, scalar('bs', DT.float, 0.0071), scalar('bz', tb, bz),
         scalar('ys', DT.float, 0.713), scalar('yz', ty, yz)],
        [{ name: 'y', dtype: ty }], {}, 10);
    }
  }
  // QLinearConv: dense, strided/dilated/asymmetric pads, depthwise, grouped; per-channel scales.
  {
    const cases = [
      ['qlinearconv_dense.bin', 1, 3, 8, 9, 11, 3, 3, { pads: [1, 1, 1, 1], strides: [1, 1] }, false],
      ['qlinearconv_strided.bin', 2, 4, 6, 13, 10, 3, 2, { pads: [0, 2, 1, 0], strides: [2, 3], dilations: [2, 1] }, false],
      ['qlinearconv_depthwise.bin', 1, 6, 6, 12, 12, 3, 3, { pads: [1, 1, 1, 1], strides: [1, 1], group: 6 }, false],
      ['qlinearconv_dw_s2.bin', 1, 5, 5, 15, 14, 5, 5, { pads: [2, 2, 2, 2], strides: [2, 2], group: 5 }, false],
      ['qlinearconv_grouped_u8w.bin', 1, 4, 6, 7, 8, 1, 1, { group: 2 }, true],
    ];
    for (const [file, n, c, m, h, w, kh, kw, attrs, u8w] of cases) {
      const g = attrs.group || 1;
      const x = fill(Uint8Array, n * c * h * w, () => randInt(0, 255));
      const wt = u8w ? fill(Uint8Array, m * (c / g) * kh * kw, () => randInt(0, 255))
                     : fill(Int8Array, m * (c / g) * kh * kw, () => randInt(-127, 127));
      const ws = fill(Float32Array, m, () => 0.002 + rnd() * 0.01);
      const bias = fill(Int32Array, m, () => randInt(-3000, 3000));
      const wz = u8w ? new Uint8Array([128]) : new Int8Array([0]);
      await run(file, 'QLinearConv',
        [{ name: 'x', dtype: DT.uint8, dims: [n, c, h, w], data: x }, scalar('xs', DT.float, 0.0183), scalar('xz', DT.uint8, 97),
         { name: 'w', dtype: u8w ? DT.uint8 : DT.int8, dims: [m, c / g, kh, kw], data: wt, init: true },
         { name: 'ws', dtype: DT.float, dims: u8w ? [] : [m], data: u8w ? new Float32Array([0.005]) : ws, init: true },
         { name: 'wz', dtype: u8w ? DT.uint8 : DT.int8, dims: [], data: wz, init: true },
         scalar('ys', DT.float, 0.0417), scalar('yz', DT.uint8, 121),
         { name: 'b', dtype: DT.int32, dims: [m], data: bias, init: true }],
        [{ name: 'y', dtype: DT.uint8 }], { kernel_shape: [kh, kw], ...attrs }, 10);
    }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
