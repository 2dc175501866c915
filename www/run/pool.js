// The Run view's pool of workers for quantizing a person's model on every core: the Run worker
// (run/worker.js) plans the file and keeps it; each pool worker (run/pool-worker.js, its own
// wasm instance, no SharedArrayBuffer) encodes whole weights — a MatMul's B, a Gather's table —
// and the plan takes each encoding back by job number, so the file is byte for byte the one
// one worker writes, whatever the number of workers and the order the answers come in. The
// largest weights go first, so the last one to finish is a small one. A cancel or a failed job
// stops every pool worker at once, even mid-job. A static quantization's histogram calibration
// goes over the pool too, split by tensor (calibrateOnPool).
import { checkpoint } from '../worker-loop.js';
import { drain, startWorker } from '../shared/pool.js';
import { seededUniform } from '../shared/random.js';

export { poolSize } from '../shared/pool.js';

// `plan` (src/nbits' NBitsPlan or GptqPlan) has count(), job_weight/job_kind/job_dims/job_half/
// job_values(i) (the job's header; job_values its values count), take_values(i) (a Float32Array),
// for a GptqPlan take_hessian(i) (its A's Hessian, a Float64Array), encode(i) (here) and
// accept(i, bytes); `op` is the pool worker's encoding op and `options` go with every job. `onJob(done, total)` after each weight. With `size` 1 every weight is
// encoded here, a cancel checked between two.
export async function encodeWeights(id, plan, size, op, options, onJob) {
  const count = plan.count();
  const order = Array.from({ length: count }, (_, i) => i);
  const headers = order.map((i) => ({ weight: plan.job_weight(i), kind: plan.job_kind(i), dims: Array.from(plan.job_dims(i)),
    half: plan.job_half(i), count: plan.job_values(i) }));
  order.sort((a, b) => headers[b].count - headers[a].count || a - b);
  let done = 0;
  if (size <= 1) {
    for (const i of order) {
      plan.encode(i);
      onJob(++done, count);
      await checkpoint(id);
    }
    return;
  }
  const workers = Array.from({ length: size }, () => startWorker(new URL('./pool-worker.js', import.meta.url)));
  const send = (worker, k) => {
    const values = plan.take_values(order[k]);
    const hessian = plan.take_hessian?.(order[k]);
    return worker.run(op, [{ ...headers[order[k]], values, hessian }, options], hessian ? [values.buffer, hessian.buffer] : [values.buffer]);
  };
  const onAnswer = (k, bytes) => {
    plan.accept(order[k], bytes);
    onJob(++done, count);
  };
  await drain(workers, count, send, onAnswer, () => checkpoint(id));
}

// A static quantization's histogram calibration on `size` pool workers: the tensors dealt out in a
// fixed shuffled order (a model's list alternates kinds — a Conv's output, then its activation's,
// whose values bin at different speeds — so dealing them in list order left one worker 1.6× the
// other's histogram time on PP-OCR's recognizer), each worker runs the model (`job`: name, bytes,
// inputs) on all the calibration inputs
// and calibrates its share, every value of each tensor as one worker would — so the ranges, and
// the file, are the same bits for any number of workers. Each worker repeats the model's run (the
// histograms, most of the time, are split). → [lowest₀, highest₀, lowest₁, …] in `tensors`' order.
// `onTensor()` after each tensor; a cancel or a failure stops every worker (drain).
export async function calibrateOnPool(id, job, tensors, size, options, onTensor) {
  const shares = Array.from({ length: size }, () => []);
  shuffled(tensors.length).forEach((i, k) => shares[k % size].push(i));
  const workers = shares.map(() => startWorker(new URL('./pool-worker.js', import.meta.url)));
  const ranges = new Float32Array(2 * tensors.length).fill(NaN);
  // one job per worker: its share
  const send = (worker, w) => worker.run('static_histograms', [{ ...job, tensors: shares[w].map((i) => tensors[i]) }, options], [], onTensor);
  const onAnswer = (w, r) => shares[w].forEach((i, k) => { ranges[2 * i] = r[2 * k]; ranges[2 * i + 1] = r[2 * k + 1]; });
  await drain(workers, size, send, onAnswer, () => checkpoint(id));
  return ranges;
}

// 0, 1, …, n − 1 in an order fixed by the seeded generator (Fisher–Yates).
function shuffled(n) {
  const next = seededUniform();
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
