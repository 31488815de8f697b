// Quantized ONNX graphs on webquant's runtime against onnxruntime-node, on the
// same model bytes: QDQ Conv / MatMul / Gemm (fused onto the int8 kernels at
// load), dynamically quantized MatMul, 8-bit pass-through ops, MatMulNBits and
// int4 DequantizeLinear weights.
//
// (i) fusion: the run allocates exactly the 8-bit tensors of the fused graph
//     (lastRunStats.totalAllocatedBytes); the unfused graph would allocate its
//     float intermediates as well.
// (ii) onnxruntime fuses the same QDQ patterns into QLinearConv / QLinearMatMul /
//     QGemm with the same fp32 requantization, so 8-bit outputs must be equal
//     bit for bit. Where onnxruntime keeps a pattern in float (a float bias, a
//     Relu it cannot drop because the zero point is not the range minimum, a
//     Clip) an element may differ by one step, and only where the exact value
//     lies within float rounding of a rounding boundary (checked per element
//     from the exact integer accumulator; bound derived in
//     tests/core/runtime_optimize_test.cc).
// (iii) float outputs (dynamic MatMul, MatMulNBits, int4 weights) within 1e-5 of
//     the largest reference value.
import test from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { init, Model } from '../../bindings/js/index.js';
import { ortNodeSaturatesU8S8 } from './helpers.mjs';
import { buildModel } from '../../scripts/lib/onnx_builder.mjs';

await init();

// ---- data ---------------------------------------------------------------------------

function rng(seed) {
  let s = BigInt(seed) * 0x9E3779B97F4A7C15n + 1n;
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn;
    return Number(s >> 33n) / 2 ** 31;
  };
}
const RANGE = { uint8: [0, 255], int8: [-128, 127] };
const ARRAY = { uint8: Uint8Array, int8: Int8Array, int32: Int32Array, float: Float32Array };
const f32 = Math.fround;

function randomQ(r, type, n) {
  const [lo, hi] = RANGE[type];
  const a = new ARRAY[type](n);
  for (let i = 0; i < n; ++i) a[i] = lo + Math.floor(r() * (hi - lo + 1));
  return a;
}
function randomF(r, n, lo, hi) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = lo + (hi - lo) * r();
  return a;
}
const scalar = (name, dtype, v) => ({ name, dtype, dims: [], data: new ARRAY[dtype]([v]) });
const vec = (name, dtype, values) => ({ name, dtype, dims: [values.length], data: ARRAY[dtype].from(values) });

// round half to even, as QuantizeLinear rounds
function rint(v) {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) return f + 1;
  return f;
}

// ---- running --------------------------------------------------------------------------

// The int8 oracle: onnxruntime-node, or onnxruntime-web where onnxruntime-node's
// uint8 x int8 GEMM saturates on this CPU (see helpers.mjs); both are
// onnxruntime, built from the same graph optimizer and MLAS kernels.
ortWeb.env.wasm.numThreads = 1;
const saturates = await ortNodeSaturatesU8S8();
if (saturates) console.log('# onnxruntime-node saturates uint8 x int8 products on this CPU: int8 oracle = onnxruntime-web');

async function runOrt(bytes, feeds, options = {}) {
  const oracle = saturates && !options.extra ? ortWeb : ort;
  const s = await oracle.InferenceSession.create(bytes, options);
  const f = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new oracle.Tensor(v.dtype === 'float' || !v.dtype ? 'float32' : v.dtype, v.data, v.shape);
  const out = await s.run(f);
  await s.release?.();
  return out;
}

function runOurs(bytes, feeds, outputs) {
  const model = Model.loadSync(bytes);
  try {
    const out = model.run(feeds, outputs ? { outputs } : {});
    return { out, stats: model.lastRunStats };
  } finally {
    model.dispose();
  }
}

// Checks an 8-bit result against onnxruntime's: equal everywhere when
// onnxruntime fuses the pattern too, else equal or one step apart where
// exact[i] = {value before rounding, float error bound} lies on a boundary.
function checkQ8(ours, theirs, exact, { ortFuses, label }) {
  assert.equal(ours.length, theirs.length, `${label}: length`);
  let differ = 0;
  for (let i = 0; i < ours.length; ++i) {
    if (ours[i] === theirs[i]) continue;
    ++differ;
    const e = exact[i];
    assert.ok(!ortFuses, `${label}: element ${i} is ${ours[i]}, onnxruntime ${theirs[i]} (exact ${e.value})`);
    const boundary = Math.floor(e.value) + 0.5;
    assert.ok(Math.abs(ours[i] - theirs[i]) === 1 && Math.abs(e.value - boundary) <= e.bound,
      `${label}: element ${i} is ${ours[i]}, onnxruntime ${theirs[i]}, exact ${e.value} (bound ${e.bound})`);
  }
  return differ;
}

// The float error of the unfused graph for one output (in output steps): K
// products and additions, bias, division, each within 2^-24 relative; plus
// the fused multiplier's rounding and a float bias rounded to int32.
function bound(terms, sumAbs, value, yScale, multiplier, floatBias) {
  return (terms + 4) * 2 ** -23 * sumAbs / yScale + (Math.abs(value) + 1) * 2 ** -20 + (floatBias ? 0.5 * multiplier : 0);
}

// ---- QDQ Conv -------------------------------------------------------------------------------

function qdqConv(p, seed) {
  const r = rng(seed);
  const { n = 1, c, m, h, w, k = 3, stride = 1, pad = 1, group = 1, xType, wType, perChannel, bias, act, yType, yZp } = p;
  const cg = c / group, K = cg * k * k;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1, ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const xs = 0.02, xZp = xType === 'uint8' ? 128 : 0;
  const wq = randomQ(r, wType, m * K);
  const wZp = wType === 'uint8' ? 128 : 0;
  const ws = Array.from({ length: perChannel ? m : 1 }, () => f32(0.002 + 0.004 * r()));
  const ys = f32(xs * ws[0] * 74 * 74 * Math.sqrt(K) * 2.5 / 127);
  const biasF = Array.from({ length: m }, () => f32((r() * 80 - 40) * ys));
  const biasI = Array.from({ length: m }, () => Math.round(r() * 40000 - 20000));
  const inits = [
    scalar('xs', 'float', xs), scalar('xzp', xType, xZp), scalar('ys', 'float', ys), scalar('yzp', yType, yZp),
    { name: 'wq', dtype: wType, dims: [m, cg, k, k], data: wq },
    perChannel ? vec('ws', 'float', ws) : scalar('ws', 'float', ws[0]),
    perChannel ? vec('wzp', wType, new Array(m).fill(wZp)) : scalar('wzp', wType, wZp),
  ];
  const nodes = [
    { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xzp'], outputs: ['xq'] },
    { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xzp'], outputs: ['xd'] },
    { op: 'DequantizeLinear', inputs: ['wq', 'ws', 'wzp'], outputs: ['wd'], attrs: { axis: 0 } },
  ];
  const convIn = ['xd', 'wd'];
  const accScale = (co) => f32(xs * ws[perChannel ? co : 0]);
  if (bias === 'float') {
    inits.push(vec('b', 'float', biasF));
    convIn.push('b');
  } else if (bias === 'int32') {
    inits.push(vec('bq', 'int32', biasI));
    inits.push(perChannel ? vec('bs', 'float', biasI.map((_, co) => accScale(co))) : scalar('bs', 'float', accScale(0)));
    nodes.push({ op: 'DequantizeLinear', inputs: ['bq', 'bs'], outputs: ['b'], attrs: { axis: 0 } });
    convIn.push('b');
  }
  nodes.push({ op: 'Conv', inputs: convIn, outputs: ['y'],
    attrs: { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group } });
  let pre = 'y';
  if (act === 'relu') {
    nodes.push({ op: 'Relu', inputs: ['y'], outputs: ['ya'] });
    pre = 'ya';
  } else if (act === 'clip') {
    inits.push(scalar('lo', 'float', f32(-10 * ys)), scalar('hi', 'float', f32(60.5 * ys)));
    nodes.push({ op: 'Clip', inputs: ['y', 'lo', 'hi'], outputs: ['ya'] });
    pre = 'ya';
  }
  nodes.push({ op: 'QuantizeLinear', inputs: [pre, 'ys', 'yzp'], outputs: ['yq'] });
  const bytes = buildModel({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [n, c, h, w] }],
    outputs: [{ name: 'yq', dtype: yType, shape: [n, m, oh, ow] }], initializers: inits, nodes });

  // The exact value of each output before rounding, from the quantized input.
  const exact = (xq) => {
    const out = [];
    const cout = m / group;
    for (let b = 0; b < n; ++b) for (let co = 0; co < m; ++co) {
      const g = Math.floor(co / cout), wsc = ws[perChannel ? co : 0];
      for (let oy = 0; oy < oh; ++oy) for (let ox = 0; ox < ow; ++ox) {
        let real = 0, sumAbs = 0;
        for (let ci = 0; ci < cg; ++ci) for (let ky = 0; ky < k; ++ky) for (let kx = 0; kx < k; ++kx) {
          const iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
          if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
          const xv = xq[((b * c + g * cg + ci) * h + iy) * w + ix] - xZp;
          const wv = wq[((co * cg + ci) * k + ky) * k + kx] - wZp;
          const t = f32(xv * xs) * f32(wv * wsc);
          real += t;
          sumAbs += Math.abs(t);
        }
        const bReal = bias === 'float' ? biasF[co] : bias === 'int32' ? biasI[co] * accScale(co) : 0;
        real += bReal;
        sumAbs += Math.abs(bReal);
        const value = real / ys + yZp;
        const mult = f32(f32(xs * wsc) / ys);
        out.push({ value, bound: bound(K, sumAbs, value, ys, mult, bias === 'float') });
      }
    }
    return out;
  };
  return { bytes, feeds: { x: { data: randomF(r, n * c * h * w, -2.5, 2.7), shape: [n, c, h, w] } }, exact,
    xBytes: n * c * h * w, yBytes: n * m * oh * ow };
}

const convShapes = [
  { c: 1, m: 1, h: 5, w: 7 },
  { c: 3, m: 17, h: 9, w: 11, stride: 2 },
  { c: 17, m: 33, h: 6, w: 5, k: 1, pad: 0 },
  { c: 33, m: 3, h: 7, w: 9, pad: 0 },
  { c: 17, m: 17, h: 8, w: 13, group: 17 },
  { c: 9, m: 15, h: 5, w: 6, group: 3, n: 2 },
];

test('QDQ Conv: fused onto the int8 kernels, equal to onnxruntime', async () => {
  let i = 0;
  for (const shape of convShapes) {
    for (let variant = 0; variant < 6; ++variant, ++i) {
      const xType = i % 2 ? 'int8' : 'uint8';
      const act = ['none', 'relu', 'clip'][Math.floor(i / 2) % 3];
      const yType = i % 4 === 1 ? 'int8' : 'uint8';
      // Relu with the zero point at the range minimum: onnxruntime drops the
      // Relu and fuses; any other zero point keeps its float path.
      const reluAtMin = act === 'relu' && variant % 2 === 0;
      const yZp = reluAtMin ? RANGE[yType][0] : (yType === 'int8' ? -7 : 37);
      const p = { ...shape, xType, wType: 'int8', perChannel: i % 3 !== 1, bias: ['none', 'int32', 'float'][i % 3],
        act, yType, yZp };
      const label = JSON.stringify(p);
      const c = qdqConv(p, 100 + i);
      const { out, stats } = runOurs(c.bytes, c.feeds, ['yq', 'xq']);
      assert.equal(stats.totalAllocatedBytes, c.xBytes + c.yBytes, `${label}: fused graph allocations`);
      const ref = await runOrt(c.bytes, c.feeds);
      const ortFuses = p.bias !== 'float' && (act === 'none' || reluAtMin);
      checkQ8(out.yq.data, ref.yq.data, c.exact(out.xq.data), { ortFuses, label });
    }
  }
});

// ---- QDQ MatMul / Gemm -------------------------------------------------------------------------

function qdqMatMul(p, seed) {
  const r = rng(seed);
  const { batch = 0, m, k, n, xType, wType = 'int8', perColumn, op, bias = 'none', act = 'none', yType, yZp } = p;
  const gemm = op === 'gemm', transB = !!p.transB;
  const xShape = batch ? [batch, m, k] : [m, k];
  const rows = (batch || 1) * m;
  const xs = 0.03, xZp = xType === 'uint8' ? 121 : -3;
  const wq = randomQ(r, wType, k * n), wZp = wType === 'uint8' ? 131 : 0;
  const ws = Array.from({ length: perColumn ? n : 1 }, () => f32(0.001 + 0.003 * r()));
  const ys = f32(xs * ws[0] * 74 * 74 * Math.sqrt(k) * 2.5 / 127);
  const biasI = Array.from({ length: n }, () => Math.round(r() * 60000 - 30000));
  const accScale = (j) => f32(xs * ws[perColumn ? j : 0]);
  const inits = [
    scalar('xs', 'float', xs), scalar('xzp', xType, xZp), scalar('ys', 'float', ys), scalar('yzp', yType, yZp),
    { name: 'wq', dtype: wType, dims: transB ? [n, k] : [k, n], data: wq },
    perColumn ? vec('ws', 'float', ws) : scalar('ws', 'float', ws[0]),
    perColumn ? vec('wzp', wType, new Array(n).fill(wZp)) : scalar('wzp', wType, wZp),
  ];
  const nodes = [
    { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xzp'], outputs: ['xd'] },
    { op: 'DequantizeLinear', inputs: ['wq', 'ws', 'wzp'], outputs: ['wd'], attrs: { axis: transB ? 0 : 1 } },
  ];
  if (gemm) {
    const inputs = ['xd', 'wd'];
    if (bias === 'int32') {
      inits.push(vec('bq', 'int32', biasI), vec('bs', 'float', biasI.map((_, j) => accScale(j))));
      nodes.push({ op: 'DequantizeLinear', inputs: ['bq', 'bs'], outputs: ['b'], attrs: { axis: 0 } });
      inputs.push('b');
    }
    nodes.push({ op: 'Gemm', inputs, outputs: ['y'], attrs: { transB: transB ? 1 : 0 } });
  } else {
    nodes.push({ op: 'MatMul', inputs: ['xd', 'wd'], outputs: ['y'] });
  }
  let pre = 'y';
  if (act === 'relu') {
    nodes.push({ op: 'Relu', inputs: ['y'], outputs: ['ya'] });
    pre = 'ya';
  }
  nodes.push({ op: 'QuantizeLinear', inputs: [pre, 'ys', 'yzp'], outputs: ['yq'] });
  const bytes = buildModel({ opset: 13, inputs: [{ name: 'xq', dtype: xType, shape: xShape }],
    outputs: [{ name: 'yq', dtype: yType, shape: [...xShape.slice(0, -1), n] }], initializers: inits, nodes });
  const xq = randomQ(r, xType, rows * k);
  const exact = [];
  for (let i = 0; i < rows; ++i) for (let j = 0; j < n; ++j) {
    const wsc = ws[perColumn ? j : 0];
    let real = 0, sumAbs = 0;
    for (let kk = 0; kk < k; ++kk) {
      const t = f32((xq[i * k + kk] - xZp) * xs) * f32((wq[transB ? j * k + kk : kk * n + j] - wZp) * wsc);
      real += t;
      sumAbs += Math.abs(t);
    }
    const bReal = gemm && bias === 'int32' ? biasI[j] * accScale(j) : 0;
    const value = (real + bReal) / ys + yZp;
    exact.push({ value, bound: bound(k, sumAbs + Math.abs(bReal), value, ys, f32(accScale(j) / ys), false) });
  }
  return { bytes, feeds: { xq: { data: xq, shape: xShape, dtype: xType } }, exact, yBytes: rows * n };
}

test('QDQ MatMul and Gemm: fused, equal to onnxruntime (prime K, tails, batches, per-column)', async () => {
  let i = 0;
  for (const op of ['matmul', 'gemm']) {
    for (const k of [1, 7, 31, 97]) {
      for (const n of [1, 17, 33]) {
        const xType = i % 2 ? 'int8' : 'uint8', yType = i % 3 === 2 ? 'int8' : 'uint8';
        const act = i % 4 === 3 ? 'relu' : 'none';
        const p = { op, k, n, m: [1, 5, 9][i % 3], batch: op === 'matmul' && i % 4 === 2 ? 3 : 0, xType,
          wType: i % 5 === 2 ? 'uint8' : 'int8', perColumn: i % 2 === 0, transB: op === 'gemm' && i % 2 === 1,
          bias: op === 'gemm' && i % 3 !== 0 ? 'int32' : 'none', act, yType,
          yZp: act === 'relu' ? RANGE[yType][0] : (yType === 'int8' ? -9 : 60) };
        const label = JSON.stringify(p);
        const c = qdqMatMul(p, 200 + i);
        const { out, stats } = runOurs(c.bytes, c.feeds);
        assert.equal(stats.totalAllocatedBytes, c.yBytes, `${label}: fused graph allocations`);
        const ref = await runOrt(c.bytes, c.feeds);
        checkQ8(out.yq.data, ref.yq.data, c.exact, { ortFuses: true, label });
        ++i;
      }
    }
  }
});

// ---- dynamic quantization --------------------------------------------------------------------

test('dynamic MatMul (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul -> Add): one op, matches onnxruntime', async () => {
  let i = 0;
  for (const k of [13, 61, 128]) {
    for (const n of [1, 9, 33]) {
      const r = rng(300 + i);
      const m = [1, 4, 7][i % 3], perColumn = i % 2 === 0, wType = i % 4 === 3 ? 'uint8' : 'int8';
      const ws = Array.from({ length: perColumn ? n : 1 }, () => f32(0.001 + 0.01 * r()));
      const inits = [{ name: 'wq', dtype: wType, dims: [k, n], data: randomQ(r, wType, k * n) },
        perColumn ? vec('ws', 'float', ws) : scalar('ws', 'float', ws[0]), vec('bias', 'float', randomF(r, n, -2, 2))];
      const mi = ['xq', 'wq', 'xzp'];
      if (wType === 'uint8') {
        inits.push(perColumn ? vec('wzp', 'uint8', new Array(n).fill(127)) : scalar('wzp', 'uint8', 127));
        mi.push('wzp');
      }
      const bytes = buildModel({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [m, k] }],
        outputs: [{ name: 'y', dtype: 'float', shape: [m, n] }], initializers: inits, nodes: [
          { op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xzp'] },
          { op: 'MatMulInteger', inputs: mi, outputs: ['acc'] },
          { op: 'Cast', inputs: ['acc'], outputs: ['accf'], attrs: { to: 1 } },
          { op: 'Mul', inputs: ['xs', 'ws'], outputs: ['s'] },
          { op: 'Mul', inputs: ['accf', 's'], outputs: ['mm'] },
          { op: 'Add', inputs: ['mm', 'bias'], outputs: ['y'] }] });
      const feeds = { x: { data: randomF(r, m * k, -3, 5), shape: [m, k] } };
      const { out, stats } = runOurs(bytes, feeds);
      assert.equal(stats.totalAllocatedBytes, 4 * m * n, `k${k} n${n}: only the float output is allocated`);
      const ref = await runOrt(bytes, feeds);
      let maxRef = 0, maxDiff = 0;
      for (let j = 0; j < ref.y.data.length; ++j) {
        maxRef = Math.max(maxRef, Math.abs(ref.y.data[j]));
        maxDiff = Math.max(maxDiff, Math.abs(ref.y.data[j] - out.y.data[j]));
      }
      assert.ok(maxDiff <= 1e-5 * maxRef, `k${k} n${n}: max difference ${maxDiff} of ${maxRef}`);
      ++i;
    }
  }
});

// ---- 8-bit pass-through --------------------------------------------------------------------------

test('DequantizeLinear -> MaxPool / Reshape / Transpose / ... -> QuantizeLinear runs on 8-bit data, equal to onnxruntime', async () => {
  const ops = [
    { op: 'MaxPool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, out: [1, 3, 3, 4] },
    { op: 'Reshape', extra: [{ name: 'shape', dtype: 'int64', dims: [2], data: new BigInt64Array([3n, -1n]) }], out: [3, 35] },
    { op: 'Transpose', attrs: { perm: [0, 2, 3, 1] }, out: [1, 5, 7, 3] },
    { op: 'Flatten', attrs: { axis: 2 }, out: [3, 35] },
    { op: 'Squeeze', extra: [{ name: 'axes', dtype: 'int64', dims: [1], data: new BigInt64Array([0n]) }], out: [3, 5, 7] },
    { op: 'Unsqueeze', extra: [{ name: 'axes', dtype: 'int64', dims: [1], data: new BigInt64Array([2n]) }], out: [1, 3, 1, 5, 7] },
  ];
  let i = 0;
  for (const o of ops) {
    for (const type of ['uint8', 'int8']) {
      const r = rng(400 + i++);
      const zp = type === 'int8' ? -4 : 131;
      const bytes = buildModel({ opset: 13, inputs: [{ name: 'xq', dtype: type, shape: [1, 3, 5, 7] }],
        outputs: [{ name: 'yq', dtype: type, shape: o.out }],
        initializers: [scalar('s', 'float', 0.037), scalar('z', type, zp), ...(o.extra ?? [])],
        nodes: [{ op: 'DequantizeLinear', inputs: ['xq', 's', 'z'], outputs: ['x'] },
          { op: o.op, inputs: ['x', ...(o.extra ?? []).map((e) => e.name)], outputs: ['y'], attrs: o.attrs },
          { op: 'QuantizeLinear', inputs: ['y', 's', 'z'], outputs: ['yq'] }] });
      const feeds = { xq: { data: randomQ(r, type, 105), shape: [1, 3, 5, 7], dtype: type } };
      const { out, stats } = runOurs(bytes, feeds);
      const numel = o.out.reduce((a, b) => a * b, 1);
      // MaxPool writes its 8-bit output; the reshaping ops share the input's storage.
      assert.equal(stats.totalAllocatedBytes, o.op === 'MaxPool' || o.op === 'Transpose' ? numel : 0, `${o.op} ${type}`);
      const ref = await runOrt(bytes, feeds);
      assert.deepEqual(Array.from(out.yq.data), Array.from(ref.yq.data), `${o.op} ${type}`);
    }
  }
});

// ---- weight-only formats ------------------------------------------------------------------------

function assertCloseRel(ours, ref, rel, label) {
  let maxRef = 0, maxDiff = 0;
  for (let j = 0; j < ref.length; ++j) {
    maxRef = Math.max(maxRef, Math.abs(ref[j]));
    maxDiff = Math.max(maxDiff, Math.abs(ref[j] - ours[j]));
  }
  assert.ok(maxDiff <= rel * maxRef, `${label}: max difference ${maxDiff} of ${maxRef}`);
}

test('MatMulNBits with 2, 4 and 8 bits matches onnxruntime', async () => {
  const K = 80, N = 12, M = 3;
  for (const bits of [2, 4, 8]) {
    for (const block of [16, 32]) {
      const r = rng(500 + bits * 7 + block);
      const blocks = Math.ceil(K / block), blob = block * bits / 8, zpCols = Math.ceil(blocks * bits / 8);
      const bytes = buildModel({ opset: 17, extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
        inputs: [{ name: 'a', dtype: 'float', shape: [M, K] }], outputs: [{ name: 'y', dtype: 'float', shape: [M, N] }],
        initializers: [{ name: 'B', dtype: 'uint8', dims: [N, blocks, blob], data: randomQ(r, 'uint8', N * blocks * blob) },
          { name: 'S', dtype: 'float', dims: [N * blocks], data: randomF(r, N * blocks, 0.01, 0.05) },
          { name: 'Z', dtype: 'uint8', dims: [N * zpCols], data: randomQ(r, 'uint8', N * zpCols) }],
        nodes: [{ op: 'MatMulNBits', domain: 'com.microsoft', inputs: ['a', 'B', 'S', 'Z'], outputs: ['y'],
          attrs: { K, N, bits, block_size: block } }] });
      const feeds = { a: { data: randomF(r, M * K, -1, 1), shape: [M, K] } };
      const { out } = runOurs(bytes, feeds);
      const ref = await runOrt(bytes, feeds);
      assertCloseRel(out.y.data, ref.y.data, 1e-5, `bits ${bits} block ${block}`);
    }
  }
});

test('int4 / uint4 DequantizeLinear with block_size (opset 21) feeding MatMul matches onnxruntime', async () => {
  const K = 70, N = 9, M = 4;
  for (const type of ['int4', 'uint4']) {
    for (const block of [16, 32]) {
      const r = rng(600 + block + (type === 'int4' ? 1 : 0));
      const blocks = Math.ceil(K / block);
      const packed = randomQ(r, 'uint8', Math.ceil(K * N / 2));
      const inits = [{ name: 'w', dtype: type, dims: [K, N], data: packed },
        { name: 's', dtype: 'float', dims: [blocks, N], data: randomF(r, blocks * N, 0.05, 0.1) }];
      const dq = ['w', 's'];
      if (type === 'uint4') {
        inits.push({ name: 'z', dtype: 'uint4', dims: [blocks, N], data: randomQ(r, 'uint8', Math.ceil(blocks * N / 2)) });
        dq.push('z');
      }
      const bytes = buildModel({ opset: 21, irVersion: 10, inputs: [{ name: 'x', dtype: 'float', shape: [M, K] }],
        outputs: [{ name: 'y', dtype: 'float', shape: [M, N] }], initializers: inits,
        nodes: [{ op: 'DequantizeLinear', inputs: dq, outputs: ['wf'], attrs: { axis: 0, block_size: block } },
          { op: 'MatMul', inputs: ['x', 'wf'], outputs: ['y'] }] });
      const feeds = { x: { data: randomF(r, M * K, -1, 1), shape: [M, K] } };
      const { out, stats } = runOurs(bytes, feeds);
      // The weights were dequantized once at load: a run allocates only y.
      assert.equal(stats.totalAllocatedBytes, 4 * M * N, `${type} block ${block}`);
      // onnxruntime rewrites DequantizeLinear(int4) -> MatMul into MatMulNBits with
      // int8 activations (accuracy level 4) unless told otherwise; level 0 keeps
      // the float product the graph defines.
      const ref = await runOrt(bytes, feeds, { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } });
      assertCloseRel(out.y.data, ref.y.data, 1e-5, `${type} block ${block}`);
    }
  }
});

test('Model.save() returns the graph as loaded, not the fused one', async () => {
  const c = qdqConv({ c: 3, m: 4, h: 6, w: 6, xType: 'uint8', wType: 'int8', perChannel: true, bias: 'int32',
    act: 'relu', yType: 'uint8', yZp: 0 }, 7);
  const model = Model.loadSync(c.bytes);
  const saved = model.save();
  const ops = model.summary().opCounts;
  model.dispose();
  const again = Model.loadSync(saved);
  assert.deepEqual(again.summary().opCounts, ops);
  const names = JSON.stringify(again.summary());
  assert.ok(!names.includes('webquant.runtime'), 'no runtime op or domain in the saved model');
  assert.ok(names.includes('QuantizeLinear') && names.includes('Conv'));
  again.dispose();
  // onnxruntime loads what we saved.
  const ref = await runOrt(saved, c.feeds);
  assert.ok(ref.yq.data.length > 0);
});

