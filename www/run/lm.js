// The Run view's "Language model" section: a small llama model (one of two built-in sizes trained
// on Shakespeare with the same data and recipe: tests/fixtures/tiny_lm/tiny-lm-f32.gguf and
// tests/fixtures/tiny_lm_large/tiny-lm-large-f16.gguf) and its Q8_0, Q4_0 and Q4_K_M copies
// continue a prompt side by side, tokens appearing as they come, and are scored by perplexity on
// held-out Macbeth as llama-perplexity scores them; the perplexity runs of both sizes are set side
// by side (does the larger model lose less?). A person's own small llama GGUF can be dropped instead. All model work is in run/lm-worker.js (www/pkg-lm),
// started the first time the section is used; this module asks for a few tokens or one chunk at
// a time and draws, so Cancel is not asking for more.
import { WorkerClient } from '../client.js';
import { $, el, formatBytes, fail, clearError, wireDropZone } from './ui.js';
import { saveBytes } from '../shared/dom.js';

// Tokens asked of each type per request: small enough to stream, large enough to keep the
// per-request overhead out of tokens/s.
const TOKENS_PER_REQUEST = 4;
// llama-perplexity's settings for reference.json's passage figures: -c 128 --chunks 8.
const PPL_CTX = 128;
const PPL_CHUNKS = 8;
const DEFAULT_PROMPT = "MACBETH.\nIf it were done when 'tis done, then 'twere well\n";
// llama-imatrix's settings for imatrix.json (make_tiny_lm_imatrix.py): -c 128 --chunks 8.
const IMATRIX_CTX = 128;
const IMATRIX_CHUNKS = 8;
// llama-quantize file types the page can add, cheapest last; the IQ2 mixes and Q2_K_S need an
// importance matrix, as in llama-quantize.
const ADDABLE_TYPES = [
  'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_K_S', 'Q4_1', 'Q4_0', 'IQ4_XS', 'IQ4_NL',
  'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K', 'Q2_K_S', 'IQ2_XS', 'F16', 'BF16',
];

// GPTQ's defaults: make_tiny_lm_gptq.py's settings, for which gptq.json has llama.cpp's figure.
const GPTQ_CTX = 128;
const GPTQ_CHUNKS = 16;
// AWQ runs every block 20 times per search over all calibration tokens: fewer chunks by default.
const AWQ_CHUNKS = 4;

// The most memory a model may take in the section: it is read whole into the worker's wasm memory
// (4 GiB at most in a browser tab), where its weights as the kernels keep them (and for F32, its
// quantized copies) sit beside it. A bigger file is refused before being read; then the worker
// adds up, from the file's header alone, what loading it would hold (Q4_0 unpacked to Q8_0 codes
// doubles its weights; so are Q5_0, Q4_1, Q5_1 and IQ4_NL; the K-quants and IQ4_XS take a byte per
// weight, 1.4–3.3× their file; a type without a kernel is held as F32, 32 / bits-per-weight times its
// file), and a model over the limit is refused before being read too.
const MAX_FILE_BYTES = 1.5 * 2 ** 30;

// The built-in models (scripts/fixtures/make_tiny_lm.py --size small | large), as the choice
// names them before one is loaded (tests/e2e/lm-sizes.test.mjs holds the counts to the fixtures').
const BUILTIN_SIZES = {
  small: 'small: 1.38 M parameters, F32, 5.5 MB',
  large: 'large: 4.98 M parameters, F16, 10 MB',
};

const MARKUP = `
  <h2 id="run-lm-title">Language model: F32 or F16 against its quantized copies</h2>
  <p class="hint">A llama-architecture model trained on Shakespeare (Macbeth held out), in two sizes made with the
    same data, tokenizer and training (1,000 steps each), run in this tab as llama.cpp runs it, with its quantized copies made here byte for
    byte as <code>llama-quantize</code> makes them. Loading fetches the model and a 0.4 MB module the first time.</p>
  <div class="run-row">
    <label for="lm-size">Built-in model</label>
    <select id="lm-size">${Object.entries(BUILTIN_SIZES).map(([k, label]) => `<option value="${k}">${label}</option>`).join('')}</select>
    <progress id="lm-load-progress" max="1" value="0" hidden></progress>
  </div>
  <p class="hint" id="lm-status" aria-live="polite">Not loaded yet: Generate or Perplexity loads it.</p>
  <div class="run-row" id="lm-build-row" hidden>
    <span id="lm-build" class="hint"></span>
    <button id="lm-build-check" type="button" hidden>Check it against the plain build</button>
    <span id="lm-build-result" class="hint" aria-live="polite" hidden></span>
  </div>
  <div id="lm-error" class="run-error" role="alert" hidden></div>
  <div class="lm-prompt-row">
    <label for="lm-prompt">Prompt</label>
    <textarea id="lm-prompt" rows="3" spellcheck="false"></textarea>
  </div>
  <div class="run-row lm-controls">
    <label>tokens <input id="lm-tokens" type="number" value="60" min="1" max="512" inputmode="numeric"></label>
    <label title="empty: greedy (the most likely token each time, as llama.cpp's greedy sampler); a number: seeded sampling">seed
      <input id="lm-seed" type="number" min="0" placeholder="greedy" inputmode="numeric"></label>
    <label>temperature <input id="lm-temperature" type="number" value="0.8" min="0.01" step="0.05"></label>
    <label title="sample from the k most likely tokens; 0 keeps all">top-k <input id="lm-topk" type="number" value="40" min="0"></label>
    <button id="lm-generate" type="button">Generate</button>
    <button id="lm-cancel" type="button" disabled>Cancel</button>
  </div>
  <div id="lm-outputs" class="lm-outputs" aria-live="polite"></div>
  <h3 id="lm-ppl-title">Perplexity on held-out Macbeth</h3>
  <p class="hint">As <code>llama-perplexity -c ${PPL_CTX} --chunks ${PPL_CHUNKS}</code> computes it on the held-out passage
    (tests/fixtures/tiny_lm/heldout.txt): each chunk of ${PPL_CTX} tokens scored on its second half. Lower is better.
    The KL divergence (<code>--kl-divergence</code>) says how far each type's next-token distribution is from the first
    type's at the same positions: perplexity can even improve by chance, the divergence only grows with the damage.</p>
  <div class="run-row">
    <button id="lm-ppl" type="button">Perplexity on held-out Macbeth</button>
    <progress id="lm-ppl-progress" max="1" value="0" hidden></progress>
    <span id="lm-ppl-status" class="hint" aria-live="polite"></span>
  </div>
  <div class="table-wrap">
    <table id="lm-ppl-table" hidden>
      <thead><tr><th scope="col">type</th><th scope="col">perplexity</th><th scope="col" title="llama.cpp's figure for llama-quantize's file of the same type; for TYPE + imatrix, made with llama-imatrix's matrix of the same calibration text">llama-perplexity</th>
        <th scope="col" title="mean KL divergence of the next-token distribution from the first type's, as llama-perplexity --kl-divergence">KLD mean</th>
        <th scope="col" title="99th percentile of the per-position KL divergence">KLD 99%</th>
        <th scope="col" title="positions whose most likely next token is the first type's">same top token</th>
        <th scope="col">bits / weight</th><th scope="col">file size</th>
        <th scope="col" title="the rule of thumb people quote: parameters × bits per weight / 8 × 1.2 (weights plus ~20 % for activations and cache)">memory (rule of thumb)</th>
        <th scope="col" title="tokens evaluated per second during this perplexity run (this tab, one thread)">tokens/s</th>
        <th scope="col">matrices</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <figure id="lm-ppl-chart" class="lm-chart" hidden>
    <svg viewBox="0 0 640 300" role="img" aria-labelledby="lm-ppl-chart-caption"></svg>
    <figcaption id="lm-ppl-chart-caption" class="hint">Perplexity against bits per weight (log scale), one point per type:
      the lower left is better.</figcaption>
  </figure>
  <h3 id="lm-sizes-title">Do larger models quantize better?</h3>
  <p class="hint" id="lm-sizes-hint">Often said of LLMs: the bigger the model, the less a given type costs it. Measured here:
    run Perplexity with each built-in model (add the same types to both), and each type's increase over its own
    unquantized model is set side by side. Both sizes trained on the same tokens for the same steps: less-trained weights
    lose less to rounding, so a comparison between models trained unequally would measure training, not size.</p>
  <div class="table-wrap"><table id="lm-sizes-table" hidden>
    <caption class="hint">Perplexity on the held-out passage, and its increase over the same size's unquantized model.</caption>
    <thead></thead><tbody></tbody></table></div>
  <h3 id="lm-imatrix-title">Importance matrix and more types</h3>
  <p class="hint">What <code>llama-imatrix -c ${IMATRIX_CTX} --chunks ${IMATRIX_CHUNKS}</code> computes: the mean of x² over
    calibration text for every input column of every layer matrix — the columns whose rounding error matters most. Here the
    text is a passage of Hamlet (tests/fixtures/tiny_lm/calibration.txt; Macbeth stays held out). Add a type to run
    <code>llama-quantize</code>'s mix of it beside the others, and with the matrix once it is computed ("TYPE + imatrix"),
    then press Perplexity to see what the matrix changes.</p>
  <div class="run-row">
    <button id="lm-imatrix" type="button">Compute importance matrix</button>
    <progress id="lm-imatrix-progress" max="1" value="0" hidden></progress>
    <span id="lm-imatrix-status" class="hint" aria-live="polite">None computed yet.</span>
    <button id="lm-imatrix-save" type="button" disabled>Save imatrix.gguf</button>
  </div>
  <div class="run-row">
    <label for="lm-add-type">Type</label>
    <select id="lm-add-type">${ADDABLE_TYPES.map((t) => `<option>${t}</option>`).join('')}</select>
    <button id="lm-add" type="button">Add this type</button>
    <span id="lm-add-status" class="hint" aria-live="polite"></span>
  </div>
  <h3 id="lm-gptq-title">GPTQ against round-to-nearest</h3>
  <p class="hint">GPTQ (Frantar et al., 2022) rounds a matrix one column at a time and pushes each rounding error onto the
    columns not yet rounded, weighted by the inverse Hessian of the matrix's inputs on calibration text, so that the layer's
    <em>output</em> stays close rather than each weight. Layer by layer, each calibrated on what the quantized layers before it
    give it (the IST-DASLab reference, true-sequential; 1 % dampening). Calibration: Hamlet
    (tests/fixtures/tiny_lm/calibration-gptq.txt; Macbeth stays held out). <strong>Q4_0</strong> writes llama.cpp's Q4_0 file
    with GPTQ's blocks — compare it with the Q4_0 row, which is round-to-nearest; <strong>int4 / int3</strong> use the papers'
    grid (min-max with a zero point per group) and add round-to-nearest on the same grid ("RTN …"). Then press Perplexity.</p>
  <div class="run-row">
    <label for="lm-gptq-grid">grid</label>
    <select id="lm-gptq-grid"><option value="q4_0">Q4_0 (llama.cpp, groups of 32)</option><option value="int4">int4</option>
      <option value="int3">int3</option></select>
    <label for="lm-gptq-group">group</label>
    <select id="lm-gptq-group" disabled><option>32</option><option>64</option><option selected>128</option>
      <option value="0">a row</option></select>
    <label title="quantize the columns with the largest Hessian diagonal first (static groups keep each group's columns together)">
      <input id="lm-gptq-actorder" type="checkbox"> act-order</label>
    <label>chunks <input id="lm-gptq-chunks" type="number" value="${GPTQ_CHUNKS}" min="1" max="34" inputmode="numeric"></label>
    <button id="lm-gptq" type="button">Run GPTQ</button>
    <progress id="lm-gptq-progress" max="1" value="0" hidden></progress>
    <span id="lm-gptq-status" class="hint" aria-live="polite"></span>
    <button id="lm-gptq-save" type="button" disabled>Save GPTQ .gguf</button>
  </div>
  <div class="table-wrap"><table id="lm-gptq-table" hidden>
    <caption class="hint">Each matrix's output error on the calibration tokens, ‖(W − Q)X‖² / ‖WX‖², after round-to-nearest
      and after GPTQ on the same grid; the line is the error each column's rounding leaves for the columns after it
      (GPTQ's per-column loss), columns left to right.</caption>
    <thead><tr><th scope="col">matrix</th><th scope="col" class="num">RTN</th><th scope="col" class="num">GPTQ</th>
      <th scope="col" class="num">GPTQ / RTN</th><th scope="col">error pushed onward, per column</th></tr></thead>
    <tbody></tbody></table></div>
  <h3 id="lm-awq-title">AWQ against round-to-nearest</h3>
  <p class="hint">AWQ (Lin et al., 2023) protects the weights that meet large activations: for each group of matrices
    sharing an input it tries scales s = (mean |x| per input channel)<sup>α</sup> for α = 0, 0.05 … 0.95, multiplies
    the matrices' columns by s and divides the operation before them (the RMSNorm, or the previous matrix's rows) by s —
    the same function — then keeps the α whose rounded block gives the output closest to the original's; then it clips
    each matrix's groups to the range of least output error (llm-awq's <code>auto_scale</code> and
    <code>auto_clip</code>; each layer calibrated on the full-precision model, as the reference). <strong>Q4_0</strong>
    searches with Q4_0's rounding and adds llama-quantize's Q4_0 file of the scaled model — llama.cpp's own AWQ route; compare
    it with the Q4_0 row. <strong>int4 g128</strong> is llm-awq's grid (zero point per 128 columns) with "RTN …" beside
    it. Each search's output error against α is drawn below (the dot: the α kept).</p>
  <div class="run-row">
    <label for="lm-awq-grid">grid</label>
    <select id="lm-awq-grid"><option value="q4_0">Q4_0 (llama.cpp, groups of 32)</option>
      <option value="awq">int4 g128 (llm-awq)</option></select>
    <label><input id="lm-awq-clip" type="checkbox" checked> clip search</label>
    <label>chunks <input id="lm-awq-chunks" type="number" value="${AWQ_CHUNKS}" min="1" max="34" inputmode="numeric"></label>
    <button id="lm-awq" type="button">Run AWQ</button>
    <progress id="lm-awq-progress" max="1" value="0" hidden></progress>
    <span id="lm-awq-status" class="hint" aria-live="polite"></span>
    <button id="lm-awq-save" type="button" disabled>Save AWQ .gguf</button>
  </div>
  <div class="table-wrap"><table id="lm-awq-table" hidden>
    <caption class="hint">Each search: the block's output error on the calibration tokens with its matrices rounded, at
      α = 0 (no scaling: round-to-nearest) and at the α kept, and against α from 0 to 0.95.</caption>
    <thead><tr><th scope="col">layer · matrices</th><th scope="col" class="num">α kept</th>
      <th scope="col" class="num">error at α = 0</th><th scope="col" class="num">at α kept</th>
      <th scope="col">error against α</th></tr></thead>
    <tbody></tbody></table></div>
  <h3 id="lm-sens-title">Which matrices hurt most</h3>
  <p class="hint">Every tensor in Q8_0 (nearly lossless) but one kind of matrix in a low type — in every layer, or in one
    layer — as <code>llama-quantize --pure --tensor-type PATTERN=TYPE … Q8_0</code> makes it, each scored on held-out Macbeth
    (${PPL_CHUNKS} chunks) by its KL divergence from F32. The kinds that hurt most are the ones llama.cpp's mixes keep at more
    bits (attn_v, ffn_down).</p>
  <div class="run-row">
    <label for="lm-sens-type">low type</label>
    <select id="lm-sens-type">${['Q2_K', 'Q3_K', 'Q4_0', 'Q4_K', 'IQ4_XS'].map((t) => `<option>${t}</option>`).join('')}</select>
    <label><input id="lm-sens-layers" type="checkbox" checked> each layer too</label>
    <button id="lm-sens" type="button">Find the sensitive matrices</button>
    <progress id="lm-sens-progress" max="1" value="0" hidden></progress>
    <span id="lm-sens-status" class="hint" aria-live="polite"></span>
  </div>
  <div class="table-wrap"><table id="lm-sens-table" hidden><thead></thead><tbody></tbody></table></div>
  <h3>Your own model</h3>
  <div id="lm-drop" class="run-drop" tabindex="0" role="button" aria-describedby="lm-drop-help">
    <p><strong>Drop a small llama, qwen2, qwen3 or Gemma GGUF here</strong></p>
    <p id="lm-drop-help" class="hint">or press Enter to choose one (SentencePiece tokenizers, and byte-level BPE with GPT-2's,
      Llama 3's, Qwen2's or SmolLM's pre-tokenizer; up to ${(MAX_FILE_BYTES / 2 ** 30).toFixed(1)} GiB). An F32 or F16 model gets its Q8_0, Q4_0
      and Q4_K_M copies; a quantized one runs as it is. Nothing is uploaded.</p>
    <input id="lm-file" type="file" accept=".gguf" hidden>
  </div>
  <div class="run-row"><button id="lm-builtin" type="button" hidden>Back to the built-in model</button></div>
`;

const state = {
  client: null,
  model: null, // the worker's summary of the loaded model
  loading: null, // Promise of the summary
  run: 0, // numbers the generation / perplexity run in progress; Cancel or a new run changes it
  busy: false,
  imatrix: null, // {entries, chunks} of the importance matrix the worker holds for this model
  gptqFile: null, // the name of the last GPTQ variant made, whose file Save GPTQ .gguf gives
  awqFile: null, // the same for AWQ
  sizeRuns: {}, // by built-in size, its last completed perplexity run: {parameters, ppl: [{name, ppl}]}, first unquantized
};

function worker() {
  state.client ??= new WorkerClient(new URL('./lm-worker.js', import.meta.url));
  return state.client;
}

// A request; a trap in the module (memory exhausted) replaces the worker and forgets the model.
async function request(op, args, options) {
  try {
    return await worker().request(op, args, options);
  } catch (err) {
    if (err.fatal) {
      state.client?.terminate();
      state.client = null;
      state.model = null;
      state.loading = null;
      err.message += ' (the language model worker was restarted)';
    }
    throw err;
  }
}

export function mountLanguageModel(section) {
  section.innerHTML = MARKUP;
  $('#lm-prompt').value = DEFAULT_PROMPT;
  $('#lm-generate').onclick = () => generate().catch(showFailure);
  $('#lm-ppl').onclick = () => perplexity().catch(showFailure);
  $('#lm-imatrix').onclick = () => computeImatrix().catch(showFailure);
  $('#lm-imatrix-save').onclick = () => saveImatrix().catch(showFailure);
  $('#lm-add').onclick = () => addType($('#lm-add-type').value).catch(showFailure);
  $('#lm-sens').onclick = () => sensitivity().catch(showFailure);
  $('#lm-gptq').onclick = () => Promise.resolve().then(runGptq).catch(showFailure);
  $('#lm-gptq-save').onclick = () => saveVariantFile(state.gptqFile).catch(showFailure);
  $('#lm-awq').onclick = () => Promise.resolve().then(runAwq).catch(showFailure);
  $('#lm-awq-save').onclick = () => saveVariantFile(state.awqFile).catch(showFailure);
  $('#lm-gptq-grid').onchange = () => { $('#lm-gptq-group').disabled = $('#lm-gptq-grid').value === 'q4_0'; };
  $('#lm-build-check').onclick = () => checkBuild().catch(showFailure);
  $('#lm-cancel').onclick = () => { state.run++; };
  $('#lm-builtin').onclick = () => { state.loading = null; ensureModel().catch(showFailure); };
  $('#lm-size').onchange = () => { state.loading = null; ensureModel().catch(showFailure); };
  wireDropZone($('#lm-drop'), $('#lm-file'), (files) => { if (files[0]) loadFile(files[0]).catch(showFailure); });
}

function showFailure(err) {
  fail('#lm-error', err.message);
}

function setBusy(busy) {
  state.busy = busy;
  for (const id of ['#lm-generate', '#lm-ppl', '#lm-builtin', '#lm-size', '#lm-imatrix', '#lm-add', '#lm-sens', '#lm-gptq', '#lm-awq']) $(id).disabled = busy;
  $('#lm-imatrix-save').disabled = busy || !state.imatrix;
  $('#lm-gptq-save').disabled = busy || !state.gptqFile;
  $('#lm-awq-save').disabled = busy || !state.awqFile;
  $('#lm-drop').classList.toggle('disabled', busy);
  $('#lm-cancel').disabled = !busy;
}

function describe(model) {
  const types = model.variants.map((v) => v.name).join(', ');
  return `${model.builtin ? `Built-in ${model.size} model` : model.name}: ${model.architecture}, ${model.parameters.toLocaleString('en-US')} parameters, ` +
    `${model.n_layer} layers, n_embd ${model.n_embd}, ${model.n_head} heads (${model.n_head_kv} K/V), ` +
    `vocabulary ${model.n_vocab}, trained context ${model.n_ctx_train}. Running: ${types}.` +
    (model.warnings ?? []).map((w) => ` llama.cpp warns: ${w}.`).join('');
}

// Which module the worker chose (www/run/lm-worker.js): the relaxed-SIMD build where the browser
// has relaxed SIMD, its outputs promised identical to the plain build's.
async function showBuild() {
  const { build, relaxed_supported: supported } = await request('lm_build', []);
  $('#lm-build').textContent = build === 'relaxed'
    ? 'Module: relaxed SIMD (this browser supports it): Q4_K, Q5_K and Q2_K products from its int8 dot product, exact — outputs identical to the plain build\'s.'
    : `Module: SIMD128${supported ? ' (the relaxed-SIMD build did not load)' : ' (this browser has no relaxed SIMD)'}.`;
  $('#lm-build-check').hidden = build !== 'relaxed';
  $('#lm-build-row').hidden = false;
}

// The built-in small model and every type the relaxed kernels serve in both builds, one
// perplexity chunk each: every figure must be equal to the last bit.
const CHECK_CTX = 128;
async function checkBuild() {
  const button = $('#lm-build-check'), out = $('#lm-build-result');
  button.disabled = true;
  out.hidden = false;
  out.textContent = 'Scoring each type in both builds…';
  try {
    const r = await request('lm_build_check', [CHECK_CTX], {
      onProgress: (done, total) => (out.textContent = `Scoring each type in both builds… ${done} of ${total}`),
    });
    const differing = r.variants.filter((v) => !v.identical);
    out.textContent = `Relaxed against plain, the small model's perplexity, KL divergence and top-1 agreement over ${r.tokens_scored} tokens: ` +
      (differing.length === 0
        ? `${r.variants.map((v) => v.name).join(', ')} identical bit for bit.`
        : `NOT identical: ${differing.map((v) => `${v.name} (perplexity ${v.relaxed.ppl} against ${v.plain.ppl})`).join(', ')}.`);
  } finally {
    button.disabled = false;
  }
}

// A new model (or a new set of types) makes every figure on show stale: they are taken away.
function showModel(model, { keepImatrix = false } = {}) {
  state.model = model;
  if ($('#lm-build-row').hidden) showBuild().catch(showFailure);
  $('#lm-status').textContent = describe(model);
  $('#lm-builtin').hidden = model.builtin;
  $('#lm-outputs').replaceChildren();
  $('#lm-ppl-table').hidden = true;
  $('#lm-ppl-chart').hidden = true;
  $('#lm-ppl-status').textContent = '';
  if (!keepImatrix) {
    // A new model: the probes were of another one. (An added type leaves them true.)
    $('#lm-sens-table').hidden = true;
    $('#lm-sens-status').textContent = '';
    state.imatrix = null;
    $('#lm-imatrix-status').textContent = 'None computed yet.';
    $('#lm-add-status').textContent = '';
    state.gptqFile = null;
    $('#lm-gptq-table').hidden = true;
    $('#lm-gptq-status').textContent = '';
    state.awqFile = null;
    $('#lm-awq-table').hidden = true;
    $('#lm-awq-status').textContent = '';
  }
  $('#lm-imatrix-save').disabled = !state.imatrix;
  $('#lm-gptq-save').disabled = !state.gptqFile;
  $('#lm-awq-save').disabled = !state.awqFile;
}

// Loads the chosen built-in model once (or again after a person's model, another size or a worker
// restart), the bar showing the file's bytes as they arrive, then the copies being made.
function ensureModel() {
  if (!state.loading) {
    const size = $('#lm-size').value, bar = $('#lm-load-progress');
    $('#lm-size').disabled = true;
    $('#lm-status').textContent = `Loading the ${size} language model…`;
    bar.hidden = false;
    bar.value = 0;
    const onProgress = (done, total) => {
      bar.max = total;
      bar.value = done;
      $('#lm-status').textContent = done < total - 1 ? `Loading the ${size} language model: ${formatBytes(done)} of ${formatBytes(total - 1)}…`
        : `Loading the ${size} language model: making its Q8_0, Q4_0 and Q4_K_M copies…`;
    };
    const settle = () => { bar.hidden = true; $('#lm-size').disabled = state.busy; };
    state.loading = request('lm_load_builtin', [size], { onProgress }).then((model) => { settle(); showModel(model); return model; }, (err) => {
      settle();
      state.loading = null;
      $('#lm-status').textContent = 'The language model did not load.';
      throw err;
    });
  }
  return state.loading;
}

async function loadFile(file) {
  if (state.busy) return;
  clearError('#lm-error');
  // Refused before anything is read; the model on show stays.
  if (file.size > MAX_FILE_BYTES) {
    fail('#lm-error', `${file.name}: the file is ${(file.size / 2 ** 30).toFixed(2)} GiB; this tab holds a language model ` +
      `of up to ${(MAX_FILE_BYTES / 2 ** 30).toFixed(1)} GiB (it is read whole into the tab's memory, at most 4 GiB with ` +
      'its decoded weights). Try a smaller or more quantized model.');
    return;
  }
  setBusy(true);
  const shown = $('#lm-status').textContent;
  $('#lm-status').textContent = `Reading ${file.name}…`;
  // A header the worker cannot read is left to the load, which refuses it with the model's reason.
  const needed = await request('lm_memory_needed', [file.name, file]).catch(() => null);
  if (needed !== null && needed > MAX_FILE_BYTES) {
    // Refused before the file is read; the model on show stays.
    setBusy(false);
    $('#lm-status').textContent = shown;
    fail('#lm-error', `${file.name}: loading it takes ${(needed / 2 ** 30).toFixed(2)} GiB of memory (the file ` +
      `${(file.size / 2 ** 30).toFixed(2)} GiB and its weights as this tab keeps them: Q4_0 … Q6_K and IQ4 types as 8-bit codes, types without a ` +
      `kernel here as F32); this tab holds a language model of up to ${(MAX_FILE_BYTES / 2 ** 30).toFixed(1)} GiB. ` +
      'Try a smaller model or a K-quant or Q8_0 type.');
    return;
  }
  try {
    const bytes = await file.arrayBuffer();
    const model = await request('lm_load', [file.name, bytes], { transfer: [bytes] });
    state.loading = Promise.resolve(model);
    showModel(model);
  } catch (err) {
    // The worker dropped the model it had before trying this one.
    state.loading = null;
    state.model = null;
    $('#lm-builtin').hidden = false;
    $('#lm-status').textContent = `${file.name} was refused.`;
    throw new Error(`${file.name}: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

function readSettings() {
  const n = Number($('#lm-tokens').value);
  if (!Number.isInteger(n) || n < 1 || n > 512) throw new Error('tokens: a whole number from 1 to 512');
  const seedText = $('#lm-seed').value.trim();
  const seed = seedText === '' ? null : Number(seedText);
  if (seed !== null && !(Number.isInteger(seed) && seed >= 0)) throw new Error('seed: a whole number ≥ 0, or empty for greedy');
  const temperature = Number($('#lm-temperature').value);
  if (seed !== null && !(temperature > 0)) throw new Error('temperature: a number above 0 (empty seed for greedy)');
  const topK = Number($('#lm-topk').value);
  if (!Number.isInteger(topK) || topK < 0) throw new Error('top-k: a whole number ≥ 0');
  return { n, seed, temperature, topK };
}

// One column per type: the prompt (muted), then its continuation as it comes.
function outputColumns(model, promptText) {
  return model.variants.map((v, i) => {
    const text = el('span', { class: 'lm-continuation' });
    const pre = el('pre', { class: 'lm-text', 'data-variant': v.name }, el('span', { class: 'lm-prompt-echo' }, promptText), text);
    const speed = el('p', { class: 'hint lm-speed' }, '…');
    const col = el('article', { class: 'lm-column', 'data-variant': v.name },
      el('h4', {}, v.name, ' ', el('span', { class: 'hint' }, `${v.bits_per_weight.toFixed(2)} bits/weight`)), pre, speed);
    return { index: i, col, text, speed, done: false, tokens: [], ms: 0 };
  });
}

// Generate: every type continues the prompt, TOKENS_PER_REQUEST tokens at a time in turn.
async function generate(promptOverride) {
  if (state.busy) return;
  clearError('#lm-error');
  const settings = readSettings();
  setBusy(true);
  const run = ++state.run;
  // data-state: starting → running → done | cancelled (what a test waits for).
  $('#lm-outputs').dataset.state = 'starting';
  try {
    const model = await ensureModel();
    const prompt = promptOverride ?? { text: $('#lm-prompt').value };
    const start = await request('lm_generate_start', [prompt, settings.n, settings.seed, settings.temperature, settings.topK]);
    const columns = outputColumns(model, prompt.text ?? '');
    $('#lm-outputs').replaceChildren(...columns.map((c) => c.col));
    $('#lm-outputs').dataset.prompt = JSON.stringify(start.prompt_ids);
    $('#lm-outputs').dataset.state = 'running';
    while (columns.some((c) => !c.done)) {
      for (const c of columns.filter((c) => !c.done)) {
        if (run !== state.run) {
          $('#lm-outputs').dataset.state = 'cancelled';
          for (const c2 of columns) if (!c2.done) c2.speed.textContent += ' — cancelled';
          return;
        }
        const step = await request('lm_generate_step', [c.index, TOKENS_PER_REQUEST]);
        c.tokens.push(...step.tokens);
        c.ms += step.ms;
        c.done = step.done;
        c.text.textContent = step.text;
        c.col.dataset.tokens = JSON.stringify(c.tokens);
        const perSecond = c.ms > 0 ? (1000 * c.tokens.length) / c.ms : Infinity;
        c.speed.textContent = `${c.tokens.length} tokens, ${Number.isFinite(perSecond) ? perSecond.toFixed(0) : '—'} tokens/s`;
      }
    }
    $('#lm-outputs').dataset.state = 'done';
  } finally {
    setBusy(false);
  }
}

function fmtPpl(x) {
  return Number.isFinite(x) ? x.toFixed(4) : '—';
}

// Perplexity: a chunk of each type in turn, the table filling as they come.
async function perplexity() {
  if (state.busy) return;
  clearError('#lm-error');
  setBusy(true);
  const run = ++state.run;
  const bar = $('#lm-ppl-progress'), status = $('#lm-ppl-status'), table = $('#lm-ppl-table');
  table.dataset.state = 'starting';
  $('#lm-ppl-chart').hidden = true;
  try {
    const model = await ensureModel();
    const nChunk = await request('lm_perplexity_start', [{ builtin: true }, PPL_CTX, PPL_CHUNKS]);
    const rows = model.variants.map((v, i) => {
      const klRef = model.builtin ? model.kldReference?.[v.name] : null;
      const llama = (what, x) => (klRef ? { title: `llama-perplexity: ${what(klRef)}` } : {});
      const cells = { ppl: el('td', { class: 'num lm-ppl' }, '…'),
        reference: el('td', { class: 'num' }, fmtPpl(model.builtin ? model.reference?.[v.name]?.ppl : NaN)),
        kld: el('td', { class: 'num', ...llama((r) => r.mean_kld.toFixed(6)) }, i === 0 ? 'base' : '…'),
        kld99: el('td', { class: 'num', ...llama((r) => r.kld_99.toFixed(6)) }, i === 0 ? '' : '…'),
        top: el('td', { class: 'num', ...llama((r) => `${r.same_top_percent.toFixed(2)} %`) }, i === 0 ? '' : '…'),
        speed: el('td', { class: 'num' }, '…') };
      const tr = el('tr', { 'data-variant': v.name }, el('th', { scope: 'row' }, v.name), cells.ppl, cells.reference,
        cells.kld, cells.kld99, cells.top,
        el('td', { class: 'num' }, v.bits_per_weight.toFixed(2)), el('td', { class: 'num' }, formatBytes(v.file_bytes)),
        el('td', { class: 'num' }, formatBytes((model.parameters * v.bits_per_weight) / 8 * 1.2)), cells.speed,
        el('td', {}, v.matrix_types.join(', ')));
      return { index: i, tr, cells, done: false, ms: 0 };
    });
    table.tBodies[0].replaceChildren(...rows.map((r) => r.tr));
    table.hidden = false;
    table.dataset.state = 'running';
    bar.hidden = false;
    bar.max = nChunk * rows.length;
    bar.value = 0;
    for (let chunk = 0; chunk < nChunk; chunk++) {
      for (const r of rows) {
        if (run !== state.run) {
          status.textContent = `Cancelled after ${chunk} of ${nChunk} chunks.`;
          table.dataset.state = 'cancelled';
          return;
        }
        const step = await request('lm_perplexity_step', [r.index]);
        r.cells.ppl.textContent = `${fmtPpl(step.ppl)} ± ${step.plus_minus.toFixed(2)}`;
        r.tr.dataset.ppl = String(step.ppl);
        if (step.kl) {
          r.cells.kld.textContent = step.kl.mean_kld.toFixed(6);
          r.cells.kld99.textContent = step.kl.kld_99.toFixed(6);
          r.cells.top.textContent = `${step.kl.same_top_percent.toFixed(2)} %`;
          r.tr.dataset.kld = String(step.kl.mean_kld);
          r.tr.dataset.sameTop = String(step.kl.same_top_percent);
        }
        r.bits = model.variants[r.index].bits_per_weight;
        r.ppl = step.ppl;
        r.ms += step.ms;
        r.cells.speed.textContent = ((step.chunks_done * PPL_CTX) / (r.ms / 1000)).toFixed(0);
        bar.value += 1;
        status.textContent = `chunk ${step.chunks_done} of ${nChunk}, ${step.tokens_scored} tokens scored per type`;
      }
    }
    table.dataset.state = 'done';
    status.textContent = `${nChunk} chunks of ${PPL_CTX} tokens, ${rows.length} types.`;
    drawPplChart(rows.map((r) => ({ name: model.variants[r.index].name, bits: r.bits, ppl: r.ppl })));
    if (model.builtin) {
      state.sizeRuns[model.size] = { parameters: model.parameters, ppl: rows.map((r) => ({ name: model.variants[r.index].name, ppl: r.ppl })) };
      drawSizeComparison();
    }
  } finally {
    bar.hidden = true;
    setBusy(false);
  }
}

// llama-imatrix on the calibration text, a chunk per request (Cancel: no more requests; the
// matrix computed before, if any, stays).
async function computeImatrix() {
  if (state.busy) return;
  clearError('#lm-error');
  setBusy(true);
  const run = ++state.run;
  const bar = $('#lm-imatrix-progress'), status = $('#lm-imatrix-status');
  status.dataset.state = 'running';
  try {
    await ensureModel();
    const nChunk = await request('lm_imatrix_start', [IMATRIX_CTX, IMATRIX_CHUNKS]);
    bar.hidden = false;
    bar.max = nChunk;
    bar.value = 0;
    let ms = 0;
    for (;;) {
      if (run !== state.run) {
        status.textContent = `Cancelled after ${bar.value} of ${nChunk} chunks${state.imatrix ? '; the matrix computed before stays' : ''}.`;
        status.dataset.state = 'cancelled';
        return;
      }
      const step = await request('lm_imatrix_step', []);
      ms += step.ms;
      bar.value = step.chunks_done;
      status.textContent = `chunk ${step.chunks_done} of ${nChunk}`;
      if (step.done) {
        state.imatrix = { entries: step.entries, chunks: nChunk };
        const tokens = nChunk * IMATRIX_CTX;
        status.textContent = `${step.entries} matrices, ${nChunk} chunks of ${IMATRIX_CTX} tokens of calibration.txt ` +
          `(${(tokens / (ms / 1000)).toFixed(0)} tokens/s). Types added from now on are also made with it.`;
        status.dataset.state = 'done';
        return;
      }
    }
  } finally {
    bar.hidden = true;
    setBusy(false);
  }
}

async function saveImatrix() {
  const bytes = await request('lm_imatrix_file', []);
  saveBytes(bytes, 'imatrix.gguf');
}

// llama-quantize's mix of the F32 model as one more variant (and "TYPE + imatrix").
async function addType(type) {
  if (state.busy) return;
  clearError('#lm-error');
  setBusy(true);
  const status = $('#lm-add-status');
  status.textContent = `Making the ${type} copy…`;
  try {
    const base = await ensureModel();
    const summary = await request('lm_add_type', [type]);
    const model = { ...summary, builtin: base.builtin, size: base.size, reference: base.reference, kldReference: base.kldReference, gptqReference: base.gptqReference };
    state.loading = Promise.resolve(model);
    showModel(model, { keepImatrix: true });
    status.textContent = `Added ${type}${state.imatrix ? ` and ${type} + imatrix` : ''}: press Generate or Perplexity.`;
  } catch (err) {
    status.textContent = '';
    throw err;
  } finally {
    setBusy(false);
  }
}

// The two built-in sizes' last perplexity runs side by side: for each type both ran, its perplexity
// and its increase over the same size's unquantized model (the first row of its run), and which
// size lost less. Shown once both sizes have run.
function drawSizeComparison() {
  const { small, large } = state.sizeRuns;
  const table = $('#lm-sizes-table');
  if (!small || !large) {
    $('#lm-sizes-hint').dataset.waiting = small ? 'large' : 'small';
    return;
  }
  const increase = (run, name) => {
    const row = run.ppl.find((r) => r.name === name);
    return row ? { ppl: row.ppl, rel: row.ppl / run.ppl[0].ppl - 1 } : null;
  };
  const pct = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)} %`;
  const mparams = (n) => `${(n / 1e6).toFixed(2)} M`;
  table.tHead.replaceChildren(el('tr', {}, el('th', { scope: 'col' }, 'type'),
    el('th', { scope: 'col', class: 'num' }, `small (${mparams(small.parameters)})`), el('th', { scope: 'col', class: 'num' }, 'increase'),
    el('th', { scope: 'col', class: 'num' }, `large (${mparams(large.parameters)})`), el('th', { scope: 'col', class: 'num' }, 'increase'),
    el('th', { scope: 'col' }, 'loses less')));
  const base = el('tr', { 'data-type': 'unquantized' }, el('th', { scope: 'row' }, `unquantized (${small.ppl[0].name} / ${large.ppl[0].name})`),
    el('td', { class: 'num' }, fmtPpl(small.ppl[0].ppl)), el('td', { class: 'num' }, ''),
    el('td', { class: 'num' }, fmtPpl(large.ppl[0].ppl)), el('td', { class: 'num' }, ''), el('td', {}, ''));
  const rows = [];
  let largeBetter = 0;
  for (const { name } of small.ppl.slice(1)) {
    const [s, l] = [increase(small, name), increase(large, name)];
    if (!l) continue;
    const winner = l.rel < s.rel ? 'large' : s.rel < l.rel ? 'small' : 'tie';
    if (winner === 'large') largeBetter++;
    rows.push(el('tr', { 'data-type': name, 'data-small': String(s.rel), 'data-large': String(l.rel), 'data-winner': winner },
      el('th', { scope: 'row' }, name), el('td', { class: 'num' }, fmtPpl(s.ppl)), el('td', { class: 'num' }, pct(s.rel)),
      el('td', { class: 'num' }, fmtPpl(l.ppl)), el('td', { class: 'num' }, pct(l.rel)), el('td', {}, winner)));
  }
  table.tBodies[0].replaceChildren(base, ...rows);
  table.caption.textContent = `Perplexity on the held-out passage (${PPL_CHUNKS} chunks of ${PPL_CTX} tokens) and its increase over ` +
    `the same size's unquantized model: the large model loses less in ${largeBetter} of ${rows.length} types both ran.`;
  table.dataset.largeBetter = String(largeBetter);
  table.dataset.types = String(rows.length);
  table.hidden = false;
}

// Perplexity against bits per weight: an SVG scatter, x on a log2 scale (2 to 32 bits).
function drawPplChart(points) {
  const svg = $('#lm-ppl-chart svg');
  const NS = 'http://www.w3.org/2000/svg';
  const node = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const [W, H, L, R, T, B] = [640, 300, 56, 16, 16, 40];
  const bits = points.map((p) => p.bits), ppl = points.map((p) => p.ppl).filter(Number.isFinite);
  const x0 = Math.log2(Math.min(2, ...bits)), x1 = Math.log2(Math.max(32, ...bits));
  const pad = (Math.max(...ppl) - Math.min(...ppl)) * 0.1 || 0.5;
  const y0 = Math.min(...ppl) - pad, y1 = Math.max(...ppl) + pad;
  const x = (b) => L + ((Math.log2(b) - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const parts = [node('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }),
    node('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }),
    node('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'label' }, 'bits per weight'),
    node('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 14 ${(T + H - B) / 2})` }, 'perplexity')];
  for (const b of [2, 4, 8, 16, 32]) {
    parts.push(node('line', { x1: x(b), y1: H - B, x2: x(b), y2: H - B + 4, class: 'axis' }),
      node('text', { x: x(b), y: H - B + 16, 'text-anchor': 'middle', class: 'tick' }, String(b)));
  }
  for (const v of [y0 + pad, (y0 + y1) / 2, y1 - pad]) {
    parts.push(node('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, v.toFixed(2)));
  }
  for (const p of points.filter((q) => Number.isFinite(q.ppl))) {
    const g = node('g', { class: 'point', 'data-variant': p.name });
    g.append(node('circle', { cx: x(p.bits), cy: y(p.ppl), r: 4 }), node('title', {}, `${p.name}: ${p.ppl.toFixed(4)} at ${p.bits.toFixed(2)} bits/weight`),
      // Near the right edge the label goes to the left of its point.
      node('text', x(p.bits) > W - 120 ? { x: x(p.bits) - 6, y: y(p.ppl) - 6, 'text-anchor': 'end', class: 'tick' }
        : { x: x(p.bits) + 6, y: y(p.ppl) - 6, class: 'tick' }, p.name));
    parts.push(g);
  }
  svg.replaceChildren(...parts);
  $('#lm-ppl-chart').hidden = false;
}

// The sensitivity probes, a chunk per request; the table (kinds × every layer / each layer) fills
// as probes finish, each cell the KL divergence from F32, shaded by it.
async function sensitivity() {
  if (state.busy) return;
  clearError('#lm-error');
  setBusy(true);
  const run = ++state.run;
  const bar = $('#lm-sens-progress'), status = $('#lm-sens-status'), table = $('#lm-sens-table');
  const lowType = $('#lm-sens-type').value, perLayer = $('#lm-sens-layers').checked;
  table.dataset.state = 'running';
  table.hidden = true;
  try {
    const model = await ensureModel();
    const nProbe = await request('lm_sensitivity_start', [lowType, perLayer, PPL_CTX, PPL_CHUNKS]);
    bar.hidden = false;
    bar.max = nProbe * PPL_CHUNKS;
    bar.value = 0;
    let done = 0;
    for (;;) {
      if (run !== state.run) {
        status.textContent = `Cancelled after ${done} of ${nProbe} probes.`;
        table.dataset.state = 'cancelled';
        return;
      }
      const step = await request('lm_sensitivity_step', []);
      done = step.results.length;
      bar.value = done * step.n_chunk + (step.done ? 0 : step.chunks_done);
      status.textContent = `probe ${Math.min(done + 1, nProbe)} of ${nProbe}, chunk ${step.chunks_done} of ${step.n_chunk}`;
      drawSensitivity(step.results, model.n_layer, perLayer, lowType);
      if (step.done) {
        const base = step.results[0];
        const kinds = step.results.filter((r) => r.kind && r.layer === null);
        const worst = kinds.reduce((a, b) => (b.mean_kld > a.mean_kld ? b : a));
        status.textContent = `All Q8_0: KL divergence ${base.mean_kld.toFixed(6)}, perplexity ${base.ppl.toFixed(4)}. ` +
          `Most sensitive kind at ${lowType}: ${worst.kind} (${worst.mean_kld.toFixed(4)}).`;
        table.dataset.state = 'done';
        return;
      }
    }
  } finally {
    bar.hidden = true;
    setBusy(false);
  }
}

function drawSensitivity(results, nLayer, perLayer, lowType) {
  const table = $('#lm-sens-table');
  const cols = [null, ...(perLayer ? [...Array(nLayer).keys()] : [])];
  const byLabel = Object.fromEntries(results.map((r) => [r.label, r]));
  const kinds = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'];
  const max = Math.max(1e-12, ...results.filter((r) => r.kind).map((r) => r.mean_kld));
  table.tHead.replaceChildren(el('tr', {}, el('th', { scope: 'col' }, `${lowType} in`),
    ...cols.map((c) => el('th', { scope: 'col', class: 'num' }, c === null ? 'every layer' : `layer ${c}`))));
  table.tBodies[0].replaceChildren(...kinds.map((kind) => el('tr', { 'data-kind': kind }, el('th', { scope: 'row' }, kind),
    ...cols.map((c) => {
      const r = byLabel[c === null ? kind : `blk.${c}.${kind}`];
      if (!r) return el('td', { class: 'num' }, '…');
      // Shaded by the divergence, relative to the largest (the accent at its strongest).
      const shade = Math.round(60 * (r.mean_kld / max));
      return el('td', { class: 'num', 'data-kld': String(r.mean_kld), style: `background: color-mix(in srgb, var(--accent) ${shade}%, transparent)`,
        title: `${r.label}: KL divergence ${r.mean_kld.toFixed(6)}, perplexity ${r.ppl.toFixed(4)}, same top token ${r.same_top_percent.toFixed(2)} %, ${formatBytes(r.file_bytes)}` },
      r.mean_kld.toFixed(4));
    }))));
  table.hidden = false;
}

function readGptqSettings() {
  const chunks = Number($('#lm-gptq-chunks').value);
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error('GPTQ chunks: a whole number ≥ 1');
  const grid = $('#lm-gptq-grid').value;
  return { grid, group: grid === 'q4_0' ? 32 : Number($('#lm-gptq-group').value), actOrder: $('#lm-gptq-actorder').checked, chunks };
}

// A GPTQ or AWQ run, a step per request, with its progress bar and status line (#lm-ID-…);
// Cancel stops asking, and nothing is added. `finish(step, base, ms)` shows the finished run
// and returns the status line.
async function stepRun(id, startOp, startArgs, stepOp, finish) {
  if (state.busy) return;
  clearError('#lm-error');
  setBusy(true);
  const run = ++state.run;
  const bar = $(`#lm-${id}-progress`), status = $(`#lm-${id}-status`);
  status.dataset.state = 'running';
  try {
    const base = await ensureModel();
    const total = await request(startOp, startArgs);
    bar.hidden = false;
    bar.max = total;
    bar.value = 0;
    let ms = 0;
    for (;;) {
      if (run !== state.run) {
        status.textContent = `Cancelled after ${bar.value} of ${total} steps; nothing was added.`;
        status.dataset.state = 'cancelled';
        return;
      }
      const step = await request(stepOp, []);
      ms += step.ms;
      bar.value = step.done;
      status.textContent = `step ${step.done} of ${total}`;
      if (step.finished) {
        status.textContent = finish(step, base, ms);
        status.dataset.state = 'done';
        return;
      }
    }
  } finally {
    bar.hidden = true;
    setBusy(false);
  }
}

// The worker's summary after a run added variants, shown with the figures the page keeps.
function adoptSummary(summary, base, reference = base.reference) {
  const model = { ...summary, builtin: base.builtin, size: base.size, reference, kldReference: base.kldReference, gptqReference: base.gptqReference };
  state.loading = Promise.resolve(model);
  showModel(model, { keepImatrix: true });
}

// GPTQ of the F32 model: a step is a calibration chunk or one step's quantization.
function runGptq() {
  clearError('#lm-error');
  const settings = readGptqSettings();
  return stepRun('gptq', 'lm_gptq_start', [settings.grid, settings.group, settings.actOrder, GPTQ_CTX, settings.chunks], 'lm_gptq_step',
    (step, base, ms) => {
      // llama.cpp's figure for the GPTQ file stands beside it only for the settings it was taken with.
      const reference = { ...base.reference };
      const name = `GPTQ ${step.label}`;
      const asTaken = base.builtin && settings.grid === 'q4_0' && !settings.actOrder && settings.chunks === GPTQ_CHUNKS;
      if (asTaken && base.gptqReference) reference[name] = base.gptqReference;
      else delete reference[name];
      state.gptqFile = name;
      adoptSummary(step.summary, base, reference);
      drawGptqTable(step.reports);
      const added = settings.grid === 'q4_0' ? name : `${name} and RTN ${step.label}`;
      return `Added ${added} (${settings.chunks} chunks of ${GPTQ_CTX} tokens, ${(ms / 1000).toFixed(1)} s): press Perplexity.`;
    });
}

async function saveVariantFile(name) {
  const bytes = await request('lm_variant_file', [name]);
  const stem = (state.model?.builtin ? (state.model.size === 'small' ? 'tiny-lm' : `tiny-lm-${state.model.size}`)
    : state.model?.name.replace(/\.gguf$/i, '')) ?? 'model';
  saveBytes(bytes, `${stem}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.gguf`);
}

// A small line of `values` (from their least to their largest), a dot on index `mark` if given.
function sparkline(values, mark) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  const [W, H] = [160, 24];
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'lm-spark');
  const min = Math.min(...values), span = Math.max(1e-30, Math.max(...values) - min);
  const at = (v, i) => [(i / Math.max(1, values.length - 1)) * W, H - 2 - ((v - min) / span) * (H - 4)];
  const line = document.createElementNS(NS, 'polyline');
  line.setAttribute('points', values.map((v, i) => at(v, i).map((c) => c.toFixed(1)).join(',')).join(' '));
  svg.append(line);
  if (mark !== undefined) {
    const [x, y] = at(values[mark], mark);
    const dot = document.createElementNS(NS, 'circle');
    for (const [k, v] of Object.entries({ cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5 })) dot.setAttribute(k, v);
    svg.append(dot);
  }
  return svg;
}

function drawGptqTable(reports) {
  const table = $('#lm-gptq-table');
  table.tBodies[0].replaceChildren(...reports.map((r) => el('tr', { 'data-matrix': r.name, 'data-gptq': String(r.gptq_error), 'data-rtn': String(r.rtn_error) },
    el('th', { scope: 'row' }, r.name), el('td', { class: 'num' }, r.rtn_error.toExponential(2)),
    el('td', { class: 'num' }, r.gptq_error.toExponential(2)), el('td', { class: 'num' }, (r.gptq_error / r.rtn_error).toFixed(2)),
    el('td', { title: `largest: ${Math.max(...r.column_losses).toExponential(2)}` }, sparkline(r.column_losses)))));
  table.hidden = false;
}

// AWQ of the F32 model: a step is a chunk through a layer, an exponent of a search or a matrix's clip.
function runAwq() {
  clearError('#lm-error');
  const chunks = Number($('#lm-awq-chunks').value);
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error('AWQ chunks: a whole number ≥ 1');
  const grid = $('#lm-awq-grid').value, clip = $('#lm-awq-clip').checked;
  return stepRun('awq', 'lm_awq_start', [grid, clip, GPTQ_CTX, chunks], 'lm_awq_step', (step, base, ms) => {
    const name = `AWQ ${step.label}`;
    state.awqFile = name;
    adoptSummary(step.summary, base);
    drawAwqTable(step.scales);
    const added = grid === 'q4_0' ? name : `${name} and RTN ${step.label}`;
    return `Added ${added} (${chunks} × ${GPTQ_CTX} calibration tokens, ${(ms / 1000).toFixed(1)} s): press Perplexity.`;
  });
}

function drawAwqTable(scales) {
  const table = $('#lm-awq-table');
  table.tBodies[0].replaceChildren(...scales.map((s) => el('tr', { 'data-group': `${s.layer} ${s.label}`, 'data-best': String(s.best), 'data-losses': JSON.stringify(s.losses) },
    el('th', { scope: 'row' }, `blk.${s.layer} ${s.label}`), el('td', { class: 'num' }, s.ratio.toFixed(2)),
    el('td', { class: 'num' }, s.losses[0].toExponential(2)), el('td', { class: 'num' }, s.losses[s.best].toExponential(2)),
    el('td', { title: `scales ${s.scale_min.toFixed(3)} … ${s.scale_max.toFixed(3)}` }, sparkline(s.losses, s.best)))));
  table.hidden = false;
}
