// End to end: the Learn panels live in their own module (www/pkg-learn, src/tutor). The Inspect
// view never fetches it; opening Learn does, and its panels then answer for the tensor that is
// selected now, in the worker's copy of it (Workspace::lesson_tensor → Lesson::set_tensor).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('Inspect loads only the workbench; Learn adds the tutor and its panels answer', async () => {
  const page = await browser.page();
  const wasm = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#tensor .scheme-row', { timeout: 60000 });
  assert.ok(wasm.some((p) => p.endsWith('/pkg/quantscope_bg.wasm')), `fetched ${wasm}`);
  assert.ok(!wasm.some((p) => p.includes('/pkg-learn/')), `Inspect fetched the tutor: ${wasm}`);

  await page.click('#tab-learn');
  await page.waitForSelector('#learn-formats[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#gran-table tbody tr', { timeout: 60000 });
  assert.ok(wasm.some((p) => p.endsWith('/pkg-learn/quantscope_bg.wasm')), `fetched ${wasm}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
