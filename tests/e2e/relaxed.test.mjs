// End to end: the Run worker's runner build, chosen at load (www/run/runner.js): the relaxed-SIMD
// build where Chromium validates relaxed SIMD (it does by default), the plain SIMD128 one where it
// does not (V8's relaxed SIMD switched off) or where the relaxed build fails to load; and the
// page's check of the relaxed build against the plain one on the built-in model.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

const browsers = [];
after(async () => { for (const b of browsers) await b.close(); });

// The Run view with its model loaded; `wasm` collects the www/ folders of the wasm files fetched.
// `setup(page)` may route requests first.
async function openRun(setup = async () => {}) {
  const browser = await launch();
  browsers.push(browser);
  const page = await browser.page();
  const wasm = new Set();
  page.on('request', (r) => { const m = /\/([^/]+)\/[^/]+\.wasm$/.exec(r.url()); if (m) wasm.add(m[1]); });
  await setup(page);
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  await page.waitForFunction(() => /Engine build/.test(document.querySelector('#run-build')?.textContent ?? ''), null, { timeout: 30000 });
  return { page, wasm };
}

test('Chromium runs the relaxed-SIMD build, and its INT8 outputs are bit-identical to the plain build on the built-in model', async () => {
  const { page, wasm } = await openRun();
  assert.match(await page.textContent('#run-build'), /Engine build: relaxed SIMD/);
  assert.ok(wasm.has('pkg-run-relaxed') && !wasm.has('pkg-run'), `fetched ${[...wasm]}`);
  assert.ok(await page.isVisible('#run-build-check'));
  await page.click('#run-build-check');
  await page.waitForFunction(() => /relaxed against plain/.test(document.querySelector('#run-build-result')?.textContent ?? ''), null, { timeout: 120000 });
  const text = await page.textContent('#run-build-result');
  // 1,000 digits; every dynamic INT8 variant identical; the others (f32 products; static INT8,
  // calibrated on f32 activations) within the FMA's last bits.
  const m = /^1,000 test digits, relaxed against plain: the (?:dynamic INT8 variant is|\d+ dynamic INT8 variants are) identical bit for bit\. The other (\d+) .*: (\d+) identical, max \|Δ\| (\S+)\.$/.exec(text);
  assert.ok(m, text);
  assert.ok(Number(m[1]) >= 10, text);
  // Probabilities: the largest move is a static INT8 variant calibrated on slightly different
  // ranges (1e-4 in one run); the FP32 model itself moves by ~1e-6.
  assert.ok(Number(m[3]) < 1e-3, `max |Δ| ${m[3]}`);
  // The check loaded the plain module beside the relaxed one.
  assert.ok(wasm.has('pkg-run'));
  await page.screenshot({ path: `${SCREENSHOTS}relaxed-build-check.png`, clip: await page.$eval('#run-digits', (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y + window.scrollY, width: r.width, height: 260 }; }) });
  assert.deepEqual(page.errors, []);
});

test('without relaxed SIMD the worker runs the plain SIMD128 build and says so', async () => {
  // A browser whose WebAssembly.validate rejects the relaxed probe (V8 has no switch for it
  // since relaxed SIMD shipped): runner.js served with the probe's answer replaced by false.
  const { page, wasm } = await openRun(async (page) => {
    await page.route('**/run/runner.js', async (route) => {
      const body = (await (await route.fetch()).text()).replace('WebAssembly.validate(RELAXED_PROBE)', 'false');
      assert.ok(body.includes('relaxedSupported = false'));
      await route.fulfill({ body, contentType: 'text/javascript' });
    });
  });
  assert.equal(await page.textContent('#run-build'), 'Engine build: SIMD128 (this browser has no relaxed SIMD).');
  assert.ok(wasm.has('pkg-run') && !wasm.has('pkg-run-relaxed'), `fetched ${[...wasm]}`);
  assert.ok(!(await page.isVisible('#run-build-check')));
  assert.deepEqual(page.errors, []);
});

test('a relaxed build that does not load falls back to the plain one', async () => {
  const { page, wasm } = await openRun((page) => page.route('**/pkg-run-relaxed/quantscope.js', (r) => r.abort()));
  assert.equal(await page.textContent('#run-build'), 'Engine build: SIMD128 (the relaxed-SIMD build did not load).');
  assert.ok(wasm.has('pkg-run'));
  // The model runs: the prediction table fills.
  await page.waitForFunction(() => document.querySelector('#run-predictions')?.dataset.rendered > 0, null, { timeout: 30000 });
});
