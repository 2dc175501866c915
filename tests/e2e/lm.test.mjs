// End to end: the Run view's Language model section (www/run/lm.js, lm-worker.js, www/pkg-lm).
// The built-in tiny llama model and its Q8_0 / Q4_0 / Q4_K_M copies continue make_tiny_lm.py's
// greedy prompt with llama.cpp's token ids (greedy-*.npy), score held-out Macbeth as
// llama-perplexity does (reference.json), stop on Cancel, and a model of another architecture is
// refused with the crate's reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, open as openFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cancelWhenPast, openLm as openLmPage } from './lm-page.mjs';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import init, { LmSession } from '../../www/pkg-lm/quantscope.js';

const fixture = (name) => readFile(new URL(`../fixtures/tiny_lm/${name}`, import.meta.url));
// An int32 .npy (the fixtures' token ids): the header's length is at byte 8.
const idsOf = (b) => [...new Int32Array(b.buffer.slice(b.byteOffset + 10 + b.readUInt16LE(8), b.byteOffset + b.length))];
const reference = JSON.parse(await fixture('reference.json'));
const gguf = await fixture('tiny-lm-f32.gguf');

// make_tiny_lm.py's GREEDY: held-out ids 1000..1032, 48 tokens. The prompt box takes text, so the
// ids are decoded here (the module itself, in node); the page must tokenize it back to them.
const GREEDY = { start: 1000, n_prompt: 32, n_gen: 48 };
const heldout = idsOf(await fixture('heldout.ids.npy'));
const promptIds = heldout.slice(GREEDY.start, GREEDY.start + GREEDY.n_prompt);
await init({ module_or_path: await readFile(new URL('../../www/pkg-lm/quantscope_bg.wasm', import.meta.url)) });
const promptText = (() => {
  const s = new LmSession('tiny-lm-f32.gguf', gguf);
  try { return s.decode(Uint32Array.from(promptIds)); } finally { s.free(); }
})();

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const openLm = (width) => openLmPage(browser, width);

// scripts/fixtures/make_llm_archs.py's tiny random-weight qwen3 model (per-head q/k norm, NEOX
// RoPE, heads of 16 from qwen3.attention.key_length) and llama.cpp's logits for its first held-out ids.
const qwen3 = await readFile(new URL('../fixtures/llm_archs/qwen3.gguf', import.meta.url));
const qwen3Heldout = idsOf(await readFile(new URL('../fixtures/llm_archs/qwen3.heldout.ids.npy', import.meta.url)));
const qwen3Top = (() => {
  const b = readFileSync(new URL('../fixtures/llm_archs/qwen3.logits.npy', import.meta.url));
  const v = new Float32Array(b.buffer.slice(b.byteOffset + 10 + b.readUInt16LE(8), b.byteOffset + b.length));
  const nVocab = v.length / 16;
  const last = v.subarray(15 * nVocab);
  let best = 0;
  for (let i = 1; i < nVocab; i++) if (last[i] > last[best]) best = i;
  return best;
})();
const qwen3Prompt = (() => {
  const s = new LmSession('qwen3.gguf', qwen3);
  try { return s.decode(Uint32Array.from(qwen3Heldout.slice(0, 16))); } finally { s.free(); }
})();

async function columnTokens(page) {
  return page.$$eval('#lm-outputs .lm-column', (cols) =>
    Object.fromEntries(cols.map((c) => [c.dataset.variant, JSON.parse(c.dataset.tokens ?? '[]')])));
}

test('greedy continuations of every type equal llama.cpp\'s token ids, streamed with tokens/s', async () => {
  const page = await openLm();
  await page.fill('#lm-prompt', promptText);
  await page.fill('#lm-tokens', String(GREEDY.n_gen));
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
  assert.deepEqual(JSON.parse(await page.$eval('#lm-outputs', (e) => e.dataset.prompt)), promptIds, 'the page tokenized the prompt to llama.cpp\'s ids');
  const got = await columnTokens(page);
  assert.deepEqual(Object.keys(got), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  for (const [name, file] of [['F32', 'greedy-f32.npy'], ['Q8_0', 'greedy-q8_0.npy'], ['Q4_0', 'greedy-q4_0.npy'], ['Q4_K_M', 'greedy-q4_k_m.npy']]) {
    assert.deepEqual(got[name], idsOf(await fixture(file)), `${name}: greedy continuation`);
  }
  const speeds = await page.$$eval('.lm-speed', (ps) => ps.map((p) => p.textContent));
  for (const s of speeds) assert.match(s, /^48 tokens, \d+ tokens\/s$/);
  const text = await page.$eval('.lm-column[data-variant="F32"] .lm-continuation', (e) => e.textContent);
  assert.equal(await page.$eval('.lm-column[data-variant="F32"] .lm-prompt-echo', (e) => e.textContent), promptText);
  assert.ok(text.length > 40, text);
  assert.match(await page.textContent('#lm-status'), /1,377,536 parameters/);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-generate.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('perplexity on held-out Macbeth equals llama-perplexity\'s, beside its figure, bits per weight and size', async () => {
  const page = await openLm();
  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'done', null, { timeout: 120000 });
  const rows = await page.$$eval('#lm-ppl-table tbody tr', (trs) => trs.map((tr) => ({
    name: tr.dataset.variant, ppl: Number(tr.dataset.ppl), cells: [...tr.children].map((c) => c.textContent) })));
  assert.deepEqual(rows.map((r) => r.name), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  const want = reference.passage_perplexity;
  // F32 within 1e-3 (llama-perplexity prints 4 decimals); the quantized types within 1e-3
  // relative, as src/llm/tests hold them (activation rounding of another float order).
  assert.ok(Math.abs(rows[0].ppl - want.F32.ppl) <= 1e-3, `F32 ${rows[0].ppl} vs ${want.F32.ppl}`);
  for (const r of rows.slice(1)) assert.ok(Math.abs(r.ppl - want[r.name].ppl) <= 1e-3 * want[r.name].ppl, `${r.name} ${r.ppl} vs ${want[r.name].ppl}`);
  for (const r of rows) assert.equal(r.cells[2], want[r.name].ppl.toFixed(4), `${r.name}: llama.cpp's figure beside it`);
  assert.equal(rows[0].cells[3], 'base');
  assert.equal(rows[0].cells[6], '32.00');
  assert.equal(rows[1].cells[7], '1.4 MB');
  // The rule of thumb: 1,377,536 parameters × 32 bits / 8 × 1.2 = 6,612,173 B (6.3 MiB, the page's MB); tokens/s measured.
  assert.equal(rows[0].cells[8], '6.3 MB');
  for (const r of rows) assert.match(r.cells[9], /^\d+$/, `${r.name}: tokens/s`);
  // KL divergence from F32 as llama-perplexity --kl-divergence (kld.json; the port is held to it in
  // src/llm/tests/kl_divergence.rs): mean within 3 % + 2e-5, same top token within 1 point.
  const kld = JSON.parse(await fixture('kld.json')).types;
  const kl = await page.$$eval('#lm-ppl-table tbody tr', (trs) => trs.slice(1).map((tr) =>
    ({ name: tr.dataset.variant, kld: Number(tr.dataset.kld), top: Number(tr.dataset.sameTop) })));
  for (const r of kl) {
    const want = kld[r.name];
    assert.ok(Math.abs(r.kld - want.mean_kld) <= 0.03 * want.mean_kld + 2e-5, `${r.name}: KLD ${r.kld} vs ${want.mean_kld}`);
    assert.ok(Math.abs(r.top - want.same_top_percent) <= 1, `${r.name}: same top ${r.top} vs ${want.same_top_percent}`);
  }
  assert.ok(kl.find((r) => r.name === 'Q8_0').kld < kl.find((r) => r.name === 'Q4_0').kld, 'fewer bits, more divergence');
  // The chart: one point per type.
  assert.deepEqual(await page.$$eval('#lm-ppl-chart .point', (gs) => gs.map((g) => g.dataset.variant)), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  assert.match(await page.textContent('#lm-ppl-status'), /^8 chunks of 128 tokens/);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-perplexity.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Cancel stops a generation between two requests, and the next one runs', async () => {
  const page = await openLm();
  await page.fill('#lm-tokens', '512');
  await page.click('#lm-generate');
  await page.waitForFunction(() => JSON.parse(document.querySelector('.lm-column[data-variant="Q4_K_M"]')?.dataset.tokens ?? '[]').length > 0,
    null, { timeout: 120000 });
  await page.click('#lm-cancel');
  await page.waitForFunction(() => document.querySelector('#lm-outputs').dataset.state === 'cancelled', null, { timeout: 60000 });
  const got = await columnTokens(page);
  // One request at most finishes after Cancel: 4 tokens of one type.
  for (const [name, ids] of Object.entries(got)) assert.ok(ids.length < 512, `${name}: ${ids.length}`);
  assert.match(await page.textContent('.lm-column[data-variant="F32"] .lm-speed'), /cancelled$/);
  assert.equal(await page.isDisabled('#lm-generate'), false);
  await page.fill('#lm-tokens', '3');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs').dataset.state === 'done', null, { timeout: 60000 });
  for (const ids of Object.values(await columnTokens(page))) assert.equal(ids.length, 3);
  assert.deepEqual(page.errors, []);
  await page.close();
});

// A GGUF file (version 3) with no tensors and one key, general.architecture = "gemma3n": read fine,
// refused for its architecture before anything else.
function otherArchitecture() {
  const str = (t) => { const b = Buffer.from(t); const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(b.length)); return [n, b]; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  return Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(1), ...str('general.architecture'), u32(8), ...str('gemma3n')]);
}

test('a model of another architecture, a vocabulary without the BOS it adds and a file that is not GGUF are refused with the reason, at 390 px too', async () => {
  const page = await openLm(390);
  await dropFiles(page, '#lm-drop', [{ name: 'gemma3n.gguf', bytes: otherArchitecture() }]);
  await page.waitForSelector('#lm-error:not([hidden])', { timeout: 60000 });
  assert.equal(await page.textContent('#lm-error'),
    "gemma3n.gguf: unsupported architecture 'gemma3n': quantscope runs llama, qwen2, qwen3, gemma, gemma2, gemma3");
  assert.equal(await page.textContent('#lm-status'), 'gemma3n.gguf was refused.');
  // make_tokenizer_special.py's no-bos.gguf: adds BOS, has none; llama.cpp aborts on its first text.
  const noBos = readFileSync(new URL('../fixtures/llm_tokenizer/no-bos.gguf', import.meta.url));
  await dropFiles(page, '#lm-drop', [{ name: 'no-bos.gguf', bytes: noBos }]);
  await page.waitForFunction(() => /^no-bos\.gguf: GGUF metadata 'tokenizer\.ggml\.add_bos_token': is true, but the vocabulary has no BOS token: .*llama\.cpp aborts on every text it tokenizes with this model \(GGML_ASSERT\(vocab\.token_bos\(\) != LLAMA_TOKEN_NULL\)\)$/
    .test(document.querySelector('#lm-error').textContent), null, { timeout: 60000 });
  assert.equal(await page.textContent('#lm-status'), 'no-bos.gguf was refused.');
  await dropFiles(page, '#lm-drop', [{ name: 'notes.gguf', bytes: Buffer.from('just some text, not a model') }]);
  await page.waitForFunction(() => /^notes\.gguf: cannot read the model/.test(document.querySelector('#lm-error').textContent), null, { timeout: 60000 });
  // The built-in model comes back and runs.
  await page.click('#lm-builtin');
  await page.fill('#lm-tokens', '20');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390`);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-phone.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an explicit BOS id outside the vocabulary is warned about as llama.cpp warns, and the model runs', async () => {
  // The built-in file with tokenizer.ggml.bos_token_id (a u32 after its key and type) set to
  // 70000 of 512 tokens: llama.cpp warns "bad special token" and keeps its default, 11.
  const bytes = Buffer.from(gguf);
  const key = 'tokenizer.ggml.bos_token_id';
  const at = bytes.indexOf(key) + key.length;
  assert.equal(bytes.readUInt32LE(at), 4, 'a u32 value');
  bytes.writeUInt32LE(70000, at + 4);
  const page = await openLm();
  await dropFiles(page, '#lm-drop', [{ name: 'bad-bos.gguf', bytes }]);
  await page.waitForFunction(() => /^bad-bos\.gguf: llama/.test(document.querySelector('#lm-status').textContent), null, { timeout: 60000 });
  assert.match(await page.textContent('#lm-status'),
    / Running: F32, Q8_0, Q4_0, Q4_K_M\. llama\.cpp warns: bad special token: 'tokenizer\.ggml\.bos_token_id' = 70000, using default id 11\.$/);
  assert.ok(await page.isHidden('#lm-error'));
  await page.fill('#lm-tokens', '4');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a seed samples reproducibly: the same seed gives the same tokens, another seed others', async () => {
  const page = await openLm();
  const run = async (seed) => {
    await page.fill('#lm-seed', String(seed));
    await page.fill('#lm-tokens', '24');
    await page.click('#lm-generate');
    await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
    return columnTokens(page);
  };
  const [a, b, c] = [await run(1), await run(1), await run(2)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.F32, c.F32);
  for (const ids of Object.values(a)) assert.equal(ids.length, 24);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Cancel stops a perplexity run between two chunks', async () => {
  const page = await openLm();
  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'running', null, { timeout: 120000 });
  await cancelWhenPast(page, '#lm-ppl-progress', 0);
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table').dataset.state === 'cancelled', null, { timeout: 60000 });
  assert.match(await page.textContent('#lm-ppl-status'), /^Cancelled after [0-7] of 8 chunks\.$/);
  assert.equal(await page.isHidden('#lm-ppl-progress'), true);
  assert.equal(await page.isDisabled('#lm-ppl'), false);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a qwen3 model dropped on the section runs: llama.cpp\'s next token, its quantized copies generate', async () => {
  const page = await openLm();
  await dropFiles(page, '#lm-drop', [{ name: 'qwen3.gguf', bytes: qwen3 }]);
  await page.waitForFunction(() => /^qwen3\.gguf: qwen3, /.test(document.querySelector('#lm-status').textContent), null, { timeout: 60000 });
  await page.fill('#lm-prompt', qwen3Prompt);
  await page.fill('#lm-tokens', '3');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 60000 });
  assert.deepEqual(JSON.parse(await page.$eval('#lm-outputs', (e) => e.dataset.prompt)), qwen3Heldout.slice(0, 16));
  const got = await columnTokens(page);
  assert.deepEqual(Object.keys(got), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  for (const ids of Object.values(got)) assert.equal(ids.length, 3);
  assert.equal(got.F32[0], qwen3Top, 'the first greedy token is llama.cpp\'s top logit');
  assert.deepEqual(page.errors, []);
  await page.close();
});

// make_llm_archs.py's tiny gemma3 (SentencePiece vocabulary without the space prefix, sliding-window
// layer, GELU, post-norms): dropped on the page, it loads, tokenizes the prompt as llama.cpp (BOS,
// which SentencePiece adds, then the held-out ids) and every copy generates. Its first greedy
// token is held to llama.cpp's logits in src/lm/tests/playground.rs (these are without BOS).
const gemma3 = await readFile(new URL('../fixtures/llm_archs/gemma3.gguf', import.meta.url));
const gemma3Heldout = idsOf(await readFile(new URL('../fixtures/llm_archs/gemma3.heldout.ids.npy', import.meta.url)));
const gemma3Prompt = (() => {
  const s = new LmSession('gemma3.gguf', gemma3);
  try { return s.decode(Uint32Array.from(gemma3Heldout.slice(0, 16))); } finally { s.free(); }
})();

test('a gemma3 model with a SentencePiece tokenizer dropped on the section runs with its quantized copies', async () => {
  const page = await openLm();
  await dropFiles(page, '#lm-drop', [{ name: 'gemma3.gguf', bytes: gemma3 }]);
  await page.waitForFunction(() => /^gemma3\.gguf: gemma3, /.test(document.querySelector('#lm-status').textContent), null, { timeout: 60000 });
  await page.fill('#lm-prompt', gemma3Prompt);
  await page.fill('#lm-tokens', '3');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 60000 });
  assert.deepEqual(JSON.parse(await page.$eval('#lm-outputs', (e) => e.dataset.prompt)), [1, ...gemma3Heldout.slice(0, 16)]);
  const got = await columnTokens(page);
  assert.deepEqual(Object.keys(got), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  for (const ids of Object.values(got)) assert.equal(ids.length, 3);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-gemma3.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a file larger than the tab can hold is refused before it is read, and the model on show stays', async () => {
  // A sparse file of 1.6 GiB: no disk blocks, and the browser gets its path, so nothing of it is
  // read unless the page reads it.
  const path = join(tmpdir(), `quantscope-too-big-${process.pid}.gguf`);
  const f = await openFile(path, 'w');
  try {
    await f.truncate(Math.round(1.6 * 2 ** 30));
    await f.close();
    const page = await openLm();
    await page.click('#lm-generate'); // the built-in model loads
    await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
    await page.setInputFiles('#lm-file', path);
    await page.waitForSelector('#lm-error:not([hidden])', { timeout: 60000 });
    assert.match(await page.textContent('#lm-error'),
      /^quantscope-too-big-\d+\.gguf: the file is 1\.60 GiB; this tab holds a language model of up to 1\.5 GiB/);
    assert.match(await page.textContent('#lm-status'), /^Built-in small model: llama, /);
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    await rm(path, { force: true });
  }
});

// A GGUF header of one IQ3_S matrix of 3,000,000 × 256 (3.44 bits a weight: 0.31 GiB stored), the
// rest of the file sparse: under the file-size limit, but held as F32 (no IQ3_S kernel here) its
// weights take 2.86 GiB. The worker adds that up from the header alone.
function iq3sHeader(rows) {
  const str = (t) => { const b = Buffer.from(t); const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(b.length)); return [n, b]; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const IQ3_S = 21;
  const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(1), u64(1), ...str('general.architecture'), u32(8), ...str('llama'),
    ...str('token_embd.weight'), u32(2), u64(256), u64(rows), u32(IQ3_S), u64(0)]);
  return Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
}

test('a file whose weights would not fit once loaded is refused before it is read, and the model on show stays', async () => {
  const rows = 3_000_000;
  const path = join(tmpdir(), `quantscope-iq3s-${process.pid}.gguf`);
  const f = await openFile(path, 'w');
  try {
    const header = iq3sHeader(rows);
    await f.write(header, 0, header.length, 0);
    await f.truncate(header.length + rows * 110);
    await f.close();
    const page = await openLm();
    await page.click('#lm-generate'); // the built-in model loads
    await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
    await page.setInputFiles('#lm-file', path);
    await page.waitForSelector('#lm-error:not([hidden])', { timeout: 60000 });
    // The file (0.31 GiB) plus 4 bytes for each of its 768 M weights.
    const gib = ((header.length + rows * 110 + rows * 256 * 4) / 2 ** 30).toFixed(2);
    assert.match(await page.textContent('#lm-error'),
      new RegExp(`^quantscope-iq3s-\\d+\\.gguf: loading it takes ${gib.replace('.', '\\.')} GiB of memory \\(the file 0\\.31 GiB`));
    assert.match(await page.textContent('#lm-status'), /^Built-in small model: llama, /);
    assert.equal(await page.isDisabled('#lm-generate'), false);
    await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-too-big.png` });
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    await rm(path, { force: true });
  }
});
