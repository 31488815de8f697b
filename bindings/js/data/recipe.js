// The quantization recipe as the web app's form sees it (the recipe JSON of
// doc/quantization.md). The engine is the authority: quantize() and
// normalizeRecipe() validate every recipe and name the field at fault; this
// module only supplies the form's defaults and maps form <-> JSON.
//
// completeRecipe() fills a partial recipe with the mode's defaults so every
// form control has a value; it rejects keys the form cannot represent (an
// imported recipe must not lose settings silently). emitRecipe() writes back
// only the sections the mode uses, which is what export and quantize() get.
//
// The page has one method more than the engine has modes: quantization-aware
// fine-tuning ('qat') is a static recipe with a `training` section, which
// finetune() takes instead of quantize(). formMode() tells them apart.

export class RecipeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RecipeError';
    this.code = 'INVALID_ARGUMENT';
  }
}

/** The engine's modes (recipe.mode). */
export const MODES = ['dynamic', 'static', 'weight-only', 'fp16'];
/** The page's methods: the modes plus 'qat' (static + training). */
export const FORM_MODES = [...MODES, 'qat'];
export const MODE_LABELS = {
  dynamic: 'Dynamic int8',
  static: 'Static int8',
  'weight-only': 'Int4 weight-only',
  fp16: 'Float16',
  qat: 'Quantization-aware fine-tuning',
};
export const CALIBRATION_METHODS = ['minmax', 'moving-average', 'percentile', 'entropy', 'mse'];
export const GRANULARITIES = ['per-tensor', 'per-channel', 'per-block'];
export const BLOCK_SIZES = [32, 64, 128];

// The engine's defaults for recipe.training (core/quant/recipe.h, TrainingRecipe);
// the browser test holds them to normalizeRecipe()'s.
export const TRAINING_DEFAULTS = {
  epochs: 1, batchSize: 32, learningRate: 0.0001, optimizer: 'adam', momentum: 0.9, weightDecay: 0,
  schedule: 'cosine', warmupSteps: 0, maxSteps: 0, loss: 'auto', temperature: 1, output: '',
  weightRanges: 'learned', activationRanges: 'moving-average', rangeMomentum: 0.01, calibrationSamples: 64,
  seed: 0, initialize: 'keep',
};

/** The page's method for a recipe: 'qat' when it has a training section, else its mode. */
export const formMode = (recipe) => (recipe?.training ? 'qat' : recipe?.mode);

const WEIGHTS_8 = { bits: 8, granularity: 'per-channel', blockSize: 32, symmetric: true, mseRefine: false };
const COMMON = {
  include: { opTypes: [], nodes: [] },
  exclude: { opTypes: [], nodes: [] },
  keepFirstLayer: false,
  keepLastLayer: false,
  foldBatchNorm: true,
  fuseActivations: true,
  report: { samples: 4 },
};

/** Default recipe of a method (a mode or 'qat'), complete (every key the form shows). */
export function defaultRecipe(method) {
  if (!FORM_MODES.includes(method)) throw new RecipeError(`recipe.mode: '${method}' is not one of ${MODES.join(', ')}`);
  const mode = method === 'qat' ? 'static' : method;
  const r = { mode, ...structuredClone(COMMON) };
  if (mode === 'dynamic' || mode === 'static') r.weights = { ...WEIGHTS_8 };
  if (mode === 'weight-only') r.weights = { bits: 4, granularity: 'per-block', blockSize: 32, symmetric: true, mseRefine: false };
  if (mode === 'static') {
    r.activations = { dtype: 'uint8', bits: 8, symmetric: false };
    r.calibration = { method: 'minmax', percentile: 99.99, bins: 2048, momentum: 0.01, maxSamples: 0 };
  }
  if (method === 'qat') r.training = { ...TRAINING_DEFAULTS };
  return r;
}

/** The activation dtype of `bits` bits with the signedness of `dtype` (uint8 <-> uint4, int8 <-> int4). */
export function activationDtype(dtype, bits) {
  const signed = /^int/.test(dtype ?? '');
  return `${signed ? 'int' : 'uint'}${bits}`;
}
export const dtypeBits = (dtype) => (/4$/.test(dtype) ? 4 : 8);

// Shape of the recipe: leaf validators by path.
const isBool = (v) => typeof v === 'boolean';
const oneOf = (...xs) => (v) => xs.includes(v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isInt = (v) => Number.isInteger(v) && v >= 0;
const isNames = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const intIn = (lo, hi) => (v) => Number.isInteger(v) && v >= lo && v <= hi;
const SCHEMA = {
  mode: oneOf(...MODES),
  weights: {
    bits: oneOf(8, 4), granularity: oneOf(...GRANULARITIES), blockSize: oneOf(...BLOCK_SIZES),
    symmetric: isBool, mseRefine: isBool,
  },
  activations: { dtype: oneOf('uint8', 'int8', 'uint4', 'int4'), bits: oneOf(8, 4), symmetric: isBool },
  calibration: {
    method: oneOf(...CALIBRATION_METHODS), percentile: (v) => isNum(v) && v > 0 && v <= 100,
    bins: (v) => isInt(v) && v >= 2, momentum: (v) => isNum(v) && v > 0 && v <= 1, maxSamples: isInt,
  },
  include: { opTypes: isNames, nodes: isNames },
  exclude: { opTypes: isNames, nodes: isNames },
  keepFirstLayer: isBool, keepLastLayer: isBool, foldBatchNorm: isBool, fuseActivations: isBool,
  report: { samples: isInt },
  // Ranges as core/quant/recipe.cc read_training checks them.
  training: {
    epochs: intIn(1, 10000), batchSize: intIn(1, 65536), learningRate: (v) => isNum(v) && v > 0 && v <= 1e6,
    optimizer: oneOf('adam', 'sgd'), momentum: (v) => isNum(v) && v >= 0 && v < 1, weightDecay: (v) => isNum(v) && v >= 0 && v < 1,
    schedule: oneOf('cosine', 'constant'), warmupSteps: isInt, maxSteps: isInt,
    loss: oneOf('auto', 'cross-entropy', 'distillation', 'mse'), temperature: (v) => isNum(v) && v > 0 && v <= 100,
    output: (v) => typeof v === 'string',
    weightRanges: oneOf('learned', 'moving-average', 'frozen'), activationRanges: oneOf('moving-average', 'learned', 'frozen'),
    rangeMomentum: (v) => isNum(v) && v > 0 && v <= 1, calibrationSamples: intIn(1, 2 ** 30), seed: intIn(0, 2147483647),
    initialize: (v) => v === 'keep' ||
      `${JSON.stringify(v)} is for float training (train()); quantization-aware fine-tuning starts from the trained model ("keep")`,
  },
};

function check(value, schema, path) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RecipeError(`${path} must be an object`);
  for (const [k, v] of Object.entries(value)) {
    const s = schema[k];
    const p = `${path}.${k}`;
    if (s === undefined) throw new RecipeError(`${p}: unknown key`);
    if (typeof s === 'function') {
      const ok = s(v);
      if (typeof ok === 'string') throw new RecipeError(`${p}: ${ok}`);
      if (!ok) throw new RecipeError(`${p}: invalid value ${JSON.stringify(v)}`);
    } else check(v, s, p);
  }
}

/**
 * Validates the recipe's shape and fills in the mode's defaults. Sections the
 * mode does not use (quantize() returns every section, defaults included) are
 * checked and then dropped.
 */
export function completeRecipe(recipe) {
  check(recipe, SCHEMA, 'recipe');
  if (recipe.mode === undefined) throw new RecipeError('recipe.mode: required');
  if (recipe.training && recipe.mode !== 'static') {
    throw new RecipeError(`recipe.mode: quantization-aware fine-tuning (recipe.training) needs "static", got "${recipe.mode}"`);
  }
  const r = defaultRecipe(formMode(recipe));
  for (const [k, v] of Object.entries(recipe)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (r[k]) r[k] = { ...r[k], ...structuredClone(v) };
    } else r[k] = v;
  }
  // Activation bits and dtype say the same thing twice; fill the one not given, refuse a contradiction (as the engine does).
  const a = recipe.activations;
  if (r.activations && a) {
    if (a.dtype !== undefined && a.bits !== undefined && dtypeBits(a.dtype) !== a.bits) {
      throw new RecipeError(`recipe.activations.bits: ${a.bits} contradicts dtype "${a.dtype}"`);
    }
    if (a.dtype !== undefined) r.activations.bits = dtypeBits(a.dtype);
    else if (a.bits !== undefined) r.activations.dtype = activationDtype('uint', a.bits);
  }
  return r;
}

/** The recipe as quantize() and the export get it: only the sections the mode uses. */
export function emitRecipe(complete) {
  const r = completeRecipe(complete);
  const out = { mode: r.mode };
  if (r.weights) {
    out.weights = { bits: r.weights.bits, granularity: r.weights.granularity, symmetric: r.weights.symmetric, mseRefine: r.weights.mseRefine };
    if (r.weights.granularity === 'per-block') out.weights.blockSize = r.weights.blockSize;
  }
  if (r.activations) out.activations = { ...r.activations };
  if (r.calibration) out.calibration = { ...r.calibration };
  if (r.training) out.training = { ...r.training };
  for (const k of ['include', 'exclude', 'keepFirstLayer', 'keepLastLayer', 'foldBatchNorm', 'fuseActivations', 'report']) {
    out[k] = structuredClone(r[k]);
  }
  return out;
}

/** Does the mode need calibration data? */
export const needsCalibration = (mode) => mode === 'static';
/** Does the page's method need data (calibration, or training samples)? */
export const needsData = (method) => method === 'static' || method === 'qat';

/**
 * Which op types each mode rewrites by default (core/quant/recipe.cc,
 * Recipe::default_op_types; shown as "quantizable" in the summary). Static
 * quantization also puts the ops in PASS_THROUGH on 8-bit data (QDQ around
 * them, shared scales) so a chain stays in 8 bits. fp16 stores every float
 * weight as float16; WEIGHTED lists the ops that carry them.
 */
export const QUANTIZABLE = {
  dynamic: ['MatMul', 'Gemm', 'Conv'],
  static: ['Conv', 'MatMul', 'Gemm'],
  'weight-only': ['MatMul', 'Gemm', 'Conv'],
  fp16: ['Conv', 'ConvTranspose', 'MatMul', 'Gemm'],
};
export const PASS_THROUGH = ['Add', 'Mul', 'Concat', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Reshape', 'Flatten',
  'Transpose', 'Squeeze', 'Unsqueeze', 'Resize', 'Sigmoid', 'HardSigmoid', 'LeakyRelu', 'Relu', 'Clip'];

/** Per op type of a summary: {opType, count, quantizable: bool} for a mode. */
export function quantizableOps(opCounts, mode) {
  const q = new Set(QUANTIZABLE[mode] ?? []);
  return opCounts.map(({ opType, count }) => ({ opType, count, quantizable: q.has(opType) }));
}
