// A pool of workbench workers for the whole-model comparison and the GGUF exports, so they use
// every core. Runs inside the workbench worker (www/worker.js), which keeps the loaded tensors and
// hands each job a copy of its values: the pool workers start empty (each its own wasm instance,
// no SharedArrayBuffer) and answer 'compare_values' (workspace.rs, compare_values) or an export's
// encode op (pieces.js) with the worker-loop.js protocol. The pool lives for one comparison: a cancel or an error terminates
// its workers at once, even mid-job, and the memory they grew goes with them.
import { checkpoint } from '../worker-loop.js';
import { drain, startWorker as startPoolWorker } from '../shared/pool.js';

export { MAX_POOL_WORKERS, poolSize } from '../shared/pool.js';

// A pool worker: the workbench worker, started empty.
export const startWorker = () => startPoolWorker(new URL('../worker.js', import.meta.url));

// Runs `jobs` ([{values: () => Float32Array, shape, ids}]) on `size` workers, each job's answer
// (one report per id, in order) passed to onResult(job, reports) as it arrives. Between two
// answers it lets a cancel of request `id` land (checkpoint), and then stops every worker.
export async function runPool(id, jobs, size, onResult) {
  const workers = Array.from({ length: size }, startWorker);
  const send = (worker, k) => {
    const values = jobs[k].values();
    return worker.run('compare_values', [values, jobs[k].shape, jobs[k].ids], [values.buffer]);
  };
  await drain(workers, jobs.length, send, (k, reports) => onResult(jobs[k], reports), () => checkpoint(id));
}
