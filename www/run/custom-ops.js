// Worker operations for a person's own model: drop a small .onnx (and optionally its inputs:
// .npy/.npz arrays, images), then compare its FP32 outputs with a quantized copy's. They run on the models module
// (www/pkg-models: the runner's exports plus an engine that knows every op), which this worker
// imports on the first model dropped; the built-in MNIST model never needs it.
//
//   custom_load       [name, bytes]      → the engine's model summary ([null, null] forgets it)
//   (`given`, below: the files dropped for the inputs, {arrays: [{file, bytes}], images: [{file,
//   bytes}], image: {scale, mean, std, order}}, read by input-files.js's resolveGiven; null when none)
//   custom_compare    [config, given | null, shapes: {input: shape of its random values}]
//                                        → {inputs, outputs: [{name, shape, dtype, metrics,
//                                          argmax_agreement, preview: the first FP32 values,
//                                          count}], layers: the models module's layer_errors
//                                          (every node output against FP32), layers_error (why
//                                          there are none), fp32, quantized}
//   custom_run        [given | null, shapes] → {inputs, outputs: {name: {shape, dtype, data}}}:
//                                          the FP32 model's outputs on the inputs custom_compare
//                                          uses (all of each output, for a closer look or a test)
//   custom_export     [options: {weight_type, per_channel, reduce_range, subgraphs}, given | null, shapes]
//                                        → {bytes, quantized, kept, outputs: [{name, metrics}]}: the
//                                          model as ONNX Runtime's quantize_dynamic writes it (the
//                                          exporter module, www/pkg-export, loaded on first use),
//                                          then that very file run by the engine against FP32
//   custom_static     [options: {activation_type, per_channel, force_quantize_no_input_check, method: 'minmax' | 'percentile' |
//                                          'entropy' | 'distribution', bins, percentile, symmetric},
//                                          given, shapes, workers]
//                                        → {bytes, quantized, kept, calibrated: tensors, outputs: [{name,
//                                          metrics}], source: null | the built-in digits, workers}: the model as ONNX Runtime's quantize_static writes
//                                          it in QDQ format (the static QDQ module, www/pkg-qdq, loaded on first use), calibrated on the inputs (files of
//                                          them are required: calibration needs real data; an MNIST-shaped model without one
//                                          takes the built-in calibration digits): every tensor of ONNX Runtime's
//                                          augmented model's list taken as the engine makes it — MinMax's ranges in
//                                          the models module (observe_ranges), the histogram calibrations' values
//                                          handed to the calibration module (www/pkg-calib, observe_tensors),
//                                          those tensors shared out over `workers` pool workers (run/pool.js);
//                                          progress per step (and per tensor), Cancel between steps;
//                                          `seconds`: the time of each phase. No `outputs`: the page saves the file first, then asks
//   custom_static_check []                → {outputs: [{name, metrics}], seconds}: that file run by the engine
//                                          against FP32 on the same inputs (progress, Cancel between the two runs)
//   custom_half       [precision: 'fp16' | 'bf16', given | null, shapes]
//                                        → {bytes, source_bytes (the FP32 file's), report: {tensors, values, clamped_small,
//                                          clamped_large, kept_float, casts}, outputs: [{name,
//                                          metrics}] | null, run_error}: the model's float32
//                                          weights in half precision (onnxconverter_common's
//                                          convert_float_to_float16, keep_io_types; the converter
//                                          module, www/pkg-convert, loaded on first use), with progress
//                                          per step and Cancel between them; then that file run
//                                          by the engine against FP32 (run_error: why it could not)
//   custom_nbits      [options: {bits, block_size, symmetric, format: 'qoperator' | 'qdq', method: 'rtn' | 'hqq', gather}, given | null, shapes,
//                                          workers]
//                                        → {bytes, source_bytes, quantized, kept, outputs: [{name, metrics}], workers, seconds}: 4-bit
//                                          weights as ONNX Runtime's MatMulNBitsQuantizer (RTN) writes them, com.microsoft
//                                          MatMulNBits or blocked int4 DequantizeLinear (the weight-only INT4 module,
//                                          www/pkg-nbits, loaded on first use), each weight encoded on one of up to
//                                          `workers` pool workers (run/pool.js; the same bytes for any count); progress per
//                                          step and per weight, Cancel between them; then that file run by the engine
//                                          against FP32 (`seconds`: planning, encoding and writing the file;
//                                          `encode_seconds`: the weights' encoding alone)
//   custom_gptq       [options: {block_size, symmetric, actorder, error_feedback}, given | null, shapes, workers]
//                                        → {bytes, source_bytes, quantized, kept, errors: [{matmul, gptq, rtn}], outputs:
//                                          [{name, metrics}], source, seconds}: 4-bit MatMulNBits as ONNX Runtime's GPTQ
//                                          (GPTQWeightOnlyQuantConfig) writes them (www/pkg-nbits): the float model with
//                                          each MatMul's A as an output run by the engine on the calibration inputs (the
//                                          .npy, one reader item; an MNIST-shaped model without one takes the built-in
//                                          calibration digits), each A's Hessian, then GPTQ weight by weight on up to
//                                          `workers` pool workers (run/pool.js; the same bytes for any count); progress
//                                          per step and per weight, Cancel between them; then the file against FP32 on
//                                          the calibration inputs (→ also `workers`, the pool's size)
//   custom_imatrix    [given | null, shapes] → llama-imatrix's statistics of the model's MatMul/Gemm
//                                          weights over those inputs, one batch (imatrix-ops.js)
//   custom_imatrix_file []               → the last one as llama.cpp's imatrix.gguf (Uint8Array)
import { argmax } from '../shared/mnist.js';
import { median } from './stats.js';
import { exporterModule } from './exporter.js';
import { converterModule } from './converter.js';
import { nbitsModule } from './nbits.js';
import { qdqModule, calibModule, histogramRanges, histogramRangesBatched, minMaxRanges } from './qdq.js';
import { builtInCalibrationDigits } from './mnist-ops.js';
import { collectImportance, importanceFile } from './imatrix-ops.js';
import { checkpoint } from '../worker-loop.js';
import { seededUniform } from '../shared/random.js';
import { calibrateOnPool, encodeWeights, poolSize } from './pool.js';
import { resolveGiven } from './input-files.js';

// Up to this many timed runs, as many as fit in the budget (at least one).
export const CUSTOM_SAMPLES = 5;
const CUSTOM_BUDGET_MS = 1000;
// FP32 values of each output the table shows.
const PREVIEW = 4;

// `models` is the loaded module's {engine, read_npy_input, output_error}, set by modelsModule;
// `bytes` the loaded model's file, which the exporter rewrites.
// `staticFile`: custom_static's last file and inputs, until custom_static_check runs it.
const custom = { model: null, bytes: null, models: null, loading: null, imatrix: null, staticFile: null };

async function modelsModule() {
  custom.loading ??= import('../pkg-models/quantscope.js').then(async (m) => {
    await m.default();
    custom.models = { engine: m.engine_for_any_model(), read_npy_input: m.read_npy_input, output_error: m.output_error,
      layer_errors: m.layer_errors, observe_tensors: m.observe_tensors, observe_ranges: m.observe_ranges };
    return custom.models;
  });
  try {
    return await custom.loading;
  } catch (err) {
    custom.loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the models module: ${err?.message ?? err}`);
  }
}

// A calibration model (the float model with the tensors to observe as outputs) loaded, run once
// on the calibration inputs and freed: its outputs. `loaded()` is called once it is loaded (the
// static phases' clock). A run that fails says it is the calibration inputs that do not run.
function runCalibrationModel(engine, name, bytes, inputs, loaded = () => {}) {
  const model = engine.load(name, bytes);
  loaded();
  try {
    return engine.run(model.handle, inputs, 0).outputs;
  } catch (err) {
    throw new Error(`the calibration inputs do not run through the model: ${err?.message ?? err}`);
  } finally {
    engine.free(model.handle);
  }
}

// Runs a model: its outputs, and the median time of up to CUSTOM_SAMPLES runs (as many as fit in
// CUSTOM_BUDGET_MS after the first) with how many were timed.
function timedRun(engine, handle, inputs) {
  const start = performance.now();
  const first = engine.run(handle, inputs);
  const micros = [first.micros];
  while (micros.length < CUSTOM_SAMPLES && performance.now() - start < CUSTOM_BUDGET_MS) micros.push(engine.run(handle, inputs).micros);
  return { outputs: first.outputs, micros: median(micros), samples: micros.length };
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

// Seeded N(0, 1) values, so a run can be repeated exactly; for integer inputs, integers 0–9 —
// but all 0 for a token type or segment id (a BERT has 2 types) and all 1 for a mask (every
// token attended), which random integers would overrun or zero out.
function seededInput(io, givenShape) {
  const shape = concreteShape(io, givenShape);
  const n = shape.reduce((a, b) => a * b, 1);
  const uniform = seededUniform();
  const data = new Float32Array(n);
  const integer = io.dtype && !/^(float|bfloat)/.test(io.dtype);
  if (integer && /type|segment/i.test(io.name)) return { shape, data, label: 'all 0 (made up)' };
  if (integer && /mask/i.test(io.name)) return { shape, data: data.fill(1), label: 'all 1 (made up)' };
  for (let i = 0; i < n; i++) {
    data[i] = integer ? Math.floor(uniform() * 10)
      : Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return { shape, data, label: integer ? 'seeded random integers 0–9' : 'seeded random N(0, 1)' };
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

// The loaded model's inputs: the values of the files dropped (`given`: input-files.js's
// resolveGiven), seeded random values of the page's sizes for the others.
async function modelInputs(given, shapes) {
  const model = custom.model;
  if (!model) throw new Error('drop a model first');
  const { inputs, used } = await resolveGiven(model, given, shapes, (bytes) => custom.models.read_npy_input(bytes));
  for (const io of model.inputs) {
    if (inputs[io.name]) continue;
    const { shape, data, label } = seededInput(io, shapes[io.name]);
    inputs[io.name] = { shape, data };
    used.push({ name: io.name, shape, source: 'random', label });
  }
  used.sort((a, b) => model.inputs.findIndex((i) => i.name === a.name) - model.inputs.findIndex((i) => i.name === b.name));
  const batches = batchesOf(model, inputs);
  if (batches.length > 1) {
    for (const u of used) {
      if (batches[0][u.name].shape !== inputs[u.name].shape) u.source += `; the model takes ${batches[0][u.name].shape[0]} at a time: ${batches.length} runs`;
    }
  }
  // inputs: what one run takes (the first batch); all: every row, for the calibrations.
  return { model, inputs: batches[0], all: inputs, batches, used };
}

// The input sets of a model that fixes its batch size (YOLO's [1, 3, 640, 640]) given N times as
// many rows: N runs of a batch each, as ONNX Runtime's calibration reader feeds them one item at a
// time (the engine's calibration_batches does the same for its own static variant). Inputs
// without a fixed first axis (a scalar sample rate) go whole to every run; rows that do not
// divide are left for the engine to refuse by name.
function batchesOf(model, inputs) {
  let runs = 1;
  for (const io of model.inputs) {
    const b = io.shape?.[0], v = inputs[io.name];
    if (typeof b !== 'number' || b < 1 || !v?.shape.length || v.shape[0] === b) continue;
    if (v.shape[0] % b !== 0 || (runs > 1 && v.shape[0] / b !== runs)) return [inputs];
    runs = v.shape[0] / b;
  }
  if (runs === 1) return [inputs];
  return Array.from({ length: runs }, (_, k) => Object.fromEntries(Object.entries(inputs).map(([name, v]) => {
    const b = model.inputs.find((io) => io.name === name)?.shape?.[0];
    if (typeof b !== 'number' || !v.shape.length || v.shape[0] !== b * runs) return [name, v];
    const per = v.data.length / runs;
    return [name, { shape: [b, ...v.shape.slice(1)], data: v.data.subarray(k * per, (k + 1) * per) }];
  })));
}

export const customOps = {
  async custom_load(_ws, _id, [name, bytes]) {
    if (custom.model) custom.models.engine.free(custom.model.handle);
    custom.model = null;
    custom.bytes = null;
    custom.imatrix = null;
    custom.staticFile = null;
    if (bytes === null) return null;
    const { engine } = await modelsModule();
    custom.model = engine.load(name, new Uint8Array(bytes));
    custom.bytes = new Uint8Array(bytes);
    return custom.model;
  },

  // The loaded model quantized as ONNX Runtime's quantize_dynamic quantizes it; the file is then
  // loaded by the engine and run on the page's inputs beside the FP32 model, so the error shown
  // is the downloaded file's own.
  async custom_export(_ws, _id, [options, given, shapes = {}]) {
    const { model, inputs } = await modelInputs(given, shapes);
    const { quantize_onnx_dynamic } = await exporterModule();
    const q = quantize_onnx_dynamic(custom.bytes, options.weight_type, options.per_channel, options.reduce_range,
      Boolean(options.subgraphs));
    const bytes = q.bytes, report = q.report;
    q.free();
    const { engine, output_error } = custom.models;
    const loaded = engine.load(`${model.name} (quantized)`, bytes);
    try {
      const reference = engine.run(model.handle, inputs, 0).outputs;
      const quantized = engine.run(loaded.handle, inputs, 0).outputs;
      const outputs = Object.entries(reference).map(([name, ref]) => ({ name, metrics: output_error(ref.data, quantized[name].data) }));
      return { bytes, ...report, outputs };
    } finally {
      engine.free(loaded.handle);
    }
  },

  // The loaded model quantized as ONNX Runtime's quantize_static (QDQ) writes it. Steps (load
  // the static QDQ module, list the tensors to calibrate, run the model on the inputs taking
  // their ranges or histograms, quantize; the file's run against FP32 comes after the download),
  // each reported, Cancel checked between them.
  async custom_static(_ws, id, [options, given, shapes = {}, workers = 1]) {
    // Without a .npy, a model that takes MNIST's [N, 784] pixels alone calibrates on the digits
    // shipped for that (the built-in model's calibration digits, never test digits).
    const io = custom.model?.inputs ?? [];
    const digits = !given && io.length === 1 && io[0].shape?.length === 2 && io[0].shape[1] === 784 ? builtInCalibrationDigits() : null;
    if (!given && !digits) {
      throw new Error('no calibration data: static quantization sets every activation\'s scale from real inputs; drop .npy/.npz arrays or images of them first');
    }
    // Steps: load, the tensors to calibrate, the model's run (with the histograms), quantize.
    const histogram = (options.method ?? 'minmax') !== 'minmax';
    const total = 4;
    custom.staticFile = null;
    const step = async (done) => {
      self.postMessage({ id, type: 'progress', done, total });
      await checkpoint(id);
    };
    let { model, inputs, batches } = await modelInputs(given, shapes);
    if (digits) {
      inputs[io[0].name] = { shape: [digits.length / 784, 784], data: digits };
      batches = batchesOf(model, inputs);
      inputs = batches[0];
    }
    const source = digits ? `the ${digits.length / 784} built-in calibration digits` : null;
    // Seconds per phase, for the page's line and scripts/bench-onnx-static.mjs.
    const seconds = {};
    let mark = performance.now();
    const lap = (phase) => {
      const now = performance.now();
      seconds[phase] = (seconds[phase] ?? 0) + (now - mark) / 1000;
      mark = now;
    };
    await step(0);
    const qdq = await qdqModule();
    const calib = histogram ? await calibModule() : null;
    lap('modules');
    // The options are checked before the model runs: a bad percentile or bin count says so at once.
    const calibrator = histogram ? new calib.StaticCalibration(options.method, options.bins, options.percentile ?? 99.999, options.symmetric ?? true) : null;
    let usedWorkers = 1;
    try {
      await step(1);
      // The tensors ONNX Runtime calibrates (its augmented models' list, the same for every
      // method; no augmented model is run: the engine hands over each tensor as it makes it,
      // all the rows at once, as quantize_static collects every calibration run in one go).
      let tensors = qdq.static_calibrated_tensors(custom.bytes);
      lap('calibration_model');
      await step(2);
      const { engine } = custom.models;
      let r;
      // The histograms over the pool (run/pool.js: tensors shared out, the same ranges for any
      // count); MinMax's ranges cost little beside the run itself, which each worker would repeat.
      // (A model run in several batches calibrates on this worker: every batch's values of a
      // tensor are collected together, which a pool worker would have to run every batch for.)
      const size = histogram && batches.length === 1 ? poolSize(workers, tensors.length) : 1;
      usedWorkers = size;
      if (size > 1) {
        let collected = 0;
        const job = { name: model.name, bytes: custom.bytes, inputs };
        const o = { method: options.method, bins: options.bins, percentile: options.percentile ?? 99.999, symmetric: options.symmetric ?? true };
        r = await calibrateOnPool(id, job, tensors, size, o,
          () => self.postMessage({ id, type: 'progress', done: 2 + ++collected / tensors.length, total }));
        lap('calibration_pool');
      } else if (histogram && batches.length > 1) {
        let collected = 0;
        r = histogramRangesBatched(custom.models, engine, model.handle, batches, tensors, calibrator,
          () => self.postMessage({ id, type: 'progress', done: 2 + ++collected / tensors.length, total }));
        lap('calibration_run');
      } else if (histogram) {
        // The histograms' time apart from the run's: each tensor's binning timed.
        let collected = 0, histogramMs = 0;
        const timed = { collect(t, values) {
          const started = performance.now();
          calibrator.collect(t, values);
          histogramMs += performance.now() - started;
        }, ranges: (t) => calibrator.ranges(t) };
        r = histogramRanges(custom.models, engine, model.handle, inputs, tensors, timed,
          () => self.postMessage({ id, type: 'progress', done: 2 + ++collected / tensors.length, total }));
        lap('calibration_run');
        seconds.calibration_run -= histogramMs / 1000;
        seconds.histograms = histogramMs / 1000;
      } else {
        // MinMax: each tensor's least and greatest value, taken in the models module.
        try {
          r = minMaxRanges(batches.map((b) => custom.models.observe_ranges(engine, model.handle, b, tensors)));
        } catch (err) {
          throw new Error(`the calibration inputs do not run through the model: ${err?.message ?? err}`);
        }
        lap('calibration_run');
      }
      // A tensor with no values (an empty Resize roi) has no range (NaN: neither collector keeps
      // NaN values): left out, so a node that needed it is refused by name.
      const kept = tensors.map((_, i) => i).filter((i) => !Number.isNaN(r[2 * i]));
      tensors = kept.map((i) => tensors[i]);
      const mins = Float32Array.from(kept, (i) => r[2 * i]);
      const maxs = Float32Array.from(kept, (i) => r[2 * i + 1]);
      lap('ranges');
      await step(total - 1);
      return { ...await quantizeAndCompare(qdq, model, inputs, options, tensors, mins, maxs, source, step, total, lap, seconds), workers: usedWorkers };
    } finally {
      calibrator?.free();
    }
  },

  // custom_static's last file run by the engine beside the FP32 model on the same inputs: the
  // FP32 run, the file's run (Cancel between them), each output's error.
  async custom_static_check(_ws, id) {
    const file = custom.staticFile;
    if (!file || file.model !== custom.model) throw new Error('no static INT8 file to check: quantize first');
    const started = performance.now();
    const { engine, output_error } = custom.models;
    self.postMessage({ id, type: 'progress', done: 0, total: 2 });
    const reference = engine.run(file.model.handle, file.inputs, 0).outputs;
    self.postMessage({ id, type: 'progress', done: 1, total: 2 });
    await checkpoint(id);
    const loaded = engine.load(`${file.model.name} (static INT8)`, file.bytes);
    try {
      const quantized = engine.run(loaded.handle, file.inputs, 0).outputs;
      const outputs = Object.entries(reference).map(([name, ref]) => ({ name, metrics: output_error(ref.data, quantized[name].data) }));
      custom.staticFile = null;
      return { outputs, seconds: (performance.now() - started) / 1000 };
    } finally {
      engine.free(loaded.handle);
    }
  },

  // The loaded model with half-precision weights; three steps (load the converter, convert, run
  // the file against FP32), each reported, Cancel checked between them.
  async custom_half(_ws, id, [precision, given, shapes = {}]) {
    const step = async (done) => {
      self.postMessage({ id, type: 'progress', done, total: 3 });
      await checkpoint(id);
    };
    const { model, inputs } = await modelInputs(given, shapes);
    await step(0);
    const { convert_onnx_half } = await converterModule();
    await step(1);
    const h = convert_onnx_half(custom.bytes, precision);
    const bytes = h.bytes, report = h.report;
    h.free();
    await step(2);
    const { engine, output_error } = custom.models;
    let loaded = null;
    try {
      loaded = engine.load(`${model.name} (${precision})`, bytes);
      const reference = engine.run(model.handle, inputs, 0).outputs;
      const half = engine.run(loaded.handle, inputs, 0).outputs;
      const outputs = Object.entries(reference).map(([name, ref]) => ({ name, metrics: output_error(ref.data, half[name].data) }));
      return { bytes, source_bytes: custom.bytes.length, report, outputs, run_error: null };
    } catch (err) {
      // The file is still written: the engine lacks an op in this precision, say which.
      return { bytes, source_bytes: custom.bytes.length, report, outputs: null, run_error: String(err?.message ?? err) };
    } finally {
      if (loaded) engine.free(loaded.handle);
    }
  },

  // The loaded model with weight-only 2/4/8-bit MatMuls: load the module, plan the file, encode
  // its weights one by one (here, or over `workers` pool workers: run/pool.js), write the file,
  // run it against FP32. Progress per step and per weight, Cancel between them.
  async custom_nbits(_ws, id, [options, given, shapes = {}, workers = 1]) {
    let total = 3;
    const step = async (done) => {
      self.postMessage({ id, type: 'progress', done, total });
      await checkpoint(id);
    };
    const { model, inputs } = await modelInputs(given, shapes);
    await step(0);
    const { NBitsPlan } = await nbitsModule();
    const started = performance.now();
    let plan = new NBitsPlan(custom.bytes, options.bits, options.block_size, options.symmetric, options.format, options.method, options.gather);
    let q;
    const size = poolSize(workers, plan.count());
    let encodeSeconds = 0;
    try {
      total = plan.count() + 3;
      await step(1);
      const o = { bits: options.bits, block_size: options.block_size, symmetric: options.symmetric, format: options.format, method: options.method };
      const encoding = performance.now();
      await encodeWeights(id, plan, size, 'nbits_encode', o, (done) => self.postMessage({ id, type: 'progress', done: 1 + done, total }));
      encodeSeconds = (performance.now() - encoding) / 1000;
      q = plan.finish(); // consumes the plan
      plan = null;
    } finally {
      plan?.free();
    }
    const seconds = (performance.now() - started) / 1000;
    const bytes = q.bytes, report = q.report;
    q.free();
    await step(total - 1);
    const { engine, output_error } = custom.models;
    const loaded = engine.load(`${model.name} (INT${options.bits} weights)`, bytes);
    try {
      const reference = engine.run(model.handle, inputs, 0).outputs;
      const quantized = engine.run(loaded.handle, inputs, 0).outputs;
      const outputs = Object.entries(reference).map(([name, ref]) => ({ name, metrics: output_error(ref.data, quantized[name].data) }));
      return { bytes, source_bytes: custom.bytes.length, ...report, outputs, workers: size, seconds, encode_seconds: encodeSeconds };
    } finally {
      engine.free(loaded.handle);
    }
  },

  // The loaded model with GPTQ's 4-bit MatMulNBits: load the module, plan, run the calibration
  // model, the Hessians, each weight, the file against FP32. Progress per step and per weight.
  async custom_gptq(_ws, id, [options, given, shapes = {}, workers = 1]) {
    const io = custom.model?.inputs ?? [];
    const digits = !given && io.length === 1 && io[0].shape?.length === 2 && io[0].shape[1] === 784 ? builtInCalibrationDigits() : null;
    if (!given && !digits) {
      throw new Error('GPTQ needs calibration data: drop .npy/.npz arrays or images of real inputs first');
    }
    let total = 4;
    const step = async (done) => {
      self.postMessage({ id, type: 'progress', done, total });
      await checkpoint(id);
    };
    let { model, inputs, batches } = await modelInputs(given, shapes);
    if (digits) {
      inputs[io[0].name] = { shape: [digits.length / 784, 784], data: digits };
      batches = batchesOf(model, inputs);
      inputs = batches[0];
    }
    const source = digits ? `the ${digits.length / 784} built-in calibration digits` : null;
    await step(0);
    const { GptqPlan } = await nbitsModule();
    const started = performance.now();
    // GPTQWeightOnlyQuantConfig's defaults: percdamp 0.01, block_size 128, mse off, per channel
    const o = { block_size: options.block_size, symmetric: options.symmetric, percdamp: 0.01, gptq_block: 128,
      actorder: Boolean(options.actorder), mse: false, perchannel: true, error_feedback: Boolean(options.error_feedback) };
    let plan = new GptqPlan(custom.bytes, o.block_size, o.symmetric, o.percdamp, o.gptq_block, o.actorder, o.mse, o.perchannel,
      o.error_feedback);
    let size = 1;
    const { engine, output_error } = custom.models;
    let q;
    try {
      total = plan.count() + 4;
      await step(1);
      // the calibration rows as one item of ONNX Runtime's reader (an item a batch when the model
      // fixes its batch size)
      const calibration = plan.calibration_model(custom.bytes);
      for (const batch of batches) {
        const outputs = runCalibrationModel(engine, `${model.name} (GPTQ calibration)`, calibration, batch);
        for (const t of plan.activations()) {
          const v = outputs[t] ?? batch[t];
          if (!v) throw new Error(`the calibration run gave no value for '${t}'`);
          plan.observe(t, Uint32Array.from(v.shape), v.data);
        }
      }
      await step(2);
      size = poolSize(workers, plan.count());
      await encodeWeights(id, plan, size, 'gptq_encode', o, (done) => self.postMessage({ id, type: 'progress', done: 2 + done, total }));
      q = plan.finish(); // consumes the plan
      plan = null;
    } finally {
      plan?.free();
    }
    const seconds = (performance.now() - started) / 1000;
    const bytes = q.bytes, report = q.report;
    q.free();
    await step(total - 1);
    const loaded = engine.load(`${model.name} (GPTQ INT4 weights)`, bytes);
    try {
      const reference = engine.run(model.handle, inputs, 0).outputs;
      const quantized = engine.run(loaded.handle, inputs, 0).outputs;
      const outputs = Object.entries(reference).map(([name, ref]) => ({ name, metrics: output_error(ref.data, quantized[name].data) }));
      return { bytes, source_bytes: custom.bytes.length, ...report, outputs, source, seconds, workers: size };
    } finally {
      engine.free(loaded.handle);
    }
  },

  async custom_run(_ws, _id, [given, shapes = {}]) {
    const { model, inputs, used } = await modelInputs(given, shapes);
    return { inputs: used, outputs: custom.models.engine.run(model.handle, inputs, 0).outputs };
  },

  async custom_compare(_ws, _id, [config, given, shapes = {}]) {
    const { model, inputs, all, used } = await modelInputs(given, shapes);
    const { engine, output_error } = custom.models;
    const full = config.kind === 'int8_static' ? { ...config, calibration_inputs: all } : config;
    const reference = timedRun(engine, model.handle, inputs);
    const v = engine.variant(model.handle, full);
    try {
      const quantized = timedRun(engine, v.handle, inputs);
      const outputs = Object.entries(reference.outputs).map(([name, ref]) => {
        const q = quantized.outputs[name];
        return { name, shape: ref.shape, dtype: ref.dtype, metrics: output_error(ref.data, q.data),
          argmax_agreement: argmaxAgreement(ref.data, q.data, ref.shape),
          preview: Array.from(ref.data.subarray(0, PREVIEW)), count: ref.data.length };
      });
      // Which layers hurt: every value the quantized copy makes against the FP32 model's.
      // Its failure (values too many to keep) is said under the outputs' table, which stands.
      let layers = [], layersError = null;
      try {
        if (config.kind !== 'fp32') layers = custom.models.layer_errors(engine, model.handle, v.handle, inputs);
      } catch (err) {
        layersError = err.message ?? String(err);
      }
      return { inputs: used, outputs, layers, layers_error: layersError, fp32: { micros: reference.micros, samples: reference.samples, bytes: model.bytes },
        quantized: { micros: quantized.micros, samples: quantized.samples, bytes: v.bytes, description: v.description } };
    } finally {
      engine.free(v.handle);
    }
  },

  async custom_imatrix(_ws, id, [given, shapes = {}]) {
    const { model, batches } = await modelInputs(given, shapes);
    custom.imatrix = await collectImportance(custom.models.engine, model.handle, batches, id);
    return custom.imatrix;
  },

  custom_imatrix_file() {
    // llama-imatrix records its text file; here the model and where its inputs came from.
    return importanceFile(custom.imatrix, `${custom.model?.name ?? 'model'} inputs`);
  },
};

// The last steps of custom_static: the file from the calibrated ranges, then that file run by the
// engine against FP32 on the calibration inputs.
// The last step of custom_static: the file from the calibrated ranges (`seconds` gains `writing`).
// The file and the inputs stay here for custom_static_check, which the page asks for once it has
// saved the file: the download does not wait for the two runs that measure it (on ppocr_rec with
// 32 inputs, two thirds of the time).
async function quantizeAndCompare(qdq, model, inputs, options, tensors, mins, maxs, source, step, total, lap, seconds) {
  const q = qdq.quantize_onnx_static(custom.bytes, tensors, mins, maxs, options.activation_type, options.per_channel,
    options.force_quantize_no_input_check === true);
  const bytes = q.bytes, report = q.report;
  q.free();
  lap('writing');
  await step(total);
  custom.staticFile = { bytes, inputs, model };
  return { bytes, ...report, calibrated: tensors.length, source, seconds };
}
