// Types of webquant/data (bindings/js/data.js): the data helpers the worker, the CLI and apps share.
import type { DType, Dim, TypedArray, ValueInfo, Recipe, QuantMode, TrainingRecipe } from './index.js';

// ------------------------------------------------------------------ .npy / .npz (data/npy.js)

/** A parsed array: webquant dtype names ('float', 'double', 'int64', 'float16' as raw Uint16Array, ...). */
export interface NdArray {
  dtype: DType | 'float16';
  shape: number[];
  data: TypedArray;
}
export declare class NpyError extends Error {
  readonly name: 'NpyError';
  readonly code: 'INVALID_ARGUMENT';
}
export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView;
/** deflate-raw decoder: DecompressionStream in browsers (inflateRawWeb), zlib.inflateRawSync in Node. */
export type InflateRaw = (bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array;
export interface ZipEntry { name: string; method: number; offset: number; size: number; compressedSize: number }

export declare function isNpy(input: Bytes): boolean;
export declare function isZip(input: Bytes): boolean;
export declare function parseNpy(input: Bytes, name?: string): NdArray;
export declare function encodeNpy(array: { data: TypedArray; shape: number[] }): Uint8Array;
export declare function readZipDirectory(input: Bytes, archiveName?: string): ZipEntry[];
export declare function readZipEntry(input: Bytes, entry: ZipEntry, inflateRaw: InflateRaw, archiveName?: string): Promise<Uint8Array>;
export declare function inflateRawWeb(bytes: Uint8Array): Promise<Uint8Array>;
/** Members in archive order, keys without '.npy' (as numpy.load). */
export declare function parseNpz(input: Bytes, inflateRaw?: InflateRaw, name?: string): Promise<{ arrays: Record<string, NdArray>; order: string[] }>;

// ------------------------------------------------------------------ samples, labels, images (data/samples.js)

/** One batch-1 feed per model input. */
export interface SampleTensor { data: TypedArray; shape: number[]; dtype: DType }
export interface Sample {
  feeds: Record<string, SampleTensor>;
  /** class index */
  label?: number;
  name?: string;
}
/** Sizes of symbolic dims, by dim name or by index as a string ("2"). */
export type Dims = Record<string, number>;

export declare class DataError extends Error {
  readonly name: 'DataError';
  readonly code: 'INVALID_ARGUMENT';
}
export declare function isSymbolic(d: Dim): boolean;
export declare function shapeText(shape: Dim[]): string;
export declare function concreteShape(info: ValueInfo, dims?: Dims): number[];
export declare function convertArray(src: TypedArray, dtype: DType, what?: string): TypedArray;
export declare function splitArray(arr: NdArray, info: ValueInfo, what: string, dims?: Dims): { tensors: SampleTensor[]; note: string | null };
export declare function isLabelName(name: string): boolean;
export declare function labelsFromArray(arr: NdArray, what: string): number[];
export declare function samplesFromArrays(inputs: ValueInfo[], arrays: Record<string, NdArray>, what: string, dims?: Dims): { samples: Sample[]; notes: string[] };
export declare function parseLabelsCsv(text: string, what?: string): { byName: Map<string, string> | null; list: string[] };
export declare function indexLabels(tokens: (string | number)[], what?: string): { indices: number[]; classNames: string[] | null };

export interface PixelOptions {
  channels?: 1 | 3;
  order?: 'RGB' | 'BGR';
  layout?: 'NCHW' | 'NHWC';
  /** default 1/255 */
  scale?: number;
  mean?: number[];
  std?: number[];
  invert?: boolean;
}
/** RGBA pixels (canvas ImageData order) -> a float tensor's data. */
export declare function pixelsToTensor(rgba: ArrayLike<number>, width: number, height: number, opts: PixelOptions): Float32Array;
export declare function imageGeometry(info: ValueInfo): { layout: 'NCHW' | 'NHWC'; channels: 1 | 3; height: number | null; width: number | null } | null;
/** mulberry32: a seeded PRNG in [0, 1). */
export declare function rng(seed: number): () => number;
export declare function generatedSamples(inputs: ValueInfo[], count: number,
  options?: { seed?: number; low?: number; high?: number; dims?: Dims }): Sample[];
export declare function checkSamples(inputs: ValueInfo[], samples: Sample[]): void;
export declare function splitCalibEval(count: number, calib: number): { calib: number[]; eval: number[]; heldOut: boolean };
export declare function splitTrainValidation(count: number, validation: number): { train: number[]; eval: number[]; heldOut: boolean };
export declare function defaultValidationCount(count: number): number;

// ------------------------------------------------------------------ recipe form helpers (data/recipe.js)

/** The engine's modes plus 'qat' (a static recipe with a training section, for finetune()). */
export type FormMode = QuantMode | 'qat';
export declare class RecipeError extends Error {
  readonly name: 'RecipeError';
  readonly code: 'INVALID_ARGUMENT';
}
export declare const MODES: readonly QuantMode[];
export declare const FORM_MODES: readonly FormMode[];
export declare const MODE_LABELS: Readonly<Record<FormMode, string>>;
export declare const CALIBRATION_METHODS: readonly string[];
export declare const GRANULARITIES: readonly string[];
export declare const BLOCK_SIZES: readonly number[];
export declare const TRAINING_DEFAULTS: Readonly<Required<TrainingRecipe>>;
export declare const QUANTIZABLE: Readonly<Record<QuantMode, readonly string[]>>;
export declare const PASS_THROUGH: readonly string[];
export declare function formMode(recipe: Recipe | null | undefined): FormMode | undefined;
/** Every key the form shows, at the method's defaults. */
export declare function defaultRecipe(method: FormMode): Recipe;
export declare function activationDtype(dtype: string, bits: 4 | 8): 'uint8' | 'int8' | 'uint4' | 'int4';
export declare function dtypeBits(dtype: string): 4 | 8;
/** Checks the shape (throws RecipeError naming the field) and fills in the defaults. */
export declare function completeRecipe(recipe: Recipe): Recipe;
/** Only the sections the mode uses: what quantize()/finetune() and an export get. */
export declare function emitRecipe(complete: Recipe): Recipe;
export declare function needsCalibration(mode: string): boolean;
export declare function needsData(method: string): boolean;
export declare function quantizableOps(opCounts: { opType: string; count: number }[], mode: string): { opType: string; count: number; quantizable: boolean }[];

// ------------------------------------------------------------------ bundled digits and synthetic images

/** Labelled 28x28 digits: images float32 [count*1*28*28] in 0..1, labels 0..9. */
export interface MnistSamples { images: Float32Array; labels: Uint8Array; count: number }
export declare const MNIST_SAMPLES_FORMAT: Readonly<{ magic: 'WQMN'; version: 1; headerBytes: 20; height: 28; width: 28 }>;
export declare function parseMnistSamples(input: ArrayBuffer | ArrayBufferView): MnistSamples;
export declare function encodeMnistSamples(set: MnistSamples): Uint8Array;
/** A synthetic text line, normalised as PP-OCR does: float32 [1, 3, height, width]. */
export declare function textImage(height: number, width: number, options?: { seed?: number; flipped?: boolean }): { data: Float32Array; shape: [1, 3, number, number] };
