// Learn → Granularity's block view for llama.cpp's grid types (IQ2_XXS … IQ1_M: each group's
// grid index, the grid point it names, its signs and scale) and "what an importance matrix
// changes" (one block quantized without and with the imatrix, side by side). The worker answers
// from the mixer module, which links the grid quantizers (learn/ops.js learn_grid_block and
// learn_importance_compare → src/mixer/src/learn.rs → src/learn/src/iq_blocks.rs); this thread
// draws. The importance weights are the imatrix loaded in the Inspect view (its entry named as
// the tensor is in its file); without one, a button loads the tiny language model of the Run
// view with the imatrix llama-imatrix computed for it (tests/fixtures/tiny_lm/).
import { app } from '../app.js';
import { $ } from '../shared/dom.js';
import { fmt } from './common.js';

export const GRID_IDS = ['iq2_xxs', 'iq2_xs', 'iq2_s', 'iq3_xxs', 'iq3_s', 'iq1_s', 'iq1_m'];
// The types the with-and-without comparison opens: their llama.cpp quantizer takes an imatrix.
export const IMPORTANCE_IDS = ['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'iq4_nl', 'iq4_xs', ...GRID_IDS];

// As many elements as granularity.rs's MAX_ELEMENTS_SHOWN: the block table lists the first 128.
const MAX_ELEMENTS_SHOWN = 128;

const TINY_LM = new URL('../../tests/fixtures/tiny_lm/', import.meta.url);
// A tensor the tiny model's imatrix has an entry for (llama-imatrix weighs matmul inputs only:
// not token_embd, which comes first in the file).
const TINY_LM_TENSOR = 'blk.0.attn_q.weight';

// Each type's layout, formula and field kinds (llama.cpp's block_iq* in ggml-common.h; the
// worker sends the fields' offsets and bytes).
const GRID_TEXT = {
  iq2_xxs: ['block_iq2_xxs = f16 d, u16 qs[32] (66 bytes): 256 values in 8 sub-blocks of 32, groups of 8 on a 256-point grid',
    "x̂ = d·(0.5 + s)·0.25 · grid[i][j] · sign_j, s the sub-block's 4-bit scale; signs: 7 bits stored per group, the 8th even parity (ksigns_iq2xs)",
    { d: 'f16', qs: 'u32[16]: per 32 values 4 grid indices, then 4 × 7 sign bits and a 4-bit scale' }],
  iq2_xs: ['block_iq2_xs = f16 d, u16 qs[32], u8 scales[8] (74 bytes): 256 values in 16 sub-blocks of 16, groups of 8 on a 512-point grid',
    "x̂ = d·(0.5 + s)·0.25 · grid[i][j] · sign_j, s the 16 values' 4-bit scale; signs: 7 bits stored per group, the 8th even parity (ksigns_iq2xs)",
    { d: 'f16', qs: 'u16[32]: 9-bit grid index | 7 sign bits << 9', scales: 'u8[8]: two 4-bit scales, one per 16 values' }],
  iq2_s: ['block_iq2_s = f16 d, u8 qs[32], u8 signs[32], u8 qh[8], u8 scales[8] (82 bytes): 256 values in 16 sub-blocks of 16, groups of 8 on a 1024-point grid',
    'x̂ = d·(0.5 + s)·0.25 · grid[i][j] · sign_j, i = qs | 2 bits of qh << 8; signs: 8 bits stored per group',
    { d: 'f16', qs: 'u8[32]: low 8 bits of the grid indices', signs: 'u8[32]: 8 sign bits per group', qh: 'u8[8]: 2 high index bits per group',
      scales: 'u8[8]: two 4-bit scales, one per 16 values' }],
  iq3_xxs: ['block_iq3_xxs = f16 d, u8 qs[64], u32 scales_and_signs[8] (98 bytes): 256 values in 8 sub-blocks of 32, groups of 4 on a 256-point grid',
    "x̂ = d·(0.5 + s)·0.5 · grid[i][j] · sign_j, s the sub-block's 4-bit scale; signs: 7 bits stored per 8 values, the 8th even parity (ksigns_iq2xs)",
    { d: 'f16', qs: 'u8[64]: grid indices, one per 4 values', scales_and_signs: 'u32[8]: 4 × 7 sign bits and a 4-bit scale per 32 values' }],
  iq3_s: ['block_iq3_s = f16 d, u8 qs[64], u8 qh[8], u8 signs[32], u8 scales[4] (110 bytes): 256 values in 8 sub-blocks of 32, groups of 4 on a 512-point grid',
    'x̂ = d·(1 + 2s) · grid[i][j] · sign_j, i = qs | 1 bit of qh << 8; signs: 8 bits stored per 8 values',
    { d: 'f16', qs: 'u8[64]: low 8 bits of the grid indices', qh: 'u8[8]: the 9th index bit of each group', signs: 'u8[32]: 8 sign bits per 8 values',
      scales: 'u8[4]: 4-bit scales, one per 32 values' }],
  iq1_s: ['block_iq1_s = f16 d, u8 qs[32], u16 qh[8] (50 bytes): 256 values in 8 sub-blocks of 32, groups of 8 on a 2048-point grid of −1, 0, 1',
    'x̂ = d·(2s + 1) · (grid[i][j] + delta), delta = ±1/8 per sub-block (IQ1S_DELTA, bit 15 of its u16); no signs: the grid holds −1, 0 and 1',
    { d: 'f16', qs: 'u8[32]: low 8 bits of the grid indices', qh: 'u16[8]: 4 × 3 high index bits, a 3-bit scale and the delta\'s sign per 32 values' }],
  iq1_m: ['block_iq1_m = u8 qs[32], u8 qh[16], u16 scales[4] (56 bytes): 256 values in 16 sub-blocks of 16, groups of 8 on a 2048-point grid of −1, 0, 1',
    "x̂ = d·(2s + 1) · (grid[i][j] + delta), s the 16 values' 3-bit scale, delta = ±1/8 per group of 8 (IQ1S_DELTA); d is spread over the scales' top nibbles",
    { qs: 'u8[32]: low 8 bits of the grid indices', qh: 'u8[16]: 3 high index bits and the delta\'s sign per group',
      scales: 'u16[4]: 3-bit scales, one per 16 values; the top 4 bits of each, first u16 lowest, are the f16 d' }],
};

// The text of a field the groups table spells out (indices, signs, high bits).
const GROUPS_SAY = 'see the groups below';

// How each type forms a group's scale from its stored s (dequantize_row_iq* in ggml-quants.c),
// and which field holds the scales.
const SCALE = {
  iq2_xxs: (s) => `d·(0.5 + ${s})·0.25`, iq2_xs: (s) => `d·(0.5 + ${s})·0.25`, iq2_s: (s) => `d·(0.5 + ${s})·0.25`,
  iq3_xxs: (s) => `d·(0.5 + ${s})·0.5`, iq3_s: (s) => `d·(1 + 2·${s})`, iq1_s: (s) => `d·(2·${s} + 1)`, iq1_m: (s) => `d·(2·${s} + 1)`,
};
const SCALE_FIELD = { iq2_xxs: 'qs', iq2_xs: 'scales', iq2_s: 'scales', iq3_xxs: 'scales_and_signs', iq3_s: 'scales', iq1_s: 'qh', iq1_m: 'scales' };

const bitRange = (first, count) => (count > 1 ? `bits ${first}–${first + count - 1}` : `bit ${first}`);

// Where a group's grid index is (bytes counted from the block's start).
const indexPlace = (g) => `byte ${g.index_byte}` +
  (g.high_byte === null ? '' : ` + ${bitRange(g.high_bit, g.high_bits)} from byte ${g.high_byte}, as bits 8 and up`);

function signText(g) {
  if (g.delta !== null) return `none: delta ${g.delta > 0 ? '+' : '−'}1/8`;
  const signs = g.signs.map((x) => (x < 0 ? '−' : '+')).join('');
  return g.sign_index !== null
    ? `${signs}: ksigns_iq2xs[${g.sign_index}], its index the 7 ${bitRange(g.sign_bit, 7)} from byte ${g.sign_byte}; the 8th bit makes the count of − even`
    : `${signs}: ${g.len < 8 ? `${bitRange(g.sign_bit, g.len)} of ` : ''}byte ${g.sign_byte}, its 8 bits stored`;
}

// The block view the other decoders send (granularity.rs BlockView), made here from a grid
// block's numbers ({scheme, block, first_element, elements_in_block, block_offset, block_len, d,
// fields, groups}; the worker adds `originals`): the words, the fields' kinds and texts, and
// its elements listed from its groups — each group holds its values as the dequantizer forms
// them — with their decoding written out. Sets `answer.view`.
export function describeGridBlock(answer) {
  const { groups, originals } = answer;
  const [layout, formula, kinds] = GRID_TEXT[answer.scheme];
  const perSub = [];
  for (const g of groups) perSub[g.sub_block] = g.scale_code;
  const scaleField = SCALE_FIELD[answer.scheme];
  const fields = answer.fields.map((f) => ({
    ...f,
    kind: kinds[f.name],
    value: answer.d,
    text: f.name === 'd' ? null
      : f.name === scaleField ? `${answer.scheme === 'iq1_m' ? `d = ${fmt(answer.d)}; ` : ''}s = [${perSub.join(', ')}], one per sub-block`
        : GROUPS_SAY,
  }));
  const bytes = new Map();
  for (const f of fields) f.bytes.forEach((b, i) => bytes.set(f.offset + i, b));
  const len = groups[0].len;
  const elements = Array.from({ length: Math.min(answer.elements_in_block, MAX_ELEMENTS_SHOWN) }, (_, j) => {
    const g = groups[Math.floor(j / len)];
    const k = j % len, p = g.point[k];
    const scale = fmt(g.scale, { digits: 4 });
    const at = answer.block_offset + g.index_byte;
    return {
      index: answer.first_element + j, position: j, original: originals[j], byte_offset: at, byte: bytes.get(at), shift: 0, low_bits: 8,
      code: g.index, decoded: g.values[k], sub_block: g.sub_block, scale: g.scale, min: null,
      computed: g.delta !== null ? `${scale} · (${p} + ${g.delta})` : `${scale} · ${p} · ${g.signs[k] < 0 ? '(−1)' : '1'}`,
      place: `grid index ${g.index} (${indexPlace(g)}), value ${k} of its point`,
    };
  });
  answer.view = {
    scheme: answer.scheme, block: answer.block, first_element: answer.first_element, elements_in_block: answer.elements_in_block,
    layout, formula, block_offset: answer.block_offset, block_len: answer.block_len, fields, elements,
  };
}

// The groups of a grid block, or the reason it was not quantized.
export function renderGridBlock(answer) {
  const box = $('#block-grid');
  box.hidden = false;
  const name = answer.importance?.name;
  $('#block-grid-note').textContent = answer.refused
    ? `Not quantized: ${answer.refused}. Here ${answer.why_none}.`
    : answer.importance
      ? `Quantized with the weights of ${answer.importance.file}'s entry for ${name}, as llama-quantize --imatrix does.`
      : `Quantized without an importance matrix (${answer.why_none}): the quantizer weighs each value by its own size.`;
  $('.tiny-lm-load', box).hidden = Boolean(answer.importance);
  const scale = SCALE[answer.scheme];
  $('#block-groups tbody').replaceChildren(...(answer.groups ?? []).map((g) => {
    const tr = document.createElement('tr');
    for (const text of [`${g.position}–${g.position + g.len - 1}`, String(g.sub_block), `${fmt(g.scale, { digits: 4 })} = ${scale(g.scale_code)}`,
      `${g.index} (${indexPlace(g)})`, `[${g.point.join(', ')}]`, signText(g)]) tr.insertCell().textContent = text;
    return tr;
  }));
}

export function hideGridBlock() {
  $('#block-grid').hidden = true;
}

const fieldsText = (view) => view.fields.filter((f) => f.text !== GROUPS_SAY).map((f) => `${f.name} = ${f.text ?? fmt(f.value)}`).join('; ');
const change = (after, before) => {
  const f = (after - before) / before;
  return `${f < 0 ? 'fell' : 'rose'} by ${fmt(Math.abs(100 * f), { digits: 3 })} %`;
};

// The comparison: both sides' fields, each value's weight, codes and errors, and the block's
// plain and importance-weighted squared errors.
export function renderImportanceCompare(r) {
  const box = $('#imatrix-compare');
  box.hidden = false;
  delete box.dataset.ready;
  const note = $('#imatrix-compare-note');
  const rows = $('#imatrix-compare-table tbody');
  // Without weights only the note and the button show.
  box.toggleAttribute('data-empty', !r.importance);
  if (!r.importance) {
    note.textContent = `No importance weights: ${r.why_none}. The comparison needs an imatrix entry for this tensor — load one in the Inspect view, or the tiny language model with its own.`;
    $('.tiny-lm-load', box).hidden = false;
    for (const id of ['#imatrix-compare-summary', '#imatrix-compare-without', '#imatrix-compare-with']) $(id).textContent = '';
    rows.replaceChildren();
    return;
  }
  $('.tiny-lm-load', box).hidden = true;
  const { with: w, without: o } = r;
  // A grid type's sides come as grid blocks: made into block views here.
  for (const side of [o, w]) if (side?.view?.groups) { describeGridBlock(side.view); side.view = side.view.view; }
  const last = r.first_element + r.originals.length - 1;
  note.textContent = `Block ${fmt(r.block)} of ${r.scheme} (elements ${fmt(r.first_element)}–${fmt(last)}), weights from ${r.importance.file}'s entry for ${r.importance.name}.`;
  const sides = o
    ? `Without: squared error ${fmt(o.sse)}, importance-weighted ${fmt(o.weighted_sse)}. With: ${fmt(w.sse)} and ${fmt(w.weighted_sse)} — ` +
      `the weighted error ${change(w.weighted_sse, o.weighted_sse)}, the plain error ${change(w.sse, o.sse)}.`
    : `Without: ${r.refused.replace(/\.?$/, '.')} With: squared error ${fmt(w.sse)}, importance-weighted ${fmt(w.weighted_sse)}.`;
  $('#imatrix-compare-summary').textContent = `${sides} Σ w·(x − x̂)² over the block's ${r.originals.length} values.`;
  $('#imatrix-compare-without').textContent = o ? `without: ${fieldsText(o.view)}` : 'without: —';
  $('#imatrix-compare-with').textContent = `with: ${fieldsText(w.view)}`;
  // The largest weights stand out: the columns the imatrix says matter.
  const sorted = [...r.weights].sort((a, b) => a - b);
  const heavy = sorted[Math.floor(sorted.length * 0.9)];
  const shown = Math.min(w.view.elements.length, r.originals.length);
  rows.replaceChildren(...Array.from({ length: shown }, (_, k) => {
    const tr = document.createElement('tr');
    tr.dataset.index = String(r.first_element + k);
    if (r.weights[k] >= heavy && heavy > 0) tr.className = 'heavy';
    const x = r.originals[k];
    const err = (side) => (side ? fmt(r.weights[k] * (x - side.decoded[k]) ** 2) : '—');
    const cells = [
      [String(k), 'position'], [fmt(r.weights[k]), 'weight'], [fmt(x), 'original'],
      [o ? String(o.view.elements[k].code) : '—', 'code-without'], [o ? fmt(o.decoded[k]) : '—', 'without'],
      [String(w.view.elements[k].code), 'code-with'], [fmt(w.decoded[k]), 'with'],
      [err(o), 'error-without'], [err(w), 'error-with'],
    ];
    for (const [text, col] of cells) {
      const td = tr.insertCell();
      td.textContent = text;
      td.dataset.col = col;
    }
    return tr;
  }));
  box.dataset.ready = 'true';
}

export function hideImportanceCompare() {
  $('#imatrix-compare').hidden = true;
}

// The tiny language model (the Run view's, tests/fixtures/tiny_lm/) opened as if dropped on the
// Inspect view, with the imatrix llama-imatrix computed for it, and its first attention query
// weight selected: real weights with a real importance matrix.
async function loadTinyLm(button) {
  const fetchFile = async (name) => {
    const r = await fetch(new URL(name, TINY_LM));
    if (!r.ok) throw new Error(`could not fetch ${name} (HTTP ${r.status})`);
    return new File([await r.blob()], name);
  };
  const note = button.previousElementSibling;
  button.disabled = true;
  try {
    note.textContent = 'Loading the tiny language model (5.5 MB) and its imatrix…';
    const [model, imatrix] = await Promise.all([fetchFile('tiny-lm-f32.gguf'), fetchFile('imatrix-f32.gguf')]);
    if (!(await new Promise((done) => app.emit('load-imatrix', { file: imatrix, done })))) {
      throw new Error('its imatrix did not load (the Inspect view says why)');
    }
    const t = await new Promise((done) => app.emit('open-files', { files: [model], select: TINY_LM_TENSOR, done }));
    if (!t) throw new Error('the model did not open (the Inspect view says why)');
  } catch (err) {
    note.textContent = `The tiny language model was not loaded: ${err.message}.`;
  } finally {
    button.disabled = false;
  }
}

export function wireTinyLm() {
  for (const b of document.querySelectorAll('.tiny-lm-load')) b.onclick = () => loadTinyLm(b);
}
