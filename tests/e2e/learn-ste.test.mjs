// End to end: Learn panel 8, fake quantization and the straight-through estimator
// (www/learn/ste.js over the Train view's worker and quantscope_train::trace). Run trains the
// built-in MLP with QAT INT4 for one epoch in the worker and records every weight of one neuron at
// every step; every recorded fake-quantized value must be torch's fake_quantize of the recorded
// float with the recorded scale and zero point (f32 arithmetic emulated here with Math.fround),
// the mask must say whether the code was inside [q_min, q_max], and the gradient must be 0 exactly
// where it was not. The charts are drawn from those values; Cancel keeps what was recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const f = Math.fround;
// C's nearbyint in the default mode: halves to even.
const roundEven = (v) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
// torch's fake_quantize_per_channel_affine of one f32 value (QuantizedOpKernels.cpp), in f32.
function fakeQuantize(x, scale, zeroPoint, qmin, qmax) {
  const q = zeroPoint + roundEven(f(x * f(1 / scale)));
  const clamped = Math.min(Math.max(q, qmin), qmax);
  return { fake: f((clamped - zeroPoint) * scale), inside: qmin <= q && q <= qmax };
}

const trace = (page) => page.evaluate(() => {
  const t = document.getElementById('learn-ste').steState.trace;
  return { ...t, records: t.records.map((r) => ({ ...r, v: Array.from(r.v) })) };
});
const status = (page) => page.textContent('#learn-ste [data-role="status"]');

test('a QAT INT4 run traced: the staircase, three weights over the steps, every value torch\'s', async () => {
  const page = await browser.page();
  const wasm = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${browser.url}#learn`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.waitForSelector('#learn-ste [data-role="run"]');
  assert.ok(!wasm.some((p) => p.includes('/pkg-train/')), 'the trainer loads only when Run is pressed');

  // A neuron the layer lacks is refused before anything trains.
  await page.fill('#learn-ste [data-role="neuron"]', '100');
  await page.click('#learn-ste [data-role="run"]');
  assert.match(await page.textContent('#learn-ste .learn-error'), /layer 2 has neurons 0 to 99/);

  await page.fill('#learn-ste [data-role="neuron"]', '0');
  await page.click('#learn-ste [data-role="run"]');
  await page.waitForFunction(() => /^done/.test(document.querySelector('#learn-ste [data-role="status"]').textContent), null, { timeout: 180000 });
  assert.equal(await status(page), 'done: 125 steps recorded');
  assert.ok(await page.$eval('#learn-ste .learn-error', (e) => e.hidden));

  const t = await trace(page);
  assert.deepEqual([t.layer, t.row, t.width, t.quantMin, t.quantMax], [1, 0, 100, -8, 7]);
  assert.deepEqual(t.records.map((r) => r.step), Array.from({ length: 125 }, (_, i) => i + 1));
  let outside = 0, crossings = 0, live = 0;
  t.records.forEach((r, k) => {
    assert.equal(r.zeroPoint, 0, 'weights are signed symmetric');
    for (let j = 0; j < t.width; j++) {
      const [float, fake, inside, grad] = r.v.slice(4 * j, 4 * j + 4);
      const want = fakeQuantize(float, r.scale, r.zeroPoint, t.quantMin, t.quantMax);
      assert.equal(fake, want.fake, `step ${r.step}, weight ${j}: fake_quantize(${float})`);
      assert.equal(inside === 1, want.inside, `step ${r.step}, weight ${j}: the mask`);
      // 0 or −0 (torch's dY · mask keeps the sign of a negative gradient).
      if (!want.inside) { assert.ok(grad === 0, `step ${r.step}, weight ${j}: clamped, no gradient (${grad})`); outside++; }
      if (grad !== 0) live++;
      if (k > 0) {
        const p = t.records[k - 1];
        if (Math.round(p.v[4 * j + 1] / p.scale) !== Math.round(fake / r.scale)) crossings++;
      }
    }
  });
  assert.ok(outside > 0 && crossings > 0 && live > 1000, `outside ${outside}, crossings ${crossings}, live ${live}`);

  // The staircase at the last step, with the chosen weights on it at the trainer's values.
  const points = await page.$$eval('#learn-ste .ste-stair circle[data-weight]', (cs) => cs.map((c) => ({ ...c.dataset })));
  assert.ok(points.length >= 2, `${points.length} weights marked`);
  const last = t.records[124];
  for (const p of points) {
    const j = Number(p.weight);
    assert.equal(Number(p.step), 125);
    assert.equal(Number(p.float), last.v[4 * j]);
    assert.equal(Number(p.fake), last.v[4 * j + 1]);
    assert.equal(p.inside === 'true', last.v[4 * j + 2] === 1);
    assert.equal(Number(p.grad), last.v[4 * j + 3]);
  }
  assert.equal(await page.$$eval('#learn-ste .ste-stair path.stair', (ps) => ps.length), 1);
  // Each chosen weight over the steps; the one outside the range has its clamped steps shaded.
  const charts = await page.$$eval('#learn-ste svg.ste-weight', (ss) => ss.map((s) => ({ role: s.dataset.roleWeight,
    weight: Number(s.dataset.weight), outside: Number(s.dataset.outside), shaded: s.querySelectorAll('[data-outside-step]').length,
    lines: s.querySelectorAll('polyline.ste-float, path.ste-fake, polyline.ste-gradline').length })));
  assert.equal(charts.length, 3);
  assert.equal(charts[0].role, 'outside');
  for (const c of charts) {
    assert.equal(c.lines, 3);
    const clamped = t.records.filter((r) => r.v[4 * c.weight + 2] === 0).length;
    assert.equal(c.outside, clamped);
    assert.equal(c.shaded, clamped);
  }
  assert.match(await page.textContent('#learn-ste [data-role="verdict"]'), /^Weight A was outside the clamp range at \d+ of 125 steps/);

  // Another step on the slider redraws the staircase at that step's scale.
  await page.$eval('#learn-ste [data-role="step"]', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  assert.match(await page.textContent('#learn-ste [data-role="step-out"]'), /^step 1: s = /);
  await page.$eval('#learn-ste [data-role="step"]', (e) => { e.value = '124'; e.dispatchEvent(new Event('input')); });
  await page.locator('#learn-ste').screenshot({ path: `${SCREENSHOTS}learn-ste.png` });

  // Cancel during a 3-epoch INT2 run keeps and draws the steps recorded so far.
  await page.selectOption('#learn-ste [data-role="bits"]', '2');
  await page.selectOption('#learn-ste [data-role="epochs"]', '3');
  await page.click('#learn-ste [data-role="run"]');
  await page.waitForFunction(() => /^step (\d+) of 375/.exec(document.querySelector('#learn-ste [data-role="status"]').textContent)?.[1] >= 60, null, { timeout: 180000 });
  await page.click('#learn-ste [data-role="cancel"]');
  await page.waitForFunction(() => /^cancelled at step/.test(document.querySelector('#learn-ste [data-role="status"]').textContent), null, { timeout: 60000 });
  const cut = await trace(page);
  assert.deepEqual([cut.quantMin, cut.quantMax], [-2, 1]);
  assert.ok(cut.records.length >= 60 && cut.records.length < 375, `${cut.records.length} steps kept`);
  assert.equal(await page.$eval('#learn-ste', (e) => Number(e.dataset.records)), cut.records.length);
  assert.ok(await page.$eval('#learn-ste [data-role="run"]', (b) => !b.disabled), 'Run is possible again');
  assert.deepEqual(page.errors, []);
  await page.close();
});
