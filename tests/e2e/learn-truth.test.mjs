// End to end: every number the Learn view shows is true now (issue 12).
//
// 1. Compare schemes: each point of the SQNR chart (app.reports) and each scheme on the Pareto
//    front is recomputed here from the tensor's values and the scheme's own dequantized values
//    and packed bytes (the page's downloads); the INT4, NF4 and FP4 grid rows and the fp4_e2m1
//    cast sentence are recomputed from the tensor alone (bitsandbytes' NF4 table, OCP E2M1).
// 2. Selecting another tensor: every DOM change in the Learn view is recorded, and none shows a
//    number of the previous tensor (Compare, Granularity, Scale and zero point, Clipping).
// 3. A fast slider drag: each MSE shown is the MSE at the clip shown, and the clips shown only
//    ever follow the slider (no late answer for a position it has left).
// 4. Percentile 99.9 on normal_outliers clamps nothing, and the panel says why, with counts
//    recomputed here; 5. the bit view's colour key is visible; 6. no NaN, Infinity or undefined
//    anywhere in the Learn view on awkward tensors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';

let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openLearn(hash = '#learn') {
  const page = await browser.page();
  await page.goto(browser.url + hash);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  return page;
}

// The Inspect view's comparison done and the Compare panel drawn for it.
async function compareSettled(page) {
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
  await page.waitForSelector('#cmp-sqnr[data-drawn="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#cmp-grids[data-drawn="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForFunction(() => !document.querySelector('#view-learn [aria-busy="true"]'), null, { timeout: 60000 });
}

// A worker download as float32 values: the tensor ('original') or a scheme's round trip.
async function values(page, what, scheme = null) {
  return page.evaluate(async ([what, scheme]) => {
    const { app } = await import('/www/app.js');
    const bytes = await app.client.request('export', [app.selected, what, scheme]);
    const header = bytes[8] | (bytes[9] << 8);
    return Array.from(new Float32Array(bytes.slice(10 + header).buffer));
  }, [what, scheme]);
}

// MSE and SQNR (dB) of `dq` against `x`, in f64, over the finite originals.
function metrics(x, dq) {
  let signal = 0, noise = 0, n = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) continue;
    const e = x[i] - dq[i];
    signal += x[i] * x[i];
    noise += e * e;
    n++;
  }
  return { mse: noise / n, sqnr: noise === 0 ? Infinity : 10 * Math.log10(signal / noise) };
}

// Round half to even, as the schemes do.
const rint = (v) => {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

// Each value to the nearest of `levels` (ascending), ties to the lower level.
function toLevels(x, levels) {
  return x.map((v) => {
    let best = levels[0];
    for (const l of levels) if (Math.abs(v - l) < Math.abs(v - best)) best = l;
    return best;
  });
}

// bitsandbytes' NF4 table (bitsandbytes/functional.py, get_4bit_type('nf4')).
const NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0];
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

const shown = (text) => Number(text.replace(/,/g, '').replace(/−/g, '-'));
const near = (a, b, rel, what) => assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + 1e-12, `${what}: page ${a}, here ${b}`);

test('Compare: the chart, the Pareto front, the 4-bit grids and the FP4 cast are recomputed here and agree', async () => {
  const page = await openLearn();
  await compareSettled(page);
  const x = await values(page, 'original');
  assert.equal(x.length, 65536);

  // Every point of the chart: the report's SQNR and MSE against the scheme's own round trip.
  const mismatches = await page.evaluate(async () => {
    const { app } = await import('/www/app.js');
    const bad = [];
    const read = async (what, scheme) => {
      const bytes = await app.client.request('export', [app.selected, what, scheme]);
      const header = bytes[8] | (bytes[9] << 8);
      return new Float32Array(bytes.slice(10 + header).buffer);
    };
    const x = await read('original', null);
    for (const r of app.reports) {
      const dq = await read('dequantized', r.scheme);
      let signal = 0, noise = 0;
      for (let i = 0; i < x.length; i++) { signal += x[i] * x[i]; noise += (x[i] - dq[i]) ** 2; }
      const sqnr = noise === 0 ? null : 10 * Math.log10(signal / noise);
      const mse = noise / x.length;
      if ((sqnr === null) !== (r.sqnr_db === null) || Math.abs(sqnr - r.sqnr_db) > 1e-6 * Math.abs(sqnr) + 1e-9 ||
        Math.abs(mse - r.mse) > 1e-6 * mse) bad.push(`${r.scheme}: report ${r.sqnr_db} dB / ${r.mse}, here ${sqnr} dB / ${mse}`);
    }
    return { bad, count: app.reports.length };
  });
  assert.ok(mismatches.count > 50, `${mismatches.count} schemes compared`);
  assert.deepEqual(mismatches.bad, []);

  // The front as listed: each scheme's bits from its packed bytes, its SQNR from its round trip,
  // and no listed scheme beaten by another on both.
  const front = await page.$$eval('#cmp-front li', (lis) => lis.map((li) => [li.dataset.scheme, li.textContent]));
  assert.ok(front.length >= 5, front.join('\n'));
  const points = [];
  for (const [scheme, text] of front) {
    const [, bits, db] = text.match(/— ([\d.,]+) bits, ([−\d.]+) dB$/);
    const packed = await page.evaluate(async (scheme) => {
      const { app } = await import('/www/app.js');
      return (await app.client.request('export', [app.selected, 'packed', scheme])).length;
    }, scheme);
    const sqnr = metrics(x, await values(page, 'dequantized', scheme)).sqnr;
    assert.equal(shown(db), Number(sqnr.toPrecision(3)), `${scheme}: SQNR shown ${db}, here ${sqnr}`);
    // Bits per weight include the scales; a few schemes carry a small header beside the blocks.
    near(shown(bits), Number(((8 * packed) / x.length).toPrecision(4)), 2e-3, `${scheme} bits per weight`);
    points.push({ scheme, bits: shown(bits), sqnr });
  }
  assert.ok(points.every((p, i) => i === 0 || (p.bits > points[i - 1].bits && p.sqnr > points[i - 1].sqnr)), 'the front rises with size');

  // The grids, from the tensor alone.
  const absmax = Math.max(...x.map(Math.abs));
  const scale = Math.fround(absmax / 7);
  const int4 = x.map((v) => Math.fround(Math.max(-7, Math.min(7, rint(v / scale))) * scale));
  const nf4 = toLevels(x, NF4.map((l) => Math.fround(l * Math.fround(absmax))));
  const fp4Levels = [...E2M1.slice(1).reverse().map((v) => (-v * absmax) / 6), ...E2M1.map((v) => (v * absmax) / 6)];
  const fp4 = toLevels(x, fp4Levels).map(Math.fround);
  const want = { int4: metrics(x, int4), nf4: metrics(x, nf4), fp4_e2m1: metrics(x, fp4) };
  const rows = await page.$$eval('#cmp-grid-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.grid, ...[...tr.cells].map((c) => c.textContent)]));
  assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['int4', '15'], ['nf4', '16'], ['fp4_e2m1', '15']]);
  for (const [id, , , , mse, sqnr] of rows) {
    near(shown(mse), want[id].mse, 1e-4, `${id} MSE`);
    near(shown(sqnr), want[id].sqnr, 1e-4, `${id} SQNR`);
  }

  // The fp4_e2m1 cast: no scale, so every weight of this tensor (|x| < 0.25) becomes 0.
  const cast = x.map((v) => {
    const m = Math.min(Math.abs(v), 6);
    let best = 0;
    for (const l of E2M1) if (Math.abs(m - l) < Math.abs(m - best)) best = l;
    return Math.sign(v) * best;
  });
  assert.equal(absmax < 0.25, true);
  const castMetrics = metrics(x, cast);
  assert.equal(castMetrics.sqnr, 0);
  const text = await page.locator('#cmp-fp4-cast').textContent();
  assert.match(text, /every \|x\| ≤ 0\.25 becomes 0\. On this tensor that is 100 % of the values, and the cast's SQNR is 0 dB/);
  assert.ok(text.includes(`absmax / 6 = ${Number((absmax / 6).toPrecision(4))}`), text);
  assert.ok(text.includes(`${Number(want.fp4_e2m1.sqnr.toPrecision(3))} dB`), text);
  // The Inspect view's own fp4_e2m1 report is the cast's: 0 dB.
  const report = await page.evaluate(async () => (await import('/www/app.js')).app.reports.find((r) => r.scheme === 'fp4_e2m1'));
  assert.equal(report.sqnr_db, 0);
  assert.deepEqual(page.errors, []);
  await page.close();
});

// What the Learn view shows for the selected tensor, as text, per panel.
const SNAPSHOT = () => {
  const text = (s) => [...document.querySelectorAll(s)].map((e) => e.textContent).join(' | ');
  return {
    selected: window.__app?.selected,
    front: text('#cmp-front li'),
    grids: text('#cmp-grid-table tbody tr'),
    cast: text('#cmp-fp4-cast'),
    gran: text('#gran-table tbody tr'),
    mapping: text('#learn-mapping [data-stat="scale"]'),
    clipping: text('#learn-clipping [data-stat="absmax"]'),
  };
};

test('another tensor: no Learn panel shows a number of the previous one, at any moment', async () => {
  const page = await openLearn();
  await compareSettled(page);
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.evaluate(async () => { window.__app = (await import('/www/app.js')).app; });
  // Add laplace (it is selected), note what it shows, go back to normal.
  await page.evaluate(() => { document.querySelector('#sample-kind').value = 'laplace'; document.querySelector('#sample-add').click(); });
  await page.waitForFunction(() => window.__app.tensors.length === 2 && window.__app.selected === window.__app.tensors[1].index);
  await compareSettled(page);
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const laplace = await page.evaluate(SNAPSHOT);
  await page.evaluate(() => document.querySelector('#tensor-list li[data-index="0"]').click());
  await compareSettled(page);
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const normal = await page.evaluate(SNAPSHOT);
  for (const key of ['front', 'grids', 'cast', 'gran', 'mapping', 'clipping']) {
    assert.ok(normal[key] && laplace[key] && normal[key] !== laplace[key], `${key} differs between the tensors`);
  }

  // Select laplace again, recording the panels at every DOM change until they settle.
  await page.evaluate((snapshot) => {
    const take = new Function(`return (${snapshot})()`);
    window.__snapshots = [];
    window.__observer = new MutationObserver(() => window.__snapshots.push(take()));
    window.__observer.observe(document.getElementById('view-learn'), { subtree: true, childList: true, characterData: true, attributes: true });
    document.querySelector('#tensor-list li[data-index="1"]').click();
  }, SNAPSHOT.toString());
  await compareSettled(page);
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const snapshots = await page.evaluate(() => { window.__observer.disconnect(); return window.__snapshots; });
  assert.ok(snapshots.length > 10, `${snapshots.length} DOM changes recorded`);
  const final = snapshots.at(-1);
  const stale = {};
  for (const key of ['front', 'grids', 'cast', 'gran', 'mapping', 'clipping']) {
    assert.equal(final[key], laplace[key], `${key} ends with laplace's numbers`);
    const shownWrong = snapshots.find((s) => s[key] !== '' && s[key] !== laplace[key]);
    if (shownWrong) stale[key] = shownWrong[key].slice(0, 120);
  }
  assert.deepEqual(stale, {}, 'numbers shown while laplace was selected that are not laplace\'s');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a comparison that finishes while Learn is hidden leaves no "computing…" line behind', async () => {
  const page = await openLearn();
  await compareSettled(page);
  // A new tensor while Learn is shown (its panels say they are computing), then Inspect at once.
  await page.evaluate(() => { document.querySelector('#sample-kind').value = 'laplace'; document.querySelector('#sample-add').click(); });
  await page.waitForSelector('#view-learn .busy-note:not([hidden])', { state: 'attached' });
  await page.click('#tab-inspect');
  await page.waitForFunction(() => document.body.dataset.compared === 'true' && document.querySelector('#tensor-title')?.textContent === 'sample:laplace',
    null, { timeout: 120000 });
  await page.evaluate(() => new Promise((r) => setTimeout(r, 500)));
  assert.equal(await page.locator('.busy-note:not([hidden])').count(), 0, 'no computing note once done');
  // Back in Learn, the new tensor's comparison is drawn.
  await page.click('#tab-learn');
  await compareSettled(page);
  assert.match(await page.locator('#cmp-status').textContent(), /on sample:laplace/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

// Quick changes of a setting: whenever a panel shows numbers for another setting than the one
// selected, they are marked busy (dimmed, aria-busy, a "computing…" line), and the last answer
// is the last setting's.
test('quick setting changes: numbers for an older setting are only ever shown marked busy', async () => {
  const page = await openLearn();
  await compareSettled(page);
  await page.waitForSelector('#learn-mapping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.evaluate(() => {
    window.__wrong = [];
    const check = () => {
      const bits = document.querySelector('#gran-bits').value;
      const scheme = document.querySelector('#gran-table tbody tr td:nth-child(2)')?.textContent ?? '';
      if (scheme && !scheme.startsWith(`int${bits}_`) && document.querySelector('#gran-table').getAttribute('aria-busy') !== 'true') {
        window.__wrong.push(`granularity: ${scheme} shown for ${bits} bits, not busy`);
      }
      const mem = document.querySelector('#learn-memory [aria-pressed="true"]')?.dataset.mem;
      const summary = document.querySelector('#mem-summary').textContent;
      if (mem && summary && !summary.startsWith(`${mem.replace('B', '')} billion`) && document.querySelector('#mem-table').getAttribute('aria-busy') !== 'true') {
        window.__wrong.push(`memory: '${summary.slice(0, 30)}' shown for ${mem}, not busy`);
      }
      const mapBits = document.querySelector('#learn-mapping [data-role="bits"]').value;
      const mapScheme = document.querySelector('#learn-mapping [data-mapping="sym"] h3 code')?.textContent ?? '';
      if (mapScheme && !mapScheme.startsWith(`int${mapBits}_`) && document.querySelector('#learn-mapping .map-cols').getAttribute('aria-busy') !== 'true') {
        window.__wrong.push(`mapping: ${mapScheme} shown for INT${mapBits}, not busy`);
      }
    };
    window.__observer = new MutationObserver(check);
    window.__observer.observe(document.getElementById('view-learn'), { subtree: true, childList: true, characterData: true, attributes: true });
    const choose = (sel, value) => { const s = document.querySelector(sel); s.value = value; s.dispatchEvent(new Event('change')); };
    for (const b of ['8', '2', '4', '8']) choose('#gran-bits', b);
    for (const b of ['4', '2', '8', '4']) choose('#learn-mapping [data-role="bits"]', b);
    for (const m of ['70B', '13B', '8B']) document.querySelector(`#mem-presets [data-mem="${m}"]`).click();
  });
  await page.waitForFunction(() => document.querySelector('#gran-table tbody tr td:nth-child(2)')?.textContent === 'int8_sym' &&
    document.querySelector('#gran-table').getAttribute('aria-busy') !== 'true');
  await page.waitForFunction(() => document.querySelector('#mem-summary').textContent.startsWith('8 billion'));
  await page.waitForFunction(() => document.querySelector('#learn-mapping [data-mapping="sym"] h3 code')?.textContent === 'int4_sym' &&
    document.querySelector('#learn-mapping .map-cols').getAttribute('aria-busy') !== 'true');
  const wrong = await page.evaluate(() => { window.__observer.disconnect(); return window.__wrong; });
  assert.deepEqual(wrong.slice(0, 5), []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a fast slider drag: each MSE shown is the one at the clip shown, and the clips shown follow the slider', async () => {
  const page = await openLearn();
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const x = Float32Array.from(await values(page, 'original'));
  const absmax = Math.max(...Array.from(x, Math.abs));
  await page.evaluate(() => {
    window.__clips = [];
    const output = document.querySelector('#learn-clipping output[data-stat="clip"]');
    const mse = () => document.querySelector('#learn-clipping .clip-stats [data-stat="mse"]')?.dataset.value;
    window.__observer = new MutationObserver(() => {
      const last = window.__clips.at(-1);
      const now = { clip: Number(output.dataset.value), mse: Number(mse()) };
      if (!last || last.clip !== now.clip || last.mse !== now.mse) window.__clips.push(now);
    });
    window.__observer.observe(document.getElementById('learn-clipping'), { subtree: true, childList: true, characterData: true, attributes: true });
    // A drag from the right end to a quarter, one input event per position, all at once.
    const slider = document.getElementById('learn-clip');
    for (let k = 1000; k >= 250; k -= 5) {
      slider.value = String(k);
      slider.dispatchEvent(new Event('input'));
    }
  });
  const last = Math.fround((absmax * 250) / 1000);
  await page.waitForFunction((c) => Number(document.querySelector('#learn-clipping output').dataset.value) === c, last);
  const clips = await page.evaluate(() => { window.__observer.disconnect(); return window.__clips; });
  // The slider sends one request at a time, so most positions are never computed; at least
  // the last one is shown.
  assert.ok(clips.length >= 1, `${clips.length} positions shown`);
  assert.ok(clips.every((p, i) => i === 0 || p.clip < clips[i - 1].clip), `clips shown only move with the drag: ${clips.map((p) => p.clip)}`);
  // int8_sym with the range [−c, c]: scale = c / 127, q = clamp(rint(x / scale), −127, 127).
  for (const { clip, mse } of clips) {
    const scale = Math.fround(Math.fround(2 * clip) / 254);
    let noise = 0;
    for (const v of x) noise += (v - Math.fround(Math.max(-127, Math.min(127, rint(v / scale))) * scale)) ** 2;
    near(mse, noise / x.length, 1e-4, `MSE at c = ${clip}`);
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('percentile 99.9 on normal_outliers clamps nothing, and the panel says why with the counts', async () => {
  const page = await openLearn();
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#learn-clipping [data-role="notes"] p').count(), 0, 'on normal the percentiles clamp their share: no note');
  await page.check('#learn-clipping [data-role="outliers"]');
  await page.waitForFunction(() => /normal_outliers/.test(document.querySelector('#learn-clipping [data-role="tensor"] option:checked')?.textContent));
  await page.waitForSelector('#learn-clipping[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const index = await page.evaluate(async () => (await import('/www/app.js')).app.tensors.find((t) => t.name === 'sample:normal_outliers').index);
  const x = await page.evaluate(async (index) => {
    const { app } = await import('/www/app.js');
    const bytes = await app.client.request('export', [index, 'original', null]);
    return Array.from(new Float32Array(bytes.slice(10 + (bytes[8] | (bytes[9] << 8))).buffer));
  }, index);
  const absmax = Math.max(...x.map(Math.abs));
  const far = x.filter((v) => Math.abs(v) > absmax / 2);
  assert.ok(far.length > x.length / 1000, `${far.length} outliers: more than 0.1 % of ${x.length}`);
  assert.equal(await page.locator('#learn-clipping tr[data-method="p99.9"] td').last().textContent(), '0 %');
  const note = await page.locator('#learn-clipping [data-role="notes"] p').first().textContent();
  assert.ok(note.startsWith('Percentile 99.9 clamps nothing here: it may clamp at most the largest 0.1 % of |x| ' +
    `(${Math.floor(x.length / 1000)} of ${x.length.toLocaleString('en-US')} values), but ${far.length} values ` +
    `(${((100 * far.length) / x.length).toFixed(3)} %) lie beyond half of max|x|`), note);
  assert.ok(note.includes(`every one with |x| ≥ ${Number(Math.min(...far.map(Math.abs)).toPrecision(3))}`), note);
  assert.ok(await page.locator('#learn-clipping [data-role="notes"] p').first().isVisible());
  for (const [name, width] of [['desktop', 1366], ['phone', 390]]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#learn-clipping').screenshot({ path: `${SCREENSHOTS}learn-truth-clipping-outliers-${name}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the bit view has a visible colour key for sign, exponent and mantissa, in the bits\' own colours', async () => {
  for (const [name, width] of [['desktop', 1366], ['phone', 390]]) {
    const page = await openLearn();
    await page.setViewportSize({ width, height: 900 });
    await page.waitForSelector('#learn-formats[data-ready="true"]', { state: 'attached', timeout: 60000 });
    const key = page.locator('#learn-bit-key');
    assert.ok(await key.isVisible(), 'the key is shown');
    const box = await key.boundingBox();
    assert.ok(box.width > 100 && box.x >= 0 && box.x + box.width <= width + 1, `the key fits: ${JSON.stringify(box)}`);
    for (const field of ['sign', 'exponent', 'mantissa']) {
      const entry = page.locator(`#learn-bit-key [data-field="${field}"]`);
      assert.ok(await entry.isVisible(), `${field} in the key`);
      assert.match(await entry.textContent(), new RegExp(field));
      const colour = (sel) => page.locator(sel).first().evaluate((e) => getComputedStyle(e).borderTopColor);
      assert.equal(await colour(`#learn-bit-key [data-field="${field}"] .swatch`), await colour(`#learn-format-rows [data-format="fp32"] .bit.${field}`),
        `${field}: the swatch has the bits' colour`);
    }
    await page.locator('#learn-formats').screenshot({ path: `${SCREENSHOTS}learn-truth-bit-key-${name}.png`, clip: undefined });
    assert.deepEqual(page.errors, []);
    await page.close();
  }
});

test('quickly flipped bits: two presses flip two bits, and a new number drops flips still on their way', async () => {
  const page = await openLearn();
  await page.waitForSelector('#learn-formats[data-ready="true"]', { state: 'attached', timeout: 60000 });
  const fp16 = '#learn-format-rows [data-format="fp16"]';
  // 0.1 is the field's own value, so filling it in leaves a re-read 150 ms later that would drop
  // flips made before it: Enter reads it now, and the rows are waited for until that answer.
  await page.fill('#learn-number', '0.1');
  await page.press('#learn-number', 'Enter');
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 01011 1001100110'
    && document.querySelector('#learn-format-rows').getAttribute('aria-busy') !== 'true', fp16);
  // Two presses before the first answer: both bits flip (bit 0 and bit 1 of the mantissa).
  await page.evaluate((s) => { document.querySelector(`${s} [data-bit="0"]`).click(); document.querySelector(`${s} [data-bit="1"]`).click(); }, fp16);
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 01011 1001100101', fp16);
  // A flip, then at once a new number: the flip's answer is for the old number, and is dropped.
  await page.evaluate((s) => {
    document.querySelector(`${s} [data-bit="15"]`).click();
    const input = document.querySelector('#learn-number');
    input.value = '3';
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
  }, fp16);
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.bits === '0 10000 1000000000', fp16);
  await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
  assert.equal(await page.getAttribute(fp16, 'data-bits'), '0 10000 1000000000', 'the typed 3, not a flipped 0.1');
  assert.equal(await page.locator(`${fp16}.edited`).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('awkward tensors: no NaN, Infinity or undefined anywhere in the Learn view', async () => {
  const page = await openLearn();
  await compareSettled(page);
  const n = 256;
  const wave = (f) => Array.from({ length: n }, (_, i) => f(i));
  const files = [
    // Exactly on the INT8 grid (symmetric stores it without error).
    ['exact.npy', wave((i) => [-1, 0, 1][i % 3])],
    // Beyond FP16's range: fp16 overflows to ±Inf (its SQNR is −∞, not ∞).
    ['huge.npy', wave((i) => (i % 2 ? 1 : -1) * 1e5 * (1.3 + Math.sin(i)))],
    // Subnormal in FP32.
    ['tiny.npy', wave((i) => (i % 2 ? 1 : -1) * 1e-40 * (1 + (i % 5)))],
    // NaN and ±Inf among ordinary values.
    ['specials.npy', wave((i) => (i === 3 ? NaN : i === 5 ? Infinity : i === 7 ? -Infinity : Math.sin(i) * 0.05))],
    // One value: a constant.
    ['constant.npy', wave(() => 0.75)],
  ];
  await dropFiles(page, '#drop-zone', files.map(([name, data]) => ({ name, bytes: npy(data, [16, 16]) })));
  await page.waitForFunction((k) => document.querySelectorAll('#tensor-list li').length === k + 1, files.length);
  const indices = await page.$$eval('#tensor-list li', (lis) => lis.map((li) => [Number(li.dataset.index), li.firstChild.textContent]));
  assert.deepEqual(indices.slice(1).map(([, name]) => name.split(/[.:]/)[0]), files.map(([name]) => name.split('.')[0]));
  for (const [index, name] of indices.slice(1)) {
    await page.evaluate((i) => document.querySelector(`#tensor-list li[data-index="${i}"]`).click(), index);
    await page.waitForFunction((i) => document.querySelector('#tensor-list li[aria-selected="true"]')?.dataset.index === String(i), index);
    await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
    await page.waitForFunction(() => !document.querySelector('#view-learn [aria-busy="true"]'), null, { timeout: 60000 });
    await page.waitForFunction(() => document.querySelector('#gran-table tbody tr') || !document.querySelector('#gran-error').hidden);
    // Panels 1–3 follow the selection too; wait until theirs is drawn or they say why not.
    await page.waitForFunction(() => document.querySelector('#learn-mapping .map-col') || !document.querySelector('#learn-mapping .learn-error').hidden);
    await page.waitForFunction(() => document.querySelector('#learn-clipping .clip-stats dl') || !document.querySelector('#learn-clipping .learn-error').hidden);
    // Everything shown but the formats' reference table, which names NaN and ±∞ as codes.
    const text = await page.evaluate(() => {
      const view = document.getElementById('view-learn').cloneNode(true);
      for (const e of view.querySelectorAll('[hidden], #learn-formats .table-wrap')) e.remove();
      return view.textContent;
    });
    for (const bad of ['NaN', 'Infinity', 'undefined', 'null', 'inf×']) {
      const at = text.indexOf(bad);
      assert.equal(at, -1, `${name}: '${bad}' in the Learn view: …${text.slice(Math.max(0, at - 120), at + 60)}…`);
    }
    if (name.startsWith('huge')) {
      const front = await page.$$eval('#cmp-front li', (lis) => lis.map((li) => li.textContent));
      // fp16 overflows here, and q4_1's f16 scales too: their error is infinite (SQNR −∞), and
      // no scheme is exact, so no front entry may claim ∞ dB.
      assert.ok(front.length >= 3, front.join('; '));
      assert.ok(!front.some((f) => f.includes('∞') || f.startsWith('fp16 ') || f.startsWith('q4_1 ')), front.join('; '));
    }
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});
