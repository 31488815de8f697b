// NumPy .npy and .npz readers for the worker, the CLI and apps (no DOM, no Node API).
//
// .npy (format versions 1.0, 2.0, 3.0): magic "\x93NUMPY", version, header length
// (uint16 for 1.0, uint32 after), a Python-dict header {'descr', 'fortran_order',
// 'shape'}, then the raw C-order data. We read the dtypes a model input can use
// and refuse the rest by name (object arrays, structured dtypes, Fortran order).
//
// .npz is a zip archive of .npy members, stored (method 0, np.savez) or
// deflated (method 8, np.savez_compressed). We read the central directory (so
// data descriptors and zip64 sizes in local headers do not matter) and inflate
// with a caller-supplied `inflateRaw(Uint8Array) -> Promise<Uint8Array>`:
// DecompressionStream('deflate-raw') in browsers, zlib in Node.

export class NpyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NpyError';
    this.code = 'INVALID_ARGUMENT';
  }
}

// descr without byte-order char -> [TypedArray, webquant dtype name, bytes per element].
const DESCR = {
  f4: [Float32Array, 'float', 4], f8: [Float64Array, 'double', 8], f2: [Uint16Array, 'float16', 2],
  i1: [Int8Array, 'int8', 1], u1: [Uint8Array, 'uint8', 1], b1: [Uint8Array, 'bool', 1],
  i2: [Int16Array, 'int16', 2], u2: [Uint16Array, 'uint16', 2],
  i4: [Int32Array, 'int32', 4], u4: [Uint32Array, 'uint32', 4],
  i8: [BigInt64Array, 'int64', 8], u8: [BigUint64Array, 'uint64', 8],
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];  // \x93NUMPY

// Always a plain Uint8Array view: Node's Buffer.slice() does not copy, which the code below relies on.
function toBytes(input) {
  if (input instanceof Uint8Array && input.constructor === Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new NpyError('expected bytes (Uint8Array or ArrayBuffer)');
}

export function isNpy(input) {
  const b = toBytes(input);
  return b.length >= 6 && MAGIC.every((m, i) => b[i] === m);
}

export function isZip(input) {
  const b = toBytes(input);
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6);
}

// The header is a Python literal; we parse the three keys we need rather than eval anything.
function parseHeader(text, name) {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) throw new NpyError(`${name}: structured dtypes are not supported`);
    throw new NpyError(`${name}: malformed .npy header ${JSON.stringify(text.slice(0, 120))}`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const v = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(v) || v < 0) throw new NpyError(`${name}: bad shape entry '${s}'`);
    return v;
  });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

/**
 * Parses one .npy file: {dtype, shape, data} where data is a fresh, aligned typed
 * array (webquant dtype names: 'float', 'double', 'int64', ...). `name` is used in errors.
 */
export function parseNpy(input, name = 'array.npy') {
  const b = toBytes(input);
  if (!isNpy(b)) throw new NpyError(`${name}: not a .npy file (missing \\x93NUMPY magic)`);
  if (b.length < 10) throw new NpyError(`${name}: truncated header`);
  const major = b[6];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let headerLen, start;
  if (major === 1) { headerLen = view.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (b.length < 12) throw new NpyError(`${name}: truncated header`);
    headerLen = view.getUint32(8, true); start = 12;
  } else throw new NpyError(`${name}: unsupported .npy format version ${major}.${b[7]}`);
  if (start + headerLen > b.length) throw new NpyError(`${name}: header runs past the end of the file`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(b.subarray(start, start + headerLen));
  const h = parseHeader(text, name);
  if (h.fortranOrder) throw new NpyError(`${name}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const order = h.descr[0];
  const key = h.descr.slice(1);
  const spec = DESCR[key];
  if (!spec || !'<>|='.includes(order)) throw new NpyError(`${name}: unsupported dtype '${h.descr}'`);
  const [Ctor, dtype, size] = spec;
  const count = h.shape.reduce((a, d) => a * d, 1);
  const dataStart = start + headerLen;
  const need = count * size;
  if (!Number.isSafeInteger(need) || dataStart + need > b.length) {
    throw new NpyError(`${name}: shape [${h.shape}] of ${h.descr} needs ${need} bytes, file has ${b.length - dataStart}`);
  }
  // Copy into a fresh buffer: the payload is rarely aligned for the element type.
  const raw = new Uint8Array(need);
  raw.set(b.subarray(dataStart, dataStart + need));
  if (order === '>' && size > 1) {
    for (let i = 0; i < raw.length; i += size) raw.subarray(i, i + size).reverse();
  }
  return { dtype, shape: h.shape, data: new Ctor(raw.buffer, 0, count) };
}

/** Minimal .npy writer (C order, little-endian) used by the CLI's --save-data and the tests. */
export function encodeNpy({ data, shape }) {
  const entry = Object.entries(DESCR).find(([k, [Ctor]]) => data instanceof Ctor && k !== 'b1' && k !== 'f2');
  if (!entry) throw new NpyError('encodeNpy: unsupported typed array');
  const descr = (entry[0].endsWith('1') ? '|' : '<') + entry[0];
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1; out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; ++i) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

// zip64 extended information extra field: the 64-bit values replace the 32-bit
// fields that are 0xFFFFFFFF, in the order uncompressed, compressed, offset.
function zip64Extra(view, at, len, entry) {
  const end = at + len;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      let p = at + 4;
      const read = () => {
        const v = Number(view.getBigUint64(p, true));
        p += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = read();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = read();
      if (entry.offset === 0xffffffff) entry.offset = read();
    }
    at += 4 + size;
  }
}

/** Lists a zip archive's members: [{name, method, offset, size, compressedSize}]. */
export function readZipDirectory(input, archiveName = 'archive.zip') {
  const b = toBytes(input);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // End of central directory: 22 bytes + a comment of up to 65535 bytes.
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); --i) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new NpyError(`${archiveName}: not a zip archive (no end-of-central-directory record)`);
  let count = view.getUint16(eocd + 10, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || dirOffset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = Number(view.getBigUint64(eocd - 12, true));
    if (z64 + 56 > b.length || view.getUint32(z64, true) !== 0x06064b50) throw new NpyError(`${archiveName}: bad zip64 record`);
    count = Number(view.getBigUint64(z64 + 32, true));
    dirOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const entries = [];
  let p = dirOffset;
  const decoder = new TextDecoder();
  for (let i = 0; i < count; ++i) {
    if (p + 46 > b.length || view.getUint32(p, true) !== 0x02014b50) {
      throw new NpyError(`${archiveName}: corrupt central directory at byte ${p}`);
    }
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const entry = {
      name: decoder.decode(b.subarray(p + 46, p + 46 + nameLen)),
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      offset: view.getUint32(p + 42, true),
    };
    zip64Extra(view, p + 46 + nameLen, extraLen, entry);
    entries.push(entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Bytes of one zip member (decompressed). */
export async function readZipEntry(input, entry, inflateRaw, archiveName = 'archive.zip') {
  const b = toBytes(input);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const at = entry.offset;
  if (at + 30 > b.length || view.getUint32(at, true) !== 0x04034b50) {
    throw new NpyError(`${archiveName}: member '${entry.name}' has no local header at byte ${at}`);
  }
  if (entry.flags & 1) throw new NpyError(`${archiveName}: member '${entry.name}' is encrypted`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > b.length) throw new NpyError(`${archiveName}: member '${entry.name}' runs past the end of the archive`);
  const payload = b.subarray(start, end);
  if (entry.method === 0) return payload;
  if (entry.method !== 8) throw new NpyError(`${archiveName}: member '${entry.name}' uses unsupported compression method ${entry.method}`);
  if (!inflateRaw) throw new NpyError(`${archiveName}: no deflate decoder available`);
  let out;
  try {
    out = await inflateRaw(payload);
  } catch (e) {
    throw new NpyError(`${archiveName}: member '${entry.name}' does not inflate: ${e.message ?? e}`);
  }
  if (out.length !== entry.size) {
    throw new NpyError(`${archiveName}: member '${entry.name}' inflated to ${out.length} bytes, directory says ${entry.size}`);
  }
  return out;
}

/** Browser/worker deflate-raw decoder built on DecompressionStream. */
export async function inflateRawWeb(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Parses a .npz archive: {arrays: {key: {dtype, shape, data}}, order: [key...]} in
 * archive order; keys drop the '.npy' suffix, as numpy.load does.
 */
export async function parseNpz(input, inflateRaw = inflateRawWeb, name = 'arrays.npz') {
  const b = toBytes(input);
  const entries = readZipDirectory(b, name);
  const arrays = {};
  const order = [];
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    const key = e.name.replace(/\.npy$/, '');
    const bytes = await readZipEntry(b, e, inflateRaw, name);
    arrays[key] = parseNpy(bytes, `${name}:${e.name}`);
    order.push(key);
  }
  if (order.length === 0) throw new NpyError(`${name}: the archive holds no arrays`);
  return { arrays, order };
}
