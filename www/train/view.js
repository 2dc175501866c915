// The Train view (#train): train the built-in model's shape (784-100-100-10) on the 8,000
// shipped digits in FP32 or with quantization-aware training (torch.ao's fake quantization at
// 8, 4 or 2 bits), watch the loss and accuracy curves as they come, and compare each run's test
// accuracy and size with post-training quantization of an FP32 run. The work runs in
// train/worker.js (the trainer module, src/trainer over src/train); this thread asks it for a
// few steps at a time and draws, so Pause is not asking and Cancel drops the run.
import { WorkerClient } from '../client.js';
import { $, showError } from '../shared/dom.js';
import { fmt } from '../shared/format.js';

const STEPS_PER_REQUEST = 10;
const METHODS = {
  fp32: { label: 'FP32', bits: null },
  qat8: { label: 'QAT INT8', bits: 8 },
  qat4: { label: 'QAT INT4', bits: 4 },
  qat2: { label: 'QAT INT2', bits: 2 },
};
const PTQ_BITS = [8, 4, 2];

const state = {
  client: null,
  token: 0, // the run the loop is driving; a new run or Cancel changes it
  paused: false,
  resume: null,
  points: [], // {step, loss, accuracy}
  runs: 0,
};

const html = `
  <section id="train-setup" aria-labelledby="train-title">
    <h2 id="train-title">Train: FP32, quantization-aware training, and post-training quantization side by side</h2>
    <p class="hint">Trains an MLP on the 8,000 training digits shipped with the page, in this tab (wasm, in a
      worker), then tests it on the 2,000 test digits. <b>QAT</b> puts torch.ao's fake quantization in the
      forward pass (weights signed symmetric, activations unsigned affine, moving-average min-max
      observers) and passes gradients straight through inside the clamp range. An FP32 run also
      reports <b>PTQ</b>: its weights quantized after training, activation ranges calibrated on 1,024
      training digits. At INT2, QAT recovers much of what PTQ loses.</p>
    <div class="controls train-controls">
      <label>Method <select id="train-method">
        ${Object.entries(METHODS).map(([k, m]) => `<option value="${k}">${m.label}</option>`).join('')}
      </select></label>
      <label><input id="train-per-channel" type="checkbox" checked> weight scales per output neuron</label>
      <label>Hidden layers <input id="train-hidden" value="100, 100" size="9" aria-describedby="train-hidden-hint"></label>
      <label>Optimizer <select id="train-optimizer"><option value="adam">Adam</option><option value="sgd">SGD, momentum 0.9</option></select></label>
      <label>Learning rate <input id="train-lr" type="number" value="0.001" step="any" min="0"></label>
      <label>Epochs <input id="train-epochs" type="number" value="3" min="1" max="1000"></label>
      <label>Batch <input id="train-batch" type="number" value="64" min="1"></label>
      <label>Seed <input id="train-seed" type="number" value="1" min="0"></label>
    </div>
    <p id="train-hidden-hint" class="hint">Input 784 and output 10 are fixed; "100, 100" is the built-in model's shape.</p>
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
  <section id="train-results-panel" aria-labelledby="train-results-title">
    <h2 id="train-results-title">Results: accuracy on the 2,000 test digits, and size</h2>
    <table id="train-results"><thead><tr><th>run</th><th>method</th><th>test accuracy</th><th>size</th><th>settings</th></tr></thead><tbody></tbody></table>
  </section>`;

function settings() {
  const hidden = $('#train-hidden').value.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (hidden.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('hidden layer sizes must be whole numbers ≥ 1, separated by commas');
  const method = METHODS[$('#train-method').value];
  return {
    hidden,
    optimizer: $('#train-optimizer').value,
    learning_rate: Number($('#train-lr').value),
    epochs: Number($('#train-epochs').value),
    batch_size: Number($('#train-batch').value),
    seed: Number($('#train-seed').value),
    qat_bits: method.bits,
    per_channel: $('#train-per-channel').checked,
  };
}

function setRunning(running) {
  $('#train-start').disabled = running;
  $('#train-pause').disabled = !running;
  $('#train-cancel').disabled = !running;
  $('#train-pause').textContent = 'Pause';
  document.body.dataset.training = running ? 'true' : 'false';
}

// Loss (left axis) and batch accuracy (right axis, 0–1) against the step.
function drawCurves() {
  const canvas = $('#train-curves');
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  const pad = { l: 48, r: 48, t: 12, b: 28 };
  ctx.clearRect(0, 0, w, h);
  const pts = state.points;
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
  ctx.fillStyle = '#2563eb';
  ctx.fillText(`loss (max ${fmt(maxLoss, { digits: 3 })})`, pad.l + 6, pad.t + 14);
  ctx.fillStyle = '#ea580c';
  ctx.fillText('batch accuracy (0–1)', w - pad.r - 130, pad.t + 14);
  ctx.fillStyle = '#334155';
  ctx.fillText(`step ${pts.at(-1).step}`, w - pad.r - 60, h - 8);
  ctx.fillText('0', pad.l - 12, h - 8);
  canvas.dataset.points = String(pts.length);
}

function addRow(run, method, accuracy, size, note) {
  const tr = $('#train-results tbody').insertRow();
  tr.dataset.method = method;
  for (const v of [String(run), method, `${fmt(accuracy * 100, { digits: 4 })} %`, `${fmt(size / 1024, { digits: 4 })} KB`, note]) tr.insertCell().textContent = v;
}

function describe(s) {
  return `784-${s.hidden.join('-')}-10, ${s.optimizer} ${s.learning_rate}, ${s.epochs} epochs, batch ${s.batch_size}, seed ${s.seed}, ` +
    `weight scales ${s.per_channel ? 'per neuron' : 'per tensor'}`;
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
  state.client ??= new WorkerClient(new URL('./worker.js', import.meta.url));
  setRunning(true);
  $('#train-status').textContent = 'loading the digits…';
  try {
    const { first } = await state.client.request('train_start', [s]);
    let total = first.total_steps;
    let last = first;
    while (state.token === token) {
      if (state.paused) {
        await new Promise((r) => { state.resume = r; });
        continue;
      }
      last = await state.client.request('train_advance', [STEPS_PER_REQUEST]);
      if (state.token !== token) return;
      total = last.total_steps;
      if (Number.isFinite(last.loss)) state.points.push({ step: last.step, loss: last.loss, accuracy: last.batch_accuracy });
      $('#train-progress').value = last.step / total;
      $('#train-status').textContent = `step ${last.step} of ${total}, epoch ${Math.min(last.epoch + 1, s.epochs)} of ${s.epochs}, loss ${fmt(last.loss, { digits: 4 })}`;
      drawCurves();
      $('#train-csv').disabled = false;
      if (last.diverged || last.finished) break;
    }
    if (state.token !== token) return;
    $('#train-status').textContent = last.diverged ? `stopped: ${last.diverged}` : `finished ${last.step} steps; testing…`;
    const method = s.qat_bits ? `QAT INT${s.qat_bits}` : 'FP32';
    const r = await state.client.request('train_results', [s.qat_bits ?? 32, s.per_channel, s.qat_bits ? [] : PTQ_BITS]);
    if (state.token !== token) return;
    const run = ++state.runs;
    addRow(run, method, r.test_accuracy, r.size, describe(s) + (last.diverged ? ' (diverged: last good weights)' : ''));
    for (const p of r.ptq) addRow(run, `PTQ INT${p.bits}`, p.accuracy, p.size, `this run's FP32 weights, static min-max calibration on 1,024 training digits`);
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
  // Adam's and SGD's usual learning rates differ by a factor of 100.
  $('#train-optimizer').onchange = () => { $('#train-lr').value = $('#train-optimizer').value === 'adam' ? '0.001' : '0.05'; };
  drawCurves();
}
