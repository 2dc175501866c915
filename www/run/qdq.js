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
