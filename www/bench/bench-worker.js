// Runs the bench for one build: ?pkg=pkg-bench (SIMD128) or ?pkg=pkg-nosimd (scalar), both
// built with the bench exports (scripts/build-wasm.sh --bench, --no-simd), from www/<pkg>.
const pkg = new URL(self.location.href).searchParams.get('pkg') ?? 'pkg-bench';
const wasm = await import(`../${pkg}/quantscope.js`);
await wasm.default();

self.onmessage = ({ data: { elements, reps, only, gemmMs, gemmReps, schemes, memory } }) => {
  const build = wasm.simd128_enabled() ? 'simd128' : 'scalar';
  const ids = wasm.base_scheme_ids().filter((id) => !schemes || schemes.includes(id));
  // The compare's memory high-water mark, alone in this fresh instance (bench_compare_memory).
  if (memory) {
    try {
      self.postMessage({ type: 'memory', path: memory, result: wasm.bench_compare_memory(memory === 'fused', ids, elements) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: `memory ${memory}`, message: String(err.message ?? err) });
    }
    self.postMessage({ type: 'done', build });
    return;
  }
  for (const id of only === 'gemm' || only === 'pack' ? [] : ids) {
    try {
      self.postMessage({ type: 'result', build, result: wasm.bench_scheme(id, elements, reps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: id, message: String(err.message ?? err) });
    }
  }
  // Packing alone on the pack bench's input, to set beside llama.cpp's ggml_quantize_chunk.
  if (only !== 'gemm' && only !== 'times') {
    try {
      self.postMessage({ type: 'pack-input', build, hashes: wasm.pack_input_hashes(elements) });
      for (const id of wasm.pack_type_ids()) {
        try {
          self.postMessage({ type: 'pack', build, result: wasm.bench_pack(id, elements, reps) });
        } catch (err) {
          self.postMessage({ type: 'error', build, scheme: `pack ${id}`, message: String(err.message ?? err) });
        }
      }
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: 'pack input', message: String(err.message ?? err) });
    }
  }
  if (!only || only === 'gemm') {
    try {
      self.postMessage({ type: 'gemm', build, results: wasm.bench_gemm(gemmMs, gemmReps) });
    } catch (err) {
      self.postMessage({ type: 'error', build, scheme: 'gemm', message: String(err.message ?? err) });
    }
  }
  self.postMessage({ type: 'done', build });
};
self.postMessage({ type: 'ready' });
