// Step 2, the method and the recipe form: the form's controls map to recipe
// paths (data-path), fieldsets show per method (data-modes), controls appear
// with a setting (data-when); "learn from" and the training/validation split;
// recipe import (validated by the engine) and reset.
import { defaultRecipe, completeRecipe, emitRecipe, formMode, activationDtype, dtypeBits } from '../../bindings/js/data.js';
import { $ } from './ui.js';
import { S } from './state.js';
import { client, showError } from './tasks.js';
import { renderOpHistogram } from './model.js';
import { updateButtons } from './buttons.js';
import { downloadRecipe } from './downloads.js';

const form = $('recipe-form');

export function currentMode() {
  return document.querySelector('input[name=mode]:checked')?.value ?? 'static';
}

export function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
export function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

export function readControl(el) {
  if (el.type === 'checkbox') return el.checked;
  const t = el.dataset.type;
  if (t === 'int') return el.value === '' ? NaN : Number(el.value);
  if (t === 'float') return el.value === '' ? NaN : Number(el.value);
  if (t === 'list') return el.value.split(/[\s,]+/).filter(Boolean);
  return el.value;
}

export function writeControl(el, v) {
  if (el.type === 'checkbox') el.checked = Boolean(v);
  else if (el.dataset.type === 'list') el.value = (v ?? []).join(', ');
  else if (el.dataset.type === 'float' && typeof v === 'number') el.value = String(Number(v.toPrecision(6)));  // 0.00999999978 -> 0.01
  else el.value = v ?? '';
}

/** The complete recipe the form shows (throws RecipeError on an invalid field). */
export function formRecipe() {
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

export function showRecipe(complete) {
  document.querySelector(`input[name=mode][value="${formMode(complete)}"]`).checked = true;
  for (const el of form.querySelectorAll('[data-path]')) {
    const v = getPath(complete, el.dataset.path);
    if (v !== undefined) writeControl(el, v);
  }
  updateForm();
}

export function updateForm() {
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

export function setMode(mode) {
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

export const fullyLabelled = () => Boolean(S.data && S.data.info.labelled > 0 && S.data.info.labelled === S.data.info.count);

export function updateLearnFrom(preferLabels = false) {
  const lf = $('learn-from');
  const labels = lf.options[0];
  labels.disabled = Boolean(S.data) && !fullyLabelled();
  labels.textContent = labels.disabled ? 'labels (the loaded data has none)' : 'labels (of the loaded data)';
  if (labels.disabled && lf.value === 'labels') lf.value = 'float';
  else if (preferLabels && !labels.disabled) lf.value = 'labels';
  if (lf.value === 'float' && lossSelect.value === 'cross-entropy') lossSelect.value = 'auto';
}

export const valCount = () => Math.max(0, Math.floor(Number($('val-count').value) || 0));

// Which samples train, calibrate and validate, in words (the worker splits the same way: splitTrainValidation).
export function renderQatSplit() {
  const el = $('qat-split');
  if (!S.data) { el.textContent = 'Load data: the first samples train the model (the first few also set the initial ranges), the last ones are held out for validation.'; return; }
  const n = S.data.info.count;
  const v = Math.min(valCount(), n - 1);
  const calib = Math.min(n - v, Number(form.querySelector('[data-path="training.calibrationSamples"]').value) || 64);
  el.textContent = v > 0
    ? `Of ${n} samples, the first ${n - v} train (the first ${calib} of them also set the initial ranges); the last ${v} are held out: validation before and after each epoch, and the comparison below.`
    : `All ${n} samples train (the first ${calib} also set the initial ranges); none are held out, so the comparison runs on training samples.`;
}

export function initRecipeForm() {
  $('learn-from').addEventListener('change', () => {
    const v = $('learn-from').value;
    if ((v === 'float' && lossSelect.value === 'cross-entropy') || (v === 'labels' && lossSelect.value === 'distillation')) lossSelect.value = 'auto';
  });
  lossSelect.addEventListener('change', () => {
    const lf = $('learn-from');
    if (lossSelect.value === 'distillation') lf.value = 'float';
    if (lossSelect.value === 'cross-entropy' && !lf.options[0].disabled) lf.value = 'labels';
  });
  $('val-count').addEventListener('input', renderQatSplit);

  for (const radio of document.querySelectorAll('input[name=mode]')) radio.addEventListener('change', () => setMode(radio.value));
  form.addEventListener('input', updateForm);
  form.addEventListener('change', updateForm);

  $('recipe-reset').addEventListener('click', () => showRecipe(defaultRecipe(currentMode())));
  $('recipe-export').addEventListener('click', () => downloadRecipe());
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
}
