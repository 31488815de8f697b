// webquant/worker: a module Worker that owns the WASM engine, a float model, its
// quantized version and a data set, and does every heavy step so a page never
// freezes. The web app (web/) uses it as it is; any app can:
//
//   const worker = new Worker(import.meta.resolve('webquant/worker'), { type: 'module' });
//   // or, with the page's side of the protocol (request ids, progress, cancel, restart):
//   //   import { WorkerClient } from 'webquant/worker-client';
//   //   const client = new WorkerClient(import.meta.resolve('webquant/worker'));
//
// Protocol (bindings/js/worker_client.js is the page's side; types in worker.d.ts):
//   page -> worker  {id, type, ...args}             one request; ArrayBuffers arrive transferred
//                   {type: 'cancel', target: id}    abort request `id` (queued or running)
//   worker -> page  {id, type: 'progress', stage, done, total, detail?}   detail: finetune()'s progress object
//                   {id, type: 'done', result}       buffers in `result` are transferred
//                   {id, type: 'error', error: {name, code, message}}
// Requests run one at a time in arrival order; cancel is handled at once. Long
// loops yield to the event loop between samples so a cancel is seen promptly;
// if a single WASM call runs too long the page terminates this worker and
// starts a fresh one (see WorkerClient.cancel).
//
// Loaded as a Worker, the module answers messages on its own global scope.
// Imported anywhere else (a test, a worker of your own) it only exports
// serve(scope), which answers the messages of any {onmessage, postMessage}
// object, and registerDataSource(kind, fn), which adds a setData kind.
import * as wq from './index.js';
import {
  parseNpy, parseNpz, isNpy, isZip,
  DataError, samplesFromArrays, splitArray, parseLabelsCsv, indexLabels, pixelsToTensor, generatedSamples,
  checkSamples, splitCalibEval, splitTrainValidation, isLabelName, labelsFromArray, shapeText, concreteShape,
  parseMnistSamples, textImage,
} from './data.js';

const { init, Model, WebquantError } = wq;

const state = {
  float: null,        // {model: Model, summary, name}
  quant: null,        // {model: Model, bytes: number, report, recipe, summary}
  data: null,         // {samples, kind, weak, labelled, classNames, notes}
};
const jobs = new Map();  // id -> AbortController
let queue = Promise.resolve();

const IMAGE_EXT = /\.(png|jpe?g|webp|bmp|gif|avif)$/i;
const tick = () => new Promise((r) => setTimeout(r, 0));

class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
    this.code = 'CANCELLED';
  }
}
const throwIfAborted = (signal) => { if (signal.aborted) throw new CancelledError(); };

/**
 * Answers the protocol's messages arriving on `scope` (a worker's global scope,
 * a MessagePort, or any object with onmessage and postMessage). One engine
 * state per module: serve one scope per worker.
 */
export function serve(scope) {
  scope.onmessage = (e) => {
    const msg = e.data;
    if (msg.type === 'cancel') {
      jobs.get(msg.target)?.abort();
      return;
    }
    const ctl = new AbortController();
    jobs.set(msg.id, ctl);
    queue = queue.then(() => handle(scope, msg, ctl.signal)).finally(() => jobs.delete(msg.id));
  };
  return scope;
}

async function handle(scope, msg, signal) {
  const progress = (stage, done, total = null, detail = undefined) =>
    scope.postMessage({ id: msg.id, type: 'progress', stage, done, total, detail });
  try {
    throwIfAborted(signal);
    const fn = Object.hasOwn(HANDLERS, msg.type) ? HANDLERS[msg.type] : null;
    if (!fn) throw new DataError(`worker: unknown request '${msg.type}'`);
    const out = (await fn(msg, { signal, progress })) ?? {};
    scope.postMessage({ id: msg.id, type: 'done', result: out.result }, out.transfer ?? []);
  } catch (err) {
    scope.postMessage({ id: msg.id, type: 'error', error: serializeError(err, signal) });
  }
}

// setData kinds beyond the built-in ones: kind -> async (inputs, options, {signal, progress}) -> data.
const dataSources = new Map();

/**
 * Adds a setData kind: `fn(inputs, options, {signal, progress})` returns (or
 * resolves to) {samples, kind?, weak?, source?, notes?, classNames?}, samples as
 * in webquant/data ({feeds, label?, name?}). Call it before the first message.
 */
export function registerDataSource(kind, fn) {
  if (typeof kind !== 'string' || !kind || BUILTIN_KINDS.includes(kind)) throw new TypeError(`registerDataSource: kind must be a new name, got ${JSON.stringify(kind)}`);
  if (typeof fn !== 'function') throw new TypeError('registerDataSource: fn must be a function');
  dataSources.set(kind, fn);
}
const BUILTIN_KINDS = ['files', 'generated', 'mnist', 'text'];

function serializeError(err, signal) {
  if (signal?.aborted || err?.code === 'CANCELLED' || err?.name === 'AbortError') {
    return { name: 'CancelledError', code: 'CANCELLED', message: 'cancelled' };
  }
  return {
    name: err?.name ?? 'Error',
    code: err?.code ?? 'INTERNAL',
    message: String(err?.message ?? err),
  };
}

function requireFloat() {
  if (!state.float) throw new DataError('load a model first');
  return state.float;
}
function requireData() {
  if (!state.data || !state.data.samples.length) throw new DataError('add calibration/evaluation data first');
  return state.data;
}
function requireQuant() {
  if (!state.quant) throw new DataError('quantize the model first');
  return state.quant;
}

function disposeQuant() {
  state.quant?.model.dispose();
  state.quant = null;
}

const HANDLERS = {
  async init() {
    await init();
    return {
      result: {
        supportedOps: wq.supportedOps(), hasQuantize: typeof wq.quantize === 'function', hasCompare: typeof wq.compare === 'function',
        hasFinetune: typeof wq.finetune === 'function',
      },
    };
  },

  // {bytes: ArrayBuffer, name} -> {summary}
  async loadModel({ bytes, name }, { progress }) {
    progress('load', 0, 1);
    await init();
    const model = await Model.load(new Uint8Array(bytes));
    disposeQuant();
    state.float?.model.dispose();
    state.float = { model, summary: model.summary(), name };
    // Data prepared for another model's inputs does not carry over.
    if (state.data && !dataFits(state.data, model)) state.data = null;
    progress('load', 1, 1);
    return { result: { summary: state.float.summary, name, dataKept: state.data !== null } };
  },

  // Reloads a quantized model after a worker restart: {bytes, report, recipe}.
  async loadQuantized({ bytes, report, recipe }) {
    await init();
    const model = await Model.load(new Uint8Array(bytes));
    disposeQuant();
    state.quant = { model, bytes: bytes.byteLength, report, recipe, summary: model.summary() };
    return { result: { summary: state.quant.summary } };
  },

  // {kind, files?, options} -> dataset description + previews
  async setData(msg, ctx) {
    const { model, summary } = requireFloat();
    const options = msg.options ?? {};
    let data;
    if (msg.kind === 'files') data = await dataFromFiles(msg.files, summary.inputs, options, ctx);
    else if (msg.kind === 'generated') data = dataGenerated(summary.inputs, options);
    else if (msg.kind === 'mnist') data = await dataMnist(summary.inputs, options, ctx);
    else if (msg.kind === 'text') data = await dataText(summary.inputs, options, ctx);
    else if (dataSources.has(msg.kind)) data = { kind: msg.kind, weak: false, source: msg.kind, notes: [], ...(await dataSources.get(msg.kind)(summary.inputs, options, ctx)) };
    else throw new DataError(`unknown data kind '${msg.kind}'`);
    checkSamples(summary.inputs, data.samples);
    // One trial run catches a wrong size or type before anyone waits for calibration.
    ctx.progress('check', 0, 1);
    try {
      model.run(data.samples[0].feeds);
    } catch (e) {
      throw new DataError(`the model rejects sample 0 (${data.samples[0].name}): ${e.message}`);
    }
    state.data = data;
    const previews = makePreviews(data.samples.slice(0, 8), summary.inputs);
    return { result: describeData(data, previews), transfer: previews.map((p) => p.rgba.buffer) };
  },

  // The engine's validation of a recipe (every default filled in, errors name the field).
  async normalizeRecipe({ recipe }) {
    await init();
    if (typeof wq.normalizeRecipe !== 'function') throw new WebquantError('UNSUPPORTED', 'this build of webquant has no normalizeRecipe()');
    return { result: { recipe: wq.normalizeRecipe(recipe) } };
  },

  async clearData() {
    state.data = null;
    return { result: {} };
  },

  // Float (or quantized) accuracy/top-1 on the evaluation samples, without quantize():
  // {which, calib | validation} -> {count, accuracy, outputs}
  async evaluate(msg, { signal, progress }) {
    const which = msg.which ?? 'float';
    const { model } = which === 'quant' ? requireQuant() : requireFloat();
    const data = requireData();
    const split = splitOf(data, msg);
    let correct = 0, labelled = 0;
    const outName = model.outputs[0].name;
    for (const [k, i] of split.eval.entries()) {
      throwIfAborted(signal);
      const out = model.run(data.samples[i].feeds, { outputs: [outName] })[outName];
      const label = data.samples[i].label;
      if (label !== undefined) {
        ++labelled;
        if (argmax(out.data) === label) ++correct;
      }
      progress('evaluate', k + 1, split.eval.length);
      await tick();
    }
    return { result: { count: split.eval.length, heldOut: split.heldOut, labelled, accuracy: labelled ? correct / labelled : null } };
  },

  // Median latency of N runs on the first evaluation sample: {which, runs, warmup, calib | validation}
  async bench(msg, { signal, progress }) {
    const { which = 'float', runs = 10, warmup = 1 } = msg;
    const { model } = which === 'quant' ? requireQuant() : requireFloat();
    const data = requireData();
    const split = splitOf(data, msg);
    const feeds = data.samples[split.eval[0]].feeds;
    const stage = `benchmark ${which === 'quant' ? 'quantized' : 'float'}`;
    for (let i = 0; i < warmup; ++i) { throwIfAborted(signal); model.run(feeds); await tick(); }
    const times = [];
    for (let i = 0; i < runs; ++i) {
      throwIfAborted(signal);
      const t0 = performance.now();
      model.run(feeds);
      times.push(performance.now() - t0);
      progress(stage, i + 1, runs);
      await tick();
    }
    const sorted = [...times].sort((x, y) => x - y);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    return { result: { which, runs, median, min: sorted[0], max: sorted[sorted.length - 1], times } };
  },

  // {recipe, calib} -> {bytes (transferred), report, recipe, summary}
  async quantize({ recipe, calib }, { signal, progress }) {
    if (typeof wq.quantize !== 'function') {
      throw new WebquantError('UNSUPPORTED', 'this build of webquant has no quantize() yet');
    }
    const { model } = requireFloat();
    const data = state.data;
    const options = {
      signal,
      onProgress: (p) => progress(p.stage, p.done, p.total ?? null),
    };
    if (data && data.samples.length) {
      const split = splitCalibEval(data.samples.length, calib ?? data.samples.length);
      // An array, so progress knows the total; quantize() yields between samples and checks the signal.
      options.calibration = split.calib.map((i) => data.samples[i].feeds);
    } else if (recipe.mode === 'static') {
      throw new DataError('static quantization needs calibration data: add images, arrays or generated inputs');
    }
    progress('prepare', 0, null);
    const r = await wq.quantize(model, recipe, options);
    throwIfAborted(signal);
    disposeQuant();
    const bytes = r.bytes.slice();  // our copy travels to the page; the Model keeps its own
    state.quant = { model: r.model, bytes: bytes.byteLength, report: r.report, recipe: r.recipe, summary: r.model.summary() };
    return {
      result: { bytes: bytes.buffer, report: r.report, recipe: r.recipe, summary: state.quant.summary },
      transfer: [bytes.buffer],
    };
  },

  // Quantization-aware fine-tuning on the loaded data (see splitTrainValidation):
  // {recipe (static + training), validation: number held out at the end, learnFrom: 'labels' | 'float'}
  //   -> as quantize(); progress carries finetune()'s per-step object as `detail`.
  async finetune({ recipe, validation = 0, learnFrom = 'labels' }, { signal, progress }) {
    if (typeof wq.finetune !== 'function') {
      throw new WebquantError('UNSUPPORTED', 'this build of webquant has no finetune()');
    }
    const { model } = requireFloat();
    const data = requireData();
    const split = splitTrainValidation(data.samples.length, validation);
    const train = split.train.map((i) => data.samples[i]);
    const held = split.heldOut ? split.eval.map((i) => data.samples[i]) : [];
    if (learnFrom === 'labels') {
      const missing = [...train, ...held].find((s) => s.label === undefined);
      if (missing) {
        throw new DataError(`learning from labels needs a label for every sample; ${missing.name} has none ` +
          '(load labelled data, or learn from the float model)');
      }
    } else if (learnFrom !== 'float') {
      throw new DataError(`learnFrom: '${learnFrom}' is not 'labels' or 'float'`);
    }
    const options = {
      signal,
      data: train.map((s) => s.feeds),
      onProgress: (p) => {
        if (p.stage === 'evaluate') progress('validate', p.epoch, recipe.training?.epochs ?? null, p);
        else progress(p.stage, p.done ?? 0, p.total ?? null, p);
      },
    };
    if (learnFrom === 'labels') options.labels = train.map((s) => s.label);
    if (held.length) {
      options.validation = { data: held.map((s) => s.feeds) };
      // A label-free run still scores held-out samples against their labels when they have them.
      if (held.every((s) => s.label !== undefined)) options.validation.labels = held.map((s) => s.label);
    }
    progress('prepare', 0, null);
    const r = await wq.finetune(model, recipe, options);
    throwIfAborted(signal);
    disposeQuant();
    const bytes = r.bytes.slice();  // our copy travels to the page; the Model keeps its own
    state.quant = { model: r.model, bytes: bytes.byteLength, report: r.report, recipe: r.recipe, summary: r.model.summary() };
    return {
      result: {
        bytes: bytes.buffer, report: r.report, recipe: r.recipe, summary: state.quant.summary,
        split: { train: train.length, validation: held.length, labelledValidation: Boolean(options.validation?.labels) },
      },
      transfer: [bytes.buffer],
    };
  },

  // {calib | validation} -> compare() report on the evaluation samples
  async compare(msg, { signal, progress }) {
    if (typeof wq.compare !== 'function') throw new WebquantError('UNSUPPORTED', 'this build of webquant has no compare() yet');
    const { model } = requireFloat();
    const quant = requireQuant();
    const data = requireData();
    const split = splitOf(data, msg);
    const options = { signal, onProgress: (p) => progress(p.stage ?? 'compare', p.done, p.total ?? null) };
    const evalSamples = split.eval.map((i) => data.samples[i]);
    if (evalSamples.every((s) => s.label !== undefined)) options.labels = evalSamples.map((s) => s.label);
    const report = await wq.compare(model, quant.model, split.eval.map((i) => data.samples[i].feeds), options);
    return { result: { report, evalCount: evalSamples.length, heldOut: split.heldOut } };
  },

  // Float and quantized outputs that look like images (e.g. a detection map), on one evaluation sample.
  async maps(msg) {
    const { maxSide = 1024 } = msg;
    const { model } = requireFloat();
    const quant = requireQuant();
    const data = requireData();
    const split = splitOf(data, msg);
    const feeds = data.samples[split.eval[0]].feeds;
    const f = model.run(feeds);
    const q = quant.model.run(feeds);
    const maps = [];
    const transfer = [];
    for (const [name, t] of Object.entries(f)) {
      const geo = mapGeometry(t.shape);
      if (!geo || !q[name] || t.dtype !== 'float' || q[name].data.length !== t.data.length) continue;
      if (geo.height > maxSide || geo.width > maxSide) continue;
      const fl = Float32Array.from(t.data.subarray(0, geo.height * geo.width));
      const qu = Float32Array.from(q[name].data.subarray(0, geo.height * geo.width));
      maps.push({ name, ...geo, float: fl, quant: qu });
      transfer.push(fl.buffer, qu.buffer);
    }
    return { result: { maps, sample: data.samples[split.eval[0]].name }, transfer };
  },
};

// The evaluation samples of a request: after fine-tuning, the held-out tail
// ({validation: n}, splitTrainValidation); otherwise the samples that did not
// calibrate ({calib: n}, splitCalibEval).
function splitOf(data, { calib, validation }) {
  const n = data.samples.length;
  if (validation !== undefined && validation !== null) return splitTrainValidation(n, validation);
  return splitCalibEval(n, calib ?? n);
}

function argmax(data) {
  let best = 0;
  for (let i = 1; i < data.length; ++i) if (data[i] > data[best]) best = i;
  return best;
}

// [1, 1, H, W], [1, H, W] or [H, W] float outputs with both sides >= 8 are shown as maps.
function mapGeometry(shape) {
  const s = shape.filter((d, i) => !(d === 1 && i < shape.length - 2));
  if (s.length !== 2 || s[0] < 8 || s[1] < 8) return null;
  return { height: s[0], width: s[1] };
}

// Data prepared for one model carries over to the next only if the new model accepts it.
function dataFits(data, model) {
  try {
    checkSamples(model.inputs, data.samples.slice(0, 1));
    model.run(data.samples[0].feeds);
    return true;
  } catch {
    return false;
  }
}

function describeData(data, previews) {
  const first = data.samples[0];
  const labelled = data.samples.filter((s) => s.label !== undefined).length;
  const classes = new Set(data.samples.map((s) => s.label).filter((l) => l !== undefined));
  return {
    kind: data.kind,
    source: data.source,
    weak: data.weak,
    count: data.samples.length,
    labelled,
    numClasses: classes.size,
    classNames: data.classNames ?? null,
    notes: data.notes ?? [],
    shapes: Object.fromEntries(Object.entries(first.feeds).map(([k, t]) => [k, t.shape])),
    previews,
  };
}

// Up to 8 thumbnails (RGBA, at most 96 px a side) of image-like inputs, min-max scaled per sample.
function makePreviews(samples, inputs) {
  const info = inputs[0];
  const out = [];
  for (const s of samples) {
    const t = s.feeds[info.name];
    if (!t || t.shape.length !== 4 || !(t.data instanceof Float32Array)) break;
    let layout;
    if (t.shape[1] === 1 || t.shape[1] === 3) layout = 'NCHW';
    else if (t.shape[3] === 1 || t.shape[3] === 3) layout = 'NHWC';
    else break;
    const [c, h, w] = layout === 'NCHW' ? [t.shape[1], t.shape[2], t.shape[3]] : [t.shape[3], t.shape[1], t.shape[2]];
    let lo = Infinity, hi = -Infinity;
    for (const v of t.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const range = hi > lo ? hi - lo : 1;
    const k = Math.max(1, Math.ceil(Math.max(h, w) / 96));
    const ph = Math.ceil(h / k), pw = Math.ceil(w / k);
    const rgba = new Uint8ClampedArray(ph * pw * 4);
    // Box-filter each k x k block so thin strokes survive the downscale.
    for (let y = 0; y < ph; ++y) {
      for (let x = 0; x < pw; ++x) {
        for (let ch = 0; ch < 3; ++ch) {
          const cc = c === 1 ? 0 : ch;
          let sum = 0, n = 0;
          for (let sy = y * k; sy < Math.min(h, (y + 1) * k); ++sy) {
            for (let sx = x * k; sx < Math.min(w, (x + 1) * k); ++sx) {
              sum += t.data[layout === 'NCHW' ? cc * h * w + sy * w + sx : (sy * w + sx) * c + cc];
              ++n;
            }
          }
          rgba[(y * pw + x) * 4 + ch] = ((sum / n - lo) / range) * 255;
        }
        rgba[(y * pw + x) * 4 + 3] = 255;
      }
    }
    out.push({ width: pw, height: ph, rgba, label: s.label ?? null, name: s.name });
  }
  return out;
}

function dataGenerated(inputs, { count = 16, seed = 1, low = -1, high = 1, dims = {} }) {
  const samples = generatedSamples(inputs, count, { seed, low, high, dims });
  return {
    samples, kind: 'generated', weak: true, source: `${count} generated inputs, uniform in [${low}, ${high}]`,
    notes: ['Generated inputs only exercise the model; calibration ranges and accuracy from them say little about your real data.'],
  };
}

// Labelled digits in the "WQMN" format (webquant/data, parseMnistSamples) at `url`
// (absolute, or relative to the worker script).
async function dataMnist(inputs, { url }, { progress }) {
  if (typeof url !== 'string' || !url) throw new DataError('mnist data: options.url must name a .bin file of labelled digits');
  progress('read data', 0, 1);
  const res = await fetch(new URL(url, import.meta.url));
  if (!res.ok) throw new DataError(`bundled MNIST digits: HTTP ${res.status} for ${url}`);
  const set = parseMnistSamples(await res.arrayBuffer());
  if (inputs.length !== 1) throw new DataError('the bundled MNIST digits feed single-input models only');
  const { tensors, note } = splitArray({ dtype: 'float', shape: [set.count, 1, 28, 28], data: set.images }, inputs[0], 'mnist_samples.bin');
  const samples = tensors.map((t, i) => ({ feeds: { [inputs[0].name]: t }, label: set.labels[i], name: `digit ${i}` }));
  progress('read data', 1, 1);
  return {
    samples, kind: 'mnist', weak: false, source: `${set.count} MNIST test digits (bundled, labelled)`,
    notes: note ? [note] : [],
  };
}

// Synthetic text-line images (webquant/data, textImage; for the PP-OCR models).
// With `flipHalf`, every second image is upside down (variety for the text-direction
// classifier). They carry no labels: the classifier does not tell these synthetic
// lines' orientation reliably, so an "accuracy" on them would mean nothing.
async function dataText(inputs, { count = 16, height, width, flipHalf = false, seed = 1 }, { progress }) {
  const info = inputs[0];
  const shape = concreteShape(info, { 2: height, 3: width });
  const samples = [];
  for (let i = 0; i < count; ++i) {
    const flipped = flipHalf && i % 2 === 1;
    const img = textImage(shape[2], shape[3], { seed: seed + i, flipped });
    samples.push({ feeds: { [info.name]: { data: img.data, shape: img.shape, dtype: 'float' } }, name: `text image ${i}${flipped ? ' (upside down)' : ''}` });
    progress('generate', i + 1, count);
    if (i % 4 === 3) await tick();
  }
  return {
    samples, kind: 'text', weak: true, source: `${count} synthetic text-line images ${shape[2]}x${shape[3]}${flipHalf ? ', every second one upside down' : ''}`,
    notes: ['Synthetic text-like images (textImage of webquant/data): closer to real input than noise, but not your data.'],
  };
}

// Files dropped or picked in the page: [{file: File, path: string}].
async function dataFromFiles(entries, inputs, options, { signal, progress }) {
  const images = entries.filter((e) => IMAGE_EXT.test(e.path));
  const arrays = entries.filter((e) => /\.(npy|npz)$/i.test(e.path));
  const csvs = entries.filter((e) => /\.(csv|txt)$/i.test(e.path));
  const other = entries.filter((e) => !images.includes(e) && !arrays.includes(e) && !csvs.includes(e));
  const notes = other.length ? [`ignored ${other.length} file(s) of other types (${other.slice(0, 3).map((e) => e.path).join(', ')}${other.length > 3 ? ', ...' : ''})`] : [];
  if (images.length && arrays.length) throw new DataError('drop either image files or .npy/.npz arrays, not both');
  if (!images.length && !arrays.length) throw new DataError(`no images (.png, .jpg, .webp, .bmp, .gif) or arrays (.npy, .npz) among ${entries.length} file(s)`);
  if (csvs.length > 1) throw new DataError(`more than one labels file: ${csvs.map((e) => e.path).join(', ')}`);
  const csv = csvs.length ? parseLabelsCsv(await csvs[0].file.text(), csvs[0].path) : null;
  let data;
  if (images.length) data = await dataImages(images, inputs, options, csv, { signal, progress });
  else data = await dataArrays(arrays, inputs, options, csv, { signal, progress });
  data.notes = [...notes, ...(data.notes ?? [])];
  return data;
}

async function dataArrays(entries, inputs, options, csv, { signal, progress }) {
  const sorted = [...entries].sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
  const named = {};
  const notes = [];
  let samples = [];
  let labels = null;
  let done = 0;
  for (const e of sorted) {
    throwIfAborted(signal);
    const bytes = new Uint8Array(await e.file.arrayBuffer());
    const base = e.path.replace(/^.*\//, '');
    if (/\.npz$/i.test(base)) {
      if (!isZip(bytes)) throw new DataError(`${e.path}: not an .npz (zip) archive`);
      const { arrays } = await parseNpz(bytes, undefined, e.path);
      const r = samplesFromArrays(inputs, arrays, e.path, options.dims ?? {});
      samples.push(...r.samples);
      notes.push(...r.notes);
    } else {
      if (!isNpy(bytes)) throw new DataError(`${e.path}: not a .npy file`);
      const arr = parseNpy(bytes, e.path);
      if (isLabelName(base)) {
        if (labels) throw new DataError(`more than one labels array (${e.path})`);
        labels = labelsFromArray(arr, e.path);
      } else named[base.replace(/\.npy$/i, '')] = { arr, path: e.path };
    }
    progress('read data', ++done, sorted.length);
    await tick();
  }
  const keys = Object.keys(named);
  if (keys.length) {
    if (inputs.every((i) => named[i.name])) {
      const r = samplesFromArrays(inputs, Object.fromEntries(keys.map((k) => [k, named[k].arr])), 'arrays', options.dims ?? {});
      samples.push(...r.samples);
      notes.push(...r.notes);
    } else if (inputs.length === 1) {
      for (const k of keys) {
        const r = splitArray(named[k].arr, inputs[0], named[k].path, options.dims ?? {});
        if (r.note) notes.push(r.note);
        r.tensors.forEach((t, n) => samples.push({ feeds: { [inputs[0].name]: t }, name: `${named[k].path}[${n}]` }));
      }
    } else {
      throw new DataError(`name the .npy files after the model inputs (${inputs.map((i) => i.name + '.npy').join(', ')}); got ${keys.map((k) => k + '.npy').join(', ')}`);
    }
  }
  if (!samples.length) throw new DataError('the arrays hold no samples');
  const tokens = labels ?? (csv ? csv.list : null);
  if (tokens) {
    if (samples.some((s) => s.label !== undefined)) throw new DataError('labels given twice (inside the .npz and as a separate file)');
    if (tokens.length !== samples.length) throw new DataError(`${tokens.length} labels for ${samples.length} samples`);
    const { indices, classNames } = indexLabels(tokens.map(String));
    samples = samples.map((s, i) => ({ ...s, label: indices[i] }));
    return { samples, kind: 'arrays', weak: false, source: describeFiles(entries), notes, classNames };
  }
  return { samples, kind: 'arrays', weak: false, source: describeFiles(entries), notes };
}

function describeFiles(entries) {
  return entries.length === 1 ? entries[0].path : `${entries.length} files`;
}

// Decodes, resizes and normalises images. options: {height, width, order, mean, std, layout, invert, labels: 'auto'|'folder'|'csv'|'none'}
async function dataImages(entries, inputs, options, csv, { signal, progress }) {
  if (inputs.length !== 1) throw new DataError(`images feed single-input models; this model has ${inputs.length} inputs`);
  const info = inputs[0];
  const shape = info.shape;
  if (!shape || shape.length !== 4) throw new DataError(`input '${info.name}' has shape ${shape ? shapeText(shape) : 'unknown'}; images need a 4-D input`);
  const layout = options.layout ?? 'NCHW';
  const channels = layout === 'NCHW' ? shape[1] : shape[3];
  if (channels !== 1 && channels !== 3) throw new DataError(`input '${info.name}' ${shapeText(shape)} in ${layout} has ${channels} channels; images give 1 or 3`);
  const height = Number(options.height), width = Number(options.width);
  if (!(height > 0 && width > 0)) throw new DataError('set the image height and width');
  const sorted = [...entries].sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
  // Labels: a CSV (by file name, or in sorted file order), else the parent folder when images sit in 2+ folders.
  const parents = sorted.map((e) => e.path.split('/').slice(-2, -1)[0] ?? '');
  const mode = options.labels ?? 'auto';
  let tokens = null;
  if ((mode === 'csv' || mode === 'auto') && csv) {
    if (csv.byName) {
      tokens = sorted.map((e) => {
        const base = e.path.replace(/^.*\//, '');
        if (!csv.byName.has(base)) throw new DataError(`labels CSV has no row for ${base}`);
        return csv.byName.get(base);
      });
    } else {
      if (csv.list.length !== sorted.length) throw new DataError(`labels CSV has ${csv.list.length} labels for ${sorted.length} images`);
      tokens = csv.list;
    }
  } else if (mode === 'folder' || (mode === 'auto' && new Set(parents).size >= 2)) {
    if (parents.some((p) => !p)) throw new DataError('folder-per-class labels need every image inside a class folder');
    tokens = parents;
  } else if (mode === 'csv') throw new DataError('labels: no .csv file among the dropped files');
  const labels = tokens ? indexLabels(tokens) : null;
  const canvas = new OffscreenCanvas(width, height);
  const ctx2d = canvas.getContext('2d', { willReadFrequently: true });
  const samples = [];
  for (let i = 0; i < sorted.length; ++i) {
    throwIfAborted(signal);
    let bitmap;
    try {
      bitmap = await createImageBitmap(sorted[i].file);
    } catch (e) {
      throw new DataError(`${sorted[i].path}: cannot decode image (${e.message})`);
    }
    ctx2d.clearRect(0, 0, width, height);
    ctx2d.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const rgba = ctx2d.getImageData(0, 0, width, height).data;
    const data = pixelsToTensor(rgba, width, height, { ...options, channels, layout });
    const tshape = layout === 'NCHW' ? [1, channels, height, width] : [1, height, width, channels];
    samples.push({ feeds: { [info.name]: { data, shape: tshape, dtype: 'float' } }, label: labels ? labels.indices[i] : undefined, name: sorted[i].path });
    progress('read images', i + 1, sorted.length);
    if (i % 4 === 3) await tick();
  }
  const notes = [];
  if (labels?.classNames) notes.push(`classes (index order): ${labels.classNames.slice(0, 20).join(', ')}${labels.classNames.length > 20 ? ', ...' : ''}`);
  return { samples, kind: 'images', weak: false, source: describeFiles(entries), notes, classNames: labels?.classNames ?? null };
}

// Loaded as a module Worker: answer the page. (Imported elsewhere: exports only.)
if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) serve(globalThis);
