// The importance matrix of the Inspect view (issue 16, item 3): the control beside the GGUF mix
// picker that loads llama-imatrix's file (.gguf or the legacy .dat) into the worker, and the
// chart of one tensor's importance per input column. The worker reads the file with the mixer
// module (inspect/mix-ops.js ops imatrix_load / imatrix_clear / imatrix_entry); every mix
// previewed or downloaded after it is what `llama-quantize --imatrix <file name>` makes (the
// name the file was dropped under goes into the mix's quantize.imatrix.file, as llama-quantize
// writes the name it was given). This thread only draws.
//
// Events on app: it emits 'imatrix-changed' (detail: the summary, or null once cleared), which
// the mix preview (bigfiles.js) listens for; it listens for 'tensor-selected' to draw the
// selected tensor's entry in the Tensor section, for 'client-restarted' (a new worker has no
// importance matrix), and for 'load-imatrix' ({file, done}: another view loads one).
import { app } from '../app.js';
import { $ } from '../shared/dom.js';
import { latest } from '../shared/latest.js';
import { fmt } from '../shared/format.js';

const state = { summary: null, log: false };
const guards = { tensor: latest(), preview: latest(), mse: latest(), all: latest() };

// The summary as one line: "imatrix.gguf (GGUF): 44 entries, 2 datasets (wiki.txt, …), 10 chunks of 512 tokens".
function describe(s) {
  const parts = [`${s.entries} ${s.entries === 1 ? 'entry' : 'entries'}`];
  if (s.datasets.length) parts.push(`dataset${s.datasets.length === 1 ? '' : 's'} ${s.datasets.join(', ')}`);
  if (s.chunk_count > 0) parts.push(`${s.chunk_count} chunk${s.chunk_count === 1 ? '' : 's'}${s.chunk_size > 0 ? ` of ${s.chunk_size} tokens` : ''}`);
  return `${s.file_name} (${s.format === 'gguf' ? 'GGUF' : 'legacy .dat'}): ${parts.join(', ')}`;
}

export const imatrixLoaded = () => state.summary;

function setSummary(summary) {
  state.summary = summary;
  $('#imatrix-info').textContent = summary ? describe(summary) : 'none: mixes are made without one';
  $('#imatrix-clear').hidden = !summary;
  document.body.dataset.imatrix = summary ? summary.file_name : '';
  app.emit('imatrix-changed', summary);
}

// The control: a file input, Clear, the loaded file's description, and an error box that keeps
// the file loaded before when a new one does not read.
export function wireImatrix({ client, reportError }) {
  const input = $('#imatrix-input');
  const error = $('#imatrix-error');
  // Loads `file`; true once it is the worker's imatrix.
  const load = async (file) => {
    error.hidden = true;
    $('#imatrix-info').textContent = `${file.name}: reading…`;
    try {
      setSummary(await client().request('imatrix_load', [file]));
      return true;
    } catch (err) {
      if (err.fatal) { reportError(err); return false; }
      setSummary(state.summary); // the one before stays, and says so below
      error.textContent = `Could not read ${file.name} as an importance matrix: ${err.message}` +
        (state.summary ? `. Still using ${state.summary.file_name}.` : '');
      error.hidden = false;
      return false;
    }
  };
  input.onchange = () => {
    const file = input.files[0];
    input.value = ''; // the same file chosen again loads again
    if (file) load(file);
  };
  // Another view loads one (Learn's "load the tiny language model and its imatrix").
  app.on('load-imatrix', ({ file, done }) => load(file).then(done));
  $('#imatrix-clear').onclick = async () => {
    error.hidden = true;
    try {
      await client().request('imatrix_clear', []);
      setSummary(null);
    } catch (err) {
      reportError(err);
    }
  };
  // One log-scale setting for both charts.
  for (const box of ['#tensor-importance', '#gguf-importance']) {
    $(`${box} .importance-log`).onchange = (e) => {
      state.log = e.target.checked;
      for (const c of document.querySelectorAll('.importance-log')) c.checked = state.log;
      redraw();
    };
  }
  window.addEventListener('resize', redraw);
  const selected = () => showSelected(client).catch(reportError);
  app.on('tensor-selected', selected);
  app.on('scheme-selected', () => showWeightedMse(client).catch(reportError));
  app.on('reports-changed', () => weighEveryScheme(client).catch(reportError));
  app.on('imatrix-changed', () => { selected(); $('#gguf-importance').hidden = true; });
  app.on('client-restarted', () => { error.hidden = true; setSummary(null); });
}

// The selected tensor's entry in the Tensor section (by its name in its file, as llama.cpp
// matches entries to tensors), or nothing when no imatrix is loaded or it has no entry.
async function showSelected(client) {
  const box = $('#tensor-importance');
  const t = app.tensors.find((x) => x.index === app.selected);
  if (!state.summary || !t) {
    guards.tensor.supersede();
    box.hidden = true;
    await weighEveryScheme(client); // clears the column
    return;
  }
  const entry = await guards.tensor(client().request('imatrix_entry', [t.name_in_file ?? t.name]));
  box.hidden = !entry; // shown before drawing: the chart takes the width it is laid out at
  show(box, entry, '');
  if (entry) await showWeightedMse(client);
  await weighEveryScheme(client); // or clears the column, without an entry
}

let weighing = null; // {cancel} of the column under way

// The comparison's "MSE (imatrix)" column: every compared scheme's importance-weighted MSE on
// the selected tensor, computed after the comparison (each scheme's round trip again, in the
// worker, with progress; cancelled when the selection or the comparison changes) and set on
// the reports, which the view draws again ('weighted-mse-changed'). Without an imatrix entry
// for the tensor the column is hidden.
async function weighEveryScheme(client) {
  weighing?.cancel();
  weighing = null;
  guards.all.supersede();
  const note = $('#tensor-importance-progress');
  note.hidden = true;
  const t = app.tensors.find((x) => x.index === app.selected);
  const reports = app.reports ?? [];
  for (const r of reports) delete r.weighted_mse;
  app.emit('weighted-mse-changed');
  if (!state.summary || !t || $('#tensor-importance').hidden || !reports.length) return;
  const job = client().start('imatrix_weighted_mse_all', [t.index, reports.map((r) => r.scheme), t.name_in_file ?? t.name, t.shape[t.shape.length - 1]], {
    onProgress: (done, total) => { if (weighing === job) note.textContent = `weighting every scheme's error with the imatrix: ${done} of ${total}…`; },
  });
  weighing = job;
  note.textContent = 'weighting every scheme\'s error with the imatrix…';
  note.hidden = false;
  try {
    const all = await guards.all(job.promise);
    note.hidden = true;
    if (!all || app.reports !== reports) return;
    for (const r of reports) r.weighted_mse = all[r.scheme];
    app.emit('weighted-mse-changed');
  } catch (err) {
    if (err.cancelled || err.superseded) return; // a newer call owns the note
    note.textContent = `MSE (imatrix) column not computed: ${err.message}`;
  } finally {
    if (weighing === job) weighing = null;
  }
}

// The importance-weighted MSE of the selected tensor under the selected scheme (core's
// weighted_mse, as `quantscope compare --imatrix` reports it), beside the plain MSE the scheme
// statistics show: Σ w_j (x − x̂)² / Σ w_j, w_j the weight of the value's column.
async function showWeightedMse(client) {
  const line = $('#tensor-importance-mse');
  const t = app.tensors.find((x) => x.index === app.selected);
  if (!state.summary || !t || $('#tensor-importance').hidden) return;
  const name = t.name_in_file ?? t.name, scheme = app.scheme;
  line.textContent = `Importance-weighted MSE under ${scheme}: computing…`;
  try {
    const mse = await guards.mse(client().request('imatrix_weighted_mse', [t.index, scheme, name, t.shape[t.shape.length - 1]]));
    if (mse === null) { line.textContent = ''; return; } // the imatrix was cleared meanwhile
    line.textContent = `Importance-weighted MSE under ${scheme}: ${fmt(mse)} ` +
      '(Σ w·(x − x̂)² / Σ w, w the weight of the value\'s column; the plain MSE is below)';
  } catch (err) {
    if (err.superseded) return;
    line.textContent = `Importance-weighted MSE under ${scheme}: not computed (${err.message})`;
  }
}

// A row of the mix preview clicked: that tensor's entry under the table.
export async function showPreviewEntry(client, name) {
  const box = $('#gguf-importance');
  if (!state.summary) return;
  const entry = await guards.preview(client().request('imatrix_entry', [name]));
  box.hidden = false;
  show(box, entry, `${state.summary.file_name} has no entry for ${name}: llama-quantize quantizes it without importance weights`);
}

const shown = new Map(); // box → {entry, expert}

function show(box, entry, noEntry) {
  shown.set(box, entry ? { entry, expert: 0 } : null);
  const experts = $('.importance-expert', box);
  experts.closest('label').hidden = !entry || entry.experts < 2;
  if (entry) {
    experts.replaceChildren(...Array.from({ length: entry.experts }, (_, e) => new Option(String(e), String(e))));
    experts.onchange = () => { shown.get(box).expert = Number(experts.value); draw(box); };
  }
  $('canvas', box).hidden = !entry;
  $('.importance-top', box).hidden = !entry;
  if (!entry) {
    $('.importance-text', box).textContent = noEntry;
    return;
  }
  draw(box);
}

function redraw() {
  for (const box of shown.keys()) if (shown.get(box)) draw(box);
}

// An axis label: 3 significant digits, trailing zeros dropped ("8", "0.25", "1e-4").
const tickText = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(0) : String(Number(v.toPrecision(3))));

const fmtValue = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(3));

function median(values) {
  const sorted = Float32Array.from(values).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

function draw(box) {
  const { entry, expert } = shown.get(box);
  const values = entry.values.subarray(expert * entry.columns, (expert + 1) * entry.columns);
  const top = entry.top.filter((c) => c.expert === expert);
  const max = values.reduce((a, b) => Math.max(a, b), 0);
  const med = median(values);
  const count = entry.counts.length > 1 ? `${entry.counts[expert]} rows seen by expert ${expert}` : `count ${entry.counts[0]}`;
  $('.importance-text', box).textContent = `${entry.name}: ${entry.columns} input columns` +
    (entry.experts > 1 ? ` × ${entry.experts} experts` : '') + `; ${count}; ` +
    `largest weight ${fmtValue(max)}, ${med > 0 ? `${fmtValue(max / med)}× the median (${fmtValue(med)})` : `median ${fmtValue(med)}`}.`;
  $('.importance-top', box).textContent = top.length
    ? `Largest columns: ${top.map((c) => `${c.column} (${fmtValue(c.value)})`).join(', ')}`
    : `The ${entry.top.length} largest columns are in other experts.`;
  drawChart($('canvas', box), values, top.map((c) => c.column), state.log);
}

// Round tick steps: 1, 2 or 5 × 10^k, about `n` of them up to `max`.
function ticks(max, n) {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v <= max * (1 + 1e-9); v += step) out.push(v);
  return out;
}

// The weight of every input column as a bar (linear or log10 axis). With more columns than
// pixels a bar is the largest of the columns it covers, so a single large column still shows.
// The largest columns are marked with a red triangle. Drawn on white in both themes, as the
// plotters charts are.
export function drawChart(canvas, values, marked, log) {
  // Drawn at the size it is shown (CSS pixels × devicePixelRatio), so its labels stay legible
  // on a phone; 240 px high on a wide screen, less on a narrow one.
  const width = canvas.clientWidth || 760;
  const height = Math.round(Math.min(240, Math.max(180, width * 0.5)));
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const left = 56, right = 12, top = 16, bottom = 40;
  const w = width - left - right, h = height - top - bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  const n = values.length;
  const max = values.reduce((a, b) => Math.max(a, b), 0);
  const positive = values.reduce((a, b) => (b > 0 ? Math.min(a, b) : a), Infinity);
  let y, yTicks;
  if (log && max > 0) {
    const lo = Math.floor(Math.log10(positive)), hi = Math.max(Math.ceil(Math.log10(max)), lo + 1);
    y = (v) => (v > 0 ? top + h - (h * (Math.log10(v) - lo)) / (hi - lo) : top + h);
    const step = Math.ceil((hi - lo) / 6);
    yTicks = [];
    for (let e = lo; e <= hi; e += step) yTicks.push(10 ** e);
  } else {
    const ceiling = max > 0 ? max : 1;
    yTicks = ticks(ceiling, 5);
    const yMax = Math.max(ceiling, yTicks[yTicks.length - 1]);
    y = (v) => top + h - (h * v) / yMax;
  }
  // Axes, grid and labels.
  ctx.strokeStyle = '#e2e8f0';
  ctx.fillStyle = '#334155';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of yTicks) {
    const py = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(left + w, py); ctx.stroke();
    ctx.fillText(tickText(v), left - 6, py);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const c of ticks(Math.max(n - 1, 1), Math.max(2, Math.floor(w / 90)))) {
    if (c > n - 1) break;
    const px = left + ((c + 0.5) * w) / n;
    ctx.fillText(String(c), px, top + h + 4);
  }
  ctx.fillText(n > w ? `input column (a bar: the largest of up to ${Math.ceil(n / w)})` : 'input column', left + w / 2, top + h + 22);
  ctx.save();
  ctx.translate(14, top + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(log ? 'weight (log scale)' : 'weight (mean x²)', 0, -6);
  ctx.restore();
  // The bars: one per column, or one per pixel holding its columns' largest value.
  ctx.fillStyle = '#2563eb';
  const bars = Math.min(n, Math.floor(w));
  for (let b = 0; b < bars; b++) {
    const from = Math.floor((b * n) / bars), to = Math.max(from + 1, Math.floor(((b + 1) * n) / bars));
    let v = values[from];
    for (let i = from + 1; i < to; i++) v = Math.max(v, values[i]);
    const x0 = left + (b * w) / bars, x1 = left + ((b + 1) * w) / bars;
    const py = y(v);
    ctx.fillRect(x0, py, Math.max(1, x1 - x0 - (bars < w / 3 ? 1 : 0)), top + h - py);
  }
  ctx.strokeStyle = '#334155';
  ctx.beginPath(); ctx.moveTo(left + 0.5, top); ctx.lineTo(left + 0.5, top + h + 0.5); ctx.lineTo(left + w, top + h + 0.5); ctx.stroke();
  // The largest columns.
  ctx.fillStyle = '#dc2626';
  for (const c of marked) {
    const px = left + ((c + 0.5) * w) / n, py = y(values[c]);
    ctx.beginPath(); ctx.moveTo(px, py - 2); ctx.lineTo(px - 4, py - 9); ctx.lineTo(px + 4, py - 9); ctx.closePath(); ctx.fill();
  }
}
