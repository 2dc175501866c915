// Runs the bench for one build: ?pkg=pkg-bench (SIMD128) or ?pkg=pkg-nosimd (scalar), both
// built with the bench exports (scripts/build-wasm.sh --bench, --no-simd), from www/<pkg>.
const pkg = new URL(self.location.href).searchParams.get('pkg') ?? 'pkg-bench';
const wasm = await import(`../${pkg}/quantscope.js`);
await wasm.default();

self.onmessage = ({ data: { elements, reps, only, gemmMs, gemmReps } }) => {
  const build = wasm.simd128_enabled() ? 'simd128' : 'scalar';
  for (const id of only === 'gemm' ? [] : wasm.base_scheme_ids()) {
    try {
      self.postMessage({ type: 'result', build, result: wasm.bench_scheme(id, elements, reps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: id, message: String(err.message ?? err) });
    }
  }
  if (only !== 'schemes') {
    try {
      self.postMessage({ type: 'gemm', build, results: wasm.bench_gemm(gemmMs, gemmReps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: 'gemm', message: String(err.message ?? err) });
    }
  }
  self.postMessage({ type: 'done', build });
};
self.postMessage({ type: 'ready' });
