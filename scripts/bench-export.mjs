// The export bench (`npm run bench -- --export`, or `node scripts/bench-export.mjs` on an already
// built www/pkg and www/pkg-mix): a ~1 GB llama-shaped F16 GGUF (scripts/bench-export-source.py,
// TinyLlama's layer width, 9 layers) exported as Q4_K_M in the page as a person does it — opened
// through the file input, Inspect → Download model as GGUF → Q4_K_M → Download — and beside it the
// pinned llama-quantize (one thread) on the same file. Reports:
//   - the page: the export's wall time (click to download), that the progress bar advanced,
//     that Cancel stopped a first export (no file, no error) and a second export then worked; the
//     mixer module's wasm memory at the end (wasm memory never shrinks: its high-water mark) and
//     the browser processes' peak RSS (VmHWM in /proc, of every process under this node);
//   - llama-quantize: wall time and peak RSS (/usr/bin/time -v);
//   - whether the page's file is byte for byte llama-quantize's (SHA-256).
// Everything is written to a temporary directory (~1.7 GB at most) and deleted. Never in `npm test`.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch } from '../tests/e2e/browser.mjs';

const MB = 1e6;
const TYPE = 'Q4_K_M';
const python = process.env.QUANTSCOPE_LLAMA_PYTHON ?? '/work/venv-llama/bin/python';
const llamaBin = join(process.env.LLAMA_BUILD_DIR ?? join(homedir(), '.cache', 'quantscope-llama'), 'build', 'bin');
const HOW = 'make them with `python3 -m venv /work/venv-llama && /work/venv-llama/bin/pip install -r scripts/fixtures/requirements-llama.txt '
  + '&& /work/venv-llama/bin/python scripts/fixtures/build_llama.py` (QUANTSCOPE_LLAMA_PYTHON and LLAMA_BUILD_DIR point elsewhere)';

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

// Peak RSS (VmHWM) of every process descended from this one: the browser and its renderers.
async function descendantsPeakRss() {
  const parent = new Map();
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = s.slice(s.lastIndexOf(')') + 2).split(' ')[1];
    if (ppid) parent.set(Number(pid), Number(ppid));
  }
  const under = (pid) => { for (let p = parent.get(pid); p; p = parent.get(p)) if (p === process.pid) return true; return false; };
  const peaks = [];
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) peaks.push(Number(hwm[1]) * 1024);
  }
  return { max: Math.max(0, ...peaks), sum: peaks.reduce((a, b) => a + b, 0), processes: peaks.length };
}

function llamaQuantize(source, out) {
  const r = spawnSync('/usr/bin/time', ['-v', join(llamaBin, 'llama-quantize'), source, out, TYPE, '1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`llama-quantize failed: ${r.stderr.split('\n').slice(-5).join('\n')}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]), peakRss: Number(rss[1]) * 1024 };
}

async function mixerWorker(page) {
  for (let i = 0; i < 600; i++) {
    for (const w of page.workers()) {
      if (await w.evaluate(() => typeof self.quantscopeMemory === 'function').catch(() => false)) return w;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the Inspect worker did not start');
}

async function inPage(browser, source, dir) {
  const page = await browser.page();
  await page.goto(browser.url);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 5 * 60 * 1000 });
  const worker = await mixerWorker(page);
  await page.setInputFiles('#file-input', source);
  await page.waitForFunction(() => document.querySelectorAll('#file-list details').length === 1, null, { timeout: 10 * 60 * 1000 });
  await page.selectOption('#gguf-type', TYPE);
  await page.waitForFunction((t) => document.querySelector('#gguf-preview-summary')?.textContent.includes(`as ${t}:`), TYPE, { timeout: 5 * 60 * 1000 });
  const summary = await page.locator('#gguf-preview-summary').textContent();
  const progress = () => page.evaluate(() => ({ value: document.querySelector('#gguf-progress').value, max: document.querySelector('#gguf-progress').max }));

  // A first export, cancelled once the bar has moved: the row goes, no file comes, no error shows.
  let downloads = 0;
  page.on('download', () => { downloads++; });
  await page.click('#gguf-export');
  // Past the header and into the tensors (5 % of the file), so Cancel stops a tensor half-way.
  await page.waitForFunction(() => { const p = document.querySelector('#gguf-progress'); return p.value > 0.05 * p.max; }, null, { timeout: 10 * 60 * 1000 });
  const atCancel = await progress();
  await page.click('#gguf-cancel');
  await page.waitForSelector('#gguf-progress-row', { state: 'hidden', timeout: 5 * 60 * 1000 });
  await new Promise((r) => setTimeout(r, 1000));
  const cancelled = downloads === 0 && !(await page.locator('#error').textContent()).trim();

  // The export that counts: progress sampled while it runs, timed from click to the download.
  const samples = [];
  const t0 = performance.now();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60 * 60 * 1000 }),
    page.click('#gguf-export'),
    (async () => {
      for (let i = 0; i < 20 && samples.length < 5; i++) {
        await new Promise((r) => setTimeout(r, 2000));
        const p = await progress().catch(() => null);
        if (p && p.value > 0 && p.value < p.max) samples.push(p.value);
      }
    })(),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const out = join(dir, 'page.gguf');
  await download.saveAs(out);
  await download.delete();
  const mixerMemory = await worker.evaluate(async () => (await import(new URL('pkg-mix/quantscope.js', self.location.href).href)).wasm_memory_bytes());
  const workbenchMemory = await worker.evaluate(() => self.quantscopeMemory());
  const errors = [...page.errors, await page.locator('#error').textContent()].filter((e) => e?.trim());
  const rss = await descendantsPeakRss();
  await page.close();
  return { out, seconds, summary, atCancel, cancelled, advanced: samples.length > 1 && samples.every((v, i) => !i || v >= samples[i - 1]),
    samples, mixerMemory, workbenchMemory, rss, errors };
}

export async function benchExport() {
  if (!existsSync(python) || !existsSync(join(llamaBin, 'llama-quantize'))) {
    console.log(`\nexport bench: needs gguf-py (${python}) and llama-quantize (${llamaBin}); ${HOW}`);
    return null;
  }
  const dir = await mkdtemp(join(tmpdir(), 'quantscope-export-'));
  let browser;
  try {
    const source = join(dir, 'bench-1b.f16.gguf');
    console.error('[bench] writing a ~1 GB llama-shaped F16 GGUF');
    execFileSync(python, ['scripts/bench-export-source.py', source], { stdio: 'inherit' });
    const size = (await stat(source)).size;
    console.error(`[bench] llama-quantize ${TYPE}, one thread`);
    const llama = llamaQuantize(source, join(dir, 'llama.gguf'));
    const llamaSha = await sha256(join(dir, 'llama.gguf'));
    const llamaSize = (await stat(join(dir, 'llama.gguf'))).size;
    await rm(join(dir, 'llama.gguf'));
    console.error(`[bench] the page: ${TYPE} export (cancelled once, then whole)`);
    browser = await launch();
    const page = await inPage(browser, source, dir);
    const pageSha = await sha256(page.out);
    const pageSize = (await stat(page.out)).size;
    const mb = (b) => `${(b / MB).toFixed(0)} MB`;
    console.log(`\nexport: a ${mb(size)} llama-shaped F16 GGUF (n_embd 2048, n_ff 5632, 9 layers, vocabulary 32000) as ${TYPE}`);
    console.log(`  page (SIMD128, one worker): ${page.seconds.toFixed(1)} s; mixer wasm memory ${mb(page.mixerMemory)}, `
      + `workbench wasm memory ${mb(page.workbenchMemory)}; browser peak RSS ${mb(page.rss.max)} (largest process), `
      + `${mb(page.rss.sum)} (sum of ${page.rss.processes} processes' peaks)`);
    console.log(`  llama-quantize (one thread): ${llama.seconds.toFixed(1)} s; peak RSS ${mb(llama.peakRss)}`);
    console.log(`  page / llama-quantize time: ${(page.seconds / llama.seconds).toFixed(2)}×`);
    console.log(`  output: ${mb(pageSize)}; byte-identical to llama-quantize's: ${pageSha === llamaSha && pageSize === llamaSize ? 'yes' : 'NO'} (sha256 ${pageSha.slice(0, 16)}…)`);
    console.log(`  progress advanced: ${page.advanced ? 'yes' : 'NO'} (${page.samples.map((v) => mb(v)).join(', ')}); `
      + `Cancel at ${mb(page.atCancel.value)} of ${mb(page.atCancel.max)} stopped it with no file and no error: ${page.cancelled ? 'yes' : 'NO'}; `
      + 'the export after it worked: yes');
    console.log(`  preview: ${page.summary.trim()}`);
    if (page.errors.length) console.log(`  errors: ${page.errors.join('; ')}`);
    return { size, llama, page, identical: pageSha === llamaSha };
  } finally {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await benchExport();
