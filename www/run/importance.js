// The built-in model's importance matrix (#run-imatrix): what llama-imatrix would record for it —
// for every weight matrix, the mean of x² of each input column over the calibration digits —
// drawn per input (the first layer's inputs are pixels, so as a 28×28 image), and saved in
// llama.cpp's imatrix.gguf layout. The worker computes (run/mnist-ops.js mnist_imatrix →
// src/engine/src/importance.rs) and writes the file (the exporter module); this module draws.
import { runWorker, onRunRestart } from './client.js';
import { saveBytes } from '../shared/dom.js';
import { $, el, fail, clearError, withProgress, progressRow } from './ui.js';

// Digits per run: 16 runs over the 256 calibration digits, so progress and Cancel have steps.
const BATCH = 16;
const SIDE = 28; // an input of 784 features is drawn as the 28×28 digit it came from

const MARKUP = `
  <h2 id="run-imatrix-title">Which inputs matter? The model's importance matrix</h2>
  <p class="hint">llama.cpp's <code>llama-imatrix</code> runs a model on calibration text and records, for every
    weight matrix, the mean of x² of each of its input columns. <code>llama-quantize --imatrix</code> then weights
    each weight's rounding error by its column's value: precision goes where the inputs are large, and a column whose
    input is always 0 does not matter at all. Here are the same statistics for the built-in model, over its 256
    calibration digits (never test digits), saved in llama.cpp's file layout.</p>
  <div class="run-row">
    <button id="run-imatrix-start" type="button">Compute the importance matrix</button>
    <button id="run-imatrix-save" type="button" disabled>Save imatrix.gguf</button>
  </div>
  ${progressRow('run-imatrix-progress')}
  <div id="run-imatrix-error" class="run-error" role="alert" hidden></div>
  <div id="run-imatrix-result" hidden>
    <div class="run-row">
      <label for="run-imatrix-weight">weight</label> <select id="run-imatrix-weight"></select>
    </div>
    <figure class="run-imatrix-figure">
      <canvas id="run-imatrix-plot" width="560" height="280" role="img"></canvas>
      <figcaption id="run-imatrix-caption" class="hint"></figcaption>
    </figure>
    <div class="table-wrap">
      <table id="run-imatrix-table">
        <thead><tr><th scope="col" class="run-text">weight</th>
          <th scope="col">shape</th><th scope="col">input columns</th><th scope="col">rows seen</th>
          <th scope="col" title="columns whose input was 0 on every calibration digit">never used</th>
          <th scope="col">largest mean x² (column)</th><th scope="col" class="run-text">in the file</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p class="hint" id="run-imatrix-note"></p>
  </div>`;

let stats = null; // the worker's last statistics

export function mountImportance(section, { ready }) {
  section.innerHTML = MARKUP;
  $('#run-imatrix-start').onclick = () => compute(ready);
  $('#run-imatrix-save').onclick = () => save();
  $('#run-imatrix-weight').onchange = () => plot();
  // A restarted worker has lost the statistics the Save button would write.
  onRunRestart(() => {
    stats = null;
    $('#run-imatrix-result').hidden = true;
    $('#run-imatrix-save').disabled = true;
  });
}

const meansOf = (e) => e.sums.map((s) => s / Math.max(e.count, 1));

async function compute(ready) {
  const start = $('#run-imatrix-start');
  start.disabled = true;
  clearError('#run-imatrix-error');
  try {
    await ready();
    const result = await withProgress($('#run-imatrix-progress'),
      (onProgress) => runWorker.start('mnist_imatrix', [BATCH], { onProgress }), 'Running the calibration digits');
    // Cancelled: the last result (if any) stays, as the worker keeps it.
    if (result) {
      stats = result;
      render();
    }
  } catch (err) {
    fail('#run-imatrix-error', `The importance matrix failed: ${err.message}`);
  } finally {
    start.disabled = false;
  }
}

async function save() {
  clearError('#run-imatrix-error');
  try {
    saveBytes(await runWorker.request('mnist_imatrix_file', []), 'imatrix.gguf');
  } catch (err) {
    fail('#run-imatrix-error', `Could not save the importance matrix: ${err.message}`);
  }
}

function render() {
  const picker = $('#run-imatrix-weight');
  const previous = picker.value;
  picker.replaceChildren(...stats.entries.map((e) => new Option(e.weight, e.weight)));
  picker.value = stats.entries.some((e) => e.weight === previous) ? previous : stats.entries[0].weight;
  const body = $('#run-imatrix-table tbody');
  body.replaceChildren(...stats.entries.map((e) => {
    const means = meansOf(e);
    const top = means.reduce((best, v, i) => (v > means[best] ? i : best), 0);
    const unused = means.filter((v) => v === 0).length;
    return el('tr', { 'data-weight': e.weight },
      el('td', { class: 'run-text' }, e.weight),
      el('td', {}, `[${e.shape.join(', ')}]`), el('td', {}, String(means.length)), el('td', {}, String(e.count)),
      el('td', { 'data-role': 'unused' }, `${unused} (${(100 * unused / means.length).toFixed(0)} %)`),
      el('td', {}, `${means[top].toPrecision(4)} (${top})`),
      el('td', { class: 'run-text' }, e.saved ? 'yes' : 'no: stored [in, out]'));
  }));
  const left = stats.entries.filter((e) => !e.saved).map((e) => e.weight);
  $('#run-imatrix-note').textContent = `${stats.batches} runs of up to ${stats.rows_per_batch} digits. ` +
    'Load the saved file in Inspect (Download model as GGUF → Load imatrix…) with the model open there: each weight\'s importance-weighted ' +
    'error then uses these columns.' + (left.length ? ` Left out of the file: ${left.join(', ')} — llama.cpp's entries ` +
    'are per column of a weight stored [out, in], and these are stored [in, out].' : '');
  $('#run-imatrix-result').hidden = false;
  $('#run-imatrix-save').disabled = !stats.entries.some((e) => e.saved);
  plot();
}

// The chosen weight's mean x² per input column: a 28×28 image for the pixels, else one bar per
// column, both on a grey scale from 0 (white) to the weight's largest (black).
function plot() {
  const e = stats.entries.find((x) => x.weight === $('#run-imatrix-weight').value) ?? stats.entries[0];
  const means = meansOf(e);
  const max = Math.max(...means) || 1;
  const canvas = $('#run-imatrix-plot');
  const image = means.length === SIDE * SIDE;
  canvas.width = image ? canvas.height : 2 * canvas.height; // a square for the pixels
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const shade = (v) => `hsl(220 60% ${Math.round(97 - 80 * (v / max))}%)`;
  const unused = means.filter((v) => v === 0).length;
  let caption;
  if (image) {
    const cell = canvas.height / SIDE;
    means.forEach((v, i) => {
      ctx.fillStyle = shade(v);
      ctx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
    });
    caption = `${e.weight}: the mean of x² of each input pixel over ${e.count} digits, pixel by pixel (darker = larger, ` +
      `largest ${max.toPrecision(3)}). ${unused} of ${means.length} pixels are 0 on every digit: their weights' rounding ` +
      'cannot change any output on these inputs, and llama-quantize gives them no weight.';
  } else {
    const width = canvas.width / means.length;
    means.forEach((v, i) => {
      const h = (canvas.height - 20) * (v / max);
      ctx.fillStyle = shade(v);
      ctx.fillRect(i * width, canvas.height - 20 - h, Math.max(width - 1, 1), h);
    });
    ctx.fillStyle = getComputedStyle(canvas).color;
    ctx.font = '12px sans-serif';
    ctx.fillText(`input column 0 … ${means.length - 1}`, 4, canvas.height - 5);
    caption = `${e.weight}: the mean of x² of each of its ${means.length} input columns over ${e.count} rows ` +
      `(largest ${max.toPrecision(3)}; ${unused} columns always 0 — after a ReLU, a unit that never fires).`;
  }
  canvas.setAttribute('aria-label', caption);
  $('#run-imatrix-caption').textContent = caption;
}
