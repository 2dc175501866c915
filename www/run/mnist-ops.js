// Worker operations of the Run view's built-in MNIST model, on top of the engine's ops
// (engine-ops.js; a person's own model is custom-ops.js). The test digits and every model variant stay in the worker;
// the page gets probabilities, accuracies and error figures back.
//
//   mnist_load        [name, modelBytes, testBytes] → {name, inputs, outputs, ops, parameters,
//                        bytes, test_count, variants: [{label, group, description, config}], layers}
//   mnist_digit       [index]            → {pixels: Float32Array(784), label}
//   mnist_predict     [pixels, configs]  → [{probabilities, predicted, micros (median of samples), samples,
//                                          bytes, description}]
//   mnist_accuracy    [configs]          → [{accuracy, correct, count, right: Uint8Array (1 per digit
//                                          right), bytes, latency_micros, description}]
//                                          (progress per batch; cancellable)
//   mnist_sensitivity [config]           → {fp32_accuracy, all_accuracy, layers: [{node, op, accuracy}]}
//   mnist_imatrix     [batch]            → llama-imatrix's statistics over the calibration digits,
//                                          `batch` digits per run (progress per batch; cancellable):
//                                          {batches, rows_per_batch, entries: [{weight, shape, sums,
//                                          count, saved}]} (src/runner/src/importance.rs)
//   mnist_imatrix_file []                 → the last one as llama.cpp's imatrix.gguf (Uint8Array), written
//                                          by the exporter module (www/pkg-export)
import { engineOps, runnerEngine } from './engine-ops.js';
import { collectImportance, importanceFile } from './imatrix-ops.js';
import { mnist_test_set, mnist_variants } from './runner.js';
import { checkpoint } from '../worker-loop.js';
import { testSetMembers } from './testset.js';
import { PIXELS, CLASSES, argmax, countCorrect } from '../shared/mnist.js';
import { median } from './stats.js';

// Digits per engine run when evaluating: one run of 500 takes well over the 5 ms below which
// model_run repeats a run to time it, so no work is repeated.
const EVAL_BATCH = 500;
// Batch-1 latency: the median of this many model_run timings (each ≥ 5 ms of runs).
const LATENCY_SAMPLES = 9;
// The prediction table's latency per drawing: the median of this many timings of ≥ 2 ms each
// (one timing alone moved by 8× between two drawings on a shared machine).
export const PREDICT_SAMPLES = 7;
const PREDICT_MIN_MS = 2;

const engine = {
  load: (name, bytes) => engineOps.model_load(null, 0, [name, bytes]),
  variant: (handle, config) => engineOps.model_variant(null, 0, [handle, config]),
  run: (handle, inputs, minMs) => engineOps.model_run(null, 0, [handle, inputs, minMs]),
  free: (handle) => engineOps.model_free(null, 0, [handle]),
};

// `imatrix`: the last importance statistics (mnist_imatrix), which mnist_imatrix_file saves.
const mnist = { model: null, set: null, variants: new Map(), imatrix: null };

// The dataset an importance matrix of the built-in model records (llama-imatrix records its text file).
const IMATRIX_DATASET = 'mnist_test.npz calibration digits';

// The calibration digits shipped with the test set ([count × 784] pixels in [0, 1]), or null
// before the test set is loaded: what a dropped MNIST-shaped model calibrates on without a .npy.
export function builtInCalibrationDigits() {
  return mnist.set?.calibration?.length ? mnist.set.calibration : null;
}

// The first `count` test digits ([count × 784] pixels), for the build check.
export function testDigits(count) {
  const { set } = loaded();
  const n = Math.min(count, set.count);
  return { n, data: set.images.subarray(0, n * PIXELS) };
}

function loaded() {
  if (!mnist.model) throw new Error('the built-in model is not loaded');
  return mnist;
}

// The engine variant for a config, built once and kept (static ones calibrate on the 256
// calibration digits shipped with the test set, never on test digits).
function variantFor(config) {
  const key = JSON.stringify(config);
  let v = mnist.variants.get(key);
  if (!v) {
    const { model, set } = loaded();
    v = engine.variant(model.handle, withCalibration(config));
    // One warm-up run: a variant's first run allocates its buffers, which is no part of its
    // latency.
    engine.run(v.handle, { input: { shape: [1, PIXELS], data: set.images.subarray(0, PIXELS) } });
    mnist.variants.set(key, v);
  }
  return v;
}

// `config` with the built-in calibration digits attached when it is a static one (also what the
// build check, build-check.js, gives both builds).
export function withCalibration(config) {
  if (config.kind !== 'int8_static') return config;
  const { set } = loaded();
  return { ...config, calibration_inputs: { input: { shape: [set.calibration.length / PIXELS, PIXELS], data: set.calibration } } };
}

// Digits of the test set a variant gets right; progress after each batch, cancellable there.
// `right`, if given, gets 1 for each digit it gets right (for paired comparisons).
async function testSetCorrect(handle, id, progress, right = null) {
  const { set } = loaded();
  let correct = 0;
  for (let start = 0; start < set.count; start += EVAL_BATCH) {
    const n = Math.min(EVAL_BATCH, set.count - start);
    const r = engine.run(handle, { input: { shape: [n, PIXELS], data: set.images.subarray(start * PIXELS, (start + n) * PIXELS) } });
    const probs = r.outputs.probabilities.data;
    if (right) {
      for (let i = 0; i < n; i++) right[start + i] = argmax(probs, i * CLASSES, CLASSES) === set.labels[start + i] ? 1 : 0;
    }
    correct += countCorrect(probs, set.labels, start);
    progress();
    await checkpoint(id);
  }
  return correct;
}

function batchesPerPass() {
  return Math.ceil(loaded().set.count / EVAL_BATCH);
}


// The median of `samples` model_run timings of `inputs` (each the mean over ≥ minMs of runs).
function medianLatency(handle, inputs, samples = LATENCY_SAMPLES, minMs = undefined) {
  const micros = [];
  for (let i = 0; i < samples; i++) micros.push(engine.run(handle, inputs, minMs).micros);
  return median(micros);
}

const firstDigit = () => ({ input: { shape: [1, PIXELS], data: mnist.set.images.subarray(0, PIXELS) } });

function progressReporter(id, total) {
  let done = 0;
  return () => self.postMessage({ id, type: 'progress', done: ++done, total });
}

export const mnistOps = {
  mnist_load(_ws, _id, [name, modelBytes, testBytes]) {
    if (mnist.model) {
      for (const v of mnist.variants.values()) engine.free(v.handle);
      engine.free(mnist.model.handle);
    }
    mnist.model = null;
    mnist.variants.clear();
    mnist.imatrix = null;
    const set = mnist_test_set(...testSetMembers(new Uint8Array(testBytes)));
    const info = engine.load(name, modelBytes);
    if (!info.inputs.some((i) => i.name === 'input') || !info.outputs.some((o) => o.name === 'probabilities')) {
      engine.free(info.handle);
      throw new Error(`${name} has no 'input' → 'probabilities' signature`);
    }
    Object.assign(mnist, { model: info, set });
    return {
      name: info.name, inputs: info.inputs, outputs: info.outputs, ops: info.ops,
      parameters: info.parameters, bytes: info.bytes, test_count: set.count,
      variants: mnist_variants(),
      layers: info.nodes.filter((n) => n.quantizable).map((n) => ({ name: n.name, op: n.op_type })),
    };
  },

  mnist_digit(_ws, _id, [index]) {
    const { set } = loaded();
    if (!(index >= 0 && index < set.count)) throw new Error(`no test digit ${index} (there are ${set.count})`);
    return { pixels: set.images.slice(index * PIXELS, (index + 1) * PIXELS), label: set.labels[index] };
  },

  mnist_predict(_ws, _id, [pixels, configs]) {
    loaded();
    if (pixels?.length !== PIXELS) throw new Error(`a digit is ${PIXELS} pixels, not ${pixels?.length}`);
    return configs.map((config) => {
      const v = variantFor(config);
      const digit = { input: { shape: [1, PIXELS], data: pixels } };
      const probabilities = engine.run(v.handle, digit, 0).outputs.probabilities.data;
      const micros = medianLatency(v.handle, digit, PREDICT_SAMPLES, PREDICT_MIN_MS);
      return { probabilities, predicted: argmax(probabilities), micros, samples: PREDICT_SAMPLES, bytes: v.bytes, description: v.description };
    });
  },

  async mnist_accuracy(_ws, id, [configs]) {
    const { set } = loaded();
    const step = progressReporter(id, configs.length * (batchesPerPass() + 1));
    const rows = [];
    for (const config of configs) {
      const v = variantFor(config);
      const right = new Uint8Array(set.count);
      const correct = await testSetCorrect(v.handle, id, step, right);
      rows.push({ accuracy: correct / set.count, correct, count: set.count, right, bytes: v.bytes, description: v.description });
    }
    // Latencies last: by then V8 has tiered the kernels up from its baseline compiler, which
    // would otherwise slow whichever variant is timed first.
    for (const [i, config] of configs.entries()) {
      rows[i].latency_micros = medianLatency(variantFor(config).handle, firstDigit());
      step();
      await checkpoint(id);
    }
    return rows;
  },

  async mnist_sensitivity(_ws, id, [config]) {
    const { model, set } = loaded();
    const layers = model.nodes.filter((n) => n.quantizable);
    const step = progressReporter(id, (layers.length + 2) * batchesPerPass());
    const fp32 = await testSetCorrect(variantFor({ kind: 'fp32' }).handle, id, step);
    const all = await testSetCorrect(variantFor(config).handle, id, step);
    const out = [];
    for (const layer of layers) {
      const v = engine.variant(model.handle, { ...withCalibration(config), only_nodes: [layer.name] });
      try {
        out.push({ node: layer.name, op: layer.op_type, accuracy: (await testSetCorrect(v.handle, id, step)) / set.count });
      } finally {
        engine.free(v.handle);
      }
    }
    return { fp32_accuracy: fp32 / set.count, all_accuracy: all / set.count, layers: out };
  },

  async mnist_imatrix(_ws, id, [batch]) {
    const { model, set } = loaded();
    if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`a batch is a whole number of digits, not ${batch}`);
    const digits = set.calibration.length / PIXELS, batches = [];
    for (let start = 0; start < digits; start += batch) {
      const n = Math.min(batch, digits - start);
      batches.push({ input: { shape: [n, PIXELS], data: set.calibration.subarray(start * PIXELS, (start + n) * PIXELS) } });
    }
    mnist.imatrix = await collectImportance(runnerEngine(), model.handle, batches, id);
    return mnist.imatrix;
  },

  mnist_imatrix_file: () => importanceFile(mnist.imatrix, IMATRIX_DATASET),
};
