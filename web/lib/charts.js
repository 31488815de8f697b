// Canvas charts for the results: per-layer SQNR bars, histograms with the
// clip range, float/quantized output maps, and the fine-tuning loss curve. Plain 2D canvas, sized for the
// device pixel ratio; every chart records what it drew in data-* attributes so
// the browser tests can check it without reading pixels.

function setup(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  // The CSS height comes from the height attribute, once: resizing the bitmap must not resize the box.
  canvas.dataset.cssHeight ??= canvas.getAttribute('height') || '200';
  const cssH = Number(canvas.dataset.cssHeight);
  canvas.style.height = `${cssH}px`;
  const cssW = canvas.clientWidth || 600;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, w: cssW, h: cssH };
}

const niceStep = (range, ticks) => {
  const raw = range / Math.max(1, ticks);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
};

/**
 * Vertical bars, one per item {label, value, detail?}; values may be Infinity
 * (drawn at the top, marked "∞"). opts: {unit, color(item), onHover(item|null), onClick(item)}.
 */
export function barChart(canvas, items, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const n = items.length;
  const slot = (w - 52) / Math.max(1, n);
  // Names under the bars when they fit, else only the count (hover shows each bar).
  const named = slot >= 44;
  const pad = { l: 44, r: 8, t: 16, b: named ? 34 : 22 };
  const finite = items.map((i) => i.value).filter(Number.isFinite);
  const hi = Math.max(0, ...finite);
  const lo = Math.min(0, ...finite);
  const step = niceStep(hi - lo || 1, 5);
  const top = Math.ceil(hi / step) * step || step;
  const bottom = Math.floor(lo / step) * step;
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (Math.min(v, top) - bottom) / (top - bottom));
  ctx.strokeStyle = '#e3e7ec';
  ctx.fillStyle = '#5f6b7a';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let v = bottom; v <= top + 1e-9; v += step) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke();
    ctx.fillText(`${+v.toFixed(6)}${opts.unit ?? ''}`, pad.l - 4, y(v));
  }
  const barW = Math.max(1, slot * 0.8);
  const rects = [];
  items.forEach((it, i) => {
    const x = pad.l + i * slot + (slot - barW) / 2;
    const v = Number.isFinite(it.value) ? it.value : top;
    const y0 = y(0), y1 = y(v);
    ctx.fillStyle = opts.color ? opts.color(it) : '#2457c5';
    ctx.fillRect(x, Math.min(y0, y1), barW, Math.max(1, Math.abs(y1 - y0)));
    ctx.fillStyle = '#1d2330';
    ctx.textAlign = 'center';
    if (!Number.isFinite(it.value) && barW >= 8) ctx.fillText('∞', x + barW / 2, y1 - 6);
    else if (barW >= 28) ctx.fillText(it.value.toFixed(1), x + barW / 2, y1 - 6);
    if (named) {
      ctx.fillStyle = '#5f6b7a';
      ctx.fillText(ellipsize(ctx, it.short ?? it.label, slot - 4), x + barW / 2, h - pad.b + 12);
    }
    rects.push({ x, w: barW, item: it });
  });
  ctx.fillStyle = '#5f6b7a';
  ctx.textAlign = 'left';
  ctx.fillText(`${n} values, in graph order`, pad.l, h - 6);
  canvas.dataset.bars = String(n);
  const hit = (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left;
    return rects.find((b) => px >= b.x - 1 && px <= b.x + b.w + 1)?.item ?? null;
  };
  canvas.onmousemove = (ev) => opts.onHover?.(hit(ev));
  canvas.onmouseleave = () => opts.onHover?.(null);
  canvas.onclick = (ev) => { const it = hit(ev); if (it) opts.onClick?.(it); };
  canvas.style.cursor = opts.onClick ? 'pointer' : 'default';
}

function ellipsize(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`…${t}`).width > width) t = t.slice(1);
  return `…${t}`;
}

/**
 * Histogram of `counts` over [min, max], with the clip range [clipLo, clipHi]
 * shaded and its edges drawn. Counts are drawn on a sqrt scale so the tails stay visible.
 */
export function histogram(canvas, { counts, min, max, clipLo = null, clipHi = null, label = '' }) {
  const { ctx, w, h } = setup(canvas);
  const pad = { l: 8, r: 8, t: 16, b: 18 };
  const n = counts.length;
  const peak = Math.max(1, ...counts);
  const x = (v) => pad.l + ((v - min) / (max - min || 1)) * (w - pad.l - pad.r);
  if (clipLo !== null && clipHi !== null) {
    ctx.fillStyle = 'rgba(36, 87, 197, 0.10)';
    ctx.fillRect(x(clipLo), pad.t, x(clipHi) - x(clipLo), h - pad.t - pad.b);
  }
  ctx.fillStyle = '#6b7a90';
  const bw = (w - pad.l - pad.r) / n;
  for (let i = 0; i < n; ++i) {
    const bh = Math.sqrt(counts[i] / peak) * (h - pad.t - pad.b);
    ctx.fillRect(pad.l + i * bw, h - pad.b - bh, Math.max(1, bw - 0.5), bh);
  }
  ctx.fillStyle = '#5f6b7a';
  ctx.textBaseline = 'alphabetic';
  ctx.textAlign = 'left';
  ctx.fillText(fmt(min), pad.l, h - 5);
  ctx.textAlign = 'right';
  ctx.fillText(fmt(max), w - pad.r, h - 5);
  if (clipLo !== null && clipHi !== null) {
    ctx.strokeStyle = '#b3261e';
    ctx.lineWidth = 1.5;
    for (const v of [clipLo, clipHi]) {
      ctx.beginPath(); ctx.moveTo(x(v), pad.t); ctx.lineTo(x(v), h - pad.b); ctx.stroke();
    }
    ctx.fillStyle = '#b3261e';
    ctx.textAlign = 'center';
    ctx.fillText(`clip [${fmt(clipLo)}, ${fmt(clipHi)}]`, (x(clipLo) + x(clipHi)) / 2, 11);
  } else if (label) {
    ctx.textAlign = 'center';
    ctx.fillText(label, w / 2, 11);
  }
  canvas.dataset.bins = String(n);
}

const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : String(+v.toFixed(3)));

/**
 * Draws a float map into a canvas at its native resolution (CSS scales it);
 * `lo`/`hi` fix the color range so float and quantized maps are comparable.
 * `diverging` uses a blue-white-red ramp for signed data (the difference map).
 */
export function heatmap(canvas, data, width, height, { lo, hi, diverging = false }) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(width, height);
  const range = hi - lo || 1;
  for (let i = 0; i < width * height; ++i) {
    const t = Math.min(1, Math.max(0, (data[i] - lo) / range));
    let r, g, b;
    if (diverging) {
      const s = t * 2 - 1;  // -1..1
      r = s > 0 ? 255 : 255 * (1 + s); g = 255 * (1 - Math.abs(s)); b = s < 0 ? 255 : 255 * (1 - s);
    } else {
      // A perceptually ordered dark-blue -> yellow ramp.
      r = 255 * Math.min(1, Math.max(0, 1.6 * t - 0.3));
      g = 255 * Math.min(1, Math.max(0, 1.1 * t));
      b = 255 * Math.min(1, Math.max(0, 0.55 + 0.6 * t - 1.2 * t * t));
    }
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  canvas.dataset.drawn = '1';
}

/**
 * Lines over a shared x axis (training steps), y from 0: `series` is
 * [{label, color, points: [{x, y}], width?, dots?}]. A series with more points
 * than pixels is drawn as one min-max stroke per pixel column, so a long run
 * costs the same to redraw as a short one. opts: {xMax, xLabel, marks: [{x, label}]}
 * (vertical lines, e.g. epoch ends). Records data-points (first series) and data-series.
 */
export function lineChart(canvas, series, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const pad = { l: 48, r: 10, t: 18, b: 24 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const xMax = Math.max(1, opts.xMax ?? 0, ...all.map((p) => p.x));
  const yHi = Math.max(1e-9, ...all.map((p) => p.y));
  const step = niceStep(yHi, 4);
  const top = Math.ceil(yHi / step) * step;
  const x = (v) => pad.l + (v / xMax) * (w - pad.l - pad.r);
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - Math.min(v, top) / top);
  ctx.strokeStyle = '#e3e7ec';
  ctx.fillStyle = '#5f6b7a';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let v = 0; v <= top + 1e-12; v += step) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke();
    ctx.fillText(fmt(v), pad.l - 4, y(v));
  }
  ctx.textBaseline = 'alphabetic';
  for (const m of opts.marks ?? []) {
    ctx.strokeStyle = '#c7ced8';
    ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(x(m.x), pad.t); ctx.lineTo(x(m.x), h - pad.b); ctx.stroke();
    ctx.setLineDash([]);
    if (m.label) { ctx.textAlign = 'right'; ctx.fillText(m.label, x(m.x) - 3, pad.t + 10); }
  }
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = s.width ?? 1.5;
    const cols = Math.max(1, Math.floor(w - pad.l - pad.r));
    if (pts.length > 2 * cols) {
      // Min-max per pixel column.
      const lo = new Float64Array(cols).fill(Infinity), hi = new Float64Array(cols).fill(-Infinity);
      for (const p of pts) {
        const c = Math.min(cols - 1, Math.floor((p.x / xMax) * cols));
        if (p.y < lo[c]) lo[c] = p.y;
        if (p.y > hi[c]) hi[c] = p.y;
      }
      ctx.beginPath();
      for (let c = 0; c < cols; ++c) {
        if (lo[c] === Infinity) continue;
        ctx.moveTo(pad.l + c + 0.5, y(lo[c]));
        ctx.lineTo(pad.l + c + 0.5, y(hi[c]) - 0.5);
      }
      ctx.stroke();
    } else if (pts.length) {
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(x(p.x), y(p.y)) : ctx.moveTo(x(p.x), y(p.y))));
      ctx.stroke();
    }
    if (s.dots) for (const p of pts) { ctx.beginPath(); ctx.arc(x(p.x), y(p.y), 3.5, 0, 2 * Math.PI); ctx.fill(); }
  }
  ctx.lineWidth = 1;
  // Legend, then the x extent.
  let lx = pad.l;
  ctx.textAlign = 'left';
  for (const s of series) {
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 5, 10, 3);
    ctx.fillStyle = '#5f6b7a';
    ctx.fillText(s.label, lx + 14, 11);
    lx += 24 + ctx.measureText(s.label).width;
  }
  ctx.textAlign = 'right';
  ctx.fillText(`${opts.xLabel ?? ''} ${Number.isInteger(xMax) ? xMax : fmt(xMax)}`.trim(), w - pad.r, h - 6);
  ctx.textAlign = 'left';
  ctx.fillText('0', pad.l, h - 6);
  canvas.dataset.points = String(series[0]?.points.length ?? 0);
  canvas.dataset.series = String(series.length);
}
