// Compile-only check that bindings/js/index.d.ts (and data.d.ts, worker.d.ts, worker_client.d.ts) describe a usable API
// (tests/node/types.test.mjs runs `tsc --noEmit` on this file).
import {
  init, Model, WebquantError, supportedOps, heapSize, quantize, compare, normalizeRecipe, finetune, train,
  type ModelSummary, type TensorOutput, type Recipe, type QuantizeResult, type QuantReport, type Comparison,
  type FinetuneResult, type TrainResult, type TrainingRecipe, type ValueInfo,
} from '../../bindings/js/index.js';
import {
  parseNpz, parseNpy, encodeNpy, samplesFromArrays, splitCalibEval, defaultRecipe, completeRecipe, emitRecipe,
  pixelsToTensor, parseLabelsCsv, DataError, textImage, generatedSamples, type Sample, type NdArray,
} from '../../bindings/js/data.js';
import { registerDataSource } from '../../bindings/js/worker.js';
import { WorkerClient, WorkerError } from '../../bindings/js/worker_client.js';

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

// webquant/data, webquant/worker and webquant/worker-client (bindings/js/data.d.ts, worker.d.ts, worker_client.d.ts).
export async function dataExample(npz: Uint8Array, inputs: ValueInfo[]): Promise<number> {
  const { arrays } = await parseNpz(npz, (b) => b);
  const { samples, notes }: { samples: Sample[]; notes: string[] } = samplesFromArrays(inputs, arrays, 'data.npz');
  const split = splitCalibEval(samples.length, 8);
  const recipe: Recipe = emitRecipe(completeRecipe(defaultRecipe('qat')));
  const pixels = pixelsToTensor(new Uint8ClampedArray(4 * 28 * 28), 28, 28, { channels: 1, layout: 'NCHW' });
  const npy: NdArray = parseNpy(encodeNpy({ data: pixels, shape: [1, 28, 28] }));
  let bad = '';
  try { parseLabelsCsv(''); } catch (e) { if (e instanceof DataError) bad = e.code; }
  return split.calib.length + notes.length + (recipe.training?.epochs ?? 0) + npy.shape.length + bad.length +
    textImage(48, 192, { seed: 2 }).shape[3];
}

export function workerExample(url: URL): Promise<{ supportedOps: string[] }> {
  registerDataSource('digits', async (inputs, options, { progress }) => {
    progress('read', 0, 1);
    return { samples: generatedSamples(inputs, Number(options.count ?? 4)), weak: true };
  });
  const client = new WorkerClient(url, { hardCancelMs: 1000, onCrash: (e: WorkerError) => console.warn(e.code) });
  const job = client.request<{ supportedOps: string[] }>('init', {}, { onProgress: (m) => console.log(m.stage, m.done) });
  return job.promise;
}
