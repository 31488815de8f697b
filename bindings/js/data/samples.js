// Turning user data into model feeds, shared by the worker (bindings/js/worker.js), the CLI and apps
// (no DOM, no Node API). A sample is {feeds: {inputName: {data, shape, dtype}},
// label?: number, name?: string}; every sample has batch 1.
//
// Arrays (.npy / .npz members) are split along axis 0 into samples. An array
// whose non-batch size equals the input's fixed non-batch size is reshaped
// ([N, 784] or [N, 28, 28] feed an input [b, 1, 28, 28]); anything else is an
// error naming the array, the input and both shapes.

export class DataError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DataError';
    this.code = 'INVALID_ARGUMENT';
  }
}

const TYPED = {
  float: Float32Array, double: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array,
};

const shapeText = (s) => `[${s.map((d) => (d == null ? '?' : d)).join(', ')}]`;
const product = (s) => s.reduce((a, d) => a * d, 1);

/** True when a declared dim is not a fixed number (symbolic name or unknown). */
export const isSymbolic = (d) => typeof d !== 'number' || d < 0;

/**
 * Concrete batch-1 shape of a model input. `dims` maps a symbolic dim name or
 * its index (as a string, e.g. "2") to a size; dim 0, when symbolic, is 1.
 */
export function concreteShape(info, dims = {}) {
  if (!info.shape) throw new DataError(`input '${info.name}' declares no shape: give the full shape`);
  return info.shape.map((d, i) => {
    if (!isSymbolic(d)) return d;
    const v = dims[String(i)] ?? (typeof d === 'string' ? dims[d] : undefined);
    if (v !== undefined) {
      if (!(Number.isInteger(v) && v > 0)) throw new DataError(`input '${info.name}': size of dim ${i} must be a positive integer, got ${v}`);
      return v;
    }
    if (i === 0) return 1;
    throw new DataError(`input '${info.name}': dim ${i} (${d ?? 'unknown'}) has no fixed size; set it`);
  });
}

/** Copies/converts a typed array to the typed array class of a webquant dtype. */
export function convertArray(src, dtype, what = 'array') {
  const Ctor = TYPED[dtype];
  if (!Ctor) throw new DataError(`${what}: model inputs of type ${dtype} cannot be fed from arrays`);
  if (src instanceof Ctor) return src;
  const bigDst = Ctor === BigInt64Array || Ctor === BigUint64Array;
  const bigSrc = src instanceof BigInt64Array || src instanceof BigUint64Array;
  const out = new Ctor(src.length);
  if (bigDst && !bigSrc) for (let i = 0; i < src.length; ++i) out[i] = BigInt(Math.round(Number(src[i])));
  else if (!bigDst && bigSrc) for (let i = 0; i < src.length; ++i) out[i] = Number(src[i]);
  else out.set(src);
  return out;
}

/**
 * Splits one array into per-sample tensors for one model input:
 * returns {tensors: [{data, shape, dtype}], note: string|null}.
 */
export function splitArray(arr, info, what, dims = {}) {
  if (arr.dtype === 'float16') throw new DataError(`${what}: float16 arrays are not supported; save as float32`);
  const want = info.shape;
  if (!want) throw new DataError(`${what}: input '${info.name}' declares no shape`);
  const inputRank = want.length;
  let { shape } = arr;
  let note = null;
  let count;
  if (shape.length === inputRank) {
    count = shape[0];
  } else if (shape.length === inputRank - 1 && shape.every((d, i) => !isSymbolic(want[i + 1]) ? d === want[i + 1] : true)) {
    count = 1;
    shape = [1, ...shape];
    note = `${what}: one sample, batch axis added`;
  } else {
    const rest = want.slice(1);
    if (shape.length >= 1 && rest.every((d) => !isSymbolic(d)) && product(shape.slice(1)) === product(rest)) {
      count = shape[0];
      note = `${what}: reshaped ${shapeText(shape)} to ${shapeText([shape[0], ...rest])}`;
      shape = [shape[0], ...rest];
    } else {
      throw new DataError(`${what} has shape ${shapeText(arr.shape)} but input '${info.name}' expects ${shapeText(want)} ` +
        `(samples are taken along axis 0)`);
    }
  }
  for (let i = 1; i < inputRank; ++i) {
    const d = want[i];
    const fixed = !isSymbolic(d) ? d : (dims[String(i)] ?? (typeof d === 'string' ? dims[d] : undefined));
    if (fixed !== undefined && shape[i] !== fixed) {
      throw new DataError(`${what} has shape ${shapeText(arr.shape)} but input '${info.name}' expects ${shapeText(want)}: ` +
        `dim ${i} is ${shape[i]}, not ${fixed}`);
    }
  }
  const data = convertArray(arr.data, info.dtype, what);
  const per = product(shape.slice(1));
  const tensors = [];
  for (let n = 0; n < count; ++n) {
    tensors.push({ data: data.slice(n * per, (n + 1) * per), shape: [1, ...shape.slice(1)], dtype: info.dtype });
  }
  return { tensors, note };
}

const LABEL_KEYS = ['labels', 'label', 'y', 'y_test', 'y_train', 'targets', 'target'];

/** True when an array/file name looks like labels. */
export function isLabelName(name) {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.(npy|csv|txt)$/i, '').toLowerCase();
  return LABEL_KEYS.includes(base);
}

/** Class indices from a label array (integer dtypes, or whole-number floats). */
export function labelsFromArray(arr, what) {
  if (arr.shape.length > 2 || (arr.shape.length === 2 && arr.shape[1] !== 1)) {
    throw new DataError(`${what}: labels must be a vector [N], got ${shapeText(arr.shape)}`);
  }
  return Array.from(arr.data, (v, i) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new DataError(`${what}: label ${i} is ${v}, not a class index`);
    return n;
  });
}

/**
 * Samples from named arrays (one .npy per input, or the members of an .npz).
 * Keys that match input names feed those inputs; with one model input, one
 * non-label key feeds it whatever its name. A key in LABEL_KEYS gives labels.
 */
export function samplesFromArrays(inputs, arrays, what, dims = {}) {
  const keys = Object.keys(arrays);
  const labelKey = keys.find((k) => isLabelName(k));
  const dataKeys = keys.filter((k) => k !== labelKey);
  const byInput = {};
  for (const info of inputs) if (arrays[info.name]) byInput[info.name] = info.name;
  if (Object.keys(byInput).length === 0 && inputs.length === 1 && dataKeys.length === 1) byInput[inputs[0].name] = dataKeys[0];
  const missing = inputs.filter((i) => !byInput[i.name]);
  if (missing.length) {
    throw new DataError(`${what}: no array for input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')} ` +
      `(arrays: ${dataKeys.map((k) => `'${k}'`).join(', ') || 'none'}; name them after the model inputs)`);
  }
  const notes = [];
  const split = {};
  let count = null;
  for (const info of inputs) {
    const key = byInput[info.name];
    const r = splitArray(arrays[key], info, `${what}:${key}`, dims);
    if (r.note) notes.push(r.note);
    if (count !== null && r.tensors.length !== count) {
      throw new DataError(`${what}: '${key}' holds ${r.tensors.length} samples but other inputs hold ${count}`);
    }
    count = r.tensors.length;
    split[info.name] = r.tensors;
  }
  let labels = null;
  if (labelKey) {
    labels = labelsFromArray(arrays[labelKey], `${what}:${labelKey}`);
    if (labels.length !== count) throw new DataError(`${what}: ${labels.length} labels for ${count} samples`);
  }
  const samples = [];
  for (let n = 0; n < count; ++n) {
    const feeds = {};
    for (const info of inputs) feeds[info.name] = split[info.name][n];
    samples.push({ feeds, label: labels ? labels[n] : undefined, name: `${what}[${n}]` });
  }
  return { samples, notes };
}

/**
 * Parses a labels CSV: one label per line in sample order, or "file,label" rows
 * (an optional header row is skipped). Labels are class indices or class names.
 * Returns {byName: Map<basename, token>|null, list: token[]}.
 */
export function parseLabelsCsv(text, what = 'labels.csv') {
  const rows = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length && !l.startsWith('#'))
    .map((l) => l.split(/[,;\t]/).map((c) => c.trim().replace(/^"(.*)"$/, '$1')));
  if (!rows.length) throw new DataError(`${what}: no labels`);
  const width = rows[0].length;
  if (width > 2) throw new DataError(`${what}: expected 'label' or 'file,label' per line, got ${width} columns`);
  if (rows.some((r) => r.length !== width)) throw new DataError(`${what}: rows have different column counts`);
  const headerLike = (r) => /^(file(name)?|name|image|path|label|class|target)$/i.test(r[r.length - 1]);
  const body = headerLike(rows[0]) ? rows.slice(1) : rows;
  if (width === 1) return { byName: null, list: body.map((r) => r[0]) };
  const byName = new Map();
  for (const [file, label] of body) byName.set(file.replace(/^.*[\\/]/, ''), label);
  return { byName, list: body.map((r) => r[1]) };
}

/**
 * Maps label tokens to class indices: whole numbers are used as they are;
 * otherwise class names are sorted and numbered (the order is returned so the
 * page can show it). Returns {indices, classNames|null}.
 */
export function indexLabels(tokens, what = 'labels') {
  const numeric = tokens.every((t) => /^\d+$/.test(String(t)));
  if (numeric) return { indices: tokens.map(Number), classNames: null };
  const classNames = [...new Set(tokens.map(String))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const index = new Map(classNames.map((c, i) => [c, i]));
  if (classNames.length > 100000) throw new DataError(`${what}: too many classes`);
  return { indices: tokens.map((t) => index.get(String(t))), classNames };
}

/**
 * Converts RGBA pixels (canvas ImageData order) to a model tensor.
 * opts: {channels: 1|3, order: 'RGB'|'BGR', layout: 'NCHW'|'NHWC', scale (default 1/255),
 *        mean: number[], std: number[], invert: boolean}
 * Grayscale is the luma of R, G, B (Rec. 601).
 */
export function pixelsToTensor(rgba, width, height, opts) {
  const channels = opts.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new DataError(`images: ${channels} channels (only 1 or 3)`);
  const scale = opts.scale ?? 1 / 255;
  const mean = expand(opts.mean ?? [0], channels, 'mean');
  const std = expand(opts.std ?? [1], channels, 'std');
  if (std.some((s) => !(s !== 0 && Number.isFinite(s)))) throw new DataError('images: std must be non-zero numbers');
  const bgr = opts.order === 'BGR';
  const nhwc = opts.layout === 'NHWC';
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let p = 0; p < plane; ++p) {
    let r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
    if (opts.invert) { r = 255 - r; g = 255 - g; b = 255 - b; }
    const values = channels === 1 ? [0.299 * r + 0.587 * g + 0.114 * b] : (bgr ? [b, g, r] : [r, g, b]);
    for (let c = 0; c < channels; ++c) {
      const v = (values[c] * scale - mean[c]) / std[c];
      out[nhwc ? p * channels + c : c * plane + p] = v;
    }
  }
  return out;
}

function expand(values, channels, what) {
  const v = values.map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw new DataError(`images: ${what} must be numbers`);
  if (v.length === 1) return new Array(channels).fill(v[0]);
  if (v.length !== channels) throw new DataError(`images: ${what} has ${v.length} values for ${channels} channels`);
  return v;
}

/**
 * Image geometry for an input: {layout, channels, height, width} from the
 * declared shape (NCHW when dim 1 is 1 or 3, NHWC when the last dim is).
 * Symbolic H/W come back null.
 */
export function imageGeometry(info) {
  const s = info.shape;
  if (!s || s.length !== 4) return null;
  const fixed = (d) => (isSymbolic(d) ? null : d);
  if (s[1] === 1 || s[1] === 3) return { layout: 'NCHW', channels: s[1], height: fixed(s[2]), width: fixed(s[3]) };
  if (s[3] === 1 || s[3] === 3) return { layout: 'NHWC', channels: s[3], height: fixed(s[1]), width: fixed(s[2]) };
  return null;
}

// mulberry32: small seeded PRNG so generated inputs are the same on every run.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generated inputs (the weak choice: they say nothing about the real input
 * distribution). Float inputs are uniform in [low, high]; integer inputs are
 * uniform integers in [low, high].
 */
export function generatedSamples(inputs, count, { seed = 1, low = -1, high = 1, dims = {} } = {}) {
  if (!(Number.isInteger(count) && count > 0)) throw new DataError(`generated: count must be a positive integer, got ${count}`);
  if (!(high > low)) throw new DataError(`generated: range [${low}, ${high}] is empty`);
  const rand = rng(seed);
  const shapes = inputs.map((info) => concreteShape(info, dims));
  const samples = [];
  for (let n = 0; n < count; ++n) {
    const feeds = {};
    inputs.forEach((info, k) => {
      const Ctor = TYPED[info.dtype];
      if (!Ctor) throw new DataError(`generated: input '${info.name}' has type ${info.dtype}`);
      const size = product(shapes[k]);
      const data = new Ctor(size);
      const isFloat = info.dtype === 'float' || info.dtype === 'double';
      const big = Ctor === BigInt64Array || Ctor === BigUint64Array;
      for (let i = 0; i < size; ++i) {
        const u = low + (high - low) * rand();
        if (isFloat) data[i] = u;
        else if (big) data[i] = BigInt(Math.floor(u));
        else data[i] = Math.floor(u);
      }
      feeds[info.name] = { data, shape: shapes[k], dtype: info.dtype };
    });
    samples.push({ feeds, name: `generated[${n}]` });
  }
  return samples;
}

/** Checks every sample feeds every input with a tensor of the input's type; names the first bad sample. */
export function checkSamples(inputs, samples) {
  samples.forEach((s, n) => {
    for (const info of inputs) {
      const t = s.feeds[info.name];
      if (!t) throw new DataError(`sample ${n} (${s.name ?? ''}) has no tensor for input '${info.name}'`);
      if (t.shape.length !== (info.shape?.length ?? t.shape.length)) {
        throw new DataError(`sample ${n} (${s.name ?? ''}): input '${info.name}' has rank ${t.shape.length}, model expects ${info.shape.length}`);
      }
      info.shape?.forEach((d, i) => {
        if (!isSymbolic(d) && t.shape[i] !== d && !(i === 0 && t.shape[0] === 1)) {
          throw new DataError(`sample ${n} (${s.name ?? ''}): input '${info.name}' has shape ${shapeText(t.shape)}, model expects ${shapeText(info.shape)}`);
        }
      });
    }
  });
}

/**
 * Calibration/evaluation split of `count` samples: `calib` indices spread
 * evenly over the data (so data sorted by class still calibrates on every
 * class) and the rest held out for evaluation. With nothing left over, every
 * sample does both. Returns {calib: number[], eval: number[], heldOut}.
 */
export function splitCalibEval(count, calib) {
  const c = Math.max(1, Math.min(count, Math.floor(calib)));
  const all = Array.from({ length: count }, (_, i) => i);
  if (c >= count) return { calib: all, eval: all, heldOut: false };
  const picked = new Set();
  for (let k = 0; k < c; ++k) picked.add(Math.floor((k * count) / c));
  return { calib: all.filter((i) => picked.has(i)), eval: all.filter((i) => !picked.has(i)), heldOut: true };
}

/**
 * Fine-tuning's split: the last `validation` samples are held out to measure
 * accuracy before/after training (and for the comparison); the others train.
 * Contiguous, not spread like splitCalibEval, because finetune() calibrates on
 * the first samples it trains on. With no validation samples, everything
 * trains and the comparison uses the training samples (heldOut false).
 */
export function splitTrainValidation(count, validation) {
  const v = Math.max(0, Math.min(count - 1, Math.floor(validation) || 0));
  const all = Array.from({ length: count }, (_, i) => i);
  if (v === 0) return { train: all, eval: all, heldOut: false };
  return { train: all.slice(0, count - v), eval: all.slice(count - v), heldOut: true };
}

/** The default number of validation samples: 20% of the data, at most 500, none below 25 samples. */
export const defaultValidationCount = (count) => (count < 25 ? 0 : Math.min(500, Math.floor(count * 0.2)));

export { shapeText };
