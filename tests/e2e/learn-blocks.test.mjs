// End to end: the Learn view's panels 4–6 (www/learn/granularity.js, memory.js, compare.js),
// driven as a learner would. The decoded values on the page are checked against the bytes the
// page shows, decoded here independently (ggml's layout: f16 d, then 16 bytes of nibbles,
// element j in the low nibble of byte j and element j + 16 in its high nibble).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openLearn(hash = '#learn') {
  const page = await browser.page();
  await page.goto(browser.url + hash);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#gran-table tbody tr', { timeout: 60000 });
  return page;
}

// f16 bits (little-endian bytes) → number.
function f16(lo, hi) {
  const h = lo | (hi << 8);
  const sign = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function close(shown, want, what) {
  const v = Number(shown.replace(/,/g, '').replace('−', '-'));
  assert.ok(Math.abs(v - want) <= 1e-5 * Math.abs(want) + 1e-12, `${what}: page shows ${shown}, decoded here ${want}`);
}

// The byte strip as [{offset, byte, role}].
async function byteStrip(page) {
  return page.$$eval('#block-bytes .byte', (spans) => spans.map((s) => ({
    offset: Number(s.dataset.offset), byte: parseInt(s.textContent, 16), role: s.className.match(/role-(\S+)/)[1],
  })));
}

// The block table as [{position, original, byte, code, decoded}] (text as shown).
async function blockRows(page) {
  return page.$$eval('#block-table tbody tr', (rows) => rows.map((tr) => {
    const cell = (c) => tr.querySelector(`[data-col="${c}"]`).textContent;
    return { position: Number(cell('position')), original: cell('original'), byte: cell('byte'), code: Number(cell('code')), decoded: cell('decoded') };
  }));
}

async function waitBlock(page, scheme) {
  await page.waitForSelector(`#block-view[data-scheme="${scheme}"][data-ready="true"]`);
}

test('granularity: the table, the heat map, and a clicked block decoded byte by byte', async () => {
  const page = await openLearn();
  // Five granularities of int4_sym on the 256×256 normal sample; finer groups, lower error.
  const rows = await page.$$eval('#gran-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r[1]), ['int4_sym', 'int4_sym_channel', 'int4_sym_g32', 'int4_sym_g64', 'int4_sym_g128']);
  assert.deepEqual(rows.map((r) => r[2]), ['1', '256', '2,048', '1,024', '512']);
  assert.deepEqual(rows.map((r) => r[3]), ['4.00049', '4.125', '5', '4.5', '4.25']);
  const sqnr = rows.map((r) => Number(r[5]));
  assert.ok(sqnr[2] > sqnr[3] && sqnr[3] > sqnr[4] && sqnr[4] > sqnr[0], `SQNR ${sqnr}`);
  assert.equal(await page.locator('#gran-caption').textContent(), '256 rows × 8 groups of 32');

  // Click the heat map's cell at row 100, column 5.
  const box = await page.locator('#gran-heatmap').boundingBox();
  await page.locator('#gran-heatmap').click({ position: { x: (5.5 / 8) * box.width, y: (100.5 / 256) * box.height } });
  await waitBlock(page, 'int4_sym_g32');
  const readout = await page.locator('#gran-cell').textContent();
  const [, row, col, group] = readout.match(/Row (\d+), group (\d+) \(group (\d+) of 2048\)/).map(Number);
  assert.equal(col, 5);
  assert.ok(Math.abs(row - 100) <= 1, readout);
  assert.equal(group, row * 8 + col);
  assert.match(await page.locator('#block-title').textContent(), new RegExp(`group ${group.toLocaleString('en-US')} \\(elements ${(group * 32).toLocaleString('en-US')}–`));

  // int4_sym_g32: the f32 scale (4 bytes at 4·group) and two's complement nibbles, low first.
  let strip = await byteStrip(page);
  const scaleBytes = strip.filter((b) => b.role === 'scale');
  assert.deepEqual(scaleBytes.map((b) => b.offset), [0, 1, 2, 3].map((i) => 4 * group + i));
  const scale = new DataView(Uint8Array.from(scaleBytes.map((b) => b.byte)).buffer).getFloat32(0, true);
  const header = 4 * 2048;
  let table = await blockRows(page);
  assert.equal(table.length, 32);
  for (const r of table) {
    const i = group * 32 + r.position;
    const at = header + Math.floor(i / 2);
    const byte = strip.find((b) => b.offset === at).byte;
    const nibble = i % 2 ? byte >> 4 : byte & 15;
    const code = nibble >= 8 ? nibble - 16 : nibble;
    assert.equal(r.byte, `${byte.toString(16).padStart(2, '0')} @${at}`);
    assert.equal(r.code, code, `element ${r.position}`);
    close(r.decoded, Math.fround(code * scale), `int4 element ${r.position}`);
    assert.ok(Math.abs(Number(r.original) - code * scale) <= scale / 2 * 1.0001 + 1e-9, `element ${r.position} rounds to the nearest level`);
  }

  // The same values as a Q4_0 block: 18 bytes, f16 d then 16 bytes of nibbles.
  await page.selectOption('#block-format', 'q4_0');
  await waitBlock(page, 'q4_0');
  strip = await byteStrip(page);
  assert.equal(strip.length, 18);
  assert.equal(strip[0].offset, group * 18);
  assert.deepEqual(strip.map((b) => b.role), ['d', 'd', ...Array(16).fill('qs')]);
  const d = f16(strip[0].byte, strip[1].byte);
  table = await blockRows(page);
  assert.equal(table.length, 32);
  for (const r of table) {
    const j = r.position;
    const qs = strip[2 + (j % 16)];
    const q = j < 16 ? qs.byte & 15 : qs.byte >> 4;
    assert.equal(r.code, q, `q4_0 element ${j}`);
    assert.equal(r.byte, `${qs.byte.toString(16).padStart(2, '0')} @${qs.offset}`);
    close(r.decoded, Math.fround(d * (q - 8)), `q4_0 element ${j}`);
    assert.ok(Math.abs(Number(r.original) - d * (q - 8)) <= Math.abs(d) * 1.5 + 1e-9, `q4_0 element ${j}`);
  }
  // Element 16 is the high nibble of the block's first qs byte.
  assert.equal((await page.locator('#block-table tbody tr[data-index]').nth(16).getAttribute('title')), 'high nibble of qs[0]');

  // Q8_0: f16 d and 32 signed bytes.
  await page.selectOption('#block-format', 'q8_0');
  await waitBlock(page, 'q8_0');
  strip = await byteStrip(page);
  assert.equal(strip.length, 34);
  const d8 = f16(strip[0].byte, strip[1].byte);
  for (const r of await blockRows(page)) {
    const q = (strip[2 + r.position].byte << 24) >> 24;
    assert.equal(r.code, q);
    close(r.decoded, Math.fround(q * d8), `q8_0 element ${r.position}`);
  }

  // Q4_K: the super-block of 256 that holds the group: f16 d, f16 dmin, 12 bytes of 6-bit scales
  // and mins (ggml's get_scale_min_k4), 128 bytes of nibbles (element j of each 64 in the low
  // nibble of qs[32·(j/64) + j%32] for j%64 < 32, else the high nibble), decoded here.
  await page.selectOption('#block-format', 'q4_k');
  await waitBlock(page, 'q4_k');
  strip = await byteStrip(page);
  const superBlock = Math.floor((group * 32) / 256);
  assert.equal(strip.length, 16 + 64, 'd, dmin, scales, and the 64 code bytes of the first 128 elements');
  assert.equal(strip[0].offset, superBlock * 144);
  assert.deepEqual(strip.slice(0, 16).map((b) => b.role), ['d', 'd', 'dmin', 'dmin', ...Array(12).fill('scales')]);
  const kd = f16(strip[0].byte, strip[1].byte), kdmin = f16(strip[2].byte, strip[3].byte);
  const sc = strip.slice(4, 16).map((b) => b.byte);
  const scaleMin = (j) => (j < 4 ? [sc[j] & 63, sc[j + 4] & 63]
    : [(sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4), (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)]);
  const byteAt = new Map(strip.map((b) => [b.offset, b.byte]));
  const kRows = await blockRows(page);
  assert.equal(kRows.length, 128, 'the first 128 of the super-block');
  for (const r of kRows) {
    const j = r.position;
    const at = superBlock * 144 + 16 + 32 * Math.floor(j / 64) + (j % 32);
    const q = j % 64 < 32 ? byteAt.get(at) & 15 : byteAt.get(at) >> 4;
    const [s6, m6] = scaleMin(Math.floor(j / 32));
    assert.equal(r.code, q, `q4_k element ${j}`);
    close(r.decoded, Math.fround(Math.fround(Math.fround(kd * s6) * q) - Math.fround(kdmin * m6)), `q4_k element ${j}`);
  }
  assert.match(await page.locator('#block-formula').textContent(), /scales \(u8\[12\]: 8 6-bit scales and 8 6-bit mins, bytes .*\) = scales sc = \[\d+(, \d+){7}\]; mins m = \[\d+(, \d+){7}\]/);
  await page.locator('#block-view').screenshot({ path: `${SCREENSHOTS}learn-block-q4_k.png` });

  // IQ4_XS: f16 d, u16 scales_h, u8 scales_l[4], then 8 blocks of 32 as IQ4_NL's (element j of
  // a block of 32 in the low nibble of its qs[j % 16] for j < 16, else the high one), each
  // decoding as d·(ls − 32)·kvalues_iq4nl[q]: decoded here from the page's bytes.
  await page.selectOption('#block-format', 'iq4_xs');
  await waitBlock(page, 'iq4_xs');
  strip = await byteStrip(page);
  const xsBlock = Math.floor((group * 32) / 256);
  assert.equal(strip[0].offset, xsBlock * 136);
  assert.deepEqual(strip.slice(0, 8).map((b) => b.role), ['d', 'd', 'scales_h', 'scales_h', ...Array(4).fill('scales_l')]);
  const xd = f16(strip[0].byte, strip[1].byte), sh = strip[2].byte | (strip[3].byte << 8);
  const ls = (ib) => ((strip[4 + (ib >> 1)].byte >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
  const kvalues = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
  const xsBytes = new Map(strip.map((b) => [b.offset, b.byte]));
  for (const r of await blockRows(page)) {
    const j = r.position, ib = Math.floor(j / 32), w = j % 32;
    const byte = xsBytes.get(xsBlock * 136 + 8 + 16 * ib + (w % 16));
    const q = w < 16 ? byte & 15 : byte >> 4;
    assert.equal(r.code, q, `iq4_xs element ${j}`);
    close(r.decoded, Math.fround(Math.fround(xd * (ls(ib) - 32)) * kvalues[q]), `iq4_xs element ${j}`);
  }
  await page.locator('#block-view').screenshot({ path: `${SCREENSHOTS}learn-block-iq4_xs.png` });

  // bitsandbytes NF4: the block of 64 holding the group; its codes come first (two per byte, the
  // first value in the high nibble), its f32 absmax after all codes: 256×256 values → 32,768
  // code bytes, then 4 bytes per block.
  await page.selectOption('#block-format', 'nf4');
  await waitBlock(page, 'nf4');
  strip = await byteStrip(page);
  const bnbBlock = Math.floor((group * 32) / 64);
  const absmaxBytes = strip.filter((b) => b.role === 'absmax');
  assert.deepEqual(absmaxBytes.map((b) => b.offset), [0, 1, 2, 3].map((i) => 32768 + 4 * bnbBlock + i));
  const absmax = new DataView(Uint8Array.from(absmaxBytes.map((b) => b.byte)).buffer).getFloat32(0, true);
  const nf4Bytes = new Map(strip.map((b) => [b.offset, b.byte]));
  const nf4Rows = await page.$$eval('#block-table tbody tr', (trs) => trs.map((tr) => ({
    position: Number(tr.querySelector('[data-col="position"]').textContent),
    code: Number(tr.querySelector('[data-col="code"]').textContent),
    decoded: tr.querySelector('[data-col="decoded"]').textContent,
    computed: tr.querySelector('[data-col="computed"]').textContent,
  })));
  assert.equal(nf4Rows.length, 64);
  for (const r of nf4Rows) {
    const i = bnbBlock * 64 + r.position;
    const byte = nf4Bytes.get(Math.floor(i / 2));
    assert.equal(r.code, i % 2 === 0 ? byte >> 4 : byte & 15, `nf4 element ${r.position}`);
    const level = Number(r.computed.split(' = ')[1].split(' · ')[1]);
    assert.ok(Math.abs(level) <= 1, r.computed);
    close(r.decoded, Math.fround(absmax * level), `nf4 element ${r.position}`);
  }
  assert.match(await page.locator('#block-title').textContent(), new RegExp(`Inside nf4 block ${bnbBlock.toLocaleString('en-US')} `));

  // Keyboard: the focused map moves with the arrows and opens with Enter.
  await page.selectOption('#block-format', 'this');
  await page.locator('#gran-heatmap').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  const next = group + 1 + 8;
  await page.waitForFunction((g) => document.querySelector('#block-view').dataset.block === String(g), next);
  assert.match(await page.locator('#gran-cell').textContent(), new RegExp(`\\(group ${next} of 2048\\)`));

  // Per channel: one scale per row, drawn as a column of 256 cells.
  await page.locator('#gran-table tbody tr[data-gran="channel"]').click();
  await page.waitForFunction(() => document.querySelector('#gran-map-scheme').textContent === 'int4_sym_channel');
  assert.equal(await page.locator('#gran-heatmap').getAttribute('data-groups'), '256');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('memory: the 7B preset at q4_0, sorting, a custom size and this model', async () => {
  const page = await openLearn();
  await page.locator('#mem-presets [data-mem="7B"]').click();
  await page.waitForSelector('#learn-memory[data-ready="true"]', { state: 'attached' });
  const cell = (scheme, col) => page.locator(`#mem-table tr[data-scheme="${scheme}"] td[data-col="${col}"]`);
  // 7·10⁹ × 4.5 / 8 × 1.2 = 4.725 GB.
  assert.ok(Math.abs(Number(await cell('q4_0', 'memory_bytes').getAttribute('data-bytes')) - 4.725e9) < 1e3);
  assert.match(await cell('q4_0', 'memory_bytes').textContent(), /^4\.7[23] GB$/);
  assert.equal(await cell('q4_0', 'bits_per_weight').textContent(), '4.5');
  assert.equal(await cell('q4_0', 'size_bytes').textContent(), '3.94 GB');
  const fits = (scheme) => page.$$eval(`#mem-table tr[data-scheme="${scheme}"] td[data-gpu]`, (tds) => tds.map((td) => td.className));
  assert.deepEqual(await fits('q4_0'), ['fits', 'fits', 'fits', 'fits']);
  assert.deepEqual(await fits('fp16'), ['nofit', 'nofit', 'fits', 'fits']);
  assert.deepEqual(await fits('fp32'), ['nofit', 'nofit', 'nofit', 'fits']);
  assert.equal(await cell('fp32', 'memory_bytes').textContent(), '33.6 GB');
  assert.match(await page.locator('#mem-summary').textContent(), /^7 billion parameters/);

  // Sort by memory, then reverse.
  const memoryHeading = page.locator('#mem-table th[data-key="memory_bytes"] button');
  await memoryHeading.click();
  let order = await page.$$eval('#mem-table tbody td[data-col="memory_bytes"]', (tds) => tds.map((td) => Number(td.dataset.bytes)));
  assert.ok(order.every((v, i) => i === 0 || order[i - 1] <= v), 'ascending');
  await memoryHeading.click();
  assert.equal(await page.locator('#mem-table th[data-key="memory_bytes"]').getAttribute('aria-sort'), 'descending');
  assert.equal(await page.locator('#mem-table tbody tr').first().getAttribute('data-scheme'), 'fp32');

  // A custom size: 3.8 billion at int8_sym is 3.8e9 × 8 / 8 × 1.2 = 4.56 GB.
  await page.fill('#mem-custom', '3.8');
  await page.click('#mem-apply');
  await page.waitForFunction(() => document.querySelector('#mem-summary').textContent.startsWith('3.8 billion'));
  assert.equal(await cell('int8_sym', 'memory_bytes').textContent(), '4.56 GB');
  assert.match(await page.evaluate(() => location.hash), /mem=3800000000/);

  // This model: the 256×256 sample, 65,536 parameters.
  await page.click('#mem-model');
  await page.waitForFunction(() => document.querySelector('#mem-summary').textContent.includes('this model'));
  assert.equal(await cell('fp32', 'memory_bytes').textContent(), '0.315 MB');
  assert.equal(await cell('int8_sym_channel', 'bits_per_weight').textContent(), '8.125');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('compare: the SQNR chart, its Pareto front, the NF4 levels and the 4-bit grids', async () => {
  const page = await openLearn();
  await page.waitForSelector('#cmp-sqnr[data-drawn="true"]', { state: 'attached', timeout: 120000 });
  await page.waitForSelector('#cmp-grids[data-drawn="true"]', { state: 'attached' });
  await page.waitForSelector('#cmp-nf4[data-drawn="true"]', { state: 'attached' });
  const inked = (id) => page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let blue = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 120) blue++;
    return blue;
  }, id);
  assert.ok(await inked('cmp-sqnr') > 300, 'the SQNR chart has blue points');
  assert.ok(await inked('cmp-nf4') > 300, 'the NF4 chart has blue stems');
  assert.ok(await inked('cmp-grids') > 300, 'the grid chart has the INT4 grid');
  const front = await page.$$eval('#cmp-front li', (lis) => lis.map((li) => li.textContent));
  assert.ok(front.length >= 5, front.join('\n'));
  assert.ok(front.some((f) => f.startsWith('fp16 — 16 bits')), front.join('\n'));
  const bits = front.map((f) => Number(f.match(/— ([\d.]+) bits/)[1]));
  assert.ok(bits.every((b, i) => i === 0 || bits[i - 1] < b), 'the front is listed by size');

  const nf4 = await page.$$eval('#cmp-nf4-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(nf4.length, 16);
  assert.deepEqual(nf4[0].slice(0, 2), ['0', '-1']);
  assert.deepEqual(nf4[7].slice(0, 2), ['7', '0']);
  assert.deepEqual(nf4[15].slice(0, 2), ['15', '1']);
  assert.equal(nf4[15][2], '1.848');

  const grids = await page.$$eval('#cmp-grid-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.grid, tr.cells[1].textContent, Number(tr.cells[4].textContent)]));
  assert.deepEqual(grids.map((g) => g.slice(0, 2)), [['int4', '15'], ['nf4', '16'], ['fp4_e2m1', '15']]);
  assert.ok(grids[1][2] > grids[0][2], `NF4 beats INT4 on normal weights: ${grids}`);
  // INT4's grid SQNR is the int4_sym scheme's, as the granularity table shows it.
  assert.equal(String(grids[0][2]), await page.locator('#gran-table tbody tr[data-gran="tensor"] td').nth(5).textContent());
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.locator('#learn-compare').screenshot({ path: `${SCREENSHOTS}learn-compare.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
