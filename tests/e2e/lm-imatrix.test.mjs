// End to end: the Language model section's importance matrix and added types (www/run/lm.js,
// lm-worker.js over src/lm and src/llm). The page computes llama-imatrix's matrix on the
// calibration text and saves it in llama-imatrix's file layout (header byte for byte the pinned
// llama-imatrix's, tests/fixtures/tiny_lm/imatrix-f32.gguf, same length; its sums are held to
// llama-imatrix's in src/llm/tests/imatrix.rs); an added type runs beside the others, with and
// without the matrix, and scores as llama-perplexity scores llama-quantize's files (imatrix.json);
// a type that needs the matrix is refused without it with llama-quantize's reason; Cancel stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { cancelWhenPast, openLm as openLmPage } from './lm-page.mjs';
import { launch, SCREENSHOTS } from './browser.mjs';

const fixture = (name) => readFile(new URL(`../fixtures/tiny_lm/${name}`, import.meta.url));
const withImatrix = JSON.parse(await fixture('imatrix.json'));

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const openLm = (width) => openLmPage(browser, width);

const stateOf = (page, sel) => page.$eval(sel, (e) => e.dataset.state);

test('an importance matrix computed in the page is llama-imatrix\'s file, and Q2_K + imatrix scores as llama.cpp\'s', async () => {
  const page = await openLm();
  assert.equal(await page.isDisabled('#lm-imatrix-save'), true, 'nothing to save before computing');
  // Without a matrix, a mix that needs one is refused as llama-quantize refuses it.
  await page.selectOption('#lm-add-type', 'Q2_K_S');
  await page.click('#lm-add');
  await page.waitForSelector('#lm-error:not([hidden])', { timeout: 120000 });
  assert.match(await page.textContent('#lm-error'), /requires an imatrix/);

  await page.click('#lm-imatrix');
  await page.waitForFunction(() => document.querySelector('#lm-imatrix-status').dataset.state === 'done', null, { timeout: 120000 });
  assert.match(await page.textContent('#lm-imatrix-status'), /^14 matrices, 8 chunks of 128 tokens of calibration\.txt \(\d+ tokens\/s\)/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#lm-imatrix-save')]);
  assert.equal(download.suggestedFilename(), 'imatrix.gguf');
  const ours = await readFile(await download.path());
  const theirs = await fixture('imatrix-f32.gguf');
  assert.equal(ours.length, theirs.length);
  // Everything before the data: 14 sums (256 columns, 512 for the two ffn_down) and 14 counts, each padded to 32.
  const header = theirs.length - (12 * 1024 + 2 * 2048 + 14 * 32);
  assert.ok(ours.subarray(0, header).equals(theirs.subarray(0, header)), 'llama-imatrix\'s keys, dataset name and tensor table');

  await page.selectOption('#lm-add-type', 'Q2_K');
  await page.click('#lm-add');
  await page.waitForFunction(() => /^Added Q2_K and Q2_K \+ imatrix/.test(document.querySelector('#lm-add-status').textContent), null, { timeout: 120000 });
  assert.match(await page.textContent('#lm-status'), /Running: F32, Q8_0, Q4_0, Q4_K_M, Q2_K, Q2_K \+ imatrix\.$/);

  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'done', null, { timeout: 180000 });
  const rows = Object.fromEntries(await page.$$eval('#lm-ppl-table tbody tr', (trs) => trs.map((tr) =>
    [tr.dataset.variant, { ppl: Number(tr.dataset.ppl), llama: tr.children[2].textContent }])));
  const want = { Q2_K: withImatrix.types.Q2_K.plain.ppl, 'Q2_K + imatrix': withImatrix.types.Q2_K.imatrix.ppl };
  for (const [name, ppl] of Object.entries(want)) {
    // The page's matrix is its own (its sums within ~1e-6 of llama-imatrix's), so its Q2_K + imatrix
    // file can differ from llama-quantize's in a few blocks: 2e-3 relative, as src/lm/tests hold it.
    assert.ok(Math.abs(rows[name].ppl - ppl) <= 2e-3 * ppl, `${name}: ${rows[name].ppl} vs llama-perplexity ${ppl}`);
    assert.equal(rows[name].llama, ppl.toFixed(4), `${name}: llama.cpp's figure beside it`);
  }
  assert.ok(rows['Q2_K + imatrix'].ppl < rows.Q2_K.ppl, 'the importance matrix helps Q2_K here');
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-imatrix.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Cancel stops an importance matrix between two chunks; adding a type hides the stale table', async () => {
  const page = await openLm(390);
  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'done', null, { timeout: 180000 });
  await page.click('#lm-imatrix');
  await cancelWhenPast(page, '#lm-imatrix-progress', 0);
  await page.waitForFunction(() => document.querySelector('#lm-imatrix-status').dataset.state === 'cancelled', null, { timeout: 60000 });
  assert.match(await page.textContent('#lm-imatrix-status'), /^Cancelled after [1-7] of 8 chunks\.$/);
  assert.equal(await page.isDisabled('#lm-imatrix-save'), true, 'a cancelled run is not saved');
  assert.equal(await stateOf(page, '#lm-ppl-table'), 'done');
  await page.selectOption('#lm-add-type', 'IQ4_XS');
  await page.click('#lm-add');
  await page.waitForFunction(() => /^Added IQ4_XS:/.test(document.querySelector('#lm-add-status').textContent), null, { timeout: 120000 });
  assert.equal(await page.isHidden('#lm-ppl-table'), true, 'the perplexity table was for other types');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390`);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-imatrix-phone.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the sensitivity probes rank the matrix kinds as llama-perplexity does, and Cancel stops them', async () => {
  const kld = JSON.parse(await fixture('kld.json')).sensitivity.probes;
  const page = await openLm();
  await page.uncheck('#lm-sens-layers');
  await page.click('#lm-sens');
  await page.waitForFunction(() => document.querySelector('#lm-sens-table')?.dataset.state === 'done', null, { timeout: 180000 });
  const cells = await page.$$eval('#lm-sens-table tbody tr', (trs) => trs.map((tr) =>
    [tr.dataset.kind, Number(tr.querySelector('td').dataset.kld)]));
  assert.deepEqual(cells.map(([k]) => k), ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']);
  for (const [kind, value] of cells) {
    const want = kld[kind].mean_kld;
    assert.ok(Math.abs(value - want) <= 0.03 * want + 2e-5, `${kind}: KLD ${value} vs llama-perplexity ${want}`);
  }
  assert.match(await page.textContent('#lm-sens-status'), /Most sensitive kind at Q2_K: ffn_down/);
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-sensitivity.png` });

  await page.check('#lm-sens-layers');
  await page.click('#lm-sens');
  await cancelWhenPast(page, '#lm-sens-progress', 2);
  await page.waitForFunction(() => document.querySelector('#lm-sens-table').dataset.state === 'cancelled', null, { timeout: 60000 });
  assert.match(await page.textContent('#lm-sens-status'), /^Cancelled after \d+ of 22 probes\.$/);
  assert.equal(await page.isDisabled('#lm-sens'), false);
  assert.deepEqual(page.errors, []);
  await page.close();
});
