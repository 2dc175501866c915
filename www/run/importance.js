// "Which inputs matter?": a model's importance matrix — what llama-imatrix would record for it: for
// every weight matrix, the mean of x² of each input column over calibration inputs — drawn per
// input (an input of 784 is a 28×28 digit's pixels, drawn as the image), and saved in llama.cpp's
// imatrix.gguf layout. Mounted twice: for the built-in model (#run-imatrix, over its calibration
// digits) and for a person's own model (in #run-custom, over its inputs). The worker computes
// (mnist-ops.js / custom-ops.js → src/engine/src/importance.rs) and writes the file (the exporter
// module); this module draws.
import { saveBytes } from '../shared/dom.js';
import { $, el, fail, clearError, withProgress, progressRow } from './ui.js';

const SIDE = 28; // an input of 784 features is drawn as the 28×28 digit it came from

const markup = (heading, lede, id) => `
  ${heading}
  <p class="hint">${lede}</p>
  <div class="run-row">
    <button data-role="start" type="button">Compute the importance matrix</button>
    <button data-role="save" type="button" disabled>Save imatrix.gguf</button>
  </div>
  ${progressRow(`${id}-progress`)}
  <div id="${id}-error" class="run-error" role="alert" hidden></div>
  <div data-role="result" hidden>
    <div class="run-row">
      <label for="${id}-weight">weight</label> <select id="${id}-weight" data-role="weight"></select>
    </div>
    <figure class="run-imatrix-figure">
      <canvas data-role="plot" width="560" height="280" role="img"></canvas>
      <figcaption data-role="caption" class="hint"></figcaption>
    </figure>
    <div class="table-wrap">
      <table data-role="table">
        <thead><tr><th scope="col" class="run-text">weight</th>
          <th scope="col">shape</th><th scope="col">input columns</th><th scope="col">rows seen</th>
          <th scope="col" title="columns whose input was 0 on every calibration row">never used</th>
          <th scope="col">largest mean x² (column)</th><th scope="col" class="run-text">in the file</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p class="hint" data-role="note"></p>
  </div>`;

// Mounts the panel in `section` (its element ids start with `id`). `start(onProgress)` starts the
// worker's job ({promise, cancel}), resolving to the statistics; `file()` resolves to the saved
// file's bytes; `rows` names what a row is ("digits", "rows"). Returns {reset} for when the model
// or its worker goes.
export function mountImportance(section, { id, heading, lede, start, file, rows = 'rows' }) {
  section.insertAdjacentHTML('beforeend', markup(heading, lede, id));
  const part = (role) => $(`[data-role="${role}"]`, section);
  let stats = null;

  const reset = () => {
    stats = null;
    part('result').hidden = true;
    part('save').disabled = true;
  };

  part('start').onclick = async () => {
    part('start').disabled = true;
    clearError(`#${id}-error`);
    try {
      const result = await withProgress($(`#${id}-progress`), start, `Running the model on its calibration ${rows}`);
      // Cancelled: the last result (if any) stays, as the worker keeps it.
      if (result) {
        stats = result;
        render();
      }
    } catch (err) {
      fail(`#${id}-error`, `The importance matrix failed: ${err.message}`);
    } finally {
      part('start').disabled = false;
    }
  };
  part('save').onclick = async () => {
    clearError(`#${id}-error`);
    try {
      saveBytes(await file(), 'imatrix.gguf');
    } catch (err) {
      fail(`#${id}-error`, `Could not save the importance matrix: ${err.message}`);
    }
  };
  part('weight').onchange = () => plot();

  function render() {
    const picker = part('weight');
    const previous = picker.value;
    picker.replaceChildren(...stats.entries.map((e) => new Option(e.weight, e.weight)));
    picker.value = stats.entries.some((e) => e.weight === previous) ? previous : stats.entries[0].weight;
    $('tbody', part('table')).replaceChildren(...stats.entries.map((e) => {
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
    part('note').textContent = `${stats.batches} run${stats.batches === 1 ? '' : 's'} of up to ${stats.rows_per_batch} ${rows}. ` +
      'Load the saved file in Inspect (Download model as GGUF → Load imatrix…) with the model open there: each weight\'s ' +
      'importance-weighted error then uses these columns.' + (left.length ? ` Left out of the file: ${left.join(', ')} — ` +
      'llama.cpp\'s entries are per column of a weight stored [out, in], and these are stored [in, out].' : '');
    part('result').hidden = false;
    part('save').disabled = !stats.entries.some((e) => e.saved);
    plot();
  }

  // The chosen weight's mean x² per input column: a 28×28 image for the pixels, else one bar per
  // column, both on a blue scale from 0 (pale) to the weight's largest (dark).
  function plot() {
    const e = stats.entries.find((x) => x.weight === part('weight').value) ?? stats.entries[0];
    const means = meansOf(e);
    const max = Math.max(...means) || 1;
    const canvas = part('plot');
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
      caption = `${e.weight}: the mean of x² of each input pixel over ${e.count} ${rows}, pixel by pixel (darker = larger, ` +
        `largest ${max.toPrecision(3)}). ${unused} of ${means.length} pixels are 0 in all of them: their weights' rounding ` +
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
    part('caption').textContent = caption;
  }

  return { reset };
}

const meansOf = (e) => e.sums.map((s) => s / Math.max(e.count, 1));
