// The fuzz cases: families, how many of each a run makes, and how a case
// spec {family, index, seed} becomes a concrete case. Generation is
// deterministic, so the runner sends only specs to its workers and rebuilds a
// failing case's bytes itself to save them for --repro.
import { baseBytes, DIM_HINTS, QUANTIZABLE } from './models.mjs';
import { mutateBytes, mutateStructure, scanStructure } from './mutate.mjs';
import { HOSTILE_NAMES, hostileCase } from './hostile.mjs';
import { API_NAMES, apiCase } from './api.mjs';
import { rng } from './feeds.mjs';

export const FAMILIES = ['truncate-small', 'truncate-bundled', 'mutate-bytes', 'mutate-struct', 'hostile', 'api-misuse'];

// Seeded families: how many cases by default (CI, ~3 minutes on 2 cores) and in --long.
export const COUNTS = {
  default: { 'truncate-bundled': 1500, 'mutate-bytes': 2500, 'mutate-struct': 3000 },
  long: { 'truncate-bundled': 30000, 'mutate-bytes': 40000, 'mutate-struct': 32000 },
};

const TRUNCATE_BASES = [['mnist', 2], ['enc13', 1], ['enc17', 1], ['cls', 2], ['rec', 1], ['det', 1]];
const MUTATE_BASES = [['tiny', 1], ['zoo-conv', 2], ['zoo-shape', 2], ['zoo-math', 2], ['mnist', 2], ['enc13', 1],
  ['enc17', 1], ['cls', 2], ['rec', 1], ['det', 1]];

function pickWeighted(list, r) {
  const total = list.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [k, w] of list) { if ((x -= w) < 0) return k; }
  return list[list.length - 1][0];
}

/** 32-bit seed of one case, from the run's seed, the family and the index. */
export function caseSeed(seed, family, index) {
  let h = 0x811c9dc5;
  for (const ch of `${seed}:${family}:${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

// Long runs also truncate the MNIST CNN: at every offset of its first 16 KiB (the graph and the
// first initializers' headers) and at every 16th byte after that.
let offsets = null;
function mnistOffsets() {
  if (!offsets) {
    const n = baseBytes('mnist').length;
    offsets = [];
    for (let at = 0; at < n; at += at < 16384 ? 1 : 16) offsets.push(at);
  }
  return offsets;
}

/** Specs for one family: count is ignored for the enumerated families. */
export function planFamily(family, count, seed, { long = false } = {}) {
  let n = count;
  if (family === 'truncate-small') n = baseBytes('tiny').length + (long ? mnistOffsets().length : 0);
  else if (family === 'hostile') n = HOSTILE_NAMES.length;
  else if (family === 'api-misuse') n = API_NAMES.length;
  const out = [];
  for (let index = 0; index < n; ++index) {
    const spec = { family, index, seed };
    if (family === 'api-misuse' && apiCase(API_NAMES[index]).fresh) spec.fresh = true;
    out.push(spec);
  }
  return out;
}

function quantizeAction(r, base, odds) {
  if (!QUANTIZABLE.has(base) || r() >= odds) return 'run';
  return r() < 0.5 ? 'quantize-dynamic' : 'quantize-static';
}

/**
 * A case: {family, name, bytes (model, or null), action ('load' | 'run' | 'quantize-dynamic' |
 * 'quantize-static' | 'api'), feeds (function returning explicit feeds, or null: generate from
 * the model's inputs), hints, seed, expect ('any' | 'error'), detail}.
 */
export function materialize(spec) {
  const { family, index } = spec;
  const s = caseSeed(spec.seed, family, index);
  const r = rng(s);
  const base = { family, seed: s, feeds: null, hints: {}, expect: 'any', detail: '' };
  switch (family) {
    case 'truncate-small': {
      const tinyLength = baseBytes('tiny').length;
      if (index < tinyLength) return { ...base, name: `tiny[0:${index}]`, bytes: baseBytes('tiny').slice(0, index), action: 'run' };
      const at = mnistOffsets()[index - tinyLength];
      return { ...base, name: `mnist[0:${at}]`, bytes: baseBytes('mnist').slice(0, at), action: 'run', hints: DIM_HINTS.mnist };
    }
    case 'truncate-bundled': {
      const key = pickWeighted(TRUNCATE_BASES, r);
      const full = baseBytes(key);
      const x = r();
      let at;
      if (x < 0.4) at = Math.floor(r() * full.length);
      else if (x < 0.8) {
        // Near a structure boundary: a tag, a length or a short string.
        const scan = scanStructure(full);
        at = Math.max(0, Math.min(full.length - 1, scan.varints[Math.floor(r() * scan.varints.length)] + Math.floor(r() * 5) - 2));
      } else at = Math.floor(r() * Math.min(full.length, 8192));
      return { ...base, name: `${key}[0:${at}]`, bytes: full.slice(0, at), action: 'run', hints: DIM_HINTS[key] ?? {} };
    }
    case 'mutate-bytes': {
      const key = pickWeighted(MUTATE_BASES, r);
      const { bytes, ops } = mutateBytes(baseBytes(key), s);
      return { ...base, name: `${key}#${index}`, bytes, action: quantizeAction(r, key, 0.1), hints: DIM_HINTS[key] ?? {}, detail: ops.join(', ') };
    }
    case 'mutate-struct': {
      const key = pickWeighted(MUTATE_BASES, r);
      const { bytes, ops } = mutateStructure(baseBytes(key), s);
      return { ...base, name: `${key}#${index}`, bytes, action: quantizeAction(r, key, 0.2), hints: DIM_HINTS[key] ?? {}, detail: ops.join('; ') };
    }
    case 'hostile': {
      const name = HOSTILE_NAMES[index];
      const c = hostileCase(name);
      return { ...base, name, bytes: c.bytes, action: c.action, feeds: c.feeds };
    }
    case 'api-misuse': {
      const name = API_NAMES[index];
      const c = apiCase(name);
      return { ...base, name, bytes: null, action: 'api', expect: c.expect, fresh: c.fresh };
    }
    default: throw new Error(`fuzz: unknown family ${family}`);
  }
}
