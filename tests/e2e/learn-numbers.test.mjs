// End to end: the Learn view's first three panels (www/learn/formats.js, mapping.js,
// clipping.js) in headless Chromium — a typed number's bits, flipping a bit, the scale and zero
// point against the Inspect view, and the clipping slider with its calibration markers.
// Screenshots at desktop and phone widths go to test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const text = async (page, selector) => (await page.locator(selector).first().textContent()).trim();
const value = async (page, selector) => Number(await page.locator(selector).first().getAttribute('data-value'));

async function openLearn(page) {
  await page.goto(`${browser.url}#learn`);
  await page.waitForSelector('#learn-formats[data-ready="true"]', { state: 'attached', timeout: 60000 });
}

test('a typed number shows its bits in every format, and a flipped bit changes the value', async () => {
  const page = await browser.page();
  await openLearn(page);
  const fp16 = '#learn-format-rows [data-format="fp16"]';
  await page.fill('#learn-number', '3');
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 10000 1000000000', fp16);
  await page.fill('#learn-number', '0.1');
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 01011 1001100110', fp16);
  assert.equal(await text(page, `${fp16} [data-stat="exact"]`), '0.0999755859375');
  assert.equal(await text(page, '#learn-format-rows [data-format="fp32"] [data-stat="exact"]'), '0.100000001490116119384765625');
  assert.equal(await page.locator('#learn-format-rows [data-format="fp32"] .bit').count(), 32);
  assert.equal(await page.locator('#learn-format-rows [data-format="fp4_e2m1"] .bit').count(), 4);
  assert.equal(await text(page, `${fp16} [data-stat="error"]`), '−2.441e−5 (0.0244 %)');
  assert.equal(await text(page, `${fp16} [data-stat="gap"]`), '6.104e−5');

  // Flip the exponent's lowest bit with the keyboard: 2^(10 − 15) × (1 + 614/1024).
  await page.focus(`${fp16} [data-bit="10"]`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 01010 1001100110', fp16);
  assert.equal(await text(page, `${fp16} [data-stat="exact"]`), '0.04998779296875');
  assert.equal(await page.locator(`${fp16}.edited`).count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.bit), '10', 'focus stays on the flipped bit');
  await page.click(`${fp16} .fmt-reset`);
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 01011 1001100110', fp16);

  // Ranges: the known constants.
  const row = (f) => page.locator(`#learn-formats tr[data-format="${f}"] td`).allTextContents();
  assert.deepEqual((await row('fp16')).slice(3, 6), ['65504', '6.1035e−5', '5.9605e−8']);
  assert.deepEqual((await row('fp8_e4m3')).slice(3, 6), ['448', '0.015625', '0.0019531']);
  assert.equal((await row('fp8_e5m2'))[3], '57344');

  // A histogram bar puts one of the tensor's values in the box.
  const before = await page.inputValue('#learn-number');
  await page.locator('.pick-hist .bar[role="button"]').nth(3).click();
  await page.waitForFunction((b) => document.querySelector('#learn-number').value !== b, before);
  await page.waitForFunction(() => document.querySelector('#learn-format-rows [data-format="fp32"] [data-stat="error"]')?.textContent.startsWith('0'));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('scale and zero point match the Inspect view, and relu makes asymmetric win', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const inspectScale = Number((await text(page, '#scheme-stats [data-stat="scale"]')).replace(/,/g, ''));
  await page.click('#tab-learn');
  await page.waitForSelector('#learn-mapping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.match(await page.locator('#learn-mapping [data-role="tensor"] option:checked').textContent(), /sample:normal/);
  const scale = await value(page, '#learn-mapping [data-mapping="sym"] [data-stat="scale"]');
  assert.ok(Math.abs(scale - inspectScale) <= 1e-5 * inspectScale, `Learn ${scale} vs Inspect ${inspectScale}`);
  assert.equal(await page.locator('#learn-mapping [data-mapping="sym"] [data-trace]').count(), 4);
  // On the Gaussian sample the two are close; the sentence says by how much, from the numbers.
  assert.match(await text(page, '#learn-mapping [data-role="verdict"]'), /^(Asymmetric MSE is 1\.\d× lower|The two MSEs are within 5 %)/);

  // A value of one's own is traced through both mappings.
  await page.fill('#learn-mapping [data-role="value"]', '0.05');
  await page.waitForSelector('#learn-mapping [data-mapping="asym"] [data-trace="yours"]');
  assert.match(await text(page, '#learn-mapping [data-mapping="sym"] [data-trace="yours"]'), /0\.05 \/ /);

  await page.click('#learn-mapping [data-role="relu"]');
  await page.waitForFunction(() => /^Asymmetric MSE is [\d.]+× lower here because every value is ≥ 0/
    .test(document.querySelector('#learn-mapping [data-role="verdict"]')?.textContent));
  assert.match(await page.locator('#learn-mapping [data-role="tensor"] option:checked').textContent(), /sample:relu/);
  const symMse = await value(page, '#learn-mapping [data-mapping="sym"] [data-stat="mse"]');
  const asymMse = await value(page, '#learn-mapping [data-mapping="asym"] [data-stat="mse"]');
  assert.ok(asymMse < symMse, `${asymMse} < ${symMse}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the clipping slider moves the MSE along the curve, with the calibration markers on it', async () => {
  const page = await browser.page();
  await openLearn(page);
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#learn-clipping .clip-curve .marker').count(), 5);
  assert.equal(await page.locator('#learn-clipping .clip-curve polyline.curve').count(), 1);
  assert.equal(await page.locator('#learn-clipping tr[data-method]').count(), 5);
  // At the right end the slider is min-max: its MSE is the min-max marker's.
  const minmax = await value(page, '#learn-clipping tr[data-method="min-max"] [data-stat="mse"]');
  await page.waitForFunction(() => document.querySelector('#learn-clipping [data-stat="mse"]')?.dataset.value);
  assert.equal(await value(page, '#learn-clipping .clip-stats [data-stat="mse"]'), minmax);

  // Move the slider with the keyboard: the clip and the MSE change.
  const clip0 = await value(page, '#learn-clipping output[data-stat="clip"]');
  await page.focus('#learn-clip');
  for (let i = 0; i < 5; i++) await page.keyboard.press('PageDown');
  await page.waitForFunction((c) => Number(document.querySelector('#learn-clipping output').dataset.value) < c * 0.8, clip0);
  await page.waitForFunction((m) => Number(document.querySelector('#learn-clipping .clip-stats [data-stat="mse"]').dataset.value) !== m, minmax);
  assert.notEqual(await value(page, '#learn-clipping .clip-stats [data-stat="mse"]'), minmax);

  // A marker's method moves the slider to its clip, and the MSE there is the marker's.
  await page.click('#learn-clipping tr[data-method="MSE"] button');
  const mseMarker = await value(page, '#learn-clipping tr[data-method="MSE"] [data-stat="mse"]');
  await page.waitForFunction((m) => Number(document.querySelector('#learn-clipping .clip-stats [data-stat="mse"]').dataset.value) === m, mseMarker);

  // Outliers stretch max|x| (0.1 % of values at ±20σ = ±0.4).
  const absmax = await value(page, '#learn-clipping [data-stat="absmax"]');
  await page.check('#learn-clipping [data-role="outliers"]');
  await page.waitForFunction(() => Number(document.querySelector('#learn-clipping [data-stat="absmax"]')?.dataset.value) > 0.3);
  assert.ok(absmax < 0.15, `normal sample max|x| ${absmax}`);
  assert.match(await page.locator('#learn-clipping [data-role="tensor"] option:checked').textContent(), /sample:normal_outliers/);
  await page.selectOption('#learn-clipping [data-role="bits"]', '4');
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.match(await text(page, '#learn-clipping [data-role="verdict"]'), /lower than min-max's/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('screenshots at desktop and phone widths, no horizontal overflow', async () => {
  for (const [name, width] of [['desktop', 1280], ['phone', 390]]) {
    const page = await browser.page();
    await page.setViewportSize({ width, height: 900 });
    await openLearn(page);
    await page.waitForSelector('#learn-mapping[data-ready="true"]', { state: 'attached', timeout: 60000 });
    await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
    for (const id of ['learn-formats', 'learn-mapping', 'learn-clipping']) {
      const box = await page.locator(`#${id}`).boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= width + 1, `#${id} fits in ${width} px: ${JSON.stringify(box)}`);
      await page.locator(`#${id}`).screenshot({ path: `${SCREENSHOTS}learn-numbers-${id.slice(6)}-${name}.png` });
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow} px at ${width} px`);
    assert.deepEqual(page.errors, []);
    await page.close();
  }
});
