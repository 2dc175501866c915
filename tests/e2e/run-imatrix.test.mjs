// End to end: Run → "Which inputs matter?" (issue 16, item 3: an importance matrix computed in the
// page for the models quantscope runs). The built-in model's statistics over its calibration
// digits are held to ONNX Runtime's activations (tests/fixtures/mnist/imatrix.json, from
// scripts/fixtures/make_mnist_imatrix.py); the saved imatrix.gguf is read back by the test's own
// GGUF reader, then loaded in Inspect beside the same model, where it weights fc1.weight's error.
// A person's own model gets the same panel, over its inputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';
import { readGguf } from './gguf-read.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const expected = JSON.parse(await readFile(new URL('../fixtures/mnist/imatrix.json', import.meta.url)));
const MODEL = new URL('../../www/models/mnist_mlp.onnx', import.meta.url).pathname;
// The engine's GEMM and ORT's sum in different orders (src/engine/tests/importance.rs).
const RELATIVE = 1e-5;

test('the built-in model\'s importance matrix: ORT\'s statistics, drawn, saved as llama.cpp\'s file and used in Inspect', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  assert.equal(await page.locator('#run-imatrix [data-role=save]').isDisabled(), true, 'nothing to save before a run');
  await page.click('#run-imatrix [data-role=start]');
  await page.waitForSelector('#run-imatrix [data-role=result]:not([hidden])', { timeout: 60000 });

  // One row per weight, each with the fixture's never-used columns and rows seen.
  const rows = await page.$$eval('#run-imatrix [data-role=table] tbody tr', (trs) => trs.map((tr) => ({
    weight: tr.dataset.weight, cells: [...tr.cells].map((c) => c.textContent) })));
  assert.deepEqual(rows.map((r) => r.weight), expected.entries.map((e) => e.weight));
  for (const [r, e] of rows.map((r, i) => [r, expected.entries[i]])) {
    const zero = e.sums.filter((s) => s === 0).length;
    assert.equal(r.cells[2], String(e.sums.length), r.weight);
    assert.equal(r.cells[3], String(e.count), r.weight);
    assert.match(r.cells[4], new RegExp(`^${zero} \\(`), `${r.weight}: ${zero} columns never used`);
    assert.equal(r.cells[6], 'yes', `${r.weight} is stored [out, in]`);
  }
  // fc1's inputs are pixels: drawn as a 28×28 image, the caption counts the never-inked ones.
  const inkless = expected.entries[0].sums.filter((s) => s === 0).length;
  assert.match(await page.locator('#run-imatrix [data-role=caption]').textContent(), new RegExp(`${inkless} of 784 pixels are 0 in all of them`));
  const shaded = await page.$eval('#run-imatrix [data-role=plot]', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const tones = new Set();
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) tones.add(d[i]);
    return tones.size;
  });
  assert.ok(shaded > 20, `the pixel map has ${shaded} tones`);
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#run-imatrix').screenshot({ path: `${SCREENSHOTS}run-imatrix-${width}.png` });
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  // Another weight: bars, one per input column.
  await page.selectOption('#run-imatrix-weight', 'fc2.weight');
  assert.match(await page.locator('#run-imatrix [data-role=caption]').textContent(), /^fc2\.weight: the mean of x² of each of its 100 input columns over 256 rows/);

  // Saved: llama-imatrix's layout, the sums within the tolerance of ORT's.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#run-imatrix [data-role=save]')]);
  assert.equal(download.suggestedFilename(), 'imatrix.gguf');
  const path = `${SCREENSHOTS}run-imatrix.gguf`;
  await download.saveAs(path);
  const bytes = await readFile(path);
  assert.equal(bytes.subarray(0, 4).toString(), 'GGUF');
  const file = readGguf(bytes);
  assert.deepEqual(Object.keys(file.kv), ['general.type', 'imatrix.datasets', 'imatrix.chunk_count', 'imatrix.chunk_size']);
  assert.equal(file.kv['general.type'], 'imatrix');
  assert.deepEqual(file.kv['imatrix.datasets'], ['mnist_test.npz calibration digits']);
  assert.deepEqual([file.kv['imatrix.chunk_count'], file.kv['imatrix.chunk_size']], [16, 16]);
  for (const e of expected.entries) {
    const sums = file.tensors[`${e.weight}.in_sum2`];
    assert.equal(sums.length, e.sums.length, e.weight);
    const largest = Math.max(...e.sums);
    sums.forEach((s, j) => assert.ok(Math.abs(s - e.sums[j]) <= RELATIVE * largest, `${e.weight}[${j}]: ${s} against ORT's ${e.sums[j]}`));
    assert.deepEqual(file.tensors[`${e.weight}.counts`], [e.count]);
  }

  // Inspect: the same model and the saved file; fc1.weight's error is weighted by its pixels.
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', MODEL);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  await page.setInputFiles('#imatrix-input', path);
  await page.waitForFunction(() => /entries/.test(document.querySelector('#imatrix-info').textContent), null, { timeout: 30000 });
  assert.equal(await page.locator('#imatrix-info').textContent(),
    'run-imatrix.gguf (GGUF): 3 entries, dataset mnist_test.npz calibration digits, 16 chunks of 16 tokens');
  await page.click('#tensor-list li:has-text("fc1.weight")');
  await page.waitForSelector('#tensor-importance:not([hidden])', { timeout: 30000 });
  await page.waitForFunction(() => /Importance-weighted MSE under \S+: [0-9.e+-]+ /.test(document.querySelector('#tensor-importance-mse').textContent), null, { timeout: 30000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

// A person's own model (the same MLP dropped as a file, with a .npy of 8 rows as its input): the
// first weight's sums are the input's own Σx² per column, row by row in f32, exactly.
test('a dropped model\'s importance matrix over its .npy input', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  const rowsIn = 8, x = new Float32Array(rowsIn * 784);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 256) / 255 * (i % 3 === 0 ? 0 : 1);
  await dropFiles(page, '#run-custom-drop', [
    { name: 'mlp.onnx', bytes: await readFile(MODEL) },
    { name: 'rows.npy', bytes: npy(x, [rowsIn, 784]) },
  ]);
  await page.waitForSelector('#run-custom-imatrix:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-imatrix [data-role=start]');
  await page.waitForSelector('#run-custom-imatrix [data-role=result]:not([hidden])', { timeout: 60000 });
  const rows = await page.$$eval('#run-custom-imatrix [data-role=table] tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => [r[0], r[2], r[3]]), [['fc1.weight', '784', '8'], ['fc2.weight', '100', '8'], ['fc3.weight', '100', '8']]);
  const want = new Float32Array(784);
  for (let r = 0; r < rowsIn; r++) for (let j = 0; j < 784; j++) want[j] = Math.fround(want[j] + Math.fround(x[r * 784 + j] * x[r * 784 + j]));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#run-custom-imatrix [data-role=save]')]);
  const path = `${SCREENSHOTS}run-custom-imatrix.gguf`;
  await download.saveAs(path);
  const file = readGguf(await readFile(path));
  assert.deepEqual(file.kv['imatrix.datasets'], ['mlp.onnx inputs']);
  assert.deepEqual([file.kv['imatrix.chunk_count'], file.kv['imatrix.chunk_size']], [1, rowsIn]);
  assert.deepEqual(file.tensors['fc1.weight.in_sum2'], Array.from(want));
  assert.deepEqual(file.tensors['fc3.weight.counts'], [rowsIn]);
  await page.locator('#run-custom-imatrix').screenshot({ path: `${SCREENSHOTS}run-custom-imatrix-1366.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
