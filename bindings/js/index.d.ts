// Public TypeScript types for webquant. Hand-written; checked by tests/node/types_check.ts.

export type DType =
  | 'float' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool'
  | 'float16' | 'double' | 'uint32' | 'uint64' | 'bfloat16';

export type ErrorCode =
  | 'INVALID_ARGUMENT' | 'INVALID_MODEL' | 'UNSUPPORTED' | 'NOT_FOUND' | 'OUT_OF_MEMORY'
  | 'CANCELLED' | 'INTERNAL' | 'NUMERIC_ERROR' | 'FAILED_PRECONDITION';

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
  dtype?: DType;
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

export declare class Model {
  private constructor(handle: unknown);
  static load(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): Promise<Model>;
  static loadSync(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): Model;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  lastRunStats?: RunStats;
  summary(): ModelSummary;
  run(feeds: Record<string, TensorInput>, options?: { outputs?: string[] }): Record<string, TensorOutput>;
  save(): Uint8Array;
  dispose(): void;
  [Symbol.dispose](): void;
}
