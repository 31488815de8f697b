// The .bin container shared by the onnxruntime oracle generators
// (tests/data/q8_oracle, tests/data/qops_oracle) and read by their C++ tests.
// Little endian: "WQO1", u32 count, then per tensor:
//   u8 name_len, name, u8 onnx_dtype, u8 rank, i64 dims[rank], u32 nbytes, bytes
import fs from 'node:fs';

export function writeOracleBin(filePath, tensors) {
  const parts = [];
  const head = Buffer.alloc(8);
  head.write('WQO1', 0, 'latin1');
  head.writeUInt32LE(tensors.length, 4);
  parts.push(head);
  for (const t of tensors) {
    const name = Buffer.from(t.name, 'utf8');
    const h = Buffer.alloc(1 + name.length + 2 + 8 * t.dims.length + 4);
    let o = 0;
    h.writeUInt8(name.length, o); o += 1;
    name.copy(h, o); o += name.length;
    h.writeUInt8(t.dtype, o); o += 1;
    h.writeUInt8(t.dims.length, o); o += 1;
    for (const d of t.dims) { h.writeBigInt64LE(BigInt(d), o); o += 8; }
    const data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    h.writeUInt32LE(data.length, o);
    parts.push(h, data);
  }
  fs.writeFileSync(filePath, Buffer.concat(parts));
}
