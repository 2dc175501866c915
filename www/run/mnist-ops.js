// Worker operations of the Run view: the built-in MNIST model and a user's own model, on top of
// the engine's ops (engine-ops.js). The test digits and every model variant stay in the worker;
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
//   custom_load       [name, bytes]      → the engine's model summary
//   custom_compare    [config, npyBytes | null, shapes: {input: shape of its random values}] → {inputs, outputs: [{name, shape, dtype, metrics,
//                                          argmax_agreement}], fp32, quantized}
import { engineOps } from './engine-ops.js';
import { mnist_test_set, mnist_variants, read_npy_input, output_error } from '../pkg-run/quantscope.js';
import { checkpoint } from '../worker-loop.js';
import { testSetMembers } from './testset.js';
import { PIXELS, CLASSES, argmax, countCorrect } from '../shared/mnist.js';

// Digits per engine run when evaluating: one run of 500 takes well over the 5 ms below which
// model_run repeats a run to time it, so no work is repeated.
const EVAL_BATCH = 500;
// Batch-1 latency: the median of this many model_run timings (each ≥ 5 ms of runs).
const LATENCY_SAMPLES = 9;
// The prediction table's latency per drawing: the median of this many timings of ≥ 2 ms each
// (one timing alone moved by 8× between two drawings on a shared machine).
export const PREDICT_SAMPLES = 7;
const PREDICT_MIN_MS = 2;
// A user's model: up to this many timed runs, as many as fit in the budget (at least one).
export const CUSTOM_SAMPLES = 5;
const CUSTOM_BUDGET_MS = 1000;

const engine = {
  load: (name, bytes) => engineOps.model_load(null, 0, [name, bytes]),
  variant: (handle, config) => engineOps.model_variant(null, 0, [handle, config]),
  run: (handle, inputs, minMs) => engineOps.model_run(null, 0, [handle, inputs, minMs]),
  free: (handle) => engineOps.model_free(null, 0, [handle]),
};

const mnist = { model: null, set: null, variants: new Map() };
const custom = { model: null };

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

function withCalibration(config) {
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

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// The median of `samples` model_run timings of `inputs` (each the mean over ≥ minMs of runs).
function medianLatency(handle, inputs, samples = LATENCY_SAMPLES, minMs = undefined) {
  const micros = [];
  for (let i = 0; i < samples; i++) micros.push(engine.run(handle, inputs, minMs).micros);
  return median(micros);
}

const firstDigit = () => ({ input: { shape: [1, PIXELS], data: mnist.set.images.subarray(0, PIXELS) } });

// Runs a user's model: its outputs, and the median time of up to CUSTOM_SAMPLES runs (as many as
// fit in CUSTOM_BUDGET_MS after the first) with how many were timed.
function timedRun(handle, inputs) {
  const start = performance.now();
  const first = engine.run(handle, inputs);
  const micros = [first.micros];
  while (micros.length < CUSTOM_SAMPLES && performance.now() - start < CUSTOM_BUDGET_MS) micros.push(engine.run(handle, inputs).micros);
  return { outputs: first.outputs, micros: median(micros), samples: micros.length };
}

function progressReporter(id, total) {
  let done = 0;
  return () => self.postMessage({ id, type: 'progress', done: ++done, total });
}

// The page sets the open dimensions (custom.js: the input size fields); a model that declares no
// shape needs a .npy.
function concreteShape(io, shape) {
  if (!io.shape) throw new Error(`input '${io.name}' declares no shape: drop a .npy with its values`);
  if (!shape || shape.length !== io.shape.length || shape.some((d, i) => typeof io.shape[i] === 'number' && d !== io.shape[i])) {
    throw new Error(`input '${io.name}' [${io.shape.join(', ')}]: no size given for its open dimensions`);
  }
  return shape;
}

// Seeded N(0, 1) values (integers 0–9 for integer inputs), so a run can be repeated exactly.
function seededInput(io, givenShape) {
  const shape = concreteShape(io, givenShape);
  const n = shape.reduce((a, b) => a * b, 1);
  let s = 0x9e3779b9;
  const uniform = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const data = new Float32Array(n);
  const integer = io.dtype && !/^(float|bfloat)/.test(io.dtype);
  for (let i = 0; i < n; i++) {
    data[i] = integer ? Math.floor(uniform() * 10)
      : Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return { shape, data };
}

// Fraction of rows whose argmax agrees, for classifier-like outputs only: [classes] or
// [batch, classes] with two classes or more (a feature map's or a box list's argmax means
// nothing); null otherwise.
function argmaxAgreement(a, b, shape) {
  const classes = shape.length ? shape[shape.length - 1] : 1;
  if (shape.length > 2 || classes < 2 || a.length !== b.length || a.length === 0) return null;
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(a, r * classes, classes) === argmax(b, r * classes, classes)) same++;
  return same / rows;
}

export const mnistOps = {
  mnist_load(_ws, _id, [name, modelBytes, testBytes]) {
    if (mnist.model) {
      for (const v of mnist.variants.values()) engine.free(v.handle);
      engine.free(mnist.model.handle);
    }
    mnist.model = null;
    mnist.variants.clear();
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

  // [null, null] forgets the model (the panel's Clear).
  custom_load(_ws, _id, [name, bytes]) {
    if (custom.model) engine.free(custom.model.handle);
    custom.model = null;
    if (bytes === null) return null;
    custom.model = engine.load(name, bytes);
    return custom.model;
  },

  custom_compare(_ws, _id, [config, npyBytes, shapes = {}]) {
    const model = custom.model;
    if (!model) throw new Error('drop a model first');
    const inputs = {}, used = [];
    model.inputs.forEach((io, i) => {
      if (i === 0 && npyBytes) {
        const t = read_npy_input(new Uint8Array(npyBytes));
        inputs[io.name] = { shape: t.shape, data: t.data };
        used.push({ name: io.name, shape: t.shape, source: 'npy' });
      } else {
        inputs[io.name] = seededInput(io, shapes[io.name]);
        used.push({ name: io.name, shape: inputs[io.name].shape, source: 'random' });
      }
    });
    const full = config.kind === 'int8_static' ? { ...config, calibration_inputs: inputs } : config;
    const reference = timedRun(model.handle, inputs);
    const v = engine.variant(model.handle, full);
    try {
      const quantized = timedRun(v.handle, inputs);
      const outputs = Object.entries(reference.outputs).map(([name, ref]) => {
        const q = quantized.outputs[name];
        return { name, shape: ref.shape, dtype: ref.dtype, metrics: output_error(ref.data, q.data),
          argmax_agreement: argmaxAgreement(ref.data, q.data, ref.shape) };
      });
      return { inputs: used, outputs, fp32: { micros: reference.micros, samples: reference.samples, bytes: model.bytes },
        quantized: { micros: quantized.micros, samples: quantized.samples, bytes: v.bytes, description: v.description } };
    } finally {
      engine.free(v.handle);
    }
  },
};

