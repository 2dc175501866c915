// End to end: an ONNX model whose weights are initializers, Constant values and inside If/Loop/Scan
// subgraphs (tests/fixtures/onnx_weights, scripts/fixtures/make_onnx_weights.py) lists every weight
// by the op that reads it, keeps the ONNX name in view, filters the list by op, and the Model
// section compares one op's weights (issue 13, item 1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const model = new URL('../fixtures/onnx_weights/weights.onnx', import.meta.url);
const expected = JSON.parse(await readFile(new URL('../fixtures/onnx_weights/expected.json', import.meta.url), 'utf8'))['weights.onnx'];
const listed = (page) => page.$$eval('#tensor-list li', (lis) => lis.map((li) => [li.firstChild.textContent, li.lastChild.textContent]));
const stat = async (page, key) => (await page.locator(`#model-stats [data-stat="${key}"]`).textContent()).trim();

test('every weight of the model is listed by its reader, grouped by op, and one group is compared', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#tensor-group-row').isHidden(), true, 'no op filter before an ONNX model');
  await page.setInputFiles('#file-input', model.pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });

  // Every weight (after the built-in sample), by its label, with its ONNX name and, in a
  // subgraph, where it lives.
  const rows = (await listed(page)).slice(1);
  assert.deepEqual(rows.map(([label]) => label), expected.weights.map((w) => w.label));
  for (const [[, small], w] of rows.map((r, i) => [r, expected.weights[i]])) {
    assert.ok(small.startsWith(`weights.onnx · ${w.name} · `), small);
    assert.equal(small.includes(`in ${w.graph}`), w.graph !== 'main graph', small);
  }
  assert.ok(rows.some(([, small]) => small.includes("in If 'branch' then_branch / Loop 'then.loop' body")));

  // The op filter: one option per op, counting the weights it reads.
  const groups = new Map();
  for (const w of expected.weights) for (const g of w.groups) groups.set(g, (groups.get(g) ?? 0) + 1);
  const options = await page.$$eval('#tensor-group option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options.slice(1), [...groups].map(([op, n]) => [op, `${op} weights (${n})`]));
  await page.selectOption('#tensor-group', 'MatMul');
  const matmuls = await listed(page);
  assert.deepEqual(matmuls.map(([label]) => label).sort(), expected.weights.filter((w) => w.groups.includes('MatMul')).map((w) => w.label).sort());
  assert.equal(matmuls.length, 3);
  // A weight two op types read is in both groups.
  await page.selectOption('#tensor-group', 'Add');
  assert.ok((await listed(page)).some(([label]) => label === "Mul 'head.mul' B (+1 more)"));

  // The selected weight says where it lives and what reads it.
  await page.click("#tensor-list li:has-text(\"Add 'loop.add' B\")");
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === "Add 'loop.add' B");
  assert.equal(await page.locator('#tensor-origin').textContent(),
    "ONNX name loop.bias · Constant value_floats in If 'branch' then_branch / Loop 'then.loop' body · read by Add 'loop.add' as B");

  // The Model section: the file, then each op's weights of it.
  const scopes = await page.$$eval('#model-scope option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(scopes[0], ['0', `weights.onnx (${expected.weights.length} tensors)`]);
  assert.ok(scopes.some(([v, text]) => v === '0:Conv' && text === 'weights.onnx — Conv weights (2)'), JSON.stringify(scopes));
  await page.selectOption('#model-scope', '0:MatMul');
  assert.equal(await stat(page, 'tensors'), '3');
  const matmulParams = expected.weights.filter((w) => w.groups.includes('MatMul')).reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(Number((await stat(page, 'parameters')).replace(/,/g, '')), matmulParams);
  await page.click('#model-compare');
  await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 120000 });
  assert.equal((await page.$$eval('#model-table tr[data-scheme="int8_sym"] td[data-col="types"]', (tds) => tds.map((t) => t.textContent)))[0], '3 × int8_sym');
  await page.click('#model-table tr[data-scheme="int8_sym"]');
  const breakdown = await page.$$eval('#model-breakdown tbody tr', (trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.deepEqual(breakdown.sort(), ["MatMul 'else.fc' B", "MatMul 'head.fc' B", "MatMul 'then.fc' B"]);

  await page.selectOption('#tensor-group', 'MatMul');
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${SCREENSHOTS}/onnx-weights-${width}.png`, fullPage: width === 390 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `no sideways scroll at ${width} px`);
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
