// The built-in model's accuracy table (every variant on every test digit, with size and batch-1
// latency) and the per-layer sensitivity chart (one layer quantized at a time). Both run in the
// worker with progress and Cancel.
import { runWorker } from './client.js';
import { wilson, pairedDifference } from './stats.js';
import { $, el, formatBytes, formatMicros, formatPct, fail, clearError, withProgress, progressRow } from './ui.js';

const ACCURACY_MARKUP = `
  <h2 id="run-accuracy-title">Test accuracy, model size and latency per scheme</h2>
  <p class="hint">Every held-out test digit through each variant of the built-in model, in the worker. Integer
    variants run real integer arithmetic (int8 or int4 weights, 8-bit activations, 32-bit accumulation);
    weight-only variants store the weights in the scheme and compute in FP32. Latency: one digit (batch 1), median of many runs.</p>
  <p id="run-accuracy-summary" class="run-summary" aria-live="polite"></p>
  <button id="run-accuracy-start" type="button">Measure every scheme</button>
  ${progressRow('run-accuracy-progress')}
  <div id="run-accuracy-error" class="run-error" role="alert" hidden></div>
  <p id="run-accuracy-noise" class="hint" aria-live="polite"></p>
  <div class="run-row" id="run-accuracy-compare" hidden>
    <label for="run-accuracy-reference">Δ against</label> <select id="run-accuracy-reference"></select>
  </div>
  <div class="table-wrap">
    <table id="run-accuracy-table" hidden>
      <thead><tr><th scope="col">variant</th><th scope="col" class="run-text">kind</th><th scope="col">test accuracy</th>
        <th scope="col" title="Wilson score interval">95% interval</th>
        <th scope="col" id="run-accuracy-delta-head" title="percentage points, ±1.96·SE of the paired difference over the same digits">Δ vs FP32 (points)</th><th scope="col">digits right</th><th scope="col">model size</th>
        <th scope="col">× smaller</th><th scope="col">latency</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>`;

const SENSITIVITY_MARKUP = `
  <h2 id="run-sensitivity-title">Which layer is sensitive?</h2>
  <p class="hint">Quantize one layer at a time, the others left in FP32, and measure the test accuracy: the drop
    from FP32 shows which layer the scheme hurts most. “all layers” quantizes every layer.</p>
  <div class="run-row">
    <label for="run-sensitivity-scheme">scheme</label> <select id="run-sensitivity-scheme"></select>
    <button id="run-sensitivity-start" type="button">Measure per layer</button>
  </div>
  ${progressRow('run-sensitivity-progress')}
  <div id="run-sensitivity-error" class="run-error" role="alert" hidden></div>
  <div id="run-sensitivity-chart"></div>
  <div class="table-wrap">
    <table id="run-sensitivity-table" hidden>
      <thead><tr><th scope="col">layer</th><th scope="col" class="run-text">op</th>
        <th scope="col">test accuracy</th><th scope="col">drop (points)</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>`;

let autoStarted = false;
let measured = null; // the last accuracy run: {rows, variants}

export function mountAccuracy(accuracySection, sensitivitySection, { ready }) {
  accuracySection.innerHTML = ACCURACY_MARKUP;
  sensitivitySection.innerHTML = SENSITIVITY_MARKUP;
  $('#run-accuracy-start').onclick = () => measureAccuracy(ready);
  $('#run-sensitivity-start').onclick = () => measureSensitivity(ready);
  $('#run-accuracy-reference').onchange = () => renderAccuracy();
  document.addEventListener('run-model-loaded', ({ detail }) => {
    const picker = $('#run-sensitivity-scheme');
    const previous = picker.value;
    picker.replaceChildren(...detail.variants.filter((v) => v.config.kind !== 'fp32')
      .map((v) => Object.assign(new Option(v.label, JSON.stringify(v.config)), { title: v.description })));
    // Ternary weights (int2) break this model, so the default shows which layer matters most.
    const fallback = detail.variants.find((v) => v.config.scheme === 'int2_sym_channel') ?? detail.variants[1];
    picker.value = [...picker.options].some((o) => o.value === previous) ? previous : JSON.stringify(fallback.config);
    // Reproduce the table as soon as the model is there, once per page load.
    if (!autoStarted) {
      autoStarted = true;
      measureAccuracy(ready);
    }
  });
}

async function measureAccuracy(ready) {
  const button = $('#run-accuracy-start');
  button.disabled = true;
  clearError('#run-accuracy-error');
  try {
    const model = await ready();
    const rows = await withProgress($('#run-accuracy-progress'),
      (onProgress) => runWorker.start('mnist_accuracy', [model.variants.map((v) => v.config)], { onProgress }),
      'Evaluating');
    if (rows) {
      measured = { rows, variants: model.variants };
      fillReferencePicker(model.variants);
      renderAccuracy();
    }
  } catch (err) {
    fail('#run-accuracy-error', `The accuracy table failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// The Δ column's reference: any measured variant (FP32 first).
function fillReferencePicker(variants) {
  const picker = $('#run-accuracy-reference');
  const previous = picker.value;
  picker.replaceChildren(...variants.map((v, i) => new Option(v.label, String(i))));
  picker.value = previous && Number(previous) < variants.length ? previous : '0';
  $('#run-accuracy-compare').hidden = false;
}

const points = (x) => (100 * x).toFixed(2);
const signed = (x) => (x === 0 ? '±0' : `${x > 0 ? '+' : '−'}${points(Math.abs(x))}`);

function renderAccuracy() {
  const { rows, variants } = measured;
  const fp32 = rows[0];
  const ref = Number($('#run-accuracy-reference').value) || 0;
  const refLabel = variants[ref].label;
  $('#run-accuracy-delta-head').textContent = `Δ vs ${refLabel} (points)`;
  const within = [], differ = [];
  const body = $('#run-accuracy-table tbody');
  body.replaceChildren();
  rows.forEach((r, i) => {
    const v = variants[i];
    const tr = body.insertRow();
    tr.title = r.description ?? v.description;
    const [lo, hi] = wilson(r.correct, r.count);
    const d = pairedDifference(r.right, rows[ref].right);
    let delta, deltaClass = '';
    if (i === ref) delta = 'reference';
    else {
      // Paired over the same digits; within ±1.96·SE the two cannot be told apart.
      const verdict = d.distinguishable ? (d.difference < 0 ? 'worse' : 'better') : 'within noise';
      delta = `${signed(d.difference)} ± ${points(d.halfWidth)}, ${verdict}`;
      deltaClass = d.distinguishable ? (d.difference < 0 ? 'run-wrong' : 'run-right') : 'run-noise';
      (d.distinguishable ? differ : within).push(v.label);
    }
    for (const [text, cls] of [
      // Two decimals: one digit of 2,000 is 0.05 points.
      [v.label], [v.group, 'run-text'], [formatPct(r.accuracy, 2)], [`${points(lo)}–${points(hi)}`],
      [delta, deltaClass],
      [`${r.correct} / ${r.count}`], [formatBytes(r.bytes)], [`${(fp32.bytes / r.bytes).toFixed(1)}×`],
      [formatMicros(r.latency_micros)],
    ]) {
      const td = tr.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
  });
  $('#run-accuracy-table').hidden = false;
  const int8 = rows.find((_, i) => variants[i].config.kind === 'int8_dynamic');
  $('#run-accuracy-summary').textContent = int8
    ? `FP32 ${formatPct(fp32.accuracy, 2)} → INT8 ${formatPct(int8.accuracy, 2)}, ${formatBytes(fp32.bytes)} → ${formatBytes(int8.bytes)}, on ${fp32.count.toLocaleString('en-US')} test digits.`
    : '';
  const se = Math.sqrt((fp32.accuracy * (1 - fp32.accuracy)) / fp32.count);
  $('#run-accuracy-noise').textContent =
    `On ${fp32.count.toLocaleString('en-US')} digits one standard error of an accuracy near ${formatPct(fp32.accuracy, 1)} is ` +
    `≈ ${points(se)} points (the 95% interval column). Every variant sees the same digits, so Δ is paired: it counts ` +
    `only the digits the two disagree on (±1.96·SE of the paired difference), which tells smaller gaps apart. Not distinguishable from ${refLabel}: ${within.join(', ') || 'none'}. ` +
    `Measurably different: ${differ.join(', ') || 'none'}.`;
}

async function measureSensitivity(ready) {
  const button = $('#run-sensitivity-start');
  button.disabled = true;
  clearError('#run-sensitivity-error');
  try {
    await ready();
    const picker = $('#run-sensitivity-scheme');
    const config = JSON.parse(picker.value);
    const result = await withProgress($('#run-sensitivity-progress'),
      (onProgress) => runWorker.start('mnist_sensitivity', [config], { onProgress }),
      'Quantizing one layer at a time');
    if (result) renderSensitivity(result, picker.selectedOptions[0].text);
  } catch (err) {
    fail('#run-sensitivity-error', `The sensitivity measurement failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// result: {fp32_accuracy, layers: [{node, op, accuracy}], all_accuracy}
function renderSensitivity(result, schemeLabel) {
  const bars = [...result.layers.map((l) => ({ name: l.node, accuracy: l.accuracy })),
    { name: 'all layers', accuracy: result.all_accuracy }];
  for (const b of bars) b.drop = 100 * (result.fp32_accuracy - b.accuracy);
  $('#run-sensitivity-chart').replaceChildren(barChart(bars, schemeLabel));
  const body = $('#run-sensitivity-table tbody');
  body.replaceChildren();
  for (const l of [...result.layers, { node: 'all layers', op: '', accuracy: result.all_accuracy }]) {
    const tr = body.insertRow();
    for (const text of [l.node, l.op, formatPct(l.accuracy, 2),
      (100 * (result.fp32_accuracy - l.accuracy)).toFixed(2)]) tr.insertCell().textContent = text;
    tr.cells[1].className = 'run-text';
  }
  $('#run-sensitivity-table').hidden = false;
}

// Horizontal bars of the accuracy drop in percentage points (negative: the quantized layer did
// better), as SVG so it scales and can be read by a screen reader through its title.
function barChart(bars, schemeLabel) {
  const NS = 'http://www.w3.org/2000/svg';
  const rowH = 30, left = 110, right = 70, width = 640, top = 28;
  const height = top + rowH * bars.length + 30;
  const max = Math.max(0.5, ...bars.map((b) => Math.abs(b.drop)));
  const hasNegative = bars.some((b) => b.drop < 0);
  const x0 = hasNegative ? left + (width - left - right) / 2 : left;
  const scale = (hasNegative ? (width - left - right) / 2 : width - left - right) / max;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.classList.add('run-chart');
  const desc = bars.map((b) => `${b.name}: ${b.drop.toFixed(2)} points`).join('; ');
  svg.setAttribute('aria-label', `Accuracy drop per layer with ${schemeLabel}: ${desc}`);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  add('text', { x: left, y: 16, class: 'run-chart-title' }, `accuracy drop (percentage points), ${schemeLabel}`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = Math.abs(b.drop) * scale;
    add('text', { x: left - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, b.name);
    add('rect', { x: b.drop >= 0 ? x0 : x0 - w, y: y + 5, width: Math.max(w, 0.5), height: rowH - 10,
      class: b.name === 'all layers' ? 'run-bar-all' : 'run-bar-layer' });
    add('text', { x: b.drop >= 0 ? x0 + w + 6 : x0 - w - 6, y: y + rowH / 2 + 4, 'text-anchor': b.drop >= 0 ? 'start' : 'end' },
      b.drop.toFixed(2));
  });
  add('line', { x1: x0, x2: x0, y1: top, y2: top + rowH * bars.length, class: 'run-axis' });
  add('text', { x: x0, y: height - 8, 'text-anchor': 'middle', class: 'run-chart-tick' }, '0');
  add('text', { x: x0 + max * scale, y: height - 8, 'text-anchor': 'middle', class: 'run-chart-tick' }, max.toFixed(2));
  return svg;
}
