// The Inspect view: file input, tensor list, statistics, scheme comparison and charts. The numbers
// come from the workbench worker (www/worker.js, ops in inspect/ops.js); this thread only renders
// them and draws with plotters (the plot module, www/pkg-plot). www/page.js mounts it; it keeps app.js's shared state current.
import { draw_histograms, draw_sqnr_chart } from '../pkg-plot/quantscope.js';
import { baseSchemeIds, sampleList, schemeList } from './lists.js';
import { WorkerClient } from '../client.js';
import { app } from '../app.js';
import { getParam, setParams } from '../urlstate.js';
import { $, saveBytes, showError as showIn } from '../shared/dom.js';
import { fmt, errorText, sqnrText } from '../shared/format.js';
import { latest } from '../shared/latest.js';
import { cancelLoad, drawStreamedHistogram, openFile, openSharded, poolWorkers, renderGgufFiles, tooBigNotice, wireGgufExport } from './bigfiles.js';
import { wireImatrix } from './imatrix.js';

const DEFAULT_SCHEME = 'int8_sym';
// Tensors up to this many values get every scheme compared as soon as they are selected.
const AUTO_COMPARE_MAX = 1 << 22;

const state = {
  client: new WorkerClient(),
  tensors: [],        // [{index, name, dtype, shape, stored_bytes, stats, onnx?}]; onnx: the reader's WeightInfo
  files: [],          // [{file, format, metadata: [[key, value]], count}]
  selected: null,     // tensor index
  scheme: DEFAULT_SCHEME,
  schemes: [],        // [{id, description}]
  reports: [],        // the last full comparison, one report per scheme
  sort: { key: null, descending: false },
  running: null,      // {cancel} of the full comparison under way
  modelJob: null,     // {cancel} of the whole-model comparison under way
  modelRows: [],      // the last whole-model comparison, one row per scheme (inspect/ops.js compare_model)
  modelSort: { key: null, descending: false },
  modelBreakdown: null, // the scheme whose per-tensor rows are shown
  chartPoints: [],    // the SQNR chart's points as drawn: [{scheme, x, y, text, label}]
  modelKey: '',       // the tensor indices the Model section summarises now
  newFile: false,     // a file was just added: the Model section switches to it
};

const params = (t) => t.shape.reduce((a, b) => a * b, 1);

// An SQNR as a number for sorting: null is +∞ for an exact round trip (MSE 0), else −∞.
const sqnrValue = (r) => r.sqnr_db ?? (r.mse === 0 ? Infinity : -Infinity);

// The page's one request-generation rule (shared/latest.js) for every request whose answer depends
// on the selection: an answer for a tensor, scheme or setting that is no longer current is dropped.
const guards = { scheme: latest(), all: latest(), model: latest(), stored: latest() };

// The panels that show a result for the selection. From the moment the selection changes until
// their own answer arrives they hold no number of the previous selection: cleared, dimmed,
// aria-busy, with a "computing…" note above them.
const PANELS = {
  scheme: ['#scheme-stats', '#histogram', '#error-histogram'],
  all: ['#sqnr-chart', '#scheme-table'],
};

function setBusy(panel, busy, text = 'computing…') {
  const els = PANELS[panel].map((selector) => $(selector));
  for (const el of els) {
    el.setAttribute('aria-busy', String(busy));
    el.classList.toggle('busy', busy);
  }
  let note = $(`#busy-${panel}`);
  if (!note) {
    note = document.createElement('p');
    note.id = `busy-${panel}`;
    note.className = 'busy-note';
    note.setAttribute('role', 'status');
    els[0].before(note);
  }
  note.hidden = !busy;
  note.textContent = busy ? text : '';
}

function clearCanvas(canvas) {
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
}

// The selected-scheme report and its histograms, emptied.
function clearSchemePanel() {
  $('#scheme-stats').replaceChildren();
  $('#scheme-flushed').hidden = true;
  clearCanvas($('#histogram'));
  clearCanvas($('#error-histogram'));
}

// The all-schemes table and SQNR chart, emptied.
function clearAllPanel() {
  state.reports = [];
  app.reports = [];
  renderTable();
  clearCanvas($('#sqnr-chart'));
  state.chartPoints = [];
  delete $('#sqnr-chart').dataset.points;
  if ($('#sqnr-tip')) $('#sqnr-tip').hidden = true;
}

function bytesText(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toPrecision(3) : Math.round(n)} ${units[i]}`;
}

// The view's error box (#error), for a message or an Error; '' clears it.
export function showError(message) {
  showIn($('#error'), message);
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

// What the list shows for a tensor: an ONNX weight by the op that reads it ("Conv 'conv1'
// weight"), anything else by its name.
const shownName = (t) => t.onnx?.label ?? t.name;

// The op types that read ONNX weights, each with how many of the given tensors it reads (a
// weight read by two op types counts in both), in order of first appearance.
function opGroups(tensors) {
  const counts = new Map();
  for (const t of tensors) for (const g of t.onnx?.groups ?? []) counts.set(g, (counts.get(g) ?? 0) + 1);
  return [...counts];
}
const inGroup = (t, op) => !op || (t.onnx?.groups ?? []).includes(op);
const groupText = (op, n) => `${op} weights (${n})`;

// The op filter above the list: shown once an ONNX model is loaded; keeps its choice while the
// op still has weights.
function renderGroupPicker() {
  const select = $('#tensor-group');
  const keep = select.value;
  const groups = opGroups(state.tensors);
  $('#tensor-group-row').hidden = groups.length === 0;
  const options = [new Option(`all tensors (${state.tensors.length})`, '')];
  for (const [op, n] of groups) options.push(new Option(groupText(op, n), op));
  select.replaceChildren(...options);
  select.value = groups.some(([op]) => op === keep) ? keep : '';
}

function visibleTensors() {
  const filter = $('#tensor-filter').value.trim().toLowerCase();
  const key = $('#tensor-sort').value;
  const op = $('#tensor-group').value;
  const matches = (t) => [t.file ?? '', t.name, t.onnx?.label ?? '', t.onnx?.graph ?? ''].some((s) => s.toLowerCase().includes(filter));
  const list = state.tensors.filter((t) => matches(t) && inGroup(t, op));
  const by = {
    index: (a, b) => a.index - b.index,
    name: (a, b) => shownName(a).localeCompare(shownName(b)),
    params: (a, b) => params(b) - params(a),
    std: (a, b) => (b.stats.std ?? -1) - (a.stats.std ?? -1),
  }[key];
  return list.sort(by);
}

function renderTensorList() {
  renderGroupPicker();
  const list = $('#tensor-list');
  list.replaceChildren(...visibleTensors().map((t) => {
    const li = document.createElement('li');
    li.tabIndex = 0;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(t.index === state.selected));
    li.dataset.index = t.index;
    li.innerHTML = '<span></span><small></small>';
    li.firstChild.textContent = shownName(t);
    // An ONNX weight keeps its ONNX name in view, and says where it lives if not the main graph.
    const origin = t.onnx ? [t.name_in_file ?? t.name, ...(t.onnx.graph === 'main graph' ? [] : [`in ${t.onnx.graph}`])] : [];
    li.lastChild.textContent = [...(t.file ? [t.file] : []), ...origin, `${t.dtype} [${t.shape.join(', ')}]`, `${fmt(params(t))} params`, `std ${fmt(t.stats.std)}`].join(' · ');
    li.onclick = () => selectTensor(t.index);
    li.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectTensor(t.index); } };
    return li;
  }));
}

// Memory to run a model: parameters × bits / 8 × 1.2 (activations, buffers and runtime).
const memory = (parameters, bits) => (parameters * bits) / 8 * 1.2;

// The tensors the Model section summarises: one loaded file's (the latest by default), or every
// loaded tensor, built-in samples included, only when "all loaded" is picked.
const ALL_LOADED = 'all';

// A scope is a file's index, or `index:Op` for the weights of an ONNX file that one op type reads.
function fileTensors(i) {
  const mine = new Set(state.files[i]?.indices ?? []);
  return state.tensors.filter((t) => mine.has(t.index));
}

function modelTensors() {
  const scope = $('#model-scope').value;
  if (scope === ALL_LOADED || scope === '') return state.tensors;
  const [file, op] = scope.split(/:(.*)/s);
  return fileTensors(Number(file)).filter((t) => inGroup(t, op));
}

function renderModelScope() {
  const select = $('#model-scope');
  const keep = select.value;
  const options = [];
  const values = new Set();
  state.files.forEach((f, i) => {
    options.push(new Option(`${f.label} (${f.count} tensor${f.count === 1 ? '' : 's'})`, String(i)));
    for (const [op, n] of opGroups(fileTensors(i))) options.push(new Option(`${f.label} — ${groupText(op, n)}`, `${i}:${op}`));
  });
  options.push(new Option(`all loaded tensors (${state.tensors.length}, samples included)`, ALL_LOADED));
  for (const o of options) values.add(o.value);
  select.replaceChildren(...options);
  const kept = values.has(keep);
  select.value = kept && !state.newFile ? keep : (state.files.length ? String(state.files.length - 1) : ALL_LOADED);
  state.newFile = false;
}

function renderModel() {
  const section = $('#model');
  section.hidden = state.tensors.length === 0;
  renderModelScope();
  const tensors = modelTensors();
  // Another set of tensors is another model: the comparison shown was not of it.
  const key = tensors.map((t) => t.index).join(',');
  if (key !== state.modelKey) { state.modelKey = key; clearModelComparison(); }
  const total = tensors.reduce((a, t) => a + params(t), 0);
  const stored = tensors.reduce((a, t) => a + (t.stored_bytes ?? 0), 0);
  statsList($('#model-stats'), [
    ['tensors', fmt(tensors.length), 'tensors'],
    ['parameters', fmt(total), 'parameters'],
    ['size as stored', bytesText(stored), 'stored'],
    ['bits / weight as stored', total ? fmt((8 * stored) / total) : '—', 'stored_bpw'],
    ['memory at FP32', bytesText(memory(total, 32)), 'memory_fp32'],
    ['memory as stored', total ? bytesText(memory(total, (8 * stored) / total)) : '—', 'memory_stored'],
  ]);
  $('#file-list').replaceChildren(...state.files.map((f) => {
    const card = document.createElement('details');
    card.className = 'file-card';
    const summary = document.createElement('summary');
    summary.textContent = `${f.label} — ${f.format}, ${f.count} tensor${f.count === 1 ? '' : 's'}, ${f.metadata.length} metadata entries`;
    const table = document.createElement('table');
    for (const [k, v] of f.metadata) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
    card.append(summary, table);
    return card;
  }));
  renderGgufFiles(state.files);
}

// A new scope drops the previous scope's comparison: its numbers are not this model's.
function clearModelComparison() {
  state.modelJob?.cancel();
  guards.model.supersede();
  state.modelRows = [];
  $('#model-table').hidden = true;
  $('#model-table tbody').replaceChildren();
  $('#model-coverage').hidden = true;
  $('#model-breakdown').hidden = true;
  $('#model-skipped').hidden = true;
  document.body.dataset.modelCompared = 'false';
}

// "3 q4_k, 191 q5_0, 4 f32": the types a scheme's row really used.
function typeCounts(row) {
  if (!row.gguf) return `${row.tensors.length} × ${row.scheme}`;
  const byType = new Map();
  for (const t of row.tensors) byType.set(t.type, (byType.get(t.type) ?? 0) + 1);
  return [...byType].map(([type, n]) => `${n} ${type}`).join(', ');
}

// The tensor with the lowest SQNR under a row's scheme (an exact one never is the worst).
function worstTensor(row) {
  let worst = null;
  for (const t of row.tensors) if (sqnrValue(t) < Infinity && (worst === null || sqnrValue(t) < sqnrValue(worst))) worst = t;
  return worst;
}

const MODEL_COLUMNS = [
  ['scheme', (r) => r.scheme, (r) => r.scheme],
  ['types', typeCounts, typeCounts],
  ['bits_per_weight', (r) => fmt(r.bits_per_weight), (r) => r.bits_per_weight],
  ['bytes', (r) => bytesText(r.bytes), (r) => r.bytes],
  ['memory', (r) => bytesText(memory(r.elements, r.bits_per_weight)), (r) => r.bits_per_weight],
  ['mse', (r) => errorText(r.mse), (r) => r.mse ?? Infinity],
  ['sqnr_db', (r) => sqnrText(r.sqnr_db, r.mse), (r) => sqnrValue(r)],
  ['worst', (r) => { const w = worstTensor(r); return w ? `${w.name} (${w.sqnr_db === null ? '−∞' : fmt(w.sqnr_db, { digits: 4 })} dB)` : '—'; },
    (r) => { const w = worstTensor(r); return w ? sqnrValue(w) : Infinity; }],
];

function renderModelTable() {
  const { key, descending } = state.modelSort;
  const rows = [...state.modelRows];
  const column = MODEL_COLUMNS.find(([k]) => k === key);
  if (column) {
    rows.sort((a, b) => {
      const [x, y] = [column[2](a), column[2](b)];
      const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return descending ? -c : c;
    });
  }
  for (const th of document.querySelectorAll('#model-table th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === key ? (descending ? 'descending' : 'ascending') : 'none');
  }
  $('#model-table tbody').replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.scheme = r.scheme;
    tr.dataset.bytes = r.bytes;
    tr.tabIndex = 0;
    tr.setAttribute('aria-selected', String(r.scheme === state.modelBreakdown));
    for (const [col, show] of MODEL_COLUMNS) {
      const td = tr.insertCell();
      td.textContent = show(r);
      td.dataset.col = col;
    }
    tr.onclick = () => showModelBreakdown(r.scheme);
    tr.onkeydown = (e) => { if (e.key === 'Enter') showModelBreakdown(r.scheme); };
    return tr;
  }));
}

// One scheme's row, tensor by tensor, worst SQNR first.
function showModelBreakdown(scheme) {
  const row = state.modelRows.find((r) => r.scheme === scheme);
  if (!row) return;
  state.modelBreakdown = scheme;
  for (const tr of document.querySelectorAll('#model-table tbody tr')) tr.setAttribute('aria-selected', String(tr.dataset.scheme === scheme));
  const box = $('#model-breakdown');
  $('#model-breakdown-title').textContent = `${scheme}, tensor by tensor (worst SQNR first)`;
  const sorted = [...row.tensors].sort((a, b) => sqnrValue(a) - sqnrValue(b));
  $('#model-breakdown tbody').replaceChildren(...sorted.map((t) => {
    const tr = document.createElement('tr');
    for (const v of [t.name, t.type, bytesText(t.bytes), errorText(t.mse), sqnrText(t.sqnr_db, t.mse, { exactText: '∞ (exact)' })]) tr.insertCell().textContent = v;
    if (t.note) tr.title = t.note;
    return tr;
  }));
  box.hidden = false;
}

async function compareModel() {
  clearModelComparison();
  const row = $('#model-progress-row');
  const bar = $('#model-progress');
  const ids = baseSchemeIds();
  const tensors = modelTensors();
  // Tensors too big to compare (from large files) are left out and counted below the table.
  const skipped = tensors.filter((t) => t.comparable === false);
  const compared = tensors.filter((t) => t.comparable !== false);
  $('#model-skipped').hidden = !skipped.length;
  $('#model-skipped').textContent = skipped.length ? `Left out: ${skipped.length} tensor${skipped.length === 1 ? '' : 's'} ` +
    `(${fmt(skipped.reduce((a, t) => a + params(t), 0))} parameters) too big to compare: ${skipped.map((t) => t.name).join(', ')}.` : '';
  const job = state.client.start('compare_model', [compared.map((t) => ({
    index: t.index, name: shownName(t), shape: t.shape, count: t.stats.count, std: t.stats.std ?? 0, mean: t.stats.mean ?? 0,
  })), ids, poolWorkers()], {
    onProgress: (done, total) => {
      if (state.modelJob !== job) return;
      bar.max = total;
      bar.value = done;
      $('#model-progress-text').textContent = `${done} of ${total} tensor × scheme pairs`;
    },
  });
  state.modelJob = job;
  row.hidden = false;
  try {
    const result = await guards.model(job.promise);
    state.modelRows = result.rows;
    const gguf = state.modelRows.filter((r) => r.gguf).length;
    $('#model-coverage').textContent = `${ids.length} of the ${state.schemes.length} schemes: every scheme without ` +
      'a calibration suffix (the _mse, _p99.9, _p99.99 and _entropy variants search a range per tensor; compare them ' +
      `on one tensor under All schemes). The ${gguf} GGUF types are applied as *Download model as GGUF* writes them: ` +
      '1-D tensors stay f32 and rows that are not whole blocks fall back, so "types" lists what each tensor really gets. ' +
      'Click a row for its tensors, worst first. ' +
      `${fmt(result.pairs)} tensor × scheme round trips on ${result.workers} worker${result.workers === 1 ? '' : 's'} ` +
      `in ${fmt(result.seconds, { digits: 3 })} s.`;
    document.body.dataset.modelWorkers = String(result.workers);
    $('#model-coverage').hidden = false;
    renderModelTable();
    $('#model-table').hidden = false;
    document.body.dataset.modelCompared = 'true';
  } catch (err) {
    reportError(err);
  } finally {
    if (state.modelJob === job) { state.modelJob = null; row.hidden = true; }
  }
}

// "ONNX name w · initializer in the main graph · read by Conv 'conv1' as W (weight)".
function originText(w) {
  const readers = w.consumers.map((c) => `${c.op} '${c.node}' as ${c.input_name}${c.role === c.input_name ? '' : ` (${c.role})`}` +
    (c.graph === w.graph ? '' : ` in ${c.graph}`));
  return [`ONNX name ${w.onnx_name}`, `${w.source} in ${w.graph === 'main graph' ? 'the main graph' : w.graph}`,
    readers.length ? `read by ${readers.join(', ')}` : 'read by no node'].join(' · ');
}

function renderTensor(t) {
  const s = t.stats;
  $('#tensor-title').textContent = shownName(t);
  $('#tensor-origin').hidden = !t.onnx;
  $('#tensor-origin').textContent = t.onnx ? originText(t.onnx) : '';
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

// A GGUF tensor stored in a ggml block type (q8_0, q4_k, iq2_xs, tq1_0, mxfp4, ...) is read as
// its dequantized values: the page says so, and re-quantizes it to its own type to say whether
// that gives the same values back (the blocks of 32 do, bit for bit — core's
// requantizing_stored_blocks_to_their_own_type_is_exact; the k-quants choose their scales afresh
// and do not). The answer is measured, never assumed.
const BLOCK_TYPE = /^(q\d|iq\d|tq\d|mxfp4|nvfp4)/;

async function showStored(t) {
  const note = $('#tensor-stored');
  guards.stored.supersede();
  const type = BLOCK_TYPE.test(t.dtype) ? t.dtype : null;
  note.hidden = !type;
  delete note.dataset.exact;
  if (!type) { note.textContent = ''; return; }
  const stored = `${t.name} is stored as ${type.toUpperCase()}: the values read here — its statistics, ` +
    `histograms and every comparison — are its dequantized ${type} values, not the weights from before it was quantized.`;
  const own = state.schemes.some((s) => s.id === type);
  if (!own || t.comparable === false) {
    note.textContent = `${stored} ${own ? 'It is too big to re-quantize here.' : `quantscope has no ${type} scheme to re-quantize it with.`}`;
    return;
  }
  note.textContent = `${stored} Re-quantizing it to ${type}…`;
  try {
    const r = (await guards.stored(state.client.request('compare', [t.index, [type], { bins: 1 }]))).schemes[0];
    const exact = r.mse === 0;
    note.dataset.exact = String(exact);
    note.textContent = `${stored} ` + (exact
      ? `Re-quantizing it to ${type} gives exactly these values back (MSE 0, SQNR ∞).`
      : `Re-quantizing it to ${type} does not give these values back exactly (MSE ${errorText(r.mse)}, SQNR ` +
        `${sqnrText(r.sqnr_db, r.mse)} dB): the ${type} quantizer chooses its block scales afresh from them.`);
  } catch (err) {
    if (!err.superseded) reportError(err);
  }
}

function param(r, name) {
  return r.params.find((p) => p.name === name);
}

// Every finite value came back as 0 (an unscaled cast such as fp4_e2m1, whose smallest step is
// 0.5, on weights of std 0.02): SQNR is exactly 0 dB (noise = signal) and there is no direction
// left to compare (cosine similarity undefined; the core reports 0).
function flushedToZero(r) {
  return r.sqnr_db === 0 && (r.cosine_similarity === 0 || Number.isNaN(r.cosine_similarity));
}

function renderScheme(r) {
  $('#selected-scheme-name').textContent = r.scheme;
  $('#scheme-picker').value = r.scheme;
  $('#scheme-description').textContent = r.description;
  const flushed = flushedToZero(r);
  $('#scheme-flushed').hidden = !flushed;
  $('#scheme-flushed').textContent = flushed ? `${r.scheme} flushed every value of this tensor to 0: it is a cast with ` +
    'no scale, and all the values are smaller than half its smallest step. The SQNR of 0 dB means the error is the ' +
    'whole signal; cosine similarity is undefined against an all-zero tensor (shown as —). A scaled scheme of the same ' +
    'bits (e.g. mxfp4, nf4, int4_sym) keeps the values.' : '';
  const first = (p) => (p.values.length === 1 ? fmt(p.values[0]) : `${fmt(p.values[0])}, ${fmt(p.values[1])}, …`);
  const shown = r.params.map((p) => [p.name.replace(/_/g, ' '), first(p), p.name]);
  statsList($('#scheme-stats'), [
    ...shown,
    ['MSE', errorText(r.mse), 'mse'],
    ['SQNR (dB)', sqnrText(r.sqnr_db, r.mse, { exactText: '∞ (exact)' }), 'sqnr'],
    ['max |error|', errorText(r.max_abs_error), 'max_abs_error'],
    ['mean |error|', fmt(r.mean_abs_error), 'mean_abs_error'],
    ['cosine similarity', flushed ? '—' : fmt(r.cosine_similarity, { nanText: '—' }), 'cosine'],
    ['bits / weight', fmt(r.bits_per_weight), 'bpw'],
    ['bytes', fmt(r.bytes), 'bytes'],
    ['× smaller than FP32', fmt(r.compression_ratio), 'compression'],
    ['levels used', `${fmt(r.levels_used)} of ${fmt(r.levels_total)}`, 'levels'],
    ['clipped', `${fmt(100 * r.clipped_fraction)} %`, 'clipped'],
  ]);
}

const COLUMNS = [
  ['scheme', (r) => r.scheme],
  ['bits_per_weight', (r) => fmt(r.bits_per_weight)],
  ['bytes', (r) => fmt(r.bytes)],
  ['compression_ratio', (r) => fmt(r.compression_ratio)],
  ['mse', (r) => errorText(r.mse)],
  ['sqnr_db', (r) => sqnrText(r.sqnr_db, r.mse)],
  ['max_abs_error', (r) => errorText(r.max_abs_error)],
  ['cosine_similarity', (r) => (flushedToZero(r) ? '—' : fmt(r.cosine_similarity, { nanText: '—' }))],
  ['clipped_fraction', (r) => `${fmt(100 * r.clipped_fraction)} %`],
  ['levels_used', (r) => `${r.levels_used}/${r.levels_total}`],
  // Filled by inspect/imatrix.js when an importance matrix has an entry for the tensor.
  ['weighted_mse', (r) => (r.weighted_mse === undefined ? '' : fmt(r.weighted_mse))],
];

// Sort value of a report for a column: a null SQNR is +∞ or −∞ as sqnrText reads it, a null
// error +∞ as errorText reads it.
function sortValue(r, key) {
  if (key === 'sqnr_db') return sqnrValue(r);
  if (key === 'mse' || key === 'max_abs_error' || key === 'weighted_mse') return r[key] ?? Infinity;
  return r[key];
}

function renderTable() {
  const { key, descending } = state.sort;
  const rows = [...state.reports];
  if (key) {
    rows.sort((a, b) => {
      const [x, y] = [sortValue(a, key), sortValue(b, key)];
      const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return descending ? -c : c;
    });
  }
  for (const th of document.querySelectorAll('#scheme-table th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === key ? (descending ? 'descending' : 'ascending') : 'none');
  }
  $('#scheme-table tbody').replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.scheme = r.scheme;
    tr.tabIndex = 0;
    tr.title = r.description;
    tr.setAttribute('aria-selected', String(r.scheme === state.scheme));
    for (const [col, show] of COLUMNS) {
      const td = document.createElement('td');
      td.textContent = show(r);
      td.dataset.col = col;
      if (col === 'weighted_mse') td.className = 'imatrix-col';
      tr.append(td);
    }
    tr.onclick = () => selectScheme(r.scheme);
    tr.onkeydown = (e) => { if (e.key === 'Enter') selectScheme(r.scheme); };
    return tr;
  }));
}

function drawCharts(r, histogram) {
  try {
    // Calibration clips, when the scheme reports one per tensor, are drawn as red lines.
    const markers = [];
    for (const name of ['clip_lo', 'clip_hi']) {
      const p = param(r, name);
      if (p && p.values.length === 1) markers.push({ x: p.values[0], label: name.replace('_', ' ') });
    }
    const log_counts = $('#log-counts').checked;
    draw_histograms($('#histogram'), {
      title: `original vs ${r.scheme} dequantized`, x_label: 'value', markers, log_counts,
      series: [{ label: 'original', histogram: histogram.original }, { label: 'dequantized', histogram: histogram.dequantized }],
    });
    draw_histograms($('#error-histogram'), {
      title: `${r.scheme} error (original − dequantized)`, x_label: 'error', log_counts,
      series: [{ label: 'error', histogram: histogram.error }],
    });
  } catch (err) {
    showError(`could not draw the histograms: ${err.message}`);
  }
}

function drawSqnrChart() {
  if (!state.reports.length) return;
  try {
    // Every point as drawn, in canvas pixels, with its label's box or null (no free place).
    state.chartPoints = draw_sqnr_chart($('#sqnr-chart'), state.reports, state.scheme);
    $('#sqnr-chart').dataset.points = JSON.stringify(state.chartPoints);
  } catch (err) {
    showError(`could not draw the SQNR chart: ${err.message}`);
  }
}

// The SQNR chart labels what fits without overlap; hovering any point names it.
function wireSqnrHover() {
  const chart = $('#sqnr-chart');
  const tip = document.createElement('div');
  tip.id = 'sqnr-tip';
  tip.setAttribute('role', 'tooltip');
  tip.hidden = true;
  chart.after(tip);
  // Pointer events: a mouse's move, and a finger's tap on a phone.
  const show = (e) => {
    const rect = chart.getBoundingClientRect();
    const [sx, sy] = [chart.width / rect.width, chart.height / rect.height];
    const [x, y] = [(e.clientX - rect.left) * sx, (e.clientY - rect.top) * sy];
    let best = null, bestDistance = 10 * sx;
    for (const p of state.chartPoints) {
      const d = Math.hypot(p.x - x, p.y - y);
      if (d < bestDistance) { best = p; bestDistance = d; }
    }
    const r = best && state.reports.find((q) => q.scheme === best.scheme);
    tip.hidden = !r;
    if (!r) return;
    tip.textContent = `${best.text}: ${fmt(r.bits_per_weight)} bits/weight, SQNR ${sqnrText(r.sqnr_db, r.mse, { exactText: '∞ (exact)' })} dB`;
    // Beside the pointer, on whichever side keeps the whole tip inside the window.
    const [w, h] = [tip.offsetWidth, tip.offsetHeight];
    const left = e.clientX + 12 + w <= window.innerWidth ? e.clientX + 12 : e.clientX - 12 - w;
    const top = e.clientY + 12 + h <= window.innerHeight ? e.clientY + 12 : e.clientY - 12 - h;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, top)}px`;
  };
  chart.addEventListener('pointermove', show);
  chart.addEventListener('pointerdown', show);
  chart.addEventListener('pointerleave', () => { tip.hidden = true; });
}

function histogramOptions() {
  const lo = $('#range-lo').value, hi = $('#range-hi').value;
  const range = lo !== '' && hi !== '' ? [Number(lo), Number(hi)] : null;
  return { bins: Number($('#bins').value), histogram_scheme: state.scheme, range, log_counts: $('#log-counts').checked };
}

// One scheme on the selected tensor, with its histograms. `clear` empties the panel first (a new
// tensor or scheme); a new bin count or range only dims it until the new histograms arrive.
async function showScheme({ clear = true } = {}) {
  const t = state.tensors.find((x) => x.index === state.selected);
  if (!t) return;
  if (clear) clearSchemePanel();
  const tooBig = t.comparable === false;
  setBusy('scheme', true, tooBig ? `reading the histogram of ${t.name}…` : `computing ${state.scheme} on ${t.name}…`);
  try {
    if (tooBig) {
      $('#scheme-stats').replaceChildren();
      clearCanvas($('#error-histogram'));
      await drawStreamedHistogram(state.client, t, histogramOptions(), guards.scheme);
    } else {
      const r = await guards.scheme(state.client.request('compare', [state.selected, [state.scheme], histogramOptions()]));
      renderScheme(r.schemes[0]);
      drawCharts(r.schemes[0], r.histogram);
    }
  } catch (err) {
    // A superseded answer leaves the panel to the newer request, still busy.
    if (!err.superseded) setBusy('scheme', false);
    throw err;
  }
  setBusy('scheme', false);
}

// Every scheme on the selected tensor, with progress and Cancel.
async function compareAll() {
  state.running?.cancel();
  const row = $('#progress-row');
  const bar = $('#progress');
  const ids = state.schemes.map((s) => s.id);
  const t = state.tensors.find((x) => x.index === state.selected);
  clearAllPanel();
  setBusy('all', true, `comparing every scheme on ${t.name}…`);
  const job = state.client.start('compare', [state.selected, ids, { bins: 1 }], {
    onProgress: (done, total) => {
      if (state.running !== job) return;
      bar.max = total;
      bar.value = done;
      $('#progress-text').textContent = `${done} of ${total} schemes`;
    },
  });
  state.running = job;
  const slow = setTimeout(() => { row.hidden = false; }, 150);
  try {
    const all = await guards.all(job.promise);
    state.reports = all.schemes;
    app.reports = all.schemes;
    app.emit('reports-changed');
    renderTable();
    drawSqnrChart();
    setBusy('all', false);
  } catch (err) {
    if (!err.superseded) setBusy('all', false);
    throw err;
  } finally {
    clearTimeout(slow);
    if (state.running === job) { state.running = null; row.hidden = true; }
  }
}

function reportError(err) {
  if (err.cancelled || err.superseded) return;
  if (err.fatal) return restartWorker(err);
  showError(err.message);
}

// The worker's wasm trapped (most likely out of memory): its tensors are gone with it.
function restartWorker(err) {
  state.client.terminate();
  state.client = new WorkerClient();
  app.client = state.client;
  state.tensors = [];
  app.tensors = state.tensors;
  app.selected = null;
  app.emit('client-restarted');
  app.emit('tensors-changed');
  state.files = [];
  state.selected = null;
  for (const guard of Object.values(guards)) guard.supersede();
  clearSchemePanel();
  clearAllPanel();
  setBusy('scheme', false);
  setBusy('all', false);
  renderTensorList();
  renderModel();
  $('#tensor').hidden = true;
  showError(`The computation failed (${err.message}), most likely for lack of memory. ` +
    'quantscope restarted its worker; add your files again, or a smaller tensor.');
}

async function selectTensor(index) {
  state.selected = index;
  app.selected = index;
  // The previous selection's comparison: stopped, and its answer dropped if it still arrives.
  state.running?.cancel();
  guards.all.supersede();
  const t = state.tensors.find((x) => x.index === index);
  const tooBig = t.comparable === false;
  const manual = params(t) > AUTO_COMPARE_MAX;
  clearAllPanel();
  setBusy('all', !tooBig && !manual, `waiting to compare every scheme on ${t.name}…`);
  app.emit('tensor-selected', { index });
  document.body.dataset.compared = 'false';
  renderTensorList();
  setParams({ tensor: t.name_in_file ?? t.name });
  $('#tensor').hidden = false;
  renderTensor(t);
  $('#tensor').toggleAttribute('data-too-big', tooBig);
  $('#tensor-too-big').hidden = !tooBig;
  $('#tensor-too-big').textContent = tooBig ? tooBigNotice(t, fmt(params(t))) : '';
  showStored(t);
  $('#range-lo').value = '';
  $('#range-hi').value = '';
  try {
    try {
      await showScheme();
    } catch (err) {
      // Superseded by a newer scheme or histogram setting for this same tensor: carry on.
      if (!err.superseded || state.selected !== index) throw err;
    }
    if (state.selected !== index) return;
    document.body.dataset.ready = 'true';
    if (tooBig) { document.body.dataset.compared = 'skipped'; return; }
    // All ~90 schemes on tens of millions of values take minutes: only on request.
    $('#compare-all-row').hidden = !manual;
    if (manual) {
      $('#compare-all-text').textContent = `${fmt(params(t))} values: comparing all ${state.schemes.length} schemes takes a while.`;
      document.body.dataset.compared = 'manual';
      return;
    }
    await compareAll();
    document.body.dataset.compared = 'true';
  } catch (err) {
    reportError(err);
  }
}

async function selectScheme(id) {
  state.scheme = id;
  app.scheme = id;
  setParams({ scheme: id });
  app.emit('scheme-selected', { id });
  for (const tr of document.querySelectorAll('#scheme-table tbody tr')) tr.setAttribute('aria-selected', String(tr.dataset.scheme === id));
  drawSqnrChart();
  await showScheme().catch(reportError);
}

// A file dropped again — the same name and the same size — replaces the one loaded before: its
// tensors leave the list and the worker (close_file frees them). Any other file whose tensor
// names are taken keeps them, shown as '<file>: <name>' (a file name taken too gets ' (2)').
function sameFile(name, size) {
  return state.files.find((f) => f.file === name && f.size === size) ?? null;
}

function removeFile(f) {
  const gone = new Set(f.indices);
  // In place: app.tensors is this same array.
  for (let i = state.tensors.length - 1; i >= 0; i--) if (gone.has(state.tensors[i].index)) state.tensors.splice(i, 1);
  state.files.splice(state.files.indexOf(f), 1);
  if (f.file_id !== undefined) state.client.request('close_file', [f.file_id]).catch(reportError);
}

// Names as the page shows them (t.name; t.name_in_file keeps the file's own): unique among the
// loaded tensors, and with the file they came from (t.file).
function nameTensors(list, fileLabel) {
  const taken = new Set(state.tensors.map((t) => t.name));
  for (const t of list) {
    t.name_in_file = t.name;
    t.file = fileLabel;
    let name = taken.has(t.name) && fileLabel ? `${fileLabel}: ${t.name}` : t.name;
    for (let n = 2; taken.has(name); n++) name = `${t.name} (${n})`;
    t.name = name;
    taken.add(name);
  }
}

function added(list, file = null, { size = null } = {}) {
  // An ONNX model's weight descriptions come one per tensor, in the same order.
  if (file?.weights?.length === list.length) list.forEach((t, i) => { t.onnx = file.weights[i]; });
  const selected = state.tensors.find((t) => t.index === state.selected);
  let replaced = null;
  if (file) {
    replaced = sameFile(file.file, size);
    if (replaced) removeFile(replaced);
    let label = file.file;
    for (let n = 2; state.files.some((f) => f.label === label); n++) label = `${file.file} (${n})`;
    nameTensors(list, label);
    state.files.push({ file: file.file, label, size, file_id: file.file_id, format: file.format, metadata: file.metadata,
      count: list.length, indices: list.map((t) => t.index) });
    state.newFile = true;
  } else {
    nameTensors(list, null);
  }
  state.tensors.push(...list);
  const note = $('#load-note');
  note.hidden = !replaced;
  note.textContent = replaced ? `Replaced ${file.file}: the same file (${fmt(size)} bytes) was loaded again.` : '';
  app.emit('tensors-changed');
  renderTensorList();
  renderModel();
  // The replaced file's selected tensor stays selected, as the new file's tensor of that name.
  const same = replaced && selected && replaced.indices.includes(selected.index)
    ? list.find((t) => t.name_in_file === selected.name_in_file) : null;
  if (same) selectTensor(same.index);
  else if (list.length) selectTensor(list[0].index);
}

// A sharded safetensors checkpoint arrives as its index plus the shards it names, dropped
// together; every other file loads on its own.
function groupSharded(files) {
  const groups = [];
  const rest = new Set(files);
  for (const index of files.filter((f) => f.name.endsWith('.safetensors.index.json'))) {
    rest.delete(index);
    const shards = files.filter((f) => f.name.endsWith('.safetensors') && rest.has(f));
    shards.forEach((f) => rest.delete(f));
    groups.push({ index, shards });
  }
  return { groups, singles: [...rest] };
}

async function loadFiles(files) {
  const errors = [];
  const { groups, singles } = groupSharded(files);
  const load = async (fn, size) => {
    try {
      const loaded = await fn();
      added(loaded.tensors, loaded, { size });
    } catch (err) {
      if (err.fatal) { restartWorker(err); return false; }
      if (!err.cancelled) errors.push(err.message);
    }
    return true;
  };
  for (const { index, shards } of groups) {
    const ok = await load(() => openSharded(state.client, index, shards), shards.reduce((a, f) => a + f.size, index.size));
    if (!ok) return;
  }
  // Each file is handed to the worker as a File, not read here: safetensors and GGUF are read
  // there piece by piece (a 2 GB model never sits whole in memory), the rest whole.
  for (const file of singles) {
    const ok = await load(() => openFile(state.client, file), file.size);
    if (!ok) return;
  }
  showError(errors.join('\n'));
}

async function download(what) {
  const t = state.tensors.find((x) => x.index === state.selected);
  if (!t) return;
  const base = (t.name_in_file ?? t.name).replace(/[^A-Za-z0-9._-]+/g, '_');
  const fileName = { original: `${base}.npy`, dequantized: `${base}.${state.scheme}.dequantized.npy`, packed: `${base}.${state.scheme}.bin` }[what];
  try {
    saveBytes(await state.client.request('export', [t.index, what, state.scheme]), fileName);
  } catch (err) {
    reportError(err);
  }
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
  // Another view asks for files to be opened as if dropped (Learn's "load the tiny language
  // model"), then tensor `select` (its name in the file) selected; `done` gets it, or null.
  app.on('open-files', async ({ files, select, done }) => {
    await loadFiles(files);
    const t = state.tensors.findLast((x) => (x.name_in_file ?? x.name) === select);
    if (t) await selectTensor(t.index);
    done?.(t ?? null);
  });
  $('#sample-add').onclick = async () => {
    try {
      added(await state.client.request('add_sample', [$('#sample-kind').value, 256, 256, 42]));
      showError('');
    } catch (err) {
      showError(err.message);
    }
  };
  $('#cancel').onclick = () => state.running?.cancel();
  $('#load-cancel').onclick = cancelLoad;
  $('#compare-all').onclick = async () => {
    $('#compare-all-row').hidden = true;
    try {
      await compareAll();
      document.body.dataset.compared = 'true';
    } catch (err) {
      reportError(err);
    }
  };
  wireSqnrHover();
  wireGgufExport({ files: () => state.files, client: () => state.client, saveBytes, reportError });
  wireImatrix({ client: () => state.client, reportError });
  $('#model-compare').onclick = () => compareModel();
  $('#model-scope').onchange = renderModel;
  for (const th of document.querySelectorAll('#model-table th[data-key]')) {
    th.tabIndex = 0;
    const sort = () => {
      const key = th.dataset.key;
      state.modelSort = { key, descending: state.modelSort.key === key ? !state.modelSort.descending : false };
      renderModelTable();
    };
    th.onclick = sort;
    th.onkeydown = (e) => { if (e.key === 'Enter') sort(); };
  }
  for (const b of document.querySelectorAll('[data-export]')) b.onclick = () => download(b.dataset.export);
  $('#model-cancel').onclick = () => state.modelJob?.cancel();
  $('#tensor-filter').oninput = renderTensorList;
  $('#tensor-sort').onchange = renderTensorList;
  $('#tensor-group').onchange = renderTensorList;
  $('#scheme-picker').onchange = (e) => selectScheme(e.target.value);
  for (const id of ['#bins', '#range-lo', '#range-hi']) $(id).onchange = () => showScheme({ clear: false }).catch(reportError);
  // Log counts: drawn again from a fresh answer (through the guards, like a new bin count).
  $('#log-counts').onchange = (e) => {
    setParams({ counts: e.target.checked ? 'log' : null });
    showScheme({ clear: false }).catch(reportError);
  };
  $('#range-reset').onclick = () => { $('#range-lo').value = ''; $('#range-hi').value = ''; showScheme({ clear: false }).catch(reportError); };
  for (const th of document.querySelectorAll('#scheme-table th[data-key]')) {
    th.tabIndex = 0;
    const sort = () => {
      const key = th.dataset.key;
      state.sort = { key, descending: state.sort.key === key ? !state.sort.descending : false };
      renderTable();
    };
    th.onclick = sort;
    th.onkeydown = (e) => { if (e.key === 'Enter') sort(); };
  }
}

// Before the wasm module loads: the shared state other views read, kept current.
export function connectInspect() {
  app.client = state.client;
  app.tensors = state.tensors;
  // Other views add tensors too (the Learn panels' samples): keep the list and model current.
  app.on('tensors-changed', () => { renderTensorList(); renderModel(); });
  // The importance-weighted MSE column (inspect/imatrix.js): shown while it has values.
  app.on('weighted-mse-changed', () => {
    $('#scheme-table').classList.toggle('no-imatrix', !state.reports.some((r) => r.weighted_mse !== undefined));
    renderTable();
  });
}

// Once the wasm module is loaded: the scheme and sample pickers and every control.
export function mountInspect() {
  state.schemes = schemeList();
  // One <optgroup> per family (the calibrated integer ids in their own), in registry order.
  const groups = new Map();
  for (const s of state.schemes) {
    if (!groups.has(s.family)) groups.set(s.family, Object.assign(document.createElement('optgroup'), { label: s.family }));
    const o = new Option(s.id, s.id);
    o.title = s.description;
    groups.get(s.family).append(o);
  }
  $('#scheme-picker').replaceChildren(...groups.values());
  const select = $('#sample-kind');
  for (const [id, description] of sampleList()) { const o = new Option(id, id); o.title = description; select.add(o); }
  wireInput();
}

// Starts with a sample so there is something to look at. A shared link (see urlstate.js) names
// its scheme and, for a built-in sample, its tensor (`tensor=sample:laplace`).
export async function startInspect() {
  const scheme = getParam('scheme');
  if (state.schemes.some((x) => x.id === scheme)) state.scheme = scheme;
  app.scheme = state.scheme;
  $('#log-counts').checked = getParam('counts') === 'log';
  const kind = getParam('tensor')?.match(/^sample:(.+)$/)?.[1];
  const start = sampleList().some(([id]) => id === kind) ? kind : 'normal';
  $('#sample-kind').value = start;
  added(await state.client.request('add_sample', [start, 256, 256, 42]));
}
