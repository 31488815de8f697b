// Tasks, progress, errors and the worker: every heavy step is a request to the
// package's worker (bindings/js/worker.js, webquant/worker) through WorkerClient;
// task() runs one at a time with the progress bar and Cancel, and a restarted
// worker gets the model, the data and the quantized model back.
import { WorkerClient } from '../../bindings/js/worker_client.js';
import { $ } from './ui.js';
import { S } from './state.js';
import { setMode } from './recipe_form.js';
import { onTrainingProgress } from './training.js';
import { updateButtons } from './buttons.js';

export const client = new WorkerClient(new URL('../../bindings/js/worker.js', import.meta.url), {
  onRestart: restoreWorker,
  onCrash: (e) => showError(e, 'Worker'),
});

export class Cancelled extends Error {
  constructor() { super('cancelled'); this.code = 'CANCELLED'; }
}

export function call(type, args = {}, transfer = []) {
  const job = client.request(type, args, { transfer, onProgress: onProgress });
  if (S.busy) {
    if (S.busy.cancelled) { job.cancel(); throw new Cancelled(); }
    S.busy.job = job;
  }
  return job.promise;
}

export function checkCancelled() {
  if (S.busy?.cancelled) throw new Cancelled();
}

export async function task(name, fn) {
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

export function onProgress({ stage, done, total, detail }) {
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

export function initTasks() {
  $('cancel').addEventListener('click', () => {
    if (!S.busy) return;
    S.busy.cancelled = true;
    $('progress-stage').textContent = 'cancelling…';
    S.busy.job?.cancel();
  });
}

export function showError(err, context = '') {
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

export function showNotice(text) {
  $('engine-status').textContent = text;
}

export function clearErrors() {
  $('errors').replaceChildren();
}

export async function start() {
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
export function restoreWorker() {
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
