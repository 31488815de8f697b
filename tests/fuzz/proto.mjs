// A small ONNX protobuf reader/writer for the fuzz suite: bytes <-> a tree
// that keeps every field in order (unknown fields too), so a model can be
// parsed, mutated structurally and written back. Large payloads (raw_data,
// packed float/int data) stay views into the input bytes, so parsing a
// 10 MB model costs about the size of its graph, not of its weights.
//
// A message is {type, fields: [{n, w, v}]}: n field number, w wire type,
// v a BigInt (varint), a Uint8Array (length-delimited scalars, fixed32/64)
// or a nested message. Packed `dims` and `ints` are unpacked into one
// varint field per element so mutations can edit them.
//
//   const tree = decode(bytes);             // ModelProto
//   const graph = first(tree, 'graph');
//   for (const node of all(graph, 'node')) setStr(node, 'name', 'x');
//   const out = encode(tree);

// name, kind, message type (kind 'msg'), packed: unpack wire-2 runs into elements.
const F = (name, kind, type = null, packed = false) => ({ name, kind, type, packed });
export const SCHEMA = {
  Model: {
    1: F('ir_version', 'varint'), 2: F('producer_name', 'string'), 3: F('producer_version', 'string'),
    4: F('domain', 'string'), 5: F('model_version', 'varint'), 6: F('doc_string', 'string'),
    7: F('graph', 'msg', 'Graph'), 8: F('opset_import', 'msg', 'OpsetId'),
    14: F('metadata_props', 'msg', 'Entry'), 25: F('functions', 'bytes'),
  },
  OpsetId: { 1: F('domain', 'string'), 2: F('version', 'varint') },
  Entry: { 1: F('key', 'string'), 2: F('value', 'string') },
  Graph: {
    1: F('node', 'msg', 'Node'), 2: F('name', 'string'), 5: F('initializer', 'msg', 'Tensor'),
    10: F('doc_string', 'string'), 11: F('input', 'msg', 'ValueInfo'), 12: F('output', 'msg', 'ValueInfo'),
    13: F('value_info', 'msg', 'ValueInfo'), 15: F('sparse_initializer', 'bytes'),
  },
  Node: {
    1: F('input', 'string'), 2: F('output', 'string'), 3: F('name', 'string'), 4: F('op_type', 'string'),
    5: F('attribute', 'msg', 'Attribute'), 6: F('doc_string', 'string'), 7: F('domain', 'string'),
  },
  Attribute: {
    1: F('name', 'string'), 2: F('f', 'fixed32'), 3: F('i', 'varint'), 4: F('s', 'bytes'),
    5: F('t', 'msg', 'Tensor'), 6: F('g', 'msg', 'Graph'), 7: F('floats', 'fixed32'),
    8: F('ints', 'varint', null, true), 9: F('strings', 'bytes'), 10: F('tensors', 'msg', 'Tensor'),
    11: F('graphs', 'msg', 'Graph'), 13: F('doc_string', 'string'), 20: F('type', 'varint'),
    21: F('ref_attr_name', 'string'),
  },
  Tensor: {
    1: F('dims', 'varint', null, true), 2: F('data_type', 'varint'), 3: F('segment', 'bytes'),
    4: F('float_data', 'fixed32'), 5: F('int32_data', 'varint'), 6: F('string_data', 'bytes'),
    7: F('int64_data', 'varint'), 8: F('name', 'string'), 9: F('raw_data', 'bytes'),
    10: F('double_data', 'fixed64'), 11: F('uint64_data', 'varint'), 12: F('doc_string', 'string'),
    13: F('external_data', 'msg', 'Entry'), 14: F('data_location', 'varint'),
  },
  ValueInfo: { 1: F('name', 'string'), 2: F('type', 'msg', 'Type'), 3: F('doc_string', 'string') },
  Type: {
    1: F('tensor_type', 'msg', 'TypeTensor'), 4: F('sequence_type', 'msg', 'TypeElem'),
    6: F('denotation', 'string'), 8: F('optional_type', 'msg', 'TypeElem'),
  },
  TypeElem: { 1: F('elem_type', 'msg', 'Type') },
  TypeTensor: { 1: F('elem_type', 'varint'), 2: F('shape', 'msg', 'Shape') },
  Shape: { 1: F('dim', 'msg', 'Dim') },
  Dim: { 1: F('dim_value', 'varint'), 2: F('dim_param', 'string'), 3: F('denotation', 'string') },
};

const NUM = {};  // type -> name -> field number
for (const [type, fields] of Object.entries(SCHEMA)) {
  NUM[type] = {};
  for (const [n, f] of Object.entries(fields)) NUM[type][f.name] = Number(n);
}

const WIRE = { varint: 0, fixed64: 1, bytes: 2, string: 2, msg: 2, fixed32: 5 };
const enc = new TextEncoder();
const dec = new TextDecoder();

class Reader {
  constructor(u8, pos, end) { this.u8 = u8; this.pos = pos; this.end = end; }
  varint() {
    let v = 0n, shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('proto: truncated varint');
      const b = this.u8[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asUintN(64, v);
      shift += 7n;
      if (shift > 63n) throw new Error('proto: varint too long');
    }
  }
  take(n) {
    if (n > this.end - this.pos) throw new Error('proto: truncated field');
    const out = this.u8.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Parses bytes as message `type` (default ModelProto). Throws on malformed input. */
export function decode(u8, type = 'Model', depth = 0) {
  if (depth > 64) throw new Error('proto: nesting too deep');
  const r = new Reader(u8, 0, u8.length);
  const schema = SCHEMA[type];
  const fields = [];
  while (r.pos < r.end) {
    const key = r.varint();
    const n = Number(key >> 3n), w = Number(key & 7n);
    const f = schema[n];
    if (w === 0) fields.push({ n, w, v: r.varint() });
    else if (w === 1) fields.push({ n, w, v: r.take(8) });
    else if (w === 5) fields.push({ n, w, v: r.take(4) });
    else if (w === 2) {
      const len = r.varint();
      if (len > BigInt(r.end - r.pos)) throw new Error('proto: length past end');
      const body = r.take(Number(len));
      if (f && f.kind === 'msg') fields.push({ n, w, v: decode(body, f.type, depth + 1) });
      else if (f && f.packed) {
        const pr = new Reader(body, 0, body.length);
        while (pr.pos < pr.end) fields.push({ n, w: 0, v: pr.varint() });
      } else fields.push({ n, w, v: body });
    } else throw new Error(`proto: wire type ${w} at field ${n}`);
  }
  return { type, fields };
}

function varintBytes(v, out) {
  let n = BigInt.asUintN(64, BigInt(v));
  while (n >= 0x80n) { out.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
  out.push(Number(n));
}

// Encodes into a list of chunks; returns the byte length.
function encodeInto(msg, parts) {
  let len = 0;
  let cur = [];
  const flush = () => { if (cur.length) { parts.push(Uint8Array.from(cur)); len += cur.length; cur = []; } };
  for (const { n, w, v } of msg.fields) {
    varintBytes((BigInt(n) << 3n) | BigInt(w), cur);
    if (w === 0) varintBytes(v, cur);
    else if (w === 1 || w === 5) { for (const b of v) cur.push(b); }
    else if (v instanceof Uint8Array) {
      varintBytes(v.length, cur);
      if (v.length < 256) { for (const b of v) cur.push(b); } else { flush(); parts.push(v); len += v.length; }
    } else {
      const sub = [];
      const sublen = encodeInto(v, sub);
      varintBytes(sublen, cur);
      flush();
      for (const p of sub) parts.push(p);
      len += sublen;
    }
  }
  flush();
  return len;
}

/** Serializes a tree back to bytes. */
export function encode(msg) {
  const parts = [];
  const len = encodeInto(msg, parts);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Copies the message structure; byte payloads are shared (treat them as read-only). */
export function clone(msg) {
  return {
    type: msg.type,
    fields: msg.fields.map(({ n, w, v }) => ({ n, w, v: v && v.fields ? clone(v) : v })),
  };
}

const num = (msg, name) => {
  const n = NUM[msg.type][name];
  if (n === undefined) throw new Error(`proto: ${msg.type} has no field ${name}`);
  return n;
};

/** Field entries named `name` ({n, w, v}), in order. */
export const fieldsOf = (msg, name) => msg.fields.filter((f) => f.n === num(msg, name));
/** Values of field `name`. */
export const all = (msg, name) => fieldsOf(msg, name).map((f) => f.v);
/** First value of field `name`, or undefined. */
export const first = (msg, name) => all(msg, name)[0];
/** A string field as text ('' when absent). */
export function str(msg, name) {
  const v = first(msg, name);
  return v instanceof Uint8Array ? dec.decode(v) : '';
}
export const strs = (msg, name) => all(msg, name).map((v) => dec.decode(v));
/** An integer field as a Number (BigInt for values beyond 2^53), or undefined. */
export function int(msg, name) {
  const v = first(msg, name);
  if (typeof v !== 'bigint') return undefined;
  const s = BigInt.asIntN(64, v);
  return s >= -(2n ** 53n) && s <= 2n ** 53n ? Number(s) : s;
}
export const ints = (msg, name) => all(msg, name).filter((v) => typeof v === 'bigint').map((v) => BigInt.asIntN(64, v));

/** Removes every `name` field, then appends the given values. */
export function setAll(msg, name, values) {
  const n = num(msg, name);
  const f = SCHEMA[msg.type][n];
  msg.fields = msg.fields.filter((x) => x.n !== n);
  for (const v of values) add(msg, name, v, f);
}
export const set = (msg, name, value) => setAll(msg, name, [value]);
export const setStr = (msg, name, s) => setAll(msg, name, [s]);

/** Appends a field; strings are UTF-8 encoded, numbers become varints. */
export function add(msg, name, value, f = SCHEMA[msg.type][num(msg, name)]) {
  const n = num(msg, name);
  let v = value;
  if (typeof v === 'string') v = enc.encode(v);
  else if (typeof v === 'number') {
    if (f.kind === 'fixed32') v = new Uint8Array(new Float32Array([v]).buffer);
    else v = BigInt.asUintN(64, BigInt(Math.trunc(v)));
  } else if (typeof v === 'bigint') v = BigInt.asUintN(64, v);
  const w = typeof v === 'bigint' ? 0 : f.kind === 'fixed32' ? 5 : f.kind === 'fixed64' ? 1 : 2;
  msg.fields.push({ n, w, v });
  return v;
}

export const msg = (type, init = {}) => {
  const m = { type, fields: [] };
  for (const [k, v] of Object.entries(init)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) add(m, k, x); else add(m, k, v);
  }
  return m;
};

// ---- building models from a JS description (like scripts/lib/onnx_builder.mjs,
// plus subgraph attributes, external data and raw int64 values) ---------------

export const DT = {
  float: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, double: 11, uint32: 12, uint64: 13, bfloat16: 16,
};
export const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 };

/** Wraps a number so it is written as a FLOAT attribute. */
export class F32 { constructor(v) { this.v = v; } }

/** {dims, dtype, data?: TypedArray, name?, externalData?: {location, offset, length}} -> TensorProto */
export function tensorMsg(t) {
  const m = msg('Tensor');
  for (const d of t.dims) add(m, 'dims', BigInt(d));
  add(m, 'data_type', DT[t.dtype] ?? t.dtype);
  if (t.name !== undefined) add(m, 'name', t.name);
  if (t.data) add(m, 'raw_data', new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice());
  if (t.externalData) {
    for (const [key, value] of Object.entries(t.externalData)) add(m, 'external_data', msg('Entry', { key, value: String(value) }));
    add(m, 'data_location', 1);
  }
  return m;
}

function attrMsg(name, value) {
  const a = msg('Attribute', { name });
  if (value instanceof F32) { add(a, 'f', value.v); add(a, 'type', ATTR.FLOAT); }
  else if (typeof value === 'number' && !Number.isInteger(value)) { add(a, 'f', value); add(a, 'type', ATTR.FLOAT); }
  else if (typeof value === 'number' || typeof value === 'bigint') { add(a, 'i', BigInt(value)); add(a, 'type', ATTR.INT); }
  else if (typeof value === 'string') { add(a, 's', value); add(a, 'type', ATTR.STRING); }
  else if (Array.isArray(value)) { for (const v of value) add(a, 'ints', BigInt(v)); add(a, 'type', ATTR.INTS); }
  else if (value && value.graph) { add(a, 'g', graphMsg(value.graph)); add(a, 'type', ATTR.GRAPH); }
  else if (value && value.dims) { add(a, 't', tensorMsg(value)); add(a, 'type', ATTR.TENSOR); }
  else throw new Error(`proto: cannot encode attribute ${name}`);
  return a;
}

function valueInfoMsg(v) {
  const vi = msg('ValueInfo', { name: v.name });
  if (v.dtype === undefined) return vi;
  const tt = msg('TypeTensor', { elem_type: DT[v.dtype] ?? v.dtype });
  if (v.shape) {
    const sh = msg('Shape');
    for (const d of v.shape) {
      add(sh, 'dim', typeof d === 'string' ? msg('Dim', { dim_param: d }) : d == null ? msg('Dim') : msg('Dim', { dim_value: BigInt(d) }));
    }
    add(tt, 'shape', sh);
  }
  add(vi, 'type', msg('Type', { tensor_type: tt }));
  return vi;
}

/** {nodes, inputs, outputs, initializers, name} -> GraphProto */
export function graphMsg({ nodes = [], inputs = [], outputs = [], initializers = [], name = 'g' }) {
  const g = msg('Graph');
  nodes.forEach((n, i) => {
    const nm = msg('Node', { input: n.inputs ?? [], output: n.outputs ?? [], name: n.name ?? `${n.op}_${i}`, op_type: n.op });
    if (n.domain) add(nm, 'domain', n.domain);
    for (const [k, v] of Object.entries(n.attrs ?? {})) add(nm, 'attribute', attrMsg(k, v));
    add(g, 'node', nm);
  });
  add(g, 'name', name);
  for (const t of initializers) add(g, 'initializer', tensorMsg(t));
  for (const v of inputs) add(g, 'input', valueInfoMsg(v));
  for (const v of outputs) add(g, 'output', valueInfoMsg(v));
  return g;
}

/** A ModelProto tree; opset may be a number or a BigInt; graph: null leaves the graph out. */
export function modelMsg({ opset = 17, irVersion = 8, opsets = null, graph, ...rest }) {
  const m = msg('Model', { ir_version: BigInt(irVersion), producer_name: 'webquant-fuzz' });
  if (graph !== null) add(m, 'graph', graphMsg(graph ?? rest));
  for (const o of opsets ?? [{ domain: '', version: opset }])
    add(m, 'opset_import', msg('OpsetId', { domain: o.domain, version: BigInt(o.version) }));
  return m;
}

export const buildBytes = (desc) => encode(modelMsg(desc));
