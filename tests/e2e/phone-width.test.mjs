// End to end: every view fits a phone (390 px wide) — nothing lays out wider than the screen,
// so nothing runs off it; wide tables scroll inside their own boxes. Each view is checked with
// its content loaded (the Run view with its model and a prediction).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const WIDTH = 390;

// The views are the nav's tabs, whatever they are.
async function views(page) {
  return page.$$eval('#views [role="tab"]', (tabs) => tabs.map((t) => t.id.replace(/^tab-/, '')));
}

// Elements wider than the screen's right edge, for the message.
const overflowing = (page) => page.evaluate((width) => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > width + 1 && e.offsetParent !== null && !e.closest('.table-wrap, [hidden]'))
  .slice(0, 8).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${String(e.className).split(' ')[0]}` : ''} (${Math.round(e.getBoundingClientRect().right)} px)`), WIDTH);

test(`every view fits ${WIDTH} px`, async () => {
  const page = await browser.page();
  await page.setViewportSize({ width: WIDTH, height: 844 });
  await page.goto(browser.url);
  await page.waitForSelector('#tensor-list li, #tensor-list tr', { timeout: 60000 }).catch(() => {});
  const names = await views(page);
  assert.ok(names.includes('run') && names.includes('inspect') && names.includes('learn'), names.join(', '));
  const wide = [];
  for (const view of names) {
    await page.click(`#tab-${view}`);
    if (view === 'run') {
      await page.waitForFunction(() => document.querySelector('#run-predictions')?.dataset.rendered, null, { timeout: 60000 });
    }
    await page.waitForTimeout(500);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: `${SCREENSHOTS}phone-${view}.png`, fullPage: true });
    if (scrollWidth > WIDTH) wide.push(`${view}: ${scrollWidth} px wide (${(await overflowing(page)).join(', ')})`);
  }
  assert.deepEqual(wide, [], `views wider than ${WIDTH} px`);
  await page.close();
});
