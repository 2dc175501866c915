// Learn panel 7, llama.cpp's mixes (#learn-mixes): what `llama-quantize MODEL OUT Q4_K_M` does to
// a model of a well-known shape — each tensor's type and the rule of llama_tensor_get_type that
// chose it, drawn as the layer map, and every file type's real bits per weight on that shape
// (the rules, not a constant: Q4_K_M is not 4.5 bits). The plans come from the worker's mixer
// module (inspect/mix-ops.js mix_shape_plan → src/mixer/src/shape.rs on formats::gguf_mix); this
// thread draws, with the Inspect view's layer map (inspect/mix-fit.js).
import { drawLayerMap } from '../inspect/mix-fit.js';
import { showError } from '../shared/dom.js';
import { h, latestRequest, markBusy } from './common.js';
import { SHAPES } from './model-shapes.js';

// The file types of the table, most bits first; the IQ1/IQ2 ones need an importance matrix.
const FILE_TYPES = ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_K_S', 'Q4_1', 'Q4_0', 'IQ4_XS', 'IQ4_NL',
  'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'IQ3_M', 'IQ3_S', 'IQ3_XS', 'Q2_K', 'TQ2_0', 'TQ1_0'];

export function mountMixes(section) {
  const shape = h('select', { 'aria-label': 'Model shape', 'data-role': 'shape' }, ...Object.keys(SHAPES).map((k) => new Option(k, k)));
  const fileType = h('select', { 'aria-label': 'File type', 'data-role': 'file-type' }, ...FILE_TYPES.map((t) => new Option(t, t)));
  fileType.value = 'Q4_K_M';
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const verdict = h('p', { class: 'verdict', 'data-role': 'verdict' });
  const map = h('div', { class: 'layer-map', 'data-role': 'map' });
  const rows = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { 'data-role': 'bpw-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'file type' }), h('th', { scope: 'col', text: 'bits / weight' }),
      h('th', { scope: 'col', text: 'file' }), h('th', { scope: 'col', text: 'memory (× 1.2)' }))), rows));
  section.replaceChildren(
    h('h2', { id: 'learn-mixes-title', text: "llama.cpp's mixes: why Q4_K_M is not 4 bits" }),
    h('p', { class: 'learn-lede', text: 'A llama.cpp file type such as Q4_K_M names a mix, not one type: llama-quantize ' +
      '(llama_tensor_get_type in src/llama-quant.cpp) gives the output layer Q6_K, half the layers\' attn_v and ffn_down ' +
      '(the first eighth, the last eighth and every third between: use_more_bits) Q6_K, and the rest Q4_K. _S, _M and ' +
      '_L are small, medium and large variants of these rules: more tensors kept at more bits. K-quants store ' +
      'super-blocks of 256 values with one f16 scale d (and min) and 6-bit scales per sub-block of 16 or 32 — the ' +
      'block decoder of the Granularity panel shows one. Below, the plan llama-quantize makes for a model of this ' +
      'shape (nothing is quantized: the rules depend only on names and shapes), and every file type\'s real size.' }),
    h('div', { class: 'learn-controls' }, h('label', {}, 'Model ', shape), h('label', {}, 'File type ', fileType)),
    error, verdict, map,
    h('h3', { text: 'Bits per weight of every file type on this shape' }), table);

  const request = latestRequest();
  const state = { dirty: true };

  async function refresh() {
    state.dirty = false;
    const s = SHAPES[shape.value];
    const tableEl = table.querySelector('table');
    markBusy([verdict, map, tableEl], 'computing');
    delete tableEl.dataset.plan;
    try {
      const plan = await request('mix_shape_plan', [fileType.value, s]);
      error.hidden = true;
      drawLayerMap(map, plan);
      const byType = {};
      for (const t of plan.tensors) byType[t.type] = (byType[t.type] ?? 0) + t.elements;
      const share = Object.entries(byType).sort((a, b) => b[1] - a[1])
        .map(([t, n]) => `${t} ${(100 * n / plan.elements).toFixed(1)} %`).join(', ');
      verdict.textContent = `${plan.file_type} on a ${shape.value}-shaped model: ${(plan.elements / 1e9).toFixed(2)} B weights, ` +
        `${(plan.bytes / 1e9).toFixed(2)} GB, ${plan.bits_per_weight.toFixed(2)} bits per weight (weights by type: ${share}).`;
      verdict.dataset.bpw = String(plan.bits_per_weight);
      const all = [];
      for (const t of FILE_TYPES) {
        // A type llama-quantize refuses here (the IQ1/IQ2 mixes need an importance matrix) says why.
        const p = await request('mix_shape_plan', [t, s]).catch((err) => {
          if (err.superseded) throw err;
          return { file_type: t, refused: err.message };
        });
        all.push(p);
      }
      rows.replaceChildren(...all.map((p) => h('tr', { 'data-type': p.file_type, class: p.file_type === plan.file_type ? 'selected' : null },
        h('th', { scope: 'row', text: p.file_type }),
        ...(p.refused ? [h('td', { colspan: 3, text: p.refused })] : [h('td', { class: 'num', text: p.bits_per_weight.toFixed(2) }),
          h('td', { class: 'num', text: `${(p.bytes / 1e9).toFixed(2)} GB` }),
          h('td', { class: 'num', text: `${(p.bytes * 1.2 / 1e9).toFixed(2)} GB` })]))));
      tableEl.dataset.plan = `${shape.value} ${fileType.value}`;
      markBusy([verdict, map, tableEl], null);
    } catch (err) {
      // A newer choice superseded this one: its own refresh draws.
      if (!err.superseded) markBusy([verdict, map, tableEl], null);
      showError(error, err);
    }
  }
  shape.addEventListener('change', () => refresh());
  fileType.addEventListener('change', () => refresh());
  return { refresh: () => { if (state.dirty) refresh(); }, invalidate: () => { state.dirty = true; } };
}
