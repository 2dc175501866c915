// End to end: the Model section is the loaded file's model (issue 12, item 2), and its
// whole-model comparison gives each tensor the type the GGUF export gives it (item 3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const source = new URL('../fixtures/gguf_export/source.gguf', import.meta.url);
const stat = async (page, key) => (await page.locator(`#model-stats [data-stat="${key}"]`).textContent()).trim();
// The page's worker count once it has fallen back to `n` (workers end asynchronously), or
// what it is after 5 s.
async function workersBackTo(page, n) {
  for (let i = 0; i < 50 && page.workers().length !== n; i++) await new Promise((r) => setTimeout(r, 100));
  return page.workers().length;
}


const cells = (page, scheme) => page.$$eval(`#model-table tr[data-scheme="${scheme}"] td`, (tds) =>
  Object.fromEntries(tds.map((td) => [td.dataset.col, td.textContent])));

test('the model summary counts the loaded file, not the built-in sample', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', source.pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  // source.gguf holds 4 tensors; the page also holds sample:normal (65,536 values).
  assert.equal(await stat(page, 'tensors'), '4');
  assert.equal(await page.locator('#model-scope').inputValue(), '0');
  const fileParams = Number((await stat(page, 'parameters')).replace(/,/g, ''));
  await page.selectOption('#model-scope', 'all');
  assert.equal(await stat(page, 'tensors'), '5', 'all loaded: the sample too, only when asked');
  assert.equal(Number((await stat(page, 'parameters')).replace(/,/g, '')), fileParams + 65536);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the whole-model comparison applies the export\'s per-tensor types, sorts, and breaks down by tensor', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', source.pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  await page.click('#model-compare');
  await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 120000 });

  // The export writes these types for q4_k (tests/e2e/bigfiles.test.mjs holds it byte for byte).
  const q4k = await cells(page, 'q4_k');
  assert.equal(q4k.types, '1 q4_k, 1 q5_0, 1 f16, 1 f32');
  assert.match(q4k.worst, /\(-?[\d.]+ dB\)$/);
  // A scheme with no GGUF type applies to every tensor as itself.
  assert.equal((await cells(page, 'int4_sym')).types, '4 × int4_sym');
  assert.match(await page.locator('#model-coverage').textContent(), /^65 of the 101 schemes/);

  // Same data bytes as the export: its file is the header plus these, padded to 32.
  await page.selectOption('#gguf-type', 'q4_k');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  const written = (await readFile(await download.path())).length;
  const compared = Number(await page.locator('#model-table tr[data-scheme="q4_k"]').getAttribute('data-bytes'));
  assert.ok(compared < written && written - compared < 2048, `compared ${compared} B, exported ${written} B`);
  // Every fallback is listed, behind a disclosure.
  await page.waitForSelector('#gguf-result:not([hidden])');
  assert.equal(await page.locator('#gguf-fallbacks li').count(), 3);
  await page.click('#gguf-fallbacks summary');
  assert.match(await page.locator('#gguf-fallbacks').textContent(), /blk\.0\.attn_q\.weight: rows of 64 are not a multiple of q4_k's 256 values: written as q5_0/);

  // Sortable: SQNR ascending, then descending.
  const sqnrs = () => page.$$eval('#model-table tbody td[data-col="sqnr_db"]', (tds) => tds.map((td) => (td.textContent === '∞' ? Infinity : Number(td.textContent))));
  await page.click('#model-table th[data-key="sqnr_db"]');
  const up = await sqnrs();
  assert.deepEqual(up, [...up].sort((a, b) => a - b));
  await page.click('#model-table th[data-key="sqnr_db"]');
  const down = await sqnrs();
  assert.deepEqual(down, [...down].sort((a, b) => b - a));

  // The breakdown: q4_k's tensors, worst first, each with its type.
  await page.click('#model-table tr[data-scheme="q4_k"]');
  const breakdown = await page.$$eval('#model-breakdown tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(breakdown.length, 4);
  assert.deepEqual(breakdown.map((r) => r[1]).sort(), ['f16', 'f32', 'q4_k', 'q5_0']);
  assert.equal(breakdown.at(-1)[4], '∞ (exact)', 'the f32 tensor is exact and last');
  assert.equal(q4k.worst.split(' (')[0], breakdown[0][0]);
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#model').screenshot({ path: `${SCREENSHOTS}model-compare-${width}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the whole-model comparison runs on a pool of workers: the same numbers on 1 and on 3, and Cancel stops them', async () => {
  const tables = [];
  for (const workers of [1, 3]) {
    const page = await browser.page();
    await page.goto(`${browser.url}#inspect?workers=${workers}`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
    await page.setInputFiles('#file-input', source.pathname);
    await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
    const before = page.workers().length;
    await page.click('#model-compare');
    await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 120000 });
    assert.equal(await page.evaluate(() => document.body.dataset.modelWorkers), String(workers));
    assert.match(await page.locator('#model-coverage').textContent(), new RegExp(`round trips on ${workers} workers? in [\\d.]+ s\\.$`));
    tables.push(await page.$$eval('#model-table tbody tr', (trs) => trs.map((tr) => tr.textContent)));

    // A pool worker's answer is the tensor's own: its int8_sym row in the breakdown equals the
    // All-schemes table the workbench worker computes for that tensor alone.
    await page.click('#model-table tr[data-scheme="int8_sym"]');
    const breakdown = await page.$$eval('#model-breakdown tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const [name, , , mse, sqnr] = breakdown.find((r) => r[1] === 'int8_sym');
    await page.locator('#tensor-list li').filter({ has: page.locator('span', { hasText: new RegExp(`^${name.replace(/\./g, '\\.')}$`) }) }).click();
    await page.waitForFunction((n) => document.querySelector('#tensor-title').textContent === n && document.body.dataset.compared === 'true', name, { timeout: 60000 });
    const own = await page.$$eval('#scheme-table tr[data-scheme="int8_sym"] td', (tds) => Object.fromEntries(tds.map((td) => [td.dataset.col, td.textContent])));
    assert.deepEqual([own.mse, own.sqnr_db], [mse, sqnr]);
    // When it is done, the pool's workers are gone.
    assert.equal(await workersBackTo(page, before), before, 'no pool worker outlives its comparison');

    if (workers === 3) {
      // Cancel mid-way (a 2M-value tensor: seconds of work): no rows, no error, the pool stopped.
      const values = new Float32Array(1 << 21).map((_, i) => Math.sin(i * 0.37) * 0.02);
      await dropFiles(page, '#drop-zone', [{ name: 'wide.npy', bytes: npy(values, [1024, 2048]) }]);
      await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 2, null, { timeout: 30000 });
      await page.click('#model-compare');
      // The pool starts its workers one after another: wait for all three (a loaded machine is slow).
      for (let i = 0; i < 300 && page.workers().length < before + 3; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(page.workers().length, before + 3, 'the pool is running, 3 workers');
      await page.click('#model-cancel');
      await page.waitForSelector('#model-progress-row', { state: 'hidden' });
      assert.equal(await page.locator('#model-table').isHidden(), true);
      assert.equal(await page.locator('#error').isHidden(), true);
      assert.equal(await workersBackTo(page, before), before, 'Cancel terminates the pool');
    }
    assert.deepEqual(page.errors, []);
    await page.close();
  }
  assert.deepEqual(tables[1], tables[0], 'the same table on 3 workers as on 1');
});
