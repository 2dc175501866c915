// End to end: the scheme picker groups its 101 ids by family, and a calibrated id says its
// calibration instead of repeating its min-max base's description (issue 12, item 13).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const description = (page) => page.locator('#scheme-description').textContent();

test('the picker has one group per family, and calibrated ids name their calibration', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });

  const groups = await page.$$eval('#scheme-picker optgroup', (gs) => gs.map((g) => ({
    label: g.label, ids: [...g.querySelectorAll('option')].map((o) => o.value),
  })));
  assert.equal(groups.length, 8, groups.map((g) => g.label).join(' | '));
  const ids = groups.flatMap((g) => g.ids);
  assert.equal(ids.length, 101);
  assert.equal(await page.locator('#scheme-picker > option').count(), 0, 'every option is in a family group');
  const groupOf = (id) => groups.find((g) => g.ids.includes(id)).label;
  assert.match(groupOf('int8_sym_mse'), /calibrated/);
  assert.equal(groupOf('int8_sym_p99.9'), groupOf('int4_asym_channel_mse'));
  assert.doesNotMatch(groupOf('int8_sym'), /calibrated/);
  assert.notEqual(groupOf('q4_k'), groupOf('q4_0'));
  assert.match(groupOf('nf4'), /bitsandbytes/);
  assert.match(groupOf('kmeans4_g128'), /k-means/);
  assert.equal(groupOf('kmeans2'), groupOf('kmeans4_g128'));

  // Hover titles: a calibrated id never repeats its base's words.
  const titles = Object.fromEntries(await page.$$eval('#scheme-picker option', (os) => os.map((o) => [o.value, o.title])));
  for (const id of ids.filter((x) => /_(mse|entropy|p99\.99?)$/.test(x))) {
    const base = id.replace(/_(mse|entropy|p99\.99?)$/, '');
    assert.notEqual(titles[id], titles[base], `${id} is described as ${base}`);
  }

  // The description shown under the picker for the selected scheme.
  const expected = {
    int8_sym_mse: /MSE calibration/,
    'int8_sym_p99.9': /99\.9th percentile of \|x\|/,
    'int8_asym_p99.9': /0\.05th and 99\.95th percentiles/,
    int8_sym_entropy: /entropy calibration/,
    int8_sym: /no calibration/,
  };
  for (const [id, words] of Object.entries(expected)) {
    await page.selectOption('#scheme-picker', id);
    await page.waitForFunction((x) => document.querySelector('#selected-scheme-name').textContent === x, id);
    assert.match(await description(page), words, id);
  }
  await page.selectOption('#scheme-picker', 'int8_asym_p99.9');
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const box = await page.locator('#scheme-description').boundingBox();
    await page.screenshot({ path: `${SCREENSHOTS}scheme-picker-${width}.png`, fullPage: true, clip: { x: 0, y: box.y - 60, width, height: box.height + 80 } });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
