// Types of webquant/worker (bindings/js/worker.js): the module Worker and its protocol.
// Loaded as a Worker it answers on its own scope; imported, it exports serve() and registerDataSource().
import type { ValueInfo } from './index.js';
import type { Sample } from './data.js';

/** page -> worker: one request ({id, type, ...args}) or a cancel. */
export type WorkerRequest =
  | { id: number; type: 'init' }
  | { id: number; type: 'loadModel'; bytes: ArrayBuffer; name: string }
  | { id: number; type: 'loadQuantized'; bytes: ArrayBuffer; report: unknown; recipe: unknown }
  | { id: number; type: 'setData'; kind: 'files' | 'generated' | 'mnist' | 'text' | string; files?: { file: Blob; path: string }[]; options?: Record<string, unknown> }
  | { id: number; type: 'normalizeRecipe'; recipe: unknown }
  | { id: number; type: 'clearData' }
  | { id: number; type: 'evaluate' | 'compare' | 'maps'; which?: 'float' | 'quant'; calib?: number; validation?: number; maxSide?: number }
  | { id: number; type: 'bench'; which?: 'float' | 'quant'; runs?: number; warmup?: number; calib?: number; validation?: number }
  | { id: number; type: 'quantize'; recipe: unknown; calib?: number }
  | { id: number; type: 'finetune'; recipe: unknown; validation?: number; learnFrom?: 'labels' | 'float' };
export type WorkerCancel = { type: 'cancel'; target: number };

/** worker -> page. */
export type WorkerMessage =
  | { id: number; type: 'progress'; stage: string; done: number; total: number | null; detail?: unknown }
  | { id: number; type: 'done'; result: unknown }
  | { id: number; type: 'error'; error: { name: string; code: string; message: string } };

/** Anything messages arrive on: a worker's global scope, a MessagePort, a test double. */
export interface MessageScope {
  onmessage: ((e: { data: WorkerRequest | WorkerCancel }) => void) | null;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
}

/** Answers the protocol on `scope` (one engine state per module). */
export declare function serve<T extends MessageScope>(scope: T): T;

export interface DataSourceContext {
  signal: AbortSignal;
  progress(stage: string, done: number, total?: number | null): void;
}
export interface DataSourceResult {
  samples: Sample[];
  kind?: string;
  /** true for inputs that are not the user's data (synthetic, generated) */
  weak?: boolean;
  source?: string;
  notes?: string[];
  classNames?: string[] | null;
}
/** Adds a setData kind; call before the first message. */
export declare function registerDataSource(kind: string,
  fn: (inputs: ValueInfo[], options: Record<string, unknown>, ctx: DataSourceContext) => DataSourceResult | Promise<DataSourceResult>): void;
