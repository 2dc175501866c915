// End to end: .npz and ONNX files are read by the reader module (www/pkg-read, src/reader), which
// the Inspect worker fetches only when such a file is first opened (the workbench, www/pkg, has
// no zip, inflate or protobuf decoder); the page's main thread loads the plot module alone
// (www/pkg-plot). The tensors read land in the worker's workspace and compare as any file's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fixture = (path) => new URL(`../fixtures/${path}`, import.meta.url).pathname;
const expected = JSON.parse(await readFile(fixture('npz/expected.json'), 'utf8'))['deflated.npz'];
const onnx = JSON.parse(await readFile(fixture('onnx/expected.json'), 'utf8'))['tiny.onnx'];
const names = (page) => page.$$eval('#tensor-list li span', (spans) => spans.map((s) => s.textContent));

test('an .npz and an .onnx file fetch the reader module, and their tensors are listed and compared', async () => {
  const page = await browser.page();
  const wasm = [];
  page.on('request', (r) => { const m = /\/([^/]+)\/[^/]+\.wasm$/.exec(r.url()); if (m) wasm.push(m[1]); });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#tensor .scheme-row', { timeout: 60000 });
  assert.deepEqual([...new Set(wasm)].sort(), ['pkg', 'pkg-plot'], 'the start fetches the workbench and plot modules alone');

  await page.setInputFiles('#file-input', fixture('npz/deflated.npz'));
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  assert.ok(wasm.includes('pkg-read'), `fetched ${wasm}`);
  assert.deepEqual((await names(page)).slice(1), expected.map((t) => t.name));

  // A tensor of the archive compares as any other: select it, every scheme runs on its values.
  await page.locator('#tensor-list li', { hasText: 'embed.table' }).click();
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'embed.table', null, { timeout: 30000 });
  await page.waitForFunction(() => document.body.dataset.compared === 'true' && document.querySelectorAll('#scheme-table tbody tr').length > 10, null, { timeout: 60000 });

  // An ONNX model from the same (already loaded) module: every initializer, in file order.
  await page.setInputFiles('#file-input', fixture('onnx/tiny.onnx'));
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 2, null, { timeout: 30000 });
  assert.equal(wasm.filter((p) => p === 'pkg-read').length, 1, 'the reader module is fetched once');
  const listed = (await names(page)).slice(1 + expected.length);
  assert.equal(listed.length, Object.keys(onnx.tensors).length, JSON.stringify(listed));
  assert.deepEqual(page.errors, []);
  await page.close();
});
