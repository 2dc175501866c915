// The built-in MNIST model in quantscope and in onnxruntime-web (wasm backend, one thread), in
// the same headless Chromium: accuracy, batch-1 latency and batch-256 throughput, FP32 and
// int8, with the ratios; the relaxed-SIMD build too where www/pkg-bench-relaxed is built. Part of
// `npm run bench`; on its own (after scripts/build-wasm.sh --bench [and --bench-relaxed]):
//   node scripts/bench-ort.mjs
import { launch } from '../tests/e2e/browser.mjs';

export async function benchOrt() {
  console.error('[bench] MNIST model: quantscope against onnxruntime-web in headless Chromium');
  const browser = await launch();
  let results, errors, gemm;
  try {
    const page = await browser.page();
    await page.goto(`${browser.url}www/bench/bench-ort.html`);
    await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 10 * 60 * 1000 });
    results = await page.evaluate(() => window.ortBenchResults);
    errors = await page.evaluate(() => window.ortBenchErrors);
    gemm = await page.evaluate(() => window.ortBenchGemm);
  } finally {
    await browser.close();
  }
  const get = (model, engine) => results.find((r) => r.model === model && r.engine === engine);
  console.log('\nMNIST MLP 784-100-100-10 (www/models), one Web Worker; onnxruntime-web ' +
    '(wasm, 1 thread) runs ORT quantize_dynamic\'s int8 model; median of 15 rounds');
  console.log(`${'model'.padEnd(6)} ${'engine'.padEnd(16)} ${'accuracy'.padStart(9)} ${'batch-1 µs'.padStart(11)} ${'batch-256 inf/s'.padStart(16)}`);
  for (const r of results) {
    console.log(`${r.model.padEnd(6)} ${r.engine.padEnd(16)} ${`${(100 * r.accuracy).toFixed(2)}%`.padStart(9)} ${r.latency_us.toFixed(1).padStart(11)} ${r.throughput.toFixed(0).padStart(16)}`);
  }
  console.log('ratios (ORT time ÷ quantscope time: above 1× quantscope is faster)');
  for (const model of ['FP32', 'INT8']) {
    const q = get(model, 'quantscope'), o = get(model, 'onnxruntime-web');
    if (!q || !o) continue;
    console.log(`${model.padEnd(6)} batch 1: ${(o.latency_us / q.latency_us).toFixed(2)}×   batch 256: ${(q.throughput / o.throughput).toFixed(2)}×`);
  }
  console.log('\nGEMM 512×512×512 and Conv 3×3 32→64 channels on 32×32 through each engine\'s run (weights constant, input and output copied); median of 15 interleaved rounds');
  for (const r of gemm) console.log(`${r.op.padEnd(14)} ${r.engine.padEnd(18)} ${r.micros.toFixed(0).padStart(7)} µs ${r.gop_s.toFixed(1).padStart(7)} GOP/s (fastest round ${r.fastest_gop_s.toFixed(1)})`);
  for (const op of ['MatMulInteger', 'MatMul', 'ConvInteger', 'Conv']) {
    const [q, o, r] = ['quantscope', 'onnxruntime-web', 'quantscope relaxed'].map((e) => gemm.find((x) => x.op === op && x.engine === e));
    if (q && o) console.log(`${op} ratio (quantscope GOP/s ÷ onnxruntime-web GOP/s): ${(q.gop_s / o.gop_s).toFixed(2)}×`);
    if (r && q && o) {
      console.log(`${op} relaxed build: ${(r.gop_s / q.gop_s).toFixed(2)}× the plain one, ${(r.gop_s / o.gop_s).toFixed(2)}× onnxruntime-web ` +
        `(fastest rounds: ${(r.fastest_gop_s / q.fastest_gop_s).toFixed(2)}×, ${(r.fastest_gop_s / o.fastest_gop_s).toFixed(2)}×)`);
    }
  }
  for (const model of ['FP32', 'INT8']) {
    const q = get(model, 'quantscope'), r = get(model, 'quantscope relaxed');
    if (q && r) console.log(`MNIST ${model} relaxed ÷ plain: batch 1 ${(q.latency_us / r.latency_us).toFixed(2)}×, batch 256 ${(r.throughput / q.throughput).toFixed(2)}×`);
  }
  if (errors.length) console.log(`errors:\n${errors.join('\n')}`);
  return { results, gemm };
}

if (import.meta.url === `file://${process.argv[1]}`) await benchOrt();
