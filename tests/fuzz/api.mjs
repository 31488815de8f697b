// API misuse cases, run inside a worker against the real façade. Each one is
// `async (ctx) => ...` and must end in a WebquantError (expect 'error') or
// either a result or a WebquantError (expect 'any'). ctx: {lib (the façade),
// tiny (known-good model bytes), relu (a [N, 4] Relu model's bytes),
// watch(typedArray) (hashed before and after: the call must not modify it)}.
import { buildBytes } from './proto.mjs';
import { tinyFeeds } from './models.mjs';

export const reluBytes = () => buildBytes({
  opset: 13,
  inputs: [{ name: 'x', dtype: 'float', shape: ['N', 4] }],
  outputs: [{ name: 'y', dtype: 'float', shape: ['N', 4] }],
  nodes: [{ name: 'relu', op: 'Relu', inputs: ['x'], outputs: ['y'] }],
});

export const pointwiseCnn = (channels) => buildBytes({
  opset: 13,
  inputs: [{ name: 'x', dtype: 'float', shape: ['N', 1, 2, 2] }],
  outputs: [{ name: 'y', dtype: 'float', shape: ['N', channels, 2, 2] }],
  initializers: [{ name: 'w', dtype: 'float', dims: [channels, 1, 1, 1], data: new Float32Array(channels).fill(0.5) },
    { name: 'b', dtype: 'float', dims: [channels], data: new Float32Array(channels).fill(0.25) }],
  nodes: [{ name: 'conv', op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'] }, { name: 'relu', op: 'Relu', inputs: ['c'], outputs: ['y'] }],
});

const WRAP = 2 ** 28;  // [2^28, 4] float: 2^30 elements, 2^32 bytes, 0 in 32 bits

function detached(n) {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

async function withModel(ctx, bytes, fn) {
  const m = await ctx.lib.Model.load(bytes);
  try { return await fn(m); } finally { m.dispose(); }
}
const x4 = (ctx) => { const d = Float32Array.of(1, -2, 3, -4); ctx.watch(d); return { x: { data: d, shape: [1, 4] } }; };
const staticRecipe = { mode: 'static', report: { samples: 0 } };

const CASES = {
  'run-shape-2^28x4-empty-data': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(0), shape: [WRAP, 4] } }))],
  'run-shape-2^28x4-4-floats': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: Float32Array.of(1, 2, 3, 4), shape: [WRAP, 4] } }))],
  'run-cnn-shape-wraps-to-0': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => m.run({ x: { data: new Float32Array(0), shape: [WRAP, 2, 6, 6] } }))],
  'run-shape-2^32x1': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [2 ** 32, 1] } }))],
  'run-shape-2^31': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [2 ** 31, 4] } }))],
  'run-shape-2^53': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [2 ** 53, 4] } }))],
  'run-shape-negative': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [-1, -4] } }))],
  'run-shape-fractional': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [0.5, 8] } }))],
  'run-shape-nan-infinity': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [NaN, Infinity] } }))],
  'run-shape-strings': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: ['1', '4'] } }))],
  'run-shape-objects': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [{}, null] } }))],
  'run-shape-rank-1e6': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: new Array(1e6).fill(1) } }))],
  'run-bigint-dims': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [1n, 4n] } }))],
  'run-bigint-dims-2^64': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [2n ** 64n, 4n] } }))],
  'run-detached-buffer': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: detached(4), shape: [1, 4] } }))],
  'run-outputs-null': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), { outputs: [null] }))],
  'run-outputs-number': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), { outputs: [42] }))],
  'run-outputs-string-not-array': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), { outputs: 'y' }))],
  'run-outputs-object': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), { outputs: { length: 2 ** 32 } }))],
  'run-outputs-unknown-huge-name': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), { outputs: ['z'.repeat(10_000_000)] }))],
  'run-options-null': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(x4(ctx), null))],
  'run-feeds-null': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(null))],
  'run-feed-null': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: null }))],
  'run-input-name-huge': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ ['x'.repeat(10_000_000)]: { data: new Float32Array(4), shape: [1, 4] } }))],
  'run-input-name-control-chars': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ 'x\u0000\n\u001b[2J': { data: new Float32Array(4), shape: [1, 4] } }))],
  'run-dtype-toString': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [1, 4], dtype: 'toString' } }))],
  'run-dtype-__proto__': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [1, 4], dtype: '__proto__' } }))],
  'run-dtype-constructor': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [1, 4], dtype: 'constructor' } }))],
  'run-dtype-object': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float32Array(4), shape: [1, 4], dtype: {} } }))],
  'run-data-dataview': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new DataView(new ArrayBuffer(16)), shape: [1, 4] } }))],
  'run-data-plain-array': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: [1, 2, 3, 4], shape: [1, 4] } }))],
  'run-data-float64-as-float': ['any', (ctx) => withModel(ctx, ctx.relu, (m) => m.run({ x: { data: new Float64Array(2), shape: [1, 4], dtype: 'float' } }))],
  'run-data-shared-buffer': ['any', (ctx) => withModel(ctx, ctx.relu, (m) => {
    const d = new Float32Array(new SharedArrayBuffer(16)); d.set([1, -2, 3, -4]); ctx.watch(d);
    return m.run({ x: { data: d, shape: [1, 4] } });
  })],
  'run-feeds-getter-proxy': ['any', (ctx) => withModel(ctx, ctx.relu, (m) => m.run(new Proxy({}, { ownKeys: () => ['x'], getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true, value: { data: new Float32Array(4), shape: [1, 4] } }) })))],
  'run-after-dispose': ['error', async (ctx) => { const m = await ctx.lib.Model.load(ctx.relu); m.dispose(); m.dispose(); return m.run(x4(ctx)); }],
  // [2^20, 1, 2, 2] through a 1x1 conv to C channels: C * 16 bytes per image, so C = 256 makes an
  // activation of exactly 4 GiB (0 in 32 bits) from a 16 MB input.
  'batch-2^20-cnn-4GiB-activation': ['any', (ctx) => withModel(ctx, pointwiseCnn(256), (m) => m.run({ x: { data: new Float32Array(2 ** 22).fill(1), shape: [2 ** 20, 1, 2, 2] } }))],
  'batch-2^20-cnn-1GiB-activation': ['any', (ctx) => withModel(ctx, pointwiseCnn(64), (m) => m.run({ x: { data: new Float32Array(2 ** 22).fill(1), shape: [2 ** 20, 1, 2, 2] } }))],
  'batch-2^16-tiny-cnn': ['any', (ctx) => withModel(ctx, ctx.tiny, (m) => m.run(tinyFeeds(2 ** 16)))],
  'load-detached-bytes': ['error', (ctx) => { const u8 = new Uint8Array(ctx.relu); structuredClone(u8.buffer, { transfer: [u8.buffer] }); return ctx.lib.Model.load(u8); }],
  'load-string': ['error', (ctx) => ctx.lib.Model.load('model.onnx')],
  'load-array': ['error', (ctx) => ctx.lib.Model.load(Array.from(ctx.relu))],
  'load-undefined': ['error', (ctx) => ctx.lib.Model.load()],
  'load-shared-buffer': ['any', async (ctx) => {
    const u8 = new Uint8Array(new SharedArrayBuffer(ctx.relu.length)); u8.set(ctx.relu); ctx.watch(u8);
    (await ctx.lib.Model.load(u8)).dispose();
  }],
  'new-model-object': ['error', (ctx) => new ctx.lib.Model({})],
  'new-model-null': ['error', (ctx) => new ctx.lib.Model(null)],
  'quantize-options-null': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => ctx.lib.quantize(m, { mode: 'dynamic' }, null))],
  'quantize-model-not-model': ['error', (ctx) => ctx.lib.quantize({}, { mode: 'dynamic' })],
  'quantize-disposed-model': ['error', async (ctx) => { const m = await ctx.lib.Model.load(ctx.tiny); m.dispose(); return ctx.lib.quantize(m, { mode: 'dynamic' }); }],
  'quantize-recipe-cyclic': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => { const r = { mode: 'dynamic' }; r.self = r; return ctx.lib.quantize(m, r); })],
  'quantize-recipe-bigint': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, { mode: 'dynamic', weights: { bits: 8n } }))],
  'quantize-recipe-garbage-string': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, '{{{\u0000'))],
  'quantize-recipe-huge-key': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, { mode: 'dynamic', ['k'.repeat(5_000_000)]: 1 }))],
  'quantize-iterator-next-non-object': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, staticRecipe, {
    calibration: { [Symbol.iterator]() { return { next: () => 42 }; } } }))],
  'quantize-iterator-next-missing': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, staticRecipe, {
    calibration: { [Symbol.iterator]() { return {}; } } }))],
  'quantize-calibration-not-iterable': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, staticRecipe, { calibration: 42 }))],
  'quantize-calibration-sample-null': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, staticRecipe, { calibration: [null] }))],
  'quantize-calibration-shape-wraps': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => ctx.lib.quantize(m, staticRecipe, {
    calibration: [{ x: { data: new Float32Array(0), shape: [WRAP, 4] } }] }))],
  'quantize-onprogress-non-function': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.quantize(m, { mode: 'dynamic' }, { onProgress: 5 }))],
  'quantize-signal-garbage': ['any', (ctx) => withModel(ctx, ctx.tiny, async (m) => (await ctx.lib.quantize(m, { mode: 'dynamic' }, { signal: 5 })).model.dispose())],
  'compare-sample-shape-wraps': ['error', (ctx) => withModel(ctx, ctx.relu, (m) => ctx.lib.compare(m, m, [{ x: { data: new Float32Array(0), shape: [WRAP, 4] } }]))],
  'compare-labels-nan': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.compare(m, m, [tinyFeeds(1)], { labels: [NaN] }))],
  'compare-labels-huge': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.compare(m, m, [tinyFeeds(1)], { labels: [2 ** 63] }))],
  'compare-samples-null': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.compare(m, m, null))],
  'compare-options-null': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.compare(m, m, [tinyFeeds(1)], null))],
  'finetune-augment-returns-null': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.finetune(m,
    { mode: 'static', report: { samples: 0 }, training: { epochs: 1, batchSize: 1 } },
    { data: [tinyFeeds(1), tinyFeeds(1)], labels: [1, 2], augment: () => null }))],
  'finetune-labels-nan': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.finetune(m,
    { mode: 'static', report: { samples: 0 }, training: { epochs: 1, batchSize: 1 } },
    { data: [tinyFeeds(1)], labels: [NaN] }))],
  'finetune-options-null': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.finetune(m, { mode: 'static', training: {} }, null))],
  'train-batch-size-2^32': ['error', (ctx) => withModel(ctx, ctx.tiny, (m) => ctx.lib.train(m, { epochs: 1, batchSize: 2 ** 32 }, { data: [tinyFeeds(1)], labels: [0] }))],
  'normalize-recipe-cyclic': ['error', (ctx) => { const r = { mode: 'dynamic' }; r.r = r; return ctx.lib.normalizeRecipe(r); }],
  'normalize-recipe-undefined': ['error', (ctx) => ctx.lib.normalizeRecipe(undefined)],
  'normalize-recipe-2^31-bits': ['error', (ctx) => ctx.lib.normalizeRecipe({ mode: 'dynamic', weights: { bits: 2 ** 31 } })],
  // Needs a process where init() has not run yet (the runner starts a fresh worker).
  'init-garbage-wasmBinary': ['error', (ctx) => ctx.lib.init({ wasmBinary: Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff) }), { fresh: true }],
  'init-wasmBinary-not-bytes': ['error', (ctx) => ctx.lib.init({ wasmBinary: 'not bytes' }), { fresh: true }],
};

export const API_NAMES = Object.keys(CASES);
/** {expect, fn, fresh} for API case `name`. */
export function apiCase(name) {
  const c = CASES[name];
  if (!c) throw new Error(`fuzz: no API case ${name}`);
  return { expect: c[0], fn: c[1], fresh: Boolean(c[2]?.fresh) };
}
