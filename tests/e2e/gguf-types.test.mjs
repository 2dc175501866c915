// End to end: a GGUF of the ggml types quantscope reads but does not write (IQ1_S … IQ4_XS,
// TQ1_0, TQ2_0, NVFP4, Q1_0, Q8_K) opens in the page like any other model: every tensor is listed
// with its ggml type, and its statistics are those of llama.cpp's dequantized values
// (tests/fixtures/ggml_dequant/types.json, from scripts/fixtures/make_ggml_dequant.py).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';

const fixtures = new URL('../fixtures/ggml_dequant/', import.meta.url);
const expected = JSON.parse(await readFile(new URL('types.json', fixtures), 'utf8'));
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The page shows 6 significant digits.
function assertShown(text, value, what) {
  const shown = Number(text.replace(/,/g, ''));
  assert.ok(Math.abs(shown - value) <= 1e-5 * Math.abs(value) + 1e-12, `${what}: page shows ${text}, llama.cpp's values give ${value}`);
}

const stat = async (page, key) => (await page.locator(`#tensor-stats [data-stat="${key}"]`).textContent()).trim();

test('every IQ, TQ and other read-only ggml type opens with llama.cpp\'s values', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  await dropFiles(page, '#drop-zone', [{ name: 'types.gguf', bytes: await readFile(new URL('types.gguf', fixtures)) }]);
  const names = Object.keys(expected);
  await page.waitForFunction((n) => document.querySelectorAll('#tensor-list li').length >= n, names.length);
  assert.match(await page.locator('#file-list').textContent(), new RegExp(`types\\.gguf — gguf, ${names.length} tensors`));
  for (const name of names) {
    const want = expected[name];
    await page.locator('#tensor-list li').filter({ has: page.locator('span', { hasText: new RegExp(`^${name.replace(/\./g, '\\.')}$`) }) }).click();
    await page.waitForFunction((n) => document.querySelector('#tensor-title').textContent === n
      && document.querySelector('#tensor-stats [data-stat="dtype"]')?.textContent.trim(), name);
    assert.equal(await stat(page, 'dtype'), want.dtype, name);
    assert.equal(await stat(page, 'shape'), `[${want.shape.join(', ')}]`, name);
    for (const key of ['mean', 'std', 'min', 'max']) assertShown(await stat(page, key), want[key], `${name} ${key}`);
  }
  await page.screenshot({ path: `${SCREENSHOTS}gguf-types.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});
