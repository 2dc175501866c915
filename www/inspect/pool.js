// A pool of workbench workers for the whole-model comparison and the GGUF exports, so they use
// every core. Runs inside the workbench worker (www/worker.js), which keeps the loaded tensors and
// hands each job a copy of its values: the pool workers start empty (each its own wasm instance,
// no SharedArrayBuffer) and answer 'compare_values' (workspace.rs, compare_values) or an export's
// encode op (pieces.js) with the worker-loop.js protocol. The pool lives for one comparison: a cancel or an error terminates
// its workers at once, even mid-job, and the memory they grew goes with them.
import { checkpoint } from '../worker-loop.js';

// More workers than this would each hold a copy of a tensor and its round trips (a 16M-value
// tensor is ~64 MB a copy) for little gain.
export const MAX_POOL_WORKERS = 8;

// The pool size for `requested` workers (the page asks for navigator.hardwareConcurrency):
// at least 1, at most MAX_POOL_WORKERS and the number of jobs.
export function poolSize(requested, jobs) {
  const n = Number.isInteger(requested) && requested > 0 ? requested : 2;
  return Math.max(1, Math.min(n, MAX_POOL_WORKERS, jobs));
}

export function startWorker() {
  const worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
  const pending = new Map();
  let next = 0;
  worker.onmessage = ({ data }) => {
    const job = pending.get(data.id);
    if (!job || data.type === 'progress') return;
    pending.delete(data.id);
    if (data.type === 'result') job.resolve(data.value);
    else job.reject(new Error(data.message));
  };
  // A worker that fails to start (its module or wasm would not load) fails its jobs.
  worker.onerror = (e) => {
    e.preventDefault?.();
    for (const job of pending.values()) job.reject(new Error(`a pool worker failed: ${e.message ?? 'it did not start'}`));
    pending.clear();
  };
  return {
    run(op, args, transfer) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, op, args }, transfer);
      });
    },
    terminate: () => worker.terminate(),
  };
}

// Runs `jobs` ([{values: () => Float32Array, shape, ids}]) on `size` workers, each job's answer
// (one report per id, in order) passed to onResult(job, reports) as it arrives. Between two
// answers it lets a cancel of request `id` land (checkpoint), and then stops every worker.
export async function runPool(id, jobs, size, onResult) {
  const workers = Array.from({ length: size }, startWorker);
  let nextJob = 0;
  let failure = null;
  const inFlight = new Set();
  const feed = (worker) => {
    if (failure || nextJob >= jobs.length) return;
    const job = jobs[nextJob++];
    const values = job.values();
    const done = worker.run('compare_values', [values, job.shape, job.ids], [values.buffer])
      .then((reports) => { onResult(job, reports); })
      .catch((err) => { failure ??= err; })
      .finally(() => { inFlight.delete(done); feed(worker); });
    inFlight.add(done);
  };
  try {
    workers.forEach(feed);
    while (inFlight.size) {
      await Promise.race(inFlight);
      if (failure) throw failure;
      await checkpoint(id);
    }
    if (failure) throw failure;
  } finally {
    for (const w of workers) w.terminate();
  }
}
