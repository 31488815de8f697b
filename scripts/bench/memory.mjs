// Peak WASM heap per model, each in a fresh process (the WASM heap never
// shrinks, so one process per model is the only honest measurement).
// Checks the budget from issue #3: heap growth while loading and running
// <= model bytes + 2 x the largest live activation set. The heap grows in
// steps (Emscripten adds at least 20% of its size each time), so a growth
// figure is the step the peak landed in, not the peak itself.
//   node scripts/bench/memory.mjs            (all models, table)
//   node scripts/bench/memory.mjs --one N    (child mode: model index N, prints JSON)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { init, Model, heapSize } from '../../bindings/js/index.js';
import { floatCases } from './float_models.mjs';
import { printTable } from './stats.mjs';

const self = fileURLToPath(import.meta.url);

async function measureOne(index) {
  const c = floatCases()[index];
  await init();
  const bytes = fs.readFileSync(c.file);
  const base = heapSize();
  const model = await Model.load(bytes);
  const afterLoad = heapSize();
  model.run(c.feeds);
  model.run(c.feeds);
  const afterRun = heapSize();
  const peakAct = model.lastRunStats.peakActivationBytes;
  model.dispose();
  return { model: c.name, modelBytes: bytes.length, baseHeap: base, loadGrowth: afterLoad - base,
    totalGrowth: afterRun - base, peakActivationBytes: peakAct, budget: bytes.length + 2 * peakAct };
}

export function benchMemory({ only = null } = {}) {
  const rows = [];
  floatCases().forEach((c, i) => {
    if (only && !c.name.includes(only)) return;
    const out = execFileSync(process.execPath, [self, '--one', String(i)], { encoding: 'utf8' });
    rows.push(JSON.parse(out.trim().split('\n').pop()));
  });
  const mib = (b) => (b / 1048576).toFixed(1);
  printTable('Peak WASM heap growth per model (fresh process each; budget = model bytes + 2 x peak live activations)',
    ['model', 'model MiB', 'peak act. MiB', 'growth after load MiB', 'heap growth MiB', 'budget MiB', 'within'],
    rows.map((r) => [r.model, mib(r.modelBytes), mib(r.peakActivationBytes), mib(r.loadGrowth), mib(r.totalGrowth),
      mib(r.budget), r.totalGrowth <= r.budget ? 'yes' : 'NO']));
  return rows;
}

if (process.argv[1] === self) {
  const i = process.argv.indexOf('--one');
  if (i >= 0) console.log(JSON.stringify(await measureOne(Number(process.argv[i + 1]))));
  else benchMemory();
}
