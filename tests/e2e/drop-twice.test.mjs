// End to end: dropping files whose tensor names are already loaded (issue 12, item 11). The same
// file again (same name, same size) replaces the first, and the page says so; another file with
// the same tensor names keeps both, the later ones shown as '<file>: <name>', and the list says
// which file every tensor is from.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });


// A .safetensors of F32 tensors: {name: values} (1-D).
function safetensors(tensors) {
  const meta = {};
  let offset = 0;
  for (const [name, values] of Object.entries(tensors)) {
    meta[name] = { dtype: 'F32', shape: [values.length], data_offsets: [offset, offset + 4 * values.length] };
    offset += 4 * values.length;
  }
  let json = JSON.stringify(meta);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const bytes = new Uint8Array(8 + json.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(Buffer.from(json), 8);
  new Float32Array(bytes.buffer, 8 + json.length).set(Object.values(tensors).flat());
  return bytes;
}

const listed = (page) => page.$$eval('#tensor-list li', (lis) => lis.map((li) => ({
  name: li.querySelector('span').textContent, detail: li.querySelector('small').textContent,
})));
const cards = (page) => page.$$eval('#file-list summary', (ss) => ss.map((s) => s.textContent));

test('the same file twice replaces it; other files with the same tensor names keep theirs, named with the file', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const w = { name: 'w.npy', bytes: npy(Array.from({ length: 32 }, (_, i) => i / 10), [4, 8]) };

  await dropFiles(page, '#drop-zone', [w]);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1);
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'w');
  assert.equal(await page.locator('#load-note').isHidden(), true);

  // Again: replaced, not added.
  await dropFiles(page, '#drop-zone', [w]);
  await page.waitForSelector('#load-note:not([hidden])');
  assert.match(await page.locator('#load-note').textContent(), /^Replaced w\.npy: the same file \(/);
  await page.locator('#input').screenshot({ path: `${SCREENSHOTS}drop-replaced-1366.png` });
  assert.deepEqual((await listed(page)).map((t) => t.name), ['sample:normal', 'w']);
  assert.equal((await cards(page)).length, 1);
  assert.match((await listed(page))[1].detail, /^w\.npy · float32 \[4, 8\]/);
  assert.equal(await page.locator('#tensor-title').textContent(), 'w');
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#tensor-stats [data-stat="max"]').textContent(), '3.1');

  // Two models with the same tensor names: both kept, the second's named with its file.
  const a = { name: 'model_a.safetensors', bytes: safetensors({ 'layer.weight': [1, 2, 3, 4], 'layer.bias': [0.5] }) };
  const b = { name: 'model_b.safetensors', bytes: safetensors({ 'layer.weight': [5, 6, 7, 8], 'layer.bias': [0.25] }) };
  await dropFiles(page, '#drop-zone', [a, b]);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 3);
  assert.equal(await page.locator('#load-note').isHidden(), true, 'nothing was replaced');
  const names = (await listed(page)).map((t) => t.name);
  assert.deepEqual(names.slice(2).sort(), ['layer.bias', 'layer.weight', 'model_b.safetensors: layer.bias',
    'model_b.safetensors: layer.weight']);
  for (const t of (await listed(page)).slice(2)) {
    assert.match(t.detail, t.name.startsWith('model_b') ? /^model_b\.safetensors · / : /^model_a\.safetensors · /, t.name);
  }
  await page.locator('#tensor-list li').filter({ hasText: 'model_b.safetensors: layer.weight' }).click();
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'model_b.safetensors: layer.weight');
  await page.waitForFunction(() => document.querySelector('#tensor-stats [data-stat="max"]')?.textContent === '8');
  // The filter finds a file's tensors by its name.
  await page.fill('#tensor-filter', 'model_a');
  assert.deepEqual((await listed(page)).map((t) => t.name).sort(), ['layer.bias', 'layer.weight']);
  await page.fill('#tensor-filter', '');

  // Same name, other content (another size): a different file, kept beside the first.
  await dropFiles(page, '#drop-zone', [{ name: 'w.npy', bytes: npy([9, 8, 7, 6], [2, 2]) }]);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 4);
  assert.equal(await page.locator('#load-note').isHidden(), true);
  assert.match((await cards(page))[3], /^w\.npy \(2\) — npy/);
  const second = (await listed(page)).find((t) => t.name === 'w.npy (2): w');
  assert.ok(second, JSON.stringify(await listed(page)));
  assert.match(second.detail, /^w\.npy \(2\) · float32 \[2, 2\]/);

  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#input').screenshot({ path: `${SCREENSHOTS}drop-twice-${width}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
