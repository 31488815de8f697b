// Fine-tuning progress and history (inside step 5): the live line, the loss
// curve (per step, validation per epoch) and the per-epoch table.
import { lineChart } from '../lib/charts.js';
import { $, row, fmtPct, fmtNum } from './ui.js';
import { S } from './state.js';

const MAX_STEP_POINTS = 20000;
let trainDrawTimer = null;

// finetune()'s progress objects (bindings/js/index.js): 'calibrate' {done, total}; 'evaluate' (as
// 'validate') {epoch, loss, accuracy, samples} before training and after each epoch; 'train' per step
// {epoch, epochs, step, total, loss, accuracy, learningRate, samplesPerSecond}; 'export'; 'report'.
export function onTrainingProgress(stage, p) {
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

export const learnsFromLabels = (t) => t.learnFrom === 'labels';

// One step in words; the progress bar already shows step / total, so it leaves the step out.
export function trainingLine(p, withStep = true) {
  const acc = p.accuracy == null ? '' : ` · ${learnsFromLabels(S.train) ? 'accuracy' : 'agreement with float'} ${fmtPct(p.accuracy)}`;
  const rate = Number.isFinite(p.samplesPerSecond) ? ` · ${p.samplesPerSecond.toFixed(0)} samples/s` : '';
  return `${withStep ? `step ${p.step}/${p.total} · ` : ''}loss ${fmtNum(p.loss)}${acc} · lr ${p.learningRate.toExponential(2)}${rate}`;
}

export function renderTraining() {
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
