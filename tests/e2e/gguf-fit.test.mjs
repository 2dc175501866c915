// End to end: the layer map and "fit a size" (issue 16, item 4) in the Inspect view's GGUF export,
// on the tiny language model of tests/fixtures/tiny_lm. The layer map has one cell per tensor,
// coloured and labelled with the preview's type; bad targets say why and add nothing; a fit of
// 4.5 bits/weight downloads a file no larger than that, whose types (read here from the file)
// are the preview's; Compare mixes draws every named mix and the fit; Cancel stops the
// measurement. src/formats/tests/gguf_fit.rs holds the fit to the named mixes' errors, and
// scripts/fixtures/check_gguf_fit.py runs llama.cpp on a fitted file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const source = new URL('../fixtures/tiny_lm/tiny-lm-f32.gguf', import.meta.url).pathname;

// ggml type names by id (ggml.h), for the types the writer produces.
const GGML = { 0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0', 10: 'q2_k', 11: 'q3_k', 12: 'q4_k',
  13: 'q5_k', 14: 'q6_k', 20: 'iq4_nl', 23: 'iq4_xs', 30: 'bf16', 34: 'tq1_0', 35: 'tq2_0', 39: 'mxfp4', 40: 'nvfp4', 41: 'q1_0', 42: 'q2_0' };

// A GGUF v3 file's tensors: [{name, type, elements}].
function ggufTensors(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  const u32 = () => { at += 4; return view.getUint32(at - 4, true); };
  const u64 = () => { at += 8; return Number(view.getBigUint64(at - 8, true)); };
  const str = () => { const n = u64(); at += n; return bytes.subarray(at - n, at).toString('utf8'); };
  const SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (type) => {
    if (type === 8) { str(); return; }
    if (type === 9) { const t = u32(); const n = u64(); for (let i = 0; i < n; i++) skip(t); return; }
    at += SIZES[type];
  };
  assert.equal(bytes.subarray(0, 4).toString(), 'GGUF');
  const [nTensors, nKv] = [u64(), u64()];
  for (let i = 0; i < nKv; i++) { str(); skip(u32()); }
  return Array.from({ length: nTensors }, () => {
    const name = str();
    const ne = Array.from({ length: u32() }, u64);
    const type = GGML[u32()];
    u64();
    return { name, type, elements: ne.reduce((a, b) => a * b, 1) };
  });
}

const rows = (page) => page.$$eval('#gguf-preview-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const mapCells = (page) => page.$$eval('#gguf-layer-map td[data-tensor]', (tds) => tds.map((td) => ({
  name: td.dataset.tensor, type: td.dataset.type, colour: getComputedStyle(td).backgroundColor, title: td.title,
})));

// The layer map has one cell per row of the preview, with its type, one colour per type.
async function checkMap(page) {
  const table = await rows(page);
  const cells = await mapCells(page);
  assert.equal(cells.length, table.length);
  const byName = new Map(cells.map((c) => [c.name, c]));
  const colours = new Map();
  for (const [name, type, , , , , , rule] of table) {
    const c = byName.get(name);
    assert.ok(c, `${name} has a cell`);
    assert.equal(c.type, type, name);
    assert.equal(c.title, `${name}: ${type}${rule ? ` — ${rule}` : ''}`);
    if (colours.has(type)) assert.equal(c.colour, colours.get(type), `${type} has one colour`);
    colours.set(type, c.colour);
  }
  assert.equal(new Set(colours.values()).size, colours.size, 'each type its own colour');
  const legend = await page.$$eval('.layer-map-legend li', (lis) => lis.map((li) => li.dataset.type));
  assert.deepEqual(new Set(legend), new Set(colours.keys()));
  return table;
}

async function fit(page, value, unit = 'bpw') {
  await page.fill('#gguf-fit-target', value);
  await page.selectOption('#gguf-fit-unit', unit);
  await page.evaluate(() => { document.body.dataset.ggufFit = ''; });
  await page.click('#gguf-fit');
}

test('the layer map, fitting a size (bad targets refused, Cancel, the file checked) and the chart of the mixes', async () => {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', source);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });

  // Q4_K_M's preview and its map: 2 layers × 9 kinds, and token_embd, output_norm, output.
  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForSelector('#gguf-preview:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#gguf-layer-map td[data-tensor]').length > 0);
  const q4km = await checkMap(page);
  assert.equal(q4km.length, 21);
  assert.equal(await page.locator('#gguf-layer-map-table > tbody > tr').count(), 3, 'a row outside the layers, then blk.0 and blk.1');
  assert.deepEqual(await page.$$eval('#gguf-layer-map-table thead th', (ths) => ths.map((th) => th.textContent)),
    ['layer', 'attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']);
  assert.ok(!(await page.isVisible('#gguf-fit-progress-row')));
  // Not measured yet: no SQNR.
  assert.equal(q4km[0][5], '');

  // Bad targets: each says why, nothing is measured and nothing joins the picker.
  for (const [value, unit, why] of [
    ['abc', 'bpw', "'abc' is not a number of bits per weight"],
    ['1', 'bpw', 'below the smallest file these tensors can be written in'],
    ['40', 'bpw', 'above the model in F32'],
    ['-2', 'mb', "'-2' is not a file size"],
    ['0.1', 'mb', 'below the smallest file'],
  ]) {
    await fit(page, value, unit);
    await page.waitForFunction(() => !document.querySelector('#gguf-fit-error').hidden && document.body.dataset.ggufFit === 'idle');
    assert.match(await page.locator('#gguf-fit-error').textContent(), new RegExp(why), `${value} ${unit}`);
    assert.equal(await page.locator('#gguf-type option[value="FIT"]').count(), 0);
  }

  // Cancel: the measurement stops, nothing is fitted.
  await fit(page, '4.5');
  await page.waitForFunction(() => document.querySelector('#gguf-fit-progress').hasAttribute('value'), null, { timeout: 60000 });
  await page.click('#gguf-fit-cancel');
  await page.waitForFunction(() => document.body.dataset.ggufFit === 'idle', null, { timeout: 60000 });
  assert.equal(await page.locator('#gguf-fit-error').textContent(), 'cancelled');
  assert.ok(await page.isHidden('#gguf-fit-progress-row'));
  assert.equal(await page.locator('#gguf-type option[value="FIT"]').count(), 0);

  // A fit of 4.5 bits per weight: previewed (with every tensor's SQNR) and mapped.
  await fit(page, '4.5');
  await page.waitForFunction(() => document.body.dataset.ggufFit === 'done', null, { timeout: 120000 });
  assert.equal(await page.inputValue('#gguf-type'), 'FIT');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.startsWith('tiny-lm-f32.gguf as fit 4.5 bpw'));
  const summary = await page.locator('#gguf-preview-summary').textContent();
  assert.match(summary, /as fit 4\.5 bpw: .*, 4\.\d\d bits\/weight; .*; SQNR \d+\.\d\d dB over every weight$/);
  const fitted = await checkMap(page);
  for (const r of fitted) {
    assert.ok(r[5] === '∞' || Number(r[5]) > 0, `${r[0]}: SQNR ${r[5]}`);
    assert.match(r[7], r[0].endsWith('norm.weight') ? /kept as stored/ : /^fit: least total error within the target/);
  }

  // Downloaded: no larger than the target, with the preview's types.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  assert.equal(download.suggestedFilename(), 'tiny-lm-f32.fit-4.5-bpw.gguf');
  const bytes = await readFile(await download.path());
  const tensors = ggufTensors(bytes);
  const elements = tensors.reduce((a, t) => a + t.elements, 0);
  assert.equal(elements, 1_377_536);
  assert.ok(bytes.length <= Math.floor((4.5 * elements) / 8), `${bytes.length} bytes`);
  assert.deepEqual(tensors.map((t) => [t.name, t.type]), fitted.map((r) => [r[0], r[1]]));
  assert.equal(Number(fitted.reduce((a, r) => a + Number(r[4].replaceAll(',', '')), 0)) <= bytes.length, true);

  // A named mix's preview now has its SQNR too (the fit module measured the model).
  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForFunction(() => /SQNR [\d.]+ dB over every weight$/.test(document.querySelector('#gguf-preview-summary').textContent));
  assert.ok(Number((await rows(page)).find((r) => r[0] === 'blk.0.attn_q.weight')[5]) > 0);

  // Compare mixes: every named mix and the fit on one chart (no second measurement).
  await page.evaluate(() => { document.body.dataset.ggufFit = ''; });
  await page.click('#gguf-compare');
  await page.waitForFunction(() => document.body.dataset.ggufFit === 'compared', null, { timeout: 60000 });
  const points = JSON.parse(await page.getAttribute('#gguf-mix-chart', 'data-points'));
  for (const name of ['Q2_K', 'Q3_K_M', 'Q4_0', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16', 'fit 4.5 bpw']) assert.ok(points.includes(name), name);
  assert.match(await page.locator('#gguf-mix-chart-caption').textContent(), /named mixes and fit 4\.5 bpw \(4\.\d\d bpw, \d+\.\d\d dB\)/);

  await page.selectOption('#gguf-type', 'FIT');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.includes('as fit 4.5 bpw'));
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 1000 });
    // The chart is redrawn at its box's new width.
    await page.waitForFunction((w) => document.querySelector('#gguf-mix-chart').width <= Math.max(320, w), width);
    await page.locator('#gguf-fit-row').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SCREENSHOTS}gguf-fit-${width}.png`, fullPage: false });
    await page.locator('#gguf-layer-map').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SCREENSHOTS}gguf-fit-map-${width}.png` });
    // The map fits the page's width (it scrolls inside its own box when it must).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at ${width}`);
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

// With llama-imatrix's file loaded, the fit weighs the errors by it: the preview gains each
// weighted tensor's importance-weighted MSE, the map covers the fixture model's 8 layers, and the
// download is no larger than the target. Clearing the imatrix drops the fit (it was weighted).
test('a fit with an importance matrix shows the weighted MSE and is dropped when the imatrix is cleared', async () => {
  const mixes = (name) => new URL(`../fixtures/gguf_mixes/${name}`, import.meta.url).pathname;
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#file-input', mixes('source.gguf'));
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 30000 });
  await page.setInputFiles('#imatrix-input', mixes('imatrix.gguf'));
  await page.waitForFunction(() => document.querySelector('#imatrix-info').textContent.startsWith('imatrix.gguf'));
  await page.selectOption('#gguf-type', 'Q4_K_M');
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.includes('importance-weighted by imatrix.gguf'));

  await fit(page, '5');
  await page.waitForFunction(() => document.body.dataset.ggufFit === 'done', null, { timeout: 120000 });
  await page.waitForFunction(() => document.querySelector('#gguf-preview-summary').textContent.includes('as fit 5 bpw'));
  const table = await checkMap(page);
  assert.equal(table.length, 75);
  assert.equal(await page.locator('#gguf-layer-map-table > tbody > tr').count(), 9, 'outside the layers, then blk.0 … blk.7');
  // The weighted MSE is shown for every tensor the imatrix has an entry for, and only those.
  const weightedRows = table.filter((r) => r[6] !== '');
  assert.ok(weightedRows.length >= 40, `${weightedRows.length} rows with a weighted MSE`);
  for (const r of weightedRows) assert.ok(Number(r[6]) >= 0 && /e/.test(r[6]), `${r[0]}: ${r[6]}`);
  assert.ok(table.filter((r) => r[0].endsWith('norm.weight')).every((r) => r[6] === ''));
  assert.ok(await page.isVisible('#gguf-preview-table th:nth-child(7)'), 'the weighted MSE column shows with an imatrix');
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.locator('#gguf-layer-map').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENSHOTS}gguf-fit-imatrix-1366.png` });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gguf-export')]);
  const bytes = await readFile(await download.path());
  const tensors = ggufTensors(bytes);
  const elements = tensors.reduce((a, t) => a + t.elements, 0);
  assert.ok(bytes.length <= Math.floor((5 * elements) / 8), `${bytes.length} bytes`);
  assert.deepEqual(tensors.map((t) => [t.name, t.type]), table.map((r) => [r[0], r[1]]));

  // Without the imatrix the fit (weighted by it) is gone from the picker.
  await page.click('#imatrix-clear');
  await page.waitForFunction(() => !document.querySelector('#gguf-type option[value="FIT"]'));
  assert.notEqual(await page.inputValue('#gguf-type'), 'FIT');
  assert.deepEqual(page.errors, []);
  await page.close();
});
