// Public TypeScript types for webquant. Hand-written; checked by tests/node/types_usage.ts (compiled by tests/node/types.test.mjs).

export type DType =
  | 'float' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool'
  | 'float16' | 'double' | 'uint32' | 'uint64' | 'bfloat16';

/** Also accepted for an input's dtype: 'float32' is 'float', 'float64' is 'double'. */
export type DTypeAlias = 'float32' | 'float64';

export type ErrorCode =
  | 'INVALID_ARGUMENT' | 'INVALID_MODEL' | 'UNSUPPORTED' | 'NOT_FOUND' | 'OUT_OF_MEMORY'
  | 'CANCELLED' | 'INTERNAL' | 'NUMERIC_ERROR' | 'FAILED_PRECONDITION';

/** Every failure of a webquant call; `cause` holds what a caller's iterator or callback threw. */
export declare class WebquantError extends Error {
  readonly code: ErrorCode;
}

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** A dimension: a fixed size, a symbolic name such as "batch", or null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** null when the model declares no shape. */
  shape: Dim[] | null;
}

export interface ModelSummary {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  /** Opset version per domain ("" is the default ONNX domain). */
  opsets: Record<string, number>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Most frequent first. */
  opCounts: { opType: string; count: number }[];
  numNodes: number;
  numInitializers: number;
  numParameters: number;
  parameterBytes: number;
  modelBytes: number;
  metadata: Record<string, string>;
}

export interface TensorInput {
  data: TypedArray;
  shape: number[];
  /** Inferred from the typed array when omitted (Uint16Array needs 'float16' to mean half floats). */
  dtype?: DType | DTypeAlias;
}

export interface TensorOutput {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export interface RunStats {
  milliseconds: number;
  peakActivationBytes: number;
  totalAllocatedBytes: number;
}

export interface InitOptions {
  wasmBinary?: ArrayBuffer | Uint8Array;
  locateFile?: (path: string, prefix: string) => string;
}

export declare function init(options?: InitOptions): Promise<void>;
export declare function supportedOps(): string[];
export declare function heapSize(): number;
export declare const DTYPES: Readonly<Record<DType, number>>;

export interface LoadOptions {
  /** Bytes that loading and then each run may hold in tensors at once; over it: OUT_OF_MEMORY naming the node. */
  memoryLimitBytes?: number;
}

export declare class Model {
  private constructor(handle: unknown);
  /** options.memoryLimitBytes: cap on what loading and each run may hold in tensors (default 1.5 GiB, 0 = none). */
  static load(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: LoadOptions): Promise<Model>;
  static loadSync(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: LoadOptions): Model;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  lastRunStats?: RunStats;
  summary(): ModelSummary;
  run(feeds: Record<string, TensorInput>, options?: { outputs?: string[] }): Record<string, TensorOutput>;
  save(): Uint8Array;
  dispose(): void;
  [Symbol.dispose](): void;
}

// ---- quantization (doc/quantization.md) ---------------------------------------------

export type QuantMode = 'dynamic' | 'static' | 'weight-only' | 'fp16';
export type CalibrationMethod = 'minmax' | 'moving-average' | 'percentile' | 'entropy' | 'mse';

/** The recipe JSON; every field but `mode` is optional (normalizeRecipe() fills the defaults). */
export interface Recipe {
  mode: QuantMode;
  weights?: {
    bits?: 8 | 4;
    granularity?: 'per-tensor' | 'per-channel' | 'per-block';
    blockSize?: number;
    symmetric?: boolean;
    mseRefine?: boolean;
  };
  /** 4-bit activations (static mode) are exported in 8-bit containers behind a Clip to the 16 levels. */
  activations?: { dtype?: 'uint8' | 'int8' | 'uint4' | 'int4'; bits?: 8 | 4; symmetric?: boolean };
  calibration?: { method?: CalibrationMethod; percentile?: number; bins?: number; momentum?: number; maxSamples?: number };
  include?: { opTypes?: string[]; nodes?: string[] };
  exclude?: { opTypes?: string[]; nodes?: string[] };
  keepFirstLayer?: boolean;
  keepLastLayer?: boolean;
  foldBatchNorm?: boolean;
  fuseActivations?: boolean;
  report?: { samples?: number };
  /** Used by finetune() (quantization-aware) and train(); quantize() ignores it. */
  training?: TrainingRecipe;
}

export type FakeQuantMode = 'learned' | 'moving-average' | 'frozen';

/** Fine-tuning settings (doc/quantization.md, "Fine-tuning"); every field optional. */
export interface TrainingRecipe {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  optimizer?: 'adam' | 'sgd';
  momentum?: number;
  weightDecay?: number;
  schedule?: 'cosine' | 'constant';
  warmupSteps?: number;
  maxSteps?: number;
  /** auto: cross-entropy with labels, distillation without. */
  loss?: 'auto' | 'cross-entropy' | 'distillation' | 'mse';
  temperature?: number;
  output?: string;
  weightRanges?: FakeQuantMode;
  activationRanges?: FakeQuantMode;
  rangeMomentum?: number;
  calibrationSamples?: number;
  seed?: number;
  /** random: He-uniform weights, zero biases (train() from scratch). */
  initialize?: 'keep' | 'random';
}

export type Feeds = Record<string, TensorInput>;
export type Samples = Iterable<Feeds> | AsyncIterable<Feeds>;

export interface Progress {
  stage: 'prepare' | 'calibrate' | 'quantize' | 'report' | 'compare';
  done: number;
  total: number | null;
}

export interface Histogram { lower: number; width: number; counts: number[] }

export interface ErrorStats {
  name: string;
  sqnrDb: number;
  cosine: number;
  maxAbsError: number;
  rmse: number;
  /** Share of rows whose argmax over the last axis agrees (top-1 agreement for classifiers). */
  argmaxAgreement?: number;
}

export interface Comparison {
  samples: number;
  outputs: ErrorStats[];
  /** Intermediate activations present in both models, in graph order. */
  nodes: (ErrorStats & { opType: string })[];
  accuracy?: { count: number; float: number; quantized: number };
}

export interface QuantReport {
  version: number;
  mode: QuantMode;
  recipe: Recipe;
  sizes: {
    floatParameterBytes: number; quantizedParameterBytes: number; quantizedModelBytes: number;
    floatModelBytes: number; ratio: number;
  };
  prepare: Record<string, number>;
  calibration: { samples: number; method: CalibrationMethod };
  quantizedNodes: number;
  nodes: { name: string; opType: string; output: string; quantized: boolean; reason?: string; fusedInto?: string }[];
  weights: {
    name: string; node: string; shape: number[]; bits: number; dtype: string; granularity: string;
    axis?: number; blockSize?: number; symmetric: boolean; min: number; max: number;
    scaleMin: number; scaleMax: number; sqnrDb: number; rmse: number; histogram: Histogram;
  }[];
  activations: {
    name: string; dtype: string; scale: number; zeroPoint: number; clipMin: number; clipMax: number;
    min?: number; max?: number; histogram?: Histogram; overridden: boolean;
  }[];
  warnings: string[];
  timings: { prepareMs: number; calibrateMs: number; quantizeMs: number };
  comparison?: Comparison;
}

export interface QuantizeOptions {
  calibration?: Samples;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface QuantizeResult {
  model: Model;
  bytes: Uint8Array;
  report: QuantReport;
  recipe: Recipe;
}

export declare function normalizeRecipe(recipe: Recipe | string): Recipe;
export declare function quantize(model: Model, recipe: Recipe | string, options?: QuantizeOptions): Promise<QuantizeResult>;
export declare function compare(floatModel: Model, quantModel: Model, samples: Samples, options?: {
  labels?: ArrayLike<number | ArrayLike<number>>;
  perNode?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}): Promise<Comparison>;

/** A class index, class indices per row, or a float target tensor. */
export type Label = number | ArrayLike<number> | TensorInput;

export interface TrainProgress {
  stage: 'calibrate' | 'train' | 'evaluate' | 'export' | 'report';
  done?: number;
  total?: number | null;
  epoch?: number;
  epochs?: number;
  step?: number;
  loss?: number;
  accuracy?: number | null;
  learningRate?: number;
  samplesPerSecond?: number | null;
  samples?: number;
}

export interface TrainOptions {
  /** Samples (feeds with the batch dimension first), batched by the recipe's batchSize. */
  data: Feeds[];
  /** One per sample; omitted: the float model is the teacher (distillation). */
  labels?: Label[];
  /** Quantization-aware only: initialises the ranges (default: the first calibrationSamples of data). */
  calibration?: Samples;
  validation?: { data: Feeds[]; labels?: Label[] };
  augment?: (batch: Feeds, info: { epoch: number; step: number; indices: number[] }) => Feeds | Promise<Feeds>;
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

export interface EpochStats {
  epoch: number;
  steps: number;
  loss: number;
  accuracy: number | null;
  validation?: { loss: number; accuracy: number | null; samples: number };
}

export interface TrainingReport {
  steps: number;
  samples: number;
  trainMs: number;
  samplesPerSecond: number;
  loss: string;
  withLabels: boolean;
  optimizer: string;
  output: string;
  quantizationAware: boolean;
  stoppedBy?: string;
  history: EpochStats[];
  seconds: number;
  validationBefore?: { loss: number; accuracy: number | null; samples: number };
}

export interface FinetuneResult extends QuantizeResult {
  report: QuantReport & { training: TrainingReport };
}

export interface TrainResult {
  model: Model;
  bytes: Uint8Array;
  report: { training: TrainingReport };
  training: TrainingRecipe;
}

export declare function finetune(model: Model, recipe: Recipe | string, options: TrainOptions): Promise<FinetuneResult>;
export declare function train(model: Model, training: TrainingRecipe, options: TrainOptions): Promise<TrainResult>;
