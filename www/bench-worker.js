// Runs the bench for one build: ?schemes=pkg&gemm=pkg-run (SIMD128: the schemes are in the
// workbench module, the GEMM in the runner) or ?schemes=pkg-nosimd&gemm=pkg-nosimd (scalar).
const params = new URL(self.location.href).searchParams;
const load = async (pkg) => {
  const wasm = await import(`./${pkg}/quantscope.js`);
  await wasm.default();
  return wasm;
};
const schemes = await load(params.get('schemes') ?? 'pkg');
const gemm = params.get('gemm') === params.get('schemes') ? schemes : await load(params.get('gemm') ?? 'pkg-run');

self.onmessage = ({ data: { elements, reps, only, gemmMs, gemmReps } }) => {
  const build = schemes.simd128_enabled() ? 'simd128' : 'scalar';
  for (const id of only === 'gemm' ? [] : schemes.bench_ids()) {
    try {
      self.postMessage({ type: 'result', build, result: schemes.bench_scheme(id, elements, reps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: id, message: String(err.message ?? err) });
    }
  }
  if (only !== 'schemes') {
    try {
      self.postMessage({ type: 'gemm', build, results: gemm.bench_gemm(gemmMs, gemmReps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: 'gemm', message: String(err.message ?? err) });
    }
  }
  self.postMessage({ type: 'done', build });
};
self.postMessage({ type: 'ready' });
