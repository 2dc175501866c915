// End to end: the Train view trains the MLP in its worker (www/pkg-train) and compares FP32,
// post-training quantization, pruning and quantization-aware training on the test digits; Pause holds the
// run, Resume goes on, Cancel keeps the curves, and a setting that makes no sense is refused with
// its reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { launch } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const step = (page) => page.$eval('#train-curves', (c) => Number(c.dataset.points ?? 0));

// A .npy's shape, dtype and data (float32 as Float32Array, uint8 as Uint8Array), parsed here
// independently of the page's writer (NumPy's format: magic, version, header length, header).
function npy(bytes) {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
  const start = 10 + (bytes[8] | (bytes[9] << 8));
  assert.equal(start % 64, 0, 'the header is padded to 64 bytes');
  const header = new TextDecoder().decode(bytes.subarray(10, start));
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  const descr = /'descr': '([^']+)'/.exec(header)[1];
  const body = bytes.slice(start);
  return { shape, descr, data: descr === '<f4' ? new Float32Array(body.buffer) : body };
}

// The accuracy of the MLP in `weights` (a .npz from the page) on the shipped test digits, by a
// plain forward pass here: pixels / 255, ReLU between layers, argmax.
async function accuracyOf(weights) {
  const test = unzipSync(new Uint8Array(await readFile(new URL('../../www/models/mnist_test.npz', import.meta.url))));
  const [images, labels] = [npy(test['images.npy']).data, npy(test['labels.npy']).data];
  const layers = [];
  for (let i = 1; weights[`layer${i}.weight.npy`]; i++) layers.push([npy(weights[`layer${i}.weight.npy`]), npy(weights[`layer${i}.bias.npy`])]);
  let correct = 0;
  for (let n = 0; n < labels.length; n++) {
    let x = Float32Array.from(images.subarray(n * 784, n * 784 + 784), (p) => p / 255);
    layers.forEach(([w, b], l) => {
      const [out, fanIn] = w.shape;
      const y = new Float32Array(out);
      for (let o = 0; o < out; o++) {
        let sum = b.data[o];
        for (let i = 0; i < fanIn; i++) sum += w.data[o * fanIn + i] * x[i];
        y[o] = l < layers.length - 1 ? Math.max(sum, 0) : sum;
      }
      x = y;
    });
    if (x.indexOf(Math.max(...x)) === labels[n]) correct++;
  }
  return (100 * correct) / labels.length;
}

test('FP32 with its PTQ rows, pruned and fine-tuned, then QAT INT4 with Pause and Resume, then Cancel', async () => {
  const page = await browser.page();
  const wasm = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.ok(!wasm.some((p) => p.includes('/pkg-train/')), 'the trainer loads only when a run starts');

  // Refused settings: one checked on the page, one by the trainer.
  await page.fill('#train-hidden', '100, many');
  await page.click('#train-start');
  assert.match(await page.locator('#train-error').textContent(), /hidden layer sizes must be whole numbers/);
  await page.fill('#train-hidden', '100, 100');
  await page.fill('#train-epochs', '0');
  await page.click('#train-start');
  await page.waitForSelector('#train-error:not([hidden])');
  await page.waitForFunction(() => /0 epochs: choose 1 to 1000/.test(document.querySelector('#train-error').textContent));
  assert.equal((await rows(page)).length, 0);

  // FP32, one epoch: a row for it and one per PTQ width.
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 7, null, { timeout: 120000 });
  const fp32 = await rows(page);
  assert.deepEqual(fp32.map((r) => r[1]), ['FP32', 'PTQ INT8 (min-max)', 'PTQ INT4 (min-max)', 'PTQ INT2 (min-max)', 'PTQ dynamic INT8', 'PTQ dynamic INT4', 'PTQ dynamic INT2']);
  assert.ok(percent(fp32[0][2]) > 80, `FP32 ${fp32[0][2]}`);
  assert.ok(percent(fp32[3][2]) < percent(fp32[0][2]), 'INT2 PTQ loses accuracy');
  assert.equal(fp32[0][3], '350 KB', '89,610 parameters × 4 bytes');
  assert.ok(await step(page) >= 12, 'the curves have a point per 10 of the 125 steps');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-csv')]);
  const csv = (await readFile(await download.path(), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'step,loss,batch_accuracy');
  assert.equal(csv.length - 1, await step(page));
  // The run's weights as a .npz: torch's nn.Linear shapes, and a forward pass here on the test
  // digits with them gives the run's own test accuracy (sums in another order may flip a near tie).
  const [npz] = await Promise.all([page.waitForEvent('download'), page.locator('#train-results tbody tr').first().locator('.train-weights').click()]);
  const weights = unzipSync(new Uint8Array(await readFile(await npz.path())));
  assert.deepEqual(Object.keys(weights).sort(), ['layer1.bias.npy', 'layer1.weight.npy', 'layer2.bias.npy', 'layer2.weight.npy', 'layer3.bias.npy', 'layer3.weight.npy']);
  assert.deepEqual(npy(weights['layer1.weight.npy']).shape, [100, 784]);
  assert.deepEqual(npy(weights['layer3.bias.npy']).shape, [10]);
  assert.equal(npy(weights['layer2.weight.npy']).descr, '<f4');
  assert.ok(Math.abs((await accuracyOf(weights)) - percent(fp32[0][2])) <= 0.1, `the .npz's accuracy against the run's ${fp32[0][2]}`);

  // Prune that run: 80 % global L1 one-shot, then 50 % more of whole neurons, fine-tuned 1 epoch.
  await page.fill('#train-prune-sparsity', '80');
  await page.fill('#train-prune-epochs', '0');
  await page.click('#train-prune');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 9, null, { timeout: 120000 });
  const [oneShot, oneShotInt8] = (await rows(page)).slice(7);
  assert.equal(oneShot[1], 'pruned 80 % (global L1), one-shot');
  // Pruned + quantized: PTQ INT8 of the pruned weights, stored as CSR with INT8 values.
  assert.equal(oneShotInt8[1], 'pruned 80 % (global L1), one-shot + PTQ INT8 (min-max)');
  assert.equal(oneShotInt8[3], `${/sparse \+ INT8 ([\d.]+ KB)$/.exec(oneShot[4])[1]}`);
  assert.ok(Math.abs(percent(oneShotInt8[2]) - percent(oneShot[2])) < 3, `${oneShotInt8[2]} vs ${oneShot[2]}`);
  assert.match(oneShot[4], /^dense 350 KB, sparse [\d.]+ KB, sparse \+ INT8 [\d.]+ KB$/);
  assert.equal(await page.$eval('#train-sparsity', (c) => c.dataset.points), '11');
  await page.selectOption('#train-prune-method', 'neurons_l2');
  await page.fill('#train-prune-sparsity', '50');
  await page.fill('#train-prune-epochs', '1');
  await page.click('#train-prune');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 12, null, { timeout: 120000 });
  const [structured, tuned, tunedInt8] = (await rows(page)).slice(9);
  assert.match(tunedInt8[1], /^pruned [\d.]+ % \(neurons L2\), fine-tuned 1 epoch \+ PTQ INT8 \(min-max\)$/);
  assert.match(structured[4], /^784-50-50-10 after removing neurons/);
  assert.match(tuned[1], /^pruned [\d.]+ % \(neurons L2\), fine-tuned 1 epoch$/);
  assert.ok(percent(tuned[2]) > 50, `fine-tuned ${tuned[2]}`);

  // QAT INT4 over 2 epochs: paused, no step is taken; resumed, it finishes and adds its row.
  await page.selectOption('#train-method', 'qat4');
  await page.fill('#train-epochs', '2');
  await page.click('#train-start');
  await page.waitForFunction(() => Number(document.querySelector('#train-curves').dataset.points ?? 0) >= 3);
  await page.click('#train-pause');
  await page.waitForFunction(() => /^paused at step/.test(document.querySelector('#train-status').textContent));
  const held = await step(page);
  await page.waitForTimeout(600); // a request already sent may still land: at most one more point
  const afterPause = await step(page);
  await page.waitForTimeout(600);
  assert.ok(afterPause - held <= 1, `${held} → ${afterPause}`);
  assert.equal(await step(page), afterPause, 'no step while paused');
  assert.equal(await page.locator('#train-pause').textContent(), 'Resume');
  await page.click('#train-pause');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 13, null, { timeout: 120000 });
  const qat = (await rows(page))[12];
  assert.equal(await page.$eval('#train-chart', (c) => c.dataset.points), '13', 'a point per row');
  assert.equal(qat[1], 'QAT INT4');
  assert.ok(percent(qat[2]) > 50, `QAT INT4 ${qat[2]}`);

  // Cancel: the run stops, its curves stay, no row is added.
  await page.click('#train-start');
  await page.waitForFunction(() => Number(document.querySelector('#train-curves').dataset.points ?? 0) >= 2);
  await page.click('#train-cancel');
  assert.match(await page.locator('#train-status').textContent(), /^cancelled at step \d+; the curves so far are kept/);
  assert.ok(await step(page) >= 2);
  await page.waitForTimeout(300);
  assert.equal((await rows(page)).length, 13);
  assert.equal(await page.locator('#train-start').isDisabled(), false);
  assert.equal(await page.locator('#train-prune').isDisabled(), true, 'a cancelled run cannot be pruned');
  assert.ok(wasm.some((p) => p.endsWith('/pkg-train/quantscope_bg.wasm')));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('gradual pruning: refused schedules with their reasons, then 80 % global L1 on a cubic over the fine-tuning', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.fill('#train-hidden', '100, 100');
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 7, null, { timeout: 120000 });
  await page.selectOption('#train-prune-schedule', 'gradual');
  await page.fill('#train-prune-epochs', '1');

  // 2:4 has no schedule; 200 re-prunes of 10 steps do not fit one epoch of 125 steps.
  const refused = async (reason) => {
    await page.click('#train-prune');
    await page.waitForFunction((r) => new RegExp(r).test(document.querySelector('#train-error').textContent), reason.source, { timeout: 60000 });
  };
  await page.selectOption('#train-prune-method', 'two_four');
  await refused(/2:4 sparsity is always 50 %: it has no schedule/);
  await page.selectOption('#train-prune-method', 'global_l1');
  await page.fill('#train-prune-every', '10');
  await page.fill('#train-prune-count', '200');
  await refused(/needs 2000 steps of fine-tuning, there are 125/);
  assert.equal((await rows(page)).length, 7, 'nothing pruned or trained by a refused schedule');

  await page.fill('#train-prune-count', '10');
  await page.fill('#train-prune-sparsity', '80');
  await page.click('#train-prune');
  await page.waitForFunction(() => document.querySelectorAll('#train-results tbody tr').length === 8, null, { timeout: 180000 });
  const gradual = (await rows(page))[7];
  assert.equal(gradual[1], 'gradual 80 % (global L1, cubic, 10×), fine-tuned 1 epoch');
  assert.ok(percent(gradual[2]) > 80, `gradual ${gradual[2]}`);
  assert.match(gradual[4], /^re-pruned every 10 steps, the masks held between; sparse [\d.]+ KB$/);
  assert.equal(await page.$eval('#train-progress', (p) => p.value), 1);
  assert.deepEqual(page.errors, []);
  await page.close();
});
