// End to end: a person's own model made of the ops exporters emit beyond the built-in models'
// (tests/fixtures/run_ops, scripts/fixtures/make_run_ops_model.py: Pad, Instance/Group/Layer
// normalization, DepthToSpace, SpaceToDepth, a 1×1 Conv, ReduceMean, ReduceMax, TopK, ArgMax,
// CumSum, GatherElements) dropped on the Run view with its input: the models module loads in
// the Run worker only then, the model runs, and every output matches onnx's reference evaluator
// (|diff| ≤ 1e-5 + 1e-4·|reference| for floats, indices exactly).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';

const fixture = (name) => readFile(new URL(`../fixtures/run_ops/${name}`, import.meta.url));
const expected = JSON.parse(await fixture('expected.json')).outputs;
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a dropped model of the newer ops runs in the Run view and matches onnx\'s reference evaluator', async () => {
  const page = await browser.page();
  const wasm = [];
  page.on('request', (r) => { const m = /\/([^/]+)\/[^/]+\.wasm$/.exec(r.url()); if (m) wasm.push(m[1]); });
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  assert.ok(!wasm.includes('pkg-models'), 'the built-in model does not need the models module');

  await dropFiles(page, '#run-custom-drop', [{ name: 'run_ops.onnx', bytes: await fixture('model.onnx') },
    { name: 'input.npy', bytes: await fixture('input.npy') }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 60000 });
  assert.deepEqual(page.errors, []);
  assert.equal(await page.locator('#run-custom-error').isHidden(), true);
  assert.equal(wasm.filter((w) => w === 'pkg-models').length, 1, 'the models module loads once, when the model is dropped');
  const ops = await page.textContent('#run-custom-model');
  for (const op of ['Pad', 'InstanceNormalization', 'DepthToSpace', 'SpaceToDepth', 'GroupNormalization', 'LayerNormalization',
    'ReduceMean', 'ReduceMax', 'TopK', 'ArgMax', 'CumSum', 'GatherElements']) assert.ok(ops.includes(op), op);
  assert.match(await page.textContent('#run-custom-input'), /x \[1, 4, 6, 6\]: input\.npy/);

  // The table: one row per output, in the model's order, with its first FP32 values.
  const rows = await page.$$eval('#run-custom-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), Object.keys(expected));
  for (const r of rows) {
    const want = expected[r[0]];
    assert.equal(r[1], `[${want.shape.join(', ')}]`);
    const shown = r[7].split(', ').filter((t) => !t.startsWith('…')).map(Number);
    shown.forEach((v, i) => assert.ok(Math.abs(v - want.data[i]) <= 5e-4 * Math.max(1, Math.abs(want.data[i])),
      `${r[0]}[${i}] shows ${v}, the reference is ${want.data[i]}`));
  }
  // The 1×1 Conv is quantized: the features differ a little from FP32, the indices are integers.
  const features = rows.find((r) => r[0] === 'features');
  assert.ok(Number(features[4]) > 20, `features SQNR ${features[4]} dB`);

  // Every value of every output, from the same worker and inputs the table used.
  const npy = [...await fixture('input.npy')];
  const result = await page.evaluate(async (bytes) => {
    const { runWorker } = await import('./www/run/client.js');
    const r = await runWorker.request('custom_run', [{ arrays: [{ file: 'input.npy', bytes: new Uint8Array(bytes).buffer }], images: [] }, {}]);
    return Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype, data: [...v.data] }]));
  }, npy);
  assert.deepEqual(Object.keys(result), Object.keys(expected));
  for (const [name, want] of Object.entries(expected)) {
    const got = result[name];
    assert.deepEqual(got.shape, want.shape, name);
    assert.equal(got.dtype, want.dtype === 'int64' ? 'int64' : 'float32', name);
    got.data.forEach((v, i) => {
      const w = want.data[i];
      const ok = want.dtype === 'int64' ? v === w : Math.abs(v - w) <= 1e-5 + 1e-4 * Math.abs(w);
      assert.ok(ok, `${name}[${i}]: the page gives ${v}, the reference evaluator ${w}`);
    });
  }
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-ops.png` });
  await page.setViewportSize({ width: 390, height: 900 });
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-ops-390.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the same model exported in float16 runs too, within float16\'s precision of the reference', async () => {
  const half = JSON.parse(await fixture('expected_fp16.json')).outputs;
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  await dropFiles(page, '#run-custom-drop', [{ name: 'run_ops_fp16.onnx', bytes: await fixture('model_fp16.onnx') },
    { name: 'input.npy', bytes: await fixture('input.npy') }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 60000 });
  assert.equal(await page.locator('#run-custom-error').isHidden(), true, await page.textContent('#run-custom-error'));
  assert.match(await page.textContent('#run-custom-model'), /x float16 \[1, 4, 6, 6\]/);
  const result = await page.evaluate(async (bytes) => {
    const { runWorker } = await import('./www/run/client.js');
    const r = await runWorker.request('custom_run', [{ arrays: [{ file: 'input.npy', bytes: new Uint8Array(bytes).buffer }], images: [] }, {}]);
    return Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype, data: [...v.data] }]));
  }, [...await fixture('input.npy')]);
  // The reference rounds to float16 after every numpy step, the engine once per op: a few
  // float16 steps apart after the three normalizations (src/engine/tests/engine_conformance.rs).
  for (const [name, want] of Object.entries(half)) {
    const got = result[name];
    assert.equal(got.dtype, want.dtype === 'int64' ? 'int64' : 'float16', name);
    got.data.forEach((v, i) => {
      const w = want.data[i];
      const ok = want.dtype === 'int64' ? v === w : Math.abs(v - w) <= 1e-2 + 1e-2 * Math.abs(w);
      assert.ok(ok, `${name}[${i}]: the page gives ${v}, the reference evaluator ${w}`);
    });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
