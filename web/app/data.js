// Step 3, the data: image preprocessing options, symbolic dims, files, folders
// and drops, the bundled and generated inputs, and the data summary with previews.
import { imageGeometry, isSymbolic, shapeText, defaultValidationCount } from '../../bindings/js/data.js';
import { $, dropZone } from './ui.js';
import { S } from './state.js';
import { task, call, showError } from './tasks.js';
import { updateLearnFrom, renderQatSplit } from './recipe_form.js';
import { renderResults } from './results.js';
import { updateButtons } from './buttons.js';

export function setImageOptions(o) {
  $('img-height').value = o.height ?? '';
  $('img-width').value = o.width ?? '';
  $('img-order').value = o.order ?? 'RGB';
  $('img-layout').value = o.layout ?? 'NCHW';
  $('img-mean').value = o.mean ?? '0';
  $('img-std').value = o.std ?? '1';
  $('img-invert').checked = Boolean(o.invert);
}

export function setImageOptionsFromModel(summary) {
  const g = summary.inputs.length === 1 ? imageGeometry(summary.inputs[0]) : null;
  setImageOptions({ height: g?.height ?? '', width: g?.width ?? '', layout: g?.layout ?? 'NCHW', order: 'RGB', mean: '0', std: '1' });
}

export function imageOptions() {
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
export function renderDims() {
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

export function dimsValues() {
  const dims = {};
  for (const inp of $('dims').querySelectorAll('input[data-dim]')) if (inp.value) dims[inp.dataset.dim] = Number(inp.value);
  return dims;
}

export async function setData(spec, name) {
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

export function renderData() {
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

export async function useBundledData() {
  const ex = S.model?.example;
  if (!ex?.data) return;
  const o = imageOptions();
  const spec = ex.data.kind === 'mnist'
    ? { kind: 'mnist', options: { url: new URL('../assets/mnist_samples.bin', import.meta.url).href } }
    : { kind: 'text', options: { count: ex.data.count, flipHalf: Boolean(ex.data.flipHalf), height: o.height, width: o.width } };
  await setData(spec, 'Bundled data');
}

export function filesFromInput(input) {
  return Array.from(input.files, (f) => ({ file: f, path: f.webkitRelativePath || f.name }));
}

export function initDataPanel() {
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

  // Dropping a file anywhere else must not navigate away from the app.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}
