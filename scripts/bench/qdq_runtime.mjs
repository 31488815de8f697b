// What the runtime's QDQ fusion buys: quantized ONNX graphs (as onnxruntime's
// quantizer and ours export them) run by webquant with the patterns fused onto
// the int8 kernels, against the same graphs with the fusion blocked, which
// then run op by op in float (weights still dequantized once at load, so the
// float ops use the packed f32 kernels). A benchmark, not a test.
//
// Blocking: an Identity between a DequantizeLinear and its float op (or
// between MatMulInteger and its Cast) computes exactly the same and costs no
// copy, but no longer matches a fusion pattern.
//
// Time: median process CPU time per run over interleaved rounds of about
// 100 ms each (the machine is shared; see scripts/bench/kernels.mjs), single
// thread, including the feed and copying the output back to JS.
//
//   node scripts/bench/qdq_runtime.mjs [--runs N]
import { init, Model } from '../../bindings/js/index.js';
import { buildModel } from '../lib/onnx_builder.mjs';
import { printTable } from './stats.mjs';

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2147483648 - 1;
  };
}
const randomInt8 = (r, n) => Int8Array.from({ length: n }, () => Math.round(r() * 127));
const randomUint8 = (r, n) => Uint8Array.from({ length: n }, () => Math.round((r() + 1) * 127.5));
const randomF32 = (r, n) => Float32Array.from({ length: n }, () => r());
const scalar = (name, dtype, v) => ({ name, dtype, dims: [], data: new ({ float: Float32Array, uint8: Uint8Array,
  int8: Int8Array })[dtype]([v]) });

// x (uint8) -> DQ -> MatMul(DQ(W int8, per column)) -> Q -> uint8
function qdqMatMul(m, k, n, blocked) {
  const r = rng(7);
  const ws = Float32Array.from({ length: n }, () => 0.002 + 0.001 * Math.abs(r()));
  const nodes = [
    { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xz'], outputs: ['x'] },
    { op: 'DequantizeLinear', inputs: ['wq', 'ws'], outputs: ['w'], attrs: { axis: 1 } },
    ...(blocked ? [{ op: 'Identity', inputs: ['x'], outputs: ['xi'] }] : []),
    { op: 'MatMul', inputs: [blocked ? 'xi' : 'x', 'w'], outputs: ['y'] },
    { op: 'QuantizeLinear', inputs: ['y', 'ys', 'yz'], outputs: ['yq'] },
  ];
  return {
    bytes: buildModel({ opset: 13, inputs: [{ name: 'xq', dtype: 'uint8', shape: [m, k] }],
      outputs: [{ name: 'yq', dtype: 'uint8', shape: [m, n] }], nodes,
      initializers: [scalar('xs', 'float', 0.02), scalar('xz', 'uint8', 128), scalar('ys', 'float', 0.5),
        scalar('yz', 'uint8', 128), { name: 'wq', dtype: 'int8', dims: [k, n], data: randomInt8(r, k * n) },
        { name: 'ws', dtype: 'float', dims: [n], data: ws }] }),
    feeds: { xq: { data: randomUint8(r, m * k), shape: [m, k], dtype: 'uint8' } },
  };
}

// x (float) -> DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias)
function dynamicMatMul(m, k, n, blocked) {
  const r = rng(9);
  const nodes = [
    { op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
    { op: 'MatMulInteger', inputs: ['xq', 'wq', 'xz'], outputs: ['acc'] },
    ...(blocked ? [{ op: 'Identity', inputs: ['acc'], outputs: ['acci'] }] : []),
    { op: 'Cast', inputs: [blocked ? 'acci' : 'acc'], outputs: ['accf'], attrs: { to: 1 } },
    { op: 'Mul', inputs: ['xs', 'ws'], outputs: ['s'] },
    { op: 'Mul', inputs: ['accf', 's'], outputs: ['mm'] },
    { op: 'Add', inputs: ['mm', 'b'], outputs: ['y'] },
  ];
  return {
    bytes: buildModel({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [m, k] }],
      outputs: [{ name: 'y', dtype: 'float', shape: [m, n] }], nodes,
      initializers: [{ name: 'wq', dtype: 'int8', dims: [k, n], data: randomInt8(r, k * n) },
        { name: 'ws', dtype: 'float', dims: [n], data: Float32Array.from({ length: n }, () => 0.003) },
        { name: 'b', dtype: 'float', dims: [n], data: randomF32(r, n) }] }),
    feeds: { x: { data: randomF32(r, m * k), shape: [m, k] } },
  };
}

// float [1, c0, h, w] -> Q -> (DQ -> Conv -> Relu -> Q) per layer -> DQ -> float
function qdqConvChain(c0, h, w, layers, blocked) {
  const r = rng(11);
  const inits = [scalar('s0', 'float', 0.02), scalar('z0', 'uint8', 128)];
  const nodes = [{ op: 'QuantizeLinear', inputs: ['x', 's0', 'z0'], outputs: ['q0'] }];
  let c = c0;
  layers.forEach((L, i) => {
    const cg = L.group === 1 ? c : 1;
    inits.push({ name: `w${i}`, dtype: 'int8', dims: [L.out, cg, L.k, L.k], data: randomInt8(r, L.out * cg * L.k * L.k) },
      { name: `ws${i}`, dtype: 'float', dims: [L.out], data: Float32Array.from({ length: L.out }, () => 0.004) },
      { name: `b${i}q`, dtype: 'int32', dims: [L.out], data: Int32Array.from({ length: L.out }, () => Math.round(r() * 500)) },
      { name: `b${i}s`, dtype: 'float', dims: [L.out], data: Float32Array.from({ length: L.out }, () => 0.02 * 0.004) },
      scalar(`s${i + 1}`, 'float', 0.05), scalar(`z${i + 1}`, 'uint8', 0));
    nodes.push({ op: 'DequantizeLinear', inputs: [`q${i}`, `s${i}`, `z${i}`], outputs: [`d${i}`] },
      { op: 'DequantizeLinear', inputs: [`w${i}`, `ws${i}`], outputs: [`wd${i}`], attrs: { axis: 0 } },
      { op: 'DequantizeLinear', inputs: [`b${i}q`, `b${i}s`], outputs: [`bd${i}`], attrs: { axis: 0 } });
    if (blocked) nodes.push({ op: 'Identity', inputs: [`d${i}`], outputs: [`di${i}`] });
    const p = (L.k - 1) / 2;
    nodes.push({ op: 'Conv', inputs: [blocked ? `di${i}` : `d${i}`, `wd${i}`, `bd${i}`], outputs: [`c${i}`],
      attrs: { kernel_shape: [L.k, L.k], pads: [p, p, p, p], group: L.group === 1 ? 1 : c } },
    { op: 'Relu', inputs: [`c${i}`], outputs: [`r${i}`] },
    { op: 'QuantizeLinear', inputs: [`r${i}`, `s${i + 1}`, `z${i + 1}`], outputs: [`q${i + 1}`] });
    c = L.out;
  });
  const n = layers.length;
  nodes.push({ op: 'DequantizeLinear', inputs: [`q${n}`, `s${n}`, `z${n}`], outputs: ['y'] });
  return {
    bytes: buildModel({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [1, c0, h, w] }],
      outputs: [{ name: 'y', dtype: 'float', shape: [1, c, h, w] }], initializers: inits, nodes }),
    feeds: { x: { data: randomF32(r, c0 * h * w), shape: [1, c0, h, w] } },
  };
}

function cpuMs(fn) {
  const t = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
}

async function main() {
  const args = process.argv.slice(2);
  const runs = Math.max(5, Number(args[args.indexOf('--runs') + 1]) || 15);
  await init();
  const cases = [
    { name: 'QDQ MatMul 128x768x3072', make: (b) => qdqMatMul(128, 768, 3072, b) },
    { name: 'dynamic MatMul 128x768x3072', make: (b) => dynamicMatMul(128, 768, 3072, b) },
    { name: 'QDQ Conv chain 32x56x56 (3x3 64, dw 3x3, 1x1 128)',
      make: (b) => qdqConvChain(32, 56, 56, [{ out: 64, k: 3, group: 1 }, { out: 64, k: 3, group: 0 },
        { out: 128, k: 1, group: 1 }], b) },
  ];
  const rows = [];
  for (const c of cases) {
    const variants = [false, true].map((blocked) => {
      const { bytes, feeds } = c.make(blocked);
      const model = Model.loadSync(bytes);
      for (let i = 0; i < 2; ++i) model.run(feeds);  // warm-up
      return { model, feeds, times: [] };
    });
    // CPU time is accounted in scheduler ticks (milliseconds), so one sample
    // repeats the run for about 100 ms of CPU time.
    const once = cpuMs(() => { for (let i = 0; i < 5; ++i) variants[0].model.run(variants[0].feeds); }) / 5;
    const reps = Math.max(1, Math.ceil(100 / Math.max(once, 0.05)));
    for (let i = 0; i < runs; ++i)
      for (const v of variants) v.times.push(cpuMs(() => { for (let r = 0; r < reps; ++r) v.model.run(v.feeds); }) / reps);
    const median = (t) => t.slice().sort((a, b) => a - b)[t.length >> 1];
    const [fused, unfused] = variants.map((v) => median(v.times));
    rows.push([c.name, fused.toFixed(2), unfused.toFixed(2), (unfused / fused).toFixed(2) + 'x']);
    for (const v of variants) v.model.dispose();
  }
  printTable(`QDQ runtime fusion (median CPU ms over ${runs} rounds, single thread)`,
    ['graph', 'fused ms', 'unfused ms', 'speedup'], rows);
}

await main();
