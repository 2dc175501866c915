// End to end: the conv net (src/train/src/conv.rs) with the Train view's other methods, in the
// trainer's worker: LSQ INT4 (learned scales) and its QDQ file; k-means weight sharing of an FP32
// run, one-shot and fine-tuned, and its file; the shared run distilled into an LSQ INT4 conv
// student, which in turn teaches a 784-32-10 MLP student beside the labels-alone twin; a conv
// student no smaller than its conv teacher refused with the reason. Every row is a point on the
// chart; the sizes are the bytes as stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const kb = (text) => Number(text.replace(' KB', ''));
const rowCount = (page, n) => page.waitForFunction((n) => document.querySelectorAll('#train-results tbody tr').length === n, n, { timeout: 300000 });
const errorText = async (page, pattern) => {
  await page.waitForFunction((p) => new RegExp(p).test(document.querySelector('#train-error').textContent), pattern.source, { timeout: 60000 });
  return page.locator('#train-error').textContent();
};
// The row's file: downloaded, and quantscope's engine's run of it against the run's own predictions.
async function convert(page, row) {
  const tr = page.locator('#train-results tbody tr').nth(row);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), tr.locator('.train-convert').click()]);
  await page.waitForFunction((i) => /predictions equal/.test(document.querySelectorAll('#train-results tbody tr')[i].textContent), row, { timeout: 120000 });
  return { name: download.suggestedFilename(), bytes: await readFile(await download.path()), line: await tr.locator('.train-convert-result').textContent() };
}
// Shown to 4 significant digits: within half a unit of the last one.
const sameKb = (text, bytes) => Math.abs(kb(text) - bytes / 1024) <= 0.0005 * bytes / 1024;

test('the conv net trains with LSQ, shares its weights by k-means, and distils (teacher and student)', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.selectOption('#train-arch', 'conv');
  await page.fill('#train-epochs', '1');

  // LSQ INT4, one epoch (weight scales per output channel).
  await page.selectOption('#train-method', 'lsq4');
  const started = Date.now();
  await page.click('#train-start');
  await rowCount(page, 1);
  const [lsq] = await rows(page);
  assert.equal(lsq[1], 'LSQ INT4, conv net');
  assert.ok(percent(lsq[2]) > 50, `LSQ INT4 ${lsq[2]} (chance is 10 %)`);
  // 5,960 weights at 4 bits, 34 f32 biases, f32 scales: 8 + 16 + 10 per channel, and 2 per layer's output.
  assert.ok(sameKb(lsq[3], 2980 + 34 * 4 + (34 + 3 * 2) * 4), `LSQ INT4 size ${lsq[3]}`);
  const lsqSeconds = (Date.now() - started) / 1000;
  const lsqFile = await convert(page, 0);
  assert.equal(lsqFile.name, 'quantscope-run1-lsq-int4-conv-net.onnx');
  assert.match(lsqFile.line, /2000 of 2000 predictions equal to the fake-quant forward's/);

  // Sharing a QAT-trained run is refused: it clusters FP32 weights.
  await page.click('#train-share');
  assert.match(await errorText(page, /FP32 run first/), /the last run is quantization-aware: train an FP32 run first/);

  // FP32, one epoch (its PTQ rows too), then its weights shared at 4 bits, fine-tuned one epoch.
  await page.selectOption('#train-method', 'fp32');
  await page.click('#train-start');
  await rowCount(page, 5);
  const fp32 = (await rows(page))[1];
  assert.equal(fp32[1], 'FP32, conv net');
  await page.fill('#train-share-bits', '4');
  await page.fill('#train-share-epochs', '1');
  await page.click('#train-share');
  await rowCount(page, 7);
  const [oneShot, tuned] = (await rows(page)).slice(5);
  assert.equal(oneShot[1], 'weight-shared 4-bit (k-means), one-shot, conv net');
  assert.equal(tuned[1], 'weight-shared 4-bit (k-means), fine-tuned 1 epoch, conv net');
  assert.ok(percent(oneShot[2]) > 50 && percent(tuned[2]) > 50, `k-means 4-bit ${oneShot[2]} one-shot, ${tuned[2]} fine-tuned`);
  // Packed 4-bit codes (100 + 1,600 + 1,280 B), three codebooks of 16 f16 centroids, 34 f32 biases.
  for (const r of [oneShot, tuned]) assert.ok(sameKb(r[3], 2980 + 3 * 16 * 2 + 34 * 4), `k-means size ${r[3]}`);
  const sharedFile = await convert(page, 6);
  assert.equal(sharedFile.name, 'quantscope-run3-kmeans4.onnx');
  assert.match(sharedFile.line, /2000 of 2000 predictions equal to the FP32 forward's/);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.locator('#train-results tbody tr').nth(6).locator('.train-weights').click()]);
  const npz = unzipSync(new Uint8Array(await readFile(await download.path())));
  // The .npz holds the shared weights: at most 16 distinct values in the first conv's 200.
  const conv1 = new Float32Array(npz['0.weight.npy'].slice(-200 * 4).buffer);
  assert.ok(new Set(conv1).size <= 16, `${new Set(conv1).size} distinct first-conv weights`);

  // A conv student of the conv teacher in FP32 has the teacher's own size: refused, no row.
  await page.selectOption('#train-distil-arch', 'conv');
  assert.equal(await page.locator('#train-distil-hidden').isDisabled(), true);
  await page.selectOption('#train-distil-method', 'fp32');
  await page.click('#train-distil');
  assert.match(await errorText(page, /no smaller/), /at FP32 it is no smaller than the FP32 teacher/);
  assert.equal((await rows(page)).length, 7);

  // The shared conv run teaches an LSQ INT4 conv student (one epoch, no labels-alone twin).
  await page.selectOption('#train-distil-method', 'lsq4');
  await page.fill('#train-distil-epochs', '1');
  await page.uncheck('#train-distil-baseline');
  await page.click('#train-distil');
  await rowCount(page, 8);
  const convStudent = (await rows(page))[7];
  assert.equal(convStudent[1], 'distilled, LSQ INT4, conv net');
  assert.match(convStudent[4], /^conv net student distilled from run 3 at T 4, α 0\.7, 1 epoch/);
  assert.ok(percent(convStudent[2]) > 50, `LSQ INT4 conv student ${convStudent[2]}`);
  assert.ok(sameKb(convStudent[3], 2980 + 34 * 4 + 40 * 4), `conv student size ${convStudent[3]}`);

  // That LSQ conv student teaches a 784-32-10 MLP, beside the same MLP on the labels alone.
  await page.selectOption('#train-distil-arch', 'mlp');
  await page.fill('#train-distil-hidden', '32');
  await page.selectOption('#train-distil-method', 'fp32');
  await page.check('#train-distil-baseline');
  await page.click('#train-distil');
  await rowCount(page, 10);
  const [alone, mlpStudent] = (await rows(page)).slice(8);
  assert.equal(alone[1], 'labels alone, FP32');
  assert.equal(mlpStudent[1], 'distilled, FP32');
  assert.match(mlpStudent[4], /^784-32-10 student distilled from run 4 at T 4, α 0\.7/);
  for (const r of [alone, mlpStudent]) {
    assert.ok(percent(r[2]) > 50, `${r[1]} ${r[2]}`);
    assert.ok(sameKb(r[3], (784 * 32 + 32 + 32 * 10 + 10) * 4), `784-32-10 size ${r[3]}`);
  }
  assert.equal(await page.$eval('#train-chart', (c) => c.dataset.points), '10', 'a point per row');
  console.log(`# conv net, 1 epoch each in Chromium: LSQ INT4 ${lsq[2]} (${lsq[3]}, ${lsqSeconds.toFixed(1)} s); FP32 ${fp32[2]}; ` +
    `k-means 4-bit ${oneShot[2]} one-shot, ${tuned[2]} fine-tuned (${tuned[3]}); distilled into LSQ INT4 conv ${convStudent[2]} (${convStudent[3]}); ` +
    `its MLP 784-32-10 student ${mlpStudent[2]} against ${alone[2]} on the labels alone (${mlpStudent[3]})`);
  await page.screenshot({ path: `${SCREENSHOTS}train-conv-methods.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});
