// Learn panel 4, granularity (#learn-granularity): the tensor at one bit width with one scale per
// tensor, per channel and per group of 32–128 values, every scale drawn as a heat map (the 2D
// canvas API), and a block's packed bytes decoded field by field. The numbers come from the
// worker (learn/ops.js → src/learn/src/granularity.rs); llama.cpp's grid types and the block
// with and without an importance matrix from the mixer module, drawn by iq-blocks.js.
import { app } from '../app.js';
import { getParam, setParams } from '../urlstate.js';
import { $, showError } from '../shared/dom.js';
import { errorText, fmt, latestRequest, learnVisible, markBusy, selectedTensor, sqnrText } from './common.js';
import { GRID_IDS, IMPORTANCE_IDS, describeGridBlock, hideGridBlock, hideImportanceCompare, renderGridBlock, renderImportanceCompare, wireTinyLm } from './iq-blocks.js';

const hex = (b) => b.toString(16).padStart(2, '0');

const GRANULARITIES = [
  { key: 'tensor', suffix: '' },
  { key: 'channel', suffix: '_channel' },
  { key: 'g32', suffix: '_g32' },
  { key: 'g64', suffix: '_g64' },
  { key: 'g128', suffix: '_g128' },
];
const BLOCK_FORMATS = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'mxfp4', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k',
  'iq4_nl', 'iq4_xs', ...GRID_IDS, 'nvfp4', 'tq1_0', 'tq2_0', 'q1_0', 'q2_0', 'nf4', 'fp4', 'nf4_dq', 'fp4_dq'];
// The K-quants' code offset: x̂ = (d·sc)·(q − bias) − dmin·m.
const KQUANT_BIAS = { q2_k: 0, q3_k: 4, q4_k: 0, q5_k: 0, q6_k: 32 };
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
  request: latestRequest(),
  blockRequest: latestRequest(),
  compareRequest: latestRequest(),
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
  // Another tensor: the old one's table, map and block go; another bit width or kind: they dim
  // until this one's answer arrives.
  if (gran.report && gran.report.index !== t.index) clearGranularity();
  markBusy(granResults(), `computing int${gran.bits}_${gran.kind} at every granularity on ${t.name}…`);
  try {
    const report = await gran.request('learn_granularity', [t.index, gran.bits, gran.kind === 'sym']);
    gran.report = { ...report, index: t.index };
    gran.reportFor = key;
    markBusy(granResults(), null);
    showError($('#gran-error'), null);
    gran.cell = Math.min(gran.cell, choice().groups - 1);
    renderGranularityTable();
    drawHeatmap();
    if (gran.open) await openBlock();
  } catch (err) {
    if (!err.superseded) markBusy(granResults(), null);
    showError($('#gran-error'), err);
  }
}

const granResults = () => [$('#gran-table'), $('#gran-heatmap'), $('#gran-cell'), $('#block-view')];

function clearGranularity() {
  gran.report = null;
  gran.blockRequest.supersede();
  gran.compareRequest.supersede();
  hideGridBlock();
  hideImportanceCompare();
  $('#gran-table tbody').replaceChildren();
  const canvas = $('#gran-heatmap');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  for (const id of ['#gran-map-scheme', '#gran-caption', '#gran-min', '#gran-max', '#gran-cell']) $(id).textContent = '';
  $('#block-view').hidden = true;
  $('#block-table tbody').replaceChildren();
  $('#block-bytes').replaceChildren();
}

function renderGranularityTable() {
  const body = $('#gran-table tbody');
  body.replaceChildren(...gran.report.choices.map((c, i) => {
    const tr = document.createElement('tr');
    const key = GRANULARITIES[i].key;
    tr.dataset.gran = key;
    tr.tabIndex = 0;
    tr.setAttribute('aria-selected', String(key === gran.key));
    for (const v of [c.label, c.scheme, fmt(c.groups), fmt(c.bits_per_weight), errorText(c.mse), sqnrText(c.sqnr_db, c.mse)]) {
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
  // The worker writes the product out itself for the types beyond the legacy blocks and K-quants.
  if (e.computed) return e.computed;
  const id = view.scheme;
  const q = e.code;
  if (id === 'q8_0') return `${q} · d`;
  if (id === 'q4_0') return `(${q} − 8) · d`;
  if (id === 'q5_0') return `(${q} − 16) · d`;
  if (id === 'q4_1' || id === 'q5_1') return `${q} · d + m`;
  if (id === 'mxfp4') return `kvalues[${q}] · 2^(e−128)`;
  if (id in KQUANT_BIAS) {
    // The sub-block's factors as ggml forms them: d·sc and dmin·m.
    const bias = KQUANT_BIAS[id];
    const code = bias ? `(${q} − ${bias})` : String(q);
    return `${fmt(e.scale, { digits: 4 })} · ${code}${e.min ? ` − ${fmt(e.min, { digits: 4 })}` : ''}  (sub-block ${e.sub_block})`;
  }
  const zp = view.fields.find((f) => f.name === 'zero_point');
  return zp ? `(${q} − ${zp.value}) · scale` : `${q} · scale`;
}

// The byte in binary, with the code's bits marked (bit 7 first).
function bitsCell(view, e) {
  const width = e.low_bits;
  const span = document.createElement('span');
  span.className = 'code-bits';
  for (let bit = 7; bit >= 0; bit--) {
    const d = document.createElement(bit >= e.shift && bit < e.shift + width ? 'mark' : 'span');
    d.textContent = (e.byte >> bit) & 1;
    span.append(d);
    if (bit === 4) span.append(' ');
  }
  if (view.scheme === 'q5_0' || view.scheme === 'q5_1') span.append(` +qh bit ${e.position}`);
  // A K-quant code's high bits live elsewhere in the block: say where.
  const high = view.scheme in KQUANT_BIAS ? e.place.indexOf(' + ') : -1;
  if (high >= 0) span.append(` ${e.place.slice(high + 1)}`);
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
  const blockResults = [$('#block-bytes'), $('#block-table'), $('#block-grid'), $('#imatrix-compare')];
  if (!$('#block-view').hidden) markBusy(blockResults, `reading ${scheme} at element ${fmt(element)}…`);
  // The name llama.cpp's imatrix entries go by: the tensor's name in its file.
  const name = t.name_in_file ?? t.name;
  try {
    if (GRID_IDS.includes(scheme)) {
      const answer = await gran.blockRequest('learn_grid_block', [t.index, scheme, element, name]);
      if (answer.refused) renderRefused(scheme, element);
      else { describeGridBlock(answer); renderBlock(answer.view, c); }
      renderGridBlock(answer);
    } else {
      renderBlock(await gran.blockRequest('learn_block_view', [t.index, scheme, element]), c);
      hideGridBlock();
    }
    if (IMPORTANCE_IDS.includes(scheme)) {
      renderImportanceCompare(await gran.compareRequest('learn_importance_compare', [t.index, scheme, element, name]));
    } else {
      gran.compareRequest.supersede();
      hideImportanceCompare();
    }
    markBusy(blockResults, null);
    showError($('#gran-error'), null);
  } catch (err) {
    // A bad imatrix entry (another column count) says so; the block on show stays.
    if (!err.superseded) markBusy(blockResults, null);
    showError($('#gran-error'), err);
  }
}

// A grid type llama.cpp refuses to quantize without an importance matrix: no bytes to show.
function renderRefused(scheme, element) {
  const box = $('#block-view');
  box.hidden = false;
  box.dataset.scheme = scheme;
  box.dataset.refused = 'true';
  $('#block-title').textContent = `${scheme}: the block holding element ${fmt(element)} is not quantized`;
  for (const id of ['#block-where', '#block-layout', '#block-formula']) $(id).textContent = '';
  $('#block-bytes').replaceChildren();
  $('#block-table tbody').replaceChildren();
  box.dataset.ready = 'true';
}

function renderBlock(view, c) {
  const box = $('#block-view');
  box.hidden = false;
  delete box.dataset.refused;
  box.dataset.scheme = view.scheme;
  box.dataset.block = String(view.block);
  const last = view.first_element + view.elements_in_block - 1;
  // Integer schemes have groups; every other format (bitsandbytes' too, stored apart) blocks.
  const unit = view.block_offset === null && view.scheme.startsWith('int') ? 'group' : 'block';
  $('#block-title').textContent = `Inside ${view.scheme} ${unit} ${fmt(view.block)} (elements ${fmt(view.first_element)}–${fmt(last)})`;
  $('#block-where').textContent = view.block_offset === null
    ? `its scale and its codes are stored apart: ${view.layout.split(',')[0]} first`
    : view.scheme !== c.scheme ? `the ${view.scheme.toUpperCase()} block that holds this group's first value (${view.layout.split(': ')[1] ?? `${fmt(view.elements_in_block)} values`}), bytes ${view.block_offset}–${view.block_offset + view.block_len - 1}`
    : '';
  $('#block-layout').textContent = view.layout;
  // A long field (a grid type's 64 index bytes) by its length: the strip below shows its bytes.
  const bytesText = (f) => (f.bytes.length > 16 ? `${f.bytes.length} bytes` : `bytes ${f.bytes.map(hex).join(' ')}`);
  const fields = view.fields.map((f) => `${f.name} (${f.kind}, ${bytesText(f)} at ${f.offset}) = ${f.text ?? fmt(f.value)}`);
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

export function mountGranularity() {
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
  wireTinyLm();
  // Another imatrix (loaded or cleared in Inspect, or with the tiny model): the block again.
  app.on('imatrix-changed', () => { if (gran.open && gran.report && learnVisible()) openBlock(); });
  // Keep the block view's state in the link once it is open.
  new MutationObserver(() => setParams({ block: $('#block-view').hidden ? null : 'open' }))
    .observe($('#block-view'), { attributes: true, attributeFilter: ['hidden'] });

  return {
    refresh: () => refreshGranularity().then(fillBlockFormats),
    tensorSelected() { gran.reportFor = null; },
    clientRestarted() {
      gran.report = null;
      gran.reportFor = null;
    },
    // A link followed or edited in place: the settings it carries.
    paramsChanged(params) {
      const bits = Number(params.get('bits'));
      if ([8, 4, 2].includes(bits) && bits !== gran.bits) { gran.bits = bits; $('#gran-bits').value = String(bits); }
      if (['sym', 'asym'].includes(params.get('kind'))) { gran.kind = params.get('kind'); $('#gran-kind').value = gran.kind; }
      if (GRANULARITIES.some((g) => g.key === params.get('gran'))) gran.key = params.get('gran');
    },
  };
}
