// End to end: the Inspect view's per-tensor report never shows a number that is not true
// (issue 12): an unscaled cast that flushes everything to zero says so (item 4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const compared = (page) => page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
const stat = async (page, key) => (await page.locator(`#scheme-stats [data-stat="${key}"]`).textContent()).trim();

test('fp4_e2m1 on trained-like weights: flushed to zero, said so, no NaN anywhere', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#inspect?scheme=fp4_e2m1`);
  await compared(page);
  // sample:normal has std 0.02: every value is below fp4_e2m1's 0.25 rounding threshold.
  await page.waitForSelector('#scheme-flushed:not([hidden])');
  assert.match(await page.locator('#scheme-flushed').textContent(), /fp4_e2m1 flushed every value of this tensor to 0/);
  assert.equal(await stat(page, 'sqnr'), '0');
  assert.equal(await stat(page, 'cosine'), '—');
  const row = await page.$$eval('#scheme-table tr[data-scheme="fp4_e2m1"] td', (tds) => tds.map((td) => td.textContent));
  assert.ok(row.length > 0);
  // Every number shown (the NaN-count statistic is a label, not a value).
  const shown = await page.$$eval('#view-inspect dd, #view-inspect td', (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown.filter((v) => /NaN/.test(v)), [], 'no NaN value in the Inspect view');
  assert.equal(row[7], '—');
  // A scaled scheme on the same tensor: no such note.
  await page.selectOption('#scheme-picker', 'int4_sym');
  await page.waitForFunction(() => document.querySelector('#selected-scheme-name').textContent === 'int4_sym');
  assert.equal(await page.locator('#scheme-flushed').isHidden(), true);
  for (const width of [1366, 390]) {
    await page.selectOption('#scheme-picker', 'fp4_e2m1');
    await page.waitForSelector('#scheme-flushed:not([hidden])');
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#tensor').screenshot({ path: `${SCREENSHOTS}fp4-flushed-${width}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
