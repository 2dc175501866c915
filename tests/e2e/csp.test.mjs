// End to end: "nothing leaves the browser" is enforced by the browser. The page and both of its
// workers carry index.html's Content-Security-Policy (scripts/serve.mjs sends it as a header too):
// a request to another origin is blocked before it is made, and every view still works under it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { launch } from './browser.mjs';
import { CONTENT_SECURITY_POLICY } from '../../scripts/serve.mjs';

let browser;
// Another origin on loopback that counts what reaches it: a blocked request never arrives.
let elsewhere;
let arrived = 0;

before(async () => {
  browser = await launch();
  elsewhere = createServer((req, res) => {
    arrived += 1;
    res.writeHead(200, { 'access-control-allow-origin': '*' });
    res.end('received');
  });
  await new Promise((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await browser?.close();
  elsewhere?.close();
});

// Every CSP violation the document sees, as "directive blocked-uri".
async function recordViolations(page) {
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
}

test('the policy allows only the page\'s own origin for scripts, workers, wasm and connections', () => {
  for (const directive of ["default-src 'self'", "connect-src 'self'", "worker-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"]) {
    assert.ok(CONTENT_SECURITY_POLICY.split('; ').includes(directive), `missing ${directive}`);
  }
});

test('every view works under the policy, and nothing is blocked while it does', async () => {
  const page = await browser.page();
  await recordViolations(page);
  const response = await page.goto(browser.url);
  assert.equal(response.headers()['content-security-policy'], CONTENT_SECURITY_POLICY);
  // Inspect: the worker loads the workbench and reports the sample tensor.
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  // Learn: its panels compute in the same worker.
  await page.click('#tab-learn');
  await page.waitForSelector('#learn-formats[data-ready="true"]', { state: 'attached', timeout: 60000 });
  // Run: a second worker loads the runner and the built-in model and its test digits.
  await page.click('#tab-run');
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a request to another origin is blocked in the page and in both workers; the page keeps working', async () => {
  const page = await browser.page();
  await recordViolations(page);
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  const other = `http://127.0.0.1:${elsewhere.address().port}/`;
  // The server itself answers a request that is not held to the policy (from Node).
  assert.equal(await (await fetch(other)).text(), 'received');
  arrived = 0;

  const attempt = (url) => fetch(url).then(() => 'sent', (e) => `blocked: ${e.name}`);
  assert.equal(await page.evaluate(attempt, other), 'blocked: TypeError', 'the page');
  const workers = page.workers();
  assert.equal(workers.length, 2, 'the workbench worker and the Run view\'s worker');
  for (const worker of workers) {
    assert.equal(await worker.evaluate(attempt, other), 'blocked: TypeError', worker.url());
  }
  // A worker from a blob (code that did not come from the page's origin) is refused too.
  // Chromium reports the refusal as the worker's error event (and a violation), not a throw.
  const blobWorker = await page.evaluate(() => new Promise((resolve) => {
    const worker = new Worker(URL.createObjectURL(new Blob(['postMessage("ran")'], { type: 'text/javascript' })));
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = () => resolve('refused');
  }));
  assert.equal(blobWorker, 'refused');
  assert.equal(arrived, 0, 'no request reached the other origin');
  const violations = await page.evaluate(() => window.__violations);
  assert.ok(violations.some((v) => v.startsWith('connect-src')), violations.join('\n'));
  assert.ok(violations.some((v) => v.startsWith('worker-src') || v.startsWith('script-src')), violations.join('\n'));

  // Still working: the Run view predicts a test digit after the blocked requests.
  const before = await page.evaluate(() => Number(document.querySelector('#run-predictions').dataset.requested ?? 0));
  await page.click('#run-random');
  await page.waitForFunction((prev) => {
    const t = document.querySelector('#run-predictions');
    return Number(t.dataset.rendered) > prev && t.dataset.rendered === t.dataset.requested;
  }, before, { timeout: 30000 });
  const fp32 = await page.$eval('#run-predictions tfoot tr:first-child td', (td) => td.textContent);
  assert.match(fp32, /^[0-9]$/);
  await page.close();
});
