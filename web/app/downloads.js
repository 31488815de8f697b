// Downloads: the quantized model, the report JSON (recipe, data, training,
// latency, compare() and the quantize report) and the recipe.
import { formMode, emitRecipe } from '../../bindings/js/data.js';
import { $, download } from './ui.js';
import { S } from './state.js';
import { showError } from './tasks.js';
import { formRecipe } from './recipe_form.js';
import { calibCount } from './run.js';

export function baseName() {
  return (S.model?.name ?? 'model').replace(/\.onnx$/i, '');
}

export function downloadRecipe() {
  try {
    const recipe = S.quant?.recipe ?? emitRecipe(formRecipe());
    download(new Blob([JSON.stringify(recipe, null, 2) + '\n'], { type: 'application/json' }), `${baseName()}.recipe.json`);
  } catch (e) {
    showError(e, 'Export recipe');
  }
}

export function initDownloads() {
  $('dl-recipe').addEventListener('click', () => downloadRecipe());
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
}
