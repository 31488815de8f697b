// Which buttons are enabled, from the page state and the chosen method.
import { needsData } from '../../bindings/js/data.js';
import { $ } from './ui.js';
import { S } from './state.js';
import { currentMode } from './recipe_form.js';

export function updateButtons() {
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
