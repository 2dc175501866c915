// End to end: Learn panel 7, llama.cpp's mixes (www/learn/mixes.js over the mixer module's
// shape_plan, src/mixer/src/shape.rs on formats::gguf_mix, whose rules are held to
// llama-quantize byte for byte in src/formats/tests/gguf_mixes.rs). On a Llama-2-7B shape,
// Q4_K_M is 4.84 bits per weight and 4.08 GB — the size of the llama-2-7b Q4_K_M files people
// download — with output.weight and half the layers' attn_v and ffn_down in Q6_K
// (use_more_bits); the IQ2 mixes say they need an importance matrix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the mix of a 7B-shaped model: the layer map, the rules and every file type\'s bits per weight', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.click('#tab-learn');
  await page.waitForFunction(() => document.querySelector('#learn-mixes [data-role="verdict"]')?.dataset.bpw, null, { timeout: 120000 });
  const bpw = Number(await page.$eval('#learn-mixes [data-role="verdict"]', (e) => e.dataset.bpw));
  assert.ok(Math.abs(bpw - 4.843) < 0.001, `Q4_K_M on Llama 2 7B: ${bpw}`);
  assert.match(await page.textContent('#learn-mixes [data-role="verdict"]'), /6\.74 B weights, 4\.08 GB/);
  const cells = await page.$$eval('#learn-mixes td[data-tensor]', (tds) => tds.map((td) => [td.dataset.tensor, td.dataset.type, td.title]));
  const type = (name) => cells.find(([n]) => n === name)?.[1];
  assert.equal(cells.length, 32 * 8 + 3, 'every tensor of the 32 layers and the three outside them');
  assert.equal(type('blk.0.attn_norm.weight'), 'f32', 'norms stay as they are');
  assert.equal(type('output.weight'), 'q6_k');
  assert.equal(type('blk.0.attn_v.weight'), 'q6_k', 'use_more_bits: the first layers');
  assert.equal(type('blk.5.attn_v.weight'), 'q4_k');
  assert.equal(type('blk.31.ffn_down.weight'), 'q6_k', 'use_more_bits: the last layers');
  assert.match(cells.find(([n]) => n === 'blk.0.attn_v.weight')[2], /attn_v/);

  await page.waitForFunction(() => document.querySelectorAll('#learn-mixes [data-role="bpw-table"] tbody tr').length >= 20, null, { timeout: 120000 });
  const rows = Object.fromEntries(await page.$$eval('#learn-mixes [data-role="bpw-table"] tbody tr', (trs) =>
    trs.map((tr) => [tr.dataset.type, [...tr.children].slice(1).map((c) => c.textContent)])));
  assert.deepEqual(rows.Q8_0.slice(0, 2), ['8.50', '7.16 GB']);
  assert.equal(rows.Q4_K_M[0], '4.84');
  assert.ok(Number(rows.Q4_K_S[0]) < Number(rows.Q4_K_M[0]) && Number(rows.Q4_K_M[0]) < Number(rows.Q5_K_S[0]), 'S < M, and 4 < 5 bits');

  // Another shape: Llama 3 8B's grouped-query attention changes the attn_v rule.
  await page.selectOption('#learn-mixes [data-role="shape"]', 'Llama 3 8B');
  await page.waitForFunction(() => /Llama 3 8B-shaped/.test(document.querySelector('#learn-mixes [data-role="verdict"]').textContent), null, { timeout: 60000 });
  // A mix that needs an importance matrix says so, in llama-quantize's words.
  await page.selectOption('#learn-mixes [data-role="file-type"]', 'Q2_K');
  await page.waitForFunction(() => document.querySelector('#learn-mixes [data-role="bpw-table"]').dataset.plan === 'Llama 3 8B Q2_K', null, { timeout: 120000 });
  assert.match(await page.textContent('#learn-mixes [data-role="verdict"]'), /^Q2_K on a Llama 3 8B-shaped model: 8\.03 B weights/);
  assert.match(await page.textContent('#learn-mixes tr[data-type="IQ3_XS"]'), /requires an imatrix/);
  await page.locator('#learn-mixes').screenshot({ path: `${SCREENSHOTS}learn-mixes.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
