// End to end: the Train view trains the conv net (src/train/src/conv.rs) in its worker: the
// network choice, progress and curves, Pause and Resume, FP32 with its static PTQ rows, QAT INT4,
// rows in the results table and points on the chart, pruning (unstructured with fine-tuning, then
// whole channels) and the pruned run's file, and settings that make no sense for it refused with
// the reason (LSQ, weight sharing and distillation of the conv net: train-conv-methods.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const points = (page) => page.$eval('#train-curves', (c) => Number(c.dataset.points ?? 0));
const error = (page) => page.locator('#train-error').textContent();

test('the conv net trains FP32 (with PTQ rows) and QAT above chance, and refuses settings that make no sense', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.selectOption('#train-arch', 'conv');
  assert.equal(await page.locator('#train-hidden').isDisabled(), true, 'the conv net has no hidden sizes to set');

  // FP32, one epoch of 125 steps (batch 64): paused, no step is taken; resumed, it finishes.
  await page.selectOption('#train-method', 'fp32');
  await page.fill('#train-epochs', '1');
  const started = Date.now();
  await page.click('#train-start');
  await page.waitForFunction(() => Number(document.querySelector('#train-curves').dataset.points ?? 0) >= 2, null, { timeout: 60000 });
  await page.click('#train-pause');
  await page.waitForFunction(() => /^paused at step/.test(document.querySelector('#train-status').textContent));
  const paused = Date.now();
  await page.waitForTimeout(600); // a request already sent may still land: at most one more point
  const held = await points(page);
  await page.waitForTimeout(600);
  assert.equal(await points(page), held, 'no step while paused');
  await page.click('#train-pause');
  const resumed = Date.now();
  // FP32 and its static PTQ rows at 8, 4 and 2 bits (no dynamic rows: torch's quantize_dynamic
  // quantizes Linear layers only).
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 4, null, { timeout: 300000 });
  const seconds = (Date.now() - resumed + paused - started) / 1000;
  const [row, ...ptq] = await rows(page);
  assert.equal(row[1], 'FP32, conv net');
  assert.ok(percent(row[2]) > 50, `conv net accuracy ${row[2]} (chance is 10 %)`);
  assert.match(row[3], /^23\.4\d* KB$/, '5,994 float32 parameters');
  assert.match(row[4], /^1×28×28 conv 8×5×5, pool 2, conv 16×5×5, pool 2, linear 256-10, adam 0\.001, 1 epochs/);
  assert.match(row[5], /Download as \.onnx/, 'the conv net run downloads (tests/e2e/train-convert.test.mjs runs the file)');
  assert.deepEqual(ptq.map((r) => r[1]), ['PTQ INT8 (min-max), conv net', 'PTQ INT4 (min-max), conv net', 'PTQ INT2 (min-max), conv net']);
  assert.ok(Math.abs(percent(ptq[0][2]) - percent(row[2])) < 3, `PTQ INT8 ${ptq[0][2]} keeps FP32's ${row[2]}`);
  assert.ok(percent(ptq[2][2]) < percent(ptq[0][2]), 'INT2 loses accuracy');
  assert.equal(await page.$eval('#train-chart', (c) => c.dataset.points), '4', 'a point per row');
  assert.ok(await points(page) >= 12, 'a curve point per 10 of the 125 steps');
  console.log(`# conv net, 1 epoch (125 steps of 64) in Chromium: ${row[2]} test accuracy, ${seconds.toFixed(1)} s of training, testing and PTQ`);

  // QAT INT4, one epoch: its row is the fake-quant forward's accuracy.
  await page.selectOption('#train-method', 'qat4');
  const qatStarted = Date.now();
  await page.click('#train-start');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 5, null, { timeout: 300000 });
  const qat = (await rows(page))[4];
  assert.equal(qat[1], 'QAT INT4, conv net');
  assert.ok(percent(qat[2]) > 50, `QAT INT4 ${qat[2]}`);
  console.log(`# conv net QAT INT4, 1 epoch in Chromium: ${qat[2]}, ${((Date.now() - qatStarted) / 1000).toFixed(1)} s; PTQ INT4 ${ptq[1][2]}, INT2 ${ptq[2][2]}`);
  await page.screenshot({ path: `${SCREENSHOTS}train-conv.png`, fullPage: true });

  // Sharing the QAT run's weights, and a conv student at INT4 of this INT4 conv teacher (the
  // same shape, no smaller), are refused with the reason.
  await page.selectOption('#train-distil-arch', 'conv');
  await page.selectOption('#train-distil-method', 'qat4');
  for (const [button, why] of [['#train-share', /the last run is quantization-aware: train an FP32 run first/],
    ['#train-distil', /at INT4 it is no smaller than the INT4 teacher/]]) {
    await page.click(button);
    await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#train-error').textContent), why.source, { timeout: 30000 });
  }
  assert.equal((await rows(page)).length, 5, 'the refusals add no row');

  // Pruning the QAT INT4 run: 50 % global L1, fine-tuned one epoch with the pruned weights at zero
  // (a QAT run's rows are quantized already: no PTQ row); its file's predictions are the run's.
  await page.selectOption('#train-prune-method', 'global_l1');
  await page.fill('#train-prune-sparsity', '50');
  await page.fill('#train-prune-epochs', '1');
  await page.click('#train-prune');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 7, null, { timeout: 300000 });
  const [oneShot, tuned] = (await rows(page)).slice(5);
  assert.match(oneShot[1], /^pruned 50 % \(global L1\), one-shot$/);
  assert.match(tuned[1], /^pruned 50 % \(global L1\), fine-tuned 1 epoch$/);
  assert.ok(percent(tuned[2]) > 50, `pruned and fine-tuned ${tuned[2]}`);
  assert.equal(await page.$eval('#train-sparsity', (c) => c.dataset.points ?? ''), '11', 'accuracy against sparsity, one-shot');
  const button = page.locator('#train-results tbody tr').nth(6).locator('.train-convert');
  await button.click();
  await page.waitForFunction(() => /predictions equal/.test(document.querySelectorAll('#train-results tbody tr')[6].textContent), null, { timeout: 120000 });
  assert.match(await page.locator('#train-results tbody tr').nth(6).textContent(), /2000 of 2000 predictions equal to the fake-quant forward's/);
  // Whole output channels by their L2 norm, on top of the mask: the row names the channels left.
  await page.selectOption('#train-prune-method', 'neurons_l2');
  await page.fill('#train-prune-sparsity', '25');
  await page.fill('#train-prune-epochs', '0');
  await page.click('#train-prune');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 8, null, { timeout: 300000 });
  const structured = (await rows(page))[7];
  assert.match(structured[4], /^conv channels 6 and 12 of 8 and 16 left; dense 23\.4\d* KB/);
  console.log(`# conv net QAT INT4 pruned 50 % global L1: ${oneShot[2]} one-shot, ${tuned[2]} fine-tuned 1 epoch; + 25 % of channels: ${structured[2]}`);
  await page.screenshot({ path: `${SCREENSHOTS}train-conv-pruned.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});
