// `npm run bench`: prints tables and writes artifacts/bench.json.
//   node scripts/bench.mjs [--only SUBSTRING] [--runs N]
// Sections: float models (ours vs onnxruntime-web, issue #3) and int8/int4
// kernels on single-op models (ours vs onnxruntime-web f32/int8, issue #4),
// quantized models in every mode (ours vs onnxruntime-web on our export, issue #5),
// training throughput of the MNIST CNN (float and quantization-aware, issue #6).
import fs from 'node:fs';
import os from 'node:os';
import { init } from '../bindings/js/index.js';
import { benchFloatModels } from './bench/float_models.mjs';
import { benchKernels } from './bench/kernels.mjs';
import { benchMemory } from './bench/memory.mjs';
import { benchPtqModels } from './bench/ptq_models.mjs';
import { benchTraining } from './bench/training.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const only = opt('--only', null);
const runs = Number(opt('--runs', 10));

await init();
const report = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  float: await benchFloatModels({ runs, only }),
  memory: benchMemory({ only }),
  kernels: await benchKernels({ runs: Math.max(20, runs), only }),
  quantized: await benchPtqModels({ runs, only }),
  training: await benchTraining({ only }),
};
fs.mkdirSync('artifacts', { recursive: true });
fs.writeFileSync('artifacts/bench.json', JSON.stringify(report, null, 2));
console.log('\nwrote artifacts/bench.json');
