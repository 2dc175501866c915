// The big-file bench (part of `npm run bench`; alone: `npm run bench -- --bigfiles`, or
// `node scripts/bench-bigfiles.mjs` on an already built www/pkg). Writes a 2 GB safetensors file
// and a 2 GB GGUF to a temporary directory (a repeated pattern, never held in memory), opens each
// in a fresh page through the file input as a visitor would, and reports:
//   - the wasm memory high-water mark (memory.buffer.byteLength: wasm memory never shrinks, so
//     its size after a step is that step's peak) before, after opening (header + streamed
//     statistics of every tensor), after the streamed histogram of a tensor over the comparison
//     cap, and after one 67M-value tensor is decoded and compared with int8_sym;
//   - the time to open, and the longest main-thread task while opening, in CPU time (Chrome's
//     trace) and wall time (PerformanceObserver 'longtask': 0 means none reached 50 ms); see
//     tests/e2e/mainthread.mjs.
// The files are deleted afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch } from '../tests/e2e/browser.mjs';
import { blockPattern, rng, toBf16, writeGguf, writeSafetensors } from '../tests/e2e/bigfiles-make.mjs';
import { watchMainThread } from '../tests/e2e/mainthread.mjs';

const MB = 1e6;

function bf16Pattern(values, seed) {
  const r = rng(seed);
  return Buffer.from(new Uint16Array(values).map(() => toBf16(r.normal())).buffer);
}

async function makeSafetensors(path) {
  const small = Buffer.from(new Float32Array(64 * 1024).map(rng(3).normal).buffer);
  const pattern = bf16Pattern(4 << 20, 5);
  const tensors = [
    { name: 'a.small', dtype: 'F32', shape: [64, 1024], bytes: small.length, pattern: small },
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [151936, 1536], bytes: 151936 * 1536 * 2, pattern },
  ];
  for (let i = 0; i < 12; i++) tensors.push({ name: `model.layers.${i}.mlp.weight`, dtype: 'BF16', shape: [8192, 8192], bytes: 8192 * 8192 * 2, pattern });
  return { size: await writeSafetensors(path, tensors), big: 'model.embed_tokens.weight', mid: 'model.layers.0.mlp.weight' };
}

async function makeGguf(path) {
  const small = Buffer.from(new Float32Array(64 * 1024).map(rng(3).normal).buffer);
  const q8 = blockPattern('q8_0', 1 << 16, 7), q4k = blockPattern('q4_k', 1 << 14, 9);
  const tensors = [
    { name: 'a.small', shape: [64, 1024], type: 'f32', pattern: small },
    { name: 'token_embd.weight', shape: [151936, 1536], type: 'q8_0', pattern: q8 },
  ];
  for (let i = 0; i < 24; i++) tensors.push({ name: `blk.${i}.ffn_up.weight`, shape: [8192, 8192], type: 'q8_0', pattern: q8 });
  for (let i = 0; i < 4; i++) tensors.push({ name: `blk.${i}.ffn_down.weight`, shape: [8192, 8192], type: 'q4_k', pattern: q4k });
  return { size: await writeGguf(path, tensors), big: 'token_embd.weight', mid: 'blk.0.ffn_up.weight' };
}

async function inspectWorker(page) {
  for (let i = 0; i < 100; i++) {
    for (const w of page.workers()) {
      if (await w.evaluate(() => typeof self.quantscopeMemory === 'function').catch(() => false)) return w;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the Inspect worker did not start');
}

async function select(page, name, state) {
  await page.locator('#tensor-list li', { hasText: name }).first().click();
  await page.waitForFunction(([name, state]) => document.querySelector('#tensor-title')?.textContent === name
    && document.body.dataset.compared === state, [name, state], { timeout: 10 * 60 * 1000 });
}

async function measure(browser, path, { size, big, mid }) {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-compared="true"]', { state: 'attached', timeout: 5 * 60 * 1000 });
  const worker = await inspectWorker(page);
  const memory = () => worker.evaluate(() => self.quantscopeMemory());
  const before = await memory();
  const stopWatching = await watchMainThread(page);
  const t0 = performance.now();
  await page.setInputFiles('#file-input', path);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1
    && document.querySelector('#tensor-title')?.textContent === 'a.small' && document.body.dataset.compared === 'true',
  null, { timeout: 20 * 60 * 1000 });
  const openSeconds = (performance.now() - t0) / 1000;
  const afterOpen = await memory();
  const main = await stopWatching();
  await select(page, big, 'skipped');
  const afterHistogram = await memory();
  await select(page, mid, 'manual');
  const afterCompare = await memory();
  const errors = [...page.errors, await page.locator('#error').textContent()].filter(Boolean);
  await page.close();
  return { size, openSeconds, before, afterOpen, afterHistogram, afterCompare, main, errors };
}

export async function benchBigFiles() {
  const dir = await mkdtemp(join(tmpdir(), 'quantscope-bench-'));
  const browser = await launch();
  const rows = [];
  try {
    for (const [label, make, file] of [['safetensors (BF16)', makeSafetensors, 'bench.safetensors'], ['GGUF (Q8_0, Q4_K)', makeGguf, 'bench.gguf']]) {
      const path = join(dir, file);
      console.error(`[bench] writing a 2 GB ${label} file`);
      const layout = await make(path);
      console.error(`[bench] opening it in the page (${(layout.size / MB).toFixed(0)} MB)`);
      rows.push({ label, ...(await measure(browser, path, layout)) });
      await rm(path, { force: true });
    }
  } finally {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
  const mb = (b) => `${(b / MB).toFixed(0)} MB`;
  console.log('\nbig files: wasm memory high-water mark (memory.buffer.byteLength), opened through the file input');
  console.log(`${'file'.padEnd(20)} ${'size'.padStart(8)} ${'open'.padStart(7)} ${'before'.padStart(8)} ${'opened'.padStart(8)} ` +
    `${'+histogram'.padStart(11)} ${'+67M compare'.padStart(13)} ${'main thread: longest task (CPU / wall)'.padStart(40)}`);
  for (const r of rows) {
    console.log(`${r.label.padEnd(20)} ${mb(r.size).padStart(8)} ${`${r.openSeconds.toFixed(1)} s`.padStart(7)} ${mb(r.before).padStart(8)} ` +
      `${mb(r.afterOpen).padStart(8)} ${mb(r.afterHistogram).padStart(11)} ${mb(r.afterCompare).padStart(13)} ` +
      `${`${r.main.longestCpuMs.toFixed(0)} ms / ${r.main.longestWallMs.toFixed(0)} ms`.padStart(40)}`);
    if (r.errors.length) console.log(`  errors: ${r.errors.join('; ')}`);
  }
  console.log('opened = header + every tensor\'s statistics streamed; +histogram = a tensor over the comparison cap, counted ' +
    'from the file; +67M compare = a [8192, 8192] tensor decoded (256 MiB of f32) and compared with int8_sym. ' +
    'main thread while opening: the longest task\'s CPU time (Chrome trace) and wall time (PerformanceObserver ' +
    '\'longtask\', 0 = no task reached 50 ms; wall time stretches when the machine is busy).');
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await benchBigFiles();
