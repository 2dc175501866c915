// End to end: a heavy-tailed tensor's far values show on a log count axis (issue 12, item 18).
// sample:normal_outliers is N(0, 0.02²) with 0.1 % of its values at ±20σ: on a linear axis
// those bins are ~30 values against a peak of ~10,000, under a pixel high; with *log count*
// they are bars. Bars are found by their colour in the canvas's pixels, column by column.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The x pixel columns of #histogram with a bar in its lower half (the legend's swatches are
// above): a coloured pixel — the series' blue, orange, or both overlapping — where the axes,
// grid and text are grey.
const barColumns = (page) => page.evaluate(() => {
  const c = document.querySelector('#histogram');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const columns = [];
  for (let x = 0; x < c.width; x++) {
    for (let y = Math.floor(c.height / 2); y < c.height; y++) {
      const i = 4 * (y * c.width + x);
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) { columns.push(x); break; }
    }
  }
  return columns;
});

const drawn = (page) => page.waitForFunction(() => document.querySelector('#histogram').getAttribute('aria-busy') === 'false');

test('log count shows the tails that a linear axis hides, and the URL keeps it', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${browser.url}#inspect?tensor=sample:normal_outliers`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await drawn(page);
  assert.equal(await page.locator('#log-counts').isChecked(), false);
  const linear = await barColumns(page);
  await page.locator('#histogram').screenshot({ path: `${SCREENSHOTS}histogram-linear-1366.png` });

  await page.check('#log-counts');
  await page.waitForFunction(() => location.hash.includes('counts=log'));
  await drawn(page);
  // The redraw follows the answer: the bars spread out once the log axis is drawn.
  let log = await barColumns(page);
  for (let i = 0; i < 50 && log.length <= linear.length; i++) { await page.waitForTimeout(100); log = await barColumns(page); }
  await page.locator('#histogram').screenshot({ path: `${SCREENSHOTS}histogram-log-1366.png` });
  const span = (cols) => cols[cols.length - 1] - cols[0];
  // The outliers sit at both ends of the value range, the bulk in its middle fifth.
  assert.ok(span(log) > 2.5 * span(linear), `log bars span ${span(log)} px, linear ${span(linear)} px`);
  const width = await page.evaluate(() => document.querySelector('#histogram').width);
  assert.ok(log[0] < 0.2 * width && log[log.length - 1] > 0.8 * width, `log bars from ${log[0]} to ${log[log.length - 1]} px of ${width}`);
  assert.match(await page.locator('#histogram').getAttribute('aria-label'), /Histogram/);
  for (const w of [1366, 390]) {
    await page.setViewportSize({ width: w, height: 900 });
    await page.locator('#histogram').screenshot({ path: `${SCREENSHOTS}histogram-log-${w}.png` });
  }

  // A link with counts=log opens with it on.
  const again = await browser.page();
  await again.goto(`${browser.url}#inspect?tensor=sample:normal_outliers&counts=log`);
  await again.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await drawn(again);
  assert.equal(await again.locator('#log-counts').isChecked(), true);
  const shared = await barColumns(again);
  assert.ok(span(shared) > 2.5 * span(linear), `shared link: bars span ${span(shared)} px`);
  assert.deepEqual([...page.errors, ...again.errors], []);
  await again.close();
  await page.close();
});
