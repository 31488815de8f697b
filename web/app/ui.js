// Small DOM and formatting helpers every panel uses: element lookup, table rows,
// number formats, file downloads and drop zones (files and whole folders).
import { shapeText } from '../../bindings/js/data.js';
import { showError } from './tasks.js';

export const $ = (id) => document.getElementById(id);

export const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);
export const fmtInt = (n) => n.toLocaleString('en-US');
export const fmtShape = (s) => (s ? shapeText(s.map((d) => (typeof d === 'string' ? d.replace(/^p2o\.DynamicDimension\./, 'd') : d))) : 'unknown');
export const fmtMs = (ms) => (ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`);
export const fmtPct = (x) => `${(100 * x).toFixed(2)}%`;
export const fmtDb = (x) => (x === Infinity || x === 'Infinity' ? '∞ dB (exact)' : Number.isFinite(x) ? `${x.toFixed(1)} dB` : '–');
export const fmtNum = (x) => (typeof x !== 'number' ? '–' : Math.abs(x) !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential(3) : x.toFixed(4));

export function row(cells, header = false) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement(header && i === 0 ? 'th' : 'td');
    if (c instanceof Node) td.append(c); else td.textContent = c;
    tr.append(td);
  });
  return tr;
}

export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Drag and drop of files and whole folders (via the entries API, recursively).
export function dropZone(el, onFiles) {
  el.addEventListener('dragover', (e) => { e.preventDefault(); el.classList.add('over'); });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', async (e) => {
    e.preventDefault();
    el.classList.remove('over');
    try {
      const entries = await filesFromDrop(e.dataTransfer);
      if (!entries.length) throw new Error('nothing to read in the drop');
      await onFiles(entries);
    } catch (err) {
      showError(err, 'Drop');
    }
  });
}

export async function filesFromDrop(dt) {
  const items = Array.from(dt.items ?? []).filter((i) => i.kind === 'file');
  const roots = items.map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!roots.length) return Array.from(dt.files ?? [], (f) => ({ file: f, path: f.name }));
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: entry.fullPath.replace(/^\//, '') });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const r of roots) await walk(r);
  return out;
}

