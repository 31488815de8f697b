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
//
// Errors: every exported function reports failure with a WebquantError whose
// `code` is one of the core's status codes. Arguments are checked here, before
// anything reaches the WASM module, so a wrong argument never becomes an Embind
// BindingError, a TypeError, or memory the core has to distrust. Messages from
// the core are passed on unchanged; names and values this file echoes are
// escaped and truncated (quote(), describe()). If the module itself fails (an
// Emscripten abort), it is discarded and the next init()/Model.load() starts a
// fresh one; models loaded before then must be loaded again.

const DTYPES = Object.freeze({
  float: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, double: 11, uint32: 12, uint64: 13, bfloat16: 16,
});

// Other spellings accepted for `dtype` (onnxruntime-web's and NumPy's names).
const DTYPE_ALIASES = Object.freeze({ float32: 'float', float64: 'double' });

// Bytes per element of each dtype a JS caller can pass ('string' has none).
const DTYPE_BYTES = Object.freeze({
  float: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, bool: 1,
  float16: 2, double: 8, uint32: 4, uint64: 8, bfloat16: 2,
});

const DEFAULT_DTYPE_OF = [
  [typeof Float32Array !== 'undefined' && Float32Array, 'float'],
  [typeof Float64Array !== 'undefined' && Float64Array, 'double'],
  [typeof Int8Array !== 'undefined' && Int8Array, 'int8'],
  [typeof Uint8Array !== 'undefined' && Uint8Array, 'uint8'],
  [typeof Uint8ClampedArray !== 'undefined' && Uint8ClampedArray, 'uint8'],
  [typeof Int16Array !== 'undefined' && Int16Array, 'int16'],
  [typeof Uint16Array !== 'undefined' && Uint16Array, 'uint16'],
  [typeof Int32Array !== 'undefined' && Int32Array, 'int32'],
  [typeof Uint32Array !== 'undefined' && Uint32Array, 'uint32'],
  [typeof BigInt64Array !== 'undefined' && BigInt64Array, 'int64'],
  [typeof BigUint64Array !== 'undefined' && BigUint64Array, 'uint64'],
  // eslint-disable-next-line no-undef
  [typeof Float16Array !== 'undefined' && Float16Array, 'float16'],
];

// The largest tensor or model the core accepts in one buffer (core/tensor.h
// kMaxTensorBytes); the wasm32 heap could not hold more.
const MAX_BUFFER_BYTES = 2 ** 31;
// The largest dimension accepted in an input shape.
const MAX_DIM = 2 ** 31 - 1;
// Class indices travel as int32.
const MAX_LABEL = 2 ** 31 - 1;

/** Error thrown by every webquant call that fails; `code` is one of the core's status codes. */
export class WebquantError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'WebquantError';
    this.code = code;
  }
}

// ---- messages ------------------------------------------------------------------

const MAX_ECHO_CHARS = 200;

// At most `max` UTF-16 units of `text` (never half a surrogate pair), with a
// marker saying how much was cut.
function clip(text, max = MAX_ECHO_CHARS) {
  if (text.length <= max) return text;
  let end = max;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…(${text.length - end} more chars)`;
}

// JSON-style escapes for what would garble a message: control characters,
// line/paragraph separators, bidirectional overrides, lone surrogates, and the
// backslash itself (so every escape is unambiguous).
const UNSAFE_CHARS =
  /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SHORT_ESCAPES = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeText(text) {
  return text.replace(UNSAFE_CHARS,
    (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A name (input, output, field, key) as it appears in our messages: 'name', bounded and escaped. */
function quote(name) {
  return `'${escapeText(clip(String(name)))}'`;
}

/** A short, bounded description of any value, for "got ..." in messages. */
function describe(v) {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined': return 'undefined';
    case 'number': return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint': return `${clip(String(v), 40)}n (a bigint)`;
    case 'boolean': return String(v);
    case 'string': return `the string ${quote(v)}`;
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: break;
  }
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${ctorName(v)}`;
  return `an object (${ctorName(v)})`;
}

function ctorName(v) {
  try {
    const name = Object.getPrototypeOf(v)?.constructor?.name;
    return typeof name === 'string' && name ? escapeText(clip(name, 40)) : 'Object';
  } catch {
    return 'Object';
  }
}

function formatShape(shape, separator = ', ') {
  const shown = shape.slice(0, 16).join(separator);
  return shape.length > 16 ? `[${shown}${separator}… (${shape.length} dims)]` : `[${shown}]`;
}

// An error thrown by the caller's own code (an iterator, a callback): kept as
// the cause of a WebquantError that says where it happened.
function callerError(e, where) {
  if (e instanceof WebquantError) return e;
  const code = e != null && e.name === 'AbortError' ? 'CANCELLED' : 'INVALID_ARGUMENT';
  return new WebquantError(code, `${where}: ${errorText(e)}`, { cause: e });
}

// errorText() without Emscripten's advice to rebuild with assertions.
function abortText(e) {
  return errorText(e).replace(/\.?\s*Build with -s ASSERTIONS=1 for more info\.?$/, '');
}

function errorText(e) {
  try {
    if (e instanceof Error || (e != null && typeof e === 'object' && typeof e.message === 'string'))
      return escapeText(clip(`${e.name ?? 'Error'}: ${String(e.message).replace(/\s*\n\s*/g, ' ')}`, 500));
    return `threw ${describe(e)}`;
  } catch {
    return 'threw an unprintable value';
  }
}

const invalid = (message) => new WebquantError('INVALID_ARGUMENT', message);

// Last line of defence around each exported function: nothing but a
// WebquantError leaves this file. What reaches here unconverted is our bug.
function surprise(e, what) {
  if (e instanceof WebquantError) return e;
  return new WebquantError('INTERNAL', `${what}: unexpected ${errorText(e)}`, { cause: e });
}

function guarded(what, fn) {
  try {
    return fn();
  } catch (e) {
    throw surprise(e, what);
  }
}

async function guardedAsync(what, fn) {
  try {
    return await fn();
  } catch (e) {
    throw surprise(e, what);
  }
}

// ---- the module ----------------------------------------------------------------

let modulePromise = null;
let wasm = null;
let discardedBecause = null;  // why the last module was thrown away, for requireModule()'s message
let startedWith = {};  // the options of the last module that started: init() reuses them after a discard

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null &&
  typeof window === 'undefined';

// The engine's own accessors, so an own property such as `length` or
// `byteOffset` on the caller's typed array cannot change what we read.
const getter = (proto, name) => Object.getOwnPropertyDescriptor(proto, name)?.get;
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype);
const TA_BUFFER = getter(TYPED_ARRAY_PROTO, 'buffer');
const TA_OFFSET = getter(TYPED_ARRAY_PROTO, 'byteOffset');
const TA_LENGTH = getter(TYPED_ARRAY_PROTO, 'byteLength');
const DV_BUFFER = getter(DataView.prototype, 'buffer');
const DV_OFFSET = getter(DataView.prototype, 'byteOffset');
const DV_LENGTH = getter(DataView.prototype, 'byteLength');
const AB_DETACHED = getter(ArrayBuffer.prototype, 'detached');  // ES2024; undefined before
const AB_LENGTH = getter(ArrayBuffer.prototype, 'byteLength');

// True if `buffer` (an ArrayBuffer) has been transferred away.
function isDetached(buffer) {
  if (AB_DETACHED) return AB_DETACHED.call(buffer);
  if (AB_LENGTH.call(buffer) !== 0) return false;
  try {
    new Uint8Array(buffer);  // eslint-disable-line no-new
    return false;
  } catch {
    return true;
  }
}

function isTypedArray(v) {
  if (!ArrayBuffer.isView(v)) return false;
  try {
    TA_BUFFER.call(v);
    return true;
  } catch {
    return false;  // a DataView
  }
}

// Bytes of an ArrayBuffer / SharedArrayBuffer / typed array / DataView as a
// fresh Uint8Array over the same memory (no copy); `what` names the argument.
function toUint8(bytes, what) {
  const isBuffer = bytes instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== 'undefined' && bytes instanceof SharedArrayBuffer);
  if (!isBuffer && !ArrayBuffer.isView(bytes))
    throw invalid(`${what} must be a Uint8Array, ArrayBuffer or typed array, got ${describe(bytes)}`);
  const typed = !isBuffer && isTypedArray(bytes);
  let buffer = bytes;
  if (!isBuffer) buffer = typed ? TA_BUFFER.call(bytes) : DV_BUFFER.call(bytes);
  if (buffer instanceof ArrayBuffer && isDetached(buffer))
    throw invalid(`${what}: its ArrayBuffer is detached (transferred to a worker or with structuredClone); ` +
      'pass bytes that are still readable');
  try {
    if (isBuffer) return new Uint8Array(bytes);
    const offset = typed ? TA_OFFSET.call(bytes) : DV_OFFSET.call(bytes);
    const length = typed ? TA_LENGTH.call(bytes) : DV_LENGTH.call(bytes);
    return new Uint8Array(buffer, offset, length);
  } catch (e) {
    throw invalid(`${what}: its bytes cannot be read (${errorText(e)})`);
  }
}

// The constructor of a typed array among the standard ones (not its own `constructor` property).
function typedArrayCtor(v) {
  for (const [ctor] of DEFAULT_DTYPE_OF) if (ctor && v instanceof ctor) return ctor;
  return null;
}

function checkInitOptions(options) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw invalid(`init: options must be an object, got ${describe(options)}`);
  const { wasmBinary, locateFile } = options;
  if (locateFile != null && typeof locateFile !== 'function')
    throw invalid(`init: options.locateFile must be a function (path, prefix) => url, got ${describe(locateFile)}`);
  let binary = null;
  if (wasmBinary != null) {
    binary = toUint8(wasmBinary, 'init: options.wasmBinary');
    if (binary.byteLength === 0) throw invalid('init: options.wasmBinary is empty');
  }
  return { wasmBinary: binary, locateFile: locateFile ?? null };
}

async function startModule(options) {
  let createWebquantModule;
  try {
    ({ default: createWebquantModule } = await import('../../dist/webquant.js'));
  } catch (e) {
    throw new WebquantError('NOT_FOUND', `init: cannot load dist/webquant.js (${errorText(e)}); build it with npm run build`,
      { cause: e });
  }
  // Emscripten reports an instantiation failure on stderr, then rejects with
  // the same text; hold stderr back while starting, and show it only if the
  // module does start.
  const startupLog = [];
  let starting = true;
  const moduleArgs = {
    printErr: (text) => { if (starting) startupLog.push(text); else console.error(text); },
  };
  if (options.locateFile) moduleArgs.locateFile = options.locateFile;
  if (options.wasmBinary) {
    moduleArgs.wasmBinary = options.wasmBinary;
  } else if (isNode) {
    // Emscripten's web loader would fetch() a file path in Node; read the bytes ourselves.
    try {
      const fs = await import('node:fs/promises');
      moduleArgs.wasmBinary = await fs.readFile(new URL('../../dist/webquant.wasm', import.meta.url));
    } catch (e) {
      throw new WebquantError('NOT_FOUND', `init: cannot read dist/webquant.wasm (${errorText(e)})`, { cause: e });
    }
  }
  try {
    const instance = await createWebquantModule(moduleArgs);
    if (!instance || typeof instance.WasmModel !== 'function')
      throw new Error('the module has no WasmModel class (is this webquant.wasm?)');
    for (const line of startupLog) console.error(line);
    return instance;
  } catch (e) {
    const given = options.wasmBinary ? 'options.wasmBinary' : options.locateFile ? 'options.locateFile' : null;
    const detail = abortText(e);
    throw new WebquantError(given ? 'INVALID_ARGUMENT' : 'INTERNAL',
      `init: the WebAssembly module failed to start${given ? ` from ${given}` : ''}: ${detail}`, { cause: e });
  } finally {
    starting = false;
  }
}

/**
 * Loads and instantiates the WASM module once; later calls return the same promise.
 * options.wasmBinary: ArrayBuffer/Uint8Array of webquant.wasm (skips fetching);
 * options.locateFile(path, prefix): where to fetch the .wasm from in a browser.
 * A failed init() rejects with a WebquantError and may be retried. After a module
 * failure discarded the module, init() without options restarts it with the options
 * it last started with.
 */
export function init(options) {
  let checked;
  try {
    checked = options === undefined ? startedWith : checkInitOptions(options);
  } catch (e) {
    return Promise.reject(surprise(e, 'init'));
  }
  if (!modulePromise) {
    const promise = (async () => {
      const instance = await startModule(checked);
      if (modulePromise === promise) {
        wasm = instance;
        startedWith = checked;
        discardedBecause = null;
      }
      return instance;
    })();
    modulePromise = promise;
    promise.catch(() => { if (modulePromise === promise) modulePromise = null; });
  }
  return modulePromise.then(() => undefined, (e) => { throw surprise(e, 'init'); });
}

function requireModule() {
  if (!wasm) {
    throw new WebquantError('FAILED_PRECONDITION', discardedBecause
      ? `webquant's WebAssembly module was discarded after a failure (${discardedBecause}): await init() again`
      : 'webquant is not initialised: await init() first');
  }
  return wasm;
}

// Forgets a module that failed: its memory can no longer be trusted.
function discard(m, e) {
  if (m !== wasm) return;
  wasm = null;
  modulePromise = null;
  discardedBecause = abortText(e);
}

// Calls into the module `m`. A JS exception coming out of it (an Emscripten
// abort, a trap) means its state is unknown: it is discarded.
function callWasm(m, what, fn) {
  if (m !== wasm) {
    throw new WebquantError('FAILED_PRECONDITION',
      `${what}: webquant's WebAssembly module was discarded after a failure; load the model again`);
  }
  try {
    return fn();
  } catch (e) {
    if (e instanceof WebquantError) throw e;
    discard(m, e);
    throw new WebquantError('INTERNAL', `${what}: the WebAssembly module failed (${abortText(e)}); it was ` +
      'discarded: models loaded so far must be loaded again, and the next init() or Model.load() starts afresh',
    { cause: e });
  }
}

// Frees an Embind handle; a failure here must not hide the error being thrown.
function release(m, handle) {
  if (m !== wasm) return;
  try {
    handle.dispose();
    handle.delete();
  } catch (e) {
    discard(m, e);
  }
}

function unwrap(result) {
  if (result && result.error) throw new WebquantError(result.error.code, result.error.message);
  return result;
}


// ---- arguments -----------------------------------------------------------------

function optionsObject(options, what) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw invalid(`${what}: options must be an object, got ${describe(options)}`);
  return options;
}

function checkCallback(fn, what) {
  if (fn != null && typeof fn !== 'function') throw invalid(`${what} must be a function, got ${describe(fn)}`);
  return fn ?? null;
}

function checkAbortSignal(signal, what) {
  if (signal != null && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean'))
    throw invalid(`${what}: options.signal must be an AbortSignal, got ${describe(signal)}`);
  return signal ?? null;
}

function checkSignal(signal, what) {
  if (signal && signal.aborted) throw new WebquantError('CANCELLED', `${what} was cancelled`);
}

// Calls the caller's onProgress; what it throws is reported as its own.
function progressReporter(onProgress, what) {
  return (p) => {
    if (!onProgress) return;
    try {
      onProgress(p);
    } catch (e) {
      throw callerError(e, `${what}: options.onProgress threw`);
    }
  };
}

// Recipes are plain JSON: a string, or an object JSON.stringify can write.
function recipeText(recipe, what, field = 'recipe') {
  if (typeof recipe === 'string') return recipe;
  if (recipe == null) return 'null';  // the core says what is expected
  if (typeof recipe !== 'object')
    throw invalid(`${what}: ${field} must be an object or a JSON string, got ${describe(recipe)}`);
  let text;
  try {
    text = JSON.stringify(recipe);
  } catch (e) {
    const circular = e instanceof TypeError && /circular/i.test(String(e.message));
    throw invalid(`${what}: ${field} ${circular ? 'refers to itself' : 'cannot be written as JSON'} (${errorText(e)}); ` +
      'recipes must be plain JSON');
  }
  return text ?? 'null';
}

function inferDtype(data) {
  for (const [ctor, name] of DEFAULT_DTYPE_OF) if (ctor && data instanceof ctor) return name;
  return null;
}

function dtypeName(dtype, label, data) {
  if (dtype == null) {
    const inferred = inferDtype(data);
    if (!inferred) throw invalid(`${label}: cannot tell the dtype of a ${ctorName(data)}: pass dtype`);
    return inferred;
  }
  if (typeof dtype !== 'string') throw invalid(`${label}: dtype must be a string such as 'float', got ${describe(dtype)}`);
  const name = Object.hasOwn(DTYPE_ALIASES, dtype) ? DTYPE_ALIASES[dtype] : dtype;
  if (!Object.hasOwn(DTYPES, name)) {
    throw invalid(`${label}: unknown dtype ${quote(dtype)} (expected one of ${Object.keys(DTYPES).join(', ')}; ` +
      `or ${Object.keys(DTYPE_ALIASES).join(', ')})`);
  }
  if (!Object.hasOwn(DTYPE_BYTES, name))
    throw new WebquantError('UNSUPPORTED', `${label}: ${name} tensors cannot be passed from JavaScript`);
  return name;
}

// Validates one tensor {data, shape[, dtype]} completely (exact integer
// arithmetic, so no size can wrap on the way into wasm32) and returns what the
// binding reads: {name, dtype: ONNX enum, shape: fresh number[], bytes: Uint8Array}.
// `label` names it in messages ("input 'x'", "sample 3 input 'x'").
function checkTensor(name, feed, label) {
  if (feed == null || typeof feed !== 'object')
    throw invalid(`${label} must be {data, shape[, dtype]}, got ${describe(feed)}`);
  const { data, shape, dtype } = feed;
  if (!ArrayBuffer.isView(data)) throw invalid(`${label}: data must be a typed array, got ${describe(data)}`);
  if (!Array.isArray(shape)) throw invalid(`${label}: shape must be an array of integers, got ${describe(shape)}`);
  const dims = Array.from(shape);
  let count = 1n;
  for (let i = 0; i < dims.length; i += 1) {
    const d = dims[i];
    if (typeof d !== 'number') {
      throw invalid(`${label}: shape[${i}] is ${describe(d)}; dims must be numbers${typeof d === 'bigint' ? ', not bigints' : ''}`);
    }
    if (!Number.isInteger(d) || d < 0)
      throw invalid(`${label}: shape[${i}] is ${describe(d)}; dims must be non-negative integers`);
    if (d > MAX_DIM) throw invalid(`${label}: shape[${i}] is ${d}, above the largest supported dim (${MAX_DIM})`);
    count *= BigInt(d);
  }
  const type = dtypeName(dtype, label, data);
  const bytes = toUint8(data, `${label}: data`);
  const need = count * BigInt(DTYPE_BYTES[type]);
  if (need !== BigInt(bytes.byteLength)) {
    const held = bytes.byteLength / DTYPE_BYTES[type];
    throw invalid(`${label}: data holds ${bytes.byteLength} bytes (${Number.isInteger(held) ? held : held.toFixed(2)} ` +
      `${type} elements) but shape ${formatShape(dims)} of ${type} needs ${need} bytes (${count} elements)`);
  }
  if (need > BigInt(MAX_BUFFER_BYTES)) {
    throw new WebquantError('OUT_OF_MEMORY', `${label}: shape ${formatShape(dims)} of ${type} is ${need} bytes, ` +
      `more than the ${MAX_BUFFER_BYTES} a tensor may have in webquant's 32-bit heap`);
  }
  return { name, dtype: DTYPES[type], shape: dims, bytes };
}

function normalizeFeed(name, feed, prefix = '') {
  return checkTensor(name, feed, `${prefix}input ${quote(name)}`);
}

// feeds {name: tensor} -> the binding's list; `what` names the feeds ("calibration sample 3").
function feedList(feeds, what) {
  if (feeds == null || typeof feeds !== 'object' || Array.isArray(feeds) || ArrayBuffer.isView(feeds))
    throw invalid(`${what} must be an object mapping input names to tensors, got ${describe(feeds)}`);
  return Object.entries(feeds).map(([name, f]) => normalizeFeed(name, f, what ? `${what}: ` : ''));
}

function isIterable(x) {
  return x != null && typeof x === 'object' &&
    (typeof x[Symbol.iterator] === 'function' || typeof x[Symbol.asyncIterator] === 'function');
}

// Iterates an iterable or async iterable of samples as `for await` does, but a
// broken iterator (next() throwing or returning a non-object) becomes a
// WebquantError naming the sample. Closes the iterator when the loop stops early.
async function* samplesOf(iterable, what) {
  let iterator;
  let isAsync = false;
  try {
    const asyncMethod = iterable[Symbol.asyncIterator];
    isAsync = typeof asyncMethod === 'function';
    iterator = isAsync ? asyncMethod.call(iterable) : iterable[Symbol.iterator]();
  } catch (e) {
    throw callerError(e, `${what}: opening the iterator threw`);
  }
  if (iterator == null || (typeof iterator !== 'object' && typeof iterator !== 'function') ||
      typeof iterator.next !== 'function')
    throw invalid(`${what}: the iterable's iterator has no next() method (got ${describe(iterator)})`);
  let open = true;
  try {
    for (let index = 0; ; index += 1) {
      let value;
      try {
        let result = iterator.next();
        if (isAsync) result = await result;
        if (result == null || (typeof result !== 'object' && typeof result !== 'function')) {
          open = false;
          throw invalid(`${what}: the iterator's next() returned ${describe(result)} for sample ${index}, ` +
            'not an object {done, value}');
        }
        if (result.done) {
          open = false;
          return;
        }
        value = result.value;
        if (!isAsync) value = await value;
      } catch (e) {
        if (e instanceof WebquantError) throw e;
        open = false;
        throw callerError(e, `${what}: the iterator threw at sample ${index}`);
      }
      yield value;
    }
  } finally {
    if (open && typeof iterator.return === 'function') {
      try {
        const r = iterator.return();
        if (isAsync) await r;
      } catch {
        // Closing is best effort; the error that stopped the loop matters more.
      }
    }
  }
}

// A label (class index) checked and converted to a number; `where` names it.
function classIndex(v, where) {
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(MAX_LABEL))
      throw invalid(`${where} is ${describe(v)}, not a class index (an integer in [0, ${MAX_LABEL}])`);
    return Number(v);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LABEL)
    throw invalid(`${where} is ${describe(v)}, not a class index (an integer in [0, ${MAX_LABEL}])`);
  return v;
}

function isArrayLike(v) {
  return Array.isArray(v) || isTypedArray(v);
}

// One sample's labels: a number/bigint or an array of them (one per row).
function sampleLabels(v, sample, what) {
  if (typeof v === 'number' || typeof v === 'bigint') return [classIndex(v, `${what}: the label of sample ${sample}`)];
  if (!isArrayLike(v)) {
    throw invalid(`${what}: the label of sample ${sample} is ${describe(v)}; expected a class index or an array ` +
      'of class indices (one per row)');
  }
  return Array.from(v, (x, k) => classIndex(x, `${what}: label ${k} of sample ${sample}`));
}

// ---- Model ---------------------------------------------------------------------

let handleOf = null;  // (model, module, what) -> live Embind handle, for quantize()/compare() in this module
const PRIVATE = Symbol('webquant.Model');

const DEFAULT_MEMORY_LIMIT_BYTES = 1.5 * 2 ** 30;  // core/tensor.h kDefaultMemoryLimitBytes

// Model.load's options.memoryLimitBytes, checked: a number of bytes, 0 for no cap.
function loadLimit(options) {
  if (options == null) return DEFAULT_MEMORY_LIMIT_BYTES;
  if (typeof options !== 'object')
    throw new WebquantError('INVALID_ARGUMENT', `Model.load: options must be an object, got ${describe(options)}`);
  const v = options.memoryLimitBytes;
  if (v === undefined) return DEFAULT_MEMORY_LIMIT_BYTES;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new WebquantError('INVALID_ARGUMENT',
      `Model.load: options.memoryLimitBytes must be a non-negative integer number of bytes, got ${describe(v)}`);
  return v;
}

/** A loaded ONNX model. Create with `await Model.load(bytes)`. */
export class Model {
  #handle = null;
  #module = null;
  #summary = null;

  static {
    handleOf = (model, m, what) => Model.#live(model, what, m);
  }

  constructor(handle, token) {
    if (token !== PRIVATE) {
      throw invalid('new Model() is not how models are made: use await Model.load(bytes) or Model.loadSync(bytes)');
    }
    const m = requireModule();
    this.#module = m;
    this.#summary = unwrap(callWasm(m, 'Model', () => handle.summary())).value;
    this.#handle = handle;
  }

  /**
   * Parses and validates ONNX bytes; the caller's buffer is copied, never modified.
   * options.memoryLimitBytes caps what loading and then each run may hold in tensors
   * (default 1.5 GiB; 0 = no cap): over it the node that asked fails with OUT_OF_MEMORY.
   */
  static async load(bytes, options = {}) {
    return guardedAsync('Model.load', async () => {
      toUint8(bytes, 'model bytes');  // a wrong argument is reported before init() is awaited
      loadLimit(options);
      await init();
      return Model.loadSync(bytes, options);
    });
  }

  /** Like load() but requires init() to have completed. */
  static loadSync(bytes, options = {}) {
    return guarded('Model.loadSync', () => {
      const u8 = toUint8(bytes, 'model bytes');
      const limit = loadLimit(options);
      if (u8.byteLength > MAX_BUFFER_BYTES) {
        throw new WebquantError('OUT_OF_MEMORY',
          `model bytes: ${u8.byteLength} bytes, more than the ${MAX_BUFFER_BYTES} webquant's 32-bit heap can take`);
      }
      const m = requireModule();
      const handle = callWasm(m, 'Model.load', () => new m.WasmModel());
      try {
        unwrap(callWasm(m, 'Model.load', () => handle.load(u8, limit)));
      } catch (e) {
        release(m, handle);
        throw e;
      }
      try {
        return new Model(handle, PRIVATE);
      } catch (e) {
        release(m, handle);
        throw e;
      }
    });
  }

  // The handle of a Model that is still usable, for calls into module `m` (the current one by default).
  static #live(model, what, m = wasm) {
    if (model == null || typeof model !== 'object' || !(#handle in model))
      throw invalid(`${what}: expected a Model, got ${describe(model)}`);
    if (!model.#handle) throw new WebquantError('FAILED_PRECONDITION', 'this Model has been disposed');
    if (model.#module !== m || m !== wasm) {
      throw new WebquantError('FAILED_PRECONDITION', 'this Model belongs to a WebAssembly module that was discarded ' +
        'after a failure: load it again');
    }
    return model.#handle;
  }

  static #check(model, what) {
    if (model == null || typeof model !== 'object' || !(#summary in model))
      throw invalid(`${what}: expected a Model, got ${describe(model)}`);
    return model;
  }

  /** Graph inputs: [{name, dtype, shape}] where a dim is a number, a symbolic name, or null. */
  get inputs() { return Model.#check(this, 'Model.inputs').#summary.inputs; }
  /** Graph outputs, same form as inputs. */
  get outputs() { return Model.#check(this, 'Model.outputs').#summary.outputs; }

  /** Model facts: producer, opsets, op counts, parameter count and bytes, inputs, outputs. */
  summary() {
    return guarded('Model.summary', () => structuredClone(Model.#check(this, 'Model.summary').#summary));
  }

  /**
   * Runs the model in float. feeds: {inputName: {data: TypedArray, shape: number[], dtype?}}.
   * options.outputs: names of values to return (default: the graph outputs).
   * Returns {outputName: {dtype, shape, data}}.
   */
  run(feeds, options) {
    return guarded('Model.run', () => {
      const handle = Model.#live(this, 'Model.run');
      const m = this.#module;
      const opts = optionsObject(options, 'Model.run');
      if (feeds == null || typeof feeds !== 'object' || Array.isArray(feeds) || ArrayBuffer.isView(feeds))
        throw invalid(`feeds must be an object mapping input names to tensors, got ${describe(feeds)}`);
      const list = Object.entries(feeds).map(([name, f]) => normalizeFeed(name, f));
      const names = opts.outputs ?? [];
      if (!Array.isArray(names))
        throw invalid(`Model.run: options.outputs must be an array of value names, got ${describe(names)}`);
      const outputNames = Array.from(names, (n, i) => {
        if (typeof n !== 'string')
          throw invalid(`Model.run: options.outputs[${i}] must be a string (a value name), got ${describe(n)}`);
        return n;
      });
      const r = unwrap(callWasm(m, 'Model.run', () => handle.run(list, outputNames)));
      this.lastRunStats = r.stats;
      const out = {};
      for (const t of r.value) {
        // defineProperty: an output may be called "__proto__".
        Object.defineProperty(out, t.name, {
          value: { dtype: t.dtype, shape: t.shape, data: t.data }, enumerable: true, writable: true, configurable: true,
        });
      }
      return out;
    });
  }

  /** Serializes the model to ONNX bytes (a fresh Uint8Array). */
  save() {
    return guarded('Model.save', () => {
      const handle = Model.#live(this, 'Model.save');
      return unwrap(callWasm(this.#module, 'Model.save', () => handle.save())).value;
    });
  }

  /** Frees the WASM memory held by this model. Safe to call twice. */
  dispose() {
    guarded('Model.dispose', () => {
      Model.#check(this, 'Model.dispose');
      if (this.#handle) {
        const handle = this.#handle;
        this.#handle = null;
        release(this.#module, handle);
      }
    });
  }
}

// Explicit resource management (`using model = ...`) where the runtime has it.
if (typeof Symbol.dispose === 'symbol') {
  Model.prototype[Symbol.dispose] = function dispose() { this.dispose(); };
}

// ---- quantization --------------------------------------------------------------

// Lets the event loop run between samples, so a UI stays responsive and an
// AbortSignal fired by a timer or a button is seen.
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0));

function checkSamples(samples, what) {
  if (!isIterable(samples))
    throw invalid(`${what} must be an iterable or async iterable of feeds, got ${describe(samples)}`);
  return samples;
}

/**
 * Validates a recipe and returns it with every default filled in.
 * Throws WebquantError (INVALID_ARGUMENT) naming the field at fault.
 */
export function normalizeRecipe(recipe) {
  return guarded('normalizeRecipe', () => {
    const text = recipeText(recipe, 'normalizeRecipe');
    const m = requireModule();
    return JSON.parse(unwrap(callWasm(m, 'normalizeRecipe', () => m.normalizeRecipe(text))).value);
  });
}

/**
 * Quantizes `model` by `recipe` (plain JSON, see doc/quantization.md "Recipes").
 * options.calibration: an iterable or async iterable of feeds (as Model.run takes),
 *   required in static mode; only running statistics are kept, so it may be long.
 * options.onProgress({stage, done, total}), options.signal (AbortSignal).
 * Returns {model, bytes, report, recipe}; the input model is not modified.
 */
export async function quantize(model, recipe, options) {
  return guardedAsync('quantize', async () => {
    const opts = optionsObject(options, 'quantize');
    if (!(model instanceof Model)) throw invalid(`quantize: model must be a Model, got ${describe(model)}`);
    const text = recipeText(recipe, 'quantize');
    const { calibration } = opts;
    const onProgress = checkCallback(opts.onProgress, 'quantize: options.onProgress');
    const signal = checkAbortSignal(opts.signal, 'quantize');
    if (calibration != null) checkSamples(calibration, 'quantize: options.calibration');
    await init();
    const m = requireModule();
    const call = (fn) => callWasm(m, 'quantize', fn);
    const progress = progressReporter(onProgress, 'quantize');
    checkSignal(signal, 'quantization');
    progress({ stage: 'prepare', done: 0, total: 1 });
    const handle = handleOf(model, m, 'quantize');
    const q = call(() => new m.WasmQuantizer());
    try {
      unwrap(call(() => q.create(handle, text)));
      const normalized = JSON.parse(call(() => q.recipe()));
      progress({ stage: 'prepare', done: 1, total: 1 });
      const keep = normalized.report.samples;
      const reportSamples = [];
      if (call(() => q.needsCalibration())) {
        if (calibration == null)
          throw invalid('static quantization needs calibration samples: pass options.calibration (an iterable of feeds)');
        const max = normalized.calibration.maxSamples || Infinity;
        const known = Array.isArray(calibration) ? calibration.length : Infinity;
        const total = Number.isFinite(Math.min(max, known)) ? Math.min(max, known) : null;
        let index = 0;
        for await (const sample of samplesOf(calibration, 'quantize: options.calibration')) {
          if (index >= max) break;
          checkSignal(signal, 'calibration');
          const list = feedList(sample, `calibration sample ${index}`);
          unwrap(call(() => q.calibrate(list)));
          if (reportSamples.length < keep) reportSamples.push(sample);
          index += 1;
          progress({ stage: 'calibrate', done: index, total });
          await nextTick();
        }
        if (index === 0)
          throw invalid('static quantization needs calibration samples: the iterable was empty');
      } else if (calibration != null && keep > 0) {
        for await (const sample of samplesOf(calibration, 'quantize: options.calibration')) {
          reportSamples.push(sample);
          if (reportSamples.length >= keep) break;
        }
      }
      checkSignal(signal, 'quantization');
      progress({ stage: 'quantize', done: 0, total: 1 });
      await nextTick();
      const out = unwrap(call(() => q.finish()));
      progress({ stage: 'quantize', done: 1, total: 1 });
      const report = JSON.parse(out.report);
      report.sizes.floatModelBytes = model.summary().modelBytes;
      report.sizes.ratio = out.bytes.length / report.sizes.floatModelBytes;
      const quantized = Model.loadSync(out.bytes);
      try {
        if (reportSamples.length) {
          report.comparison = await compare(model, quantized, reportSamples, {
            signal: signal ?? undefined, onProgress: (p) => progress({ stage: 'report', done: p.done, total: p.total }),
          });
        }
      } catch (e) {
        quantized.dispose();
        throw e;
      }
      return { model: quantized, bytes: out.bytes, report, recipe: normalized };
    } finally {
      release(m, q);
    }
  });
}

/**
 * Runs `floatModel` and `quantModel` on the same samples and measures the
 * difference: per output SQNR (dB), cosine, max abs error, argmax agreement;
 * per intermediate activation SQNR; accuracy when options.labels is given
 * (an array with one entry per sample: a number or an array of per-row labels).
 */
export async function compare(floatModel, quantModel, samples, options) {
  return guardedAsync('compare', async () => {
    const opts = optionsObject(options, 'compare');
    if (!(floatModel instanceof Model) || !(quantModel instanceof Model)) {
      throw invalid(`compare: both models must be Model instances, got ${describe(floatModel)} and ` +
        `${describe(quantModel)}`);
    }
    checkSamples(samples, 'compare: samples');
    const { labels, perNode = true } = opts;
    if (labels != null && !isArrayLike(labels))
      throw invalid(`compare: options.labels must be an array with one entry per sample, got ${describe(labels)}`);
    if (typeof perNode !== 'boolean') throw invalid(`compare: options.perNode must be a boolean, got ${describe(perNode)}`);
    const onProgress = checkCallback(opts.onProgress, 'compare: options.onProgress');
    const signal = checkAbortSignal(opts.signal, 'compare');
    await init();
    const m = requireModule();
    const call = (fn) => callWasm(m, 'compare', fn);
    const progress = progressReporter(onProgress, 'compare');
    const floatHandle = handleOf(floatModel, m, 'compare');
    const quantHandle = handleOf(quantModel, m, 'compare');
    const c = call(() => new m.WasmComparator());
    try {
      unwrap(call(() => c.create(floatHandle, quantHandle, perNode)));
      const total = Array.isArray(samples) ? samples.length : null;
      let index = 0;
      for await (const sample of samplesOf(samples, 'compare: samples')) {
        checkSignal(signal, 'comparison');
        let l = null;
        if (labels != null) {
          if (index >= labels.length) throw invalid(`compare: no label for sample ${index}`);
          l = sampleLabels(labels[index], index, 'compare');
        }
        const list = feedList(sample, `sample ${index}`);
        unwrap(call(() => c.addSample(list, l)));
        index += 1;
        progress({ stage: 'compare', done: index, total });
        await nextTick();
      }
      return JSON.parse(call(() => c.report()));
    } finally {
      release(m, c);
    }
  });
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
// one batch, in the order of `indices`. Each sample's tensor is checked first,
// so a bad one is named by its index.
function batchFeeds(data, indices, what) {
  const first = data[indices[0]];
  if (first == null || typeof first !== 'object' || Array.isArray(first))
    throw invalid(`${what}: sample ${indices[0]} must be an object mapping input names to tensors, got ${describe(first)}`);
  const out = {};
  for (const name of Object.keys(first)) {
    const parts = indices.map((i) => {
      const sample = data[i];
      const f = sample != null && typeof sample === 'object' && Object.hasOwn(sample, name) ? sample[name] : undefined;
      if (f == null || !ArrayBuffer.isView(f.data) || !Array.isArray(f.shape))
        throw invalid(`${what}: sample ${i} has no tensor ${quote(name)} ({data, shape})`);
      const t = checkTensor(name, f, `${what}: sample ${i} input ${quote(name)}`);
      const ctor = typedArrayCtor(f.data);
      if (t.shape.length === 0 || !ctor)
        throw invalid(`${what}: sample ${i} input ${quote(name)} must be a typed array with a batch dimension first`);
      return { f, t, ctor };
    });
    const head = parts[0];
    const tail = head.t.shape.slice(1).join(',');
    let rows = 0;
    let length = 0;
    for (let k = 0; k < parts.length; k += 1) {
      const { t, ctor } = parts[k];
      if (t.shape.slice(1).join(',') !== tail || ctor !== head.ctor || t.dtype !== head.t.dtype)
        throw invalid(
          `${what}: sample ${indices[k]} input ${quote(name)} has shape ${formatShape(t.shape, ',')} (${ctor.name}) but ` +
          `sample ${indices[0]} has ${formatShape(head.t.shape, ',')} (${head.ctor.name}); samples of a batch must ` +
          'agree in every dimension but the first');
      rows += t.shape[0];
      length += t.bytes.byteLength / ctor.BYTES_PER_ELEMENT;
    }
    let joined;
    try {
      joined = new head.ctor(length);
    } catch (e) {
      throw new WebquantError('OUT_OF_MEMORY', `${what}: cannot allocate the batch of input ${quote(name)} ` +
        `(${length} elements): ${errorText(e)}`, { cause: e });
    }
    let off = 0;
    for (const { t, ctor } of parts) {
      joined.set(new ctor(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / ctor.BYTES_PER_ELEMENT), off);
      off += t.bytes.byteLength / ctor.BYTES_PER_ELEMENT;
    }
    Object.defineProperty(out, name, {
      value: { data: joined, shape: [rows, ...head.t.shape.slice(1)], dtype: head.f.dtype },
      enumerable: true, writable: true, configurable: true,
    });
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
    if (i >= labels.length || labels[i] === undefined) throw invalid(`${what}: no label for sample ${i}`);
    for (const l of sampleLabels(labels[i], i, what)) flat.push(l);
  }
  if (flat.length !== rows) throw invalid(`${what}: ${flat.length} labels for a batch of ${rows} rows`);
  return normalizeFeed('labels', { data: Int32Array.from(flat), shape: [flat.length] });
}

// Rows in a batch (the first input's first dim), from the checked feed list.
function batchRows(list, what) {
  if (list.length === 0) throw invalid(`${what}: the batch has no tensors`);
  if (list[0].shape.length === 0) throw invalid(`${what}: input ${quote(list[0].name)} has no batch dimension`);
  return list[0].shape[0];
}

function checkTrainingOptions(options, what, quantizationAware) {
  const { data, labels = null, validation = null, calibration = null } = options;
  if (!Array.isArray(data) || data.length === 0)
    throw invalid(`${what}: options.data must be a non-empty array of samples (feeds), got ${describe(data)}`);
  if (labels != null && (!Array.isArray(labels) || labels.length !== data.length)) {
    throw invalid(`${what}: options.labels must be an array with one entry per sample (${data.length}), got ` +
      `${Array.isArray(labels) ? labels.length : describe(labels)}`);
  }
  if (validation != null) {
    if (typeof validation !== 'object' || !Array.isArray(validation.data))
      throw invalid(`${what}: options.validation must be {data: [...], labels?: [...]}, got ${describe(validation)}`);
    if (validation.labels != null && (!Array.isArray(validation.labels) || validation.labels.length !== validation.data.length)) {
      throw invalid(`${what}: options.validation.labels must be an array with one entry per validation sample ` +
        `(${validation.data.length}), got ${Array.isArray(validation.labels) ? validation.labels.length : describe(validation.labels)}`);
    }
  }
  if (quantizationAware && calibration != null) checkSamples(calibration, `${what}: options.calibration`);
  return {
    data, labels, validation, calibration,
    augment: checkCallback(options.augment, `${what}: options.augment`),
    onProgress: checkCallback(options.onProgress, `${what}: options.onProgress`),
    signal: checkAbortSignal(options.signal, what),
  };
}

async function runTraining(m, tuner, training, options, quantizationAware) {
  const what = quantizationAware ? 'finetune' : 'train';
  const { data, labels, validation, calibration, augment, onProgress, signal } = options;
  const call = (fn) => callWasm(m, what, fn);
  const progress = progressReporter(onProgress, what);

  if (quantizationAware) {
    const calib = calibration ?? data.slice(0, training.calibrationSamples);
    const total = Array.isArray(calib) ? calib.length : null;
    let index = 0;
    for await (const sample of samplesOf(calib, `${what}: options.calibration`)) {
      checkSignal(signal, 'calibration');
      const list = feedList(sample, `calibration sample ${index}`);
      unwrap(call(() => tuner.calibrate(list)));
      index += 1;
      progress({ stage: 'calibrate', done: index, total });
      await nextTick();
    }
    if (index === 0) throw invalid(`${what}: the calibration set is empty`);
  }

  const bs = training.batchSize;
  const perEpoch = Math.ceil(data.length / bs);
  let total = training.epochs * perEpoch;
  if (training.maxSteps > 0) total = Math.min(total, training.maxSteps);
  unwrap(call(() => tuner.setTotalSteps(total)));
  unwrap(call(() => tuner.begin(labels != null)));

  const evaluate = async (set) => {
    let loss = 0, correct = 0, counted = 0, rows = 0;
    for (let first = 0; first < set.data.length; first += bs) {
      checkSignal(signal, 'evaluation');
      const idx = Array.from({ length: Math.min(bs, set.data.length - first) }, (_, k) => first + k);
      const list = feedList(batchFeeds(set.data, idx, `${what} validation`), `${what} validation`);
      const l = batchLabels(set.labels ?? null, idx, batchRows(list, `${what} validation`), `${what} validation`);
      const r = unwrap(call(() => tuner.evaluate(list, l))).value;
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
      const batch = `${what} batch ${step}`;
      let feeds = batchFeeds(data, idx, batch);
      if (augment) {
        try {
          feeds = await augment(feeds, { epoch, step, indices: idx });
        } catch (e) {
          throw callerError(e, `${what}: options.augment threw at batch ${step}`);
        }
        if (feeds == null || typeof feeds !== 'object' || Array.isArray(feeds)) {
          throw invalid(`${what}: options.augment returned ${describe(feeds)} at batch ${step}; it must return the ` +
            'feeds to train on (an object mapping input names to tensors)');
        }
      }
      const source = augment ? `${batch} (from options.augment)` : batch;
      const list = feedList(feeds, source);
      const l = batchLabels(labels, idx, batchRows(list, source), batch);
      const r = unwrap(call(() => tuner.step(list, l))).value;
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
  const out = unwrap(call(() => tuner.finish()));
  progress({ stage: 'export', done: 1, total: 1 });
  const report = JSON.parse(out.report);
  report.training.history = history;
  report.training.seconds = (Date.now() - start) / 1000;
  if (before) report.training.validationBefore = before;
  return { bytes: out.bytes, report };
}

function createTuner(m, model, recipeJson, quantizationAware, what) {
  const handle = handleOf(model, m, what);
  const tuner = callWasm(m, what, () => new m.WasmFineTuner());
  try {
    unwrap(callWasm(m, what, () => tuner.create(handle, recipeJson, quantizationAware)));
  } catch (e) {
    release(m, tuner);
    throw e;
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
 * options.augment(batchFeeds, {epoch, step, indices}): returns the feeds to train on,
 *   or a promise of them (data augmentation; the batch is a fresh copy, it may be
 *   changed in place);
 * options.onProgress({stage, epoch, step, total, loss, accuracy, learningRate, samplesPerSecond}),
 * options.signal (AbortSignal).
 * Returns {model, bytes, report, recipe}; report.training has the history. The input
 * model is not modified.
 */
export async function finetune(model, recipe, options) {
  return guardedAsync('finetune', async () => {
    const opts = checkTrainingOptions(optionsObject(options, 'finetune'), 'finetune', true);
    if (!(model instanceof Model)) throw invalid(`finetune: model must be a Model, got ${describe(model)}`);
    const text = recipeText(recipe, 'finetune');
    await init();
    const m = requireModule();
    checkSignal(opts.signal, 'fine-tuning');
    const tuner = createTuner(m, model, text, true, 'finetune');
    try {
      const normalized = JSON.parse(callWasm(m, 'finetune', () => tuner.recipe()));
      const { bytes, report } = await runTraining(m, tuner, normalized.training, opts, true);
      report.sizes.floatModelBytes = model.summary().modelBytes;
      report.sizes.ratio = bytes.length / report.sizes.floatModelBytes;
      const tuned = Model.loadSync(bytes);
      const keep = normalized.report.samples;
      const sample = opts.validation?.data ?? opts.data;
      if (keep > 0) {
        const progress = progressReporter(opts.onProgress, 'finetune');
        try {
          report.comparison = await compare(model, tuned, sample.slice(0, keep), {
            signal: opts.signal ?? undefined,
            onProgress: (p) => progress({ stage: 'report', done: p.done, total: p.total }),
          });
        } catch (e) {
          tuned.dispose();
          throw e;
        }
      }
      return { model: tuned, bytes, report, recipe: normalized };
    } finally {
      release(m, tuner);
    }
  });
}

/**
 * Plain float training of `model` by `training` (the recipe's training section:
 * epochs, batchSize, learningRate, optimizer, loss, seed, initialize "random" to
 * start from fresh weights). Options as finetune() (no calibration).
 * Returns {model, bytes, report, training}.
 */
export async function train(model, training, options) {
  return guardedAsync('train', async () => {
    const opts = checkTrainingOptions(optionsObject(options, 'train'), 'train', false);
    if (!(model instanceof Model)) throw invalid(`train: model must be a Model, got ${describe(model)}`);
    if (training != null && (typeof training !== 'object' || Array.isArray(training)))
      throw invalid(`train: training must be an object (the recipe's training section), got ${describe(training)}`);
    const text = `{"mode":"static","training":${recipeText(training ?? {}, 'train', 'training')}}`;
    await init();
    const m = requireModule();
    checkSignal(opts.signal, 'training');
    const tuner = createTuner(m, model, text, false, 'train');
    try {
      const normalized = JSON.parse(callWasm(m, 'train', () => tuner.recipe())).training;
      const { bytes, report } = await runTraining(m, tuner, normalized, opts, false);
      return { model: Model.loadSync(bytes), bytes, report, training: normalized };
    } finally {
      release(m, tuner);
    }
  });
}

/** Names of every operator the runtime implements ("Conv", "com.microsoft:...", ...). */
export function supportedOps() {
  return guarded('supportedOps', () => {
    const m = requireModule();
    return callWasm(m, 'supportedOps', () => m.supportedOps());
  });
}

/** Current size of the WASM linear memory in bytes (its high-water mark: it never shrinks). */
export function heapSize() {
  return guarded('heapSize', () => {
    const m = requireModule();
    return callWasm(m, 'heapSize', () => m.heapSize());
  });
}

export { DTYPES };
