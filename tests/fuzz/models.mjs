// Base models for the fuzz suite: the bundled real models (read lazily, once
// per process) and small hand-built ones. `tiny` is both the known-good model
// that every worker checks after every case and the small real model whose
// every truncation is a case.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PPOCR } from '../../examples/lib/models.mjs';
import { buildBytes, F32 } from './proto.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Deterministic weights: small values from a fixed LCG, so the bytes never change.
function weights(n, seed, scale = 0.5) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 - 0.5) * 2 * scale;
  }
  return out;
}
const i64 = (...v) => BigInt64Array.from(v.map(BigInt));

// x [N, 2, 6, 6] -> Conv 3x3 pad 1 (4 ch) -> Relu -> MaxPool 2 -> Flatten -> Gemm 36x5 -> Softmax.
function tinyDesc() {
  return {
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float', shape: ['N', 2, 6, 6] }],
    outputs: [{ name: 'y', dtype: 'float', shape: ['N', 5] }],
    initializers: [
      { name: 'w1', dtype: 'float', dims: [4, 2, 3, 3], data: weights(72, 1) },
      { name: 'b1', dtype: 'float', dims: [4], data: weights(4, 2) },
      { name: 'w2', dtype: 'float', dims: [36, 5], data: weights(180, 3) },
      { name: 'b2', dtype: 'float', dims: [5], data: weights(5, 4) },
    ],
    nodes: [
      { name: 'conv', op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
      { name: 'relu', op: 'Relu', inputs: ['c'], outputs: ['r'] },
      { name: 'pool', op: 'MaxPool', inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { name: 'flat', op: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } },
      { name: 'fc', op: 'Gemm', inputs: ['f', 'w2', 'b2'], outputs: ['g'] },
      { name: 'softmax', op: 'Softmax', inputs: ['g'], outputs: ['y'], attrs: { axis: 1 } },
    ],
  };
}

// Conv family: grouped conv, BatchNorm, ConvTranspose, pools, Gemm.
function zooConvDesc() {
  return {
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float', shape: [1, 3] }],
    initializers: [
      { name: 'w1', dtype: 'float', dims: [8, 2, 3, 3], data: weights(144, 5) },
      { name: 'b1', dtype: 'float', dims: [8], data: weights(8, 6) },
      { name: 'gamma', dtype: 'float', dims: [8], data: weights(8, 7, 1) },
      { name: 'beta', dtype: 'float', dims: [8], data: weights(8, 8) },
      { name: 'mean', dtype: 'float', dims: [8], data: weights(8, 9) },
      { name: 'var', dtype: 'float', dims: [8], data: Float32Array.from(weights(8, 10), (v) => 1 + Math.abs(v)) },
      { name: 'wt', dtype: 'float', dims: [8, 4, 2, 2], data: weights(128, 11) },
      { name: 'w3', dtype: 'float', dims: [4, 1, 3, 3], data: weights(36, 12) },
      { name: 'wfc', dtype: 'float', dims: [3, 4], data: weights(12, 13) },
      { name: 'bfc', dtype: 'float', dims: [3], data: weights(3, 14) },
    ],
    nodes: [
      { name: 'gconv', op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { group: 2, pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], kernel_shape: [3, 3] } },
      { name: 'bn', op: 'BatchNormalization', inputs: ['c1', 'gamma', 'beta', 'mean', 'var'], outputs: ['n1'], attrs: { epsilon: new F32(1e-5) } },
      { name: 'clip', op: 'Clip', inputs: ['n1'], outputs: ['r1'] },
      { name: 'avg', op: 'AveragePool', inputs: ['r1'], outputs: ['a1'], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] } },
      { name: 'deconv', op: 'ConvTranspose', inputs: ['a1', 'wt'], outputs: ['t1'], attrs: { strides: [2, 2], kernel_shape: [2, 2], group: 1 } },
      { name: 'dwconv', op: 'Conv', inputs: ['t1', 'w3'], outputs: ['d1'], attrs: { group: 4, pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
      { name: 'hsig', op: 'HardSigmoid', inputs: ['d1'], outputs: ['h1'], attrs: { alpha: new F32(0.2), beta: new F32(0.5) } },
      { name: 'maxp', op: 'MaxPool', inputs: ['h1'], outputs: ['m1'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
      { name: 'gap', op: 'GlobalAveragePool', inputs: ['m1'], outputs: ['g1'] },
      { name: 'flat', op: 'Flatten', inputs: ['g1'], outputs: ['f1'], attrs: { axis: 1 } },
      { name: 'fc', op: 'Gemm', inputs: ['f1', 'wfc', 'bfc'], outputs: ['z'], attrs: { transB: 1, alpha: new F32(1) } },
      { name: 'softmax', op: 'Softmax', inputs: ['z'], outputs: ['y'], attrs: { axis: -1 } },
    ],
  };
}

// Shape family: Transpose, Reshape, Split, Concat, Slice, Pad, Gather, Unsqueeze,
// Squeeze, Tile, Expand, Resize, ReduceMean, Cast, Where.
function zooShapeDesc() {
  return {
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 3, 4, 6] }],
    outputs: [{ name: 'y', dtype: 'float', shape: null }, { name: 'y2', dtype: 'float', shape: null }],
    initializers: [
      { name: 'shape1', dtype: 'int64', dims: [3], data: i64(1, 12, 6) },
      { name: 'split', dtype: 'int64', dims: [2], data: i64(2, 4) },
      { name: 'starts', dtype: 'int64', dims: [2], data: i64(1, 0) },
      { name: 'ends', dtype: 'int64', dims: [2], data: i64(10, 5) },
      { name: 'axes', dtype: 'int64', dims: [2], data: i64(1, 2) },
      { name: 'pads', dtype: 'int64', dims: [6], data: i64(0, 1, 2, 0, 1, 1) },
      { name: 'idx', dtype: 'int64', dims: [3], data: i64(0, 2, -1) },
      { name: 'uaxes', dtype: 'int64', dims: [1], data: i64(0) },
      { name: 'reps', dtype: 'int64', dims: [4], data: i64(1, 2, 1, 1) },
      { name: 'eshape', dtype: 'int64', dims: [4], data: i64(2, 1, 4, 1) },
      { name: 'scales', dtype: 'float', dims: [4], data: Float32Array.from([1, 1, 2, 2]) },
      { name: 'raxes', dtype: 'int64', dims: [1], data: i64(2) },
    ],
    nodes: [
      { name: 'tr', op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 2, 3, 1] } },
      { name: 'rs', op: 'Reshape', inputs: ['t', 'shape1'], outputs: ['r'] },
      { name: 'sp', op: 'Split', inputs: ['r', 'split'], outputs: ['s0', 's1'], attrs: { axis: 2 } },
      { name: 'cc', op: 'Concat', inputs: ['s1', 's0'], outputs: ['c'], attrs: { axis: 2 } },
      { name: 'sl', op: 'Slice', inputs: ['c', 'starts', 'ends', 'axes'], outputs: ['l'] },
      { name: 'pd', op: 'Pad', inputs: ['l', 'pads'], outputs: ['p'], attrs: { mode: 'constant' } },
      { name: 'ga', op: 'Gather', inputs: ['p', 'idx'], outputs: ['g'], attrs: { axis: 1 } },
      { name: 'un', op: 'Unsqueeze', inputs: ['g', 'uaxes'], outputs: ['u'] },
      { name: 'ti', op: 'Tile', inputs: ['u', 'reps'], outputs: ['tt'] },
      { name: 'ex', op: 'Expand', inputs: ['x', 'eshape'], outputs: ['e'] },
      { name: 're', op: 'Resize', inputs: ['e', '', 'scales'], outputs: ['z'], attrs: { mode: 'nearest' } },
      { name: 'rm', op: 'ReduceMean', inputs: ['z', 'raxes'].slice(0, 1), outputs: ['y2'], attrs: { axes: [2], keepdims: 1 } },
      { name: 'sq', op: 'Squeeze', inputs: ['tt', 'uaxes'], outputs: ['q'] },
      { name: 'ca', op: 'Cast', inputs: ['q'], outputs: ['y'], attrs: { to: 1 } },
    ],
  };
}

// Math family: MatMul, broadcast arithmetic, LayerNorm, Softmax, TopK, ArgMax,
// Range, ConstantOfShape, OneHot, CumSum, Einsum, Where.
function zooMathDesc() {
  return {
    opset: 17,
    inputs: [{ name: 'a', dtype: 'float', shape: ['B', 4, 8] }, { name: 'ids', dtype: 'int64', shape: ['B', 4] }],
    outputs: [{ name: 'y', dtype: 'float', shape: null }, { name: 'k', dtype: 'int64', shape: null }, { name: 'oh', dtype: 'float', shape: null }],
    initializers: [
      { name: 'w', dtype: 'float', dims: [8, 8], data: weights(64, 20) },
      { name: 'bias', dtype: 'float', dims: [8], data: weights(8, 21) },
      { name: 'gamma', dtype: 'float', dims: [8], data: weights(8, 22, 1) },
      { name: 'beta', dtype: 'float', dims: [8], data: weights(8, 23) },
      { name: 'emb', dtype: 'float', dims: [10, 8], data: weights(80, 24) },
      { name: 'kk', dtype: 'int64', dims: [1], data: i64(3) },
      { name: 'depth', dtype: 'int64', dims: [], data: i64(10) },
      { name: 'ohv', dtype: 'float', dims: [2], data: Float32Array.from([0, 1]) },
      { name: 'r0', dtype: 'int64', dims: [], data: i64(0) },
      { name: 'r1', dtype: 'int64', dims: [], data: i64(8) },
      { name: 'rd', dtype: 'int64', dims: [], data: i64(1) },
      { name: 'cax', dtype: 'int64', dims: [], data: i64(1) },
    ],
    nodes: [
      { name: 'emb', op: 'Gather', inputs: ['emb', 'ids'], outputs: ['e'], attrs: { axis: 0 } },
      { name: 'add0', op: 'Add', inputs: ['a', 'e'], outputs: ['x0'] },
      { name: 'mm', op: 'MatMul', inputs: ['x0', 'w'], outputs: ['m'] },
      { name: 'addb', op: 'Add', inputs: ['m', 'bias'], outputs: ['mb'] },
      { name: 'ln', op: 'LayerNormalization', inputs: ['mb', 'gamma', 'beta'], outputs: ['n'], attrs: { axis: -1, epsilon: new F32(1e-5) } },
      { name: 'tr', op: 'Transpose', inputs: ['n'], outputs: ['nt'], attrs: { perm: [0, 2, 1] } },
      { name: 'att', op: 'MatMul', inputs: ['n', 'nt'], outputs: ['s'] },
      { name: 'sm', op: 'Softmax', inputs: ['s'], outputs: ['p'], attrs: { axis: -1 } },
      { name: 'ctx', op: 'Einsum', inputs: ['p', 'n'], outputs: ['c'], attrs: { equation: 'bij,bjd->bid' } },
      { name: 'cs', op: 'CumSum', inputs: ['c', 'cax'], outputs: ['cu'] },
      { name: 'rg', op: 'Range', inputs: ['r0', 'r1', 'rd'], outputs: ['rng'] },
      { name: 'rgc', op: 'Cast', inputs: ['rng'], outputs: ['rngf'], attrs: { to: 1 } },
      { name: 'mul', op: 'Mul', inputs: ['cu', 'rngf'], outputs: ['y'] },
      { name: 'topk', op: 'TopK', inputs: ['y', 'kk'], outputs: ['tv', 'k'], attrs: { axis: -1, largest: 1 } },
      { name: 'am', op: 'ArgMax', inputs: ['tv'], outputs: ['ai'], attrs: { axis: -1, keepdims: 0 } },
      { name: 'oh', op: 'OneHot', inputs: ['ai', 'depth', 'ohv'], outputs: ['oh'], attrs: { axis: -1 } },
    ],
  };
}

const FILES = {
  mnist: path.join(root, 'examples/models/mnist_cnn.onnx'),
  enc13: path.join(root, 'examples/models/encoder_opset13.onnx'),
  enc17: path.join(root, 'examples/models/encoder_opset17.onnx'),
  cls: PPOCR.cls.file,
  rec: PPOCR.rec.file,
  det: PPOCR.det.file,
};
const BUILT = { tiny: tinyDesc, 'zoo-conv': zooConvDesc, 'zoo-shape': zooShapeDesc, 'zoo-math': zooMathDesc };

// Sizes for symbolic dims, per base model: {axis index or dim name: value}. Real
// image models get a small image of a size they accept; everything else small.
export const DIM_HINTS = {
  cls: { 2: 48, 3: 64 }, rec: { 3: 64 }, det: { 2: 64, 3: 64 }, mnist: {}, enc13: { 1: 8 }, enc17: { 1: 8 },
};

export const BASE_KEYS = [...Object.keys(BUILT), ...Object.keys(FILES)];
// Models small enough to quantize in a fuzz case (static quantization of rec/det takes seconds).
export const QUANTIZABLE = new Set(['tiny', 'zoo-conv', 'zoo-shape', 'zoo-math', 'mnist', 'enc13', 'enc17', 'cls']);

const cache = new Map();
/** Bytes of a base model (cached; callers must not modify them). */
export function baseBytes(key) {
  if (!cache.has(key)) {
    if (BUILT[key]) cache.set(key, buildBytes(BUILT[key]()));
    else if (FILES[key]) cache.set(key, new Uint8Array(fs.readFileSync(FILES[key])));
    else throw new Error(`fuzz: unknown base model ${key}`);
  }
  return cache.get(key);
}

export const tinyFeeds = (n = 1) => ({ x: { data: weights(n * 72, 99, 1), shape: [n, 2, 6, 6] } });
