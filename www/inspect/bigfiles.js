// Big files in the Inspect view: opening a dropped File in the worker with progress and Cancel
// (never read whole on this thread), the streamed histogram of a tensor too big to compare, and
// the Model section's "Download model as GGUF". inspect/view.js calls these; the work is in the
// worker.
import { draw_histograms, gguf_types } from '../pkg/quantscope.js';
import { $ } from '../shared/dom.js';

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

// The GGUF export control: pick one loaded file and a ggml type, then the worker quantizes every
// tensor of that file and the page saves the .gguf it assembles.
export function wireGgufExport({ files, client, saveBytes, reportError }) {
  const types = $('#gguf-type');
  for (const t of gguf_types()) types.add(new Option(`${t.id} (${+t.bits_per_weight.toFixed(4)} bits/weight)`, t.id));
  types.value = 'q4_0';
  $('#gguf-cancel').onclick = () => exportJob?.cancel();
  $('#gguf-export').onclick = async () => {
    const f = files()[Number($('#gguf-file').value)];
    if (!f) return;
    const type = types.value;
    const base = f.file.replace(/\.(safetensors\.index\.json|safetensors|gguf|npz|npy|onnx)$/, '').replace(/[^A-Za-z0-9._-]+/g, '_');
    const row = $('#gguf-progress-row');
    const bar = $('#gguf-progress');
    const result = $('#gguf-result');
    result.hidden = true;
    exportJob?.cancel();
    const job = client().start('export_gguf', [f.indices, type, base], {
      onProgress: (done, total) => {
        bar.max = total;
        bar.value = done;
        $('#gguf-progress-text').textContent = `${mb(done)} of ${mb(total)}`;
      },
    });
    exportJob = job;
    row.hidden = false;
    try {
      const { plan, blob } = await job.promise;
      const name = `${base}.${type}.gguf`;
      saveBytes(blob, name);
      showPlan(result, name, plan);
      result.hidden = false;
      document.body.dataset.ggufExported = 'true';
    } catch (err) {
      reportError(err);
    } finally {
      if (exportJob === job) { exportJob = null; row.hidden = true; }
    }
  };
}

// "model.q4_0.gguf: 12.3 MB; 10 tensors as q4_0, 2 as f32.", then every tensor that is not in
// the requested type and why, in a list that opens on request (a model can have hundreds).
function showPlan(box, name, plan) {
  const byType = new Map();
  for (const t of plan.tensors) byType.set(t.type, (byType.get(t.type) ?? 0) + 1);
  const counts = [...byType].map(([type, n]) => `${n} as ${type}`).join(', ');
  const notes = plan.tensors.filter((t) => t.note);
  const line = document.createElement('span');
  line.textContent = `${name}: ${mb(plan.bytes)}; ${counts}.`;
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
  select.closest('label').hidden = files.length === 0;
  $('#gguf-export').disabled = files.length === 0;
  $('#gguf-none').hidden = files.length > 0;
}

export function cancelLoad() {
  loadJob?.cancel();
}
