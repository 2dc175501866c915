// End to end: a llama.cpp mix (issue 16, item 4) previewed and downloaded from the Inspect
// view's Model section. The source and llama-quantize's SHA-256s are the fixture of
// src/formats/tests/gguf_mixes.rs (scripts/fixtures/make_gguf_mixes.py): the page's file must be
// byte for byte what the pinned llama-quantize wrote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const source = new URL('../fixtures/gguf_mixes/source.gguf', import.meta.url);
const cases = JSON.parse(await readFile(new URL('../fixtures/gguf_mixes/cases.json', import.meta.url)));
const llamaQuantize = (name) => cases.cases.find((c) => c.name === name);

const rows = (page) => page.$$eval('#gguf-preview-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));

async function download(page) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  const bytes = await readFile(await file.path());
  return { name: file.suggestedFilename(), sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
}

test('a Q4_K_M mix is previewed tensor by tensor and downloads as llama-quantize writes it', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', source.pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });

  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForSelector('#gguf-preview:not([hidden])');
  const want = llamaQuantize('Q4_K_M');
  let table = await rows(page);
  // In llama.cpp's order, with llama-quantize's types.
  assert.deepEqual(table.map((r) => [r[0], r[1]]), want.tensors.map((t) => [t.name, t.type]));
  const attnV = table.find((r) => r[0] === 'blk.0.attn_v.weight');
  // Columns: tensor, type, imatrix (hidden without one), bits/weight, bytes, SQNR and weighted
  // MSE (empty until measured), rule.
  assert.deepEqual(attnV.slice(1, 7), ['q6_k', '', '6.56', '1,680', '', '']);
  assert.match(attnV[7], /use_more_bits/);
  assert.match(table.find((r) => r[0] === 'blk.7.ffn_down.weight')[7], /falls back to f16/);
  const summary = await page.locator('#gguf-preview-summary').textContent();
  assert.match(summary, /as Q4_K_M: .*, 5\.37 bits\/weight; /);

  const q4km = await download(page);
  assert.equal(q4km.length, want.len);
  assert.equal(q4km.sha256, want.sha256, 'byte for byte llama-quantize\'s Q4_K_M');

  // --pure: the default type wherever the rows allow it.
  await page.check('#gguf-pure');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.includes('44 as q4_k'));
  table = await rows(page);
  assert.deepEqual(table.map((r) => r[1]), llamaQuantize('Q4_K_M-pure').tensors.map((t) => t.type));
  assert.equal((await download(page)).sha256, llamaQuantize('Q4_K_M-pure').sha256);

  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#gguf-preview').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SCREENSHOTS}gguf-mix-${width}.png` });
  }

  // A mix that needs an importance matrix: llama.cpp's refusal, in place of the table.
  await page.uncheck('#gguf-pure');
  await page.selectOption('#gguf-type', 'IQ2_XXS');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.startsWith('IQ2_XXS:'));
  assert.match(await page.locator('#gguf-preview-summary').textContent(), /requires an imatrix! \(offending tensor: blk\.0\.attn_k\.weight.*; load an importance matrix above$/);
  assert.equal(await page.locator('#gguf-preview-table tbody tr').count(), 0);
  // One type for every tensor hides the preview again.
  await page.selectOption('#gguf-type', 'q8_0');
  await page.waitForSelector('#gguf-preview', { state: 'hidden' });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a mix and a one-type export are encoded on a pool of workers: the same bytes on 1, 2 and 3', async () => {
  const want = llamaQuantize('Q4_K_M');
  const oneType = new Set();
  for (const workers of [1, 2, 3]) {
    const page = await browser.page();
    await page.goto(`${browser.url}#inspect?workers=${workers}`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
    await page.setInputFiles('#file-input', source.pathname);
    await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
    await page.selectOption('#gguf-type', 'Q4_K_M');
    await page.waitForSelector('#gguf-preview:not([hidden])');
    const mix = await download(page);
    assert.equal(mix.sha256, want.sha256, `Q4_K_M on ${workers} workers`);
    assert.equal(await page.evaluate(() => document.body.dataset.ggufWorkers), String(workers));
    await page.waitForSelector('#gguf-result:not([hidden])');
    assert.match(await page.locator('#gguf-result').textContent(), new RegExp(`written in [\\d.]+ s on ${workers} workers?\\.`));
    await page.selectOption('#gguf-type', 'q6_k');
    oneType.add((await download(page)).sha256);
    assert.deepEqual(page.errors, []);
    await page.close();
  }
  assert.equal(oneType.size, 1, 'the q6_k file is the same on 1, 2 and 3 workers');
});

test('Cancel stops a mix being encoded on the pool: its workers end, nothing is saved, the next export works', async () => {
  const large = new URL('../fixtures/tiny_lm_large/tiny-lm-large-f16.gguf', import.meta.url);
  const page = await browser.page();
  await page.goto(`${browser.url}#inspect?workers=3`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', large.pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 60000 });
  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForSelector('#gguf-preview:not([hidden])');
  const before = page.workers().length;
  let saved = false;
  page.on('download', () => { saved = true; });
  await page.click('#gguf-export');
  // The mix of a 5M-parameter model takes seconds: wait for its three pool workers, then cancel.
  for (let i = 0; i < 300 && page.workers().length < before + 3; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page.workers().length, before + 3, 'the pool is running, 3 workers');
  await page.click('#gguf-cancel');
  await page.waitForSelector('#gguf-progress-row', { state: 'hidden' });
  for (let i = 0; i < 50 && page.workers().length !== before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page.workers().length, before, 'Cancel terminates the pool');
  assert.equal(saved, false);
  assert.equal(await page.locator('#error').isHidden(), true);
  // The mixer is free again: the same mix downloads, with llama-quantize's bytes checked elsewhere.
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('#gguf-export')]);
  assert.equal(file.suggestedFilename(), 'tiny-lm-large-f16.Q4_K_M.gguf');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a mix of a file that is not a GGUF model is refused with the reason, and the one-type export still works', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', new URL('../fixtures/safetensors/metadata_order.safetensors', import.meta.url).pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.startsWith('Q4_K_M:'));
  assert.match(await page.locator('#gguf-preview-summary').textContent(), /a llama\.cpp mix is made from a GGUF model .* is a safetensors file/);
  assert.equal(await page.locator('#gguf-preview-table tbody tr').count(), 0);
  await page.selectOption('#gguf-type', 'q8_0');
  await page.waitForSelector('#gguf-preview', { state: 'hidden' });
  const file = await download(page);
  assert.match(file.name, /\.q8_0\.gguf$/);
  assert.deepEqual(page.errors, []);
  await page.close();
});
