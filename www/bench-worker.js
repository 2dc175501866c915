// Runs the bench for one build: ?pkg=pkg (SIMD128) or ?pkg=pkg-nosimd (scalar).
const pkg = new URL(self.location.href).searchParams.get('pkg') ?? 'pkg';
const wasm = await import(`./${pkg}/quantscope.js`);
await wasm.default();

self.onmessage = ({ data: { elements, reps } }) => {
  const build = wasm.simd128_enabled() ? 'simd128' : 'scalar';
  for (const id of wasm.bench_ids()) {
    try {
      self.postMessage({ type: 'result', build, result: wasm.bench_scheme(id, elements, reps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: id, message: String(err.message ?? err) });
    }
  }
  self.postMessage({ type: 'done', build });
};
self.postMessage({ type: 'ready' });
