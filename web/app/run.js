// Step 4, the run: quantize (or fine-tune), compare, benchmark, maps; or
// evaluate the float model alone. Each is one task of worker requests.
import { emitRecipe, needsData } from '../../bindings/js/data.js';
import { $ } from './ui.js';
import { S } from './state.js';
import { task, call, checkCancelled, showError } from './tasks.js';
import { currentMode, formRecipe, valCount } from './recipe_form.js';
import { renderResults } from './results.js';
import { renderTraining } from './training.js';

export const calibCount = () => Math.max(1, Number($('calib-count').value) || 1);
export const benchRuns = () => Math.max(1, Math.min(1000, Number($('bench-runs').value) || 10));

// Which samples evaluate: after fine-tuning the held-out tail, otherwise those that did not calibrate.
export const splitArgs = () => (currentMode() === 'qat' ? { validation: valCount() } : { calib: calibCount() });

export async function quantizeAndCompare() {
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

export async function evaluateFloat() {
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

export function initRunPanel() {
  $('run').addEventListener('click', () => quantizeAndCompare());
  $('eval-float').addEventListener('click', () => evaluateFloat());
}
