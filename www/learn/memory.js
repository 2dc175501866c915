// Learn panel 5, memory (#learn-memory): parameters × bits per weight ÷ 8 × 1.2 for preset model
// sizes, the loaded model or a custom size, at every scheme, against common GPU memory sizes.
// The numbers come from the worker (learn/ops.js → src/learn/src/memory.rs).
import { app } from '../app.js';
import { getParam, setParams } from '../urlstate.js';
import { $, showError } from '../shared/dom.js';
import { currentScheme, fmt, latestRequest, learnVisible, markBusy } from './common.js';

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
