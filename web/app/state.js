// What the page keeps: enough to draw itself and to restore a restarted worker
// (the model bytes, the data spec and the quantized bytes). The worker holds
// the engine, the models and the samples.
export const S = {
  ready: false,
  caps: { hasQuantize: false, hasCompare: false, hasFinetune: false },
  model: null,    // {name, bytes: ArrayBuffer (our copy), summary, example}
  data: null,     // {spec: {kind, files?, options}, info}
  quant: null,    // {bytes: Uint8Array, report, recipe, summary, split: {calib} | {validation}}
  train: null,    // the last fine-tuning run: {epochs, learnFrom, steps: [{x, y}], evals, last, split, stopped}
  results: null,  // {compare, evalCount, heldOut, latency: {float, quant}, evalFloat}
  busy: null,     // {name, job, cancelled}
};
