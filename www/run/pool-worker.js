// A pool worker of the Run view (run/pool.js): it starts empty, loads the module its first job
// needs (its own instances) and either encodes whole weights of the model the Run worker is
// quantizing (the weight-only INT4 module, www/pkg-nbits) or runs that model on the calibration
// inputs and calibrates its share of the tensors (the models and calibration modules), answering
// with the worker-loop.js protocol.
import { serve } from '../worker-loop.js';
import { onDemand } from '../shared/on-demand.js';
import { nbitsModule } from './nbits.js';
import { calibModule, histogramRanges } from './qdq.js';

const modelsModule = onDemand(new URL('../pkg-models/quantscope.js', import.meta.url).href, 'models');

serve(Promise.resolve(null), {
  // One weight of an NBitsPlan (src/nbits): its header, values and the plan's options → the
  // bytes the plan accepts.
  async nbits_encode(_context, _id, [job, o]) {
    const { encode_nbits_weight } = await nbitsModule();
    return encode_nbits_weight(job.weight, job.kind, job.dims, job.half, job.values, o.bits, o.block_size, o.symmetric, o.format, o.method);
  },
  // One weight of a GptqPlan: its MatMul, [k, n], values and A's Hessian, and GPTQ's options.
  async gptq_encode(_context, _id, [job, o]) {
    const { gptq_encode_weight } = await nbitsModule();
    return gptq_encode_weight(job.weight, job.dims, job.values, job.hessian, o.block_size, o.symmetric, o.percdamp, o.gptq_block,
      o.actorder, o.mse, o.perchannel, o.error_feedback);
  },
  // A share of a static quantization's histogram calibration: the model (its name and file) run
  // once on all the calibration inputs, each of `tensors` handed to a calibration of the options
  // as the engine makes it (every value of it, as on one worker) → [lowest, highest] of each in
  // turn. Progress after each tensor.
  async static_histograms(_context, id, [job, o]) {
    const [models, calib] = await Promise.all([modelsModule(), calibModule()]);
    const calibrator = new calib.StaticCalibration(o.method, o.bins, o.percentile, o.symmetric);
    const engine = models.engine_for_any_model();
    const model = engine.load(job.name, job.bytes);
    try {
      let collected = 0;
      return histogramRanges(models, engine, model.handle, job.inputs, job.tensors, calibrator,
        () => self.postMessage({ id, type: 'progress', done: ++collected, total: job.tensors.length }));
    } finally {
      engine.free(model.handle);
      calibrator.free();
    }
  },
});
