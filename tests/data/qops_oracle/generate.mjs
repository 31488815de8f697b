// Generates the onnxruntime oracle vectors for tests/core/ops_quant_test.cc.
//
//   node tests/data/qops_oracle/generate.mjs        (from the repository root)
//
// Each case is a one-node model (built with scripts/lib/onnx_builder.mjs) run by
// onnxruntime-node 1.30 on deterministic inputs; <case>.bin next to this script
// records the node (op, domain, opset), its attributes, every input slot and
// onnxruntime's outputs. The C++ test rebuilds the node from the file, runs our
// kernel and compares: bit for bit for the integer ops, within a named error
// bound for MatMulNBits (a float GEMM; see the test).
//
// .bin format (little endian), the same container as tests/data/q8_oracle:
//   "WQO1", u32 count, then per tensor:
//   u8 name_len, name, u8 onnx_dtype, u8 rank, i64 dims[rank], u32 nbytes, bytes
// Tensor names: "meta.op" / "meta.domain" (uint8 text), "meta.opset" (int64),
// "attr.<name>" (int64 values), "sattr.<name>" (a string attribute, uint8 text), "in.<slot>.<name>" (a run-time input),
// "init.<slot>.<name>" (an initializer), "out.<slot>.<name>" (onnxruntime's result).
// Slots that are absent (empty optional inputs) have no entry.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeOracleBin } from '../oracle_bin.mjs';
import { buildModel, ONNX_DTYPE } from '../../../scripts/lib/onnx_builder.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ort = require(path.join(here, '../../../node_modules/onnxruntime-node'));

const NAME_OF = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k]));
const ORT_TYPE = { float: 'float32', uint8: 'uint8', int8: 'int8', uint16: 'uint16', int16: 'int16', int32: 'int32',
  int64: 'int64', uint4: 'uint4', int4: 'int4' };

// ---- deterministic data -------------------------------------------------------
let seed = 20240611;
function rnd() {  // xorshift32 in [0, 1)
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const numel = (dims) => dims.reduce((a, b) => a * b, 1);
const fill = (Arr, n, f) => { const a = new Arr(n); for (let i = 0; i < n; ++i) a[i] = f(i); return a; };
const ARR = { float: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array };
const RANGE = { uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767],
  int32: [-100000, 100000], uint4: [0, 15], int4: [-8, 7] };

// A tensor of `dtype` with random values in its range (4-bit packed low nibble first).
function randTensor(dtype, dims, range = RANGE[dtype]) {
  const n = numel(dims);
  if (dtype === 'uint4' || dtype === 'int4') {
    const bytes = new Uint8Array((n + 1) >> 1);
    for (let i = 0; i < n; ++i) bytes[i >> 1] |= (randInt(range[0], range[1]) & 15) << ((i & 1) * 4);
    return bytes;
  }
  if (dtype === 'float') return fill(Float32Array, n, () => range[0] + rnd() * (range[1] - range[0]));
  return fill(ARR[dtype], n, () => randInt(range[0], range[1]));
}
const scalar = (dtype, v) => new ARR[dtype]([v]);

const writeBin = (file, tensors) => writeOracleBin(path.join(here, file), tensors);

// inputs: array by slot of null (absent) or {name, dtype, dims, data, init}
// outputs: [{name, dtype}]
async function run(file, { op, domain = '', opset, inputs, outputs, attrs = {} }) {
  const present = inputs.filter(Boolean);
  const bytes = buildModel({
    opset: domain ? 21 : opset,
    irVersion: 10,
    extraOpsets: domain ? [{ domain, version: opset }] : [],
    inputs: present.filter((i) => !i.init).map((i) => ({ name: i.name, dtype: i.dtype, shape: i.dims })),
    outputs: outputs.map((o) => ({ name: o.name, dtype: o.dtype })),
    initializers: present.filter((i) => i.init).map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims, data: i.data })),
    nodes: [{ op, domain, inputs: inputs.map((i) => (i ? i.name : '')), outputs: outputs.map((o) => o.name), attrs }],
  });
  const sess = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  const feeds = {};
  for (const i of present) if (!i.init) feeds[i.name] = new ort.Tensor(ORT_TYPE[i.dtype], i.data, i.dims);
  const res = await sess.run(feeds);
  await sess.release();
  const text = (s) => new TextEncoder().encode(s);
  const tensors = [
    { name: 'meta.op', dtype: ONNX_DTYPE.uint8, dims: [text(op).length], data: text(op) },
    { name: 'meta.domain', dtype: ONNX_DTYPE.uint8, dims: [text(domain).length], data: text(domain) },
    { name: 'meta.opset', dtype: ONNX_DTYPE.int64, dims: [1], data: BigInt64Array.from([BigInt(opset)]) },
  ];
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'string') {
      tensors.push({ name: 'sattr.' + k, dtype: ONNX_DTYPE.uint8, dims: [text(v).length], data: text(v) });
      continue;
    }
    const vals = Array.isArray(v) ? v : [v];
    tensors.push({ name: 'attr.' + k, dtype: ONNX_DTYPE.int64, dims: [vals.length], data: BigInt64Array.from(vals.map(BigInt)) });
  }
  inputs.forEach((i, slot) => {
    if (!i) return;
    tensors.push({ name: `${i.init ? 'init' : 'in'}.${slot}.${i.name}`, dtype: ONNX_DTYPE[i.dtype], dims: i.dims, data: i.data });
  });
  outputs.forEach((o, slot) => {
    const t = res[o.name];
    const dtype = Object.entries(ORT_TYPE).find(([, s]) => s === t.type)[0];
    tensors.push({ name: `out.${slot}.${o.name}`, dtype: ONNX_DTYPE[dtype], dims: t.dims, data: t.data });
  });
  writeBin(file, tensors);
  console.log(`${file}: ${domain ? domain + ':' : ''}${op} -> ${outputs.map((o) => `${o.name}${JSON.stringify(res[o.name].dims)}`).join(', ')}`);
}

const T = (name, dtype, dims, data, init = false) => ({ name, dtype, dims, data: data ?? randTensor(dtype, dims), init });

// onnxruntime's MatMulNBits weights for a random float W [N][K]: per block of
// `block` along K, asymmetric uint4 (scale = (max - min) / 15, zero point
// round(-min / scale)) or, without zero points, symmetric around 8.
function nbitsWeights(N, K, block, withZp) {
  const blocks = Math.ceil(K / block);
  const B = new Uint8Array(N * blocks * (block / 2));
  const scales = new Float32Array(N * blocks);
  const zps = new Uint8Array(N * Math.ceil(blocks / 2));
  for (let n = 0; n < N; ++n) {
    for (let b = 0; b < blocks; ++b) {
      const w = fill(Float32Array, block, (t) => (b * block + t < K ? (rnd() - 0.5) * 2 : 0));
      let lo = Math.min(0, ...w), hi = Math.max(0, ...w);
      let scale, zp;
      if (withZp) {
        scale = (hi - lo) / 15 || 1;
        zp = Math.min(15, Math.max(0, Math.round(-lo / scale)));
      } else {
        scale = Math.max(-lo, hi) / 7 || 1;
        zp = 8;
      }
      scales[n * blocks + b] = scale;
      if (withZp) zps[n * Math.ceil(blocks / 2) + (b >> 1)] |= zp << ((b & 1) * 4);
      for (let t = 0; t < block; ++t) {
        const q = Math.min(15, Math.max(0, Math.round(w[t] / scale) + zp));
        B[(n * blocks + b) * (block / 2) + (t >> 1)] |= q << ((t & 1) * 4);
      }
    }
  }
  return { B, scales, zps, blocks };
}

// ---- cases ----------------------------------------------------------------------
async function main() {
  // DequantizeLinear: per-axis int8, int32 (bias), block-wise and int4 (opset 21).
  await run('dql_axis_s8.bin', { op: 'DequantizeLinear', opset: 13, attrs: { axis: 0 },
    inputs: [T('x', 'int8', [3, 4, 5]), T('s', 'float', [3], new Float32Array([0.5, 0.031, 2.25]), true),
      T('z', 'int8', [3], new Int8Array([-3, 0, 100]), true)],
    outputs: [{ name: 'y', dtype: 'float' }] });
  await run('dql_int32.bin', { op: 'DequantizeLinear', opset: 13,
    inputs: [T('x', 'int32', [17]), T('s', 'float', [], scalar('float', 0.00041), true)],
    outputs: [{ name: 'y', dtype: 'float' }] });
  await run('dql_blocked_u8.bin', { op: 'DequantizeLinear', opset: 21, attrs: { axis: 1, block_size: 4 },
    inputs: [T('x', 'uint8', [2, 10, 3]), T('s', 'float', [2, 3, 3], randTensor('float', [2, 3, 3], [0.01, 0.2]), true),
      T('z', 'uint8', [2, 3, 3], undefined, true)],
    outputs: [{ name: 'y', dtype: 'float' }] });
  await run('dql_int4_axis.bin', { op: 'DequantizeLinear', opset: 21, attrs: { axis: 1 },
    inputs: [T('x', 'int4', [3, 5], undefined, true), T('s', 'float', [5], randTensor('float', [5], [0.1, 1]), true),
      T('z', 'int4', [5], undefined, true)],
    outputs: [{ name: 'y', dtype: 'float' }] });
  await run('dql_uint4.bin', { op: 'DequantizeLinear', opset: 21,
    inputs: [T('x', 'uint4', [7], undefined, true), T('s', 'float', [], scalar('float', 0.37), true), T('z', 'uint4', [], new Uint8Array([9]), true)],
    outputs: [{ name: 'y', dtype: 'float' }] });

  // QuantizeLinear: per-axis int8, block-wise, int4, uint16 (opset 21).
  await run('ql_axis_s8.bin', { op: 'QuantizeLinear', opset: 13, attrs: { axis: -1 },
    inputs: [T('x', 'float', [4, 6], randTensor('float', [4, 6], [-30, 30])),
      T('s', 'float', [6], new Float32Array([0.1, 0.2, 0.05, 1, 0.25, 0.5]), true),
      T('z', 'int8', [6], new Int8Array([0, -10, 10, 127, -128, 3]), true)],
    outputs: [{ name: 'y', dtype: 'int8' }] });
  await run('ql_blocked_s8.bin', { op: 'QuantizeLinear', opset: 21, attrs: { axis: 0, block_size: 3 },
    inputs: [T('x', 'float', [7, 4], randTensor('float', [7, 4], [-10, 10])),
      T('s', 'float', [3, 4], randTensor('float', [3, 4], [0.02, 0.1]), true), T('z', 'int8', [3, 4], undefined, true)],
    outputs: [{ name: 'y', dtype: 'int8' }] });
  // onnxruntime-node cannot return int4 tensors; the test derives the int4
  // result from this int8 one: clamp(q8, -8, 7) (same scale and zero point).
  await run('ql_for_int4.bin', { op: 'QuantizeLinear', opset: 21,
    inputs: [T('x', 'float', [11], randTensor('float', [11], [-3, 3])), T('s', 'float', [], scalar('float', 0.3), true),
      T('z', 'int8', [], scalar('int8', -2), true)],
    outputs: [{ name: 'y', dtype: 'int8' }] });
  await run('ql_uint16.bin', { op: 'QuantizeLinear', opset: 21,
    inputs: [T('x', 'float', [9], randTensor('float', [9], [-5, 30])), T('s', 'float', [], scalar('float', 0.0007), true),
      T('z', 'uint16', [], scalar('uint16', 5000), true)],
    outputs: [{ name: 'y', dtype: 'uint16' }] });

  // MatMulInteger: batched A and B, per-column B zero point, both signs.
  await run('mmi_batched_u8s8.bin', { op: 'MatMulInteger', opset: 10,
    inputs: [T('a', 'uint8', [2, 3, 5, 19]), T('b', 'int8', [3, 19, 11], undefined, true),
      T('az', 'uint8', [], scalar('uint8', 77), true), T('bz', 'int8', [3, 1, 11], undefined, true)],
    outputs: [{ name: 'y', dtype: 'int32' }] });
  await run('mmi_s8u8_nozp.bin', { op: 'MatMulInteger', opset: 10,
    inputs: [T('a', 'int8', [1, 6, 33]), T('b', 'uint8', [33, 9], undefined, true)],
    outputs: [{ name: 'y', dtype: 'int32' }] });

  // QLinearMatMul: 3-D A, per-column B scale / zero point, int8 out.
  await run('qlmm_percol.bin', { op: 'QLinearMatMul', opset: 10,
    inputs: [T('a', 'int8', [2, 5, 40]), T('as', 'float', [], scalar('float', 0.023)), T('az', 'int8', [], scalar('int8', -7)),
      T('b', 'int8', [40, 13], undefined, true), T('bs', 'float', [13], randTensor('float', [13], [0.002, 0.02]), true),
      T('bz', 'int8', [13], new Int8Array(13), true), T('ys', 'float', [], scalar('float', 0.09), true),
      T('yz', 'int8', [], scalar('int8', 5), true)],
    outputs: [{ name: 'y', dtype: 'int8' }] });

  // ConvInteger: padding, stride, group; uint8 x and weights.
  await run('convinteger_grouped.bin', { op: 'ConvInteger', opset: 10,
    attrs: { pads: [1, 0, 1, 2], strides: [2, 1], group: 2 },
    inputs: [T('x', 'uint8', [2, 4, 7, 6]), T('w', 'uint8', [6, 2, 3, 2], undefined, true),
      T('xz', 'uint8', [], scalar('uint8', 131), true), T('wz', 'uint8', [], scalar('uint8', 120), true)],
    outputs: [{ name: 'y', dtype: 'int32' }] });

  // QLinearConv: 1-D, SAME_UPPER, stride 2, int8 in and out, per-channel weights, bias.
  await run('qlinearconv_1d_s8.bin', { op: 'QLinearConv', opset: 10,
    attrs: { auto_pad: 'SAME_UPPER', strides: [2], kernel_shape: [3] },
    inputs: [T('x', 'int8', [1, 5, 23]), T('xs', 'float', [], scalar('float', 0.05)), T('xz', 'int8', [], scalar('int8', -3)),
      T('w', 'int8', [4, 5, 3], undefined, true), T('ws', 'float', [4], randTensor('float', [4], [0.003, 0.02]), true),
      T('wz', 'int8', [4], new Int8Array(4), true), T('ys', 'float', [], scalar('float', 0.08), true),
      T('yz', 'int8', [], scalar('int8', 4), true), T('b', 'int32', [4], randTensor('int32', [4], [-2000, 2000]), true)],
    outputs: [{ name: 'y', dtype: 'int8' }] });

  // com.microsoft MatMulNBits: GEMV and GEMM, zero points or not, bias, K not a
  // multiple of the block, both accuracy levels.
  const nbits = [
    ['nbits_gemv_zp_acc4.bin', [1, 256], 37, 32, true, true, 4],
    ['nbits_gemv_zp_acc0.bin', [1, 256], 37, 32, true, true, 0],
    ['nbits_gemm_nozp_acc0.bin', [2, 5, 200], 20, 64, false, false, 0],
    ['nbits_gemm_nozp_acc4.bin', [2, 5, 200], 20, 64, false, false, 4],
    ['nbits_gemm_zp_b128_acc4.bin', [7, 300], 16, 128, true, true, 4],
  ];
  for (const [file, aDims, N, block, withZp, withBias, level] of nbits) {
    const K = aDims[aDims.length - 1];
    const w = nbitsWeights(N, K, block, withZp);
    const inputs = [T('a', 'float', aDims, randTensor('float', aDims, [-2, 2])),
      T('b', 'uint8', [N, w.blocks, block / 2], w.B, true), T('scales', 'float', [N, w.blocks], w.scales, true),
      withZp ? T('zp', 'uint8', [N, Math.ceil(w.blocks / 2)], w.zps, true) : null, null,
      withBias ? T('bias', 'float', [N], randTensor('float', [N], [-1, 1]), true) : null];
    while (inputs.length && !inputs[inputs.length - 1]) inputs.pop();
    await run(file, { op: 'MatMulNBits', domain: 'com.microsoft', opset: 1,
      attrs: { K, N, bits: 4, block_size: block, accuracy_level: level }, inputs, outputs: [{ name: 'y', dtype: 'float' }] });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
