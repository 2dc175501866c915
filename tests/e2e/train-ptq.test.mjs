// End to end: an FP32 run's static PTQ rows with every calibration the Train view offers
// (min-max, percentile 99.999, entropy, MSE; src/train/src/ptq.rs), their points on the
// comparison chart, and the charts drawn at their CSS size on a phone so their labels stay readable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const NAMES = ['min-max', 'percentile 99.999', 'entropy', 'MSE'];

test('every calibration: a static PTQ row per calibration and width, each its own range', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.fill('#train-epochs', '1');
  await page.selectOption('#train-ptq-calibration', 'every');
  await page.click('#train-start');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 16, null, { timeout: 180000 });
  const r = await rows(page);
  const statics = [8, 4, 2].flatMap((b) => NAMES.map((n) => `PTQ INT${b} (${n})`));
  assert.deepEqual(r.map((row) => row[1]), ['FP32', ...statics, 'PTQ dynamic INT8', 'PTQ dynamic INT4', 'PTQ dynamic INT2']);
  const fp32 = percent(r[0][2]);
  const acc = Object.fromEntries(r.map((row) => [row[1], percent(row[2])]));
  // INT8 keeps nearly all of FP32 whichever way the ranges are set (one point is 20 digits).
  for (const n of NAMES) assert.ok(Math.abs(acc[`PTQ INT8 (${n})`] - fp32) <= 2, `INT8 ${n}: ${acc[`PTQ INT8 (${n})`]} against ${fp32}`);
  // At INT2 the calibration decides a lot: not every calibration gives min-max's accuracy.
  const int2 = NAMES.map((n) => acc[`PTQ INT2 (${n})`]);
  assert.ok(new Set(int2).size > 1, `INT2 accuracies ${int2}`);
  // Each row says how its ranges were set; sizes are the width's, whatever the calibration.
  assert.match(r.find((row) => row[1] === 'PTQ INT4 (entropy)')[4], /KL; ONNX Runtime's entropy method/);
  for (const b of [8, 4, 2]) assert.equal(new Set(NAMES.map((n) => r.find((row) => row[1] === `PTQ INT${b} (${n})`)[3])).size, 1);
  const chart = await page.$eval('#train-chart', (c) => ({ points: Number(c.dataset.points), families: c.dataset.families }));
  assert.equal(chart.points, 16);
  assert.match(chart.families, /\bptq\b/);

  // On a phone the chart draws at its CSS width (× devicePixelRatio), not a 900-pixel drawing
  // scaled to a third; the legend wraps into rows inside it.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => {
    const c = document.querySelector('#train-chart');
    return Math.abs(c.width - c.getBoundingClientRect().width * devicePixelRatio) <= 1;
  });
  const size = await page.$eval('#train-chart', (c) => ({ w: c.width, css: c.getBoundingClientRect().width, h: c.height }));
  assert.ok(size.css < 390 && size.w < 600, `the chart is ${size.w} pixels wide for ${size.css} CSS pixels`);
  await page.locator('#train-chart').screenshot({ path: `${SCREENSHOTS}train-ptq-chart-390.png` });
  // The loss curves too.
  const curves = await page.$eval('#train-curves', (c) => ({ w: c.width, css: c.getBoundingClientRect().width }));
  assert.ok(Math.abs(curves.w - curves.css * await page.evaluate(() => devicePixelRatio)) <= 1, `curves ${curves.w} for ${curves.css} CSS pixels`);
  await page.locator('#train-curves-panel').screenshot({ path: `${SCREENSHOTS}train-curves-390.png` });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.waitForFunction(() => document.querySelector('#train-chart').width > 600);
  await page.locator('#train-results-panel').screenshot({ path: `${SCREENSHOTS}train-ptq-results.png` });
  assert.deepEqual(page.errors, []);
});
