// "Fit a size" and the layer map in the Inspect view's GGUF export (issue 16, item 4). The work
// runs in the worker (inspect/mix-ops.js: mix_fit, mix_compare, on the mixer module's
// gguf_fit); this thread draws: the layer map of a mix's preview (a table, layers × tensor
// kinds, each cell coloured by its ggml type), the fit controls with progress and Cancel, and
// the SQNR-vs-bpw chart of the named mixes and the fits (the plot module's draw_sqnr_chart).
import { draw_sqnr_chart } from '../pkg-plot/quantscope.js';
import { $ } from '../shared/dom.js';

// A colour per ggml type, from many bits per weight (blue) to few (purple); a type not listed
// here (a new one) gets one from its name.
const TYPE_COLOURS = {
  f32: '#1d3f7a', f16: '#2f62b0', bf16: '#4a7fca', q8_0: '#23806a', q6_k: '#3f9c4a', q5_1: '#79b13c',
  q5_0: '#8fbd3a', q5_k: '#a9c934', q4_1: '#d6c83a', q4_0: '#ecbd2c', q4_k: '#f2a12a', iq4_nl: '#ee8a2c',
  iq4_xs: '#e8772f', nvfp4: '#df6a35', mxfp4: '#d85d3a', q3_k: '#cf4646', q2_k: '#b93359', q2_0: '#a12d70',
  tq2_0: '#862c82', tq1_0: '#6a2c8c', q1_0: '#4e2a86',
};

export function typeColour(type) {
  if (TYPE_COLOURS[type]) return TYPE_COLOURS[type];
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 55% 45%)`;
}

// Black or white text on `colour` (#rrggbb; hsl() ones are mid-dark).
function inkOn(colour) {
  if (!colour.startsWith('#')) return '#fff';
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.55 ? '#000' : '#fff';
}

// Tensor kinds in the order a layer computes them; others follow in the file's order.
const KIND_ORDER = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_qkv', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];

function cell(t) {
  const el = document.createElement('td');
  const colour = typeColour(t.type);
  el.textContent = t.type;
  el.style.background = colour;
  el.style.color = inkOn(colour);
  el.dataset.tensor = t.name;
  el.dataset.type = t.type;
  el.title = `${t.name}: ${t.type}${t.rule ? ` — ${t.rule}` : ''}`;
  return el;
}

// The layer map of a plan ({tensors: [{name, type, rule}]}): one row per layer (blk.N), one
// column per tensor kind (attn_q, ..., the name after blk.N. without .weight), and a first row
// for the tensors outside the layers (token_embd, output, ...), each cell with its own label.
export function drawLayerMap(box, plan) {
  const layers = new Map();
  const kinds = [];
  const outside = [];
  for (const t of plan.tensors) {
    const m = /^blk\.(\d+)\.(.+?)(?:\.weight)?$/.exec(t.name);
    if (!m) { outside.push(t); continue; }
    const [, layer, kind] = m;
    if (!layers.has(Number(layer))) layers.set(Number(layer), new Map());
    layers.get(Number(layer)).set(kind, t);
    if (!kinds.includes(kind)) kinds.push(kind);
  }
  const rank = (k) => (KIND_ORDER.includes(k) ? KIND_ORDER.indexOf(k) : KIND_ORDER.length);
  kinds.sort((a, b) => rank(a) - rank(b));
  const table = document.createElement('table');
  table.id = 'gguf-layer-map-table';
  table.setAttribute('aria-label', `layer map of ${plan.file_type}`);
  const caption = document.createElement('p');
  caption.className = 'hint';
  caption.textContent = `${plan.file_type}: each tensor's type, by layer and kind (hover a cell for the rule)`;
  const head = document.createElement('tr');
  head.append(Object.assign(document.createElement('th'), { textContent: 'layer', scope: 'col' }));
  for (const k of kinds) head.append(Object.assign(document.createElement('th'), { textContent: k, scope: 'col' }));
  const thead = document.createElement('thead');
  thead.append(head);
  const body = document.createElement('tbody');
  if (outside.length) {
    // The tensors outside the layers: one cell each, spread over the row, each named.
    const tr = document.createElement('tr');
    tr.className = 'outside';
    tr.append(Object.assign(document.createElement('th'), { textContent: 'model', scope: 'row' }));
    const td = document.createElement('td');
    td.colSpan = Math.max(kinds.length, 1);
    const inner = document.createElement('table');
    const row = inner.insertRow();
    for (const t of outside) {
      const c = cell(t);
      c.textContent = `${t.name.replace(/\.weight$/, '')}: ${t.type}`;
      row.append(c);
    }
    td.append(inner);
    tr.append(td);
    body.append(tr);
  }
  for (const layer of [...layers.keys()].sort((a, b) => a - b)) {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('th'), { textContent: String(layer), scope: 'row' }));
    for (const k of kinds) {
      const t = layers.get(layer).get(k);
      tr.append(t ? cell(t) : Object.assign(document.createElement('td'), { className: 'empty' }));
    }
    body.append(tr);
  }
  table.append(thead, body);
  // The legend: each type used, its colour and how many tensors have it.
  const counts = new Map();
  for (const t of plan.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  const legend = document.createElement('ul');
  legend.className = 'layer-map-legend';
  legend.setAttribute('aria-label', 'types in the map');
  for (const [type, n] of counts) {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = typeColour(type);
    li.append(swatch, `${type} (${n})`);
    li.dataset.type = type;
    legend.append(li);
  }
  const wrap = document.createElement('div');
  wrap.className = 'layer-map-scroll';
  wrap.append(table);
  box.replaceChildren(caption, legend, wrap);
}

const state = { job: null, fits: [], mixes: null };

// The fit controls: Fit (a target in bits/weight or MB) and Compare mixes, each a worker job
// with progress and Cancel; a fit joins the type picker as "FIT" and is previewed like a mix.
export function wireMixFit({ files, client, reportError, showFit }) {
  const currentFile = () => files()[Number($('#gguf-file').value)];
  const progressRow = $('#gguf-fit-progress-row');
  const errorBox = $('#gguf-fit-error');
  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  };
  async function run(op, args, what) {
    state.job?.cancel();
    showError('');
    const bar = $('#gguf-fit-progress');
    bar.removeAttribute('value');
    $('#gguf-fit-progress-text').textContent = `${what}: checking…`;
    const job = client().start(op, args, {
      onProgress: (done, total) => {
        bar.max = total || 1;
        bar.value = done;
        $('#gguf-fit-progress-text').textContent = `${what}: every tensor in every type, ${Math.floor((100 * done) / (total || 1))} %`;
      },
    });
    state.job = job;
    progressRow.hidden = false;
    document.body.dataset.ggufFit = 'running';
    try {
      return await job.promise;
    } finally {
      if (state.job === job) { state.job = null; progressRow.hidden = true; }
    }
  }
  const failed = (err) => {
    document.body.dataset.ggufFit = 'idle';
    if (err?.cancelled || /cancelled/.test(err?.message ?? '')) { showError('cancelled'); return; }
    showError(err?.message ?? String(err));
  };
  $('#gguf-fit-cancel').onclick = () => state.job?.cancel();
  $('#gguf-fit').onclick = async () => {
    const f = currentFile();
    if (!f) return;
    const unit = $('#gguf-fit-unit').value;
    const text = $('#gguf-fit-target').value.trim();
    const label = `fit ${text} ${unit === 'bpw' ? 'bpw' : 'MB'}`;
    try {
      const plan = await run('mix_fit', [f.file_id, unit, text, label], 'fitting');
      state.fits = state.fits.filter((p) => p.scheme !== label);
      state.fits.push({ scheme: label, bits_per_weight: (8 * plan.bytes) / plan.elements, sqnr_db: plan.total_sqnr_db ?? null });
      showFit(label);
      if (state.mixes) drawChart();
      document.body.dataset.ggufFit = 'done';
    } catch (err) {
      failed(err);
    }
  };
  $('#gguf-compare').onclick = async () => {
    const f = currentFile();
    if (!f) return;
    try {
      state.mixes = await run('mix_compare', [f.file_id], 'comparing the mixes');
      drawChart();
      showFit(null); // the preview gains its SQNR column
      document.body.dataset.ggufFit = 'compared';
    } catch (err) {
      failed(err);
    }
  };
  // The chart is drawn at its box's width: again when that changes (a phone turned).
  let resized = null;
  window.addEventListener('resize', () => {
    clearTimeout(resized);
    resized = setTimeout(() => { if (state.mixes && !$('#gguf-mix-chart-box').hidden) drawChart(); }, 150);
  });
  return {
    // A new file or importance matrix: the fits and the comparison were of the last one.
    reset() {
      state.job?.cancel();
      state.fits = [];
      state.mixes = null;
      $('#gguf-mix-chart-box').hidden = true;
      showError('');
    },
  };
}

// Every named mix and every fit on the SQNR-vs-bpw chart, the last fit ringed.
function drawChart() {
  const points = [
    // mse: 0 marks an exact file (F32), drawn at the top; the chart reads no SQNR otherwise as −∞.
    ...[...state.mixes].sort((a, b) => a.bytes - b.bytes).map((m) => ({ scheme: m.file_type, bits_per_weight: m.bits_per_weight, sqnr_db: m.sqnr_db ?? null, mse: m.error })),
    ...state.fits,
  ];
  const box = $('#gguf-mix-chart-box');
  box.hidden = false;
  // Drawn at the width it is shown at (a phone's is narrower than the 760 px canvas).
  const canvas = $('#gguf-mix-chart');
  canvas.width = Math.max(320, Math.min(760, Math.floor(box.clientWidth)));
  canvas.height = canvas.width < 500 ? 300 : 320;
  const drawn = draw_sqnr_chart(canvas, points, state.fits.at(-1)?.scheme ?? '');
  $('#gguf-mix-chart').dataset.points = JSON.stringify(drawn.map((p) => p.scheme));
  $('#gguf-mix-chart-caption').textContent = `SQNR over every weight of the file against its bits per weight: ${state.mixes.length} named mixes` +
    (state.fits.length ? ` and ${state.fits.map((p) => `${p.scheme} (${p.bits_per_weight.toFixed(2)} bpw, ${p.sqnr_db?.toFixed(2) ?? '∞'} dB)`).join(', ')}` : '') + '.';
}
