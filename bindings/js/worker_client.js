// webquant/worker-client: the page's side of the worker protocol described at
// the top of bindings/js/worker.js (webquant/worker). No engine here: a page
// imports this, the Worker loads the engine. Types in worker_client.d.ts.
//
//   const client = new WorkerClient(import.meta.resolve('webquant/worker'));  // or any URL of bindings/js/worker.js
//   const job = client.request('bench', {runs: 10}, {onProgress});
//   job.cancel();                  // soft cancel; hard after `hardCancelMs`
//   const result = await job.promise;
//
// Cancel first asks the worker (which checks between samples). If the worker
// has not answered within hardCancelMs — a single long WASM call cannot be
// interrupted — the worker is terminated, a new one is started, and
// `onRestart` lets the page reload what the old worker held.

export class WorkerError extends Error {
  constructor({ name, code, message }) {
    super(message);
    this.name = name ?? 'Error';
    this.code = code ?? 'INTERNAL';
  }
}

export class WorkerClient {
  constructor(url, { hardCancelMs = 3000, onRestart = null, onCrash = null } = {}) {
    this.url = url;
    this.hardCancelMs = hardCancelMs;
    this.onRestart = onRestart;
    this.onCrash = onCrash;
    this.nextId = 1;
    this.pending = new Map();  // id -> {resolve, reject, onProgress, timer}
    this.spawn();
  }

  spawn() {
    this.worker = new Worker(this.url, { type: 'module', name: 'webquant' });
    this.worker.onmessage = (e) => this.onMessage(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      const err = new WorkerError({ name: 'WorkerError', code: 'INTERNAL', message: `worker failed: ${e.message ?? 'script error'}` });
      this.failAll(err);
      this.onCrash?.(err);
    };
  }

  onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'progress') {
      p.onProgress?.(msg);
      return;
    }
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.type === 'done') p.resolve(msg.result);
    else p.reject(new WorkerError(msg.error));
  }

  failAll(err) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  /** Sends one request; `transfer` lists ArrayBuffers to move (they become unusable here). */
  request(type, args = {}, { transfer = [], onProgress = null } = {}) {
    const id = this.nextId++;
    let entry;
    const promise = new Promise((resolve, reject) => {
      entry = { resolve, reject, onProgress, timer: null };
    });
    this.pending.set(id, entry);
    this.worker.postMessage({ id, type, ...args }, transfer);
    return { id, promise, cancel: () => this.cancel(id) };
  }

  /** Soft cancel, then a hard restart if the worker does not answer in time. */
  cancel(id) {
    const p = this.pending.get(id);
    if (!p) return;
    this.worker.postMessage({ type: 'cancel', target: id });
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (!this.pending.has(id)) return;
      this.restart(new WorkerError({ name: 'CancelledError', code: 'CANCELLED', message: 'cancelled (worker restarted)' }));
    }, this.hardCancelMs);
  }

  /** Terminates the worker, fails every pending request with `err`, starts a new worker. */
  restart(err) {
    this.worker.terminate();
    this.failAll(err);
    this.spawn();
    this.onRestart?.();
  }
}
