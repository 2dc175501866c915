// A pool worker of the Run view (run/pool.js): it starts empty, loads the weight-only INT4
// module (www/pkg-nbits, its own instance) on its first job and encodes whole weights of the
// model the Run worker is quantizing, answering with the worker-loop.js protocol.
import { serve } from '../worker-loop.js';
import { nbitsModule } from './nbits.js';

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
});
