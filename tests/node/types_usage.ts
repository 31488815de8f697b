// Compile-only check that bindings/js/index.d.ts describes a usable API
// (tests/node/types.test.mjs runs `tsc --noEmit` on this file).
import {
  init, Model, WebquantError, supportedOps, heapSize, quantize, compare, normalizeRecipe, finetune, train,
  type ModelSummary, type TensorOutput, type Recipe, type QuantizeResult, type QuantReport, type Comparison,
  type FinetuneResult, type TrainResult, type TrainingRecipe,
} from '../../bindings/js/index.js';

export async function example(bytes: Uint8Array): Promise<number> {
  await init({ wasmBinary: new Uint8Array(0) });
  const model: Model = await Model.load(bytes);
  const summary: ModelSummary = model.summary();
  const first = summary.inputs[0];
  const dims: (number | string | null)[] = first.shape ?? [];
  const outputs: Record<string, TensorOutput> = model.run(
    { [first.name]: { data: new Float32Array(4), shape: [1, 4] } },
    { outputs: [summary.outputs[0].name] },
  );
  const data = outputs[summary.outputs[0].name].data;
  const saved: Uint8Array = model.save();
  const ms: number | undefined = model.lastRunStats?.milliseconds;
  model.dispose();
  try {
    Model.loadSync(new Uint8Array([1, 2, 3]));
  } catch (e) {
    if (e instanceof WebquantError && e.code === 'INVALID_MODEL') return -1;
  }
  return dims.length + data.length + saved.length + (ms ?? 0) + supportedOps().length + heapSize() +
    summary.opCounts.reduce((a, o) => a + o.count, 0);
}

export async function quantizeExample(model: Model, samples: { input: { data: Float32Array; shape: number[] } }[]):
    Promise<number> {
  const recipe: Recipe = normalizeRecipe({ mode: 'static', calibration: { method: 'percentile', percentile: 99.9 } });
  const ctrl = new AbortController();
  const stages: string[] = [];
  const q: QuantizeResult = await quantize(model, recipe, {
    calibration: samples, signal: ctrl.signal, onProgress: (p) => { stages.push(`${p.stage} ${p.done}/${p.total ?? '?'}`); },
  });
  const report: QuantReport = q.report;
  const c: Comparison = await compare(model, q.model, samples, { labels: [1, 2], perNode: false });
  q.model.dispose();
  return report.sizes.ratio + (report.comparison?.outputs[0].sqnrDb ?? 0) + c.samples + q.bytes.length +
    report.weights.length + stages.length + (c.accuracy?.quantized ?? 0);
}

export async function finetuneExample(model: Model, data: { input: { data: Float32Array; shape: number[] } }[]):
    Promise<number> {
  const recipe: Recipe = { mode: 'static', weights: { bits: 4 }, activations: { bits: 4 },
    training: { epochs: 2, batchSize: 32, learningRate: 1e-4, weightRanges: 'learned', loss: 'auto' } };
  const losses: number[] = [];
  const r: FinetuneResult = await finetune(model, recipe, {
    data, labels: data.map((_, i) => i % 10), validation: { data, labels: data.map(() => 0) },
    onProgress: (p) => { if (p.stage === 'train' && p.loss !== undefined) losses.push(p.loss); },
  });
  const training: TrainingRecipe = { epochs: 1, initialize: 'random', seed: 3 };
  const t: TrainResult = await train(model, training, { data, labels: data.map(() => 1), augment: (b) => b });
  r.model.dispose();
  t.model.dispose();
  return r.report.training.history[0].loss + r.report.sizes.ratio + t.report.training.samplesPerSecond + losses.length;
}
