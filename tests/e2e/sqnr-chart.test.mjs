// End to end: the SQNR-vs-bits chart's labels never overlap (issue 12, item 12: "q5_kq5_1",
// int8_asym over int8_sym). The page keeps every point as drawn (#sqnr-chart's data-points:
// canvas pixels and each label's box, or null for a point left unlabelled); the test measures
// each label's text itself, finds its ink in the canvas, and checks no two labels and no label
// and point share a pixel. A point left unlabelled is named on hover.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const compared = (page) => page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
// The selected point is drawn with radius 6, the others 4.
const RADIUS = 6;

// Every drawn label, with the text's own measured width and the dark pixels inside its box.
const drawnLabels = (page) => page.evaluate(() => {
  const chart = document.querySelector('#sqnr-chart');
  const points = JSON.parse(chart.dataset.points);
  const context = chart.getContext('2d');
  const { data } = context.getImageData(0, 0, chart.width, chart.height);
  const probe = document.createElement('canvas').getContext('2d');
  probe.font = '11px sans-serif';
  return {
    width: chart.width,
    height: chart.height,
    points: points.map((p) => {
      if (!p.label) return p;
      let ink = 0;
      for (let y = Math.floor(p.label.y0); y < Math.ceil(p.label.y1); y++) {
        for (let x = Math.floor(p.label.x0); x < Math.ceil(p.label.x1); x++) {
          const i = 4 * (y * chart.width + x);
          if (data[i] < 120 && data[i + 1] < 120 && data[i + 2] < 120) ink++;
        }
      }
      return { ...p, ink, measured: probe.measureText(p.text).width };
    }),
  };
});

function checkLayout({ points, width, height }, what) {
  const labelled = points.filter((p) => p.label);
  assert.ok(labelled.length >= 10, `${what}: only ${labelled.length} labels`);
  for (const [i, p] of labelled.entries()) {
    const b = p.label;
    assert.ok(b.x1 - b.x0 >= p.measured, `${what}: ${p.text}'s box is ${b.x1 - b.x0} px for ${p.measured} px of text`);
    assert.ok(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= width && b.y1 <= height, `${what}: ${p.text} leaves the canvas`);
    assert.ok(p.ink > 5, `${what}: no text drawn in ${p.text}'s box`);
    for (const q of labelled.slice(i + 1)) assert.ok(!overlaps(b, q.label), `${what}: ${p.text} overlaps ${q.text}`);
    for (const q of points) {
      const marker = { x0: q.x - RADIUS, y0: q.y - RADIUS, x1: q.x + RADIUS, y1: q.y + RADIUS };
      assert.ok(!overlaps(b, marker), `${what}: ${p.text}'s label covers the point of ${q.scheme}`);
    }
  }
}

test('the SQNR chart\'s labels never overlap, and every point is named on hover', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await compared(page);
  const first = await drawnLabels(page);
  assert.equal(first.points.length, 93);
  checkLayout(first, 'int8_sym selected');
  const label = (layout, id) => layout.points.find((p) => p.scheme === id).label;
  assert.ok(label(first, 'int8_sym'), 'the selected scheme is labelled');
  for (const id of ['q5_k', 'q5_1', 'int8_asym']) assert.ok(label(first, id), `${id} is labelled`);

  // The pair, with q5_k selected: both still labelled, apart.
  await page.click('#scheme-table tr[data-scheme="q5_k"]');
  await page.waitForFunction(() => JSON.parse(document.querySelector('#sqnr-chart').dataset.points ?? '[]')
    .some((p) => p.scheme === 'q5_k' && p.label) && document.querySelector('#selected-scheme-name').textContent === 'q5_k');
  const second = await drawnLabels(page);
  checkLayout(second, 'q5_k selected');
  assert.ok(label(second, 'q5_1'));

  // An unlabelled point (a group variant in the crowd) is named when hovered.
  const hidden = second.points.find((p) => !p.label);
  assert.ok(hidden, 'some point is left unlabelled in the crowd');
  await page.locator('#sqnr-chart').scrollIntoViewIfNeeded();
  const box = await page.locator('#sqnr-chart').boundingBox();
  const scale = box.width / second.width;
  await page.mouse.move(box.x + hidden.x * scale, box.y + hidden.y * scale);
  await page.waitForSelector('#sqnr-tip:not([hidden])');
  const tip = await page.locator('#sqnr-tip').textContent();
  assert.ok(tip.includes(' bits/weight'), tip);
  // The nearest point to the mouse: the hovered one, or one drawn on the same pixel.
  const named = second.points.find((p) => tip.startsWith(`${p.text}:`));
  assert.ok(named && Math.hypot(named.x - hidden.x, named.y - hidden.y) < 1.5, `hovered ${hidden.scheme}, tip: ${tip}`);
  await page.locator('#sqnr-chart').screenshot({ path: `${SCREENSHOTS}sqnr-chart-1366.png` });
  await page.mouse.move(0, 0);
  await page.waitForSelector('#sqnr-tip', { state: 'hidden' });

  await page.setViewportSize({ width: 390, height: 844 });
  // On a phone, the rightmost point's tip stays inside the window (it once ran off the right edge).
  await page.waitForFunction(() => document.querySelector('#sqnr-chart').getBoundingClientRect().width < 390);
  const narrow = await drawnLabels(page);
  const rightmost = narrow.points.reduce((a, p) => (p.x > a.x ? p : a));
  await page.locator('#sqnr-chart').scrollIntoViewIfNeeded();
  const small = await page.locator('#sqnr-chart').boundingBox();
  const k = small.width / narrow.width;
  await page.mouse.move(small.x + rightmost.x * k, small.y + rightmost.y * k);
  await page.waitForSelector('#sqnr-tip:not([hidden])');
  const tipBox = await page.locator('#sqnr-tip').boundingBox();
  assert.ok(tipBox.x >= 0 && tipBox.x + tipBox.width <= 390 && tipBox.y >= 0 && tipBox.y + tipBox.height <= 844,
    `tip inside the window: ${JSON.stringify(tipBox)}`);
  assert.match(await page.locator('#sqnr-tip').textContent(), /SQNR (∞ \(exact\)|−∞|-?[\d.e+-]+) dB$/);
  await page.screenshot({ path: `${SCREENSHOTS}sqnr-tip-390.png` });
  await page.mouse.move(0, 0);
  await page.locator('#sqnr-chart').screenshot({ path: `${SCREENSHOTS}sqnr-chart-390.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});
