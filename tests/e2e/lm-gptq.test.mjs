// End to end: GPTQ in the Language model section (www/run/lm.js, lm-worker.js over src/lm,
// src/llm/src/gptq.rs and src/ptq). With the page's defaults the file it makes is the one
// scripts/fixtures/make_tiny_lm_gptq.py gave llama.cpp (same length, FNV-1a 64), scored as
// llama-perplexity scores it; every matrix's output error on the calibration tokens is lower than
// round-to-nearest's; the int3 grid adds GPTQ and RTN side by side; Cancel adds nothing. AWQ
// (src/lm/src/awq.rs over src/llm/src/awq.rs) adds llama-quantize's Q4_0 file of the scaled model,
// and draws each search's error against the exponent, the least one kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { cancelWhenPast, openLm as openLmPage } from './lm-page.mjs';
import { launch, SCREENSHOTS } from './browser.mjs';

const gptq = JSON.parse(await readFile(new URL('../fixtures/tiny_lm/gptq.json', import.meta.url)));

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fnv1a64 = (bytes) => {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
};
const stateOf = (page, sel) => page.$eval(sel, (e) => e.dataset.state);

test('GPTQ Q4_0 is the file llama.cpp was given, scores as llama-perplexity scores it, and beats RTN per matrix', async () => {
  const page = await openLmPage(browser);
  assert.equal(await page.isDisabled('#lm-gptq-save'), true, 'nothing to save before a run');
  assert.equal(await page.isDisabled('#lm-gptq-group'), true, 'Q4_0 fixes its groups of 32');
  await page.click('#lm-gptq');
  await page.waitForFunction(() => document.querySelector('#lm-gptq-status').dataset.state === 'done', null, { timeout: 240000 });
  assert.match(await page.textContent('#lm-gptq-status'), /^Added GPTQ Q4_0 \(16 chunks of 128 tokens, [\d.]+ s\): press Perplexity\.$/);
  assert.match(await page.textContent('#lm-status'), /Running: F32, Q8_0, Q4_0, Q4_K_M, GPTQ Q4_0\.$/);
  const rows = await page.$$eval('#lm-gptq-table tbody tr', (trs) => trs.map((tr) =>
    ({ name: tr.dataset.matrix, gptq: Number(tr.dataset.gptq), rtn: Number(tr.dataset.rtn), line: tr.querySelector('polyline').getAttribute('points') })));
  assert.equal(rows.length, 14);
  for (const r of rows) {
    assert.ok(r.gptq > 0 && r.gptq < r.rtn, `${r.name}: GPTQ ${r.gptq} against RTN ${r.rtn}`);
    assert.equal(r.line.split(' ').length, r.name.includes('ffn_down') ? 512 : 256, `${r.name}: a point per column`);
  }

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#lm-gptq-save')]);
  assert.equal(download.suggestedFilename(), 'tiny-lm-gptq-q4-0.gguf');
  const bytes = await readFile(await download.path());
  const want = gptq.types['GPTQ Q4_0'];
  assert.equal(bytes.length, want.bytes);
  assert.equal(fnv1a64(bytes), want.fnv1a64, 'the file make_tiny_lm_gptq.py gave llama-perplexity');

  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'done', null, { timeout: 240000 });
  const table = Object.fromEntries(await page.$$eval('#lm-ppl-table tbody tr', (trs) => trs.map((tr) =>
    [tr.dataset.variant, { ppl: Number(tr.dataset.ppl), llama: tr.children[2].textContent, kld: Number(tr.dataset.kld) }])));
  const ours = table['GPTQ Q4_0'];
  assert.ok(Math.abs(ours.ppl - want.ppl) <= 5e-4 * want.ppl, `GPTQ Q4_0: ${ours.ppl} against llama-perplexity's ${want.ppl}`);
  assert.equal(ours.llama, want.ppl.toFixed(4), "llama.cpp's figure beside it");
  assert.ok(ours.kld < table.Q4_0.kld, `GPTQ's KL divergence ${ours.kld} against round-to-nearest Q4_0's ${table.Q4_0.kld}`);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-gptq.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('int3 groups of 128: Cancel adds nothing, a finished run adds GPTQ and RTN on the same grid', async () => {
  const page = await openLmPage(browser, 390);
  await page.selectOption('#lm-gptq-grid', 'int3');
  assert.equal(await page.isDisabled('#lm-gptq-group'), false);
  await page.selectOption('#lm-gptq-group', '128');
  await page.fill('#lm-gptq-chunks', '2');
  await page.click('#lm-gptq');
  await cancelWhenPast(page, '#lm-gptq-progress', 0);
  await page.waitForFunction(() => document.querySelector('#lm-gptq-status').dataset.state === 'cancelled', null, { timeout: 60000 });
  assert.match(await page.textContent('#lm-gptq-status'), /^Cancelled after \d+ of 24 steps; nothing was added\.$/);
  assert.match(await page.textContent('#lm-status'), /Running: F32, Q8_0, Q4_0, Q4_K_M\.$/);

  await page.fill('#lm-gptq-chunks', '0');
  await page.click('#lm-gptq');
  await page.waitForSelector('#lm-error:not([hidden])');
  assert.match(await page.textContent('#lm-error'), /GPTQ chunks: a whole number ≥ 1/);
  await page.fill('#lm-gptq-chunks', '2');
  await page.check('#lm-gptq-actorder');
  await page.click('#lm-gptq');
  await page.waitForFunction(() => document.querySelector('#lm-gptq-status').dataset.state === 'done', null, { timeout: 240000 });
  assert.match(await page.textContent('#lm-gptq-status'), /^Added GPTQ int3 g128 act-order and RTN int3 g128 act-order /);
  assert.match(await page.textContent('#lm-status'), /Running: F32, Q8_0, Q4_0, Q4_K_M, GPTQ int3 g128 act-order, RTN int3 g128 act-order\.$/);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390`);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-gptq-phone.png` });
  assert.equal(await stateOf(page, '#lm-gptq-status'), 'done');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('AWQ adds the Q4_0 file of the scaled model and shows each search\'s error against α', async () => {
  const page = await openLmPage(browser);
  assert.equal(await page.isDisabled('#lm-awq-save'), true);
  await page.fill('#lm-awq-chunks', '2');
  await page.click('#lm-awq');
  await page.waitForFunction(() => document.querySelector('#lm-awq-status').dataset.state === 'done', null, { timeout: 240000 });
  assert.match(await page.textContent('#lm-awq-status'), /^Added AWQ Q4_0 \(2 × 128 calibration tokens, [\d.]+ s\): press Perplexity\.$/);
  assert.match(await page.textContent('#lm-status'), /Running: F32, Q8_0, Q4_0, Q4_K_M, AWQ Q4_0\.$/);
  const rows = await page.$$eval('#lm-awq-table tbody tr', (trs) => trs.map((tr) =>
    ({ group: tr.dataset.group, best: Number(tr.dataset.best), losses: JSON.parse(tr.dataset.losses), dot: !!tr.querySelector('circle') })));
  // Two layers × (q/k/v, gate/up, down); attn_v → attn_output is skipped under grouped-query attention.
  assert.equal(rows.length, 6);
  for (const r of rows) {
    assert.equal(r.losses.length, 20, r.group);
    assert.equal(r.losses[r.best], Math.min(...r.losses), `${r.group}: the α kept has the least error`);
    assert.ok(r.dot);
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#lm-awq-save')]);
  assert.equal(download.suggestedFilename(), 'tiny-lm-awq-q4-0.gguf');
  const bytes = await readFile(await download.path());
  assert.equal(bytes.subarray(0, 4).toString(), 'GGUF');
  await page.locator('#lm-awq-title').scrollIntoViewIfNeeded();
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-awq.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
