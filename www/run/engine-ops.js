// Worker operations of the model engine (src/runner/src/engine.rs): one `Engine` registry of loaded
// models per worker, created on first use (the worker has initialised the wasm by then).
//
//   model_load    [name, bytes: ArrayBuffer]  → {handle, name, inputs: [{name, dtype, shape}],
//                                                outputs, ops: [[op, count]], parameters, bytes,
//                                                opset, nodes: [{name, op_type, quantizable}]}
//   model_variant [handle, config]            → {handle, bytes, description, ops}
//       config: {kind: 'fp32'} | {kind: 'int8_dynamic', per_channel}
//             | {kind: 'int8_static', calibration: 'minmax'|'percentile'|'entropy'|'mse',
//                calibration_inputs: {name: {shape, data: Float32Array}}, per_channel}
//             | {kind: 'int4_dynamic', per_channel} | {kind: 'weight_only', scheme}
//             (+ optional only_nodes: [node names])
//   model_run     [handle, inputs: {name: {shape, data: Float32Array}}, min_ms?]
//                                             → {outputs: {name: {shape, dtype, data: Float32Array}},
//                                                micros, runs}
//       micros is the mean of `runs` runs: the model repeats (doubling) until min_ms (default 5)
//       have passed, as the worker's clock is too coarse to time one small run; 0 runs it once.
//   model_free    [handle]                    → undefined
//
// Errors are thrown with the engine's message (the worker answers {type: 'error', message}).
import { Engine } from './runner.js';

let engine = null;
const models = () => (engine ??= new Engine());
// The worker's engine itself, for ops that hold a model across calls (mnist_imatrix).
export const runnerEngine = models;

export const engineOps = {
  model_load: (_ws, _id, [name, bytes]) => models().load(name, new Uint8Array(bytes)),
  model_variant: (_ws, _id, [handle, config]) => models().variant(handle, config),
  model_run: (_ws, _id, [handle, inputs, minMs]) => models().run(handle, inputs, minMs),
  model_free: (_ws, _id, [handle]) => models().free(handle),
};
