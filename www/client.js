// Requests to the worker as Promises, with progress callbacks and cancel.
export class WorkerClient {
  constructor(url = new URL('./worker.js', import.meta.url)) {
    this.worker = new Worker(url, { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      if (data.type === 'progress') return p.onProgress?.(data.done, data.total);
      this.pending.delete(data.id);
      if (data.type === 'result') p.resolve(data.value);
      else p.reject(Object.assign(new Error(data.message), { cancelled: !!data.cancelled, fatal: !!data.fatal }));
    };
    this.worker.onerror = (e) => {
      const err = Object.assign(new Error(`the worker failed: ${e.message ?? 'unknown error'}`), { fatal: true });
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  // Returns {promise, cancel}. `transfer` hands ArrayBuffers over without copying.
  start(op, args, { transfer = [], onProgress } = {}) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, onProgress }));
    this.worker.postMessage({ id, op, args }, transfer);
    return { promise, cancel: () => this.worker.postMessage({ op: 'cancel', target: id }) };
  }

  terminate() {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(Object.assign(new Error('cancelled'), { cancelled: true }));
    this.pending.clear();
  }

  request(op, args, options) {
    return this.start(op, args, options).promise;
  }
}
