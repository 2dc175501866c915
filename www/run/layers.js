// "Which layers hurt" for a person's own model: every value the quantized copy makes against
// the FP32 model's on the same inputs (the models module's layer_errors, what ONNX Runtime's
// qdq_loss_debug reports), worst first, with a "keep in FP32" box per quantizable node; the
// boxes feed `only_nodes` of the next comparison (mixed precision).
import { $, el } from './ui.js';

// SQNR at which a bar is full: above it the error is invisible at this scale.
const FULL_BAR_DB = 60;
// Quantized nodes highlighted as the worst.
const WORST = 3;

export const LAYERS_MARKUP = `
  <section id="run-custom-layers" class="run-layers" hidden aria-labelledby="run-custom-layers-title">
    <h3 id="run-custom-layers-title">Which layers hurt</h3>
    <p class="hint">Each node's output in the quantized copy against the FP32 model's, on the inputs above, lowest
      SQNR first. Errors accumulate: a value's SQNR includes every quantized node before it. The three worst
      quantized nodes are marked. Keep some in FP32 and run again to see what mixed precision buys.</p>
    <p id="run-custom-layers-error" class="run-error" role="status" hidden></p>
    <div class="run-row">
      <button id="run-custom-layers-rerun" type="button">Run again with the checked nodes in FP32</button>
      <span id="run-custom-layers-kept" class="hint" aria-live="polite"></span>
    </div>
    <div class="table-wrap run-layers-wrap">
      <table id="run-custom-layers-table">
        <thead><tr><th scope="col">keep FP32</th><th scope="col" class="run-text">node</th><th scope="col" class="run-text">output</th>
          <th scope="col">SQNR (dB)</th><th scope="col">max |error|</th><th scope="col" class="run-text">quantized</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>`;

// rows: layer_errors' answer; kept: the Set of node names to keep in FP32 (edited in place);
// error: why there are no rows, when layer_errors failed (the section says it instead).
export function renderLayers(rows, kept, onChange, error = null) {
  const section = $('#run-custom-layers');
  $('#run-custom-layers-error').hidden = !error;
  $('#run-custom-layers-error').textContent = error ? `Not compared layer by layer: ${error}.` : '';
  $('#run-custom-layers-table').hidden = Boolean(error);
  if (!rows.length) {
    section.hidden = !error;
    return;
  }
  const sqnr = (r) => (r.sqnr_db === null ? Infinity : r.sqnr_db);
  const sorted = [...rows].sort((a, b) => sqnr(a) - sqnr(b));
  const worst = new Set(sorted.filter((r) => r.quantized).slice(0, WORST).map((r) => r.output));
  const body = $('#run-custom-layers-table tbody');
  body.replaceChildren(...sorted.map((r) => {
    const box = r.quantizable || kept.has(r.node)
      ? el('input', { type: 'checkbox', 'aria-label': `keep ${r.node} in FP32`, 'data-node': r.node, checked: kept.has(r.node) })
      : '';
    if (box) box.onchange = () => { box.checked ? kept.add(r.node) : kept.delete(r.node); showKept(kept); onChange?.(); };
    const db = sqnr(r);
    const bar = el('span', { class: 'run-layer-bar', style: `width: ${Math.max(2, Math.min(100, (100 * db) / FULL_BAR_DB)).toFixed(1)}%` });
    const tr = el('tr', { class: worst.has(r.output) ? 'run-layer-worst' : undefined, 'data-node': r.node },
      el('td', {}, box), el('td', { class: 'run-text' }, `${r.op_type} '${r.node}'`), el('td', { class: 'run-text' }, r.output),
      el('td', { class: 'run-layer-db' }, bar, el('span', {}, Number.isFinite(db) ? db.toFixed(1) : 'exact')),
      el('td', {}, r.max_abs_error.toPrecision(3)), el('td', { class: 'run-text' }, r.quantized ? 'yes' : kept.has(r.node) ? 'kept FP32' : 'no'));
    return tr;
  }));
  showKept(kept);
  section.hidden = false;
}

function showKept(kept) {
  $('#run-custom-layers-kept').textContent = kept.size ? `${kept.size} node${kept.size === 1 ? '' : 's'} kept in FP32: ${[...kept].join(', ')}` : '';
}

export function hideLayers() {
  $('#run-custom-layers').hidden = true;
}
