// `npm start` serves the page before every wasm module is built (scripts/start.mjs): the server
// holds a request for a module still being built until build-wasm.sh announces it, and answers
// 503 with the reason if its build failed, never with an old or half-written file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { finishedFolder, ModuleBuilds } from '../../scripts/module-builds.mjs';
import { startServer } from '../../scripts/serve.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function serving(folders, body) {
  const modules = new ModuleBuilds(folders);
  const server = await startServer(0, { modules });
  try {
    await body(modules, `http://127.0.0.1:${server.address().port}`);
  } finally {
    server.close();
  }
}

test("build-wasm.sh's size line announces its folder", () => {
  // The line as the script prints it once wasm-opt has written a module's last file.
  const script = readFileSync(join(ROOT, 'scripts/build-wasm.sh'), 'utf8');
  const echo = script.match(/echo "(\[build\] \$out\/quantscope_bg\.wasm: [^"]*)"/)?.[1];
  assert.ok(echo, 'build-wasm.sh prints a [build] size line');
  const line = (out) => echo.replace('$out', out).replace('$size', '123456').replace('$gz', '54321');
  assert.equal(finishedFolder(line('www/pkg')), 'pkg');
  assert.equal(finishedFolder(line('www/pkg-train-export')), 'pkg-train-export');
  assert.equal(finishedFolder('   Compiling quantscope-core v0.1.0'), null);
});

test('every module the page imports is one build-wasm.sh builds', () => {
  const listed = execFileSync('bash', ['scripts/build-wasm.sh', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  const imported = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('pkg') && entry.name !== 'bench') walk(path);
      } else if (entry.name.endsWith('.js')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\.\.?\/(?:\.\.\/)?(pkg(?:-[a-z-]+)?)\/quantscope\.js/g)) imported.add(m[1]);
      }
    }
  };
  walk(join(ROOT, 'www'));
  assert.ok(imported.size >= 10, `found the page's module imports (${[...imported]})`);
  for (const folder of imported) assert.ok(listed.includes(folder), `${folder} is imported by the page but not built`);
});

test('the relaxed runner, which the page falls back from, is answered 404 at once while it is built', async () => {
  await serving(['pkg-run-relaxed', 'pkg-plot'], async (modules, base) => {
    const early = await fetch(`${base}/www/pkg-run-relaxed/quantscope.js`);
    assert.equal(early.status, 404);
    assert.match(await early.text(), /still being built/);
    modules.finished('pkg-run-relaxed');
    assert.equal((await fetch(`${base}/www/pkg-run-relaxed/quantscope.js`)).status, 200);
  });
});

test('a request for a module still being built waits for it', async () => {
  await serving(['pkg-plot'], async (modules, base) => {
    const response = fetch(`${base}/www/pkg-plot/quantscope.js`);
    const first = await Promise.race([response.then(() => 'answered'), sleep(300).then(() => 'waiting')]);
    assert.equal(first, 'waiting');
    // Another module, and the page itself, are served meanwhile.
    assert.equal((await fetch(`${base}/www/pkg/quantscope.js`)).status, 200);
    assert.equal((await fetch(`${base}/index.html`)).status, 200);
    modules.finished('pkg-plot');
    const res = await response;
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(join(ROOT, 'www/pkg-plot/quantscope.js')));
  });
});

test('a module whose build failed is answered with the reason, not its old files', async () => {
  await serving(['pkg-read', 'pkg-lm'], async (modules, base) => {
    const waiting = fetch(`${base}/www/pkg-lm/quantscope_bg.wasm`);
    modules.finished('pkg-read');
    modules.failAll('the build failed (exit 101)');
    const res = await waiting;
    assert.equal(res.status, 503);
    assert.match(await res.text(), /www\/pkg-lm could not be built: the build failed \(exit 101\)/);
    // Asked again later: still refused, while the module that was built is served.
    assert.equal((await fetch(`${base}/www/pkg-lm/quantscope.js`)).status, 503);
    assert.equal((await fetch(`${base}/www/pkg-read/quantscope.js`)).status, 200);
    assert.deepEqual(modules.waiting, []);
  });
});

test('the page paints and compares its sample with only the first-paint modules built (scripts/start.mjs)', async () => {
  const { launch, SCREENSHOTS } = await import('./browser.mjs');
  const list = execFileSync('bash', ['scripts/build-wasm.sh', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  const first = readFileSync(join(ROOT, 'scripts/start.mjs'), 'utf8').match(/const FIRST_PAINT = (\[[^\]]*\])/)[1];
  const later = list.filter((f) => !JSON.parse(first.replaceAll("'", '"')).includes(f));
  assert.equal(later.length, list.length - 3);
  const modules = new ModuleBuilds(later);
  const browser = await launch({ modules });
  try {
    const page = await browser.page();
    await page.goto(browser.url);
    await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 120000 });
    await page.waitForSelector('#tensor .scheme-row', { timeout: 60000 });
    assert.ok(await page.locator('#tensor .scheme-row').count() >= 1, 'the Inspect view lists the schemes');
    await page.screenshot({ path: `${SCREENSHOTS}served-while-building.png` });
    // The Run view waits for its module, then works once it is announced.
    await page.click('#tab-run');
    await sleep(500);
    assert.doesNotMatch(await page.locator('#run-model-status').textContent(), /held-out test digits/);
    for (const folder of later) modules.finished(folder);
    await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});
