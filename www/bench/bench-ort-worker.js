// The built-in MNIST model in quantscope's engine (the bench build, www/pkg-bench: the runner's
// engine plus the bench exports) and in onnxruntime-web, in one worker:
// FP32 (www/models/mnist_mlp.onnx in both) and int8 (quantscope's "INT8 dynamic" variant of it;
// for ORT, www/models/mnist_mlp_int8_ort.onnx, the same model through ORT's own quantize_dynamic).
// ORT runs its wasm backend on one thread, served from node_modules (no CDN).
// Where www/pkg-bench-relaxed is built (scripts/build-wasm.sh --bench-relaxed) and the browser
// has relaxed SIMD, the same engine built with relaxed SIMD (src/gemm/src/relaxed.rs) runs too,
// as "quantscope relaxed", in the same rounds.
//
// Each figure is the median over rounds of the mean time per call, a call being what a page
// pays for one inference: quantscope's BenchModel.run (input copied in, probabilities copied
// out) or ORT's `await session.run(...)`. Rounds are long enough that the 0.1 ms resolution of
// performance.now() (without cross-origin isolation) does not matter.
import init, { BenchGemmModel, BenchModel, conv_model_onnx, gemm_model_onnx, mnist_test_set } from '../pkg-bench/quantscope.js';
import { fetchBytes, interleavedMs, medianMs as timed, ort, say } from './ort-timing.js';
import { testSetMembers } from '../run/testset.js';
import { PIXELS, countCorrect } from '../shared/mnist.js';

const BATCH = 256;
const ROUNDS = 15;
const ROUND_MS = 40;
const GEMM = 512;
const CONV = { c: 32, size: 32, m: 64 };

const medianMs = (call) => timed(call, ROUNDS, ROUND_MS);

// The relaxed-SIMD bench build, or null (not built, or no relaxed SIMD here).
async function relaxedBuild() {
  try {
    const mod = await import('../pkg-bench-relaxed/quantscope.js');
    await mod.default();
    return mod;
  } catch (err) {
    say(`no relaxed-SIMD build: ${err.message}`);
    return null;
  }
}

async function main() {
  await init();
  const relaxed = await relaxedBuild();
  say('loading the models and the test digits');
  const [fp32Bytes, ortInt8Bytes, testBytes] = await Promise.all([
    fetchBytes('../models/mnist_mlp.onnx'), fetchBytes('../models/mnist_mlp_int8_ort.onnx'), fetchBytes('../models/mnist_test.npz')]);
  const set = mnist_test_set(...testSetMembers(testBytes));
  const images = set.images, labels = set.labels;

  const engines = [];
  for (const [model, qsInt8, ortBytes] of [['FP32', false, fp32Bytes], ['INT8', true, ortInt8Bytes]]) {
    const qs = new BenchModel(fp32Bytes, qsInt8);
    engines.push({ model, engine: 'quantscope', run: (x, n) => qs.run(x, n) });
    if (relaxed) {
      const qr = new relaxed.BenchModel(fp32Bytes, qsInt8);
      engines.push({ model, engine: 'quantscope relaxed', run: (x, n) => qr.run(x, n) });
    }
    const session = await ort.InferenceSession.create(ortBytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    engines.push({
      model, engine: 'onnxruntime-web',
      run: async (x, n) => (await session.run({ input: new ort.Tensor('float32', x, [n, PIXELS]) })).probabilities.data,
    });
  }

  for (const e of engines) {
    say(`${e.engine} ${e.model}: accuracy`);
    let correct = 0;
    for (let start = 0; start < set.count; start += BATCH) {
      const n = Math.min(BATCH, set.count - start);
      correct += countCorrect(await e.run(images.subarray(start * PIXELS, (start + n) * PIXELS), n), labels, start);
    }
    say(`${e.engine} ${e.model}: batch 1`);
    const one = images.slice(0, PIXELS);
    const latencyMs = await medianMs(() => e.run(one, 1));
    say(`${e.engine} ${e.model}: batch ${BATCH}`);
    const batch = images.slice(0, BATCH * PIXELS);
    const batchMs = await medianMs(() => e.run(batch, BATCH));
    self.postMessage({ type: 'result', result: {
      model: e.model, engine: e.engine, correct, count: set.count, accuracy: correct / set.count,
      latency_us: latencyMs * 1e3, throughput: BATCH / (batchMs / 1e3),
    } });
  }

  // A 512×512×512 GEMM and a 3×3 convolution (32 → 64 channels on 32×32, padding 1) through
  // each engine's whole run, integer (u8 × constant i8 → i32) and f32; the same generated model
  // in both engines.
  const [m, k, n] = [GEMM, GEMM, GEMM];
  const cases = [];
  for (const int8 of [true, false]) {
    cases.push({ op: int8 ? 'MatMulInteger' : 'MatMul', int8, bytes: gemm_model_onnx(int8, m, k, n), shape: [m, k], ops: 2 * m * k * n });
  }
  for (const int8 of [true, false]) {
    const { c, size, m: out } = CONV;
    cases.push({ op: int8 ? 'ConvInteger' : 'Conv', int8, bytes: conv_model_onnx(int8, c, size, out), shape: [1, c, size, size], ops: 2 * out * c * 9 * size * size });
  }
  for (const { op, int8, bytes, shape, ops } of cases) {
    const len = shape.reduce((p, d) => p * d, 1);
    const a = int8 ? Uint8Array.from({ length: len }, (_, i) => (i * 37) & 255) : Float32Array.from({ length: len }, (_, i) => ((i * 37) & 255) / 255 - 0.5);
    const qs = new BenchGemmModel(bytes, Uint32Array.from(shape));
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const type = int8 ? 'uint8' : 'float32';
    const runs = [
      ['quantscope', () => (int8 ? qs.run_u8(a) : qs.run_f32(a))],
      ['onnxruntime-web', async () => (await session.run({ a: new ort.Tensor(type, a, shape) })).y.data],
    ];
    if (relaxed) {
      const qr = new relaxed.BenchGemmModel(bytes, Uint32Array.from(shape));
      runs.push(['quantscope relaxed', () => (int8 ? qr.run_u8(a) : qr.run_f32(a))]);
    }
    // All must compute the same result before any is timed (int8: exactly).
    const [ours, theirs, ...others] = await Promise.all(runs.map(([, run]) => run()));
    for (const other of [ours, ...others]) {
      if (other.length !== theirs.length) throw new Error(`${op}: ${other.length} outputs against ${theirs.length}`);
      const worst = other.reduce((w, v, i) => Math.max(w, Math.abs(v - theirs[i])), 0);
      if (int8 ? worst !== 0 : worst > 1e-2) throw new Error(`${op}: the engines differ by ${worst}`);
    }
    say(`${op}: ${runs.map(([engine]) => engine).join(', ')}, interleaved`);
    const times = await interleavedMs(runs.map(([, run]) => run), ROUNDS, ROUND_MS);
    for (const [i, [engine]] of runs.entries()) {
      const { median, fastest } = times[i];
      self.postMessage({ type: 'gemm', result: { op, engine, shape, micros: median * 1e3, gop_s: ops / (median * 1e6), fastest_gop_s: ops / (fastest * 1e6) } });
    }
  }
  self.postMessage({ type: 'done' });
}

main().catch((err) => self.postMessage({ type: 'error', message: String(err?.message ?? err) }));
