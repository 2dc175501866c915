// What the page's pools of workers share (the Inspect view's whole-model comparison and GGUF
// exports, inspect/pool.js; the Run view's ONNX quantization, run/pool.js): how many workers, and
// one worker answering the worker-loop.js protocol. Each pool worker is its own wasm instance
// (no SharedArrayBuffer); values go to it by transfer and answers come back by copy.
import { getParam } from '../urlstate.js';

// More workers than this would each hold a copy of a tensor and its round trips (a 16M-value
// tensor is ~64 MB a copy) for little gain.
export const MAX_POOL_WORKERS = 8;

// The pool size for `requested` workers (the page asks for navigator.hardwareConcurrency):
// at least 1, at most MAX_POOL_WORKERS and the number of jobs.
export function poolSize(requested, jobs) {
  const n = Number.isInteger(requested) && requested > 0 ? requested : 2;
  return Math.max(1, Math.min(n, MAX_POOL_WORKERS, jobs));
}

// The workers the page asks for: `?workers=N` in the hash (`#inspect?workers=3`,
// `#run?workers=3`), else one per core the browser reports. Read on the page's thread; the
// workers are told.
export function poolWorkers() {
  const asked = Number(getParam('workers'));
  return Number.isInteger(asked) && asked > 0 ? asked : (navigator.hardwareConcurrency ?? 2);
}

// A worker of the module at `url` with a `run(op, args, transfer, onProgress)` → Promise of its
// answer; `onProgress(done, total)` takes the job's progress messages.
export function startWorker(url) {
  const worker = new Worker(url, { type: 'module' });
  const pending = new Map();
  let next = 0;
  worker.onmessage = ({ data }) => {
    const job = pending.get(data.id);
    if (!job) return;
    if (data.type === 'progress') {
      job.onProgress?.(data.done, data.total);
      return;
    }
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
    run(op, args, transfer, onProgress) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, onProgress });
        worker.postMessage({ id, op, args }, transfer);
      });
    },
    terminate: () => worker.terminate(),
  };
}

// Runs `count` jobs on `workers`, one in flight per worker, each worker fed its next job as it
// answers: `send(worker, k)` starts the k-th job and returns its answer (a promise), then
// `onAnswer(k, answer)`. `between()` runs after each answer and every 50 ms while the workers
// work (the caller's checkpoint, where a cancel lands: a job may be a whole model's run). A cancel
// or a failed job stops every worker at once, even mid-job; the workers are terminated in any
// case when the jobs are done.
export async function drain(workers, count, send, onAnswer, between) {
  let next = 0;
  let failure = null;
  const inFlight = new Set();
  const feed = (worker) => {
    if (failure || next >= count) return;
    const k = next++;
    const answer = send(worker, k)
      .then((value) => onAnswer(k, value))
      .catch((err) => { failure ??= err; })
      .finally(() => { inFlight.delete(answer); feed(worker); });
    inFlight.add(answer);
  };
  try {
    workers.forEach(feed);
    while (inFlight.size) {
      await Promise.race([...inFlight, new Promise((r) => setTimeout(r, 50))]);
      if (failure) throw failure;
      await between();
    }
    if (failure) throw failure;
  } finally {
    for (const w of workers) w.terminate();
  }
}
