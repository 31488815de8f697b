// A minimal ONNX protobuf *writer* in plain JS, for tests and benchmarks that
// need small models built on the fly (operator cases, broken models, the
// onnxruntime-web comparison graphs). It writes only what those need:
// ModelProto{ir_version, opset_import, producer, graph{node, name,
// initializer, input, output}} with float/int tensors as raw_data.
//
//   const bytes = buildModel({
//     opset: 17,
//     inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }],
//     outputs: [{ name: 'y', dtype: 'float', shape: [1, 4] }],
//     initializers: [{ name: 'w', dtype: 'float', dims: [4, 4], data: new Float32Array(16) }],
//     nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], attrs: { } }],
//   });

export const ONNX_DTYPE = {
  float: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, double: 11, uint32: 12, uint64: 13, bfloat16: 16, uint4: 21, int4: 22,
};

// Bytes are kept as a list of chunks: small fields accumulate in `cur`, large
// payloads (tensor data) are referenced, not copied byte by byte, so models
// with hundreds of MB of weights build in about the time of one memcpy.
class Writer {
  constructor() { this.parts = []; this.cur = []; this.length = 0; }
  byte(b) { this.cur.push(b); this.length += 1; }
  flush() {
    if (this.cur.length) { this.parts.push(Uint8Array.from(this.cur)); this.cur = []; }
  }
  raw(u8) {
    if (u8.length < 256) {
      for (let i = 0; i < u8.length; ++i) this.cur.push(u8[i]);
    } else {
      this.flush();
      this.parts.push(u8);
    }
    this.length += u8.length;
  }
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) { this.byte(Number(n & 0x7fn) | 0x80); n >>= 7n; }
    this.byte(Number(n));
  }
  tag(field, wire) { this.varint((field << 3) | wire); }
  int(field, v) { this.tag(field, 0); this.varint(v); }
  float(field, v) {
    this.tag(field, 5);
    this.raw(new Uint8Array(new Float32Array([v]).buffer));
  }
  bytesField(field, u8) { this.tag(field, 2); this.varint(u8.length); this.raw(u8); }
  string(field, s) { this.bytesField(field, new TextEncoder().encode(s)); }
  message(field, build) {
    const w = new Writer();
    build(w);
    w.flush();
    this.tag(field, 2);
    this.varint(w.length);
    for (const p of w.parts) this.raw(p);
  }
  finish() {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

function writeTensor(w, t) {
  for (const d of t.dims) w.int(1, d);
  w.int(2, ONNX_DTYPE[t.dtype]);
  if (t.name) w.string(8, t.name);
  const d = t.data;
  w.bytesField(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

function writeAttr(w, name, value) {
  w.string(1, name);
  if (typeof value === 'number' && Number.isInteger(value) && !(value instanceof Float)) {
    w.int(3, value); w.int(20, 2);
  } else if (value instanceof Float || typeof value === 'number') {
    w.float(2, Number(value)); w.int(20, 1);
  } else if (typeof value === 'string') {
    w.string(4, value); w.int(20, 3);
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    for (const v of value) w.string(9, v);
    w.int(20, 8);
  } else if (value instanceof Floats) {
    for (const v of value.values) w.float(7, v);
    w.int(20, 6);
  } else if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, 7);
  } else if (value && value.dims) {
    w.message(5, (t) => writeTensor(t, value));
    w.int(20, 4);
  } else {
    throw new Error(`onnx_builder: cannot encode attribute ${name}`);
  }
}

/** Wraps a number so it is written as a FLOAT attribute even when integral. */
export class Float { constructor(v) { this.v = v; } valueOf() { return this.v; } }
/** Wraps numbers written as a FLOATS attribute. */
export class Floats { constructor(values) { this.values = values; } }

function writeValueInfo(w, v) {
  w.string(1, v.name);
  w.message(2, (tp) => tp.message(1, (tt) => {
    tt.int(1, ONNX_DTYPE[v.dtype]);
    if (v.shape) {
      tt.message(2, (sh) => {
        for (const d of v.shape) {
          sh.message(1, (dim) => {
            if (typeof d === 'number') dim.int(1, d);
            else if (typeof d === 'string') dim.string(2, d);
          });
        }
      });
    }
  }));
}

export function buildModel({ opset = 17, irVersion = 8, inputs, outputs, initializers = [], nodes,
  extraOpsets = [], graphName = 'g' }) {
  const w = new Writer();
  w.int(1, irVersion);
  w.string(2, 'webquant-test');
  w.message(7, (g) => {
    nodes.forEach((n, i) => g.message(1, (nw) => {
      for (const x of n.inputs) nw.string(1, x);
      for (const y of n.outputs) nw.string(2, y);
      nw.string(3, n.name ?? `${n.op}_${i}`);
      nw.string(4, n.op);
      for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (a) => writeAttr(a, k, v));
      if (n.domain) nw.string(7, n.domain);
    }));
    g.string(2, graphName);
    for (const t of initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => { o.string(1, ''); o.int(2, opset); });
  for (const { domain, version } of extraOpsets) w.message(8, (o) => { o.string(1, domain); o.int(2, version); });
  return w.finish();
}
