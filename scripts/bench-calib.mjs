// The static calibration's histograms (www/pkg-calib: ONNX Runtime's Percentile, Entropy and
// Distribution, src/onnx-quant/src/calibrate.rs) in Node, one thread: values per second of one
// `collect` of 16M seeded values (a heavy-tailed spread, as activations are), the copy into the
// module's memory included, as the Run worker hands each tensor over. With `--base DIR` (another
// build of the module, e.g. main's www/pkg-calib copied to .cache/pkg-calib-main) both run in
// turn in the same process and their ranges are compared bit for bit.
// `--relu`: the values through a ReLU (half of them exact zeros, as most of ppocr_rec's tensors).
//   bash scripts/build-wasm.sh pkg-calib && node scripts/bench-calib.mjs [--base DIR] [--rounds N] [--relu]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : null; };
const rounds = Number(arg('--rounds') ?? 5);
const builds = [['now', 'www/pkg-calib'], ...(arg('--base') ? [['base', arg('--base')]] : [])];
const modules = [];
for (const [label, dir] of builds) {
  const m = await import(`${pathToFileURL(resolve(dir, 'quantscope.js'))}?${label}`);
  m.initSync({ module: readFileSync(resolve(dir, 'quantscope_bg.wasm')) });
  modules.push({ label, m });
}
const N = 1 << 24;
const x = new Float32Array(N);
let s = 12345;
for (let i = 0; i < N; i++) {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  x[i] = Math.tan((s / 2 ** 32 - 0.5) * 3) * 0.3;
}
const relu = process.argv.includes('--relu');
if (relu) for (let i = 0; i < N; i++) x[i] = Math.max(x[i], 0);
console.log(`calibration histograms, one collect of ${N} values${relu ? ' (ReLU: half exact zeros)' : ''}, best of ${rounds} (M values/s)`);
for (const method of ['percentile', 'entropy', 'distribution']) {
  const best = modules.map(() => Infinity);
  const ranges = [];
  for (let r = 0; r < rounds; r++) {
    modules.forEach(({ m }, k) => {
      const c = new m.StaticCalibration(method, method === 'entropy' ? 128 : 2048, 99.999, true);
      const t = performance.now();
      c.collect('t', x);
      best[k] = Math.min(best[k], performance.now() - t);
      ranges[k] = Array.from(c.ranges(['t']));
      c.free();
    });
  }
  const rates = best.map((ms) => N / ms / 1e3);
  const cols = modules.map(({ label }, k) => `${label} ${rates[k].toFixed(0).padStart(5)}`).join('  ');
  const same = ranges.every((r) => JSON.stringify(r) === JSON.stringify(ranges[0]));
  console.log(`${method.padEnd(13)} ${cols}${rates.length > 1 ? `  (${(rates[0] / rates[1]).toFixed(2)}×)` : ''}  range [${ranges[0].join(', ')}]${same ? '' : '  RANGES DIFFER'}`);
  if (!same) process.exitCode = 1;
}
