// Types of webquant/worker-client (bindings/js/worker_client.js): the page's side of the worker protocol.
import type { WorkerMessage } from './worker.js';

export declare class WorkerError extends Error {
  constructor(error: { name?: string; code?: string; message: string });
  readonly code: string;
}

export type ProgressMessage = Extract<WorkerMessage, { type: 'progress' }>;

export interface WorkerJob<T = any> {
  id: number;
  promise: Promise<T>;
  /** Soft cancel; after hardCancelMs the worker is terminated and restarted. */
  cancel(): void;
}

export declare class WorkerClient {
  constructor(url: string | URL, options?: {
    /** default 3000 */
    hardCancelMs?: number;
    /** after a restart: send the new worker what the old one held */
    onRestart?: (() => void) | null;
    onCrash?: ((error: WorkerError) => void) | null;
  });
  readonly worker: Worker;
  request<T = any>(type: string, args?: Record<string, unknown>,
    options?: { transfer?: Transferable[]; onProgress?: ((message: ProgressMessage) => void) | null }): WorkerJob<T>;
  cancel(id: number): void;
  restart(error: Error): void;
}
