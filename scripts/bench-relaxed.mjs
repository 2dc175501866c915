// The GEMM kernels alone (src/gemm/src/bench.rs: 512³ and the MNIST MLP's shapes), the plain
// SIMD128 bench build against the relaxed-SIMD one, in one headless Chromium page: the builds
// alternate `ROUNDS` times and each case keeps its fastest batch over all rounds (a shared
// machine's load moves single figures by tens of per cent). After
// `scripts/build-wasm.sh --bench --bench-relaxed`:
//   node scripts/bench-relaxed.mjs [ROUNDS]
import { launch } from '../tests/e2e/browser.mjs';

const rounds = Number(process.argv[2] ?? 3);
const browser = await launch();
try {
  const page = await browser.page();
  await page.goto(`${browser.url}www/bench/`); // any page of the server: the modules are imported below
  const best = await page.evaluate(async (rounds) => {
    const builds = {};
    for (const name of ['pkg-bench', 'pkg-bench-relaxed']) {
      const mod = await import(`/www/${name}/quantscope.js`);
      await mod.default();
      builds[name] = mod;
    }
    const best = {};
    for (let r = 0; r < rounds; r++) {
      for (const [name, mod] of Object.entries(builds)) {
        for (const c of mod.bench_gemm(50, 5)) {
          const key = `${c.case}`;
          best[key] ??= {};
          best[key][name] = Math.min(best[key][name] ?? Infinity, c.micros);
        }
      }
    }
    return best;
  }, rounds);
  console.log(`GEMM kernels, fastest of ${rounds} alternating rounds × 5 batches of ≥ 50 ms (µs per call)`);
  console.log(`${'case'.padEnd(32)} ${'SIMD128'.padStart(10)} ${'relaxed'.padStart(10)}  relaxed speed-up`);
  for (const [c, t] of Object.entries(best)) {
    const [p, x] = [t['pkg-bench'], t['pkg-bench-relaxed']];
    console.log(`${c.padEnd(32)} ${p.toFixed(1).padStart(10)} ${x.toFixed(1).padStart(10)}  ${(p / x).toFixed(2)}×`);
  }
} finally {
  await browser.close();
}
