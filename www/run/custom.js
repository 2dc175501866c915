// A user's own model: drop a small .onnx (and optionally its inputs: .npy/.npz arrays, images —
// input-files.js matches them to the model's inputs), then compare its FP32
// outputs with a quantized copy's, output by output. The worker loads and runs both
// (`custom_load`, `custom_compare` in custom-ops.js, on the models module www/pkg-models).
import { runWorker, onRunRestart } from './client.js';
import { saveBytes } from '../shared/dom.js';
import { poolWorkers } from '../shared/pool.js';
import { LAYERS_MARKUP, renderLayers, hideLayers } from './layers.js';
import { mountImportance } from './importance.js';
import { showView } from '../views.js';
import { ARRAY_FILE, IMAGE_FILE, imageLayout, planInputs } from './input-plan.js';
import { IMAGE_SETTINGS_MARKUP, mountImageSettings, showImageSettings, imageSettings } from './image-settings.js';
import { $, el, formatBytes, formatMicros, fail, clearError, opsText, wireDropZone, withProgress, progressRow } from './ui.js';

const MARKUP = `
  <h2 id="run-custom-title">Your own model</h2>
  <p class="hint">Drop a small .onnx model — and, if you like, its inputs — to compare its FP32 outputs with a
    quantized copy's. Inputs: .npy arrays (each for the input of its file name, else the next input in order), a .npz
    of them (numpy.savez: each array for the input of its name), or images for an image model (one batch row each).
    An input without a file gets made-up values of the sizes you set for its open dimensions: seeded N(0, 1)
    (integers 0–9; all 0 for a token type, all 1 for a mask).
    Several rows (or images) are the calibration data of static INT8 and GPTQ. Nothing is uploaded.</p>
  <div id="run-custom-drop" class="run-drop" tabindex="0" role="button" aria-describedby="run-custom-drop-help">
    <p><strong>Drop an .onnx model (and .npy, .npz or image inputs) here</strong></p>
    <p id="run-custom-drop-help" class="hint">or press Enter to choose files</p>
    <input id="run-custom-file" type="file" accept=".onnx,.npy,.npz,image/*" multiple hidden>
  </div>
  <div class="run-row">
    <button id="run-custom-clear" type="button" disabled>Clear model and inputs</button>
    <span id="run-custom-files" class="hint" aria-live="polite">No model loaded.</span>
  </div>
  <div id="run-custom-error" class="run-error" role="alert" hidden></div>
  <p id="run-custom-refused" class="run-row hint" hidden>
    <span>The ops the engine runs are listed in the <a href="README.md#run-a-model" target="_blank" rel="noopener">README</a>.</span>
    <button id="run-custom-inspect" type="button">Inspect its weights instead</button>
  </p>
  <dl id="run-custom-model" class="stats" hidden></dl>
  <fieldset id="run-custom-sizes" class="run-sizes" hidden>
    <legend>Input sizes: the model leaves these dimensions open</legend>
    <div class="run-row" id="run-custom-size-fields"></div>
  </fieldset>${IMAGE_SETTINGS_MARKUP}
  <div class="run-row" id="run-custom-controls" hidden>
    <label for="run-custom-scheme">quantized with</label> <select id="run-custom-scheme"></select>
    <button id="run-custom-run" type="button">Run FP32 and quantized</button>
  </div>
  <p id="run-custom-input" class="hint" aria-live="polite"></p>
  <div class="table-wrap">
    <table id="run-custom-table" hidden>
      <thead><tr><th scope="col">output</th><th scope="col">shape</th><th scope="col">max |error|</th>
        <th scope="col">mean |error|</th><th scope="col">SQNR (dB)</th><th scope="col">cosine</th>
        <th scope="col" id="run-custom-argmax" title="for [classes] and [batch, classes] outputs: rows whose largest value is at the same index">argmax agrees</th>
        <th scope="col" class="run-text" title="the first values of the FP32 model's output">FP32 values</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p id="run-custom-latency" class="hint"></p>
  ${LAYERS_MARKUP}
  <div id="run-custom-imatrix" hidden></div>
  <fieldset id="run-custom-export" class="run-export" hidden>
    <legend>Download it quantized</legend>
    <p class="hint">As ONNX Runtime's <code>quantize_dynamic</code> writes it: MatMul and Conv weights in 8 bits,
      activations quantized at run time (DynamicQuantizeLinear → MatMulInteger / ConvInteger → Cast → Mul);
      each LSTM becomes com.microsoft DynamicQuantizeLSTM, with int8 weights whatever the type chosen, as ONNX Runtime writes it;
      a Gather of a constant table (an embedding) gathers its uint8 codes; a transformer ONNX Runtime's optimizer fused gets com.microsoft QAttention and QEmbedLayerNormalization for its Attention and EmbedLayerNormalization.
      Its weights, scales and zero points are byte for byte the ones ONNX Runtime's quantizer writes for these options.
      The nodes inside If branches and Loop/Scan bodies stay float unless "inside If/Loop/Scan" is checked (ONNX Runtime's EnableSubgraph).</p>
    <div class="run-row">
      <label for="run-custom-export-type">weights</label>
      <select id="run-custom-export-type">
        <option value="int8">int8, symmetric (QInt8)</option>
        <option value="uint8">uint8, asymmetric (QUInt8)</option>
      </select>
      <label><input id="run-custom-export-channel" type="checkbox"> per channel</label>
      <label title="7-bit weights: ONNX Runtime's u8 × s8 kernels on AVX2 CPUs add pairs of products in 16 bits, which full-range int8 weights can overflow">
        <input id="run-custom-export-reduce" type="checkbox"> reduce range</label>
      <label title="ONNX Runtime's EnableSubgraph: the MatMul, Conv and LSTM nodes inside If branches and Loop/Scan bodies too; off, they stay float, as ONNX Runtime leaves them by default">
        <input id="run-custom-export-subgraphs" type="checkbox"> inside If/Loop/Scan</label>
      <button id="run-custom-export-go" type="button">Download quantized .onnx</button>
    </div>
    <p id="run-custom-export-result" class="hint" aria-live="polite"></p>
    <p class="hint">Or weight-only INT4 (or INT2, INT8), as ONNX Runtime's <code>MatMulNBitsQuantizer</code> writes it
      (round to nearest, or HQQ: each block's zero point a float fitted by its solver): each MatMul whose B is a constant float matrix (2-D, or with leading dimensions of 1) gets 2-, 4- or 8-bit
      weights, quantized in blocks of the size chosen along its inputs (K), one float scale per block and, unless symmetric,
      one zero point; activations stay float. As com.microsoft <code>MatMulNBits</code> (ONNX Runtime's kernel; 2, 4 or 8
      bits) or as an opset-21 <code>DequantizeLinear</code> of blocked int4 weights before the MatMul (any ONNX 1.16+
      runtime; 4 bits only, as ONNX Runtime writes it). Gemm nodes are left in float, as ONNX Runtime leaves them. The
      packed weights, scales and zero points are byte for byte the ones ONNX Runtime's quantizer writes. GPTQ is ONNX
      Runtime's <code>GPTQWeightOnlyQuantConfig</code> on the inputs dropped as calibration rows (4-bit MatMulNBits): its
      1.32 release carries no rounding error forward, so expect round to nearest's error; the line below gives both for
      each MatMul. <em>GPTQ with error feedback</em> is the paper's algorithm in the same file format (not what ONNX
      Runtime writes): each input channel's rounding error moves onto the channels not yet quantized, weighted by the
      inverse Hessian of the calibration rows, so those rows' output error falls well below round to nearest's — give it
      more calibration rows than the MatMuls have inputs, or it fits those rows rather than the data.</p>
    <div class="run-row">
      <label for="run-custom-nbits-method" title="HQQ (half-quadratic quantization) keeps round-to-nearest's scales and fits each block's zero point, a float, with a proximal solver of the error's lp norm (p = 0.7)">method</label>
      <select id="run-custom-nbits-method">
        <option value="rtn" selected>round to nearest</option>
        <option value="hqq">HQQ (float zero points)</option>
        <option value="gptq">GPTQ (with calibration data)</option>
        <option value="gptq_feedback" title="ONNX Runtime 1.32's GPTQ moves no rounding error onward (its result is an identity Hessian's); this is the paper's update in the same file format">GPTQ with error feedback (the paper's)</option>
      </select>
      <label for="run-custom-nbits-bits">bits</label>
      <select id="run-custom-nbits-bits">
        <option value="2">2</option>
        <option value="4" selected>4</option>
        <option value="8">8</option>
      </select>
      <label for="run-custom-nbits-block">block</label>
      <select id="run-custom-nbits-block">
        <option value="16">16</option>
        <option value="32">32</option>
        <option value="64">64</option>
        <option value="128" selected>128</option>
        <option value="256">256</option>
      </select>
      <label title="no zero points: each block's largest-magnitude weight sets the scale and the codes are centred (is_symmetric)">
        <input id="run-custom-nbits-symmetric" type="checkbox"> symmetric</label>
      <label for="run-custom-nbits-format">as</label>
      <select id="run-custom-nbits-format">
        <option value="qoperator">MatMulNBits (com.microsoft)</option>
        <option value="qdq">QDQ: blocked int4 DequantizeLinear (opset 21)</option>
      </select>
      <label title="op_types_to_quantize with Gather: each constant Gather table (an embedding) becomes com.microsoft GatherBlockQuantized, int4/uint4 in blocks along axis 1">
        <input id="run-custom-nbits-gather" type="checkbox"> Gather tables too</label>
      <label title="GPTQ's actorder: each MatMul's input channels quantized in descending order of their calibration energy (diag H), so each block of the processing order gets its own grid">
        <input id="run-custom-nbits-actorder" type="checkbox"> act-order</label>
      <button id="run-custom-nbits-go" type="button">Download weight-only INT4 .onnx</button>
      <span id="run-custom-nbits-why" class="hint"></span>
    </div>
    ${progressRow('run-custom-nbits-progress')}
    <p id="run-custom-nbits-result" class="hint" aria-live="polite"></p>
    <p class="hint">Or static INT8 in ONNX Runtime's QDQ format, as its <code>quantize_static</code> writes it: int8 weights
      (symmetric, per tensor or per output channel) and int32 biases read through DequantizeLinear, and every activation
      through QuantizeLinear → DequantizeLinear with a scale calibrated on the inputs you dropped (a model of MNIST's
      [N, 784] pixels without one takes the built-in model's 256 calibration digits), by ONNX Runtime's
      <code>calibrate_method</code>: MinMax, each tensor's least and greatest value over those rows; Percentile, a histogram
      of |x| (or of x, unticked) cut where it holds that percent of the values; Entropy, the range whose 128-level
      quantization loses least information (KL divergence) about a histogram of x; Distribution, the histogram's whole
      span ±max|x|. The scales are only as good as the calibration rows: drop real inputs. Its weights, scales and zero
      points are ONNX Runtime's for the same ranges.</p>
    <div class="run-row">
      <label for="run-custom-static-act">activations</label>
      <select id="run-custom-static-act">
        <option value="uint8">uint8 (QUInt8)</option>
        <option value="int8">int8 (QInt8)</option>
      </select>
      <label><input id="run-custom-static-channel" type="checkbox"> per-channel weights</label>
      <label title="ONNX Runtime's ForceQuantizeNoInputCheck: Transpose, Reshape, MaxPool, Where, Gather and the other ops that pass their input's quantization on get one even when what feeds them stays in float">
        <input id="run-custom-static-force" type="checkbox"> quantize pass-through ops always</label>
      <span>
        <label for="run-custom-static-method">calibration</label>
        <select id="run-custom-static-method">
          <option value="minmax">MinMax</option>
          <option value="percentile">Percentile</option>
          <option value="entropy">Entropy</option>
          <option value="distribution">Distribution</option>
        </select>
      </span>
      <span id="run-custom-static-percentile-row" hidden>
        <label for="run-custom-static-percentile">percentile</label>
        <input id="run-custom-static-percentile" type="number" min="0" max="100" step="any" value="99.999" size="7">
        <label title="CalibTensorRangeSymmetric: a histogram of |x| and the range ±its percentile (ONNX Runtime's default); unticked, a histogram of x cut at both ends">
          <input id="run-custom-static-symmetric" type="checkbox" checked> of |x|</label>
      </span>
      <span id="run-custom-static-bins-row" hidden>
        <label for="run-custom-static-bins" title="num_bins: the histogram's bins when it is made (it grows if a tensor ranges wider)">bins</label>
        <input id="run-custom-static-bins" type="number" min="1" step="1" value="2048" size="6">
      </span>
      <button id="run-custom-static-go" type="button">Download static INT8 (QDQ) .onnx</button>
    </div>
    ${progressRow('run-custom-static-progress')}
    <p id="run-custom-static-result" class="hint" aria-live="polite"></p>
    <p class="hint">Or in half precision, as <code>onnxconverter_common</code>'s <code>convert_float_to_float16</code>
      (<code>keep_io_types</code>): float32 weights and Constants in FP16 or BF16, the inputs and outputs still float32
      through Cast nodes, the ops it keeps in float32 (TopK, Resize, Range, CumSum, Min, Max, …) between Casts.
      FP16 values below 1e-7 or above 1e4 in magnitude are clamped there, as it does. ONNX Runtime's CPU provider
      runs the FP16 file; it has almost no BF16 kernels (the BF16 file is for GPUs and runtimes that have them),
      and ONNX allows bfloat16 in most ops only from opset 13 (Conv from 22): a model it would make invalid is refused.</p>
    <div class="run-row">
      <button id="run-custom-half-fp16" type="button">Download FP16 .onnx</button>
      <button id="run-custom-half-bf16" type="button">Download BF16 .onnx</button>
    </div>
    ${progressRow('run-custom-half-progress')}
    <p id="run-custom-half-result" class="hint" aria-live="polite"></p>
  </fieldset>`;

// data: the files dropped for the inputs, {arrays: [{file, bytes, listed: [{label, stem}]}],
// images: [{file, bytes}]}, or null; keep: nodes to keep in FP32 in the next comparison (the
// Which-layers-hurt boxes).
const state = { model: null, data: null, busy: false, again: false, refused: null, keep: new Set(), importance: null };

export function mountCustom(section) {
  section.innerHTML = MARKUP;
  wireDropZone($('#run-custom-drop'), $('#run-custom-file'), takeFiles);
  mountImageSettings(() => { if (state.model) compare(); });
  $('#run-custom-run').onclick = () => compare();
  $('#run-custom-layers-rerun').onclick = () => compare();
  $('#run-custom-export-go').onclick = () => exportQuantized();
  $('#run-custom-static-go').onclick = () => exportStatic();
  $('#run-custom-nbits-go').onclick = () => exportNbits();
  for (const id of ['#run-custom-nbits-method', '#run-custom-nbits-bits', '#run-custom-nbits-block', '#run-custom-nbits-symmetric',
    '#run-custom-nbits-format', '#run-custom-nbits-gather', '#run-custom-nbits-actorder']) {
    $(id).onchange = () => { $('#run-custom-nbits-result').textContent = ''; showNbitsChoice(); };
  }
  $('#run-custom-half-fp16').onclick = () => exportHalf('fp16');
  $('#run-custom-half-bf16').onclick = () => exportHalf('bf16');
  for (const id of ['#run-custom-export-type', '#run-custom-export-channel', '#run-custom-export-reduce', '#run-custom-export-subgraphs']) {
    // A result line describes the file made with the options it names, not the ones now chosen.
    $(id).onchange = () => { $('#run-custom-export-result').textContent = ''; };
  }
  for (const id of ['#run-custom-static-act', '#run-custom-static-channel', '#run-custom-static-force', '#run-custom-static-percentile',
    '#run-custom-static-symmetric', '#run-custom-static-bins']) {
    $(id).onchange = () => { $('#run-custom-static-result').textContent = ''; };
  }
  $('#run-custom-static-method').onchange = () => {
    $('#run-custom-static-result').textContent = '';
    showCalibrationOptions(true);
  };
  state.importance = mountImportance($('#run-custom-imatrix'), {
    id: 'run-custom-imatrix',
    heading: '<h3>Which inputs matter? Its importance matrix</h3>',
    lede: 'What llama.cpp\'s <code>llama-imatrix</code> records, for every MatMul and Gemm weight of this model: the mean ' +
      'of x² of each input column, over the inputs above (your files, or the seeded random values: calibration data should ' +
      'be real inputs for the statistics to mean something). Saved in llama.cpp\'s imatrix.gguf layout.',
    start: (onProgress) => {
      const [given, transfer] = givenInputs();
      return runWorker.start('custom_imatrix', [given, randomShapes()], { onProgress, transfer });
    },
    file: () => runWorker.request('custom_imatrix_file', []),
  });
  $('#run-custom-clear').onclick = () => clearAll();
  $('#run-custom-inspect').onclick = () => inspectInstead(state.refused);
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

// A model the engine refused can still be looked at: its file goes to the Inspect view (through
// that view's own file input, as if chosen there), which reads its weights.
function inspectInstead(file) {
  if (!file) return;
  const files = new DataTransfer();
  files.items.add(file);
  const input = document.getElementById('file-input');
  input.files = files.files;
  input.dispatchEvent(new Event('change'));
  showView('inspect');
}

// Forgets the model and its inputs (a bad .npy goes with them) and empties the panel.
function clearAll() {
  state.model = null;
  state.data = null;
  hideResults();
  clearError('#run-custom-error');
  showFiles();
  runWorker.request('custom_load', [null, null]).catch(() => {});
}

function hideResults() {
  state.refused = null;
  $('#run-custom-refused').hidden = true;
  for (const id of ['#run-custom-table', '#run-custom-model', '#run-custom-controls', '#run-custom-sizes', '#run-custom-export', '#run-custom-imatrix']) $(id).hidden = true;
  state.importance?.reset();
  $('#run-custom-latency').textContent = '';
  $('#run-custom-export-result').textContent = '';
  $('#run-custom-half-result').textContent = '';
  $('#run-custom-static-result').textContent = '';
  hideLayers();
  showImageSettings(null);
  $('#run-custom-input').textContent = '';
}

// What the next run uses: the model and the input files, if any.
function showFiles() {
  const parts = [];
  if (state.model) parts.push(`model ${state.model.name}`);
  if (state.data) parts.push(`input${state.data.arrays.length + state.data.images.length === 1 ? '' : 's'} ${dataLabel()}`);
  $('#run-custom-files').textContent = parts.length ? `Loaded: ${parts.join(', ')}.` : 'No model loaded.';
  $('#run-custom-clear').disabled = parts.length === 0;
  // GPTQ waits for calibration data
  showNbitsChoice();
}

// 'input.npy, state.npy', 'x.npz, 3 images'
function dataLabel() {
  if (!state.data) return '';
  const { arrays, images } = state.data;
  const pics = images.length === 1 ? images[0].file : images.length ? `${images.length} images` : '';
  return [...arrays.map((a) => a.file), pics].filter(Boolean).join(', ');
}

// Which input each dropped array and the images go to (input-files.js), for the model loaded.
function inputPlan(data = state.data) {
  if (!state.model || !data) return { arrays: new Map(), image: null };
  return planInputs(state.model.inputs, data.arrays.flatMap((a) => a.listed), data.images.length);
}

// The dropped files as custom-ops.js takes them (`given`), copied so they can be sent again, and
// the buffers to transfer.
function givenInputs() {
  if (!state.data) return [null, []];
  const copy = ({ file, bytes }) => ({ file, bytes: bytes.slice(0) });
  const given = { arrays: state.data.arrays.map(copy), images: state.data.images.map(copy),
    image: state.data.images.length ? imageSettings() : null };
  return [given, [...given.arrays, ...given.images].map((f) => f.bytes)];
}

async function takeFiles(files) {
  clearError('#run-custom-error');
  const onnx = files.find((f) => f.name.toLowerCase().endsWith('.onnx'));
  const arrayFiles = files.filter((f) => ARRAY_FILE.test(f.name));
  const imageFiles = files.filter((f) => f !== onnx && !ARRAY_FILE.test(f.name) && (IMAGE_FILE.test(f.name) || f.type.startsWith('image/')));
  const other = files.filter((f) => f !== onnx && !arrayFiles.includes(f) && !imageFiles.includes(f));
  if (other.length) {
    fail('#run-custom-error', `${other.map((f) => f.name).join(', ')}: not an .onnx model, a .npy/.npz array or an image`);
    if (!onnx && !arrayFiles.length && !imageFiles.length) return;
  }
  // The files dropped for the inputs replace the ones before; an archive that cannot be read is
  // said, and the inputs before stay. Said after the run (which clears the error box) when a model
  // came with it.
  let data = null;
  let refused = null;
  if (arrayFiles.length || imageFiles.length) {
    try {
      // The reader (and its zip code) loads with the first data file.
      const { arraysOf } = await import('./input-files.js');
      const arrays = await Promise.all(arrayFiles.map(async (f) => {
        const bytes = await f.arrayBuffer();
        return { file: f.name, bytes, listed: arraysOf(f.name, bytes, false) };
      }));
      const images = await Promise.all(imageFiles.map(async (f) => ({ file: f.name, bytes: await f.arrayBuffer() })));
      data = { arrays, images };
    } catch (err) {
      if (!onnx) {
        fail('#run-custom-error', err.message);
        return;
      }
      refused = err.message;
    }
  }
  // A new model starts without inputs: the previous model's files (perhaps the wrong ones) do not
  // stick to it. Files dropped with it, or after it, are its inputs.
  if (onnx) {
    state.data = null;
    state.keep = new Set();
  }
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
      // The engine cannot run it, but its weights can still be inspected.
      state.refused = onnx;
      $('#run-custom-refused').hidden = false;
      showFiles();
      return;
    }
    renderModel(state.model);
  }
  // Files that fit none of the model's inputs are refused whole (said after the run, which
  // clears the error box); the ones before stay.
  if (data && state.model) {
    try {
      inputPlan(data);
      state.data = data;
    } catch (err) {
      refused = err.message;
      data = null;
    }
  } else if (data) {
    state.data = data;
  }
  if (state.model) renderSizes();
  showFiles();
  if (state.model && (onnx || data)) await compare();
  else if (data) $('#run-custom-input').textContent = `Inputs ${dataLabel()} are ready; now drop a model.`;
  if (refused) fail('#run-custom-error', refused);
}

function renderModel(info) {
  const dl = $('#run-custom-model');
  dl.replaceChildren();
  const sig = (list) => list.map((v) => `${v.name} ${v.dtype} [${v.shape.join(', ')}]`).join('; ');
  for (const [k, v] of [['model', info.name], ['inputs', sig(info.inputs)], ['outputs', sig(info.outputs)],
    ['ops', opsSummary(info.ops)], ['parameters', info.parameters.toLocaleString('en-US')], ['size', formatBytes(info.bytes)]]) {
    dl.append(el('div', {}, el('dt', {}, k), el('dd', { title: k === 'ops' ? opsText(info.ops) : null }, v)));
  }
  dl.hidden = false;
  $('#run-custom-controls').hidden = false;
  $('#run-custom-export').hidden = false;
  // A model that multiplies by no constant weight has no importance matrix to compute.
  $('#run-custom-imatrix').hidden = !info.nodes.some((n) => (n.op_type === 'MatMul' || n.op_type === 'Gemm') && n.quantizable);
  renderSizes();
}

// The op types, most used first; past a dozen, how many more (a model with subgraphs counts
// their nodes too, and silero-vad has 28 op types).
function opsSummary(ops) {
  const shown = ops.length > 14 ? ops.slice(0, 12) : ops;
  return opsText(shown) + (shown.length < ops.length ? `, and ${ops.length - shown.length} more op types` : '');
}

// A size for an open dimension, from its name (batch 1, sequence 16, image sides 224, channels 3)
// or, unnamed, from its place in the shape (NCHW images: [1, 3, 224, 224]).
function defaultSize(name, axis, rank) {
  if (/batch|^(n|b|bs)$/i.test(name)) return 1;
  if (/seq|len|token|time|step/i.test(name)) return 16;
  if (/height|width|^(h|w)$|size|side/i.test(name)) return 224;
  if (/chan|^c$/i.test(name)) return 3;
  if (rank === 4 && axis === 1) return 3;
  if (rank === 4 && axis >= 2) return 224;
  if (rank === 3 && axis === 1) return 16;
  return 1;
}

// The open dimensions of the inputs that get random values: one field per name (a name means the
// same size wherever it appears), one per unnamed ('?') axis.
function openDims() {
  const dims = new Map();
  const plan = inputPlan();
  state.model.inputs.forEach((io) => {
    if (plan.arrays.has(io.name)) return; // a file gives it
    // The images give an image input's batch and channels; its height and width are asked for.
    const image = io.name === plan.image ? imageLayout(io) : null;
    (io.shape ?? []).forEach((d, axis) => {
      if (typeof d === 'number' || (image && axis !== image.h && axis !== image.w)) return;
      const key = d === '?' ? `${io.name}:${axis}` : d;
      if (!dims.has(key)) {
        const unnamed = image ? `${io.name}, ${axis === image.h ? 'height' : 'width'}` : `${io.name}, axis ${axis}`;
        dims.set(key, { key, label: d === '?' ? unnamed : d, size: defaultSize(d === '?' ? '' : d, axis, io.shape.length) });
      }
    });
  });
  return [...dims.values()];
}

function renderSizes() {
  const fields = $('#run-custom-size-fields');
  const previous = Object.fromEntries([...fields.querySelectorAll('input')].map((i) => [i.dataset.key, i.value]));
  const dims = state.model ? openDims() : [];
  fields.replaceChildren(...dims.map((d) => {
    const input = el('input', { type: 'number', min: 1, step: 1, value: previous[d.key] ?? d.size, 'data-key': d.key, inputmode: 'numeric' });
    input.onchange = () => compare();
    return el('label', {}, `${d.label} `, input);
  }));
  $('#run-custom-sizes').hidden = dims.length === 0;
  showImageSettings(state.model ? inputPlan().image : null);
}

// Most values one random input may hold (64 MB of f32), so a typo is an error, not a stalled tab.
const MAX_INPUT_VALUES = 1 << 24;

// The shape of every input that gets random values, from the size fields; throws a message
// naming the field that is wrong.
function randomShapes() {
  const sizes = {};
  for (const input of $('#run-custom-size-fields').querySelectorAll('input')) {
    const v = Number(input.value);
    if (!Number.isInteger(v) || v < 1 || v > 1e6) {
      throw new Error(`the size of '${input.parentElement.textContent.trim()}' must be a whole number from 1 to 1,000,000, not '${input.value}'`);
    }
    sizes[input.dataset.key] = v;
  }
  const shapes = {};
  const plan = inputPlan();
  state.model.inputs.forEach((io) => {
    if (plan.arrays.has(io.name) || !io.shape) return;
    // An image input's batch and channels come from the images (1 here: only the sides are read).
    const shape = io.shape.map((d, axis) => (typeof d === 'number' ? d : sizes[d === '?' ? `${io.name}:${axis}` : d] ?? 1));
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > MAX_INPUT_VALUES) {
      throw new Error(`input '${io.name}' [${shape.join(', ')}] would hold ${n.toLocaleString('en-US')} values; at most ${MAX_INPUT_VALUES.toLocaleString('en-US')}`);
    }
    shapes[io.name] = shape;
  });
  return shapes;
}

async function compare() {
  if (!state.model) return;
  // A run asked for while another job holds the worker (new files dropped, a setting changed)
  // runs when that job ends, on what is chosen then.
  if (state.busy) {
    state.again = true;
    return;
  }
  if (!$('#run-custom-scheme').value) {
    fail('#run-custom-error', 'The list of schemes is not there yet: the built-in model is still loading.');
    return;
  }
  setBusy(true);
  clearError('#run-custom-error');
  try {
    const config = JSON.parse($('#run-custom-scheme').value);
    // Mixed precision: every quantizable node but the ones kept in FP32.
    if (state.keep.size && config.kind !== 'fp32') {
      config.only_nodes = state.model.nodes.filter((n) => n.quantizable && !state.keep.has(n.name)).map((n) => n.name);
    }
    const shapes = randomShapes();
    // Copies of the files go over, so they can be reused with the next scheme.
    const [given, transfer] = givenInputs();
    const r = await runWorker.request('custom_compare', [config, given, shapes], { transfer });
    $('#run-custom-input').textContent = r.inputs.map((i) =>
      `${i.name} [${i.shape.join(', ')}]: ${i.source === 'random' ? i.label : i.source}`).join('; ');
    // "argmax agrees" means something only for classifier outputs ([classes], [batch, classes]).
    const classifier = r.outputs.some((o) => o.argmax_agreement !== null);
    $('#run-custom-argmax').hidden = !classifier;
    const body = $('#run-custom-table tbody');
    body.replaceChildren();
    for (const o of r.outputs) {
      const tr = body.insertRow();
      const m = o.metrics;
      for (const text of [o.name, `[${o.shape.join(', ')}]`, m ? m.max_abs_error.toPrecision(3) : '—',
        m ? m.mean_abs_error.toPrecision(3) : '—', m?.sqnr_db == null ? '—' : m.sqnr_db.toFixed(1),
        m ? m.cosine_similarity.toFixed(5) : '—', agreement(o.argmax_agreement), previewText(o)]) {
        tr.insertCell().textContent = text;
      }
      tr.cells[6].hidden = !classifier;
      tr.cells[7].className = 'run-text run-values';
    }
    $('#run-custom-table').hidden = false;
    renderLayers(r.layers, state.keep, undefined, r.layers_error);
    const runs = (n) => (n === 1 ? 'one run' : `median of ${n} runs`);
    $('#run-custom-latency').textContent = `Latency, one call on these inputs: FP32 ${formatMicros(r.fp32.micros)} ` +
      `(${runs(r.fp32.samples)}), ${formatBytes(r.fp32.bytes)}; ${r.quantized.description} ${formatMicros(r.quantized.micros)} ` +
      `(${runs(r.quantized.samples)}), ${formatBytes(r.quantized.bytes)}.`;
  } catch (err) {
    const input = state.data ? ` with ${dataLabel()}` : '';
    fail('#run-custom-error', `Running ${state.model.name}${input}: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

// One job at a time in the worker: both buttons wait for it.
function setBusy(busy) {
  state.busy = busy;
  if (!busy && state.again) {
    state.again = false;
    setTimeout(() => compare());
  }
  $('#run-custom-run').disabled = busy;
  $('#run-custom-export-go').disabled = busy;
  $('#run-custom-static-go').disabled = busy;
  $('#run-custom-nbits-go').disabled = busy || Boolean(nbitsChoice().why);
  $('#run-custom-half-fp16').disabled = busy;
  $('#run-custom-half-bf16').disabled = busy;
  $('#run-custom-layers-rerun').disabled = busy;
}

// "0.1235, -1.402, 3, … (256 values)": the first FP32 values, 4 significant digits.
const previewText = (o) => o.preview.map((v) => String(Number(v.toPrecision(4)))).join(', ') +
  (o.count > o.preview.length ? `, … (${o.count.toLocaleString('en-US')} values)` : '');

const agreement = (a) => (a === null || a === undefined ? '—' : a === 1 ? 'yes' : a === 0 ? 'no' : `${(100 * a).toFixed(1)}% of rows`);

// The model as ONNX Runtime's quantize_dynamic writes it, saved as a file; the worker runs that
// file against the FP32 model on the same inputs, and the line below the button says how close.
async function exportQuantized() {
  if (!state.model || state.busy) return;
  setBusy(true);
  clearError('#run-custom-error');
  const result = $('#run-custom-export-result');
  result.textContent = 'Quantizing…';
  const options = { weight_type: $('#run-custom-export-type').value, per_channel: $('#run-custom-export-channel').checked,
    reduce_range: $('#run-custom-export-reduce').checked, subgraphs: $('#run-custom-export-subgraphs').checked };
  try {
    const shapes = randomShapes();
    const [given, transfer] = givenInputs();
    const r = await runWorker.request('custom_export', [options, given, shapes], { transfer });
    const tag = `${options.weight_type}${options.per_channel ? '_per_channel' : ''}${options.reduce_range ? '_reduce_range' : ''}${options.subgraphs ? '_subgraphs' : ''}`;
    const name = `${state.model.name.replace(/\.onnx$/i, '')}.dynamic_${tag}.onnx`;
    saveBytes(r.bytes, name);
    const sqnr = r.outputs.map((o) => `${o.name} ${o.metrics?.sqnr_db == null ? '—' : `${o.metrics.sqnr_db.toFixed(1)} dB`}`).join(', ');
    const kept = r.kept.length ? ` Kept in float: ${r.kept.map(([node, why]) => `${node} (${why})`).join('; ')}.` : '';
    result.textContent = `${name}: ${formatBytes(r.bytes.length)} (the original ${formatBytes(state.model.bytes)}); ` +
      `${r.quantized.length} node${r.quantized.length === 1 ? '' : 's'} quantized` +
      `${r.quantized.length ? ` (${r.quantized.join(', ')})` : ''}. This file against FP32 on the inputs above, SQNR: ${sqnr}.${kept}`;
    document.body.dataset.onnxExported = name;
  } catch (err) {
    result.textContent = '';
    fail('#run-custom-error', `Quantizing ${state.model.name}: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

// The model as ONNX Runtime's quantize_static writes it (QDQ), calibrated in the worker on the
// dropped inputs (progress, Cancel), saved as a file; then that file run against FP32.
async function exportStatic() {
  if (!state.model || state.busy) return;
  setBusy(true);
  clearError('#run-custom-error');
  const result = $('#run-custom-static-result');
  result.textContent = '';
  const method = $('#run-custom-static-method').value;
  const options = { activation_type: $('#run-custom-static-act').value, per_channel: $('#run-custom-static-channel').checked,
    force_quantize_no_input_check: $('#run-custom-static-force').checked, method, percentile: Number($('#run-custom-static-percentile').value), bins: Number($('#run-custom-static-bins').value),
    symmetric: $('#run-custom-static-symmetric').checked };
  try {
    // A blank or fractional field is said here; the range checks are the calibration's own.
    if (method !== 'minmax' && (!Number.isInteger(options.bins) || $('#run-custom-static-bins').value === '')) {
      throw new Error('calibration: the bins must be a whole number');
    }
    if (method === 'percentile' && $('#run-custom-static-percentile').value === '') throw new Error('calibration: give a percentile in (0, 100]');
    const shapes = randomShapes();
    const [given, transfer] = givenInputs();
    const r = await withProgress($('#run-custom-static-progress'),
      (onProgress) => runWorker.start('custom_static', [options, given, shapes, poolWorkers()], { onProgress, transfer }),
      'Calibrating and quantizing');
    if (!r) {
      result.textContent = 'Static quantization cancelled.';
      return;
    }
    const tag = `${options.activation_type === 'uint8' ? 'u8' : 's8'}${options.per_channel ? '_per_channel' : ''}` +
      `${options.force_quantize_no_input_check ? '_force' : ''}${method === 'minmax' ? '' : `_${method}`}`;
    const name = `${state.model.name.replace(/\.onnx$/i, '')}.qdq_${tag}.onnx`;
    // Saved at once; then the worker runs it against FP32 (custom_static_check) for the SQNR.
    saveBytes(r.bytes, name);
    const kept = r.kept.length ? ` Kept in float: ${r.kept.map(([node, why]) => `${node} (${why})`).join('; ')}.` : '';
    const made = `${name}: ${formatBytes(r.bytes.length)} (FP32 ${formatBytes(state.model.bytes)}); ${r.calibrated} tensors ` +
      `calibrated (${calibrationText(options)}) on ${r.source ?? dataLabel()}; ${r.quantized.length} node${r.quantized.length === 1 ? '' : 's'} quantized` +
      `${r.quantized.length ? ` (${r.quantized.join(', ')})` : ''}.`;
    const on = r.source ? 'those digits' : 'the inputs above';
    const pool = r.workers > 1 ? ` The histograms on ${r.workers} workers.` : '';
    result.textContent = `${made}${kept} ${staticSecondsText(r.seconds)}${pool} Running it against FP32 on ${on}…`;
    const check = await withProgress($('#run-custom-static-progress'),
      (onProgress) => runWorker.start('custom_static_check', [], { onProgress }), 'Running the file against FP32');
    const seconds = check ? { ...r.seconds, checking: check.seconds } : r.seconds;
    const sqnr = check?.outputs.map((o) => `${o.name} ${o.metrics?.sqnr_db == null ? '—' : `${o.metrics.sqnr_db.toFixed(1)} dB`}`).join(', ');
    result.textContent = `${made} ${check ? `This file against FP32 on ${on}, SQNR: ${sqnr}.` : 'Its run against FP32 was cancelled.'}${kept}` +
      ` ${staticSecondsText(seconds)}${pool}`;
    document.body.dataset.onnxStatic = name;
    document.body.dataset.onnxStaticWorkers = String(r.workers);
    document.body.dataset.onnxStaticSeconds = JSON.stringify(seconds);
  } catch (err) {
    fail('#run-custom-error', `Quantizing ${state.model.name} statically: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

// "In 4.2 s: calibration runs 2.1 s, …": where the static quantization's time went (the worker's
// phases: custom-ops.js custom_static, and custom_static_check's `checking` after the download).
function staticSecondsText(seconds) {
  const phases = [['modules', 'loading modules'], ['calibration_model', 'listing the tensors to calibrate'], ['calibration_run', 'calibration run'],
    ['calibration_pool', 'calibration runs with their histograms'],
    ['histograms', 'histograms'], ['ranges', 'ranges'], ['writing', 'writing the file'], ['checking', 'running it against FP32']];
  const total = Object.values(seconds).reduce((a, b) => a + b, 0);
  const s = (v) => `${v.toFixed(v < 10 ? 2 : 1)} s`;
  return `In ${s(total)}: ${phases.filter(([k]) => k in seconds).map(([k, text]) => `${text} ${s(seconds[k])}`).join(', ')}.`;
}

// The weight-only button says the width chosen; ONNX Runtime writes QDQ (blocked DequantizeLinear)
// at 4 bits only, so 2 and 8 bits are MatMulNBits alone.
function nbitsChoice() {
  const method = $('#run-custom-nbits-method').value;
  const bits = Number($('#run-custom-nbits-bits').value);
  const format = $('#run-custom-nbits-format').value;
  const symmetric = $('#run-custom-nbits-symmetric').checked;
  const gather = $('#run-custom-nbits-gather').checked;
  const actorder = $('#run-custom-nbits-actorder').checked;
  const gptq = method === 'gptq' || method === 'gptq_feedback';
  let why = '';
  if (bits !== 4 && format === 'qdq') why = `${bits}-bit weights are written as MatMulNBits only: ONNX Runtime's QDQ form is blocked int4`;
  else if (method === 'hqq' && format === 'qdq') why = 'HQQ weights are written as MatMulNBits only, as ONNX Runtime writes them';
  else if (method === 'hqq' && bits === 8) why = "HQQ takes 2 or 4 bits: ONNX Runtime's MatMulNBits does not run 8-bit weights with float zero points";
  else if (method === 'hqq' && symmetric) why = "HQQ fits each block's zero point: untick symmetric";
  else if (gather && (bits !== 4 || format === 'qdq' || method !== 'rtn')) {
    why = 'ONNX Runtime quantizes Gather tables to 4-bit GatherBlockQuantized with round to nearest only';
  } else if (gptq && (bits !== 4 || format === 'qdq')) {
    why = "ONNX Runtime's GPTQ writes 4-bit MatMulNBits only";
  } else if (gptq && !state.data && !mnistShaped()) {
    why = 'GPTQ needs calibration data: drop .npy/.npz arrays or images of real inputs first';
  } else if (actorder && !gptq) why = "act-order is GPTQ's option";
  return { method, bits, format, symmetric, gather, actorder, why };
}

// A model of MNIST's [N, 784] pixels alone calibrates on the built-in calibration digits when no
// input was dropped (as static quantization does).
function mnistShaped() {
  const io = state.model?.inputs ?? [];
  return io.length === 1 && io[0].shape?.length === 2 && io[0].shape[1] === 784;
}

function showNbitsChoice() {
  const { bits, why } = nbitsChoice();
  $('#run-custom-nbits-go').textContent = `Download weight-only INT${bits} .onnx`;
  $('#run-custom-nbits-why').textContent = why;
  $('#run-custom-nbits-go').disabled = state.busy || Boolean(why);
}

// The model with weight-only 2/4/8-bit MatMuls as ONNX Runtime's MatMulNBitsQuantizer writes it,
// quantized in the worker (progress, Cancel), saved as a file; then that file run against FP32.
async function exportNbits() {
  if (!state.model || state.busy) return;
  setBusy(true);
  clearError('#run-custom-error');
  const result = $('#run-custom-nbits-result');
  result.textContent = '';
  const { method, bits, format, symmetric, gather, actorder } = nbitsChoice();
  const options = { method, bits, block_size: Number($('#run-custom-nbits-block').value), symmetric, format, gather };
  if (method === 'gptq' || method === 'gptq_feedback') {
    try {
      await exportGptq({ block_size: options.block_size, symmetric, actorder, error_feedback: method === 'gptq_feedback' }, result);
    } finally {
      setBusy(false);
    }
    return;
  }
  try {
    const shapes = randomShapes();
    const [given, transfer] = givenInputs();
    const r = await withProgress($('#run-custom-nbits-progress'),
      (onProgress) => runWorker.start('custom_nbits', [options, given, shapes, poolWorkers()], { onProgress, transfer }),
      `Quantizing weights to ${bits} bits`);
    if (!r) {
      result.textContent = `Weight-only INT${bits} quantization cancelled.`;
      return;
    }
    const tag = `${format === 'qdq' ? 'qdq_int4' : `matmulnbits${bits === 4 ? '' : `${bits}`}`}${method === 'hqq' ? '_hqq' : ''}` +
      `_b${options.block_size}${options.symmetric ? '_sym' : ''}${gather ? '_gather' : ''}`;
    const name = `${state.model.name.replace(/\.onnx$/i, '')}.${tag}.onnx`;
    saveBytes(r.bytes, name);
    const sqnr = r.outputs.map((o) => `${o.name} ${o.metrics?.sqnr_db == null ? '—' : `${o.metrics.sqnr_db.toFixed(1)} dB`}`).join(', ');
    const kept = r.kept.length ? ` Kept in float: ${r.kept.map(([node, why]) => `${node} (${why})`).join('; ')}.` : '';
    const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
    const gathers = r.quantized.filter((q) => q.startsWith('Gather ')).length;
    const nodes = count(r.quantized.length - gathers, 'MatMul') + (gathers ? ` and ${count(gathers, 'Gather table')}` : '');
    result.textContent = `${name}: ${formatBytes(r.bytes.length)} (FP32 file ${formatBytes(r.source_bytes)}, ` +
      `${Math.round((100 * r.bytes.length) / r.source_bytes)}%); ${nodes} ` +
      `with ${bits}-bit weights in blocks of ${options.block_size}` +
      `${method === 'hqq' ? ", HQQ's float zero points" : options.symmetric ? ', symmetric' : ', with zero points'} ` +
      `(${r.quantized.join(', ')}). This file against FP32 on the inputs above, SQNR: ${sqnr}.${kept}` +
      ` Quantized in ${r.seconds.toFixed(2)} s on ${r.workers} worker${r.workers === 1 ? '' : 's'}.`;
    document.body.dataset.onnxNbits = name;
    document.body.dataset.onnxNbitsWorkers = String(r.workers);
    document.body.dataset.onnxNbitsEncodeSeconds = String(r.encode_seconds);
  } catch (err) {
    fail('#run-custom-error', `Quantizing ${state.model.name} to weight-only INT${bits}: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

// "fc1 0.0123 (round to nearest 0.0121)": each MatMul's output error on the calibration rows.
function gptqErrors(errors) {
  const f = (e) => (e == null ? 'not computed' : e.toPrecision(3));
  return errors.map((e) => `${e.matmul.replace(/^MatMul /, '')} ${f(e.gptq)} (round to nearest ${f(e.rtn)})`).join(', ');
}

// The model with GPTQ's 4-bit MatMulNBits as ONNX Runtime's GPTQ writes it: calibrated on the inputs
// dropped (or the built-in digits), quantized in the worker (progress, Cancel), saved, then run
// against FP32. Called by exportNbits, which holds the busy state.
async function exportGptq(options, result) {
  try {
    const shapes = randomShapes();
    const [given, transfer] = givenInputs();
    const r = await withProgress($('#run-custom-nbits-progress'),
      (onProgress) => runWorker.start('custom_gptq', [options, given, shapes, poolWorkers()], { onProgress, transfer }),
      'Quantizing weights with GPTQ');
    if (!r) {
      result.textContent = 'GPTQ quantization cancelled.';
      return;
    }
    const name = `${state.model.name.replace(/\.onnx$/i, '')}.matmulnbits_gptq${options.error_feedback ? '_feedback' : ''}` +
      `_b${options.block_size}${options.symmetric ? '_sym' : ''}${options.actorder ? '_actorder' : ''}.onnx`;
    saveBytes(r.bytes, name);
    const sqnr = r.outputs.map((o) => `${o.name} ${o.metrics?.sqnr_db == null ? '—' : `${o.metrics.sqnr_db.toFixed(1)} dB`}`).join(', ');
    const kept = r.kept.length ? ` Kept in float: ${r.kept.map(([node, why]) => `${node} (${why})`).join('; ')}.` : '';
    result.textContent = `${name}: ${formatBytes(r.bytes.length)} (FP32 file ${formatBytes(r.source_bytes)}, ` +
      `${Math.round((100 * r.bytes.length) / r.source_bytes)}%); ${r.quantized.length} MatMul${r.quantized.length === 1 ? '' : 's'} ` +
      `with GPTQ's 4-bit weights${options.error_feedback ? ' (error fed forward, as the paper does)' : " (as ONNX Runtime 1.32's, no error fed forward)"} ` +
      `in blocks of ${options.block_size}${options.symmetric ? ', symmetric' : ', with zero points'}, ` +
      `calibrated on ${r.source ?? dataLabel()}. Output error on those rows, ‖(W−Ŵ)ᵀx‖²/‖Wᵀx‖²: ${gptqErrors(r.errors)}. ` +
      `This file against FP32 on the calibration rows, SQNR: ${sqnr}.${kept} Quantized in ${r.seconds.toFixed(2)} s ` +
      `on ${r.workers} worker${r.workers === 1 ? '' : 's'}.`;
    document.body.dataset.onnxNbits = name;
    document.body.dataset.onnxNbitsWorkers = String(r.workers);
  } catch (err) {
    fail('#run-custom-error', `Quantizing ${state.model.name} with GPTQ: ${err.message}`);
  }
}

// The model with half-precision weights, saved as a file: converted in the worker (progress,
// Cancel), then run by the engine against the FP32 model on the inputs above.
async function exportHalf(precision) {
  if (!state.model || state.busy) return;
  setBusy(true);
  clearError('#run-custom-error');
  const result = $('#run-custom-half-result');
  result.textContent = '';
  const label = precision === 'fp16' ? 'FP16' : 'BF16';
  try {
    const shapes = randomShapes();
    const [given, transfer] = givenInputs();
    const r = await withProgress($('#run-custom-half-progress'),
      (onProgress) => runWorker.start('custom_half', [precision, given, shapes], { onProgress, transfer }),
      `Converting to ${label}`);
    if (!r) {
      result.textContent = `${label} conversion cancelled.`;
      return;
    }
    const name = `${state.model.name.replace(/\.onnx$/i, '')}.${precision}.onnx`;
    saveBytes(r.bytes, name);
    result.textContent = halfLine(name, label, r);
    document.body.dataset.onnxHalf = name;
  } catch (err) {
    fail('#run-custom-error', `Converting ${state.model.name} to ${label}: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

// "model.fp16.onnx: 176 KB (FP32 351 KB, 50%); 6 tensors (89,610 values) in FP16, 2 Casts added; …"
function halfLine(name, label, r) {
  const { report: h } = r;
  const parts = [`${name}: ${formatBytes(r.bytes.length)} (FP32 file ${formatBytes(r.source_bytes)}, ` +
    `${Math.round((100 * r.bytes.length) / r.source_bytes)}%); ${h.tensors} tensor${h.tensors === 1 ? '' : 's'} ` +
    `(${h.values.toLocaleString('en-US')} values) in ${label}, ${h.casts} Cast node${h.casts === 1 ? '' : 's'} added.`];
  if (h.clamped_small || h.clamped_large) {
    parts.push(`Clamped as onnxconverter_common clamps: ${h.clamped_small} value${h.clamped_small === 1 ? '' : 's'} 0 < |x| < 1e-7 ` +
      `raised to ±1e-7, ${h.clamped_large} |x| > 1e4 lowered to ±1e4.`);
  }
  if (h.kept_float.length) parts.push(`Kept in float32: ${h.kept_float.join(', ')}.`);
  if (r.outputs) {
    const err = r.outputs.map((o) => `${o.name} ${o.metrics?.sqnr_db == null ? '—' : `${o.metrics.sqnr_db.toFixed(1)} dB`}` +
      `${o.metrics?.max_abs_error == null ? '' : ` (max |error| ${Number(o.metrics.max_abs_error.toPrecision(2))})`}`).join(', ');
    parts.push(`This file against FP32 on the inputs above, SQNR: ${err}.`);
    const broken = r.outputs.filter((o) => !Number.isFinite(o.metrics?.max_abs_error));
    if (broken.length) {
      parts.push(`Warning: ${broken.map((o) => o.name).join(', ')} ${broken.length === 1 ? 'is' : 'are'} NaN or infinite in ${label}: ` +
        `values inside the model exceed ${label === 'FP16' ? "FP16's largest, 65504" : 'the type\'s range'} (the FP32 model's are finite).`);
    }
  } else {
    parts.push(`The engine could not run this file: ${r.run_error}`);
  }
  return parts.join(' ');
}

// The percentile and bins fields belong to the histogram calibrations; the bins default to the
// chosen method's (create_calibrator: Entropy 128, the others 2048) when the method changes.
function showCalibrationOptions(methodChanged) {
  const method = $('#run-custom-static-method').value;
  $('#run-custom-static-percentile-row').hidden = method !== 'percentile';
  $('#run-custom-static-bins-row').hidden = method === 'minmax';
  if (methodChanged) $('#run-custom-static-bins').value = method === 'entropy' ? '128' : '2048';
}

// "percentile 99.999 of |x|, 2048 bins": the calibration a file was made with.
function calibrationText(o) {
  if (o.method === 'minmax') return 'MinMax';
  const bins = `${o.bins} bins`;
  if (o.method === 'percentile') return `Percentile ${o.percentile} of ${o.symmetric ? '|x|' : 'x'}, ${bins}`;
  return `${o.method === 'entropy' ? 'Entropy' : 'Distribution'}, ${bins}`;
}
