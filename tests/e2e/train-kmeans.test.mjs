// End to end: k-means weight sharing in the Train view (the last FP32 run's weights clustered as
// the library's kmeans<b>, then the centroids fine-tuned from their weights' summed gradients),
// its size counted from the packed bytes, bad settings refused with the reason, and the
// comparison chart: a point per result row, the method by colour and marker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const rowCount = (page, n) => page.waitForFunction((n) => document.querySelectorAll('#train-results tbody tr').length === n, n, { timeout: 180000 });
const chart = (page) => page.$eval('#train-chart', (c) => ({ points: Number(c.dataset.points), families: c.dataset.families.split(' ') }));
const errorText = async (page, pattern) => {
  await page.waitForFunction((p) => new RegExp(p).test(document.querySelector('#train-error').textContent), pattern.source);
  return page.locator('#train-error').textContent();
};
// Pixels of the chart within a few levels of `hex`: what was drawn in a family's colour.
const pixelsOf = (page, hex) => page.$eval('#train-chart', (c, hex) => {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 24 && d[i + 3] > 200) n++;
  return n;
}, hex);

test('an FP32 run shared by k-means at 4 bits: one-shot and fine-tuned rows, its bytes, refusals, and the comparison chart', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#train-share').isDisabled(), true, 'no trained run to share yet');
  assert.deepEqual(await chart(page), { points: 0, families: [''] });

  // FP32 784-100-100-10, one epoch: its row, PTQ static and dynamic at INT8/4/2.
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await rowCount(page, 7);
  const fp32 = await rows(page);
  assert.ok(percent(fp32[0][2]) > 85, `FP32 ${fp32[0][2]}`);
  for (const r of fp32.slice(4)) assert.match(r[1], /^PTQ dynamic INT[842]$/);
  assert.ok(percent(fp32[4][2]) > percent(fp32[0][2]) - 2, `dynamic INT8 ${fp32[4][2]} vs FP32 ${fp32[0][2]}`);
  assert.deepEqual(await chart(page), { points: 7, families: ['fp32', 'ptq', 'ptq-dynamic'] });

  // Refused with the reason before the run is touched: bits outside 1..8, no fine-tuning epochs.
  assert.equal(await page.locator('#train-share').isDisabled(), false);
  await page.fill('#train-share-bits', '9');
  await page.click('#train-share');
  assert.match(await errorText(page, /bits/), /k-means weight sharing at 9 bits: choose 1 to 8 bits \(2 to 256 centroids per layer\)/);
  await page.fill('#train-share-bits', '4');
  await page.fill('#train-share-epochs', '0');
  await page.click('#train-share');
  assert.match(await errorText(page, /epochs/), /0 epochs: choose 1 to 1000/);
  assert.equal((await rows(page)).length, 7);

  // 4 bits, fine-tuned 1 epoch: a new run (2) with its one-shot and fine-tuned rows.
  await page.fill('#train-share-epochs', '1');
  await page.click('#train-share');
  await rowCount(page, 9);
  const [oneShot, tuned] = (await rows(page)).slice(7);
  assert.equal(oneShot[0], '2');
  assert.equal(oneShot[1], 'weight-shared 4-bit (k-means), one-shot');
  assert.match(oneShot[4], /^run 1's weights, each layer as the library's kmeans4: 16 f16 centroids, a 4-bit index per weight$/);
  assert.equal(tuned[1], 'weight-shared 4-bit (k-means), fine-tuned 1 epoch');
  // 89,400 weights × 4 bits + 3 codebooks × 16 × 2 bytes + 210 biases × 4 bytes = 45,636 bytes.
  assert.equal(oneShot[3], '44.57 KB');
  assert.equal(tuned[3], '44.57 KB');
  assert.ok(percent(oneShot[2]) > 70, `one-shot ${oneShot[2]}`);
  assert.ok(percent(tuned[2]) > 85, `fine-tuned ${tuned[2]}`);
  assert.ok(percent(tuned[2]) > percent(fp32[0][2]) - 3, `fine-tuned ${tuned[2]} vs FP32 ${fp32[0][2]}`);
  assert.match(await page.locator('#train-status').textContent(), /^weight-shared 4-bit \(k-means\): test accuracy [\d.]+ % one-shot, [\d.]+ % fine-tuned$/);

  // The chart: a point per row, the weight-shared family in its colour, updated as runs finish.
  const c = await chart(page);
  assert.equal(c.points, 9);
  assert.ok(c.families.includes('shared'), c.families.join(' '));
  assert.ok(await pixelsOf(page, '#9333ea') > 40, 'the weight-shared points are drawn in purple');
  assert.ok(await pixelsOf(page, '#ea580c') > 40, 'the static PTQ points in orange');

  // The weight-shared run is the last run now: pruning it adds pruned and pruned + INT8 points.
  await page.fill('#train-prune-sparsity', '50');
  await page.fill('#train-prune-epochs', '0');
  await page.click('#train-prune');
  await rowCount(page, 11);
  assert.deepEqual((await chart(page)).points, 11);
  assert.ok((await chart(page)).families.includes('pruned-quantized'));

  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#train-results-panel').screenshot({ path: `${SCREENSHOTS}train-kmeans-${width}.png` });
  }
  await page.setViewportSize({ width: 1280, height: 900 });

  // A QAT run cannot be shared: its weights are fitted to the fake quantization.
  await page.selectOption('#train-method', 'qat8');
  await page.fill('#train-hidden', '16');
  await page.click('#train-start');
  await rowCount(page, 12);
  await page.click('#train-share');
  assert.match(await errorText(page, /quantization-aware/), /weight sharing clusters FP32 weights, and the last run is quantization-aware: train an FP32 run first/);
  assert.equal((await rows(page)).length, 12);
  assert.deepEqual(page.errors, []);
  await page.close();
});
