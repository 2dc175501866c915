// The Train view's worker: it owns the trainer wasm module (www/pkg-train, src/trainer) and the
// one training run in progress. Started when the Train view first trains, so the other views
// never load it. The page drives the run a few steps per request (train_advance), so Pause is
// simply not asking for more and Cancel drops the run; the main thread only draws.
import init, { TrainingRun } from '../pkg-train/quantscope.js';
import { unzipSync } from '../../node_modules/fflate/esm/browser.js';
import { Cancelled, checkpoint, serve } from '../worker-loop.js';
import { convertRun } from './convert.js';
import { convWeightsNpz, weightsNpz } from './npz.js';

const TRAIN_URL = new URL('../models/mnist_train.npz', import.meta.url);
const TEST_URL = new URL('../models/mnist_test.npz', import.meta.url);

let digits = null; // {train: [images, labels], test: [images, labels]} as .npy bytes
let run = null;
let queue = []; // runs made by train_distil_start that train after `run`

function dropAll() {
  run?.free();
  run = null;
  for (const r of queue) r.free();
  queue = [];
}

// The uint8 values of a C-order .npy of `shape` (null: any length): after the magic, the version,
// the header length (u16 in version 1, u32 after) and the header's dict.
function npyUint8(bytes, name, shape) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || view.getUint32(0) !== 0x934e554d) throw new Error(`${name} is not a .npy array`);
  const start = bytes[6] === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
  const header = new TextDecoder().decode(bytes.subarray(bytes[6] === 1 ? 10 : 12, start));
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  const ok = /'descr':\s*'[|<]u1'/.test(header) && /'fortran_order':\s*False/.test(header) && dims &&
    dims.length === shape.length && shape.every((d, i) => d === null || d === dims[i]);
  if (!ok) throw new Error(`${name} must be uint8 [${shape.map((d) => d ?? 'N').join(', ')}], not ${header.trim()}`);
  return bytes.subarray(start);
}

// The .npz's `images` and `labels` (raw uint8 pixels [N, 784] and labels [N]), unzipped here with
// fflate as the Run view does (www/run/testset.js), so the trainer module carries no zip or .npy reader.
async function members(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url.pathname}: HTTP ${res.status}`);
  const files = unzipSync(new Uint8Array(await res.arrayBuffer()), { filter: (f) => f.name === 'images.npy' || f.name === 'labels.npy' });
  for (const name of ['images', 'labels']) {
    if (!files[`${name}.npy`]) throw new Error(`${url.pathname} has no '${name}' array`);
  }
  const file = url.pathname.split('/').pop();
  return [npyUint8(files['images.npy'], `${file}: images`, [null, 784]), npyUint8(files['labels.npy'], `${file}: labels`, [null])];
}

const trainOps = {
  // A new run with `settings` (see TrainingRun's constructor); the one before is dropped.
  async train_start(_ctx, _id, [settings]) {
    digits ??= { train: await members(TRAIN_URL), test: await members(TEST_URL) };
    dropAll();
    run = new TrainingRun(...digits.train, ...digits.test, settings);
    return { parameters: run.parameter_count(), first: run.advance(0) };
  },
  // Up to `steps` more steps: {step, total_steps, epoch, loss, batch_accuracy, finished, diverged}.
  train_advance(_ctx, _id, [steps]) {
    if (!run) throw new Error('no training run: press Train first');
    return run.advance(steps);
  },
  // The finished (or stopped) run's results: test accuracy, and for comparison post-training
  // quantization of its weights at each of `ptqBits`: static with each of `calibrations`
  // ('minmax', 'p99.999', 'entropy', 'mse'; min-max when none is given), and dynamic; with the sizes.
  // Long (every calibration at three widths takes seconds): progress per quantized model, and a
  // cancel is honoured between two of them.
  async train_results(_ctx, id, [bits, perChannel, ptqBits, calibrations = ['minmax']]) {
    if (!run) throw new Error('no training run: press Train first');
    const current = run; // a Cancel (train_drop) or a new run may come in at a checkpoint
    // torch's quantize_dynamic quantizes Linear layers only: no dynamic row for the conv net.
    const dynamicToo = current.architecture() !== 'conv';
    const total = ptqBits.length * (calibrations.length + (dynamicToo ? 1 : 0));
    let done = 0;
    const step = async (measure) => {
      await checkpoint(id);
      if (run !== current) throw new Cancelled('cancelled');
      const value = measure();
      self.postMessage({ id, type: 'progress', done: ++done, total });
      return value;
    };
    const ptq = [];
    for (const b of ptqBits) {
      const statics = [];
      for (const c of calibrations) statics.push({ calibration: c, accuracy: await step(() => current.ptq_accuracy(b, perChannel, c)) });
      const dynamic = dynamicToo ? await step(() => current.ptq_dynamic_accuracy(b, perChannel)) : null;
      ptq.push({ bits: b, static: statics, accuracy: statics[0]?.accuracy, dynamic, size: current.size_bytes(b, perChannel) });
    }
    return { test_accuracy: current.test_accuracy(), size: current.size_bytes(bits, perChannel), ptq };
  },
  // Prunes the run's weights (TrainingRun.prune) after drawing accuracy against sparsity for
  // the same method one-shot; with `fineTuneEpochs` > 0 the run goes on training with the masks
  // (the page drives it with train_advance). With `gradual` ({every, count}) nothing is pruned
  // yet: the run re-prunes as it fine-tunes (TrainingRun.prune_gradually; report null, ask
  // train_prune_report when it is done).
  train_prune(_ctx, _id, [method, sparsity, fineTuneEpochs, gradual]) {
    if (!run) throw new Error('no training run to prune: train one first');
    const levels = method === 'two_four' ? [0] : [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    // 95 % of the conv net's first 8 channels rounds to all 8, which leaves nothing (refused).
    if (method === 'neurons_l2' && run.architecture() === 'conv') levels.pop();
    const curve = run.sparsity_curve(method, levels);
    if (gradual) {
      run.prune_gradually(method, sparsity, fineTuneEpochs, gradual.every, gradual.count);
      return { curve, report: null };
    }
    const report = run.prune(method, sparsity);
    if (fineTuneEpochs > 0) run.fine_tune(fineTuneEpochs);
    return { curve, report };
  },
  // The pruned run's sparsity, test accuracy and sizes (after a gradual prune's fine-tuning).
  train_prune_report(_ctx, _id, [method]) {
    if (!run) throw new Error('no training run: train one first');
    return run.prune_report(method);
  },
  // Distils the run into a student (`settings` with temperature and alpha; refused with the
  // reason before anything trains): the student becomes the run, and with `baseline` the same
  // student on the labels alone (same seed) trains first. The teacher is freed: the student holds
  // its weights. Returns the legs in order; train_distil_next moves to the next.
  train_distil_start(_ctx, _id, [settings, baseline]) {
    if (!run) throw new Error('no run to distil: train one first');
    const student = run.distil(settings);
    const legs = ['distilled'];
    let alone = null;
    if (baseline) {
      try {
        alone = new TrainingRun(...digits.train, ...digits.test, { ...settings, temperature: null, alpha: null });
      } catch (err) {
        student.free();
        throw err;
      }
      legs.unshift('labels');
    }
    dropAll();
    run = alone ?? student;
    if (alone) queue = [student];
    return { legs, parameters: run.parameter_count() };
  },
  // Replaces the run with its weights shared by k-means at `bits` (TrainingRun.share_weights;
  // refused with the reason before the run is touched), to be fine-tuned with `settings`' epochs
  // by train_advance. Returns the one-shot test accuracy and the stored size.
  train_share_start(_ctx, _id, [bits, settings]) {
    if (!run) throw new Error('no run to share: train an FP32 run first');
    const shared = run.share_weights(bits, settings);
    dropAll();
    run = shared;
    return { test_accuracy: run.test_accuracy(), size: run.size_bytes(32, false) };
  },
  train_distil_next() {
    if (!queue.length) throw new Error('no student left to train');
    run?.free();
    run = queue.shift();
    return true;
  },
  // The last run as a .onnx (QDQ under QAT/LSQ) and the engine's run of that file on the test
  // digits (convert.js).
  train_convert(_ctx, _id, [settings, uint8Weights]) {
    if (!run) throw new Error('no run to convert: train one first');
    return convertRun(run, settings, digits.test, uint8Weights);
  },
  // The run's float weights as a .npz (www/train/npz.js): the weights its forward uses (pruned ones
  // at zero, shared ones at their centroids; under QAT the float weights before fake quantization);
  // a conv net's under torch's nn.Sequential names.
  train_weights(_ctx, _id, [settings]) {
    if (!run) throw new Error('no run to download: train one first');
    if (settings.arch === 'conv') return convWeightsNpz(run.params());
    return weightsNpz([784, ...settings.hidden, 10], run.params());
  },
  // The Learn view's STE panel: follow neuron `row` of layer `layer` of the run from the next
  // step on (unless it is followed already) and return its records from `from` on, flat
  // (TrainingRun.trace; the layout is quantscope_train::trace's, read by www/learn/ste.js).
  train_trace(_ctx, _id, [layer, row, from]) {
    if (!run) throw new Error('no training run: press Run first');
    return run.trace(layer, row, from);
  },
  train_drop() {
    dropAll();
    return true;
  },
};

serve(init(), trainOps);
