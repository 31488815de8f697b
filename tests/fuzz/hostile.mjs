// Hostile hand-made models, one named case each. Every case must end in a
// result or a clean WebquantError; what a case is about is in its name.
// feeds: explicit inputs (the hostile values usually come in at run time, so
// load-time constant folding cannot hide them); action 'load' or 'run'.
import { buildBytes, encode, modelMsg, graphMsg, add, msg, setAll, first, all, F32 } from './proto.mjs';

const i64 = (...v) => BigInt64Array.from(v.map(BigInt));
const f32 = (...v) => Float32Array.from(v);
const G = 2 ** 30;

function feed(data, shape, dtype) { return { data, shape, ...(dtype ? { dtype } : {}) }; }
const scalarI64 = (v) => feed(i64(v), []);

// A one-node model: inputs declared from the feeds (shape unknown), output 'y'.
function oneNode(op, inputs, attrs = {}, { initializers = [], opset = 13, outputs = ['y'], outDtype = 'float' } = {}) {
  const init = new Set(initializers.map((t) => t.name));
  return buildBytes({
    opset,
    inputs: inputs.filter((i) => i.name && !init.has(i.name)).map((i) => ({ name: i.name, dtype: i.dtype, shape: i.shape })),
    outputs: outputs.map((name) => ({ name, dtype: outDtype })),
    initializers,
    nodes: [{ name: `the_${op}`, op, inputs: inputs.map((i) => i.name), outputs, attrs }],
  });
}

function leaf(d) {
  return { name: `e${d}`, nodes: [{ name: `eid${d}`, op: 'Identity', inputs: ['x'], outputs: [`e${d}_out`] }], outputs: [{ name: `e${d}_out`, dtype: 'float' }] };
}

function ifNest(depth) {
  // If inside If inside If ..., the condition and x from the outer scope. Each
  // level is encoded on its own (the inner graph as ready bytes), so neither
  // building nor encoding recurses 1000 deep.
  let inner = encode(graphMsg({ name: 'leaf', nodes: [{ name: 'id', op: 'Identity', inputs: ['x'], outputs: ['leaf_out'] }], outputs: [{ name: 'leaf_out', dtype: 'float' }] }));
  let top = null;
  for (let d = 0; d < depth; ++d) {
    const g = graphMsg({ name: `g${d}`, nodes: [{ name: `if${d}`, op: 'If', inputs: ['c'], outputs: [`o${d}`], attrs: { else_branch: { graph: leaf(d) } } }],
      outputs: [{ name: `o${d}`, dtype: 'float' }] });
    const a = msg('Attribute', { name: 'then_branch' });
    add(a, 'g', inner);
    add(a, 'type', 5n);
    add(first(g, 'node'), 'attribute', a);
    if (d === depth - 1) top = g; else inner = encode(g);
  }
  const m = modelMsg({ opset: 13, inputs: [{ name: 'c', dtype: 'bool', shape: [] }, { name: 'x', dtype: 'float', shape: [1] }],
    outputs: [{ name: `o${depth - 1}`, dtype: 'float' }], nodes: [] });
  const g = first(m, 'graph');
  for (const n of all(top, 'node')) add(g, 'node', n);
  return encode(m);
}

// Raw protobuf nesting far beyond any sane limit: graph -> node -> attribute -> graph -> ...
// Nothing follows a nested message, so the bytes are the headers, outermost first.
function deepProtobuf(depth) {
  const varint = (n, out) => { while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); } out.push(n); };
  const headers = [];  // innermost first
  let len = 0;
  for (let d = 0; d < depth; ++d) {
    for (const field of [6, 5, 1]) {  // Attribute.g, Node.attribute, Graph.node
      const h = [(field << 3) | 2];
      varint(len, h);
      headers.push(h);
      len += h.length;
    }
  }
  const top = [0x08, 0x08, 0x3a];
  varint(len, top);
  const out = new Uint8Array(top.length + len + 4);
  out.set(top, 0);
  let o = top.length;
  for (let i = headers.length - 1; i >= 0; --i) { out.set(headers[i], o); o += headers[i].length; }
  out.set([0x42, 0x02, 0x10, 0x0d], o);
  return out;
}

function relu(opset, extra = {}) {
  return buildBytes({
    opset, ...extra,
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float', shape: [1, 4] }],
    nodes: [{ name: 'relu', op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  });
}

const CASES = [
  // ---- 4 GiB tensors: byte sizes that wrap to 0 in 32 bits --------------------------------
  ['cos-float-2^30-runtime', () => oneNode('ConstantOfShape', [{ name: 's', dtype: 'int64', shape: [1] }], { value: { dims: [1], dtype: 'float', data: f32(1) } }),
    () => ({ s: feed(i64(G), [1]) })],
  ['cos-int64-2^29-runtime', () => oneNode('ConstantOfShape', [{ name: 's', dtype: 'int64', shape: [1] }], { value: { dims: [1], dtype: 'int64', data: i64(7) } }, { outDtype: 'int64' }),
    () => ({ s: feed(i64(G / 2), [1]) })],
  ['cos-float-2^15x2^15-runtime', () => oneNode('ConstantOfShape', [{ name: 's', dtype: 'int64', shape: [2] }]),
    () => ({ s: feed(i64(2 ** 15, 2 ** 15), [2]) })],
  ['cos-float-2^32x2^32-runtime', () => oneNode('ConstantOfShape', [{ name: 's', dtype: 'int64', shape: [2] }]),
    () => ({ s: feed(i64(2 ** 32, 2 ** 32), [2]) })],
  ['cos-float-2^62-runtime', () => oneNode('ConstantOfShape', [{ name: 's', dtype: 'int64', shape: [1] }]),
    () => ({ s: feed(i64(2n ** 62n), [1]) })],
  ['cos-float-loadtime-2^30', () => oneNode('ConstantOfShape', [{ name: 's' }], { value: { dims: [1], dtype: 'float', data: f32(1) } },
    { initializers: [{ name: 's', dtype: 'int64', dims: [1], data: i64(G) }] }), null],
  ['fold-81-bytes-1GiB', () => oneNode('ConstantOfShape', [{ name: 's' }], {},
    { initializers: [{ name: 's', dtype: 'int64', dims: [1], data: i64(2 ** 28) }] }), null],
  ['range-float-2^30', () => oneNode('Range', [{ name: 'a', dtype: 'float', shape: [] }, { name: 'b', dtype: 'float', shape: [] }, { name: 'd', dtype: 'float', shape: [] }]),
    () => ({ a: feed(f32(0), []), b: feed(f32(G), []), d: feed(f32(1), []) })],
  ['range-int64-2^29', () => oneNode('Range', [{ name: 'a', dtype: 'int64', shape: [] }, { name: 'b', dtype: 'int64', shape: [] }, { name: 'd', dtype: 'int64', shape: [] }], {}, { outDtype: 'int64' }),
    () => ({ a: scalarI64(0), b: scalarI64(G / 2), d: scalarI64(1) })],
  ['range-int64-2^62', () => oneNode('Range', [{ name: 'a', dtype: 'int64', shape: [] }, { name: 'b', dtype: 'int64', shape: [] }, { name: 'd', dtype: 'int64', shape: [] }], {}, { outDtype: 'int64' }),
    () => ({ a: scalarI64(-(2n ** 62n)), b: scalarI64(2n ** 62n), d: scalarI64(1) })],
  ['range-delta-0', () => oneNode('Range', [{ name: 'a', dtype: 'float', shape: [] }, { name: 'b', dtype: 'float', shape: [] }, { name: 'd', dtype: 'float', shape: [] }]),
    () => ({ a: feed(f32(0), []), b: feed(f32(10), []), d: feed(f32(0), []) })],
  ['range-delta-nan', () => oneNode('Range', [{ name: 'a', dtype: 'float', shape: [] }, { name: 'b', dtype: 'float', shape: [] }, { name: 'd', dtype: 'float', shape: [] }]),
    () => ({ a: feed(f32(0), []), b: feed(f32(Infinity), []), d: feed(f32(NaN), []) })],
  ['expand-float-2^30', () => oneNode('Expand', [{ name: 'x', dtype: 'float', shape: [1] }, { name: 's', dtype: 'int64', shape: [1] }]),
    () => ({ x: feed(f32(1), [1]), s: feed(i64(G), [1]) })],
  ['expand-float-2^15x2^15', () => oneNode('Expand', [{ name: 'x', dtype: 'float', shape: [1] }, { name: 's', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1), [1]), s: feed(i64(2 ** 15, 2 ** 15), [2]) })],
  ['resize-sizes-2^30', () => oneNode('Resize', [{ name: 'x', dtype: 'float', shape: [1, 1, 1, 1] }, { name: '' }, { name: '' }, { name: 'sz', dtype: 'int64', shape: [4] }], { mode: 'nearest' }),
    () => ({ x: feed(f32(1), [1, 1, 1, 1]), sz: feed(i64(1, 1, 32768, 32768), [4]) })],
  ['resize-scales-2^15', () => oneNode('Resize', [{ name: 'x', dtype: 'float', shape: [1, 1, 2, 2] }, { name: '' }, { name: 'sc', dtype: 'float', shape: [4] }], { mode: 'linear' }),
    () => ({ x: feed(f32(1, 2, 3, 4), [1, 1, 2, 2]), sc: feed(f32(1, 1, 16384, 16384), [4]) })],
  ['resize-scales-inf', () => oneNode('Resize', [{ name: 'x', dtype: 'float', shape: [1, 1, 2, 2] }, { name: '' }, { name: 'sc', dtype: 'float', shape: [4] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [1, 1, 2, 2]), sc: feed(f32(1, 1, Infinity, NaN), [4]) })],
  ['mul-broadcast-2^15x2^15', () => oneNode('Mul', [{ name: 'a', dtype: 'float', shape: [32768, 1] }, { name: 'b', dtype: 'float', shape: [1, 32768] }]),
    () => ({ a: feed(new Float32Array(32768), [32768, 1]), b: feed(new Float32Array(32768), [1, 32768]) })],
  ['add-broadcast-int64-2^29', () => oneNode('Add', [{ name: 'a', dtype: 'int64', shape: [16384, 1] }, { name: 'b', dtype: 'int64', shape: [1, 32768] }], {}, { outDtype: 'int64' }),
    () => ({ a: feed(new BigInt64Array(16384), [16384, 1]), b: feed(new BigInt64Array(32768), [1, 32768]) })],
  ['matmul-2^15x1x2^15', () => oneNode('MatMul', [{ name: 'a', dtype: 'float', shape: [32768, 1] }, { name: 'b', dtype: 'float', shape: [1, 32768] }]),
    () => ({ a: feed(new Float32Array(32768), [32768, 1]), b: feed(new Float32Array(32768), [1, 32768]) })],
  ['matmul-batch-broadcast-2^30', () => oneNode('MatMul', [{ name: 'a', dtype: 'float', shape: [65536, 1, 1, 1] }, { name: 'b', dtype: 'float', shape: [1, 1, 1, 16384] }]),
    () => ({ a: feed(new Float32Array(65536), [65536, 1, 1, 1]), b: feed(new Float32Array(16384), [1, 1, 1, 16384]) })],
  ['where-broadcast-2^30', () => oneNode('Where', [{ name: 'c', dtype: 'bool', shape: [32768, 1] }, { name: 'a', dtype: 'float', shape: [1, 32768] }, { name: 'b', dtype: 'float', shape: [1] }]),
    () => ({ c: feed(new Uint8Array(32768), [32768, 1], 'bool'), a: feed(new Float32Array(32768), [1, 32768]), b: feed(f32(0), [1]) })],
  ['onehot-depth-2^30', () => oneNode('OneHot', [{ name: 'i', dtype: 'int64', shape: [1] }, { name: 'd', dtype: 'int64', shape: [] }, { name: 'v', dtype: 'float', shape: [2] }]),
    () => ({ i: feed(i64(3), [1]), d: scalarI64(G), v: feed(f32(0, 1), [2]) })],
  ['onehot-depth-2^62', () => oneNode('OneHot', [{ name: 'i', dtype: 'int64', shape: [1] }, { name: 'd', dtype: 'int64', shape: [] }, { name: 'v', dtype: 'float', shape: [2] }]),
    () => ({ i: feed(i64(3), [1]), d: scalarI64(2n ** 62n), v: feed(f32(0, 1), [2]) })],
  ['tile-1GiB', () => oneNode('Tile', [{ name: 'x', dtype: 'float', shape: [1] }, { name: 'r', dtype: 'int64', shape: [1] }]),
    () => ({ x: feed(f32(1), [1]), r: feed(i64(2 ** 28), [1]) })],
  ['tile-4GiB', () => oneNode('Tile', [{ name: 'x', dtype: 'float', shape: [2] }, { name: 'r', dtype: 'int64', shape: [1] }]),
    () => ({ x: feed(f32(1, 2), [2]), r: feed(i64(2 ** 29), [1]) })],
  ['pad-1GiB', () => oneNode('Pad', [{ name: 'x', dtype: 'float', shape: [1] }, { name: 'p', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1), [1]), p: feed(i64(0, 2 ** 28 - 1), [2]) })],
  ['pad-2^32', () => oneNode('Pad', [{ name: 'x', dtype: 'float', shape: [1] }, { name: 'p', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1), [1]), p: feed(i64(0, 2 ** 32), [2]) })],
  ['pad-negative-2^32', () => oneNode('Pad', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 'p', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), p: feed(i64(-(2 ** 32), 2), [2]) })],
  ['pad-reflect-huge', () => oneNode('Pad', [{ name: 'x', dtype: 'float', shape: [2] }, { name: 'p', dtype: 'int64', shape: [2] }], { mode: 'reflect' }),
    () => ({ x: feed(f32(1, 2), [2]), p: feed(i64(2 ** 20, 2 ** 20), [2]) })],
  ['conv1d-pads-2^28', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4] }, { name: 'w' }], { pads: [2 ** 28, 2 ** 28] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3], data: f32(1, 1, 1) }] }),
    () => ({ x: feed(f32(1, 2, 3, 4), [1, 1, 4]) })],
  ['conv-pads-2^32', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }, { name: 'w' }], { pads: [2 ** 32, 2 ** 32, 2 ** 32, 2 ** 32] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['conv-pads-2^31-1', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }, { name: 'w' }], { pads: [2 ** 31 - 1, 0, 2 ** 31 - 1, 0] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['conv-negative-pads', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }, { name: 'w' }], { pads: [-5, -5, -5, -5] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['conv-strides-0', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }, { name: 'w' }], { strides: [0, 0] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['conv-dilations-2^31', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }, { name: 'w' }], { dilations: [2 ** 31, 2 ** 31] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['conv-kernel-larger-than-input', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 1, 2, 2] }, { name: 'w' }], {},
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 5, 5], data: new Float32Array(25).fill(1) }] }),
    () => ({ x: feed(new Float32Array(4), [1, 1, 2, 2]) })],
  ['conv-group-bias-mismatch', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 16, 8, 8] }, { name: 'w' }, { name: 'b' }], { group: 2 },
    { initializers: [{ name: 'w', dtype: 'float', dims: [32, 16, 3, 3], data: new Float32Array(32 * 16 * 9).fill(0.01) }, { name: 'b', dtype: 'float', dims: [32], data: new Float32Array(32).fill(1) }] }),
    () => ({ x: feed(new Float32Array(1024).fill(1), [1, 16, 8, 8]) })],
  ['conv-group-0', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 4, 4, 4] }, { name: 'w' }], { group: 0 },
    { initializers: [{ name: 'w', dtype: 'float', dims: [4, 4, 1, 1], data: new Float32Array(16).fill(1) }] }),
    () => ({ x: feed(new Float32Array(64), [1, 4, 4, 4]) })],
  ['conv-group-3-of-4', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 4, 4, 4] }, { name: 'w' }, { name: 'b' }], { group: 3 },
    { initializers: [{ name: 'w', dtype: 'float', dims: [6, 2, 1, 1], data: new Float32Array(12).fill(1) }, { name: 'b', dtype: 'float', dims: [6], data: new Float32Array(6) }] }),
    () => ({ x: feed(new Float32Array(64), [1, 4, 4, 4]) })],
  ['conv-bias-too-short', () => oneNode('Conv', [{ name: 'x', dtype: 'float', shape: [1, 2, 4, 4] }, { name: 'w' }, { name: 'b' }], {},
    { initializers: [{ name: 'w', dtype: 'float', dims: [8, 2, 3, 3], data: new Float32Array(144).fill(1) }, { name: 'b', dtype: 'float', dims: [2], data: new Float32Array(2) }] }),
    () => ({ x: feed(new Float32Array(32), [1, 2, 4, 4]) })],
  ['convtranspose-output-padding-huge', () => oneNode('ConvTranspose', [{ name: 'x', dtype: 'float', shape: [1, 1, 2, 2] }, { name: 'w' }], { strides: [2, 2], output_padding: [2 ** 30, 2 ** 30] },
    { initializers: [{ name: 'w', dtype: 'float', dims: [1, 1, 2, 2], data: new Float32Array(4).fill(1) }] }),
    () => ({ x: feed(new Float32Array(4), [1, 1, 2, 2]) })],
  ['maxpool-kernel-0', () => oneNode('MaxPool', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }], { kernel_shape: [0, 0] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['maxpool-kernel-2^31', () => oneNode('MaxPool', [{ name: 'x', dtype: 'float', shape: [1, 1, 4, 4] }], { kernel_shape: [2 ** 31, 2 ** 31], pads: [2 ** 31, 2 ** 31, 2 ** 31, 2 ** 31] }),
    () => ({ x: feed(new Float32Array(16), [1, 1, 4, 4]) })],
  ['reshape-2^31x2^31', () => oneNode('Reshape', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 's', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), s: feed(i64(2 ** 31, 2 ** 31), [2]) })],
  ['reshape-zero-and-minus-one', () => oneNode('Reshape', [{ name: 'x', dtype: 'float', shape: [0, 4] }, { name: 's', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(new Float32Array(0), [0, 4]), s: feed(i64(-1, 0), [2]) })],
  ['transpose-perm-repeated', () => oneNode('Transpose', [{ name: 'x', dtype: 'float', shape: [2, 3] }], { perm: [0, 0] }),
    () => ({ x: feed(new Float32Array(6), [2, 3]) })],
  ['transpose-perm-out-of-range', () => oneNode('Transpose', [{ name: 'x', dtype: 'float', shape: [2, 3] }], { perm: [1, 2 ** 31] }),
    () => ({ x: feed(new Float32Array(6), [2, 3]) })],
  ['gather-index-out-of-range', () => oneNode('Gather', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 'i', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), i: feed(i64(2n ** 62n, -(2n ** 40n)), [2]) })],
  ['gathernd-batch-dims-huge', () => oneNode('GatherND', [{ name: 'x', dtype: 'float', shape: [2, 2] }, { name: 'i', dtype: 'int64', shape: [2, 1] }], { batch_dims: 5 }),
    () => ({ x: feed(f32(1, 2, 3, 4), [2, 2]), i: feed(i64(0, 1), [2, 1]) })],
  ['scatternd-index-out-of-range', () => oneNode('ScatterND', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 'i', dtype: 'int64', shape: [1, 1] }, { name: 'u', dtype: 'float', shape: [1] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), i: feed(i64(2 ** 40), [1, 1]), u: feed(f32(9), [1]) })],
  ['slice-int64-extremes', () => oneNode('Slice', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 's', dtype: 'int64', shape: [1] }, { name: 'e', dtype: 'int64', shape: [1] }, { name: 'a', dtype: 'int64', shape: [1] }, { name: 'st', dtype: 'int64', shape: [1] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), s: feed(i64(2n ** 63n - 1n), [1]), e: feed(i64(-(2n ** 63n)), [1]), a: feed(i64(0), [1]), st: feed(i64(-(2n ** 63n)), [1]) })],
  ['split-sizes-overflow', () => oneNode('Split', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 's', dtype: 'int64', shape: [2] }], { axis: 0 }, { outputs: ['y', 'z'] }),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), s: feed(i64(2n ** 63n - 1n, -(2n ** 63n) + 5n), [2]) })],
  ['concat-axis-1000', () => oneNode('Concat', [{ name: 'a', dtype: 'float', shape: [2] }, { name: 'b', dtype: 'float', shape: [2] }], { axis: 1000 }),
    () => ({ a: feed(f32(1, 2), [2]), b: feed(f32(3, 4), [2]) })],
  ['softmax-axis-int-min', () => oneNode('Softmax', [{ name: 'x', dtype: 'float', shape: [2, 2] }], { axis: -(2 ** 31) }),
    () => ({ x: feed(f32(1, 2, 3, 4), [2, 2]) })],
  ['flatten-axis-huge', () => oneNode('Flatten', [{ name: 'x', dtype: 'float', shape: [2, 2] }], { axis: 2 ** 40 }),
    () => ({ x: feed(f32(1, 2, 3, 4), [2, 2]) })],
  ['topk-k-2^40', () => oneNode('TopK', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 'k', dtype: 'int64', shape: [1] }], {}, { outputs: ['y', 'i'] }),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), k: feed(i64(2 ** 40), [1]) })],
  ['unsqueeze-axes-out-of-range', () => oneNode('Unsqueeze', [{ name: 'x', dtype: 'float', shape: [2] }, { name: 'a', dtype: 'int64', shape: [2] }]),
    () => ({ x: feed(f32(1, 2), [2]), a: feed(i64(2 ** 31, -(2 ** 31)), [2]) })],
  ['depthtospace-blocksize-0', () => oneNode('DepthToSpace', [{ name: 'x', dtype: 'float', shape: [1, 4, 2, 2] }], { blocksize: 0 }),
    () => ({ x: feed(new Float32Array(16), [1, 4, 2, 2]) })],
  ['spacetodepth-blocksize-2^31', () => oneNode('SpaceToDepth', [{ name: 'x', dtype: 'float', shape: [1, 1, 2, 2] }], { blocksize: 2 ** 31 }),
    () => ({ x: feed(new Float32Array(4), [1, 1, 2, 2]) })],
  ['eyelike-k-huge', () => oneNode('EyeLike', [{ name: 'x', dtype: 'float', shape: [2, 2] }], { k: 2 ** 40 }),
    () => ({ x: feed(new Float32Array(4), [2, 2]) })],
  ['einsum-bad-equation', () => oneNode('Einsum', [{ name: 'a', dtype: 'float', shape: [2, 2] }], { equation: 'ij,jk->ik' }),
    () => ({ a: feed(new Float32Array(4), [2, 2]) })],
  ['cumsum-axis-huge', () => oneNode('CumSum', [{ name: 'x', dtype: 'float', shape: [4] }, { name: 'a', dtype: 'int64', shape: [] }]),
    () => ({ x: feed(f32(1, 2, 3, 4), [4]), a: scalarI64(2n ** 62n) })],
  ['cast-to-unknown', () => oneNode('Cast', [{ name: 'x', dtype: 'float', shape: [2] }], { to: 2 ** 31 - 1 }),
    () => ({ x: feed(f32(1, 2), [2]) })],
  ['matmulnbits-huge-K', () => oneNode('MatMulNBits', [{ name: 'a', dtype: 'float', shape: [1, 4] }, { name: 'b' }, { name: 's' }], { K: 2 ** 31, N: 2 ** 31, bits: 4, block_size: 32 },
    { initializers: [{ name: 'b', dtype: 'uint8', dims: [1, 1, 16], data: new Uint8Array(16) }, { name: 's', dtype: 'float', dims: [1], data: f32(1) }] }),
    () => ({ a: feed(f32(1, 2, 3, 4), [1, 4]) })],
  ['qlinearconv-zero-scale', () => oneNode('QLinearConv', [{ name: 'x', dtype: 'uint8', shape: [1, 1, 2, 2] }, { name: 'xs' }, { name: 'xz' }, { name: 'w' }, { name: 'ws' }, { name: 'wz' }, { name: 'ys' }, { name: 'yz' }], {},
    { outDtype: 'uint8', initializers: [
      { name: 'xs', dtype: 'float', dims: [], data: f32(0) }, { name: 'xz', dtype: 'uint8', dims: [], data: new Uint8Array(1) },
      { name: 'w', dtype: 'uint8', dims: [1, 1, 1, 1], data: new Uint8Array(1) }, { name: 'ws', dtype: 'float', dims: [], data: f32(NaN) },
      { name: 'wz', dtype: 'uint8', dims: [], data: new Uint8Array(1) }, { name: 'ys', dtype: 'float', dims: [], data: f32(0) },
      { name: 'yz', dtype: 'uint8', dims: [], data: new Uint8Array(1) }] }),
    () => ({ x: feed(new Uint8Array(4), [1, 1, 2, 2], 'uint8') })],
  ['initializer-dims-overflow', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [2 ** 32, 2 ** 32], data: new Float32Array(0) }],
    nodes: [{ name: 'add', op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['initializer-dims-4GiB-empty', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [G], data: new Float32Array(0) }],
    nodes: [{ name: 'add', op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['initializer-negative-dim', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [-1, -4], data: f32(1, 2, 3, 4) }],
    nodes: [{ name: 'add', op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['input-declared-2^31-dims', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [2 ** 31, 2 ** 31] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'relu', op: 'Relu', inputs: ['x'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1, 1]) })],

  // ---- broken graphs ----------------------------------------------------------------------
  ['cycle', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'a', op: 'Add', inputs: ['x', 'b_out'], outputs: ['a_out'] }, { name: 'b', op: 'Relu', inputs: ['a_out'], outputs: ['b_out'] },
      { name: 'c', op: 'Identity', inputs: ['b_out'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['self-loop', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'a', op: 'Add', inputs: ['x', 'y'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['undefined-input', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'a', op: 'Add', inputs: ['x', 'nowhere'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['missing-initializer', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w_other', dtype: 'float', dims: [4, 4], data: new Float32Array(16) }],
    nodes: [{ name: 'mm', op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['initializer-without-data', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [4, 4] }],
    nodes: [{ name: 'mm', op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['output-not-produced', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'ghost', dtype: 'float' }],
    nodes: [{ name: 'r', op: 'Relu', inputs: ['x'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['output-is-input', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'x', dtype: 'float' }], nodes: [] }), () => ({ x: feed(f32(1), [1]) })],
  ['output-is-initializer', () => buildBytes({
    inputs: [], outputs: [{ name: 'w', dtype: 'float' }], initializers: [{ name: 'w', dtype: 'float', dims: [2], data: f32(1, 2) }], nodes: [] }), () => ({})],
  ['duplicate-node-names', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'same', op: 'Relu', inputs: ['x'], outputs: ['a'] }, { name: 'same', op: 'Sigmoid', inputs: ['a'], outputs: ['b'] },
      { name: 'same', op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['value-produced-twice', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'a', op: 'Relu', inputs: ['x'], outputs: ['y'] }, { name: 'b', op: 'Sigmoid', inputs: ['x'], outputs: ['y'] }] }),
  () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['node-output-is-graph-input', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'x', dtype: 'float' }],
    nodes: [{ name: 'a', op: 'Relu', inputs: ['x'], outputs: ['x'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['node-output-is-initializer', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [1, 4], data: new Float32Array(4) }],
    nodes: [{ name: 'a', op: 'Relu', inputs: ['x'], outputs: ['w'] }, { name: 'b', op: 'Add', inputs: ['w', 'x'], outputs: ['y'] }] }),
  () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['empty-names-everywhere', () => buildBytes({
    inputs: [{ name: '', dtype: 'float', shape: [1] }], outputs: [{ name: '', dtype: 'float' }],
    nodes: [{ name: '', op: 'Relu', inputs: [''], outputs: [''] }] }), () => ({ '': feed(f32(1), [1]) })],
  ['node-without-outputs', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'x', dtype: 'float' }],
    nodes: [{ name: 'r', op: 'Relu', inputs: ['x'], outputs: [] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['node-with-many-outputs', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y0', dtype: 'float' }],
    nodes: [{ name: 'r', op: 'Relu', inputs: ['x'], outputs: Array.from({ length: 1000 }, (_, i) => `y${i}`) }] }), () => ({ x: feed(f32(1), [1]) })],
  ['huge-name-10MB', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'n'.repeat(10_000_000), op: 'NoSuchOp', inputs: ['x'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['control-chars-in-names', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    nodes: [{ name: 'evil\u0000\n\r\u001b[2J\u0007\u007f\u0085', op: 'NoSuch\u0001Op', inputs: ['x\u0002'], outputs: ['y'] }] }), () => ({ x: feed(f32(1), [1]) })],
  ['invalid-utf8-names', () => {
    const t = modelMsg({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
      nodes: [{ name: 'n', op: 'Relu', inputs: ['x'], outputs: ['y'] }] });
    const node = first(first(t, 'graph'), 'node');
    setAll(node, 'name', [Uint8Array.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80])]);
    setAll(node, 'op_type', [Uint8Array.from([0x52, 0xc3])]);
    return encode(t);
  }, () => ({ x: feed(f32(1), [1]) })],
  ['external-data-etc-passwd', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [4, 4], externalData: { location: '../../etc/passwd', offset: 0, length: 64 } }],
    nodes: [{ name: 'mm', op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['external-data-absolute-path', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'w', dtype: 'float', dims: [4, 4], externalData: { location: '/proc/self/mem', offset: 2 ** 40, length: 2 ** 62 } }],
    nodes: [{ name: 'mm', op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['if-nesting-1000', () => ifNest(1000), () => ({ c: feed(Uint8Array.of(1), [], 'bool'), x: feed(f32(1), [1]) })],
  ['if-nesting-2', () => ifNest(2), () => ({ c: feed(Uint8Array.of(1), [], 'bool'), x: feed(f32(1), [1]) })],
  ['protobuf-nesting-100000', () => deepProtobuf(100000), null],
  ['opset-1', () => relu(1), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['opset-999', () => relu(999), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['opset-0', () => relu(0), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['opset-negative', () => relu(-1), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['opset-2^63', () => relu(2n ** 63n), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['no-opset-import', () => relu(13, { opsets: [] }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['ir-version-huge', () => relu(13, { irVersion: 2n ** 63n - 1n }), () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['opset-duplicated-conflicting', () => relu(13, { opsets: [{ domain: '', version: 13 }, { domain: '', version: 1 }, { domain: '', version: 999 }] }),
    () => ({ x: feed(new Float32Array(4), [1, 4]) })],
  ['empty-graph', () => buildBytes({ inputs: [], outputs: [], nodes: [] }), () => ({})],
  ['no-graph', () => encode(modelMsg({ graph: null })), null],
  ['empty-bytes', () => new Uint8Array(0), null],
  ['single-zero-byte', () => new Uint8Array(1), null],
  ['graph-length-2^32', () => Uint8Array.from([0x08, 0x08, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00]), null],
  ['graph-length-2^63', () => Uint8Array.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), null],
  ['varint-11-bytes', () => Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), null],
  ['loop-trip-count-huge', () => buildBytes({
    inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
    initializers: [{ name: 'n', dtype: 'int64', dims: [], data: i64(2n ** 62n) }, { name: 'c', dtype: 'bool', dims: [], data: Uint8Array.of(1) }],
    nodes: [{ name: 'loop', op: 'Loop', inputs: ['n', 'c', 'x'], outputs: ['y'], attrs: { body: { graph: {
      inputs: [{ name: 'i', dtype: 'int64', shape: [] }, { name: 'ci', dtype: 'bool', shape: [] }, { name: 'v', dtype: 'float', shape: [1] }],
      outputs: [{ name: 'co', dtype: 'bool' }, { name: 'vo', dtype: 'float' }],
      nodes: [{ name: 'cid', op: 'Identity', inputs: ['ci'], outputs: ['co'] }, { name: 'vid', op: 'Identity', inputs: ['v'], outputs: ['vo'] }] } } } }] }),
  () => ({ x: feed(f32(1), [1]) })],
  ['string-tensor-initializer', () => {
    const t = modelMsg({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [1] }], outputs: [{ name: 'y', dtype: 'float' }],
      nodes: [{ name: 'a', op: 'Add', inputs: ['x', 's'], outputs: ['y'] }] });
    const s = msg('Tensor', { dims: [2n ** 40n], data_type: 8n, name: 's', string_data: ['a', 'b'] });
    add(first(t, 'graph'), 'initializer', s);
    return encode(t);
  }, () => ({ x: feed(f32(1), [1]) })],
  ['float-data-count-mismatch', () => {
    const t = modelMsg({ opset: 13, inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float' }],
      nodes: [{ name: 'mm', op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] });
    const w = msg('Tensor', { dims: [4n, 4n], data_type: 1n, name: 'w', float_data: [1, 2, 3] });
    add(first(t, 'graph'), 'initializer', w);
    return encode(t);
  }, () => ({ x: feed(new Float32Array(4), [1, 4]) })],
];

export const HOSTILE_NAMES = CASES.map((c) => c[0]);

/** Materializes hostile case `name`: {bytes, feeds (function or null), action}. */
export function hostileCase(name) {
  const c = CASES.find((x) => x[0] === name);
  if (!c) throw new Error(`fuzz: no hostile case ${name}`);
  const [, bytes, feeds] = c;
  return { bytes: bytes(), feeds, action: feeds ? 'run' : 'load' };
}

export { deepProtobuf };
void graphMsg; void all; void F32;
