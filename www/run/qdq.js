// The static QDQ module (www/pkg-qdq: ONNX Runtime's quantize_static in QDQ format and its
// augmented calibration model), imported by the Run view's worker the first time such a file is
// asked for.
import { onDemand } from '../shared/on-demand.js';

export const qdqModule = onDemand(new URL('../pkg-qdq/quantscope.js', import.meta.url).href, 'static QDQ');

// The calibration module (www/pkg-calib: ONNX Runtime's Percentile, Entropy and Distribution
// calibration), imported beside it when one of those is chosen.
export const calibModule = onDemand(new URL('../pkg-calib/quantscope.js', import.meta.url).href, 'calibration');

// Runs the model behind `handle` (the models module `models`, its `engine`) on `inputs` and hands
// every value of each of `tensors` to `calibrator` (a StaticCalibration) as the engine makes it
// (all of them at once would be more values than a tab holds for a 10 MB model on 32 inputs);
// `onTensor()` after each. → each tensor's [lowest, highest] in turn. The Run worker and a pool
// worker (run/pool.js calibrateOnPool) both calibrate through it. A failure says whether it is the
// calibration (a non-finite value, named) or the inputs that do not run.
export function histogramRanges(models, engine, handle, inputs, tensors, calibrator, onTensor) {
  let collected = 0;
  const collector = { collect(t, values) {
    calibrator.collect(t, values);
    collected++;
    onTensor();
  } };
  try {
    models.observe_tensors(engine, handle, inputs, tensors, collector);
  } catch (err) {
    const why = err?.message ?? String(err);
    throw new Error(/^calibration:/.test(why) ? why : `the calibration inputs do not run through the model: ${why}`);
  }
  if (collected !== tensors.length) throw new Error(`the model's run gave ${collected} of the ${tensors.length} tensors to calibrate`);
  return calibrator.ranges(tensors);
}

// MinMax over several runs (a model run a batch at a time): each tensor's least of the runs'
// lows and greatest of their highs; a run with no values of a tensor (NaN) does not count.
export function minMaxRanges(runs) {
  const r = Float32Array.from(runs[0]);
  for (const other of runs.slice(1)) {
    for (let i = 0; i < r.length; i += 2) {
      if (Number.isNaN(r[i]) || other[i] < r[i]) r[i] = other[i];
      if (Number.isNaN(r[i + 1]) || other[i + 1] > r[i + 1]) r[i + 1] = other[i + 1];
    }
  }
  return r;
}

// Values held at once while a tensor's batches are gathered (64 MB of f32).
const MAX_HELD_VALUES = 16 << 20;

// histogramRanges for a model run a batch at a time: each tensor's values from every batch are
// joined and handed over once, as ONNX Runtime's collect_data joins every run's outputs before its
// collector sees them (a histogram grown batch by batch would bin differently). The tensors are
// taken a group at a time, each group's values over all batches under MAX_HELD_VALUES (one tensor
// alone may pass it), the batches run once per group.
export function histogramRangesBatched(models, engine, handle, batches, tensors, calibrator, onTensor) {
  let left = [...tensors];
  while (left.length) {
    const held = new Map();
    let count = 0;
    for (const [k, batch] of batches.entries()) {
      const collector = { collect(t, values) {
        // The group is chosen on the first batch, by what it would hold over all of them.
        if (k === 0 && (held.size === 0 || count + values.length * batches.length <= MAX_HELD_VALUES)) {
          held.set(t, []);
          count += values.length * batches.length;
        }
        held.get(t)?.push(Float32Array.from(values));
      } };
      try {
        models.observe_tensors(engine, handle, batch, k === 0 ? left : [...held.keys()], collector);
      } catch (err) {
        throw new Error(`the calibration inputs do not run through the model: ${err?.message ?? err}`);
      }
    }
    if (!held.size) throw new Error(`the model's run gave none of the ${left.length} tensors left to calibrate`);
    for (const [t, parts] of held) {
      const joined = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
      calibrator.collect(t, joined);
      onTensor();
    }
    left = left.filter((t) => !held.has(t));
  }
  return calibrator.ranges(tensors);
}
