// Seeded mutations: byte-level (bit flips, byte sets, inserted/deleted runs,
// varint-boundary values, biased towards the protobuf structure rather than
// weight payloads) and structure-aware (rename nodes/values, swap inputs,
// change attributes, dims, dtypes and constant values, duplicate and delete
// nodes) on the tree from proto.mjs.
import {
  SCHEMA, decode, encode, clone, all, first, str, strs, fieldsOf, setAll, setStr, add, msg, DT, ATTR,
} from './proto.mjs';
import { rng } from './feeds.mjs';

// Values at the edges of every size check: 0, small, 2^k +- 1 around 31/32/63/64 bits.
export const INTERESTING = [
  0n, 1n, 2n, 3n, 7n, 8n, 16n, 255n, 256n, 65535n, 65536n,
  2n ** 28n, 2n ** 29n, 2n ** 30n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n,
  2n ** 40n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, -1n, -2n, -3n, -(2n ** 31n), -(2n ** 32n), -(2n ** 63n),
];

class Rand {
  constructor(seed) { this.r = rng(seed); }
  next() { return this.r(); }
  int(n) { return Math.floor(this.r() * n); }
  pick(a) { return a[this.int(a.length)]; }
  chance(p) { return this.r() < p; }
  interesting() { return this.pick(INTERESTING); }
}

// ---- byte mutations ---------------------------------------------------------

// Positions of the protobuf structure: every varint (tags, lengths, scalar
// values) and the bytes of short strings. Large payloads (weights) are left out.
const scanCache = new WeakMap();
export function scanStructure(u8) {
  if (scanCache.has(u8)) return scanCache.get(u8);
  const varints = [];
  const shorts = [];
  const walk = (start, end, type, depth) => {
    let p = start;
    const readVarint = () => {
      const s = p;
      let v = 0n, shift = 0n;
      for (;;) {
        if (p >= end) throw new Error('scan: truncated');
        const b = u8[p++];
        v |= BigInt(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        shift += 7n;
      }
      varints.push(s);
      return v;
    };
    while (p < end) {
      const key = readVarint();
      const n = Number(key >> 3n), w = Number(key & 7n);
      if (w === 0) readVarint();
      else if (w === 1) p += 8;
      else if (w === 5) p += 4;
      else if (w === 2) {
        const len = Number(readVarint());
        const f = SCHEMA[type]?.[n];
        if (f && f.kind === 'msg' && depth < 32) walk(p, p + len, f.type, depth + 1);
        else if (len <= 64) for (let i = p; i < p + len; ++i) shorts.push(i);
        p += len;
      } else throw new Error('scan: bad wire type');
    }
  };
  walk(0, u8.length, 'Model', 0);
  const out = { varints: Int32Array.from(varints), shorts: Int32Array.from(shorts) };
  scanCache.set(u8, out);
  return out;
}

function varintOf(v) {
  const out = [];
  let n = BigInt.asUintN(64, v);
  while (n >= 0x80n) { out.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
  out.push(Number(n));
  return out;
}

function varintEnd(u8, p) {
  while (p < u8.length && u8[p] & 0x80) ++p;
  return Math.min(p + 1, u8.length);
}

/** Applies 1-4 seeded byte mutations to a copy of `base`; returns {bytes, ops}. */
export function mutateBytes(base, seed) {
  const R = new Rand(seed);
  const scan = scanStructure(base);
  let u8 = base.slice();
  const ops = [];
  const position = () => {
    const x = R.next();
    if (x < 0.6 && scan.varints.length) return scan.varints[R.int(scan.varints.length)];
    if (x < 0.85 && scan.shorts.length) return scan.shorts[R.int(scan.shorts.length)];
    return R.int(u8.length);
  };
  const splice = (at, del, ins) => {
    const out = new Uint8Array(u8.length - del + ins.length);
    out.set(u8.subarray(0, at), 0);
    out.set(ins, at);
    out.set(u8.subarray(at + del), at + ins.length);
    u8 = out;
  };
  const count = 1 + R.int(4);
  for (let k = 0; k < count && u8.length > 0; ++k) {
    const at = Math.min(position(), u8.length - 1);
    const op = R.int(7);
    if (op === 0) { const bit = R.int(8); u8[at] ^= 1 << bit; ops.push(`flip@${at}.${bit}`); }
    else if (op === 1) { const v = R.pick([0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, R.int(256)]); u8[at] = v; ops.push(`set@${at}=${v}`); }
    else if (op === 2) {
      const n = 1 + R.int(16);
      const ins = Uint8Array.from({ length: n }, () => (R.chance(0.5) ? R.pick([0, 0xff, 0x80]) : R.int(256)));
      splice(at, 0, ins); ops.push(`insert@${at}+${n}`);
    } else if (op === 3) { const n = 1 + R.int(16); splice(at, Math.min(n, u8.length - at), []); ops.push(`delete@${at}-${n}`); }
    else if (op === 4) {
      // Replace the varint at `at` by a boundary value (it may change length, shifting what follows).
      const v = R.interesting();
      splice(at, varintEnd(u8, at) - at, varintOf(v)); ops.push(`varint@${at}=${v}`);
    } else if (op === 5) {
      const n = 1 + R.int(64), from = R.int(u8.length);
      splice(at, 0, u8.slice(from, from + n)); ops.push(`dup@${at}<${from}+${n}`);
    } else {
      const n = 1 + R.int(4), v = R.pick([0, 0xff, 0x7f, 0x80]);
      for (let i = at; i < Math.min(u8.length, at + n); ++i) u8[i] = v;
      ops.push(`fill@${at}x${n}=${v}`);
    }
  }
  return { bytes: u8, ops };
}

// ---- structure-aware mutations ---------------------------------------------

const ATTR_NAMES = ['group', 'pads', 'strides', 'dilations', 'kernel_shape', 'axis', 'axes', 'perm', 'keepdims',
  'transA', 'transB', 'to', 'split', 'output_padding', 'output_shape', 'auto_pad', 'mode', 'epsilon', 'alpha',
  'beta', 'ceil_mode', 'count_include_pad', 'storage_order', 'largest', 'sorted', 'k', 'value', 'equation',
  'batch_dims', 'exclusive', 'reverse', 'blocksize', 'block_size', 'bits', 'N', 'K', 'coordinate_transformation_mode'];
const OPS = ['Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'Add', 'Mul', 'Reshape', 'Transpose', 'Concat', 'Split',
  'Slice', 'Pad', 'Gather', 'GatherND', 'Expand', 'Tile', 'Resize', 'OneHot', 'Range', 'ConstantOfShape', 'MaxPool',
  'AveragePool', 'Softmax', 'TopK', 'Squeeze', 'Unsqueeze', 'Flatten', 'ReduceMean', 'Einsum', 'CumSum', 'Where',
  'DepthToSpace', 'SpaceToDepth', 'LayerNormalization', 'BatchNormalization', 'QuantizeLinear', 'DequantizeLinear',
  'QLinearConv', 'QLinearMatMul', 'MatMulInteger', 'ConvInteger', 'Identity', 'Cast', 'Shape', 'ScatterND', 'NonZero',
  'Trilu', 'EyeLike', 'LpPool', 'com.microsoft:MatMulNBits'];
const DTYPES = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 21, 22, 23, 40, 2 ** 31 - 1];

function graphOf(tree) { return first(tree, 'graph'); }

// Every graph in the model, the main one first (subgraphs of If/Loop/Scan attributes too).
function graphsOf(tree) {
  const out = [];
  const visit = (g) => {
    out.push(g);
    for (const n of all(g, 'node')) for (const a of all(n, 'attribute')) {
      for (const sg of all(a, 'g')) visit(sg);
      for (const sg of all(a, 'graphs')) visit(sg);
    }
  };
  const g = graphOf(tree);
  if (g) visit(g);
  return out;
}

function valueNames(g) {
  const names = new Set();
  for (const v of all(g, 'input')) names.add(str(v, 'name'));
  for (const t of all(g, 'initializer')) names.add(str(t, 'name'));
  for (const n of all(g, 'node')) for (const o of strs(n, 'output')) names.add(o);
  names.delete('');
  return [...names];
}

function randomName(R, names) {
  const x = R.int(6);
  if (x === 0 && names.length) return R.pick(names);
  if (x === 1) return '';
  if (x === 2) return 'n'.repeat(1 + R.int(3)) + '\u0000\u001b[31m\n\t"\'\\';
  if (x === 3) return 'x'.repeat(R.pick([256, 4096, 100000]));
  if (x === 4) return `\u{1F600}${R.int(1000)}\uD800`;
  return `m${R.int(100000)}`;
}

function renameEverywhere(g, from, to, R, scope) {
  // scope: 'all' | 'producer' | 'consumer'
  const nodes = all(g, 'node');
  const edit = (m, field) => {
    const vals = strs(m, field);
    let changed = false;
    const out = vals.map((v) => {
      if (v === from && (scope === 'all' || !changed)) { changed = true; return to; }
      return v;
    });
    if (changed) setAll(m, field, out);
    return changed;
  };
  if (scope === 'producer') { for (const n of nodes) if (edit(n, 'output')) return; return; }
  if (scope === 'consumer') {
    const users = nodes.filter((n) => strs(n, 'input').includes(from));
    if (users.length) edit(R.pick(users), 'input');
    return;
  }
  for (const n of nodes) { edit(n, 'input'); edit(n, 'output'); }
  for (const field of ['input', 'output', 'value_info', 'initializer'])
    for (const v of all(g, field)) if (str(v, 'name') === from) setStr(v, 'name', to);
}

function int64View(t) {
  const raw = first(t, 'raw_data');
  if (!(raw instanceof Uint8Array) || raw.length % 8 !== 0 || raw.length === 0) return null;
  const copy = raw.slice();
  return { copy, view: new BigInt64Array(copy.buffer) };
}

// Small tensors that drive shapes: int64 initializers and Constant node values of up to 16 elements.
function shapeTensors(tree) {
  const out = [];
  for (const g of graphsOf(tree)) {
    for (const t of all(g, 'initializer')) if (Number(first(t, 'data_type') ?? 0n) === 7) out.push(t);
    for (const n of all(g, 'node')) if (str(n, 'op_type') === 'Constant')
      for (const a of all(n, 'attribute')) for (const t of all(a, 't')) if (Number(first(t, 'data_type') ?? 0n) === 7) out.push(t);
  }
  return out.filter((t) => { const r = first(t, 'raw_data'); return r ? r.length <= 128 : all(t, 'int64_data').length <= 16; });
}

const MUTATORS = {
  renameNode(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = all(g, 'node');
    if (!nodes.length) return null;
    const n = R.pick(nodes);
    const to = R.chance(0.6) ? str(R.pick(nodes), 'name') : randomName(R, nodes.map((x) => str(x, 'name')));
    setStr(n, 'name', to);
    return `rename node ${str(n, 'op_type')} -> '${to.slice(0, 20)}'`;
  },
  renameValue(tree, R) {
    const g = R.pick(graphsOf(tree));
    const names = valueNames(g);
    if (!names.length) return null;
    const from = R.pick(names);
    const to = R.chance(0.6) ? R.pick(names) : randomName(R, names);
    const scope = R.pick(['all', 'producer', 'consumer']);
    renameEverywhere(g, from, to, R, scope);
    return `rename value '${from.slice(0, 20)}' -> '${to.slice(0, 20)}' (${scope})`;
  },
  swapInputs(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = all(g, 'node').filter((n) => all(n, 'input').length > 0);
    if (!nodes.length) return null;
    const n = R.pick(nodes);
    const ins = strs(n, 'input');
    const x = R.int(4);
    if (x === 0 && ins.length > 1) {
      const i = R.int(ins.length), j = R.int(ins.length);
      [ins[i], ins[j]] = [ins[j], ins[i]];
    } else if (x === 1) ins[R.int(ins.length)] = R.pick(valueNames(g));
    else if (x === 2) ins.splice(R.int(ins.length), 1);
    else ins.push(R.chance(0.5) ? '' : R.pick(valueNames(g)));
    setAll(n, 'input', ins);
    return `inputs of ${str(n, 'op_type')} '${str(n, 'name').slice(0, 20)}' -> [${ins.map((s) => s.slice(0, 12))}]`;
  },
  attribute(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = all(g, 'node');
    if (!nodes.length) return null;
    const withAttrs = nodes.filter((n) => all(n, 'attribute').length > 0);
    const n = withAttrs.length && R.chance(0.8) ? R.pick(withAttrs) : R.pick(nodes);
    let attrs = all(n, 'attribute');
    let a;
    if (!attrs.length || R.chance(0.2)) {
      a = msg('Attribute', { name: R.pick(ATTR_NAMES) });
      add(a, 'type', R.pick([ATTR.INT, ATTR.INTS]));
      add(n, 'attribute', a);
    } else a = R.pick(attrs);
    const name = str(a, 'name');
    const x = R.int(6);
    let what;
    if (x === 0) {
      // One element of an int list (or the int) to a boundary value.
      const list = all(a, 'ints');
      const v = R.interesting();
      if (list.length) { const i = R.int(list.length); const l = [...list]; l[i] = v; setAll(a, 'ints', l); what = `[${i}]=${v}`; }
      else { setAll(a, 'i', [v]); what = `=${v}`; }
    } else if (x === 1) {
      // The list's length changes.
      const list = [...all(a, 'ints')];
      if (R.chance(0.5) && list.length) list.pop(); else list.push(R.pick([0n, 1n, 2n, R.interesting()]));
      setAll(a, 'ints', list); setAll(a, 'type', [BigInt(ATTR.INTS)]);
      what = `len ${list.length}`;
    } else if (x === 2) {
      // Small plausible values: what a wrong-but-sane exporter writes (group 2, axis 3, pads 1).
      const v = BigInt(R.int(5) - 1);
      const list = all(a, 'ints');
      if (list.length) setAll(a, 'ints', list.map(() => (R.chance(0.5) ? v : BigInt(R.int(4)))));
      else setAll(a, 'i', [v]);
      what = `small ${v}`;
    } else if (x === 3) {
      // Type confusion: declared type disagrees with the stored value.
      setAll(a, 'type', [BigInt(R.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 99]))]);
      what = 'type';
    } else if (x === 4) {
      if (first(a, 'f') !== undefined) {
        const f = R.pick([NaN, Infinity, -Infinity, 0, -1, 1e30, 1e-45]);
        setAll(a, 'f', [f]); what = `f=${f}`;
      } else if (first(a, 's') !== undefined) {
        const s = R.pick(['', 'SAME_UPPER', 'VALID', 'NOTSET', 'cubic', 'linear', 'nearest', 'reflect', 'edge', 'wrap', '\u0000', 'x'.repeat(5000), 'ij,jk', '...ij', 'a->']);
        setAll(a, 's', [s]); what = `s='${s.slice(0, 10)}'`;
      } else { setAll(a, 'i', [R.interesting()]); setAll(a, 'ints', []); what = 'i'; }
    } else {
      // Renamed to another attribute name (e.g. pads read as strides), or duplicated.
      if (R.chance(0.5)) { setStr(a, 'name', R.pick(ATTR_NAMES)); what = `renamed ${str(a, 'name')}`; }
      else { add(n, 'attribute', clone(a)); what = 'duplicated'; }
    }
    return `attr ${str(n, 'op_type')}.${name} ${what}`;
  },
  inputDims(tree, R) {
    const g = graphOf(tree);
    const vs = [...all(g, 'input'), ...all(g, 'output')];
    if (!vs.length) return null;
    const v = R.pick(vs);
    const tt = first(first(v, 'type') ?? msg('Type'), 'tensor_type');
    if (!tt) return null;
    const shape = first(tt, 'shape');
    const dims = shape ? all(shape, 'dim') : [];
    const x = R.int(4);
    if (x === 0 && dims.length) {
      const d = R.pick(dims);
      d.fields = [];
      if (R.chance(0.7)) add(d, 'dim_value', R.interesting()); else add(d, 'dim_param', R.pick(['N', 'batch', '', 'p2o.DynamicDimension.0']));
    } else if (x === 1 && shape) {
      if (R.chance(0.5) && dims.length) shape.fields.splice(R.int(shape.fields.length), 1);
      else add(shape, 'dim', msg('Dim', { dim_value: BigInt(R.int(3)) }));
    } else if (x === 2) setAll(tt, 'shape', []);
    else setAll(tt, 'elem_type', [BigInt(R.pick(DTYPES))]);
    return `dims/dtype of value '${str(v, 'name').slice(0, 20)}'`;
  },
  initializer(tree, R) {
    const g = R.pick(graphsOf(tree));
    const ts = all(g, 'initializer');
    if (!ts.length) return null;
    const t = R.pick(ts);
    const dims = all(t, 'dims');
    const x = R.int(6);
    let what;
    if (x === 0 && dims.length) { const d = [...dims]; const i = R.int(d.length); d[i] = R.interesting(); setAll(t, 'dims', d); what = `dims[${i}]=${BigInt.asIntN(64, d[i])}`; }
    else if (x === 1) { const d = [...dims]; if (R.chance(0.5) && d.length) d.pop(); else d.push(R.pick([1n, 2n, 0n])); setAll(t, 'dims', d); what = `rank ${d.length}`; }
    else if (x === 2 && dims.length > 1) { const d = [...dims].reverse(); setAll(t, 'dims', d); what = 'dims reversed'; }
    else if (x === 3) { const dt = R.pick(DTYPES); setAll(t, 'data_type', [BigInt(dt)]); what = `dtype ${dt}`; }
    else if (x === 4) {
      const raw = first(t, 'raw_data');
      if (raw) { setAll(t, 'raw_data', [raw.subarray(0, R.int(raw.length + 1))]); what = 'raw_data shortened'; }
      else { setAll(t, 'dims', [...dims, 2n]); what = 'dims grown'; }
    } else {
      const other = R.pick(valueNames(g));
      setStr(t, 'name', other); what = `renamed to '${other.slice(0, 20)}'`;
    }
    return `initializer '${str(t, 'name').slice(0, 20)}' ${what}`;
  },
  shapeValue(tree, R) {
    const ts = shapeTensors(tree);
    if (!ts.length) return null;
    const t = R.pick(ts);
    const iv = int64View(t);
    const v = R.chance(0.3) ? BigInt(R.int(8) - 2) : R.interesting();
    if (iv) {
      const i = R.int(iv.view.length);
      iv.view[i] = v;
      setAll(t, 'raw_data', [iv.copy]);
      return `int64 constant '${str(t, 'name').slice(0, 20)}'[${i}]=${v}`;
    }
    const list = [...all(t, 'int64_data')];
    if (!list.length) return null;
    const i = R.int(list.length);
    list[i] = BigInt.asUintN(64, v);
    setAll(t, 'int64_data', list);
    return `int64 constant '${str(t, 'name').slice(0, 20)}'[${i}]=${v}`;
  },
  duplicateNode(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = fieldsOf(g, 'node');
    if (!nodes.length) return null;
    const f = R.pick(nodes);
    const copy = clone(f.v);
    if (R.chance(0.4)) setAll(copy, 'output', strs(copy, 'output').map((o) => `${o}_dup`));
    g.fields.splice(g.fields.indexOf(f) + (R.chance(0.5) ? 1 : 0), 0, { n: f.n, w: f.w, v: copy });
    return `duplicate node ${str(copy, 'op_type')} '${str(copy, 'name').slice(0, 20)}'`;
  },
  deleteNode(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = fieldsOf(g, 'node');
    if (!nodes.length) return null;
    const f = R.pick(nodes);
    g.fields.splice(g.fields.indexOf(f), 1);
    return `delete node ${str(f.v, 'op_type')} '${str(f.v, 'name').slice(0, 20)}'`;
  },
  opType(tree, R) {
    const g = R.pick(graphsOf(tree));
    const nodes = all(g, 'node');
    if (!nodes.length) return null;
    const n = R.pick(nodes);
    const to = R.chance(0.5) ? str(R.pick(nodes), 'op_type') : R.pick(OPS);
    if (to.startsWith('com.microsoft:')) { setStr(n, 'op_type', to.slice(14)); setStr(n, 'domain', 'com.microsoft'); }
    else setStr(n, 'op_type', to);
    return `op ${str(n, 'name').slice(0, 20)} -> ${to}`;
  },
  opset(tree, R) {
    const ops = all(tree, 'opset_import');
    const v = R.pick([1n, 6n, 7n, 9n, 10n, 11n, 12n, 13n, 17n, 18n, 19n, 20n, 21n, 22n, 23n, 0n, R.interesting()]);
    if (ops.length) setAll(ops[0], 'version', [BigInt.asUintN(64, v)]);
    return `opset ${v}`;
  },
  graphOutputs(tree, R) {
    const g = graphOf(tree);
    const x = R.int(3);
    if (x === 0) { setAll(g, 'output', []); return 'no outputs'; }
    const names = valueNames(g);
    if (!names.length) return null;
    const name = R.pick(names);
    const vi = msg('ValueInfo', { name });
    if (x === 1) add(g, 'output', vi); else add(g, 'input', vi);
    return `${x === 1 ? 'output' : 'input'} '${name.slice(0, 20)}' added`;
  },
};
const MUTATOR_NAMES = Object.keys(MUTATORS);
// Weights: the mutations that found the most in manual fuzzing come up more often.
const WEIGHTED = [
  ...MUTATOR_NAMES,
  'renameNode', 'renameValue', 'renameValue', 'attribute', 'attribute', 'attribute', 'shapeValue', 'shapeValue',
  'initializer', 'swapInputs',
];

const treeCache = new WeakMap();
/** Applies 1-3 structure-aware mutations to a parsed copy of `base`; returns {bytes, ops}. */
export function mutateStructure(base, seed) {
  const R = new Rand(seed);
  if (!treeCache.has(base)) treeCache.set(base, decode(base));
  const tree = clone(treeCache.get(base));
  const ops = [];
  const count = 1 + R.int(3);
  for (let tries = 0; ops.length < count && tries < 20; ++tries) {
    const what = MUTATORS[R.pick(WEIGHTED)](tree, R);
    if (what) ops.push(what);
  }
  return { bytes: encode(tree), ops };
}
