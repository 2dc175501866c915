// The whole-model comparison on 1 worker and on the pool (part of `npm run bench`; alone:
// `npm run bench -- --pool`, or `node scripts/bench-pool.mjs` on an already built www/pkg).
// Writes a safetensors model of 8 tensors of 512 × 1024 f32 (4M parameters, seeded normal
// values) to a temporary directory, opens it in a fresh page for each pool size (1, 2, and the
// machine's core count when larger) through the file input, runs *Compare every scheme on the
// model* and reads the time the page reports. The speed-up is the 1-worker time over each.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch } from '../tests/e2e/browser.mjs';
import { rng, writeSafetensors } from '../tests/e2e/bigfiles-make.mjs';

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
      results.push({ workers: Number(used), pairs, seconds: Number(seconds) });
      await page.close();
    }
  } finally {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nwhole-model comparison, 8 × 512 × 1024 f32 (4M parameters), ${results[0].pairs} round trips; ${cpus().length} cores; one run`);
  console.log(`${'workers'.padEnd(8)} ${'seconds'.padStart(8)} ${'speed-up'.padStart(9)}`);
  for (const r of results) console.log(`${String(r.workers).padEnd(8)} ${r.seconds.toFixed(2).padStart(8)} ${(results[0].seconds / r.seconds).toFixed(2).padStart(8)}×`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await benchPool();
