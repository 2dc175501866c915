// End to end: Run → Your own model → "Which layers hurt" (issue 13, item 3): every node output
// of the quantized copy against the FP32 model's, worst first; keeping a node in FP32 and
// running again quantizes the others only (mixed precision), and that node's output becomes
// exact. The model is the built-in MNIST MLP dropped as a file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#run-custom-layers-table tbody tr', (trs) => trs.map((tr) => ({
  node: tr.dataset.node, worst: tr.classList.contains('run-layer-worst'), cells: [...tr.cells].map((c) => c.textContent),
  box: tr.querySelector('input[type=checkbox]') !== null })));

test('which layers hurt: node outputs worst first, and a node kept in FP32 comes back exact', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  const model = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'mlp.onnx', bytes: model }]);
  await page.waitForSelector('#run-custom-layers:not([hidden])', { timeout: 30000 });
  let table = await rows(page);
  const db = (r) => (r.cells[3].endsWith('exact') ? Infinity : Number(r.cells[3]));
  assert.ok(table.length >= 4, JSON.stringify(table));
  // Worst first, the worst quantized nodes marked, every Gemm quantized with a box.
  for (let i = 1; i < table.length; i++) assert.ok(db(table[i - 1]) <= db(table[i]), `row ${i} out of order`);
  const gemms = table.filter((r) => r.cells[1].startsWith('Gemm'));
  assert.equal(gemms.length, 3);
  assert.ok(gemms.every((r) => r.box && r.cells[5] === 'yes' && Number.isFinite(db(r))));
  assert.equal(table.filter((r) => r.worst).length, 3);

  // Keep the first layer in FP32: its output is then exact, the other two stay quantized.
  const first = gemms.find((r) => /fc1|\b0\b|#0/.test(r.node)) ?? gemms[gemms.length - 1];
  await page.check(`#run-custom-layers-table input[data-node="${first.node}"]`);
  assert.match(await page.locator('#run-custom-layers-kept').textContent(), new RegExp(`1 node kept in FP32: ${first.node}`));
  await page.click('#run-custom-layers-rerun');
  await page.waitForFunction((n) => [...document.querySelectorAll('#run-custom-layers-table tbody tr')]
    .some((tr) => tr.dataset.node === n && tr.cells[5].textContent === 'kept FP32'), first.node, { timeout: 30000 });
  table = await rows(page);
  const kept = table.find((r) => r.node === first.node && r.cells[1].startsWith('Gemm'));
  assert.equal(kept.cells[3], 'exact');
  assert.equal(table.filter((r) => r.cells[5] === 'yes').length, 2);
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#run-custom-layers').screenshot({ path: `${SCREENSHOTS}run-layers-${width}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
