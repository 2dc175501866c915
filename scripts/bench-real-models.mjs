// Real models (scripts/fixtures/make_real_models.py) in quantscope and in onnxruntime-web
// (wasm, one thread), in the same headless Chromium: the median time per run of each, FP32 and
// int8 dynamic, with the ratio (ORT time ÷ quantscope time: above 1× quantscope is faster).
// After scripts/build-wasm.sh (the models and exporter modules):
//   node scripts/bench-real-models.mjs [--base DIR] [MODEL...]   (only those models of the manifest)
// --base DIR: another build of the models module (a folder of the repository, e.g. main's
// www/pkg-models copied to .cache/pkg-models-main) timed in the same run, in turn with this one,
// its outputs compared bit for bit with this build's: the before/after of a change.
// The committed models always run; the larger ones when .cache/real-models holds them (run the
// fixture script first).
import { launch } from '../tests/e2e/browser.mjs';

export async function benchRealModels(only = [], base = null) {
  console.error('[bench] real models: quantscope against onnxruntime-web in headless Chromium');
  // Both engines run TurboFan's code from the first call, as bench-candle.mjs does: with
  // Liftoff first, V8 tiers hot functions up on a background thread, and on this loaded
  // 2-core machine that took longer than the rounds (magika FP32, one run: quantscope 83.8 ms
  // with Liftoff against 38.7 without; onnxruntime-web 41 and 53 — noise), so the figures had
  // measured how far the tier-up had got, not either engine's code.
  const browser = await launch({ jsFlags: '--no-liftoff' });
  let results, errors;
  try {
    const page = await browser.page();
    const query = new URLSearchParams();
    if (only.length) query.set('only', only.join(','));
    if (base) query.set('base', base);
    await page.goto(`${browser.url}www/bench/bench-real.html${query.size ? `?${query}` : ''}`);
    await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 30 * 60 * 1000 });
    results = await page.evaluate(() => window.realBenchResults);
    errors = await page.evaluate(() => window.realBenchErrors);
  } finally {
    await browser.close();
  }
  console.log('\nReal models, one Web Worker, batch as committed; median of 9 rounds. INT8: quantscope\'s int8_dynamic ' +
    'against ONNX Runtime running the quantize_dynamic file');
  const baseHead = base ? ` ${'base ms'.padStart(9)} ${'ratio'.padStart(7)} ${'speed-up'.padStart(8)}  bits` : '';
  // diff: the largest |quantscope − ORT| of an output over its largest |ORT value|, worst output (FP32 must be ≤ 1e-4).
  console.log(`${'model'.padEnd(20)} ${'variant'.padEnd(7)} ${'quantscope ms'.padStart(14)} ${'ORT-web ms'.padStart(11)} ${'ratio'.padStart(7)} ${'diff'.padStart(8)}${baseHead}`);
  const times = (ms) => `${ms.toFixed(2)}×`;
  for (const r of results) {
    const baseCols = base
      ? ` ${r.base_ms.toFixed(2).padStart(9)} ${times(r.ort_ms / r.base_ms).padStart(7)} ${times(r.base_ms / r.quantscope_ms).padStart(8)}  ${r.base_same_bits ? 'same' : 'DIFFER'}`
      : '';
    console.log(`${r.model.padEnd(20)} ${r.variant.padEnd(7)} ${r.quantscope_ms.toFixed(2).padStart(14)} ${r.ort_ms.toFixed(2).padStart(11)} ${times(r.ort_ms / r.quantscope_ms).padStart(7)} ${r.rel_diff.toExponential(1).padStart(8)}${baseCols}`);
  }
  if (errors.length) console.log(`errors:\n${errors.join('\n')}`);
  return { results, errors };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--base');
  const base = at >= 0 ? args.splice(at, 2)[1] : null;
  await benchRealModels(args, base);
}
