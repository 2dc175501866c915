// End to end: the page as a visitor uses it, in headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';

const fixtures = new URL('../fixtures/npy/', import.meta.url);
const expected = JSON.parse(await readFile(new URL('expected.json', fixtures), 'utf8'));
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The page shows numbers rounded to 6 significant digits; compare at that precision.
function assertShown(text, value, what) {
  const shown = Number(text.replace(/,/g, ''));
  assert.ok(Math.abs(shown - value) <= 1e-5 * Math.abs(value), `${what}: page shows ${text}, reference ${value}`);
}

async function stat(page, section, key) {
  return (await page.locator(`${section} [data-stat="${key}"]`).textContent()).trim();
}

test('starts with a built-in sample and draws its histogram', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  assert.match(await page.locator('#tensor-title').textContent(), /sample:normal/);
  assert.equal(await stat(page, '#tensor-stats', 'shape'), '[256, 256]');
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  assert.equal(await page.locator('#scheme-table tbody tr').count(), await page.locator('#scheme-picker option').count());
  assert.equal(await page.locator('#progress-row').isHidden(), true, 'the progress row goes away when done');
  assert.ok(await page.locator('#scheme-table tbody tr').count() >= 30);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a dropped .npy shows the reference statistics and int8_sym numbers', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  const bytes = await readFile(new URL('e2e_weights.npy', fixtures));
  await dropFiles(page, '#drop-zone', [{ name: 'e2e_weights.npy', bytes }]);
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'e2e_weights');
  await page.waitForSelector('#scheme-stats [data-stat="sqnr"]');
  const want = expected.e2e_weights;
  assert.equal(await stat(page, '#tensor-stats', 'shape'), '[64, 48]');
  assert.equal(await stat(page, '#tensor-stats', 'nan'), String(want.nan_count));
  assertShown(await stat(page, '#tensor-stats', 'min'), want.min, 'min');
  assertShown(await stat(page, '#tensor-stats', 'max'), want.max, 'max');
  assertShown(await stat(page, '#tensor-stats', 'mean'), want.mean, 'mean');
  assertShown(await stat(page, '#tensor-stats', 'std'), want.std, 'std');
  assert.equal(await page.locator('#selected-scheme-name').textContent(), 'int8_sym');
  assertShown(await stat(page, '#scheme-stats', 'scale'), want.int8_sym.scale, 'scale');
  assertShown(await stat(page, '#scheme-stats', 'mse'), want.int8_sym.mse, 'MSE');
  assertShown(await stat(page, '#scheme-stats', 'sqnr'), want.int8_sym.sqnr_db, 'SQNR');
  assertShown(await stat(page, '#scheme-stats', 'max_abs_error'), want.int8_sym.max_abs_error, 'max abs error');

  // The histogram canvas has drawn pixels in both series' colours, not a blank canvas.
  const colours = await page.evaluate(() => {
    const c = document.querySelector('#histogram');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let blueish = 0, orangeish = 0;
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
      if (b > 150 && r < 150) blueish++;
      if (r > 180 && g < 170 && b < 120) orangeish++;
    }
    return { blueish, orangeish };
  });
  assert.ok(colours.blueish > 500 && colours.orangeish > 100, JSON.stringify(colours));
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  await page.screenshot({ path: `${SCREENSHOTS}playground.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a malformed file shows a specific error and the page keeps working', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  const bytes = await readFile(new URL('malformed/truncated_data.npy', fixtures));
  const good = await readFile(new URL('f32_c.npy', fixtures));
  await dropFiles(page, '#drop-zone', [{ name: 'truncated_data.npy', bytes }, { name: 'f32_c.npy', bytes: good }]);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.locator('#error').textContent(), /truncated_data\.npy: truncated \.npy file: the data needs 188 bytes/);
  // The good file dropped with it still loads.
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'f32_c');
  await page.screenshot({ path: `${SCREENSHOTS}error.png` });
  await page.close();
});

test('choosing a scheme in the table redraws its numbers', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  await page.locator('#scheme-table tbody tr[data-scheme="int4_asym_g32"]').click();
  await page.waitForFunction(() => document.querySelector('#selected-scheme-name').textContent === 'int4_asym_g32');
  assert.equal(await stat(page, '#scheme-stats', 'bpw'), '5.25'); // 4 bits + (f32 scale + u8 zero point) / 32
  assert.equal(await page.locator('#scheme-picker').inputValue(), 'int4_asym_g32');
  // The picker selects too.
  await page.locator('#scheme-picker').selectOption('int2_sym');
  await page.waitForFunction(() => document.querySelector('#selected-scheme-name').textContent === 'int2_sym');
  await page.close();
});

test('the table sorts by any column, both ways', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  const column = async (col) => page.$$eval(`#scheme-table tbody td[data-col="${col}"]`, (tds) => tds.map((td) => td.textContent));
  await page.locator('#scheme-table th[data-key="bits_per_weight"]').click();
  const ascending = (await column('bits_per_weight')).map(Number);
  assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
  await page.locator('#scheme-table th[data-key="bits_per_weight"]').click();
  const descending = (await column('bits_per_weight')).map(Number);
  assert.deepEqual(descending, [...ascending].sort((a, b) => b - a));
  assert.equal(await page.locator('#scheme-table th[data-key="bits_per_weight"]').getAttribute('aria-sort'), 'descending');
  await page.close();
});

test('charts: SQNR vs bits, error histogram, and a fixed histogram range', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  const inked = (sel) => page.evaluate((sel) => {
    const c = document.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n;
  }, sel);
  assert.ok(await inked('#sqnr-chart') > 2000, 'the SQNR chart is drawn');
  assert.ok(await inked('#error-histogram') > 2000, 'the error histogram is drawn');
  const before = await page.locator('#histogram').screenshot();
  await page.fill('#range-lo', '-1');
  await page.fill('#range-hi', '1');
  await page.locator('#range-hi').dispatchEvent('change');
  await page.waitForFunction(() => true);
  await page.waitForTimeout(300);
  const after = await page.locator('#histogram').screenshot();
  assert.notDeepEqual(before, after, 'a fixed range redraws the histogram');
  await page.screenshot({ path: `${SCREENSHOTS}charts.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('model summary, tensor filter and the whole-model comparison with cancel', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  const files = ['f32_c.npy', 'e2e_weights.npy'];
  await dropFiles(page, '#drop-zone', await Promise.all(files.map(async (name) => ({ name, bytes: await readFile(new URL(name, fixtures)) }))));
  await page.waitForFunction(() => document.querySelectorAll('#tensor-list li').length === 3);
  // The Model section shows the file loaded last; all loaded tensors only when asked.
  assert.equal(await stat(page, '#model-stats', 'parameters'), '3,072');
  await page.selectOption('#model-scope', 'all');
  // 256×256 sample + 3×5 + 64×48, all float32.
  assert.equal(await stat(page, '#model-stats', 'parameters'), (65536 + 15 + 3072).toLocaleString('en-US'));
  assert.equal(await stat(page, '#model-stats', 'stored_bpw'), '32');
  assert.match(await page.locator('#file-list').textContent(), /e2e_weights\.npy — npy, 1 tensor/);

  await page.fill('#tensor-filter', 'e2e');
  assert.deepEqual(await page.$$eval('#tensor-list li span', (s) => s.map((x) => x.textContent)), ['e2e_weights']);
  await page.fill('#tensor-filter', '');
  await page.selectOption('#tensor-sort', 'params');
  assert.deepEqual(await page.$$eval('#tensor-list li span', (s) => s.map((x) => x.textContent)), ['sample:normal', 'e2e_weights', 'f32_c']);

  // Cancel stops it: the progress row goes away and no table appears.
  await page.click('#model-compare');
  await page.waitForSelector('#model-progress-row:not([hidden])');
  await page.click('#model-cancel');
  await page.waitForSelector('#model-progress-row', { state: 'hidden' });
  assert.equal(await page.locator('#model-table').isHidden(), true);
  assert.equal(await page.locator('#error').isHidden(), true, 'a cancel is not an error');

  await page.click('#model-compare');
  await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 120000 });
  const row = await page.$$eval('#model-table tr[data-scheme="int8_sym"] td', (tds) => tds.map((td) => td.textContent));
  // One f32 scale per tensor on top of 8 bits per weight.
  const n = 65536 + 15 + 3072;
  assertShown(row[2], (8 * (n + 12)) / n, 'int8_sym bits per weight over the model');
  assert.ok(Number(row[6]) > 35 && Number(row[6]) < 50, `int8 SQNR over the model: ${row[6]}`);
  await page.screenshot({ path: `${SCREENSHOTS}model.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('real weight files: GGUF metadata, ONNX summary and a sharded safetensors checkpoint', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  const read = async (path) => ({ name: path.split('/').pop(), bytes: await readFile(new URL(`../fixtures/${path}`, import.meta.url)) });
  await dropFiles(page, '#drop-zone', await Promise.all([
    'gguf/tiny.gguf', 'onnx/tiny.onnx', 'safetensors/model.safetensors.index.json',
    'safetensors/model-00001-of-00002.safetensors', 'safetensors/model-00002-of-00002.safetensors',
  ].map(read)));
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 3, null, { timeout: 30000 });
  const cards = await page.$$eval('#file-list summary', (s) => s.map((x) => x.textContent));
  assert.ok(cards.some((c) => /model\.safetensors\.index\.json — safetensors, 3 tensors/.test(c)), cards.join(' | '));
  assert.ok(cards.some((c) => /tiny\.gguf — gguf/.test(c)), cards.join(' | '));
  assert.ok(cards.some((c) => /tiny\.onnx — onnx/.test(c)), cards.join(' | '));
  const metadata = await page.locator('#file-list').textContent();
  assert.match(metadata, /general\.architecture/);
  assert.match(metadata, /two shards/);
  // A missing shard is named.
  await dropFiles(page, '#drop-zone', [await read('safetensors/model.safetensors.index.json'), await read('safetensors/model-00001-of-00002.safetensors')]);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.locator('#error').textContent(), /shard 'model-00002-of-00002\.safetensors'.*was not given/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('downloads: the original as .npy and a scheme\'s packed bytes', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  await dropFiles(page, '#drop-zone', [{ name: 'e2e_weights.npy', bytes: await readFile(new URL('e2e_weights.npy', fixtures)) }]);
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'e2e_weights');
  const save = async (what) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-export="${what}"]`)]);
    const path = `${SCREENSHOTS}${download.suggestedFilename()}`;
    await download.saveAs(path);
    return { name: download.suggestedFilename(), bytes: await readFile(path) };
  };
  const original = await save('original');
  assert.equal(original.name, 'e2e_weights.npy');
  const source = await readFile(new URL('e2e_weights.npy', fixtures));
  // Same float32 values (the header may be padded differently).
  assert.deepEqual(original.bytes.subarray(original.bytes.length - 64 * 48 * 4), source.subarray(source.length - 64 * 48 * 4));
  const packed = await save('packed');
  assert.equal(packed.name, 'e2e_weights.int8_sym.bin');
  assert.equal(packed.bytes.length, 4 + 64 * 48);
  assert.equal(packed.bytes.readFloatLE(0), Math.fround(expected.e2e_weights.int8_sym.scale));
  await page.close();
});
