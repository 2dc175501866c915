// The Run view: the built-in MNIST model (draw a digit or pick a test digit and see FP32 and
// quantized predictions side by side), its accuracy table and per-layer sensitivity, and a
// user's own .onnx model compared FP32 against quantized. The Run view's own worker does all
// model work (run/worker.js, run/mnist-ops.js); this module only draws.
import { runWorker, onRunRestart } from './client.js';
import { DrawingPad, drawDigit } from './pad.js';
import { toMnist } from './preprocess.js';
import { mountAccuracy } from './accuracy.js';
import { mountCustom } from './custom.js';
import { mountImportance } from './importance.js';
import { mountLanguageModel } from './lm.js';
import { $, el, formatBytes, formatMicros, fail, clearError, opsText } from './ui.js';
import { latest } from '../shared/latest.js';
import { isIgnorable } from '../shared/dom.js';

const MODEL_URL = new URL('../models/mnist_mlp.onnx', import.meta.url);
const TEST_URL = new URL('../models/mnist_test.npz', import.meta.url);

// The three fixed columns of the prediction table (the fourth is the user's choice), picked from
// the accuracy table's variants so both show the same models.
const FIXED_COLUMNS = [['FP32', 'fp32'], ['INT8', 'int8_dynamic'], ['INT4', 'int4_dynamic']];
const DEFAULT_FOURTH = 'q4_k';

function fixedColumns(variants) {
  return FIXED_COLUMNS.map(([label, kind]) => ({ label, config: variants.find((v) => v.config.kind === kind)?.config }))
    .filter((c) => c.config);
}

const MARKUP = `
<section id="run-digits" aria-labelledby="run-digits-title">
  <h2 id="run-digits-title">Handwritten digits: FP32 against quantized</h2>
  <p class="hint" id="run-model-status" aria-live="polite">Loading the built-in model…</p>
  <div class="run-row">
    <span class="hint" id="run-build"></span>
    <button id="run-build-check" type="button" hidden>Check against the plain build</button>
  </div>
  <p class="hint" id="run-build-result" aria-live="polite" hidden></p>
  <div id="run-error" class="run-error" role="alert" hidden></div>
  <div class="run-digit-grid">
    <div class="run-input">
      <div class="run-pad-wrap">
        <canvas id="run-pad" width="280" height="280" tabindex="0"
          aria-label="Drawing pad: draw a digit with the mouse, a pen or a finger; with the keyboard, arrow keys draw, Shift+arrow moves without drawing, Delete clears"></canvas>
        <span class="run-pad-cursor" aria-hidden="true"></span>
      </div>
      <div class="run-row">
        <button id="run-clear" type="button">Clear</button>
        <span class="hint">Draw a digit, or pick one of the test digits:</span>
      </div>
      <div class="run-row" role="group" aria-label="Test digits">
        <button id="run-prev" type="button" aria-label="Previous test digit">◀</button>
        <label>test digit <input id="run-index" type="number" min="0" value="0" inputmode="numeric"></label>
        <button id="run-next" type="button" aria-label="Next test digit">▶</button>
        <button id="run-random" type="button">Random</button>
      </div>
      <div class="run-row run-seen">
        <canvas id="run-preview" width="28" height="28" aria-label="The 28×28 input the model sees"></canvas>
        <p class="hint">What the model sees: 28×28, the digit scaled into a 20×20 box and centred by its mass, as in MNIST.<br>
          <strong id="run-source">—</strong></p>
      </div>
    </div>
    <div class="run-output">
      <div class="table-wrap">
        <table id="run-predictions">
          <caption class="hint">Probabilities per digit; the predicted digit is marked.</caption>
          <thead><tr><th scope="col">digit</th>
            <th scope="col">FP32</th><th scope="col">INT8</th><th scope="col">INT4</th>
            <th scope="col"><label class="visually-hidden" for="run-scheme">Fourth column's scheme</label><select id="run-scheme"></select></th>
          </tr></thead>
          <tbody></tbody>
          <tfoot>
            <tr><th scope="row">predicted</th><td></td><td></td><td></td><td></td></tr>
            <tr><th scope="row" id="run-latency-label" title="one digit (batch 1): the median of repeated timings, each the mean over at least 2 ms of runs">latency (median)</th><td></td><td></td><td></td><td></td></tr>
            <tr><th scope="row">model size</th><td></td><td></td><td></td><td></td></tr>
          </tfoot>
        </table>
      </div>
      <p class="hint" id="run-scheme-description"></p>
    </div>
  </div>
</section>
<section id="run-accuracy" aria-labelledby="run-accuracy-title"></section>
<section id="run-sensitivity" aria-labelledby="run-sensitivity-title"></section>
<section id="run-imatrix" aria-labelledby="run-imatrix-title"></section>
<section id="run-custom" aria-labelledby="run-custom-title"></section>
<section id="run-lm" aria-labelledby="run-lm-title"></section>
`;

const state = {
  loading: null,       // Promise of the worker's model summary
  model: null,         // {name, inputs, outputs, ops, parameters, bytes, test_count, variants, layers}
  fixed: [],           // the prediction table's fixed columns [{label, config}]
  pixels: null,        // the current 28×28 input (Float32Array) or null
  testIndex: null,     // the test digit shown, or null for a drawing
  predictSeq: 0,       // numbers the prediction requests (data-requested / data-rendered)
};

// Only the newest input's answers count (latest.js): a slow prediction for an old drawing, or a
// test digit asked for before the visitor drew, is dropped when it arrives.
const newestPrediction = latest();
const newestInput = latest();

export function mountRun() {
  const view = document.getElementById('view-run');
  view.innerHTML = MARKUP;
  const pad = new DrawingPad($('#run-pad'), {
    onChange: () => {
      newestInput.supersede(); // a test digit still on its way is no longer wanted
      state.testIndex = null;
      state.pixels = pad.empty ? null : toMnist(pad.ink(), 280, 280);
      showInput('your drawing');
    },
  });
  state.pad = pad;
  $('#run-clear').onclick = () => pad.clear();
  $('#run-prev').onclick = () => pickTest((state.testIndex ?? 0) - 1);
  $('#run-next').onclick = () => pickTest((state.testIndex ?? -1) + 1);
  $('#run-random').onclick = () => pickTest(Math.floor(Math.random() * (state.model?.test_count ?? 1)));
  $('#run-index').onchange = (e) => pickTest(Number(e.target.value));
  $('#run-scheme').onchange = () => predict();
  $('#run-build-check').onclick = () => checkBuild();

  mountAccuracy($('#run-accuracy'), $('#run-sensitivity'), { ready: () => ensureLoaded() });
  const importance = mountImportance($('#run-imatrix'), {
    id: 'run-imatrix',
    heading: '<h2 id="run-imatrix-title">Which inputs matter? The model\'s importance matrix</h2>',
    lede: 'llama.cpp\'s <code>llama-imatrix</code> runs a model on calibration text and records, for every weight matrix, ' +
      'the mean of x² of each of its input columns. <code>llama-quantize --imatrix</code> then weights each weight\'s rounding ' +
      'error by its column\'s value: precision goes where the inputs are large, and a column whose input is always 0 does ' +
      'not matter at all. Here are the same statistics for the built-in model, over its 256 calibration digits (never test ' +
      'digits), saved in llama.cpp\'s file layout.',
    rows: 'digits',
    // 16 runs of 16 digits, so progress and Cancel have steps; the model loads first.
    start: (onProgress) => {
      let job = null;
      const promise = ensureLoaded().then(() => (job = runWorker.start('mnist_imatrix', [16], { onProgress })).promise);
      return { promise, cancel: () => job?.cancel() };
    },
    file: () => runWorker.request('mnist_imatrix_file', []),
  });
  mountCustom($('#run-custom'));
  mountLanguageModel($('#run-lm'));

  // Load when the view is first shown (the model and test digits are ≈ 0.7 MB).
  const maybeLoad = () => { if (document.body.dataset.view === 'run') ensureLoaded().catch(() => {}); };
  window.addEventListener('view-shown', maybeLoad);
  onRunRestart(() => {
    importance.reset(); // the worker's statistics went with it
    // Reload at once only if the model had loaded: a worker that dies while loading would be
    // restarted in a loop. Otherwise the next digit (or showing the view again) tries again.
    const hadModel = state.model !== null;
    state.loading = null;
    state.model = null;
    if (hadModel) maybeLoad();
  });
  maybeLoad();
}

// Loads the built-in model and the test digits into the worker once; resolves to the summary.
export function ensureLoaded() {
  if (!state.loading) {
    state.loading = load().catch((err) => {
      state.loading = null;
      fail('#run-error', `Could not load the built-in model: ${err.message}`);
      $('#run-model-status').textContent = 'The built-in model did not load.';
      throw err;
    });
  }
  return state.loading;
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

async function load() {
  clearError('#run-error');
  const [model, test] = await Promise.all([fetchBytes(MODEL_URL), fetchBytes(TEST_URL)]);
  const info = await runWorker.request('mnist_load', ['mnist_mlp.onnx', model, test], { transfer: [model, test] });
  state.model = info;
  $('#run-model-status').textContent =
    `Built-in model: an MLP 784-100-100-10 trained on MNIST digits (${opsText(info.ops)}; ` +
    `${info.parameters.toLocaleString('en-US')} parameters, ${formatBytes(info.bytes)}). ` +
    `${info.test_count.toLocaleString('en-US')} held-out test digits.`;
  $('#run-index').max = String(info.test_count - 1);
  showBuild(); // not awaited: a line of text
  state.fixed = fixedColumns(info.variants);
  fillSchemePicker(info.variants);
  // Not awaited: these wait for ensureLoaded(), which resolves when this returns.
  document.dispatchEvent(new CustomEvent('run-model-loaded', { detail: info }));
  if (state.pixels === null && state.testIndex === null) pickTest(0);
  else predict();
  return info;
}

// Which runner build the worker chose (www/run/runner.js), and the check of the relaxed one.
async function showBuild() {
  const { build, relaxed_supported: supported } = await runWorker.request('runner_build', []);
  $('#run-build').textContent = build === 'relaxed'
    ? 'Engine build: relaxed SIMD (this browser supports it): fused multiply-add in FP32 matrix products; INT8 exact, as in the plain build.'
    : `Engine build: SIMD128${supported ? ' (the relaxed-SIMD build did not load)' : ' (this browser has no relaxed SIMD)'}.`;
  $('#run-build-check').hidden = build !== 'relaxed';
}

// Every variant of the accuracy table on the first 1,000 test digits in both builds: dynamic
// INT8 ones must be bit-identical, the others (FP32 products, static INT8's FP32 calibration)
// may differ by the FMA's last bits.
const CHECK_DIGITS = 1000;
async function checkBuild() {
  const button = $('#run-build-check'), out = $('#run-build-result');
  button.disabled = true;
  out.hidden = false;
  out.textContent = 'Running every variant in both builds…';
  try {
    const info = await ensureLoaded();
    const model = await fetchBytes(MODEL_URL);
    const labels = new Map(info.variants.map((v) => [JSON.stringify(v.config), v.label]));
    const r = await runWorker.start('runner_check', [model, info.variants.map((v) => v.config), CHECK_DIGITS], {
      transfer: [model],
      onProgress: (done, total) => (out.textContent = `Running every variant in both builds… ${done} of ${total}`),
    }).promise;
    const exact = r.variants.filter((v) => v.exact), other = r.variants.filter((v) => !v.exact);
    const broken = exact.filter((v) => !v.identical);
    const name = (v) => labels.get(JSON.stringify(v.config)) ?? v.config.kind;
    const maxDiff = Math.max(0, ...other.map((v) => v.max_diff));
    out.textContent = `${r.digits.toLocaleString('en-US')} test digits, relaxed against plain: ` +
      (broken.length === 0
        ? `${exact.length === 1 ? 'the dynamic INT8 variant is' : `the ${exact.length} dynamic INT8 variants are`} identical bit for bit. `
        : `dynamic INT8 NOT identical: ${broken.map((v) => `${name(v)} (${v.differing} values, max |Δ| ${v.max_diff.toExponential(2)})`).join(', ')}. `) +
      `The other ${other.length} (FP32 products, and static INT8 calibrated on them; fused multiply-add allowed): ` +
      `${other.filter((v) => v.identical).length} identical, max |Δ| ${maxDiff.toExponential(2)}.`;
  } catch (err) {
    out.textContent = `The check did not run: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// The fourth column's choices: every variant of the accuracy table but the fixed three.
function fillSchemePicker(variants) {
  const picker = $('#run-scheme');
  const previous = picker.value;
  picker.replaceChildren();
  const fixed = new Set(state.fixed.map((c) => JSON.stringify(c.config)));
  const groups = new Map();
  for (const v of variants) {
    if (fixed.has(JSON.stringify(v.config))) continue;
    if (!groups.has(v.group)) groups.set(v.group, el('optgroup', { label: v.group }));
    const o = new Option(v.label, JSON.stringify(v.config));
    o.title = v.description;
    groups.get(v.group).append(o);
  }
  picker.append(...groups.values());
  const fallback = variants.find((v) => v.config.scheme === DEFAULT_FOURTH);
  if ([...picker.options].some((o) => o.value === previous)) picker.value = previous;
  else if (fallback) picker.value = JSON.stringify(fallback.config);
}

function chosenColumn() {
  const picker = $('#run-scheme');
  const option = picker.selectedOptions[0];
  if (!option) return null;
  $('#run-scheme-description').textContent = `${option.text}: ${option.title}`;
  return { label: option.text, config: JSON.parse(option.value) };
}

async function pickTest(index) {
  try {
    const model = await ensureLoaded();
    const n = model.test_count;
    index = ((Math.round(index) % n) + n) % n;
    const digit = await newestInput(runWorker.request('mnist_digit', [index]));
    state.testIndex = index;
    state.pixels = digit.pixels;
    $('#run-index').value = String(index);
    state.pad.showDigit(digit.pixels);
    showInput(`test digit #${index}, labelled ${digit.label}`, digit.label);
  } catch (err) {
    fail('#run-error', err);
  }
}

function showInput(source, label = null) {
  const preview = $('#run-preview');
  if (state.pixels) drawDigit(preview, state.pixels);
  else preview.getContext('2d').clearRect(0, 0, 28, 28);
  $('#run-source').textContent = state.pixels ? source : 'nothing drawn yet';
  state.label = label;
  predict();
}

// The table's data-requested / data-rendered attributes say which request it shows (tests wait
// on them).
async function predict() {
  const seq = ++state.predictSeq;
  $('#run-predictions').dataset.requested = String(seq);
  const body = $('#run-predictions tbody');
  if (!state.pixels) {
    newestPrediction.supersede();
    body.replaceChildren();
    for (const row of $('#run-predictions tfoot').rows) for (const td of [...row.cells].slice(1)) td.textContent = '';
    return;
  }
  try {
    await ensureLoaded();
    clearError('#run-error');
    const columns = [...state.fixed, chosenColumn()].filter(Boolean);
    const results = await newestPrediction(runWorker.request('mnist_predict', [state.pixels, columns.map((c) => c.config)]));
    renderPredictions(results);
    $('#run-predictions').dataset.rendered = String(seq);
  } catch (err) {
    if (!isIgnorable(err)) fail('#run-error', `Prediction failed: ${err.message}`);
  }
}

function renderPredictions(results) {
  const body = $('#run-predictions tbody');
  body.replaceChildren();
  for (let d = 0; d < 10; d++) {
    const tr = body.insertRow();
    const th = el('th', { scope: 'row' }, String(d));
    if (state.label === d) { th.classList.add('run-true-label'); th.title = 'the true label'; }
    tr.append(th);
    for (const r of results) {
      const p = r.probabilities[d];
      const td = tr.insertCell();
      td.className = 'run-prob';
      if (r.predicted === d) td.classList.add('run-predicted');
      td.style.setProperty('--p', String(p));
      td.append(el('span', { class: 'run-bar', 'aria-hidden': 'true' }), el('span', { class: 'run-pct' }, `${(100 * p).toFixed(1)}%`));
    }
  }
  const [predicted, latency, size] = $('#run-predictions tfoot').rows;
  $('#run-latency-label').textContent = `latency (median of ${results[0]?.samples ?? 1})`;
  results.forEach((r, i) => {
    const cell = predicted.cells[i + 1];
    cell.textContent = String(r.predicted);
    cell.className = state.label === null ? '' : r.predicted === state.label ? 'run-right' : 'run-wrong';
    latency.cells[i + 1].textContent = formatMicros(r.micros);
    size.cells[i + 1].textContent = formatBytes(r.bytes);
  });
}
