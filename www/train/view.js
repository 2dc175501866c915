// The Train view (#train): train the built-in model's shape (784-100-100-10) on the 8,000
// shipped digits in FP32 or with quantization-aware training (torch.ao's fake quantization at
// 8, 4 or 2 bits, the scales observed or learned by LSQ), prune a run, share its weights by
// k-means, distil it into a smaller student, watch the loss and accuracy curves as they come, and
// compare each run's test accuracy and size with post-training quantization of an FP32 run, in a
// table and one chart (chart.js). The work runs in
// train/worker.js (the trainer module, src/trainer over src/train); this thread asks it for a
// few steps at a time and draws, so Pause is not asking and Cancel drops the run.
import { WorkerClient } from '../client.js';
import { $, saveBytes, showError } from '../shared/dom.js';
import { fmt } from '../shared/format.js';
import { drawComparison, fitToCss } from './chart.js';

const STEPS_PER_REQUEST = 10;
const METHODS = {
  fp32: { label: 'FP32', bits: null },
  qat8: { label: 'QAT INT8', bits: 8 },
  qat4: { label: 'QAT INT4', bits: 4 },
  qat2: { label: 'QAT INT2', bits: 2 },
  lsq8: { label: 'LSQ INT8', bits: 8, lsq: true },
  lsq4: { label: 'LSQ INT4', bits: 4, lsq: true },
  lsq2: { label: 'LSQ INT2', bits: 2, lsq: true },
};
const methodOptions = Object.entries(METHODS).map(([k, m]) => `<option value="${k}">${m.label}</option>`).join('');
const PTQ_BITS = [8, 4, 2];
// Static PTQ's activation calibrations (the ids the trainer takes) and how rows name them.
const CALIBRATIONS = {
  minmax: 'min-max',
  'p99.999': 'percentile 99.999',
  entropy: 'entropy',
  mse: 'MSE',
};
const calibrationOptions = Object.entries(CALIBRATIONS).map(([k, name]) => `<option value="${k}">${name}</option>`).join('') +
  '<option value="every">every calibration</option>';
const CALIBRATION_HOW = {
  minmax: 'the smallest and largest value each activation took (torch\'s MinMaxObserver)',
  'p99.999': 'the 99.999th percentile of each activation\'s histogram (ONNX Runtime\'s percentile method)',
  entropy: 'the clip whose quantized histogram diverges least from the float one (KL; ONNX Runtime\'s entropy method, TensorRT\'s)',
  mse: 'the clip with the smallest squared quantization error on a grid of 100 candidates',
};

const state = {
  client: null,
  token: 0, // the run the loop is driving; a new run or Cancel changes it
  paused: false,
  resume: null,
  points: [], // {step, loss, accuracy}
  runs: 0,
  haveRun: false, // a finished run the worker holds, which Prune works on
  last: null, // the last run's settings and row number
  results: [], // every table row as {run, method, accuracy, size}: the comparison chart's points
  sparsity: null, // the last pruning curve drawn, {curve, chosen}, for redrawing at a new width
};

const html = `
  <section id="train-setup" aria-labelledby="train-title">
    <h2 id="train-title">Train: FP32, quantization-aware training, and post-training quantization side by side</h2>
    <p class="hint">Trains an MLP (or a small conv net) on the 8,000 training digits shipped with the page, in this tab (wasm, in a
      worker), then tests it on the 2,000 test digits. <b>QAT</b> puts torch.ao's fake quantization in the
      forward pass (weights signed symmetric, activations unsigned affine, moving-average min-max
      observers) and passes gradients straight through inside the clamp range; <b>LSQ</b> (learned step
      size, torch's <code>_LearnableFakeQuantize</code>) learns each scale and zero point with the
      weights after the observers set them on the first 10 steps. An FP32 run also
      reports <b>PTQ</b>: its weights quantized after training, activation ranges calibrated on 1,024
      training digits (static, by the calibration you choose) or taken from each digit as it comes (dynamic). At INT2, QAT recovers much of what PTQ loses.</p>
    <div class="controls train-controls">
      <label>Network <select id="train-arch" aria-describedby="train-arch-hint">
        <option value="mlp">MLP 784-…-10</option>
        <option value="conv">conv net (2 conv + pool, 1 linear)</option>
      </select></label>
      <label>Method <select id="train-method">${methodOptions}</select></label>
      <label><input id="train-per-channel" type="checkbox" checked> weight scales per output neuron</label>
      <label>Hidden layers <input id="train-hidden" value="100, 100" size="9" aria-describedby="train-hidden-hint"></label>
      <label>Optimizer <select id="train-optimizer"><option value="adam">Adam</option><option value="sgd">SGD, momentum 0.9</option></select></label>
      <label>Learning rate <input id="train-lr" type="number" value="0.001" step="any" min="0"></label>
      <label>Epochs <input id="train-epochs" type="number" value="3" min="1" max="1000"></label>
      <label>Batch <input id="train-batch" type="number" value="64" min="1"></label>
      <label>Seed <input id="train-seed" type="number" value="1" min="0"></label>
      <label>PTQ calibration <select id="train-ptq-calibration" aria-describedby="train-ptq-hint">${calibrationOptions}</select></label>
    </div>
    <p id="train-hidden-hint" class="hint">Input 784 and output 10 are fixed; "100, 100" is the built-in model's shape.</p>
    <p id="train-ptq-hint" class="hint">PTQ calibration: how an FP32 run's static PTQ rows set each activation's range from the
      float activations of 1,024 training digits (weights: min-max) — min-max, the 99.999th percentile, entropy (KL) or the
      least squared error; "every calibration" adds a row for each. Entropy was made for INT8: with INT4's or INT2's
      few levels and the pixels' spike at zero, watch what it does.</p>
    <p id="train-arch-hint" class="hint">The <b>conv net</b> takes each digit as 1×28×28: Conv2d(1→8, 5×5) → ReLU →
      MaxPool 2 → Conv2d(8→16, 5×5) → ReLU → MaxPool 2 → Linear(256→10), 5,994 parameters, initialised as torch's
      <code>nn.Conv2d</code>/<code>nn.Linear</code>. It trains in FP32, with QAT (torch.ao's eager QAT after fusing each
      Conv2d with its ReLU: weight scales per output channel, one activation fake quant after each conv + ReLU and after
      the Linear) and with LSQ at the same places, and its FP32 runs get static PTQ rows (torch's dynamic PTQ quantizes
      Linear layers only). It downloads as a (QDQ) .onnx taking [N, 1, 28, 28] and its weights as .npz, and prunes, shares
      its weights (a codebook per conv or linear weight) and distils (as the teacher or the student) as the MLP does.</p>
    <div class="controls">
      <button id="train-start" type="button">Train</button>
      <button id="train-pause" type="button" disabled>Pause</button>
      <button id="train-cancel" type="button" disabled>Cancel</button>
      <progress id="train-progress" max="1" value="0"></progress>
      <span id="train-status" role="status"></span>
    </div>
    <p id="train-error" class="error" role="alert" hidden></p>
  </section>
  <section id="train-curves-panel" aria-labelledby="train-curves-title">
    <h2 id="train-curves-title">Loss and batch accuracy, per ${STEPS_PER_REQUEST} steps</h2>
    <canvas id="train-curves" width="900" height="300" aria-label="training curves"></canvas>
    <p><button id="train-csv" type="button" disabled>Download the curves (CSV)</button></p>
  </section>
  <section id="train-prune-panel" aria-labelledby="train-prune-title">
    <h2 id="train-prune-title">Prune the last run</h2>
    <p class="hint">Removes weights as <code>torch.nn.utils.prune</code> does: the smallest |w| of every layer
      together (global L1) or of each layer, whole hidden neurons by their L2 norm, or 2 of every 4
      weights (2:4, what sparse tensor cores run; the conv net's first layer, 25 weights per channel, cannot).
      On the conv net, "whole neurons" removes whole output channels of its convolutions. The pruned weights stay
      at zero through fine-tuning. Gradual pruning (Zhu &amp; Gupta, torch.ao's <code>CubicSL</code>) prunes while it
      fine-tunes instead: every N steps it re-prunes with the same method to a sparsity that rises on a cubic to
      the one you type, the last re-prune reaching it (2:4, always 50 %, has no schedule).
      The chart is the test accuracy against sparsity, one-shot, on the same weights.</p>
    <div class="controls train-controls">
      <label>Method <select id="train-prune-method">
        <option value="global_l1">global L1 (unstructured)</option>
        <option value="layer_l1">per-layer L1 (unstructured)</option>
        <option value="neurons_l2">whole neurons, L2 (structured)</option>
        <option value="two_four">2:4 semi-structured</option>
      </select></label>
      <label>Sparsity % <input id="train-prune-sparsity" type="number" value="80" min="0" max="99" step="any"></label>
      <label>Fine-tune epochs <input id="train-prune-epochs" type="number" value="1" min="0" max="100"></label>
      <label>Schedule <select id="train-prune-schedule">
        <option value="oneshot">one-shot</option>
        <option value="gradual">gradual (cubic)</option>
      </select></label>
      <label>Steps between re-prunes <input id="train-prune-every" type="number" value="50" min="1" step="1"></label>
      <label>Re-prunes <input id="train-prune-count" type="number" value="10" min="1" step="1"></label>
      <button id="train-prune" type="button" disabled>Prune</button>
    </div>
    <canvas id="train-sparsity" width="900" height="220" aria-label="accuracy against sparsity"></canvas>
  </section>
  <section id="train-share-panel" aria-labelledby="train-share-title">
    <h2 id="train-share-title">Share the last run's weights (k-means)</h2>
    <p class="hint">Weight sharing as Deep Compression does it: each layer's weights are clustered into 2<sup>b</sup>
      centroids — the library's <code>kmeans<i>b</i></code> codebook (linear initialisation, Lloyd's iterations,
      f16 centroids) — and each weight keeps only the b-bit index of its centroid. Fine-tuning then keeps the
      indices and trains the centroids, each from the sum of its weights' gradients, with the optimizer,
      learning rate, batch and seed above (the biases train as usual). Size: the packed indices, the f16
      codebooks and the f32 biases. Starts from an FP32 run (also a pruned or distilled one), MLP or conv net (one
      codebook per conv or linear weight tensor).</p>
    <div class="controls train-controls">
      <label>Bits per weight <input id="train-share-bits" type="number" value="4" min="1" max="8"></label>
      <label>Fine-tune epochs <input id="train-share-epochs" type="number" value="1" min="1" max="1000"></label>
      <button id="train-share" type="button" disabled>Share weights</button>
    </div>
  </section>
  <section id="train-distil-panel" aria-labelledby="train-distil-title">
    <h2 id="train-distil-title">Distil the last run into a smaller student</h2>
    <p class="hint">Knowledge distillation (Hinton et al.): the student learns from the last run's softened
      outputs and the labels, loss = α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·cross-entropy.
      It trains with the optimizer, learning rate, batch and seed above; the same student trained on the labels
      alone (same seed) shows what the teacher adds. The teacher is the last run, an MLP or the conv net; the student an
      MLP or the conv net — of a conv net teacher, a conv net student has its shape, so it must be quantized (QAT or LSQ)
      at fewer bits than the teacher to be smaller.</p>
    <div class="controls train-controls">
      <label>Student network <select id="train-distil-arch">
        <option value="mlp">MLP 784-…-10</option>
        <option value="conv">conv net</option>
      </select></label>
      <label>Student hidden layers <input id="train-distil-hidden" value="32" size="7"></label>
      <label>Student method <select id="train-distil-method">${methodOptions}</select></label>
      <label>T <input id="train-distil-t" type="number" value="4" step="any" min="0"></label>
      <label>α <input id="train-distil-alpha" type="number" value="0.7" step="any" min="0" max="1"></label>
      <label>Epochs <input id="train-distil-epochs" type="number" value="3" min="1" max="1000"></label>
      <label><input id="train-distil-baseline" type="checkbox" checked> also train it on labels alone</label>
      <button id="train-distil" type="button" disabled>Distil</button>
    </div>
  </section>
  <section id="train-results-panel" aria-labelledby="train-results-title">
    <h2 id="train-results-title">Results: accuracy on the 2,000 test digits, and size</h2>
    <p class="hint">Every row below is a point on the chart: its test accuracy against its size (log scale),
      the method by colour and marker, labelled with its run number. Runs you start add their rows and points.</p>
    <canvas id="train-chart" width="900" height="380" aria-label="test accuracy against size, one point per row of the results table"></canvas>
    <p class="hint"><b>Download as QDQ .onnx</b> converts the run the worker holds (the last one) to the integer model
      its fake quantization simulates — int8 weight codes with their scales, uint8 activations with the learned scales and
      zero points — and writes it as ONNX QuantizeLinear/DequantizeLinear nodes around MatMul (the conv net: Conv; opset 19; INT4 and INT2
      codes are kept in int8/uint8 tensors with a Clip at the top code, so ONNX Runtime runs them; for ONNX Runtime on x86 CPUs
      without VNNI, whose fused u8 × s8 kernels can saturate, pick uint8 weights: the same codes + 128). quantscope's engine then
      runs the downloaded file on the test digits and says how many predictions equal the fake-quant forward's.</p>
    <table id="train-results"><thead><tr><th>run</th><th>method</th><th>test accuracy</th><th>size</th><th>settings</th><th>file</th></tr></thead><tbody></tbody></table>
  </section>`;

function hiddenSizes(input) {
  const hidden = $(input).value.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (hidden.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('hidden layer sizes must be whole numbers ≥ 1, separated by commas');
  return hidden;
}

const CONV_SHAPE = '1×28×28 conv 8×5×5, pool 2, conv 16×5×5, pool 2, linear 256-10';

function settings() {
  const method = METHODS[$('#train-method').value];
  const conv = $('#train-arch').value === 'conv';
  return {
    arch: conv ? 'conv' : 'mlp',
    hidden: conv ? [] : hiddenSizes('#train-hidden'),
    optimizer: $('#train-optimizer').value,
    learning_rate: Number($('#train-lr').value),
    epochs: Number($('#train-epochs').value),
    batch_size: Number($('#train-batch').value),
    seed: Number($('#train-seed').value),
    qat_bits: method.bits,
    lsq: Boolean(method.lsq),
    per_channel: $('#train-per-channel').checked,
  };
}

// The student's settings: the setup's optimizer, learning rate, batch and seed; the student's
// layers, method and epochs; T and α (the trainer refuses bad ones with the reason).
function distilSettings() {
  const method = METHODS[$('#train-distil-method').value];
  const conv = $('#train-distil-arch').value === 'conv';
  return {
    ...settings(),
    arch: conv ? 'conv' : 'mlp', // the student's network, whatever the setup's
    hidden: conv ? [] : hiddenSizes('#train-distil-hidden'),
    epochs: Number($('#train-distil-epochs').value),
    qat_bits: method.bits,
    lsq: Boolean(method.lsq),
    temperature: Number($('#train-distil-t').value),
    alpha: Number($('#train-distil-alpha').value),
  };
}

// A conv net run's rows say so after the method (the chart's families go by the method).
const netSuffix = (s) => (s.arch === 'conv' ? ', conv net' : '');
const methodLabel = (s) => (s.qat_bits ? `${s.lsq ? 'LSQ' : 'QAT'} INT${s.qat_bits}` : 'FP32') + netSuffix(s);

function setRunning(running) {
  $('#train-start').disabled = running;
  $('#train-prune').disabled = running || !state.haveRun;
  $('#train-distil').disabled = running || !state.haveRun;
  $('#train-share').disabled = running || !state.haveRun;
  $('#train-pause').disabled = !running;
  $('#train-cancel').disabled = !running;
  $('#train-pause').textContent = 'Pause';
  document.body.dataset.training = running ? 'true' : 'false';
}

// Loss (left axis) and batch accuracy (right axis, 0–1) against the step.
function drawCurves() {
  const canvas = $('#train-curves');
  const ctx = canvas.getContext('2d');
  const { w, h, dpr } = fitToCss(canvas, 240);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = { l: 48, r: 48, t: 12, b: 28 };
  ctx.clearRect(0, 0, w, h);
  const pts = state.points;
  canvas.dataset.points = String(pts.length);
  ctx.font = '12px sans-serif';
  ctx.strokeStyle = '#94a3b8';
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  if (!pts.length) return;
  const maxStep = Math.max(pts.at(-1).step, 1);
  const maxLoss = Math.max(...pts.map((p) => p.loss).filter(Number.isFinite), 1e-6);
  const x = (s) => pad.l + (s / maxStep) * (w - pad.l - pad.r);
  const y = (v, max) => h - pad.b - (v / max) * (h - pad.t - pad.b);
  const line = (key, max, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p[key], max)) : ctx.moveTo(x(p.step), y(p[key], max))));
    ctx.stroke();
  };
  line('loss', maxLoss, '#2563eb');
  line('accuracy', 1, '#ea580c');
  const lossLabel = `loss (max ${fmt(maxLoss, { digits: 3 })})`;
  const accuracyLabel = 'batch accuracy (0–1)';
  ctx.fillStyle = '#2563eb';
  ctx.fillText(lossLabel, pad.l + 6, pad.t + 14);
  ctx.fillStyle = '#ea580c';
  // On a narrow chart the two labels would overlap: the accuracy's goes a line lower.
  const accuracyX = w - pad.r - ctx.measureText(accuracyLabel).width - 6;
  const crowded = pad.l + 6 + ctx.measureText(lossLabel).width + 12 > accuracyX;
  ctx.fillText(accuracyLabel, accuracyX, pad.t + (crowded ? 30 : 14));
  ctx.fillStyle = '#334155';
  ctx.fillText(`step ${pts.at(-1).step}`, w - pad.r - 60, h - 8);
  ctx.fillText('0', pad.l - 12, h - 8);
}

function addRow(run, method, accuracy, size, note) {
  const tr = $('#train-results tbody').insertRow();
  tr.dataset.method = method;
  for (const v of [String(run), method, `${fmt(accuracy * 100, { digits: 4 })} %`, `${fmt(size / 1024, { digits: 4 })} KB`, note]) tr.insertCell().textContent = v;
  state.results.push({ run, method, accuracy, size });
  drawComparison($('#train-chart'), state.results);
  return tr;
}

// The worker holds one run: its row gets the Convert button, and the rows before lose theirs.
function retireConvert() {
  for (const b of document.querySelectorAll('#train-results .train-convert, #train-results .train-weights')) {
    b.disabled = true;
    b.title = 'only the last run is kept: train it again to download it';
  }
}

// A "Download as (QDQ) .onnx" button on `tr` (the worker's current run, trained with `settings`:
// QDQ under QAT or LSQ), and the line saying what quantscope's engine made of the downloaded file.
function offerConvert(tr, run, method, settings) {
  const quantized = Boolean(settings.qat_bits);
  retireConvert();
  const cell = tr.insertCell();
  // "QAT INT8, conv net" → quantscope-run1-qat-int8-conv-net.onnx
  const stem = `quantscope-run${run}-${method.toLowerCase().replace(/,/g, '').replace(/\s+/g, '-')}`;
  const p = document.createElement('p');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'train-convert';
  button.textContent = quantized ? 'Download as QDQ .onnx' : 'Download as .onnx';
  const line = document.createElement('span');
  line.className = 'train-convert-result';
  line.setAttribute('role', 'status');
  // The weights' storage: int8 (torch's type), or the same codes + 128 as uint8, which ONNX
  // Runtime's fused kernels run exactly on x86 CPUs without VNNI (its u8 × s8 ones can saturate).
  const storage = document.createElement('select');
  storage.className = 'train-convert-weights';
  storage.setAttribute('aria-label', 'weights stored as');
  storage.innerHTML = '<option value="int8">int8 weights</option><option value="uint8">uint8 weights (+128)</option>';
  storage.title = 'uint8: the same codes + 128 with zero point 128, which ONNX Runtime\'s fused integer kernels run exactly on x86 CPUs without VNNI';
  storage.hidden = !quantized;
  // The same run's float weights as a .npz, for NumPy or torch (www/train/npz.js).
  const weights = document.createElement('button');
  weights.type = 'button';
  weights.className = 'train-weights';
  weights.textContent = 'weights .npz';
  weights.title = quantized ? 'the float weights before fake quantization (the .onnx holds the quantized model)' :
    settings.arch === 'conv' ? 'float32 weights and biases under the names of torch\'s nn.Sequential of the same layers (0.weight [8, 1, 5, 5], …)' :
      'float32 weights [out, in] and biases, layer by layer, as nn.Linear stores them';
  weights.onclick = async () => {
    showError($('#train-error'), null);
    try {
      const bytes = await state.client.request('train_weights', [settings]);
      saveBytes(bytes, `${stem}-weights.npz`);
    } catch (err) {
      showError($('#train-error'), err);
    }
  };
  p.append(button, ' ', storage, ' ', weights, ' ', line);
  cell.append(p);
  button.onclick = async () => {
    showError($('#train-error'), null);
    button.disabled = true;
    line.textContent = 'converting, then running the file in quantscope\'s engine…';
    try {
      const uint8 = quantized && storage.value === 'uint8';
      const r = await state.client.request('train_convert', [settings, uint8]);
      saveBytes(r.bytes, `${stem}${uint8 ? '-u8w' : ''}.onnx`);
      const forward = r.quantized ? 'fake-quant forward' : 'FP32 forward';
      line.textContent = `${fmt(r.bytes.length / 1024, { digits: 4 })} KB file. quantscope's engine ran it on the test digits: ` +
        `${fmt(r.engine_accuracy * 100, { digits: 4 })} %, ${r.agree} of ${r.total} predictions equal to the ${forward}'s.`;
      // The trainer's own predictions, which the e2e test holds onnxruntime-web's run of the file to.
      tr.dataset.predictions = r.predictions;
    } catch (err) {
      line.textContent = '';
      showError($('#train-error'), err);
    } finally {
      if (!button.title) button.disabled = false;
    }
  };
}

function describe(s) {
  const shape = s.arch === 'conv' ? CONV_SHAPE : `784-${s.hidden.join('-')}-10`;
  return `${shape}, ${s.optimizer} ${s.learning_rate}, ${s.epochs} epochs, batch ${s.batch_size}, seed ${s.seed}, ` +
    `weight scales ${s.per_channel ? 'per neuron' : 'per tensor'}`;
}

// Asks the worker for steps until the run finishes, diverges, or this run is no longer the
// page's (a new run or Cancel); draws after each answer. Returns the last progress, or null.
async function drive(token, first) {
  let last = first;
  while (state.token === token) {
    if (state.paused) {
      await new Promise((r) => { state.resume = r; });
      continue;
    }
    last = await state.client.request('train_advance', [STEPS_PER_REQUEST]);
    if (state.token !== token) return null;
    if (Number.isFinite(last.loss)) state.points.push({ step: last.step, loss: last.loss, accuracy: last.batch_accuracy });
    $('#train-progress').value = last.step / last.total_steps;
    $('#train-status').textContent = state.paused ? `paused at step ${last.step}`
      : `step ${last.step} of ${last.total_steps}, epoch ${last.epoch + 1}, loss ${fmt(last.loss, { digits: 4 })}`;
    drawCurves();
    $('#train-csv').disabled = false;
    if (last.diverged || last.finished) return last;
  }
  return null;
}

// Test accuracy against sparsity (one-shot), the chosen sparsity ringed.
function drawSparsity(curve, chosen) {
  state.sparsity = { curve, chosen };
  const canvas = $('#train-sparsity');
  const ctx = canvas.getContext('2d');
  const { w, h, dpr } = fitToCss(canvas, 200);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = { l: 48, r: 16, t: 12, b: 28 };
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#94a3b8';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  const x = (v) => pad.l + v * (w - pad.l - pad.r);
  const y = (a) => h - pad.b - a * (h - pad.t - pad.b);
  ctx.strokeStyle = '#2563eb';
  ctx.lineWidth = 2;
  ctx.beginPath();
  curve.forEach((p, i) => (i ? ctx.lineTo(x(p.sparsity), y(p.accuracy)) : ctx.moveTo(x(p.sparsity), y(p.accuracy))));
  ctx.stroke();
  ctx.fillStyle = '#2563eb';
  for (const p of curve) ctx.fillRect(x(p.sparsity) - 2, y(p.accuracy) - 2, 4, 4);
  ctx.strokeStyle = '#dc2626';
  ctx.beginPath();
  ctx.arc(x(chosen.sparsity), y(chosen.test_accuracy), 6, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.font = '12px sans-serif';
  ctx.fillStyle = '#334155';
  ctx.fillText('test accuracy (0–1) against sparsity (0–1), one-shot', pad.l + 6, pad.t + 14);
  ctx.fillText('0', pad.l - 12, h - 8);
  ctx.fillText('1', w - pad.r - 6, h - 8);
  canvas.dataset.points = String(curve.length);
}

const PRUNE_NAMES = { global_l1: 'global L1', layer_l1: 'per-layer L1', neurons_l2: 'neurons L2', two_four: '2:4' };

async function pruneLastRun() {
  showError($('#train-error'), null);
  const method = $('#train-prune-method').value;
  const sparsity = Number($('#train-prune-sparsity').value) / 100;
  const epochs = Number($('#train-prune-epochs').value);
  if ($('#train-prune-schedule').value === 'gradual') return pruneGradually(method, sparsity, epochs);
  const token = ++state.token;
  retireConvert();
  setRunning(true);
  $('#train-status').textContent = 'pruning…';
  try {
    const { curve, report } = await state.client.request('train_prune', [method, sparsity, epochs]);
    if (state.token !== token) return;
    drawSparsity(curve, report);
    const { run } = state.last;
    const what = `pruned ${fmt(report.sparsity * 100, { digits: 3 })} % (${PRUNE_NAMES[method]})`;
    const conv = state.last.settings.arch === 'conv';
    const shape = method !== 'neurons_l2' ? '' : conv ? `conv channels ${report.neurons.join(' and ')} of 8 and 16 left; ` :
      `784-${report.neurons.join('-')}-10 after removing neurons; `;
    const sizes = `${shape}dense ${fmt(report.dense_bytes / 1024, { digits: 4 })} KB, sparse ${fmt(report.sparse_bytes / 1024, { digits: 4 })} KB, sparse + INT8 ${fmt(report.sparse_int8_bytes / 1024, { digits: 4 })} KB`;
    const oneShot = addRow(run, `${what}, one-shot`, report.test_accuracy, report.sparse_bytes, sizes);
    if (epochs === 0) offerConvert(oneShot, run, `pruned ${state.last.method}`, state.last.settings);
    else retireConvert();
    let tuned = 'one-shot';
    if (epochs > 0) {
      const last = await drive(token, null);
      if (last === null) return;
      const r = await state.client.request('train_results', [32, false, []]);
      if (state.token !== token) return;
      tuned = `fine-tuned ${epochs} epoch${epochs === 1 ? '' : 's'}`;
      const row = addRow(run, `${what}, ${tuned}`, r.test_accuracy, report.sparse_bytes,
        last.diverged ? `stopped: ${last.diverged}` : 'the pruned weights held at zero while training');
      offerConvert(row, run, `pruned ${state.last.method}`, state.last.settings);
    }
    // Pruned + quantized: static PTQ INT8 of the pruned weights (their zeros stay zero), stored
    // sparse with INT8 values. A QAT run's rows are quantized already.
    if (!state.last.settings.qat_bits) {
      const perChannel = state.last.settings.per_channel;
      const q = await state.client.request('train_results', [8, perChannel, [8]]);
      if (state.token !== token) return;
      addRow(run, `${what}, ${tuned} + PTQ INT8 (min-max)`, q.ptq[0].accuracy, report.sparse_int8_bytes,
        `the pruned weights quantized after training (weight scales ${perChannel ? 'per neuron' : 'per tensor'}), stored as CSR with INT8 values`);
    }
    $('#train-status').textContent = `${what}: test accuracy ${fmt(report.test_accuracy * 100, { digits: 4 })} % one-shot`;
  } catch (err) {
    if (state.token === token) showError($('#train-error'), err);
  } finally {
    if (state.token === token) setRunning(false);
  }
}

// Gradual pruning: the worker schedules the re-prunes (refused with the reason before anything
// trains), this drives the fine-tuning (progress, Pause, Cancel) and adds the pruned run's row.
async function pruneGradually(method, sparsity, epochs) {
  const every = Number($('#train-prune-every').value);
  const count = Number($('#train-prune-count').value);
  if (!(epochs > 0)) {
    showError($('#train-error'), new Error('gradual pruning re-prunes while it fine-tunes: choose at least 1 fine-tune epoch'));
    return;
  }
  const token = ++state.token;
  retireConvert();
  setRunning(true);
  $('#train-status').textContent = 'pruning gradually…';
  try {
    const { curve } = await state.client.request('train_prune', [method, sparsity, epochs, { every, count }]);
    if (state.token !== token) return;
    const last = await drive(token, null);
    if (last === null) return;
    const report = await state.client.request('train_prune_report', [method]);
    if (state.token !== token) return;
    drawSparsity(curve, report);
    const { run } = state.last;
    const what = `gradual ${fmt(report.sparsity * 100, { digits: 3 })} % (${PRUNE_NAMES[method]}, cubic, ${count}×)`;
    const tuned = `fine-tuned ${epochs} epoch${epochs === 1 ? '' : 's'}`;
    const conv = state.last.settings.arch === 'conv';
    const shape = method !== 'neurons_l2' ? '' : conv ? `conv channels ${report.neurons.join(' and ')} of 8 and 16 left; ` :
      `784-${report.neurons.join('-')}-10 after removing neurons; `;
    const row = addRow(run, `${what}, ${tuned}`, report.test_accuracy, report.sparse_bytes,
      last.diverged ? `stopped: ${last.diverged}` : `${shape}re-pruned every ${every} steps, the masks held between; ` +
        `sparse ${fmt(report.sparse_bytes / 1024, { digits: 4 })} KB`);
    offerConvert(row, run, `pruned ${state.last.method}`, state.last.settings);
    $('#train-status').textContent = `${what}, ${tuned}: test accuracy ${fmt(report.test_accuracy * 100, { digits: 4 })} %`;
  } catch (err) {
    if (state.token === token) showError($('#train-error'), err);
  } finally {
    if (state.token === token) setRunning(false);
  }
}

// Distils the last run: the worker makes the student (and the labels-alone twin, trained
// first), and this drives each in turn and adds its row.
async function distil() {
  showError($('#train-error'), null);
  let s;
  try {
    s = distilSettings();
  } catch (err) {
    showError($('#train-error'), err);
    return;
  }
  const token = ++state.token;
  const teacher = state.last.run;
  state.paused = false;
  setRunning(true);
  $('#train-status').textContent = 'preparing the student…';
  try {
    const { legs } = await state.client.request('train_distil_start', [s, $('#train-distil-baseline').checked]);
    state.haveRun = false;
    retireConvert();
    const shape = s.arch === 'conv' ? 'conv net' : `784-${s.hidden.join('-')}-10`;
    for (const [i, leg] of legs.entries()) {
      if (i > 0) await state.client.request('train_distil_next', []);
      if (state.token !== token) return;
      state.points = [];
      drawCurves();
      const last = await drive(token, null);
      if (last === null) return;
      const r = await state.client.request('train_results', [s.qat_bits ?? 32, s.per_channel, []]);
      if (state.token !== token) return;
      const run = ++state.runs;
      const what = leg === 'distilled' ? `distilled from run ${teacher} at T ${s.temperature}, α ${s.alpha}` : 'trained on the labels alone (same seed)';
      const tr = addRow(run, `${leg === 'distilled' ? 'distilled' : 'labels alone'}, ${methodLabel(s)}`, r.test_accuracy, r.size,
        `${shape} student ${what}, ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}` + (last.diverged ? ` (diverged: ${last.diverged})` : ''));
      if (leg === 'distilled') {
        offerConvert(tr, run, `distilled ${methodLabel(s)}`, s);
        state.haveRun = true;
        state.last = { settings: s, run, method: methodLabel(s) };
      }
      $('#train-status').textContent = `${shape} student ${leg === 'distilled' ? 'distilled' : 'on labels alone'}: test accuracy ${fmt(r.test_accuracy * 100, { digits: 4 })} %`;
    }
  } catch (err) {
    if (state.token === token) showError($('#train-error'), err);
  } finally {
    if (state.token === token) setRunning(false);
  }
}

// Shares the last run's weights by k-means at the chosen bits (the trainer refuses bits outside
// 1..8 and a quantization-aware run, with the reason): a one-shot row, then the fine-tuned one.
async function shareWeights() {
  showError($('#train-error'), null);
  const bits = Number($('#train-share-bits').value);
  const epochs = Number($('#train-share-epochs').value);
  // The source run's layers; the setup's optimizer, learning rate, batch and seed.
  const s = { ...settings(), arch: state.last.settings.arch, hidden: state.last.settings.hidden, qat_bits: null, lsq: false, epochs };
  const source = state.last.run;
  const token = ++state.token;
  state.paused = false;
  setRunning(true);
  $('#train-status').textContent = `clustering run ${source}'s weights…`;
  try {
    const oneShot = await state.client.request('train_share_start', [bits, s]);
    if (state.token !== token) return;
    state.haveRun = false;
    retireConvert();
    const run = ++state.runs;
    const what = `weight-shared ${bits}-bit (k-means)`;
    addRow(run, `${what}, one-shot${netSuffix(s)}`, oneShot.test_accuracy, oneShot.size,
      `run ${source}'s weights, each layer as the library's kmeans${bits}: ${2 ** bits} f16 centroids, a ${bits}-bit index per weight`);
    state.points = [];
    drawCurves();
    const last = await drive(token, null);
    if (last === null) return;
    const r = await state.client.request('train_results', [32, false, []]);
    if (state.token !== token) return;
    const tr = addRow(run, `${what}, fine-tuned ${epochs} epoch${epochs === 1 ? '' : 's'}${netSuffix(s)}`, r.test_accuracy, r.size,
      `centroids learned from their weights' summed gradients, indices fixed; ${s.optimizer} ${s.learning_rate}, batch ${s.batch_size}` +
      (last.diverged ? ` (diverged: ${last.diverged})` : ''));
    offerConvert(tr, run, `kmeans${bits}`, s);
    state.haveRun = true;
    state.last = { settings: s, run, method: `k-means ${bits}-bit` };
    $('#train-status').textContent = `${what}: test accuracy ${fmt(oneShot.test_accuracy * 100, { digits: 4 })} % one-shot, ` +
      `${fmt(r.test_accuracy * 100, { digits: 4 })} % fine-tuned`;
  } catch (err) {
    if (state.token === token) showError($('#train-error'), err);
  } finally {
    if (state.token === token) setRunning(false);
  }
}

async function train() {
  showError($('#train-error'), null);
  let s;
  try {
    s = settings();
  } catch (err) {
    showError($('#train-error'), err);
    return;
  }
  const token = ++state.token;
  state.paused = false;
  state.points = [];
  drawCurves();
  state.haveRun = false;
  retireConvert();
  state.client ??= new WorkerClient(new URL('./worker.js', import.meta.url));
  setRunning(true);
  $('#train-status').textContent = 'loading the digits…';
  try {
    const { first } = await state.client.request('train_start', [s]);
    const last = await drive(token, first);
    if (last === null) return;
    $('#train-status').textContent = last.diverged ? `stopped: ${last.diverged}` : `finished ${last.step} steps; testing…`;
    const method = methodLabel(s);
    const picked = $('#train-ptq-calibration').value;
    const calibrations = picked === 'every' ? Object.keys(CALIBRATIONS) : [picked];
    const onProgress = (done, total) => {
      if (state.token !== token) return;
      $('#train-progress').value = done / total;
      $('#train-status').textContent = `post-training quantization ${done}/${total}…`;
    };
    const r = await state.client.request('train_results', [s.qat_bits ?? 32, s.per_channel, s.qat_bits ? [] : PTQ_BITS, calibrations], { onProgress });
    if (state.token !== token) return;
    const run = ++state.runs;
    state.haveRun = true;
    state.last = { settings: s, run, method };
    const tr = addRow(run, method, r.test_accuracy, r.size, describe(s) + (last.diverged ? ' (diverged: last good weights)' : ''));
    offerConvert(tr, run, method, s);
    for (const p of r.ptq) {
      for (const c of p.static) {
        addRow(run, `PTQ INT${p.bits} (${CALIBRATIONS[c.calibration]})${netSuffix(s)}`, c.accuracy, p.size,
          `this run's FP32 weights; static: each activation's range from ${CALIBRATION_HOW[c.calibration]}, on 1,024 training digits`);
      }
    }
    for (const p of r.ptq.filter((p) => p.dynamic !== null)) addRow(run, `PTQ dynamic INT${p.bits}`, p.dynamic, p.size, `this run's FP32 weights; each test digit's activations quantized with their own range, the logits in float`);
    $('#train-status').textContent = `${last.diverged ? `stopped: ${last.diverged}` : `finished ${last.step} steps`}: test accuracy ${fmt(r.test_accuracy * 100, { digits: 4 })} %`;
  } catch (err) {
    if (state.token === token) showError($('#train-error'), err);
    $('#train-status').textContent = '';
  } finally {
    if (state.token === token) setRunning(false);
  }
}

function pause() {
  state.paused = !state.paused;
  $('#train-pause').textContent = state.paused ? 'Resume' : 'Pause';
  if (state.paused) {
    $('#train-status').textContent = `paused at step ${state.points.at(-1)?.step ?? 0}`;
  } else {
    state.resume?.();
  }
}

// Stops the run; the curves drawn so far stay.
function cancel() {
  state.token++;
  state.haveRun = false;
  retireConvert();
  state.paused = false;
  state.resume?.();
  state.client?.request('train_drop', []).catch(() => {});
  setRunning(false);
  $('#train-status').textContent = `cancelled at step ${state.points.at(-1)?.step ?? 0}; the curves so far are kept`;
}

function downloadCsv() {
  const csv = ['step,loss,batch_accuracy', ...state.points.map((p) => `${p.step},${p.loss},${p.accuracy}`)].join('\n');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  a.download = 'quantscope-training-curves.csv';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function mountTrain() {
  const view = $('#view-train');
  view.innerHTML = html;
  $('#train-start').onclick = train;
  $('#train-pause').onclick = pause;
  $('#train-cancel').onclick = cancel;
  $('#train-csv').onclick = downloadCsv;
  $('#train-prune').onclick = pruneLastRun;
  $('#train-distil').onclick = distil;
  $('#train-share').onclick = shareWeights;
  // Adam's and SGD's usual learning rates differ by a factor of 100.
  // The conv net's layers are fixed: the hidden sizes are the MLP's.
  $('#train-arch').onchange = () => { $('#train-hidden').disabled = $('#train-arch').value === 'conv'; };
  $('#train-distil-arch').onchange = () => { $('#train-distil-hidden').disabled = $('#train-distil-arch').value === 'conv'; };
  $('#train-optimizer').onchange = () => { $('#train-lr').value = $('#train-optimizer').value === 'adam' ? '0.001' : '0.05'; };
  drawCurves();
  drawComparison($('#train-chart'), state.results);
  // The charts draw at their CSS width (chart.js fitToCss): redraw one when that changes (a
  // rotated phone, a view shown after being hidden). Its own height change re-notifies with the
  // same width.
  const redraw = {
    'train-chart': () => drawComparison($('#train-chart'), state.results),
    'train-curves': drawCurves,
    'train-sparsity': () => state.sparsity && drawSparsity(state.sparsity.curve, state.sparsity.chosen),
  };
  const drawnWidth = new Map();
  const observer = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const width = entry.contentRect.width;
      if (width > 0 && Math.abs(width - (drawnWidth.get(entry.target.id) ?? 0)) >= 1) {
        drawnWidth.set(entry.target.id, width);
        redraw[entry.target.id]();
      }
    }
  });
  for (const id of Object.keys(redraw)) observer.observe($(`#${id}`));
}
