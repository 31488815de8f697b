// webquant — the one JavaScript entry point, for Node and the browser.
//
//   import { init, Model } from 'webquant';
//   await init();                       // memoised; loads dist/webquant.wasm
//   const model = await Model.load(bytes);
//   const out = model.run({ x: { data: Float32Array, shape: [1, 3, 48, 192] } });
//   model.dispose();
//
// Ownership: a Model owns an Embind handle into the WASM heap; call
// dispose() (or use `using`) when done. Tensors returned by run() are plain
// JS copies and stay valid after dispose().

const DTYPES = {
  float: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, double: 11, uint32: 12, uint64: 13, bfloat16: 16,
};

const DEFAULT_DTYPE_OF = [
  [typeof Float32Array !== 'undefined' && Float32Array, 'float'],
  [typeof Float64Array !== 'undefined' && Float64Array, 'double'],
  [typeof Int8Array !== 'undefined' && Int8Array, 'int8'],
  [typeof Uint8Array !== 'undefined' && Uint8Array, 'uint8'],
  [typeof Int16Array !== 'undefined' && Int16Array, 'int16'],
  [typeof Uint16Array !== 'undefined' && Uint16Array, 'uint16'],
  [typeof Int32Array !== 'undefined' && Int32Array, 'int32'],
  [typeof Uint32Array !== 'undefined' && Uint32Array, 'uint32'],
  [typeof BigInt64Array !== 'undefined' && BigInt64Array, 'int64'],
  [typeof BigUint64Array !== 'undefined' && BigUint64Array, 'uint64'],
];

/** Error thrown by every webquant call that fails; `code` is one of the core's status codes. */
export class WebquantError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'WebquantError';
    this.code = code;
  }
}

let modulePromise = null;
let wasm = null;

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null &&
  typeof window === 'undefined';

/**
 * Loads and instantiates the WASM module once; later calls return the same promise.
 * options.wasmBinary: ArrayBuffer/Uint8Array of webquant.wasm (skips fetching);
 * options.locateFile(path, prefix): where to fetch the .wasm from in a browser.
 */
export function init(options = {}) {
  if (!modulePromise) {
    modulePromise = (async () => {
      const { default: createWebquantModule } = await import('../../dist/webquant.js');
      const moduleArgs = {};
      if (options.locateFile) moduleArgs.locateFile = options.locateFile;
      if (options.wasmBinary) {
        moduleArgs.wasmBinary = options.wasmBinary;
      } else if (isNode) {
        // Emscripten's web loader would fetch() a file path in Node; read the bytes ourselves.
        const fs = await import('node:fs/promises');
        moduleArgs.wasmBinary = await fs.readFile(new URL('../../dist/webquant.wasm', import.meta.url));
      }
      wasm = await createWebquantModule(moduleArgs);
      return wasm;
    })();
    modulePromise.catch(() => { modulePromise = null; });
  }
  return modulePromise.then(() => undefined);
}

function requireModule() {
  if (!wasm) throw new WebquantError('FAILED_PRECONDITION', 'webquant is not initialised: await init() first');
  return wasm;
}

function unwrap(result) {
  if (result && result.error) throw new WebquantError(result.error.code, result.error.message);
  return result;
}

function toUint8(bytes, what) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new WebquantError('INVALID_ARGUMENT', `${what} must be a Uint8Array, ArrayBuffer or typed array`);
}

function inferDtype(data) {
  for (const [ctor, name] of DEFAULT_DTYPE_OF) if (ctor && data instanceof ctor) return name;
  return null;
}

function normalizeFeed(name, feed) {
  if (feed == null || typeof feed !== 'object')
    throw new WebquantError('INVALID_ARGUMENT', `input '${name}' must be {data, shape[, dtype]}`);
  const { data, shape } = feed;
  if (!ArrayBuffer.isView(data))
    throw new WebquantError('INVALID_ARGUMENT', `input '${name}': data must be a typed array`);
  if (!Array.isArray(shape))
    throw new WebquantError('INVALID_ARGUMENT', `input '${name}': shape must be an array of integers`);
  const dtype = feed.dtype ?? inferDtype(data);
  if (!dtype || !(dtype in DTYPES))
    throw new WebquantError('INVALID_ARGUMENT', `input '${name}': unknown dtype '${dtype}'`);
  return { name, dtype: DTYPES[dtype], shape, bytes: toUint8(data, `input '${name}'`) };
}

let handleOf = null;  // Model -> live Embind handle, for quantize()/compare() in this module

/** A loaded ONNX model. Create with `await Model.load(bytes)`. */
export class Model {
  #handle;
  #summary;

  static {
    handleOf = (model) => model.#live();
  }

  constructor(handle) {
    this.#handle = handle;
    this.#summary = unwrap(handle.summary()).value;
  }

  /** Parses and validates ONNX bytes; the caller's buffer is copied, never modified. */
  static async load(bytes) {
    await init();
    return Model.loadSync(bytes);
  }

  /** Like load() but requires init() to have completed. */
  static loadSync(bytes) {
    const m = requireModule();
    const u8 = toUint8(bytes, 'model bytes');
    const handle = new m.WasmModel();
    const err = handle.load(u8);
    if (err) {
      handle.delete();
      throw new WebquantError(err.code, err.message);
    }
    return new Model(handle);
  }

  #live() {
    if (!this.#handle) throw new WebquantError('FAILED_PRECONDITION', 'this Model has been disposed');
    return this.#handle;
  }

  /** Graph inputs: [{name, dtype, shape}] where a dim is a number, a symbolic name, or null. */
  get inputs() { return this.#summary.inputs; }
  /** Graph outputs, same form as inputs. */
  get outputs() { return this.#summary.outputs; }

  /** Model facts: producer, opsets, op counts, parameter count and bytes, inputs, outputs. */
  summary() { return structuredClone(this.#summary); }

  /**
   * Runs the model in float. feeds: {inputName: {data: TypedArray, shape: number[], dtype?}}.
   * options.outputs: names of values to return (default: the graph outputs).
   * Returns {outputName: {dtype, shape, data}}.
   */
  run(feeds, options = {}) {
    const handle = this.#live();
    if (feeds == null || typeof feeds !== 'object')
      throw new WebquantError('INVALID_ARGUMENT', 'feeds must be an object mapping input names to tensors');
    const list = Object.entries(feeds).map(([name, f]) => normalizeFeed(name, f));
    const names = options.outputs ?? [];
    const r = unwrap(handle.run(list, names));
    this.lastRunStats = r.stats;
    const out = {};
    for (const t of r.value) out[t.name] = { dtype: t.dtype, shape: t.shape, data: t.data };
    return out;
  }

  /** Serializes the model to ONNX bytes (a fresh Uint8Array). */
  save() {
    return unwrap(this.#live().save()).value;
  }

  /** Frees the WASM memory held by this model. Safe to call twice. */
  dispose() {
    if (this.#handle) {
      this.#handle.dispose();
      this.#handle.delete();
      this.#handle = null;
    }
  }

}

// Explicit resource management (`using model = ...`) where the runtime has it.
if (typeof Symbol.dispose === 'symbol') {
  Model.prototype[Symbol.dispose] = function dispose() { this.dispose(); };
}

// ---- quantization --------------------------------------------------------------

function checkSignal(signal, what) {
  if (signal && signal.aborted) throw new WebquantError('CANCELLED', `${what} was cancelled`);
}

// Lets the event loop run between samples, so a UI stays responsive and an
// AbortSignal fired by a timer or a button is seen.
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0));

function feedList(feeds, what) {
  if (feeds == null || typeof feeds !== 'object')
    throw new WebquantError('INVALID_ARGUMENT', `${what} must be an object mapping input names to tensors`);
  try {
    return Object.entries(feeds).map(([name, f]) => normalizeFeed(name, f));
  } catch (e) {
    if (e instanceof WebquantError) throw new WebquantError(e.code, `${what}: ${e.message}`);
    throw e;
  }
}

function isIterable(x) {
  return x != null && (typeof x[Symbol.iterator] === 'function' || typeof x[Symbol.asyncIterator] === 'function');
}

/**
 * Validates a recipe and returns it with every default filled in.
 * Throws WebquantError (INVALID_ARGUMENT) naming the field at fault.
 */
export function normalizeRecipe(recipe) {
  const text = typeof recipe === 'string' ? recipe : JSON.stringify(recipe);
  return JSON.parse(unwrap(requireModule().normalizeRecipe(text ?? 'null')).value);
}

/**
 * Quantizes `model` by `recipe` (plain JSON, see doc/quantization.md "Recipes").
 * options.calibration: an iterable or async iterable of feeds (as Model.run takes),
 *   required in static mode; only running statistics are kept, so it may be long.
 * options.onProgress({stage, done, total}), options.signal (AbortSignal).
 * Returns {model, bytes, report, recipe}; the input model is not modified.
 */
export async function quantize(model, recipe, options = {}) {
  await init();
  const m = requireModule();
  if (!(model instanceof Model)) throw new WebquantError('INVALID_ARGUMENT', 'quantize: model must be a Model');
  const { calibration, onProgress, signal } = options;
  const progress = (stage, done, total) => { if (onProgress) onProgress({ stage, done, total }); };
  checkSignal(signal, 'quantization');
  progress('prepare', 0, 1);
  const text = typeof recipe === 'string' ? recipe : JSON.stringify(recipe ?? null);
  const q = new m.WasmQuantizer();
  try {
    const err = q.create(handleOf(model), text);
    if (err) throw new WebquantError(err.code, err.message);
    const normalized = JSON.parse(q.recipe());
    progress('prepare', 1, 1);
    const keep = normalized.report.samples;
    const reportSamples = [];
    if (calibration != null && !isIterable(calibration))
      throw new WebquantError('INVALID_ARGUMENT', 'options.calibration must be an iterable or async iterable of feeds');
    if (q.needsCalibration()) {
      if (calibration == null)
        throw new WebquantError('INVALID_ARGUMENT',
          'static quantization needs calibration samples: pass options.calibration (an iterable of feeds)');
      const max = normalized.calibration.maxSamples || Infinity;
      const known = Array.isArray(calibration) ? calibration.length : Infinity;
      const total = Number.isFinite(Math.min(max, known)) ? Math.min(max, known) : null;
      let index = 0;
      for await (const sample of calibration) {
        if (index >= max) break;
        checkSignal(signal, 'calibration');
        const err2 = q.calibrate(feedList(sample, `calibration sample ${index}`));
        if (err2) throw new WebquantError(err2.code, err2.message);
        if (reportSamples.length < keep) reportSamples.push(sample);
        index += 1;
        progress('calibrate', index, total);
        await nextTick();
      }
      if (index === 0)
        throw new WebquantError('INVALID_ARGUMENT', 'static quantization needs calibration samples: the iterable was empty');
    } else if (calibration != null && keep > 0) {
      for await (const sample of calibration) {
        reportSamples.push(sample);
        if (reportSamples.length >= keep) break;
      }
    }
    checkSignal(signal, 'quantization');
    progress('quantize', 0, 1);
    await nextTick();
    const out = unwrap(q.finish());
    progress('quantize', 1, 1);
    const report = JSON.parse(out.report);
    report.sizes.floatModelBytes = model.summary().modelBytes;
    report.sizes.ratio = out.bytes.length / report.sizes.floatModelBytes;
    const quantized = Model.loadSync(out.bytes);
    try {
      if (reportSamples.length) {
        report.comparison = await compare(model, quantized, reportSamples, {
          signal, onProgress: (p) => progress('report', p.done, p.total),
        });
      }
    } catch (e) {
      quantized.dispose();
      throw e;
    }
    return { model: quantized, bytes: out.bytes, report, recipe: normalized };
  } finally {
    q.dispose();
    q.delete();
  }
}

/**
 * Runs `floatModel` and `quantModel` on the same samples and measures the
 * difference: per output SQNR (dB), cosine, max abs error, argmax agreement;
 * per intermediate activation SQNR; accuracy when options.labels is given
 * (an array with one entry per sample: a number or an array of per-row labels).
 */
export async function compare(floatModel, quantModel, samples, options = {}) {
  await init();
  const m = requireModule();
  if (!(floatModel instanceof Model) || !(quantModel instanceof Model))
    throw new WebquantError('INVALID_ARGUMENT', 'compare: both models must be Model instances');
  if (!isIterable(samples))
    throw new WebquantError('INVALID_ARGUMENT', 'compare: samples must be an iterable or async iterable of feeds');
  const { labels, onProgress, signal, perNode = true } = options;
  const c = new m.WasmComparator();
  try {
    const err = c.create(handleOf(floatModel), handleOf(quantModel), perNode);
    if (err) throw new WebquantError(err.code, err.message);
    const total = Array.isArray(samples) ? samples.length : null;
    let index = 0;
    for await (const sample of samples) {
      checkSignal(signal, 'comparison');
      let l = null;
      if (labels != null) {
        const v = labels[index];
        if (v === undefined)
          throw new WebquantError('INVALID_ARGUMENT', `compare: no label for sample ${index}`);
        l = typeof v === 'number' ? [v] : Array.from(v, Number);
      }
      const err2 = c.addSample(feedList(sample, `sample ${index}`), l);
      if (err2) throw new WebquantError(err2.code, err2.message);
      index += 1;
      if (onProgress) onProgress({ stage: 'compare', done: index, total });
      await nextTick();
    }
    return JSON.parse(c.report());
  } finally {
    c.dispose();
    c.delete();
  }
}

// ---- fine-tuning ---------------------------------------------------------------

// Deterministic shuffling (mulberry32), so a recipe's seed fixes the batch order.
function shuffledIndices(n, seed) {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

// Concatenates samples (feeds objects, each with batch dimension first) into
// one batch, in the order of `indices`.
function batchFeeds(data, indices, what) {
  const first = data[indices[0]];
  if (first == null || typeof first !== 'object')
    throw new WebquantError('INVALID_ARGUMENT', `${what}: sample ${indices[0]} must be an object mapping input names to tensors`);
  const out = {};
  for (const name of Object.keys(first)) {
    const parts = indices.map((i) => {
      const f = data[i] && data[i][name];
      if (f == null || !ArrayBuffer.isView(f.data) || !Array.isArray(f.shape))
        throw new WebquantError('INVALID_ARGUMENT', `${what}: sample ${i} has no tensor '${name}' ({data, shape})`);
      return f;
    });
    const tail = first[name].shape.slice(1).join('x');
    let rows = 0;
    let length = 0;
    for (let k = 0; k < parts.length; k += 1) {
      const p = parts[k];
      if (p.shape.slice(1).join('x') !== tail || p.data.constructor !== first[name].data.constructor)
        throw new WebquantError('INVALID_ARGUMENT',
          `${what}: sample ${indices[k]} input '${name}' has shape [${p.shape}] (${p.data.constructor.name}) but sample ` +
          `${indices[0]} has [${first[name].shape}] (${first[name].data.constructor.name}); samples of a batch must agree ` +
          'in every dimension but the first');
      rows += p.shape[0];
      length += p.data.length;
    }
    const data2 = new first[name].data.constructor(length);
    let off = 0;
    for (const p of parts) { data2.set(p.data, off); off += p.data.length; }
    out[name] = { data: data2, shape: [rows, ...first[name].shape.slice(1)], dtype: first[name].dtype };
  }
  return out;
}

// Labels of a batch: class indices (a number or an array per sample) -> int32
// [rows]; or float targets ({data, shape} per sample) -> concatenated.
function batchLabels(labels, indices, rows, what) {
  if (labels == null) return null;
  const firstLabel = labels[indices[0]];
  if (firstLabel != null && typeof firstLabel === 'object' && ArrayBuffer.isView(firstLabel.data)) {
    const t = batchFeeds(labels.map((l) => ({ target: l })), indices, `${what} labels`).target;
    return normalizeFeed('labels', t);
  }
  const flat = [];
  for (const i of indices) {
    const v = labels[i];
    if (v === undefined) throw new WebquantError('INVALID_ARGUMENT', `${what}: no label for sample ${i}`);
    if (typeof v === 'number') flat.push(v);
    else flat.push(...Array.from(v, Number));
  }
  for (let k = 0; k < flat.length; k += 1)
    if (!Number.isInteger(flat[k]))
      throw new WebquantError('INVALID_ARGUMENT', `${what}: label ${flat[k]} is not a class index (integer)`);
  if (flat.length !== rows)
    throw new WebquantError('INVALID_ARGUMENT', `${what}: ${flat.length} labels for a batch of ${rows} rows`);
  return normalizeFeed('labels', { data: Int32Array.from(flat), shape: [flat.length] });
}

async function runTraining(model, tuner, training, options, quantizationAware) {
  const { data, labels = null, validation = null, calibration = null, augment = null, onProgress, signal } = options;
  const what = quantizationAware ? 'finetune' : 'train';
  if (!Array.isArray(data) || data.length === 0)
    throw new WebquantError('INVALID_ARGUMENT', `${what}: options.data must be a non-empty array of samples (feeds)`);
  if (labels != null && (!Array.isArray(labels) || labels.length !== data.length))
    throw new WebquantError('INVALID_ARGUMENT',
      `${what}: options.labels must be an array with one entry per sample (${data.length}), got ${Array.isArray(labels) ? labels.length : typeof labels}`);
  if (validation != null && !Array.isArray(validation.data))
    throw new WebquantError('INVALID_ARGUMENT', `${what}: options.validation must be {data: [...], labels?: [...]}`);
  const progress = (p) => { if (onProgress) onProgress(p); };

  if (quantizationAware) {
    const calib = calibration ?? data.slice(0, training.calibrationSamples);
    if (!isIterable(calib))
      throw new WebquantError('INVALID_ARGUMENT', `${what}: options.calibration must be an iterable of feeds`);
    const total = Array.isArray(calib) ? calib.length : null;
    let index = 0;
    for await (const sample of calib) {
      checkSignal(signal, 'calibration');
      const err = tuner.calibrate(feedList(sample, `calibration sample ${index}`));
      if (err) throw new WebquantError(err.code, err.message);
      index += 1;
      progress({ stage: 'calibrate', done: index, total });
      await nextTick();
    }
    if (index === 0) throw new WebquantError('INVALID_ARGUMENT', `${what}: the calibration set is empty`);
  }

  const bs = training.batchSize;
  const perEpoch = Math.ceil(data.length / bs);
  let total = training.epochs * perEpoch;
  if (training.maxSteps > 0) total = Math.min(total, training.maxSteps);
  const err = tuner.setTotalSteps(total);
  if (err) throw new WebquantError(err.code, err.message);
  const err2 = tuner.begin(labels != null);
  if (err2) throw new WebquantError(err2.code, err2.message);

  const evaluate = async (set) => {
    let loss = 0, correct = 0, counted = 0, rows = 0;
    for (let first = 0; first < set.data.length; first += bs) {
      checkSignal(signal, 'evaluation');
      const idx = Array.from({ length: Math.min(bs, set.data.length - first) }, (_, k) => first + k);
      const feeds = batchFeeds(set.data, idx, `${what} validation`);
      const n = feeds[Object.keys(feeds)[0]].shape[0];
      const l = batchLabels(set.labels ?? null, idx, n, `${what} validation`);
      const r = unwrap(tuner.evaluate(feedList(feeds, `${what} validation`), l)).value;
      loss += r.loss * r.samples;
      rows += r.samples;
      if (r.correct >= 0) { correct += r.correct; counted += r.samples; }
      await nextTick();
    }
    return { loss: loss / Math.max(1, rows), accuracy: counted ? correct / counted : null, samples: rows };
  };

  const history = [];
  const start = Date.now();
  let step = 0, samples = 0;
  const before = validation ? await evaluate(validation) : null;
  if (before) progress({ stage: 'evaluate', epoch: 0, ...before });
  outer: for (let epoch = 0; epoch < training.epochs; epoch += 1) {
    const order = shuffledIndices(data.length, training.seed + epoch);
    let epochLoss = 0, epochCorrect = 0, epochCounted = 0, epochRows = 0;
    for (let b = 0; b < perEpoch; b += 1) {
      if (step >= total) break outer;
      checkSignal(signal, what === 'train' ? 'training' : 'fine-tuning');
      const idx = order.slice(b * bs, (b + 1) * bs);
      let feeds = batchFeeds(data, idx, `${what} batch ${step}`);
      if (augment) feeds = augment(feeds, { epoch, step, indices: idx });
      const rows = feeds[Object.keys(feeds)[0]].shape[0];
      const l = batchLabels(labels, idx, rows, `${what} batch ${step}`);
      const r = unwrap(tuner.step(feedList(feeds, `${what} batch ${step}`), l)).value;
      step += 1;
      samples += r.samples;
      epochLoss += r.loss * r.samples;
      epochRows += r.samples;
      if (r.correct >= 0) { epochCorrect += r.correct; epochCounted += r.samples; }
      const seconds = (Date.now() - start) / 1000;
      progress({
        stage: 'train', epoch: epoch + 1, epochs: training.epochs, step, done: step, total, loss: r.loss,
        accuracy: r.correct >= 0 ? r.correct / r.samples : null, learningRate: r.learningRate,
        samplesPerSecond: seconds > 0 ? samples / seconds : null,
      });
      await nextTick();
    }
    const entry = {
      epoch: epoch + 1, steps: step, loss: epochLoss / Math.max(1, epochRows),
      accuracy: epochCounted ? epochCorrect / epochCounted : null,
    };
    if (validation) {
      entry.validation = await evaluate(validation);
      progress({ stage: 'evaluate', epoch: epoch + 1, ...entry.validation });
    }
    history.push(entry);
  }
  checkSignal(signal, what === 'train' ? 'training' : 'fine-tuning');
  progress({ stage: 'export', done: 0, total: 1 });
  await nextTick();
  const out = unwrap(tuner.finish());
  progress({ stage: 'export', done: 1, total: 1 });
  const report = JSON.parse(out.report);
  report.training.history = history;
  report.training.seconds = (Date.now() - start) / 1000;
  if (before) report.training.validationBefore = before;
  return { bytes: out.bytes, report };
}

function createTuner(m, model, recipeText, quantizationAware, what) {
  if (!(model instanceof Model)) throw new WebquantError('INVALID_ARGUMENT', `${what}: model must be a Model`);
  const tuner = new m.WasmFineTuner();
  const err = tuner.create(handleOf(model), recipeText, quantizationAware);
  if (err) {
    tuner.delete();
    throw new WebquantError(err.code, err.message);
  }
  return tuner;
}

/**
 * Quantization-aware fine-tuning: quantizes `model` by `recipe` (static mode,
 * with a `training` section: doc/quantization.md "Fine-tuning") with fake
 * quantization in the training loop, so the weights and ranges adapt.
 * options.data: array of samples (feeds, as Model.run takes, batch dimension first);
 * options.labels: one per sample (class index, array of indices, or a {data, shape}
 *   target); omitted: the float model is the teacher (distillation);
 * options.calibration: feeds that initialise the ranges (default: the first
 *   training.calibrationSamples samples of data);
 * options.validation: {data, labels?}, evaluated before training and after each epoch;
 * options.augment(batchFeeds, {epoch, step, indices}): returns the feeds to train on (data
 *   augmentation; the batch is a fresh copy, it may be changed in place);
 * options.onProgress({stage, epoch, step, total, loss, accuracy, learningRate, samplesPerSecond}),
 * options.signal (AbortSignal).
 * Returns {model, bytes, report, recipe}; report.training has the history. The input
 * model is not modified.
 */
export async function finetune(model, recipe, options = {}) {
  await init();
  const m = requireModule();
  checkSignal(options.signal, 'fine-tuning');
  const text = typeof recipe === 'string' ? recipe : JSON.stringify(recipe ?? null);
  const tuner = createTuner(m, model, text, true, 'finetune');
  try {
    const normalized = JSON.parse(tuner.recipe());
    const { bytes, report } = await runTraining(model, tuner, normalized.training, options, true);
    report.sizes.floatModelBytes = model.summary().modelBytes;
    report.sizes.ratio = bytes.length / report.sizes.floatModelBytes;
    const tuned = Model.loadSync(bytes);
    const keep = normalized.report.samples;
    const sample = options.validation?.data ?? options.data;
    if (keep > 0) {
      try {
        report.comparison = await compare(model, tuned, sample.slice(0, keep), {
          signal: options.signal, onProgress: (p) => options.onProgress?.({ stage: 'report', done: p.done, total: p.total }),
        });
      } catch (e) {
        tuned.dispose();
        throw e;
      }
    }
    return { model: tuned, bytes, report, recipe: normalized };
  } finally {
    tuner.dispose();
    tuner.delete();
  }
}

/**
 * Plain float training of `model` by `training` (the recipe's training section:
 * epochs, batchSize, learningRate, optimizer, loss, seed, initialize "random" to
 * start from fresh weights). Options as finetune() (no calibration).
 * Returns {model, bytes, report, training}.
 */
export async function train(model, training, options = {}) {
  await init();
  const m = requireModule();
  checkSignal(options.signal, 'training');
  const text = JSON.stringify({ mode: 'static', training: training ?? {} });
  const tuner = createTuner(m, model, text, false, 'train');
  try {
    const normalized = JSON.parse(tuner.recipe()).training;
    const { bytes, report } = await runTraining(model, tuner, normalized, options, false);
    return { model: Model.loadSync(bytes), bytes, report, training: normalized };
  } finally {
    tuner.dispose();
    tuner.delete();
  }
}

/** Names of every operator the runtime implements ("Conv", "com.microsoft:...", ...). */
export function supportedOps() {
  return requireModule().supportedOps();
}

/** Current size of the WASM linear memory in bytes (its high-water mark: it never shrinks). */
export function heapSize() {
  return requireModule().heapSize();
}

export { DTYPES };
