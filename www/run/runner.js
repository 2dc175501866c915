// The runner module the Run worker runs, chosen once at load (tract's approach, wasm-feature-
// detect's test): the relaxed-SIMD build (www/pkg-run-relaxed: FMA in the f32 GEMM, the int8
// GEMM exact as before) where the browser validates a module using the relaxed ops, else
// the plain SIMD128 build (www/pkg-run). A relaxed build that fails to load (a static host without
// it) falls back to the plain one too. Both export the same surface.

// (func (result v128) i32x4.relaxed_dot_i8x16_i7x16_add_s and f32x4.relaxed_madd on splats).
const RELAXED_PROBE = new Uint8Array([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // magic, version
  1, 5, 1, 0x60, 0, 1, 0x7b, // type: () -> v128
  3, 2, 1, 0, // one function of that type
  0x0a, 0x1e, 1, 0x1c, 0, // code: one body of 28 bytes, no locals
  0x41, 1, 0xfd, 0x0f, 0x41, 1, 0xfd, 0x0f, 0x41, 1, 0xfd, 0x0f, // 3 × i8x16.splat(1)
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113)
  0x41, 1, 0xfd, 0x0f, 0x41, 1, 0xfd, 0x0f, // 2 × i8x16.splat(1)
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b,
]);

export const relaxedSupported = WebAssembly.validate(RELAXED_PROBE);

// Live bindings, set once the chosen module has loaded (no top-level await: the worker must set
// its onmessage before any await, or the page's first requests would be dropped).
export let Engine, mnist_test_set, mnist_variants;
/** 'relaxed' or 'simd128': which build this worker runs (set when `init()` resolves). */
export let runnerBuild = null;

async function load() {
  if (relaxedSupported) {
    try {
      const mod = await import('../pkg-run-relaxed/quantscope.js');
      return use(mod, await mod.default(), 'relaxed');
    } catch (err) {
      console.warn(`the relaxed-SIMD runner did not load (${err.message}); running the SIMD128 one`);
    }
  }
  const mod = await import('../pkg-run/quantscope.js');
  return use(mod, await mod.default(), 'simd128');
}

function use(mod, exports, build) {
  ({ Engine, mnist_test_set, mnist_variants } = mod);
  runnerBuild = build;
  return exports;
}

let loading = null;
/** Loads and instantiates the chosen build once; resolves to its wasm exports (as wasm-bindgen's
 * `init` does). */
export default function init() {
  return (loading ??= load());
}
