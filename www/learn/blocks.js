// Panels 4–6 of the Learn view: granularity (with a block's packed bytes, decoded), memory, and
// comparing schemes. The numbers come from the worker (www/learn/ops-blocks.js → src/teach/);
// this thread renders them and draws with plotters (or, for the interactive heat map, the 2D
// canvas API). Panels compute only while the Learn view is shown, once per tensor and setting.
import { app } from '../app.js';
import { getParam, onParamsChanged, setParams } from '../urlstate.js';
import { draw_sqnr_chart, learn_draw_grid_comparison, learn_draw_nf4_chart, learn_pareto_front } from '../pkg/quantscope.js';

const $ = (sel) => document.querySelector(sel);

// ------------------------------------------------------------------------------- helpers

// Numbers: compact, 6 significant digits; null means "none" (or ∞ where said).
function fmt(v, { nullText = '—', digits = 6 } = {}) {
  if (v === null || v === undefined || Number.isNaN(v)) return nullText;
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(Math.max(digits - 1, 1));
  return Number(v.toPrecision(digits)).toString();
}

// Bytes as GB (10⁹), or MB below one GB, three significant digits.
function gb(bytes) {
  if (bytes < 1e9) return `${(bytes / 1e6).toPrecision(3)} MB`;
  return `${(bytes / 1e9).toPrecision(3)} GB`;
}

const hex = (b) => b.toString(16).padStart(2, '0');

function showError(el, err) {
  const message = err ? String(err.message ?? err) : '';
  el.textContent = message;
  el.hidden = !message;
}

const learnVisible = () => !$('#view-learn').hidden;
const selectedTensor = () => app.tensors.find((t) => t.index === app.selected) ?? null;

// A request whose answer is dropped if a newer one of the same kind was made meanwhile, so a
// slow answer for an old tensor never overwrites the current one.
function latest() {
  let generation = 0;
  return async (op, args) => {
    const mine = ++generation;
    const value = await app.client.request(op, args);
    if (mine !== generation) throw Object.assign(new Error('superseded'), { superseded: true });
    return value;
  };
}

const ignorable = (err) => err.superseded || err.cancelled;

// ------------------------------------------------------------------ panel 4: granularity

const GRANULARITIES = [
  { key: 'tensor', suffix: '' },
  { key: 'channel', suffix: '_channel' },
  { key: 'g32', suffix: '_g32' },
  { key: 'g64', suffix: '_g64' },
  { key: 'g128', suffix: '_g128' },
];
const BLOCK_FORMATS = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'mxfp4'];
// Viridis, five stops: a perceptually even colour scale that stays readable in grey.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
}

const gran = {
  bits: 4,
  kind: 'sym',
  key: 'g32',
  report: null,       // the worker's answer for (tensor, bits, kind)
  reportFor: null,    // "index/bits/kind" of that answer
  cell: 0,            // selected group index
  format: 'this',     // block view: 'this' (the granularity's own scheme) or a GGML id
  open: false,        // block view shown
  request: latest(),
  blockRequest: latest(),
};

function choice() {
  const r = gran.report;
  if (!r) return null;
  const g = GRANULARITIES.findIndex((x) => x.key === gran.key);
  return r.choices[Math.max(g, 0)];
}

function gridOf(c) {
  return { cols: c.grid_columns, rows: Math.ceil(c.groups / c.grid_columns) };
}

async function refreshGranularity() {
  const t = selectedTensor();
  if (!t || !learnVisible()) return;
  const key = `${t.index}/${gran.bits}/${gran.kind}`;
  $('#gran-tensor').textContent = `tensor ${t.name} [${t.shape.join(', ')}]`;
  if (gran.reportFor === key) return;
  try {
    gran.report = await gran.request('learn_granularity', [t.index, gran.bits, gran.kind === 'sym']);
    gran.reportFor = key;
    showError($('#gran-error'), null);
    gran.cell = Math.min(gran.cell, choice().groups - 1);
    renderGranularityTable();
    drawHeatmap();
    if (gran.open) await openBlock();
  } catch (err) {
    if (!ignorable(err)) showError($('#gran-error'), err);
  }
}

function renderGranularityTable() {
  const body = $('#gran-table tbody');
  body.replaceChildren(...gran.report.choices.map((c, i) => {
    const tr = document.createElement('tr');
    const key = GRANULARITIES[i].key;
    tr.dataset.gran = key;
    tr.tabIndex = 0;
    tr.setAttribute('aria-selected', String(key === gran.key));
    for (const v of [c.label, c.scheme, fmt(c.groups), fmt(c.bits_per_weight), fmt(c.mse), fmt(c.sqnr_db, { nullText: '∞' })]) {
      tr.insertCell().textContent = v;
    }
    const pick = () => selectGranularity(key);
    tr.onclick = pick;
    tr.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } };
    return tr;
  }));
}

function selectGranularity(key) {
  if (!GRANULARITIES.some((g) => g.key === key)) return;
  gran.key = key;
  gran.cell = 0;
  setParams({ gran: key, cell: null });
  if (!gran.report) return;
  for (const tr of document.querySelectorAll('#gran-table tbody tr')) tr.setAttribute('aria-selected', String(tr.dataset.gran === key));
  fillBlockFormats();
  drawHeatmap();
  if (gran.open) openBlock();
}

// The heat map is drawn at one pixel per group into an ImageData, then scaled up without
// smoothing: fast even for half a million groups.
function drawHeatmap() {
  const c = choice();
  const canvas = $('#gran-heatmap');
  const { cols, rows } = gridOf(c);
  const height = Math.round(Math.min(400, Math.max(48, rows * 24)));
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let lo = Infinity, hi = -Infinity;
  for (const s of c.scales) { if (Number.isFinite(s)) { lo = Math.min(lo, s); hi = Math.max(hi, s); } }
  const span = hi > lo ? hi - lo : 1;
  const grid = document.createElement('canvas');
  grid.width = cols;
  grid.height = rows;
  const gctx = grid.getContext('2d');
  const image = gctx.createImageData(cols, rows);
  c.scales.forEach((s, k) => {
    const [r, g, b] = viridis(hi > lo ? (s - lo) / span : 0.5);
    image.data.set([r, g, b, 255], k * 4);
  });
  gctx.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(grid, 0, 0, canvas.width, canvas.height);
  // The selected cell, outlined in black and white so it shows on every colour; at least 8 px.
  const cw = canvas.width / cols, ch = canvas.height / rows;
  const row = Math.floor(gran.cell / cols), col = gran.cell % cols;
  const w = Math.max(cw, 8), h = Math.max(ch, 8);
  const x = Math.min(Math.max(col * cw + cw / 2 - w / 2, 1), canvas.width - w - 1);
  const y = Math.min(Math.max(row * ch + ch / 2 - h / 2, 1), canvas.height - h - 1);
  ctx.lineWidth = 3;
  ctx.strokeStyle = '#000000';
  ctx.strokeRect(x, y, w, h);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#ffffff';
  ctx.strokeRect(x, y, w, h);
  canvas.dataset.groups = String(c.groups);
  canvas.dataset.cols = String(cols);
  $('#gran-map-scheme').textContent = c.scheme;
  $('#gran-caption').textContent = c.grid_caption;
  $('#gran-min').textContent = fmt(lo, { digits: 3 });
  $('#gran-max').textContent = fmt(hi, { digits: 3 });
  describeCell();
}

function cellRange(c, k) {
  const first = k * c.element_stride;
  const t = selectedTensor();
  const n = t ? t.shape.reduce((a, b) => a * b, 1) : first + c.element_stride;
  return [first, Math.min(first + c.element_stride, n) - 1];
}

function describeCell() {
  const c = choice();
  const k = gran.cell;
  const { cols } = gridOf(c);
  const [first, last] = cellRange(c, k);
  const where = c.groups === 1 ? 'The one scale of the tensor'
    : c.grid_columns === 1 ? `Channel ${k} of ${c.groups}`
    : `Row ${Math.floor(k / cols)}, group ${k % cols} (group ${k} of ${c.groups})`;
  const zp = c.zero_points.length ? `, zero point ${c.zero_points[k]}` : '';
  $('#gran-cell').textContent = `${where}: scale ${fmt(c.scales[k])}${zp} — elements ${fmt(first)}–${fmt(last)}.`;
}

function moveCell(k, { open = false } = {}) {
  const c = choice();
  if (!c) return;
  gran.cell = Math.min(Math.max(k, 0), c.groups - 1);
  setParams({ cell: gran.cell || null });
  drawHeatmap();
  if (open || gran.open) openBlock();
}

function wireHeatmap() {
  const canvas = $('#gran-heatmap');
  canvas.addEventListener('click', (e) => {
    const c = choice();
    if (!c) return;
    const rect = canvas.getBoundingClientRect();
    const { cols, rows } = gridOf(c);
    const col = Math.min(cols - 1, Math.floor(((e.clientX - rect.left) / rect.width) * cols));
    const row = Math.min(rows - 1, Math.floor(((e.clientY - rect.top) / rect.height) * rows));
    moveCell(Math.min(row * cols + col, c.groups - 1), { open: true });
  });
  canvas.addEventListener('keydown', (e) => {
    const c = choice();
    if (!c) return;
    const { cols } = gridOf(c);
    const k = gran.cell;
    const step = {
      ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols,
      PageUp: -10 * cols, PageDown: 10 * cols, Home: -(k % cols), End: cols - 1 - (k % cols),
    }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      moveCell(k + step);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      moveCell(k, { open: true });
    }
  });
}

// ---- the block view

function computed(view, e) {
  const id = view.scheme;
  const q = e.code;
  if (id === 'q8_0') return `${q} · d`;
  if (id === 'q4_0') return `(${q} − 8) · d`;
  if (id === 'q5_0') return `(${q} − 16) · d`;
  if (id === 'q4_1' || id === 'q5_1') return `${q} · d + m`;
  if (id === 'mxfp4') return `kvalues[${q}] · 2^(e−128)`;
  const zp = view.fields.find((f) => f.name === 'zero_point');
  return zp ? `(${q} − ${zp.value}) · scale` : `${q} · scale`;
}

// The byte in binary, with the code's bits marked (bit 7 first).
function bitsCell(view, e) {
  const width = view.scheme === 'q8_0' ? 8
    : view.scheme.startsWith('q') || view.scheme === 'mxfp4' ? 4
    : Number(view.scheme.match(/^int(\d)/)[1]);
  const span = document.createElement('span');
  span.className = 'code-bits';
  for (let bit = 7; bit >= 0; bit--) {
    const d = document.createElement(bit >= e.shift && bit < e.shift + width ? 'mark' : 'span');
    d.textContent = (e.byte >> bit) & 1;
    span.append(d);
    if (bit === 4) span.append(' ');
  }
  if (view.scheme.startsWith('q5')) span.append(` +qh bit ${e.position}`);
  return span;
}

function renderByteStrip(view) {
  const bytes = new Map();
  for (const f of view.fields) f.bytes.forEach((b, i) => bytes.set(f.offset + i, { b, role: f.name, label: `${f.name} (${f.kind})` }));
  for (const e of view.elements) if (!bytes.has(e.byte_offset)) bytes.set(e.byte_offset, { b: e.byte, role: 'qs', label: 'codes' });
  const offsets = [...bytes.keys()].sort((a, b) => a - b);
  const strip = $('#block-bytes');
  const parts = [];
  let previous = null;
  for (const off of offsets) {
    if (previous === null || off !== previous + 1) {
      const at = document.createElement('span');
      at.className = 'byte-offset';
      at.textContent = `${previous === null ? '' : '… '}@${off}`;
      parts.push(at);
    }
    const { b, role, label } = bytes.get(off);
    const s = document.createElement('span');
    s.className = `byte role-${role}`;
    s.textContent = hex(b);
    s.title = `byte ${off}: ${label}`;
    s.dataset.offset = off;
    parts.push(s);
    previous = off;
  }
  strip.replaceChildren(...parts);
}

async function openBlock() {
  const t = selectedTensor();
  const c = choice();
  if (!t || !c) return;
  gran.open = true;
  const scheme = gran.format === 'this' ? c.scheme : gran.format;
  const element = gran.cell * c.element_stride;
  try {
    const view = await gran.blockRequest('learn_block_view', [t.index, scheme, element]);
    renderBlock(view, c);
    showError($('#gran-error'), null);
  } catch (err) {
    if (!ignorable(err)) showError($('#gran-error'), err);
  }
}

function renderBlock(view, c) {
  const box = $('#block-view');
  box.hidden = false;
  box.dataset.scheme = view.scheme;
  box.dataset.block = String(view.block);
  const last = view.first_element + view.elements_in_block - 1;
  const unit = view.block_offset === null ? 'group' : 'block';
  $('#block-title').textContent = `Inside ${view.scheme} ${unit} ${fmt(view.block)} (elements ${fmt(view.first_element)}–${fmt(last)})`;
  $('#block-where').textContent = view.block_offset === null
    ? `its scale and its codes are stored apart: ${view.layout.split(',')[0]} first`
    : view.scheme !== c.scheme ? `the ${view.scheme.toUpperCase()} block of 32 values that holds this group's first value, bytes ${view.block_offset}–${view.block_offset + view.block_len - 1}`
    : '';
  $('#block-layout').textContent = view.layout;
  const fields = view.fields.map((f) => `${f.name} (${f.kind}, bytes ${f.bytes.map(hex).join(' ')} at ${f.offset}) = ${fmt(f.value)}`);
  $('#block-formula').textContent = `${fields.join(';  ')}.  ${view.formula}`;
  renderByteStrip(view);
  const shown = view.elements.length < view.elements_in_block ? ` (first ${view.elements.length} of ${fmt(view.elements_in_block)})` : '';
  $('#block-table').dataset.shown = shown;
  $('#block-table tbody').replaceChildren(...view.elements.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.index = e.index;
    const cells = [
      [String(e.position), 'position'],
      [fmt(e.original), 'original'],
      [`${hex(e.byte)} @${e.byte_offset}`, 'byte'],
      [bitsCell(view, e), 'bits'],
      [String(e.code), 'code'],
      [fmt(e.decoded), 'decoded'],
      [computed(view, e), 'computed'],
      [fmt(e.original - e.decoded), 'error'],
    ];
    for (const [v, col] of cells) {
      const td = tr.insertCell();
      td.dataset.col = col;
      if (typeof v === 'string') td.textContent = v; else td.append(v);
    }
    tr.title = e.place;
    return tr;
  }));
  box.dataset.ready = 'true';
}

function fillBlockFormats() {
  const select = $('#block-format');
  const c = choice();
  const own = new Option(c ? `${c.scheme} (this granularity)` : 'this granularity', 'this');
  select.replaceChildren(own, ...BLOCK_FORMATS.map((id) => new Option(id, id)));
  select.value = gran.format;
}

function mountGranularity() {
  const bits = Number(getParam('bits'));
  if ([8, 4, 2].includes(bits)) gran.bits = bits;
  if (['sym', 'asym'].includes(getParam('kind'))) gran.kind = getParam('kind');
  if (GRANULARITIES.some((g) => g.key === getParam('gran'))) gran.key = getParam('gran');
  if (getParam('fmt') === 'this' || BLOCK_FORMATS.includes(getParam('fmt'))) gran.format = getParam('fmt');
  gran.cell = Math.max(0, Math.floor(Number(getParam('cell')) || 0));
  gran.open = getParam('block') === 'open';
  $('#gran-bits').value = String(gran.bits);
  $('#gran-kind').value = gran.kind;
  fillBlockFormats();
  $('#gran-bits').onchange = (e) => { gran.bits = Number(e.target.value); setParams({ bits: gran.bits }); refreshGranularity().then(fillBlockFormats); };
  $('#gran-kind').onchange = (e) => { gran.kind = e.target.value; setParams({ kind: gran.kind }); refreshGranularity().then(fillBlockFormats); };
  $('#block-format').onchange = (e) => { gran.format = e.target.value; setParams({ fmt: gran.format === 'this' ? null : gran.format }); openBlock(); };
  wireHeatmap();
  // Keep the block view's state in the link once it is open.
  new MutationObserver(() => setParams({ block: $('#block-view').hidden ? null : 'open' }))
    .observe($('#block-view'), { attributes: true, attributeFilter: ['hidden'] });
}

// ----------------------------------------------------------------------- panel 5: memory

const memory = {
  presets: [],        // [[name, parameters]]
  gpus: [],           // GB
  mem: '7B',          // a preset name, 'model', or a parameter count
  table: null,
  sort: { key: null, descending: false },
  request: latest(),
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
  try {
    memory.table = await memory.request('learn_memory_table', [parameters, shapes]);
    memory.what = what;
    showError($('#mem-error'), null);
    renderMemory();
  } catch (err) {
    if (!ignorable(err)) showError($('#mem-error'), err);
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

function currentScheme() {
  return app.scheme ?? getParam('scheme') ?? 'int8_sym';
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

function mountMemory() {
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
}

// ---------------------------------------------------------------------- panel 6: compare

const compare = {
  nf4: null,
  gridsFor: null,
  request: latest(),
};

function drawComparison() {
  const reports = app.reports ?? [];
  const t = selectedTensor();
  const canvas = $('#cmp-sqnr');
  if (!reports.length) {
    $('#cmp-status').textContent = t ? `Comparing every scheme on ${t.name}…` : 'Load a tensor to compare schemes.';
    return;
  }
  $('#cmp-status').textContent = `${reports.length} schemes on ${t?.name ?? 'the tensor'}; ${currentScheme()} is ringed in red.`;
  try {
    draw_sqnr_chart(canvas, reports, currentScheme());
    canvas.dataset.drawn = 'true';
    const front = learn_pareto_front(reports.map((r) => ({ scheme: r.scheme, bits_per_weight: r.bits_per_weight, sqnr_db: r.sqnr_db })));
    $('#cmp-front').replaceChildren(...front.map((p) => {
      const li = document.createElement('li');
      li.textContent = `${p.scheme} — ${fmt(p.bits_per_weight, { digits: 4 })} bits, ${fmt(p.sqnr_db, { nullText: '∞', digits: 3 })} dB`;
      return li;
    }));
  } catch (err) {
    showError($('#cmp-error'), err);
  }
}

async function drawNf4() {
  if (compare.nf4) return;
  try {
    compare.nf4 = await app.client.request('learn_nf4_chart', []);
    learn_draw_nf4_chart($('#cmp-nf4'), compare.nf4);
    $('#cmp-nf4').dataset.drawn = 'true';
    $('#cmp-nf4-table tbody').replaceChildren(...compare.nf4.levels.map((l) => {
      const tr = document.createElement('tr');
      for (const v of [String(l.code), fmt(l.value, { digits: 7 }), fmt(l.z, { digits: 4 }), fmt(l.quantile, { digits: 4 })]) tr.insertCell().textContent = v;
      return tr;
    }));
  } catch (err) {
    compare.nf4 = null;
    if (!ignorable(err)) showError($('#cmp-error'), err);
  }
}

async function drawGrids() {
  const t = selectedTensor();
  if (!t || compare.gridsFor === t.index) return;
  try {
    const g = await compare.request('learn_grid_comparison', [t.index, 96]);
    compare.gridsFor = t.index;
    learn_draw_grid_comparison($('#cmp-grids'), g);
    $('#cmp-grids').dataset.drawn = 'true';
    $('#cmp-grid-table tbody').replaceChildren(...g.grids.map((x) => {
      const tr = document.createElement('tr');
      tr.dataset.grid = x.id;
      for (const v of [x.name, String(x.levels.length), x.formula, fmt(x.mse), fmt(x.sqnr_db, { nullText: '∞' })]) tr.insertCell().textContent = v;
      return tr;
    }));
    showError($('#cmp-error'), null);
  } catch (err) {
    if (!ignorable(err)) showError($('#cmp-error'), err);
  }
}

async function refreshCompare() {
  if (!learnVisible()) return;
  drawComparison();
  await Promise.all([drawNf4(), drawGrids()]);
}

// ------------------------------------------------------------------------------- mounting

function refreshAll() {
  if (!learnVisible() || app.selected === null) return;
  refreshGranularity().then(fillBlockFormats);
  refreshMemory();
  refreshCompare();
}

export function mountBlocks() {
  mountGranularity();
  mountMemory();
  window.addEventListener('view-shown', (e) => { if (e.detail.view === 'learn') refreshAll(); });
  app.on('tensor-selected', () => {
    gran.reportFor = null;
    compare.gridsFor = null;
    if (memory.mem === 'model') memory.table = null;
    refreshAll();
  });
  app.on('tensors-changed', () => { if (memory.mem === 'model') refreshAll(); });
  app.on('client-restarted', () => {
    gran.report = null;
    gran.reportFor = null;
    compare.gridsFor = null;
    compare.nf4 = null;
  });
  app.on('reports-changed', () => { if (learnVisible()) drawComparison(); });
  app.on('scheme-selected', () => {
    if (!learnVisible()) return;
    drawComparison();
    if (memory.table) renderMemory();
  });
  // A link followed or edited in place: apply the settings it carries.
  onParamsChanged((params) => {
    const bits = Number(params.get('bits'));
    if ([8, 4, 2].includes(bits) && bits !== gran.bits) { gran.bits = bits; $('#gran-bits').value = String(bits); }
    if (['sym', 'asym'].includes(params.get('kind'))) { gran.kind = params.get('kind'); $('#gran-kind').value = gran.kind; }
    if (GRANULARITIES.some((g) => g.key === params.get('gran'))) gran.key = params.get('gran');
    if (params.get('mem') && params.get('mem') !== memory.mem) { memory.mem = params.get('mem'); markPreset(); }
    refreshAll();
  });
}
