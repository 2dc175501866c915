// End to end: the Language model worker's module, chosen at load as the Run worker's runner is
// (www/run/lm-worker.js, runner.js's probe): the relaxed-SIMD build (www/pkg-lm-relaxed) where
// Chromium validates relaxed SIMD, the plain SIMD128 one (www/pkg-lm) where it does not or where
// the relaxed build fails to load; and the section's check of the relaxed build against the plain
// one (its Q4_K/Q5_K/Q2_K products are exact: every figure equal to the last bit).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The section with the built-in model loaded (a two-token generation loads it); `wasm` collects
// the www/ folders of the wasm files fetched. `setup(page)` may route requests first.
async function loaded(setup = async () => {}) {
  const page = await browser.page();
  const wasm = new Set();
  page.on('request', (r) => { const m = /\/([^/]+)\/[^/]+\.wasm$/.exec(r.url()); if (m) wasm.add(m[1]); });
  await setup(page);
  await page.goto(`${browser.url}#run`);
  await page.waitForSelector('#lm-generate');
  await page.fill('#lm-tokens', '2');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 120000 });
  await page.waitForFunction(() => /Module:/.test(document.querySelector('#lm-build')?.textContent ?? ''), null, { timeout: 30000 });
  return { page, wasm };
}

test('Chromium runs the relaxed-SIMD language model, and every type scores bit for bit as in the plain build', async () => {
  const { page, wasm } = await loaded();
  assert.match(await page.textContent('#lm-build'), /^Module: relaxed SIMD/);
  assert.ok(wasm.has('pkg-lm-relaxed') && !wasm.has('pkg-lm'), `fetched ${[...wasm]}`);
  await page.click('#lm-build-check');
  await page.waitForFunction(() => /Relaxed against plain/.test(document.querySelector('#lm-build-result')?.textContent ?? ''), null, { timeout: 180000 });
  const text = await page.textContent('#lm-build-result');
  // The built-in copies and the two the check adds: each relaxed kernel (Q4_K and Q6_K in
  // Q4_K_M, Q5_K in Q5_K_M, Q2_K with Q3_K/Q4_K in Q2_K) runs.
  assert.equal(text, "Relaxed against plain, the small model's perplexity, KL divergence and top-1 agreement over 63 tokens: " +
    'F32, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q2_K identical bit for bit.');
  assert.ok(wasm.has('pkg-lm'), 'the check loaded the plain module beside the relaxed one');
  await page.locator('#lm-build-row').screenshot({ path: `${SCREENSHOTS}run-lm-relaxed-check.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('without relaxed SIMD the language model runs the plain SIMD128 build and says so', async () => {
  const { page, wasm } = await loaded(async (page) => {
    await page.route('**/run/runner.js', async (route) => {
      const body = (await (await route.fetch()).text()).replace('WebAssembly.validate(RELAXED_PROBE)', 'false');
      assert.ok(body.includes('relaxedSupported = false'));
      await route.fulfill({ body, contentType: 'text/javascript' });
    });
  });
  assert.equal(await page.textContent('#lm-build'), 'Module: SIMD128 (this browser has no relaxed SIMD).');
  assert.ok(wasm.has('pkg-lm') && !wasm.has('pkg-lm-relaxed'), `fetched ${[...wasm]}`);
  assert.ok(!(await page.isVisible('#lm-build-check')));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a relaxed language model module that does not load falls back to the plain one', async () => {
  const { page, wasm } = await loaded((page) => page.route('**/pkg-lm-relaxed/quantscope.js', (r) => r.abort()));
  assert.equal(await page.textContent('#lm-build'), 'Module: SIMD128 (the relaxed-SIMD build did not load).');
  assert.ok(wasm.has('pkg-lm'));
  await page.close();
});
