// Interleaved A/B of bench builds in one headless Chromium page: each round calls the bench's
// `bench_scheme` (quantize, dequantize, compare once each) in every build in turn, starting with a
// different build each round, and keeps each build's fastest figures. On a shared machine, where
// a build timed minutes after another sees another load, this is the comparison to trust; a build
// against a copy of itself (two instances) still differs by up to ±10 % here.
//   node scripts/bench-ab.mjs ROUNDS N ids pkg-bench-main pkg-nosimd pkg-bench
//   (builds are folders of www/: `scripts/build-wasm.sh --bench` makes www/pkg-bench, `--no-simd`
//   www/pkg-nosimd; copy one to another folder, e.g. www/pkg-bench-main, before rebuilding)
// Prints MB/s of input per build and the last build's ratio to the first: quantize (packed bytes
// and the dequantized copy), dequantize, and the compare's metrics-only row (`fused`: quantize →
// error sums with no copy, `report::scheme_metrics`; `kept`: the same row from a kept copy,
// `report::scheme_report`, timed rep by rep beside it).
import { launch } from '../tests/e2e/browser.mjs';

const [rounds, n, ids, ...pkgs] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4].split(','), ...process.argv.slice(5)];
const browser = await launch({ jsFlags: '--no-liftoff' });
const page = await browser.page();
await page.route('**/__bench-ab.html', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench A/B</title>' }));
await page.goto(`${browser.url}__bench-ab.html`);
const res = await page.evaluate(async ({ rounds, n, ids, pkgs }) => {
  const mods = [];
  for (const p of pkgs) {
    const m = await import(`/www/${p}/quantscope.js`);
    await m.default();
    mods.push(m);
  }
  const out = {};
  for (const id of ids) {
    const best = pkgs.map(() => ({ q: 0, d: 0, f: 0, k: 0 }));
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < pkgs.length; k++) {
        const b = (k + r) % pkgs.length;
        const x = mods[b].bench_scheme(id, n, 1);
        best[b].q = Math.max(best[b].q, x.quantize_mb_s);
        best[b].d = Math.max(best[b].d, x.dequantize_mb_s);
        best[b].f = Math.max(best[b].f, x.compare_fused_mb_s ?? 0);
        best[b].k = Math.max(best[b].k, x.compare_kept_mb_s ?? 0);
      }
    }
    out[id] = best;
  }
  return out;
}, { rounds, n, ids, pkgs });
await browser.close();
const col = (s) => String(s).padStart(16);
const ratio = (b, key) => `${(b[b.length - 1][key] / b[0][key]).toFixed(2)}×`.padStart(8);
console.log(`${n.toLocaleString('en-US')} values, ${rounds} rounds, fastest of each; MB/s of input`);
const head = (k) => `${pkgs.map((p) => col(`${k} ${p}`)).join('')}${'ratio'.padStart(8)}`;
console.log(`${'scheme'.padEnd(18)}${head('q')}${head('dq')}${head('fused')}${col('kept (last)')}`);
const cells = (b, key) => `${b.map((x) => col(x[key].toFixed(0))).join('')}${ratio(b, key)}`;
for (const [id, b] of Object.entries(res)) {
  console.log(`${id.padEnd(18)}${cells(b, 'q')}${cells(b, 'd')}${cells(b, 'f')}${col(b[b.length - 1].k.toFixed(0))}`);
}
