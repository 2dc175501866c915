// The page: file input, tensor list, statistics, scheme table and histogram. The numbers come
// from the worker (www/worker.js); this thread only renders them and draws with plotters.
import init, { draw_histogram, sample_list, scheme_list } from './pkg/quantscope.js';
import { WorkerClient } from './client.js';

const $ = (sel) => document.querySelector(sel);
const HISTOGRAM_BINS = 96;
const DEFAULT_SCHEME = 'int8_sym';

const state = {
  client: new WorkerClient(),
  tensors: [],        // [{index, name, dtype, shape, stats}]
  selected: null,     // tensor index
  scheme: DEFAULT_SCHEME,
  schemeIds: [],
  running: null,      // {cancel} of the comparison under way
};

// Numbers: compact, exact enough to check by hand; null means "none" (or ∞ where said).
export function fmt(v, { nullText = '—' } = {}) {
  if (v === null || v === undefined) return nullText;
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(5);
  return Number(v.toPrecision(6)).toString();
}

function showError(message) {
  const el = $('#error');
  el.textContent = message;
  el.hidden = !message;
}

function statsList(el, entries) {
  el.replaceChildren(...entries.map(([label, value, key]) => {
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = value;
    if (key) dd.dataset.stat = key;
    div.append(dt, dd);
    return div;
  }));
}

function renderTensorList() {
  const list = $('#tensor-list');
  list.replaceChildren(...state.tensors.map((t) => {
    const li = document.createElement('li');
    li.tabIndex = 0;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(t.index === state.selected));
    li.innerHTML = '<span></span><small></small>';
    li.firstChild.textContent = t.name;
    li.lastChild.textContent = `${t.dtype} [${t.shape.join(', ')}]`;
    li.onclick = () => selectTensor(t.index);
    li.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectTensor(t.index); } };
    return li;
  }));
}

function renderTensor(t) {
  const s = t.stats;
  $('#tensor-title').textContent = t.name;
  statsList($('#tensor-stats'), [
    ['shape', `[${t.shape.join(', ')}]`, 'shape'],
    ['dtype', t.dtype, 'dtype'],
    ['elements', fmt(s.count), 'count'],
    ['min', fmt(s.min), 'min'],
    ['max', fmt(s.max), 'max'],
    ['mean', fmt(s.mean), 'mean'],
    ['std', fmt(s.std), 'std'],
    ['NaN', fmt(s.nan_count), 'nan'],
    ['±Inf', fmt(s.inf_count), 'inf'],
  ]);
}

function renderScheme(r) {
  $('#selected-scheme-name').textContent = r.scheme;
  const scale = r.params.find((p) => p.name === 'scale');
  const zp = r.params.find((p) => p.name === 'zero_point');
  const first = (p) => (p.values.length === 1 ? fmt(p.values[0]) : `${fmt(p.values[0])}, … (${p.values.length}+ groups)`);
  statsList($('#scheme-stats'), [
    ...(scale ? [['scale', first(scale), 'scale']] : []),
    ...(zp ? [['zero point', first(zp), 'zero_point']] : []),
    ['MSE', fmt(r.mse), 'mse'],
    ['SQNR (dB)', fmt(r.sqnr_db, { nullText: '∞ (exact)' }), 'sqnr'],
    ['max |error|', fmt(r.max_abs_error), 'max_abs_error'],
    ['bits / weight', fmt(r.bits_per_weight), 'bpw'],
    ['bytes', fmt(r.bytes), 'bytes'],
    ['levels used', `${fmt(r.levels_used)} of ${fmt(r.levels_total)}`, 'levels'],
    ['clipped', `${fmt(100 * r.clipped_fraction)} %`, 'clipped'],
  ]);
}

function renderTable(reports) {
  const body = $('#scheme-table tbody');
  body.replaceChildren(...reports.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.scheme = r.scheme;
    tr.tabIndex = 0;
    tr.title = r.description;
    tr.setAttribute('aria-selected', String(r.scheme === state.scheme));
    for (const v of [r.scheme, fmt(r.bits_per_weight), fmt(r.bytes), fmt(r.mse), fmt(r.sqnr_db, { nullText: '∞' }),
      fmt(r.max_abs_error), `${r.levels_used}/${r.levels_total}`]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    tr.onclick = () => selectScheme(r.scheme);
    tr.onkeydown = (e) => { if (e.key === 'Enter') selectScheme(r.scheme); };
    return tr;
  }));
}

function drawHistogram(pair, scheme) {
  try {
    draw_histogram($('#histogram'), pair, `original vs ${scheme} dequantized`);
  } catch (err) {
    showError(`could not draw the histogram: ${err.message}`);
  }
}

// Quantizes the selected tensor with `ids`, showing progress; resolves to the comparison.
async function compare(ids) {
  state.running?.cancel();
  const row = $('#progress-row');
  const bar = $('#progress');
  const job = state.client.start('compare', [state.selected, ids, HISTOGRAM_BINS, state.scheme], {
    onProgress: (done, total) => { bar.max = total; bar.value = done; },
  });
  state.running = job;
  const slow = setTimeout(() => { row.hidden = false; }, 150);
  try {
    return await job.promise;
  } finally {
    clearTimeout(slow);
    if (state.running === job) { state.running = null; row.hidden = true; }
  }
}

async function selectTensor(index) {
  state.selected = index;
  renderTensorList();
  const t = state.tensors.find((x) => x.index === index);
  $('#tensor').hidden = false;
  renderTensor(t);
  try {
    // The selected scheme first, so its numbers and histogram appear at once.
    const first = await compare([state.scheme]);
    renderScheme(first.schemes[0]);
    if (first.histogram) drawHistogram(first.histogram, state.scheme);
    const all = await compare(state.schemeIds);
    renderTable(all.schemes);
    document.body.dataset.ready = 'true';
  } catch (err) {
    if (!err.cancelled) showError(err.message);
  }
}

async function selectScheme(id) {
  state.scheme = id;
  for (const tr of document.querySelectorAll('#scheme-table tbody tr')) tr.setAttribute('aria-selected', String(tr.dataset.scheme === id));
  try {
    const r = await compare([id]);
    renderScheme(r.schemes[0]);
    if (r.histogram) drawHistogram(r.histogram, id);
  } catch (err) {
    if (!err.cancelled) showError(err.message);
  }
}

function added(list) {
  state.tensors.push(...list);
  renderTensorList();
  if (list.length) selectTensor(list[0].index);
}

async function loadFiles(files) {
  const errors = [];
  for (const file of files) {
    try {
      const bytes = await file.arrayBuffer();
      added(await state.client.request('load_file', [file.name, bytes], { transfer: [bytes] }));
    } catch (err) {
      errors.push(err.message);
    }
  }
  showError(errors.join('\n'));
}

function wireInput() {
  const zone = $('#drop-zone');
  const input = $('#file-input');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    loadFiles([...e.dataTransfer.files]);
  });
  zone.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  input.addEventListener('change', () => { loadFiles([...input.files]); input.value = ''; });
  $('#sample-add').onclick = async () => {
    try {
      added(await state.client.request('add_sample', [$('#sample-kind').value, 256, 256, 42]));
      showError('');
    } catch (err) {
      showError(err.message);
    }
  };
  $('#cancel').onclick = () => state.running?.cancel();
}

async function main() {
  await init();
  state.schemeIds = scheme_list().map((s) => s.id);
  const select = $('#sample-kind');
  for (const [id, description] of sample_list()) { const o = new Option(id, id); o.title = description; select.add(o); }
  wireInput();
  // Start with a sample so there is something to look at.
  added(await state.client.request('add_sample', ['normal', 256, 256, 42]));
}

main().catch((err) => showError(`quantscope failed to start: ${err.message}`));
