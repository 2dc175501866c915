// A pool of workbench workers for the whole-model comparison and the GGUF exports, so they use
// every core. Runs inside the workbench worker (www/worker.js), which keeps the loaded tensors and
// hands each job a copy of its values: the pool workers start empty (each its own wasm instance,
// no SharedArrayBuffer) and answer 'compare_values' (workspace.rs, compare_values) or an export's
// encode op (pieces.js) with the worker-loop.js protocol. The pool lives for one comparison: a cancel or an error terminates
// its workers at once, even mid-job, and the memory they grew goes with them.
import { checkpoint } from '../worker-loop.js';
import { startWorker as startPoolWorker } from '../shared/pool.js';

export { MAX_POOL_WORKERS, poolSize } from '../shared/pool.js';

// A pool worker: the workbench worker, started empty.
export const startWorker = () => startPoolWorker(new URL('../worker.js', import.meta.url));

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
