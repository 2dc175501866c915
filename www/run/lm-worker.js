// The Run view's Language model worker: it owns the language-model module (www/pkg-lm, src/lm
// over src/llm) and one LmSession — a GGUF llama model and, for an F32 or F16 model, its Q8_0,
// Q4_0 and Q4_K_M copies made in memory. Started the first time the section is used, so nothing else in
// the page loads it. The page asks for a few tokens or one perplexity chunk per request, so it
// streams tokens and Cancel is simply not asking for more.
//
//   lm_load_builtin  [size]                   → summary (+ size, reference: llama.cpp's figures);
//                                               progress: bytes fetched of the file, then the copies
//   lm_memory_needed [name, file]             → bytes loading the File would hold at once (its header read only)
//   lm_load          [name, bytes]            → summary (the previous model is dropped first)
//   lm_generate_start [prompt: {text} | {ids}, n_tokens, seed | null, temperature, top_k]
//                                             → {prompt_ids, prompt_ms}
//   lm_generate_step [variant, n]             → {tokens, text, generated, done, ms}
//   lm_perplexity_start [{builtin: true} | {text}, n_ctx, max_chunks] → n_chunk
//   lm_perplexity_step [variant]              → {chunks_done, n_chunk, ppl, plus_minus, tokens_scored, done, ms}
//   lm_imatrix_start [n_ctx, max_chunks]      → n_chunk (llama-imatrix on the built-in calibration text)
//   lm_imatrix_step  []                       → {chunks_done, n_chunk, done, entries, ms}
//   lm_imatrix_file  []                       → Uint8Array (llama-imatrix's GGUF layout)
//   lm_add_type      [file type]              → summary (the mix, and "TYPE + imatrix" once computed)
//   lm_sensitivity_start [low type, per_layer, n_ctx, max_chunks] → n_probe (on held-out Macbeth)
//   lm_sensitivity_step []                    → {probe, n_probe, chunks_done, n_chunk, done, results}
//   lm_gptq_start    [grid, group, act_order, n_ctx, max_chunks] → steps (on calibration-gptq.txt)
//   lm_gptq_step     []                       → {done, total, finished, label, reports, ms, summary when finished}
//   lm_awq_start     [grid, clip, n_ctx, max_chunks] → steps (on calibration-gptq.txt)
//   lm_awq_step      []                       → {done, total, finished, label, scales, clips, ms, summary when finished}
//   lm_variant_file  [name]                   → Uint8Array (a GPTQ or AWQ variant's GGUF)
//   lm_build         []                       → {build: 'relaxed'|'simd128', relaxed_supported}
//   lm_build_check   [n_ctx]                  → {n_ctx, tokens_scored, variants: [{name, relaxed, plain, identical}]}
//       The built-in small model and its copies (with Q5_K_M and Q2_K added) in both builds (the
//       plain one instantiated here, beside the worker's), one perplexity chunk each: the relaxed
//       build promises identical outputs, so every figure (perplexity, KL divergence from F32,
//       top-1 agreement: functions of every logit) must be equal to the last bit.
//
// The module is chosen once at load, as the Run worker's runner (www/run/runner.js): the
// relaxed-SIMD build (www/pkg-lm-relaxed: the Q4_K/Q5_K/Q2_K products' integer sums from the
// relaxed int8 dot product, exact) where the browser validates relaxed SIMD, else, or when it
// fails to load, the plain SIMD128 build (www/pkg-lm). Both export the same surface.
import { relaxedSupported } from './runner.js';
import { serve } from '../worker-loop.js';

let LmSession, lm_memory_needed, lmBuild = null;

async function init() {
  if (relaxedSupported) {
    try {
      const mod = await import('../pkg-lm-relaxed/quantscope.js');
      await mod.default();
      ({ LmSession, lm_memory_needed } = mod);
      lmBuild = 'relaxed';
      return;
    } catch (err) {
      console.warn(`the relaxed-SIMD language model module did not load (${err.message}); running the SIMD128 one`);
    }
  }
  const mod = await import('../pkg-lm/quantscope.js');
  await mod.default();
  ({ LmSession, lm_memory_needed } = mod);
  lmBuild = 'simd128';
}

let PlainSession = null;
async function plainSession() {
  if (!PlainSession) {
    const mod = await import('../pkg-lm/quantscope.js');
    await mod.default();
    PlainSession = mod.LmSession;
  }
  return PlainSession;
}

// The types the check adds to the built-in copies, so that every relaxed kernel runs.
const CHECK_TYPES = ['Q5_K_M', 'Q2_K'];

// The built-in models and their held-out text are the committed fixtures (scripts/serve.mjs
// serves the repository root, so the page reaches tests/ directly; nothing is copied). Both sizes
// share the small one's texts (same tokenizer); the large one is stored in F16
// (scripts/fixtures/make_tiny_lm.py --size large).
const FIXTURES = new URL('../../tests/fixtures/tiny_lm/', import.meta.url);
const BUILTINS = {
  small: { dir: FIXTURES, file: 'tiny-lm-f32.gguf' },
  large: { dir: new URL('../../tests/fixtures/tiny_lm_large/', import.meta.url), file: 'tiny-lm-large-f16.gguf' },
};

let session = null;

async function fetchFixture(name, as, dir = FIXTURES) {
  const res = await fetch(new URL(name, dir));
  if (!res.ok) throw new Error(`could not load ${name}: HTTP ${res.status}`);
  return as === 'text' ? res.text() : as === 'json' ? res.json() : new Uint8Array(await res.arrayBuffer());
}

// A model file read as it arrives, `progress(bytes so far, of)` after each piece; `of` is one more
// than the file's length, the last step being the copies the load makes.
async function fetchModel(url, progress) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url.pathname.split('/').pop()}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const parts = [];
  let got = 0;
  for (const reader = res.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    progress(got, Math.max(total, got) + 1);
  }
  const bytes = new Uint8Array(got);
  let at = 0;
  for (const part of parts) { bytes.set(part, at); at += part.length; }
  return bytes;
}

function load(name, bytes) {
  session?.free();
  session = null;
  session = new LmSession(name, bytes);
  return session.summary();
}

function need() {
  if (!session) throw new Error('no language model loaded');
  return session;
}

const lmOps = {
  async lm_load_builtin(_ctx, id, [size]) {
    const builtin = BUILTINS[size];
    if (!builtin) throw new Error(`no built-in model '${size}'`);
    const progress = (done, total) => self.postMessage({ id, type: 'progress', done, total });
    const small = size === 'small';
    const [bytes, reference, withImatrix, kld, gptq] = await Promise.all([fetchModel(new URL(builtin.file, builtin.dir), progress),
      fetchFixture('reference.json', 'json', builtin.dir), small && fetchFixture('imatrix.json', 'json'),
      small && fetchFixture('kld.json', 'json'), small && fetchFixture('gptq.json', 'json')]);
    // llama-perplexity's figures by the page's variant names: "TYPE" and "TYPE + imatrix"
    // (llama-quantize with llama-imatrix's matrix on the same calibration text); the small
    // model's imatrix, KL divergence and GPTQ figures were taken for it only.
    const figures = { ...reference.passage_perplexity };
    for (const [type, row] of Object.entries(reference.perplexity_by_type?.types ?? {})) {
      figures[type] ??= { ppl: row.passage_ppl, plus_minus: row.passage_plus_minus };
    }
    for (const [type, row] of Object.entries(withImatrix?.types ?? {})) {
      if (row.plain) figures[type] ??= row.plain;
      if (row.imatrix) figures[`${type} + imatrix`] = row.imatrix;
    }
    const summary = load(builtin.file, bytes);
    // llama-perplexity on quantscope's own GPTQ Q4_0 file (make_tiny_lm_gptq.py's settings).
    return { ...summary, builtin: true, size, reference: figures, kldReference: kld ? kld.types : undefined, gptqReference: gptq ? gptq.types['GPTQ Q4_0'] : undefined };
  },
  lm_memory_needed(_ctx, _id, [name, file]) {
    return lm_memory_needed(name, file);
  },
  lm_load(_ctx, _id, [name, bytes]) {
    return { ...load(name, new Uint8Array(bytes)), builtin: false };
  },
  lm_generate_start(_ctx, _id, [prompt, nTokens, seed, temperature, topK]) {
    const s = need();
    const ids = prompt.ids ? Uint32Array.from(prompt.ids) : s.encode_prompt(prompt.text);
    if (ids.length === 0) throw new Error('the prompt is empty: type some text');
    const t0 = performance.now();
    s.start_generation(ids, nTokens, seed ?? undefined, temperature, topK);
    return { prompt_ids: [...ids], prompt_ms: performance.now() - t0 };
  },
  lm_generate_step(_ctx, _id, [variant, n]) {
    const t0 = performance.now();
    const step = need().generate(variant, n);
    return { ...step, ms: performance.now() - t0 };
  },
  async lm_perplexity_start(_ctx, _id, [source, nCtx, maxChunks]) {
    const s = need();
    const text = source.builtin ? await fetchFixture('heldout.txt', 'text') : source.text;
    return s.start_perplexity(text, nCtx, maxChunks ?? undefined);
  },
  async lm_imatrix_start(_ctx, _id, [nCtx, maxChunks]) {
    const s = need();
    return s.start_imatrix(await fetchFixture('calibration.txt', 'text'), 'calibration.txt', nCtx, maxChunks ?? undefined);
  },
  lm_imatrix_step() {
    const t0 = performance.now();
    const step = need().imatrix_step();
    return { ...step, ms: performance.now() - t0 };
  },
  lm_imatrix_file() {
    return need().imatrix_file();
  },
  async lm_sensitivity_start(_ctx, _id, [lowType, perLayer, nCtx, maxChunks]) {
    const s = need();
    return s.start_sensitivity(await fetchFixture('heldout.txt', 'text'), nCtx, maxChunks ?? undefined, lowType, perLayer);
  },
  lm_sensitivity_step() {
    return need().sensitivity_step();
  },
  async lm_gptq_start(_ctx, _id, [grid, group, actOrder, nCtx, maxChunks]) {
    const s = need();
    return s.start_gptq(await fetchFixture('calibration-gptq.txt', 'text'), nCtx, maxChunks ?? undefined, grid, group, actOrder);
  },
  lm_gptq_step() {
    const t0 = performance.now();
    const s = need();
    const step = s.gptq_step();
    return { ...step, ms: performance.now() - t0, summary: step.finished ? s.summary() : undefined };
  },
  async lm_awq_start(_ctx, _id, [grid, clip, nCtx, maxChunks]) {
    const s = need();
    return s.start_awq(await fetchFixture('calibration-gptq.txt', 'text'), nCtx, maxChunks ?? undefined, grid, clip);
  },
  lm_awq_step() {
    const t0 = performance.now();
    const s = need();
    const step = s.awq_step();
    return { ...step, ms: performance.now() - t0, summary: step.finished ? s.summary() : undefined };
  },
  lm_variant_file(_ctx, _id, [name]) {
    return need().variant_file(name);
  },
  lm_add_type(_ctx, _id, [type]) {
    return need().add_type(type);
  },
  lm_build() {
    return { build: lmBuild, relaxed_supported: relaxedSupported };
  },
  async lm_build_check(_ctx, id, [nCtx]) {
    if (lmBuild !== 'relaxed') throw new Error('this worker runs the SIMD128 build: there is no relaxed build to check');
    const builtin = BUILTINS.small;
    const [bytes, text, Plain] = await Promise.all([fetchFixture(builtin.file, 'bytes'), fetchFixture('heldout.txt', 'text'), plainSession()]);
    const sessions = [new LmSession(builtin.file, bytes), new Plain(builtin.file, bytes)];
    try {
      for (const s of sessions) for (const type of CHECK_TYPES) s.add_type(type);
      const names = sessions[0].summary().variants.map((v) => v.name);
      for (const s of sessions) s.start_perplexity(text, nCtx, 1);
      const variants = [];
      let tokensScored = 0;
      for (let i = 0; i < names.length; i++) {
        const [relaxed, plain] = sessions.map((s) => s.perplexity_step(i));
        tokensScored = relaxed.tokens_scored;
        // JSON keeps every f64 to the bit (shortest round-trip digits).
        variants.push({ name: names[i], relaxed, plain, identical: JSON.stringify(relaxed) === JSON.stringify(plain) });
        self.postMessage({ id, type: 'progress', done: i + 1, total: names.length });
      }
      return { n_ctx: nCtx, tokens_scored: tokensScored, variants };
    } finally {
      for (const s of sessions) s.free();
    }
  },
  lm_perplexity_step(_ctx, _id, [variant]) {
    const t0 = performance.now();
    const step = need().perplexity_step(variant);
    return { ...step, ms: performance.now() - t0 };
  },
};

serve(init(), lmOps);
