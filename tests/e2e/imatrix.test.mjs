// End to end: importance matrices in the page (issue 16, item 3). llama-imatrix's file is loaded
// beside the GGUF mix picker; the mix preview marks the tensors quantized with it, the downloads
// are byte for byte what the pinned `llama-quantize --imatrix imatrix.gguf` wrote (the SHA-256s
// of src/formats/tests/gguf_mixes.rs, tests/fixtures/gguf_mixes/cases.json; the files are
// uploaded under the names the fixture script gave llama-quantize, since it writes that name
// into quantize.imatrix.file), and a tensor's importance per input column is drawn. The
// expected weights are read here from the fixture files with a small reader of their own
// (in_sum2 / count, as llama-quantize's load_imatrix computes them in f32).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { launch, SCREENSHOTS } from './browser.mjs';
import { readGguf } from './gguf-read.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fixture = (name) => new URL(`../fixtures/gguf_mixes/${name}`, import.meta.url).pathname;
const cases = JSON.parse(await readFile(fixture('cases.json')));
const llamaQuantize = (name) => cases.cases.find((c) => c.name === name);

// load_imatrix's weights of one dense entry: in_sum2 / count, in f32.
function weights(imatrix, name) {
  const sums = imatrix.tensors[`${name}.in_sum2`], [count] = imatrix.tensors[`${name}.counts`];
  return sums.map((s) => (count > 0 ? Math.fround(s / Math.round(count)) : 1));
}

const imatrix = readGguf(await readFile(fixture('imatrix.gguf')));
const entries = Object.keys(imatrix.tensors).filter((n) => n.endsWith('.in_sum2')).map((n) => n.slice(0, -'.in_sum2'.length));
const source = readGguf(await readFile(fixture('source.gguf')));
// An entry llama-quantize passes on: one weight per input column (ne[0]) of each expert (ne[2]);
// one of another size is an error, except for the token embedding, whose entry is ignored.
const entryFits = (name) => entries.includes(name) &&
  imatrix.tensors[`${name}.in_sum2`].length === source.shapes[name][0] * (source.shapes[name][2] ?? 1);

// The types whose quantizers take importance weights (core::schemes::importance; llama.cpp's
// others ignore them), and the source's types (F32 tensors are what get quantized).
const WEIGHTED_TYPES = new Set(['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'iq4_nl', 'iq4_xs']);

const rows = (page) => page.$$eval('#gguf-preview-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const summary = (page) => page.locator('#gguf-preview-summary').textContent();

async function download(page) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  const bytes = await readFile(await file.path());
  return { name: file.suggestedFilename(), sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
}

// The importance-weighted MSE of the selected tensor and scheme, from the page's own original
// and dequantized .npy downloads and the fixture's weights: Σ w (x − x̂)² / Σ w.
async function weightedHere(page, name) {
  const npy = async (what) => {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(`[data-export="${what}"]`)]);
    const bytes = await readFile(await file.path());
    const start = 10 + bytes.readUInt16LE(8);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  };
  const [x, q] = [await npy('original'), await npy('dequantized')];
  const wd = weights(imatrix, name);
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) { const w = wd[i % wd.length], e = x[i] - q[i]; num += w * e * e; den += w; }
  assert.ok(num > 0, `${name}: some error`);
  return num / den;
}

async function openSource(page) {
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', fixture('source.gguf'));
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
}

// Loads `file` (a fixture path, or {name, buffer}) as the importance matrix and waits for the
// page to show it (or the error).
async function loadImatrix(page, file) {
  const before = await page.locator('#imatrix-info').textContent();
  const error = await page.locator('#imatrix-error').textContent();
  await page.setInputFiles('#imatrix-input', file);
  await page.waitForFunction(([b, e]) => {
    const info = document.querySelector('#imatrix-info').textContent;
    const err = document.querySelector('#imatrix-error');
    return !info.endsWith('reading…') && (info !== b || (!err.hidden && err.textContent !== e));
  }, [before, error]);
}

// Picks `type` and waits for its preview (or refusal).
async function pick(page, type, { weightedBy = null } = {}) {
  await page.selectOption('#gguf-type', type);
  await page.waitForFunction(([t, by]) => {
    if (document.querySelector('#gguf-preview').getAttribute('aria-busy') !== 'false') return false;
    const s = document.querySelector('#gguf-preview-summary').textContent;
    return (s.includes(` as ${t}: `) && (by === null || s.includes(`importance-weighted by ${by}`))) || s.startsWith(`${t}: `);
  }, [type, weightedBy]);
}

test('with llama-imatrix\'s file the preview marks the weighted tensors, the downloads are llama-quantize --imatrix\'s, and a tensor\'s importance is drawn', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await openSource(page);
  await loadImatrix(page, fixture('imatrix.gguf'));
  // The file's metadata as llama-imatrix wrote it.
  const [datasets, chunks, chunkSize] = [imatrix.kv['imatrix.datasets'], imatrix.kv['imatrix.chunk_count'], imatrix.kv['imatrix.chunk_size']];
  assert.equal(await page.locator('#imatrix-info').textContent(),
    `imatrix.gguf (GGUF): ${entries.length} entries, dataset ${datasets.join(', ')}, ${chunks} chunks of ${chunkSize} tokens`);
  assert.equal(await page.locator('#imatrix-clear').isVisible(), true);

  for (const type of ['Q4_K_M', 'IQ4_XS']) {
    await pick(page, type, { weightedBy: 'imatrix.gguf' });
    const want = llamaQuantize(`${type}-imatrix`);
    const table = await rows(page);
    assert.deepEqual(table.map((r) => [r[0], r[1]]), want.tensors.map((t) => [t.name, t.type]), type);
    // Weighted: a tensor quantized (not kept as f32) into a type that takes weights, with an entry.
    const weighted = want.tensors.filter((t) => t.type !== 'f32' && WEIGHTED_TYPES.has(t.type) && entryFits(t.name)).map((t) => t.name);
    assert.deepEqual(table.filter((r) => r[2] === 'weighted').map((r) => r[0]), weighted, type);
    assert.ok(weighted.length > 20, `${type}: ${weighted.length} weighted tensors`);
    assert.match(await summary(page), new RegExp(`; ${weighted.length} importance-weighted by imatrix\\.gguf$`));
    const file = await download(page);
    assert.equal(file.name, `source.${type}.gguf`);
    assert.equal(file.length, want.len, type);
    assert.equal(file.sha256, want.sha256, `byte for byte llama-quantize --imatrix imatrix.gguf's ${type}`);
  }

  // A row of the preview clicked: its importance per input column under the table.
  const name = 'blk.0.attn_q.weight';
  const w = weights(imatrix, name);
  const top = w.map((v, i) => [i, v]).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10);
  await page.locator('#gguf-preview-table tbody tr', { hasText: name }).click();
  await page.waitForSelector('#gguf-importance:not([hidden]) canvas:not([hidden])');
  const text = await page.locator('#gguf-importance .importance-text').textContent();
  assert.match(text, new RegExp(`^${name.replace(/\./g, '\\.')}: ${w.length} input columns; count ${Math.round(imatrix.tensors[`${name}.counts`][0])}; largest weight `));
  const shownTop = (await page.locator('#gguf-importance .importance-top').textContent()).match(/(\d+) \(/g).map((m) => Number(m.slice(0, -2)));
  assert.deepEqual(shownTop, top.map(([i]) => i));
  const largest = Number(text.match(/largest weight ([^,]+),/)[1]);
  assert.ok(Math.abs(largest - top[0][1]) <= 5e-3 * top[0][1], `largest weight ${largest} against ${top[0][1]}`);
  // The bars are drawn: the plot has blue pixels.
  const blue = await page.$eval('#gguf-importance canvas', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 0x25 && d[i + 1] === 0x63 && d[i + 2] === 0xeb) n++;
    return n;
  });
  assert.ok(blue > 1000, `${blue} bar pixels`);
  await page.locator('#gguf-importance').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENSHOTS}imatrix-preview-1366.png` });
  // From the keyboard: a row focused and Enter.
  await page.locator('#gguf-preview-table tbody tr', { hasText: 'blk.1.attn_k.weight' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#gguf-importance .importance-text').textContent.startsWith('blk.1.attn_k.weight: '));

  // The same tensor selected in Inspect: its chart in the Tensor section.
  const ffnDown = 'blk.0.ffn_down.weight';
  await page.locator('#tensor-list li', { hasText: ffnDown }).first().click();
  await page.waitForFunction((n) => document.querySelector('#tensor-importance .importance-text').textContent.startsWith(`${n}:`)
    && !document.querySelector('#tensor-importance').hidden, ffnDown);
  assert.match(await page.locator('#tensor-importance .importance-text').textContent(), new RegExp(`: ${weights(imatrix, ffnDown).length} input columns;`));
  // The importance-weighted MSE of the selected scheme, against the page's own .npy downloads
  // weighted here: Σ w (x − x̂)² / Σ w.
  const checked = new Map();
  for (const scheme of ['int8_sym', 'q4_k']) {
    if (scheme !== 'int8_sym') await page.selectOption('#scheme-picker', scheme);
    await page.waitForFunction((s) => /^Importance-weighted MSE under (\S+): \d/.exec(document.querySelector('#tensor-importance-mse').textContent)?.[1] === s, scheme);
    const shown = Number((await page.locator('#tensor-importance-mse').textContent()).match(/: (\S+) \(/)[1]);
    const want = await weightedHere(page, ffnDown);
    assert.ok(Math.abs(shown - want) <= 1e-5 * want, `${scheme}: page ${shown}, weighted here ${want}`);
    checked.set(scheme, want);
  }
  // The comparison's "MSE (imatrix)" column: every scheme weighted, the same numbers.
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached' });
  await page.waitForFunction(() => document.querySelectorAll('#scheme-table td[data-col="weighted_mse"]').length > 50 &&
    [...document.querySelectorAll('#scheme-table td[data-col="weighted_mse"]')].every((td) => td.textContent !== ''), null, { timeout: 60000 });
  assert.equal(await page.locator('#scheme-table th[data-key="weighted_mse"]').isVisible(), true);
  for (const [scheme, want] of checked) {
    const cell = Number(await page.locator(`#scheme-table tr[data-scheme="${scheme}"] td[data-col="weighted_mse"]`).textContent());
    assert.ok(Math.abs(cell - want) <= 1e-5 * want, `${scheme}: column ${cell}, weighted here ${want}`);
  }
  await page.locator('#scheme-table tr[data-scheme="q4_k"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENSHOTS}imatrix-scheme-table-1366.png` });
  await page.check('#tensor-importance .importance-log');
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#tensor-importance').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SCREENSHOTS}imatrix-tensor-${width}.png` });
  }
  await page.locator('#gguf-preview').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENSHOTS}imatrix-preview-390.png` });
  // A tensor without an entry (a norm) shows no chart.
  await page.locator('#tensor-list li', { hasText: 'blk.0.attn_norm.weight' }).first().click();
  await page.waitForSelector('#tensor-importance', { state: 'hidden' });
  await page.waitForSelector('#scheme-table th[data-key="weighted_mse"]', { state: 'hidden' });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the types that need an imatrix are made with one, or refused with the reason quantscope has', async () => {
  const page = await browser.page();
  await openSource(page);
  // imatrix_full.gguf has every tensor's entry: Q2_K_S is allowed, as llama-quantize allows it.
  await loadImatrix(page, fixture('imatrix_full.gguf'));
  await pick(page, 'Q2_K_S', { weightedBy: 'imatrix_full.gguf' });
  const want = llamaQuantize('Q2_K_S-imatrix-full');
  assert.deepEqual((await rows(page)).map((r) => r[1]), want.tensors.map((t) => t.type));
  assert.equal((await download(page)).sha256, want.sha256, "byte for byte llama-quantize --imatrix imatrix_full.gguf's Q2_K_S");
  // The grid mixes (issue 16 item 2), made by the mixer built with the grid quantizers
  // (in the mixer module, www/pkg-mix): byte for byte llama-quantize --imatrix imatrix_full.gguf's.
  for (const type of ['IQ2_XXS', 'IQ1_M', 'IQ3_M']) {
    await pick(page, type, { weightedBy: 'imatrix_full.gguf' });
    const iq = llamaQuantize(`${type}-imatrix-full`);
    assert.deepEqual((await rows(page)).map((r) => r[1]), iq.tensors.map((t) => t.type), type);
    assert.equal((await download(page)).sha256, iq.sha256, `byte for byte llama-quantize --imatrix imatrix_full.gguf's ${type}`);
  }
  // Back to a plain mix: the plain mixer's (with its own copy of the imatrix) is unchanged.
  await pick(page, 'Q2_K_S', { weightedBy: 'imatrix_full.gguf' });
  assert.equal((await download(page)).sha256, want.sha256);
  // imatrix.gguf lacks some entries: llama.cpp's refusal names the first tensor without one.
  await loadImatrix(page, fixture('imatrix.gguf'));
  await pick(page, 'IQ2_XXS');
  assert.equal(await summary(page), `IQ2_XXS: ${llamaQuantize('IQ2_XXS-imatrix').error}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a file that is not an importance matrix is refused in llama.cpp\'s words and the one before stays; .dat files and Clear work', async () => {
  const page = await browser.page();
  await openSource(page);
  await loadImatrix(page, fixture('imatrix.gguf'));
  const loaded = await page.locator('#imatrix-info').textContent();

  const refused = async (file, message) => {
    await loadImatrix(page, file);
    const error = await page.locator('#imatrix-error').textContent();
    assert.match(error, message);
    assert.match(error, /Still using imatrix\.gguf\.$/);
    assert.equal(await page.locator('#imatrix-info').textContent(), loaded);
  };
  // A GGUF model, not an imatrix: llama-quantize's "missing imatrix metadata".
  await refused({ name: 'model.gguf', mimeType: 'application/octet-stream', buffer: await readFile(fixture('source.gguf')) },
    /^Could not read model\.gguf as an importance matrix: model\.gguf: imatrix: missing imatrix metadata \('imatrix\.datasets'\)/);
  // A legacy file cut short.
  const dat = await readFile(fixture('imatrix.dat'));
  await refused({ name: 'cut.dat', mimeType: 'application/octet-stream', buffer: dat.subarray(0, 200) },
    /^Could not read cut\.dat as an importance matrix: cut\.dat: imatrix \(legacy \.dat\): the file ends inside /);
  // An empty file.
  await refused({ name: 'empty.dat', mimeType: 'application/octet-stream', buffer: Buffer.alloc(0) },
    /imatrix \(legacy \.dat\): the file ends inside the entry count/);
  // The imatrix loaded before is still the one the mixes use.
  await pick(page, 'Q4_K_M', { weightedBy: 'imatrix.gguf' });
  assert.equal((await download(page)).sha256, llamaQuantize('Q4_K_M-imatrix').sha256);

  // An entry whose size is not the tensor's: read, but the mix is refused as llama-quantize refuses it.
  await loadImatrix(page, fixture('imatrix_bad_size.gguf'));
  await page.selectOption('#gguf-type', 'Q4_0');
  await pick(page, 'Q4_K_M');
  assert.equal(await summary(page), `Q4_K_M: ${llamaQuantize('Q4_K_M-imatrix-bad-size').error}`);

  // The legacy layout, under the name llama-quantize was given.
  await loadImatrix(page, fixture('imatrix.dat'));
  assert.match(await page.locator('#imatrix-info').textContent(), /^imatrix\.dat \(legacy \.dat\): \d+ entries/);
  assert.equal(await page.locator('#imatrix-error').isVisible(), false);
  await page.selectOption('#gguf-type', 'Q4_0');
  await pick(page, 'Q4_K_M', { weightedBy: 'imatrix.dat' });
  assert.equal((await download(page)).sha256, llamaQuantize('Q4_K_M-imatrix-dat').sha256);

  // Clear: the mixes are made without one again.
  await page.click('#imatrix-clear');
  await page.waitForFunction(() => document.querySelector('#imatrix-info').textContent.startsWith('none'));
  await page.waitForFunction(() => !document.querySelector('#gguf-preview-summary').textContent.includes('importance-weighted'));
  assert.equal((await download(page)).sha256, llamaQuantize('Q4_K_M').sha256);
  await pick(page, 'IQ2_XXS');
  assert.match(await summary(page), /requires an imatrix!/);
  // IQ3_S needs none: the grid mixer without one, as llama-quantize without --imatrix.
  await pick(page, 'IQ3_S');
  assert.equal((await download(page)).sha256, llamaQuantize('IQ3_S').sha256);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the weighted numbers follow the selection: another tensor picked mid-way never shows the first one\'s', async () => {
  const page = await browser.page();
  await openSource(page);
  await loadImatrix(page, fixture('imatrix.gguf'));
  const [first, second] = ['blk.0.ffn_down.weight', 'blk.2.ffn_up.weight'];
  await page.locator('#tensor-list li', { hasText: first }).first().click();
  // As soon as the first one's chart is up (its weighting under way), the second.
  await page.waitForFunction((n) => document.querySelector('#tensor-importance .importance-text').textContent.startsWith(`${n}:`), first);
  await page.locator('#tensor-list li', { hasText: second }).first().click();
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached' });
  await page.waitForFunction((n) => document.querySelector('#tensor-title').textContent === n &&
    document.querySelector('#tensor-importance .importance-text').textContent.startsWith(`${n}:`) &&
    /: \d/.test(document.querySelector('#tensor-importance-mse').textContent) &&
    document.querySelector('#tensor-importance-progress').hidden &&
    document.querySelector('#scheme-table tr[data-scheme="int8_sym"] td[data-col="weighted_mse"]')?.textContent !== '', second, { timeout: 60000 });
  const want = await weightedHere(page, second);
  const line = Number((await page.locator('#tensor-importance-mse').textContent()).match(/: (\S+) \(/)[1]);
  const cell = Number(await page.locator('#scheme-table tr[data-scheme="int8_sym"] td[data-col="weighted_mse"]').textContent());
  for (const shown of [line, cell]) assert.ok(Math.abs(shown - want) <= 1e-5 * want, `${second}: page ${shown}, weighted here ${want}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
