// End to end: large files. A ~290 MB safetensors file (generated on disk, deleted after) is
// opened through the file input; the worker reads it piece by piece with progress and Cancel,
// the main thread never reads a byte of it (filereads.mjs: structural, not timed; how long its
// tasks took is printed from Chrome's trace, see mainthread.mjs, and never asserted, as timings
// depend on the machine's load), a tensor too big to compare says so and shows its streamed histogram,
// and the whole-model comparison leaves it out. And: a model exported as GGUF from the page is
// byte for byte gguf-py's file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, SCREENSHOTS } from './browser.mjs';
import { writeBigSafetensors } from './bigfiles-make.mjs';
import { watchMainThread } from './mainthread.mjs';
import { countMainThreadFileReads } from './filereads.mjs';
import { cpus, loadavg } from 'node:os';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const statOf = async (page, key) => Number((await page.locator(`#tensor-stats [data-stat="${key}"]`).textContent()).replace(/,/g, ''));

test('a 290 MB safetensors file opens in the worker, piece by piece, without blocking the page', async () => {
  const path = join(tmpdir(), `quantscope-e2e-${process.pid}.safetensors`);
  const rows = 140000; // 143,360,000 bf16 values: 287 MB, over the comparison's cap
  try {
    const embed = await writeBigSafetensors(path, rows);
    const page = await browser.page();
    const mainThreadFileReads = await countMainThreadFileReads(page);
    await page.goto(browser.url);
    await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 60000 });
    const stopWatching = await watchMainThread(page);

    // Cancel while the statistics stream: nothing is added, no error is shown.
    await page.setInputFiles('#file-input', path);
    await page.waitForSelector('#load-progress-row:not([hidden])', { timeout: 10000 });
    await page.click('#load-cancel');
    await page.waitForSelector('#load-progress-row', { state: 'hidden', timeout: 10000 });
    assert.equal(await page.locator('#file-list details').count(), 0);
    assert.equal(await page.locator('#error').isHidden(), true);

    const t0 = Date.now();
    await page.setInputFiles('#file-input', path);
    await page.waitForFunction(() => document.querySelector('#tensor-title')?.textContent === 'a.small'
      && document.body.dataset.compared === 'true', null, { timeout: 60000 });
    const loadSeconds = (Date.now() - t0) / 1000;
    const card = await page.locator('#file-list summary').textContent();
    assert.match(card, /quantscope-e2e-\d+\.safetensors — safetensors, 3 tensors, 1 metadata entries/);

    // The too-big tensor: streamed statistics equal the exact ones, a notice, a histogram.
    await page.locator('#tensor-list li', { hasText: 'b.embed' }).click();
    await page.waitForFunction(() => document.querySelector('#tensor-title')?.textContent === 'b.embed'
      && document.body.dataset.compared === 'skipped', null, { timeout: 60000 });
    assert.equal(await statOf(page, 'count'), embed.values);
    assert.equal(await statOf(page, 'min'), Number(embed.min.toPrecision(6)));
    assert.equal(await statOf(page, 'max'), Number(embed.max.toPrecision(6)));
    assert.ok(Math.abs(await statOf(page, 'mean') - embed.mean) <= 1e-5 * Math.abs(embed.mean) + 1e-12);
    assert.ok(Math.abs(await statOf(page, 'std') - embed.std) <= 1e-5 * embed.std);
    assert.match(await page.locator('#tensor-too-big').textContent(), /143,360,000 values, more than the scheme comparison holds/);
    assert.equal(await page.locator('#scheme-table').isVisible(), false);

    // The whole-model comparison leaves it out and says so.
    await page.click('#model-compare');
    await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 60000 });
    assert.match(await page.locator('#model-skipped').textContent(), /Left out: 1 tensor \(143,360,000 parameters\) too big to compare: b\.embed/);

    const main = await stopWatching();
    await page.screenshot({ path: `${SCREENSHOTS}bigfile-model.png`, fullPage: true });
    const busy = loadavg()[0] / cpus().length;
    console.log(`# opened ${(embed.values * 2 / 1e6).toFixed(0)} MB in ${loadSeconds.toFixed(1)} s; main thread over ` +
      `${main.tasks} tasks: longest ${main.longestCpuMs.toFixed(1)} ms of CPU; ${main.longTasks.length} long tasks ` +
      `(wall time), longest ${main.longestWallMs.toFixed(0)} ms; load ${busy.toFixed(1)} per core`);
    // The file went to the worker whole: the main thread started no read of it (nor of any file).
    assert.deepEqual(await mainThreadFileReads(), [], 'the main thread reads no file bytes');
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    await rm(path, { force: true });
  }
});

test('a model downloaded as GGUF from the page is byte for byte gguf-py\'s file', async () => {
  const fixtures = new URL('../fixtures/gguf_export/', import.meta.url);
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#gguf-export').isDisabled(), true, 'nothing to export before a file is loaded');
  await page.setInputFiles('#file-input', new URL('source.gguf', fixtures).pathname);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  await page.selectOption('#gguf-type', 'q4_k');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  assert.equal(download.suggestedFilename(), 'source.q4_k.gguf');
  const saved = `${SCREENSHOTS}${download.suggestedFilename()}`;
  await download.saveAs(saved);
  assert.ok((await readFile(saved)).equals(await readFile(new URL('expected/q4_k.gguf', fixtures))), 'same bytes as gguf-py');
  await page.waitForSelector('#gguf-result:not([hidden])');
  assert.match(await page.locator('#gguf-result').textContent(),
    /source\.q4_k\.gguf: 3\.4 KB; 1 as q4_k, 1 as q5_0, 1 as f16, 1 as f32; written in [\d.]+ s on \d workers?\. 3 tensors not in q4_k: show which and whyblk\.0\.attn_q\.weight: rows of 64 are not a multiple of q4_k's 256 values: written as q5_0/);
  await page.screenshot({ path: `${SCREENSHOTS}gguf-export.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
