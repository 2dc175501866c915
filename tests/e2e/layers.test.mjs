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

test('a model whose values outgrow one pass is compared in several, and past that says why under the outputs', async () => {
  const { onnxModel } = await import('./onnx-writer.mjs');
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  // Five Relus of 4M values each: 20M values, the fifth starting past the first pass's 16M.
  const chain = (n) => onnxModel({
    nodes: Array.from({ length: n }, (_, k) => ({ op: 'Relu', name: `relu${k}`, inputs: [k ? `v${k - 1}` : 'x'], outputs: [k === n - 1 ? 'y' : `v${k}`] })),
    inputs: [{ name: 'x', shape: [1, 1 << 22] }],
    outputs: [{ name: 'y', shape: [1, 1 << 22] }],
  });
  await dropFiles(page, '#run-custom-drop', [{ name: 'relus.onnx', bytes: chain(5) }]);
  await page.waitForSelector('#run-custom-layers:not([hidden])', { timeout: 60000 });
  assert.deepEqual((await rows(page)).map((r) => r.node).sort(), ['relu0', 'relu1', 'relu2', 'relu3', 'relu4']);
  assert.equal(await page.locator('#run-custom-layers-error').isHidden(), true);
  // Seventeen (68M values) outgrow the four passes: said in the section, the outputs' table stands.
  await dropFiles(page, '#run-custom-drop', [{ name: 'relus17.onnx', bytes: chain(17) }]);
  await page.waitForFunction(() => /Not compared layer by layer: the model's intermediate values hold more than 67108864 numbers/
    .test(document.querySelector('#run-custom-layers-error').textContent), null, { timeout: 60000 });
  assert.equal(await page.locator('#run-custom-table').isHidden(), false);
  assert.equal(await page.locator('#run-custom-layers-table').isHidden(), true);
  assert.equal(await page.locator('#run-custom-error').isHidden(), true);
  assert.deepEqual(page.errors, []);
  await page.close();
});
