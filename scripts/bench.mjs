// `npm run bench`: the native bench and the bench page (SIMD128 and scalar wasm builds) in
// headless Chromium, in one run, printed side by side with ratios.
//   QUANTSCOPE_BENCH_N=1048576 npm run bench   (default 16M elements)
//   QUANTSCOPE_BENCH_ONLY=gemm npm run bench   (only the GEMM cases; `schemes` skips them;
//                                              `pack` only packing beside llama.cpp)
//   QUANTSCOPE_BENCH_SCHEMES=q8_0,q4_0 npm run bench   (only those schemes, native and in the page)
//   npm run bench -- --base pkg-bench-main   (also times the bench build in www/pkg-bench-main,
//                                            e.g. main's, in the same page run: old → new)
//   QUANTSCOPE_BENCH_ONLY=times npm run bench   (only the schemes' quantize/dequantize/metrics times)
//   QUANTSCOPE_BENCH_BUILT=1 npm run bench   (the wasm builds as they are: no build, no native bench)
//   QUANTSCOPE_BENCH_REPS=10 npm run bench   (the page's reps per figure, the fastest counts; default
//                                            3: more on a loaded machine, where a rep is often slowed)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../tests/e2e/browser.mjs';
import { benchBigFiles } from './bench-bigfiles.mjs';
import { benchExport } from './bench-export.mjs';
import { benchOrt } from './bench-ort.mjs';
import { benchPool } from './bench-pool.mjs';

const n = Number(process.env.QUANTSCOPE_BENCH_N ?? 1 << 24);
const only = process.env.QUANTSCOPE_BENCH_ONLY ?? '';
const runSchemes = !only || only === 'schemes' || only === 'times';
const runPack = (runSchemes && only !== 'times') || only === 'pack';
const runGemm = !only || only === 'gemm';
const baseAt = process.argv.indexOf('--base');
const base = baseAt > 0 ? process.argv[baseAt + 1] : null;
const built = process.env.QUANTSCOPE_BENCH_BUILT === '1';
const sh = (cmd, args, env = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }).toString();

// `npm run bench -- --bigfiles`: only the 2 GB safetensors/GGUF memory bench (scripts/bench-bigfiles.mjs).
if (process.argv.includes('--bigfiles')) {
  console.error('[bench] building the wasm (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  await benchBigFiles();
  process.exit(0);
}

// `npm run bench -- --export`: only the ~1 GB F16 GGUF exported as Q4_K_M in the page beside
// llama-quantize (scripts/bench-export.mjs).
if (process.argv.includes('--export')) {
  console.error('[bench] building the wasm (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  await benchExport();
  process.exit(0);
}

// `npm run bench -- --pool`: only the whole-model comparison on 1 worker against the pool.
if (process.argv.includes('--pool')) {
  console.error('[bench] building the wasm (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  await benchPool();
  process.exit(0);
}

if (!built) {
  console.error('[bench] building the page modules, the SIMD128 bench build and the scalar bench build (release)');
  sh('bash', ['scripts/build-wasm.sh']);
  sh('bash', ['scripts/build-wasm.sh', '--bench']);
  sh('bash', ['scripts/build-wasm.sh', '--bench-relaxed']);
  sh('bash', ['scripts/build-wasm.sh', '--no-simd']);
  console.error('[bench] native bench (cargo bench, release)');
}
// glibc would mmap (and page-fault) every 64 MB result afresh; the wasm heap reuses its grown
// memory. Keeping large blocks in the heap makes the native figures measure the same work.
const glibcTunables = 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296';
const native = !runSchemes || built ? [] : JSON.parse(sh('cargo', ['bench', '-p', 'quantscope-core', '--bench', 'throughput', '--', '--json'],
  { QUANTSCOPE_BENCH_N: String(n), GLIBC_TUNABLES: glibcTunables }).trim().split('\n').pop());
const nativeGemm = !runGemm ? [] : JSON.parse(sh('cargo', ['bench', '-p', 'quantscope-gemm', '--bench', 'gemm', '--', '--json']).trim().split('\n').pop());

// Packing alone beside llama.cpp's ggml_quantize_chunk: the native bench writes its input (rows
// of 4096 normal values and an importance vector) to a temporary directory and times
// quantscope; scripts/bench-llama.py times the llama.cpp build on those very values; the page
// times the same input (checked by hash) in both wasm builds and draws all of it.
const llamaLib = process.env.QUANTSCOPE_LLAMA_LIB
  ?? join(process.env.LLAMA_BUILD_DIR ?? join(homedir(), '.cache', 'quantscope-llama'), 'build', 'bin', 'libggml-base.so');
let nativePack = null;
if (runPack && !built) {
  const dir = await mkdtemp(join(tmpdir(), 'quantscope-pack-'));
  try {
    console.error('[bench] native packing (quantscope), writing the input for llama.cpp');
    const json = sh('cargo', ['bench', '-p', 'quantscope-core', '--bench', 'throughput', '--', '--pack', dir], { QUANTSCOPE_BENCH_N: String(n), GLIBC_TUNABLES: glibcTunables }).trim().split('\n').pop();
    nativePack = JSON.parse(json);
    if (existsSync(llamaLib)) {
      console.error(`[bench] llama.cpp ggml_quantize_chunk natively (${llamaLib})`);
      nativePack.llama = JSON.parse(execFileSync('python3', ['scripts/bench-llama.py', '--lib', llamaLib, '--dir', dir],
        { input: json, stdio: ['pipe', 'pipe', 'inherit'] }).toString());
    } else {
      nativePack.llama_missing = `No llama.cpp build at ${llamaLib}: build it with `
        + '`python3 -m venv /work/venv-llama && /work/venv-llama/bin/pip install -r scripts/fixtures/requirements-llama.txt && '
        + '/work/venv-llama/bin/python scripts/fixtures/build_llama.py` (or set QUANTSCOPE_LLAMA_LIB to a built libggml-base.so).';
      console.error(`[bench] ${nativePack.llama_missing}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir('test-results', { recursive: true });
  await writeFile('test-results/bench-native.json', JSON.stringify(nativePack));
}

console.error('[bench] bench page in headless Chromium');
// TurboFan code only: V8 replaces a wasm function's baseline (Liftoff) code at its next call,
// never inside a running loop, and compiles the optimized code in the background, so on a
// loaded machine a kernel called once per rep could run its whole rep in Liftoff and the
// figures swung 3–6× between runs (issue 15's notes).
const browser = await launch({ jsFlags: '--no-liftoff' });
const page = await browser.page();
const reps = process.env.QUANTSCOPE_BENCH_REPS ? `&reps=${Number(process.env.QUANTSCOPE_BENCH_REPS)}` : '';
const schemeList = process.env.QUANTSCOPE_BENCH_SCHEMES ? `&schemes=${process.env.QUANTSCOPE_BENCH_SCHEMES}` : '';
await page.goto(`${browser.url}www/bench/bench.html?n=${n}&only=${only}${reps}${schemeList}${base ? `&base=${base}` : ''}${nativePack ? '&native=../../test-results/bench-native.json' : ''}`);
await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 30 * 60 * 1000 });
const wasm = await page.evaluate(() => window.benchResults);
const wasmGemm = await page.evaluate(() => window.benchGemm);
const errors = await page.evaluate(() => window.benchErrors);
const wasmPack = await page.evaluate(() => window.benchPack);
const packSameInput = await page.evaluate(() => window.benchPackSameInput);
const memory = await page.evaluate(() => window.benchMemory);
await browser.close();

const by = (build) => Object.fromEntries(wasm.filter((r) => r.build === build).map((r) => [r.scheme, r]));
const simd = by('simd128'), scalar = by('scalar'), old = by('base');
const f = (v) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '-');
// Without the native bench (QUANTSCOPE_BENCH_BUILT), the rows are the page's.
const rows = native.length ? native : Object.values(simd);
if (runSchemes) console.log(`\n${n.toLocaleString('en-US')} f32 elements; MB/s of input (fastest of ${process.env.QUANTSCOPE_BENCH_REPS ?? 3}); ratios from this one run`);
for (const op of !runSchemes ? [] : ['quantize', 'dequantize', 'metrics']) {
  const key = `${op}_mb_s`;
  console.log(`\n${op}`);
  console.log(`${'scheme'.padEnd(16)} ${base ? `${'base'.padStart(9)} ` : ''}${'simd128'.padStart(9)} ${'scalar'.padStart(9)} ${'native'.padStart(9)} `
    + `${base ? `${'new/base'.padStart(9)} ` : ''}${'simd/scalar'.padStart(12)} ${'native/simd'.padStart(12)}`);
  for (const r of rows) {
    const s = simd[r.scheme]?.[key], c = scalar[r.scheme]?.[key], nat = native.length ? r[key] : undefined, o = old[r.scheme]?.[key];
    console.log(`${r.scheme.padEnd(16)} ${base ? `${f(o).padStart(9)} ` : ''}${f(s).padStart(9)} ${f(c).padStart(9)} ${f(nat).padStart(9)} `
      + `${base ? `${ratio(s, o).padStart(9)} ` : ''}${ratio(s, c).padStart(12)} ${ratio(nat, s).padStart(12)}`);
  }
}
if (runSchemes) {
  // The page's compare, metrics only: one scheme's row with the dequantized copy kept (as it was)
  // and fused (decoded a chunk at a time into the sums, no copy), timed rep by rep in turn.
  console.log('\ncompare (metrics only): kept copy vs fused');
  console.log(`${'scheme'.padEnd(16)} ${'simd kept'.padStart(10)} ${'simd fused'.padStart(11)} ${'fused/kept'.padStart(11)} `
    + `${'scalar f/k'.padStart(11)} ${'native f/k'.padStart(11)}`);
  for (const r of native) {
    const s = simd[r.scheme], c = scalar[r.scheme];
    if (r.compare_kept_mb_s == null) continue;
    console.log(`${r.scheme.padEnd(16)} ${f(s?.compare_kept_mb_s).padStart(10)} ${f(s?.compare_fused_mb_s).padStart(11)} `
      + `${ratio(s?.compare_fused_mb_s, s?.compare_kept_mb_s).padStart(11)} ${ratio(c?.compare_fused_mb_s, c?.compare_kept_mb_s).padStart(11)} `
      + `${ratio(r.compare_fused_mb_s, r.compare_kept_mb_s).padStart(11)}`);
  }
  const mb = (b) => (b / 1e6).toFixed(0);
  if (memory?.kept && memory?.fused) {
    console.log(`compare's peak wasm memory over these schemes (SIMD128, fresh instance each; the sample is ${mb(memory.kept.sample)} MB): `
      + `kept copy ${mb(memory.kept.after)} MB, fused ${mb(memory.fused.after)} MB`);
  }
}
if (runGemm) {
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
if (nativePack) {
  // Packing only: ggml_quantize_chunk's work (no decode, no counts), one thread on every side.
  const by = (rows, build) => Object.fromEntries((rows ?? []).filter((r) => !build || r.build === build).map((r) => [r.scheme, r]));
  const ps = by(wasmPack, 'simd128'), pc = by(wasmPack, 'scalar'), pn = by(nativePack.results), pl = by(nativePack.llama);
  const ms = (r) => (r ? (r.seconds * 1e3).toFixed(1) : '-');
  console.log(`\npacking beside llama.cpp (ms, fastest of 3; ${n.toLocaleString('en-US')} values in rows of ${nativePack.row}; `
    + `input identical on every side: ${packSameInput ? 'yes' : 'NO'}; imatrix: the same importance vector on both sides)`);
  console.log(`${'type'.padEnd(9)} ${'imatrix'.padEnd(8)} ${'simd128'.padStart(9)} ${'scalar'.padStart(9)} ${'qs native'.padStart(10)} `
    + `${'llama.cpp'.padStart(10)} ${'simd/llama'.padStart(11)} ${'same bytes'.padStart(11)}`);
  for (const r of nativePack.results) {
    const s = ps[r.scheme], l = pl[r.scheme];
    const crcs = [s, pc[r.scheme], r, l].filter(Boolean).map((x) => x.crc32);
    console.log(`${r.scheme.padEnd(9)} ${(r.importance ? 'yes' : '').padEnd(8)} ${ms(s).padStart(9)} ${ms(pc[r.scheme]).padStart(9)} `
      + `${ms(r).padStart(10)} ${ms(l).padStart(10)} ${(s && l ? `${(s.seconds / l.seconds).toFixed(2)}×` : '-').padStart(11)} `
      + `${(crcs.length === 4 && crcs.every((c) => c === crcs[0]) ? 'yes' : 'NO').padStart(11)}`);
  }
  if (nativePack.llama_missing) console.log(nativePack.llama_missing);
}
if (errors.length) console.log(`\nerrors:\n${errors.join('\n')}`);

// The built-in MNIST model in quantscope and in onnxruntime-web (SIMD128 build in www/pkg-bench).
if (only !== 'pack' && only !== 'times') await benchOrt();

// The whole-model comparison's worker pool against one worker (www/pkg).
if (!only) await benchPool();

// Big files last (the SIMD128 build in www/pkg; 4 GB written to a temporary directory and deleted).
if (!only) await benchBigFiles();
