// End to end: the Language model section's two built-in sizes (make_tiny_lm.py --size small |
// large). The large model (F16) is picked, loads in the worker with its byte progress, continues
// the greedy prompt with llama.cpp's ids from the same F16 file (greedy-f16.npy), and scores the
// held-out passage as llama-perplexity does (perplexity_by_type in its reference.json); after the
// small one has run too, the size comparison holds each type's increase over its own size's
// unquantized model, computed by the page from the two runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { openLm } from './lm-page.mjs';
import { launch, SCREENSHOTS } from './browser.mjs';
import init, { LmSession } from '../../www/pkg-lm/quantscope.js';

const fixture = (dir, name) => readFile(new URL(`../fixtures/${dir}/${name}`, import.meta.url));
const idsOf = (b) => [...new Int32Array(b.buffer.slice(b.byteOffset + 10 + b.readUInt16LE(8), b.byteOffset + b.length))];
const large = JSON.parse(await fixture('tiny_lm_large', 'reference.json'));
const small = JSON.parse(await fixture('tiny_lm', 'reference.json'));

// make_tiny_lm.py's GREEDY: held-out ids 1000..1032, 48 tokens, decoded here for the prompt box.
const heldout = idsOf(await fixture('tiny_lm', 'heldout.ids.npy'));
const promptIds = heldout.slice(1000, 1032);
await init({ module_or_path: await readFile(new URL('../../www/pkg-lm/quantscope_bg.wasm', import.meta.url)) });
const promptText = (() => {
  // Both sizes share the tokenizer: the small model's decodes the ids.
  const s = new LmSession('tiny-lm-f32.gguf', new Uint8Array(readFileSync(new URL('../fixtures/tiny_lm/tiny-lm-f32.gguf', import.meta.url))));
  try { return s.decode(Uint32Array.from(promptIds)); } finally { s.free(); }
})();

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function pplRows(page) {
  await page.click('#lm-ppl');
  await page.waitForFunction(() => document.querySelector('#lm-ppl-table')?.dataset.state === 'done', null, { timeout: 300000 });
  return page.$$eval('#lm-ppl-table tbody tr', (trs) => trs.map((tr) => ({
    name: tr.dataset.variant, ppl: Number(tr.dataset.ppl), cells: [...tr.children].map((c) => c.textContent) })));
}

test('the large model: picked, loaded with progress, greedy and perplexity as llama.cpp; the sizes compared', async () => {
  const page = await openLm(browser);
  // The load's progress bar: its largest value seen (the file's bytes as they arrive).
  await page.evaluate(() => {
    window.loadProgress = [];
    new MutationObserver(() => { const b = document.querySelector('#lm-load-progress'); window.loadProgress.push([b.value, b.max]); })
      .observe(document.querySelector('#lm-load-progress'), { attributes: true });
  });
  const label = await page.$eval('#lm-size option[value="large"]', (o) => o.textContent);
  assert.ok(label.startsWith(`large: ${(large.model.params / 1e6).toFixed(2)} M parameters`), label);
  await page.selectOption('#lm-size', 'large');
  await page.waitForFunction(() => /^Built-in large model/.test(document.querySelector('#lm-status').textContent), null, { timeout: 120000 });
  const status = await page.textContent('#lm-status');
  assert.match(status, new RegExp(`${large.model.params.toLocaleString('en-US')} parameters, 2 layers, n_embd 512`));
  assert.match(status, /Running: F16, Q8_0, Q4_0, Q4_K_M\.$/);
  const seen = await page.evaluate(() => window.loadProgress);
  const fileBytes = (await fixture('tiny_lm_large', 'tiny-lm-large-f16.gguf')).length;
  assert.ok(seen.some(([v, max]) => v === fileBytes && max === fileBytes + 1), `progress up to the file's ${fileBytes} bytes: ${JSON.stringify(seen.slice(-3))}`);
  assert.equal(await page.isHidden('#lm-load-progress'), true);

  // Greedy: the F16 column is llama.cpp's continuation from the same F16 file.
  await page.fill('#lm-prompt', promptText);
  await page.fill('#lm-tokens', '48');
  await page.click('#lm-generate');
  await page.waitForFunction(() => document.querySelector('#lm-outputs')?.dataset.state === 'done', null, { timeout: 300000 });
  assert.deepEqual(JSON.parse(await page.$eval('#lm-outputs', (e) => e.dataset.prompt)), promptIds);
  const f16 = await page.$eval('.lm-column[data-variant="F16"]', (c) => JSON.parse(c.dataset.tokens));
  assert.deepEqual(f16, idsOf(await fixture('tiny_lm_large', 'greedy-f16.npy')), 'F16 greedy continuation');

  // Perplexity: F16 within 1e-4 relative, the copies within 2e-3 (as src/lm/tests/sizes.rs).
  const want = large.perplexity_by_type.types;
  const rowsLarge = await pplRows(page);
  assert.deepEqual(rowsLarge.map((r) => r.name), ['F16', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  for (const [i, r] of rowsLarge.entries()) {
    const w = want[r.name].passage_ppl;
    assert.ok(Math.abs(r.ppl - w) <= (i === 0 ? 1e-4 : 2e-3) * w, `large ${r.name}: ${r.ppl} vs llama-perplexity ${w}`);
    assert.equal(r.cells[2], w.toFixed(4), `large ${r.name}: llama.cpp's figure beside it`);
  }
  // F16 matrices, the norms in F32: (4,980,736 × 16 + 2,560 × 32) / 4,983,296 = 16.008 bits a weight.
  assert.equal(rowsLarge[0].cells[6], '16.01');
  assert.equal(await page.isHidden('#lm-sizes-table'), true, 'no comparison before both sizes ran');

  // The small model, then the comparison of the two runs.
  await page.selectOption('#lm-size', 'small');
  await page.waitForFunction(() => /^Built-in small model/.test(document.querySelector('#lm-status').textContent), null, { timeout: 120000 });
  const rowsSmall = await pplRows(page);
  assert.deepEqual(rowsSmall.map((r) => r.name), ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  await page.waitForSelector('#lm-sizes-table:not([hidden])');
  const compared = await page.$$eval('#lm-sizes-table tbody tr', (trs) => trs.map((tr) => ({ type: tr.dataset.type,
    small: Number(tr.dataset.small), large: Number(tr.dataset.large), winner: tr.dataset.winner })));
  assert.deepEqual(compared.map((r) => r.type), ['unquantized', 'Q8_0', 'Q4_0', 'Q4_K_M']);
  const bySmall = Object.fromEntries(rowsSmall.map((r) => [r.name, r.ppl]));
  const byLarge = Object.fromEntries(rowsLarge.map((r) => [r.name, r.ppl]));
  let largeBetter = 0;
  for (const r of compared.slice(1)) {
    assert.ok(Math.abs(r.small - (bySmall[r.type] / bySmall.F32 - 1)) < 1e-12, `${r.type}: the small run's own increase`);
    assert.ok(Math.abs(r.large - (byLarge[r.type] / byLarge.F16 - 1)) < 1e-12, `${r.type}: the large run's own increase`);
    // And llama.cpp's increases for the same files, within the perplexities' tolerance.
    const [ws, wl] = [small.perplexity_by_type.types[r.type].passage_increase, want[r.type].passage_increase];
    assert.ok(Math.abs(r.small - ws) < 3e-3 && Math.abs(r.large - wl) < 3e-3, `${r.type}: ${r.small} / ${r.large} vs llama.cpp ${ws} / ${wl}`);
    assert.equal(r.winner, r.large < r.small ? 'large' : r.small < r.large ? 'small' : 'tie');
    if (r.winner === 'large') largeBetter++;
  }
  assert.equal(await page.$eval('#lm-sizes-table', (t) => t.dataset.largeBetter), String(largeBetter));
  await page.locator('#run-lm').screenshot({ path: `${SCREENSHOTS}run-lm-sizes.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
