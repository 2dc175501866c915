// End to end: the Train view's second QAT method (LSQ, learned step sizes) and distillation of the
// last run into a smaller student beside the same student trained on the labels alone, in the
// trainer's worker; bad distillation settings are refused with the reason; Pause holds a student,
// Cancel stops it without a row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) => page.$$eval('#train-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
const percent = (text) => Number(text.replace(' %', ''));
const points = (page) => page.$eval('#train-curves', (c) => Number(c.dataset.points ?? 0));
const rowCount = (page, n) => page.waitForFunction((n) => document.querySelectorAll('#train-results tbody tr').length === n, n, { timeout: 180000 });
const errorText = async (page, pattern) => {
  await page.waitForFunction((p) => new RegExp(p).test(document.querySelector('#train-error').textContent), pattern.source);
  return page.locator('#train-error').textContent();
};

test('LSQ INT2 trains; it distils into a 784-32-10 student beside the labels-alone twin; bad settings refused; Pause and Cancel', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  assert.equal(await page.locator('#train-distil').isDisabled(), true, 'nothing to distil before a run');

  // LSQ at 2 bits, one epoch.
  await page.selectOption('#train-method', 'lsq2');
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await rowCount(page, 1);
  const [lsq] = await rows(page);
  assert.equal(lsq[1], 'LSQ INT2');
  assert.ok(percent(lsq[2]) > 60, `LSQ INT2 ${lsq[2]}`);
  assert.match(lsq[3], /^2[0-9.]+ KB$/, '2-bit weights of 89,610 parameters: about 22 KB');

  // Refused before anything trains: no hidden layer, T ≤ 0, α outside [0, 1].
  await page.fill('#train-distil-hidden', '');
  await page.click('#train-distil');
  assert.match(await errorText(page, /hidden layer/), /the student needs at least one hidden layer/);
  await page.fill('#train-distil-hidden', '32');
  await page.fill('#train-distil-t', '0');
  await page.click('#train-distil');
  assert.match(await errorText(page, /temperature/), /temperature 0 must be a number > 0/);
  await page.fill('#train-distil-t', '4');
  await page.fill('#train-distil-alpha', '1.5');
  await page.click('#train-distil');
  assert.match(await errorText(page, /α/), /α 1\.5 must be between 0 and 1/);
  await page.fill('#train-distil-hidden', '1000');
  await page.fill('#train-distil-alpha', '0.7');
  await page.click('#train-distil');
  assert.match(await errorText(page, /larger/), /a student layer of 1000 is larger than the teacher's input of 784/);
  assert.equal((await rows(page)).length, 1);

  // 784-32-10, one epoch: the labels-alone twin first (Paused and Resumed), then the distilled student.
  await page.fill('#train-distil-hidden', '32');
  await page.fill('#train-distil-epochs', '1');
  await page.click('#train-distil');
  await page.waitForFunction(() => Number(document.querySelector('#train-curves').dataset.points ?? 0) >= 2);
  await page.click('#train-pause');
  await page.waitForFunction(() => /^paused at step/.test(document.querySelector('#train-status').textContent));
  const held = await points(page);
  await page.waitForTimeout(500); // a request already sent may still land: at most one more point
  const settled = await points(page);
  assert.ok(settled - held <= 1, `${held} → ${settled}`);
  await page.waitForTimeout(500);
  assert.equal(await points(page), settled, 'no step while paused');
  await page.click('#train-pause');
  await rowCount(page, 3);
  const [, alone, distilled] = await rows(page);
  assert.equal(alone[1], 'labels alone, FP32');
  assert.equal(distilled[1], 'distilled, FP32');
  assert.match(alone[4], /^784-32-10 student trained on the labels alone \(same seed\), 1 epoch$/);
  assert.match(distilled[4], /^784-32-10 student distilled from run 1 at T 4, α 0\.7, 1 epoch$/);
  // 784·32 + 32 + 32·10 + 10 = 25,450 parameters × 4 bytes.
  assert.equal(alone[3], '99.41 KB');
  assert.equal(distilled[3], '99.41 KB');
  for (const r of [alone, distilled]) assert.ok(percent(r[2]) > 70, `${r[1]} ${r[2]}`);
  assert.notEqual(alone[2], distilled[2], 'the teacher changes what the student learns');
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.screenshot({ path: `${SCREENSHOTS}train-distil-1366.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SCREENSHOTS}train-distil-390.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // The distilled student is the last run now: distil it again (QAT INT4 student, no twin), then Cancel.
  assert.equal(await page.locator('#train-distil').isDisabled(), false);
  await page.selectOption('#train-distil-method', 'qat4');
  await page.uncheck('#train-distil-baseline');
  await page.fill('#train-distil-hidden', '16');
  // Enough epochs that the run is still going when Cancel is pressed (3 could finish first).
  await page.fill('#train-distil-epochs', '100');
  await page.click('#train-distil');
  await page.waitForFunction(() => Number(document.querySelector('#train-curves').dataset.points ?? 0) >= 2);
  await page.click('#train-cancel');
  assert.match(await page.locator('#train-status').textContent(), /^cancelled at step \d+/);
  await page.waitForTimeout(300);
  assert.equal((await rows(page)).length, 3);
  assert.equal(await page.locator('#train-distil').isDisabled(), true, 'a cancelled student cannot be distilled');
  assert.deepEqual(page.errors, []);
  await page.close();
});
