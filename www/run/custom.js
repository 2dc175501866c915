// A user's own model: drop a small .onnx (and optionally a .npy input), then compare its FP32
// outputs with a quantized copy's, output by output. The worker loads and runs both
// (`custom_load`, `custom_compare` in mnist-ops.js).
import { runWorker, onRunRestart } from './client.js';
import { $, el, formatBytes, formatMicros, fail, clearError, opsText } from './ui.js';

const MARKUP = `
  <h2 id="run-custom-title">Your own model</h2>
  <p class="hint">Drop a small .onnx model — and, if you like, a .npy array as its first input — to compare its
    FP32 outputs with a quantized copy's. Without a .npy every input gets seeded random values from N(0, 1)
    (symbolic dimensions set to 1). Nothing is uploaded.</p>
  <div id="run-custom-drop" class="run-drop" tabindex="0" role="button" aria-describedby="run-custom-drop-help">
    <p><strong>Drop an .onnx model (and a .npy input) here</strong></p>
    <p id="run-custom-drop-help" class="hint">or press Enter to choose files</p>
    <input id="run-custom-file" type="file" accept=".onnx,.npy" multiple hidden>
  </div>
  <div class="run-row">
    <button id="run-custom-clear" type="button" disabled>Clear model and input</button>
    <span id="run-custom-files" class="hint" aria-live="polite">No model loaded.</span>
  </div>
  <div id="run-custom-error" class="run-error" role="alert" hidden></div>
  <dl id="run-custom-model" class="stats" hidden></dl>
  <div class="run-row" id="run-custom-controls" hidden>
    <label for="run-custom-scheme">quantized with</label> <select id="run-custom-scheme"></select>
    <button id="run-custom-run" type="button">Run FP32 and quantized</button>
  </div>
  <p id="run-custom-input" class="hint" aria-live="polite"></p>
  <div class="table-wrap">
    <table id="run-custom-table" hidden>
      <thead><tr><th scope="col">output</th><th scope="col">shape</th><th scope="col">max |error|</th>
        <th scope="col">mean |error|</th><th scope="col">SQNR (dB)</th><th scope="col">cosine</th>
        <th scope="col" title="rows (over the last axis) whose largest value is at the same index">argmax agrees</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p id="run-custom-latency" class="hint"></p>`;

const state = { model: null, input: null, busy: false };

export function mountCustom(section) {
  section.innerHTML = MARKUP;
  const drop = $('#run-custom-drop'), input = $('#run-custom-file');
  drop.onclick = () => input.click();
  drop.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } };
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('dragging'); };
  drop.ondragleave = () => drop.classList.remove('dragging');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    takeFiles([...e.dataTransfer.files]);
  };
  input.onchange = () => { takeFiles([...input.files]); input.value = ''; };
  $('#run-custom-run').onclick = () => compare();
  $('#run-custom-clear').onclick = () => clearAll();
  $('#run-custom-scheme').onchange = () => { if (state.model) compare(); };
  document.addEventListener('run-model-loaded', ({ detail }) => {
    const picker = $('#run-custom-scheme');
    const previous = picker.value;
    picker.replaceChildren(...detail.variants.filter((v) => v.config.kind !== 'fp32')
      .map((v) => Object.assign(new Option(v.label, JSON.stringify(v.config)), { title: v.description })));
    const fallback = detail.variants.find((v) => v.config.kind === 'int8_dynamic') ?? detail.variants[1];
    picker.value = [...picker.options].some((o) => o.value === previous) ? previous : JSON.stringify(fallback.config);
  });
  onRunRestart(() => {
    state.model = null;
    hideResults();
    showFiles();
  });
}

// Forgets the model and its input (a bad .npy goes with it) and empties the panel.
function clearAll() {
  state.model = null;
  state.input = null;
  hideResults();
  clearError('#run-custom-error');
  showFiles();
  runWorker.request('custom_load', [null, null]).catch(() => {});
}

function hideResults() {
  for (const id of ['#run-custom-table', '#run-custom-model', '#run-custom-controls']) $(id).hidden = true;
  $('#run-custom-latency').textContent = '';
  $('#run-custom-input').textContent = '';
}

// What the next run uses: the model and the input file, if any.
function showFiles() {
  const parts = [];
  if (state.model) parts.push(`model ${state.model.name}`);
  if (state.input) parts.push(`input ${state.input.name}`);
  $('#run-custom-files').textContent = parts.length ? `Loaded: ${parts.join(', ')}.` : 'No model loaded.';
  $('#run-custom-clear').disabled = parts.length === 0;
}

async function takeFiles(files) {
  clearError('#run-custom-error');
  const onnx = files.find((f) => f.name.toLowerCase().endsWith('.onnx'));
  const npy = files.find((f) => f.name.toLowerCase().endsWith('.npy'));
  const other = files.filter((f) => f !== onnx && f !== npy);
  if (other.length) {
    fail('#run-custom-error', `${other.map((f) => f.name).join(', ')}: not an .onnx model or a .npy input`);
    if (!onnx && !npy) return;
  }
  // A new model starts without an input: the previous model's .npy (perhaps the wrong one)
  // does not stick to it. A .npy dropped with it, or after it, is its input.
  if (onnx) state.input = null;
  if (npy) state.input = { name: npy.name, bytes: await npy.arrayBuffer() };
  if (onnx) {
    state.model = null;
    hideResults();
    showFiles();
    try {
      const bytes = await onnx.arrayBuffer();
      // The engine's message names the file, the node and the op.
      state.model = await runWorker.request('custom_load', [onnx.name, bytes], { transfer: [bytes] });
    } catch (err) {
      fail('#run-custom-error', err.message);
      showFiles();
      return;
    }
    renderModel(state.model);
  }
  showFiles();
  if (state.model) await compare();
  else if (npy) $('#run-custom-input').textContent = `Input ${npy.name} is ready; now drop a model.`;
}

function renderModel(info) {
  const dl = $('#run-custom-model');
  dl.replaceChildren();
  const sig = (list) => list.map((v) => `${v.name} ${v.dtype} [${v.shape.join(', ')}]`).join('; ');
  for (const [k, v] of [['model', info.name], ['inputs', sig(info.inputs)], ['outputs', sig(info.outputs)],
    ['ops', opsText(info.ops)], ['parameters', info.parameters.toLocaleString('en-US')], ['size', formatBytes(info.bytes)]]) {
    dl.append(el('div', {}, el('dt', {}, k), el('dd', {}, v)));
  }
  dl.hidden = false;
  $('#run-custom-controls').hidden = false;
}

async function compare() {
  if (!state.model || state.busy) return;
  if (!$('#run-custom-scheme').value) {
    fail('#run-custom-error', 'The list of schemes is not there yet: the built-in model is still loading.');
    return;
  }
  state.busy = true;
  $('#run-custom-run').disabled = true;
  clearError('#run-custom-error');
  try {
    const config = JSON.parse($('#run-custom-scheme').value);
    // A copy of the .npy bytes goes over, so it can be reused with the next scheme.
    const npy = state.input ? state.input.bytes.slice(0) : null;
    const r = await runWorker.request('custom_compare', [config, npy], { transfer: npy ? [npy] : [] });
    $('#run-custom-input').textContent = r.inputs.map((i) =>
      `${i.name} [${i.shape.join(', ')}]: ${i.source === 'npy' ? state.input.name : 'seeded random N(0, 1)'}`).join('; ');
    const body = $('#run-custom-table tbody');
    body.replaceChildren();
    for (const o of r.outputs) {
      const tr = body.insertRow();
      const m = o.metrics;
      for (const text of [o.name, `[${o.shape.join(', ')}]`, m ? m.max_abs_error.toPrecision(3) : '—',
        m ? m.mean_abs_error.toPrecision(3) : '—', m?.sqnr_db == null ? '—' : m.sqnr_db.toFixed(1),
        m ? m.cosine_similarity.toFixed(5) : '—', agreement(o.argmax_agreement)]) {
        tr.insertCell().textContent = text;
      }
    }
    $('#run-custom-table').hidden = false;
    const runs = (n) => (n === 1 ? 'one run' : `median of ${n} runs`);
    $('#run-custom-latency').textContent = `Latency, one call on these inputs: FP32 ${formatMicros(r.fp32.micros)} ` +
      `(${runs(r.fp32.samples)}), ${formatBytes(r.fp32.bytes)}; ${r.quantized.description} ${formatMicros(r.quantized.micros)} ` +
      `(${runs(r.quantized.samples)}), ${formatBytes(r.quantized.bytes)}.`;
  } catch (err) {
    const input = state.input ? ` with ${state.input.name}` : '';
    fail('#run-custom-error', `Running ${state.model.name}${input}: ${err.message}`);
  } finally {
    state.busy = false;
    $('#run-custom-run').disabled = false;
  }
}

const agreement = (a) => (a === null || a === undefined ? '—' : a === 1 ? 'yes' : a === 0 ? 'no' : `${(100 * a).toFixed(1)}% of rows`);
