// Learn panel 5, memory (#learn-memory): parameters × bits per weight ÷ 8 × 1.2 for preset model
// sizes, the loaded model or a custom size, at every scheme, against common GPU memory sizes.
// The numbers come from the worker (learn/ops.js → src/learn/src/memory.rs). Below, llama.cpp's
// file types (Q4_K_M, ...) at their real bits per weight on the preset's model shape: the plan
// llama_tensor_get_type's rules make for it (the mixer's mix_shape_plan, as the mixes panel
// draws it), through the same formula.
import { app } from '../app.js';
import { getParam, setParams } from '../urlstate.js';
import { $, showError } from '../shared/dom.js';
import { latest } from '../shared/latest.js';
import { currentScheme, fmt, latestRequest, learnVisible, markBusy } from './common.js';
import { PRESET_SHAPES, SHAPES } from './model-shapes.js';

// The file types of the mixes table, most bits first (the IQ1/IQ2 mixes need an imatrix).
const MIX_TYPES = ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q4_K_M', 'Q4_K_S', 'IQ4_XS', 'Q3_K_L', 'Q3_K_M', 'IQ3_M', 'Q3_K_S', 'Q2_K'];

// Bytes as GB (10⁹), or MB below one GB, three significant digits.
function gb(bytes) {
  if (bytes < 1e9) return `${(bytes / 1e6).toPrecision(3)} MB`;
  return `${(bytes / 1e9).toPrecision(3)} GB`;
}

const memory = {
  presets: [],        // [[name, parameters]]
  gpus: [],           // GB
  mem: '7B',          // a preset name, 'model', or a parameter count
  table: null,
  sort: { key: null, descending: false },
  request: latestRequest(),
  mixes: { shape: null, plans: null, guard: latest() },
};

function memoryParameters() {
  if (memory.mem === 'model') {
    const total = app.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    return { parameters: total, shapes: app.tensors.map((t) => t.shape), what: `this model (${app.tensors.length} tensor${app.tensors.length === 1 ? '' : 's'})` };
  }
  const preset = memory.presets.find(([name]) => name === memory.mem);
  if (preset) return { parameters: preset[1], shapes: null, what: `the ${preset[0]} preset` };
  // `13B` (a preset or not) or a plain count from the custom box.
  const billions = memory.mem.match(/^(\d+(?:\.\d+)?)B$/);
  const n = billions ? Number(billions[1]) * 1e9 : Number(memory.mem);
  return { parameters: n, shapes: null, what: billions ? `${memory.mem} parameters` : 'a custom size' };
}

async function refreshMemory() {
  if (!learnVisible()) return;
  if (!memory.presets.length) {
    [memory.presets, memory.gpus] = await app.client.request('learn_memory_presets', []);
    renderPresetButtons();
  }
  const { parameters, shapes, what } = memoryParameters();
  // Until this size's answer arrives, the table on show is another size's: dimmed, aria-busy.
  if (memory.table) markBusy([$('#mem-summary'), $('#mem-table')], `computing the memory of ${what}…`);
  try {
    memory.table = await memory.request('learn_memory_table', [parameters, shapes]);
    memory.what = what;
    showError($('#mem-error'), null);
    renderMemory();
    markBusy([$('#mem-summary'), $('#mem-table')], null);
    await refreshMixes();
  } catch (err) {
    if (!err.superseded) markBusy([$('#mem-summary'), $('#mem-table')], null);
    showError($('#mem-error'), err);
  }
}

function renderPresetButtons() {
  $('#mem-presets').replaceChildren(...memory.presets.map(([name]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.mem = name;
    b.textContent = name;
    b.onclick = () => chooseMemory(name);
    return b;
  }));
  markPreset();
}

function markPreset() {
  for (const b of document.querySelectorAll('#learn-memory [data-mem]')) b.setAttribute('aria-pressed', String(b.dataset.mem === memory.mem));
}

function chooseMemory(mem) {
  memory.mem = mem;
  setParams({ mem });
  markPreset();
  refreshMemory();
}


function renderMemory() {
  const t = memory.table;
  const { key, descending } = memory.sort;
  const rows = [...t.rows];
  if (key) {
    rows.sort((a, b) => {
      const c = typeof a[key] === 'string' ? a[key].localeCompare(b[key]) : a[key] - b[key];
      return descending ? -c : c;
    });
  }
  for (const th of document.querySelectorAll('#mem-table th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === key ? (descending ? 'descending' : 'ascending') : 'none');
  }
  const selected = currentScheme();
  $('#mem-table tbody').replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.scheme = r.scheme;
    if (r.scheme === selected) tr.classList.add('current');
    if (r.scheme === 'fp32') tr.classList.add('baseline');
    const cells = [
      [r.scheme === 'fp32' ? 'fp32 (unquantized)' : r.scheme, 'scheme'],
      [fmt(r.bits_per_weight, { digits: 5 }), 'bits_per_weight'],
      [gb(r.size_bytes), 'size_bytes'],
      [gb(r.memory_bytes), 'memory_bytes'],
    ];
    for (const [text, col] of cells) {
      const td = tr.insertCell();
      td.textContent = text;
      td.dataset.col = col;
      if (col.endsWith('bytes')) td.dataset.bytes = String(r[col]);
    }
    r.fits.forEach((fits, i) => {
      const td = tr.insertCell();
      td.className = fits ? 'fits' : 'nofit';
      td.dataset.gpu = String(t.gpu_gb[i]);
      td.textContent = fits ? '✓ fits' : '✗';
      td.setAttribute('aria-label', `${fits ? 'fits' : 'does not fit'} in ${t.gpu_gb[i]} GB`);
    });
    return tr;
  }));
  const row = t.rows.find((r) => r.scheme === selected);
  const smallest = row ? t.gpu_gb.find((g, i) => row.fits[i]) : undefined;
  const billions = t.parameters / 1e9;
  const count = billions >= 0.1 ? `${fmt(billions, { digits: 4 })} billion` : fmt(t.parameters);
  $('#mem-summary').textContent = `${count} parameters (${memory.what}); ${t.shapes_note}; 1 GB = 10⁹ bytes.` +
    (row ? ` With ${selected}: ${gb(row.memory_bytes)} — ${smallest ? `fits in ${smallest} GB` : `more than ${t.gpu_gb.at(-1)} GB`}.` : '');
  $('#learn-memory').dataset.ready = 'true';
}

// The preset whose shape the mixes are planned on: the chosen one, else the nearest in size.
function mixShape(parameters) {
  const preset = memory.presets.find(([name]) => name === memory.mem)
    ?? memory.presets.reduce((a, b) => (Math.abs(Math.log(b[1] / parameters)) < Math.abs(Math.log(a[1] / parameters)) ? b : a));
  return { name: PRESET_SHAPES[preset[0]], nearest: preset[0] !== memory.mem ? preset[0] : null };
}

async function refreshMixes() {
  const { parameters } = memoryParameters();
  const shape = mixShape(parameters);
  const mixes = memory.mixes;
  if (mixes.shape !== shape.name) {
    markBusy($('#mem-mixes'), `planning llama.cpp's mixes on a ${shape.name} shape…`);
    try {
      // One plan per file type, in one request guard: a newer shape supersedes them all.
      mixes.plans = await mixes.guard(Promise.all(MIX_TYPES.map((t) => app.client.request('mix_shape_plan', [t, SHAPES[shape.name]])
        .catch((err) => ({ file_type: t, refused: err.message })))));
      mixes.shape = shape.name;
      markBusy($('#mem-mixes'), null);
    } catch (err) {
      if (!err.superseded) markBusy($('#mem-mixes'), null);
      showError($('#mem-error'), err);
      return;
    }
  }
  renderMixes(parameters, shape);
}

// Each file type's bits per weight on the shape, through the table's formula (× its overhead).
function renderMixes(parameters, shape) {
  const t = memory.table;
  $('#mem-mixes-shape').textContent = `a ${shape.name} shape`;
  $('#mem-mixes-note').textContent = `A file type is a mix: llama-quantize gives each tensor a type by its name and the ` +
    `model's shape (llama_tensor_get_type), so its bits per weight come from the plan for a ${shape.name}-shaped model, ` +
    `not from one type's block` + (shape.nearest ? ` (the ${shape.nearest} preset's shape, the nearest to this size)` : '') +
    `; memory = ${fmt(t.parameters / 1e9, { digits: 4 })} B parameters × bits per weight ÷ 8 × ${t.overhead}.`;
  $('#mem-mixes tbody').replaceChildren(...memory.mixes.plans.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.type = p.file_type;
    tr.insertCell().textContent = p.file_type;
    if (p.refused) {
      const td = tr.insertCell();
      td.colSpan = 3 + t.gpu_gb.length;
      td.textContent = p.refused;
      return tr;
    }
    const size = (parameters * p.bits_per_weight) / 8;
    const mem = size * t.overhead;
    const cells = [[fmt(p.bits_per_weight, { digits: 4 }), 'bits_per_weight'], [gb(size), 'size_bytes'], [gb(mem), 'memory_bytes']];
    for (const [text, col] of cells) {
      const td = tr.insertCell();
      td.textContent = text;
      td.dataset.col = col;
    }
    tr.dataset.bpw = String(p.bits_per_weight);
    tr.dataset.memory = String(mem);
    for (const g of t.gpu_gb) {
      const fits = mem <= g * 1e9;
      const td = tr.insertCell();
      td.className = fits ? 'fits' : 'nofit';
      td.textContent = fits ? '✓ fits' : '✗';
      td.setAttribute('aria-label', `${fits ? 'fits' : 'does not fit'} in ${g} GB`);
    }
    return tr;
  }));
  $('#mem-mixes').dataset.shape = shape.name;
}

export function mountMemory() {
  const mem = getParam('mem');
  if (mem) memory.mem = mem;
  $('#mem-model').onclick = () => chooseMemory('model');
  const apply = () => {
    const billions = Number($('#mem-custom').value);
    if (!(billions > 0) || !Number.isFinite(billions)) {
      showError($('#mem-error'), new Error('Enter the model size in billions of parameters, e.g. 3.8.'));
      return;
    }
    chooseMemory(String(Math.round(billions * 1e9)));
  };
  $('#mem-apply').onclick = apply;
  $('#mem-custom').onkeydown = (e) => { if (e.key === 'Enter') apply(); };
  if (/^\d+$/.test(memory.mem)) $('#mem-custom').value = String(Number(memory.mem) / 1e9);
  for (const th of document.querySelectorAll('#mem-table th[data-key]')) {
    th.querySelector('button').onclick = () => {
      const key = th.dataset.key;
      memory.sort = { key, descending: memory.sort.key === key ? !memory.sort.descending : false };
      if (memory.table) renderMemory();
    };
  }

  return {
    refresh: refreshMemory,
    // 'This model' follows the loaded tensors.
    followsModel: () => memory.mem === 'model',
    tensorSelected() { if (memory.mem === 'model') memory.table = null; },
    schemeSelected() { if (memory.table) renderMemory(); },
    paramsChanged(params) {
      if (params.get('mem') && params.get('mem') !== memory.mem) { memory.mem = params.get('mem'); markPreset(); }
    },
  };
}
