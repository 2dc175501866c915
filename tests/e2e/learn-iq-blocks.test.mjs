// End to end: Learn → Granularity's block decoder for llama.cpp's grid types (IQ2_XXS … IQ1_M)
// and "what an importance matrix changes" (www/learn/iq-blocks.js over the mixer module's
// learn_quantize_block / learn_grid_decode, src/learn/src/iq_blocks.rs), and the Memory panel's
// llama.cpp mixes. The decoded values are checked against the dequantizer the page reads GGUF
// files with (core's ggml_dequant in the workbench module, held to llama.cpp by
// src/core/tests/ggml_dequant.rs): the block's bytes as the page has them are written into a
// one-tensor GGUF of that type here and opened in the worker, nothing hard-coded. Without an
// imatrix the types llama.cpp refuses say why; the tiny language model's button brings one; an
// imatrix entry of the wrong width is refused by name and the block on show stays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// ggml type ids (ggml.h) and bytes per 256-value block.
const GRID = { iq2_xxs: [16, 66], iq2_xs: [17, 74], iq3_xxs: [18, 98], iq1_s: [19, 50], iq3_s: [21, 110], iq2_s: [22, 82], iq1_m: [29, 56] };

// A GGUF v3 file holding one 256-value tensor `t` of ggml type `type`: `data` its block.
function oneBlockGguf(type, data) {
  const name = new TextEncoder().encode('t');
  const head = 4 + 4 + 8 + 8 + 8 + name.length + 4 + 8 + 4 + 8;
  const start = Math.ceil(head / 32) * 32; // general.alignment's default
  const bytes = new Uint8Array(start + data.length);
  const v = new DataView(bytes.buffer);
  let at = 0;
  bytes.set([0x47, 0x47, 0x55, 0x46], 0); at = 4; // "GGUF"
  v.setUint32(at, 3, true); at += 4;
  v.setBigUint64(at, 1n, true); at += 8; // tensors
  v.setBigUint64(at, 0n, true); at += 8; // metadata
  v.setBigUint64(at, BigInt(name.length), true); at += 8;
  bytes.set(name, at); at += name.length;
  v.setUint32(at, 1, true); at += 4; // dims
  v.setBigUint64(at, 256n, true); at += 8;
  v.setUint32(at, type, true); at += 4;
  v.setBigUint64(at, 0n, true);
  bytes.set(data, start);
  return bytes;
}

// In the page: the dequantizer's values of one block of `scheme` (its bytes `block`), by opening
// a GGUF of it in the worker and reading the tensor back (the workbench dequantizes on load).
async function dequantized(page, scheme, block) {
  const [type] = GRID[scheme];
  const file = [...oneBlockGguf(type, Uint8Array.from(block))];
  return page.evaluate(async ([file, scheme]) => {
    const { app } = await import('/www/app.js');
    const loaded = await app.client.request('open_file', [new File([Uint8Array.from(file)], `${scheme}.gguf`)]);
    const index = loaded.tensors[0].index;
    const npy = await app.client.request('export', [index, 'original']);
    const header = npy[8] | (npy[9] << 8);
    return Array.from(new Float32Array(npy.slice(10 + header).buffer));
  }, [file, scheme]);
}

// The worker's answer for the selected tensor's block at `element` (what the page draws).
const ask = (page, op, scheme, element) => page.evaluate(async ([op, scheme, element]) => {
  const { app } = await import('/www/app.js');
  const t = app.tensors.find((x) => x.index === app.selected);
  return app.client.request(op, [t.index, scheme, element, t.name_in_file ?? t.name]);
}, [op, scheme, element]);

// A grid answer's bytes (its fields cover the block) and its values, from the groups.
function blockOf(answer) {
  const { groups } = answer;
  const bytes = new Uint8Array(answer.block_len);
  for (const f of answer.fields) bytes.set(f.bytes, f.offset - answer.block_offset);
  return { bytes, values: groups.flatMap((g) => g.values) };
}

async function checkAgainstDequantizer(page, scheme, element) {
  const answer = await ask(page, 'learn_grid_block', scheme, element);
  assert.ok(!answer.refused, `${scheme}: ${answer.refused}`);
  const { bytes, values } = blockOf(answer);
  const want = await dequantized(page, scheme, bytes);
  assert.equal(values.length, 256, scheme);
  for (let i = 0; i < 256; i++) assert.equal(values[i], want[i], `${scheme} value ${i}: the decoder's against the dequantizer's`);
  return answer;
}

const shownNumber = (text) => Number(text.replace(/,/g, '').replace('−', '-'));

async function pickFormat(page, scheme) {
  await page.selectOption('#block-format', scheme);
  await page.waitForSelector(`#block-view[data-scheme="${scheme}"][data-ready="true"]`, { state: 'attached', timeout: 60000 });
  await page.waitForFunction(() => !document.querySelector('#block-view [aria-busy="true"]'), null, { timeout: 60000 });
}

test('grid blocks decoded as the dequantizer does, with and without an imatrix', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${browser.url}#learn`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#gran-table tbody tr', { timeout: 60000 });
  const box = await page.locator('#gran-heatmap').boundingBox();
  await page.locator('#gran-heatmap').click({ position: { x: 2, y: 2 } });
  await page.waitForSelector('#block-view[data-ready="true"]');
  assert.ok(box.width > 0);

  // IQ3_S quantizes without an imatrix: the page's table shows the dequantizer's values.
  await pickFormat(page, 'iq3_s');
  assert.equal(await page.locator('#block-grid').isVisible(), true);
  assert.match(await page.textContent('#block-grid-note'), /without an importance matrix \(no importance matrix is loaded\)/);
  assert.equal(await page.locator('#block-groups tbody tr').count(), 64, 'groups of 4');
  // The block the page opened (the heat map's first cell, whichever row that is at this size).
  const element = 256 * Number(await page.getAttribute('#block-view', 'data-block'));
  const iq3 = await checkAgainstDequantizer(page, 'iq3_s', element);
  const rows = await page.$$eval('#block-table tbody tr', (trs) => trs.map((tr) => [
    tr.querySelector('[data-col="decoded"]').textContent, tr.querySelector('[data-col="code"]').textContent]));
  assert.equal(rows.length, 128);
  const want = blockOf(iq3).values;
  rows.forEach(([decoded, code], i) => {
    assert.ok(Math.abs(shownNumber(decoded) - want[i]) <= 1e-5 * Math.abs(want[i]) + 1e-12, `row ${i}: ${decoded} against ${want[i]}`);
    assert.equal(Number(code), iq3.groups[Math.floor(i / 4)].index, `row ${i}: the grid index`);
  });
  assert.match(await page.textContent('#block-formula'), /x̂ = d·\(1 \+ 2s\)/);
  for (const scheme of ['iq3_xxs', 'iq2_s', 'iq1_m']) await checkAgainstDequantizer(page, scheme, 300);

  // IQ2_XXS without an imatrix: llama.cpp's refusal and the way to one.
  await pickFormat(page, 'iq2_xxs');
  await page.waitForSelector('#block-view[data-refused="true"]', { state: 'attached' });
  const note = await page.textContent('#block-grid-note');
  assert.match(note, /iq2_xxs needs an importance matrix \(llama\.cpp's ggml_quantize_requires_imatrix\)/);
  assert.match(note, /no importance matrix is loaded/);
  assert.match(await page.textContent('#imatrix-compare-note'), /No importance weights: no importance matrix is loaded/);
  assert.equal(await page.locator('#block-grid .tiny-lm-load').isVisible(), true);
  await page.screenshot({ path: `${SCREENSHOTS}learn-iq-refused.png`, fullPage: false });

  // The tiny language model and its imatrix: its attention query weight, every grid type.
  await page.locator('#block-grid .tiny-lm-load').click();
  await page.waitForFunction(() => /blk\.0\.attn_q\.weight/.test(document.querySelector('#gran-tensor').textContent), null, { timeout: 120000 });
  await page.waitForFunction(() => /imatrix-f32\.gguf's entry for blk\.0\.attn_q\.weight/.test(document.querySelector('#block-grid-note').textContent), null, { timeout: 120000 });
  await page.waitForSelector('#block-view[data-scheme="iq2_xxs"][data-ready="true"]:not([data-refused])', { state: 'attached' });
  for (const scheme of Object.keys(GRID)) {
    const a = await checkAgainstDequantizer(page, scheme, 256 * 3 + 5);
    assert.deepEqual(a.importance, { file: 'imatrix-f32.gguf', name: 'blk.0.attn_q.weight' }, scheme);
  }
  await page.waitForSelector('#imatrix-compare[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.match(await page.textContent('#imatrix-compare-summary'), /^Without: iq2_xxs needs an importance matrix/);
  await page.locator('#learn-granularity').screenshot({ path: `${SCREENSHOTS}learn-iq-blocks-1366.png` });

  // Q4_K without and with: the page's numbers are the worker's, and the sums are the block's.
  await pickFormat(page, 'q4_k');
  await page.waitForFunction(() => /weighted error (fell|rose) by/.test(document.querySelector('#imatrix-compare-summary').textContent), null, { timeout: 60000 });
  const c = await ask(page, 'learn_importance_compare', 'q4_k', 256 * Number(await page.getAttribute('#block-view', 'data-block')));
  assert.equal(c.without.packed.length, 144);
  assert.notDeepEqual(c.without.packed, c.with.packed, 'the imatrix changes the block');
  for (const side of [c.without, c.with]) {
    let sse = 0, wsse = 0;
    side.originals.forEach((x, i) => { const e = (x - side.decoded[i]) ** 2; sse += e; wsse += c.weights[i] * e; });
    assert.ok(Math.abs(sse - side.sse) <= 1e-12 * sse && Math.abs(wsse - side.weighted_sse) <= 1e-12 * wsse);
    assert.equal(side.view.elements.length, 128);
    side.view.elements.forEach((e, i) => assert.equal(e.decoded, side.decoded[i], `element ${i}: the view's value is the quantizer's`));
  }
  const table = await page.$$eval('#imatrix-compare-table tbody tr', (trs) => trs.map((tr) => Object.fromEntries(
    [...tr.cells].map((td) => [td.dataset.col, td.textContent]))));
  assert.equal(table.length, 128);
  table.forEach((r, i) => {
    assert.ok(Math.abs(shownNumber(r.weight) - c.weights[i]) <= 1e-5 * c.weights[i], `row ${i}: weight`);
    assert.equal(Number(r['code-with']), c.with.view.elements[i].code, `row ${i}: code with`);
    assert.equal(Number(r['code-without']), c.without.view.elements[i].code, `row ${i}: code without`);
  });
  const blockShown = await page.getAttribute('#block-view', 'data-block');

  // An imatrix whose entry for this tensor has 100 columns (a legacy .dat written here): refused
  // by name, and the block on show stays.
  const dat = legacyImatrix('blk.0.attn_q.weight', 100);
  await page.setInputFiles('#imatrix-input', { name: 'narrow.dat', mimeType: 'application/octet-stream', buffer: Buffer.from(dat) });
  await page.waitForFunction(() => /has 100 columns and the tensor's rows have 256 values/.test(document.querySelector('#gran-error').textContent), null, { timeout: 60000 });
  assert.equal(await page.locator('#gran-error').isVisible(), true);
  assert.equal(await page.getAttribute('#block-view', 'data-block'), blockShown);
  assert.equal(await page.getAttribute('#block-view', 'data-scheme'), 'q4_k');
  assert.equal(await page.locator('#imatrix-compare-table tbody tr').count(), 128, 'the comparison on show stays');

  // 390 px: the panels still read.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#learn-granularity').screenshot({ path: `${SCREENSHOTS}learn-iq-blocks-390.png` });
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.close();
});

// llama.cpp's legacy .dat imatrix (save_imatrix_legacy): one entry of `columns` weights of 1.
function legacyImatrix(name, columns) {
  const n = new TextEncoder().encode(name);
  const out = new DataView(new ArrayBuffer(4 + 4 + n.length + 4 + 4 + 4 * columns));
  let at = 0;
  out.setInt32(at, 1, true); at += 4;
  out.setInt32(at, n.length, true); at += 4;
  new Uint8Array(out.buffer).set(n, at); at += n.length;
  out.setInt32(at, 1, true); at += 4; // ncall
  out.setInt32(at, columns, true); at += 4;
  for (let i = 0; i < columns; i++, at += 4) out.setFloat32(at, 1, true);
  return new Uint8Array(out.buffer);
}

test('the Memory panel: llama.cpp\'s file types at their real bits per weight on the preset\'s shape', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${browser.url}#learn`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#mem-mixes tbody tr[data-type="Q4_K_M"][data-bpw]', { state: 'attached', timeout: 120000 });
  const plan = (type, shape) => page.evaluate(async ([type, shape]) => {
    const { app } = await import('/www/app.js');
    const { SHAPES } = await import('/www/learn/model-shapes.js');
    return app.client.request('mix_shape_plan', [type, SHAPES[shape]]);
  }, [type, shape]);
  const row = async (type) => page.$eval(`#mem-mixes tr[data-type="${type}"]`, (tr) => ({ bpw: Number(tr.dataset.bpw), memory: Number(tr.dataset.memory),
    cells: [...tr.cells].map((c) => c.textContent) }));
  assert.equal(await page.getAttribute('#mem-mixes', 'data-shape'), 'Llama 2 7B');
  for (const type of ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q4_K_S', 'IQ4_XS', 'Q3_K_M', 'Q2_K']) {
    const r = await row(type);
    const p = await plan(type, 'Llama 2 7B');
    assert.equal(r.bpw, p.bits_per_weight, `${type}: the plan's bits per weight`);
    assert.ok(Math.abs(r.memory - (7e9 * p.bits_per_weight / 8) * 1.2) <= 1e-6 * r.memory, `${type}: parameters × bpw / 8 × 1.2`);
  }
  const q4km = await row('Q4_K_M');
  assert.ok(q4km.bpw > 4.8 && q4km.bpw < 4.9, `Q4_K_M ≈ 4.8 bpw on a 7B shape, not 4.5: ${q4km.bpw}`);
  assert.equal(q4km.cells[1], (Math.round(q4km.bpw * 1000) / 1000).toString());
  assert.ok((await row('Q4_K_S')).bpw < q4km.bpw && q4km.bpw < (await row('Q5_K_M')).bpw);

  // 13B: Llama 2 13B's shape; a custom size takes the nearest preset's.
  await page.click('#mem-presets [data-mem="13B"]');
  await page.waitForSelector('#mem-mixes[data-shape="Llama 2 13B"]', { state: 'attached', timeout: 60000 });
  assert.equal((await row('Q4_K_M')).bpw, (await plan('Q4_K_M', 'Llama 2 13B')).bits_per_weight);
  await page.fill('#mem-custom', '60');
  await page.click('#mem-apply');
  await page.waitForSelector('#mem-mixes[data-shape="Llama 2 70B"]', { state: 'attached', timeout: 60000 });
  assert.match(await page.textContent('#mem-mixes-note'), /the 70B preset's shape, the nearest to this size/);
  const r = await row('Q4_K_M');
  assert.ok(Math.abs(r.memory - (60e9 * r.bpw / 8) * 1.2) <= 1e-6 * r.memory);
  await page.locator('#learn-memory').screenshot({ path: `${SCREENSHOTS}learn-memory-mixes-1366.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#learn-memory').screenshot({ path: `${SCREENSHOTS}learn-memory-mixes-390.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
