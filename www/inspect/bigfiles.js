// Big files in the Inspect view: opening a dropped File in the worker with progress and Cancel
// (never read whole on this thread), the streamed histogram of a tensor too big to compare, and
// the Model section's "Download model as GGUF". inspect/view.js calls these; the work is in the
// worker.
import { draw_histograms } from '../pkg-plot/quantscope.js';
import { ggufFileTypes, ggufTypes } from './lists.js';
import { $ } from '../shared/dom.js';
import { poolWorkers } from '../shared/pool.js';
import { app } from '../app.js';
import { imatrixLoaded, showPreviewEntry } from './imatrix.js';
import { drawLayerMap, wireMixFit } from './mix-fit.js';

const percent = (done, total) => (total ? Math.floor((100 * done) / total) : 100);

function mb(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(1)} KB`;
}

let loadJob = null;

// Opens one file in the worker (op open_file): its header, then every tensor's statistics
// streamed from the file, shown as a progress bar with Cancel. Resolves to what load_file gives.
export function openFile(client, file) {
  return track(client, 'open_file', [file], file.name, file.size);
}

// A sharded safetensors checkpoint: the index (a small JSON, read here) and its shards as Files.
export async function openSharded(client, index, shards) {
  const bytes = await index.arrayBuffer();
  const size = shards.reduce((a, f) => a + f.size, 0);
  return track(client, 'open_sharded', [index.name, bytes, shards], index.name, size, [bytes]);
}

async function track(client, op, args, name, size, transfer = []) {
  const row = $('#load-progress-row');
  const bar = $('#load-progress');
  const text = $('#load-progress-text');
  text.textContent = `${name}: reading the header…`;
  bar.removeAttribute('value');
  const job = client.start(op, args, {
    transfer,
    onProgress: (done, total) => {
      bar.max = total || 1;
      bar.value = done;
      text.textContent = `${name} (${mb(size)}): statistics ${percent(done, total)} %`;
    },
  });
  loadJob = job;
  row.hidden = false;
  try {
    return await job.promise;
  } finally {
    if (loadJob === job) { loadJob = null; row.hidden = true; }
  }
}

// Draws the histogram of tensor `t` (not comparable: too big) counted from its file.
// `guard` is the view's latest() guard (shared/latest.js): an answer for an older selection is dropped.
export async function drawStreamedHistogram(client, t, { bins, range, log_counts = false }, guard = (p) => p) {
  const histogram = await guard(client.request('histogram_streamed', [t.index, bins, range]));
  draw_histograms($('#histogram'), {
    title: `${t.name}: values streamed from the file`, x_label: 'value', markers: [], log_counts,
    series: [{ label: 'original', histogram }],
  });
}

// The notice shown instead of the scheme comparison for a tensor over the page's cap.
export function tooBigNotice(t, count) {
  return `${t.name} has ${count} values, more than the scheme comparison holds in memory for a tensor ` +
    'read from a large file (2^26 = 67,108,864). Its statistics and the histogram below were streamed ' +
    'from the file; it is still part of the model summary and of the GGUF export.';
}

let exportJob = null;

// Workers for the whole-model comparison and the GGUF exports: one per core the browser
// reports, or the URL's #inspect?workers=N (to compare the speed-up, see the README).
export { poolWorkers };

// The GGUF export control: pick one loaded file and a ggml type, then the worker quantizes every
// tensor of that file and the page saves the .gguf it assembles.
export function wireGgufExport({ files, client, saveBytes, reportError }) {
  const types = $('#gguf-type');
  const one = document.createElement('optgroup');
  one.label = 'one type for every tensor';
  for (const t of ggufTypes()) one.append(new Option(`${t.id} (${+t.bits_per_weight.toFixed(4)} bits/weight)`, t.id));
  const mixes = document.createElement('optgroup');
  mixes.label = "llama.cpp's mixes (a GGUF model)";
  for (const name of ggufFileTypes()) mixes.append(new Option(name, name));
  types.append(one, mixes);
  types.value = 'q4_0';
  // FIT: the last "fit a size" (inspect/mix-fit.js), written as a mix.
  const isMix = () => types.value === 'FIT' || ggufFileTypes().includes(types.value);
  const mixOptions = () => (isMix() ? { pure: $('#gguf-pure').checked } : null);
  const preview = () => previewMix({ files, client, isMix, mixOptions });
  const fits = document.createElement('optgroup');
  fits.label = 'fit a size';
  // A fit done: it joins the picker and is previewed; null: the preview is redrawn (measured).
  const showFit = (label) => {
    if (label) {
      fits.replaceChildren(new Option(label, 'FIT'));
      if (!fits.parentElement) types.append(fits);
      types.value = 'FIT';
    }
    preview();
  };
  const fitControls = wireMixFit({ files, client, reportError, showFit });
  // Another model or importance matrix: the worker's fit and measurements are of the last one.
  const dropFit = () => {
    fitControls.reset();
    if (types.value === 'FIT') types.value = 'Q4_K_M';
    fits.remove();
  };
  types.onchange = preview;
  $('#gguf-pure').onchange = preview;
  $('#gguf-file').addEventListener('change', () => { dropFit(); preview(); });
  // A mix made with an importance matrix has other rules and bytes (llama-quantize --imatrix).
  app.on('imatrix-changed', () => { dropFit(); preview(); });
  // A row clicked (or Enter on it): its importance per input column under the table.
  const body = $('#gguf-preview-table tbody');
  body.onclick = (e) => {
    const tr = e.target.closest('tr');
    if (!tr || !imatrixLoaded()) return;
    for (const row of tr.parentElement.rows) row.setAttribute('aria-selected', String(row === tr));
    showPreviewEntry(client, tr.dataset.name).catch(reportError);
  };
  body.onkeydown = (e) => { if (e.key === 'Enter') body.onclick(e); };
  $('#gguf-cancel').onclick = () => exportJob?.cancel();
  $('#gguf-export').onclick = async () => {
    const f = files()[Number($('#gguf-file').value)];
    if (!f) return;
    const type = types.value;
    const mix = mixOptions();
    const base = f.file.replace(/\.(safetensors\.index\.json|safetensors|gguf|npz|npy|onnx)$/, '').replace(/[^A-Za-z0-9._-]+/g, '_');
    const row = $('#gguf-progress-row');
    const bar = $('#gguf-progress');
    const result = $('#gguf-result');
    result.hidden = true;
    exportJob?.cancel();
    // Every core: the worker encodes the chunks on a pool of workers (inspect/pieces.js).
    const workers = poolWorkers();
    const started = performance.now();
    const job = mix
      ? client().start('mix_export', [f.file_id, type, mix, workers], { onProgress })
      : client().start('export_gguf', [f.indices, type, base, workers], { onProgress });
    function onProgress(done, total) {
      bar.max = total;
      bar.value = done;
      $('#gguf-progress-text').textContent = `${mb(done)} of ${mb(total)}`;
    }
    exportJob = job;
    row.hidden = false;
    try {
      const { plan, blob, workers: used } = await job.promise;
      const seconds = (performance.now() - started) / 1000;
      const name = type === 'FIT' ? `${base}.${types.selectedOptions[0].text.replace(/[^A-Za-z0-9._-]+/g, '-')}.gguf` : `${base}.${type}.gguf`;
      saveBytes(blob, name);
      showPlan(result, name, mix ? mixSummary(plan) : plan, `written in ${seconds.toFixed(1)} s on ${used} worker${used === 1 ? '' : 's'}`);
      document.body.dataset.ggufWorkers = String(used);
      result.hidden = false;
      document.body.dataset.ggufExported = 'true';
    } catch (err) {
      reportError(err);
    } finally {
      if (exportJob === job) { exportJob = null; row.hidden = true; }
    }
  };
}

let previewed = 0;

// The preview of a llama.cpp mix: every tensor's type (the rule that chose it), whether it is
// importance-weighted (with an imatrix loaded), bits per weight and bytes, and the file's size
// and bits per weight, from the worker's plan (gguf_mix.rs).
async function previewMix({ files, client, isMix, mixOptions }) {
  const box = $('#gguf-preview');
  const f = files()[Number($('#gguf-file').value)];
  const type = $('#gguf-type').value;
  $('#gguf-pure-label').hidden = !isMix() || type === 'FIT';
  const ggufModel = f?.format === 'gguf' && f.file_id !== undefined;
  $('#gguf-fit-row').hidden = !ggufModel;
  $('#gguf-fit-help').hidden = !ggufModel;
  const ticket = ++previewed;
  if (!isMix() || !f) {
    box.hidden = true;
    return;
  }
  // Until the worker's plan arrives the table is the previous one's: marked busy.
  box.setAttribute('aria-busy', 'true');
  try {
    // Only a GGUF model has the metadata llama.cpp's rules read (and the mixer is not loaded for less).
    if (f.format !== 'gguf' || f.file_id === undefined) {
      throw new Error(`a llama.cpp mix is made from a GGUF model opened from disk; ${f.file} is ${f.format === 'gguf' ? 'not one' : `a ${f.format} file`}`);
    }
    const imatrix = imatrixLoaded();
    const plan = type === 'FIT'
      ? await client().request('mix_fit_plan', [f.file_id])
      : await client().request('mix_plan', [f.file_id, type, mixOptions()]);
    if (ticket !== previewed) return;
    if (!plan) throw new Error('fit a size first');
    const bpw = (bytes, n) => (n ? (8 * bytes) / n : 0).toFixed(2);
    $('#gguf-preview-table').classList.toggle('no-imatrix', !imatrix);
    $('#gguf-preview-table tbody').replaceChildren(...plan.tensors.map((t) => {
      const tr = document.createElement('tr');
      // SQNR and weighted MSE once the errors are measured (Fit, Compare mixes): '∞' is exact.
      const sqnr = plan.measured ? (t.sqnr_db === null || t.sqnr_db === undefined ? '∞' : t.sqnr_db.toFixed(2)) : '';
      const wmse = plan.measured && t.weighted_mse !== null && t.weighted_mse !== undefined ? t.weighted_mse.toExponential(3) : '';
      for (const text of [t.name, t.type, t.weighted ? 'weighted' : '', bpw(t.bytes, t.elements), t.bytes.toLocaleString('en-US'), sqnr, wmse, t.rule ?? '']) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      tr.cells[2].className = 'imatrix-col';
      tr.cells[6].className = 'imatrix-col';
      if (imatrix) tr.tabIndex = 0; // a row opens its importance chart
      tr.dataset.type = t.type;
      tr.dataset.name = t.name;
      if (t.weighted) tr.dataset.weighted = 'true';
      return tr;
    }));
    const counts = new Map();
    for (const t of plan.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
    const weighted = plan.tensors.filter((t) => t.weighted).length;
    $('#gguf-preview-summary').textContent = `${f.file} as ${plan.file_type}: ${mb(plan.bytes)}, ` +
      `${bpw(plan.bytes, plan.elements)} bits/weight; ${[...counts].map(([ty, n]) => `${n} as ${ty}`).join(', ')}` +
      (imatrix ? `; ${weighted} importance-weighted by ${imatrix.file_name}` : '') +
      (plan.measured ? `; SQNR ${plan.total_sqnr_db === null ? '∞' : plan.total_sqnr_db.toFixed(2)} dB over every weight` : '');
    drawLayerMap($('#gguf-layer-map'), plan);
    box.hidden = false;
    box.setAttribute('aria-busy', 'false');
  } catch (err) {
    if (ticket !== previewed) return;
    $('#gguf-preview-table tbody').replaceChildren();
    $('#gguf-layer-map').replaceChildren();
    $('#gguf-preview-summary').textContent = `${type}: ${refusal(err.message ?? String(err))}`;
    box.hidden = false;
    box.setAttribute('aria-busy', 'false');
  }
}

// llama.cpp's refusal, with what to do about it in the page.
function refusal(message) {
  if (/requires an imatrix!/.test(message)) return `${message.replace(/; give one with --imatrix$/, '')}; load an importance matrix above`;
  return message;
}

// A mix's plan as showPlan takes it: every tensor's rule is in the preview table already.
const mixSummary = (plan) => ({ bytes: plan.bytes, scheme: plan.file_type, tensors: plan.tensors.map(({ name, type }) => ({ name, type })) });

// "model.q4_0.gguf: 12.3 MB; 10 tensors as q4_0, 2 as f32.", then every tensor that is not in
// the requested type and why, in a list that opens on request (a model can have hundreds).
function showPlan(box, name, plan, timing) {
  const byType = new Map();
  for (const t of plan.tensors) byType.set(t.type, (byType.get(t.type) ?? 0) + 1);
  const counts = [...byType].map(([type, n]) => `${n} as ${type}`).join(', ');
  const notes = plan.tensors.filter((t) => t.note);
  const line = document.createElement('span');
  line.textContent = `${name}: ${mb(plan.bytes)}; ${counts}; ${timing}.`;
  box.replaceChildren(line);
  if (!notes.length) return;
  const details = document.createElement('details');
  details.id = 'gguf-fallbacks';
  const summary = document.createElement('summary');
  summary.textContent = `${notes.length} tensor${notes.length === 1 ? '' : 's'} not in ${plan.scheme}: show which and why`;
  const list = document.createElement('ul');
  list.replaceChildren(...notes.map((t) => {
    const li = document.createElement('li');
    li.textContent = `${t.name}: ${t.note}`;
    return li;
  }));
  details.append(summary, list);
  box.append(' ', details);
}

// Lists the loaded files in the export picker (keeping the choice) and enables the button.
export function renderGgufFiles(files) {
  const select = $('#gguf-file');
  const keep = select.value;
  select.replaceChildren(...files.map((f, i) => new Option(`${f.label ?? f.file} (${f.count} tensors)`, String(i))));
  select.value = keep !== '' && Number(keep) < files.length ? keep : String(files.length - 1);
  // Another file picked for the export: a fit and comparison of the last one no longer apply.
  if (select.value !== keep && keep !== '') select.dispatchEvent(new Event('change'));
  select.closest('label').hidden = files.length === 0;
  $('#gguf-export').disabled = files.length === 0;
  $('#gguf-none').hidden = files.length > 0;
}

export function cancelLoad() {
  loadJob?.cancel();
}
