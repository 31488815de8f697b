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

/** Names of every operator the runtime implements ("Conv", "com.microsoft:...", ...). */
export function supportedOps() {
  return requireModule().supportedOps();
}

/** Current size of the WASM linear memory in bytes (its high-water mark: it never shrinks). */
export function heapSize() {
  return requireModule().heapSize();
}

export { DTYPES };
