// `npm run bench`: the native bench and the bench page (SIMD128 and scalar wasm builds) in
// headless Chromium, in one run, printed side by side with ratios.
//   QUANTSCOPE_BENCH_N=1048576 npm run bench   (default 16M elements)
//   QUANTSCOPE_BENCH_ONLY=gemm npm run bench   (only the GEMM cases; `schemes` skips them)
import { execFileSync } from 'node:child_process';
import { launch } from '../tests/e2e/browser.mjs';
import { benchBigFiles } from './bench-bigfiles.mjs';
import { benchOrt } from './bench-ort.mjs';
import { benchPool } from './bench-pool.mjs';

const n = Number(process.env.QUANTSCOPE_BENCH_N ?? 1 << 24);
const only = process.env.QUANTSCOPE_BENCH_ONLY ?? '';
const sh = (cmd, args, env = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }).toString();

// `npm run bench -- --bigfiles`: only the 2 GB safetensors/GGUF memory bench (scripts/bench-bigfiles.mjs).
if (process.argv.includes('--bigfiles')) {
  console.error('[bench] building the wasm (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  await benchBigFiles();
  process.exit(0);
}

// `npm run bench -- --pool`: only the whole-model comparison on 1 worker against the pool.
if (process.argv.includes('--pool')) {
  console.error('[bench] building the wasm (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  await benchPool();
  process.exit(0);
}

console.error('[bench] building the page modules, the SIMD128 bench build and the scalar bench build (release)');
sh('bash', ['scripts/build-wasm.sh']);
sh('bash', ['scripts/build-wasm.sh', '--bench']);
sh('bash', ['scripts/build-wasm.sh', '--no-simd']);
console.error('[bench] native bench (cargo bench, release)');
// glibc would mmap (and page-fault) every 64 MB result afresh; the wasm heap reuses its grown
// memory. Keeping large blocks in the heap makes the native figures measure the same work.
const glibcTunables = 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296';
const native = only === 'gemm' ? [] : JSON.parse(sh('cargo', ['bench', '-p', 'quantscope-core', '--bench', 'throughput', '--', '--json'],
  { QUANTSCOPE_BENCH_N: String(n), GLIBC_TUNABLES: glibcTunables }).trim().split('\n').pop());
const nativeGemm = only === 'schemes' ? [] : JSON.parse(sh('cargo', ['bench', '-p', 'quantscope-gemm', '--bench', 'gemm', '--', '--json']).trim().split('\n').pop());

console.error('[bench] bench page in headless Chromium');
const browser = await launch();
const page = await browser.page();
await page.goto(`${browser.url}www/bench/bench.html?n=${n}&only=${only}`);
await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 30 * 60 * 1000 });
const wasm = await page.evaluate(() => window.benchResults);
const wasmGemm = await page.evaluate(() => window.benchGemm);
const errors = await page.evaluate(() => window.benchErrors);
await browser.close();

const by = (build) => Object.fromEntries(wasm.filter((r) => r.build === build).map((r) => [r.scheme, r]));
const simd = by('simd128'), scalar = by('scalar');
const f = (v) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '-');
if (only !== 'gemm') console.log(`\n${n.toLocaleString('en-US')} f32 elements; MB/s of input (fastest of 3); ratios from this one run`);
for (const op of only === 'gemm' ? [] : ['quantize', 'dequantize', 'metrics']) {
  const key = `${op}_mb_s`;
  console.log(`\n${op}`);
  console.log(`${'scheme'.padEnd(16)} ${'simd128'.padStart(9)} ${'scalar'.padStart(9)} ${'native'.padStart(9)} ${'simd/scalar'.padStart(12)} ${'native/simd'.padStart(12)}`);
  for (const r of native) {
    const s = simd[r.scheme]?.[key], c = scalar[r.scheme]?.[key], nat = r[key];
    console.log(`${r.scheme.padEnd(16)} ${f(s).padStart(9)} ${f(c).padStart(9)} ${f(nat).padStart(9)} ${ratio(s, c).padStart(12)} ${ratio(nat, s).padStart(12)}`);
  }
}
if (only !== 'schemes') {
  // GEMM: GOP/s (2·m·n·k ops) and µs per call, fastest batch; see src/gemm/src/bench.rs.
  const gemm = (build) => Object.fromEntries(wasmGemm.filter((r) => r.build === build).map((r) => [r.case, r]));
  const gs = gemm('simd128'), gc = gemm('scalar');
  console.log('\nGEMM (GOP/s; µs per call for the SIMD128 build)');
  console.log(`${'case'.padEnd(34)} ${'simd128'.padStart(9)} ${'scalar'.padStart(9)} ${'native'.padStart(9)} ${'simd µs'.padStart(10)} ${'simd/scalar'.padStart(12)}`);
  for (const r of nativeGemm) {
    const s = gs[r.case]?.gop_s, c = gc[r.case]?.gop_s;
    console.log(`${r.case.padEnd(34)} ${f(s).padStart(9)} ${f(c).padStart(9)} ${f(r.gop_s).padStart(9)} ${f(gs[r.case]?.micros).padStart(10)} ${ratio(s, c).padStart(12)}`);
  }
}
if (errors.length) console.log(`\nerrors:\n${errors.join('\n')}`);

// The built-in MNIST model in quantscope and in onnxruntime-web (SIMD128 build in www/pkg-bench).
await benchOrt();

// The whole-model comparison's worker pool against one worker (www/pkg).
if (!only) await benchPool();

// Big files last (the SIMD128 build in www/pkg; 4 GB written to a temporary directory and deleted).
if (!only) await benchBigFiles();
