// int8 / int4 kernel benchmark: one-layer models (MatMul / Conv shapes) built
// on the fly, run by webquant (WASM, through the JS API) and by
// onnxruntime-web (wasm backend, numThreads = 1) in the same Node process.
//
// Variants, all float in / float out so every column pays the same feed:
//   ours f32        MatMul / Conv
//   ours i8 dyn     DynamicQuantizeLinear -> MatMulInteger / ConvInteger -> Cast -> Mul (x_scale * w_scale) [-> Add bias]
//   ours i8 static  QuantizeLinear -> QLinearMatMul / QLinearConv -> DequantizeLinear
//   ours i4         com.microsoft MatMulNBits (bits 4, block 32, accuracy_level 4), MatMul shapes only
//   ort f32         the f32 model
//   ort i8 dyn      the same dynamic model as ours
//   ort i8 QDQ      QuantizeLinear/DequantizeLinear around a float MatMul / Conv with DequantizeLinear'd int8
//                   weights, which onnxruntime fuses into QLinearMatMul / QLinearConv (our "static" model is
//                   that fused form written out)
// Weights: int8 symmetric (per tensor for MatMul, per output channel for Conv); activations uint8 with zero
// point 128. Each timed call builds its feed ({data, shape} for us, an ort.Tensor for onnxruntime) from the
// same Float32Array and copies the output back to JS.
//
// Time: per shape, every variant is loaded, checked against onnxruntime's f32 output and warmed up; then
// `runs` (>= 20) rounds call each variant once, and a variant's time is the median over the rounds, in
// process CPU time (process.cpuUsage). The machine is shared: wall time mostly measures the other tenants,
// and interleaving the variants makes load changes hit all of them alike. With one thread on each side CPU
// time is the run's own time. Wall-time medians and CPU-time minima are kept in the rows (`wallMs`, `minMs`).
//
//   node scripts/bench/kernels.mjs [--runs N] [--only SUBSTRING]
import { fileURLToPath } from 'node:url';
import { init, Model } from '../../bindings/js/index.js';
import { buildModel } from '../lib/onnx_builder.mjs';
import { printTable } from './stats.mjs';

const OPSET = 21;

// ---- deterministic data ------------------------------------------------------------
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {  // xorshift32 in [-1, 1)
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2147483648 - 1;
  };
}
function randomArray(n, scale, seed) {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = r() * scale;
  return a;
}

// ---- quantization of the weights (doc/quantization.md) --------------------------------
const roundHalfEven = (v) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
// int8 symmetric over `groups` contiguous slices (1 = per tensor).
function quantizeS8(w, groups) {
  const per = w.length / groups;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(groups);
  for (let g = 0; g < groups; ++g) {
    let mx = 0;
    for (let i = g * per; i < (g + 1) * per; ++i) mx = Math.max(mx, Math.abs(w[i]));
    const s = mx / 127 || 1;
    scales[g] = s;
    for (let i = g * per; i < (g + 1) * per; ++i) q[i] = Math.max(-127, Math.min(127, roundHalfEven(w[i] / s)));
  }
  return { q, scales };
}
// MatMulNBits weights from W [K][N]: B [N][K/32][16] uint4 (zero point 8), scales [N][K/32].
function quantizeNBits(w, K, N, block) {
  const blocks = Math.ceil(K / block);
  const B = new Uint8Array(N * blocks * (block / 2));
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; ++n) {
    for (let b = 0; b < blocks; ++b) {
      let mx = 0;
      for (let k = b * block; k < Math.min(K, (b + 1) * block); ++k) mx = Math.max(mx, Math.abs(w[k * N + n]));
      const s = mx / 7 || 1;
      scales[n * blocks + b] = s;
      for (let k = b * block; k < Math.min(K, (b + 1) * block); ++k) {
        const q = Math.max(0, Math.min(15, roundHalfEven(w[k * N + n] / s) + 8));
        const t = k - b * block;
        B[(n * blocks + b) * (block / 2) + (t >> 1)] |= q << ((t & 1) * 4);
      }
    }
  }
  return { B, scales, blocks };
}

const f32 = (name, dims, data) => ({ name, dtype: 'float', dims, data });
const scalarF = (name, v) => f32(name, [], new Float32Array([v]));
const scalarU8 = (name, v) => ({ name, dtype: 'uint8', dims: [], data: new Uint8Array([v]) });
const scalarS8 = (name, v) => ({ name, dtype: 'int8', dims: [], data: new Int8Array([v]) });

// Activation quantization: x in [-1, 1], y in about [-1.5, 1.5] (weights scaled by 1/sqrt(fan-in)).
const X_SCALE = 2 / 255, X_ZP = 128, Y_SCALE = 3 / 255, Y_ZP = 128;

// ---- models ---------------------------------------------------------------------------
function model(spec) {
  return buildModel({ opset: OPSET, irVersion: 10, ...spec });
}

function gemmModels({ M, K, N }) {
  const w = randomArray(K * N, 1 / Math.sqrt(K), 1 + K * 31 + N);
  const x = { name: 'x', dtype: 'float', shape: [M, K] };
  const y = { name: 'y', dtype: 'float', shape: [M, N] };
  const { q, scales } = quantizeS8(w, 1);
  const wq = { name: 'wq', dtype: 'int8', dims: [K, N], data: q };
  const nb = quantizeNBits(w, K, N, 32);
  return {
    f32: model({ inputs: [x], outputs: [y], initializers: [f32('w', [K, N], w)],
      nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }),
    dyn: model({ inputs: [x], outputs: [y], initializers: [wq, scalarS8('wz', 0), scalarF('ws', scales[0])],
      nodes: [
        { op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
        { op: 'MatMulInteger', inputs: ['xq', 'wq', 'xz', 'wz'], outputs: ['acc'] },
        { op: 'Cast', inputs: ['acc'], outputs: ['accf'], attrs: { to: 1 } },
        { op: 'Mul', inputs: ['xs', 'ws'], outputs: ['s'] },
        { op: 'Mul', inputs: ['accf', 's'], outputs: ['y'] },
      ] }),
    static: model({ inputs: [x], outputs: [y],
      initializers: [scalarF('xs', X_SCALE), scalarU8('xz', X_ZP), wq, scalarF('ws', scales[0]), scalarS8('wz', 0),
        scalarF('ys', Y_SCALE), scalarU8('yz', Y_ZP)],
      nodes: [
        { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
        { op: 'QLinearMatMul', inputs: ['xq', 'xs', 'xz', 'wq', 'ws', 'wz', 'ys', 'yz'], outputs: ['yq'] },
        { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
      ] }),
    qdq: model({ inputs: [x], outputs: [y],
      initializers: [scalarF('xs', X_SCALE), scalarU8('xz', X_ZP), wq, scalarF('ws', scales[0]), scalarS8('wz', 0),
        scalarF('ys', Y_SCALE), scalarU8('yz', Y_ZP)],
      nodes: [
        { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
        { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xz'], outputs: ['xd'] },
        { op: 'DequantizeLinear', inputs: ['wq', 'ws', 'wz'], outputs: ['wd'] },
        { op: 'MatMul', inputs: ['xd', 'wd'], outputs: ['yf'] },
        { op: 'QuantizeLinear', inputs: ['yf', 'ys', 'yz'], outputs: ['yq'] },
        { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
      ] }),
    int4: model({ inputs: [x], outputs: [y], extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
      initializers: [{ name: 'b', dtype: 'uint8', dims: [N, nb.blocks, 16], data: nb.B },
        f32('scales', [N, nb.blocks], nb.scales)],
      nodes: [{ op: 'MatMulNBits', domain: 'com.microsoft', inputs: ['x', 'b', 'scales'], outputs: ['y'],
        attrs: { K, N, bits: 4, block_size: 32, accuracy_level: 4 } }] }),
  };
}

function convModels({ C, Cout, H, W, k, stride, group }) {
  const cin = C / group, pad = (k - 1) >> 1;
  const fanIn = cin * k * k;
  const w = randomArray(Cout * fanIn, 1 / Math.sqrt(fanIn), 7 + C * 13 + Cout + H);
  const bias = randomArray(Cout, 0.1, 99 + Cout);
  const OH = Math.floor((H + 2 * pad - k) / stride) + 1, OW = Math.floor((W + 2 * pad - k) / stride) + 1;
  const x = { name: 'x', dtype: 'float', shape: [1, C, H, W] };
  const y = { name: 'y', dtype: 'float', shape: [1, Cout, OH, OW] };
  const attrs = { kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride], group };
  const { q, scales } = quantizeS8(w, Cout);
  const wq = { name: 'wq', dtype: 'int8', dims: [Cout, cin, k, k], data: q };
  const wzPerChannel = { name: 'wz', dtype: 'int8', dims: [Cout], data: new Int8Array(Cout) };
  const biasScale = scales.map((s) => X_SCALE * s);
  const bq = Int32Array.from(bias, (b, i) => roundHalfEven(b / biasScale[i]));
  return {
    f32: model({ inputs: [x], outputs: [y], initializers: [f32('w', [Cout, cin, k, k], w), f32('b', [Cout], bias)],
      nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs }] }),
    dyn: model({ inputs: [x], outputs: [y],
      initializers: [wq, scalarS8('wz', 0), f32('ws', [1, Cout, 1, 1], scales), f32('b', [1, Cout, 1, 1], bias)],
      nodes: [
        { op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
        { op: 'ConvInteger', inputs: ['xq', 'wq', 'xz', 'wz'], outputs: ['acc'], attrs },
        { op: 'Cast', inputs: ['acc'], outputs: ['accf'], attrs: { to: 1 } },
        { op: 'Mul', inputs: ['xs', 'ws'], outputs: ['s'] },
        { op: 'Mul', inputs: ['accf', 's'], outputs: ['yb'] },
        { op: 'Add', inputs: ['yb', 'b'], outputs: ['y'] },
      ] }),
    static: model({ inputs: [x], outputs: [y],
      initializers: [scalarF('xs', X_SCALE), scalarU8('xz', X_ZP), wq, f32('ws', [Cout], scales), wzPerChannel,
        scalarF('ys', Y_SCALE), scalarU8('yz', Y_ZP), { name: 'bq', dtype: 'int32', dims: [Cout], data: bq }],
      nodes: [
        { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
        { op: 'QLinearConv', inputs: ['xq', 'xs', 'xz', 'wq', 'ws', 'wz', 'ys', 'yz', 'bq'], outputs: ['yq'], attrs },
        { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
      ] }),
    qdq: model({ inputs: [x], outputs: [y],
      initializers: [scalarF('xs', X_SCALE), scalarU8('xz', X_ZP), wq, f32('ws', [Cout], scales), wzPerChannel,
        scalarF('ys', Y_SCALE), scalarU8('yz', Y_ZP), { name: 'bq', dtype: 'int32', dims: [Cout], data: bq },
        f32('bs', [Cout], biasScale)],
      nodes: [
        { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
        { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xz'], outputs: ['xd'] },
        { op: 'DequantizeLinear', inputs: ['wq', 'ws', 'wz'], outputs: ['wd'], attrs: { axis: 0 } },
        { op: 'DequantizeLinear', inputs: ['bq', 'bs'], outputs: ['bd'], attrs: { axis: 0 } },
        { op: 'Conv', inputs: ['xd', 'wd', 'bd'], outputs: ['yf'], attrs },
        { op: 'QuantizeLinear', inputs: ['yf', 'ys', 'yz'], outputs: ['yq'] },
        { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
      ] }),
  };
}

export function kernelCases() {
  const gemm = (M, K, N) => ({ name: `MatMul ${M}x${K}x${N}`, kind: 'gemm', dims: { M, K, N }, macs: M * K * N });
  const conv = (label, C, Cout, H, k, stride, group) => {
    const pad = (k - 1) >> 1, OH = Math.floor((H + 2 * pad - k) / stride) + 1;
    return { name: `Conv ${label}`, kind: 'conv', dims: { C, Cout, H, W: H, k, stride, group },
      macs: Cout * OH * OH * (C / group) * k * k };
  };
  return [
    gemm(128, 768, 768), gemm(128, 768, 3072), gemm(128, 3072, 768), gemm(1, 4096, 4096), gemm(1, 4096, 11008),
    conv('1x1 32->64 112x112', 32, 64, 112, 1, 1, 1),
    conv('dw3x3 32 112x112', 32, 32, 112, 3, 1, 32),
    conv('dw3x3 s2 64 112x112', 64, 64, 112, 3, 2, 64),
    conv('1x1 512->512 14x14', 512, 512, 14, 1, 1, 1),
    conv('dw3x3 512 14x14', 512, 512, 14, 3, 1, 512),
  ];
}

// ---- running ----------------------------------------------------------------------------
// [row key, side, model] in table order; ort f32 first, as the reference output.
const VARIANTS = [
  ['ortF32', 'ort', 'f32'], ['oursF32', 'ours', 'f32'], ['oursI8Dyn', 'ours', 'dyn'],
  ['oursI8Static', 'ours', 'static'], ['oursI4', 'ours', 'int4'], ['ortI8Dyn', 'ort', 'dyn'], ['ortI8Qdq', 'ort', 'qdq'],
];
const TABLE_ORDER = ['oursF32', 'oursI8Dyn', 'oursI8Static', 'oursI4', 'ortF32', 'ortI8Dyn', 'ortI8Qdq'];

async function runner(side, bytes, ort) {
  if (side === 'ours') {
    const m = await Model.load(bytes);
    return { run: (x, shape) => m.run({ x: { data: x, shape } }).y.data, dispose: () => m.dispose() };
  }
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  return {
    run: async (x, shape) => (await s.run({ x: new ort.Tensor('float32', x, shape) })).y.data,
    dispose: () => s.release(),
  };
}

const median = (a) => {
  const v = [...a].sort((x, y) => x - y), mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

// One timed call: process CPU time and wall time, in ms.
async function timeOnce(fn) {
  const c0 = process.cpuUsage(), t0 = performance.now();
  await fn();
  const t1 = performance.now(), c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000, wall: t1 - t0 };
}

// Relative RMS difference of `got` from `ref`.
function relRms(got, ref) {
  let e = 0, r = 0;
  for (let i = 0; i < ref.length; ++i) { e += (got[i] - ref[i]) ** 2; r += ref[i] ** 2; }
  return Math.sqrt(e / Math.max(r, 1e-30));
}

// Warm-up per variant: at least 3 calls and 0.3 s. V8 compiles hot WASM
// functions with its optimizing tier in the background, so a kernel's first
// calls run baseline code.
const WARMUP_CALLS = 3, WARMUP_MS = 300;

export async function benchKernels({ runs = 20, only = null } = {}) {
  runs = Math.max(20, runs);
  await init();
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const rows = [];
  for (const c of kernelCases()) {
    if (only && !c.name.includes(only)) continue;
    const models = c.kind === 'gemm' ? gemmModels(c.dims) : convModels(c.dims);
    const shape = c.kind === 'gemm' ? [c.dims.M, c.dims.K] : [1, c.dims.C, c.dims.H, c.dims.W];
    const x = randomArray(shape.reduce((a, b) => a * b, 1), 1, 4242 + c.macs % 1000);
    const row = { shape: c.name, kind: c.kind, macs: c.macs, ms: {}, minMs: {}, wallMs: {}, gmacs: {}, relErr: {},
      errors: {} };
    // Load every variant, check its output against onnxruntime's f32 result and warm it up.
    const live = [];
    let reference = null;
    for (const [key, side, which] of VARIANTS) {
      if (!models[which]) continue;
      let r = null;
      try {
        r = await runner(side, models[which], ort);
        const w0 = performance.now();
        let out;
        for (let i = 0; i < WARMUP_CALLS || performance.now() - w0 < WARMUP_MS; ++i) out = await r.run(x, shape);
        out = Float32Array.from(out);
        if (key === 'ortF32') reference = out;
        live.push({ key, r, out, cpu: [], wall: [] });
      } catch (e) {
        row.errors[key] = `${e.code ?? ''} ${e.message}`.trim().slice(0, 200);
        if (r) await r.dispose();
      }
    }
    for (const v of live) if (reference && v.key !== 'ortF32') row.relErr[v.key] = relRms(v.out, reference);
    // Rounds of one call per variant: load changes on this shared machine hit every variant alike.
    for (let round = 0; round < runs; ++round) {
      for (const v of live) {
        const t = await timeOnce(() => v.r.run(x, shape));
        v.cpu.push(t.cpu);
        v.wall.push(t.wall);
      }
    }
    for (const v of live) {
      row.ms[v.key] = median(v.cpu);
      row.minMs[v.key] = Math.min(...v.cpu);
      row.wallMs[v.key] = median(v.wall);
      row.gmacs[v.key] = c.macs / (row.ms[v.key] * 1e6);
      await v.r.dispose();
    }
    const m = row.ms;
    const bestOurs8 = Math.min(m.oursI8Dyn ?? Infinity, m.oursI8Static ?? Infinity);
    row.speedup = {
      i8DynVsOrtI8Dyn: m.ortI8Dyn / m.oursI8Dyn,
      i8StaticVsOrtQdq: m.ortI8Qdq / m.oursI8Static,
      bestI8VsOrtF32: m.ortF32 / bestOurs8,
      i4VsI8: c.kind === 'gemm' && c.dims.M === 1 ? bestOurs8 / m.oursI4 : undefined,
    };
    rows.push(row);
  }
  printKernelTables(rows, runs);
  return rows;
}

function printKernelTables(rows, runs) {
  const cols = TABLE_ORDER;
  const heads = ['ours f32', 'ours i8 dyn', 'ours i8 static', 'ours i4', 'ort f32', 'ort i8 dyn', 'ort i8 QDQ'];
  const cell = (row, k, f) => (row.ms[k] !== undefined ? f(row, k) : row.errors[k] ? 'error' : '-');
  printTable(`int8 / int4 kernels, ms (median CPU time of ${runs} runs after warm-up; Node, WASM, 1 thread)`,
    ['shape', ...heads], rows.map((r) => [r.shape, ...cols.map((k) => cell(r, k, (rr, kk) => rr.ms[kk].toFixed(3)))]));
  printTable('int8 / int4 kernels, GMAC/s', ['shape', ...heads],
    rows.map((r) => [r.shape, ...cols.map((k) => cell(r, k, (rr, kk) => rr.gmacs[kk].toFixed(1)))]));
  const x = (v) => (Number.isFinite(v) ? v.toFixed(2) + 'x' : '-');
  printTable('Speedups (time ratio; > 1 = ours faster)',
    ['shape', 'i8 dyn vs ort i8 dyn', 'i8 static vs ort i8 QDQ', 'best ours i8 vs ort f32', 'ours i4 vs ours i8 (GEMV)'],
    rows.map((r) => [r.shape, x(r.speedup.i8DynVsOrtI8Dyn), x(r.speedup.i8StaticVsOrtQdq), x(r.speedup.bestI8VsOrtF32),
      x(r.speedup.i4VsI8)]));
  const errs = rows.flatMap((r) => Object.entries(r.errors).map(([k, e]) => `  ${r.shape} ${k}: ${e}`));
  if (errs.length) console.log(`\nFailed variants:\n${errs.join('\n')}`);
  // Expected: int8 about 1% RMS, int4 (block 32, symmetric) about 7% on these uniform weights.
  const limit = (k) => (k === 'oursI4' ? 0.1 : 0.03);
  const far = rows.flatMap((r) => Object.entries(r.relErr).filter(([k, e]) => e > limit(k))
    .map(([k, e]) => `  ${r.shape} ${k}: ${(100 * e).toFixed(1)}% RMS from ort f32`));
  if (far.length) console.log(`\nOutputs far from the f32 reference:\n${far.join('\n')}`);
  const worst = (k) => Math.max(0, ...rows.map((r) => r.relErr[k] ?? 0));
  console.log(`Largest RMS error vs ort f32: ours i8 dyn ${(100 * worst('oursI8Dyn')).toFixed(2)}%, ` +
    `ours i8 static ${(100 * worst('oursI8Static')).toFixed(2)}%, ours i4 ${(100 * worst('oursI4')).toFixed(2)}%, ` +
    `ort i8 dyn ${(100 * worst('ortI8Dyn')).toFixed(2)}%, ort i8 QDQ ${(100 * worst('ortI8Qdq')).toFixed(2)}%`);
}

// Standalone: node scripts/bench/kernels.mjs [--runs N] [--only SUBSTRING]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  await benchKernels({ runs: Number(opt('--runs', 20)), only: opt('--only', null) });
}
