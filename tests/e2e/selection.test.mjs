// End to end: a new selection never shows the previous selection's numbers (issue 12, item 1).
// Every text that appears in the selected-scheme report and the All-schemes table, and every
// picture of the SQNR chart, is recorded in the page with the tensor name shown at that moment;
// each must be empty or that tensor's own, never another tensor's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const compared = (page) => page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });

// What the panels show now: the title, the report's and table's text and the chart's pixels.
function snapshotSource() {
  window.__snapshot = () => {
    const chart = document.querySelector('#sqnr-chart');
    const pixels = chart.getContext('2d').getImageData(0, 0, chart.width, chart.height).data;
    let hash = 0;
    for (let i = 0; i < pixels.length; i += 7) hash = (hash * 31 + pixels[i]) | 0;
    return {
      title: document.querySelector('#tensor-title').textContent,
      stats: document.querySelector('#scheme-stats').textContent,
      table: document.querySelector('#scheme-table tbody').textContent,
      chart: hash,
      tableBusy: document.querySelector('#scheme-table').getAttribute('aria-busy'),
      chartBusy: document.querySelector('#sqnr-chart').getAttribute('aria-busy'),
      statsBusy: document.querySelector('#scheme-stats').getAttribute('aria-busy'),
      compared: document.body.dataset.compared,
    };
  };
  window.__blankChart = (() => {
    const c = document.createElement('canvas');
    c.width = document.querySelector('#sqnr-chart').width;
    c.height = document.querySelector('#sqnr-chart').height;
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let hash = 0;
    for (let i = 0; i < pixels.length; i += 7) hash = (hash * 31 + pixels[i]) | 0;
    return hash;
  })();
}

// Records a snapshot on every DOM change in the tensor section and on every animation frame.
function startRecording() {
  window.__records = [];
  const record = () => window.__records.push(window.__snapshot());
  new MutationObserver(record).observe(document.querySelector('#tensor'), { subtree: true, childList: true, characterData: true, attributes: true });
  const frame = () => { record(); if (window.__recording) requestAnimationFrame(frame); };
  window.__recording = true;
  requestAnimationFrame(frame);
}

const item = (page, name) => page.locator('#tensor-list li').filter({ has: page.locator('span', { hasText: new RegExp(`^${name}$`) }) });

test('selecting another tensor mid-comparison never shows the previous tensor\'s numbers', async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30000 });
  await page.evaluate(snapshotSource);
  await compared(page);
  const truth = {};
  truth['sample:normal'] = await page.evaluate(() => window.__snapshot());
  await page.selectOption('#sample-kind', 'normal_outliers');
  await page.click('#sample-add');
  await page.waitForFunction(() => document.querySelector('#tensor-title').textContent === 'sample:normal_outliers');
  await compared(page);
  truth['sample:normal_outliers'] = await page.evaluate(() => window.__snapshot());
  const [a, b] = [truth['sample:normal'], truth['sample:normal_outliers']];
  assert.notEqual(a.table, b.table, 'the two tensors have different comparisons');
  assert.notEqual(a.stats, b.stats);
  assert.notEqual(a.chart, b.chart);

  await page.evaluate(startRecording);
  // Select the other tensor (its comparison starts), then switch back while it runs.
  await item(page, 'sample:normal').click();
  await page.waitForFunction(() => !document.querySelector('#progress-row').hidden && Number(document.querySelector('#progress').value) > 0, null, { timeout: 20000 });
  await page.screenshot({ path: `${SCREENSHOTS}selection-busy.png`, fullPage: true });
  assert.equal(await page.evaluate(() => document.body.dataset.compared), 'false', 'the comparison of every scheme is still under way');
  await item(page, 'sample:normal_outliers').click();
  await compared(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${SCREENSHOTS}selection-done.png`, fullPage: true });
  const { records, blank } = await page.evaluate(() => { window.__recording = false; return { records: window.__records, blank: window.__blankChart }; });

  assert.ok(records.length > 20, `recorded ${records.length} snapshots`);
  // Every kind of wrong snapshot, once each with its first example.
  const wrong = new Map();
  const check = (ok, kind, r, example = '') => { if (!ok && !wrong.has(kind)) wrong.set(kind, `${kind} (while "${r.title}" was shown) ${example}`.trim()); };
  let emptyTable = 0;
  for (const r of records) {
    const own = truth[r.title];
    assert.ok(own, `unexpected title ${r.title}`);
    check(r.stats === '' || r.stats === own.stats, 'the scheme report showed another tensor\'s numbers', r, r.stats.slice(0, 80));
    check(r.table === '' || r.table === own.table, 'the All-schemes table showed another tensor\'s rows', r, r.table.slice(0, 80));
    check(r.chart === blank || r.chart === own.chart, 'the SQNR chart showed another tensor\'s points', r);
    if (r.table === '') {
      emptyTable++;
      check(r.tableBusy === 'true' && r.chartBusy === 'true', 'the emptied table and chart are not marked busy', r);
    }
    if (r.stats === '') check(r.statsBusy === 'true', 'the emptied scheme report is not marked busy', r);
  }
  assert.deepEqual([...wrong.values()], []);
  assert.ok(emptyTable > 0, 'the table was cleared at least once');
  const last = records.at(-1);
  assert.equal(last.title, 'sample:normal_outliers');
  assert.equal(last.table, b.table);
  assert.equal(last.stats, b.stats);
  assert.equal(last.tableBusy, 'false');
  assert.equal(last.statsBusy, 'false');
  assert.equal(await page.locator('.busy-note:not([hidden])').count(), 0, 'no computing note once done');
  assert.deepEqual(page.errors, []);
  await page.close();
});
