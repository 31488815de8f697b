// Step 5, the results: size, latency and accuracy, per-output metrics, the
// per-layer SQNR chart (a click excludes a node next run), weight and
// activation histograms with the chosen clip range, output maps.
import { MODE_LABELS, formMode, dtypeBits } from '../../bindings/js/data.js';
import { barChart, histogram, heatmap } from '../lib/charts.js';
import { $, row, fmtBytes, fmtMs, fmtPct, fmtDb, fmtNum } from './ui.js';
import { S } from './state.js';
import { readControl, writeControl, updateForm } from './recipe_form.js';
import { renderTraining } from './training.js';
import { updateButtons } from './buttons.js';

export function renderResults() {
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

export function methodLabel(recipe) {
  const label = MODE_LABELS[formMode(recipe)] ?? recipe.mode;
  if (recipe.mode === 'static') return `${label} · W${recipe.weights.bits}A${recipe.activations.bits ?? dtypeBits(recipe.activations.dtype)}`;
  if (recipe.weights) return `${label} · ${recipe.weights.bits}-bit weights`;
  return label;
}

export function renderOutputMetrics(report) {
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
export function layerSqnr() {
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

export function renderLayerChart() {
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
export function histogramEntries() {
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

export function renderHistograms() {
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

export function renderMaps(m) {
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

export function initResultsPanel() {
  for (const id of ['hist-weight-sel', 'hist-act-sel']) $(id).addEventListener('change', renderHistograms);
}
