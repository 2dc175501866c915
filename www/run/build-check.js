// Worker operations about which runner build runs (www/run/runner.js) and whether the relaxed-SIMD
// build keeps its promise: its integer kernels are exact (bit for bit the plain SIMD128 build's
// outputs), its f32 GEMM may fuse multiply and add (outputs differ in the last bits).
//
//   runner_build []                    → {build: 'relaxed'|'simd128', relaxed_supported}
//   runner_check [modelBytes, configs, count]
//                                      → {digits, variants: [{config, exact, identical,
//                                         values, differing, max_diff}]}
//       The built-in model and each config's variant in both builds (the plain one instantiated
//       here, beside the worker's), run on the first `count` test digits; `exact`: the variant
//       is dynamic INT8 (integer GEMMs) and so promised identical. Progress per variant; cancellable there.
import { runnerBuild, relaxedSupported, Engine } from './runner.js';
import { testDigits, withCalibration } from './mnist-ops.js';
import { checkpoint } from '../worker-loop.js';
import { PIXELS } from '../shared/mnist.js';

// Dynamic INT8 is integer end to end (the int8 GEMM is exact in both builds). Static INT8 is
// not promised: its ranges are calibrated on FP32 activations, which the FMA may move.
const EXACT_KINDS = new Set(['int8_dynamic']);

let plainEngine = null;
async function plain() {
  if (!plainEngine) {
    const mod = await import('../pkg-run/quantscope.js');
    await mod.default();
    plainEngine = new mod.Engine();
  }
  return plainEngine;
}

// Every output value of `a` against `b`: bit-identical count and the largest |Δ|.
function compare(a, b) {
  let values = 0, differing = 0, maxDiff = 0;
  for (const [name, out] of Object.entries(a)) {
    const x = new Uint32Array(out.data.buffer, out.data.byteOffset, out.data.length);
    const other = b[name].data;
    const y = new Uint32Array(other.buffer, other.byteOffset, other.length);
    if (x.length !== y.length) throw new Error(`output ${name}: ${x.length} values against ${y.length}`);
    values += x.length;
    for (let i = 0; i < x.length; i++) {
      if (x[i] !== y[i]) {
        differing++;
        maxDiff = Math.max(maxDiff, Math.abs(out.data[i] - other[i]));
      }
    }
  }
  return { values, differing, max_diff: maxDiff };
}

export const buildOps = {
  runner_build: () => ({ build: runnerBuild, relaxed_supported: relaxedSupported }),
  runner_check: async (_ctx, id, [modelBytes, configs, count]) => {
    if (runnerBuild !== 'relaxed') throw new Error('this worker runs the SIMD128 build: there is no relaxed build to check');
    const engines = [new Engine(), await plain()];
    const { n, data } = testDigits(count);
    const input = { input: { shape: [n, PIXELS], data } };
    const bytes = new Uint8Array(modelBytes);
    const models = engines.map((e) => e.load('mnist_mlp.onnx', bytes).handle);
    const variants = [];
    try {
      for (const config of configs) {
        const full = withCalibration(config);
        const outputs = engines.map((e, i) => {
          const v = e.variant(models[i], full);
          try {
            return e.run(v.handle, input, 0).outputs;
          } finally {
            e.free(v.handle);
          }
        });
        const c = compare(outputs[0], outputs[1]);
        variants.push({ config, exact: EXACT_KINDS.has(config.kind), identical: c.differing === 0, ...c });
        self.postMessage({ id, type: 'progress', done: variants.length, total: configs.length });
        await checkpoint(id);
      }
    } finally {
      engines.forEach((e, i) => e.free(models[i]));
    }
    return { digits: n, variants };
  },
};
