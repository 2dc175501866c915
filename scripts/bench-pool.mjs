// The whole-model comparison and the GGUF exports on 1 worker and on the pool (part of `npm run
// bench`; alone: `npm run bench -- --pool`, or `node scripts/bench-pool.mjs` on an already built
// www/pkg and www/pkg-mix). Writes a safetensors model of 8 tensors of 512 × 1024 f32 (4M
// parameters, seeded normal values) to a temporary directory, opens it in a fresh page for each
// pool size (1, 2, and the machine's core count when larger) through the file input, runs
// *Compare every scheme on the model*, then exports it as q4_k, and reads the times the page
// reports; then the built-in larger language model (tests/fixtures/tiny_lm_large, 5M
// parameters) as llama.cpp's Q4_K_M mix. The speed-up is the 1-worker time over each.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch } from '../tests/e2e/browser.mjs';
import { rng, writeSafetensors } from '../tests/e2e/bigfiles-make.mjs';

const LARGE_LM = new URL('../tests/fixtures/tiny_lm_large/tiny-lm-large-f16.gguf', import.meta.url).pathname;

// Exports the page's loaded file as `type` (a ggml type or a llama.cpp mix) and returns the
// seconds the page reports, checking it used `workers` workers.
async function exportTime(page, type, workers) {
  await page.selectOption('#gguf-type', type);
  await page.evaluate(() => { delete document.body.dataset.ggufExported; });
  await Promise.all([page.waitForEvent('download', { timeout: 30 * 60000 }), page.click('#gguf-export')]);
  await page.waitForSelector('#gguf-result:not([hidden])');
  const [, seconds, used] = (await page.locator('#gguf-result').textContent()).match(/written in ([\d.]+) s on (\d+) workers?/);
  if (Number(used) !== Math.min(workers, 8)) throw new Error(`the ${type} export used ${used} workers, not ${workers}`);
  return Number(seconds);
}

export async function benchPool() {
  const dir = await mkdtemp(join(tmpdir(), 'quantscope-pool-'));
  const path = join(dir, 'model.safetensors');
  const tensors = Array.from({ length: 8 }, (_, i) => {
    const pattern = Buffer.from(new Float32Array(512 * 1024).map(rng(10 + i).normal).map((v) => v * 0.02).buffer);
    return { name: `layers.${i}.weight`, dtype: 'F32', shape: [512, 1024], bytes: pattern.length, pattern };
  });
  await writeSafetensors(path, tensors);
  const browser = await launch();
  const sizes = [...new Set([1, 2, Math.max(2, cpus().length)])];
  const results = [];
  try {
    for (const workers of sizes) {
      const page = await browser.page();
      await page.goto(`${browser.url}#inspect?workers=${workers}`);
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
      await page.setInputFiles('#file-input', path);
      await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 60000 });
      await page.click('#model-compare');
      await page.waitForSelector('body[data-model-compared="true"]', { state: 'attached', timeout: 30 * 60000 });
      const text = await page.locator('#model-coverage').textContent();
      const [, pairs, used, seconds] = text.match(/([\d,]+) tensor × scheme round trips on (\d+) workers? in ([\d.]+) s/);
      const q4k = await exportTime(page, 'q4_k', workers);
      await page.close();
      const mixPage = await browser.page();
      await mixPage.goto(`${browser.url}#inspect?workers=${workers}`);
      await mixPage.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
      await mixPage.setInputFiles('#file-input', LARGE_LM);
      await mixPage.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 60000 });
      const mix = await exportTime(mixPage, 'Q4_K_M', workers);
      await mixPage.close();
      results.push({ workers: Number(used), pairs, seconds: Number(seconds), q4k, mix });
    }
  } finally {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\n8 × 512 × 1024 f32 (4M parameters): the whole-model comparison (${results[0].pairs} round trips) and the q4_k export;` +
    ` the 5M-parameter tiny LM (F16 GGUF) as Q4_K_M; ${cpus().length} cores; one run; seconds (speed-up over 1 worker)`);
  console.log(`${'workers'.padEnd(8)} ${'compare'.padStart(16)} ${'q4_k export'.padStart(16)} ${'Q4_K_M mix'.padStart(16)}`);
  const cell = (s, one) => `${s.toFixed(2)} (${(one / s).toFixed(2)}×)`.padStart(16);
  for (const r of results) {
    console.log(`${String(r.workers).padEnd(8)} ${cell(r.seconds, results[0].seconds)} ${cell(r.q4k, results[0].q4k)} ${cell(r.mix, results[0].mix)}`);
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await benchPool();
